"""(ParsedBounce, rules) → Classification: first matching rule wins (STYLE 2.4, 2.5).

The reason comes from the rule; the severity and the fault are derived from the reason (and the
status class) unless the rule overrides them.  Only a few reasons that concern the address itself
are ever HARD, and a result that is not a bounce (auto-reply, complaint, delay, success notice)
is never HARD nor SOFT, whatever a rule says.

The SMTP stage of the failure bounds every rule: a reason about the address itself (unknown
user or domain, moved mailbox, a domain that accepts no mail) is only concluded at the RCPT
stage or when the report names no stage; a refusal at the greeting, HELO/EHLO or MAIL FROM is
the sender's fault and never hard.  The rule files' code tables (status codes, then reply
codes) come after their rules; a final failure none of them decides is `onhold`, or `expired`
when its status says only "temporary" (the reporting MTA gave up retrying).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from reconciler.classify.facts import has_code, provider_hosts, rule_facts
from reconciler.classify.patterns import PatternSet
from reconciler.classify.patterns import find as find_pattern
from reconciler.records import (
    ADDRESS_REASONS,
    ADDRESS_STAGES,
    SENDER_REASONS,
    SENDER_STAGES,
    Classification,
    Fault,
    MessageKind,
    ParsedBounce,
    ParsedMessage,
    Reason,
    Rule,
    RuleFacts,
    RuleMatch,
    Severity,
    Stage,
)

__all__ = [
    "FALLBACK_RULE_ID",
    "Classifier",
    "classify",
    "derive_fault",
    "derive_severity",
    "explain",
]

FALLBACK_RULE_ID = "fallback"

_ADDRESS_REASONS = frozenset({Reason.USERUNKNOWN, Reason.HOSTUNKNOWN, Reason.HASMOVED})
_NOT_BOUNCE_REASONS = frozenset(
    {Reason.VACATION, Reason.FEEDBACK, Reason.DELIVERED, Reason.DELAYED}
)
_RECIPIENT_REASONS = frozenset(
    {
        Reason.USERUNKNOWN,
        Reason.HOSTUNKNOWN,
        Reason.HASMOVED,
        Reason.NOTACCEPT,
        Reason.MAILBOXFULL,
        Reason.EXCEEDLIMIT,
        Reason.SUSPEND,
        Reason.FILTERED,
        Reason.SUPPRESSED,
    }
)
_TRANSIENT_REASONS = frozenset(
    {
        Reason.EXPIRED,
        Reason.SYSTEMERROR,
        Reason.SYSTEMFULL,
        Reason.NETWORKERROR,
        Reason.DELAYED,
        Reason.MAILERERROR,
    }
)
_MEMO_CODES = 4096  # distinct status or reply codes remembered per classifier


def derive_severity(reason: Reason, kind: MessageKind, status: str, reply_code: str) -> Severity:
    """HARD only for reasons about the address itself; NONE for anything not a bounce.

    A delay warning reports a temporary failure: SOFT whatever its reason (never HARD: the MTA
    is still trying).  The policy never counts delay warnings; the severity only describes them.
    """
    if kind is MessageKind.DELAY:
        return Severity.SOFT
    if kind is not MessageKind.BOUNCE or reason in _NOT_BOUNCE_REASONS:
        return Severity.NONE
    if reason in _ADDRESS_REASONS:
        return Severity.HARD
    if reason is Reason.NOTACCEPT:
        first = (status or reply_code)[:1]
        return Severity.SOFT if first == "4" else Severity.HARD
    return Severity.SOFT


def derive_fault(reason: Reason) -> Fault:
    if reason in _RECIPIENT_REASONS:
        return Fault.RECIPIENT
    if reason in SENDER_REASONS:
        return Fault.SENDER
    if reason in _TRANSIENT_REASONS:
        return Fault.TRANSIENT
    return Fault.UNKNOWN


def _match_kind(m: RuleMatch, f: RuleFacts) -> list[str] | None:
    hits = []
    if m.kinds is not None:
        if f.kind not in m.kinds:
            return None
        hits.append(f"kind {f.kind}")  # a StrEnum: its value (.value is a Python call)
    if m.no_code is not None:
        if m.no_code == has_code(f):
            return None
        hits.append("no status or reply code" if m.no_code else "has a status or reply code")
    if m.stages is not None:
        if f.stage not in m.stages:
            return None
        hits.append(f"stage {f.stage}")
    return hits


def _match_fields(m: RuleMatch, f: RuleFacts) -> list[str] | None:
    hits = []
    for name, pattern, value in (
        ("status", m.statuses, f.status),
        ("reply code", m.reply_codes, f.reply_code),
    ):
        if pattern is not None:
            if not value or not pattern.match(value):
                return None
            hits.append(f"{name} {value}")
    if m.not_statuses is not None and f.status and m.not_statuses.match(f.status):
        return None
    for name, values, value in (
        ("action", m.actions, f.action),
        ("diagnostic type", m.diagnostic_types, f.diagnostic_type),
    ):
        if values is not None:
            if value not in values:
                return None
            hits.append(f"{name} {value}")
    return hits


def _match_hosts(m: RuleMatch, f: RuleFacts) -> list[str] | None:
    """The recipient's domain, and the provider evidence (see `facts.provider_hosts`)."""
    hits = []
    if m.domains is not None:
        if not m.domains.match(f.domain):
            return None
        hits.append(f"domain {f.domain}")
    if m.providers is not None:
        host = next((h for h in provider_hosts(f) if m.providers.match(h)), None)
        if host is None:
            return None
        hits.append(f"provider {host}")
    return hits


