"""The mode in force and the audit log (STYLE 2.7): every change of mode is an audit row.

The mode lives in one row of `mode_state`; a fresh database has none and runs LOG_ONLY since
migration 2 was applied.  Only `trip_breaker` sets PAUSED; an operator re-arms with `set_mode`.
"""

from __future__ import annotations

from datetime import datetime

from reconciler.errors import StoreError
from reconciler.records import AuditEntry, BreakerTrip, Mode, ModeState
from reconciler.store.connection import from_db, to_db
from reconciler.store.models import AuditRow, ModeRow, SchemaVersion, database
from reconciler.store.rows import to_audit

__all__ = ["add_audit", "audit_entries", "read_mode", "set_mode", "trip_breaker"]

_ROW = 1
_INSTALL = "install"


def read_mode() -> ModeState:
    row = ModeRow.get_or_none(ModeRow.id == _ROW)
    if row is not None:
        return ModeState(Mode(row.mode), from_db(row.since), row.changed_by, row.reason)
    installed = SchemaVersion.get_or_none(SchemaVersion.version == 2)
    if installed is None:
        raise StoreError("the schema is older than version 2: run the migrations first")
    reason = "a fresh install runs in log-only mode"
    return ModeState(Mode.LOG_ONLY, from_db(installed.applied_at), _INSTALL, reason)


def add_audit(
    actor: str, action: str, detail: str, now: datetime, decision_id: int | None = None
) -> AuditEntry:
    row = AuditRow.create(
        at=to_db(now), actor=actor, action=action, detail=detail, decision_id=decision_id
    )
    return to_audit(row)


def _change(new: ModeState, action: str) -> ModeState:
    """Write `new` as the mode in force with its audit row; the caller holds a transaction."""
    old = read_mode()
    values = {
        "mode": new.mode.value,
        "since": to_db(new.since),
        "changed_by": new.by,
        "reason": new.reason,
    }
    if ModeRow.get_or_none(ModeRow.id == _ROW) is None:
        ModeRow.insert(id=_ROW, **values).execute()
    else:
        ModeRow.update(**values).where(ModeRow.id == _ROW).execute()
    AuditRow.create(
        at=to_db(new.since),
        actor=new.by,
        action=action,
        detail=f"{old.mode} -> {new.mode}: {new.reason}",
        old_mode=old.mode.value,
        new_mode=new.mode.value,
    )
    return new


def set_mode(mode: Mode, actor: str, reason: str, now: datetime) -> ModeState:
    """An operator's change (also the re-arm after a trip).  PAUSED is the breaker's only."""
    if mode is Mode.PAUSED:
        raise StoreError("the mode 'paused' is set by the circuit breaker only")
    if not actor.strip() or not reason.strip():
        raise StoreError("a mode change needs who (actor) and why (reason)")
    with database.atomic():
        return _change(ModeState(mode, now, actor, reason), "mode")


def trip_breaker(trip: BreakerTrip, now: datetime) -> ModeState | None:
    """Pause enforcement for `trip` (audited, naming the cause); None unless ENFORCE was on."""
    with database.atomic():
        if read_mode().mode is not Mode.ENFORCE:
            return None
        reason = f"circuit breaker: {trip.cause}: {trip.detail}"
        return _change(ModeState(Mode.PAUSED, now, "breaker", reason), "breaker")


def audit_entries(
    since: datetime | None = None, action: str | None = None, limit: int = 100
) -> list[AuditEntry]:
    """Audit rows, newest first, optionally since a time and of one action."""
    query = AuditRow.select()
    if since is not None:
        query = query.where(AuditRow.at >= to_db(since))
    if action is not None:
        query = query.where(AuditRow.action == action)
    return [to_audit(row) for row in query.order_by(AuditRow.id.desc()).limit(limit)]
