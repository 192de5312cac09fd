"""The policy on hand-made histories: pure, no mocks, the clock is an integer (STYLE 2.2, 2.18).

One test per rule of the issue: day counting, windows, complaints, what never counts, quiet
periods, addresses, domain incidents, the circuit breaker and the modes; then two properties:
a non-countable event never changes a decision, and event order never does.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler import policy
from reconciler.policy import (
    DAY,
    IncidentIndex,
    cannot_act,
    check_breaker,
    decide,
    describe,
    describe_incident,
    detect_incidents,
)
from reconciler.policy.incidents import covers
from reconciler.records import (
    UNDISCLOSED_RECIPIENT,
    BreakerCause,
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
    Reason,
    Severity,
    Trigger,
    UserHistory,
    known_address,
)
from reconciler.settings import BreakerSettings, DayThreshold, IncidentSettings, PolicySettings

SETTINGS = PolicySettings()
NOW = 100 * DAY + 12 * 3600  # day 100, noon UTC
HOUR = 3600
ADDRESS = "ann@example.net"
_ids = iter(range(1, 10**9))


def ev(
    day: float,
    severity: Severity = Severity.HARD,
    *,
    kind: MessageKind = MessageKind.BOUNCE,
    fault: Fault = Fault.RECIPIENT,
    reason: Reason = Reason.USERUNKNOWN,
    valid: bool = True,
    user: int = 42,
    address: str = ADDRESS,
    domain: str = "example.net",
    mta: str = "mx.example.net",
    event_id: int | None = None,
    bound: bool = True,
) -> EvidenceEvent:
    """An event `day` days before NOW (fractions are parts of a day); its token binds its
    address (as new tokens do) unless `bound` is false or the address is unknown."""
    return EvidenceEvent(
        event_id=next(_ids) if event_id is None else event_id,
        realm="shop" if valid else None,
        user_id=user if valid else None,
        address=address,
        domain=domain,
        remote_mta=mta,
        kind=kind,
        reason=reason,
        severity=severity,
        fault=fault,
        verp_valid=valid,
        at=NOW - round(day * DAY),
        message_id=f"<m{day}@shop.example>",
        bound=bound and valid and known_address(address) is not None,
    )


def history(*events: EvidenceEvent, current: str | None = None) -> UserHistory:
    return UserHistory("shop", 42, tuple(events), current)


def run(
    *events: EvidenceEvent,
    settings: PolicySettings = SETTINGS,
    now: int = NOW,
    current: str | None = None,
    mode: Mode = Mode.ENFORCE,
) -> Decision:
    return decide(history(*events, current=current), settings, now, mode=mode)


# --- hard and soft thresholds, once per day ----------------------------------------------------


def test_three_hard_bounces_on_one_day_do_not_act() -> None:
    decision = run(ev(1), ev(1.1), ev(1.2))
    assert decision.kind is DecisionKind.NONE
    assert decision.hard_days == 1
    assert len(decision.event_ids) == 3


def test_hard_bounces_on_three_days_within_fourteen_act() -> None:
    events = (ev(13), ev(6), ev(0))
    decision = run(*events)
    assert decision.kind is DecisionKind.SUPPRESS
    assert decision.trigger is Trigger.HARD
    assert decision.rule == "hard:3d/14d"
    assert decision.hard_days == 3
    assert decision.event_ids == tuple(e.event_id for e in events)
    assert decision.message_ids == tuple(e.message_id for e in events)
    assert decision.reasons == (Reason.USERUNKNOWN,)
    assert decision.address == ADDRESS


def test_three_hard_days_spread_over_twenty_days_do_not_act() -> None:
    decision = run(ev(20), ev(10), ev(0))
    assert decision.kind is DecisionKind.NONE
    assert decision.hard_days == 2
    assert decision.ignored == ((Ignored.EXPIRED, 1),)


@pytest.mark.parametrize(("days", "acts"), [(10, True), (9, False)])
def test_soft_bounces_on_ten_days_within_thirty_act(days: int, acts: bool) -> None:
    events = [ev(3 * i, Severity.SOFT, reason=Reason.MAILBOXFULL) for i in range(days)]
    events += [ev(3 * i + 0.1, Severity.SOFT, reason=Reason.MAILBOXFULL) for i in range(days)]
    decision = run(*events)
    assert decision.soft_days == days
    assert (decision.kind is DecisionKind.SUPPRESS) is acts
    assert decision.rule == ("soft:10d/30d" if acts else "")


def test_hard_and_soft_days_are_counted_separately() -> None:
    decision = run(ev(5), ev(3), *(ev(d, Severity.SOFT) for d in range(9)))
    assert (decision.kind, decision.hard_days, decision.soft_days) == (DecisionKind.NONE, 2, 9)


def test_thresholds_are_settings() -> None:
    strict = PolicySettings(hard=dataclasses.replace(SETTINGS.hard, days=2))
    decision = run(ev(3), ev(0), settings=strict)
    assert decision.kind is DecisionKind.SUPPRESS
    assert decision.rule == "hard:2d/14d"


# --- complaints --------------------------------------------------------------------------------


def test_a_complaint_acts_at_once() -> None:
    complaint = ev(0, Severity.NONE, kind=MessageKind.FEEDBACK, reason=Reason.FEEDBACK)
    decision = run(ev(2), complaint)
    assert decision.kind is DecisionKind.SUPPRESS
    assert decision.trigger is Trigger.COMPLAINT
    assert decision.rule == "complaint"
    assert decision.event_ids == (complaint.event_id,)


def test_an_old_complaint_has_expired() -> None:
    old = ev(31, Severity.NONE, kind=MessageKind.FEEDBACK, reason=Reason.FEEDBACK)
    decision = run(old)
    assert decision.kind is DecisionKind.NONE
    assert decision.ignored == ((Ignored.EXPIRED, 1),)


def test_an_unverified_complaint_does_not_act() -> None:
    complaint = ev(0, Severity.NONE, kind=MessageKind.FEEDBACK, reason=Reason.FEEDBACK, valid=False)
    assert run(complaint).kind is DecisionKind.NONE


# --- what never counts -------------------------------------------------------------------------

NEVER_COUNTED: dict[str, tuple[dict[str, Any], Ignored]] = {
    "sender fault": (
        {"fault": Fault.SENDER, "reason": Reason.BLOCKED, "severity": Severity.SOFT},
        Ignored.SENDER_FAULT,
    ),
    "sender fault, hard": ({"fault": Fault.SENDER}, Ignored.SENDER_FAULT),
    "delay": (
        {"kind": MessageKind.DELAY, "reason": Reason.EXPIRED, "severity": Severity.SOFT},
        Ignored.NOT_A_BOUNCE,
    ),
    "delay recorded before delay warnings were named expired": (
        {"kind": MessageKind.DELAY, "reason": Reason.DELAYED, "severity": Severity.SOFT},
        Ignored.NOT_A_BOUNCE,
    ),
    "vacation": (
        {"kind": MessageKind.VACATION, "reason": Reason.VACATION, "severity": Severity.NONE},
        Ignored.NOT_A_BOUNCE,
    ),
    "delivered": (
        {"kind": MessageKind.DELIVERED, "reason": Reason.DELIVERED, "severity": Severity.NONE},
        Ignored.NOT_A_BOUNCE,
    ),
    "bounce of severity none": ({"severity": Severity.NONE}, Ignored.NOT_A_BOUNCE),
    "unverified": ({"valid": False}, Ignored.UNVERIFIED),
    "unverified complaint": (
        {"valid": False, "kind": MessageKind.FEEDBACK, "reason": Reason.FEEDBACK},
        Ignored.UNVERIFIED,
    ),
    "other user": ({"user": 7}, Ignored.OTHER_USER),
}


@pytest.mark.parametrize("name", sorted(NEVER_COUNTED))
def test_never_counted_even_fifty_of_them(name: str) -> None:
    fields, cause = NEVER_COUNTED[name]
    events = [ev(i * 0.25, **fields) for i in range(50)]
    decision = run(*events)
    assert decision.kind is DecisionKind.NONE
    assert decision.event_ids == ()
    assert decision.ignored == ((cause, 50),)


def test_events_after_now_are_not_yet_known() -> None:
    decision = run(ev(-1), ev(-2), ev(0))
    assert decision.kind is DecisionKind.NONE
    assert decision.ignored == ((Ignored.FUTURE, 2),)


# --- expiry and quiet periods ------------------------------------------------------------------


def test_old_evidence_expires() -> None:
    events = (ev(12), ev(11), ev(10))
    assert run(*events, now=NOW - 10 * DAY).kind is DecisionKind.SUPPRESS
    later = run(*events, now=NOW + 4 * DAY)
    assert later.kind is DecisionKind.NONE
    assert later.hard_days == 0
    assert later.ignored == ((Ignored.EXPIRED, 3),)


def test_a_quiet_period_resets_the_count() -> None:
    quick = PolicySettings(quiet_days=7)
    events = (ev(13), ev(12), ev(1), ev(0))  # four days within 14, but 11 quiet days between
    assert run(*events).kind is DecisionKind.SUPPRESS
    decision = run(*events, settings=quick)
    assert decision.kind is DecisionKind.NONE
    assert decision.hard_days == 2
    assert decision.ignored == ((Ignored.BEFORE_QUIET, 2),)


def test_a_quiet_period_up_to_now_resets_the_count() -> None:
    quick = PolicySettings(quiet_days=7)
    events = (ev(10), ev(9), ev(8))
    assert run(*events).kind is DecisionKind.SUPPRESS
    assert run(*events, settings=quick).kind is DecisionKind.NONE


def test_quiet_periods_look_at_counted_bounces_of_both_severities() -> None:
    quick = PolicySettings(quiet_days=7)
    soft_between = [ev(d, Severity.SOFT, reason=Reason.MAILBOXFULL) for d in (10, 6, 3)]
    decision = run(ev(13), ev(1), ev(0), *soft_between, settings=quick)
    assert decision.kind is DecisionKind.SUPPRESS


# --- addresses ---------------------------------------------------------------------------------


def test_an_address_that_is_no_longer_the_users_is_not_counted() -> None:
    events = (ev(3), ev(2), ev(1))
    decision = run(*events, current="ann.new@example.org")
    assert decision.kind is DecisionKind.NONE
    assert decision.ignored == ((Ignored.OTHER_ADDRESS, 3),)
    assert decision.address == "ann.new@example.org"


def test_a_report_about_the_mailed_address_counts_whatever_its_final_recipient() -> None:
    """The report names the address we mailed as its original recipient and a forwarding
    target (or an internal rewrite) as the final one: it is about the user's address."""
    forwarded = [dataclasses.replace(ev(d, address="ann@forward.example"), original_address=ADDRESS)
                 for d in (3, 2, 1)]  # fmt: skip
    assert run(*forwarded, current=ADDRESS).kind is DecisionKind.SUPPRESS
    decision = run(*forwarded, current="ann.new@example.org")
    assert decision.ignored == ((Ignored.OTHER_ADDRESS, 3),)


