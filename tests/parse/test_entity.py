"""The MIME splitter's header reader: one regex pass gives what the two-pass reader gave."""

from __future__ import annotations

import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from support import TESTS

from reconciler.parse import entity
from reconciler.parse.mime import Limits, load

# The reader before the one-pass change: a block regex checked the whole block, then the
# (unanchored) field regex read it; anything else was read line by line.
_OLD_BLOCK_RE = re.compile(r"(?:[\041-\071\073-\176]+:.*\n(?:[ \t].*\n)*)*")
_OLD_FIELD_RE = re.compile(r"([\041-\071\073-\176]+):[ \t]*(.*(?:\n[ \t].*)*)\n")
_CORPORA = [TESTS / "corpus" / "sisimai" / "emails", TESTS / "corpus" / "others" / "emails"]


def _old_head(text: str) -> tuple[list[tuple[str, str]], int, bool]:
    """What the two-pass reader returned for a header block `text` followed by a blank line:
    the fields, where the body starts, and whether the block was read in one regex pass."""
    block = _OLD_BLOCK_RE.match(text)
    if text.endswith("\n") and block is not None and block.end() == len(text):
        return _OLD_FIELD_RE.findall(text), len(text) + 1, True
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for index, line in enumerate(lines):
        if not entity._HEADER_LINE_RE.match(line):
            head = lines[:index]
            return entity._fields(head), sum(len(h) + 1 for h in head), False
    return entity._fields(lines), len(text) + 1, False


def _head(text: str) -> tuple[list[tuple[str, str]], dict[str, str], int]:
    data = text.encode("ascii", "surrogateescape") + b"\nbody\n"
    budget = entity._Budget(max_depth=8, parts_left=8, notes=[], blank=entity._UNSEEN)
    return entity._head(data, (0, len(data)), budget)


def _same(text: str) -> bool:
    """The reader gives the fields and the body start the old reader gave, and the first
    value of each name (by lower-case name) as the old splitter took it from the fields."""
    fields, body, one_pass = _old_head(text)
    first = {name.lower(): value for name, value in reversed(fields)}
    got_fields, got_first, got_body = _head(text)
    assert (got_fields, got_body) == (fields, body), text
    assert got_first == first, text
    return one_pass


def _blocks() -> list[str]:
    """Every header block of both corpora (each message's and each part's)."""
    out = []
    for corpus in _CORPORA:
        for path in sorted(corpus.glob("*.eml")):
            data = load(path.read_bytes(), Limits())[2]
            for found in re.finditer(rb"(?:^|\n\n)((?:[^\n]+\n)+)\n", data):
                out.append(found.group(1).decode("ascii", "surrogateescape"))
    return out


def test_corpus_header_blocks_read_as_before() -> None:
    blocks = _blocks()
    assert len(blocks) > 1000
    well_formed = sum(_same(text) for text in blocks)
    assert len(blocks) > well_formed > 300  # both paths are exercised


def test_damaged_blocks_read_as_before() -> None:
    rnd = random.Random(16)
    blocks = _blocks()
    pieces = [" x", "\tfolded", "no colon", ":", "From x", "a: b", " ", "\udcff: v"]
    well_formed = 0
    for _ in range(3000):
        lines = rnd.choice(blocks).split("\n")[:-1]
        at = rnd.randrange(len(lines) + 1)
        lines[at:at] = [rnd.choice(pieces)]
        well_formed += _same("\n".join(lines) + "\n")
    assert 0 < well_formed < 3000


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["a: b", "X-Y:", " c", "\td", "e f: g", "h:i", ":j", "k"])))
def test_generated_blocks_read_as_before(lines: list[str]) -> None:
    if lines:
        _same("\n".join(lines) + "\n")


_OLD_PARAM_RES = {
    name: re.compile(rf';\s*{name}\*?\s*=\s*("(?:[^"\\]|\\.)*"?|[^;]*)', re.IGNORECASE)
    for name in ("boundary", "charset")
}


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from('abc;= \t\n"\\\\Boundary*charsetſK'), max_size=60))
def test_content_type_parameters_read_as_before(tail: str) -> None:
    value = f"multipart/mixed; {tail}"
    parsed = entity.Entity([], "text/plain", {"content-type": value})
    for name, old in _OLD_PARAM_RES.items():
        found = old.search(value)
        expected = found.group(1) if found else None
        new = entity._PARAM_RES[name].search(value)
        assert (new.group(1) if new else None) == expected, value
        assert (parsed.param(name) is None) == (expected is None)


def _regex_param(value: str, name: str) -> str | None:
    """The parameter as param() read it before the string-method reader: the regex's group."""
    found = entity._PARAM_RES[name].search(value)
    return None if found is None else found.group(1)


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["; boundary=", ";\n\tBOUNDARY*= ", "; Charset =\x1c", ";charset", "boundary",
             "*", "=", ";", " ", "\t", "\n", "\x0b", '"', "\\", "\\\n", '\\"', "a", "x;y"]
        ),
        max_size=14,
    ).map("".join)
)  # fmt: skip
def test_ascii_parameters_read_as_the_regex_reads_them(tail: str) -> None:
    value = f"multipart/mixed{tail}"
    for name in ("boundary", "charset"):
        assert entity._param_text(value, name) == _regex_param(value, name), value


