"""Messages from local files: single message files, directories (recursively), mbox files and
Maildirs.  Used by `classify` and `explain`; the daemon reads IMAP through `source.imap`.

Errors reading one file become an item with `error` set: one unreadable file never stops a run
over a big folder.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from reconciler.frozenrecord import frozen_record

__all__ = ["MailFile", "Share", "discover", "plain_name", "read_messages", "read_share", "shares"]

_SKIP_NAMES = ("dovecot", ".")  # dovecot index files, dot files
_MBOX_MAGIC = b"From "


@frozen_record
class MailFile:
    """One message read from disk; `label` is how it is named in output (path or path#n)."""

    label: str
    data: bytes
    error: str | None = None


def discover(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Expand directories (recursively; a Maildir reads only cur/ and new/) into files, each
    named as `pathlib` names it (`mail//a/./b.eml` is `mail/a/b.eml`)."""
    out: list[str] = []
    for path in paths:
        name = plain_name(path)
        if os.path.isdir(name):
            out.extend(_walk(name))
        else:
            out.append(name)
    return out


def plain_name(path: str | os.PathLike[str]) -> str:
    """`str(Path(path))`, without building the Path when the text is so already.

    Files are named by text here: a Path parses (and interns) each part of its name, and
    1,260 files named on the command line, each made a Path, tested and printed, cost more
    instructions than reading them (issue 16)."""
    name = os.fspath(path)
    if os.sep != "/" or not name or name == "." or "//" in name or "/./" in name:
        return str(Path(name))
    if name.startswith("./") or name.endswith(("/", "/.")):
        return str(Path(name))
    return name


def _join(directory: str, name: str) -> str:
    """`str(Path(directory) / name)` for a plain directory name."""
    if directory == ".":
        return name
    return f"{directory}{name}" if directory.endswith(os.sep) else f"{directory}{os.sep}{name}"


# A directory is read once (os.scandir: the entry types come with the names, no stat of each
# file on most file systems) and sorted by name.
def _entries(directory: str) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as entries:
        return sorted(entries, key=lambda e: e.name)


def _walk(directory: str) -> Iterator[str]:
    cur, new = _join(directory, "cur"), _join(directory, "new")
    if os.path.isdir(cur) and os.path.isdir(new):
        for sub in (new, cur):
            yield from (_join(sub, e.name) for e in _entries(sub) if _message(e))
        # Maildir++ sub-folders are dot directories beside cur/new.
        for entry in _entries(directory):
            if entry.name.startswith(".") and entry.is_dir():
                yield from _walk(_join(directory, entry.name))
        return
    for entry in _entries(directory):
        if entry.is_dir():
            if not entry.name.startswith("."):
                yield from _walk(_join(directory, entry.name))
        elif _message(entry):
            yield _join(directory, entry.name)


def _message(entry: os.DirEntry[str]) -> bool:
    return not entry.name.startswith(_SKIP_NAMES) and entry.is_file()


def _suffix(name: str) -> str:
    """`Path(name).suffix`."""
    base = os.path.basename(name)
    dot = base.rfind(".")
    return base[dot:] if 0 < dot < len(base) - 1 else ""


def read_messages(files: Iterable[str | os.PathLike[str]]) -> Iterator[MailFile]:
    """Yield each message of each file; an mbox file yields one item per message."""
    for file in files:
        path = os.fspath(file)
        try:
            data = _read_file(path)
            if data is None:
                yield from _read_mbox(path)
            else:
                yield MailFile(path, data)
        except OSError as err:
            yield MailFile(path, b"", error=f"cannot read: {err.strerror or err}")


_AT_ONCE = 1 << 20  # a file up to this size is read in one call: any message file is smaller
_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _read_file(path: str) -> bytes | None:
    """The bytes of a message file, or None for an mbox (`_read_mbox` maps it).

    Read with a call per step, not a file object: opened, sized and read in one call each
    (a file object reads the first bytes, then asks the size and the position again, then
    reads to a read that finds the end: twice the system calls; some 3 ms of 1,260 files,
    issue 16).  A file that is bigger, or that grew, or is no regular file (a pipe: no
    size) is read to its end."""
    fd = os.open(path, _FLAGS)
    try:
        size = os.fstat(fd).st_size
        if size > _AT_ONCE:  # an mbox, most likely: its first bytes tell, not all of them
            data = os.read(fd, len(_MBOX_MAGIC))
            if _is_mbox(data, path):
                return None
        else:
            data = os.read(fd, size + 1)
            if len(data) <= size:
                return None if _is_mbox(data, path) else data
        chunks = [data]
        while chunk := os.read(fd, _AT_ONCE):
            chunks.append(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    return None if _is_mbox(data, path) else data


def _is_mbox(data: bytes, path: str) -> bool:
    """A file that begins with a From_ line is an mbox, but a .eml file is one message, even
    one saved with a From_ line and an unescaped "From " line in its body, which an mbox
    reader would take for a second one."""
    return data[: len(_MBOX_MAGIC)] == _MBOX_MAGIC and _suffix(path).lower() != ".eml"


def _read_mbox(path: str) -> Iterator[MailFile]:
    """A saved message with a leading From_ line is a one-message mbox: keep its plain name.

    Mapped, and read a share of messages at a time: the pages read are let go share by
    share, and no table of every message is held (the memory used stays flat however many
    messages the mbox holds)."""
    if os.linesep != "\n":  # mailbox converts line endings there: leave it to mailbox
        yield from _read_mbox_by_mailbox(path)
        return
    with _mapped(path) as buf:
        for share in _shares_of(buf, path, _MBOX_SHARE):
            yield from _read_mapped(buf, path, share)


_MBOX_SHARE = 256  # messages of an mbox read a share at a time


def _spans_between(buf: mmap.mmap | bytes, start: int, stop: int) -> list[tuple[int, int]]:
    """(start, stop) of each message of an mbox that begins at `start` (a message's first
    byte) or after it and before `stop` (the next one's first byte, or the end of the file),
    From_ line included, exactly as the standard library's `mailbox.mbox` finds them (its
    table of contents, without reading the file line by line in Python: some 100 ms of 1,260
    messages): a message starts at each line that begins with "From "; it stops before the
    empty line that precedes the next one (or the end of the file), else right there."""
    starts = [start]
    at = buf.find(b"\nFrom ", start)
    while at >= 0 and at + 1 < stop:
        starts.append(at + 1)
        at = buf.find(b"\nFrom ", at + 1)
    ends = [*starts[1:], stop]
    return [
        (begin, end - 1 if _after_empty_line(buf, end) else end)
        for begin, end in zip(starts, ends, strict=True)
    ]


def _after_empty_line(buf: mmap.mmap | bytes, end: int) -> bool:
    """Whether the line that ends at `end` is a lone line feed."""
    return end >= 2 and buf[end - 2 : end] == b"\n\n"


def _body_start(buf: mmap.mmap | bytes, start: int) -> int:
    """After the From_ line that starts at `start`."""
    end = buf.find(b"\n", start)
    return len(buf) if end < 0 else end + 1


def _read_mbox_by_mailbox(path: str) -> Iterator[MailFile]:
    import mailbox  # only for an mbox (it imports much of the email package)

    box = mailbox.mbox(path, create=False)
    try:
        keys = list(box.iterkeys())
        for index, key in enumerate(keys):
            label = path if len(keys) == 1 else f"{path}#{index + 1}"
            yield MailFile(label, box.get_bytes(key))
    finally:
        box.close()


# -- a batch in shares, for worker processes -------------------------------------------------


@frozen_record
class Share:
    """A part of a batch of files (`shares`), read by `read_share`: the files `start` to
    `stop` of the list, each read as `read_messages` reads it; or, when `mbox` names one, the
    messages of that mbox that begin between the byte offsets `start` and `stop`, numbered
    from `first` (`whole`: the mbox holds this one message, named as the file).  `count`:
    the messages in it (a file counts as one)."""

    start: int
    stop: int
    count: int
    mbox: str | None = None
    first: int = 1
    whole: bool = False


def shares(files: Sequence[str], size: int) -> Iterator[Share]:
    """`files` in shares of at most `size` messages, in order: runs of message files, and
    each mbox on its own in shares of its messages (one big mbox is shared out as a
    directory is).  A `.eml` file is never an mbox (`read_messages`); any other file is
    looked at (its first five bytes) to tell."""
    run = 0  # where the current run of message files began
    for index, path in enumerate(files):
        if _suffix(path).lower() == ".eml" or not _starts_as_mbox(path):
            if index + 1 - run == size:
                yield Share(run, index + 1, size)
                run = index + 1
            continue
        if index > run:
            yield Share(run, index, index - run)
        run = index + 1
        try:
            buf = _mapped(path)
        except (OSError, ValueError):  # gone, or emptied (mmap refuses an empty file):
            yield Share(index, index + 1, 1)  # `read_share` reads it whole, or says why not
            continue
        with buf:
            yield from _shares_of(buf, path, size)
    if run < len(files):
        yield Share(run, len(files), len(files) - run)


def _starts_as_mbox(path: str) -> bool:
    """Whether the file begins with a From_ line (not readable: no, `read_share` says why)."""
    try:
        with open(path, "rb", buffering=0) as handle:
            return handle.read(len(_MBOX_MAGIC)) == _MBOX_MAGIC
    except OSError:
        return False


def _shares_of(buf: mmap.mmap, path: str, size: int) -> Iterator[Share]:
    """The shares of the mbox `path` mapped as `buf`, `size` messages each.  The pages of
    the map before each share are let go (`madvise`) as it is given: read once, they would
    stay in the process's resident memory to the end of the file."""
    begin, count, number = 0, 0, 1
    kept = 0  # where the pages still held begin
    for at in _message_starts(buf):
        if count == size:
            kept = _let_go(buf, kept, begin)
            yield Share(begin, at, count, path, number)
            begin, count, number = at, 0, number + count
        count += 1
    _let_go(buf, kept, begin)
    yield Share(begin, len(buf), count, path, number, number == 1 and count == 1)


_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)  # not on every system


def _let_go(buf: mmap.mmap, start: int, stop: int) -> int:
    """Let the whole pages of `buf` between `start` and `stop` go; where the next begin."""
    stop -= stop % mmap.PAGESIZE
    if _DONTNEED is not None and stop > start:
        buf.madvise(_DONTNEED, start, stop - start)
        return stop
    return start


def _mapped(path: str) -> mmap.mmap:
    """The file mapped to read (closed with the map: the map keeps its own handle)."""
    with open(path, "rb") as handle:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


def _message_starts(buf: mmap.mmap) -> Iterator[int]:
    """The first byte of each message of an mbox that begins with a From_ line."""
    yield 0
    at = buf.find(b"\nFrom ")
    while at >= 0:
        yield at + 1
        at = buf.find(b"\nFrom ", at + 1)


def read_share(files: Sequence[str], share: Share) -> Iterator[MailFile]:
    """The messages of `share`, a share of `files` (`shares`), as `read_messages` names and
    reads them."""
    if share.mbox is None:
        yield from read_messages(files[share.start : share.stop])
        return
    path = share.mbox
    try:
        with _mapped(path) as buf:
            yield from _read_mapped(buf, path, share)
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        yield MailFile(path, b"", error=f"cannot read: {reason}")


def _read_mapped(buf: mmap.mmap, path: str, share: Share) -> Iterator[MailFile]:
    """The messages of `share`, a share of the mbox `path` mapped as `buf`."""
    for number, (start, stop) in enumerate(_spans_between(buf, share.start, share.stop)):
        label = path if share.whole else f"{path}#{share.first + number}"
        yield MailFile(label, buf[_body_start(buf, start) : stop])
