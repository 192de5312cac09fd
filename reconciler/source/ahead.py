"""Fetching one batch ahead, in a thread, over a connection of its own.

While the cycle records a batch and moves it (database and IMAP round trips of the polling
connection), the next batch is fetched over a second, read-only connection to the same folder
(`ImapSource.reader`): the server prepares it and the bytes arrive meanwhile.  One batch at
a time is fetched ahead, and only when the cycle took the one before: with the batch being
recorded and the one being analysed, at most three batches (each within `fetch_bytes`) are
held at once.  Nothing is moved or recorded here; an error of the reader reaches the cycle at
the batch it would have given, as an error of the inline fetch does.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence

from reconciler.records import RawMessage
from reconciler.source import MailSource, fetch_batches

__all__ = ["ReadAhead"]

_Item = tuple[list[RawMessage] | None, BaseException | None]  # a batch (None: done), an error


class ReadAhead:
    """`fetch_batches(reader, ...)` run in a thread, one batch ahead of the iteration.

    Use as a context manager: leaving it (at the end, at a stop, on an error) lets the fetch
    in progress finish and ends the thread; the reader connection is the caller's to close.
    """

    def __init__(
        self, reader: MailSource, uids: Sequence[int], batch_size: int, max_bytes: int | None
    ) -> None:
        self._batches = fetch_batches(reader, uids, batch_size, max_bytes)
        self._wanted = threading.Semaphore(0)  # released: fetch the next batch
        self._ready: queue.Queue[_Item] = queue.Queue(maxsize=1)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fetch-ahead", daemon=True)

    def _run(self) -> None:
        try:
            while True:
                self._wanted.acquire()
                if self._closed.is_set():
                    return
                batch = next(self._batches, None)
                self._ready.put((batch, None))
                if batch is None:
                    return
        except BaseException as err:  # handed to the cycle, which raises it as its own
            self._ready.put((None, err))

    def __enter__(self) -> ReadAhead:
        self._thread.start()
        self._wanted.release()  # the first batch
        return self

    def __iter__(self) -> Iterator[list[RawMessage]]:
        while True:
            batch, error = self._ready.get()
            if error is not None:
                raise error
            if batch is None:
                return
            self._wanted.release()  # the next one, while the caller works on this one
            yield batch

    def __exit__(self, *exc: object) -> None:
        """End the thread: a fetch under way ends first (its batch is dropped, never put
        anywhere: the queue has room for it, as every fetch follows the taking of a batch)."""
        self._closed.set()
        self._wanted.release()
        self._thread.join()
