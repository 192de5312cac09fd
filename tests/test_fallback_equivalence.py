"""The flufl fallback gives the answers of the plain flufl.bounce call it replaced.

`replaced_flufl_failures` below is the form reconciler/parse/fallback.py had before: the
stdlib parse handed to flufl.bounce's `all_failures`.  The new one must give the same
(address, permanent) list in the same order, and the same ParseError on the same inputs, on
every sample and corpus message and on messages made from flufl's own pattern tables.
"""

from __future__ import annotations

import email
import hashlib
import inspect
import random
import warnings
from pathlib import Path

import flufl.bounce
import pytest
from flufl.bounce import all_failures

from reconciler.errors import ParseError
from reconciler.parse import fallback, fallback_scan
from reconciler.parse.fallback import flufl_failures
from reconciler.parse.fields import bare_address, is_system_address

TESTS = Path(__file__).parent
FILES = sorted(
    [*(TESTS / "samples").rglob("*.eml"), *(TESTS / "corpus").rglob("*.eml")],
    key=str,
)

# The sources of the flufl.bounce code that fallback_scan._scan and _simple_match mirror, as
# verified line by line for the releases in fallback._VERIFIED.
VERIFIED_SOURCES = {
    "all_failures": "94acc2d7e7ea1d11",
    "SimpleMatch.process": "6706902cc4cfa553",
    "SimpleWarning.process": "8ac7f0572dc296ab",
}


def replaced_flufl_failures(data: bytes, exclude: frozenset[str]) -> list[tuple[str, bool]]:
    """The fallback as it was: flufl.bounce's all_failures on the stdlib parse of `data`."""
    try:
        temporary, permanent = all_failures(email.message_from_bytes(data))
    except Exception as err:
        raise ParseError(f"flufl.bounce failed: {type(err).__name__}: {err}") from err
    out: list[tuple[str, bool]] = []
    for raw, is_permanent in [*((a, True) for a in permanent), *((a, False) for a in temporary)]:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        address = bare_address(f"<{text}>")
        if address and address not in exclude and not is_system_address(address):
            out.append((address, is_permanent))
    return list(dict.fromkeys(out))


def outcome(function: object, data: bytes) -> object:
    """What `function(data, exclude)` gives: its list, or the text of its ParseError."""
    try:
        return function(data, frozenset({"sender@example.org"}))  # type: ignore[operator]
    except ParseError as err:
        return f"ParseError: {err}"


def raw_outcome(run: object) -> object:
    """flufl's own (temporary, permanent) from `run()`, as ordered lists (or the error)."""
    try:
        temporary, permanent = run()  # type: ignore[operator]
    except Exception as err:
        return (type(err).__name__, str(err))
    return [list(temporary), list(permanent)]


def assert_same(data: bytes) -> None:
    assert outcome(flufl_failures, data) == outcome(replaced_flufl_failures, data)
    plain = raw_outcome(lambda: all_failures(email.message_from_bytes(data)))
    assert raw_outcome(lambda: fallback_scan.failures(fallback._flufl(), data)) == plain


# A release of flufl.bounce that nobody has checked against fallback_scan (the pin allows
# any 6.x) runs the plain call: correct, slower.  The suite says so (a warning in its
# summary) instead of failing a fresh install the day upstream publishes a release.
VERSION = getattr(flufl.bounce, "__version__", None)
VERIFIED = VERSION in fallback._VERIFIED
try:  # flufl's pattern tables, from which test messages are made
    from flufl.bounce._detectors import simplematch, simplewarning
except ImportError:  # a release laid out otherwise (the plain call runs)
    simplematch = simplewarning = None  # type: ignore[assignment]


def test_the_verified_path_runs() -> None:
    if not VERIFIED:
        assert fallback._flufl().detectors is None  # the plain call, as before
        warnings.warn(
            f"flufl.bounce {VERSION} is not in fallback._VERIFIED: the fallback runs the plain "
            "call (correct, slower); verify fallback_scan against it and add the release",
            stacklevel=1,
        )
        return
    from flufl.bounce._scan import _DETECTORS

    # the equivalence tests below are empty words if the fast path is not the one tested
    assert fallback._flufl().detectors == tuple(_DETECTORS)


@pytest.mark.skipif(not VERIFIED, reason="an unverified flufl.bounce: the plain call runs")
def test_the_mirrored_flufl_code_is_the_verified_code() -> None:
    functions = {
        "all_failures": all_failures,
        "SimpleMatch.process": simplematch.SimpleMatch.process,
        "SimpleWarning.process": simplewarning.SimpleWarning.process,
    }
    found = {
        name: hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]
        for name, function in functions.items()
    }
    assert found == VERIFIED_SOURCES, (
        "flufl.bounce's code that reconciler/parse/fallback.py mirrors has changed: verify "
        "_scan and _simple_match against it, then record the new fingerprints here"
    )


def test_every_sample_and_corpus_message_is_found() -> None:
    assert len(FILES) > 1000
    assert any("malformed" in str(path) for path in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda path: str(path.relative_to(TESTS)))
