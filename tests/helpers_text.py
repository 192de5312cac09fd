"""Hostile text from bounces, and the check that none of it drives a terminal or a log line.

`HOSTILE` carries rich markup (a link, a stray `[/]`, styles, an emoji code), ANSI and OSC
sequences (clear screen, window title, an OSC 8 link, colour), 8-bit C1 CSI, DEL, backspace
and a right-to-left override.  `foreign(output)` lists what in an output is not ours: every
escape sequence except SGR styling (which only a terminal console emits) and every control or
bidi character except the line feed.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POSTFIX = ROOT / "tests" / "corpus" / "sisimai" / "emails" / "lhost-postfix-33.eml"

HOSTILE = (
    "[link=https://evil.example/]click[/link] [/] [bold red]x[/bold red] :warning: "
    "\x1b[2J\x1b]0;pwned\x07 \x1b]8;;https://evil.example/\x1b\\here\x1b]8;;\x1b\\ "
    "\x1b[31mred \x9b2J \u202eexe.txt \x7f\x08"
)
# what must show, literally, wherever HOSTILE is printed (markup is text, not styling)
VISIBLE = ("[link=https://evil.example/]click[/link]", "[/]", "[bold red]x[/bold red]")

_SGR = re.compile(r"\x1b\[[0-9;]*m")
_FOREIGN = re.compile(
    "\x1b[^\n]{0,12}|[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\u2028\u2029\ud800-\udfff]"
)


def foreign(output: str) -> list[str]:
    """Escape sequences and control characters in `output` that are not our SGR styling."""
    return _FOREIGN.findall(_SGR.sub("", output))


def plain(output: str) -> str:
    """`output` without our SGR styling."""
    return _SGR.sub("", output)


def encoded_word(text: str) -> str:
    """`text` as one RFC 2047 word (any character survives the header)."""
    raw = text.encode("utf-8", "surrogatepass")
    return "=?utf-8?b?" + base64.b64encode(raw).decode() + "?="


def hostile_bounce(
    text: str = HOSTILE, *, token: str | None = None, recipient: str | None = None
) -> bytes:
    """A real Postfix 5.1.1 bounce whose subject, diagnostic, remote MTA and both Message-IDs
    (its own, `<text@mx>`, and the original's, `<text@p6>`) carry `text` (line breaks in
    `text` only reach the subject)."""
    data = POSTFIX.read_bytes().split(b"\n", 1)[1]  # without the mbox From_ line
    flat = text.replace("\r", " ").replace("\n", " ")
    swaps = {
        "Subject: Undelivered Mail Returned to Sender": "Subject: " + encoded_word(text),
        "Diagnostic-Code: smtp; 550 5.1.1 <userunknown@libsisimai.org>... User Unknown": (
            "Diagnostic-Code: smtp; 550 5.1.1 user unknown " + flat
        ),
        "Remote-MTA: dns; mx.libsisimai.org": "Remote-MTA: dns; mx." + flat,
        "Message-Id: <20150429233445.BB8FFFFC16@p6.libsisimai.org>": f"Message-Id: <{flat}@p6>",
        "Message-Id: <20150429233445.7620000C1A@p6.libsisimai.org>": f"Message-Id: <{flat}@mx>",
    }
    for old, new in swaps.items():
        assert old.encode() in data, old
        data = data.replace(old.encode(), new.encode("utf-8", "surrogateescape"))
    if recipient is not None:
        data = data.replace(b"userunknown@libsisimai.org", recipient.encode())
    if token is not None:
        data = f"Delivered-To: {token}\r\n".encode() + data
    return data
