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