@pytest.mark.parametrize("current", [None, ADDRESS, " Ann@Example.NET "])
def test_the_current_or_an_unknown_address_counts(current: str | None) -> None:
    assert run(ev(3), ev(2), ev(1), current=current).kind is DecisionKind.SUPPRESS


def test_two_addresses_of_one_user_are_counted_apart() -> None:
    decision = run(ev(3), ev(2), ev(1, address="ann@old.example"))
    assert decision.kind is DecisionKind.NONE
    assert decision.hard_days == 2
    assert decision.address == ADDRESS


# --- which address a decision may act on (issue 12, item 1) -----------------------------------

VICTIM = "victim@example.org"


def test_a_complaint_from_a_token_that_binds_another_address_never_names_it() -> None:
    """The forgery of the issue: user 42 mails their own token an X-Apple-Unsubscribe with
    From: the victim.  The analysis records it as an address mismatch (unverified), so it
    reaches the policy as an unverified event: it never counts, whatever the adapter says."""
    forged = ev(0, Severity.NONE, kind=MessageKind.FEEDBACK, reason=Reason.FEEDBACK,
                address=VICTIM, valid=False)  # fmt: skip
    for current in (None, ADDRESS):
        decision = run(forged, current=current)
        assert decision.kind is DecisionKind.NONE
        assert decision.address != VICTIM
        assert dict(decision.ignored) == {Ignored.UNVERIFIED: 1}


