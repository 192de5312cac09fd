"""Command line: argument parsing, then one call into the module that does the work (STYLE 2.13).

Exit codes: 0 success, 1 runtime failure (or a negative verdict where a command says so),
2 usage or configuration error, 130 interrupted (Ctrl-C: one line, no traceback).

One dispatch convention: every command names its handler, ``"module:function"`` of this
package, and the handler takes the parsed arguments and returns the exit code.  The handlers
are grouped by what they work on: `classify` (classify, explain, rules check), `verp`,
`config` (check-config), `service` (poll, dry-run), `requeue`, `daemon` (run), `suppressions`
(check; list and export go on to policy's), `policy` (mode, suppressions, reinstate, undo),
`report` (report, user show, status, digest), `loop` (review, rules suggest, rules replay,
reclassify) and `importing` (import).  A handler's module, and with it the libraries the
command needs (the parser and the rules, rich, peewee, imapclient, apscheduler), is imported
only when that command runs: this module imports none of them, and builds the arguments of
that command alone (tests/cli/test_startup.py).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys

from reconciler import __version__
from reconciler.cli.exits import (
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    print_notice,
    terminal_columns,
)
from reconciler.errors import ConfigError, ReconcilerError, RuleError, VerpError

__all__ = ["console", "main"]

# typing, collections.abc and pathlib are not imported at run time here: `--version` and the
# commands that need none of them start without them (tests/cli/test_startup.py)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import NoReturn, TypeAlias

    Handler: TypeAlias = Callable[[argparse.Namespace], int]
    _Commands: TypeAlias = "argparse._SubParsersAction[_Parser]"
    _Builder: TypeAlias = Callable[[_Commands, str], None]
_CONFIG_HELP = "configuration file (default: $RECONCILER_CONFIG, else ./reconciler.toml)"
_JSON_HELP = "one JSON object instead of tables (docs/cli.md lists its keys)"
_INTERRUPTED = {  # what an interrupted command leaves behind, said in its one line
    "service:poll": "what was committed is kept; the rest is read again next cycle",
    "daemon:run": "what was committed is kept; the rest is read again next cycle",
}


class _Parser(argparse.ArgumentParser):
    """argparse's parser (every command's: subparsers are made of the parent's class) whose
    usage errors are one line that fits 80 columns (`usage.usage_line`), not the usage and
    argparse's message; exit code 2 as ever."""

    # the command whose arguments the top-level parser found unrecognised (they are told
    # there, not by the command's own parser): named in the line instead of "reconciler"
    command_prog: str | None = None

    def error(self, message: str) -> NoReturn:
        from reconciler.cli.usage import usage_line

        prog = self.prog
        if self.command_prog and message.startswith("unrecognized arguments"):
            prog = self.command_prog
        print_notice(usage_line(prog, message))
        self.exit(EXIT_USAGE)


def _formatter(*, prog: str) -> argparse.HelpFormatter:
    """argparse's help formatter, as wide as the terminal (`terminal_columns`): argparse makes
    a formatter for every argument added, to check it, though this run prints no help, and
    its own way imports shutil, and with it bz2 and lzma (issue 16)."""
    return argparse.HelpFormatter(prog, width=terminal_columns() - 2)


def _command(sub: _Commands, name: str, handler: str, *, help: str) -> _Parser:
    """A subcommand run by `handler` ("module:function" of reconciler.cli); its --help shows
    `help` as its description, and it takes --config too (after the command name)."""
    parser = sub.add_parser(name, help=help, description=help, formatter_class=_formatter)
    parser.set_defaults(handler=handler)
    parser.add_argument("--config", default=argparse.SUPPRESS, help=_CONFIG_HELP)
    return parser


def _group(sub: _Commands, name: str, *, help: str, dest: str) -> _Commands:
    """A command with actions of its own (`rules check`, `user show`, `verp make`)."""
    parser = sub.add_parser(name, help=help, description=help, formatter_class=_formatter)
    return parser.add_subparsers(dest=dest, required=True, metavar="ACTION")


def _json_option(p: argparse.ArgumentParser, text: str = _JSON_HELP) -> None:
    p.add_argument("--json", action="store_true", help=text)


