"""The JSON form of a decision that leaves the process (webhook body, command stdin)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from reconciler.records import StoredDecision

__all__ = ["PAYLOAD_VERSION", "event_json", "utc"]

PAYLOAD_VERSION = 1


def utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_json(kind: str, event_id: str, stored: StoredDecision, now: datetime) -> str:
    """One event ("suppress" | "reinstated") about a decision, as compact JSON text.

    `event_id` is the idempotency key: a receiver that sees it twice ignores the repeat.
    """
    decision = stored.decision
    body: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "event_id": event_id,
        "type": kind,
        "created_at": utc(now),
        "decision": {
            "id": stored.id,
            "run_id": stored.run_id,
            "at": utc(datetime.fromtimestamp(decision.at, UTC)),
            "kind": decision.kind.value,
            "mode": decision.mode.value,
            "disposition": decision.disposition.value,
            "realm": decision.realm,
            "user_id": decision.user_id,
            "address": decision.address,
            "trigger": decision.trigger.value if decision.trigger else None,
            "rule": decision.rule,
            "hard_days": decision.hard_days,
            "soft_days": decision.soft_days,
            "reasons": [r.value for r in decision.reasons],
            "event_ids": list(decision.event_ids),
            "message_ids": list(decision.message_ids),
        },
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True)
