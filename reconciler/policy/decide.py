"""(UserHistory, PolicySettings, now, Mode, incidents) → Decision: the pure decision core.

No I/O, no clock, no environment (STYLE 2.2): `now` (unix seconds, UTC) and the settings are
arguments.  The store records every bounce first; the policy reads one user's history and
decides (STYLE 2.6):

* Only a verified VERP token names a user.  Never counted: unverified events (an address the
  token does not bind is unverified: `address-mismatch`), events of another user, delay
  warnings, auto-replies, success notices, results of severity NONE, sender-side faults,
  events for an address that is no longer the user's, events covered by an incident, and
  events after `now`.  The checks run in a fixed order; the first that holds names the cause.
* A decision acts only on an address the evidence proves: the user's current address when an
  adapter tells it, else the address the token binds (`EvidenceEvent.bound`).  Evidence whose
  token binds nothing (or that names no address) proves the user only: it counts for the
  current address, or without an adapter for the user alone (the decision's address is None:
  the sending side resolves it), never for an address taken from the bounce.
* What remains is counted per address, once per UTC day, separately by severity: hard bounces
  on `hard.days` different days within `hard.window_days` act, soft bounces on `soft.days`
  different days within `soft.window_days` act, and a complaint (ARF) acts at once (while it is
  younger than `complaint_window_days`).  Evidence older than its window expires, and a gap of
  `quiet_days` without a counted bounce (up to `now`) resets the count, and so does a probe
  to the address that did not bounce (`UserHistory.cleared`: the evidence up to its sending).
* The mode decides what becomes of an action: applied (ENFORCE), would (LOG_ONLY) or withheld
  (PAUSED, set by the breaker).  A history that says why nothing may be done for the user
  (`UserHistory.withhold`, e.g. the realm has no wiki database) makes an acting decision
  withheld in every mode, with that reason.  `describe` explains a decision in one log line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from reconciler.logs import mask_address
from reconciler.policy.incidents import (
    IncidentIndex,
    event_order,
)
from reconciler.records import (
    Decision,
    DecisionKind,
    Disposition,
    EvidenceEvent,
    Fault,
    Ignored,
    Incident,
    MessageKind,
    Mode,
    Severity,
    Trigger,
    UserHistory,
    known_address,
)
from reconciler.settings import PolicySettings

__all__ = ["DAY", "cannot_act", "cannot_act_on", "decide", "describe", "disposition", "rule_label"]

DAY = 86_400

_DISPOSITIONS = {
    Mode.ENFORCE: Disposition.APPLIED,
    Mode.LOG_ONLY: Disposition.WOULD,
    Mode.PAUSED: Disposition.WITHHELD,
}
_PRIORITY = {Trigger.COMPLAINT: 3, Trigger.HARD: 2, Trigger.SOFT: 1}
_COUNTED_KINDS = frozenset({MessageKind.BOUNCE, MessageKind.FEEDBACK})
_COUNTED_SEVERITIES = frozenset({Severity.HARD, Severity.SOFT})


@dataclass(frozen=True, slots=True)
class _Context:
    history: UserHistory
    incidents: IncidentIndex
    now: int


def _unverified(e: EvidenceEvent, _: _Context) -> bool:
    return not e.verified


def _other_user(e: EvidenceEvent, c: _Context) -> bool:
    return (e.realm, e.user_id) != (c.history.realm, c.history.user_id)


def _not_a_bounce(e: EvidenceEvent, _: _Context) -> bool:
    if e.kind not in _COUNTED_KINDS:
        return True
    return e.kind is MessageKind.BOUNCE and e.severity not in _COUNTED_SEVERITIES


def _sender_fault(e: EvidenceEvent, _: _Context) -> bool:
    return e.kind is MessageKind.BOUNCE and e.fault is Fault.SENDER


def _other_address(e: EvidenceEvent, c: _Context) -> bool:
    current = c.history.current_address
    if current is None or known_address(e.address) is None:
        return False  # unknown on either side: the event counts
    # the report's final recipient, or the original one it names (what we mailed)
    named = (e.address, e.original_address or "")
    return _norm(current) not in {_norm(address) for address in named}


# First match wins; the order only decides which cause an explanation names.
_CHECKS: tuple[tuple[Ignored, Callable[[EvidenceEvent, _Context], bool]], ...] = (
    (Ignored.UNVERIFIED, _unverified),
    (Ignored.OTHER_USER, _other_user),
    (Ignored.FUTURE, lambda e, c: e.at > c.now),
    (Ignored.NOT_A_BOUNCE, _not_a_bounce),
    (Ignored.SENDER_FAULT, _sender_fault),
    (Ignored.OTHER_ADDRESS, _other_address),
    (Ignored.INCIDENT, lambda e, c: c.incidents.covers(e)),
)


@dataclass(frozen=True, slots=True)
class _Tally:
    """One address of the user: the counted evidence and the rule that fires, if any."""

    address: str
    trigger: Trigger | None
    hard_days: int
    soft_days: int
    evidence: tuple[EvidenceEvent, ...]
    latest: int
    ignored: tuple[tuple[Ignored, int], ...]


_NOTHING = _Tally("", None, 0, 0, (), 0, ())


def _norm(address: str) -> str:
    return address.strip().casefold()


def _days(events: Iterable[EvidenceEvent]) -> int:
    return len({e.at // DAY for e in events})


def _within(events: Iterable[EvidenceEvent], days: int, now: int) -> tuple[EvidenceEvent, ...]:
    return tuple(e for e in events if e.at > now - days * DAY)


def _after_quiet(
    bounces: Sequence[EvidenceEvent], quiet_days: int, now: int
) -> list[EvidenceEvent]:
    """The bounces after the last quiet gap (a gap up to `now` resets everything)."""
    if quiet_days <= 0:
        return list(bounces)
    quiet = quiet_days * DAY
    start = 0
    for i in range(1, len(bounces)):
        if bounces[i].at - bounces[i - 1].at >= quiet:
            start = i
    if bounces and now - bounces[-1].at >= quiet:
        start = len(bounces)
    return list(bounces[start:])


def _tally(
    address: str, events: Sequence[EvidenceEvent], settings: PolicySettings, now: int
) -> _Tally:
    complaints = [e for e in events if e.kind is MessageKind.FEEDBACK]
    bounces = [e for e in events if e.kind is MessageKind.BOUNCE]
    live = _after_quiet(bounces, settings.quiet_days, now)
    fresh = _within(complaints, settings.complaint_window_days, now)
    hard = _within((e for e in live if e.severity is Severity.HARD), settings.hard.window_days, now)
    soft = _within((e for e in live if e.severity is Severity.SOFT), settings.soft.window_days, now)
    trigger: Trigger | None = None
    evidence = hard + soft
    if fresh:
        trigger, evidence = Trigger.COMPLAINT, fresh
    elif hard and _days(hard) >= settings.hard.days:
        trigger, evidence = Trigger.HARD, hard
    elif soft and _days(soft) >= settings.soft.days:
        trigger, evidence = Trigger.SOFT, soft
    expired = len(complaints) + len(live) - len(fresh) - len(hard) - len(soft)
    ignored = ((Ignored.BEFORE_QUIET, len(bounces) - len(live)), (Ignored.EXPIRED, expired))
    return _Tally(
        address=address,
        trigger=trigger,
        hard_days=_days(hard),
        soft_days=_days(soft),
        evidence=tuple(sorted(evidence, key=event_order)),
        latest=max((e.at for e in events), default=0),
        ignored=ignored,
    )


def _choose(tallies: Sequence[_Tally]) -> _Tally | None:
    """The firing address with the strongest rule, else the address closest to a threshold."""
    firing = [t for t in tallies if t.trigger is not None]
    if firing:
        return max(
            firing, key=lambda t: (_PRIORITY[t.trigger or Trigger.SOFT], t.latest, t.address)
        )
    return max(tallies, key=lambda t: (t.hard_days, t.soft_days, t.latest, t.address), default=None)


def disposition(kind: DecisionKind, mode: Mode) -> Disposition:
    """What becomes of a decision's action in `mode`."""
    return Disposition.NONE if kind is DecisionKind.NONE else _DISPOSITIONS[mode]


