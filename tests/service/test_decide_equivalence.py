"""The decide stage as rewritten for speed (issue 16) decides, records and logs exactly what the
form it replaced did, over generated drains.

The rewrite: incident detection reads its groups' bounces as sightings (a few columns each,
not whole EvidenceEvents), the users a run `cannot_act` on are told from the kinds and
times of their events (`user_activity`), their histories not read, and incidents are
listed and recorded without a model instance per row.  The form it replaced is kept below
as it was (`_old_*`: the store's group read, the policy's window core, the histories read
for every user, the incidents recorded and listed through models), and each generated
drain runs twice on a fresh SQLite file:
as shipped, and with the old form patched in.  Compared after every run: every row of every
table the stage writes (decisions, incidents, audit, suppressions, actions, outbox,
watermarks), the run's report and every log line.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import peewee as pw
import pytest
import replaced_incidents as replaced
from helpers_store import recorded_batches
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import NOW

from reconciler.actions import build_actions
from reconciler.config import ActionsSettings
from reconciler.records import (
    BounceEvent,
    Disposition,
    EvidenceEvent,
    Fault,
    Incident,
    IncidentScope,
    MessageKind,
    Mode,
    Reason,
    Severity,
    UserHistory,
)
from reconciler.service import decisions
from reconciler.service.decisions import DecideContext, run_decisions
from reconciler.settings import (
    BreakerSettings,
    DayThreshold,
    IncidentSettings,
    PolicySettings,
)
from reconciler.store import INCIDENT_EVIDENCE, GroupFilter, Store, open_database, policyapi
from reconciler.store import evidence as store_evidence
from reconciler.store import incidents as store_incidents
from reconciler.store.bulk import insert_rows
from reconciler.store.connection import to_db
from reconciler.store.inlist import execute_in
from reconciler.store.models import Event, IncidentRow
from reconciler.store.rows import (
    EVIDENCE_FIELDS,
    evidence,
    from_unix,
    key_digest,
    unix,
)

DOMAINS = ("a.example", "B.example", "c.example")
MTAS = ("mx1.example.net", " MX1.example.net", "mx2.example.net", "")
REASONS = (Reason.USERUNKNOWN, Reason.MAILBOXFULL, Reason.BLOCKED)
KINDS = (MessageKind.BOUNCE,) * 6 + (MessageKind.FEEDBACK, MessageKind.DELAY)
POLICIES = (
    PolicySettings(
        hard=DayThreshold(2, 14),
        soft=DayThreshold(3, 30),
        incident=IncidentSettings(window_seconds=3600, min_users=3),
        breaker=BreakerSettings(max_actions=4, min_sample=3),
    ),
    PolicySettings(incident=IncidentSettings(window_seconds=1800, min_users=2)),
)

# -- the form it replaced, as it was ------------------------------------------------------


def _old_bounce_groups(
    since: datetime,
    until: datetime,
    scope: IncidentScope,
    min_events: int,
    changed: GroupFilter | None = None,
) -> Iterator[tuple[str, Reason, list[EvidenceEvent]]]:
    key = (
        Event.domain if scope is IncidentScope.DOMAIN else pw.fn.LOWER(pw.fn.TRIM(Event.remote_mta))
    )
    window = (
        (Event.event_time >= to_db(since))
        & (Event.event_time <= to_db(until))
        & (Event.kind == MessageKind.BOUNCE.value)
        & key.is_null(False)
        & (key != "")
    )
    counted = (
        Event.select(key, Event.reason, pw.fn.COUNT(Event.id), pw.fn.MAX(Event.id))
        .where(window)
        .group_by(key, Event.reason)
        .having(pw.fn.COUNT(Event.id) >= max(min_events, 1))
        .order_by(key, Event.reason)
        .tuples()
    )
    groups = [
        (str(row[0]), str(row[1]), int(row[2]))
        for row in counted.iterator()
        if changed is None or changed.keeps(str(row[0]), str(row[1]), int(row[3]))
    ]
    for run in store_evidence._runs(groups, store_evidence.GROUP_ROWS, 400):
        keys = sorted({group_key for group_key, _ in run})
        reasons = sorted({reason for _, reason in run})
        rows = (
            Event.select(key, Event.reason, *EVIDENCE_FIELDS)
            .where(window & key.in_(keys) & Event.reason.in_(reasons))
            .order_by(Event.event_time, Event.id)
        )
        found: dict[tuple[str, str], list[EvidenceEvent]] = {group: [] for group in run}
        for row in store_evidence._driver_rows(rows):
            events = found.get((str(row[0]), str(row[1])))
            if events is not None:
                events.append(evidence(row[2:]))
        for (group_key, reason), events in found.items():
            yield group_key, Reason(reason), events


def _old_bounces(
    group: tuple[IncidentScope, str, Reason],
    events: Iterable[EvidenceEvent],
    now: int,
    verified: bool,
) -> list[EvidenceEvent]:
    return sorted(
        (
            e
            for e in events
            if e.kind is MessageKind.BOUNCE
            and e.at <= now
            and e.reason is group[2]
            and e.verified is verified
        ),
        key=lambda e: (e.at, e.event_id),
    )


def _old_detect(
    store: Store,
    dctx: DecideContext,
    span: tuple[datetime, datetime],
    now: datetime,
    changed: Any,
) -> tuple[list[Incident], list[Incident]]:
    found: list[Incident] = []
    bursts: list[Incident] = []
    at = int(now.timestamp())
    rules = dctx.policy.incident
    for scope in IncidentScope:
        for key, reason, events in _old_bounce_groups(
            *span, scope, rules.min_users, changed(scope)
        ):
            group = (scope, key, reason)
            verified = _old_bounces(group, events, at, True)
            found += [
                replace(incident, event_ids=tuple(sorted(incident.event_ids)[:INCIDENT_EVIDENCE]))
                for incident in replaced.old_incidents(group, verified, rules, at)
            ]
            forged = _old_bounces(group, events, at, False)
            bursts += replaced.old_incidents(group, forged, rules, at)
    return found, bursts


def _old_user_histories(
    users: Sequence[tuple[str, int]], since: datetime
) -> dict[tuple[str, int], UserHistory]:
    wanted = set(users)
    found: dict[tuple[str, int], list[EvidenceEvent]] = {user: [] for user in wanted}
    realms: dict[str, set[int]] = {}
    for realm, user_id in wanted:
        realms.setdefault(realm, set()).add(user_id)
    for realm, user_ids in sorted(realms.items()):
        ids = sorted(user_ids)

        def query(values: list[Any], realm: str = realm) -> Any:
            return (
                Event.select(*EVIDENCE_FIELDS)
                .where(
                    store_evidence._realm_is(realm)
                    & (Event.verp_valid == True)  # noqa: E712 (peewee builds SQL from ==)
                    & (Event.event_time >= to_db(since))
                    & Event.user_id.in_(values)
                )
                .order_by(Event.event_time, Event.id)
            )

        for start in range(0, len(ids), 500):
            for row in execute_in(query, Event.user_id, ids[start : start + 500]):
                event = evidence(row)
                key = (event.realm or "", int(event.user_id or 0))
                if key in found:
                    found[key].append(event)
    return {
        key: UserHistory(realm=key[0], user_id=key[1], events=tuple(events))
        for key, events in found.items()
    }


def _old_decide_all(
    store: Store, dctx: DecideContext, users: Sequence[tuple[str, int]], run: Any
) -> None:
    since = run.now - timedelta(days=decisions.evidence_days(dctx.policy))
    probes = run.probes
    for start in range(0, len(users), decisions._USERS_AT_ONCE):
        chunk = users[start : start + decisions._USERS_AT_ONCE]
        histories = _old_user_histories(chunk, since)
        run.decided = store.decided_users(chunk, *decisions._recorded_span(dctx, run.now))
        for user in chunk:
            confirmed = probes.applied if probes is not None else 0
            decision = decisions._decide_user(store, dctx, histories[user], run)
            applied = decision is not None and decision.disposition is Disposition.APPLIED
            decisions._after_applying(
                store, dctx, run, applied or decisions._confirmed(probes, confirmed)
            )
    assert probes is None  # (the drains below configure no probes)


def _old_new_row(incident: Incident, digest: str, now: datetime) -> IncidentRow:
    return IncidentRow(
        scope=incident.scope.value, incident_key=digest, key_text=incident.key,
        reason=incident.reason.value, users=incident.users,
        start_at=from_unix(incident.start), end_at=from_unix(incident.end),
        active=incident.active,
        event_ids=json.dumps(sorted(incident.event_ids)[:INCIDENT_EVIDENCE]),
        first_seen=to_db(now), last_seen=to_db(now),
    )  # fmt: skip


def _old_record(detected: list[Incident], now: datetime) -> int:
    touched: set[int] = set()
    changed: dict[int, IncidentRow] = {}
    new: list[IncidentRow] = []
    stored: Any = store_incidents._stored(detected)
    for incident in detected:
        group = (incident.scope.value, key_digest(incident.key), incident.reason.value)
        rows = stored.setdefault(group, [])
        row = store_incidents._overlapping(rows, incident)
        if row is None:
            row = _old_new_row(incident, group[1], now)
            rows.append(row)
            new.append(row)
        elif row.id is None:
            store_incidents._merge(row, incident, True)
        else:
            store_incidents._merge(row, incident, int(row.id) in touched)
            touched.add(int(row.id))
            changed[int(row.id)] = row
    store_incidents._write(changed, now)
    IncidentRow.update(active=False).where(
        (IncidentRow.active == True) & IncidentRow.id.not_in(sorted(touched))  # noqa: E712
    ).execute()
    columns = store_incidents._NEW_COLUMNS
    insert_rows(IncidentRow, [{name: getattr(row, name) for name in columns} for row in new])
    return len(new)


def _old_list_incidents(
    since: datetime, active_only: bool = False, with_events: bool = True
) -> list[Incident]:
    query = IncidentRow.select().where(
        (IncidentRow.end_at >= to_db(since)) | (IncidentRow.active == True)  # noqa: E712
    )
    if active_only:
        query = query.where(IncidentRow.active == True)  # noqa: E712
    ordered = query.order_by(IncidentRow.start_at, IncidentRow.id)
    return [_old_to_incident(row, with_events) for row in ordered]


def _old_to_incident(row: IncidentRow, with_events: bool = True) -> Incident:
    return Incident(
        scope=IncidentScope(row.scope),
        key=row.key_text if row.key_text is not None else row.incident_key,
        reason=Reason(row.reason),
        users=int(row.users),
        start=unix(row.start_at),
        end=unix(row.end_at),
        active=bool(row.active),
        event_ids=tuple(int(i) for i in json.loads(row.event_ids)) if with_events else (),
    )


# -- generated drains -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Bounce:
    user: int
    realm: int  # 0: "wiki", 1: "" (a token without a realm)
    domain: int
    mta: int
    reason: int
    kind: int
    soft: bool
    minutes_ago: int  # before the batch's time: a drained backlog brings old events
    verified: bool
    shout: bool = False  # the address in capitals (the same address)


@dataclass(frozen=True)
class _Batch:
    later: int  # minutes after the batch before
    bounces: tuple[_Bounce, ...]


_bounces = st.builds(
    _Bounce,
    user=st.integers(1, 9),
    realm=st.sampled_from((0, 0, 0, 1)),
    domain=st.integers(0, len(DOMAINS) - 1),
    mta=st.integers(0, len(MTAS) - 1),
    reason=st.integers(0, len(REASONS) - 1),
    kind=st.integers(0, len(KINDS) - 1),
    soft=st.booleans(),
    minutes_ago=st.sampled_from((0, 1, 20, 59, 61, 300, 1500, 3000, 4400, 10000, 30000)),
    verified=st.sampled_from((True, True, True, False)),
    shout=st.booleans(),
)
_drains = st.lists(
    st.builds(
        _Batch,
        later=st.sampled_from((0, 1, 30, 61, 600, 1500)),
        bounces=st.lists(_bounces, min_size=0, max_size=14).map(tuple),
    ),
    min_size=1,
    max_size=5,
)


def _event(bounce: _Bounce, now: datetime) -> BounceEvent:
    user = bounce.user if bounce.verified else None
    reason = REASONS[bounce.reason]
    address = f"u{bounce.user}@{DOMAINS[bounce.domain]}"
    return BounceEvent(
        recipient=address.upper() if bounce.shout else address, kind=KINDS[bounce.kind],
        reason=reason, severity=Severity.SOFT if bounce.soft else Severity.HARD,
        fault=Fault.SENDER if reason is Reason.BLOCKED else Fault.RECIPIENT, rule_id="test",
        event_time=now - timedelta(minutes=bounce.minutes_ago),
        remote_mta=MTAS[bounce.mta] or None,
        realm=("wiki", "")[bounce.realm] if user is not None else None, user_id=user,
        verp_valid=user is not None, address_bound=user is not None and bounce.user % 3 != 0,
    )  # fmt: skip


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelname, record.getMessage()))


def _tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in rowid order."""
    with sqlite3.connect(path) as db:
        names = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {name: db.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
                for name in sorted(names)}  # fmt: skip


