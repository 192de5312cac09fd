"""The last resort for finding failed addresses: flufl.bounce's detectors (STYLE 2.4).

This is the only module that imports flufl.bounce.  It answers with addresses only; the
diagnostic, status and reply code stay empty unless the caller finds them elsewhere.
"""

from __future__ import annotations

import email
import functools
from typing import Any

from reconciler.errors import ParseError
from reconciler.parse.fields import bare_address, is_system_address

__all__ = ["flufl_failures"]


@functools.cache
def _all_failures() -> Any:
    """flufl.bounce's `all_failures`, imported the first time a message needs it: its
    detectors compile some 150 regexes, and a run whose messages our own parser answers never
    needs them (bench/startup.py); nor the logging package, imported here to quiet it."""
    import logging

    # flufl.bounce logs a traceback for every detector that fails on a message (hostile input
    # makes several fail); a failure here only means "no answer from the fallback", so its
    # log stays quiet whatever command runs (not only where reconciler.logs configures
    # logging): set before flufl.bounce runs for the first time.
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
    from flufl.bounce import all_failures

    return all_failures


def flufl_failures(data: bytes, exclude: frozenset[str]) -> list[tuple[str, bool]]:
    """(address, permanent) for every failure flufl.bounce finds, our own addresses removed.

    Raises ParseError when a flufl detector fails (several call str methods on header values,
    which compat32 returns as Header objects for 8-bit headers, or index an empty From).
    """
    all_failures = _all_failures()
    try:
        # parsed here, and only here: the stdlib parser reads every body line (slow)
        # (compat32, the parser's default: flufl's detectors expect it; email.policy, whose
        # import builds the header registry, is not imported for it)
        temporary, permanent = all_failures(email.message_from_bytes(data))
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
