"""The parts of the flufl fallback's fast path, each against what it stands for.

`parse_once` parts must answer as the stdlib's plain parts do, also after any mutation;
`required_literal` must never name a literal that a match can lack; a detector that mutates
the message, or a release not verified, gets the plain call's answers.
"""

from __future__ import annotations

import base64
import email
import random
import re
from collections.abc import Callable
from email.iterators import body_line_iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from flufl.bounce import all_failures
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import ParseError
from reconciler.parse import fallback, fallback_scan
from reconciler.parse.fallback_scan import parse_once, required_literal

SAMPLES = sorted((Path(__file__).parent / "samples").rglob("*.eml"))[::7]
NAMES = ["content-type", "From", "to", "x-mailer", "Content-Transfer-Encoding", "absent"]


def answers(message: Message) -> list[object]:
    """What flufl's detectors ask a message, for every part."""
    out: list[object] = []
    for part in message.walk():
        out.append(part.get_content_type())
        out.append(part.get_payload() if not part.is_multipart() else len(part.get_payload()))
        out.extend(str(part.get(name, "-")) for name in NAMES)
    out.append(list(body_line_iterator(message)))
    return out


MUTATIONS: list[Callable[[Message, random.Random], Any]] = [
    lambda m, r: m.__setitem__("X-Mailer", f"m{r.random()}"),
    lambda m, r: m.__delitem__("content-type"),
    lambda m, r: m.__delitem__("from"),
    lambda m, r: m.replace_header("From", "a@b.example") if "From" in m else None,
    lambda m, r: m.add_header("To", "c@d.example"),
    lambda m, r: m.set_param("charset", "utf-8"),
    lambda m, r: m.set_type(r.choice(["text/html", "multipart/mixed"])),
    lambda m, r: m.set_boundary("zz") if m.get_boundary() else None,
    lambda m, r: m.set_default_type("message/rfc822"),
    lambda m, r: m.set_payload(f"new body {r.random()}\n") if not m.is_multipart() else None,
    lambda m, r: m.attach(email.message_from_string("X: y\n\nz\n")) if m.is_multipart() else None,
    lambda m, r: m.set_raw("Content-Transfer-Encoding", "base64"),
]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
def test_parsed_parts_answer_as_plain_parts_also_after_mutations(path: Path) -> None:
    data = path.read_bytes()
    plain, once = email.message_from_bytes(data), parse_once(data)
    assert answers(once) == answers(plain)
    rng = random.Random(path.name)
    for _ in range(12):
        mutation = rng.choice(MUTATIONS)
        index = rng.randrange(len(list(plain.walk())))
        seed = rng.random()
        for message in (plain, once):
            part = list(message.walk())[index]
            mutation(part, random.Random(seed))
        assert answers(once) == answers(plain)


_PIECES = ["a", "b", "B", "x", " ", ".", "\\.", "a?", "b*", "x+", "a{2}", "(a|b)", "[ab]"]
_PIECES += ["[^a]", "^", "$", "\\s", "\\b", "(?:ab)+", "(?P<addr>x)", "(?=a)", "|", "\\("]


@st.composite
def patterns(draw: st.DrawFn) -> re.Pattern[str]:
    source = "".join(draw(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=8)))
    flags = draw(st.sampled_from([0, re.IGNORECASE]))
    try:
        return re.compile(source, flags)
    except re.error:
        return re.compile("a", flags)


@settings(max_examples=400, deadline=None)
@given(patterns(), st.data())
def test_a_required_literal_is_in_every_match(
    pattern: re.Pattern[str], data: st.DataObject
) -> None:
    literal, folded = required_literal(pattern)
    text = data.draw(st.one_of(st.from_regex(pattern), st.text("abBx. (\n")))
    if pattern.search(text) and text.isascii():
        assert literal in (text.lower() if folded else text)


def test_required_literals_of_known_shapes() -> None:
    assert required_literal(re.compile("a{2}bc")) == ("bc", False)
    assert required_literal(re.compile(r"Del(i|e)very to x", re.I)) == ("very to x", True)
    assert required_literal(re.compile(r"ab\.?cde")) == ("cde", False)
    assert required_literal(re.compile("ab|cd")) == ("", False)
    assert required_literal(re.compile("(?x)a b")) == ("", False)


