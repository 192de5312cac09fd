"""`run`: the daemon (APScheduler is imported for this command only)."""

from __future__ import annotations

import argparse

from reconciler.cli.common import settings
from reconciler.cli.service import needs_mailboxes, setup_logging
from reconciler.service.daemon import DaemonPlan, run_daemon
from reconciler.service.wiring import open_service

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    loaded = settings(args, warn=False)
    needs_mailboxes(loaded, "run")
    setup_logging(loaded)
    with open_service(loaded, serve_metrics=True, polls=True) as service:
        store = service.store
        plan = DaemonPlan(
            mailboxes=loaded.mailboxes,
            daemon=loaded.daemon,
            retention_days=loaded.database.retention_days,
            store=store,
            ctx=service.cycle,
            mode=lambda: store.get_mode().mode,
            metrics=service.metrics,
            digest=loaded.digest,
        )
        return run_daemon(plan)
