"""Small pure helpers shared by the parsers: addresses, status codes, folding, remote hosts."""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "ADDRESS_RE",
    "ROLE_LOCALPARTS",
    "SYSTEM_LOCALPARTS",
    "all_addresses",
    "bare_address",
    "enhanced_status",
    "fold",
    "is_system_address",
    "pick_status",
    "remote_host",
    "reply_code",
    "split_typed",
]

# A pragmatic address: no spaces, one @, a dotted domain (or an address literal).
ADDRESS_RE: Final = re.compile(
    r"(?<![\w.+=/-])([\w.!#$%&'*+/=?^`{|}~-]{1,64}@(?:[\w-]{1,63}(?:\.[\w-]{1,63})+|\[[\d.:a-fA-F]+\]))"
)
_LOOSE_ADDRESS_RE: Final = re.compile(
    r"(\"[^\"\n]{1,64}\"@[\w.-]{1,253}|[^\s<>;,:\"'()\[\]]{1,64}@[\w.-]{1,253})"
)
# Each pattern starts with a character class, not a look-behind, so that the regex engine can
# skip ahead quickly; the look-behinds that follow check the character before the match.
_ENHANCED_RE: Final = re.compile(r"([245])(?<![\d./][245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)")
_REPLY_RE: Final = re.compile(
    r"([245](?<![\d.#/=-][245])(?<!\d:[245])[0-5]\d)"
    r"(?=[ \-:,;]|$|\.\s)(?![ -]?\d{2,}[:.]\d)(?!:\d)"
)
# An enhanced code sent together with an SMTP reply: "550 5.2.2", "550-'5.2.2", "550-5.1.1".
_REPLIED_STATUS_RE: Final = re.compile(
    r"[245](?<![\d.][245])[0-5]\d[ -]['\"]?([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)"
)
# Searched in lower-cased text: "host mx.example.jp [192.0.2.1]", "remote host 192.0.2.1 said",
# "SMTP Server <mx.example.jp>"; not "the mail system at host ..." (that is the reporter).
# (Each keyword starts with its letter, the word-boundary and "at " checks come after it.)
_REMOTE_RE: Final = re.compile(
    r"(?:h(?<!\wh)(?<!at h)ost|s(?<!\ws)(?<!at s)erver|m(?<!\wm)(?<!at m)x)"
    r"\s*:?\s+[<\[(]?([a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)+)"
)

# Local parts that name a bounce-sending mail system, never an address that failed.
SYSTEM_LOCALPARTS: Final = frozenset(
    {"mailer-daemon", "mailer_daemon", "mail-daemon", "maildaemon"}
)
# Role addresses that are ours when they sit in one of our own domains (postmaster@ our domain
# is not a failed recipient; postmaster@ a remote domain can be one).
ROLE_LOCALPARTS: Final = ("postmaster", "root", "abuse", "noreply", "no-reply")


# The answers of the scans below for the texts scanned last, one dict per scan: several
# readers of one message ask the same question of the same header value or diagnostic, and
# a dict lookup costs a fraction of a regex scan.  Each is emptied when full, so that it only
# holds texts of the message being read and the few before it; a text longer than
# _MAX_KEPT characters (a whole notice, a hostile header) is scanned each time, never kept.
_STATUS_SEEN: Final[dict[str, str]] = {}
_REPLY_SEEN: Final[dict[str, str]] = {}
_ADDRESS_SEEN: Final[dict[str, str]] = {}
_ADDRESSES_SEEN: Final[dict[tuple[str | None, ...], tuple[str, ...]]] = {}
_MAX_SEEN: Final = 128
_MAX_KEPT: Final = 4096


def _remember(seen: dict[str, str], text: str, found: str | None) -> str | None:
    """Keep `found` as the answer for `text` ("" for None: no scan answers "")."""
    if len(text) <= _MAX_KEPT:
        if len(seen) >= _MAX_SEEN:
            seen.clear()
        seen[text] = found or ""
    return found


def fold(text: str, limit: int = 2000) -> str:
    """Collapse all whitespace (line breaks included) to single spaces, capped at `limit`."""
    return " ".join(text[: limit * 2].split())[:limit]  # str.split: the same whitespace as \s


