"""Plain-text bounces (qmail, Exim, Sendmail, Exchange, Gmail, Yahoo, ...): the notice text.

MTAs phrase their notices differently but lay them out alike: a human-readable notice, the
failed recipients at the start of a line (see `recipients`), and then a copy of the original
message after a separator line.  This module cuts the notice from that copy and names the MTA
family whose phrasing the notice uses (a label only).
"""

from __future__ import annotations

import re
from typing import Final

from reconciler.parse.lazyre import Lazy

__all__ = ["BOUNCE_PHRASE_RE", "family", "has_bounce_phrase", "notice_parts", "split_notice"]

# Where the notice ends and the copy of the original message begins.
_ORIGINAL_MARK_RE = Lazy(
    r"[ \t]*(?:[-=_*#|>]{2,}[ \t]*)?(?:"
    r"(?:this\s+is\s+a\s+|a\s+)?copy\s+of\s+(?:the|your)\s+(?:original\s+)?message"
    r"|below\s+this\s+line\s+is\s+a\s+copy|original\s+message|unsent\s+message"
    r"|returned\s+message|rejected\s+message|original\s+(?:mail|headers?)"
    r"|message\s+headers?\s+follow|headers\s+of\s+the\s+(?:original|returned)"
    r"|the\s+(?:original\s+)?message\s+(?:headers\s+)?(?:follows|was:|is\s+attached)"
    r"|undelivered\s+message|content\s+of\s+the\s+(?:original\s+)?message"
    r"|[-=_*#]{2,}.{0,40}\b(?:original|returned|undelivered|unsent|rejected)\s+(?:message|mail)\b"
    r"|元のメッセージ|原文|以下.{0,10}(?:メッセージ|原文))",
    re.IGNORECASE,
)
# Every alternative of the marker contains one of these; only their lines are tried.
_MARK_KEYS = (
    "original", "copy of", "below this line", "unsent", "returned", "rejected", "follow",
    "headers of", "undelivered", "content of", "is attached", "was:", "元のメッセージ", "原文",
    "以下",
)  # fmt: skip
# The marker for lower-cased text (IGNORECASE makes every literal slower).
_ORIGINAL_MARK_LOW_RE = Lazy(_ORIGINAL_MARK_RE.pattern)
# Lines where a marker can start (a superset): the first word of each alternative, or a run
# of punctuation, after the line feed.  (The space after "a" is looked at, not taken: a line
# "a" would take the line feed that starts the next line, and a search would never try that
# line.)  Searched in text whose lower case has other offsets (lower-cased text: see
# `_line_start`).
_MARK_LINE = (
    r"[ \t]*(?:[-=_*#|>]{2}|this|a(?=\s)|copy|below|original|unsent|returned|rejected|message"
    r"|headers|the|undelivered|content|元のメッセージ|原文|以下)"
)
_MARK_LINE_RE = Lazy(r"\n" + _MARK_LINE, re.IGNORECASE)
# The words each alternative of the marker that starts with a word starts with, white space
# between them (the pattern's `\s+`; the last word may go on: "header" of "headers?"): a
# line whose first mark is a letter holds the marker only where one of these starts it (a
# test checks it; the others start with punctuation).  Each first word is one of
# `_MARK_LINE`'s.
_MARK_PHRASES: Final[tuple[tuple[str, ...], ...]] = (
    ("this", "is", "a", "copy", "of"),
    ("a", "copy", "of"),
    ("copy", "of"),
    ("below", "this", "line", "is", "a", "copy"),
    ("original", "message"),
    ("original", "mail"),
    ("original", "header"),
    ("unsent", "message"),
    ("returned", "message"),
    ("rejected", "message"),
    ("message", "header"),
    ("headers", "of", "the"),
    ("the", "original"),
    ("the", "message"),
    ("undelivered", "message"),
    ("content", "of", "the"),
    ("元のメッセージ",),
    ("原文",),
    ("以下",),
)
_MARK_PUNCTUATION: Final = "-=_*#|>"
# The phrases by the code point of their first character (ASCII: a tuple, () for none; else
# a dict), and whether a code point is one of the punctuation marks: read without making a
# string of the character.
_PHRASES_ASCII: Final = tuple(
    tuple(p for p in _MARK_PHRASES if ord(p[0][0]) == code) for code in range(128)
)
_PHRASES_OTHER: Final = {
    ord(p[0][0]): tuple(q for q in _MARK_PHRASES if q[0][0] == p[0][0])
    for p in _MARK_PHRASES
    if ord(p[0][0]) >= 128
}
_PUNCTUATION_CODES: Final = tuple(chr(code) in _MARK_PUNCTUATION for code in range(128))
# A typical first header line of an inline original: the header-line starts are found with
# str.find (a line feed and one of these names), the rest of the line is matched there.
_HEADER_NAMES = ("Return-Path", "Received", "Message-I", "From", "Date", "To", "Subject")
_HEADER_NEEDLES = tuple("\n" + name for name in _HEADER_NAMES)
_HEADER_LINE_RE = Lazy(r"(?:Return-Path|Received|Message-I[Dd]|From|Date|To|Subject)[^\S\n]*:")
_FIELD_LINE_RE = Lazy(r"(?:[\w-]{1,40}:|[ \t]+\S)")
# A quoted copy: three lines in a row quoted with ">" (not a ">>>" line of a session
# transcript).  Its words are the original's, never the report's.
_QUOTED_RUN_RE = Lazy(r"\n(?:[ \t]*>(?!>>)[^\n]*\n){3}")
# The bounce phrases, each with the word it starts with (a test checks it against the
# phrase): searched in lower-cased text (much faster than re.IGNORECASE), so every literal
# is lower-case.
_PHRASES: tuple[tuple[str, str], ...] = (
    ("could", r"could\s+not\s+be\s+delivered"),
    ("un", r"undeliver"),
    (
        "delivery",
        r"delivery\s+(?:to\s+the\s+following|has\s+failed|failed|failure"
        r"|status\s+notification|incomplete|problem)",
    ),
    ("failed", r"failed\s+(?:permanently|recipient)"),
    ("permanent", r"permanent(?:ly)?\s+(?:error|fatal|failure)"),
    ("wasn't", r"wasn't\s+able\s+to\s+deliver"),
    ("un", r"unable\s+to\s+deliver"),
    ("following", r"following\s+(?:address|recipient)"),
    ("transcript", r"transcript\s+of\s+session"),
    ("mail", r"mail\s+delivery"),
    ("returned", r"returned\s+mail"),
    ("message", r"message\s+not\s+delivered"),
    ("no", r"not\s+(?:be\s+)?delivered"),
    ("delivery", r"delivery\s+error"),
    ("user", r"user\s+unknown"),
    ("un", r"unknown\s+user"),
    ("no", r"no\s+such\s+user"),
    ("mail", r"mailbox\s+(?:unavailable|full)"),
    ("remote", r"remote\s+host\s+said"),
    ("rejected", r"rejected"),
    ("error", r"error\s+occurred"),
    ("配信", r"配信"),
    ("送信できません", r"送信できません"),
    ("届きません", r"届きません"),
    ("宛先不明", r"宛先不明"),
    ("un", r"unzustellbar"),
    ("no", r"non\s+remis"),
    ("no", r"non\s+consegnat"),
    ("не", r"не\s+доставлено"),
)
BOUNCE_PHRASE_RE = Lazy("(?:" + "|".join(phrase for _, phrase in _PHRASES) + ")")
# The words the phrases start with, and the phrases of each word: a match can begin only
# where one of these words stands, and only a phrase of that word can match there.
_PHRASE_STARTS = tuple(dict.fromkeys(start for start, _ in _PHRASES))
_PHRASE_GROUPS = tuple(
    (start, Lazy("|".join(phrase for word, phrase in _PHRASES if word == start)))
    for start in _PHRASE_STARTS
)


