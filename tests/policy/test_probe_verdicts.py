"""The pure side of probes before acting: which decisions wait, which bounce confirms a probe
(forged ones never do), when a probe is silent, and what a delivered probe clears."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.policy import DAY, confirms, decide, judge_probe, needs_probe
from reconciler.policy.incidents import IncidentIndex
from reconciler.records import (
    Decision,
    DecisionKind,
    Disposition,
    EvidenceEvent,
    Fault,
    Ignored,
    Incident,
    IncidentScope,
    MessageKind,
    Mode,
    Probe,
    ProbeState,
    ProbeVerdict,
    Reason,
    Severity,
    Trigger,
    UserHistory,
)
from reconciler.settings import PolicySettings

NOW = 100 * DAY
SENT = datetime.fromtimestamp(NOW, UTC)
ADDRESS = "ann@example.net"
PROBES = PolicySettings(probe=True)
PROBE = Probe(
    id=1, decision_id=5, realm="wiki", user_id=42, address=ADDRESS, trigger=Trigger.HARD,
    state=ProbeState.SENT, message_id="p1@bounces.example.org", send_ref="wxyz",
    return_path="bounces+x@bounces.example.org", created_at=SENT, sent_at=SENT,
    due_at=SENT + timedelta(days=3),
)  # fmt: skip


def bounce(hours: float = 2, **changes: object) -> EvidenceEvent:
    """A verified hard bounce of the probe itself, `hours` after it was sent."""
    event = EvidenceEvent(
        event_id=100, realm="wiki", user_id=42, address=ADDRESS, domain="example.net",
        remote_mta="mx.example.net", kind=MessageKind.BOUNCE, reason=Reason.USERUNKNOWN,
        severity=Severity.HARD, fault=Fault.RECIPIENT, verp_valid=True,
        at=NOW + int(hours * 3600), send_ref="wxyz", bound=True,
    )  # fmt: skip
    return replace(event, **changes)  # type: ignore[arg-type]


def judged(*events: EvidenceEvent, now: int = NOW + DAY, probe: Probe = PROBE) -> ProbeVerdict:
    return judge_probe(probe, UserHistory("wiki", 42, events), now)[0]


def decision(trigger: Trigger | None, address: str | None = ADDRESS) -> Decision:
    return Decision(DecisionKind.SUPPRESS, "wiki", 42, address, NOW, Mode.ENFORCE,
                    Disposition.APPLIED, trigger=trigger)  # fmt: skip


def test_which_decisions_wait_for_a_probe() -> None:
    assert needs_probe(decision(Trigger.HARD), PROBES)
    assert needs_probe(decision(Trigger.SOFT), PROBES)
    assert not needs_probe(decision(Trigger.HARD), PolicySettings())  # probes are off
    assert not needs_probe(decision(Trigger.COMPLAINT), PROBES)  # never mail a complainer
    assert not needs_probe(decision(Trigger.HARD, address=None), PROBES)  # nowhere to send
    none = replace(decision(None), kind=DecisionKind.NONE)
    assert not needs_probe(none, PROBES)


def test_a_verified_bounce_of_the_probe_confirms_it() -> None:
    verdict, event = judge_probe(PROBE, UserHistory("wiki", 42, (bounce(),)), NOW + DAY)
    assert verdict is ProbeVerdict.CONFIRMED and event == bounce()
    assert judged(bounce(address="ANN@Example.net")) is ProbeVerdict.CONFIRMED


FORGED = [
    ("no valid token", bounce(verp_valid=False)),
    ("no user", bounce(realm=None, user_id=None)),
    ("another user's token", bounce(user_id=43)),
    ("another realm", bounce(realm="dewiki")),
    ("a token that binds no address", bounce(bound=False)),
    ("another address", bounce(address="victim@example.org")),
    ("the token of another mail", bounce(send_ref="abcd")),
    ("no send reference", bounce(send_ref=None)),
]


@pytest.mark.parametrize(("why", "event"), FORGED, ids=[w for w, _ in FORGED])
def test_a_forged_or_foreign_bounce_never_confirms(why: str, event: EvidenceEvent) -> None:
    assert judged(event) is ProbeVerdict.WAITING, why
    assert judged(event, now=NOW + 3 * DAY) is ProbeVerdict.SILENT, why


def test_only_a_bounce_that_would_count_confirms() -> None:
    assert judged(bounce(kind=MessageKind.DELAY, severity=Severity.SOFT)) is ProbeVerdict.WAITING
    assert judged(bounce(kind=MessageKind.VACATION, severity=Severity.NONE)) is (
        ProbeVerdict.WAITING)  # fmt: skip
    assert judged(bounce(fault=Fault.SENDER, reason=Reason.BLOCKED)) is ProbeVerdict.WAITING
    full = bounce(severity=Severity.SOFT, reason=Reason.MAILBOXFULL)
    assert judged(full) is ProbeVerdict.WAITING  # a hard decision needs a hard bounce
    assert judged(full, probe=replace(PROBE, trigger=Trigger.SOFT)) is ProbeVerdict.CONFIRMED
    outage = Incident(IncidentScope.REMOTE_MTA, "mx.example.net", Reason.USERUNKNOWN, 9,
                      NOW, NOW + DAY, True)  # fmt: skip
    history = UserHistory("wiki", 42, (bounce(),))
    assert judge_probe(PROBE, history, NOW + DAY, [outage])[0] is ProbeVerdict.WAITING
    assert not confirms(PROBE, bounce(), IncidentIndex([outage]))


def test_a_probe_is_silent_once_its_time_is_up_and_a_late_bounce_does_not_count() -> None:
    due = int(PROBE.due_at.timestamp())
    assert judged(now=due - 1) is ProbeVerdict.WAITING
    assert judged(now=due) is ProbeVerdict.SILENT
    assert judged(bounce(hours=3 * 24 + 1), now=due + 7200) is ProbeVerdict.SILENT
    assert judged(bounce(hours=3 * 24), now=due + 7200) is ProbeVerdict.CONFIRMED


def test_a_delivered_probe_clears_the_evidence_before_it() -> None:
    days = [
        replace(bounce(), event_id=n, send_ref=None, at=NOW - n * DAY) for n in (5, 3, 1)
    ]  # fmt: skip
    history = UserHistory("wiki", 42, tuple(days))
    assert decide(history, PolicySettings(), NOW, mode=Mode.ENFORCE).trigger is Trigger.HARD
    cleared = replace(history, cleared=((ADDRESS.upper(), NOW),))
    after = decide(cleared, PolicySettings(), NOW + DAY, mode=Mode.ENFORCE)
    assert after.kind is DecisionKind.NONE and dict(after.ignored) == {Ignored.PROBED: 3}
    # what comes after the probe counts again, from zero
    after_probe = [replace(bounce(), event_id=10 + n, at=NOW + n * DAY) for n in (1, 2)]
    later = replace(cleared, events=(*days, *after_probe))
    again = decide(later, PolicySettings(), NOW + 3 * DAY, mode=Mode.ENFORCE)
    assert (again.kind, again.hard_days) == (DecisionKind.NONE, 2)
    other = replace(history, cleared=(("someone@else.example", NOW),))
    assert decide(other, PolicySettings(), NOW, mode=Mode.ENFORCE).trigger is Trigger.HARD
