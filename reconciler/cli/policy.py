"""Operator commands of the decision layer: `mode`, `suppressions`, `reinstate`, `undo`.

Each one parses, opens the service and makes its call.  Changes are previewed first and need
a confirmation (`--yes` for scripts); every change is audited with who and why.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from reconciler.actions import apply_pending, reinstate, undo
from reconciler.config import Settings
from reconciler.errors import ConfigError
from reconciler.records import Mode, Reason, StoredDecision, UndoFilter
from reconciler.report.console import make_console, progress
from reconciler.report.ops import print_decisions, print_mode, print_suppressions
from reconciler.service.wiring import open_service

__all__ = ["add_policy_commands", "parse_since"]

Loader = Callable[[argparse.Namespace], Settings]
_RELATIVE = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def add_policy_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("mode", help="show or change the mode (log-only / enforce)")
    p.add_argument("target", nargs="?", choices=[Mode.ENFORCE.value, Mode.LOG_ONLY.value])
    p.add_argument("--reason", help="why (required to change the mode; audited)")
    p.add_argument("--by", help="who (default: the login name)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--apply-pending", action="store_true",
                   help="also apply the pending 'would' decisions now")  # fmt: skip
    p.set_defaults(policy_func=_cmd_mode)

    p = sub.add_parser("suppressions", help="the suppression list")
    p.add_argument("action", choices=["list", "export", "check"])
    p.add_argument("address", nargs="?", help="for check: exit 0 when suppressed, 1 when not")
    p.add_argument("--json", action="store_true", help="JSON output (export is always JSON)")
    p.set_defaults(policy_func=_cmd_suppressions)

    p = sub.add_parser("reinstate", help="undo the actions against a user or an address")
    p.add_argument("target", help="an address, or a user as REALM:ID or ID")
    _change_options(p)
    p.set_defaults(policy_func=_cmd_reinstate)

    p = sub.add_parser("undo", help="batch undo of applied decisions (preview first)")
    p.add_argument("--since", required=True, help="applied since: ISO time or 30m, 24h, 7d, 2w")
    p.add_argument("--rule", help="policy rule (hard:3d/14d, hard, soft, complaint) or rule id")
    p.add_argument("--reason", dest="bounce_reason", help="a bounce reason, e.g. userunknown")
    p.add_argument("--decision-run", help="only decisions of this run id")
    _change_options(p, why_flag="--note")
    p.set_defaults(policy_func=_cmd_undo)


def _change_options(p: argparse.ArgumentParser, why_flag: str = "--reason") -> None:
    p.add_argument(why_flag, dest="why", required=True, help="why (audited)")
    p.add_argument("--by", help="who (default: the login name)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _actor(args: argparse.Namespace) -> str:
    name = args.by or os.environ.get("SUDO_USER") or getpass.getuser()
    return f"operator:{name}"


def _confirm(question: str, args: argparse.Namespace) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigError("confirmation needed and no terminal to ask on: add --yes")
    return input(f"{question} [type yes]: ").strip().lower() == "yes"


def _now() -> datetime:
    return datetime.now(UTC)


def _cmd_mode(args: argparse.Namespace, settings: Settings) -> int:
    console = make_console()
    with open_service(settings) as service:
        store = service.store
        if args.target is None:
            print_mode(console, store.get_mode(), store.audit_log(limit=5))
            return 0
        if not args.reason:
            raise ConfigError("mode: --reason is required to change the mode")
        target = Mode(args.target)
        if target is Mode.ENFORCE:
            pending = store.pending_decisions()
            note = ("applied now (--apply-pending)" if args.apply_pending
                    else "left as they are (add --apply-pending to apply them)")  # fmt: skip
            print_decisions(console, pending, f"Pending 'would' decisions: {note}")
            console.print("From the next cycle on, new decisions are applied.")
        if not _confirm(f"Switch to {target.value}?", args):
            console.print("nothing changed")
            return 1
        state = store.set_mode(target, _actor(args), args.reason, _now())
        if target is Mode.ENFORCE and args.apply_pending:
            done = apply_pending(store, service.actions, _actor(args), _now())
            console.print(f"applied {len(done)} pending decision(s)")
        print_mode(console, state, [])
    return 0


def _cmd_suppressions(args: argparse.Namespace, settings: Settings) -> int:
    with open_service(settings) as service:
        if args.action == "check":
            if not args.address:
                raise ConfigError("suppressions check: give the ADDRESS to check")
            found = service.store.check_suppression(args.address)
            print("suppressed" if found else "not suppressed")
            return 0 if found else 1
        entries = service.store.suppressions()
    if args.action == "export" or args.json:
        rows = [{**asdict(e), "since": e.since.isoformat()} for e in entries]
        print(json.dumps(rows, indent=2 if args.action == "export" else None))
    else:
        print_suppressions(make_console(), entries)
    return 0


def _target_filter(target: str) -> UndoFilter:
    if "@" in target:
        return UndoFilter(address=target.strip().lower())
    realm, _, user = target.rpartition(":")
    if not user.isdigit():
        raise ConfigError(f"reinstate: {target!r} is neither an address nor REALM:ID / ID")
    return UndoFilter(realm=realm or None, user_id=int(user))


def _undo_with_preview(
    args: argparse.Namespace, settings: Settings, wanted: UndoFilter, what: str
) -> int:
    console = make_console()
    with open_service(settings) as service:
        found: list[StoredDecision] = service.store.applied_decisions(wanted)
        print_decisions(console, found, f"Applied decisions that {what} would undo")
        is_address = what == "reinstate" and wanted.address
        if not found and not is_address:
            console.print("nothing to undo")
            return 0
        if not _confirm(f"{what.capitalize()} these?", args):
            console.print("nothing changed")
            return 1
        run = reinstate if what == "reinstate" else undo
        with progress(make_console(stderr=True), len(found), what) as advance:
            done = run(
                service.store,
                service.actions,
                wanted,
                (_actor(args), args.why),
                _now(),
                advance=advance,
            )
        console.print(f"undone: {len(done)} decision(s)")
    return 0


def _cmd_reinstate(args: argparse.Namespace, settings: Settings) -> int:
    return _undo_with_preview(args, settings, _target_filter(args.target), "reinstate")


def parse_since(text: str, now: datetime) -> datetime:
    """`--since`: an ISO time (UTC if no zone) or a span back from now: 30m, 24h, 7d, 2w."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        amount, unit = int(relative.group(1)), _UNITS[relative.group(2)]
        return now - timedelta(**{unit: amount})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise ConfigError(f"--since: {text!r} is not an ISO time or 30m / 24h / 7d / 2w") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _cmd_undo(args: argparse.Namespace, settings: Settings) -> int:
    try:
        reason = Reason(args.bounce_reason) if args.bounce_reason else None
    except ValueError as err:
        raise ConfigError(f"--reason: unknown bounce reason {args.bounce_reason!r}") from err
    wanted = UndoFilter(
        since=parse_since(args.since, _now()),
        rule=args.rule,
        reason=reason,
        run_id=args.decision_run,
    )
    return _undo_with_preview(args, settings, wanted, "undo")
