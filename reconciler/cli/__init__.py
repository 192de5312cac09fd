"""Command line: argument parsing, then one call into the module that does the work (STYLE 2.13).

Exit codes: 0 success, 1 runtime failure (or a negative verdict where a command says so),
2 usage or configuration error.

One dispatch convention: every command names its handler, ``"module:function"`` of this
package, and the handler takes the parsed arguments and returns the exit code.  The handlers
are grouped by what they work on: `classify` (classify, explain, rules check), `verp`,
`config` (check-config), `service` (poll, dry-run), `requeue`, `daemon` (run), `policy` (mode,
suppressions, reinstate, undo) and `report` (report, user show, status, digest).  A handler's
module, and with it the libraries the command needs (the parser and the rules, rich, peewee,
imapclient, apscheduler), is imported only when that command runs: this module imports none.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from reconciler import __version__
from reconciler.cli.common import EXIT_FAIL, EXIT_USAGE, print_notice
from reconciler.errors import ConfigError, ReconcilerError, RuleError, VerpError
from reconciler.logs import guard_last_resort
from reconciler.records import Mode
from reconciler.settings import VerpFormat

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]
_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
_MODES = [Mode.ENFORCE.value, Mode.LOG_ONLY.value]  # PAUSED is the breaker's alone


def _command(sub: _Commands, name: str, handler: str, *, help: str) -> argparse.ArgumentParser:
    """A subcommand run by `handler` ("module:function" of reconciler.cli)."""
    parser = sub.add_parser(name, help=help)
    parser.set_defaults(handler=handler)
    return parser


def _add_stage_commands(sub: _Commands) -> None:
    p = _command(sub, "classify", "classify:classify",
                 help="classify bounce messages from files, dirs, mbox, Maildir")  # fmt: skip
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--json", action="store_true", help="JSON Lines, one object per recipient")
    p.add_argument("--rules", type=Path, help="operator rules directory (before shipped rules)")
    p.add_argument("--now", type=int, help="unix time for VERP checks (default: now)")

    p = _command(sub, "explain", "classify:explain",
                 help="show the parsed fields and the rule chain of a message")  # fmt: skip
    p.add_argument("file", type=Path)
    p.add_argument("--rules", type=Path, help="operator rules directory (before shipped rules)")
    p.add_argument("--now", type=int, help="unix time for VERP checks (default: now)")

    p = sub.add_parser("rules", help="rule files")
    rules_sub = p.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = _command(rules_sub, "check", "classify:rules_check",
                     help="validate rule files (a dir, or those in force)")  # fmt: skip
    check.add_argument("dir", nargs="?", type=Path)


def _add_service_commands(sub: _Commands) -> None:
    p = _command(sub, "poll", "service:poll",
                 help="poll every mailbox (exactly one cycle with --once)")  # fmt: skip
    p.add_argument("--once", action="store_true", required=True, help="one cycle, then exit")
    _command(sub, "run", "daemon:run", help="run the daemon: poll every mailbox at its interval")
    _command(sub, "dry-run", "service:dry_run",
             help="read-only preview of what the next cycle would record")  # fmt: skip
    p = _command(sub, "requeue", "requeue:requeue_command",
                 help="move quarantined or unmatched mail back to be analysed again")  # fmt: skip
    p.add_argument("--folder", required=True, choices=["quarantine", "unmatched"])
    p.add_argument("--since", help="set aside since: ISO time or 30m, 24h, 7d, 2w (default: all)")
    p.add_argument("--dry-run", action="store_true", help="preview only: move nothing")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--by", help="who (default: the login name; audited)")
    p.add_argument("--json", action="store_true", help="one JSON object (see docs/cli.md)")


def _add_policy_commands(sub: _Commands) -> None:
    p = _command(sub, "mode", "policy:mode", help="show or change the mode (log-only / enforce)")
    p.add_argument("target", nargs="?", choices=_MODES)
    p.add_argument("--reason", help="why (required to change the mode; audited)")
    p.add_argument("--by", help="who (default: the login name)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--apply-pending", action="store_true",
                   help="also apply the pending 'would' decisions now")  # fmt: skip

    p = _command(sub, "suppressions", "policy:suppressions", help="the suppression list")
    p.add_argument("action", choices=["list", "export", "check"])
    p.add_argument("address", nargs="?", help="for check: exit 0 when suppressed, 1 when not")
    p.add_argument("--json", action="store_true", help="JSON output (export is always JSON)")

    p = _command(sub, "reinstate", "policy:reinstate",
                 help="undo the actions against a user or an address")  # fmt: skip
    p.add_argument("target", help="an address, or a user as REALM:ID or ID")
    _change_options(p)

    p = _command(sub, "undo", "policy:undo",
                 help="batch undo of applied decisions (preview first)")  # fmt: skip
    p.add_argument("--since", required=True, help="applied since: ISO time or 30m, 24h, 7d, 2w")
    p.add_argument("--rule", help="policy rule (hard:3d/14d, hard, soft, complaint) or rule id")
    p.add_argument("--reason", dest="bounce_reason", help="a bounce reason, e.g. userunknown")
    p.add_argument("--decision-run", help="only decisions of this run id")
    _change_options(p, why_flag="--note")


def _change_options(p: argparse.ArgumentParser, why_flag: str = "--reason") -> None:
    p.add_argument(why_flag, dest="why", required=True, help="why (audited)")
    p.add_argument("--by", help="who (default: the login name)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _add_report_commands(sub: _Commands) -> None:
    p = _command(sub, "report", "report:report",
                 help="counts, trends, closest users, decisions, mode, breaker")  # fmt: skip
    p.add_argument("--since", default="7d", help="ISO time or 30m, 24h, 7d, 2w (default: 7d)")
    p.add_argument("--mailbox", help="events and messages of this mailbox only")
    p.add_argument("--json", action="store_true", help="one JSON object (see docs/cli.md)")

    p = sub.add_parser("user", help="one user's evidence trail")
    user_sub = p.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    show = _command(user_sub, "show", "report:user_show",
                    help="events, decisions, actions and undos of a user")  # fmt: skip
    show.add_argument("target", help="a user as ID or REALM:ID, or an address")
    show.add_argument("--json", action="store_true", help="one JSON object (see docs/cli.md)")

    p = _command(sub, "status", "report:status",
                 help="health for monitoring: exit 1 when a mailbox is stale")  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON object (see docs/cli.md)")
    p.add_argument("--no-imap", action="store_true",
                   help="do not ask the IMAP servers for their backlog")  # fmt: skip

    p = _command(sub, "digest", "report:digest",
                 help="send the operators' digest mail now if it is due")  # fmt: skip
    p.add_argument("--force", action="store_true", help="send even if not due yet")


def _add_verp_commands(sub: _Commands) -> None:
    p = sub.add_parser("verp", help="make or check VERP return paths")
    verp_sub = p.add_subparsers(dest="verp_command", required=True, metavar="ACTION")
    make = _command(verp_sub, "make", "verp:make", help="print a signed return path for a user")
    make.add_argument("--user", type=int, required=True, help="user id (0 .. 2**63-1)")
    bind = make.add_mutually_exclusive_group()
    bind.add_argument("--address", help="the recipient's address, bound into the token")
    bind.add_argument(
        "--unbound", action="store_true", help="bind no address (acts on the user only)"
    )
    make.add_argument("--realm", help="realm: the sending site, e.g. a wiki id")
    make.add_argument("--format", choices=[f.value for f in VerpFormat], help="default: config")
    make.add_argument("--message-id", help="outgoing Message-ID (adds a send reference)")
    make.add_argument("--time", type=int, help="issue time, unix seconds (default: now)")
    check = _command(verp_sub, "check", "verp:check",
                     help="decode and verify an address (exit 0 if valid)")  # fmt: skip
    check.add_argument("address")
    check.add_argument("--time", type=int, help="check as of this unix time (default: now)")
    check.add_argument("--recipient", help="also check that the token binds this address")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reconciler", description="Bounce reconciler: classify bounces, match VERP tokens."
    )
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    parser.add_argument(
        "--config", help="configuration file (default: $RECONCILER_CONFIG, else ./reconciler.toml)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_stage_commands(sub)
    _add_service_commands(sub)
    _add_policy_commands(sub)
    _add_report_commands(sub)
    _command(sub, "check-config", "config:check_config",
             help="validate the configuration, print it (secrets masked)")  # fmt: skip
    _add_verp_commands(sub)
    return parser


def _handler(name: str) -> Handler:
    """The handler of a command: its module is imported now, not before."""
    module, _, function = name.partition(":")
    handler: Handler = getattr(importlib.import_module(f"reconciler.cli.{module}"), function)
    return handler


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `reconciler` console script; returns the exit code."""
    guard_last_resort()
    args = _parser().parse_args(argv)
    try:
        return int(_handler(args.handler)(args))
    except (ConfigError, RuleError, VerpError) as err:
        print_notice(str(err))
        return EXIT_USAGE
    except ReconcilerError as err:
        print_notice(str(err))
        return EXIT_FAIL
