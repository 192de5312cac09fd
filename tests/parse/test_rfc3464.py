"""DSN fields read from text: as the field regex read them."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.parse import rfc3464
from reconciler.parse.mime import MAX_VALUE

_OLD_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]{1,40})[ \t]*:[ \t]*(.*)$")


def _old(line: str) -> tuple[str, str] | None:
    found = _OLD_FIELD_RE.match(line[:MAX_VALUE])
    return (found.group(1).lower(), found.group(2).strip()) if found else None


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.sampled_from("aZ9-_ \t:;x.é\u2028\x0bStatus"), max_size=50))
def test_field_lines_read_as_before(line: str) -> None:
    assert rfc3464._field(line[:MAX_VALUE]) == _old(line)


def test_names_and_values() -> None:
    lines = [
        "Final-Recipient: rfc822; a@b.example",
        "Status : 5.1.1 ",
        "X:no",
        "Final-Recipient",
        "Final Recipient: x",
        "-Status: x",
        "A" * 41 + ": long",
        "A" * 42 + ": too long",
        ": x",
        "Diagnostic-Code:\tsmtp; 550 gone\x0b",
    ]
    for line in lines:
        assert rfc3464._field(line) == _old(line), line
    assert rfc3464._field(lines[0]) == ("final-recipient", "rfc822; a@b.example")


def _old_fields_from_text(text: str) -> list[list[tuple[str, str]]]:
    """fields_from_text as it was: a strip() per line and a block list with an empty tail."""
    blocks: list[list[tuple[str, str]]] = [[]]
    for line in text.splitlines():
        if not line.strip():
            if blocks[-1]:
                blocks.append([])
            continue
        if line[0] in " \t" and blocks[-1]:
            name, value = blocks[-1][-1]
            blocks[-1][-1] = (name, f"{value} {line.strip()}"[:MAX_VALUE])
            continue
        field = _old(line[:MAX_VALUE])
        if field is not None:
            blocks[-1].append(field)
    return [block for block in blocks if block]


_TEXT = st.lists(
    st.sampled_from(
        [
            "Final-Recipient: rfc822; a@b.example",
            "Status: 5.1.1",
            "Action: failed",
            "  continued value",
            "\tmore",
            " ",
            "",
            "\x0b\u2028",
            "prose without a colon",
            "A" * 41 + ": x",
            "Diagnostic-Code: smtp; 550 " + "y" * MAX_VALUE,
            "\u00e9t\u00e9: x",
        ]
    )
    | st.text(alphabet=st.sampled_from("aS:- \t\r\n\x0b\u2028\u00e9@;"), max_size=30),
    max_size=30,
)


@settings(max_examples=1500, deadline=None)
@given(_TEXT, st.sampled_from(["\n", "\r\n", "\r"]))
def test_blocks_read_as_before(lines: list[str], end: str) -> None:
    text = end.join(lines)
    assert rfc3464.fields_from_text(text) == _old_fields_from_text(text)


def test_blocks_of_a_report() -> None:
    text = "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; a@b\nStatus: 5.1.1\n \tgone\n\n \n"
    assert rfc3464.fields_from_text(text) == [
        [("reporting-mta", "dns; mx")],
        [("final-recipient", "rfc822; a@b"), ("status", "5.1.1 gone")],
    ]


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=st.sampled_from("@:;,.ab-[] \u00e9"), max_size=30))
def test_source_routes_found_as_before(value: str) -> None:
    old = rfc3464._SOURCE_ROUTE_RE.search(value) is not None
    assert rfc3464._source_routed(value) is old
