"""Load rule files (YAML) into validated, compiled `Rule` records.  Loading only: no matching.

A rule file is a mapping::

    rules:
      - id: user-unknown-text
        description: The remote server says the mailbox does not exist.
        match:
          status: ["5.1.*"]
          diagnostic: ['user unknown', 'no such user']
        reason: userunknown
        examples: [../tests/samples/user-unknown-01.eml]
    disable: [some-shipped-rule-id]     # operator files only: switch shipped rules off
    enable: [some-optional-rule-id]     # switch on a rule marked `optional: true`
    status_codes: [...]                 # code tables: see codetable.py
    reply_codes: [...]

Everything is checked when the file loads: unknown keys, unknown match conditions, bad regexes,
unknown reasons/severities/faults, duplicate ids.  Each problem raises `RuleError` naming the
file, the line and the problem.  Operator files come first (they take precedence: first match
wins), then the shipped ones; the rows of the code tables of all files come after every rule.
A rule marked `optional: true` stays in its place but is off until a file lists it under
`enable:` (the shipped rules offer a site's choice so, where the evidence allows two readings).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from reconciler.classify.codetable import TABLE_KEYS, row_rule
from reconciler.classify.patterns import check as check_pattern
from reconciler.errors import RuleError
from reconciler.frozenrecord import frozen_record
from reconciler.records import (
    ADDRESS_REASONS,
    SENDER_REASONS,
    SENDER_STAGES,
    Fault,
    MessageKind,
    Reason,
    Rule,
    RuleMatch,
    Severity,
    Stage,
)

if TYPE_CHECKING:  # imported where a file is read or written: a cached rule set needs none
    import yaml

__all__ = [
    "RuleSet",
    "load_rule_files",
    "load_rules",
    "rule_file_text",
    "rule_files",
    "shipped_rules_dir",
]

_RULE_KEYS = {"id", "description", "match", "reason", "severity", "fault", "examples", "optional"}
_REQUIRED = ("id", "description", "match", "reason")
_MATCH_KEYS = {
    "kind",
    "status",
    "not_status",
    "reply_code",
    "diagnostic",
    "not_diagnostic",
    "remote_mta",
    "domain",
    "provider",
    "stage",
    "command",
    "action",
    "diagnostic_type",
    "no_code",
}
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_STATUS_PATTERN_RE = re.compile(r"^[245*](\.(\d{1,3}|\*)){0,2}$")
_CODE_PATTERN_RE = re.compile(r"^[2-5][0-9x*]{0,2}$")
# `command` is the older name of `stage`: the SMTP commands it named, and their stages.
_COMMAND_STAGES = {
    "CONNECT": (Stage.CONNECT,),
    "HELO": (Stage.HELO,),
    "EHLO": (Stage.HELO,),
    "STARTTLS": (Stage.HELO,),
    "AUTH": (Stage.HELO,),
    "MAIL": (Stage.MAIL,),
    "RCPT": (Stage.RCPT,),
    "DATA": (Stage.DATA, Stage.END_OF_DATA),
    "BDAT": (Stage.END_OF_DATA,),
}


@frozen_record
class RuleSet:
    """The ordered rules in force, and where they came from."""

    rules: tuple[Rule, ...]
    files: tuple[str, ...]
    disabled: frozenset[str] = frozenset()
    enabled: frozenset[str] = frozenset()  # optional rules switched on
    optional: frozenset[str] = frozenset()  # every rule marked optional, on or off
    # every rule not disabled, in order, the optional ones that are off included: what
    # `explain` lists (marking those off), so that a site sees what enabling one would change
    listed: tuple[Rule, ...] = ()

    @property
    def optional_off(self) -> tuple[str, ...]:
        """The optional rules not in force, sorted (`rules check` names them)."""
        return tuple(sorted(self.optional - self.enabled))


@frozen_record
class _File:
    """What one rule file holds."""

    rules: list[Rule]
    tables: dict[str, list[Rule]]
    disable: list[str]
    enable: list[str]
    optional: frozenset[str]  # ids of its rules marked `optional: true`


class _Located(dict[str, Any]):
    """A YAML mapping that remembers the line it started on."""

    line: int = 0


@functools.cache
def _line_loader() -> type[yaml.SafeLoader]:
    """A SafeLoader that records line numbers and rejects duplicate keys: libyaml's parser when
    PyYAML was built with it (the wheels are), the same documents, marks and errors, five times
    faster than the pure-Python one."""
    import yaml

    base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _LineLoader(base):  # type: ignore[valid-type,misc]  # the base chosen above
        pass

    _LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    return _LineLoader


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _Located:
    import yaml

    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    out = _Located({str(k): v for k, v in loader.construct_mapping(node, deep=True).items()})
    out.line = node.start_mark.line + 1
    return out


def shipped_rules_dir() -> Path:
    """The default rules: inside the installed package, else the checkout's top-level rules/."""
    package = Path(__file__).resolve().parent.parent  # reconciler/
    packaged = package / "_rules"
    return packaged if packaged.is_dir() else package.parent / "rules"


