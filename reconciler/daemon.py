"""The daemon: APScheduler 3 BlockingScheduler, one interval job per mailbox (STYLE 2.12).

Each job runs one cycle over its mailbox (`max_instances=1`, `coalesce=True`, a misfire grace
time), plus a daily maintenance job that prunes old evidence.  SIGTERM or SIGINT sets the stop
flag: the running cycle finishes its current batch (committed and moved), and the process
exits 0.  apscheduler is imported here and nowhere else.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from reconciler.config import DaemonSettings, MailboxSettings
from reconciler.cycle import CycleContext, open_source, poll_mailbox
from reconciler.errors import ReconcilerError
from reconciler.store import Store

__all__ = ["DaemonPlan", "run_daemon", "watch_mailbox"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DaemonPlan:
    """Everything the daemon runs: mailboxes, timing, the store, and how to read the mode."""

    mailboxes: tuple[MailboxSettings, ...]
    daemon: DaemonSettings
    retention_days: int
    store: Store
    ctx: CycleContext
    mode: Callable[[], str]  # read at each cycle: a mode change needs no restart


def _poll(plan: DaemonPlan, folders: MailboxSettings) -> None:
    """One cycle over one mailbox; the job boundary catches and logs every failure."""
    if plan.ctx.stop.is_set():
        return
    try:
        log.info("cycle start mailbox=%s mode=%s", folders.name, plan.mode())
        with open_source(folders) as source:
            report = poll_mailbox(source, plan.store, folders, plan.ctx)
        log.info("cycle %s", report.summary())
    except ReconcilerError as err:
        log.error("mailbox=%s cycle failed: %s", folders.name, err)
    except Exception:  # the cycle boundary: the daemon outlives any one failure
        log.exception("mailbox=%s cycle failed unexpectedly", folders.name)


def _maintain(plan: DaemonPlan) -> None:
    before = plan.ctx.clock() - timedelta(days=plan.retention_days)
    try:
        pruned = plan.store.prune_evidence(before)
        log.info("maintenance: pruned %d events recorded before %s", pruned, before.date())
    except ReconcilerError as err:
        log.error("maintenance failed: %s", err)


def _schedule(plan: DaemonPlan, scheduler: BlockingScheduler) -> None:
    start = datetime.now(UTC)
    for folders in plan.mailboxes:
        scheduler.add_job(
            _poll,
            IntervalTrigger(seconds=plan.daemon.interval_seconds, timezone=UTC),
            args=(plan, folders),
            id=f"poll:{folders.name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=plan.daemon.misfire_grace_seconds,
            next_run_time=start,
        )
    scheduler.add_job(
        _maintain,
        IntervalTrigger(days=1, timezone=UTC),
        args=(plan,),
        id="maintenance",
        max_instances=1,
        coalesce=True,
        next_run_time=start + timedelta(minutes=1),
    )


def watch_mailbox(
    folders: MailboxSettings, stop: threading.Event, wake: Callable[[], None], wait: float
) -> None:
    """IMAP IDLE on a read-only connection; `wake()` when new mail arrives, until `stop`.

    Connection failures are logged and retried with growing pauses (the poll job still runs
    at its interval meanwhile, so IDLE only ever makes the daemon faster, never slower).
    """
    pause = 1.0
    while not stop.is_set():
        try:
            with open_source(folders, read_only=True) as source:
                pause = 1.0
                while not stop.is_set():
                    if source.wait_for_new(wait):
                        log.debug("mailbox=%s IDLE: new mail", folders.name)
                        wake()
        except ReconcilerError as err:
            log.warning("mailbox=%s IDLE watcher: %s; retrying in %.0f s", folders.name, err, pause)
            stop.wait(pause)
            pause = min(pause * 2, 300.0)


def _start_watchers(plan: DaemonPlan, scheduler: BlockingScheduler) -> None:
    wait = float(min(plan.daemon.interval_seconds, 300))  # re-issue IDLE well before 29 min
    for folders in plan.mailboxes:
        job_id = f"poll:{folders.name}"

        def wake(job_id: str = job_id) -> None:
            scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))

        threading.Thread(
            target=watch_mailbox,
            args=(folders, plan.ctx.stop, wake, wait),
            name=f"idle:{folders.name}",
            daemon=True,
        ).start()


def run_daemon(plan: DaemonPlan) -> int:
    """Run until SIGTERM or SIGINT; returns the exit code (0 after a clean stop)."""
    scheduler = BlockingScheduler(timezone=UTC)
    _schedule(plan, scheduler)

    def stop(signum: int, _frame: FrameType | None) -> None:
        if plan.ctx.stop.is_set():
            return
        log.info("signal %s: finishing the current batch, then stopping", signum)
        plan.ctx.stop.set()
        # shutdown(wait=True) waits for the running cycle; from a thread, so that the main
        # thread (blocked in the scheduler loop) is woken only once the cycle has finished.
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    if plan.daemon.idle:
        _start_watchers(plan, scheduler)
    log.info(
        "daemon start mailboxes=%d interval=%ss mode=%s",
        len(plan.mailboxes),
        plan.daemon.interval_seconds,
        plan.mode(),
    )
    try:
        scheduler.start()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("daemon stopped")
    return 0
