"""Worker processes for a command that works through a batch (`classify` over many files):
the batch in parts, each part done in a process forked from this one, the results given back
in the order of the parts, as they come.

Forked, not spawned: a worker starts with all this process has loaded (the rules, the
parser's modules, the regular expressions its first messages compiled), shared copy-on-write,
and imports and loads nothing again.  Only where `os.fork` exists and only from a process
that runs one thread (`can_fork`): a lock another thread held at the fork would stay held in
the child for ever.

A part goes to its worker pickled, in one write of a few bytes (parts must be small: a pipe
takes a write of up to 4,096 bytes whole); its result comes back pickled.  Each worker has
at most `_IN_HAND` parts given to it, and no part is given out more than `_AHEAD` parts per
worker beyond the oldest result not yet returned: the memory held stays bounded however long
the batch and however slow one part.

Stopping: a worker ignores SIGINT (a Ctrl-C reaches every process of the terminal's group:
this one handles it and ends the workers).  Leaving the `with` block ends the workers
(SIGTERM, when it is left by an exception or before the results are all in) and waits for
them, so none outlives the command.  A worker whose parent was killed stops after its
current part: its next read finds the pipe closed, or its write finds no reader.
"""

from __future__ import annotations

import gc
import os
import pickle
import select
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from typing import Generic, TypeVar

from reconciler.errors import ReconcilerError

__all__ = ["Workers", "can_fork", "usable_cores"]

Part = TypeVar("Part")
Result = TypeVar("Result")