def has_bounce_phrase(low: str) -> bool:
    """`BOUNCE_PHRASE_RE.search(low) is not None`, tried only where a phrase can start.

    The search tries every phrase at every position: some 145 instructions a character of a
    text that holds none.  Here `str.find` walks to each occurrence of the words the phrases
    start with, and the phrases of that word alone are matched there: the same answer."""
    for start, group in _PHRASE_GROUPS:
        match = group.match
        at = low.find(start)
        while at >= 0:
            if match(low, at) is not None:
                return True
            at = low.find(start, at + 1)
    return False


# Searched in lower-cased text: (family, phrases, regex or None); plain phrases are found
# with `in`, much faster than a regex alternation of them.
_FAMILIES: tuple[tuple[str, tuple[str, ...], Lazy | None], ...] = (
    ("qmail", ("qmail-send", "i'm afraid i wasn't able"), Lazy(r"\(#[245]\.\d+\.\d+\)")),
    ("exim", ("mail delivery software", "address(es) failed"), None),
    ("sendmail", ("transcript of session follows", "... user unknown"), None),
    ("exchange", ("did not reach the following recipient", "msexch", "microsoft"), None),
    ("gmail", ("google tried to deliver", "delivery to the following recipient"), None),
    ("yahoo", ("remote host said:", "sorry, we were unable to deliver"), None),
)


def family(notice: str, low: str | None = None) -> str:
    """A label for the MTA family whose phrasing the notice uses ("text" when none matches).
    `low`: the notice lower-cased, when the caller has it (as long as the notice)."""
    head = low[:4000] if low is not None and len(low) == len(notice) else notice[:4000].lower()
    for name, phrases, regex in _FAMILIES:
        if any(phrase in head for phrase in phrases) or (regex and regex.search(head)):
            return f"text:{name}"
    return "text"


