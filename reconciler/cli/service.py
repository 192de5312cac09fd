"""`poll --once` and `dry-run`: one cycle, or its read-only preview (the daemon is `daemon`)."""

from __future__ import annotations

import argparse
import logging
import os

from reconciler.classify.rulecache import cache_dir
from reconciler.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, Secrets, print_notice, settings
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.logs import configure_logging
from reconciler.service.cycle import CycleContext, open_source, run_once
from reconciler.service.leasing import lease_terms
from reconciler.service.wiring import open_service
from reconciler.settings import Settings

# What one command alone uses is imported when it runs (issue 16): the preview of dry-run,
# the JSON shapes of --json, the tables of a poll when it prints them.

__all__ = ["dry_run", "needs_mailboxes", "poll", "setup_logging"]


def setup_logging(loaded: Settings) -> None:
    configure_logging(loaded.logging)
    for warning in loaded.warnings:
        logging.getLogger("reconciler").warning("%s", warning)


def _cycle_context(loaded: Settings) -> CycleContext:
    """For the read-only dry run: the same analysis as a cycle, no store, no decisions."""
    from reconciler.classify.match import Classifier
    from reconciler.classify.rules import load_rules

    ruleset = load_rules(loaded.rules.dir, use_shipped=loaded.rules.use_shipped)
    return CycleContext(classifier=Classifier(ruleset.rules), verp=loaded.verp)


def needs_mailboxes(loaded: Settings, command: str) -> None:
    """A command that reads mailboxes refuses a configuration without any."""
    if not loaded.mailboxes:
        raise ConfigError(f"{loaded.source_path}: no [[mailbox]] configured: {command} reads none")


def poll(args: argparse.Namespace) -> int:
    if not args.once:
        print_notice("poll: add --once to run one cycle; the daemon is `reconciler run`")
        return EXIT_USAGE
    loaded = settings(args, warn=False)
    needs_mailboxes(loaded, "poll")
    setup_logging(loaded)
    # the rules from the user's cache, as classify reads them: some 55 ms of every poll's start
    with open_service(loaded, rules_cache=cache_dir(os.environ), polls=True) as service:
        mode = service.store.get_mode().mode
        lease = lease_terms(loaded.daemon)  # the configured worker id and lease time
        result = run_once(loaded.mailboxes, service.store, service.cycle, mode=mode, lease=lease)
    if args.json:
        from reconciler.controls import dumps
        from reconciler.report.opshapes import run_json

        print(dumps(run_json(result), indent=2))
    else:
        from reconciler.report.console import make_console
        from reconciler.report.ops import print_run

        print_run(make_console(), result)
    return EXIT_OK if result.ok else EXIT_FAIL


def dry_run(args: argparse.Namespace) -> int:
    from reconciler.controls import dumps
    from reconciler.report.console import make_console, progress
    from reconciler.report.ops import print_previews
    from reconciler.report.opshapes import previews_json
    from reconciler.service.dryrun import preview_mailbox

    loaded = settings(args, warn=False, secrets={Secrets.MAILBOX, Secrets.VERP})
    needs_mailboxes(loaded, "dry-run")
    setup_logging(loaded)
    ctx = _cycle_context(loaded)
    err_console = make_console(stderr=True)
    previews, errors = [], {}
    for folders in loaded.mailboxes:
        try:
            with open_source(folders, read_only=True) as source:
                uids = source.uids_after(0)
                with progress(err_console, len(uids), f"dry run {folders.name}") as advance:
                    previews.append(preview_mailbox(source, folders, ctx, uids, advance))
        except ReconcilerError as err:
            print_notice(f"mailbox {folders.name}: {err}")
            errors[folders.name] = str(err)
    if args.json:
        print(dumps(previews_json(previews, errors), indent=2))
    else:
        print_previews(make_console(), previews)
    return EXIT_FAIL if errors else EXIT_OK
