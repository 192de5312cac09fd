"""Command line: argument parsing, then one call into the stage that does the work (STYLE 2.13).

Exit codes: 0 success, 1 runtime failure (or a negative verdict where a command says so),
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from reconciler import __version__
from reconciler.analysis import analyse
from reconciler.classify.match import Classifier
from reconciler.classify.rules import RuleSet, load_rule_files, load_rules
from reconciler.cli.policy import add_policy_commands
from reconciler.cli.report import add_report_commands
from reconciler.config import (
    Settings,
    VerpFormat,
    VerpSettings,
    describe_settings,
    load_settings,
    resolve_config_path,
)
from reconciler.controls import dumps
from reconciler.errors import ConfigError, ReconcilerError, RuleError, VerpError
from reconciler.logs import configure_logging, guard_last_resort
from reconciler.records import MessageKind
from reconciler.report.classify import print_classify, print_explain, print_rules
from reconciler.report.console import make_console, print_notice, progress
from reconciler.report.ops import print_previews, print_run
from reconciler.report.results import ResultRow, result_rows, row_json
from reconciler.service.cycle import CycleContext, open_source, run_once
from reconciler.service.daemon import DaemonPlan, run_daemon
from reconciler.service.dryrun import preview_mailbox
from reconciler.service.leasing import lease_terms
from reconciler.service.wiring import open_service
from reconciler.source.files import discover, read_messages
from reconciler.verp import binds, check_address, describe_match, make_address

__all__ = ["main"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reconciler", description="Bounce reconciler: classify bounces, match VERP tokens."
    )
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    parser.add_argument(
        "--config", help="configuration file (default: $RECONCILER_CONFIG, else ./reconciler.toml)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("classify", help="classify bounce messages from files, dirs, mbox, Maildir")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--json", action="store_true", help="JSON Lines, one object per recipient")
    p.add_argument("--rules", type=Path, help="operator rules directory (before shipped rules)")
    p.add_argument("--now", type=int, help="unix time for VERP checks (default: now)")
    p.set_defaults(func=_cmd_classify)

    p = sub.add_parser("explain", help="show the parsed fields and the rule chain of a message")
    p.add_argument("file", type=Path)
    p.add_argument("--rules", type=Path, help="operator rules directory (before shipped rules)")
    p.add_argument("--now", type=int, help="unix time for VERP checks (default: now)")
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("rules", help="rule files")
    rules_sub = p.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = rules_sub.add_parser("check", help="validate rule files (a dir, or those in force)")
    check.add_argument("dir", nargs="?", type=Path)
    check.set_defaults(func=_cmd_rules_check)

    p = sub.add_parser("poll", help="poll every mailbox (exactly one cycle with --once)")
    p.add_argument("--once", action="store_true", required=True, help="one cycle, then exit")
    p.set_defaults(func=_cmd_poll)

    p = sub.add_parser("run", help="run the daemon: poll every mailbox at its interval")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("dry-run", help="read-only preview of what the next cycle would record")
    p.set_defaults(func=_cmd_dry_run)

    add_policy_commands(sub)
    add_report_commands(sub)

    p = sub.add_parser("check-config", help="validate the configuration, print it (secrets masked)")
    p.set_defaults(func=_cmd_check_config)

    p = sub.add_parser("verp", help="make or check VERP return paths")
    verp_sub = p.add_subparsers(dest="verp_command", required=True, metavar="ACTION")
    make = verp_sub.add_parser("make", help="print a signed return path for a user")
    make.add_argument("--user", type=int, required=True, help="user id (0 .. 2**63-1)")
    bind = make.add_mutually_exclusive_group()
    bind.add_argument("--address", help="the recipient's address, bound into the token")
    bind.add_argument(
        "--unbound", action="store_true", help="bind no address (acts on the user only)"
    )
    make.add_argument("--realm", help="realm: the sending site, e.g. a wiki id")
    make.add_argument("--format", choices=list(VerpFormat), type=VerpFormat, help="default: config")
    make.add_argument("--message-id", help="outgoing Message-ID (adds a send reference)")
    make.add_argument("--time", type=int, help="issue time, unix seconds (default: now)")
    make.set_defaults(func=_cmd_verp_make)
    check_addr = verp_sub.add_parser("check", help="decode and verify an address (exit 0 if valid)")
    check_addr.add_argument("address")
    check_addr.add_argument("--time", type=int, help="check as of this unix time (default: now)")
    check_addr.add_argument("--recipient", help="also check that the token binds this address")
    check_addr.set_defaults(func=_cmd_verp_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `reconciler` console script; returns the exit code."""
    guard_last_resort()
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if hasattr(args, "policy_func"):
            return int(args.policy_func(args, _settings(args)))
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except (ConfigError, RuleError, VerpError) as err:
        print_notice(str(err))
        return EXIT_USAGE
    except ReconcilerError as err:
        print_notice(str(err))
        return EXIT_FAIL


def _optional_settings(args: argparse.Namespace) -> Settings | None:
    """The settings when a config file is named or present; classify works without one."""
    path = resolve_config_path(args.config, os.environ, Path.cwd())
    if args.config is None and not path.exists():
        return None
    return load_settings(path, os.environ)


def _rules_for(args: argparse.Namespace, settings: Settings | None) -> RuleSet:
    if args.rules is not None:
        return load_rules(args.rules)
    if settings is not None:
        return load_rules(settings.rules.dir, use_shipped=settings.rules.use_shipped)
    return load_rules()


