"""The review queue and the replay as services, on SQLite, PostgreSQL and MariaDB: groups by
shape and kind; users who fall back below a threshold; an applied decision that the new
verdicts no longer support is listed with the command that undoes it, and `reclassify`
rewrites the verdicts without undoing it.  The clock is `NOW` (the `store` fixture's)."""

from __future__ import annotations

import hashlib
import itertools
import shlex
from datetime import timedelta
from pathlib import Path

from support import NOW

from reconciler.actions import build_actions
from reconciler.classify import Classifier, load_rule_files, load_rules
from reconciler.cli import _parser
from reconciler.config import ActionsSettings
from reconciler.records import (
    BounceEvent,
    DecisionKind,
    Fault,
    LedgerEntry,
    MessageKind,
    MessageOutcome,
    Mode,
    Reason,
    ReviewKind,
    Severity,
)
from reconciler.service.decisions import DecideContext, decide_users, run_decisions
from reconciler.service.replay import apply_replay, replay
from reconciler.service.review import find_group, gather_review
from reconciler.settings import PolicySettings
from reconciler.store import Store

_uids = itertools.count(1)
WINDOW = (NOW - timedelta(days=30), NOW + timedelta(seconds=1))
FROZEN = "550 5.1.1 <{}>: mailbox is frozen (account locked)"


def _event(address: str, days_ago: float, user: int | None, **kw: object) -> BounceEvent:
    values: dict[str, object] = {
        "recipient": address, "kind": MessageKind.BOUNCE, "reason": Reason.USERUNKNOWN,
        "severity": Severity.HARD, "fault": Fault.RECIPIENT, "rule_id": "status-x.1.1",
        "event_time": NOW - timedelta(days=days_ago), "status": "5.1.1", "reply_code": "550",
        "diagnostic": FROZEN.format(address), "remote_mta": f"mx{next(_uids)}.example.net",
        "realm": "wiki" if user is not None else None, "user_id": user,
        "verp_valid": user is not None, "address_bound": user is not None,
        "final_domain": address.rpartition("@")[2],
    }  # fmt: skip
    values.update(kw)
    return BounceEvent(**values)  # type: ignore[arg-type]


def _record(store: Store, *events: BounceEvent, **kw: object) -> None:
    entries = []
    for event in events:
        uid = next(_uids)
        outcome = MessageOutcome.PROCESSED if event.verp_valid else MessageOutcome.UNMATCHED
        digest = hashlib.sha256(b"%d" % uid).hexdigest()
        entries.append(LedgerEntry("bounces", 1, uid, digest, 100, outcome, NOW, NOW,
                                   destination=outcome.value, events=(event,), **kw))  # type: ignore[arg-type]  # fmt: skip
    store.record_batch(entries, NOW)


def test_review_groups_one_shape_per_kind_largest_first(store: Store) -> None:
    text = "Unable to deliver to <{a}> (id 8F3a9Bc21)"
    onhold = {"reason": Reason.ONHOLD, "severity": Severity.SOFT, "fault": Fault.UNKNOWN,
              "rule_id": "fallback", "diagnostic": text}  # fmt: skip

    def held(address: str, user: int | None) -> BounceEvent:
        fields = {**onhold, "diagnostic": str(onhold["diagnostic"]).format(a=address)}
        return _event(address, 1, user, **fields)

    _record(store, *(_event(f"u{n}@spike.example", 1, None) for n in range(3)))  # unmatched
    _record(store, held("a@x.example", 1), held("b@y.example", None))  # undetermined, both
    _record(store, _event("fine@x.example", 1, 9))  # used: verified and decided
    held_entry = LedgerEntry(
        "bounces", 1, next(_uids), "f" * 64, 9, MessageOutcome.QUARANTINED, NOW, NOW,
        destination="quarantine", error="not understood: x",
    )  # fmt: skip
    store.record_batch([held_entry], NOW)
    review = gather_review(store, *WINDOW, list(ReviewKind))
    assert [(g.kind, g.count) for g in review.groups] == [
        (ReviewKind.UNMATCHED, 3), (ReviewKind.UNDETERMINED, 2), (ReviewKind.QUARANTINED, 1),
    ]  # fmt: skip
    assert dict(review.totals) == {ReviewKind.UNMATCHED: 3, ReviewKind.UNDETERMINED: 2,
                                   ReviewKind.QUARANTINED: 1}  # fmt: skip
    unmatched, undetermined, quarantined = review.groups
    assert unmatched.shape == "{n} {n}.{n}.{n} <{addr}>: mailbox is frozen (account locked)"
    assert undetermined.rules == (("fallback", 2),)
    assert undetermined.example.folder in ("processed", "unmatched")
    assert (quarantined.example.event_id, quarantined.example.text) == (None, "not understood: x")
    assert find_group(review, undetermined.group.upper()) == undetermined
    assert find_group(review, "g12345678") is None
    # an unverified onhold event is unmatched too: shown so when only that kind is asked for
    only = gather_review(store, *WINDOW, [ReviewKind.UNMATCHED])
    assert [g.count for g in only.groups] == [3, 1] and only.totals == ((ReviewKind.UNMATCHED, 4),)