def test_same_answers_on_every_message(path: Path) -> None:
    data = path.read_bytes()
    assert_same(data)
    assert_same(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


# -- generated messages: flufl's own pattern tables made into bounces of many shapes

_SYNTAX = [
    (r"(?P<addr>.*)", "{addr}"),
    (r"(?P<addr>[^>]*)", "{addr}"),
    (r"\s*", " "),
    (r"\s+", " "),
    (r"(i|e)", "i"),
    (r"(failed|was aborted)", "failed"),
    ("\\", ""),
    ("^", ""),
    ("$", ""),
]
_ADDRESS_FORMS = [
    "<{a}>",
    "{a}",
    "  {a}  ",
    "rcpt to: <{a}>",
    "Intended recipient: {a}",
    "Undeliverable Address: {a}",
    "To: {a}",
    "Failed Recipient: {a}",
    "[{a}]",
    "-- {a}",
    "Recipient: [SMTP:{a}]",
    "addressed to '{a}'",
    "<{a}>:",
    "{a}:",
    '"{a}"',
    "Error-for:  {a}",
    "> {a}",
    "User's mailbox is full: <{a}>",
    "Your message to <{a}> was automatically rejected",
]


def _text_of(pattern: str) -> str:
    """A line the pattern is meant to match, roughly: its syntax turned into text."""
    for syntax, text in _SYNTAX:
        pattern = pattern.replace(syntax, text)
    return pattern


def _address(rng: random.Random) -> str:
    local = rng.choice(["kijitora", "user.name", "x+tag", "b=20ad", "neko_99", "ünï"])
    host = rng.choice(["example.com", "mx.example.jp", "EXAMPLE.ORG", "h_1.example"])
    return f"{local}@{host}"


def _case(rng: random.Random, line: str) -> str:
    return rng.choice([line, line, line.upper(), line.lower(), line.swapcase()])


def _body(rng: random.Random) -> list[str]:
    tables = simplematch.PATTERNS + simplewarning.PATTERNS
    lines = [rng.choice(["Hello,", "", "This is the mail system.", "Ärger: ü"])]
    for start, end, _ in rng.sample(tables, rng.randint(1, 3)):
        lines.append(_case(rng, _text_of(start.pattern).replace("{addr}", _address(rng))))
        for _ in range(rng.randint(0, 3)):
            form = rng.choice(_ADDRESS_FORMS)
            lines.append(form.replace("{a}", _address(rng)))
            if rng.random() < 0.3:
                lines.append(rng.choice(["", "   ", "Reason: mailbox unavailable", "---"]))
        if rng.random() < 0.8:
            lines.append(_case(rng, _text_of(end.pattern).replace("{addr}", "")))
    lines.append(rng.choice(["", "-- ", "Received: from x", "Subject: test"]))
    return lines


def _headers(rng: random.Random, content_type: str) -> list[str]:
    sender = rng.choice(
        [
            "MAILER-DAEMON@mx.example.net",
            "mailer-daemon@yahoo.com",
            "Postmaster <p@x.example>",
            "Mail Delivery \udcff <MAILER-DAEMON@mx.example.org>",
        ]
    )
    headers = [f"From: {sender}", "To: sender@example.org", "Subject: Undelivered Mail"]
    if rng.random() < 0.1:
        headers.append("X-Note: 8-bit \udcff value")
    return [*headers, "MIME-Version: 1.0", f"Content-Type: {content_type}"]


def generated(seed: int) -> bytes:
    """A bounce of one of several MIME shapes around lines made from flufl's tables."""
    rng = random.Random(seed)
    body = "\n".join(_body(rng))
    shape = rng.choice(["plain", "mixed", "report", "qp"])
    if shape == "plain":
        lines = [*_headers(rng, "text/plain; charset=us-ascii"), "", body]
    elif shape == "qp":
        cte = "Content-Transfer-Encoding: quoted-printable"
        lines = [*_headers(rng, "text/plain; charset=utf-8"), cte, "", body.replace(" ", "=20")]
    else:
        kind = "mixed" if shape == "mixed" else "report; report-type=delivery-status"
        lines = [*_headers(rng, f'multipart/{kind}; boundary="b1"'), "", "--b1"]
        lines += ["Content-Type: text/plain", "", body, "--b1"]
        if shape == "report":
            action = rng.choice(["failed", "delayed", "delivered"])
            lines += ["Content-Type: message/delivery-status", "", "Reporting-MTA: dns; x"]
            lines += ["", f"Final-Recipient: rfc822; {_address(rng)}", f"Action: {action}"]
            lines += ["Status: 5.1.1", "--b1"]
        lines += ["Content-Type: message/rfc822", "", "From: sender@example.org", "To: a@b.c"]
        lines += ["Subject: hi", "", rng.choice(["hello", body]), "--b1--", ""]
    text = "\n".join(lines)
    return text.encode("utf-8", "surrogateescape")


NO_TABLES = pytest.mark.skipif(simplematch is None, reason="flufl.bounce has no pattern tables")


@NO_TABLES
@pytest.mark.parametrize("seed", range(400))
def test_same_answers_on_generated_messages(seed: int) -> None:
    assert_same(generated(seed))


@NO_TABLES
def test_generated_messages_reach_the_simple_detectors() -> None:
    # the generated messages must exercise what _simple_match replaced: answers of both kinds
    answers = [outcome(flufl_failures, generated(seed)) for seed in range(400)]
    assert sum(1 for found in answers if isinstance(found, str)) > 20  # ParseErrors too
    answers = [found for found in answers if isinstance(found, list)]
    assert sum(1 for found in answers if any(permanent for _, permanent in found)) > 50
    assert sum(1 for found in answers if any(not permanent for _, permanent in found)) > 5
