"""The ordered detectors: most authoritative first, the first one with results wins (STYLE 2.4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from reconciler.errors import ParseError
from reconciler.parse.context import Context
from reconciler.parse.fallback import flufl_failures
from reconciler.parse.fields import (
    all_addresses,
    bare_address,
    enhanced_status,
    fold,
    pick_status,
    remote_host,
    reply_code,
)
from reconciler.parse.lazyre import Lazy
from reconciler.parse.mime import MAX_VALUE, cap_parts
from reconciler.parse.nonbounce import (
    auto_reply,
    complaint_copy,
    feedback_report,
    unsubscribe_request,
)
from reconciler.parse.providers import ses_notification
from reconciler.parse.recipients import mailto_targets, scan
from reconciler.parse.replies import whole_reply
from reconciler.parse.rfc3464 import (
    Draft,
    StatusReport,
    fields_from_part,
    fields_from_text,
    read_report,
)
from reconciler.parse.stages import reply_stage, smtp_stage
from reconciler.parse.textformats import family
from reconciler.records import MessageKind, ParsedBounce, Stage

__all__ = ["DETECTORS", "Detector", "Found"]

_STATUS_TYPES: Final = (
    "message/delivery-status",
    "message/global-delivery-status",
    "text/delivery-status",
)
# Searched in lower-cased text.
# (Two regexes: a leading "^" alternative stops the engine from skipping ahead.)
_DELAY_START_RE = Lazy(
    r"\W*(?:warning\b|delayed\s+mail|mail\s+delivery\s+delayed|delivery\s+delayed)"
)
# The vendors' delay-warning templates: Sendmail "Will keep trying until message is 5 days
# old", Exim "has not yet been delivered ... Delivery attempts will continue for some time",
# Postfix "THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE." (its delay
# template), Gmail "THIS IS A WARNING MESSAGE ONLY ... Message will be retried for 2 more
# day(s)", Symantec's gateway "Delivery attempts will continue to be made for 5 day(s)".
# Each says the delivery goes on, which a final failure never does.
_DELAY_RE = Lazy(
    r"\(delay\)|message\s+delayed|has\s+not\s+yet\s+been\s+delivered|will\s+keep\s+trying"
    r"|delivery\s+attempts\s+will\s+continue|will\s+be\s+retried\s+(?:for|until)"
    r"|warning\s+(?:message\s+)?only|(?:do\s+not|don't)\s+need\s+to\s+resend"
)
# A word of each _DELAY_RE alternative (its rarest): a text holding none of them holds no
# delay phrase, and most notices hold none (a substring test is much cheaper than the
# search that fails: it tries the alternatives at each character).
_DELAY_WORDS = ("(delay)", "delayed", "yet", "trying", "attempts", "retried", "warning", "resend")


_FLUFL_MAX_BYTES = 512 * 1024
_MAX_RECIPIENTS = 200
# flufl.bounce tells permanent failures from temporary ones (its warning detectors).
_FLUFL_KINDS = {True: MessageKind.BOUNCE, False: MessageKind.DELAY}


# A plain class with read-only (Final) fields: constructed natively by the compiled build (a
# dataclass's __init__ runs as Python there; see mime.Part).
class Found:
    """What a detector found: results plus per-message facts of the report."""

    __slots__ = ("arrival_date", "bounces", "reporting_mta")

    def __init__(
        self,
        bounces: tuple[ParsedBounce, ...],
        reporting_mta: str | None = None,
        arrival_date: str | None = None,
    ) -> None:
        self.bounces: Final = bounces
        self.reporting_mta: Final = reporting_mta
        self.arrival_date: Final = arrival_date


class Detector:
    """One entry of the ordered detector list (a plain class too: no dataclass, and with it
    no `dataclasses` module, is defined when a command classifies)."""

    __slots__ = ("description", "id", "run")

    def __init__(self, id: str, description: str, run: Callable[[Context], Found | None]) -> None:
        self.id: Final = id
        self.description: Final = description
        self.run: Final = run


def _hits(ctx: Context) -> list[tuple[str, str]]:
    """Recipients the notice names; the bounce's own To only when nobody else is named."""
    hits = scan(ctx.notice, ctx.exclude, _MAX_RECIPIENTS, ctx.low_notice, ctx.mailto_targets)
    return [hit for hit in hits if hit[0] not in ctx.addressee] or hits


def _segments(ctx: Context) -> dict[str, str]:
    return dict(_hits(ctx))


def _low3000(text: str) -> str:
    """The start of `text` that `smtp_stage` and `remote_host` read, lower-cased (once for
    both)."""
    return text[:3000].lower()