def bare_address(value: str | None) -> str | None:
    """The first address in `value`, lower-cased, without name, brackets or `rfc822;` type."""
    if not value or "@" not in value:  # (both patterns need one)
        return None
    known = _ADDRESS_SEEN.get(value)
    if known is not None:
        return known or None
    return _remember(_ADDRESS_SEEN, value, _bare_address(value))


def _bare_address(value: str) -> str | None:
    _, _, rest = value.rpartition(";") if ";" in value[:16] else ("", "", value)
    found = ADDRESS_RE.search(rest) or _LOOSE_ADDRESS_RE.search(rest)
    if found is None:
        return None
    return found.group(1).strip(".").lower()


def all_addresses(*values: str | None) -> list[str]:
    """Every address in the header values, lower-cased, in order, without repeats."""
    known = _ADDRESSES_SEEN.get(values)
    if known is None:
        # findall: the group's text without a match object each; no "@", no address
        found = [
            a.strip(".").lower() for v in values if v and "@" in v for a in ADDRESS_RE.findall(v)
        ]
        known = tuple(dict.fromkeys(found))
        if sum(len(v) for v in values if v) <= _MAX_KEPT:
            if len(_ADDRESSES_SEEN) >= _MAX_SEEN:
                _ADDRESSES_SEEN.clear()
            _ADDRESSES_SEEN[values] = known
    return list(known)  # (a list of its own for each caller)


def is_system_address(address: str) -> bool:
    """True for MAILER-DAEMON, postmaster and similar addresses of mail systems."""
    return address.partition("@")[0] in SYSTEM_LOCALPARTS


def split_typed(value: str | None) -> tuple[str | None, str]:
    """Split an RFC 3464 typed field ("smtp; 550 ...") into (type, folded text)."""
    if not value:
        return None, ""
    kind, sep, text = value.partition(";")
    if not sep or " " in kind.strip() or len(kind) > 20:
        return None, fold(value)
    return kind.strip().lower() or None, fold(text)


def enhanced_status(text: str | None) -> str | None:
    """The first enhanced status code (RFC 3463, e.g. "5.1.1") in `text`."""
    if not text:
        return None
    known = _STATUS_SEEN.get(text)
    if known is not None:
        return known or None
    found = _enhanced(text)
    return _remember(_STATUS_SEEN, text, ".".join(found.groups()) if found else None)


def _enhanced(text: str) -> re.Match[str] | None:
    """`_ENHANCED_RE.search(text)`, tried only where a match can start.

    A match starts with its class digit, the character before a "." ("5.1.1"): walking the
    dots with str.find and matching at a 2, 4 or 5 before one finds the same first match
    (the dots in order give the starts in order; the look-behind sees the text before the
    start).  The search tests its first character's class at every character of the text,
    some 60 instructions a character."""
    at = text.find(".", 1)
    while at >= 0:
        if _class_digit(ord(text[at - 1])):
            found = _ENHANCED_RE.match(text, at - 1)
            if found is not None:
                return found
        at = text.find(".", at + 1)
    return None


def _class_digit(char: int) -> bool:
    """A 2, 4 or 5 (by code point): the class digit of a status or a reply code."""
    return char == 50 or char == 52 or char == 53  # noqa: PLR1714 (compiled: integer compares)


def _replied_status(text: str) -> re.Match[str] | None:
    """`_REPLIED_STATUS_RE.search(text)`, tried only where a match can start.

    Its enhanced code's first "." is 5 characters after the start ("550 5.1.1") or 6 (a
    quote before the code: "550-'5.1.1"): for the dots in order, the starts 6 and 5
    characters before each are in order too (a later dot's first start is no earlier than
    an earlier dot's second), so the first that matches is the search's first match."""
    at = text.find(".", 5)
    while at >= 0:
        if _class_digit(ord(text[at - 1])):  # (the enhanced code's class digit)
            for start in (at - 6, at - 5):
                if start >= 0 and _class_digit(ord(text[start])):
                    found = _REPLIED_STATUS_RE.match(text, start)
                    if found is not None:
                        return found
        at = text.find(".", at + 1)
    return None