def rule_label(trigger: Trigger | None, settings: PolicySettings) -> str:
    """The rule with its thresholds as a short label: "hard:3d/14d", "complaint", or ""."""
    if trigger is Trigger.HARD:
        return f"hard:{settings.hard.days}d/{settings.hard.window_days}d"
    if trigger is Trigger.SOFT:
        return f"soft:{settings.soft.days}d/{settings.soft.window_days}d"
    return "complaint" if trigger is Trigger.COMPLAINT else ""


_USER = ""  # the group of the evidence that proves the user but no address


def _group(event: EvidenceEvent, current: str | None) -> str:
    """What a counted event is evidence for: the current address when known (the events about
    other addresses are not counted), else the address the token binds, else the user."""
    if current is not None:
        return _norm(current)
    bound = known_address(event.address) if event.bound else None
    return _norm(bound) if bound is not None else _USER


def _sort_out(
    history: UserHistory, context: _Context
) -> tuple[dict[str, list[EvidenceEvent]], Counter[Ignored]]:
    """Counted events grouped by address (in time order), and the others counted by cause."""
    groups: dict[str, list[EvidenceEvent]] = {}
    ignored: Counter[Ignored] = Counter()
    cleared = {_norm(address): at for address, at in history.cleared}
    for event in sorted(history.events, key=event_order):
        cause = next((c for c, check in _CHECKS if check(event, context)), None)
        if cause is not None:
            ignored[cause] += 1
            continue
        group = _group(event, history.current_address)
        if group in cleared and event.at <= cleared[group]:
            ignored[Ignored.PROBED] += 1  # a probe sent after it was delivered
            continue
        groups.setdefault(group, []).append(event)
    return groups, ignored


