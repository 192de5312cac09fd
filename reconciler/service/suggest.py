"""Teach a rule from one example (`reconciler rules suggest EVENT_ID|FILE`).

The example is a message file, or a stored event.  The store keeps what the rules read of an
event (so its conditions need no message), but not the message itself: the mailbox is the
archive (messages are moved, never deleted), and keeping every bounce's bytes, with the
original messages they quote, in the database would make it hold what the reconciler has no
need of.  So the message of an event is found where the cycle moved it: its ledger entry
names the mailbox, the destination folder, the size, the day it arrived and the SHA-256 of
its bytes, and the mailbox is searched read-only (EXAMINE) by size and day, then checked by
digest (`source.imap.find_message`).  A message deleted from the mailbox since can still be
given as a FILE.

The rule is drafted in a staging directory beside nothing the daemon reads: its file and the
example, then loaded with the rules in force in the place it will take (operator files in
name order, the shipped ones after); the example must classify to the new rule.  `save`
copies both into the operator rules directory (`[rules] dir`), never into the shipped rules.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from reconciler.classify.facts import rule_facts, stored_facts
from reconciler.classify.match import Classifier
from reconciler.classify.rules import RuleSet, load_rule_files, rule_file_text, shipped_rules_dir
from reconciler.classify.suggest import RuleChoice, suggest_rule
from reconciler.errors import ConfigError, SourceError
from reconciler.parse import parse
from reconciler.records import Classification, MessageKind, ParsedMessage, RuleFacts
from reconciler.settings import Settings
from reconciler.source.files import discover, read_messages
from reconciler.source.imap import find_message
from reconciler.store import Store

__all__ = ["Draft", "Example", "draft_rule", "example_from_event", "example_from_file", "save"]


@dataclass(frozen=True, slots=True)
class Example:
    """The message a rule is taught from, the result the rule is to decide, and what the
    rules in force decide about it now."""

    raw: bytes
    facts: RuleFacts
    verdict: Classification
    source: str  # "event 12 (mailbox bounces, UID 7)" or "file x.eml"
    event_id: int | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    """A rule drafted in a staging directory, loaded and checked with the rules in force."""

    rule_id: str
    text: str  # the rule file
    rule_file: Path  # where `save` puts it: <rules dir>/<id>.yaml
    example_file: Path  # and its example: <rules dir>/<id>.eml
    staged: Path  # the rule file as drafted (in the staging directory)
    ruleset: RuleSet  # the rules in force with the new one in its place
    decided_by: str  # the rule the example classifies to with them (the new one)


def _pick(message: ParsedMessage, wanted: RuleFacts | None) -> RuleFacts | None:
    """The result to teach from: the one with the stored facts, else the first bounce."""
    facts = [rule_facts(bounce, message) for bounce in message.bounces]
    if wanted is not None:
        return next((f for f in facts if f == wanted), None)
    return next((f for f in facts if f.kind is MessageKind.BOUNCE), facts[0] if facts else None)


def example_from_file(path: Path, classifier: Classifier) -> Example:
    """The first message of a file (an .eml, or the first of an mbox or Maildir)."""
    for item in read_messages(discover([path])):
        if item.error is not None:
            raise ConfigError(f"{item.label}: {item.error}")
        facts = _pick(parse(item.data), None)
        if facts is None:
            raise ConfigError(f"{item.label}: no recipient result to teach a rule from")
        return Example(item.data, facts, classifier.classify_facts(facts), f"file {path.name}")
    raise ConfigError(f"{path}: no message found")


def example_from_event(
    store: Store, settings: Settings, event_id: int, classifier: Classifier
) -> Example:
    """A stored event, with its message found in the mailbox it was read from."""
    stored = store.stored_event(event_id)
    entry = store.event_entry(event_id)
    if stored is None or entry is None:
        raise ConfigError(f"event {event_id}: no such event (pruned, or a wrong id)")
    mailbox = next((m for m in settings.mailboxes if m.name == entry.mailbox), None)
    if mailbox is None:
        raise ConfigError(
            f"event {event_id}: its message was read from mailbox {entry.mailbox!r}, which is "
            "not configured: give the message FILE instead"
        )
    folders = [entry.destination] if entry.destination and entry.moved_at else []
    folders.append(mailbox.folder)
    found = find_message(mailbox, folders, entry)
    where = f"mailbox {entry.mailbox}, UID {entry.uid}"
    if found is None:
        raise SourceError(
            f"event {event_id}: its message ({where}) is no longer in "
            f"{' or '.join(folders)}: give the message FILE instead"
        )
    wanted = stored_facts(stored.event)
    facts = _pick(parse(found.data), wanted)
    if facts is None:  # the message reads otherwise now (a parser change): teach from it
        facts = wanted
    return Example(
        found.data, facts, classifier.classify_facts(facts), f"event {event_id} ({where})", event_id
    )


def _rules_dir(settings: Settings) -> Path:
    directory = settings.rules.dir
    if directory is None:
        raise ConfigError(
            "rules suggest: no operator rules directory: set [rules] dir in the configuration"
        )
    shipped = shipped_rules_dir().resolve()
    if directory.resolve() == shipped or shipped in directory.resolve().parents:
        raise ConfigError(f"[rules] dir {directory} is the shipped rules: use a directory of yours")
    return directory


def _in_force_with(settings: Settings, directory: Path, staged: Path) -> RuleSet:
    """The rules in force with `staged` among the operator's files, in name order."""
    own = sorted(
        [p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()]
        + [staged],
        key=lambda p: p.name,
    )
    shipped = shipped_rules_dir()
    extra = sorted(p for p in shipped.iterdir() if p.suffix in (".yaml", ".yml"))
    return load_rule_files([*own, *(extra if settings.rules.use_shipped else [])])


