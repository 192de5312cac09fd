"""Moving committed messages to their folders, in the background while a backlog drains.

After a batch is committed, its messages are moved by UID sets (`MailSource.move`).  The
server takes its time over a MOVE of hundreds of messages (it copies them into the
destination and expunges them), and the polling process used to wait for it.  With
`background=True` (the cycle fetches over a second connection, so the polling connection
carries nothing but moves) `Mover` sends them from a thread instead, and the cycle meanwhile
takes the next batch, hands it to the analysis and records the one analysed before.

The order that makes the cycle safe is kept: what is moved is what `Store.moves_due` lists,
i.e. committed and not yet moved; a move is marked in the store (from the calling thread,
which owns the database connection) only after the server confirmed it; one move at a time
is under way, and the next one starts only after the one before is marked.  A crash while a
move is under way leaves committed, unmoved messages: moved by the next cycle, as before.  An
error of the move reaches the cycle at the next `move_due` or when the `Mover` is left.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from types import TracebackType

from reconciler.source import MailSource
from reconciler.store import Store

__all__ = ["Moved", "Mover"]

log = logging.getLogger(__name__)

# what a move did: per destination folder, (the UIDs moved, how many of them were only copied)
Moved = dict[str, tuple[list[int], int]]


class Mover:
    """Moves the committed, unmoved messages of `source`'s folder; `moved(count, unexpunged)`
    is told what each move did once it is marked in the store.

    Use as a context manager: leaving it waits for the move under way and marks it (on an
    error of the cycle, as far as the store lets it; a move not marked is done again next
    cycle, and moving a message that is gone moves nothing).
    """

    def __init__(
        self,
        source: MailSource,
        store: Store,
        clock: Callable[[], datetime],
        moved: Callable[[int, int], None],
        *,
        background: bool = False,
    ) -> None:
        self._source, self._store, self._clock, self._moved = source, store, clock, moved
        self._background = background
        self._thread: threading.Thread | None = None
        self._done: Moved = {}
        self._error: BaseException | None = None

    def move_due(self) -> None:
        """Finish the move under way, then move what is committed and unmoved now (in the
        background: started, not waited for)."""
        self.finish()
        due = self._store.moves_due(self._source.mailbox, self._source.uidvalidity)
        if not due:
            return
        if not self._background:
            self._mark(self._move(due))
            return
        self._thread = threading.Thread(target=self._run, args=(due,), name="move", daemon=True)
        self._thread.start()

    def finish(self) -> None:
        """Wait for the move under way (if any) and mark it; its error is raised here."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        thread.join()
        done, error, self._done, self._error = self._done, self._error, {}, None
        self._mark(done)  # the destinations moved before an error are marked all the same
        if error is not None:
            raise error

    def _run(self, due: dict[str, list[int]]) -> None:
        try:
            self._move(due, self._done)
        except BaseException as err:  # handed to the cycle, which raises it as its own
            self._error = err

    def _move(self, due: dict[str, list[int]], done: Moved | None = None) -> Moved:
        done = {} if done is None else done
        for destination, uids in due.items():
            done[destination] = (uids, self._source.move(uids, destination))
        return done

    def _mark(self, done: Moved) -> None:
        """Mark every destination's UIDs in one transaction: the ledger rows of a batch's
        destinations share pages, each written once instead of once per destination."""
        if not done:
            return
        source = self._source
        every = [uid for uids, _ in done.values() for uid in uids]
        self._store.mark_moved(source.mailbox, source.uidvalidity, every, self._clock())
        for uids, unexpunged in done.values():
            self._moved(len(uids), unexpunged)

    def __enter__(self) -> Mover:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.finish()
            return
        try:
            self.finish()
        except Exception as failure:  # never hide the cycle's own error
            log.warning(
                "mailbox=%s moves left for the next cycle: %s", self._source.mailbox, failure
            )
