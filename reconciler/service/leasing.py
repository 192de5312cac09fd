"""Worker leases around cycles (issue 7): several workers share one database.

Each mailbox is drained by one worker at a time: a cycle starts only after `claim` took the
mailbox's lease; the lease is renewed after every committed batch and released when the cycle
ends.  A worker that dies keeps its lease until the expiry (``[daemon] lease_seconds``), then
another worker takes over; a dead worker of *this* host (its pid is gone) is taken over at once.
Losing the lease mid-cycle stops the cycle after the batch in hand, like a SIGTERM does.

The decide stage run after each batch reads the whole event table, so it is serialised across
workers (a ``stage`` lease) and across the mailbox threads of one worker (a process lock).  A
helper thread renews the stage's lease, and the mailbox's, while a decide run lasts
(`LeaseKeeper`): a slow run never lets another worker start the stage beside it.

`Crew` is the daemon's side: presence rows tell how many workers are live, each takes at most
its fair share (ceil(mailboxes / workers)) of the mailboxes, hands back any excess between
batches when a worker joins, and wakes the mailboxes it was refused once they come free.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING

from reconciler.errors import StoreError
from reconciler.frozenrecord import frozen_record
from reconciler.records import LeaseScope, LeaseTerms
from reconciler.service.leasekeeper import LeaseKeeper

if TYPE_CHECKING:
    from reconciler.settings import DaemonSettings
    from reconciler.store import Store

__all__ = [
    "WARM_UP",
    "Crew",
    "CycleHooks",
    "Ended",
    "LeaseTerms",
    "Tenure",
    "claim",
    "default_worker",
    "is_gone",
    "lease_terms",
]

log = logging.getLogger(__name__)
DECIDE_EVERY = 15.0  # seconds between decide runs within one cycle (see Tenure.after_batch)

DECIDE = "decide"
_DECIDE_LOCK = threading.Lock()  # one decide run at a time in this process, too
_WAIT_STEP = 0.05  # seconds between two tries for the decide stage's lease


@frozen_record
class CycleHooks:
    """What a tenure takes from the cycle it holds the lease for."""

    clock: Callable[[], datetime]
    stop: threading.Event  # set: the process stops (the tenure adds its own reasons)
    after_batch: Callable[[datetime], object] | None = None  # the decide stage, if any


class Ended(StrEnum):
    """Why a lease stopped being ours during a cycle."""

    LOST = "lost"  # expired and taken by another worker
    HANDED_OVER = "handed over"  # released for a worker with room (fair share)


def default_worker() -> str:
    """``host:pid``: unique per process, and lets a restart on the same host spot its dead self."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_terms(daemon: DaemonSettings) -> LeaseTerms:
    return LeaseTerms(daemon.worker_id or default_worker(), timedelta(seconds=daemon.lease_seconds))


def is_gone(worker: str) -> bool:
    """True when `worker` is a ``host:pid`` of this host whose process no longer exists.

    Any other id (another host, a configured name) cannot be checked: only its expiry tells.
    """
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by another user
    return False


def claim(
    store: Store, mailbox: str, terms: LeaseTerms, now: datetime, *, quiet: bool = False
) -> bool:
    """Take the mailbox's lease for one cycle; False (logged; at DEBUG when `quiet`, for a
    mailbox already refused) when another live worker has it."""
    if store.acquire_lease(mailbox, terms.worker, now, terms.ttl):
        return True
    holder = store.lease_holder(mailbox, now)
    if holder is None:  # released between our two queries: try once more
        return store.acquire_lease(mailbox, terms.worker, now, terms.ttl)
    if is_gone(holder) and store.take_over_lease(mailbox, (holder, terms.worker), now, terms.ttl):
        log.warning("mailbox=%s lease taken over from %s (process gone)", mailbox, holder)
        return True
    log.log(
        logging.DEBUG if quiet else logging.INFO,
        "mailbox=%s skipped: lease held by %s",
        mailbox,
        holder,
    )
    return False


class _CycleStop(threading.Event):
    """Set for this cycle only (lease lost or handed over), or when the process stops."""

    def __init__(self, process: threading.Event) -> None:
        super().__init__()
        self._process = process

    def is_set(self) -> bool:
        return super().is_set() or self._process.is_set()


