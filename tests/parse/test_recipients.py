"""The recipient scan's shortcuts: a regex skipped by its words or its gate could not have
matched, and the list of failed addresses is found from its first "following"."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from support import TESTS

from reconciler.parse import recipients
from reconciler.parse.context import _notice_text
from reconciler.parse.fields import is_system_address
from reconciler.parse.mime import Limits, load, walk


def _every_regex_hit(line: str, exclude: frozenset[str], listed: bool) -> str | None:
    """`_hit` trying every regex whose needle is on the line, whatever its words and gate."""
    if "@" not in line:
        return None
    low = line[:1000].lower()
    for needle, other, _, _, regex in recipients._HIT_RES:
        if needle not in low and (not other or other not in low):
            continue
        found = regex.search(low)
        if found is None:
            continue
        address = found.group(1).strip(".")
        if is_system_address(address):
            continue
        if address not in exclude or (listed and regex is recipients._LINE_START_RE):
            return address
    return None


def _notices() -> list[str]:
    return [
        _notice_text(walk(load(path.read_bytes(), Limits())[0]), Limits())
        for path in sorted((TESTS / "corpus" / "sisimai" / "emails").glob("*.eml"))
    ]


def test_corpus_lines_name_the_recipient_every_regex_names() -> None:
    hits = 0
    for notice in _notices():
        for line in notice.split("\n"):
            for listed in (False, True):
                expected = _every_regex_hit(line, frozenset(), listed)
                assert recipients._hit(line, frozenset(), listed) == expected, line
                hits += expected is not None
    assert hits > 300


def test_each_regex_with_words_names_its_recipient() -> None:
    for line in [
        "Your message could not be delivered to <ann@example.com>",
        "error sending your mail to ann@example.com",
        "message sent to ann@example.com failed",
        "relayed to: ann@example.com",
        "The following message, addressed to 'ann@example.com', failed",
        "rejected recipient <ann@example.com>",
        "[Status: Error, Address: <ann@example.com>, ResponseCode 550]",
        "bad user <ann@example.com> here",
        "rcpt <ann@example.com> refused",
        "mailbox <ann@example.com> is full",
        "x@y <ann@example.com>: malformed address",
    ]:
        assert recipients._hit(line, frozenset(), False) == "ann@example.com", line
        assert _every_regex_hit(line, frozenset(), False) == "ann@example.com", line


# Words of every regex (and near misses), addresses, brackets and separators.
_PIECES = [
    "ann@example.com", "<ann@example.com>", "<bob@example.org>", "'ann@example.com'", " ",
    "\t", ":", "=", "to", "to:", "deliver", "delivered", "undeliverable", "sent", "send",
    "sending", "relayed", "addressed", "recipient", "rcpt", "address", "user", "mailbox",
    "550", "5.1.1", "<<<", "...", "x", "ser", "ddress", "-", ">", "unknown", "\u2022",
    "final-recipient", "rfc822;", "empfänger", "destinataire", "\u00a0", "452-", "<<< 250",
]  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14), st.booleans())
def test_generated_lines_name_the_recipient_every_regex_names(
    pieces: list[str], listed: bool
) -> None:
    line = "".join(pieces)
    exclude = frozenset({"bob@example.org"})
    assert recipients._hit(line, exclude, listed) == _every_regex_hit(line, exclude, listed)


def test_the_failed_list_is_found_as_by_a_search() -> None:
    for notice in [
        *_notices(),
        "x\nThe following addresses had permanent fatal errors\n<a@b.example>\n",
        "following\nthe following address failed:\n  a@b.example\n",
        "the following addresses failed :\n",
    ]:
        low = notice.lower()
        found = recipients._FAILED_LIST_RE.search(low)
        expected = (0, 0)
        if found is not None:
            first = notice.count("\n", 0, found.end()) + 1
            expected = (first, first + recipients._LISTED_LINES)
        assert recipients._listed(notice, low) == expected, notice


def test_scan_uses_the_targets_it_is_given() -> None:
    # the caller's mailto_targets (read once per notice) stand for the scan's own reading
    notice = "Delivery has failed to:\nivan.display@example.jp (ivan.display@example.jp)"
    notice += "<mailto:ivan@example.jp>\n550 5.1.1 user unknown\n"
    own = recipients.mailto_targets(notice)
    assert own == {"ivan.display@example.jp": "ivan@example.jp"}
    scanned = recipients.scan(notice, frozenset())
    assert recipients.scan(notice, frozenset(), targets=own) == scanned
    assert [hit[0] for hit in scanned] == ["ivan@example.jp"]
    given_targets = {"ivan.display@example.jp": "other@example.jp"}
    assert [hit[0] for hit in recipients.scan(notice, frozenset(), targets=given_targets)] == [
        "other@example.jp"
    ]


def _gated_regexes_miss(low: str) -> int:
    """A regex whose gate turns a line away finds nothing on it; the gates that pass."""
    passed = 0
    for _, _, _, gate, regex in recipients._HIT_RES:
        if gate is None:
            continue
        if gate(low):
            passed += 1
        else:
            assert regex.search(low) is None, (low, regex.pattern)
    return passed


def test_corpus_lines_a_gate_turns_away_hold_no_match() -> None:
    passed = 0
    for notice in _notices():
        for line in notice.lower().split("\n"):
            passed += _gated_regexes_miss(line)
    assert passed > 100


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14))
def test_generated_lines_a_gate_turns_away_hold_no_match(pieces: list[str]) -> None:
    _gated_regexes_miss("".join(pieces).lower())


def test_gates_let_their_lines_through() -> None:
    assert recipients._opens_with_reply(" \t<<< 550 5.1.1 <a@b>... user unknown")
    assert recipients._opens_with_reply("452 <a@b>")
    assert not recipients._opens_with_reply("<a@b>: host said 550")
    assert recipients._named_before_bracket("x@y <a@b>: malformed address")
    assert not recipients._named_before_bracket("to: x <a@b>:")
    assert not recipients._named_before_bracket("x<a@b>:")
