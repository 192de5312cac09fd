"""Run the analysis stage in helper processes, to drain a large backlog on spare cores.

Parsing and classifying is CPU work, in Python.  With `[daemon] analysis_processes = N` the
polling process hands each fetched batch to N helper processes and, while they work, commits
and moves the batch before it and fetches the next one.  Results come back in batch order, so
the cycle keeps its order (analyse, commit, then move) and nothing about a batch is recorded
before all of it is analysed.

A process that is about to poll starts its helpers early, with `fork`, before it opens
a socket, a database or a thread (the composition root calls it right after compiling the
rules): a forked helper has every imported module and the compiled rules already, so it
analyses at once, where a spawned one first starts an interpreter, imports the parser and
loads the rules (about 0.2 s of a core, and the first batch waits for it; issue 16).  Forking
is only done on Linux and only while this is the process's one thread; any other pool (the
first one when `fork` was not called or not safe, a replacement after a helper died) is
*spawned*, a fresh interpreter: by then the daemon holds sockets, a database connection and
scheduler threads that a forked child must not inherit.  Each helper gets the work function
and its context (the compiled rules, the VERP keys) once, when it starts; they ignore SIGINT
and SIGTERM, so that a stop request reaches the polling process
only, which finishes its batch and then shuts them down (a helper whose polling process was
killed exits on its own within a second).  A helper that dies (killed, out of
memory) costs nothing but time: the batch is analysed in the polling process instead, and a
new pool is started for the next batch (after three broken pools, helpers are not used again).

A chunk goes to a helper, and its results come back, pickled by `_Pickler` (the pool then
carries bytes): a slotted dataclass or record goes as its class and the tuple of its field
values, rebuilt by setting the slots through their descriptors.  That is what its
`__getstate__` and `__setstate__` do, without looking the fields up again for every record
(the stdlib's `dataclasses.fields` per object: some 60 % of packing and unpacking a batch of
ledger entries with their events; issue 16).  The fetched messages going out were pickled by
the pool's own pickler, through each record's Python `__getstate__` and `__setstate__`
(some 30,000 instructions a message to pack, 18,000 to unpack; 25,000 and 12,000 so).
Any other object pickles as it always does.

With `share=N`, a batch goes to the helpers in chunks of N items, and the calling process,
once it asks for the results, takes the chunks no helper has started yet (from the end of the
batch) and analyses them itself: where the poller would only wait, it works, and a drain uses
every core it has (the helper analyses batch N+1 while the poller records batch N and then
helps with what is left of N+1).  The results are the same and in the same order.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import multiprocessing
import operator
import os
import pickle
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Generic, TypeVar

from reconciler import frozenrecord

__all__ = ["HelperPool"]

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

_MAX_BREAKS = 3
_WATCH_SECONDS = 1.0  # how often a helper checks that the polling process is still there
# in a helper process, set by `_start`: "work" (the function) and "context"
_helper: dict[str, Any] = {}


def _start(work: Callable[..., list[Any]], context: Any, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _helper.update(work=work, context=context)
    threading.Thread(target=_orphaned, args=(parent,), name="parent-watch", daemon=True).start()


def _orphaned(parent: int) -> None:
    """Exit once the polling process `parent` is gone: killed (SIGKILL, out of memory), it
    never shuts its helpers down, and they ignore SIGTERM."""
    while os.getppid() == parent:
        time.sleep(_WATCH_SECONDS)
    os._exit(0)


def _ready() -> None:
    """Nothing: submitted once per helper by `HelperPool.start`, so that each one starts."""


def _run(items: bytes, *args: Any) -> bytes:
    """A chunk's work in a helper: its items come and its results go as `_dumps` bytes."""
    work: Callable[..., list[Any]] = _helper["work"]
    return _dumps(work(_helper["context"], _loads(items), *args))


# -- the transfer of results ------------------------------------------------------------------

