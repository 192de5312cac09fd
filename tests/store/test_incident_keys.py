"""Incident keys are bounded, and the decide stage never stops on an incident (issue 12, item 3).

The key of a remote-MTA incident is the bounce's Remote-MTA text, as long as its author made
it; it went into a varchar(255).  Five bounces naming one 2,000-character remote MTA made
`record_incidents` fail on PostgreSQL and MariaDB, and with it every decide run: the
watermark never advanced and no user was decided again.  Now the store keys an incident by
the SHA-256 of its text (migration 6) and keeps the text beside it; and should recording
incidents fail all the same, the decide stage logs it and goes on.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

import pytest
from helpers_store import refusing
from support import NOW

from reconciler.records import (
    BounceEvent,
    DecisionKind,
    Fault,
    Incident,
    IncidentScope,
    LedgerEntry,
    MessageKind,
    MessageOutcome,
    Reason,
    Severity,
)
from reconciler.service.decisions import WATERMARK, DecideContext, run_decisions
from reconciler.settings import PolicySettings
from reconciler.store import Store, migrations
from reconciler.store.models import database

HOUR = timedelta(hours=1)
T = int(NOW.timestamp())
LONG_MTA = "mx." + "a" * 1990 + ".example"  # what a forged Remote-MTA field may say


def _incident(key: str, start: int, end: int, ids: tuple[int, ...]) -> Incident:
    return Incident(IncidentScope.REMOTE_MTA, key, Reason.USERUNKNOWN, 5, start, end, True, ids)


def test_a_2000_character_key_is_recorded_merged_and_shown_whole(store: Store) -> None:
    assert store.record_incidents([_incident(LONG_MTA, T - 1800, T - 600, (1, 2))], NOW) == 1
    assert store.record_incidents([_incident(LONG_MTA, T - 900, T, (3,))], NOW) == 0  # merged
    other = LONG_MTA[:-1] + "X"  # the same first 255 characters: a different incident
    assert store.record_incidents([_incident(other, T - 900, T, (4,))], NOW) == 1
    found = store.incidents(NOW - HOUR)
    assert [(i.key, i.start, i.end, i.event_ids) for i in found] == [
        (LONG_MTA, T - 1800, T, (1, 2, 3)),
        (other, T - 900, T, (4,)),
    ]
    stored = database.execute_sql("SELECT incident_key FROM incident ORDER BY id").fetchall()
    assert [key for (key,) in stored] == [
        hashlib.sha256(LONG_MTA.encode()).hexdigest(),
        hashlib.sha256(other.encode()).hexdigest(),
    ]


def _hard(uid: int, user_id: int, at: datetime, remote_mta: str) -> LedgerEntry:
    event = BounceEvent(
        recipient=f"user@d{user_id}.example", kind=MessageKind.BOUNCE,
        reason=Reason.USERUNKNOWN, severity=Severity.HARD, fault=Fault.RECIPIENT,
        rule_id="userunknown-5.1.1", event_time=at, status="5.1.1", remote_mta=remote_mta,
        realm="wiki", user_id=user_id, verp_valid=True,
    )  # fmt: skip
    return LedgerEntry(
        mailbox="INBOX", uidvalidity=1, uid=uid, sha256=hashlib.sha256(b"%d" % uid).hexdigest(),
        size=10, outcome=MessageOutcome.PROCESSED, received_at=at, processed_at=at,
        events=(event,),
    )  # fmt: skip


def _seed(store: Store) -> None:
    """Five users bounced within minutes by one very long remote MTA (an incident), and user
    99 bounced hard on three days by its own MTA (to be suppressed)."""
    spike = [_hard(n, n, NOW - HOUR + timedelta(minutes=n), LONG_MTA) for n in range(1, 6)]
    own = [_hard(10 + d, 99, NOW - timedelta(days=d), "mx.user99.example") for d in (1, 2, 3)]
    store.record_batch(spike + own, NOW - HOUR)  # settled: older than the decide stage's wait


def _decide(store: Store) -> list[tuple[int, DecisionKind]]:
    report = run_decisions(store, DecideContext(PolicySettings(), ()), "run-1", NOW)
    decided = store.decisions(NOW - HOUR, NOW + HOUR)
    assert report.users == 6
    assert store.watermark(WATERMARK) > 0  # the decide stage read past these events
    return [(d.decision.user_id, d.decision.kind) for d in decided]


def test_the_decide_stage_goes_past_an_incident_with_a_long_key(store: Store) -> None:
    _seed(store)
    assert _decide(store) == [(99, DecisionKind.SUPPRESS)]
    (spike,) = store.incidents(NOW - HOUR)
    assert (spike.scope, spike.key, spike.users) == (IncidentScope.REMOTE_MTA, LONG_MTA, 5)


def test_an_incident_the_store_refuses_does_not_stop_the_decide_stage(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    for statement in refusing(store.backend, "incident", "NEW.scope = 'remote_mta'"):
        database.execute_sql(statement)
    _seed(store)
    with caplog.at_level(logging.ERROR, logger="reconciler.service.decisions"):
        assert _decide(store) == [(99, DecisionKind.SUPPRESS)]
    assert store.incidents(NOW - HOUR) == []
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert line.startswith("incidents not recorded (decisions go on): recording incidents failed")


def test_migration_6_keys_existing_incidents_by_digest_and_reruns_safely(store: Store) -> None:
    store.record_incidents([_incident("mx.example.net", T - 1800, T, (1,))], NOW)
    database.execute_sql("UPDATE incident SET incident_key = 'mx.example.net', key_text = NULL")
    migrations.v6.apply(database.obj)  # as an upgraded database meets it
    migrations.v6.apply(database.obj)  # MariaDB: an interrupted migration runs again
    stored = database.execute_sql("SELECT incident_key, key_text FROM incident").fetchall()
    assert [tuple(row) for row in stored] == [
        (hashlib.sha256(b"mx.example.net").hexdigest(), "mx.example.net")
    ]
    assert store.record_incidents([_incident("mx.example.net", T - 60, T + 60, (2,))], NOW) == 0
    assert [i.event_ids for i in store.incidents(NOW - HOUR)] == [(1, 2)]
