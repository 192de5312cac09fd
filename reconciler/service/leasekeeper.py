"""Keeping leases while one long step runs: a helper thread renews them (used by `leasing`).

A decide run may take longer than a lease (a slow MediaWiki, commands that run into their
timeout): renewed only between batches, its leases would expire under it and another worker
would run the same stage at the same time.  `LeaseKeeper` renews the leases it is given every
`every` seconds (a third of the lease time by default) until the step is done, then closes its
thread's database connection.  A lease found lost is logged once and no longer renewed; acting
stays idempotent per decision in any case (see `reconciler.actions.run`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING

from reconciler.errors import StoreError
from reconciler.records import LeaseScope, LeaseTerms

if TYPE_CHECKING:
    from reconciler.store import Store

__all__ = ["LeaseKeeper"]

log = logging.getLogger(__name__)


class LeaseKeeper:
    """A context manager: renews `leases` ((name, scope) pairs held by `terms.worker`) from a
    helper thread while the `with` block runs."""

    def __init__(
        self,
        store: Store,
        terms: LeaseTerms,
        leases: Sequence[tuple[str, LeaseScope]],
        clock: Callable[[], datetime],
        every: float | None = None,
    ) -> None:
        self._store, self._terms, self._clock = store, terms, clock
        self._leases = list(leases)
        self._every = terms.ttl.total_seconds() / 3 if every is None else every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while self._leases and not self._done.wait(self._every):
                self._renew()
        finally:
            try:
                self._store.release_connection()
            except StoreError as failure:
                log.warning("lease keeper: closing its connection failed: %s", failure)

    def _renew(self) -> None:
        worker, ttl = self._terms.worker, self._terms.ttl
        for name, scope in list(self._leases):
            try:
                if not self._store.renew_lease(name, worker, self._clock(), ttl, scope=scope):
                    log.warning("%s %s: lease lost while a step was running", scope, name)
                    self._leases.remove((name, scope))
            except StoreError as failure:  # the next turn tries again
                log.warning("%s %s: lease not renewed: %s", scope, name, failure)
