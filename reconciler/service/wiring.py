"""The composition root: builds the running pieces from validated Settings.

Everything that turns configuration into objects lives here (the rules compiled into a
classifier, the store opened and migrated, the actions built, the decide stage attached to the
cycle), so that the CLI stays a thin layer and tests can build the same pieces.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from reconciler.actions import Action, AddressBook, RealmGate, build_actions
from reconciler.analysis import Analysed, Stages, analyse_batch
from reconciler.classify.match import Classifier
from reconciler.classify.rulecache import load_rules_cached
from reconciler.frozenrecord import frozen_record
from reconciler.records import RawMessage
from reconciler.service.cycle import CycleContext
from reconciler.service.decisions import DecideContext, run_decisions
from reconciler.service.helper_pool import HelperPool
from reconciler.service.metrics import NoMetrics, start_metrics
from reconciler.service.probes import ProbeContext
from reconciler.settings import Settings
from reconciler.store import Store, open_database

__all__ = ["Service", "new_run_id", "open_service"]

# messages per chunk of a batch sent to the helpers: the poller analyses the chunks no helper
# has started by the time it has recorded the batch before (see helper_pool)
SHARE_CHUNK = 50


def new_run_id(now: datetime) -> str:
    """An id for one process run, recorded with its decisions (for `undo --decision-run`)."""
    return f"{now:%Y%m%dT%H%M%SZ}-{os.getpid()}"


@frozen_record
class Service:
    """An opened store with everything built around it."""

    settings: Settings
    store: Store
    actions: tuple[Action, ...]
    decide: DecideContext
    cycle: CycleContext
    run_id: str
    metrics: NoMetrics  # the Prometheus endpoint of the daemon, or a sink that does nothing


def _current_address(actions: tuple[Action, ...]) -> Callable[[str, int], str | None] | None:
    """The MediaWiki adapter, when enabled, tells a user's current address."""
    for action in actions:
        if isinstance(action, AddressBook):
            return action.current_address
    return None


def _unserved(actions: tuple[Action, ...]) -> Callable[[str], str | None] | None:
    """The MediaWiki adapter, when enabled, tells in which realms it cannot act."""
    for action in actions:
        if isinstance(action, RealmGate):
            return action.unserved
    return None


def _probes(settings: Settings) -> ProbeContext | None:
    """`[policy] probe`: the probes' settings (the loader checked the VERP keys)."""
    if not settings.policy.probe or settings.verp is None:
        return None
    return ProbeContext(
        settings=settings.probe,
        verp=settings.verp,
        days=settings.policy.probe_days,
        mailboxes=tuple(m.name for m in settings.mailboxes),
        show_address=settings.logging.log_addresses,
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


@contextmanager
def open_service(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = _utcnow,
    serve_metrics: bool = False,
    create: bool = True,
    rules_cache: Path | None = None,
    polls: bool = False,
) -> Iterator[Service]:
    """Open and migrate the store, build classifier, actions and stages; close at the end.

    `serve_metrics` (the daemon) starts the configured Prometheus endpoint.  `create=False`
    (the read-only commands) refuses a database that does not exist yet.  `rules_cache`: the
    user's cache of loaded rules (classify/rulecache.py; None: read from their files).
    `polls` (poll, run): the analysis helpers are started at once, forked before the store,
    the metrics endpoint or any mailbox is opened (see helper_pool); else when a backlog
    first needs them.
    """
    now = clock()
    ruleset = load_rules_cached(
        settings.rules.dir, use_shipped=settings.rules.use_shipped, directory=rules_cache
    )
    classifier = Classifier(ruleset.rules)
    with ExitStack() as opened:  # closed in reverse: metrics, store, helpers
        helpers: HelperPool[RawMessage, Analysed] | None = None
        if settings.daemon.analysis_processes:
            helpers = HelperPool[RawMessage, Analysed](
                settings.daemon.analysis_processes,
                analyse_batch,
                Stages(classifier, settings.verp),
                share=SHARE_CHUNK,
            )
            opened.callback(helpers.close)
            if polls:  # now: nothing is open yet that a fork would copy
                helpers.fork()
        store = open_database(settings.database.url, create=create)
        opened.callback(store.close)
        metrics = start_metrics(settings.metrics) if serve_metrics else NoMetrics()
        opened.callback(metrics.close)
        store.migrate(now)
        actions = tuple(
            build_actions(settings.actions, store, show_address=settings.logging.log_addresses)
        )
        decide = DecideContext(
            policy=settings.policy,
            actions=actions,
            webhook=settings.actions.webhook if "webhook" in settings.actions.enabled else None,
            show_address=settings.logging.log_addresses,
            current_address=_current_address(actions),
            unserved=_unserved(actions),
            probes=_probes(settings),
        )
        run_id = new_run_id(now)
        cycle = CycleContext(
            classifier=classifier,
            verp=settings.verp,
            max_attempts=settings.daemon.max_attempts,
            clock=clock,
            after_batch=lambda at: metrics.observe_decisions(
                run_decisions(store, decide, run_id, at)
            ),
            helpers=helpers,
            decide_every_cycle=decide.probes is not None,  # probes are judged in time
        )
        yield Service(settings, store, actions, decide, cycle, run_id, metrics)
