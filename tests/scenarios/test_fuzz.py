"""Hostile and broken input through the pure stages (issue 7): parse → VERP → classify.

For every generated message, `reconciler.analysis.analyse` must return (never raise), the
result must be a verdict per recipient or an error reason (kind ERROR with `error` set), the
classify output rows must serialise, no forged token may verify, and the work per message
stays bounded: wall time below `MAX_SECONDS` and a tracemalloc peak below `MAX_PEAK_MB`.

Encoded words and NULs (issue 12): RFC 2047 words in any charset, raw NULs and 8-bit bytes
in every header the parser reads and in bodies of any charset go through the analysis into a
real store (SQLite, PostgreSQL, MariaDB), which must accept them and hold only valid text.

Inputs: hypothesis-built MIME trees (random boundaries, headers, Content-Type, transfer
encodings and charsets, DSN-like delivery-status blocks with random fields, CR/LF mixes),
random bytes, and mutations of the real Sisimai corpus (tests/corpus/sisimai/emails).

The default run tries 300 cases per test.  The fuzz target runs 10,000 per test:

    RECONCILER_FUZZ_EXAMPLES=10000 pytest -m fuzz tests/scenarios/test_fuzz.py -s

(`-m fuzz` alone also defaults to 10,000; `-s` shows the figures: cases, total time, slowest
case, largest memory peak).  Hypothesis uses no example database here, so that a run is not
shaped by earlier ones; a failure prints the reproducing input.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from helpers_mail import VERP, token_for
from helpers_text import foreign, hostile_bounce, plain
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from support import CORPUS

from reconciler.analysis import Analysis, Destinations, Stages, analyse, ledger_entry
from reconciler.classify import Classifier, explain
from reconciler.classify.facts import stored_facts
from reconciler.classify.rules import load_rules
from reconciler.controls import neutralise
from reconciler.parse import MAX_RECIPIENTS
from reconciler.records import (
    ActionCount,
    ActionRecord,
    ActionStatus,
    AuditEntry,
    BounceEvent,
    Checkpoint,
    DayCount,
    Decision,
    DecisionKind,
    DecisionSummary,
    Disposition,
    EventSummary,
    Fault,
    Incident,
    IncidentScope,
    LedgerEntry,
    MessageKind,
    Mode,
    ModeState,
    Overview,
    RawMessage,
    Reason,
    RuleFacts,
    Severity,
    Standing,
    StoredDecision,
    StoredEvent,
    Suppression,
    Trail,
    Trigger,
    UserSelector,
)
from reconciler.report.classify import print_explain
from reconciler.report.console import make_console
from reconciler.report.ops import print_decisions, print_suppressions
from reconciler.report.overview import print_overview
from reconciler.report.results import result_rows, row_json
from reconciler.report.trail import print_trail
from reconciler.settings import PolicySettings
from reconciler.store import Store
from reconciler.store.models import Event, Message
from reconciler.validtext import is_valid_text, valid_text

pytestmark = pytest.mark.fuzz

MAX_SECONDS = 0.5  # per generated case (timed without tracemalloc)
MAX_PEAK_MB = 32.0  # per generated case
BOMB_SECONDS = 5.0  # per crafted worst case (megabytes of input)
BOMB_PEAK_MB = 128.0
NOW = 1_795_500_000  # 2026-11-25: VERP checks are made as of this time
TOKEN_USER = 4242


@dataclass
class Figures:
    """What one fuzz test measured (printed at its end)."""

    name: str
    cases: int = 0
    total: float = 0.0
    slowest: float = 0.0
    slowest_size: int = 0
    peak: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"fuzz {self.name}: cases={self.cases} time={self.total:.1f}s "
            f"slowest={self.slowest * 1000:.1f}ms ({self.slowest_size} bytes) "
            f"max-peak={self.peak / 2**20:.2f}MB kinds={dict(sorted(self.kinds.items()))}"
        )


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_rules().rules)


@pytest.fixture(scope="module")
def examples(request: pytest.FixtureRequest) -> int:
    """Cases per test: $RECONCILER_FUZZ_EXAMPLES, else 10,000 under `-m fuzz`, else 300."""
    configured = os.environ.get("RECONCILER_FUZZ_EXAMPLES")
    if configured:
        return int(configured)
    markexpr = str(request.config.getoption("markexpr", "") or "")
    return 10_000 if "fuzz" in markexpr and "not fuzz" not in markexpr else 300


@pytest.fixture
def measured(classifier: Classifier, request: pytest.FixtureRequest) -> Iterator[Callable]:
    """`check(data, token_user=None)`: analyse one message under the invariants, measured."""
    figures = Figures(request.node.name)

    def timed(data: bytes) -> tuple[Analysis, float]:
        start = time.perf_counter()
        analysis = analyse(data, classifier, VERP, NOW)
        return analysis, time.perf_counter() - start

    def check(data: bytes, token_user: int | None = None) -> Analysis:
        analysis, elapsed = timed(data)
        if elapsed >= MAX_SECONDS:  # a stalled machine slows one run; slow work slows all
            elapsed = min(elapsed, *(timed(data)[1] for _ in range(2)))
        _invariants(analysis, token_user)
        tracemalloc.start()  # only around a second run: it would slow the timing and hypothesis
        try:
            analyse(data, classifier, VERP, NOW)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        figures.cases += 1
        figures.total += elapsed
        figures.peak = max(figures.peak, peak)
        if elapsed > figures.slowest:
            figures.slowest, figures.slowest_size = elapsed, len(data)
        kind = analysis.kind.value
        figures.kinds[kind] = figures.kinds.get(kind, 0) + 1
        assert elapsed < MAX_SECONDS, f"{elapsed:.3f} s for {len(data)} bytes"
        assert peak < MAX_PEAK_MB * 2**20, f"{peak / 2**20:.1f} MB for {len(data)} bytes"
        return analysis

    yield check
    print("\n" + figures.line())
    assert figures.cases > 0


def _invariants(analysis: Analysis, token_user: int | None) -> None:
    message = analysis.message
    if analysis.kind is MessageKind.ERROR:
        assert isinstance(message.error, str) and message.error, "ERROR without a reason"
        assert analysis.verdicts == ()
    for verdict in analysis.verdicts:
        assert isinstance(verdict.classification.reason, Reason)
        assert isinstance(verdict.classification.severity, Severity)
        assert verdict.classification.rule_id
    assert analysis.verp is not None
    if analysis.verp.valid:  # only the token we planted can verify; nothing forged does
        assert token_user is not None and analysis.verp.user_id == TOKEN_USER
    rows = result_rows("fuzz", analysis)
    assert rows
    json.dumps([row_json(row) for row in rows], ensure_ascii=False)


# -- strategies: MIME trees ------------------------------------------------------------------

EOLS = st.sampled_from([b"\r\n", b"\n", b"\r", b"\n\r"])
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)
ASCII = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
CHARSETS = st.sampled_from(
    ["utf-8", "us-ascii", "iso-8859-1", "iso-2022-jp", "utf-7", "utf-16", "bogus-42", "",
     "unknown-8bit", "windows-1252", "gb2312", '"utf-8"', "utf-8; format=flowed"]
)  # fmt: skip
ENCODINGS = st.sampled_from(
    ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus", ""]
)
LEAF_TYPES = st.sampled_from(
    ["text/plain", "text/html", "message/delivery-status", "message/global-delivery-status",
     "text/rfc822-headers", "message/rfc822", "message/feedback-report",
     "application/octet-stream", "message/partial", "garbage", "text/plain; name=\"x\""]
)  # fmt: skip
MULTI_TYPES = st.sampled_from(
    ["multipart/report; report-type=delivery-status", "multipart/mixed",
     "multipart/alternative", "multipart/report; report-type=feedback-report",
     "multipart/related", "multipart/report"]
)  # fmt: skip
BOUNDARIES = st.one_of(
    st.text(alphabet="abcXYZ0123456789'()+_,-./:=? ", min_size=0, max_size=75),
    st.sampled_from(["", "-", "--", "=_", "a" * 200, '"quoted"', "b\x00c", "ünï"]),
)
HEADER_NAMES = st.sampled_from(
    ["From", "To", "Cc", "Subject", "Date", "Message-ID", "Delivered-To", "X-Original-To",
     "Envelope-To", "Return-Path", "Auto-Submitted", "Precedence", "X-Failed-Recipients",
     "Received", "MIME-Version", "Content-Disposition", "Content-Description", "X-Mailer",
     "In-Reply-To", "References", "Feedback-Type", "X-Autoreply"]
)  # fmt: skip
STATUS = st.one_of(
    st.from_regex(r"\A[245]\.[0-9]{1,3}\.[0-9]{1,3}\Z"),
    ASCII,
    st.sampled_from(["5.1.1", "4.2.2", "5.7.1 (blocked)", "2.0.0", "9.9.9", "5..1", ""]),
)
ADDRESSES = st.one_of(
    st.emails().map(str),
    ASCII,
    st.sampled_from(["<>", "@", "a@", "@b", "<a@b", "user@[127.0.0.1]", '"a b"@c.example']),
)


def _header_value() -> st.SearchStrategy[bytes]:
    return st.one_of(
        TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.binary(max_size=60),
        TEXT.map(lambda t: b"=?utf-8?b?" + base64.b64encode(t.encode()) + b"?="),
        st.sampled_from([b"=?bogus?q?=ZZ?=", b"=?utf-8?x?abc?=", b"(comment", b'"unclosed']),
    )


@st.composite
def headers(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    found = [
        (draw(HEADER_NAMES).encode(), draw(_header_value())) for _ in range(draw(st.integers(0, 6)))
    ]
    if draw(st.booleans()):  # a random header name (maybe no colon-safe characters at all)
        found.append((draw(st.binary(min_size=1, max_size=20)), draw(_header_value())))
    return found


@st.composite
def dsn_block(draw: st.DrawFn) -> bytes:
    """A delivery-status body: per-message fields, then per-recipient blocks, random fields."""
    eol = draw(EOLS)
    lines = []
    if draw(st.booleans()):
        lines.append(b"Reporting-MTA: dns; " + draw(ASCII).encode())
    if draw(st.booleans()):
        lines.append(b"Arrival-Date: " + draw(ASCII).encode())
    for _ in range(draw(st.integers(0, 4))):
        lines.append(b"")
        if draw(st.booleans()):
            lines.append(b"Final-Recipient: rfc822; " + draw(ADDRESSES).encode())
        if draw(st.booleans()):
            lines.append(b"Original-Recipient: " + draw(ASCII).encode())
        action = draw(st.sampled_from(["failed", "delayed", "delivered", "relayed", "x", ""]))
        lines.append(b"Action: " + action.encode())
        lines.append(b"Status: " + draw(STATUS).encode())
        if draw(st.booleans()):
            lines.append(b"Diagnostic-Code: smtp; " + draw(_header_value()))
        if draw(st.booleans()):
            lines.append(b"Remote-MTA: dns; " + draw(ASCII).encode())
        if draw(st.booleans()):
            lines.append(draw(st.binary(max_size=40)))  # a broken field line
    return eol.join(lines)


def _leaf_body() -> st.SearchStrategy[bytes]:
    return st.one_of(
        dsn_block(),
        st.binary(max_size=300),
        TEXT.map(str.encode),
        st.binary(max_size=200).map(base64.b64encode),
        st.sampled_from([b"=ZZ=\n=", b"begin 644 x\n`\nend\n", b"\x00" * 50, b"-" * 300]),
    )


@dataclass
class Node:
    """One MIME entity: headers, and either a body or child entities."""

    content_type: str
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    children: list[Node] = field(default_factory=list)
    boundary: str = ""
    close: bool = True  # the closing boundary is present


@st.composite
def leaves(draw: st.DrawFn) -> Node:
    ctype = draw(LEAF_TYPES) + (f"; charset={draw(CHARSETS)}" if draw(st.booleans()) else "")
    extra = draw(headers())
    extra.append((b"Content-Transfer-Encoding", draw(ENCODINGS).encode()))
    return Node(ctype, extra, body=draw(_leaf_body()))


@st.composite
def _multipart_of(draw: st.DrawFn, children: st.SearchStrategy[Node]) -> Node:
    boundary = draw(BOUNDARIES)
    param = f'"{boundary}"' if draw(st.booleans()) else boundary
    ctype = f"{draw(MULTI_TYPES)}; boundary={param}"
    parts = draw(st.lists(children, max_size=5))
    return Node(ctype, draw(headers()), children=parts, boundary=boundary,
                close=draw(st.booleans()) or draw(st.booleans()))  # fmt: skip


def _multipart(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return _multipart_of(children)


TREES = st.recursive(leaves(), _multipart, max_leaves=12)


def render(node: Node, eol: bytes, wrong: bool) -> bytes:
    """Serialise a tree; `wrong` uses a mismatched delimiter in multiparts (a common breakage)."""
    lines = [name + b": " + value for name, value in node.headers]
    lines.append(b"Content-Type: " + node.content_type.encode("utf-8", "surrogatepass"))
    head = eol.join(lines) + eol + eol
    if not node.children and not node.boundary:
        return head + node.body
    delimiter = b"--" + (node.boundary + ("x" if wrong else "")).encode("utf-8", "surrogatepass")
    body = b"preamble" + eol
    for child in node.children:
        body += delimiter + eol + render(child, eol, wrong) + eol
    if node.close:
        body += delimiter + b"--" + eol + b"epilogue"
    return head + body


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes, int | None]:
    """A MIME message, maybe carrying a valid token for TOKEN_USER in Delivered-To."""
    eol = draw(EOLS)
    tree = draw(TREES)
    planted = draw(st.booleans())
    token = token_for(TOKEN_USER, address=None, at=_issued())
    prefix = f"Delivered-To: {token}".encode() + eol if planted else b""
    data = prefix + b"MIME-Version: 1.0" + eol + render(tree, eol, draw(st.booleans()))
    if draw(st.booleans()):  # mix line endings inside one message
        data = data.replace(b"\r\n", draw(EOLS), draw(st.integers(0, 50)))
    return data, (TOKEN_USER if planted else None)


def _issued() -> datetime:
    return datetime.fromtimestamp(NOW - 3600, UTC)


# -- strategies: corpus mutations ------------------------------------------------------------


def _corpus() -> list[bytes]:
    return [p.read_bytes() for p in sorted(CORPUS.glob("*.eml")) if p.stat().st_size < 64_000]


@st.composite
def mutated(draw: st.DrawFn, corpus: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        span = draw(st.integers(1, 200))
        op = draw(st.integers(0, 8))
        if op == 0:
            data[at] = draw(st.integers(0, 255))  # flip a byte
        elif op == 1:
            del data[at : at + span]  # cut a range
        elif op == 2:
            data[at:at] = data[at : at + span]  # duplicate a range
        elif op == 3:
            data[at:at] = draw(st.binary(min_size=1, max_size=64))  # insert random bytes
        elif op == 4:
            del data[at:]  # truncate
        elif op == 5:  # change every line ending
            data = bytearray(bytes(data).replace(b"\r\n", b"\n").replace(b"\n", draw(EOLS)))
        elif op == 6:  # break the boundaries
            data = bytearray(bytes(data).replace(b"boundary=", b"boundary=x", 1))
        elif op == 7:  # a header that claims something else
            data[0:0] = b"Content-Type: " + draw(MULTI_TYPES).encode() + b"; boundary=\r\n"
        else:  # the whole thing in base64 under a text/plain header
            data = bytearray(b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(data))
    return bytes(data)


# -- the tests -------------------------------------------------------------------------------

_SETTINGS = {
    "deadline": None,  # the per-case bound is asserted by `measured` instead
    "database": None,
    "derandomize": False,
    "suppress_health_check": list(HealthCheck),
}


def test_generated_mime_trees(measured: Callable, examples: int) -> None:
    @settings(max_examples=examples, **_SETTINGS)
    @given(messages())
    def run(case: tuple[bytes, int | None]) -> None:
        measured(case[0], case[1])

    run()


def test_mutated_corpus_messages(measured: Callable, examples: int) -> None:
    corpus = _corpus()
    assert len(corpus) > 200

    @settings(max_examples=examples, **_SETTINGS)
    @given(mutated(corpus))
    def run(data: bytes) -> None:
        measured(data)

    run()


def test_random_bytes(measured: Callable, examples: int) -> None:
    @settings(max_examples=examples, **_SETTINGS)
    @given(st.binary(max_size=4096))
    def run(data: bytes) -> None:
        measured(data)

    run()


def _bombs() -> dict[str, bytes]:
    """Crafted worst cases: each is a few MB or a pathological structure."""
    level = b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n"
    nest = b"".join(level % (i, i) for i in range(5000))
    many = b"Content-Type: multipart/mixed; boundary=z\r\n\r\n" + b"--z\r\n\r\nx\r\n" * 100_000
    rfc822 = b"Content-Type: message/rfc822\r\n\r\n" * 20_000
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(200_000)) + b"\r\nbody"
    long_line = b"Subject: " + b"a" * 6_000_000 + b"\r\n\r\nbody"
    folded = b"To: a@b.example" + b"\r\n ,c@d.example" * 300_000 + b"\r\n\r\nbody"
    dsn = (
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=q\r\n\r\n"
        b"--q\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n"
        + b"\r\nFinal-Recipient: rfc822; u@x.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        * 50_000
    )
    base64_bomb = b"Content-Transfer-Encoding: base64\r\n\r\n" + b"QUFB" * 1_500_000
    crlf_only = b"\r\n" * 3_000_000 + b"x"
    return {
        "nested-5000-multiparts": nest,
        "100000-parts": many,
        "20000-nested-rfc822": rfc822,
        "200000-headers": headers,
        "6MB-header-line": long_line,
        "300000-folded-addresses": folded,
        "50000-dsn-recipients": dsn,
        "6MB-base64": base64_bomb,
        "3M-blank-lines": crlf_only,
    }


@pytest.mark.parametrize("name", list(_bombs()))
def test_crafted_worst_cases_stay_bounded(name: str, classifier: Classifier) -> None:
    """Timed without tracemalloc (it slows Python several times), then measured with it."""
    data = _bombs()[name]
    start = time.perf_counter()
    analysis = analyse(data, classifier, VERP, NOW)
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    try:
        analyse(data, classifier, VERP, NOW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _invariants(analysis, None)
    print(f"\nbomb {name}: {len(data)} bytes, {elapsed:.2f} s, peak {peak / 2**20:.1f} MB")
    assert elapsed < BOMB_SECONDS, f"{name}: {elapsed:.2f} s"
    assert peak < BOMB_PEAK_MB * 2**20, f"{name}: {peak / 2**20:.1f} MB"
    # no amplification: recipient results grow at most with the input (>= 40 bytes each)
    assert len(analysis.message.bounces) <= len(data) // 40
    assert len(analysis.message.bounces) <= MAX_RECIPIENTS  # and never more than the cap


def test_no_memory_growth_across_many_messages(classifier: Classifier) -> None:
    """No leak: after a warm-up, 600 more mutated messages leave the traced memory flat."""
    corpus = _corpus()
    rng = random.Random(7)

    def one() -> None:
        data = bytearray(rng.choice(corpus))
        for _ in range(3):
            at = rng.randrange(len(data))
            data[at : at + rng.randint(1, 50)] = rng.randbytes(rng.randint(0, 20))
        analyse(bytes(data), classifier, VERP, NOW)

    for _ in range(300):
        one()
    tracemalloc.start()
    try:
        for _ in range(100):
            one()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(600):
            one()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    print(f"\nmemory growth over 600 messages: {grown / 1024:.0f} KiB")
    assert grown < 2 * 2**20, f"{grown / 2**20:.1f} MB kept after 600 messages"


# -- bounce text on the terminal: markup, ANSI / OSC sequences, control characters -----------

MARKUP = st.sampled_from(
    ["[/]", "[bold]", "[/bold]", "[link=https://evil.example/]", "[/link]", "[red on blue]",
     "[", "]", "\\[", "[/", ":warning:", ":smile:", "[@click=app.quit]", "[b i u]", "[[", "]]"]
)  # fmt: skip
SEQUENCES = st.sampled_from(
    ["\x1b[2J", "\x1b]0;title\x07", "\x1b]8;;https://evil.example/\x1b\\", "\x1b[31m", "\x1bc",
     "\x1b[?1049h", "\x1bP+q544e\x1b\\", "\x9b2J", "\x9d0;t\x9c", "\x1b[6n", "\x1b]52;c;eA==\x07"]
)  # fmt: skip
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
CONTROLS = st.one_of(
    st.characters(max_codepoint=0x1F),  # C0
    st.characters(min_codepoint=0x7F, max_codepoint=0x9F),  # DEL, C1
    st.sampled_from([*BIDI, "\u2028", "\u2029", "\ufeff"]),
)
HOSTILE_TEXT = st.lists(
    st.one_of(MARKUP, SEQUENCES, CONTROLS, st.text(max_size=6)), min_size=1, max_size=14
).map("".join)
_WIDE = 4000  # columns: nothing folds, so every text can be found whole in the output


def _report_records(text: str, other: str) -> tuple[Overview, Trail]:
    """A report and an evidence trail whose message-borne fields are `text` and `other`."""
    at = datetime(2026, 11, 25, tzinfo=UTC)
    event = BounceEvent(
        recipient=other, kind=MessageKind.BOUNCE, reason=Reason.USERUNKNOWN,
        severity=Severity.HARD, fault=Fault.RECIPIENT, rule_id=text, event_time=at,
        status=other, diagnostic=text, remote_mta=other, original_message_id=text,
        realm=other, user_id=1, verp_valid=True,
    )  # fmt: skip
    decision = Decision(
        kind=DecisionKind.SUPPRESS, realm=other, user_id=1, address=text, at=NOW,
        mode=Mode.ENFORCE, disposition=Disposition.APPLIED, trigger=Trigger.HARD, rule=other,
    )  # fmt: skip
    stored = StoredDecision(1, text, decision, at, applied_at=at)
    state = ModeState(Mode.PAUSED, at, other, text)
    trip = AuditEntry(1, at, "breaker", "breaker", text)
    summary = EventSummary(
        total=1, kinds=((MessageKind.BOUNCE, 1),), severities=((Severity.HARD, 1),),
        reasons=((Reason.USERUNKNOWN, 1),), faults=((Fault.RECIPIENT, 1),),
        domains=((text, 1),), remote_mtas=((other, 1),), days=(DayCount(at.date(), hard=1),),
    )  # fmt: skip
    decisions = DecisionSummary(1, (), (), 1, 0, (ActionCount(text, ActionStatus.DONE, 1),))
    overview = Overview(
        since=at, until=at, mailbox=other, policy=PolicySettings(), mode=state, last_trip=trip,
        events=summary, outcomes=(), standings=(Standing(other, 1, text, 3, 0, 1.0, None),),
        decisions=decisions, checkpoints=(Checkpoint(text, 1, 1, at),),
        incidents=(Incident(IncidentScope.REMOTE_MTA, text, Reason.USERUNKNOWN, 5, 0, 1, True),),
    )  # fmt: skip
    action = ActionRecord(1, 1, other, ActionStatus.FAILED, text, at, other, 1, text)
    trail = Trail(
        selector=UserSelector(address=text), events=((StoredEvent(1, other, 1, 1, at, event),
        Mode.ENFORCE),), decisions=(stored,), actions=((action, Mode.ENFORCE),),
        audit=((trip, Mode.ENFORCE),), suppressions=(Suppression(text, other, 1, other, at, 1),),
    )  # fmt: skip
    return overview, trail


def _rendered(draw: Callable[[Console], None]) -> tuple[str, str]:
    """What `draw` prints on a terminal and when piped."""
    outputs = []
    for terminal in (True, False):
        out = io.StringIO()
        console = make_console(out, terminal=terminal)
        console.width = _WIDE
        draw(console)
        outputs.append(out.getvalue())
    return outputs[0], outputs[1]


def test_markup_and_controls_in_bounce_text_never_reach_the_terminal(
    classifier: Classifier, examples: int
) -> None:
    """Bounce text with rich markup, ANSI / OSC sequences and control characters, through
    `explain` and the report, trail, decisions and suppressions tables: no exception, and no
    escape sequence in the output but our SGR styling (the same text with it or without)."""

    @settings(max_examples=examples, **_SETTINGS)
    @given(HOSTILE_TEXT, HOSTILE_TEXT)
    def run(text: str, other: str) -> None:
        analysis = analyse(hostile_bounce(text), classifier, VERP, NOW)
        chains = [explain(v.bounce, classifier) for v in analysis.verdicts]
        overview, trail = _report_records(text, other)
        views: list[Callable[[Console], None]] = [
            lambda c: print_explain(c, other, analysis, chains),
            lambda c: print_overview(c, overview),
            lambda c: print_trail(c, trail),
            lambda c: print_decisions(c, trail.decisions, text),
            lambda c: print_suppressions(c, trail.suppressions),
        ]
        for view in views:
            styled_out, piped_out = _rendered(view)
            assert foreign(styled_out) == [] and foreign(piped_out) == []
            assert "\x1b" not in piped_out
            assert plain(styled_out) == piped_out  # styling adds SGR only, never content
        _, explained = _rendered(views[0])
        message = analysis.message
        shown = [message.subject, message.original.message_id if message.original else None]
        for verdict in analysis.verdicts:
            shown += [verdict.bounce.diagnostic, verdict.bounce.remote_mta]
        for value in filter(None, shown):  # as the parser read it, escapes visible
            assert neutralise(value).strip() in explained


# -- encoded words and NULs, into the store (issue 12, item 2) ----------------------------------
#
# RFC 2047 words in any charset, raw NULs and 8-bit bytes, in every header the parser reads (at
# the top, in a delivery-status or feedback report, in the returned message) and in a body of
# any charset: the analysis must end normally, the store must accept its entry, and every text
# the store then holds must be valid UTF-8 without NUL (each backend: SQLite, PostgreSQL and
# MariaDB refuse different things).

TOP_HEADERS = (
    "From", "To", "Cc", "Subject", "Date", "Message-ID", "Sender", "Return-Path", "Delivered-To",
    "X-Original-To", "Envelope-To", "X-Envelope-To", "X-Failed-Recipients", "Auto-Submitted",
    "Precedence", "X-Autoreply", "X-Autorespond", "X-Vacation", "X-Apple-Unsubscribe",
    "X-HmXmrOriginalRecipient", "X-MLServer", "Content-Type",
)  # fmt: skip
DSN_FIELDS = (
    "Reporting-MTA", "Arrival-Date", "Original-Envelope-Id", "Received-From-MTA", "DSN-Gateway",
    "Final-Recipient", "Original-Recipient", "Action", "Status", "Remote-MTA", "Diagnostic-Code",
    "Last-Attempt-Date",
)  # fmt: skip
ARF_FIELDS = ("Feedback-Type", "Original-Rcpt-To", "Original-Mail-From", "Arrival-Date")
RETURNED = ("Message-ID", "Return-Path", "From", "To", "Sender", "Subject", "Date")
PLACES = (
    [("top", h) for h in TOP_HEADERS]
    + [("dsn", f) for f in DSN_FIELDS]
    + [("arf", f) for f in ARF_FIELDS]
    + [("returned", h) for h in RETURNED]
    + [("body", "text")]
)
WORD_CHARSETS = st.sampled_from(
    ["utf-7", "utf-8", "utf-16", "utf-16-be", "utf-16-le", "utf-32", "latin-1", "windows-1252",
     "iso-2022-jp", "shift_jis", "gb18030", "koi8-r", "big5", "us-ascii", "x-unknown", "UTF-7"]
)  # fmt: skip
# payloads that decode to a lone surrogate (UTF-7, UTF-16, UTF-32), a pair, or a NUL
NASTY = st.sampled_from(
    [b"+2D0-", b"+3gA-", b"+2D3eAA-", b"a+AAA-b", b"\x00", b"a\x00b", b"\xd8\x3d", b"\x3d\xd8",
     b"\x00\xd8\x00\x00", b"\xff\xfe\x3d\xd8"]
)  # fmt: skip
POISON = b"=?utf-7?q?+2D0-?= =?utf-8?q?a=00b?= \x00 =?utf-16-be?b?2D0=?= caf\xe9"


def encoded_word(charset: str, payload: bytes, base: bool) -> bytes:
    if base:
        return b"=?" + charset.encode() + b"?b?" + base64.b64encode(payload) + b"?="
    return (
        b"=?" + charset.encode() + b"?q?" + "".join(f"={b:02X}" for b in payload).encode() + b"?="
    )


@st.composite
def hostile_values(draw: st.DrawFn) -> bytes:
    """Text, encoded words in any charset, raw NULs and 8-bit bytes, side by side."""
    piece = st.one_of(
        st.builds(encoded_word, WORD_CHARSETS, st.one_of(NASTY, st.binary(max_size=16)),
                  st.booleans()),
        ASCII.map(str.encode),
        st.sampled_from([b"\x00", b"\xe9", b"\xff\xfe", b"user@example.org", b"<a@b.example>"]),
    )  # fmt: skip
    return b" ".join(draw(st.lists(piece, min_size=1, max_size=5)))


def hostile_message(values: dict[tuple[str, str], bytes], body_charset: str, arf: bool) -> bytes:
    """A DSN (or an ARF report) whose headers, fields and body carry `values` where given."""

    def field(place: str, name: str, default: bytes) -> bytes:
        return name.encode() + b": " + values.get((place, name), default) + b"\r\n"

    top = b"".join(field("top", h, b"x@example.org") for h in TOP_HEADERS if h != "Content-Type")
    kind = b"feedback-report" if arf else b"delivery-status"
    top += b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=" + kind
    top += b"; boundary=q" + values.get(("top", "Content-Type"), b"") + b"\r\n\r\n"
    body = values.get(("body", "text"), b"+2D0- =00 550 5.1.1 user unknown")
    text = (b"--q\r\nContent-Type: text/plain; charset=" + body_charset.encode() + b"\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + body + b"\r\n")  # fmt: skip
    if arf:
        report = b"".join(field("arf", f, b"abuse") for f in ARF_FIELDS)
        report_type = b"message/feedback-report"
    else:
        report = b"".join(field("dsn", f, b"rfc822; u@example.org") for f in DSN_FIELDS[:5])
        report += b"\r\n" + b"".join(field("dsn", f, b"failed") for f in DSN_FIELDS[5:])
        report_type = b"message/delivery-status"
    returned = b"".join(field("returned", h, b"<orig@example.com>") for h in RETURNED)
    return (
        top + text + b"--q\r\nContent-Type: " + report_type + b"\r\n\r\n" + report
        + b"\r\n--q\r\nContent-Type: text/rfc822-headers\r\n\r\n" + returned + b"--q--\r\n"
    )  # fmt: skip


class Recorder:
    """The pipeline into a real store: analyse, record, read back what the store holds."""

    def __init__(self, store: Store, classifier: Classifier) -> None:
        self.store = store
        self.stages = Stages(classifier, VERP)
        self.folders = Destinations("processed", "unmatched", "quarantine")
        self.uid = 0
        self.invalid_before = 0  # entries that held invalid text before the store's boundary
        self.after = 0  # the last event read back

    def record(self, data: bytes) -> LedgerEntry:
        self.uid += 1
        when = datetime.fromtimestamp(NOW, UTC)
        raw = RawMessage("fuzz", 1, self.uid, data, len(data), when)
        entry, analysis = ledger_entry(raw, self.stages, self.folders, when)  # never raises
        self.invalid_before += not all(is_valid_text(t) for t in _texts(entry))
        result = self.store.record_batch([entry], when)  # accepted, on every backend
        assert self.uid in result.recorded + result.duplicates
        held = list(Message.select().where(Message.uid == self.uid).dicts())
        held += list(Event.select().join(Message).where(Message.uid == self.uid).dicts())
        texts = [v for row in held for v in row.values() if isinstance(v, str)]
        assert texts and all(is_valid_text(t) for t in texts), texts
        # and what the rules read comes back as they read it: a replay classifies the same
        fresh: dict[str, RuleFacts] = {}  # by the recipient as stored (the first one kept)
        for event, verdict in zip(entry.events, analysis.verdicts, strict=True):
            fresh.setdefault(valid_text(event.recipient[:320]).casefold(), verdict.facts)
        window = (when - timedelta(days=1), when + timedelta(seconds=1))
        for stored in self.store.window_events(*window, self.after, 10_000):
            assert stored.uid == self.uid
            assert stored_facts(stored.event) == fresh[stored.event.recipient.casefold()]
            self.after = stored.id
        return entry


def _texts(entry: LedgerEntry) -> list[str]:
    values: list[object] = [entry.message_id]
    for event in entry.events:
        values += [event.recipient, event.diagnostic, event.remote_mta, event.status,
                   event.reply_code, event.original_message_id]  # fmt: skip
    return [v for v in values if isinstance(v, str)]


@pytest.mark.parametrize(("place", "name"), PLACES, ids=[f"{p}-{n}" for p, n in PLACES])
def test_poison_in_each_header_the_parser_reads_is_stored_as_valid_text(
    place: str, name: str, classifier: Classifier, store: Store
) -> None:
    recorder = Recorder(store, classifier)
    for arf in (False, True):
        recorder.record(hostile_message({(place, name): POISON}, "utf-7", arf))


def test_poison_reaches_the_store_boundary_and_is_made_valid(
    classifier: Classifier, store: Store
) -> None:
    """The cases above are not vacuous: the analysis hands the store invalid text."""
    recorder = Recorder(store, classifier)
    for place, name in PLACES:
        recorder.record(hostile_message({(place, name): POISON}, "utf-7", False))
    assert recorder.invalid_before >= 5


def test_generated_encoded_words_and_nuls_are_stored_as_valid_text(
    classifier: Classifier, store: Store, examples: int
) -> None:
    recorder = Recorder(store, classifier)
    places = st.sampled_from(PLACES)

    @settings(max_examples=examples, **_SETTINGS)
    @given(st.dictionaries(places, hostile_values(), max_size=8), WORD_CHARSETS, st.booleans())
    def run(values: dict[tuple[str, str], bytes], charset: str, arf: bool) -> None:
        recorder.record(hostile_message(values, charset, arf))

    run()