def _drain(path: Path, batches: list[_Batch], policy: PolicySettings, mode: Mode) -> list[Any]:
    """Record the batches one by one, with a decide run after each: what each run left."""
    store = open_database(f"sqlite:///{path}")
    lines = _Lines()
    logging.getLogger("reconciler").addHandler(lines)
    try:
        store.migrate(NOW)
        store.set_mode(mode, "operator:test", "test", NOW)
        dctx = DecideContext(
            policy=policy,
            actions=tuple(build_actions(ActionsSettings(enabled=("suppress",)), store)),
        )
        seen = []
        for number, now in recorded_batches(store, batches, _event):
            report = run_decisions(store, dctx, f"run-{number}", now)
            seen.append((report, list(lines.lines), _tables(path)))
            lines.lines.clear()
        return seen
    finally:
        logging.getLogger("reconciler").removeHandler(lines)
        store.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    drain=_drains,
    policy=st.sampled_from(POLICIES),
    mode=st.sampled_from((Mode.LOG_ONLY, Mode.ENFORCE)),
)
def test_the_decide_stage_does_what_the_form_it_replaced_did(
    tmp_path: Path, drain: list[_Batch], policy: PolicySettings, mode: Mode
) -> None:
    runs = len(list(tmp_path.glob("*.db")))
    shipped = _drain(tmp_path / f"new-{runs}.db", drain, policy, mode)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decisions, "_detect", _old_detect)
        patch.setattr(decisions, "_decide_all", _old_decide_all)
        patch.setattr(store_incidents, "_record", _old_record)
        patch.setattr(policyapi, "list_incidents", _old_list_incidents)
        replaced = _drain(tmp_path / f"old-{runs}.db", drain, policy, mode)
    assert shipped == replaced


def test_the_generated_drains_decide_and_find_incidents(tmp_path: Path) -> None:
    """The comparison above is about something: a drain of this kind records decisions that
    act, incidents and bursts, and skips users `cannot_act` on."""
    acting = [  # hard bounces on three days, one user per domain and remote MTA
        _Bounce(user, 0, user - 1, mta, 0, 0, False, minutes, True)
        for user, mta in ((1, 2), (2, 3))
        for minutes in (0, 1500, 3000)
    ]
    spike = [_Bounce(user, 0, 2, 0, 1, 0, True, 5, True) for user in (3, 4, 5)]
    forged = [_Bounce(user, 0, 2, 0, 2, 0, True, 5, False) for user in (6, 7, 8)]
    bounces = acting + spike + forged
    ((report, lines, tables),) = _drain(
        tmp_path / "x.db", [_Batch(0, tuple(bounces))], POLICIES[0], Mode.LOG_ONLY
    )
    assert report.kinds["suppress"] == 2 and len(tables["decision"]) == 2
    assert tables["incident"]
    assert any(line.startswith("unverified burst") for _, line in lines)