def test_a_complaint_acts_at_once_on_the_address_its_token_binds() -> None:
    complaint = ev(0, Severity.NONE, kind=MessageKind.FEEDBACK, reason=Reason.FEEDBACK)
    decision = run(complaint)
    assert (decision.kind, decision.trigger, decision.address) == (
        DecisionKind.SUPPRESS, Trigger.COMPLAINT, ADDRESS,
    )  # fmt: skip


@pytest.mark.parametrize("kind", [MessageKind.FEEDBACK, MessageKind.BOUNCE])
def test_evidence_without_a_binding_acts_on_the_user_never_on_its_address(
    kind: MessageKind,
) -> None:
    """A token that binds nothing (made before binding, or BounceHandler's) proves the user,
    not the address the report names: without an adapter the decision names no address (the
    sending side resolves the user's); it never becomes the victim's."""
    severity, reason = (
        (Severity.NONE, Reason.FEEDBACK) if kind is MessageKind.FEEDBACK
        else (Severity.HARD, Reason.USERUNKNOWN)
    )  # fmt: skip
    events = [ev(day, severity, kind=kind, reason=reason, address=VICTIM, bound=False)
              for day in (3, 2, 1)]  # fmt: skip
    decision = run(*events)
    assert (decision.kind, decision.address) == (DecisionKind.SUPPRESS, None)


def test_unbound_evidence_counts_for_the_current_address_only() -> None:
    about_victim = [ev(day, address=VICTIM, bound=False) for day in (3, 2, 1)]
    decision = run(*about_victim, current=ADDRESS)
    assert decision.kind is DecisionKind.NONE
    assert dict(decision.ignored) == {Ignored.OTHER_ADDRESS: 3}
    about_ann = [ev(day, bound=False) for day in (3, 2, 1)]
    decision = run(*about_ann, current=ADDRESS)
    assert (decision.kind, decision.address) == (DecisionKind.SUPPRESS, ADDRESS)


