"""Probe before acting (pure): which decisions wait for a probe, and what the evidence says of
an open probe.  No I/O, no clock: `now` and the history are arguments (STYLE 2.2).

A decision waits for a probe when probes are on and it would suppress an address on the
evidence of bounces (hard or soft); a complaint acts at once (mailing someone who just
complained is the wrong answer), and a decision that proves no address has none to probe.

Only a bounce of the probe itself confirms it: an event of the probe's user whose token
verified, carries the probe's send reference (made from its Message-ID, signed into the
token), binds the probe's address and names it.  A forged bounce has no such token; a bounce
of other mail to the user has another reference; a report about another address is an
address mismatch.  The bounce must also be one the policy would count (a final failure, not
the sender's fault, not covered by an incident) and come by the probe's due time; a hard
decision needs a hard bounce (a full mailbox says the address exists), a soft one any.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.policy.incidents import IncidentIndex, event_order
from reconciler.records import (
    Decision,
    DecisionKind,
    EvidenceEvent,
    Fault,
    Incident,
    MessageKind,
    Probe,
    ProbeVerdict,
    Severity,
    Trigger,
    UserHistory,
    known_address,
)
from reconciler.settings import PolicySettings

__all__ = ["confirms", "judge_probe", "needs_probe"]

_PROBED_TRIGGERS = frozenset({Trigger.HARD, Trigger.SOFT})


def needs_probe(decision: Decision, settings: PolicySettings) -> bool:
    """Whether the decision waits for a probe before it acts (when it acts at all)."""
    return (
        settings.probe
        and decision.kind is DecisionKind.SUPPRESS
        and decision.trigger in _PROBED_TRIGGERS
        and known_address(decision.address) is not None
    )


def _same(a: str | None, b: str) -> bool:
    return a is not None and a.strip().casefold() == b.strip().casefold()


def confirms(probe: Probe, event: EvidenceEvent, incidents: IncidentIndex) -> bool:
    """Whether `event` is a bounce of the probe that confirms its decision."""
    if not (event.verified and event.bound and event.send_ref == probe.send_ref):
        return False
    if (event.realm, event.user_id) != (probe.realm, probe.user_id):
        return False
    if not _same(event.address, probe.address):
        return False
    if event.kind is not MessageKind.BOUNCE or event.fault is Fault.SENDER:
        return False
    wanted = {Severity.HARD} if probe.trigger is Trigger.HARD else {Severity.HARD, Severity.SOFT}
    if event.severity not in wanted or incidents.covers(event):
        return False
    return event.at <= int(probe.due_at.timestamp())


def judge_probe(
    probe: Probe,
    history: UserHistory,
    now: int,
    incidents: Iterable[Incident] | IncidentIndex = (),
) -> tuple[ProbeVerdict, EvidenceEvent | None]:
    """CONFIRMED with the bounce that confirms the probe, else SILENT once its time is up
    (`now` at or after its due time), else WAITING."""
    index = incidents if isinstance(incidents, IncidentIndex) else IncidentIndex(incidents)
    for event in sorted(history.events, key=event_order):
        if confirms(probe, event, index):
            return ProbeVerdict.CONFIRMED, event
    if now >= int(probe.due_at.timestamp()):
        return ProbeVerdict.SILENT, None
    return ProbeVerdict.WAITING, None