def _marker(text: str) -> tuple[re.Match[str] | None, str | None]:
    """The first line that announces the copy of the original, and the text lower-cased
    (None when lower() changed its length)."""
    low = text.lower()
    if len(low) != len(text):
        # lower() changed offsets (rare scripts): search the text as it is
        return _searched_mark(text), None
    return _first_mark(low), low


def _first_mark(low: str) -> re.Match[str] | None:
    """The marker on the first line that starts like a marker (`_line_start`, the first line
    too) where `_mark_at` finds one, in lower-cased text.

    The lines are walked with str.find and their first characters read in place: a regex
    search for the line starts costs some thousand instructions a line, and a walk of the
    keys' occurrences one str.find per key through the whole text when it holds no marker.
    Only lines where a marker can start are tried (a test checks it), and each such line
    starts like `_MARK_LINE` (the first line needs no such start, and gets none of its own).
    """
    line = 0
    while True:
        end = low.find("\n", line)
        start = _line_start(low, line)
        if start != _NO_START:
            stop = len(low) if end < 0 else end
            if start == _WORD_START:
                # the regex first: few lines that start with its words fail it, and the keys'
                # finds on the line take more than the regex
                found = _ORIGINAL_MARK_LOW_RE.match(low, line)
                if found is not None and found.end() > _first_key(low, line, stop)[0] >= 0:
                    return found
            else:
                # the keys first: the regex backtracks long on lines of punctuation
                found = _line_mark(low, _ORIGINAL_MARK_LOW_RE, line, stop)
                if found is not None:
                    return found
        if end < 0:
            return None
        line = end + 1


# What `_line_start` finds at the start of a line.
_NO_START: Final = 0  # no marker starts there
_WORD_START: Final = 1  # one of `_MARK_PHRASES`
_PUNCTUATION_START: Final = 2  # two punctuation marks (`_MARK_LINE`'s)


def _line_start(low: str, at: int) -> int:
    """How the line that starts at `at` of lower-cased text can start a marker: after blanks,
    with one of `_MARK_PHRASES` or two punctuation marks of `_MARK_LINE` (either implies a
    start of `_MARK_LINE`).  Read by code point: the compiled build reads `ord(low[i])` in
    place, where `low[i]` makes a string."""
    end, code = len(low), 32
    while at < end:
        code = ord(low[at])
        if code != 32 and code != 9:  # noqa: PLR1714 (compiled: two integer compares)
            break
        at += 1
    if at >= end:
        return _NO_START
    if _punctuation(code):
        if at + 1 < end and _punctuation(ord(low[at + 1])):
            return _PUNCTUATION_START
        return _NO_START
    phrases = _PHRASES_ASCII[code] if code < 128 else _PHRASES_OTHER.get(code, ())
    return _WORD_START if any(_phrase_at(low, at, p) for p in phrases) else _NO_START


def _phrase_at(low: str, at: int, phrase: tuple[str, ...]) -> bool:
    """Whether the words of `phrase` stand at `at`, white space between them (at least one
    character: the pattern's runs of white space, all taken before the next word)."""
    end = len(low)
    for index, word in enumerate(phrase):
        if index:
            start = at
            while at < end and low[at].isspace():
                at += 1
            if at == start:
                return False
        if not _word_at(low, at, word):
            return False
        at += len(word)
    return True


def _word_at(text: str, at: int, word: str) -> bool:
    """`text.startswith(word, at)`, compared by code point (a method call costs more than
    the few characters it compares)."""
    if at + len(word) > len(text):
        return False
    return all(ord(text[at + index]) == ord(word[index]) for index in range(len(word)))


def _punctuation(code: int) -> bool:
    """One of `_MARK_PUNCTUATION`, by code point."""
    return code < 128 and _PUNCTUATION_CODES[code]


def _searched_mark(text: str) -> re.Match[str] | None:
    """`_first_mark` of text searched as it is (case-insensitive regexes)."""
    found = _mark_at(text, _ORIGINAL_MARK_RE, 0)
    at = 0
    while found is None:
        start = _MARK_LINE_RE.search(text, at)
        if start is None:
            return None
        at = start.start() + 1
        found = _mark_at(text, _ORIGINAL_MARK_RE, at)
    return found


def _mark_at(low: str, mark_re: Lazy, line: int) -> re.Match[str] | None:
    """The marker on the line starting at `line`, if that line names one of the keys."""
    end = low.find("\n", line)
    return _line_mark(low, mark_re, line, len(low) if end < 0 else end)


