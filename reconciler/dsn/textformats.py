"""Plain-text bounces (qmail, Exim, Sendmail, Exchange, Gmail, Yahoo, ...): one generic scanner.

MTAs phrase their notices differently but lay them out alike: a human-readable notice, the
failed recipients at the start of a line (bare, in angle brackets, after a label such as
`Final-Recipient:` or in a session transcript as `RCPT TO:<addr>`), each followed by its
diagnostic, and then a copy of the original message after a separator line.  The scanner reads
that layout instead of one MTA's wording; the family name only labels the result.
"""

from __future__ import annotations

import re

from reconciler.dsn.fields import ADDRESS_RE, fold, is_system_address

__all__ = ["BOUNCE_PHRASE_RE", "family", "scan", "split_notice"]

_ADDR = ADDRESS_RE.pattern
# Where the notice ends and the copy of the original message begins.
_ORIGINAL_MARK_RE = re.compile(
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
_HEADER_LINE_RE = re.compile(r"^(?:Return-Path|Received|Message-I[Dd]|From|Date|To|Subject)\s*:")
_FIELD_LINE_RE = re.compile(r"^(?:[\w-]{1,40}:|[ \t]+\S)")
_LABEL = (
    r"(?:final-recipient|original-recipient|original-rcpt-to|recipients?(?:\(s\))?"
    r"(?:\s+address)?|failed\s+(?:recipient|address)|(?:invalid|unknown|bad)\s+"
    r"(?:recipient|address|user)|address(?:\(es\))?|user(?:\s*id)?|mailbox|destinataire"
    r"|empfänger)"
)
# (needles, regex): a regex runs only on lines holding one of its needles.  Lines are
# lower-cased first (faster than re.IGNORECASE; addresses are lower-cased anyway).
_HIT_RES: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    # "Final-Recipient: rfc822; a@b", "Recipient address: a@b", "target mail address: a@b"
    (
        (":", "="),
        re.compile(
            rf"^\s*(?:[-*>•]+\s*)?(?:[\w-]+\s+){{0,5}}?{_LABEL}\s*[:=]\s*(?:rfc822\s*;\s*)?"
            rf"<?{_ADDR}>?"
        ),
    ),
    # transcripts and diagnostics: ">>> RCPT To:<a@b>", "after RCPT TO:<a@b>:"
    (("rcpt",), re.compile(rf"rcpt\s+to\s*:\s*<?\s*{_ADDR}")),
    # "<<< 550 5.1.1 <a@b>... User unknown", "550 <a@b>... User unknown"
    (
        ("<",),
        re.compile(rf"^\s*(?:<<<\s*)?[245]\d\d[ -](?:[245]\.\d{{1,3}}\.\d{{1,3}}\s+)?<{_ADDR}>"),
    ),
    # "could not be delivered to <a@b>", "error delivering your mail to a@b"
    (
        ("to",),
        re.compile(
            rf"(?:deliver(?:ed|ing|y)?|sen[dt]|send(?:ing)?|relay(?:ed|ing)?)\b[^@\n]{{0,40}}?"
            rf"\bto:?\s+<?{_ADDR}"
        ),
    ),
    # "rejected recipient <a@b>", "[Status: Error, Address: <a@b>, ..."
    (("<",), re.compile(rf"\b(?:recipient|rcpt|address|user|mailbox)\s*[:=]?\s*<{_ADDR}>")),
    # a display name or bad address before the real one: "x@y <a@b>: malformed address"
    (("<",), re.compile(rf"^\s*[^<>\n:]{{1,80}}?\s<{_ADDR}>\s*:")),
    # an address that starts the line: "<a@b>:", "a@b", "a@b on <date>", "a@b [reason]"
    (
        ("",),
        re.compile(rf"^\s*(?:[-*•]\s*)?(?:\"[^\"@]*\"\s*)?[\"<]?{_ADDR}[\">]?(?=$|[\s:;,.\[(<>])"),
    ),
)
# Searched in lower-cased text (much faster than re.IGNORECASE), so every literal is lower-case.
BOUNCE_PHRASE_RE = re.compile(
    r"(?:could\s+not\s+be\s+delivered|undeliver|delivery\s+(?:to\s+the\s+following|has\s+failed"
    r"|failed|failure|status\s+notification|incomplete|problem)|failed\s+(?:permanently|recipient)"
    r"|permanent(?:ly)?\s+(?:error|fatal|failure)|wasn't\s+able\s+to\s+deliver|unable\s+to\s+deliver"
    r"|following\s+(?:address|recipient)|transcript\s+of\s+session|mail\s+delivery"
    r"|returned\s+mail|message\s+not\s+delivered|not\s+(?:be\s+)?delivered|delivery\s+error"
    r"|user\s+unknown|unknown\s+user|no\s+such\s+user|mailbox\s+(?:unavailable|full)"
    r"|remote\s+host\s+said|rejected|error\s+occurred|配信|送信できません|届きません|宛先不明"
    r"|unzustellbar|non\s+remis|non\s+consegnat|не\s+доставлено)",
)
# Searched in lower-cased text.
_FAMILIES = (
    ("qmail", re.compile(r"qmail-send|\(#[245]\.\d+\.\d+\)|i'm afraid i wasn't able")),
    ("exim", re.compile(r"mail delivery software|address\(es\) failed")),
    ("sendmail", re.compile(r"transcript of session follows|\.\.\. user unknown")),
    ("exchange", re.compile(r"did not reach the following recipient|msexch|microsoft")),
    ("gmail", re.compile(r"google tried to deliver|delivery to the following recipient")),
    ("yahoo", re.compile(r"remote host said:|sorry, we were unable to deliver")),
)