def _stage(known: Stage, *texts: tuple[str, str | None]) -> Stage:
    """The stage already known, else the first one a text names (each text with its
    `_low3000`, or None)."""
    if known is not Stage.UNKNOWN:
        return known
    for text, low in texts:
        found = smtp_stage(text, low) if text else None
        if found is not None:
            return found
    return Stage.UNKNOWN


def _enrich(draft: Draft, text: str, fallback: str, fallback_low: str | None = None) -> None:
    """Fill what a status block left out from the notice text about the same recipient
    (`fallback` is the whole notice when the report has a single recipient; `fallback_low`
    its `_low3000`, or a text `smtp_stage` reads alike: see `_enriched`)."""
    if not text and not fallback:
        return
    # a single recipient's report: its notice is about it, even where no line names it
    status, raw = pick_status(draft.status, f"{draft.diagnostic} {text or fallback}")
    if status is None:
        status = enhanced_status(fallback)
    if raw is not None and not any(n == "status-field" for n, _ in draft.extensions):
        draft.extensions = (*draft.extensions, ("status-field", raw))
    draft.status = status
    draft.reply_code = draft.reply_code or reply_code(text) or reply_code(fallback)
    draft.diagnostic = draft.diagnostic or text or fold(fallback, 1000)
    wanted = draft.stage is Stage.UNKNOWN or not draft.remote_mta
    head = _low3000(text) if text and wanted else ""  # (read only when wanted)
    draft.stage = _stage(draft.stage, (text, head), (fallback, fallback_low))
    draft.remote_mta = draft.remote_mta or remote_host(text, head)


def _dsn(ctx: Context) -> Found | None:
    parts = [part for part in ctx.parts if part.content_type in _STATUS_TYPES]
    # a forwarded bounce carries its report inside the attached message: use it if alone
    outer = [part for part in parts if not part.in_original] or parts
    blocks = [block for part in outer for block in fields_from_part(part.entity)]
    if not blocks:
        return None
    return _enriched(ctx, read_report(blocks))


def _complete(draft: Draft) -> bool:
    status = draft.status or ".0.0"
    return bool(draft.diagnostic and draft.reply_code) and not status.endswith(".0.0")


def _canonical(ctx: Context, drafts: list[Draft]) -> None:
    """Microsoft's NDR names a recipient "display (address)<mailto:target>": the mailto target
    is the address the report is about; the status block's value is kept as an extension."""
    low = ctx.low_notice
    if "<mailto:" not in low:
        return  # (no NDR line: `mailto_targets` is empty)
    many = len(drafts) > _LINE_READS
    for draft in drafts:
        named = draft.recipient
        if not named:
            continue
        target = ctx.mailto_targets.get(named) if many else _mailto_target(low, named)
        if target is not None:
            draft.recipient = target
            draft.extensions = (*draft.extensions, ("final-recipient-field", named))


# Up to this many recipients, each one's NDR line is read alone (`_mailto_target`); a report
# of more has the whole notice read once (`ctx.mailto_targets`), which is linear in the text.
_LINE_READS: Final = 8


def _mailto_target(low: str, address: str) -> str | None:
    """`mailto_targets(notice, low).get(address)`, read from the lines where `address` stands
    before a "<mailto:" only (`low`: the notice lower-cased).

    Its regex matches at a line's start and within the line, so each line gives at most one
    display → target pair, from that line alone; the first pair for an address is kept, so
    the lines that can give one (the address before a "<mailto:") are read in order.  The
    whole notice's search tries the regex at every character (most NDRs name one recipient
    in a notice of a few thousand characters)."""
    at = low.find(address)
    while at >= 0:
        end = low.find("\n", at)
        end = len(low) if end < 0 else end
        if low.find("<mailto:", at + len(address), end) >= 0:
            line = low[low.rfind("\n", 0, at) + 1 : end]
            target = mailto_targets(line, line).get(address)
            if target is not None:
                return target
        at = low.find(address, max(end, at + 1))  # (the next line: or on, for a break in it)
    return None


def _whole(draft: Draft, notice: str) -> None:
    """The diagnostic's multi-line reply made whole (Sendmail keeps the first line only:
    parse/replies.py)."""
    diagnostic = draft.diagnostic
    if not diagnostic or diagnostic[3:4] != "-":
        return
    whole = whole_reply(diagnostic, notice)
    if whole != diagnostic:
        draft.diagnostic = whole


def _transcribed(draft: Draft, low: str) -> None:
    """The stage of the bounce's own reply in the notice's session transcript (Sendmail,
    Courier: parse/stages.py `reply_stage`), when its report gave a reply and no stage."""
    if draft.stage is not Stage.UNKNOWN or not draft.diagnostic:
        return
    stage = reply_stage(low, draft.diagnostic)
    if stage is not None:
        draft.stage = stage