def reply_code(text: str | None) -> str | None:
    """The first SMTP reply code (e.g. "550") in `text`."""
    if not text:
        return None
    known = _REPLY_SEEN.get(text)
    if known is not None:
        return known or None
    return _remember(_REPLY_SEEN, text, _reply_code(text))


_CLASS_DIGITS: Final = ("2", "4", "5")


def _reply_code(text: str) -> str | None:
    """The first code of `_REPLY_RE.finditer(text[:4000])` that is not 2xx, else the first.

    A greeting or an intermediate 2xx ("220-mx 421 ...") is not the answer of a failure.
    The matches are read only where one can start: at a class digit (2, 4 or 5) with a
    digit 0-5 after it.  Each class digit's next place is kept (str.find) and the nearest is
    tried; a place inside the last match is skipped, as the search that resumes after a
    match skips it (a match is the three digits: the look-arounds take none).  The search
    tests its first character's class at every character, some 60 instructions each."""
    text = text[:4000]
    size = len(text)
    ahead = [text.find(digit) for digit in _CLASS_DIGITS]
    first: str | None = None
    after = 0  # where the last match ended
    while True:
        at, index = _nearest(ahead)
        if at < 0:
            return first
        ahead[index] = text.find(_CLASS_DIGITS[index], at + 1)
        if at < after or at + 1 >= size or not 48 <= ord(text[at + 1]) <= 53:
            continue  # (inside the last match, or no digit 0-5 after the class digit)
        found = _REPLY_RE.match(text, at)
        if found is None:
            continue
        after = found.end()
        code = found.group(1)
        if code[0] != "2":
            return code
        if first is None:
            first = code


def _nearest(ahead: list[int]) -> tuple[int, int]:
    """The nearest of the places in `ahead` (-1: that needle does not occur again) and its
    index; (-1, -1) when none is left: the walks of `reply_code` and `_remote`."""
    at = -1
    index = -1
    for i, place in enumerate(ahead):
        if place >= 0 and (at < 0 or place < at):
            at, index = place, i
    return at, index


def pick_status(field: str | None, diagnostic: str) -> tuple[str | None, str | None]:
    """Choose the enhanced status: (chosen, raw field value when it was overridden).

    Exim writes `Status: 5.0.0` on every recipient and the real code only in the diagnostic;
    a generic x.0.0 (or a missing field) gives way to a more specific code of the same class.
    So does a field that contradicts the code the remote server sent with its reply
    ("550 5.7.1 ..." under `Status: 5.1.1`): the reporting MTA's mapping is the weaker fact.
    """
    raw = enhanced_status(field)
    replied = _replied_status(diagnostic[:2000])
    found = ".".join(replied.groups()) if replied else enhanced_status(diagnostic)
    if raw is None:
        return found, None
    if not found or found == raw or found[0] != raw[0] or found.endswith(".0.0"):
        return raw, None
    if raw.endswith(".0.0") or replied is not None:
        return found, raw
    return raw, None


def remote_host(text: str, low: str | None = None) -> str | None:
    """The remote MTA a diagnostic names (host name or IP address), if it names one (`low`:
    the text's first 3,000 characters lower-cased, when the caller has them)."""
    found = _remote(text[:3000].lower() if low is None else low)
    return found.group(1).strip(".-") if found else None


# Every _REMOTE_RE match starts with one of these words (its first letter and the rest).
_REMOTE_WORDS: Final = ("host", "server", "mx")


def _remote(low: str) -> re.Match[str] | None:
    """`_REMOTE_RE.search(low)`, tried only where a match can start: at "host", "server" or
    "mx" (walked with str.find, each word's next place kept; the nearest is tried, so the
    places are tried in order).  The search tries the pattern at every character."""
    ahead = [low.find(word) for word in _REMOTE_WORDS]
    while True:
        first, index = _nearest(ahead)
        if first < 0:
            return None
        found = _REMOTE_RE.match(low, first)
        if found is not None:
            return found
        ahead[index] = low.find(_REMOTE_WORDS[index], first + 1)