def _cmd_classify(args: argparse.Namespace) -> int:
    settings = _optional_settings(args)
    classifier = Classifier(_rules_for(args, settings).rules)
    verp = settings.verp if settings else None
    now = args.now if args.now is not None else int(time.time())
    files = discover(args.paths)
    err_console = make_console(stderr=True)
    rows: list[ResultRow] = []
    out = sys.stdout
    with progress(err_console, len(files), "classifying") as advance:
        for item in read_messages(files):
            if item.error is not None:
                new = [
                    ResultRow(
                        file=item.label, kind=MessageKind.ERROR, recipient=None, error=item.error
                    )
                ]
            else:
                new = result_rows(item.label, analyse(item.data, classifier, verp, now))
            if args.json:
                out.writelines(dumps(row_json(r)) + "\n" for r in new)
            else:
                rows.extend(new)
            advance()
    if not args.json:
        print_classify(make_console(), rows)
    return EXIT_OK


def _cmd_explain(args: argparse.Namespace) -> int:
    settings = _optional_settings(args)
    classifier = Classifier(_rules_for(args, settings).rules)
    verp = settings.verp if settings else None
    now = args.now if args.now is not None else int(time.time())
    console = make_console()
    found = False
    for item in read_messages(discover([args.file])):
        found = True
        if item.error is not None:
            console.print(f"{item.label}: {item.error}")
            continue
        analysis = analyse(item.data, classifier, verp, now)
        chains = [classifier.explain(v.bounce, analysis.message) for v in analysis.verdicts]
        print_explain(console, item.label, analysis, chains)
    return EXIT_OK if found else EXIT_FAIL


def _cmd_rules_check(args: argparse.Namespace) -> int:
    if args.dir is not None:
        if not args.dir.is_dir():
            raise RuleError(f"{args.dir}: not a directory")
        ruleset = load_rule_files(sorted(args.dir.glob("*.y*ml")))
    else:
        ruleset = _rules_for(argparse.Namespace(rules=None), _optional_settings(args))
    print_rules(make_console(), ruleset.rules, ruleset.files)
    print(f"ok: {len(ruleset.rules)} rules in {len(ruleset.files)} file(s)")
    return EXIT_OK


def _settings(args: argparse.Namespace, *, warn: bool = True) -> Settings:
    settings = load_settings(resolve_config_path(args.config, os.environ, Path.cwd()), os.environ)
    for warning in settings.warnings if warn else ():
        print_notice(f"warning: {warning}")
    return settings


def _verp_settings(args: argparse.Namespace) -> VerpSettings:
    verp = _settings(args).verp
    if verp is None:
        raise ConfigError("no [verp] section in the configuration")
    return verp


def _cmd_check_config(args: argparse.Namespace) -> int:
    settings = _settings(args, warn=False)  # describe_settings lists the warnings itself
    for key, value in describe_settings(settings):
        print(f"{key} = {value}")
    print(f"ok: {settings.source_path}")
    return EXIT_OK


def _cmd_verp_make(args: argparse.Namespace) -> int:
    verp = _verp_settings(args)
    if args.format is not None:
        verp = dataclasses.replace(verp, format=args.format)
    now = args.time if args.time is not None else int(time.time())
    if args.address is None and not args.unbound and verp.format is VerpFormat.NATIVE:
        print("reconciler: verp make: give --address (the recipient) or --unbound", file=sys.stderr)
        return EXIT_USAGE
    try:
        address = make_address(
            verp, user_id=args.user, address=args.address, realm=args.realm,
            message_id=args.message_id, now=now,
        )  # fmt: skip
    except ValueError as err:
        print_notice(str(err))
        return EXIT_USAGE
    print(address)
    return EXIT_OK


def _cmd_verp_check(args: argparse.Namespace) -> int:
    verp = _verp_settings(args)
    now = args.time if args.time is not None else int(time.time())
    match = check_address(verp, args.address, now)
    for key, value in describe_match(match):
        print(f"{key}: {value}")
    if args.recipient is None or not match.valid:
        return EXIT_OK if match.valid else EXIT_FAIL
    bound = binds(verp, match, args.recipient)
    verdict = {True: "bound", False: "address-mismatch", None: "cannot tell (nothing bound)"}
    print(f"recipient {args.recipient}: {verdict[bound]}")
    return EXIT_FAIL if bound is False else EXIT_OK


def _setup_logging(settings: Settings) -> None:
    configure_logging(settings.logging)
    for warning in settings.warnings:
        logging.getLogger("reconciler").warning("%s", warning)


def _cycle_context(settings: Settings) -> CycleContext:
    """For the read-only dry run: the same analysis as a cycle, no store, no decisions."""
    ruleset = load_rules(settings.rules.dir, use_shipped=settings.rules.use_shipped)
    return CycleContext(classifier=Classifier(ruleset.rules), verp=settings.verp)


def _cmd_poll(args: argparse.Namespace) -> int:
    settings = _settings(args, warn=False)
    _setup_logging(settings)
    with open_service(settings) as service:
        mode = service.store.get_mode().mode
        lease = lease_terms(settings.daemon)  # the configured worker id and lease time
        result = run_once(settings.mailboxes, service.store, service.cycle, mode=mode, lease=lease)
    print_run(make_console(), result)
    return EXIT_OK if result.ok else EXIT_FAIL


def _cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args, warn=False)
    _setup_logging(settings)
    with open_service(settings, serve_metrics=True) as service:
        store = service.store
        plan = DaemonPlan(
            mailboxes=settings.mailboxes,
            daemon=settings.daemon,
            retention_days=settings.database.retention_days,
            store=store,
            ctx=service.cycle,
            mode=lambda: store.get_mode().mode,
            metrics=service.metrics,
            digest=settings.digest,
        )
        return run_daemon(plan)


def _cmd_dry_run(args: argparse.Namespace) -> int:
    settings = _settings(args, warn=False)
    _setup_logging(settings)
    ctx = _cycle_context(settings)
    err_console = make_console(stderr=True)
    previews, failed = [], 0
    for folders in settings.mailboxes:
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
