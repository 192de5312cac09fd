"""`poll --once` and `dry-run`: one cycle, or its read-only preview (the daemon is `daemon`)."""

from __future__ import annotations

import argparse
import logging

from reconciler.classify.match import Classifier
from reconciler.classify.rules import load_rules
from reconciler.cli.common import EXIT_FAIL, EXIT_OK, print_notice, settings
from reconciler.errors import ReconcilerError
from reconciler.logs import configure_logging
from reconciler.report.console import make_console, progress
from reconciler.report.ops import print_previews, print_run
from reconciler.service.cycle import CycleContext, open_source, run_once
from reconciler.service.dryrun import preview_mailbox
from reconciler.service.leasing import lease_terms
from reconciler.service.wiring import open_service
from reconciler.settings import Settings

__all__ = ["dry_run", "poll", "setup_logging"]


def setup_logging(loaded: Settings) -> None:
    configure_logging(loaded.logging)
    for warning in loaded.warnings:
        logging.getLogger("reconciler").warning("%s", warning)


def _cycle_context(loaded: Settings) -> CycleContext:
    """For the read-only dry run: the same analysis as a cycle, no store, no decisions."""
    ruleset = load_rules(loaded.rules.dir, use_shipped=loaded.rules.use_shipped)
    return CycleContext(classifier=Classifier(ruleset.rules), verp=loaded.verp)


def poll(args: argparse.Namespace) -> int:
    loaded = settings(args, warn=False)
    setup_logging(loaded)
    with open_service(loaded) as service:
        mode = service.store.get_mode().mode
        lease = lease_terms(loaded.daemon)  # the configured worker id and lease time
        result = run_once(loaded.mailboxes, service.store, service.cycle, mode=mode, lease=lease)
    print_run(make_console(), result)
    return EXIT_OK if result.ok else EXIT_FAIL


def dry_run(args: argparse.Namespace) -> int:
    loaded = settings(args, warn=False)
    setup_logging(loaded)
    ctx = _cycle_context(loaded)
    err_console = make_console(stderr=True)
    previews, failed = [], 0
    for folders in loaded.mailboxes:
        try:
            with open_source(folders, read_only=True) as source:
                uids = source.uids_after(0)
                with progress(err_console, len(uids), f"dry run {folders.name}") as advance:
                    previews.append(preview_mailbox(source, folders, ctx, uids, advance))
        except ReconcilerError as err:
            print_notice(f"mailbox {folders.name}: {err}")
            failed += 1
    print_previews(make_console(), previews)
    return EXIT_FAIL if failed else EXIT_OK
