"""Read-only operator commands: `report`, `user show` and `status`.

Each one parses, opens the service, gathers once (`reconciler.report.gather`) and prints a
table or, with `--json`, the documented JSON (docs/cli.md).  `status` exits 1 when a
configured mailbox has not completed a cycle within three daemon intervals (or never), so
monitoring can run it as a check.
"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.cli.common import NO_SECRETS, Secrets, now, parse_since, print_notice, settings
from reconciler.controls import dumps
from reconciler.errors import ActionError, ConfigError
from reconciler.records import UserSelector
from reconciler.report.console import make_console, working
from reconciler.report.gather import gather_health, gather_overview, gather_trail
from reconciler.report.overview import print_overview
from reconciler.report.shapes import health_json, overview_json, trail_json
from reconciler.report.trail import print_health, print_trail
from reconciler.service.digest import send_digest
from reconciler.service.wiring import open_service

__all__ = ["digest", "parse_selector", "report", "status", "user_show"]


def parse_selector(text: str) -> UserSelector:
    """ "42" (any realm), "wiki:42", ":42" (no realm) or an address."""
    target = text.strip()
    if "@" in target:
        return UserSelector(address=target.lower())
    realm, colon, user = target.rpartition(":")
    if not user.isdigit():
        raise ConfigError(f"user show: {text!r} is neither an address nor REALM:ID / ID")
    return UserSelector(realm=realm if colon else None, user_id=int(user))


def _print_json(shape: dict[str, Any]) -> None:
    print(dumps(shape, indent=2))


def report(args: argparse.Namespace) -> int:
    loaded = settings(args, secrets=NO_SECRETS)
    moment = now()
    since = parse_since(args.since, moment)
    names = {m.name for m in loaded.mailboxes}
    if args.mailbox is not None and names and args.mailbox not in names:
        raise ConfigError(f"--mailbox: no mailbox named {args.mailbox!r} is configured")
    with (
        open_service(loaded, create=False) as service,
        working(make_console(stderr=True), "reading"),
    ):
        overview = gather_overview(service.store, loaded.policy, since, moment, args.mailbox)
    if args.json:
        _print_json(overview_json(overview))
    else:
        print_overview(make_console(), overview)
    return 0


def user_show(args: argparse.Namespace) -> int:
    loaded = settings(args, secrets=NO_SECRETS)
    selector = parse_selector(args.target)
    with (
        open_service(loaded, create=False) as service,
        working(make_console(stderr=True), "reading"),
    ):
        trail = gather_trail(service.store, selector)
    if args.json:
        _print_json(trail_json(trail))
    else:
        print_trail(make_console(), trail)
    return 0 if trail.events or trail.decisions or trail.suppressions else 1


def status(args: argparse.Namespace) -> int:
    loaded = settings(args, secrets=NO_SECRETS if args.no_imap else {Secrets.MAILBOX})
    with (
        open_service(loaded, create=False) as service,
        working(make_console(stderr=True), "checking"),
    ):
        health = gather_health(service.store, loaded, now(), ask_imap=not args.no_imap)
    if args.json:
        _print_json(health_json(health))
    else:
        print_health(make_console(), health)
    return 0 if health.ok else 1


def digest(args: argparse.Namespace) -> int:
    """Exit 0 after sending (or when nothing was due), 1 when the SMTP server failed."""
    loaded = settings(args, secrets={Secrets.DIGEST})
    if not loaded.digest.enabled:
        raise ConfigError("digest: [digest] enabled = false in the configuration")
    with open_service(loaded, create=False) as service:
        try:
            reported = send_digest(service.store, loaded.digest, now(), force=args.force)
        except ActionError as err:
            print_notice(f"digest: {err}")
            return 1
    if args.json:
        _print_json({"version": 1, "reported": reported})
    else:
        print(f"digest: {reported} unmatched/quarantined message(s) reported")
    return 0
