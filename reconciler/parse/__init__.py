"""The parsing stage: raw bytes → ParsedMessage with one ParsedBounce per recipient.

`parse()` is pure (no I/O, no clock) and never raises: a message it cannot understand comes
back as `ParsedMessage(kind=MessageKind.ERROR, error=...)`.  The work per message is bounded by
`Limits` (size, MIME parts, nesting depth, header lines); every limit hit is listed in `notes`.

Detectors run in a fixed order, most authoritative first, and the first that finds recipients
answers (see `detectors.DETECTORS`):  ARF complaints, RFC 3464 status blocks, a Sieve reject's
MDN (RFC 5429), Amazon SES JSON,
DSN fields in plain text, auto-replies, the generic plain-text scanner, and flufl.bounce.
"""

from __future__ import annotations

# The per-message body is in `pipeline` (compiled: a package __init__ is not).
from reconciler.parse.detectors import DETECTORS, Detector
from reconciler.parse.mime import Limits
from reconciler.parse.pipeline import MAX_RECIPIENTS, parse

__all__ = ["DETECTORS", "MAX_RECIPIENTS", "Detector", "Limits", "parse"]
