"""The `--json` shapes of `report`, `user show` and `status` (documented in docs/cli.md; the
other commands' shapes are in `opshapes`).

These shapes are a stable interface for scripts and monitoring: keys are only ever added.
Times are ISO 8601 in UTC (`...+00:00`), or null.  Enum values are the strings of
`reconciler.records`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from reconciler.records import (
    ActionRecord,
    AuditEntry,
    Checkpoint,
    DayCount,
    DecisionSummary,
    EventSummary,
    Health,
    Incident,
    MailboxHealth,
    Mode,
    ModeState,
    Overview,
    Probe,
    Standing,
    StoredDecision,
    StoredEvent,
    Trail,
    UserSelector,
)

__all__ = [
    "JSON_VERSION",
    "decision_json",
    "health_json",
    "mode_json",
    "overview_json",
    "probe_json",
    "trail_json",
]

JSON_VERSION = 1  # raised only when a key changes meaning or goes away

Json = dict[str, Any]


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _counts(pairs: Sequence[tuple[StrEnum, int]]) -> dict[str, int]:
    return {member.value: n for member, n in pairs}


def mode_json(state: ModeState, last_trip: AuditEntry | None) -> Json:
    return {
        "mode": state.mode.value,
        "since": _time(state.since),
        "by": state.by,
        "reason": state.reason,
        "breaker": {
            "tripped": state.mode is Mode.PAUSED,
            "last_trip": (
                {"at": _time(last_trip.at), "detail": last_trip.detail} if last_trip else None
            ),
        },
    }


def _incident(i: Incident) -> Json:
    return {
        "scope": i.scope.value,
        "key": i.key,
        "reason": i.reason.value,
        "users": i.users,
        "start": i.start,
        "end": i.end,
        "active": i.active,
    }


def _checkpoint(c: Checkpoint) -> Json:
    return {
        "mailbox": c.mailbox,
        "uidvalidity": c.uidvalidity,
        "last_uid": c.last_uid,
        "last_success": _time(c.last_success),
    }


def _events(e: EventSummary) -> Json:
    return {
        "total": e.total,
        "kind": _counts(e.kinds),
        "severity": _counts(e.severities),
        "reason": _counts(e.reasons),
        "fault": _counts(e.faults),
    }


def _day(c: DayCount) -> Json:
    return {"day": c.day.isoformat(), "hard": c.hard, "soft": c.soft, "none": c.none,
            "total": c.total}  # fmt: skip


def _standing(s: Standing) -> Json:
    return {
        "realm": s.realm,
        "user_id": s.user_id,
        "address": s.address,
        "hard_days": s.hard_days,
        "soft_days": s.soft_days,
        "closeness": s.closeness,
        "trigger": s.trigger.value if s.trigger else None,
    }


def _decisions(d: DecisionSummary) -> Json:
    return {
        "total": d.total,
        "disposition": _counts(d.dispositions),
        "trigger": _counts(d.triggers),
        "applied": d.applied,
        "undone": d.undone,
    }


def probe_json(p: Probe) -> Json:
    """One probe, in `report --json` (pending) and `user show --json`."""
    return {
        "id": p.id,
        "decision_id": p.decision_id,
        "realm": p.realm,
        "user_id": p.user_id,
        "address": p.address,
        "trigger": p.trigger.value,
        "state": p.state.value,
        "send_ref": p.send_ref,
        "message_id": p.message_id,
        "created_at": _time(p.created_at),
        "attempted_at": _time(p.attempted_at),
        "sent_at": _time(p.sent_at),
        "due_at": _time(p.due_at),
        "resolved_at": _time(p.resolved_at),
        "event_id": p.event_id,
        "attempts": p.attempts,
        "detail": p.detail,
    }


def overview_json(o: Overview) -> Json:
    """The shape of `reconciler report --json`."""
    e, p = o.events, o.policy
    return {
        "version": JSON_VERSION,
        "since": _time(o.since),
        "until": _time(o.until),
        "mailbox": o.mailbox,
        "mode": mode_json(o.mode, o.last_trip),
        "events": _events(e),
        "per_day": [_day(c) for c in e.days],
        "top_domains": [{"domain": k, "count": n} for k, n in e.domains],
        "top_remote_mtas": [{"remote_mta": k, "count": n} for k, n in e.remote_mtas],
        "messages": _counts(o.outcomes),
        "thresholds": {
            "hard": {"days": p.hard.days, "window_days": p.hard.window_days},
            "soft": {"days": p.soft.days, "window_days": p.soft.window_days},
        },
        "closest": [_standing(s) for s in o.standings],
        "decisions": _decisions(o.decisions),
        "actions": [
            {"action": a.action, "status": a.status.value, "count": a.count}
            for a in o.decisions.actions
        ],
        "incidents": [_incident(i) for i in o.incidents],
        "checkpoints": [_checkpoint(c) for c in o.checkpoints],
        "probes": {
            "recorded": _counts(o.probe_counts),
            "pending": [probe_json(p) for p in o.probes],
        },
    }


def _selector(s: UserSelector) -> Json:
    return {"realm": s.realm, "user_id": s.user_id, "address": s.address}


def _event(stored: StoredEvent, mode: Mode) -> Json:
    e = stored.event
    return {
        "id": stored.id,
        "mailbox": stored.mailbox,
        "uidvalidity": stored.uidvalidity,
        "uid": stored.uid,
        "recorded_at": _time(stored.recorded_at),
        "event_time": _time(e.event_time),
        "recipient": e.recipient,
        "kind": e.kind.value,
        "reason": e.reason.value,
        "severity": e.severity.value,
        "fault": e.fault.value,
        "rule": e.rule_id,
        "status": e.status,
        "reply_code": e.reply_code,
        "diagnostic": e.diagnostic,
        "remote_mta": e.remote_mta,
        "original_message_id": e.original_message_id,
        "realm": e.realm,
        "user_id": e.user_id,
        "verp_valid": e.verp_valid,
        "verp_failure": e.verp_failure.value if e.verp_failure else None,
        "send_ref": e.send_ref,
        "address_bound": e.address_bound,
        "mode": mode.value,
    }


def decision_json(stored: StoredDecision) -> Json:
    d = stored.decision
    return {
        "id": stored.id,
        "run_id": stored.run_id,
        "at": _time(datetime.fromtimestamp(d.at, UTC)),
        "realm": d.realm,
        "user_id": d.user_id,
        "address": d.address,
        "kind": d.kind.value,
        "trigger": d.trigger.value if d.trigger else None,
        "rule": d.rule,
        "hard_days": d.hard_days,
        "soft_days": d.soft_days,
        "reasons": [r.value for r in d.reasons],
        "event_ids": list(d.event_ids),
        "mode": d.mode.value,
        "disposition": d.disposition.value,
        "withheld": d.withheld or None,
        "recorded_at": _time(stored.recorded_at),
        "applied_at": _time(stored.applied_at),
        "undone_at": _time(stored.undone_at),
    }


def _action(a: ActionRecord, mode: Mode) -> Json:
    return {
        "id": a.id,
        "decision_id": a.decision_id,
        "action": a.action,
        "status": a.status.value,
        "detail": a.detail,
        "at": _time(a.at),
        "undone_at": _time(a.undone_at),
        "mode": mode.value,
    }


def _audit(a: AuditEntry, mode: Mode) -> Json:
    return {
        "id": a.id,
        "at": _time(a.at),
        "actor": a.actor,
        "action": a.action,
        "detail": a.detail,
        "decision_id": a.decision_id,
        "mode": mode.value,
    }


def trail_json(t: Trail) -> Json:
    """The shape of `reconciler user show --json`."""
    return {
        "version": JSON_VERSION,
        "query": _selector(t.selector),
        "events": [_event(e, m) for e, m in t.events],
        "decisions": [decision_json(d) for d in t.decisions],
        "actions": [_action(a, m) for a, m in t.actions],
        "audit": [_audit(a, m) for a, m in t.audit],
        "suppressions": [
            {
                "address": s.address,
                "realm": s.realm,
                "user_id": s.user_id,
                "reason": s.reason,
                "since": _time(s.since),
                "decision_id": s.decision_id,
            }
            for s in t.suppressions
        ],
        "probes": [{**probe_json(p), "mode": m.value} for p, m in t.probes],
    }


def _mailbox(m: MailboxHealth) -> Json:
    return {
        "mailbox": m.mailbox,
        "last_success": _time(m.last_success),
        "age_seconds": m.age_seconds,
        "stale": m.stale,
        "unmoved": m.unmoved,
        "retrying": m.retrying,
        "imap_backlog": m.imap_backlog,
        "imap_error": m.imap_error,
    }


def health_json(h: Health) -> Json:
    """The shape of `reconciler status --json`."""
    return {
        "version": JSON_VERSION,
        "ok": h.ok,
        "now": _time(h.now),
        "stale_after_seconds": h.stale_after,
        "mode": mode_json(h.mode, h.last_trip),
        "mailboxes": [_mailbox(m) for m in h.mailboxes],
    }
