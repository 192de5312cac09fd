"""The operator's loop (issue 17): `review` and `review show`, `rules suggest`, `rules replay`
and `reclassify`.

review → suggest → replay → reclassify → promote: see what the reconciler could not use,
teach a rule from one example, see what a rule set changes in the site's own stored mail, then
write the new verdicts (audited).  Everything is shown before it is written; `--yes` skips
the confirmation in scripts.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.classify.facts import stored_facts
from reconciler.classify.match import Classifier
from reconciler.classify.rules import RuleSet, load_rules
from reconciler.classify.suggest import RuleChoice
from reconciler.cli.common import (
    NO_SECRETS,
    Secrets,
    actor,
    confirm,
    now,
    parse_since,
    print_notice,
    settings,
)
from reconciler.controls import dumps
from reconciler.errors import ConfigError
from reconciler.records import Fault, Reason, Replay, ReviewKind, Severity
from reconciler.report.console import make_console, working
from reconciler.report.replay import print_replay, replay_json
from reconciler.report.review import (
    event_json,
    group_json,
    print_entry,
    print_event,
    print_review,
    review_json,
)
from reconciler.service.decisions import decide_users
from reconciler.service.replay import apply_replay, replay
from reconciler.service.review import find_group, gather_review
from reconciler.service.suggest import Example, draft_rule, example_from_event, example_from_file
from reconciler.service.suggest import save as save_rule
from reconciler.service.wiring import Service, open_service
from reconciler.settings import Settings

__all__ = ["reclassify", "review", "review_show", "rules_replay", "rules_suggest"]

_UNDETERMINED = (Reason.ONHOLD, Reason.UNDEFINED)


def _print_json(shape: dict[str, Any]) -> None:
    print(dumps(shape, indent=2))


def _kinds(args: argparse.Namespace) -> list[ReviewKind]:
    return [ReviewKind(args.kind)] if getattr(args, "kind", None) else list(ReviewKind)


def review(args: argparse.Namespace) -> int:
    loaded = settings(args, secrets=NO_SECRETS)
    moment = now()
    since = parse_since(args.since, moment)
    with (
        open_service(loaded, create=False) as service,
        working(make_console(stderr=True), "reading"),
    ):
        result = gather_review(service.store, since, moment, _kinds(args))
    if args.json:
        _print_json(review_json(result))
    else:
        print_review(make_console(), result)
    return 0


def _show_event(service: Service, event_id: int, as_json: bool) -> int:
    stored = service.store.stored_event(event_id)
    if stored is None:
        print_notice(f"review show: no event {event_id} (pruned, or a wrong id)")
        return 1
    facts = stored_facts(stored.event)
    classifier = service.cycle.classifier
    chain = classifier.explain_facts(facts)
    verdict = classifier.classify_facts(facts)
    history = service.store.reclassifications(event_id)
    if as_json:
        _print_json(event_json(stored, facts, chain, verdict, history))
    else:
        print_event(make_console(), stored, chain, verdict, history)
    return 0


def review_show(args: argparse.Namespace) -> int:
    """`review show GROUP|EVENT`: an event id, or a group id of `review` (in `--since`)."""
    loaded = settings(args, secrets=NO_SECRETS)
    target = args.target.strip()
    with open_service(loaded, create=False) as service:
        if target.isdigit():
            return _show_event(service, int(target), args.json)
        moment = now()
        since = parse_since(args.since, moment)
        group = find_group(gather_review(service.store, since, moment, list(ReviewKind)), target)
        if group is None:
            print_notice(f"review show: no group {target!r} since {args.since} (try --since)")
            return 1
        if group.example.event_id is not None:
            return _show_event(service, group.example.event_id, args.json)
        if args.json:
            _print_json({"version": 1, **group_json(group)})
        else:
            print_entry(make_console(), group, group.example)
    return 0


def _ruleset(loaded: Settings, directory: Path | None) -> RuleSet:
    """The rules of `directory` in place of the operator's (the shipped ones as configured),
    or the rules in force."""
    return load_rules(directory or loaded.rules.dir, use_shipped=loaded.rules.use_shipped)


def _replayed(service: Service, ruleset: RuleSet, since: datetime, moment: datetime) -> Replay:
    with working(make_console(stderr=True), "replaying the stored evidence"):
        return replay(
            service.store,
            Classifier(ruleset.rules),
            ruleset.files,
            service.settings.policy,
            (since, moment),
        )


def rules_replay(args: argparse.Namespace) -> int:
    loaded = settings(args, secrets=NO_SECRETS)
    if args.dir is not None and not args.dir.is_dir():
        raise ConfigError(f"rules replay: {args.dir} is not a directory")
    ruleset = _ruleset(loaded, args.dir)
    moment = now()
    since = parse_since(args.since, moment)
    with open_service(loaded, create=False) as service:
        result = _replayed(service, ruleset, since, moment)
    if args.json:
        _print_json(replay_json(result))
    else:
        print_replay(make_console(), result, "Replay (nothing written)")
    return 0


def _choice(args: argparse.Namespace, example: Example) -> RuleChoice:
    if args.reason is None:
        if example.verdict.reason in _UNDETERMINED:
            raise ConfigError(
                f"rules suggest: the rules in force call the example {example.verdict.reason}: "
                "say what it is with --reason"
            )
        reason = example.verdict.reason
    else:
        reason = Reason(args.reason)
    return RuleChoice(
        reason=reason,
        severity=Severity(args.severity) if args.severity else None,
        fault=Fault(args.fault) if args.fault else None,
        rule_id=args.id,
    )


def rules_suggest(args: argparse.Namespace) -> int:
    loaded = settings(args, secrets={Secrets.MAILBOX})
    moment = now()
    since = parse_since(args.since, moment)
    console = make_console()
    with open_service(loaded) as service:
        classifier = service.cycle.classifier
        if args.example.isdigit():
            example = example_from_event(service.store, loaded, int(args.example), classifier)
        else:
            example = example_from_file(Path(args.example), classifier)
        with draft_rule(example, _choice(args, example), loaded, moment) as draft:
            result = _replayed(service, draft.ruleset, since, moment)
            matched = sum(1 for c in result.changes if c.new.rule_id == draft.rule_id)
            shape = {"version": 1, "rule": draft.rule_id, "file": str(draft.rule_file),
                     "example_file": str(draft.example_file), "text": draft.text,
                     "source": example.source, "matched": matched,
                     "replay": replay_json(result)}  # fmt: skip
            if not args.json:
                console.print(f"# {draft.rule_file}")
                for line in draft.text.splitlines():  # one by one: a line break shows as \n
                    console.print(line, overflow="fold")
                console.print(f"rules check: ok, {len(draft.ruleset.rules)} rules; the example "
                              f"is decided by {draft.decided_by}")  # fmt: skip
                console.print(f"in the stored evidence the new rule decides {matched} event(s)")
                print_replay(console, result, "Replay with the new rule (nothing written)")
            saved = confirm(f"Save {draft.rule_file.name} and its example?", args)
            if saved:
                save_rule(draft, example)
    if args.json:
        _print_json({**shape, "saved": saved})
    elif saved:
        console.print(f"saved {draft.rule_file} and {draft.example_file.name}; a running "
                      "daemon reads rules at start: restart it to use the rule")  # fmt: skip
    else:
        console.print("nothing saved")
    return 0 if saved else 1


def reclassify(args: argparse.Namespace) -> int:
    loaded = settings(args, secrets={Secrets.ACTIONS, Secrets.VERP})
    moment = now()
    since = parse_since(args.since, moment)
    console = make_console()
    ruleset = _ruleset(loaded, None)
    with open_service(loaded, create=False) as service:
        result = _replayed(service, ruleset, since, moment)
        if not args.json:
            print_replay(console, result, "Reclassify with the rules in force")
        written, decided = 0, None
        if args.apply and result.changes:
            mode = service.store.get_mode().mode
            question = (f"Write the new verdicts of {len(result.changes)} events, then decide "
                        f"their users in mode {mode}?")  # fmt: skip
            if not confirm(question, args):
                console.print("nothing written")
                return 1
            why = args.reason or "reclassify with the rules in force"
            written = apply_replay(service.store, result, (actor(args), why), moment)
            users = [(c.realm or "", c.user_id) for c in result.changes if c.user_id is not None]
            decided = decide_users(service.store, service.decide, users, service.run_id, moment)
    if args.json:
        shape = replay_json(result)
        shape["applied"] = bool(args.apply)
        shape["written"] = written
        shape["decided"] = dict(decided.dispositions) if decided else {}
        _print_json(shape)
    elif not args.apply:
        console.print("nothing written: add --apply to write the new verdicts (audited)")
    else:
        console.print(f"written: {written} event(s), one audit row each")
        if decided is not None:
            dispositions = ", ".join(f"{k} {n}" for k, n in decided.dispositions.items())
            console.print(f"decided again: {decided.users} user(s) in mode {decided.mode}; "
                          f"new decisions: {dispositions or 'none'}")  # fmt: skip
    return 0