def test_a_detector_that_mutates_gets_the_plain_answer() -> None:
    class Mutating:
        def process(self, msg: Message) -> tuple[frozenset[bytes], frozenset[bytes]]:
            msg["X-Seen"] = "yes"
            return frozenset(), frozenset({b"wrong@example.com"})

    flufl = fallback_scan.Flufl(all_failures, (Mutating,), {})
    data = (Path(__file__).parent / "samples" / "bounces" / "exim-01.eml").read_bytes()
    assert fallback_scan.failures(flufl, data) == all_failures(email.message_from_bytes(data))
    assert fallback_scan.failures(flufl, data)[1] != {b"wrong@example.com"}


def test_an_unverified_release_gets_the_plain_call(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Message] = []

    def plain(msg: Message) -> tuple[frozenset[bytes], frozenset[bytes]]:
        calls.append(msg)
        return all_failures(msg)

    monkeypatch.setattr(fallback, "_flufl", lambda: fallback_scan.Flufl(plain))
    data = (Path(__file__).parent / "samples" / "bounces" / "sendmail-01.eml").read_bytes()
    assert fallback_scan.failures(fallback._flufl(), data) == all_failures(
        email.message_from_bytes(data)
    )
    assert len(calls) == 1 and type(calls[0]) is Message


@pytest.mark.parametrize("where", ["single", "after"])
def test_an_unreadable_body_fails_as_flufl_fails(where: str) -> None:
    # an RFC 2231 charset makes get_payload decode 8-bit bytes with a tuple: a TypeError
    bad = "Content-Type: text/plain; charset*=utf-8''%75tf-8\n\nbody \udcff\udcfe\n"
    lines = ["From: MAILER-DAEMON@x.example", "Subject: Undelivered", "MIME-Version: 1.0"]
    text = "The following addresses had\n <a@b.example>\ntranscript of session follows\n"
    if where == "single":
        lines += [bad]
    else:
        lines += ['Content-Type: multipart/mixed; boundary="b"', "", "--b", "", text, "--b"]
        lines += [bad, "--b--", ""]
    data = "\n".join(lines).encode("utf-8", "surrogateescape")
    with pytest.raises(TypeError) as plain:
        all_failures(email.message_from_bytes(data))
    with pytest.raises(ParseError, match=re.escape(str(plain.value))):
        fallback.flufl_failures(data, frozenset())


LLNL = Path(__file__).parent / "corpus/others/emails/flufl-bounce/llnl_01.eml"  # a plain notice


def _base64_body(data: bytes, *, inside_returned_message: bool = False) -> bytes:
    """The message with its text body sent in base64, as Exchange and many Japanese systems
    send their notices; or that body as the text part of a returned message (message/rfc822)
    inside a notice that says nothing."""
    message = email.message_from_bytes(data)
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes) and b"user1@example.gov" in body
    part = Message()
    part["Content-Type"] = "text/plain; charset=us-ascii"
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(base64.encodebytes(body).decode("ascii"))
    if inside_returned_message:
        returned = Message()
        returned["Content-Type"] = "message/rfc822"
        returned.set_payload([part])
        note = Message()
        note["Content-Type"] = "text/plain"
        note.set_payload("Your message could not be delivered.\n")
        parts: list[Message] = [note, returned]
        message.set_type("multipart/mixed")
        message.set_payload(parts)
        message.set_boundary("b0undary")
        return message.as_bytes()
    del message["Content-Transfer-Encoding"]
    message["Content-Transfer-Encoding"] = "base64"
    message.set_payload(part.get_payload())
    return message.as_bytes()


def test_a_notice_sent_in_base64_is_read_decoded() -> None:
    """flufl's line detectors read a part's lines as encoded: the fallback reads a notice's
    base64 text parts decoded (a notice re-encoded so, unchanged otherwise, lost its
    recipient), and never a returned message's."""
    plain = fallback.flufl_failures(LLNL.read_bytes(), frozenset())
    assert plain == [("user1@example.gov", True)]
    encoded = _base64_body(LLNL.read_bytes())
    assert b"user1@example.gov" not in encoded
    assert fallback_scan.failures(fallback._flufl(), encoded) == (set(), set())
    assert fallback.flufl_failures(encoded, frozenset()) == plain
    returned = _base64_body(LLNL.read_bytes(), inside_returned_message=True)
    assert fallback.flufl_failures(returned, frozenset()) == []