def _add_classify(sub: _Commands, help: str) -> None:
    from pathlib import Path

    p = _command(sub, "classify", "classify:classify", help=help)
    # text, not Path: source.files names files by text (a Path each costs, issue 16)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a message file, a directory of them, an mbox or a Maildir")  # fmt: skip
    _json_option(p, "JSON Lines, one object per recipient (docs/cli.md)")
    p.add_argument("--rules", type=Path, help="operator rules directory (before shipped rules)")
    p.add_argument("--now", type=int, help="unix time for VERP checks (default: now)")
    p.add_argument("-j", "--jobs", type=_jobs, metavar="N",
                   help="processes that classify a large batch (default: one per usable "
                   "core; 1: this process alone)")  # fmt: skip


def _jobs(text: str) -> int:
    """The value of `classify --jobs`: a whole number of processes, 1 or more."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, not {text!r}")
    return count


def _add_explain(sub: _Commands, help: str) -> None:
    from pathlib import Path

    p = _command(sub, "explain", "classify:explain", help=help)
    p.add_argument("file", type=Path, metavar="PATH",
                   help="a message file (a directory, mbox, Maildir: each message)")  # fmt: skip
    _json_option(p, "JSON Lines, one object per message (docs/cli.md)")
    p.add_argument("--rules", type=Path, help="operator rules directory (before shipped rules)")
    p.add_argument("--now", type=int, help="unix time for VERP checks (default: now)")


def _add_rules(sub: _Commands, help: str) -> None:
    from pathlib import Path

    rules_sub = _group(sub, "rules", help=help, dest="rules_command")
    check = _command(rules_sub, "check", "classify:rules_check",
                     help="validate rule files (a dir, or those in force)")  # fmt: skip
    check.add_argument("dir", nargs="?", type=Path,
                       help="a directory of rule files (default: the rules in force)")  # fmt: skip
    _json_option(check)
    _add_rule_loop_commands(rules_sub)


def _add_rule_loop_commands(rules_sub: _Commands) -> None:
    from pathlib import Path

    from reconciler.records import Fault, Reason, Severity

    p = _command(rules_sub, "suggest", "loop:rules_suggest",
                 help="write a rule from one example (an event id or a message file)")  # fmt: skip
    p.add_argument("example", metavar="EVENT_ID|FILE",
                   help="an event id (`review` shows them) or a message file")  # fmt: skip
    p.add_argument("--reason", choices=[r.value for r in Reason], metavar="REASON",
                   help="what the example is (default: what the rules say now)")  # fmt: skip
    p.add_argument("--severity", choices=[s.value for s in Severity],
                   help="default: derived from the reason")  # fmt: skip
    p.add_argument("--fault", choices=[f.value for f in Fault],
                   help="default: derived from the reason")  # fmt: skip
    p.add_argument("--id", help="the rule id (default: local-REASON-HASH)")
    p.add_argument("--since", default="90d", help="the stored evidence shown (default: 90d)")
    p.add_argument("--yes", action="store_true", help="save without asking")
    p.add_argument("--json", action="store_true", help="one JSON object (see docs/cli.md)")

    p = _command(rules_sub, "replay", "loop:rules_replay",
                 help="classify the stored evidence again with a rule set")  # fmt: skip
    p.add_argument("dir", nargs="?", type=Path,
                   help="rules in place of [rules] dir (default: the rules in force)")  # fmt: skip
    p.add_argument("--since", default="90d", help="ISO time or 30m, 24h, 7d, 2w (default: 90d)")
    p.add_argument("--json", action="store_true", help="one JSON object (see docs/cli.md)")


def _add_poll(sub: _Commands, help: str) -> None:
    p = _command(sub, "poll", "service:poll", help=help)
    p.add_argument("--once", action="store_true",
                   help="one cycle, then exit (cron); `reconciler run` is the daemon")  # fmt: skip
    _json_option(p)


def _add_run(sub: _Commands, help: str) -> None:
    _command(sub, "run", "daemon:run", help=help)


def _add_dry_run(sub: _Commands, help: str) -> None:
    _json_option(_command(sub, "dry-run", "service:dry_run", help=help))


def _add_requeue(sub: _Commands, help: str) -> None:
    p = _command(sub, "requeue", "requeue:requeue_command", help=help)
    p.add_argument("--folder", required=True, choices=["quarantine", "unmatched"],
                   help="the folder whose mail goes back to the drained folder")  # fmt: skip
    p.add_argument("--since", help="set aside since: ISO time or 30m, 24h, 7d, 2w (default: all)")
    p.add_argument("--dry-run", action="store_true", help="preview only: move nothing")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--by", help="who (default: the login name; audited)")
    _json_option(p, "one JSON object (see docs/cli.md)")


def _add_mode(sub: _Commands, help: str) -> None:
    from reconciler.records import Mode

    p = _command(sub, "mode", "policy:mode", help=help)
    modes = [Mode.ENFORCE.value, Mode.LOG_ONLY.value]  # PAUSED is the breaker's alone
    p.add_argument("target", nargs="?", choices=modes,
                   help="the mode to switch to (none: show the mode in force)")  # fmt: skip
    p.add_argument("--reason", help="why (required to change the mode; audited)")
    p.add_argument("--by", help="who (default: the login name)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--apply-pending", action="store_true",
                   help="also apply the pending 'would' decisions now")  # fmt: skip
    _json_option(p)


def _add_suppressions(sub: _Commands, help: str) -> None:
    actions = _group(sub, "suppressions", help=help, dest="action")
    listed = _command(actions, "list", "suppressions:suppressions", help="list the addresses")
    _json_option(listed)
    export = _command(actions, "export", "suppressions:suppressions", help="export it as JSON")
    _json_option(export, "JSON output (export is always JSON)")
    check = _command(actions, "check", "suppressions:suppressions",
                     help="check one address: exit 0 when suppressed, 1 when not")  # fmt: skip
    check.add_argument("address", nargs="?", help="the address to check")
    _json_option(check)


def _add_reinstate(sub: _Commands, help: str) -> None:
    p = _command(sub, "reinstate", "policy:reinstate", help=help)
    p.add_argument("target", help="an address, or a user as REALM:ID or ID")
    _change_options(p)


def _add_undo(sub: _Commands, help: str) -> None:
    p = _command(sub, "undo", "policy:undo", help=help)
    p.add_argument("--since", required=True, help="applied since: ISO time or 30m, 24h, 7d, 2w")
    p.add_argument("--rule", help="policy rule (hard:3d/14d, hard, soft, complaint) or rule id")
    p.add_argument("--bounce-reason", help="only decisions with this bounce reason (userunknown)")
    p.add_argument("--decision-run", help="only decisions of this run id")
    p.add_argument("--note", dest="note", default=None,
                   help="old spelling of --reason (deprecated; --reason then means "
                        "--bounce-reason, as before)")  # fmt: skip
    _change_options(p, required=False)


def _change_options(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("--reason", dest="why", required=required, help="why (audited)")
    p.add_argument("--by", help="who (default: the login name)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _json_option(p, "print the outcome as one JSON object (needs --yes)")


def _add_report(sub: _Commands, help: str) -> None:
    p = _command(sub, "report", "report:report", help=help)
    p.add_argument("--since", default="7d", help="ISO time or 30m, 24h, 7d, 2w (default: 7d)")
    p.add_argument("--mailbox", help="events and messages of this mailbox only")
    _json_option(p)


def _add_user(sub: _Commands, help: str) -> None:
    user_sub = _group(sub, "user", help=help, dest="user_command")
    show = _command(user_sub, "show", "report:user_show",
                    help="events, decisions, actions and undos of a user")  # fmt: skip
    show.add_argument("target", help="a user as ID or REALM:ID, or an address")
    _json_option(show)


def _add_status(sub: _Commands, help: str) -> None:
    p = _command(sub, "status", "report:status", help=help)
    _json_option(p)
    p.add_argument("--no-imap", action="store_true",
                   help="do not ask the IMAP servers for their backlog")  # fmt: skip


def _add_digest(sub: _Commands, help: str) -> None:
    p = _command(sub, "digest", "report:digest", help=help)
    p.add_argument("--force", action="store_true", help="send even if not due yet")
    _json_option(p)


def _add_import(sub: _Commands, help: str) -> None:
    import_sub = _group(sub, "import", help=help, dest="import_command")
    bh = _command(import_sub, "bouncehandler", "importing:bouncehandler",
                  help="MediaWiki BounceHandler's bounce_records, as soft bounces")  # fmt: skip
    bh.add_argument("--url", required=True,
                    help="its database: mysql://user@host:3306/wikishared (password: "
                    "$RECONCILER_IMPORT_PASSWORD, else [actions.mediawiki]'s)")  # fmt: skip
    bh.add_argument("--since", help="rows sent since: ISO time or 30m, 24h, 7d, 2w "
                    "(default: the longest policy window)")  # fmt: skip
    bh.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _json_option(bh, "one JSON object (see docs/cli.md)")


def _add_review(sub: _Commands, help: str) -> None:
    from reconciler.records import ReviewKind

    p = _command(sub, "review", "loop:review", help=help)
    p.add_argument("--since", default="7d", help="ISO time or 30m, 24h, 7d, 2w (default: 7d)")
    p.add_argument("--kind", choices=[k.value for k in ReviewKind], help="default: every kind")
    p.add_argument("--json", action="store_true", help="one JSON object (see docs/cli.md)")
    review_sub = p.add_subparsers(dest="review_command", metavar="ACTION")
    show = _command(review_sub, "show", "loop:review_show",
                    help="an example's fields and rule chain, as explain shows them")  # fmt: skip
    show.add_argument("target", metavar="GROUP|EVENT", help="a group id or an event id of `review`")
    show.add_argument("--since", default="7d", help="for a GROUP: the period of the review")
    show.add_argument("--json", action="store_true", help="one JSON object (see docs/cli.md)")


def _add_reclassify(sub: _Commands, help: str) -> None:
    p = _command(sub, "reclassify", "loop:reclassify", help=help)
    p.add_argument("--since", default="90d", help="ISO time or 30m, 24h, 7d, 2w (default: 90d)")
    p.add_argument("--apply", action="store_true", help="write the new verdicts (audited)")
    p.add_argument("--reason", help="why (audited with --apply)")
    p.add_argument("--by", help="who (default: the login name)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true", help="one JSON object (see docs/cli.md)")


def _add_check_config(sub: _Commands, help: str) -> None:
    p = _command(sub, "check-config", "config:check_config", help=help)
    p.add_argument("--all", action="store_true",
                   help="print every effective key (secrets masked), not the summary")  # fmt: skip
    _json_option(p)


def _add_verp(sub: _Commands, help: str) -> None:
    from reconciler.settings import VerpFormat

    verp_sub = _group(sub, "verp", help=help, dest="verp_command")
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
    _json_option(make)
    check = _command(verp_sub, "check", "verp:check",
                     help="decode and verify an address (exit 0 if valid)")  # fmt: skip
    check.add_argument("address", help="the return path to check, e.g. bounces+...@domain")
    check.add_argument("--time", type=int, help="check as of this unix time (default: now)")
    check.add_argument("--recipient", help="also check that the token binds this address")
    _json_option(check)


_CHECK_CONFIG = "validate the configuration (every mistake, one line each)"
# Every command in the order --help lists them: its one-line help and what adds its arguments.
# Only the command being run is built (with the records its choices come from): the others
# are names with a help line, which is all --help and --version need.
_COMMANDS: dict[str, tuple[str, _Builder]] = {
    "classify": ("classify bounce messages from files, dirs, mbox, Maildir", _add_classify),
    "explain": ("show the parsed fields and the rule chain of a message", _add_explain),
    "rules": ("check rules, suggest one from an example, replay a change", _add_rules),
    "poll": ("run exactly one poll cycle over every mailbox (needs --once)", _add_poll),
    "run": ("run the daemon: poll every mailbox at its interval", _add_run),
    "dry-run": ("read-only preview of what the next cycle would record", _add_dry_run),
    "requeue": ("move quarantined or unmatched mail back to be analysed again", _add_requeue),
    "mode": ("show or change the mode (log-only / enforce)", _add_mode),
    "suppressions": ("the suppression list", _add_suppressions),
    "reinstate": ("undo the actions against a user or an address", _add_reinstate),
    "undo": ("batch undo of applied decisions (preview first)", _add_undo),
    "report": ("counts, trends, closest users, decisions, mode, breaker", _add_report),
    "user": ("one user's evidence trail", _add_user),
    "status": ("health for monitoring: exit 1 when a mailbox is stale", _add_status),
    "digest": ("send the operators' digest mail now if it is due", _add_digest),
    "review": ("the bounces the reconciler could not use, grouped by shape", _add_review),
    "reclassify": ("classify the stored evidence again with the rules in force", _add_reclassify),
    "check-config": (_CHECK_CONFIG, _add_check_config),
    "verp": ("make or check VERP return paths", _add_verp),
    "import": ("import the evidence of another bounce handler", _add_import),
}


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: every command built (`only` None), or only the command named
    `only` (the others are left out: the words name that command), or for "" every command
    taking no arguments (enough for --help, --version and the error of an unknown command).
    (Each command's parser costs some 0.4 ms to build, most of it argparse's gettext lookups.)"""
    parser = _Parser(
        prog="reconciler",
        formatter_class=_formatter,
        description=(
            "Bounce reconciler: reads bounces from IMAP mailboxes, finds the user by the"
            " VERP token, classifies hard and soft, and decides when to suppress."
        ),
    )
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    parser.add_argument("--config", help=_CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (text, build) in _COMMANDS.items():
        if only is None or name == only:
            build(sub, text)
        elif not only:
            sub.add_parser(name, help=text, description=text, formatter_class=_formatter)
    if only:
        parser.command_prog = f"reconciler {only}"
    return parser


def _command_word(argv: list[str]) -> str:
    """The command named in `argv` ("" when none is): the first word that is neither an option
    nor the value of the top-level --config (which argparse takes abbreviated, too)."""
    words = iter(argv)
    for word in words:
        if word == "--":
            return next(words, "")
        if len(word) > 2 and "--config".startswith(word):
            next(words, None)  # its value
        elif not word.startswith("-"):
            return word if word in _COMMANDS else ""
    return ""


def _handler(name: str) -> Handler:
    """The handler of a command: its module is imported now, not before.

    Without the garbage collector's passes while it imports (they find nothing to free in
    the classes and functions an import creates): some 4 ms of `classify ONE.eml`."""
    module, _, function = name.partition(":")
    collecting = gc.isenabled()
    gc.disable()
    try:
        handler: Handler = getattr(importlib.import_module(f"reconciler.cli.{module}"), function)
    finally:
        if collecting:
            gc.enable()
    return handler


class _WhenLogging:
    """A meta-path finder that guards Python's last-resort log handler (`lastresort.
    guard_last_resort`) as soon as `logging` is imported, and then leaves: a command that
    never logs (`classify`) never imports logging (some milliseconds of its start)."""

    def find_spec(self, name: str, path: object, target: object = None) -> ModuleSpec | None:
        if name != "logging":
            return None
        sys.meta_path.remove(self)
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name)
        if spec is not None and spec.loader is not None:
            # a Loader in all but its base class (importlib.abc is not imported to start)
            spec.loader = _GuardingLoader(spec.loader)  # type: ignore[assignment]
        return spec