class Tenure:
    """One claimed mailbox lease for the length of one cycle (a context manager).

    It takes what it uses from the cycle (`CycleHooks`: the clock, the stop flag, the decide
    stage) and gives the cycle back its own `stop` (set as well when the lease was lost, or
    `keep()` says to hand it to another worker: the cycle stops after that batch) and its
    `after_batch` (runs the decide stage, exclusive across workers; when another worker is
    running it, it is owed and run at the end of the cycle at the latest; then renews the
    lease).  While the decide stage runs, its lease and the mailbox's are renewed every
    `renew_every` seconds (default: a third of the lease time).
    """

    def __init__(
        self,
        store: Store,
        mailbox: str,
        terms: LeaseTerms,
        hooks: CycleHooks,
        keep: Callable[[datetime], bool] | None = None,
        *,
        renew_every: float | None = None,
    ) -> None:
        self.store, self.mailbox, self.terms = store, mailbox, terms
        self._renew_every = renew_every
        self.ended: Ended | None = None  # the lease is not ours any more
        self._keep = keep
        self._decide = hooks.after_batch
        self._owed: datetime | None = None  # a batch's decide stage still to run
        # monotonic time of the last decide run; a cycle counts from its start, so a drain's
        # first run is DECIDE_EVERY seconds in (or its end), not after its first batch
        self._decided_at = time.monotonic()
        self._clock = hooks.clock
        self.stop: threading.Event = _CycleStop(hooks.stop)  # the cycle's stop flag

    def __enter__(self) -> Tenure:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._owed is not None:  # the decide stage was busy elsewhere: run it now
                self._decide_now(self._owed, wait=True)
        except Exception as failure:  # never hide the cycle's own error; raise ours otherwise
            if kind is None:
                raise
            log.warning("mailbox=%s decide stage after a failed cycle: %s", self.mailbox, failure)
        finally:
            self._release()

    def _release(self) -> None:
        if self.ended is not None:
            return
        try:
            self.store.release_lease(self.mailbox, self.terms.worker, self._clock())
        except StoreError as failure:  # it expires on its own
            log.warning("mailbox=%s lease not released (expires anyway): %s", self.mailbox, failure)

    def after_batch(self, at: datetime) -> None:
        """After a committed batch: the decide stage (or owe it), then renew the lease."""
        if self._decide is not None:
            self._owed = at
            # During a long drain the stage runs at most every DECIDE_EVERY seconds (it reads
            # every user and incident window of the new evidence); the end of the cycle runs
            # what is owed, so nothing waits longer than DECIDE_EVERY or the cycle.
            if time.monotonic() - self._decided_at >= DECIDE_EVERY:
                self._decide_now(at, wait=False)
        now = self._clock()
        if not self.store.renew_lease(self.mailbox, self.terms.worker, now, self.terms.ttl):
            self._end(Ended.LOST, f"lease lost to {self.store.lease_holder(self.mailbox, now)}")
        elif self._keep is not None and not self._keep(now):
            self.store.release_lease(self.mailbox, self.terms.worker, now)
            self._end(Ended.HANDED_OVER, "more than a fair share held: lease handed over")

    def settle(self) -> None:
        """Run now the decide stage the committed batches owe (what leaving would run): the
        cycle calls it at the end of a drain while its last move is under way."""
        if self._owed is not None:
            self._decide_now(self._owed, wait=True)

    def _end(self, why: Ended, detail: str) -> None:
        log.warning("mailbox=%s %s; stopping after this batch", self.mailbox, detail)
        self.ended = why
        self.stop.set()

    def _decide_now(self, at: datetime, *, wait: bool) -> None:
        """Run the decide stage under its lease (one run at a time across workers and threads).

        Between batches (`wait=False`) a busy stage is left owed: the run in progress, or the
        next try, reads our events from the watermark.  At the end of the cycle (`wait=True`)
        an owed run waits for the lease (see `_take_decide`).
        """
        if not _DECIDE_LOCK.acquire(timeout=self.terms.ttl.total_seconds() if wait else 0):
            return
        try:
            if not self._take_decide(wait):
                return
            leases = [(DECIDE, LeaseScope.STAGE)] + (
                [(self.mailbox, LeaseScope.MAILBOX)] if self.ended is None else []
            )
            keeper = LeaseKeeper(self.store, self.terms, leases, self._clock, self._renew_every)
            try:
                assert self._decide is not None  # only called with a decide stage
                with keeper:
                    self._decide(at)
                self._owed = None
                self._decided_at = time.monotonic()
            finally:
                self.store.release_lease(
                    DECIDE, self.terms.worker, self._clock(), scope=LeaseScope.STAGE
                )
        finally:
            _DECIDE_LOCK.release()

    def _take_decide(self, wait: bool) -> bool:
        """Take the decide stage's lease: at once from a dead worker of this host; when `wait`,
        waiting for a live holder up to one lease time (then it is presumed stuck and the stage
        runs anyway) or until a stop.  False: not taken (the stage stays owed)."""
        worker, ttl = self.terms.worker, self.terms.ttl
        deadline = time.monotonic() + ttl.total_seconds()
        while not self.store.acquire_lease(
            DECIDE, worker, self._clock(), ttl, scope=LeaseScope.STAGE
        ):
            now = self._clock()
            holder = self.store.lease_holder(DECIDE, now, scope=LeaseScope.STAGE)
            gone = holder is not None and is_gone(holder)
            if gone and self.store.take_over_lease(
                DECIDE, (holder or "", worker), now, ttl, LeaseScope.STAGE
            ):
                log.warning("decide stage: lease taken over from %s (process gone)", holder)
                return True
            if not wait or self.stop.is_set():
                return False
            if time.monotonic() > deadline:
                log.warning("decide stage: lease still held by %s; running anyway", holder)
                return True
            self.stop.wait(_WAIT_STEP)  # a pause between two tries, not a timing sleep
        return True