_IN_HAND = 2  # parts given to a worker at a time: the next is there when it finishes one
_AHEAD = 4  # parts per worker given out beyond the oldest result not yet returned
_HEADER = 4  # bytes of a frame's length (big-endian) before the frame
_READ = 1 << 16


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether worker processes can be forked from this process: the system forks, and no
    other thread runs here (the command line starts none; a test runner may)."""
    if not hasattr(os, "fork"):
        return False
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


class _Worker:
    __slots__ = ("pid", "received", "results", "tasks", "waiting")

    def __init__(self, pid: int, tasks: int, results: int) -> None:
        self.pid = pid
        self.tasks = tasks  # the write end of its parts' pipe
        self.results = results  # the read end of its results' pipe
        self.waiting: deque[int] = deque()  # the numbers of its parts not yet returned
        self.received = bytearray()  # what has come of its next results


class Workers(Generic[Part, Result]):
    """`count` forked processes that run `work(part)` on parts given by `map`, in a `with`
    block: `with Workers(2, work) as workers: for result in workers.map(parts): ...`."""

    def __init__(self, count: int, work: Callable[[Part], Result]) -> None:
        self._count = count
        self._work = work
        self._workers: list[_Worker] = []
        self._finished = False

    def __enter__(self) -> Workers[Part, Result]:
        sys.stdout.flush()  # what is buffered here is written once, by this process
        sys.stderr.flush()
        gc.freeze()  # the collector of a worker leaves alone (and unshared) what it inherits
        try:
            for _ in range(self._count):
                self._fork()
        except BaseException:
            self._stop(kill=True)
            raise
        finally:
            gc.unfreeze()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop(kill=not self._finished)

    def _fork(self) -> None:
        tasks_read, tasks_write = os.pipe()
        results_read, results_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: it never returns from here
            inherited = [fd for w in self._workers for fd in (w.tasks, w.results)]
            self._serve(tasks_read, results_write, [*inherited, tasks_write, results_read])
        os.close(tasks_read)
        os.close(results_write)
        self._workers.append(_Worker(pid, tasks_write, results_read))

    def _serve(self, tasks: int, results: int, not_ours: list[int]) -> None:
        """A worker's life: each part read from `tasks` is worked on, its result written to
        `results`, until the pipe of parts closes.  Ends the process, never returns."""
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            for fd in not_ours:  # the other workers' pipes: they must see their ends close
                os.close(fd)
            while (frame := _read_frame(tasks)) is not None:
                result = self._work(pickle.loads(frame))
                _write_frame(results, pickle.dumps(result, pickle.HIGHEST_PROTOCOL))
            code = 0
        except (BrokenPipeError, KeyboardInterrupt):  # the parent has gone, or is stopping
            code = 0
        except BaseException:  # the parent says that a worker failed; here is why
            import traceback

            traceback.print_exc()
        finally:
            try:
                sys.stderr.flush()
            finally:
                os._exit(code)

    def map(self, parts: Iterable[Part]) -> Iterator[Result]:
        """`work(part)` of each part, in the order of the parts."""
        source = iter(parts)
        poller = select.poll()
        by_fd = {w.results: w for w in self._workers}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        done: dict[int, Result] = {}
        given = returned = 0  # parts given out; results returned (in order)
        more = True
        while True:
            if more:
                given, more = self._give(source, given, returned + _AHEAD * len(self._workers))
            if given == returned and not more:
                break
            for fd, _event in poller.poll():
                worker = by_fd[fd]
                for result in self._receive(worker):
                    done[worker.waiting.popleft()] = result
            while returned in done:
                yield done.pop(returned)
                returned += 1
        self._finished = True

    def _give(self, source: Iterator[Part], given: int, bound: int) -> tuple[int, bool]:
        """Give out parts, a round of one part a worker at a time, while workers have room
        and `bound` is not reached: (parts given out so far, whether there may be more)."""
        while given < bound:
            room = [w for w in self._workers if len(w.waiting) < _IN_HAND]
            if not room:
                return given, True
            for worker in room:
                if given >= bound:
                    break
                try:
                    part = next(source)
                except StopIteration:
                    return given, False
                try:
                    _write_frame(worker.tasks, pickle.dumps(part, pickle.HIGHEST_PROTOCOL))
                except BrokenPipeError:  # not stdout's: a worker that has ended
                    raise self._failed(worker) from None
                worker.waiting.append(given)
                given += 1
        return given, True

    def _receive(self, worker: _Worker) -> Iterator[Result]:
        """The results that have come whole from `worker` (after one read)."""
        data = os.read(worker.results, _READ)
        if not data:
            raise self._failed(worker)
        received = worker.received
        received += data
        at = 0
        while len(received) - at >= _HEADER:
            size = int.from_bytes(received[at : at + _HEADER], "big")
            if len(received) - at - _HEADER < size:
                break
            yield pickle.loads(received[at + _HEADER : at + _HEADER + size])
            at += _HEADER + size
        del received[:at]

    def _failed(self, worker: _Worker) -> ReconcilerError:
        """The error of a worker that closed its pipes: how it ended ("exited with status
        1", ...)."""
        _pid, status = os.waitpid(worker.pid, 0)
        worker.pid = 0  # reaped
        code = os.waitstatus_to_exitcode(status)
        ended = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        return ReconcilerError(f"a worker process {ended} before its work was done")

    def _stop(self, *, kill: bool) -> None:
        """End the workers (at once when `kill`, else once their parts' pipe closes) and
        wait for each."""
        workers, self._workers = self._workers, []
        for worker in workers:
            os.close(worker.tasks)
            if kill and worker.pid:
                with suppress(ProcessLookupError):  # it has ended already
                    os.kill(worker.pid, signal.SIGTERM)
        for worker in workers:
            os.close(worker.results)
            if worker.pid:
                with suppress(ChildProcessError):  # reaped already
                    os.waitpid(worker.pid, 0)


def _read_frame(fd: int) -> bytes | None:
    """The next frame on `fd`; None when the pipe closed between frames."""
    head = _read_exactly(fd, _HEADER)
    if head is None:
        return None
    body = _read_exactly(fd, int.from_bytes(head, "big"))
    if body is None:
        raise EOFError("a pipe closed within a frame")
    return body


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            if left == size and size:
                return None
            raise EOFError("a pipe closed within a frame")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write_frame(fd: int, data: bytes) -> None:
    view = memoryview(len(data).to_bytes(_HEADER, "big") + data)
    while view:
        view = view[os.write(fd, view) :]