_Read = Callable[[Any], tuple[Any, ...]]  # a record → its field values
_Build = Callable[[tuple[Any, ...]], Any]  # its field values → a record
# the `__setstate__` of records whose state is the tuple of their field values, each set on
# its slot: the dataclass decorator's (slots=True) and `frozen_record`'s
_GENERIC_SETSTATE = tuple(
    method
    for method in (
        getattr(dataclasses, "_dataclass_setstate", None),  # private: if gone, sent as usual
        getattr(frozenrecord, "_setstate", None),
    )
    if method is not None
)
_plans: dict[type, tuple[_Read, _Build] | None] = {}  # None: pickled as usual


def _plan(cls: type) -> tuple[_Read, _Build] | None:
    """How a record of `cls` is sent, when its state is that tuple (worked out once)."""
    if cls in _plans:
        return _plans[cls]
    plan = None
    slots = cls.__dict__.get("__slots__", ())
    if getattr(cls, "__setstate__", None) in _GENERIC_SETSTATE and dataclasses.is_dataclass(cls):
        names = tuple(item.name for item in dataclasses.fields(cls))
        if len(names) > 1 and all(name in slots for name in names):
            read: _Read = operator.attrgetter(*names)  # a tuple when given several names
            plan = read, _builder(cls, names)
    _plans[cls] = plan
    return plan


def _builder(cls: type, names: tuple[str, ...]) -> _Build:
    """`__setstate__` of `cls` as one function, each slot set through its own descriptor (a
    loop over the fields costs about 40 % more; the code depends on the class alone)."""
    env: dict[str, Any] = {"new": cls.__new__, "cls": cls}
    values = [f"v{index}" for index in range(len(names))]
    lines = ["def build(values):", f" {', '.join(values)}, = values", " record = new(cls)"]
    for index, name in enumerate(names):
        env[f"set{index}"] = cls.__dict__[name].__set__
        lines.append(f" set{index}(record, v{index})")
    exec("\n".join([*lines, " return record"]), env)  # names of our own making only
    build: _Build = env["build"]
    return build


def _rebuild(cls: type, values: tuple[Any, ...]) -> Any:
    """A record from its field values (what its `__setstate__` does)."""
    plan = _plan(cls)
    if plan is None:  # not a record that `_Pickler` sends so
        raise pickle.UnpicklingError(f"{cls.__qualname__}: not a record of slotted fields")
    return plan[1](values)


class _Pickler(pickle.Pickler):
    """Records as (class, field values); anything else as usual."""

    def reducer_override(self, obj: Any) -> Any:
        plan = _plan(type(obj))
        return NotImplemented if plan is None else (_rebuild, (type(obj), plan[0](obj)))


def _dumps(results: list[Any]) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(results)
    return buffer.getvalue()


def _loads(data: bytes) -> list[Any]:
    results: list[Any] = pickle.loads(data)  # from our own helper process, as before
    return results