def cannot_act(history: UserHistory, settings: PolicySettings) -> bool:
    """Whether `decide` surely says NONE for this history, read without deciding: it holds no
    complaint (which acts at once) and its events fall on fewer UTC days than either
    threshold asks (the days a rule counts are days of some of these events).  A run that
    decides thousands of users, most with a bounce or two, decides only the others."""
    return cannot_act_on([(e.kind, e.at) for e in history.events], settings)


def cannot_act_on(activity: Iterable[tuple[MessageKind, int]], settings: PolicySettings) -> bool:
    """`cannot_act` told from the kind and the time (`at`) of each event of the history
    alone: what a store reads for thousands of users without reading their events whole."""
    days: set[int] = set()
    for kind, at in activity:
        if kind is MessageKind.FEEDBACK:
            return False
        days.add(at // DAY)
    return len(days) < min(settings.hard.days, settings.soft.days)


def decide(
    history: UserHistory,
    settings: PolicySettings,
    now: int,
    *,
    mode: Mode,
    incidents: Iterable[Incident] | IncidentIndex = (),
) -> Decision:
    """Decide for one user from their stored events; the same inputs give the same decision.

    `incidents`: those whose events are not counted (an `IncidentIndex` when deciding many)."""
    index = incidents if isinstance(incidents, IncidentIndex) else IncidentIndex(incidents)
    context = _Context(history, index, now)
    groups, ignored = _sort_out(history, context)
    tallies = [_tally(key, events, settings, now) for key, events in sorted(groups.items())]
    for tally in tallies:
        ignored.update(dict(tally.ignored))
    chosen = _choose(tallies) or _NOTHING
    kind = DecisionKind.NONE if chosen.trigger is None else DecisionKind.SUPPRESS
    address = history.current_address
    if address is None and chosen.address != _USER and chosen.evidence:
        address = known_address(chosen.evidence[-1].address)  # bound: proven by the token
    held = history.withhold if kind is not DecisionKind.NONE and history.withhold else ""
    return Decision(
        kind=kind,
        realm=history.realm,
        user_id=history.user_id,
        address=address,
        at=now,
        mode=mode,
        disposition=Disposition.WITHHELD if held else disposition(kind, mode),
        trigger=chosen.trigger,
        rule=rule_label(chosen.trigger, settings),
        hard_days=chosen.hard_days,
        soft_days=chosen.soft_days,
        event_ids=tuple(e.event_id for e in chosen.evidence),
        message_ids=tuple(e.message_id for e in chosen.evidence if e.message_id),
        reasons=tuple(sorted({e.reason for e in chosen.evidence})),
        ignored=tuple((cause, ignored[cause]) for cause in Ignored if ignored[cause]),
        withheld=held,
    )


def _clean(text: str) -> str:
    """Text from a bounce, safe in one log line: no spaces, no control characters."""
    return "".join(ch if ch.isprintable() and not ch.isspace() else "?" for ch in text)


def _shown(address: str | None, show_address: bool) -> str:
    return _clean(mask_address(address, show_address))


def describe(decision: Decision, *, show_address: bool = False) -> str:
    """The decision in one log line; the address is masked to its domain unless allowed."""
    ignored = ",".join(f"{cause}:{n}" for cause, n in decision.ignored)
    parts = (
        f"decision={decision.kind}",
        f"disposition={decision.disposition}",
        f"mode={decision.mode}",
        f"user={_clean(decision.realm)}:{decision.user_id}",
        f"address={_shown(decision.address, show_address)}",
        f"rule={decision.rule or '-'}",
        f"hard_days={decision.hard_days}",
        f"soft_days={decision.soft_days}",
        f"reasons={','.join(decision.reasons) or '-'}",
        f"event_ids=[{','.join(map(str, decision.event_ids))}]",
        f"message_ids={','.join(_clean(m) for m in decision.message_ids) or '-'}",
        f"ignored={ignored or '-'}",
    ) + ((f"withheld={_clean(decision.withheld)}",) if decision.withheld else ())
    return " ".join(parts)
