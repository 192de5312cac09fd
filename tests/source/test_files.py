"""Local files as `classify` and `explain` read them: which files, in which order."""

from __future__ import annotations

import mailbox
import random
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from reconciler.source.files import discover, plain_name, read_messages

MESSAGE = b"From: a@example.org\nSubject: x\n\nbody\n"


def _touch(path: Path, data: bytes = MESSAGE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_directory_is_walked_in_name_order_without_dot_and_dovecot_files(tmp_path: Path) -> None:
    for name in ("b.eml", "a.eml", "B.eml", "10.eml", "9.eml", ".hidden", "dovecot.index"):
        _touch(tmp_path / name)
    _touch(tmp_path / "sub" / "z.eml")
    _touch(tmp_path / ".dot" / "skipped.eml")
    (tmp_path / "link.eml").symlink_to(tmp_path / "a.eml")
    (tmp_path / "dangling.eml").symlink_to(tmp_path / "missing")
    names = [str(Path(p).relative_to(tmp_path)) for p in discover([tmp_path])]
    assert names == ["10.eml", "9.eml", "B.eml", "a.eml", "b.eml", "link.eml", "sub/z.eml"]


def test_a_maildir_reads_new_then_cur_then_its_dot_folders(tmp_path: Path) -> None:
    box = tmp_path / "Maildir"
    for path in ("cur/2", "cur/1", "new/3", "tmp/4", ".Sub/new/5", ".Sub/cur/6", "other/7"):
        _touch(box / path)
    (box / ".Empty").mkdir()
    names = [str(Path(p).relative_to(box)) for p in discover([box])]
    assert names == ["new/3", "cur/1", "cur/2", ".Sub/new/5", ".Sub/cur/6"]


def test_a_file_is_read_whole_and_an_mbox_message_by_message(tmp_path: Path) -> None:
    single = _touch(tmp_path / "one.eml", b"From someone Mon Jan  1 00:00:00 2024\n" + MESSAGE)
    box = _touch(tmp_path / "box", b"From a Mon Jan  1 00:00:00 2024\n" + MESSAGE)
    with box.open("ab") as handle:
        handle.write(b"\nFrom b Mon Jan  1 00:00:00 2024\n" + MESSAGE)
    short = _touch(tmp_path / "short", b"Fro")
    items = list(read_messages([single, box, short, tmp_path / "missing"]))
    assert [i.label for i in items] == [
        str(single),
        f"{box}#1",
        f"{box}#2",
        str(short),
        str(tmp_path / "missing"),
    ]
    assert items[0].data == single.read_bytes()
    assert items[1].data == MESSAGE  # mailbox drops the separating blank line
    assert items[3].data == b"Fro"
    assert items[4].error == "cannot read: No such file or directory"


def _by_mailbox(path: Path) -> list[bytes]:
    box = mailbox.mbox(path, create=False)
    try:
        return [box.get_bytes(key) for key in box.iterkeys()]
    finally:
        box.close()


LINES = [b"From a@b Mon Jan  1 00:00:00 2024\n", b"From \n", b"From x", b"\n", b"\r\n", b"body\n",
         b">From quoted\n", b"Subject: s\n", b" From indented\n", b"tail"]  # fmt: skip


def test_an_mbox_splits_exactly_as_the_standard_library_reads_it(tmp_path: Path) -> None:
    """Every arrangement of From_ lines, blank lines (LF and CRLF), text and a last line
    without its line feed: the same messages as mailbox.mbox, byte for byte."""
    rng = random.Random(16)
    cases = [LINES[:1] + [rng.choice(LINES) for _ in range(rng.randrange(12))] for _ in range(800)]
    cases += [[LINES[0]], [LINES[0], b"\n"], [LINES[0], b"\n", b"\n"], [LINES[0], LINES[0]]]
    for number, lines in enumerate(cases):
        path = tmp_path / f"box{number}"
        path.write_bytes(b"".join(lines))
        items = list(read_messages([path]))
        expected = _by_mailbox(path)
        assert [i.data for i in items] == expected, b"".join(lines)
        labels = (
            [str(path)] if len(expected) == 1 else [f"{path}#{n + 1}" for n in range(len(expected))]
        )
        assert [i.label for i in items] == labels


NAME_PARTS = ["", ".", "..", "/", "//", "///", "a", "b.eml", ".eml", "..eml", "x.EML", "c.",
              " ", "d e", "ü.eml", "./", "/./", "a/", "tmp"]  # fmt: skip


@given(st.lists(st.sampled_from(NAME_PARTS), max_size=6).map("".join))
def test_a_name_is_written_as_pathlib_writes_it(text: str) -> None:
    """Files are named by text, not Path (issue 16): the same names in the output."""
    from reconciler.source.files import _join, _suffix

    assert plain_name(text) == str(Path(text))
    assert plain_name(Path(text)) == str(Path(text))
    plain = plain_name(text)
    assert _join(plain, "m.eml") == str(Path(plain) / "m.eml")
    assert _suffix(plain) == Path(plain).suffix


def test_files_and_directories_are_named_as_given_but_plain(tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    _touch(mail / "sub" / "a.eml")
    one = _touch(tmp_path / "one.eml")
    named = [f"{mail}//", f"{tmp_path}/./one.eml", str(tmp_path / "gone")]
    assert discover(named) == [str(mail / "sub" / "a.eml"), str(one), str(tmp_path / "gone")]
    items = list(read_messages(discover(named)))
    assert [i.label for i in items] == discover(named)
    assert items[2].error == "cannot read: No such file or directory"


def _batch(tmp_path: Path, rng: random.Random) -> list[str]:
    """Files of every sort, in random order: messages, .eml files that begin with a From_
    line, mboxes (random arrangements of LINES), files too short to tell, missing files."""
    files: list[str] = []
    for number in range(40):
        sort = rng.choice(["message", "eml", "mbox", "mbox", "short", "missing"])
        path = tmp_path / f"{number:02}-{sort}{'.eml' if sort == 'eml' else ''}"
        if sort == "mbox":
            lines = LINES[:1] + [rng.choice(LINES) for _ in range(rng.randrange(40))]
            path.write_bytes(b"".join(lines))
        elif sort == "eml":
            path.write_bytes(LINES[0] + MESSAGE + b"\n" + LINES[0] + MESSAGE)
        elif sort == "short":
            path.write_bytes(b"From")
        elif sort == "message":
            path.write_bytes(MESSAGE)
        files.append(str(path))
    return files


def test_a_batch_in_shares_reads_as_its_files_read_one_after_the_other(tmp_path: Path) -> None:
    """However the batch is shared out (shares of 1 to 6 messages), the shares read the
    same messages, named the same, in the same order, as `read_messages` of every file; an
    mbox is shared out message by message, a .eml file never."""
    from reconciler.source.files import read_share, shares

    rng = random.Random(17)
    for round_ in range(5):
        directory = tmp_path / str(round_)
        directory.mkdir()
        files = _batch(directory, rng)
        whole = list(read_messages(files))
        for size in range(1, 7):
            parts = list(shares(files, size))
            assert all(0 < part.count <= size for part in parts)
            assert sum(part.count for part in parts) == len(whole)
            assert [m for part in parts for m in read_share(files, part)] == whole
            split = [p for p in parts if p.mbox is not None]
            assert not any(p.mbox.endswith(".eml") for p in split)
            assert len(split) > 1  # there was something to split


def test_a_share_of_an_mbox_that_went_away_says_so(tmp_path: Path) -> None:
    from reconciler.source.files import read_share, shares

    box = tmp_path / "box"
    box.write_bytes(LINES[0] + MESSAGE + b"\n" + LINES[0] + MESSAGE)
    _first, second = shares([str(box)], 1)
    box.unlink()
    (item,) = read_share([str(box)], second)
    assert item.label == str(box)
    assert item.error == "cannot read: No such file or directory"


def test_big_files_pipes_and_directories_read_as_ever(tmp_path: Path) -> None:
    """A message file past the size read in one call, a big mbox, a pipe (no size to go by)
    and a directory named as a file."""
    import os
    import threading

    big = _touch(tmp_path / "big.eml", MESSAGE + b"x" * (3 << 20))
    box = _touch(tmp_path / "box", (LINES[0] + MESSAGE + b"y" * (1 << 20) + b"\n") * 2)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    sent = MESSAGE * 20_000

    def write() -> None:
        with pipe.open("wb") as handle:
            handle.write(sent)

    writer = threading.Thread(target=write)
    writer.start()
    items = list(read_messages([big, box, pipe, tmp_path]))
    writer.join()
    assert [i.data for i in items[:4]] == [
        big.read_bytes(),
        *_by_mailbox(box),
        sent,
    ]
    assert [i.label for i in items[1:3]] == [f"{box}#1", f"{box}#2"]
    assert items[4].error == "cannot read: Is a directory"


def _resident_file_kb() -> int:
    """The file pages this process holds (RssFile of /proc/self/status), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile line")


def test_a_big_mbox_is_read_and_shared_out_in_flat_memory(tmp_path: Path) -> None:
    """100,000 messages (some 44 MiB): reading them, or cutting them in shares, holds a few
    pages of the file at a time, not all that was read (issue 16)."""
    import pytest

    from reconciler.source.files import shares

    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc to read the resident memory from")
    box = tmp_path / "big"
    box.write_bytes((LINES[0] + b"Subject: s\n\n" + b"b" * 400 + b"\n\n") * 100_000)
    size_kb = box.stat().st_size // 1024
    start = _resident_file_kb()
    most = 0
    for number, _item in enumerate(read_messages([box])):
        if number % 5_000 == 0:
            most = max(most, _resident_file_kb() - start)
    assert number == 99_999
    for number, _share in enumerate(shares([str(box)], 16)):
        if number % 500 == 0:
            most = max(most, _resident_file_kb() - start)
    assert most < size_kb // 4, (most, size_kb)