class _TextHits:
    """Which rules' text conditions hold for one recipient result (from one set match).

    A plain class with read-only fields: the compiled build constructs it natively (mypyc runs
    a dataclass's __init__ as Python)."""

    __slots__ = ("diagnostic", "not_diagnostic", "remote_mta")

    def __init__(
        self,
        diagnostic: dict[int, str],
        not_diagnostic: frozenset[int],
        remote_mta: dict[int, str],
    ) -> None:
        self.diagnostic: Final = diagnostic  # rule -> its first diagnostic pattern that matches
        self.not_diagnostic: Final = not_diagnostic  # rules whose not_diagnostic pattern matches
        self.remote_mta: Final = remote_mta  # rule -> its first remote_mta pattern that matches


class _Plan:
    """The conditions of one rule that are cheap to test, read once from the rule when the
    classifier is built (native attributes in the compiled build): `_fits` rejects most
    candidates with them before `_match` words what a rule matched on."""

    __slots__ = (
        "actions",
        "address_bound",
        "diagnostic",
        "diagnostic_types",
        "domains",
        "kinds",
        "no_code",
        "not_statuses",
        "providers",
        "remote_mta",
        "reply_codes",
        "stages",
        "statuses",
    )

    def __init__(self, rule: Rule) -> None:
        m = rule.match
        # a reason about the address itself, with no stage condition: RCPT or unknown only
        self.address_bound: Final = rule.reason in ADDRESS_REASONS and m.stages is None
        self.kinds: Final = m.kinds
        self.no_code: Final = m.no_code
        self.stages: Final = m.stages
        self.statuses: Final = m.statuses
        self.reply_codes: Final = m.reply_codes
        self.not_statuses: Final = m.not_statuses
        self.actions: Final = m.actions
        self.diagnostic_types: Final = m.diagnostic_types
        self.domains: Final = m.domains
        self.providers: Final = m.providers
        self.remote_mta: Final = m.remote_mta is not None
        self.diagnostic: Final = m.diagnostic is not None


class _Seen:
    """The facts `_fits` reads, read once per result (native attributes in the compiled
    build, where the record's are looked up by name on every read)."""

    __slots__ = (
        "action",
        "coded",
        "diagnostic_type",
        "domain",
        "kind",
        "reply_code",
        "stage",
        "status",
    )

    def __init__(self, f: RuleFacts) -> None:
        self.kind: Final = f.kind
        self.stage: Final = f.stage
        self.status: Final = f.status
        self.reply_code: Final = f.reply_code
        self.action: Final = f.action
        self.diagnostic_type: Final = f.diagnostic_type
        self.domain: Final = f.domain
        self.coded: Final = has_code(f)


def _fits(p: _Plan, s: _Seen, texts: _TextHits, index: int) -> bool:
    """False when the rule cannot match (every condition but the provider's, which `_match`
    tests): what `_match` would find, without wording it."""
    return _fits_facts(p, s) and _fits_codes(p, s) and _fits_texts(p, texts, index)


def _fits_facts(p: _Plan, s: _Seen) -> bool:
    if p.address_bound and s.stage not in ADDRESS_STAGES:
        return False  # the address itself is refused at RCPT (or a stage not stated)
    if p.kinds is not None and s.kind not in p.kinds:
        return False
    if p.no_code is not None and p.no_code == s.coded:
        return False
    if p.stages is not None and s.stage not in p.stages:
        return False
    return (p.actions is None or s.action in p.actions) and (
        p.diagnostic_types is None or s.diagnostic_type in p.diagnostic_types
    )