def _first_key(low: str, line: int, end: int) -> tuple[int, bool]:
    """Where the first key on the line [line, end) starts (-1: none), and whether "follow"
    is the only key on it (str.find: a third of a regex search)."""
    key = -1
    follow_only = True
    for name in _MARK_KEYS:
        at = low.find(name, line, end)
        if at >= 0:
            follow_only = follow_only and name == "follow"
            if key < 0 or at < key:
                key = at
    return key, follow_only


def _line_mark(low: str, mark_re: Lazy, line: int, end: int) -> re.Match[str] | None:
    """`_mark_at` of the line [line, end): the match must run past the first key on it."""
    key, follow_only = _first_key(low, line, end)
    if key < 0:
        return None  # the marker names one of the keys on its first line
    if follow_only and mark_re is _ORIGINAL_MARK_LOW_RE and low.find("message", line, key) < 0:
        # ("----- The following addresses had permanent fatal errors -----"): a match that
        # runs past the "follow" is one of the "message ... follow(s)" alternatives, from the
        # line start (every other one that covers it names a key of its own on the line)
        return None
    found = mark_re.match(low, line)
    return found if found is not None and found.end() > key else None


def split_notice(text: str) -> tuple[str, str | None]:
    """Split a plain-text bounce into (notice, inline copy of the original or None); a quoted
    copy of a message is cut from the notice too."""
    notice, original, _ = notice_parts(text)
    return notice, original


def notice_parts(text: str) -> tuple[str, str | None, str | None]:
    """`split_notice`, and the notice lower-cased when the split had it at hand (None when
    not: the notice's own lower() is then needed)."""
    notice, original, low = _split(text)
    # a run starts with the line feed before a line whose first mark is ">": not before the
    # line of the first ">"
    first = notice.find(">")
    quoted = _quoted_run(notice, first) if first >= 0 else None
    if quoted is not None:
        notice = notice[: quoted.start() + 1]
    # The notice is a prefix of the text, and lower() maps it character for character (it
    # kept the length): the prefix of the lower-cased text is the notice lower-cased, but for
    # a capital sigma, whose lower case depends on what follows it (final sigma).
    if low is None or "\u03a3" in notice:
        return notice, original, None
    return notice, original, low[: len(notice)]


def _quoted_run(notice: str, first: int) -> re.Match[str] | None:
    """`_QUOTED_RUN_RE.search(notice, start)` from the line feed before the line of the
    first ">" (at `first`), tried only where a match can start.

    A match starts at the line feed before a line whose first character but blanks is ">":
    the first ">" of each line is walked to (str.find), and the line feed before it tried
    when only blanks stand between them.  The search tries the pattern at every line feed."""
    at = first
    while at >= 0:
        line = notice.rfind("\n", 0, at)
        if line >= 0 and _blanks(notice, line + 1, at):
            found = _QUOTED_RUN_RE.match(notice, line)
            if found is not None:
                return found
        end = notice.find("\n", at)
        at = notice.find(">", end) if end >= 0 else -1
    return None


def _blanks(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] holds spaces and tabs only (by code point: no slice)."""
    while start < end:
        char = ord(text[start])
        if char != 32 and char != 9:  # noqa: PLR1714 (compiled: two integer compares)
            return False
        start += 1
    return True


def _split(text: str) -> tuple[str, str | None, str | None]:
    """(notice, original, the whole text lower-cased or None)."""
    mark, low = _marker(text)
    if mark is not None and mark.start() > 0:
        after = text.find("\n", mark.end())  # the original starts on the line after the mark
        return text[: mark.start()], text[after + 1 :] if after >= 0 else "", low
    # no marker: an inline original starts at a header line after a blank line, followed by
    # two more header (or continuation) lines
    for start in _header_starts(text):
        second = text.find("\n", start) + 1
        third = text.find("\n", second) + 1 if second else 0
        if not third:
            break  # fewer than three lines left
        if _FIELD_LINE_RE.match(text, second) and _FIELD_LINE_RE.match(text, third):
            return text[: start - 1], text[start:], low
    return text, None, low


def _header_starts(text: str) -> list[int]:
    """In order, the starts of the lines that open like a header (`_HEADER_LINE_RE`) after a
    blank line (white space but line feeds, or nothing): where the matches of a regex search
    for such a blank line (from the text's start or a line feed) end.  That search tries its
    pattern at every line feed; here `str.find` walks to the names, and only their lines are
    tried."""
    starts: list[int] = []
    for needle in _HEADER_NEEDLES:
        at = text.find(needle)
        while at >= 0:
            start = at + 1
            before = text.rfind("\n", 0, at) + 1  # the line before (at: its line feed)
            if (before == at or text[before:at].isspace()) and _HEADER_LINE_RE.match(text, start):
                starts.append(start)
            at = text.find(needle, start)
    starts.sort()
    return starts
