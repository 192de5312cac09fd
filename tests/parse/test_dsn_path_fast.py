"""The cheaper DSN path reads as the forms it replaced (parse/stages.py, parse/rfc3464.py,
parse/detectors.py): each replaced form is kept here and compared on generated texts and on
the corpus."""

from __future__ import annotations

import random
import re
from pathlib import Path
from re import _parser  # type: ignore[attr-defined]  # (the pattern's own parse: its first set)

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.parse import detectors, rfc3464, stages
from reconciler.parse.recipients import mailto_targets
from reconciler.records import Stage

_CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "sisimai" / "emails"


def _corpus_texts() -> list[str]:
    return [f.read_bytes().decode("utf-8", "replace") for f in sorted(_CORPUS.glob("*.eml"))]


# -- smtp_stage, as it read before: every key scanned, _START_RE tried on every text ----------


def _transcript_before(low: str) -> Stage | None:
    sent, received = ">>>" in low, "<<<" in low
    if not sent and received and stages._GREETING_RE.search(low):
        return Stage.CONNECT
    if not sent or not received:
        lone = stages._START_RE.match(low) or (
            stages._BRACKETED_RE.search(low) if "[" in low else None
        )
        return stages._stage_of(lone) if lone is not None else None
    return stages._transcript(low)  # (both markers: the part not changed)


def _smtp_stage_before(text: str, low: str | None = None) -> Stage | None:
    low = text[:3000].lower() if low is None else low
    words = frozenset([word for word in stages._FOLD_WORDS if word in low])
    keys = [(key, next(w for w in stages._FOLD_WORDS if w in key)) for key in stages._NAMED_KEYS]
    keyed = any(word in words and key in low for key, word in keys)
    stage = stages._named(low, keyed, words) if words else None
    if stage is None:
        stage = _transcript_before(low)
    if stage is None and words and "\n" in low:
        stage = stages._collapsed(low, keyed, words)
    return stage


_STAGE_PIECES = [
    "rcpt to:", "mail from:", "data", "ehlo", "helo x", "auth", "starttls", "bdat",
    "end of data", "final dot", "message body", "initial connection", "connect",
    "server greeting", "banner", "after", "in reply to", "while sending", "[rcpt_to]",
    "[data]", ">>> ", "<<< 550 ", "<<< 250 ", " ", "\n", "\t", "\u00a0", "\u2003", ":", "x",
    "550 5.1.1 ", "refused to talk to me", "does not like recipient", "progress", "like our",
    "failed at", "response to", "reply to", "while ", "RCPT", "Σ", "ǅ", "é",
]  # fmt: skip


def test_smtp_stage_reads_as_before_on_generated_texts() -> None:
    rng = random.Random(16)
    named = 0
    for _ in range(20000):
        text = "".join(rng.choice(_STAGE_PIECES) for _ in range(rng.randint(1, 10)))
        expected = _smtp_stage_before(text)
        assert stages.smtp_stage(text) == expected, text
        named += expected is not None
    assert named > 3000  # the generated texts do name stages, the lone command ones too


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.sampled_from("rcptmaildhe \t\n:[]_<>5x\u00a0"), max_size=40))
def test_smtp_stage_reads_as_before_on_any_text(text: str) -> None:
    assert stages.smtp_stage(text) == _smtp_stage_before(text)


def test_smtp_stage_reads_as_before_on_the_corpus() -> None:
    found = 0
    for text in _corpus_texts():
        for piece in (text, text[text.find("\n\n") :], *text.split("\n\n")[:40]):
            expected = _smtp_stage_before(piece)
            assert stages.smtp_stage(piece) == expected
            found += expected is not None
    assert found > 200


def _first_letters(items: list[tuple[object, object]]) -> tuple[set[str], bool]:
    """The characters a match of the parsed pattern `items` can start with, and whether it
    can match the empty string (a walk of the pattern's own parse)."""
    first: set[str] = set()
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            return first | {chr(arg)}, False  # type: ignore[arg-type]
        if name == "SUBPATTERN":
            inner, empty = _first_letters(list(arg[3]))  # type: ignore[index]
        elif name == "BRANCH":
            inner, empty = set(), False
            for branch in arg[1]:  # type: ignore[index]
                chars, nullable = _first_letters(list(branch))
                inner |= chars
                empty = empty or nullable
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            inner, empty = _first_letters(list(arg[2]))  # type: ignore[index]
            empty = empty or arg[0] == 0  # type: ignore[index]
        else:
            raise AssertionError(f"not walked: {name}")  # (the commands hold none other)
        first |= inner
        if not empty:
            return first, False
    return first, True