def test_unbound_evidence_is_counted_apart_from_a_bound_address() -> None:
    """Without an adapter, two bound days of ann and one unbound day make no three days of
    ann; three unbound days act on the user (no address)."""
    decision = run(ev(3), ev(2), ev(1, bound=False))
    assert (decision.kind, decision.hard_days, decision.address) == (
        DecisionKind.NONE, 2, ADDRESS,
    )  # fmt: skip
    decision = run(ev(5), ev(3, bound=False), ev(2, bound=False), ev(1, bound=False))
    assert (decision.kind, decision.address) == (DecisionKind.SUPPRESS, None)


def test_an_event_without_address_counts_for_the_current_address() -> None:
    decision = run(ev(3), ev(2), ev(1, address=""), current=ADDRESS)
    assert decision.kind is DecisionKind.SUPPRESS


def test_a_complaint_with_a_redacted_recipient_counts_for_the_current_address() -> None:
    complaint = ev(
        0,
        Severity.NONE,
        kind=MessageKind.FEEDBACK,
        reason=Reason.FEEDBACK,
        address=UNDISCLOSED_RECIPIENT,
    )
    decision = run(complaint, current=ADDRESS)
    assert decision.kind is DecisionKind.SUPPRESS
    assert decision.address == ADDRESS
    # and with no current address known, the placeholder is never the address acted on
    unknown = run(complaint)
    assert unknown.kind is DecisionKind.SUPPRESS
    assert unknown.address is None


# --- domain incidents --------------------------------------------------------------------------


def _spike(
    reason: Reason = Reason.MAILBOXFULL, users: int = 5, day: float = 0
) -> list[EvidenceEvent]:
    """One bounce for each of `users` users within 40 minutes, `day` days before NOW."""
    return [
        ev(
            day + i * 600 / DAY,
            Severity.SOFT,
            reason=reason,
            user=100 + i,
            address=f"u{i}@example.net",
        )
        for i in range(users)
    ]


def test_a_domain_spike_is_an_incident_and_its_events_do_not_count() -> None:
    spike = _spike(Reason.USERUNKNOWN)
    ann = ev(0.01, reason=Reason.USERUNKNOWN)  # Ann's hard bounce in the middle of the spike
    found = detect_incidents([*spike, ann], SETTINGS, NOW)
    domain = next(i for i in found if i.scope is IncidentScope.DOMAIN)
    assert (domain.key, domain.reason, domain.users, domain.active) == (
        "example.net",
        Reason.USERUNKNOWN,
        6,
        True,
    )
    assert ann.event_id in domain.event_ids
    decision = decide(history(ev(9), ev(5), ann), SETTINGS, NOW, mode=Mode.ENFORCE, incidents=found)
    assert decision.kind is DecisionKind.NONE
    assert (Ignored.INCIDENT, 1) in decision.ignored
    assert run(ev(9), ev(5), ann).kind is DecisionKind.SUPPRESS  # without the incident


def test_a_remote_mta_spike_is_an_incident() -> None:
    spike = [
        dataclasses.replace(e, domain=f"d{n}.example", address=f"u@d{n}.example")
        for n, e in enumerate(_spike(Reason.SYSTEMERROR))
    ]
    found = detect_incidents(spike, SETTINGS, NOW)
    assert [(i.scope, i.key) for i in found] == [(IncidentScope.REMOTE_MTA, "mx.example.net")]


def test_the_incident_clears_when_the_spike_leaves_the_window() -> None:
    spike = _spike()
    [active] = [
        i for i in detect_incidents(spike, SETTINGS, NOW) if i.scope is IncidentScope.DOMAIN
    ]
    assert active.active
    later = NOW + HOUR
    [cleared] = [
        i for i in detect_incidents(spike, SETTINGS, later) if i.scope is IncidentScope.DOMAIN
    ]
    assert not cleared.active
    assert (cleared.start, cleared.end) == (active.start, active.end)
    assert "cleared" in describe_incident(cleared)
    # a bounce after the spike is not covered: it counts
    after = ev(-2 * HOUR / DAY, reason=Reason.MAILBOXFULL, severity=Severity.SOFT)
    decision = decide(
        history(after), SETTINGS, later + HOUR, mode=Mode.ENFORCE, incidents=[cleared]
    )
    assert decision.event_ids == (after.event_id,)


def test_below_the_user_threshold_or_one_user_many_times_is_no_incident() -> None:
    assert detect_incidents(_spike(users=4), SETTINGS, NOW) == []
    same_user = [ev(i / 100, Severity.SOFT, reason=Reason.MAILBOXFULL) for i in range(20)]
    assert detect_incidents(same_user, SETTINGS, NOW) == []


def test_spread_over_more_than_the_window_is_no_incident() -> None:
    slow = [dataclasses.replace(e, at=NOW - i * HOUR) for i, e in enumerate(_spike())]
    assert detect_incidents(slow, SETTINGS, NOW) == []
    wide = PolicySettings(incident=IncidentSettings(window_seconds=6 * HOUR, min_users=5))
    assert len(detect_incidents(slow, wide, NOW)) == 2  # domain and remote MTA


