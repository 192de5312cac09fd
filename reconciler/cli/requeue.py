"""`reconciler requeue`: move quarantined or unmatched messages back to be analysed again.

It previews what it found (read-only), asks for a confirmation (`--yes` for scripts) and then
moves the messages back to each mailbox's drained folder; the next cycle analyses them once
more with the rules and keys in force then.  `--dry-run` only previews.
"""

from __future__ import annotations

import argparse

from reconciler.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    Secrets,
    actor,
    confirm,
    now,
    parse_since,
    settings,
)
from reconciler.controls import dumps
from reconciler.errors import ConfigError
from reconciler.report.console import make_console, working
from reconciler.report.requeue import print_requeue, requeue_json
from reconciler.service.requeue import find_held, requeue
from reconciler.service.wiring import open_service

__all__ = ["requeue_command"]


def requeue_command(args: argparse.Namespace) -> int:
    loaded = settings(args, secrets={Secrets.MAILBOX})
    if not loaded.mailboxes:
        raise ConfigError("requeue: no [[mailbox]] is configured")
    if args.json and not (args.yes or args.dry_run):
        raise ConfigError("requeue --json asks no question: add --yes, or --dry-run")
    moment = now()
    since = parse_since(args.since, moment) if args.since else None
    console = make_console()
    with open_service(loaded) as service:
        with working(make_console(stderr=True), f"reading the {args.folder} folders"):
            plan = find_held(loaded.mailboxes, service.store, args.folder, since)
        if not args.json:
            print_requeue(console, plan)
        done = None
        if plan.messages and not args.dry_run:
            question = f"Move {len(plan.messages)} message(s) back to be analysed again?"
            if not confirm(question, args):
                console.print("nothing changed")
                return EXIT_FAIL
            done = requeue(loaded.mailboxes, service.store, plan, actor(args), now())
    if args.json:
        print(dumps(requeue_json(plan, done, args.dry_run), indent=2))
    elif done is not None:
        console.print(f"requeued: {done.total} message(s); the next cycle analyses them")
        for name, error in sorted(done.errors.items()):
            console.print(f"mailbox {name}: not moved: {error}")
    elif args.dry_run:
        console.print("dry run: nothing moved")
    else:
        console.print("nothing to requeue")
    failed = plan.errors or (done is not None and done.errors)
    return EXIT_FAIL if failed else EXIT_OK