def rule_file_text(rules: Sequence[Mapping[str, object]], comment: str = "") -> str:
    """The YAML text of a rule file holding `rules` (mappings with the keys of a rule, in the
    order given), after `comment` as `#` lines: what `rules suggest` writes."""
    import textwrap

    import yaml

    wrapped = [
        part
        for line in comment.splitlines()
        for part in textwrap.wrap(line, 76, break_on_hyphens=False) or [""]
    ]
    head = "".join(f"# {line}".rstrip() + "\n" for line in wrapped)
    body = yaml.safe_dump(
        {"rules": [dict(rule) for rule in rules]},
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=None,
        width=66,
    )
    return head + body


def load_rules(operator_dir: Path | None = None, *, use_shipped: bool = True) -> RuleSet:
    """Operator rule files first (sorted by name), then the shipped ones."""
    return load_rule_files(rule_files(operator_dir, use_shipped=use_shipped))


def rule_files(operator_dir: Path | None = None, *, use_shipped: bool = True) -> list[Path]:
    """The files `load_rules` loads, in order."""
    files: list[Path] = []
    if operator_dir is not None:
        if not operator_dir.is_dir():
            raise RuleError(f"{operator_dir}: rules directory does not exist")
        files.extend(_yaml_files(operator_dir))
    if use_shipped:
        files.extend(_yaml_files(shipped_rules_dir()))
    return files


def load_rule_files(paths: Iterable[Path]) -> RuleSet:
    """Load the given files in order; the code tables' rows after every rule (the status table
    first); apply `disable:` and `enable:` lists; reject duplicate ids."""
    rules: list[Rule] = []
    tables: dict[str, list[Rule]] = {key: [] for key in TABLE_KEYS}
    disabled: set[str] = set()
    enabled: set[str] = set()
    optional: set[str] = set()
    names: list[str] = []
    for path in paths:
        names.append(str(path))
        loaded = _load_file(path)
        disabled.update(loaded.disable)
        enabled.update(loaded.enable)
        optional.update(loaded.optional)
        rules.extend(loaded.rules)
        for key in TABLE_KEYS:
            tables[key].extend(loaded.tables[key])
    where: dict[str, str] = {}
    for rule in [*rules, *(row for key in TABLE_KEYS for row in tables[key])]:
        if rule.id in where:
            raise RuleError(
                f"{rule.file}:{rule.line}: duplicate rule id {rule.id!r} "
                f"(first defined at {where[rule.id]})"
            )
        where[rule.id] = f"{rule.file}:{rule.line}"
    for key, ids in (("disable", disabled), ("enable", enabled)):
        unknown = ids - where.keys()
        if unknown:
            raise RuleError(f"{key}: unknown rule id(s) {', '.join(sorted(unknown))}")
    fixed = enabled - optional
    if fixed:
        raise RuleError(
            f"enable: {', '.join(sorted(fixed))}: not optional (only a rule marked "
            "'optional: true' can be enabled; every other rule is on unless disabled)"
        )
    ordered = [*rules, *(row for key in TABLE_KEYS for row in tables[key])]
    off = disabled | (optional - enabled)
    kept = tuple(r for r in ordered if r.id not in off)
    return RuleSet(
        rules=kept,
        files=tuple(names),
        disabled=frozenset(disabled),
        enabled=frozenset(enabled - disabled),
        optional=frozenset(optional),
        listed=tuple(r for r in ordered if r.id not in disabled),
    )


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _load_file(path: Path) -> _File:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RuleError(f"{path}: cannot read: {err}") from err
    try:
        doc = yaml.load(text, Loader=_line_loader())  # a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(err, "problem", None) or str(err)
        raise RuleError(f"{path}:{line}: invalid YAML: {problem}") from err
    if not isinstance(doc, _Located):
        raise RuleError(f"{path}:1: expected a mapping with a 'rules' list")
    extra = set(doc) - {"rules", "disable", "enable", *TABLE_KEYS}
    if extra:
        raise RuleError(f"{path}:{doc.line}: unknown top-level key(s): {', '.join(sorted(extra))}")
    raw_rules = doc.get("rules", [])
    if not isinstance(raw_rules, list):
        raise RuleError(f"{path}:{doc.line}: 'rules' must be a list")
    switches = {}
    for key in ("disable", "enable"):
        ids = doc.get(key, [])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise RuleError(f"{path}:{doc.line}: '{key}' must be a list of rule ids")
        switches[key] = ids
    tables = {key: _table(path, key, doc.get(key, []), doc.line) for key in TABLE_KEYS}
    rules = [_build_rule(path, raw, doc.line) for raw in raw_rules]
    optional = frozenset(
        rule.id for rule, raw in zip(rules, raw_rules, strict=True) if raw.get("optional")
    )
    return _File(rules, tables, switches["disable"], switches["enable"], optional)