WARM_UP = 2.0  # seconds after start in which a worker takes one mailbox only (see Crew)


class Crew:
    """This worker among the others: presence, fair share, and mailboxes to retry.

    For its first moments (`warm_up`: WARM_UP seconds, at most a third of the lease time) a
    worker takes one mailbox only: workers started together then spread the mailboxes from
    the start, instead of the first one taking them all and handing them over batch by batch.
    """

    def __init__(self, terms: LeaseTerms, mailboxes: int, warm_up: float | None = None) -> None:
        self.terms = terms
        self.mailboxes = mailboxes
        self.deferred: set[str] = set()  # refused mailboxes: woken once their lease is free
        self._yielded: dict[str, datetime] = {}  # handed over: not re-claimed before this time
        self._lock = threading.Lock()
        default = min(WARM_UP, terms.ttl.total_seconds() / 3)
        self.warm_up = default if warm_up is None else warm_up
        self._started = time.monotonic()

    def warming_up(self) -> bool:
        return time.monotonic() - self._started < self.warm_up

    def fair_share(self, store: Store, now: datetime) -> int:
        workers = store.live_leases(now, scope=LeaseScope.WORKER)
        live = [w for w in workers.values() if not is_gone(w)]
        count = max(len(set(live) | {self.terms.worker}), 1)
        share = max(math.ceil(self.mailboxes / count), 1)
        return 1 if self.warming_up() else share

    def claim(self, store: Store, mailbox: str, now: datetime) -> bool:
        """Claim `mailbox` unless another holds it or we already hold our fair share."""
        with self._lock:
            held = [m for m in store.leases_held(self.terms.worker, now) if m != mailbox]
            share = self.fair_share(store, now)
            level = logging.DEBUG if mailbox in self.deferred else logging.INFO  # once, at INFO
            if now < self._yielded.get(mailbox, now):
                log.log(level, "mailbox=%s skipped: handed over to another worker", mailbox)
            elif len(held) >= share and self.warming_up():
                log.log(level, "mailbox=%s deferred: other workers may be starting", mailbox)
            elif len(held) >= share:
                log.log(
                    level, "mailbox=%s skipped: fair share of %d mailbox(es) held", mailbox, share
                )
            elif claim(store, mailbox, self.terms, now, quiet=mailbox in self.deferred):
                self.deferred.discard(mailbox)
                return True
            self.deferred.add(mailbox)
            return False

    def keeps(self, store: Store, mailbox: str, now: datetime) -> bool:
        """Between batches: keep `mailbox` unless it is beyond our fair share (by name order,
        so the mailbox threads of one worker agree on which to hand over)."""
        held = store.leases_held(self.terms.worker, now)
        if mailbox in held[: self.fair_share(store, now)]:
            return True
        with self._lock:  # let a worker with room take it: no re-claim for one lease time
            self._yielded[mailbox] = now + self.terms.ttl
        return False

    def heartbeat(self, store: Store, now: datetime) -> list[str]:
        """Renew our presence; returns the refused mailboxes worth trying again now."""
        store.acquire_lease(
            self.terms.worker, self.terms.worker, now, self.terms.ttl, LeaseScope.WORKER
        )
        if len(store.leases_held(self.terms.worker, now)) >= self.fair_share(store, now):
            return []
        with self._lock:
            ready = []
            for mailbox in sorted(self.deferred):
                holder = store.lease_holder(mailbox, now)
                if holder is None or is_gone(holder):
                    ready.append(mailbox)
            self.deferred.difference_update(ready)
        return ready

    def leave(self, store: Store, now: datetime) -> None:
        """A clean stop: our presence ends now (the others count one worker fewer at once)."""
        try:
            store.release_lease(self.terms.worker, self.terms.worker, now, scope=LeaseScope.WORKER)
        except StoreError as err:
            log.warning("presence not released (expires anyway): %s", err)
