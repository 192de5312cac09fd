"""`classify`, `explain` and `rules check`: the pure stages on local files, no store.

They need no mailbox and no database: of the configuration (when there is one) they read the
rules and the VERP keys only.  Exit 1 when a path named could not be read, or held no
message at all: the output would leave out what was asked for.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from reconciler.analysis import analyse
from reconciler.classify.match import Classifier
from reconciler.classify.rulecache import cache_dir, load_rules_cached
from reconciler.classify.rules import (
    RuleSet,
    load_rules,
    rule_files,
    shipped_rules_dir,
)
from reconciler.cli.batch import Batch, no_progress
from reconciler.cli.exits import EXIT_FAIL, EXIT_OK, print_notice
from reconciler.controls import dumps
from reconciler.errors import RuleError
from reconciler.frozenrecord import replace
from reconciler.senders import CONFIG_ENV, DEFAULT_CONFIG_NAME
from reconciler.source.files import discover, plain_name, read_messages

TYPE_CHECKING = False
if TYPE_CHECKING:
    from reconciler.records import Rule
    from reconciler.settings import Settings

# The tables (rich) are imported by the commands that print them, not by `classify --json`
# (issue 16: a command imports what it uses).

__all__ = ["classify", "example_problems", "explain", "rules_check"]


def _optional_settings(args: argparse.Namespace, *, verp: bool) -> Settings | None:
    """The settings when a configuration is named or present (the rules and the VERP keys are
    read from it); without one, as most runs on local files, the configuration code is not
    even imported."""
    named = args.config is not None or CONFIG_ENV in os.environ
    if not named and not os.path.exists(DEFAULT_CONFIG_NAME):
        return None
    from reconciler.cli.common import NO_SECRETS, Secrets, optional_settings

    return optional_settings(args, {Secrets.VERP} if verp else NO_SECRETS)


def _rules_for(rules_dir: Path | None, settings: Settings | None, *, cache: bool = True) -> RuleSet:
    """The rules in force: --rules, else the configuration's, else the shipped ones; kept in
    the user's cache between runs (classify/rulecache.py) unless `cache` is false."""
    directory = cache_dir(os.environ) if cache else None
    if rules_dir is not None:
        return load_rules_cached(rules_dir, use_shipped=True, directory=directory)
    if settings is not None:
        rules = settings.rules
        return load_rules_cached(rules.dir, use_shipped=rules.use_shipped, directory=directory)
    return load_rules_cached(None, use_shipped=True, directory=directory)


def classify(args: argparse.Namespace) -> int:
    settings = _optional_settings(args, verp=True)
    classifier = Classifier(_rules_for(args.rules, settings).rules)
    verp = settings.verp if settings else None
    now = args.now if args.now is not None else int(time.time())
    found = [(path, discover([path])) for path in args.paths]  # one walk of each path
    files = [file for _, files_of in found for file in files_of]
    batch = Batch(files, classifier, verp, now, as_json=args.json)
    batch.run(args.jobs, lambda: _progress(len(files)))
    if not args.json:
        from reconciler.report.classify import print_classify
        from reconciler.report.console import make_console

        print_classify(make_console(), batch.rows)
    empty = [path for path, files_of in found if not files_of and os.path.isdir(path)]
    return _verdict(batch.unread, [f"{plain_name(p)}: no message in it" for p in empty])


def _progress(total: int) -> AbstractContextManager[Callable[[int], None]]:
    """The progress bar on a terminal's stderr (rich's), advanced by a count of messages;
    nothing to import otherwise."""
    if not sys.stderr.isatty():
        return nullcontext(no_progress)
    return _counted(total)


@contextmanager
def _counted(total: int) -> Iterator[Callable[[int], None]]:
    from reconciler.report.console import make_console, progress

    with progress(make_console(stderr=True), total, "classifying") as advance:

        def advance_by(count: int) -> None:
            for _ in range(count):
                advance()

        yield advance_by


