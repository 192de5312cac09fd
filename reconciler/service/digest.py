"""The operators' digest: one mail summing up what needs a human since the last digest.

It reports the messages that ended unmatched (no valid VERP token) or quarantined (not
understood), with up to `max_examples` examples of the unmatched ones (the recorded facts:
recipient, reason, remote MTA, Message-ID of our original; the raw message stays in the
mailbox's unmatched folder), the circuit-breaker trips and the incidents.  The time of the last
digest is the store's watermark `digest` (unix seconds), so a restart never sends one early.
Nothing is sent when there is nothing to report; the watermark still moves on.

    sent = send_digest(store, settings.digest, now)    # from a daemon job, e.g. hourly
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from reconciler.controls import neutralise
from reconciler.errors import ActionError
from reconciler.logs import mask_address
from reconciler.records import AuditEntry, EvidenceEvent, Incident, MessageOutcome
from reconciler.settings import DigestSettings
from reconciler.store import Store

__all__ = ["WATERMARK", "Digest", "build_message", "collect_digest", "digest_due", "send_digest"]

log = logging.getLogger(__name__)
WATERMARK = "digest"


@dataclass(frozen=True, slots=True)
class Digest:
    """What one digest reports, for the span [since, until)."""

    since: datetime
    until: datetime
    outcomes: Mapping[MessageOutcome, int]
    unmatched: tuple[EvidenceEvent, ...]  # examples: events of unmatched messages
    trips: tuple[AuditEntry, ...]  # breaker trips, oldest first
    incidents: tuple[Incident, ...]

    @property
    def reported(self) -> int:
        """The messages reported: unmatched plus quarantined."""
        o = self.outcomes
        return o.get(MessageOutcome.UNMATCHED, 0) + o.get(MessageOutcome.QUARANTINED, 0)

    @property
    def empty(self) -> bool:
        return not (self.reported or self.trips or self.incidents)


def _since(store: Store, settings: DigestSettings, now: datetime) -> datetime:
    last = store.watermark(WATERMARK)
    if last <= 0:
        return now - timedelta(hours=settings.interval_hours)
    return datetime.fromtimestamp(last, UTC)


def digest_due(store: Store, settings: DigestSettings, now: datetime) -> bool:
    """True when the digest is enabled and `interval_hours` have passed since the last one."""
    if not settings.enabled:
        return False
    last = store.watermark(WATERMARK)
    return last <= 0 or now.timestamp() - last >= settings.interval_hours * 3600


def collect_digest(store: Store, settings: DigestSettings, now: datetime) -> Digest:
    """Read from the store what happened since the last digest (or one interval back)."""
    since = _since(store, settings, now)
    unmatched = store.unmatched_events(since, now, settings.max_examples)
    trips = store.audit_log(since=since, action="breaker")
    return Digest(
        since=since,
        until=now,
        outcomes=store.count_outcomes(since, now),
        unmatched=tuple(unmatched),
        trips=tuple(reversed(trips)),
        incidents=tuple(store.incidents(since)),
    )


def _stamp(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _subject(digest: Digest) -> str:
    o = digest.outcomes
    parts = [
        f"{o.get(MessageOutcome.UNMATCHED, 0)} unmatched",
        f"{o.get(MessageOutcome.QUARANTINED, 0)} quarantined",
    ]
    if digest.trips:
        parts.append(f"breaker tripped {len(digest.trips)}x")
    if digest.incidents:
        parts.append(f"{len(digest.incidents)} incident(s)")
    return f"[reconciler] digest since {_stamp(digest.since)}: " + ", ".join(parts)


def _summary(digest: Digest) -> list[str]:
    lines = [f"Bounce reconciler digest, {_stamp(digest.since)} to {_stamp(digest.until)}.", ""]
    lines.append("Messages by outcome:")
    lines.extend(f"  {outcome.value:<12} {n}" for outcome, n in sorted(digest.outcomes.items()))
    lines.append("")
    lines.append(f"Circuit-breaker trips: {len(digest.trips) or 'none'}")
    lines.extend(f"  {_stamp(t.at)}  {t.detail}" for t in digest.trips)
    if digest.trips:
        lines.append("  Enforcement stays paused until an operator re-arms it.")
    lines.append("")
    lines.append(f"Incidents: {len(digest.incidents) or 'none'}")
    lines.extend(
        f"  {i.scope.value} {i.key}: {i.reason.value}, {i.users} users, "
        f"{_stamp(datetime.fromtimestamp(i.start, UTC))} - "
        f"{_stamp(datetime.fromtimestamp(i.end, UTC))}{' (active)' if i.active else ''}"
        for i in digest.incidents
    )
    quarantined = digest.outcomes.get(MessageOutcome.QUARANTINED, 0)
    if quarantined:
        lines += ["", f"{quarantined} message(s) were moved to the quarantine folders: "
                      "they could not be understood and need a look."]  # fmt: skip
    return lines


def _text(lines: Sequence[str]) -> str:
    """The lines as mail text.  A line may quote a bounce (address, remote MTA, Message-ID,
    incident key): its controls and line breaks are shown as escapes, never obeyed."""
    return "".join(neutralise(line) + "\n" for line in lines)


def _examples(events: Sequence[EvidenceEvent], show: bool) -> list[str]:
    lines = ["Unmatched bounces (no valid VERP token), as recorded:", ""]
    for e in events:
        when = _stamp(datetime.fromtimestamp(e.at, UTC))
        lines.append(
            f"{when}  recipient={mask_address(e.address, show)}"
            f"  kind={e.kind.value} reason={e.reason.value} severity={e.severity.value}"
            f"  remote_mta={e.remote_mta or '-'}  original_message_id={e.message_id or '-'}"
        )
    lines += ["", "The messages themselves are in the mailboxes' unmatched folders."]
    return lines


def build_message(digest: Digest, settings: DigestSettings) -> EmailMessage:
    """The digest mail: a plain-text summary, and the unmatched examples as an attachment."""
    message = EmailMessage()
    message["Subject"] = _subject(digest)
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message["Date"] = format_datetime(digest.until.astimezone(UTC))
    message["Message-ID"] = make_msgid("digest", settings.sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    body = _summary(digest)
    if digest.unmatched:
        body += ["", f"{len(digest.unmatched)} example(s) of unmatched bounces are attached."]
    message.set_content(_text(body))
    if digest.unmatched:
        message.add_attachment(
            _text(_examples(digest.unmatched, settings.show_addresses)), filename="unmatched.txt"
        )
    return message


def _send(message: EmailMessage, settings: DigestSettings) -> None:
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.timeout_seconds
        ) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password)
            smtp.send_message(message)
    except smtplib.SMTPException as err:
        raise ActionError(f"digest: SMTP {where} refused: {err}") from err
    except OSError as err:
        raise ActionError(f"digest: cannot send through SMTP {where}: {err}") from err


def send_digest(store: Store, settings: DigestSettings, now: datetime, force: bool = False) -> int:
    """Send the digest if enabled and due (`force`: due now); returns the messages reported.

    Raises ActionError when the SMTP server cannot be reached or refuses; the watermark then
    stays, so the next attempt reports the same span (and more).
    """
    if not settings.enabled or not (force or digest_due(store, settings, now)):
        return 0
    digest = collect_digest(store, settings, now)
    if digest.empty:
        log.info("digest: nothing to report since %s", _stamp(digest.since))
    else:
        _send(build_message(digest, settings), settings)
        log.info(
            "digest sent to %d recipient(s): reported=%d trips=%d incidents=%d",
            len(settings.recipients), digest.reported, len(digest.trips), len(digest.incidents),
        )  # fmt: skip
    store.set_watermark(WATERMARK, int(now.timestamp()), now)
    return digest.reported
