"""The live peewee models, bound to one module-level `DatabaseProxy` (STYLE 2.14).

These describe the schema as the latest migration leaves it.  They are private to the store
package: query functions turn rows into records from `reconciler.records`.  Changing a model
means adding a migration (see `migrations.py`); `test_store` checks that a freshly migrated
database has exactly the columns declared here.

All times are stored as naive UTC (`DATETIME` / `TIMESTAMP` without zone).
"""

from __future__ import annotations

from typing import Any

import peewee as pw

from reconciler.records import FACT_LIMITS

__all__ = [
    "MODELS",
    "ActingRow",
    "ActionLog",
    "Attempt",
    "AuditRow",
    "CheckpointRow",
    "DecisionRow",
    "Event",
    "IncidentRow",
    "LeaseRow",
    "Message",
    "ModeRow",
    "OutboxRow",
    "ProbeRow",
    "ReclassifiedRow",
    "RequeueRow",
    "SchemaVersion",
    "SuppressionRow",
    "Watermark",
    "database",
]

database = pw.DatabaseProxy()

ADDRESS_LENGTH = 320  # RFC 3696 erratum: 64 + 1 + 255
WITHHELD_LENGTH = 200  # a one-line reason


class _Base(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaVersion(_Base):
    """One row per applied migration."""

    version = pw.IntegerField(primary_key=True)
    description = pw.CharField(max_length=200)
    applied_at = pw.DateTimeField()


class Message(_Base):
    """The message ledger: one row per (mailbox, uidvalidity, uid) ever handled."""

    id = pw.AutoField()

    mailbox = pw.CharField(max_length=255)
    uidvalidity = pw.BigIntegerField()
    uid = pw.BigIntegerField()
    sha256 = pw.CharField(max_length=64, index=True)
    message_id = pw.TextField(null=True)
    size = pw.BigIntegerField()
    received_at = pw.DateTimeField()
    processed_at = pw.DateTimeField(index=True)
    outcome = pw.CharField(max_length=32)
    destination = pw.CharField(max_length=255, null=True)
    moved = pw.BooleanField(default=False)
    moved_at = pw.DateTimeField(null=True)
    duplicate_of = pw.ForeignKeyField("self", null=True, backref="replays", on_delete="SET NULL")
    error = pw.TextField(null=True)  # why it was quarantined (migration 11)

    class Meta:
        indexes = (
            (("mailbox", "uidvalidity", "uid"), True),
            (("mailbox", "uidvalidity", "moved"), False),
        )
        table_name = "message_ledger"


class Event(_Base):
    """Bounce events: one recipient result of one ledger message."""

    id = pw.AutoField()

    message = pw.ForeignKeyField(Message, backref="events", on_delete="CASCADE")
    recipient = pw.CharField(max_length=ADDRESS_LENGTH)
    kind = pw.CharField(max_length=32)
    status = pw.CharField(max_length=32, null=True)
    reply_code = pw.CharField(max_length=16, null=True)
    reason = pw.CharField(max_length=32)
    severity = pw.CharField(max_length=16)
    fault = pw.CharField(max_length=16)
    rule_id = pw.CharField(max_length=128)
    diagnostic = pw.TextField()
    remote_mta = pw.TextField(null=True)
    original_message_id = pw.TextField(null=True)
    realm = pw.CharField(max_length=64, null=True)
    user_id = pw.BigIntegerField(null=True)
    verp_valid = pw.BooleanField()
    verp_failure = pw.CharField(max_length=32, null=True)
    send_ref = pw.CharField(max_length=128, null=True)
    event_time = pw.DateTimeField(index=True)
    created_at = pw.DateTimeField(index=True)
    domain = pw.CharField(max_length=255, null=True)  # of the recipient, lower case (migration 5)
    # the VERP token binds the recipient (migration 7; NULL: recorded before, not bound)
    address_bound = pw.BooleanField(null=True)
    # the address the report says was mailed, and the SMTP stage of the failure (migration 9)
    original_recipient = pw.CharField(max_length=ADDRESS_LENGTH, null=True)
    stage = pw.CharField(max_length=16, null=True)
    # the rest of what the rules read (RuleFacts), so that a replay classifies the stored
    # event as the message was classified (migration 11; `final_domain` NULL: recorded before)
    action = pw.CharField(max_length=FACT_LIMITS["action"], null=True)
    diagnostic_type = pw.CharField(max_length=FACT_LIMITS["diagnostic_type"], null=True)
    reporting_mta = pw.TextField(null=True)
    sender_domain = pw.CharField(max_length=FACT_LIMITS["sender_domain"], null=True)
    final_domain = pw.CharField(max_length=FACT_LIMITS["domain"], null=True)
    detector = pw.CharField(max_length=32, null=True)

    class Meta:
        indexes = (
            (("message", "recipient"), True),
            (("realm", "user_id", "event_time"), False),
        )
        table_name = "bounce_event"


class CheckpointRow(_Base):
    """Per-mailbox read position."""

    mailbox = pw.CharField(max_length=255, primary_key=True)
    uidvalidity = pw.BigIntegerField()
    last_uid = pw.BigIntegerField()
    last_success = pw.DateTimeField(null=True)
    updated_at = pw.DateTimeField()

    class Meta:
        table_name = "checkpoint"


class Attempt(_Base):
    """Failed attempts on a message still in its mailbox (for quarantine after N)."""

    mailbox = pw.CharField(max_length=255)
    uidvalidity = pw.BigIntegerField()
    uid = pw.BigIntegerField()
    attempts = pw.IntegerField()
    stage = pw.CharField(max_length=32)
    error = pw.TextField()
    first_at = pw.DateTimeField()
    last_at = pw.DateTimeField(index=True)

    class Meta:
        indexes = ((("mailbox", "uidvalidity", "uid"), True),)


# -- version 2: mode, audit, decisions, suppressions, action log, outbox, incidents -----------


class ModeRow(_Base):
    """The mode in force: a single row (id 1); absent on a fresh install (log-only)."""

    id = pw.IntegerField(primary_key=True)
    mode = pw.CharField(max_length=16)
    since = pw.DateTimeField()
    changed_by = pw.CharField(max_length=128)
    reason = pw.TextField()

    class Meta:
        table_name = "mode_state"


class AuditRow(_Base):
    """Append-only audit log: mode changes, breaker trips, reinstatements, undos."""

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


class DecisionRow(_Base):
    """Every decision of the policy, in every mode, with its evidence (lists as JSON text)."""

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
    withheld = pw.CharField(max_length=WITHHELD_LENGTH, null=True)  # why, other than the mode

    class Meta:
        indexes = (
            (("realm", "user_id"), False),
            (("disposition", "applied_at"), False),
        )
        table_name = "decision"


class SuppressionRow(_Base):
    """The suppression list: one row per suppressed address (normalised)."""

    id = pw.AutoField()
    address = pw.CharField(max_length=ADDRESS_LENGTH, unique=True)
    realm = pw.CharField(max_length=64)
    user_id = pw.BigIntegerField()
    reason = pw.TextField()
    since = pw.DateTimeField()
    decision = pw.ForeignKeyField(DecisionRow, null=True, on_delete="SET NULL")

    class Meta:
        indexes = ((("realm", "user_id"), False),)
        table_name = "suppression"


class ActionLog(_Base):
    """What each action did for each decision, with the value its undo needs."""

    id = pw.AutoField()
    decision = pw.ForeignKeyField(DecisionRow, on_delete="CASCADE")
    action = pw.CharField(max_length=32)
    status = pw.CharField(max_length=16)
    detail = pw.TextField()
    undo_data = pw.TextField(null=True)
    at = pw.DateTimeField()
    undone_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "action_log"


class OutboxRow(_Base):
    """Webhook events to deliver, at least once, with retries (crash- and outage-safe)."""

    id = pw.AutoField()
    event_id = pw.CharField(max_length=64, unique=True)
    kind = pw.CharField(max_length=32)
    decision = pw.ForeignKeyField(DecisionRow, null=True, on_delete="SET NULL")
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


class IncidentRow(_Base):
    """Domain / remote-MTA incidents as detected (event ids as JSON text).

    `incident_key` is the SHA-256 (hex) of the key, `key_text` the key itself (migration 6):
    a remote MTA is whatever a bounce says, of any length."""

    id = pw.AutoField()
    scope = pw.CharField(max_length=16)
    incident_key = pw.CharField(max_length=255)
    key_text = pw.TextField(null=True)  # null only on rows that migration 6 has yet to fill
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


class ActingRow(_Base):
    """Migration 8: which decision acts for a (realm, user, address), while its actions stand.

    `acting_key` is a digest of the three, unique: the first statement of the transaction that
    applies a decision inserts it, so of two workers applying for the same user and address at
    once, the second waits for the first and then finds the key taken.  Deleted on undo.
    """

    id = pw.AutoField()
    acting_key = pw.CharField(max_length=64, unique=True)
    decision = pw.ForeignKeyField(DecisionRow, null=True, on_delete="CASCADE")
    since = pw.DateTimeField()

    class Meta:
        table_name = "acting"


class Watermark(_Base):
    """How far a stage has read a table, by name (e.g. the decide stage over events)."""

    name = pw.CharField(max_length=64, primary_key=True)
    value = pw.BigIntegerField()
    updated_at = pw.DateTimeField()


class LeaseRow(_Base):
    """A lease (migration 4): who holds a mailbox (or a stage, or a worker's presence) until when.

    `scope` is "mailbox", "stage" or "worker"; `name` is the mailbox name, the stage name or the
    worker id.  A row is never deleted: a released lease keeps its last holder, expired.
    """

    id = pw.AutoField()
    scope = pw.CharField(max_length=16)
    name = pw.CharField(max_length=255)
    holder = pw.CharField(max_length=255)
    acquired_at = pw.DateTimeField()
    renewed_at = pw.DateTimeField()
    expires_at = pw.DateTimeField()

    class Meta:
        indexes = ((("scope", "name"), True),)
        table_name = "lease"


# -- version 11: what the rules read, reclassification (issue 17) ---------------------------


class ReclassifiedRow(_Base):
    """Migration 11: one row per event whose verdict `reconciler reclassify` rewrote, with
    the verdict and the rule before and after, under one audit row (who, when, why)."""

    id = pw.AutoField()
    event = pw.ForeignKeyField(Event, on_delete="CASCADE")
    audit_id = pw.BigIntegerField(index=True)
    at = pw.DateTimeField()
    old_rule = pw.CharField(max_length=128)
    new_rule = pw.CharField(max_length=128)
    old_reason = pw.CharField(max_length=32)
    new_reason = pw.CharField(max_length=32)
    old_severity = pw.CharField(max_length=16)
    new_severity = pw.CharField(max_length=16)
    old_fault = pw.CharField(max_length=16)
    new_fault = pw.CharField(max_length=16)

    class Meta:
        table_name = "reclassification"


# -- version 12: requeued messages and probes (issue 17) ---------------------------------------


class RequeueRow(_Base):
    """A message moved back to its mailbox's folder to be analysed again (`requeue`): the
    ledger lets its bytes through once more, replacing the events recorded for them."""

    id = pw.AutoField()
    sha256 = pw.CharField(max_length=64, unique=True)
    mailbox = pw.CharField(max_length=255)
    folder = pw.CharField(max_length=255)  # where it was taken from
    granted_at = pw.DateTimeField()
    granted_by = pw.CharField(max_length=128)
    used_at = pw.DateTimeField(null=True)  # when the cycle recorded it again (None: not yet)

    class Meta:
        table_name = "requeue"


class ProbeRow(_Base):
    """A probe mail sent (or to be sent) before a decision acts (see records.probes).

    `open_key` is a digest of (realm, user, address) while the probe is open and NULL after:
    unique, so two workers never open two probes for one address; the insert is the first
    write of the transaction that records the decision waiting for it."""

    id = pw.AutoField()
    decision = pw.ForeignKeyField(DecisionRow, null=True, on_delete="SET NULL")
    realm = pw.CharField(max_length=64)
    user_id = pw.BigIntegerField()
    address = pw.CharField(max_length=ADDRESS_LENGTH)
    trigger = pw.CharField(max_length=16)
    state = pw.CharField(max_length=16)
    open_key = pw.CharField(max_length=64, null=True, unique=True)
    message_id = pw.CharField(max_length=255)
    send_ref = pw.CharField(max_length=16)
    return_path = pw.CharField(max_length=ADDRESS_LENGTH)
    created_at = pw.DateTimeField()
    due_at = pw.DateTimeField(index=True)
    attempted_at = pw.DateTimeField(null=True)
    sent_at = pw.DateTimeField(null=True)
    resolved_at = pw.DateTimeField(null=True)
    event_id = pw.BigIntegerField(null=True)
    detail = pw.TextField()
    attempts = pw.IntegerField()

    class Meta:
        indexes = ((("realm", "user_id"), False), (("state", "due_at"), False))
        table_name = "probe"


MODELS: tuple[type[Any], ...] = (
    SchemaVersion,
    Message,
    Event,
    CheckpointRow,
    Attempt,
    ModeRow,
    AuditRow,
    DecisionRow,
    SuppressionRow,
    ActionLog,
    OutboxRow,
    IncidentRow,
    Watermark,
    LeaseRow,
    ActingRow,
    ReclassifiedRow,
    RequeueRow,
    ProbeRow,
)