def _table(path: Path, key: str, rows: object, parent_line: int) -> list[Rule]:
    """The rules of one code table (see codetable.py)."""
    if not isinstance(rows, list):
        raise RuleError(f"{path}:{parent_line}: '{key}' must be a list")
    out = []
    for row in rows:
        line = row.line if isinstance(row, _Located) else parent_line
        raw, problem = row_rule(key, row)
        if raw is None:
            raise RuleError(f"{path}:{line}: {key} row: {problem}")
        located = _Located(raw)
        located.line = line
        rule = _build_rule(path, located, parent_line, table=True)
        out.append(rule)
    return out


def _build_rule(path: Path, raw: object, parent_line: int, *, table: bool = False) -> Rule:
    if not isinstance(raw, _Located):
        raise RuleError(f"{path}:{parent_line}: each rule must be a mapping")
    where = f"{path}:{raw.line}"
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in _REQUIRED:
        if key not in raw:
            raise RuleError(f"{where}: missing required key {key!r}")
    rule_id = raw["id"]
    if not isinstance(rule_id, str) or not _ID_RE.match(rule_id):
        raise RuleError(f"{where}: id {rule_id!r} must be lower-case letters, digits, . _ -")
    where = f"{where}: rule {rule_id!r}"
    if not isinstance(raw["description"], str) or not raw["description"].strip():
        raise RuleError(f"{where}: description must be a non-empty string")
    if not isinstance(raw.get("optional", False), bool):
        raise RuleError(f"{where}: optional must be true or false")
    examples = raw.get("examples", [])
    if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
        raise RuleError(f"{where}: examples must be a list of file paths")
    rule = Rule(
        id=rule_id,
        description=" ".join(raw["description"].split()),
        match=_build_match(where, raw["match"]),
        reason=_enum(where, "reason", Reason, raw["reason"]),
        severity=_enum(where, "severity", Severity, raw["severity"]) if "severity" in raw else None,
        fault=_enum(where, "fault", Fault, raw["fault"]) if "fault" in raw else None,
        examples=tuple(examples),
        file=str(path),
        line=raw.line,
        table=table,
    )
    if rule.severity is Severity.HARD and rule.reason in SENDER_REASONS:
        raise RuleError(f"{where}: a sender-side reason ({rule.reason}) can never be hard")
    stages = rule.match.stages or frozenset()
    if rule.reason in ADDRESS_REASONS and stages & SENDER_STAGES:
        raise RuleError(
            f"{where}: {rule.reason} concerns the address: never concluded at "
            f"{', '.join(sorted(s.value for s in stages & SENDER_STAGES))} (the sender's stages)"
        )
    return rule


_E = TypeVar("_E", Reason, Severity, Fault, MessageKind, Stage)


def _enum(where: str, key: str, enum: type[_E], value: object) -> _E:
    try:
        return enum(str(value).lower())
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise RuleError(f"{where}: {key} {value!r} is not one of: {allowed}") from None


