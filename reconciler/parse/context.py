"""What every detector may look at: the parsed message, its notice text and our own addresses."""

from __future__ import annotations

import re
from typing import Final

from reconciler.parse.entity import Entity, field_key
from reconciler.parse.fields import ROLE_LOCALPARTS, all_addresses, bare_address, is_system_address
from reconciler.parse.lazyre import Lazy
from reconciler.parse.mime import MAX_VALUE, Limits, Part, decoded, headers, part_text, walk
from reconciler.parse.original import from_parts, from_text
from reconciler.parse.recipients import mailto_targets
from reconciler.parse.textformats import has_bounce_phrase, notice_parts
from reconciler.records import OriginalMessage

__all__ = ["ADDRESSING_HEADERS", "Context", "build_context"]

ADDRESSING_HEADERS: Final = frozenset(
    {"delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "to", "cc"}
)
_ADDRESSING_LENGTHS: Final = frozenset(len(name) for name in ADDRESSING_HEADERS)
# Every tag of an HTML notice becomes a line break, with the newline that may end its source
# line (`<br>` then a newline is one break).  (Line-breaking tags need no alternative of their
# own: `<br[^>]*>` spans what `<[^>]*>` spans from the same "<", in any case.)
_TAG_RE: Final = Lazy(r"<[^>]*>(?:\r?\n)?")
# Case-insensitive patterns, written in lower case: each is searched as `_folded` says.
_BOUNCE_SUBJECT = (
    r"undeliver|delivery\s+(?:status|fail|notif|report|problem|error|incomplete)|returned\s+mail"
    r"|failure\s+notice|mail\s+delivery|could\s+not\s+be\s+delivered|not\s+(?:be\s+)?delivered"
    r"|nondeliverable|non\s*remis|unzustellbar|mail\s+(?:system\s+)?error|delivery\s+failure"
    r"|failed\s+delivery|delivery\s+has\s+failed|returned\s+to\s+sender|配信|不達|エラー"
)
# A mailing-list manager's error notice to the poster (fml's X-MLServer; Sisimai's Lhost::FML).
_LIST_ERROR_SUBJECT = (
    r"loop\s+(?:alert|back\s+warning)|not\s+member|security\s+alert|system\s+error"
    r"|reject(?:ed)?\s+(?:mail|article)|unix\s+from\s+loop"
)
_DAEMON_NAME = r"mailer[-_ ]?daemon|post_?master|mail\s+delivery|delivery\s+sub"
# (pattern as is: for lower-cased ASCII text, pattern with re.IGNORECASE: for any other)
_BOUNCE_SUBJECT_RES: Final = (Lazy(_BOUNCE_SUBJECT), Lazy(_BOUNCE_SUBJECT, re.IGNORECASE))
_LIST_ERROR_SUBJECT_RES: Final = (
    Lazy(_LIST_ERROR_SUBJECT),
    Lazy(_LIST_ERROR_SUBJECT, re.IGNORECASE),
)
_DAEMON_NAME_RES: Final = (Lazy(_DAEMON_NAME), Lazy(_DAEMON_NAME, re.IGNORECASE))
# A delivery status report by its container (RFC 6522 multipart/report with report-type
# delivery-status, RFC 3464; global-delivery-status, RFC 6533): a bounce even when its status
# part names no recipient and the text must.
# (Two searches: one regex `multipart/report\b.*\breport-type...` backtracks its `.*` from
# the end of the value.)  Searched in lower-cased text.
_MULTIPART_REPORT_RE: Final = Lazy(r"multipart/report\b")
_DELIVERY_REPORT_TYPE_RE: Final = Lazy(r"\breport-type\s*=\s*\"?(?:global-)?delivery-status")


# A plain class with read-only (Final) fields, not a dataclass: the compiled build constructs
# it natively (a dataclass's __init__ runs as Python there; see mime.Part).
class Context:
    """One message, parsed once, as the detectors see it (detectors only read it)."""

    __slots__ = (
        "_addressee",
        "_bounce_like",
        "_exclude",
        "_low_notice",
        "_mailto_targets",
        "data",
        "headers",
        "limits",
        "notes",
        "notice",
        "original",
        "parts",
        "root",
        "sender",
        "size",
        "strong_signal",
        "subject",
    )

    def __init__(  # every field by keyword, as build_context gives them
        self,
        *,
        root: Entity,
        data: bytes,
        headers: dict[str, str],
        parts: list[Part],
        limits: Limits,
        subject: str | None,
        sender: str | None,
        notice: str,
        original: OriginalMessage | None,
        strong_signal: bool,
        notes: list[str],
        size: int,
        low_notice: str | None = None,
    ) -> None:
        self.root: Final = root
        self.data: Final = data  # the message as split (LF line endings, limits applied)
        self.headers: Final = headers  # first value of each top-level header, by lower-case name
        self.parts: Final = parts
        self.limits: Final = limits
        self.subject: Final = subject
        self.sender: Final = sender  # the From header of the bounce itself
        self.notice: Final = notice  # the human-readable text, without the copy of the original
        self.original: Final = original
        # headers say bounce: daemon sender, subject, X-Failed-Recipients
        self.strong_signal: Final = strong_signal
        self.notes: Final = notes
        self.size: Final = size  # bytes of the message as parsed (after the size limit)
        # computed when a detector first asks (most messages are answered without them)
        self._addressee: frozenset[str] | None = None
        self._exclude: frozenset[str] | None = None
        self._bounce_like: bool | None = None
        self._low_notice = low_notice  # the notice lower-cased, when the split had it
        self._mailto_targets: dict[str, str] | None = None

    @property
    def addressee(self) -> frozenset[str]:
        """The addresses of the bounce's To: ours, unless it is the only one."""
        if self._addressee is None:
            self._addressee = frozenset(all_addresses(self.headers.get("to")))
        return self._addressee

    @property
    def exclude(self) -> frozenset[str]:
        """Our own addresses: never a failed recipient."""
        if self._exclude is None:
            self._exclude = _own_addresses(self.headers, self.original, self.addressee)
        return self._exclude

    @property
    def low_notice(self) -> str:
        """The notice lower-cased (once: several detectors search it)."""
        if self._low_notice is None:
            self._low_notice = self.notice.lower()
        return self._low_notice

    @property
    def mailto_targets(self) -> dict[str, str]:
        """The notice's Microsoft NDR targets (`recipients.mailto_targets`), read once: the
        DSN path and the recipient scan both ask; callers must not change the dict."""
        if self._mailto_targets is None:
            self._mailto_targets = mailto_targets(self.notice, self.low_notice)
        return self._mailto_targets

    @property
    def bounce_like(self) -> bool:
        """strong_signal, or bounce phrasing in an automatic message."""
        if self._bounce_like is None:
            self._bounce_like = self.strong_signal or _weak_signal(self.headers, self.notice)
        return self._bounce_like


def _is_notice(part: Part) -> bool:
    """A text of the failure report itself: never the returned original or an attachment."""
    if part.returned:
        return False
    if part.content_type == "text/plain":
        return True
    # a multipart whose boundary never occurs is left as one text: read it as such
    return part.content_type.startswith("multipart/") and not part.entity.multipart


def _notice_text(parts: list[Part], limits: Limits) -> str:
    texts = [part_text(p.entity, limits) for p in parts if _is_notice(p)]
    if not any(t.strip() for t in texts):
        html = [
            part_text(p.entity, limits)
            for p in parts
            if p.content_type == "text/html" and not p.returned
        ]
        texts = [_html_text(h) for h in html]
    return "\n".join(texts)


def _html_text(html: str) -> str:
    """The text of an HTML notice: each tag a line break (a tag ending its source line makes
    one break, not two: `<br>` then the newline), character references decoded
    (`&lt;user@example.org&gt;` is the address in angle brackets that the readers of plain
    notices know), a no-break space a space."""
    from html import unescape

    return unescape(_TAG_RE.sub("\n", html)).replace("\xa0", " ")


def addressing(root: Entity) -> tuple[tuple[str, str], ...]:
    """The bounce's own addressing headers, lower-case names, in message order."""
    found: list[tuple[str, str]] = []
    for name, value in root.items:
        if len(name) not in _ADDRESSING_LENGTHS:
            continue  # (most fields, Received first of all: without lower-casing the name)
        key = field_key(name)
        if key in ADDRESSING_HEADERS:
            found.append((key, decoded(value[:MAX_VALUE]) or ""))
    return tuple(found)


def _own_addresses(
    heads: dict[str, str], original: OriginalMessage | None, addressee: frozenset[str]
) -> frozenset[str]:
    """Ours for sure: the bounce's From, the original's senders, role addresses of our domains.

    Delivered-To and the like are not included: some relays set them to the failed recipient.
    """
    senders = [heads.get("from", "")]
    if original is not None:
        senders += [original.from_ or "", original.return_path or "", original.sender or ""]
    own = all_addresses(*senders)
    domains = {address.partition("@")[2] for address in own}
    domains.update([address.partition("@")[2] for address in addressee])
    for domain in domains:
        own += _role_addresses(domain)
    return frozenset(own)


# The role addresses of the domains seen last (most bounces come from a few domains):
# emptied when full, as the scans' answers in parse/fields.py.
_ROLES_SEEN: Final[dict[str, list[str]]] = {}
_MAX_ROLES_SEEN: Final = 128


def _role_addresses(domain: str) -> list[str]:
    """The role addresses (`ROLE_LOCALPARTS`) of `domain`, in that order (callers only read
    the list)."""
    found = _ROLES_SEEN.get(domain)
    if found is None:
        found = [f"{role}@{domain}" for role in ROLE_LOCALPARTS]
        if len(_ROLES_SEEN) >= _MAX_ROLES_SEEN:
            _ROLES_SEEN.clear()
        _ROLES_SEEN[domain] = found
    return found


def _folded(regexes: tuple[Lazy, Lazy], text: str | None) -> bool:
    """The case-insensitive pattern of `regexes` occurs in `text`.

    An ASCII text is lower-cased and searched without re.IGNORECASE (an alternation of
    literals is some ten times slower with the flag): for ASCII text the same answer.  Any
    other text keeps the flag, whose case folding also matches the Kelvin sign or the long s
    to ASCII letters, which lower() does not."""
    if not text:
        return False
    if text.isascii():
        return regexes[0].search(text.lower()) is not None
    return regexes[1].search(text) is not None


def _dsn_report(content_type: str) -> bool:
    """A delivery status report's container, by its lower-cased Content-Type.

    The two searches (`_MULTIPART_REPORT_RE`, then `_DELIVERY_REPORT_TYPE_RE` after its
    match) are matched only where a match starts: at "multipart/report" and at
    "report-type" (str.find; a regex search costs a call into the engine per start tried)."""
    at = content_type.find("multipart/report")
    while at >= 0 and _MULTIPART_REPORT_RE.match(content_type, at) is None:
        at = content_type.find("multipart/report", at + 1)
    if at < 0:
        return False
    # (from the end of "multipart/report": the \b before "report-type" sees the character
    # before it, as the search from there does)
    at = content_type.find("report-type", at + 16)
    while at >= 0:
        if _DELIVERY_REPORT_TYPE_RE.match(content_type, at) is not None:
            return True
        at = content_type.find("report-type", at + 1)
    return False


def _strong_signal(heads: dict[str, str], subject: str | None, sender: str | None) -> bool:
    if "x-failed-recipients" in heads:
        return True
    if _dsn_report(heads.get("content-type", "")[:MAX_VALUE].lower()):
        return True
    if "x-mlserver" in heads and _folded(_LIST_ERROR_SUBJECT_RES, subject):
        return True
    address = bare_address(sender) or ""
    if (address and is_system_address(address)) or _folded(_DAEMON_NAME_RES, sender):
        return True
    return _folded(_BOUNCE_SUBJECT_RES, subject)


def _weak_signal(heads: dict[str, str], notice: str) -> bool:
    """Bounce phrasing in the text of an automatic message (null sender or Auto-Submitted)."""
    automatic = heads.get("return-path", "").strip() == "<>" or "auto-submitted" in heads
    return automatic and has_bounce_phrase(notice[:20000].lower())


def build_context(root: Entity, data: bytes, limits: Limits, notes: list[str]) -> Context:
    """Walk the parts once and gather everything the detectors share."""
    parts = walk(root)
    notice, inline, low_notice = notice_parts(_notice_text(parts, limits))
    original = from_parts(parts, limits)
    if original is None and inline:
        original = from_text(inline)
    heads = headers(root)
    subject, sender = decoded(heads.get("subject")), decoded(heads.get("from"))
    strong = _strong_signal(heads, subject, sender)
    return Context(
        root=root,
        data=data,
        parts=parts,
        limits=limits,
        subject=subject,
        sender=sender,
        notice=notice,
        original=original,
        headers=heads,
        strong_signal=strong,
        notes=notes,
        size=len(data),
        low_notice=low_notice,
    )