def _fits_codes(p: _Plan, s: _Seen) -> bool:
    if p.statuses is not None and (not s.status or not p.statuses.match(s.status)):
        return False
    if p.reply_codes is not None and (not s.reply_code or not p.reply_codes.match(s.reply_code)):
        return False
    if p.not_statuses is not None and s.status and p.not_statuses.match(s.status):
        return False
    return p.domains is None or p.domains.match(s.domain) is not None


def _fits_texts(p: _Plan, texts: _TextHits, index: int) -> bool:
    if p.remote_mta and index not in texts.remote_mta:
        return False
    if p.diagnostic and index not in texts.diagnostic:
        return False
    return index not in texts.not_diagnostic


def _worded(
    p: _Plan, s: _Seen, f: RuleFacts, texts: _TextHits, index: int
) -> tuple[str, ...] | None:
    """`_match` of a rule that `_fits`: its words without testing again what `_fits` tested
    (the provider condition, which `_fits` leaves out, is tested here)."""
    hits = []
    if p.kinds is not None:
        hits.append(f"kind {s.kind}")
    if p.no_code is not None:
        hits.append("no status or reply code" if p.no_code else "has a status or reply code")
    if p.stages is not None:
        hits.append(f"stage {s.stage}")
    if p.statuses is not None:
        hits.append(f"status {s.status}")
    if p.reply_codes is not None:
        hits.append(f"reply code {s.reply_code}")
    if p.actions is not None:
        hits.append(f"action {s.action}")
    if p.diagnostic_types is not None:
        hits.append(f"diagnostic type {s.diagnostic_type}")
    if p.domains is not None:
        hits.append(f"domain {s.domain}")
    if p.providers is not None:
        providers = p.providers
        host = next((h for h in provider_hosts(f) if providers.match(h)), None)
        if host is None:
            return None
        hits.append(f"provider {host}")
    if p.remote_mta:
        hits.append(f"remote MTA ~ /{texts.remote_mta[index]}/")
    if p.diagnostic:
        hits.append(f"diagnostic ~ /{texts.diagnostic[index]}/")
    return tuple(hits)


