"""Store methods for worker leases: one worker drains a mailbox at a time (scale-out).

A mixin of `Store`.  A lease is held by a worker id (``host:pid`` by default) until an expiry;
a worker that dies loses it at the expiry and another takes over.  The same table holds three
scopes: ``mailbox`` (who drains a mailbox), ``stage`` (who runs a shared stage such as the
decide stage) and ``worker`` (a worker's own presence, renewed while it runs: how many workers
share the work).  Every method takes `now`; none reads the clock::

    if store.acquire_lease("bounces", worker, now, ttl):      # free, expired or ours
        ...one batch...
        store.renew_lease("bounces", worker, now, ttl)         # False: lost, stop
        store.release_lease("bounces", worker, now)
    store.lease_holder("bounces", now)                         # None when free
"""

from __future__ import annotations

from datetime import datetime, timedelta

from reconciler.records import LeaseScope
from reconciler.store.connection import wrap_errors
from reconciler.store.leases import acquire, held_by, holder, live, release, renew, take_over

__all__ = ["LeaseStore"]


class LeaseStore:
    """Leases on mailboxes (and stages, and worker presence) held in the database."""

    @wrap_errors("taking a lease")
    def acquire_lease(
        self,
        name: str,
        worker: str,
        now: datetime,
        ttl: timedelta,
        scope: LeaseScope = LeaseScope.MAILBOX,
    ) -> bool:
        """Take the lease on `name` until `now + ttl` if it is free, expired or already ours.

        Atomic on SQLite, PostgreSQL and MySQL: of two workers racing, exactly one gets True.
        """
        return acquire(scope.value, name, worker, now, ttl)

    @wrap_errors("renewing a lease")
    def renew_lease(
        self,
        name: str,
        worker: str,
        now: datetime,
        ttl: timedelta,
        scope: LeaseScope = LeaseScope.MAILBOX,
    ) -> bool:
        """Extend our lease to `now + ttl`; False when it is no longer ours (taken over)."""
        return renew(scope.value, name, worker, now, ttl)

    @wrap_errors("taking over a lease")
    def take_over_lease(
        self,
        name: str,
        holders: tuple[str, str],
        now: datetime,
        ttl: timedelta,
        scope: LeaseScope = LeaseScope.MAILBOX,
    ) -> bool:
        """`holders` = (previous, new): take the lease from `previous`, known to be dead,
        before its expiry.  Conditional on `previous` still holding it: True when taken."""
        return take_over(scope.value, name, holders, now, ttl)

    @wrap_errors("releasing a lease")
    def release_lease(
        self, name: str, worker: str, now: datetime, scope: LeaseScope = LeaseScope.MAILBOX
    ) -> bool:
        """Let our lease expire at `now` (the row keeps us as last holder); False if not ours."""
        return release(scope.value, name, worker, now)

    @wrap_errors("reading a lease")
    def lease_holder(
        self, name: str, now: datetime, scope: LeaseScope = LeaseScope.MAILBOX
    ) -> str | None:
        """The worker holding the lease on `name` at `now`; None when free or expired."""
        return holder(scope.value, name, now)

    @wrap_errors("listing a worker's leases")
    def leases_held(
        self, worker: str, now: datetime, scope: LeaseScope = LeaseScope.MAILBOX
    ) -> list[str]:
        """Names of the unexpired leases `worker` holds, sorted."""
        return held_by(scope.value, worker, now)

    @wrap_errors("listing leases")
    def live_leases(self, now: datetime, scope: LeaseScope = LeaseScope.MAILBOX) -> dict[str, str]:
        """Every unexpired lease of `scope` at `now`: name -> holder (``LeaseScope.WORKER``: the
        workers present, each holding its own id)."""
        return live(scope.value, now)