def test_different_reasons_or_complaints_make_no_incident() -> None:
    reasons = [
        Reason.MAILBOXFULL,
        Reason.USERUNKNOWN,
        Reason.EXPIRED,
        Reason.SUSPEND,
        Reason.FILTERED,
    ]
    mixed = [dataclasses.replace(e, reason=r) for e, r in zip(_spike(), reasons, strict=True)]
    assert detect_incidents(mixed, SETTINGS, NOW) == []
    complaints = [dataclasses.replace(e, kind=MessageKind.FEEDBACK) for e in _spike()]
    assert detect_incidents(complaints, SETTINGS, NOW) == []


def test_unverified_bounces_make_no_incident_but_a_reported_burst() -> None:
    """Issue 12, item 4: anyone can mail five bounces without a token naming one domain.
    They are a burst to report, never an incident that hides real users' bounces."""
    forged = [dataclasses.replace(e, verp_valid=False, realm=None, user_id=None)
              for e in _spike(Reason.USERUNKNOWN)]  # fmt: skip
    assert detect_incidents(forged, SETTINGS, NOW) == []
    group = (IncidentScope.DOMAIN, "example.net", Reason.USERUNKNOWN)
    assert policy.incidents_of_group(group, forged, SETTINGS, NOW) == []
    (burst,) = policy.unverified_bursts(group, forged, SETTINGS, NOW)
    assert (burst.key, burst.users, burst.active) == ("example.net", 5, True)
    assert "unverified burst domain=example.net reason=userunknown addresses=5" in (
        policy.describe_burst(burst)
    )
    hostile = dataclasses.replace(burst, key="mx\x1b]0;owned\x07 " + "x" * 500)
    line = policy.describe_burst(hostile)
    assert line.isprintable() and "\x1b" not in line and len(line) < 260
    assert policy.unverified_bursts(group, _spike(Reason.USERUNKNOWN), SETTINGS, NOW) == []
    # four verified users and the forged ones: no incident either (four < min_users)
    mixed = _spike(Reason.USERUNKNOWN, users=4) + forged
    assert detect_incidents(mixed, SETTINGS, NOW) == []


# --- circuit breaker ---------------------------------------------------------------------------

BREAKER = PolicySettings(
    breaker=BreakerSettings(
        window_seconds=HOUR,
        max_actions=10,
        max_action_share=0.25,
        max_sender_share=0.5,
        min_sample=20,
    )
)


def _action(user: int, at: int = NOW - 60) -> Decision:
    return Decision(
        DecisionKind.SUPPRESS,
        "shop",
        user,
        f"u{user}@example.net",
        at,
        Mode.ENFORCE,
        Disposition.APPLIED,
        Trigger.HARD,
        "hard:3d/14d",
    )


def _seen(users: int, fault: Fault = Fault.RECIPIENT, first: int = 0) -> list[EvidenceEvent]:
    return [ev(60 / DAY, user=first + i, fault=fault) for i in range(users)]


def test_breaker_trips_on_too_many_actions() -> None:
    actions = [_action(u) for u in range(11)]
    trip = check_breaker(actions, _seen(100), BREAKER, NOW, mode=Mode.ENFORCE)
    assert trip is not None
    assert trip.cause is BreakerCause.ACTION_COUNT
    assert "11 actions" in trip.detail
    assert check_breaker(actions[:10], _seen(100), BREAKER, NOW, mode=Mode.ENFORCE) is None


def test_breaker_trips_on_too_large_a_share_of_users() -> None:
    actions = [_action(u) for u in range(6)]
    trip = check_breaker(actions, _seen(20), BREAKER, NOW, mode=Mode.ENFORCE)
    assert trip is not None
    assert (trip.cause, trip.observed, trip.sample) == (BreakerCause.ACTION_SHARE, 0.3, 20)
    assert check_breaker(actions[:5], _seen(20), BREAKER, NOW, mode=Mode.ENFORCE) is None


def test_breaker_trips_on_too_many_sender_side_bounces() -> None:
    events = _seen(11, Fault.SENDER) + _seen(9, first=100)
    trip = check_breaker([], events, BREAKER, NOW, mode=Mode.ENFORCE)
    assert trip is not None
    assert trip.cause is BreakerCause.SENDER_SHARE
    assert "55% of 20 bounces" in trip.detail
    half = _seen(10, Fault.SENDER) + _seen(10, first=100)  # 50% is not above the limit
    assert check_breaker([], half, BREAKER, NOW, mode=Mode.ENFORCE) is None