def _enriched(ctx: Context, report: StatusReport) -> Found | None:
    if not report.drafts:
        return None
    drafts = list(report.drafts)
    _canonical(ctx, drafts)
    for draft in drafts:
        _whole(draft, ctx.notice)
    if ">>>" in ctx.low_notice:
        low = _low_head(ctx, 50000)
        for draft in drafts:
            _transcribed(draft, low)
    if len(drafts) == 1 and _complete(drafts[0]):
        # nothing to fill but the SMTP stage: read it from the notice, skip the scan
        single = drafts[0]
        if single.stage is Stage.UNKNOWN:  # (as _stage, with the notice lower-cased at hand)
            single.stage = smtp_stage(ctx.notice, _low_head(ctx, 3000)) or Stage.UNKNOWN
        return Found((single.built(),), report.reporting_mta, report.arrival_date)
    low = ctx.low_notice
    # a recipient the notice never names has no segment of its own: skip the scan then
    named = any(d.recipient and d.recipient in low for d in drafts)
    segments = _segments(ctx) if named else {}
    only = ctx.notice[:4000] if len(drafts) == 1 else ""
    # its first 3,000 characters lower-cased, cut from the lower-cased notice (not lowered
    # again): `_low_head` differs from `_low3000(only)` at most in a small sigma's form at the
    # cut (U+03C3 or final U+03C2), which `smtp_stage` reads alike (letters: \w, not \s, \d)
    only_low = _low_head(ctx, 3000) if only else None
    for draft in drafts:
        _enrich(draft, segments.get(draft.recipient or "", ""), only, only_low)
    return Found(tuple(d.built() for d in drafts), report.reporting_mta, report.arrival_date)


# RFC 5429 2.2.2: a Sieve `reject` after delivery answers with an MDN (RFC 8098) whose
# disposition is "automatic-action/MDN-sent-automatically; deleted" and whose text gives the
# reason (Dovecot's and Cyrus's Sieve): a refusal by the recipient's system, about the
# Final-Recipient.  Searched in lower-cased text.
_REJECTED_RE = Lazy(r"\s*automatic-action\s*/\s*mdn-sent-automatically\s*;\s*deleted\b")


def _sieve_reject(ctx: Context) -> Found | None:
    parts = [p for p in ctx.parts if p.content_type == "message/disposition-notification"]
    if not parts:
        return None
    fields = [f for p in parts if not p.in_original for b in fields_from_part(p.entity) for f in b]
    values = dict(reversed(fields))  # the first value of each field
    if not _REJECTED_RE.match(values.get("disposition", "").lower()):
        return None
    address = bare_address(values.get("final-recipient") or values.get("original-recipient"))
    if address is None or address in ctx.exclude:
        return None
    text = fold(ctx.notice)
    return Found((_text_bounce(address, text, MessageKind.BOUNCE, "sieve-reject"),))


def _dsn_text(ctx: Context) -> Found | None:
    head = ctx.notice[:50000]
    if "final-recipient:" not in _low_head(ctx, 50000):
        return None
    return _enriched(ctx, read_report(fields_from_text(head), detector="rfc3464-text"))


def _delay_phrase(low: str) -> bool:
    """`_DELAY_RE.search(low) is not None`, searched only where one of its words stands."""
    return any(word in low for word in _DELAY_WORDS) and _DELAY_RE.search(low) is not None


def _low_head(ctx: Context, size: int) -> str:
    """The notice's first `size` characters lower-cased (the lower-cased notice cut, when
    lower() kept its length: the same text but for a final sigma at the cut)."""
    low = ctx.low_notice
    return low[:size] if len(low) == len(ctx.notice) else ctx.notice[:size].lower()


def _failed_recipients(ctx: Context) -> list[str]:
    if "x-failed-recipients" not in ctx.headers:  # (every name, lower-cased: no lower() each)
        return []
    values = [v[:MAX_VALUE] for n, v in ctx.root.items if n.lower() == "x-failed-recipients"]
    return all_addresses(*values)


def _text_bounce(address: str, text: str, kind: MessageKind, detector: str) -> ParsedBounce:
    low = _low3000(text)
    return ParsedBounce(
        kind=kind,
        recipient=address,
        detector=detector,
        action="delayed" if kind is MessageKind.DELAY else "failed",
        status=enhanced_status(text),
        reply_code=reply_code(text),
        diagnostic=text,
        stage=smtp_stage(text, low) or Stage.UNKNOWN,
        remote_mta=remote_host(text, low),
    )


