"""The webhook action: signed JSON events, queued in the outbox and delivered at least once.

`WebhookAction.apply` only queues (in the transaction that records the decision), so a crash
or an HTTP outage loses nothing.  `deliver_due` sends what is due: a 2xx answer marks the item
delivered; anything else (an error status, a refused connection, a timeout) schedules a retry
with exponential backoff, until `max_attempts`, after which the item is kept as "failed".
A receiver may see an event twice (after a lost answer): `event_id` is the idempotency key.

Headers of every request::

    Content-Type: application/json
    X-Reconciler-Event-Id: <event id>
    X-Reconciler-Timestamp: <unix seconds of this attempt>
    X-Reconciler-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the secret>
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from reconciler.actions.payload import event_json
from reconciler.records import (
    ActionOutcome,
    ActionRecord,
    ActionStatus,
    OutboxItem,
    StoredDecision,
)
from reconciler.settings import WebhookSettings
from reconciler.store import Store

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookAction",
    "backoff",
    "deliver_due",
    "sign",
]

log = logging.getLogger(__name__)

EVENT_ID_HEADER = "X-Reconciler-Event-Id"
TIMESTAMP_HEADER = "X-Reconciler-Timestamp"
SIGNATURE_HEADER = "X-Reconciler-Signature"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value: ``sha256=`` and the hex HMAC of ``b"<ts>." + body``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def backoff(settings: WebhookSettings, attempts: int) -> timedelta:
    """Delay after the `attempts`-th failure: backoff_seconds doubled each time, capped."""
    seconds = settings.backoff_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.max_backoff_seconds))


class WebhookAction:
    """Queues a "suppress" event on apply and a "reinstated" event on undo."""

    name = "webhook"
    local = True  # it only writes the outbox; `deliver_due` does the network I/O

    def __init__(self, store: Store, settings: WebhookSettings) -> None:
        self._store = store
        self._settings = settings

    def describe(self, decision: StoredDecision) -> str:
        host = urlsplit(self._settings.url).hostname
        d = decision.decision
        return f'webhook: queue a "suppress" event for {d.realm}:{d.user_id} to {host}'

    def apply(self, decision: StoredDecision, now: datetime) -> ActionOutcome:
        event_id = f"d{decision.id}-suppress"
        body = event_json("suppress", event_id, decision, now)
        self._store.enqueue(event_id, "suppress", body, decision.id, now)
        return ActionOutcome(self.name, ActionStatus.QUEUED, f"queued event {event_id}")

    def undo(self, record: ActionRecord, now: datetime) -> ActionOutcome:
        stored = self._store.get_decision(record.decision_id)
        if stored is None:
            return ActionOutcome(self.name, ActionStatus.SKIPPED, "the decision is gone")
        event_id = f"d{record.decision_id}-reinstated-{record.id}"
        body = event_json("reinstated", event_id, stored, now)
        self._store.enqueue(event_id, "reinstated", body, record.decision_id, now)
        return ActionOutcome(self.name, ActionStatus.QUEUED, f"queued event {event_id}")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer we do not follow (a POST must not turn into a GET)."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects())


def _post(settings: WebhookSettings, item: OutboxItem, now: datetime) -> str | None:
    """Send one item; None on a 2xx answer, else one line saying what went wrong."""
    body = item.payload.encode()
    stamp = int(now.timestamp())
    request = urllib.request.Request(settings.url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", "bounce-reconciler")
    request.add_header(EVENT_ID_HEADER, item.event_id)
    request.add_header(TIMESTAMP_HEADER, str(stamp))
    request.add_header(SIGNATURE_HEADER, sign(settings.secret, stamp, body))
    try:
        with _OPENER.open(request, timeout=settings.timeout_seconds) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as err:
        return f"HTTP {err.code} {err.reason}"
    except (urllib.error.URLError, OSError) as err:  # refused, reset, timeout, DNS
        return f"cannot reach {urlsplit(settings.url).netloc}: {getattr(err, 'reason', err)}"
    return None if 200 <= status < 300 else f"HTTP {status}"


def deliver_due(
    store: Store, settings: WebhookSettings, now: datetime, limit: int = 100
) -> list[OutboxItem]:
    """Send every outbox item due at `now`; returns the items as they are afterwards."""
    done: list[OutboxItem] = []
    for item in store.due_outbox(now, limit):
        error = _post(settings, item, now)
        attempts = item.attempts + 1
        retry = None if attempts >= settings.max_attempts else now + backoff(settings, attempts)
        after = store.outbox_attempt(item.id, now, error, retry if error else None)
        if error is None:
            log.info("webhook event %s delivered (attempt %d)", item.event_id, attempts)
        elif retry is None:
            log.error(
                "webhook event %s given up after %d attempts: %s", item.event_id, attempts, error
            )
        else:
            log.warning("webhook event %s failed (attempt %d), retry at %s: %s",
                        item.event_id, attempts, retry.isoformat(), error)  # fmt: skip
        done.append(after)
    return done
