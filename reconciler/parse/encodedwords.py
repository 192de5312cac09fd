"""RFC 2047 encoded words in header values (`=?charset?b?...?=`), decoded.

The email package's `decode_header` and `make_header` give the answer; `decode_words` runs
their steps without their per-word objects (the library runs some ten times the
instructions: a corpus pass decodes thousands of header values), and a property test holds
it to the library's answer.  The charset names are the library's (`email.charset.Charset`).
Compiled with the parser (reconciler/_native.py).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from typing import Final

__all__ = ["decode_words"]

# The lone surrogates that surrogateescape makes of 8-bit bytes (chr: mypyc refuses them as
# string literals).
_ESCAPED_MIN: Final = chr(0xDC80)
_ESCAPED_MAX: Final = chr(0xDCFF)
# One of them (a regex: a character loop in compiled code compares each as a Python object)
_ESCAPED_RE: Final = re.compile(f"[{_ESCAPED_MIN}-{_ESCAPED_MAX}]")


def decode_words(text: str) -> str:
    """`text` with its RFC 2047 encoded words decoded (and stray 8-bit bytes, carried as
    surrogate escapes, read as UTF-8): what `str(make_header(decode_header(text)))` gives,
    or `text` when the library would raise."""
    if _ESCAPED_RE.search(text) is not None:
        text = text.encode("ascii", "surrogateescape").decode("utf-8", errors="replace")
    if "=?" not in text:
        return text
    words = _WORDS.get("decode")
    if words is None:
        words = _WORDS["decode"] = _word_decoder()
    return words(text)


# The RFC 2047 decoder, made by the first encoded word and kept (a function-level import runs
# the import machinery at every call: some 1 % of a corpus pass).
_WORDS: Final[dict[str, Callable[[str], str]]] = {}
# An encoded word (email.header's own pattern): charset, encoding, encoded text.
_ENCODED_WORD_RE: Final = re.compile(r"=\?([^?]*?)\?([qQbB])\?(.*?)\?=")
_QUOTED_RE: Final = re.compile(r"=[a-fA-F0-9]{2}", re.ASCII)
# A charset name as email.charset reads it: (name after aliases, input codec, output codec).
_CHARSETS: Final[dict[str, tuple[str, str | None, str | None]]] = {}
_MAX_CHARSETS: Final = 64
_UNKNOWN_8BIT: Final = "unknown-8bit"


def _word_decoder() -> Callable[[str], str]:
    # imported by the first encoded word (email.header imports the charset and codec modules:
    # some 4 ms of a process that never meets one)
    from email.errors import MessageError
    from email.header import decode_header, make_header

    def decode(text: str) -> str:
        """str(make_header(decode_header(text))), or `text` when that raises."""
        try:
            if _ENCODED_WORD_RE.search(text) is None:
                return text
            runs = _runs(text)
            if runs is None:  # no word left whole by the split into lines
                return str(make_header(decode_header(text)))
            return _header_str(runs)
        except (LookupError, ValueError, UnicodeError, MessageError):
            return text

    return decode


def _runs(text: str) -> list[tuple[bytes, str | None]] | None:
    """What email.header.decode_header gives for a text with an encoded word: the decoded
    runs, each with its charset (None: not encoded); None when no word is left after the
    split into lines.  (The library's steps, without its per-word Python objects: the
    library runs some ten times the instructions.)"""
    words: list[tuple[str, str | None, str | None]] = []
    for line in text.splitlines():
        # parts: the text before the first word, then charset, encoding, encoded and the
        # text after it for each word
        parts = _ENCODED_WORD_RE.split(line)
        first = parts[0].lstrip()
        if first:
            words.append((first, None, None))
        for index in range(1, len(parts), 4):
            words.append((parts[index + 2], parts[index + 1].lower(), parts[index].lower()))
            if parts[index + 3]:
                words.append((parts[index + 3], None, None))
    if not words:
        return None
    # white space between two encoded words is dropped
    drop = {
        n - 1
        for n in range(2, len(words))
        if words[n][1] and words[n - 2][1] and words[n - 1][0].isspace()
    }
    runs: list[tuple[bytes, str | None]] = []
    for index, (encoded, encoding, charset) in enumerate(words):
        if index in drop:
            continue
        word = _word_bytes(encoded, encoding)
        if runs and runs[-1][1] == charset:
            last = runs[-1][0]
            runs[-1] = (last + b" " + word if charset is None else last + word, charset)
        else:
            runs.append((word, charset))
    return runs


def _word_bytes(encoded: str, encoding: str | None) -> bytes:
    if encoding == "b":
        missing = len(encoded) % 4
        padded = encoded + "==="[: 4 - missing] if missing else encoded
        return binascii.a2b_base64(_raw_bytes(padded))
    if encoding == "q":
        encoded = encoded.replace("_", " ")
        if "=" in encoded:
            encoded = _QUOTED_RE.sub(_unquote, encoded)
    return _raw_bytes(encoded)


def _raw_bytes(text: str) -> bytes:
    """text.encode("raw-unicode-escape"), as the library makes bytes of a word; for ASCII
    text the same bytes as the ASCII codec gives, which the compiled build calls directly."""
    return text.encode("ascii") if text.isascii() else text.encode("raw-unicode-escape")


def _unquote(found: re.Match[str]) -> str:
    return chr(int(found.group()[1:], 16))


def _charset(name: str) -> tuple[str, str | None, str | None]:
    known = _CHARSETS.get(name)
    if known is None:
        from email.charset import Charset  # (imported before: email.header imports it)

        charset = Charset(name)
        known = (charset.input_charset, charset.input_codec, charset.output_codec)
        if len(_CHARSETS) < _MAX_CHARSETS:  # bounded: hostile input names endless charsets
            _CHARSETS[name] = known
    return known


def _header_str(runs: list[tuple[bytes, str | None]]) -> str:
    """str(make_header(runs)): each run decoded by its charset, the runs of one charset
    joined by a space, and a space between encoded and plain text unless one is there."""
    chunks: list[tuple[str, str]] = []
    for raw, charset in runs:
        name, input_codec, output_codec = _charset("us-ascii" if charset is None else charset)
        codec = input_codec or "us-ascii"
        if codec == _UNKNOWN_8BIT:
            text = raw.decode("us-ascii", "surrogateescape")
        else:
            text = raw.decode(codec)
        output = output_codec or "us-ascii"
        if output != _UNKNOWN_8BIT:
            try:
                text.encode(output)
            except UnicodeEncodeError:
                if output != "us-ascii":
                    raise
                name = "utf-8"
        if chunks and chunks[-1][1] == name:
            chunks[-1] = (chunks[-1][0] + " " + text, name)
        else:
            chunks.append((text, name))
    return _spaced(chunks)


def _spaced(chunks: list[tuple[str, str]]) -> str:
    out: list[str] = []
    last: str | None = None
    last_space = False
    for chunk, name in chunks:
        next_name: str | None = name
        text = chunk
        if name == _UNKNOWN_8BIT:
            text = chunk.encode("ascii", "surrogateescape").decode("ascii", "replace")
        if out:
            space = bool(text) and _nonctext(text[0])
            if last not in (None, "us-ascii"):
                if next_name in (None, "us-ascii") and not space:
                    out.append(" ")
                    next_name = None
            elif next_name not in (None, "us-ascii") and not last_space:
                out.append(" ")
        last_space = bool(text) and _nonctext(text[-1])
        last = next_name
        out.append(text)
    return "".join(out)


def _nonctext(char: str) -> bool:
    return char.isspace() or char in ("(", ")", "\\")