def test_breaker_counts_only_verified_bounces() -> None:
    """Issue 12, item 4: 21 forged sender-side bounces (no token) in an hour paused
    enforcement; unverified bounces neither trip the breaker nor dilute a real trip."""
    forged = [dataclasses.replace(e, verp_valid=False, realm=None, user_id=None)
              for e in _seen(25, Fault.SENDER, first=300)]  # fmt: skip
    assert policy.tally_events(forged, NOW - HOUR, NOW).bounces == 0
    assert check_breaker([], forged, BREAKER, NOW, mode=Mode.ENFORCE) is None
    forged_fine = [dataclasses.replace(e, fault=Fault.RECIPIENT) for e in forged]
    real = _seen(11, Fault.SENDER) + _seen(9, first=100)
    trip = check_breaker([], real + forged_fine, BREAKER, NOW, mode=Mode.ENFORCE)
    assert trip is not None and "55% of 20 bounces" in trip.detail


def test_breaker_needs_a_minimum_sample_for_shares() -> None:
    one_of_two = _seen(1, Fault.SENDER) + _seen(1, first=100)
    assert check_breaker([], one_of_two, BREAKER, NOW, mode=Mode.ENFORCE) is None
    assert check_breaker([_action(1)], _seen(2), BREAKER, NOW, mode=Mode.ENFORCE) is None


def test_breaker_looks_only_at_the_window_and_applied_actions() -> None:
    old = [_action(u, at=NOW - 2 * HOUR) for u in range(30)]
    would = [dataclasses.replace(_action(u), disposition=Disposition.WOULD) for u in range(30)]
    assert check_breaker(old + would, _seen(100), BREAKER, NOW, mode=Mode.ENFORCE) is None
    old_sender = [dataclasses.replace(e, at=NOW - 2 * HOUR) for e in _seen(50, Fault.SENDER)]
    assert check_breaker([], old_sender, BREAKER, NOW, mode=Mode.ENFORCE) is None


@pytest.mark.parametrize("mode", [Mode.LOG_ONLY, Mode.PAUSED])
def test_breaker_trips_only_when_enforcing(mode: Mode) -> None:
    actions = [_action(u) for u in range(50)]
    assert check_breaker(actions, _seen(50, Fault.SENDER), BREAKER, NOW, mode=mode) is None


# --- modes and explanations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "disposition"),
    [
        (Mode.ENFORCE, Disposition.APPLIED),
        (Mode.LOG_ONLY, Disposition.WOULD),
        (Mode.PAUSED, Disposition.WITHHELD),
    ],
)
def test_the_mode_decides_what_becomes_of_the_action(mode: Mode, disposition: Disposition) -> None:
    acting = run(ev(3), ev(2), ev(1), mode=mode)
    assert (acting.mode, acting.disposition) == (mode, disposition)
    idle = run(ev(1), mode=mode)
    assert (idle.mode, idle.disposition) == (mode, Disposition.NONE)


def test_describe_is_one_line_and_masks_the_address() -> None:
    sender = ev(0.5, fault=Fault.SENDER)
    decision = run(ev(3), ev(2), ev(1), sender, mode=Mode.LOG_ONLY)
    line = describe(decision)
    assert "decision=suppress disposition=would mode=log-only user=shop:42" in line
    assert "address=***@example.net rule=hard:3d/14d hard_days=3" in line
    assert "reasons=userunknown" in line
    ids = ",".join(map(str, decision.event_ids))
    assert f"event_ids=[{ids}]" in line and len(decision.event_ids) == 3  # ids, not a count
    assert "ignored=sender_fault:1" in line
    assert ADDRESS not in line
    assert f"address={ADDRESS}" in describe(decision, show_address=True)


def test_describe_keeps_hostile_text_on_one_line() -> None:
    hostile = dataclasses.replace(ev(1), message_id="<a@b>\nFAKE decision=none")
    decision = dataclasses.replace(run(ev(3), ev(2), hostile), address="x\r\n@y\x00")
    line = describe(decision, show_address=True)
    assert "\n" not in line and "\r" not in line and "\x00" not in line
    assert "<a@b>?FAKE?decision=none" in line
    assert "address=x??@y? " in line


def test_a_fresh_install_defaults() -> None:
    assert (SETTINGS.hard.days, SETTINGS.hard.window_days) == (3, 14)
    assert (SETTINGS.soft.days, SETTINGS.soft.window_days) == (10, 30)
    assert SETTINGS.incident == IncidentSettings(window_seconds=HOUR, min_users=5)
    assert run(ev(1), mode=Mode.LOG_ONLY).mode is Mode.LOG_ONLY


def test_public_names_exist() -> None:
    assert all(hasattr(policy, name) for name in policy.__all__)


# --- properties --------------------------------------------------------------------------------

_KINDS = st.sampled_from(list(MessageKind))
_SEVERITIES = st.sampled_from(list(Severity))
_FAULTS = st.sampled_from(list(Fault))
_REASONS = st.sampled_from([Reason.USERUNKNOWN, Reason.MAILBOXFULL, Reason.BLOCKED])


