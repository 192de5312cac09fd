"""Migration 2, frozen: mode and audit, decisions, suppressions, action log, outbox, incidents.

A frozen copy of the tables as migration 2 creates them (like `v1`): later
migrations change the live models in `models.py` and never these classes.
"""

from __future__ import annotations

import peewee as pw

from reconciler.store.models import ADDRESS_LENGTH

__all__ = ["apply"]


class _V2Base(pw.Model):
    class Meta:
        legacy_table_names = False


class _V2ModeRow(_V2Base):
    id = pw.IntegerField(primary_key=True)
    mode = pw.CharField(max_length=16)
    since = pw.DateTimeField()
    changed_by = pw.CharField(max_length=128)
    reason = pw.TextField()

    class Meta:
        table_name = "mode_state"


class _V2AuditRow(_V2Base):
    id = pw.AutoField()
    at = pw.DateTimeField(index=True)
    actor = pw.CharField(max_length=128)
    action = pw.CharField(max_length=32)
    detail = pw.TextField()
    old_mode = pw.CharField(max_length=16, null=True)
    new_mode = pw.CharField(max_length=16, null=True)
    decision_id = pw.BigIntegerField(null=True)

    class Meta:
        table_name = "audit_log"


class _V2DecisionRow(_V2Base):
    id = pw.AutoField()
    run_id = pw.CharField(max_length=64, index=True)
    at = pw.DateTimeField(index=True)
    realm = pw.CharField(max_length=64)
    user_id = pw.BigIntegerField()
    address = pw.CharField(max_length=ADDRESS_LENGTH, null=True)
    kind = pw.CharField(max_length=16)
    mode = pw.CharField(max_length=16)
    disposition = pw.CharField(max_length=16)
    trigger = pw.CharField(max_length=16, null=True)
    rule = pw.CharField(max_length=64)
    hard_days = pw.IntegerField()
    soft_days = pw.IntegerField()
    event_ids = pw.TextField()
    message_ids = pw.TextField()
    reasons = pw.TextField()
    ignored = pw.TextField()
    recorded_at = pw.DateTimeField()
    applied_at = pw.DateTimeField(null=True, index=True)
    undone_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = (
            (("realm", "user_id"), False),
            (("disposition", "applied_at"), False),
        )
        table_name = "decision"


class _V2SuppressionRow(_V2Base):
    id = pw.AutoField()
    address = pw.CharField(max_length=ADDRESS_LENGTH, unique=True)
    realm = pw.CharField(max_length=64)
    user_id = pw.BigIntegerField()
    reason = pw.TextField()
    since = pw.DateTimeField()
    decision = pw.ForeignKeyField(_V2DecisionRow, null=True, on_delete="SET NULL")

    class Meta:
        indexes = ((("realm", "user_id"), False),)
        table_name = "suppression"


class _V2ActionLog(_V2Base):
    id = pw.AutoField()
    decision = pw.ForeignKeyField(_V2DecisionRow, on_delete="CASCADE")
    action = pw.CharField(max_length=32)
    status = pw.CharField(max_length=16)
    detail = pw.TextField()
    undo_data = pw.TextField(null=True)
    at = pw.DateTimeField()
    undone_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "action_log"


class _V2OutboxRow(_V2Base):
    id = pw.AutoField()
    event_id = pw.CharField(max_length=64, unique=True)
    kind = pw.CharField(max_length=32)
    decision = pw.ForeignKeyField(_V2DecisionRow, null=True, on_delete="SET NULL")
    payload = pw.TextField()
    attempts = pw.IntegerField()
    next_at = pw.DateTimeField()
    created_at = pw.DateTimeField()
    delivered_at = pw.DateTimeField(null=True)
    failed_at = pw.DateTimeField(null=True)
    last_error = pw.TextField()

    class Meta:
        indexes = ((("delivered_at", "failed_at", "next_at"), False),)
        table_name = "outbox"


class _V2IncidentRow(_V2Base):
    id = pw.AutoField()
    scope = pw.CharField(max_length=16)
    incident_key = pw.CharField(max_length=255)
    reason = pw.CharField(max_length=32)
    users = pw.IntegerField()
    start_at = pw.DateTimeField()
    end_at = pw.DateTimeField(index=True)
    active = pw.BooleanField()
    event_ids = pw.TextField()
    first_seen = pw.DateTimeField()
    last_seen = pw.DateTimeField()

    class Meta:
        indexes = ((("scope", "incident_key", "reason"), False),)
        table_name = "incident"


_V2_MODELS: tuple[type[pw.Model], ...] = (
    _V2ModeRow,
    _V2AuditRow,
    _V2DecisionRow,
    _V2SuppressionRow,
    _V2ActionLog,
    _V2OutboxRow,
    _V2IncidentRow,
)


def apply(db: pw.Database) -> None:
    """Create the version-2 tables (re-runnable: `IF NOT EXISTS`)."""
    with db.bind_ctx(_V2_MODELS):
        db.create_tables(_V2_MODELS, safe=True)
