"""Hostile and broken input through the pure stages (issue 7): parse → VERP → classify.

For every generated message, `reconciler.analysis.analyse` must return (never raise), the
result must be a verdict per recipient or an error reason (kind ERROR with `error` set), the
classify output rows must serialise, no forged token may verify, and the work per message
stays bounded: wall time below `MAX_SECONDS` and a tracemalloc peak below `MAX_PEAK_MB`.

Inputs: hypothesis-built MIME trees (random boundaries, headers, Content-Type, transfer
encodings and charsets, DSN-like delivery-status blocks with random fields, CR/LF mixes),
random bytes, and mutations of the real Sisimai corpus (tests/corpus/sisimai/emails).

The default run tries 300 cases per test.  The fuzz target runs 10,000 per test:

    RECONCILER_FUZZ_EXAMPLES=10000 pytest -m fuzz tests/test_fuzz.py -s

(`-m fuzz` alone also defaults to 10,000; `-s` shows the figures: cases, total time, slowest
case, largest memory peak).  Hypothesis uses no example database here, so that a run is not
shaped by earlier ones; a failure prints the reproducing input.
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers_mail import VERP, token_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.analysis import Analysis, analyse, result_rows, row_json
from reconciler.classify import Classifier
from reconciler.dsn import MAX_RECIPIENTS
from reconciler.records import MessageKind, Reason, Severity
from reconciler.rules import load_rules

pytestmark = pytest.mark.fuzz

CORPUS = Path(__file__).parent / "corpus" / "sisimai" / "emails"
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