class HelperPool(Generic[Item, Result]):
    """`work(context, items, *args) -> results` (one result per item, in order), run over
    the chunks of a batch in `processes` helper processes.

    `work` must be importable by name (a module-level function) and `context` picklable.
    Batches smaller than `min_batch` are run in the calling process (no round trip).
    """

    def __init__(
        self,
        processes: int,
        work: Callable[..., list[Result]],
        context: Any,
        *,
        min_batch: int = 32,
        share: int | None = None,
    ) -> None:
        self.processes = processes
        self._work = work
        self._context = context
        self._min_batch = min_batch
        self._share = share  # chunk size when this process takes its share (None: it waits)
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()  # the daemon's mailbox jobs (threads) share one pool
        self._breaks = 0
        self.batches: Counter[str] = Counter()  # batches analysed by "helpers" and "here"
        self.chunks: Counter[str] = Counter()  # with `share`: chunks done by "helpers", "here"

    def _new_executor(self, start_method: str) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context(start_method),
            initializer=_start,
            initargs=(self._work, self._context, os.getpid()),
        )

    def _pool(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._breaks >= _MAX_BREAKS:
                return None
            if self._executor is None:
                self._executor = self._new_executor("spawn")
            return self._executor

    def _here(self, items: Sequence[Item], args: tuple[Any, ...]) -> list[Result]:
        self.batches["here"] += 1
        return self._work(self._context, items, *args)

    def pids(self) -> list[int]:
        """The process ids of the running helpers (none before the first batch)."""
        executor = self._executor
        processes = getattr(executor, "_processes", None) or {}
        return sorted(int(pid) for pid in processes)

    def fork(self) -> bool:
        """Start the helpers now as forks of this process, when that is safe: on Linux, while
        no other thread runs, before any pool; True when they were started so.  Call it before
        the process opens sockets or a database: the helpers inherit what is open (they never
        use it) and a fork in the middle of another thread's work could copy a held lock."""
        if not sys.platform.startswith("linux") or threading.active_count() > 1:
            return False
        with self._lock:
            if self._executor is not None or self._breaks >= _MAX_BREAKS:
                return False
            executor = self._executor = self._new_executor("fork")
        try:
            executor.submit(_ready)  # a fork pool starts all its processes at the first submit
        except Exception as err:  # the pool is broken: the first batch is analysed here
            self._broken(err, (), ())
            return False
        return True

    def wanted(self, items: int) -> bool:
        """Whether a batch of `items` would go to the helpers (else it is done here)."""
        return items >= self._min_batch

    def start(self) -> None:
        """Start the helpers now, not at the first batch: each one starts an interpreter and
        loads the rules (about half a second of a core), meanwhile the polling process
        connects and fetches.  A helper that cannot start breaks the pool as `submit` says."""
        pool = self._pool()
        if pool is None or self.pids():
            return
        try:
            for _ in range(self.processes):  # one each: a spawned pool adds one per submit
                pool.submit(_ready)
        except Exception as err:  # a broken pool: the first batch is analysed here
            self._broken(err, (), ())

    def submit(self, items: Sequence[Item], *args: Any) -> Callable[[], list[Result]]:
        """Start the work on `items`; the returned call waits for and returns the results."""
        pool = self._pool() if self.wanted(len(items)) else None
        if pool is None:
            return lambda: self._here(items, args)
        size = self._share or -(-len(items) // self.processes)
        chunks = [items[start : start + size] for start in range(0, len(items), size)]
        try:
            futures = [pool.submit(_run, _dumps(list(chunk)), *args) for chunk in chunks]
        except Exception as err:  # a broken pool, or a helper that cannot start
            return self._broken(err, items, args)
        return lambda: self._collect(futures, chunks, items, args)

    def _collect(
        self,
        futures: list[Future[bytes]],
        chunks: list[Sequence[Item]],
        items: Sequence[Item],
        args: tuple[Any, ...],
    ) -> list[Result]:
        done: dict[int, list[Result]] = self._take_share(futures, chunks, args)
        try:
            results = [
                result
                for index, future in enumerate(futures)
                for result in (done[index] if index in done else _loads(future.result()))
            ]
        except Exception as err:  # a helper died (BrokenProcessPool) or could not unpickle
            return self._broken(err, items, args)()
        with self._lock:
            self.batches["helpers"] += 1
            if self._share is not None:
                self.chunks.update(here=len(done), helpers=len(futures) - len(done))
        return results

    def _take_share(
        self,
        futures: list[Future[bytes]],
        chunks: list[Sequence[Item]],
        args: tuple[Any, ...],
    ) -> dict[int, list[Result]]:
        """With `share`: do here, last first, each chunk that no helper has started yet (its
        future is cancelled, so no helper ever does it); one at a time, while they go on."""
        done: dict[int, list[Result]] = {}
        if self._share is None:
            return done
        for index in reversed(range(len(futures))):
            if not futures[index].cancel():
                break  # a helper has it, and those before it: wait for them
            done[index] = self._work(self._context, chunks[index], *args)
        return done

    def _broken(
        self, err: Exception, items: Sequence[Item], args: tuple[Any, ...]
    ) -> Callable[[], list[Result]]:
        """Give up this pool (a new one starts at the next batch); do the batch here."""
        with self._lock:
            self._breaks += 1
        log.warning(
            "analysis helper processes failed (%s: %s); analysing the batch in this process%s",
            type(err).__name__,
            err,
            "" if self._breaks < _MAX_BREAKS else " (helpers disabled for this run)",
        )
        self.close()
        return lambda: self._here(items, args)

    def close(self) -> None:
        """Stop the helper processes (pending work is cancelled)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