class _GuardingLoader:
    """`logging`'s own loader, then the guard once the module is whole."""

    def __init__(self, loader: Loader) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        from reconciler.lastresort import guard_last_resort  # not logs: it may be the importer

        guard_last_resort()


def _guard_logging() -> None:
    """The warnings of a command that sets up no logging (`report`, `mode`, `undo`, ...) are
    printed by the last-resort handler: guarded now, or when logging is first imported."""
    if "logging" in sys.modules:
        from reconciler.lastresort import guard_last_resort

        guard_last_resort()
    elif not any(isinstance(f, _WhenLogging) for f in sys.meta_path):
        sys.meta_path.insert(0, _WhenLogging())


def console() -> int:
    """The `reconciler` console script (and `python -m reconciler`): `main()`, then what the
    process holds is set aside from the collector (gc.freeze), so that the interpreter's exit
    does not walk it in one last collection (some 7 ms of a one-file `classify`).  Its output
    is flushed at exit as ever; only objects in reference cycles are not finalised (a process
    that exits never needs them to be).  Not in `main`: a test calls it many times."""
    code = main()
    gc.freeze()
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `reconciler` console script; returns the exit code."""
    handler = ""
    words = sys.argv[1:] if argv is None else argv
    try:
        args = _parser(_command_word(words)).parse_args(words)
        handler = args.handler
        _guard_logging()
        run = _handler(handler)
        return int(run(args))
    except ConfigError as err:
        for line in err.problems or (str(err),):
            print_notice(line)
        return EXIT_USAGE
    except (RuleError, VerpError) as err:
        print_notice(str(err))
        return EXIT_USAGE
    except ReconcilerError as err:
        print_notice(str(err))
        return EXIT_FAIL
    except KeyboardInterrupt:
        left = _INTERRUPTED.get(handler)
        print_notice(f"interrupted; {left}" if left else "interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `reconciler report | head`: the reader left, nothing to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - no flush error at exit
        return EXIT_FAIL
