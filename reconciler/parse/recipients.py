"""Recipients in a notice: the lines that name a failed address, and the lines about each.

The failed recipients stand at the start of a line (bare, in angle brackets, after a label
such as `Final-Recipient:`), in a session transcript (`RCPT TO:<addr>`, `550 <addr>... text`)
or in Microsoft's "display (address)<mailto:target>" layout; each is followed (or, in a
sendmail transcript, preceded) by its diagnostic.  The scanner reads that layout instead of
one MTA's wording.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from reconciler.parse.fields import ADDRESS_RE, fold, is_system_address
from reconciler.parse.lazyre import Lazy

__all__ = ["mailto_targets", "scan"]

_ADDR = ADDRESS_RE.pattern
_LABEL = (
    r"(?:final-recipient|original-recipient|original-rcpt-to|recipients?(?:\(s\))?"
    r"(?:\s+address)?|failed\s+(?:recipient|address)|(?:invalid|unknown|bad)\s+"
    r"(?:recipient|address|user)|address(?:\(es\))?|user(?:\s*id)?|mailbox|destinataire"
    r"|empfänger)"
)
_LINE_START_RE = re.compile(
    rf"^\s*(?:[-*•]\s*)?(?:\"[^\"@]*\"\s*)?[\"<]?{_ADDR}[\">]?(?=$|[\s:;,.\[(<>])"
)


def _opens_with_reply(low: str) -> bool:
    r"""Whether the line can open with a reply code, as `^\s*(?:<<<\s*)?[245]` needs (str's
    white space is the regex's)."""
    rest = low.lstrip()
    return rest[:1] in ("2", "4", "5") or rest.startswith("<<<")


def _named_before_bracket(low: str) -> bool:
    r"""Whether the line can start `^\s*[^<>\n:]{1,80}?\s<`: the bracket is the first "<"
    of the line, after white space and at least one other character, with neither ":" nor
    ">" before it."""
    at = low.find("<")
    return at >= 2 and low[at - 1].isspace() and ":" not in low[:at] and ">" not in low[:at]


def _space_before(low: str, end: int) -> int:
    r"""Where the white space (str's, the regex's \s) that ends `low[:end]` starts."""
    while end > 0 and low[end - 1].isspace():
        end -= 1
    return end


# The last word of each `_LABEL` alternative ("final-recipient", "recipient(s)", "user id").
_LABEL_ENDS = (
    "recipient",
    "recipients",
    "(s)",
    "address",
    "(es)",
    "rcpt-to",
    "user",
    "id",
    "mailbox",
    "destinataire",
    "empfänger",
)


def _labelled(low: str) -> bool:
    r"""Whether the line can be `label: address`: neither the words before a label nor the
    label hold ":" or "=", so the first of them follows the label (and white space), and an
    "@" comes after it.  Most lines with a colon and an address are not one."""
    colon = low.find(":")
    equals = low.find("=")
    at = colon if equals < 0 or 0 <= colon < equals else equals
    if at < 0 or low.find("@", at) < 0:
        return False
    return low.endswith(_LABEL_ENDS, 0, _space_before(low, at))


_BRACKET_WORDS = ("recipient", "rcpt", "address", "user", "mailbox")


def _keyed_bracket(low: str) -> bool:
    r"""Whether a "<" of the line can follow `keyword\s*[:=]?\s*`, a keyword of
    `_BRACKET_WORDS` (its "<" is the one of the address)."""
    at = low.find("<")
    while at >= 0:
        end = _space_before(low, at)
        if end > 0 and low[end - 1] in ":=":
            end = _space_before(low, end - 1)
        if low.endswith(_BRACKET_WORDS, 0, end):
            return True
        at = low.find("<", at + 1)
    return False


# (needle, other needle, words, gate, regex): a regex runs only on lines holding one of its
# needles and, when it has words, one of them too (words every match of it contains: a
# substring test is much cheaper than a failed search), and only when its gate (a test every
# line it matches passes) passes.  Lines are lower-cased first (faster than re.IGNORECASE;
# addresses are lower-cased anyway).
_HIT_RES: tuple[
    tuple[str, str, tuple[str, ...], Callable[[str], bool] | None, re.Pattern[str]], ...
] = (
    # "Final-Recipient: rfc822; a@b", "Recipient address: a@b", "target mail address: a@b"
    (
        ":",
        "=",
        (),
        _labelled,
        re.compile(
            rf"^\s*(?:[-*>•]+\s*)?(?:[\w-]+\s+){{0,5}}?{_LABEL}\s*[:=]\s*(?:rfc822\s*;\s*)?"
            rf"<?{_ADDR}>?"
        ),
    ),
    # transcripts and diagnostics: ">>> RCPT To:<a@b>", "after RCPT TO:<a@b>:"
    ("rcpt", "", (), None, re.compile(rf"rcpt\s+to\s*:\s*<?\s*{_ADDR}")),
    # "<<< 550 5.1.1 <a@b>... User unknown", "550 <a@b>... User unknown"
    (
        "<",
        "",
        (),
        _opens_with_reply,
        re.compile(rf"^\s*(?:<<<\s*)?[245]\d\d[ -](?:[245]\.\d{{1,3}}\.\d{{1,3}}\s+)?<{_ADDR}>"),
    ),
    # "could not be delivered to <a@b>", "error delivering your mail to a@b", "undeliverable
    # to a@b"; "addressed to 'a@b'" (SurfControl "Addressed To: a@b", "(Originally addressed
    # to a@b)", "The following message, addressed to 'a@b', failed")
    (
        "to",
        "",
        ("deliver", "sen", "relay", "addressed"),
        None,
        re.compile(
            rf"(?:deliver(?:ed|ing|y|able)?|sen[dt]|send(?:ing)?|relay(?:ed|ing)?|addressed)\b"
            rf"[^@\n]{{0,40}}?\bto:?\s+[<'\"]?{_ADDR}"
        ),
    ),
    # "rejected recipient <a@b>", "[Status: Error, Address: <a@b>, ..."
    # (each keyword starts with its letter, the word-boundary check comes after it: faster)
    (
        "<",
        "",
        (),
        _keyed_bracket,
        re.compile(
            rf"(?:r(?<!\wr)ecipient|r(?<!\wr)cpt|a(?<!\wa)ddress|u(?<!\wu)ser|m(?<!\wm)ailbox)"
            rf"\s*[:=]?\s*<{_ADDR}>"
        ),
    ),
    # a display name or bad address before the real one: "x@y <a@b>: malformed address"
    ("<", "", (":",), _named_before_bracket, re.compile(rf"^\s*[^<>\n:]{{1,80}}?\s<{_ADDR}>\s*:")),
    # an address that starts the line: "<a@b>:", "a@b", "a@b on <date>", "a@b [reason]"
    ("", "", (), None, _LINE_START_RE),
)
# The announcement of an explicit list of failed addresses, and how far the list may go.
_FAILED_LIST_RE = Lazy(
    r"following\s+address(?:\(es\)|es)?\s+failed\s*:"
    r"|following\s+addresses\s+had\s+permanent\s+fatal\s+errors"
)
_LISTED_LINES = 60
# "display (address)<mailto:target>" at the start of a line (searched in lower-cased text).
_MAILTO_RE = Lazy(
    rf"^[ \t]*{_ADDR}[ \t]*(?:\([ \t]*{_ADDR}[ \t]*\))?[ \t]*<mailto:{_ADDR}>", re.MULTILINE
)
# A sendmail recipient line "554 <a@b>... text", and the session lines that lead up to one.
_TRANSCRIPT_RE = Lazy(r"\s*(?:<<<\s*)?[245]\d\d[ -](?:[245]\.\d+\.\d+\s+)?<[^<>\s]+>\.\.\.")
_BREAK_RE = Lazy(r"\s*(?:while\s+talking\s+to\b|-{3,})", re.IGNORECASE)
_EXCHANGE_RE = Lazy(r"\s*(?:>>>|<<<|[245]\d\d[ -]\S+\s+\(\w+\)\.\.\.)")


def _hit(line: str, exclude: frozenset[str], listed: bool) -> str | None:
    """The recipient a notice line names, if it names one in a recipient position.

    Our own addresses (`exclude`) are skipped, except for an address that starts a line of an
    explicit list of failed addresses (`listed`): that list names it, no heuristic guesses it.
    """
    if "@" not in line:
        return None
    low = line[:1000].lower()  # recipient lines are short; bound the regex work
    for needle, other, words, gate, regex in _HIT_RES:
        if needle not in low and (not other or other not in low):
            continue
        if words and not any(word in low for word in words):
            continue
        if gate is not None and not gate(low):
            continue
        found = regex.search(low)
        if found is None:
            continue
        address = found.group(1).strip(".")
        if is_system_address(address):
            continue
        if address not in exclude or (listed and regex is _LINE_START_RE):
            return address
    return None


def mailto_targets(notice: str, low: str | None = None) -> dict[str, str]:
    """Microsoft's NDR lines "display (address)<mailto:target>": display address → target.

    The mailto target is the address the NDR is about; only differing pairs are returned.
    `low` is the notice lower-cased, when the caller has it.
    """
    if low is None:
        low = notice.lower()
    if "<mailto:" not in low:
        return {}
    targets: dict[str, str] = {}
    for found in _MAILTO_RE.finditer(low):
        target = found.group(3).strip(".")
        for shown in found.group(1, 2):
            if shown and shown.strip(".") != target:
                targets.setdefault(shown.strip("."), target)
    return targets


def _listed(notice: str, low: str) -> tuple[int, int]:
    """Line numbers (first, end) of an explicit list of failed addresses (Exim, Sendmail), or
    (0, 0) (`low`: the notice lower-cased)."""
    # each announcement starts with "following": the search starts at its first one
    at = low.find("following") if len(low) == len(notice) else -1
    found = _FAILED_LIST_RE.search(low, at) if at >= 0 else None
    if found is None:
        return 0, 0
    first = notice.count("\n", 0, found.end()) + 1
    return first, first + _LISTED_LINES


def _owned(line: str) -> bool:
    """A line after a sendmail recipient line that still belongs to it."""
    return bool(line.strip()) and not _EXCHANGE_RE.match(line) and not _BREAK_RE.match(line)


def _spans(lines: list[str], starts: list[tuple[int, str]]) -> list[tuple[int, int]]:
    """The lines of each recipient: from its line to the next recipient's (at most 40).

    A sendmail recipient line (`554 <addr>... text`) of an SMTP session transcript owns the
    exchange right above it (`>>>`, `<<<` and "host (smtp)..." lines) and the plain lines
    below it up to a blank line; the next exchange belongs to the next recipient.
    """
    spans: list[tuple[int, int]] = []
    floor = -1
    for index, _ in starts:
        line = lines[index]
        if ">..." in line and _TRANSCRIPT_RE.match(line):  # (every match ends with ">...")
            start = index
            while start - 1 > floor and _EXCHANGE_RE.match(lines[start - 1]):
                start -= 1
            stop = index + 1
            while stop < len(lines) and _owned(lines[stop]):
                stop += 1
            spans.append((start, stop))
        else:
            spans.append((index, index + 40))
        floor = index
    # a span runs at most up to the start of the next one
    return [
        (start, min(end, spans[n + 1][0]) if n + 1 < len(spans) else min(end, len(lines)))
        for n, (start, end) in enumerate(spans)
    ]


def scan(
    notice: str,
    exclude: frozenset[str],
    limit: int = 200,
    low: str | None = None,
    targets: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    """(recipient, diagnostic text) in notice order; a recipient seen twice gets both texts.

    `low` is the notice lower-cased and `targets` its `mailto_targets`, when the caller has
    them."""
    if low is None:
        low = notice.lower()
    lines = notice.split("\n")
    first_listed, end_listed = _listed(notice, low)
    if targets is None:
        targets = mailto_targets(notice, low)
    starts: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        address = _hit(line, exclude, first_listed <= index < end_listed)
        if address is not None:
            starts.append((index, targets.get(address, address)))
            if len(starts) >= limit:
                break
    segments: dict[str, list[str]] = {}
    for (_, address), (start, end) in zip(starts, _spans(lines, starts), strict=True):
        segments.setdefault(address, []).append("\n".join(lines[start:end]))
    return [(address, fold(" ".join(texts))) for address, texts in segments.items()]