def test_the_command_first_letters_are_the_patterns() -> None:
    first, empty = _first_letters(list(_parser.parse(stages._COMMAND)))
    assert not empty
    assert first == set(stages._COMMAND_FIRST)


def test_a_text_gated_out_never_matches_the_start_pattern() -> None:
    rng = random.Random(5)
    for _ in range(5000):
        text = "".join(rng.choice(_STAGE_PIECES) for _ in range(rng.randint(1, 6))).lower()
        if text.lstrip()[:1] not in stages._COMMAND_FIRST:
            assert stages._START_RE.match(text) is None, text


# -- read_report: one smtp_stage per distinct diagnostic of a report -------------------------


def _report(diagnostics: list[str]) -> str:
    blocks = ["Reporting-MTA: dns; mx.example.org"]
    for n, diagnostic in enumerate(diagnostics):
        blocks.append(
            f"Final-Recipient: rfc822; u{n}@example.org\nAction: failed\nStatus: 5.0.0\n"
            + (f"Diagnostic-Code: smtp; {diagnostic}" if diagnostic else "")
        )
    return "\n\n".join(blocks)


def test_each_draft_has_its_diagnostics_stage() -> None:
    rng = random.Random(3464)
    pool = ["", "550 no (in reply to RCPT TO command)", "554 after end of data: spam",
            "550 5.1.1 unknown", "RCPT TO:<a@b>: 550 no", "450 busy [DATA]"]  # fmt: skip
    seen = set()
    for _ in range(300):
        diagnostics = [rng.choice(pool) for _ in range(rng.randint(1, 6))]
        drafts = rfc3464.read_report(rfc3464.fields_from_text(_report(diagnostics))).drafts
        assert len(drafts) == len(diagnostics)
        for draft in drafts:
            expected = smtp = stages.smtp_stage(draft.diagnostic) if draft.diagnostic else None
            assert draft.stage is (expected or Stage.UNKNOWN)
            seen.add(smtp)
    assert {Stage.RCPT, Stage.END_OF_DATA, Stage.DATA, None} <= seen


# -- _canonical: each recipient's NDR line read alone -----------------------------------------


def _targets_read_alike(notice: str) -> int:
    low = notice.lower()
    targets = mailto_targets(notice, low)
    named = set(re.findall(r"[^\s()<>:]+@[^\s()<>:]+", low)) | set(targets)
    for address in named:
        assert detectors._mailto_target(low, address) == targets.get(address), (notice, address)
    return len(targets)


_NDR_PIECES = [
    "a@b.example", "c@d.example", "x.y@z.example", " ", "\t", "\n", "(", ")", "<mailto:",
    ">", "a@b.example.", "<mailto:c@d.example>", "<mailto:a@b.example>", "text ", ".",
    "<mailto:e@f.example>", "(c@d.example)", "\r\n", "A@B.example", "-",
]  # fmt: skip


def test_an_ndr_target_read_from_its_lines_as_from_the_notice() -> None:
    rng = random.Random(8)
    keys = 0
    for _ in range(8000):
        notice = "".join(rng.choice(_NDR_PIECES) for _ in range(rng.randint(1, 18)))
        keys += _targets_read_alike(notice)
    assert keys > 300
    for text in _corpus_texts():
        _targets_read_alike(text)


def test_the_first_ndr_line_of_an_address_gives_its_target() -> None:
    low = "a@b.example\n<mailto:c@d.example>\nx@y.example <mailto:y@z.example> a@b.example"
    assert detectors._mailto_target(low, "a@b.example") is None
    two = "a@b.example <mailto:c@d.example>\na@b.example <mailto:e@f.example>\n"
    assert detectors._mailto_target(two, "a@b.example") == "c@d.example"
    assert detectors._mailto_target("a\nb<mailto:x@y.z>", "a\nb") is None  # (across a line)


# -- _enrich: the single recipient's fallback read from the lower-cased notice ---------------


def test_a_final_sigma_at_the_cut_reads_alike() -> None:
    # the notice's first 3,000 characters lower-cased as a whole (U+03C3 before a letter) and
    # as cut (final U+03C2 at the end) differ only there: the stage read is the same
    for stage_text in ("in reply to RCPT TO command", "RCPT TO:<a@b>: no", "after DATA"):
        for at in (2990, 2997):  # (2997: the second sigma the last character kept)
            notice = (stage_text + " " + "x" * 3000)[:at] + "ΑΣΣ" + "ab" * 10
            whole = notice.lower()[:3000]
            cut = notice[:3000].lower()
            assert (whole != cut) is (at == 2997)
            assert stages.smtp_stage(notice, whole) == stages.smtp_stage(notice)
    assert re.fullmatch(r"\w\w", "σς")  # both letters to the regex engine
