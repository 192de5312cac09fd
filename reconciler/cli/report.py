"""Read-only operator commands: `report`, `user show` and `status`.

Each one parses, opens the service, gathers once (`reconciler.report.gather`) and prints a
table or, with `--json`, the documented JSON (docs/cli.md).  `status` exits 1 when a
configured mailbox has not completed a cycle within three daemon intervals (or never), so
monitoring can run it as a check.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from reconciler.cli.policy import parse_since
from reconciler.config import Settings
from reconciler.controls import dumps
from reconciler.errors import ActionError, ConfigError
from reconciler.records import UserSelector
from reconciler.report.console import make_console, print_notice, working
from reconciler.report.gather import gather_health, gather_overview, gather_trail
from reconciler.report.overview import print_overview
from reconciler.report.shapes import health_json, overview_json, trail_json
from reconciler.report.trail import print_health, print_trail
from reconciler.service.digest import send_digest
from reconciler.service.wiring import open_service

__all__ = ["add_report_commands", "parse_selector"]


def add_report_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="counts, trends, closest users, decisions, mode, breaker")
    p.add_argument("--since", default="7d", help="ISO time or 30m, 24h, 7d, 2w (default: 7d)")
    p.add_argument("--mailbox", help="events and messages of this mailbox only")
    p.add_argument("--json", action="store_true", help="one JSON object (see docs/cli.md)")
    p.set_defaults(policy_func=_cmd_report)

    p = sub.add_parser("user", help="one user's evidence trail")
    user_sub = p.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    show = user_sub.add_parser("show", help="events, decisions, actions and undos of a user")
    show.add_argument("target", help="a user as ID or REALM:ID, or an address")
    show.add_argument("--json", action="store_true", help="one JSON object (see docs/cli.md)")
    show.set_defaults(policy_func=_cmd_user_show)

    p = sub.add_parser("status", help="health for monitoring: exit 1 when a mailbox is stale")
    p.add_argument("--json", action="store_true", help="one JSON object (see docs/cli.md)")
    p.add_argument("--no-imap", action="store_true",
                   help="do not ask the IMAP servers for their backlog")  # fmt: skip
    p.set_defaults(policy_func=_cmd_status)

    p = sub.add_parser("digest", help="send the operators' digest mail now if it is due")
    p.add_argument("--force", action="store_true", help="send even if not due yet")
    p.set_defaults(policy_func=_cmd_digest)


def _now() -> datetime:
    return datetime.now(UTC)


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


def _cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    now = _now()
    since = parse_since(args.since, now)
    names = {m.name for m in settings.mailboxes}
    if args.mailbox is not None and names and args.mailbox not in names:
        raise ConfigError(f"--mailbox: no mailbox named {args.mailbox!r} is configured")
    with open_service(settings) as service, working(make_console(stderr=True), "reading"):
        overview = gather_overview(service.store, settings.policy, since, now, args.mailbox)
    if args.json:
        _print_json(overview_json(overview))
    else:
        print_overview(make_console(), overview)
    return 0


def _cmd_user_show(args: argparse.Namespace, settings: Settings) -> int:
    selector = parse_selector(args.target)
    with open_service(settings) as service, working(make_console(stderr=True), "reading"):
        trail = gather_trail(service.store, selector)
    if args.json:
        _print_json(trail_json(trail))
    else:
        print_trail(make_console(), trail)
    return 0 if trail.events or trail.decisions or trail.suppressions else 1


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    with open_service(settings) as service, working(make_console(stderr=True), "checking"):
        health = gather_health(service.store, settings, _now(), ask_imap=not args.no_imap)
    if args.json:
        _print_json(health_json(health))
    else:
        print_health(make_console(), health)
    return 0 if health.ok else 1


def _cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 after sending (or when nothing was due), 1 when the SMTP server failed."""
    if not settings.digest.enabled:
        raise ConfigError("digest: [digest] enabled = false in the configuration")
    with open_service(settings) as service:
        try:
            reported = send_digest(service.store, settings.digest, _now(), force=args.force)
        except ActionError as err:
            print_notice(f"digest: {err}")
            return 1
    print(f"digest: {reported} unmatched/quarantined message(s) reported")
    return 0