def test_quoted_parameters_with_escapes() -> None:
    value = 'multipart/report; boundary="a\\"b\\\\c"; charset="x'
    parsed = entity.Entity([], "multipart/report", {"content-type": value})
    assert parsed.param("boundary") == 'a"b\\c'
    assert parsed.param("charset") == "x"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("aZ-:\t İKſ\udcff"), max_size=12))
def test_field_key_is_the_name_lower_cased(name: str) -> None:
    """Whether or not the header reader has seen the name (and found it valid) before."""
    assert entity.field_key(name) == name.lower()
    entity._field_name(name)
    assert entity.field_key(name) == name.lower()


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from(["", "x", "ab: c", " d", "\r"]), max_size=14),
    st.booleans(),
)
def test_header_line_cap_as_a_plain_count(lines: list[str], body: bool) -> None:
    """The top-level header is cut when it has max_headers line feeds or more, whether or not
    the length check that spares most headers the count lets it through."""
    data = "\n".join(lines).encode() + (b"\n\nbody\n" if body else b"")
    limits = Limits(max_headers=4)
    normal = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    end = normal.find(b"\n\n")
    expected = normal.count(b"\n", 0, end if end >= 0 else len(normal)) >= 4
    notes = load(data, limits)[1]
    assert any("header lines, kept the first 4" in note for note in notes) == expected


def test_header_line_cap_at_the_shortest_header() -> None:
    """One-byte lines: the fewest bytes that hold max_headers line feeds."""
    for data, cut in [(b"x\n" * 4 + b"\nbody", False), (b"\n" + b"x\n" * 4 + b"\nbody", True)]:
        notes = load(data, Limits(max_headers=4))[1]
        assert any("kept the first 4" in note for note in notes) == cut, data


def _tree(node: entity.Entity) -> tuple[object, ...]:
    """An entity and its sub-entities as plain values (to compare two trees)."""
    own = (node.items, node.first, node.content_type, node.body, node.multipart)
    return own, [_tree(child) for child in node.parts]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["\n", "\n\n", "A: b\n", " c\n", "Content-Type: multipart/mixed; boundary=x\n",
             "--x\n", "--x--\n", "Content-Type: message/rfc822\n", "body\n", "From x\n"]
        ),
        max_size=16,
    ).map("".join)
)  # fmt: skip
def test_the_top_level_blank_line_given_or_looked_for(text: str) -> None:
    data = text.encode()
    looked = entity.parse_entity(data, 8, 20, [])
    given_blank = entity.parse_entity(data, 8, 20, [], data.find(b"\n\n"))
    assert _tree(given_blank) == _tree(looked)


def test_corpus_trees_with_the_blank_line_given() -> None:
    for path in sorted(_CORPORA[0].glob("*.eml"))[:120]:
        data = load(path.read_bytes(), Limits())[2]
        looked = entity.parse_entity(data, 24, 256, [])
        assert _tree(load(path.read_bytes(), Limits())[0]) == _tree(looked), path


def _old_kind(rest: bytes) -> int:
    """What the splitter made of the text after a delimiter's marker before the fast paths."""
    close = rest.startswith(b"--")
    if rest[2 if close else 0 :].strip(b" \t"):
        return entity._NOT_DELIMITER
    return entity._CLOSE if close else entity._DELIMITER


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"-", b"--", b" ", b"\t", b"x", b"\r"]), max_size=6))
def test_delimiter_lines_told_as_before(pieces: list[bytes]) -> None:
    rest = b"".join(pieces)
    data = b"--b" + rest + b"\nafter"
    assert entity._delimiter_kind(data, 3, 3 + len(rest)) == _old_kind(rest)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "X-Y", "Received", "h"]),
            st.sampled_from(["", " ", "\t", " \t", "\t "]),
            st.sampled_from(["", "v", "v w", "v\t"]),
            st.lists(st.sampled_from([" c", "\td", " \te", "\t"]), max_size=2),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_well_formed_blocks_read_in_one_pass(
    fields: list[tuple[str, str, str, list[str]]],
) -> None:
    """A block of fields (blanks before the values, continuation lines begun with a space
    or a tab) is read by the one-pass reader, not given up to the line-by-line one, and
    reads as the old field regex reads it."""
    text = "".join(
        f"{name}:{blank}{value}\n" + "".join(f"{line}\n" for line in more)
        for name, blank, value, more in fields
    )
    first: dict[str, str] = {}
    assert entity._block(text, first) == _OLD_FIELD_RE.findall(text), text
    assert first == {name.lower(): value for name, value in reversed(_OLD_FIELD_RE.findall(text))}
