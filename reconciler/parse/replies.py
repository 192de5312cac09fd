"""The whole of a multi-line SMTP reply that a report cut to its first line.

RFC 5321 4.2.1: each line of a multi-line reply but the last has a hyphen after the code
("550-..."), the last a space ("550 ..."). Sendmail writes only the first line into the DSN's
Diagnostic-Code ("550-Verification failed for <a@b>"), while the session transcript of its
notice has every line ("<<< 550-...", ..., "<<< 550 ..."); the line that says what was
refused may be any of them (Exim's sender verification: "550-Verification failed for
<a@b>", "550-Unrouteable address", "550 Sender verify failed"). The reply is given back as
Postfix gives one, its lines joined by a space.
"""

from __future__ import annotations

import re

__all__ = ["whole_reply"]

_CONTINUED_RE = re.compile(r"([245]\d\d)-")
_MAX_LINES = 40
_MAX_CHARS = 4000


def whole_reply(diagnostic: str, notice: str) -> str:
    """`diagnostic` completed from the transcript line "<<< `diagnostic`" of `notice` and
    the lines of the same reply after it; `diagnostic` itself when it is no such first line
    or the notice has no such transcript."""
    first = _CONTINUED_RE.match(diagnostic)
    if first is None or "<<<" not in notice:
        return diagnostic
    lines = notice.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if line.strip() == f"<<< {diagnostic.strip()}"),
        None,
    )
    if start is None:
        return diagnostic
    reply = [diagnostic.strip()]
    for line in lines[start + 1 : start + _MAX_LINES]:
        text = line.strip().removeprefix("<<<").strip()
        if not line.strip().startswith("<<<") or text[:3] != first[1]:
            break  # not a line of this reply: the reply was cut off
        reply.append(text)
        if text[3:4] != "-":
            break  # its last line
    return " ".join(reply)[:_MAX_CHARS]
