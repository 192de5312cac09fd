"""Probes before acting (issue 17): one mail sent to an address before a decision acts on it.

A probe is recorded before it is sent (its intent), so a crash never sends it twice; its own
VERP token carries a send reference made from its Message-ID and binds the address, so only
a verified bounce of that very mail confirms the decision (see `reconciler.policy.probes`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from reconciler.frozenrecord import frozen_record
from reconciler.records.policy import Trigger

__all__ = ["OPEN_PROBE_STATES", "Probe", "ProbeState", "ProbeVerdict"]


class ProbeState(StrEnum):
    """Where a probe stands.  SENDING, UNSENT and SENT are open: the decision waits."""

    WOULD = "would"  # log-only mode: recorded, never sent
    SENDING = "sending"  # recorded, handed to SMTP (interrupted by a crash: never sent again)
    UNSENT = "unsent"  # the SMTP server refused it or was unreachable: sent again later
    SENT = "sent"  # accepted by the SMTP server: a bounce may come until `due_at`
    BOUNCED = "bounced"  # a verified bounce of the probe came back: the decision acts
    DELIVERED = "delivered"  # no bounce by `due_at`: the decision is cleared


OPEN_PROBE_STATES = frozenset({ProbeState.SENDING, ProbeState.UNSENT, ProbeState.SENT})


class ProbeVerdict(StrEnum):
    """What the evidence says of an open probe (`policy.probes.judge_probe`)."""

    WAITING = "waiting"  # no bounce of it yet, and its time is not up
    CONFIRMED = "confirmed"  # a verified bounce of the probe: the decision acts
    SILENT = "silent"  # its time is up without a bounce: the decision is cleared


@frozen_record
class Probe:
    """One probe as recorded."""

    id: int
    decision_id: int | None  # the decision that waits for it
    realm: str
    user_id: int
    address: str  # normalised: where the probe goes, and what its token binds
    trigger: Trigger  # the rule of the decision (a hard one needs a hard bounce to confirm)
    state: ProbeState
    message_id: str  # of the probe mail, without brackets
    send_ref: str  # the send reference in its token (from the Message-ID)
    return_path: str  # its VERP address: the envelope sender
    created_at: datetime  # when the intent was recorded
    due_at: datetime  # a bounce must come by then (probe_days after it was sent)
    attempted_at: datetime | None = None  # when it was last handed to SMTP
    sent_at: datetime | None = None
    resolved_at: datetime | None = None  # BOUNCED or DELIVERED since
    event_id: int | None = None  # the bounce event that confirmed it
    detail: str = ""  # the last SMTP error, or a note
    attempts: int = 0  # times it was handed to SMTP

    @property
    def open(self) -> bool:
        return self.state in OPEN_PROBE_STATES
