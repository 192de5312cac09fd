"""Text from messages, made safe to show: control characters become visible escapes.

A bounce's diagnostic, recipient, subject, Message-ID or remote MTA is written by whoever
sent it.  Printed raw, its escape sequences would drive the operator's terminal (clear the
screen, set the window title, plant OSC 8 links), its bidi overrides would reorder what is
shown, and its line breaks would forge lines of a table or of a log.  Two functions cover the
two kinds of output; the sinks call them at one place each (the report console, the log
formatters, the digest mail, the CLI's error lines and JSON output):

* `neutralise(text)` for people: every C0 control (line breaks and tabs included), DEL, C1,
  bidi control, line or paragraph separator and lone surrogate becomes its escape (`\\x1b`,
  `\\n`, `\\u202e`), so the text shows what it holds and drives nothing.  `lines=True` keeps line
  feeds (a traceback's, a log record's own).
* `dumps(value)` for programs: JSON that decodes to exactly the text (faithful), with the
  characters JSON leaves raw (DEL, C1, bidi controls, separators, lone surrogates) escaped
  as `\\uXXXX` too, so the JSON is also safe to print on a terminal.

Imports nothing of ours: any layer may use it.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

__all__ = ["dumps", "neutralise"]

# DEL, C1; the bidi controls (ALM, LRM, RLM, LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI);
# the line and paragraph separators; lone surrogates (no terminal can even encode them)
_BEYOND_C0 = "\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff"
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# Every character the patterns below find is one that `str.isprintable` rejects (categories
# Cc, Cf, Cs, Zl, Zp), so a printable text has none and is returned as it is, without a
# search.  The patterns are compiled the first time a text needs one: their character
# classes (the surrogates' range) cost some milliseconds of every start otherwise, and most
# runs never meet such a character (issue 16).


@functools.cache
def _pattern(which: str) -> re.Pattern[str]:
    return re.compile(
        {
            "shown": f"[\x00-\x1f{_BEYOND_C0}]",  # with C0: NUL, tab, line feed, ESC, ...
            "shown_but_lines": f"[\x00-\x09\x0b-\x1f{_BEYOND_C0}]",  # C0 but the line feed
            "json_raw": f"[{_BEYOND_C0}]",  # JSON escapes C0 itself
        }[which]
    )


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def neutralise(text: str, *, lines: bool = False) -> str:
    """`text` with every control character shown as its escape (`lines`: keep line feeds)."""
    if text.isprintable():
        return text
    if lines:
        return _pattern("shown_but_lines").sub(_escape, text.replace("\r\n", "\n"))
    return _pattern("shown").sub(_escape, text)


@functools.cache
def _encoder(indent: int | None) -> json.JSONEncoder:
    """One encoder per indent, as `json.dumps(value, ensure_ascii=False, indent=indent)` makes
    for each call (`classify --json` encodes a row per recipient result)."""
    return json.JSONEncoder(ensure_ascii=False, indent=indent)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def dumps(value: Any, *, indent: int | None = None) -> str:
    """`value` as JSON text (UTF-8 kept) that no terminal obeys and that decodes faithfully.

    Those characters can only occur inside JSON strings, where `\\uXXXX` means the same."""
    text = _encoder(indent).encode(value)
    # ASCII JSON (known without a scan) holds no control character but DEL: JSON escapes C0
    # itself.  `isprintable` reads every character: a fifth of the work of dumping the rows
    # of `classify --json` (issue 16).
    if text.isascii() and "\x7f" not in text:
        return text
    return text if text.isprintable() else _pattern("json_raw").sub(_json_escape, text)