@contextmanager
def draft_rule(
    example: Example, choice: RuleChoice, settings: Settings, now: datetime
) -> Iterator[Draft]:
    """Draft the rule in a staging directory (removed afterwards), load it with the rules in
    force and check that the example classifies to it.  RuleError when it does not load;
    ConfigError when the example is decided by another rule first, or the files exist."""
    directory = _rules_dir(settings)
    with tempfile.TemporaryDirectory(prefix="reconciler-suggest-") as staging:
        rule = suggest_rule(example.facts, choice, "", example.source)
        rule_id = str(rule["id"])
        target, beside = directory / f"{rule_id}.yaml", directory / f"{rule_id}.eml"
        for existing in (target, beside):
            if existing.exists():
                raise ConfigError(f"{existing} exists: choose another --id or remove it")
        rule["examples"] = [beside.name]
        comment = (
            f"Suggested by `reconciler rules suggest` on {now:%Y-%m-%d} from {example.source}.\n"
            "Widen or narrow it by hand; `reconciler rules check` validates it."
        )
        text = rule_file_text([rule], comment)
        staged = Path(staging) / target.name
        staged.write_text(text, encoding="utf-8")
        (Path(staging) / beside.name).write_bytes(example.raw)
        ruleset = _in_force_with(settings, directory, staged)
        decided = Classifier(ruleset.rules).classify_facts(example.facts).rule_id
        if decided != rule_id:
            raise ConfigError(
                f"the example is decided by rule {decided!r} before the new one: narrow or "
                "disable that rule, or give the new file a name that sorts first (--id)"
            )
        yield Draft(rule_id, text, target, beside, staged, ruleset, decided)


def save(draft: Draft, example: Example) -> None:
    """Put the drafted rule and its example into the operator rules directory."""
    try:
        draft.example_file.write_bytes(example.raw)
        shutil.copyfile(draft.staged, draft.rule_file)
    except OSError as err:
        raise ConfigError(f"{draft.rule_file.parent}: cannot write the rule: {err}") from err