def _frozen_is_soft(tmp_path: Path) -> Classifier:
    rules = tmp_path / "site.yaml"
    rules.write_text(
        "rules:\n  - id: site-frozen\n    description: ACME's frozen accounts come back.\n"
        "    match: {diagnostic: ['mailbox is frozen']}\n    reason: suspend\n",
        encoding="utf-8",
    )
    return Classifier(load_rule_files([rules, *(Path(f) for f in load_rules().files)]).rules)


def test_an_applied_decision_no_longer_supported_lists_its_undo(
    store: Store, tmp_path: Path
) -> None:
    store.set_mode(Mode.ENFORCE, "operator:test", "test", NOW)
    _record(store, *(_event("ann@acme.example", days, 42) for days in (1, 2, 3)))
    _record(store, _event("bob@acme.example", 1, 43))  # one day only: no decision either way
    actions = build_actions(ActionsSettings(enabled=("suppress",)), store)
    context = DecideContext(policy=PolicySettings(), actions=tuple(actions))
    run_decisions(store, context, "run-1", NOW)
    (applied,) = store.decisions(*WINDOW)
    assert applied.applied_at is not None and store.check_suppression("ann@acme.example")

    result = replay(store, _frozen_is_soft(tmp_path), ["site.yaml"], PolicySettings(), WINDOW)
    assert len(result.changes) == len(result.verdict_changes) == 4
    assert {(c.old.reason, c.new.reason, c.new.severity) for c in result.changes} == {
        (Reason.USERUNKNOWN, Reason.SUSPEND, Severity.SOFT)
    }
    (user,) = result.users  # bob was under the threshold and stays so
    assert (user.user_id, user.falls_back, user.old_days, user.new_days) == (
        42,
        True,
        (3, 0),
        (0, 3),
    )
    (shift,) = result.decisions
    assert (shift.stored.id, shift.new_kind) == (applied.id, DecisionKind.NONE)
    assert shift.undo == (
        f'reconciler reinstate ann@acme.example --reason "reclassified (decision {applied.id})"'
    )
    _parser().parse_args(shlex.split(shift.undo)[1:])  # a command the CLI takes as it is

    assert apply_replay(store, result, ("operator:test", "frozen is soft"), NOW) == 4
    report = decide_users(store, context, [(c.realm or "", c.user_id or 0) for c in result.changes],
                          "run-2", NOW)  # fmt: skip
    assert report.users == 2 and not report.dispositions  # nothing new to decide
    assert store.check_suppression("ann@acme.example")  # nothing is undone automatically
    again = replay(store, _frozen_is_soft(tmp_path), ["site.yaml"], PolicySettings(), WINDOW)
    assert again.changes == () and again.decisions == ()
    (audit,) = store.audit_log(action="reclassify")
    assert audit.detail.startswith("frozen is soft: 4 events") and "site.yaml" in audit.detail


def test_a_replay_tells_a_new_rule_from_a_new_verdict_and_counts_legacy_events(
    store: Store, tmp_path: Path
) -> None:
    same = {"reason": Reason.SUSPEND, "severity": Severity.SOFT, "rule_id": "old-frozen"}
    _record(store, _event("cy@acme.example", 1, 44, **same))  # same verdict, another rule
    _record(store, _event("di@acme.example", 1, 45, final_domain=None))  # recorded before 11
    result = replay(store, _frozen_is_soft(tmp_path), ["site.yaml"], PolicySettings(), WINDOW)
    assert (result.events, result.legacy) == (2, 1)
    assert [c.new.rule_id for c in result.changes] == ["site-frozen", "site-frozen"]
    assert len(result.verdict_changes) == 1 and result.verdict_changes[0].user_id == 45
