"""The returned original's headers read from text: as the field regex read them."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from support import TESTS

from reconciler.parse import original
from reconciler.parse.context import _notice_text
from reconciler.parse.mime import Limits, load, part_text, walk
from reconciler.parse.textformats import split_notice
from reconciler.records import OriginalMessage

_OLD_FIELD_RE = re.compile(r"^([^:\n \t][^:\n]*):(.*(?:\n[ \t].*)*)", re.MULTILINE)


def _old_from_text(text: str) -> OriginalMessage | None:
    """from_text before it read lines with string methods."""
    head = text.lstrip("\n")[:65536].split("\n\n", 1)[0]
    fields: dict[str, str] = {}
    for found in _OLD_FIELD_RE.finditer(head):
        name = found.group(1).strip().lower()
        if name in original._NAMES and name not in fields:
            lines = found.group(2).split("\n")
            fields[name] = (
                " ".join(line.strip() for line in lines) if len(lines) > 1 else lines[0].strip()
            )
    return original._record(fields)


def test_corpus_originals_read_as_before() -> None:
    read = 0
    for path in sorted((TESTS / "corpus" / "sisimai" / "emails").glob("*.eml")):
        parts = walk(load(path.read_bytes(), Limits())[0])
        texts = [split_notice(_notice_text(parts, Limits()))[1] or ""]
        texts += [part_text(p.entity, Limits()) for p in parts if not p.in_original]
        for text in texts:
            found = original.from_text(text)
            assert found == _old_from_text(text), (path.name, text[:200])
            read += found is not None
    assert read > 100


_LINES = ["From: a@b.example", "to : c@d.example", " folded", "\tmore", "Subject:", ":x", "no"]


# names longer than any wanted one, with and without white space to strip around them
_LONG = ["Return-Path   : <r@e", "\x0bsubject: vt", "X-Long-Name-Here: no", "sender\xa0: s"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*_LINES, *_LONG, "", " ", "Date: x: y", "SUBJECT: again"])))
def test_generated_headers_read_as_before(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert original.from_text(text) == _old_from_text(text)


def test_long_texts_read_as_before() -> None:
    """Only the first 64 KiB after the leading blank lines are read as the header block."""
    for filler in (65_500, 65_536, 70_000):
        for tail in ("\n\nFrom: late@b.example", "\nFrom: late@b.example", ""):
            text = "\n\n\nSubject: s\nX: " + "y" * filler + tail
            assert original.from_text(text) == _old_from_text(text)
    assert original.from_text("\n" * 70_000 + "To: t@b.example") == _old_from_text(
        "\n" * 70_000 + "To: t@b.example"
    )