@st.composite
def _events(draw: st.DrawFn, event_id: int, soft_share: int = 1) -> EvidenceEvent:
    return EvidenceEvent(
        event_id=event_id,
        realm="shop",
        user_id=42,
        address=draw(st.sampled_from([ADDRESS] * 4 + ["ann@old.example"])),
        domain="example.net",
        remote_mta="mx.example.net",
        kind=draw(st.sampled_from([MessageKind.BOUNCE] * 49 + [MessageKind.FEEDBACK])),
        reason=draw(_REASONS),
        severity=draw(st.sampled_from([Severity.HARD] + [Severity.SOFT] * soft_share)),
        fault=draw(st.sampled_from([Fault.RECIPIENT, Fault.TRANSIENT, Fault.UNKNOWN])),
        verp_valid=True,
        at=NOW - draw(st.integers(0, 40)) * DAY - draw(st.integers(0, DAY - 1)),
        message_id=f"<{event_id}@shop.example>",
    )


_HISTORIES = st.tuples(st.integers(0, 40), st.integers(1, 8)).flatmap(
    lambda size: st.tuples(*(_events(i, size[1]) for i in range(1, size[0] + 1)))
)  # histories of up to 40 events; some mostly soft, so that every rule fires in some of them
_SETTINGS = st.builds(
    PolicySettings,
    quiet_days=st.sampled_from([0, 5, 30]),
    complaint_window_days=st.sampled_from([1, 30]),
)

_NON_COUNTABLE = st.one_of(
    st.builds(dict, verp_valid=st.just(False), realm=st.none(), user_id=st.none()),
    st.builds(dict, verp_valid=st.just(False), kind=_KINDS, severity=_SEVERITIES),
    st.builds(dict, fault=st.just(Fault.SENDER), kind=st.just(MessageKind.BOUNCE)),
    st.builds(
        dict,
        kind=st.sampled_from(
            [
                MessageKind.DELAY,
                MessageKind.VACATION,
                MessageKind.DELIVERED,
                MessageKind.OTHER,
                MessageKind.ERROR,
            ]
        ),
        fault=_FAULTS,
    ),
    st.builds(dict, kind=st.just(MessageKind.BOUNCE), severity=st.just(Severity.NONE)),
    st.builds(dict, user_id=st.integers(43, 50)),
    st.builds(dict, at=st.integers(NOW + 1, NOW + DAY)),
)


def _verdict(d: Decision) -> tuple[object, ...]:
    return (d.kind, d.trigger, d.rule, d.address, d.event_ids, d.hard_days, d.soft_days)


@given(_HISTORIES, _events(10_000), _NON_COUNTABLE, _SETTINGS, st.booleans())
def test_a_non_countable_event_never_changes_a_decision(
    events: tuple[EvidenceEvent, ...],
    base: EvidenceEvent,
    change: dict[str, Any],
    settings: PolicySettings,
    with_current: bool,
) -> None:
    extra = dataclasses.replace(base, **change)
    current = ADDRESS if with_current else None
    before = decide(UserHistory("shop", 42, events, current), settings, NOW, mode=Mode.ENFORCE)
    after = decide(
        UserHistory("shop", 42, (*events, extra), current), settings, NOW, mode=Mode.ENFORCE
    )
    assert _verdict(after) == _verdict(before)


@given(_HISTORIES, _events(10_000), _SETTINGS)
def test_an_event_for_a_former_address_never_changes_a_decision(
    events: tuple[EvidenceEvent, ...], base: EvidenceEvent, settings: PolicySettings
) -> None:
    extra = dataclasses.replace(base, address="ann@former.example")
    before = decide(UserHistory("shop", 42, events, ADDRESS), settings, NOW, mode=Mode.ENFORCE)
    after = decide(
        UserHistory("shop", 42, (*events, extra), ADDRESS), settings, NOW, mode=Mode.ENFORCE
    )
    assert _verdict(after) == _verdict(before)


@given(_HISTORIES, st.randoms(use_true_random=False), _SETTINGS)
def test_decisions_do_not_depend_on_event_order(
    events: tuple[EvidenceEvent, ...], rnd: random.Random, settings: PolicySettings
) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    first = decide(UserHistory("shop", 42, events), settings, NOW, mode=Mode.ENFORCE)
    second = decide(UserHistory("shop", 42, tuple(shuffled)), settings, NOW, mode=Mode.ENFORCE)
    assert first == second


