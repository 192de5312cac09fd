"""The last resort for finding failed addresses: flufl.bounce's detectors (STYLE 2.4).

This is the only module that imports flufl.bounce.  It answers with addresses only; the
diagnostic, status and reply code stay empty unless the caller finds them elsewhere.
flufl's answers come from parse/fallback_scan.py, which gives them for about a third of
flufl's own work on a release verified against it (`_VERIFIED`), by the plain call on any
other.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from reconciler.errors import ParseError
from reconciler.parse.fields import bare_address, is_system_address

if TYPE_CHECKING:
    from reconciler.parse.fallback_scan import Flufl, Patterns

__all__ = ["flufl_failures"]

# The flufl.bounce releases whose detector list, SimpleMatch and SimpleWarning
# parse/fallback_scan.py mirrors (checked by tests/test_fallback_equivalence.py); any other
# runs the plain call.
_VERIFIED = frozenset({"6.0.0"})


@functools.cache
def _flufl() -> Flufl:
    """flufl.bounce, imported the first time a message needs it: its detectors compile some
    150 regexes, and a run whose messages our own parser answers never needs them
    (bench/startup.py); nor the logging package, imported here to quiet it."""
    import logging

    # flufl.bounce logs a traceback for every detector that fails on a message (hostile input
    # makes several fail); a failure here only means "no answer from the fallback", so its
    # log stays quiet whatever command runs (not only where reconciler.logs configures
    # logging): set before flufl.bounce runs for the first time.  (fallback_scan's own loop over
    # the detectors does not log.)
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
    import flufl.bounce
    from flufl.bounce import all_failures

    from reconciler.parse.fallback_scan import Flufl

    if getattr(flufl.bounce, "__version__", None) not in _VERIFIED:
        return Flufl(all_failures)
    try:
        from flufl.bounce._detectors import simplematch, simplewarning
        from flufl.bounce._scan import _DETECTORS
    except ImportError:  # a verified release rebuilt otherwise: correct, if slower
        return Flufl(all_failures)

    simple: dict[type[Any], tuple[Patterns, bool]] = {
        simplematch.SimpleMatch: (simplematch.SimpleMatch.PATTERNS, False),
        simplewarning.SimpleWarning: (simplewarning.SimpleWarning.PATTERNS, True),
    }
    return Flufl(
        all_failures, tuple(_DETECTORS), simple, simplematch.VALID, simplematch._quopri_decode
    )


def flufl_failures(data: bytes, exclude: frozenset[str]) -> list[tuple[str, bool]]:
    """(address, permanent) for every failure flufl.bounce finds, our own addresses removed.

    Raises ParseError when a flufl detector fails (several call str methods on header values,
    which compat32 returns as Header objects for 8-bit headers, or index an empty From).
    """
    from reconciler.parse.fallback_scan import failures

    flufl = _flufl()
    try:
        # (compat32, the parser's default: flufl's detectors expect it; email.policy, whose
        # import builds the header registry, is not imported for it)
        temporary, permanent = failures(flufl, data)
        if not temporary and not permanent:
            decoded = _notice_decoded(data)
            if decoded is not None:
                temporary, permanent = failures(flufl, decoded)
    # flufl's detectors are third-party code run on hostile input: any of their failures
    # means "no answer from the fallback", never a failed parse.
    except Exception as err:
        raise ParseError(f"flufl.bounce failed: {type(err).__name__}: {err}") from err
    out: list[tuple[str, bool]] = []
    for raw, is_permanent in [*((a, True) for a in permanent), *((a, False) for a in temporary)]:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        address = bare_address(f"<{text}>")
        if address and address not in exclude and not is_system_address(address):
            out.append((address, is_permanent))
    return list(dict.fromkeys(out))


_BASE64 = re.compile(rb"(?im)^content-transfer-encoding:[ \t]*\"?base64")


def _notice_decoded(data: bytes) -> bytes | None:
    """The message with the notice's base64 text parts written out decoded (8bit), or None
    when it has none.  flufl's line detectors read a part's lines as they are encoded
    (`body_line_iterator` without decoding), so a notice an MTA sent in base64 (Exchange,
    many Japanese systems) hid its addresses from them.  A part inside a returned message
    (message/*) stays as it is: its words are the original's, not the report's."""
    if _BASE64.search(data) is None:
        return None
    import email
    from email.message import Message

    try:
        message = email.message_from_bytes(data)
        touched = False
        parts = [message]
        while parts:
            part = parts.pop()
            if part.get_content_maintype() == "message":
                continue
            if part.is_multipart():
                parts.extend(p for p in part.get_payload() if isinstance(p, Message))
                continue
            if part.get_content_maintype() != "text":
                continue
            if str(part.get("content-transfer-encoding", "")).strip().lower() != "base64":
                continue
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                continue
            del part["Content-Transfer-Encoding"]
            part["Content-Transfer-Encoding"] = "8bit"
            part.set_payload(payload.decode("ascii", "surrogateescape"))
            touched = True
        return message.as_bytes() if touched else None
    # third-party parsing of hostile input: a message that cannot be rewritten is read as it is
    except Exception:
        return None