class Classifier:
    """A rule list compiled for matching.

    Every text pattern of every rule goes into one RE2 set per field, so one pass over a
    diagnostic tells which rules' texts match; the rules are then tried in order on cheap
    field checks and set membership.  The rows of the code tables are only tried when their
    code is the result's (looked up once per distinct code).  Build it once per rule list.
    """

    __slots__ = (
        "_by_reply",
        "_by_status",
        "_decided",
        "_diag",
        "_diag_owner",
        "_mta",
        "_mta_owner",
        "_orders",
        "_plans",
        "_table",
        "_untexted",
        "_untexted_order",
        "rules",
    )

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._plans = tuple(_Plan(rule) for rule in self.rules)
        diag: list[tuple[str, int, bool]] = []
        mta: list[tuple[str, int, bool]] = []
        for index, rule in enumerate(self.rules):
            diag += [(p, index, False) for p in rule.match.diagnostic or ()]
            diag += [(p, index, True) for p in rule.match.not_diagnostic or ()]
            mta += [(p, index, False) for p in rule.match.remote_mta or ()]
        self._diag = PatternSet([p for p, _, _ in diag])
        self._diag_owner = tuple(diag)
        self._mta = PatternSet([p for p, _, _ in mta])
        self._mta_owner = tuple(mta)
        # rules without a diagnostic condition: always tried; the others only when it matched
        self._untexted = frozenset(
            i
            for i, rule in enumerate(self.rules)
            if rule.match.diagnostic is None and not rule.table
        )
        self._untexted_order = tuple(sorted(self._untexted))
        self._table = tuple(i for i, rule in enumerate(self.rules) if rule.table)
        self._by_status: dict[str, tuple[int, ...]] = {}
        self._by_reply: dict[str, tuple[int, ...]] = {}
        self._decided: dict[tuple[object, ...], Classification] = {}
        self._orders: dict[tuple[tuple[int, ...], str, str], tuple[int, ...]] = {}

    def __reduce__(self) -> tuple[type[Classifier], tuple[tuple[Rule, ...]]]:
        """Pickled as its rules (compiled sets are not picklable): for helper processes."""
        return (Classifier, (self.rules,))

    def classify(self, bounce: ParsedBounce, report: ParsedMessage | None = None) -> Classification:
        """Classify one recipient result with the first rule that matches it (`report`, the
        parsed message it came from, gives provider rules their evidence)."""
        return self.classify_facts(rule_facts(bounce, report))

    def classify_facts(self, facts: RuleFacts) -> Classification:
        """Classify what the rules read of a result (of a message, or of a stored event)."""
        texts = self._texts(facts)
        seen = _Seen(facts)
        plans = self._plans
        for index in self._ordered(texts, facts):
            plan = plans[index]
            if not _fits(plan, seen, texts, index):
                continue  # (`_match` would give None: its words are made for a fit only)
            hits = _worded(plan, seen, facts, texts, index)
            if hits is not None:
                return self._decide(index, facts, hits)
        return _fallback(facts)

    def explain(
        self, bounce: ParsedBounce, report: ParsedMessage | None = None
    ) -> list[tuple[Rule, tuple[str, ...]]]:
        """Every rule that matches, in order (the first decides), with what it matched on."""
        return self.explain_facts(rule_facts(bounce, report))

    def explain_facts(self, facts: RuleFacts) -> list[tuple[Rule, tuple[str, ...]]]:
        """`explain` of what the rules read of a result."""
        texts = self._texts(facts)
        out = []
        for index in self._candidates(texts, facts):
            hits = self._match(index, facts, texts, show_text=True)
            if hits is not None:
                out.append((self.rules[index], hits))
        return out

    def _candidates(self, texts: _TextHits, f: RuleFacts) -> list[int]:
        """The rules that can match, in order: one set lookup spares trying the others."""
        rows = self._rows(self._by_status, f.status, True) + self._rows(
            self._by_reply, f.reply_code, False
        )
        return sorted(self._untexted.union(texts.diagnostic, rows))

    def _ordered(self, texts: _TextHits, f: RuleFacts) -> tuple[int, ...]:
        """`_candidates` without a set union and a sort, remembered: each part is already in
        rule order (the rules without a text condition; the rules whose diagnostic matched,
        as `_texts` finds them in pattern order, which is rule order; each code's table
        rows), so the parts are merged, once for each alike result."""
        key = (tuple(texts.diagnostic), f.status, f.reply_code)
        found = self._orders.get(key)
        if found is None:
            rows = _union(
                self._rows(self._by_status, f.status, True),
                self._rows(self._by_reply, f.reply_code, False),
            )
            found = _union(_union(self._untexted_order, key[0]), rows)
            if len(self._orders) < _MEMO_CODES:  # bounded, as the code rows
                self._orders[key] = found
        return found

    def _decide(self, index: int, f: RuleFacts, hits: tuple[str, ...]) -> Classification:
        """`_decide` of the rule, remembered: a classification (frozen) depends only on the
        rule, what it matched on, the kind, whether the stage is a sender's and the class of
        the code, so results alike share one (building a frozen record costs more than the
        lookup)."""
        key = (index, hits, f.kind, f.stage in SENDER_STAGES, (f.status or f.reply_code)[:1])
        found = self._decided.get(key)
        if found is None:
            found = _decide(self.rules[index], f, hits)
            if len(self._decided) < _MEMO_CODES:  # bounded, as the code rows
                self._decided[key] = found
        return found

    def _rows(self, memo: dict[str, tuple[int, ...]], code: str, status: bool) -> tuple[int, ...]:
        """The code-table rows whose status (or reply code) pattern matches `code`."""
        if not code:
            return ()
        found = memo.get(code)
        if found is None:
            found = tuple(
                i
                for i in self._table
                if (pattern := _code_pattern(self.rules[i].match, status)) is not None
                and pattern.match(code)
            )
            if len(memo) < _MEMO_CODES:  # bounded: hostile input has endless distinct codes
                memo[code] = found
        return found

    def _texts(self, f: RuleFacts) -> _TextHits:
        diagnostic: dict[int, str] = {}
        negative: set[int] = set()
        for i in self._diag.ordered(f.diagnostic):
            pattern, index, is_negative = self._diag_owner[i]
            if is_negative:
                negative.add(index)
            else:
                diagnostic.setdefault(index, pattern)
        remote: dict[int, str] = {}
        for i in self._mta.ordered(f.remote_mta):
            pattern, index, _ = self._mta_owner[i]
            remote.setdefault(index, pattern)
        return _TextHits(diagnostic, frozenset(negative), remote)

    def _match(
        self, index: int, f: RuleFacts, texts: _TextHits, show_text: bool = False
    ) -> tuple[str, ...] | None:
        """The matched conditions as readable strings, or None when the rule does not match.

        The hot path names the pattern that matched; explanations (`show_text`) also find the
        text it matched, which costs one more search.
        """
        rule = self.rules[index]
        m = rule.match
        if rule.reason in ADDRESS_REASONS and f.stage not in ADDRESS_STAGES and m.stages is None:
            return None  # the address itself is refused at RCPT (or a stage not stated)
        # called one by one, not from a tuple of functions: native calls in the compiled build
        kind = _match_kind(m, f)
        fields = _match_fields(m, f) if kind is not None else None
        hosts = _match_hosts(m, f) if fields is not None else None
        if kind is None or fields is None or hosts is None:
            return None
        hits = [*kind, *fields, *hosts]
        if m.remote_mta is not None:
            if index not in texts.remote_mta:
                return None
            hits.append(f"remote MTA {_shown(texts.remote_mta[index], f.remote_mta, show_text)}")
        if m.diagnostic is not None:
            if index not in texts.diagnostic:
                return None
            hits.append(f"diagnostic {_shown(texts.diagnostic[index], f.diagnostic, show_text)}")
        if index in texts.not_diagnostic:
            return None
        return tuple(hits)