def _text(ctx: Context) -> Found | None:
    if not ctx.bounce_like:
        return None
    hits = _hits(ctx)
    wanted = _failed_recipients(ctx)
    segments = dict(hits)
    if wanted and (not hits or any(address in segments for address in wanted)):
        # X-Failed-Recipients (Exim) is authoritative unless the notice names others only.
        hits = [(address, segments.get(address, "")) for address in wanted]
    if not hits:
        return None
    if len(hits) >= _MAX_RECIPIENTS:
        ctx.notes.append(f"limit: only the first {_MAX_RECIPIENTS} recipients of the notice")
    if len(hits) == 1 and not reply_code(hits[0][1]) and not enhanced_status(hits[0][1]):
        hits = [(hits[0][0], fold(f"{hits[0][1]} {ctx.notice}"))]
    head = f"{(ctx.subject or '').lower()}\n{_low_head(ctx, 3000)}"
    delayed = _DELAY_START_RE.match(head) is not None or _delay_phrase(head)
    kind = MessageKind.DELAY if delayed else MessageKind.BOUNCE
    detector = family(ctx.notice, ctx.low_notice)
    return Found(tuple(_text_bounce(a, t, kind, detector) for a, t in hits))


_BRACKETED_RE = Lazy(r"<([^<>\s@]{1,64}@[^<>\s@]{1,253})>")


def _list_manager(ctx: Context) -> Found | None:
    """A mailing-list manager's error notice (fml: X-MLServer): the list address it names in
    angle brackets is the recipient; the subject names the error."""
    if "x-mlserver" not in ctx.headers or not ctx.strong_signal:
        return None
    named = [m.group(1).strip(".").lower() for m in _BRACKETED_RE.finditer(ctx.notice[:4000])]
    found = [a for a in dict.fromkeys(named) if a not in ctx.exclude]
    if not found:
        return None
    text = fold(f"{ctx.subject or ''}: {ctx.notice}", 1000)
    return Found(tuple(_text_bounce(a, text, MessageKind.BOUNCE, "list-manager") for a in found))


def _ses(ctx: Context) -> Found | None:
    bounces = ses_notification(ctx.notice[:200000])
    return Found(tuple(bounces)) if bounces else None


def _arf(ctx: Context) -> Found | None:
    bounces = (
        feedback_report(ctx.parts, ctx.original)
        or complaint_copy(ctx.parts)
        or unsubscribe_request(ctx.headers)
    )
    return Found(tuple(bounces)) if bounces else None


def _vacation(ctx: Context) -> Found | None:
    if ctx.strong_signal:
        return None
    bounces = auto_reply(ctx.headers, ctx.subject)
    return Found(tuple(bounces)) if bounces else None


def _flufl(ctx: Context) -> Found | None:
    if not ctx.bounce_like:
        return None
    # flufl's detectors do unbounded work (address parsing of whole header values)
    if ctx.size > _FLUFL_MAX_BYTES or any(len(v) > 4096 for v in ctx.headers.values()):
        ctx.notes.append("limit: flufl.bounce skipped for a message this large")
        return None
    try:
        failures = flufl_failures(cap_parts(ctx.data, ctx.limits, ctx.notes), ctx.exclude)
    except ParseError as err:
        ctx.notes.append(str(err))
        return None
    if not failures:
        return None
    text = fold(ctx.notice) if len(failures) == 1 else ""
    return Found(
        tuple(
            _text_bounce(address, text, _FLUFL_KINDS[permanent], "flufl")
            for address, permanent in failures
        )
    )


def _original_to(ctx: Context) -> Found | None:
    if not ctx.strong_signal or ctx.original is None:
        return None
    addresses = all_addresses(ctx.original.to)
    if len(addresses) != 1 or addresses[0] in ctx.exclude:
        return None
    text = fold(ctx.notice)
    return Found((_text_bounce(addresses[0], text, MessageKind.BOUNCE, "original-to"),))


DETECTORS: tuple[Detector, ...] = (
    Detector("arf", "complaint: RFC 5965 report, JMRP copy, unsubscribe request", _arf),
    Detector("rfc3464", "message/delivery-status blocks, enriched from the notice", _dsn),
    Detector("sieve-reject", "a Sieve reject's MDN (RFC 5429): its Final-Recipient", _sieve_reject),
    Detector("amazonses-json", "Amazon SES notification (JSON, possibly in SNS)", _ses),
    Detector("rfc3464-text", "DSN fields written into the text of the notice", _dsn_text),
    Detector("rfc3834", "automatic reply without any bounce signal in its headers", _vacation),
    Detector("list-manager", "mailing-list manager error notice (fml)", _list_manager),
    Detector("text", "plain-text notice: recipients at line starts, diagnostics after", _text),
    Detector("flufl", "flufl.bounce detectors (addresses only)", _flufl),
    Detector("original-to", "a bounce naming nobody: the single To of the original", _original_to),
)