def test_the_incident_index_says_exactly_what_covers_says() -> None:
    rng = random.Random(11)
    keys = {IncidentScope.DOMAIN: ["example.net", "example.org"],
            IncidentScope.REMOTE_MTA: ["mx.example.net", "mx.example.org"]}  # fmt: skip
    reasons = [Reason.USERUNKNOWN, Reason.MAILBOXFULL]
    incidents = []
    for _ in range(12):
        scope = rng.choice(list(IncidentScope))
        start = NOW - rng.randint(0, 5 * DAY)
        incidents.append(
            Incident(
                scope,
                rng.choice(keys[scope]),
                rng.choice(reasons),
                5,
                start,
                start + rng.randint(0, DAY),
                rng.random() < 0.5,
            )
        )
    index = IncidentIndex(incidents)
    for _ in range(2000):
        event = ev(
            rng.uniform(0, 6),
            kind=rng.choice([MessageKind.BOUNCE, MessageKind.BOUNCE, MessageKind.FEEDBACK]),
            reason=rng.choice(reasons),
            domain=rng.choice([*keys[IncidentScope.DOMAIN], "Example.NET ", ""]),
            mta=rng.choice([*keys[IncidentScope.REMOTE_MTA], "MX.example.org", ""]),
        )
        assert index.covers(event) == any(covers(i, event) for i in incidents), event
    assert not IncidentIndex([]).covers(ev(0))


def test_the_breaker_decides_the_same_on_the_events_or_on_their_tally() -> None:
    rng = random.Random(21)
    for _ in range(200):
        events = [
            ev(
                rng.uniform(0, 0.1),
                kind=rng.choice([MessageKind.BOUNCE, MessageKind.FEEDBACK]),
                fault=rng.choice([Fault.SENDER, Fault.RECIPIENT]),
                valid=rng.random() < 0.7,
                user=rng.randint(1, 40),
            )
            for _ in range(rng.randint(0, 60))
        ]
        actions = [_action(i) for i in range(rng.randint(0, 60))]
        since = NOW - BREAKER.breaker.window_seconds
        tally = policy.tally_events(events, since, NOW)
        on_events = check_breaker(actions, events, BREAKER, NOW, mode=Mode.ENFORCE)
        assert check_breaker(actions, tally, BREAKER, NOW, mode=Mode.ENFORCE) == on_events


@pytest.mark.parametrize("mode", [Mode.ENFORCE, Mode.LOG_ONLY])
def test_a_realm_that_cannot_be_served_withholds_in_every_mode(mode: Mode) -> None:
    """Issue 15: no wiki database serves the realm: the decision is withheld, with the reason."""
    why = "realm shop has no database in [actions.mediawiki] (add it to wikis)"
    held = dataclasses.replace(history(ev(13), ev(6), ev(0)), withhold=why)
    decision = decide(held, SETTINGS, NOW, mode=mode)
    assert decision.kind is DecisionKind.SUPPRESS
    assert (decision.disposition, decision.withheld) == (Disposition.WITHHELD, why)
    assert f"withheld={why.replace(' ', '?')}" in policy.describe(decision)
    quiet = decide(dataclasses.replace(history(ev(0)), withhold=why), SETTINGS, NOW, mode=mode)
    assert (quiet.disposition, quiet.withheld) == (Disposition.NONE, "")


# --- cannot_act: NONE told without deciding (the decide stage skips those users) -------------

_FEW = st.integers(0, 6).flatmap(
    lambda size: st.tuples(*(_events(i, 2) for i in range(1, size + 1)))
)  # a bounce or a few, as most users of a drained backlog have
_THRESHOLDS = st.builds(
    PolicySettings,
    hard=st.builds(DayThreshold, st.integers(1, 4), st.sampled_from([1, 14])),
    soft=st.builds(DayThreshold, st.integers(1, 10), st.sampled_from([1, 30])),
    quiet_days=st.sampled_from([0, 5, 30]),
    complaint_window_days=st.sampled_from([1, 30]),
)


@given(st.one_of(_FEW, _HISTORIES), _THRESHOLDS, st.booleans(), st.sampled_from(list(Mode)))
def test_cannot_act_only_where_decide_says_none(
    events: tuple[EvidenceEvent, ...], settings: PolicySettings, with_current: bool, mode: Mode
) -> None:
    history = UserHistory("shop", 42, events, ADDRESS if with_current else None)
    if cannot_act(history, settings):
        assert decide(history, settings, NOW, mode=mode).kind is DecisionKind.NONE


def test_cannot_act_on_fewer_days_than_a_threshold_and_no_complaint() -> None:
    one_day = (ev(1), ev(1.1, Severity.SOFT))
    assert cannot_act(history(*one_day), SETTINGS)  # 1 day: hard needs 3, soft 10
    assert not cannot_act(history(ev(1), ev(2), ev(3)), SETTINGS)  # acts (3 hard days)
    assert not cannot_act(history(ev(1), ev(5), ev(9, Severity.SOFT)), SETTINGS)  # may act
    assert not cannot_act(history(ev(1, kind=MessageKind.FEEDBACK)), SETTINGS)  # a complaint
    once = dataclasses.replace(SETTINGS, hard=DayThreshold(1, 14))
    assert not cannot_act(history(ev(1)), once)  # one hard day acts
    assert cannot_act(history(), once)
