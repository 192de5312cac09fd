"""Messages from local files: single message files, directories (recursively), mbox files and
Maildirs.  Used by `classify` and `explain`; the daemon reads IMAP through `source.imap`.

Errors reading one file become an item with `error` set: one unreadable file never stops a run
over a big folder.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from reconciler.frozenrecord import frozen_record

__all__ = ["MailFile", "discover", "plain_name", "read_messages"]

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
            # opened once and unbuffered: a message is read whole, not copied through a
            # buffer first (some 2 ms of 1,260 files); an mbox is mapped by _read_mbox
            with open(path, "rb", buffering=0) as handle:
                head = handle.read(len(_MBOX_MAGIC))
                # a .eml file is one message, even one saved with a From_ line and an unescaped
                # "From " line in its body, which an mbox reader would take for a second one
                box = head == _MBOX_MAGIC and _suffix(path).lower() != ".eml"
                data = b"" if box else head + handle.readall()
            if box:
                yield from _read_mbox(path)
            else:
                yield MailFile(path, data)
        except OSError as err:
            yield MailFile(path, b"", error=f"cannot read: {err.strerror or err}")


def _read_mbox(path: str) -> Iterator[MailFile]:
    """A saved message with a leading From_ line is a one-message mbox: keep its plain name."""
    if os.linesep != "\n":  # mailbox converts line endings there: leave it to mailbox
        yield from _read_mbox_by_mailbox(path)
        return
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        spans = _mbox_spans(buf)
        for index, (start, stop) in enumerate(spans):
            label = path if len(spans) == 1 else f"{path}#{index + 1}"
            yield MailFile(label, buf[_body_start(buf, start) : stop])


def _mbox_spans(buf: mmap.mmap | bytes) -> list[tuple[int, int]]:
    """(start, stop) of each message of an mbox, From_ line included, exactly as the standard
    library's `mailbox.mbox` finds them (its table of contents, without reading the file line
    by line in Python: some 100 ms of 1,260 messages): a message starts at each line that
    begins with "From "; it stops before the empty line that precedes the next one (or the
    end of the file), else right there."""
    starts = [0] if buf[:5] == _MBOX_MAGIC else []
    at = buf.find(b"\nFrom ")
    while at >= 0:
        starts.append(at + 1)
        at = buf.find(b"\nFrom ", at + 1)
    if not starts:
        return []
    ends = [*starts[1:], len(buf)]
    return [
        (start, end - 1 if _after_empty_line(buf, end) else end)
        for start, end in zip(starts, ends, strict=True)
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