def _build_match(where: str, raw: object) -> RuleMatch:
    if not isinstance(raw, dict) or not raw:
        raise RuleError(f"{where}: match must be a non-empty mapping of conditions")
    unknown = set(raw) - _MATCH_KEYS
    if unknown:
        raise RuleError(f"{where}: unknown match condition(s) {', '.join(sorted(unknown))}")
    sources: list[tuple[str, str]] = []
    for key, value in raw.items():
        items = _as_list(value)
        sources.append((key, ", ".join(items)))
        if not items and key != "no_code":
            raise RuleError(f"{where}: match.{key} is empty")
    no_code = raw.get("no_code")
    if no_code is not None and not isinstance(no_code, bool):
        raise RuleError(f"{where}: match.no_code must be true or false")
    return RuleMatch(
        kinds=_kinds(where, raw.get("kind")),
        statuses=_patterns(where, "status", raw.get("status"), _STATUS_PATTERN_RE),
        not_statuses=_patterns(where, "not_status", raw.get("not_status"), _STATUS_PATTERN_RE),
        reply_codes=_patterns(where, "reply_code", raw.get("reply_code"), _CODE_PATTERN_RE),
        diagnostic=_regexes(where, "diagnostic", raw.get("diagnostic")),
        not_diagnostic=_regexes(where, "not_diagnostic", raw.get("not_diagnostic")),
        remote_mta=_regexes(where, "remote_mta", raw.get("remote_mta")),
        domains=_domains(raw.get("domain")),
        providers=_domains(raw.get("provider")),
        stages=_stage_set(where, raw.get("stage"), raw.get("command")),
        actions=_lower_set(raw.get("action")),
        diagnostic_types=_lower_set(raw.get("diagnostic_type")),
        no_code=no_code,
        sources=tuple(sources),
    )


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool):
        return [str(value).lower()]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _kinds(where: str, value: object) -> frozenset[MessageKind] | None:
    if value is None:
        return None
    return frozenset(_enum(where, "match.kind", MessageKind, v) for v in _as_list(value))


def _patterns(
    where: str, key: str, value: object, shape: re.Pattern[str]
) -> re.Pattern[str] | None:
    """Status / reply-code patterns: `*` is one field (status) or any digits (code); x = digit."""
    if value is None:
        return None
    alternatives = []
    for raw in _as_list(value):
        item = raw.strip().lower()
        if not shape.match(item):
            raise RuleError(f"{where}: match.{key} pattern {item!r} is not valid")
        if key in ("status", "not_status"):
            fields = item.split(".")
            parts = [r"\d{1,3}" if f == "*" else re.escape(f) for f in fields]
            parts += [r"\d{1,3}"] * (3 - len(parts))
            alternatives.append(r"\.".join(parts))
        else:
            alternatives.append(item.replace("x", r"\d").replace("*", r"\d*"))
    return re.compile("^(?:" + "|".join(alternatives) + ")$")


def _regexes(where: str, key: str, value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = tuple(_as_list(value))
    for item in items:
        problem = check_pattern(item)
        if problem is not None:
            raise RuleError(f"{where}: match.{key} regex {item!r}: {problem}")
    return items


def _domains(value: object) -> re.Pattern[str] | None:
    if value is None:
        return None
    import fnmatch  # loading from the files only: a cached rule set needs none

    globs = [fnmatch.translate(d.lower()) for d in _as_list(value)]
    return re.compile("|".join(f"(?:{g})" for g in globs))


def _stage_set(where: str, stage: object, command: object) -> frozenset[Stage] | None:
    """`stage` (connect, helo, mail, rcpt, data, end-of-data, unknown), or the older `command`
    (RCPT, DATA, MAIL, HELO, EHLO, CONNECT, ...) translated to stages; not both."""
    if stage is not None and command is not None:
        raise RuleError(f"{where}: match.stage and match.command: give only stage")
    if stage is not None:
        return frozenset(_enum(where, "match.stage", Stage, v) for v in _as_list(stage))
    if command is None:
        return None
    stages: set[Stage] = set()
    for name in _as_list(command):
        known = _COMMAND_STAGES.get(name.upper())
        if known is None:
            allowed = ", ".join(_COMMAND_STAGES)
            raise RuleError(f"{where}: match.command {name!r} is not one of: {allowed}")
        stages.update(known)
    return frozenset(stages)


def _lower_set(value: object) -> frozenset[str] | None:
    return None if value is None else frozenset(v.lower() for v in _as_list(value))
