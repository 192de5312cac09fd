"""The pure policy: decisions (`decide`), incidents and the circuit breaker.

The names below are re-exported for callers outside the policy; its modules import each
other directly, never this package.
"""

from __future__ import annotations

from reconciler.policy.breaker import check_breaker, tally_events
from reconciler.policy.decide import (
    DAY,
    cannot_act,
    cannot_act_on,
    decide,
    describe,
    disposition,
    rule_label,
)
from reconciler.policy.incidents import (
    IncidentIndex,
    Sighting,
    bursts_of_sightings,
    covers,
    describe_burst,
    describe_incident,
    detect_incidents,
    event_order,
    incidents_of_group,
    incidents_of_sightings,
    sighting,
    unverified_bursts,
)
from reconciler.policy.probes import confirms, judge_probe, needs_probe

__all__ = [
    "DAY",
    "IncidentIndex",
    "Sighting",
    "bursts_of_sightings",
    "cannot_act",
    "cannot_act_on",
    "check_breaker",
    "confirms",
    "covers",
    "decide",
    "describe",
    "describe_burst",
    "describe_incident",
    "detect_incidents",
    "disposition",
    "event_order",
    "incidents_of_group",
    "incidents_of_sightings",
    "judge_probe",
    "needs_probe",
    "rule_label",
    "sighting",
    "tally_events",
    "unverified_bursts",
]