def _verdict(unread: list[str], empty: list[str]) -> int:
    """Exit 1, with one line each on stderr, for the paths that could not be read or were
    empty: a runtime failure (docs/cli.md), since the output lacks what was asked for."""
    for line in [*unread, *empty]:
        print_notice(line)
    return EXIT_FAIL if unread or empty else EXIT_OK


def explain(args: argparse.Namespace) -> int:
    from reconciler.report.classify import print_explain
    from reconciler.report.console import make_console
    from reconciler.report.opshapes import explain_json

    settings = _optional_settings(args, verp=True)
    ruleset = _rules_for(args.rules, settings)
    classifier = Classifier(ruleset.rules)
    # the rules that match are listed with the optional ones that are off, marked
    off = frozenset(ruleset.optional_off)
    lister = Classifier(ruleset.listed) if off else classifier
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
        chains = [lister.explain(v.bounce, analysis.message) for v in analysis.verdicts]
        if args.json:
            print(dumps(explain_json(item.label, analysis, chains, off)))
        else:
            print_explain(console, item.label, analysis, chains, off)
    return _verdict(unread, [] if found else [f"{args.file}: no message in it"])


def rules_check(args: argparse.Namespace) -> int:
    from reconciler.report.classify import print_rules
    from reconciler.report.console import make_console
    from reconciler.report.opshapes import rules_json

    shipped = {str(path) for path in rule_files(None)}
    if args.dir is not None:
        if not args.dir.is_dir():
            raise RuleError(f"{args.dir}: not a directory")
        # as the daemon loads it, before the shipped rules: its `disable:` and `enable:` may
        # name shipped rules, and no id may repeat a shipped one; only its own rules are listed
        alone = args.dir.resolve() == shipped_rules_dir().resolve()
        whole = load_rules(None if alone else args.dir)
        own = shipped if alone else {str(path) for path in rule_files(args.dir, use_shipped=False)}
        ruleset = replace(
            whole,
            rules=tuple(rule for rule in whole.rules if rule.file in own),
            files=tuple(name for name in whole.files if name in own),
        )
    else:
        whole = ruleset = _rules_for(None, _optional_settings(args, verp=False), cache=False)
    problems = example_problems(whole, [rule for rule in whole.rules if rule.file not in shipped])
    if args.json:
        shape = rules_json(ruleset.rules, ruleset.files, ruleset.optional_off, problems)
        print(dumps(shape, indent=2))
        return EXIT_FAIL if problems else EXIT_OK
    print_rules(make_console(), ruleset.rules, ruleset.files)
    for heading, ids in (
        ("optional rules, on:", sorted(ruleset.enabled)),
        ("optional rules, off (a rules file's `enable: [id]` turns one on):", ruleset.optional_off),
    ):
        if ids:
            print(heading + "".join(f"\n  {rule_id}" for rule_id in ids))
    for problem in problems:
        print_notice(problem)
    if problems:
        return EXIT_FAIL
    print(f"ok: {len(ruleset.rules)} rules in {len(ruleset.files)} file(s)")
    return EXIT_OK


def example_problems(ruleset: RuleSet, rules: Sequence[Rule]) -> list[str]:
    """One line for each example of `rules` (an operator's: the shipped rules' examples are
    not installed with the package) that cannot be read or that the rules in force,
    `ruleset`, do not decide by its own rule: `FILE:LINE: rule 'ID': example PATH ...`."""
    classifier: Classifier | None = None
    problems = []
    for rule in rules:
        for example in rule.examples:
            where = f"{rule.file}:{rule.line}: rule {rule.id!r}: example {example}"
            try:
                data = (Path(rule.file).parent / example).read_bytes()
            except OSError as err:
                problems.append(f"{where}: cannot read: {err.strerror or err}")
                continue
            if classifier is None:
                classifier = Classifier(ruleset.rules)
            deciders = [
                v.classification.rule_id for v in analyse(data, classifier, None, 0).verdicts
            ]
            if rule.id not in deciders:
                decided = ", ".join(dict.fromkeys(deciders)) or "nothing (no recipient result)"
                problems.append(f"{where}: decided by {decided}")
    return problems
