"""`classify`, `explain` and `rules check`: the pure stages on local files, no store.

They need no mailbox and no database: of the configuration (when there is one) they read the
rules and the VERP keys only.  Exit 1 when a path named could not be read, or held no
message at all: the output would leave out what was asked for.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from reconciler.analysis import analyse
from reconciler.classify.match import Classifier
from reconciler.classify.rules import RuleSet, load_rule_files, load_rules
from reconciler.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    NO_SECRETS,
    Secrets,
    optional_settings,
    print_notice,
)
from reconciler.controls import dumps
from reconciler.errors import RuleError
from reconciler.records import MessageKind
from reconciler.report.classify import print_classify, print_explain, print_rules
from reconciler.report.console import make_console, progress
from reconciler.report.opshapes import explain_json, rules_json
from reconciler.report.results import ResultRow, result_rows, row_json
from reconciler.settings import Settings
from reconciler.source.files import discover, read_messages

__all__ = ["classify", "explain", "rules_check"]


def _rules_for(rules_dir: Path | None, settings: Settings | None) -> RuleSet:
    if rules_dir is not None:
        return load_rules(rules_dir)
    if settings is not None:
        return load_rules(settings.rules.dir, use_shipped=settings.rules.use_shipped)
    return load_rules()


def classify(args: argparse.Namespace) -> int:
    settings = optional_settings(args, {Secrets.VERP})
    classifier = Classifier(_rules_for(args.rules, settings).rules)
    verp = settings.verp if settings else None
    now = args.now if args.now is not None else int(time.time())
    files = discover(args.paths)
    err_console = make_console(stderr=True)
    rows: list[ResultRow] = []
    unread: list[str] = []
    out = sys.stdout
    with progress(err_console, len(files), "classifying") as advance:
        for item in read_messages(files):
            if item.error is not None:
                unread.append(f"{item.label}: {item.error}")
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
    empty = [p for p in args.paths if p.is_dir() and not discover([p])]
    return _verdict(unread, [f"{p}: no message in it" for p in empty])


def _verdict(unread: list[str], empty: list[str]) -> int:
    """Exit 1, with one line each on stderr, for the paths that could not be read or were
    empty: a runtime failure (docs/cli.md), since the output lacks what was asked for."""
    for line in [*unread, *empty]:
        print_notice(line)
    return EXIT_FAIL if unread or empty else EXIT_OK


def explain(args: argparse.Namespace) -> int:
    settings = optional_settings(args, {Secrets.VERP})
    classifier = Classifier(_rules_for(args.rules, settings).rules)
    verp = settings.verp if settings else None
    now = args.now if args.now is not None else int(time.time())
    console = make_console()
    found, unread = False, []
    for item in read_messages(discover([args.file])):
        found = True
        if item.error is not None:
            unread.append(f"{item.label}: {item.error}")
            continue
        analysis = analyse(item.data, classifier, verp, now)
        chains = [classifier.explain(v.bounce, analysis.message) for v in analysis.verdicts]
        if args.json:
            print(dumps(explain_json(item.label, analysis, chains)))
        else:
            print_explain(console, item.label, analysis, chains)
    return _verdict(unread, [] if found else [f"{args.file}: no message in it"])


def rules_check(args: argparse.Namespace) -> int:
    if args.dir is not None:
        if not args.dir.is_dir():
            raise RuleError(f"{args.dir}: not a directory")
        ruleset = load_rule_files(sorted(args.dir.glob("*.y*ml")))
    else:
        ruleset = _rules_for(None, optional_settings(args, NO_SECRETS))
    if args.json:
        print(dumps(rules_json(ruleset.rules, ruleset.files), indent=2))
        return EXIT_OK
    print_rules(make_console(), ruleset.rules, ruleset.files)
    print(f"ok: {len(ruleset.rules)} rules in {len(ruleset.files)} file(s)")
    return EXIT_OK
