"""Text that every consumer accepts: valid Unicode that encodes as UTF-8, with no NUL.

A bounce may carry RFC 2047 words in any charset, and a body in any charset: UTF-7 decodes
`+2D0-` to a lone surrogate, and `=00` in any charset is a NUL.  Python holds such strings
happily, but UTF-8 encoders refuse lone surrogates (RE2, SQLite, PyMySQL) and PostgreSQL
refuses NUL in text.  `valid_text` is the one sanitiser: the store applies it to every text
it records (store/bulk.py), and the rule matcher to a text RE2 cannot encode.
"""

from __future__ import annotations

__all__ = ["REPLACEMENT", "is_valid_text", "valid_text"]

REPLACEMENT = "\ufffd"  # what a lone surrogate or a NUL becomes


def is_valid_text(text: str) -> bool:
    """True when `text` encodes as UTF-8 and holds no NUL."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def valid_text(text: str) -> str:
    """`text` with each lone surrogate and each NUL replaced by U+FFFD.

    A high and a low surrogate in a row (UTF-16 written out as code points) become the one
    character they stand for.  Valid text comes back as the same object, at the cost of one
    scan (ASCII) or one encoding.
    """
    if is_valid_text(text):
        return text
    if not text.isascii():
        # through UTF-16: pairs join into their character, lone halves become U+FFFD
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text.replace("\x00", REPLACEMENT)
