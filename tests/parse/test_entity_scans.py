"""The splitter's scans that read bytes in place: each gives what the form it replaced gave."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from support import TESTS

from reconciler.parse import entity
from reconciler.parse.mime import Limits, load

_CORPORA = [TESTS / "corpus" / "sisimai" / "emails", TESTS / "corpus" / "others" / "emails"]


def _old_delimiters(
    data: bytes, boundary: bytes, span: tuple[int, int], limit: int
) -> list[tuple[int, int, bool]]:
    """The delimiter lines as the splitter found them before the in-place line ends: the end
    of every marker line searched for from the line's start."""
    start, end = span
    marker = b"--" + boundary
    needle = b"\n" + marker
    out: list[tuple[int, int, bool]] = []
    at = (
        start
        if data.startswith(marker, start, end)
        else entity._line_start(data, needle, start, end)
    )
    for _ in range(entity._MAX_CANDIDATES):
        if at < 0:
            break
        line_end = data.find(b"\n", at, end)
        line_end = end if line_end < 0 else line_end
        kind = entity._delimiter_kind(data, at + len(marker), line_end)
        if kind != entity._NOT_DELIMITER:
            close = kind == entity._CLOSE
            out.append((at, line_end, close))
            if close or len(out) >= limit:
                break
        at = entity._line_start(data, needle, at, end)
    return out


def _new_delimiters(
    data: bytes, boundary: bytes, span: tuple[int, int], limit: int
) -> list[tuple[int, int, bool]]:
    return [
        (line.start, line.end, line.close)
        for line in entity._delimiters(data, boundary, span, limit)
    ]


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"--b", b"--b\nc", b"-", b"--", b"\n", b" ", b"\t", b"x", b"b"]),
        max_size=14,
    ).map(b"".join),
    st.sampled_from([b"b", b"b\nc", b"-", b"b-"]),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(1, 4),
)  # fmt: skip
def test_generated_delimiters_found_as_before(
    data: bytes, boundary: bytes, cut_start: int, cut_end: int, limit: int
) -> None:
    """Any data, boundaries with a line feed or a dash, spans cut at either side."""
    span = (min(cut_start, len(data)), max(len(data) - cut_end, min(cut_start, len(data))))
    assert _new_delimiters(data, boundary, span, limit) == _old_delimiters(
        data, boundary, span, limit
    ), (data, boundary, span, limit)


def _boundaries(data: bytes) -> list[bytes]:
    """Every boundary parameter of the message's multiparts, as the splitter encodes it."""
    out = []
    stack = [load(data, Limits())[0]]
    while stack:
        node = stack.pop()
        stack.extend(node.parts)
        found = node.param("boundary")
        if found:
            out.append(found.rstrip().encode("ascii", "surrogateescape"))
    return out


def test_corpus_delimiters_found_as_before() -> None:
    """Every boundary of both corpora, over the whole message and from each line start."""
    checked = 0
    for corpus in _CORPORA:
        for path in sorted(corpus.glob("*.eml")):
            data = load(path.read_bytes(), Limits())[2]
            for boundary in _boundaries(data):
                for span in [(0, len(data)), (data.find(b"\n") + 1, len(data) - 1)]:
                    for limit in (2, 300):
                        new = _new_delimiters(data, boundary, span, limit)
                        assert new == _old_delimiters(data, boundary, span, limit), path
                        checked += len(new)
    assert checked > 1000


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 6), st.integers(0, 6))
def test_a_line_ending_inside_the_marker_reads_as_pythons_empty_slice(after: int, end: int) -> None:
    """Where the line's end comes before the marker's (a boundary with a line feed), the
    line is told as Python's slice of it tells it (empty: a delimiter), compiled or not."""
    data = b"--b\nc\nd--"
    rest = data[after:end]
    close = rest.startswith(b"--")
    old = (
        entity._NOT_DELIMITER
        if rest[2 if close else 0 :].strip(b" \t")
        else (entity._CLOSE if close else entity._DELIMITER)
    )
    assert entity._delimiter_kind(data, after, end) == old


def test_a_boundary_folded_across_lines_splits_the_message() -> None:
    data = b'Content-Type: multipart/mixed; boundary="b\n c"\n\n--b\n c\nA: x\n\nbody\n--b\n c--\n'
    root = load(data, Limits())[0]
    assert [part.body for part in root.parts] == [b"body", b""]


def test_header_line_cap_without_a_blank_line() -> None:
    """A message that is all header, begun and ended by a line feed: max_headers line feeds
    in 2 * max_headers - 1 bytes (the length check must not spare it the count)."""
    for data, cut in [(b"\nx\nx\nx\n", True), (b"x\nx\nx\n", False), (b"\nx\nx\nx", False)]:
        notes = load(data, Limits(max_headers=4))[1]
        assert any("kept the first 4" in note for note in notes) == cut, data