def _union(first: tuple[int, ...], second: tuple[int, ...]) -> tuple[int, ...]:
    """The ascending union of two ascending tuples without repeats (a merge: no sort)."""
    if not second:
        return first
    if not first:
        return second
    out: list[int] = []
    i = j = 0
    n, m = len(first), len(second)
    while i < n and j < m:
        a, b = first[i], second[j]
        if a < b:
            out.append(a)
            i += 1
        elif b < a:
            out.append(b)
            j += 1
        else:
            out.append(a)
            i += 1
            j += 1
    out.extend(first[i:])
    out.extend(second[j:])
    return tuple(out)


def _code_pattern(m: RuleMatch, status: bool) -> re.Pattern[str] | None:
    return m.statuses if status else m.reply_codes


def _shown(pattern: str, text: str, show_text: bool) -> str:
    """The pattern that matched, or (for explanations) the text it matched."""
    if show_text:
        found = find_pattern(pattern, text)
        if found is not None:
            return repr(found)
    return f"~ /{pattern}/"


def _decide(rule: Rule, f: RuleFacts, hits: tuple[str, ...]) -> Classification:
    severity = rule.severity or derive_severity(rule.reason, f.kind, f.status, f.reply_code)
    if f.kind is not MessageKind.BOUNCE:  # only a final failure can be hard
        severity = derive_severity(rule.reason, f.kind, f.status, f.reply_code)
    fault = rule.fault or derive_fault(rule.reason)
    if f.stage in SENDER_STAGES:  # refused before any recipient was named: about us
        severity = Severity.SOFT if severity is Severity.HARD else severity
        fault = Fault.SENDER if fault in (Fault.RECIPIENT, Fault.UNKNOWN) else fault
    return Classification(
        reason=rule.reason,
        severity=severity,
        fault=fault,
        rule_id=rule.id,
        matched_on=hits,
    )


_STAGE_REASONS = {
    Stage.CONNECT: Reason.BLOCKED,  # our sending host refused at the greeting
    Stage.HELO: Reason.BLOCKED,
    Stage.MAIL: Reason.REJECTED,  # our envelope sender refused
}


def _fallback(f: RuleFacts) -> Classification:
    """No rule and no code table decided: the kind says what it is.  A final failure refused
    at the greeting, HELO or MAIL FROM is about our side; else it is on hold, or expired when
    its status says only "temporary" (the reporting MTA stopped retrying).  A delay warning is
    `expired` as Sisimai names it (its kind, not its reason, keeps it from ever counting)."""
    reason = {
        MessageKind.DELAY: Reason.EXPIRED,
        MessageKind.VACATION: Reason.VACATION,
        MessageKind.FEEDBACK: Reason.FEEDBACK,
        MessageKind.DELIVERED: Reason.DELIVERED,
    }.get(f.kind, Reason.UNDEFINED)
    if f.kind is MessageKind.BOUNCE:
        temporary = Reason.EXPIRED if f.status[:1] == "4" else Reason.ONHOLD
        reason = _STAGE_REASONS.get(f.stage, temporary)
    severity = derive_severity(reason, f.kind, f.status, f.reply_code)
    fault = derive_fault(reason)
    if f.stage in SENDER_STAGES and fault is Fault.UNKNOWN:
        fault = Fault.SENDER
    return Classification(reason, severity, fault, FALLBACK_RULE_ID, ())


def classify(
    bounce: ParsedBounce, classifier: Classifier, report: ParsedMessage | None = None
) -> Classification:
    """`classifier.classify(bounce, report)`."""
    return classifier.classify(bounce, report)


def explain(
    bounce: ParsedBounce, classifier: Classifier, report: ParsedMessage | None = None
) -> list[tuple[Rule, tuple[str, ...]]]:
    """`classifier.explain(bounce, report)`."""
    return classifier.explain(bounce, report)
