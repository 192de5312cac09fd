"""`rules replay`, `rules suggest` and `reclassify`: what a rule set changes in the stored
evidence, as tables (80 columns) and as JSON (documented in docs/cli.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from reconciler.records import (
    DecisionShift,
    Replay,
    Trigger,
    UserShift,
    Verdict,
    VerdictChange,
)
from reconciler.report.console import short_path, styled, when

__all__ = ["change_groups", "print_replay", "replay_json", "verdict_json"]

Json = dict[str, Any]
_EXAMPLES = 5  # event ids shown per group of changes
_ROWS = 30  # rows shown per table (all of them in JSON)

Outcome = tuple[str, str, str]  # reason, severity, fault


def _outcome(v: Verdict) -> Outcome:
    return (v.reason.value, v.severity.value, v.fault.value)


def change_groups(
    changes: Sequence[VerdictChange],
) -> list[tuple[Outcome, Outcome, int, list[int]]]:
    """Changes counted by (old → new) outcome, the largest first, with example event ids."""
    counts: Counter[tuple[Outcome, Outcome]] = Counter()
    examples: dict[tuple[Outcome, Outcome], list[int]] = {}
    for c in changes:
        key = (_outcome(c.old), _outcome(c.new))
        counts[key] += 1
        shown = examples.setdefault(key, [])
        if len(shown) < _EXAMPLES:
            shown.append(c.event_id)
    return [(old, new, n, examples[(old, new)]) for (old, new), n in counts.most_common()]


def _trigger(kind: str, trigger: Trigger | None) -> str:
    return f"{kind} ({trigger.value})" if trigger is not None else kind


def _days(days: tuple[int, int]) -> str:
    return f"{days[0]}h/{days[1]}s"


def _users_table(console: Console, users: Sequence[UserShift]) -> None:
    table = Table(box=box.SIMPLE_HEAD, title=f"Users whose decision changes: {len(users)}",
                  title_justify="left")  # fmt: skip
    for column in ("user", "address", "now", "with these rules", ""):
        table.add_column(column, overflow="fold")
    for u in users[:_ROWS]:
        note = "crosses" if u.crosses else "falls back" if u.falls_back else "changes"
        table.add_row(f"{u.realm}:{u.user_id}", u.address or "-",
                      f"{_trigger(u.old_kind.value, u.old_trigger)} {_days(u.old_days)}",
                      f"{_trigger(u.new_kind.value, u.new_trigger)} {_days(u.new_days)}",
                      note)  # fmt: skip
    console.print(table)


def _decisions_table(console: Console, shifts: Sequence[DecisionShift]) -> None:
    table = Table(box=box.SIMPLE_HEAD, title=f"Recorded decisions that change: {len(shifts)}",
                  title_justify="left")  # fmt: skip
    for column in ("id", "user", "decided", "with these rules"):
        table.add_column(column, overflow="fold")
    for s in shifts[:_ROWS]:
        d = s.stored.decision
        table.add_row(str(s.stored.id), f"{d.realm}:{d.user_id}",
                      f"{d.kind.value} {d.disposition.value} {when(s.stored.recorded_at)}",
                      _trigger(s.new_kind.value, s.new_trigger))  # fmt: skip
    console.print(table)
    undo = [s.undo for s in shifts if s.undo]
    if undo:
        console.print("applied, no longer supported; nothing is undone automatically, run:")
        for command in undo:
            console.print(f"  {command}")


def print_replay(console: Console, r: Replay, title: str) -> None:
    """What the replay changes: verdicts by old → new, users, recorded decisions."""
    files = ", ".join(short_path(f) for f in r.files)
    console.print(styled(title, "bold"))
    console.print(f"events: {r.events} of {when(r.since)} .. {when(r.until)}")
    console.print(f"rules: {files}")
    if r.legacy:
        console.print(f"{r.legacy} events were recorded before the store kept every fact the "
                      "rules read: replayed from the fields they have")  # fmt: skip
    verdicts = r.verdict_changes
    rules_only = len(r.changes) - len(verdicts)
    console.print(f"verdicts that change: {len(verdicts)}; the deciding rule only: {rules_only}")
    if verdicts:
        table = Table(box=box.SIMPLE_HEAD)
        for column, justify in (("old -> new", "left"), ("n", "right"), ("e.g. events", "left")):
            table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for old, new, n, ids in change_groups(verdicts)[:_ROWS]:
            table.add_row(f"{'/'.join(old)} -> {'/'.join(new)}", str(n),
                          " ".join(map(str, ids)))  # fmt: skip
        console.print(table)
    if r.users:
        _users_table(console, r.users)
    if r.decisions:
        _decisions_table(console, r.decisions)


def verdict_json(v: Verdict) -> Json:
    return {
        "reason": v.reason.value,
        "severity": v.severity.value,
        "fault": v.fault.value,
        "rule": v.rule_id,
    }


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _user_json(u: UserShift) -> Json:
    def side(kind: str, trigger: Trigger | None, days: tuple[int, int]) -> Json:
        return {"decision": kind, "trigger": trigger.value if trigger else None,
                "hard_days": days[0], "soft_days": days[1]}  # fmt: skip

    return {
        "realm": u.realm,
        "user_id": u.user_id,
        "address": u.address,
        "old": side(u.old_kind.value, u.old_trigger, u.old_days),
        "new": side(u.new_kind.value, u.new_trigger, u.new_days),
        "crosses": u.crosses,
        "falls_back": u.falls_back,
    }


def _decision_json(s: DecisionShift) -> Json:
    d = s.stored.decision
    return {
        "id": s.stored.id,
        "realm": d.realm,
        "user_id": d.user_id,
        "address": d.address,
        "kind": d.kind.value,
        "disposition": d.disposition.value,
        "recorded_at": _time(s.stored.recorded_at),
        "applied_at": _time(s.stored.applied_at),
        "new_decision": s.new_kind.value,
        "new_trigger": s.new_trigger.value if s.new_trigger else None,
        "undo": s.undo,
    }


def replay_json(r: Replay) -> Json:
    """The stable JSON of a replay."""
    groups = change_groups(r.changes)
    keys = ("reason", "severity", "fault")
    return {
        "version": 1,
        "since": _time(r.since),
        "until": _time(r.until),
        "files": list(r.files),
        "events": r.events,
        "legacy": r.legacy,
        "changed": len(r.changes),
        "verdicts_changed": len(r.verdict_changes),
        "rules": dict(Counter(c.new.rule_id for c in r.changes).most_common()),
        "changes": [
            {
                "old": dict(zip(keys, old, strict=True)),
                "new": dict(zip(keys, new, strict=True)),
                "count": n,
                "examples": ids,
            }
            for old, new, n, ids in groups
        ],
        "users": [_user_json(u) for u in r.users],
        "decisions": [_decision_json(s) for s in r.decisions],
    }