def family(notice: str) -> str:
    """A label for the MTA family whose phrasing the notice uses ("text" when none matches)."""
    head = notice[:4000].lower()
    return next((f"text:{name}" for name, regex in _FAMILIES if regex.search(head)), "text")


def _marker(text: str) -> re.Match[str] | None:
    """The first line that announces the copy of the original (fast: keyword lines only)."""
    low = text.lower()
    if len(low) != len(text):
        low = text  # lower() changed offsets (rare scripts): search the text as it is
    best: re.Match[str] | None = None
    for key in _MARK_KEYS:
        pos = low.find(key)
        while pos >= 0 and (best is None or pos < best.start()):
            found = _ORIGINAL_MARK_RE.match(text, low.rfind("\n", 0, pos) + 1)
            if found is not None and found.end() > pos:
                best = found
                break
            pos = low.find(key, pos + 1)
    return best


def split_notice(text: str) -> tuple[str, str | None]:
    """Split a plain-text bounce into (notice, inline copy of the original or None)."""
    mark = _marker(text)
    if mark is not None and mark.start() > 0:
        rest = text[mark.end() :].split("\n", 1)
        return text[: mark.start()], rest[1] if len(rest) > 1 else ""
    lines = text.split("\n")
    for index in range(1, len(lines) - 2):
        if lines[index - 1].strip() or not _HEADER_LINE_RE.match(lines[index]):
            continue
        if all(_FIELD_LINE_RE.match(line) for line in lines[index + 1 : index + 3]):
            return "\n".join(lines[:index]), "\n".join(lines[index:])
    return text, None


def _hit(line: str, exclude: frozenset[str]) -> str | None:
    """The recipient a notice line names, if it names one in a recipient position."""
    if "@" not in line:
        return None
    low = line[:1000].lower()  # recipient lines are short; bound the regex work
    for needles, regex in _HIT_RES:
        if not any(needle in low for needle in needles):
            continue
        found = regex.search(low)
        if found is None:
            continue
        address = found.group(1).strip(".")
        if address not in exclude and not is_system_address(address):
            return address
    return None


def scan(notice: str, exclude: frozenset[str], limit: int = 200) -> list[tuple[str, str]]:
    """(recipient, diagnostic text) in notice order; a recipient seen twice gets both texts."""
    lines = notice.split("\n")
    hits = [(index, _hit(line, exclude)) for index, line in enumerate(lines)]
    starts = [(index, address) for index, address in hits if address is not None][:limit]
    segments: dict[str, list[str]] = {}
    for number, (index, address) in enumerate(starts):
        end = starts[number + 1][0] if number + 1 < len(starts) else len(lines)
        segments.setdefault(address, []).append("\n".join(lines[index : min(end, index + 40)]))
    return [(address, fold(" ".join(texts))) for address, texts in segments.items()]
