"""`classify` over a batch of files: each message classified and its JSON lines written (or
its rows kept for the table), in the order of the files, in this process or, for a batch big
enough to pay for them, in worker processes (`--jobs`, docs/cli.md).

With workers, this process classifies the first `WARM_UP` messages itself: the modules and
the regular expressions that they needed are loaded once, here, and every worker inherits
them.  Workers start only when `AT_LEAST` messages are left after those (fewer would not pay
for a worker's start, bench/classify.py).  The batch is then given out in shares of `SHARE`
messages (`source.files.shares`: an mbox is shared out message by message like a folder of
files) and the output of each share is written as soon as those before it are.
"""

from __future__ import annotations

import codecs
import sys
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from itertools import chain
from typing import IO, TextIO

from reconciler.analysis import analyse
from reconciler.controls import dumps
from reconciler.records import MessageKind
from reconciler.report.results import ResultRow, result_json, result_rows, row_json
from reconciler.source.files import MailFile, Share, read_messages, read_share, shares

TYPE_CHECKING = False
if TYPE_CHECKING:
    from reconciler.classify.match import Classifier
    from reconciler.settings import VerpSettings

__all__ = ["AT_LEAST", "SHARE", "WARM_UP", "Batch"]

# Measured on 2 cores over the corpus (CPU time of every process, and the longest path: the
# command's time to the fork plus the busiest worker's): over 1,260 messages, a warm-up of
# 128 rather than 32 messages cuts the workers' extra CPU time from some 16 % of the time
# alone to 5-12 %, for the same path (0.26 s against 0.36-0.38 s alone); from some 250
# messages on, the path is shorter with workers, below that it is not.
SHARE = 16  # messages in a share given to a worker
WARM_UP = 128  # messages classified here before any worker starts
AT_LEAST = 128  # messages left after the warm-up for workers to start

Advance = Callable[[int], None]  # counts messages done
Progress = Callable[[], AbstractContextManager[Advance]]
# what a worker returns of a share: its messages, the lines for stderr, its JSON lines, its rows
_Done = tuple[int, list[str], bytes, list[ResultRow]]


class Batch:
    """The messages of `files`, classified with `classifier` (VERP checked with `verp` as of
    `now`): `run` writes the JSON lines (`as_json`) or keeps the rows in `rows`; `unread`
    lists the files that could not be read, as the operator is told."""

    def __init__(
        self, files: list[str], classifier: Classifier, verp: VerpSettings | None, now: int,
        *, as_json: bool,
    ) -> None:  # fmt: skip
        self.files = files
        self._classifier = classifier
        self._verp = verp
        self._now = now
        self._json = as_json
        self.rows: list[ResultRow] = []
        self.unread: list[str] = []
        # stdout as it is now: a progress bar on the terminal puts a proxy of its own there
        self._out = sys.stdout

    def run(self, jobs: int | None, progress: Progress) -> None:
        """Classify every message, with `jobs` processes at most (1: this one alone; None:
        one per usable core).  `progress()` gives the function that counts messages done
        (a bar on a terminal)."""
        if jobs == 1:
            with progress() as advance:
                self._here(read_messages(self.files), advance)
            return
        parts = shares(self.files, SHARE)
        done = 0
        for share in parts:  # the warm-up, in this process
            self._here(read_share(self.files, share), no_progress)
            done += share.count
            if done >= WARM_UP:
                break
        ahead, left = [], 0
        for share in parts:
            ahead.append(share)
            left += share.count
            if left >= AT_LEAST:
                break
        rest = chain(ahead, parts)
        if left < AT_LEAST:  # too few left to pay for a worker
            self._here(chain.from_iterable(read_share(self.files, s) for s in ahead), no_progress)
            return
        # the workers' code is imported only now: a run of a few files never needs it
        from reconciler.cli.workers import Workers, can_fork, usable_cores

        count = jobs or usable_cores()
        if count < 2 or not can_fork():
            with progress() as advance:
                advance(done)
                self._here(chain.from_iterable(read_share(self.files, s) for s in rest), advance)
            return
        with Workers(count, self._share) as workers, progress() as advance:
            advance(done)
            write = _bytes_writer(self._out)
            for messages, unread, text, rows in workers.map(rest):
                write(text)
                self.rows.extend(rows)
                self.unread.extend(unread)
                advance(messages)

    def _here(self, items: Iterable[MailFile], advance: Advance) -> None:
        """Classify `items` in this process, the output of each written at once."""
        write = self._out.write
        for item in items:
            self._message(item, write, self.rows, self.unread)
            advance(1)

    def _share(self, share: Share) -> _Done:
        """A worker's work: the messages of `share`, their output returned."""
        text: list[str] = []
        rows: list[ResultRow] = []
        unread: list[str] = []
        count = 0
        for item in read_share(self.files, share):
            self._message(item, text.append, rows, unread)
            count += 1
        return count, unread, "".join(text).encode(), rows

    def _message(
        self, item: MailFile, write: Callable[[str], object], rows: list[ResultRow],
        unread: list[str],
    ) -> None:  # fmt: skip
        if item.error is not None:
            unread.append(f"{item.label}: {item.error}")
            error = ResultRow(item.label, MessageKind.ERROR, recipient=None, error=item.error)
            if self._json:
                write(dumps(row_json(error)) + "\n")
            else:
                rows.append(error)
        elif self._json:  # straight from the analysis to JSON, without the rows
            analysis = analyse(item.data, self._classifier, self._verp, self._now)
            for line in result_json(item.label, analysis):
                write(dumps(line) + "\n")
        else:
            analysis = analyse(item.data, self._classifier, self._verp, self._now)
            rows.extend(result_rows(item.label, analysis))


def no_progress(count: int) -> None:
    """No progress shown (no progress bar: nothing to count)."""


def _bytes_writer(out: TextIO) -> Callable[[bytes], object]:
    """How a worker's output (UTF-8) is written to stdout: to its bytes as they are when it
    writes UTF-8 (flushed at each write where it is line-buffered, as on a terminal), else
    decoded and written as text."""
    out.flush()
    raw: IO[bytes] | None = getattr(out, "buffer", None)
    if raw is None or codecs.lookup(getattr(out, "encoding", None) or "ascii").name != "utf-8":
        return lambda data: out.write(data.decode())
    if not getattr(out, "line_buffering", False):
        return raw.write
    buffer = raw

    def write(data: bytes) -> None:
        buffer.write(data)
        buffer.flush()

    return write
