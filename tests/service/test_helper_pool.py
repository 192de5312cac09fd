"""Helper processes for the analysis stage (reconciler.service.helper_pool), with real spawned
processes.

The cycle's use of them, on the suite's dovecot, is in test_cycle.py.  Here: results come back
in order whatever the chunking, small batches stay in the calling process, a dead helper or a
failing work function degrades to the calling process, and what crosses the process boundary
(the classifier, raw messages with INTERNALDATE, ledger entries) survives pickling intact.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import FrozenInstanceError, dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from support import CORPUS

from reconciler.analysis import Analysed, Destinations, Failed, Stages, analyse, analyse_batch
from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules
from reconciler.records import LedgerEntry, RawMessage
from reconciler.service.helper_pool import HelperPool

FOLDERS = Destinations("processed", "unmatched", "quarantine")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def tagged(_context: str, items: Sequence[int], offset: int) -> list[tuple[int, int]]:
    """A work function: each item plus the offset, with the pid of the process that did it."""
    return [(item + offset, os.getpid()) for item in items]


def gated(context: tuple[int, str], items: Sequence[int]) -> list[tuple[int, int]]:
    """A work function whose helpers wait until the calling process has done a chunk."""
    parent, gate = context
    if os.getpid() == parent:
        Path(gate).touch()
    else:
        for _ in range(6000):  # at most a minute: a test that fails must not hang
            if Path(gate).exists():
                break
            time.sleep(0.01)
    return [(item, os.getpid()) for item in items]


def failing(_context: str, items: Sequence[int]) -> list[int]:
    raise ValueError("the work itself failed")


def raws(count: int) -> list[RawMessage]:
    files = sorted(CORPUS.glob("*.eml"))[:count]
    zone = timezone(timedelta(hours=9))  # a server zone other than UTC
    return [
        RawMessage("box", 7, uid, path.read_bytes(), None, datetime(2026, 3, 1, 20, 0, tzinfo=zone))
        for uid, path in enumerate(files, start=1)
    ]


def test_results_come_back_in_order_across_chunks_and_processes() -> None:
    pool = HelperPool[int, tuple[int, int]](2, tagged, "context", min_batch=4)
    try:
        results = pool.submit(list(range(101)), 1000)()
        assert [value for value, _ in results] == [n + 1000 for n in range(101)]
        workers = {pid for _, pid in results}
        assert os.getpid() not in workers and workers <= set(pool.pids())
        assert 1 <= len(pool.pids()) <= 2  # a helper may take both chunks before the other starts
        assert pool.batches == Counter(helpers=1)
    finally:
        pool.close()
    assert pool.pids() == []


def test_with_share_this_process_does_the_chunks_no_helper_has_started(tmp_path: Path) -> None:
    # the helper does nothing before this process has done a chunk: it must take some
    context = (os.getpid(), str(tmp_path / "gate"))
    pool = HelperPool[int, tuple[int, int]](1, gated, context, min_batch=1, share=5)
    try:
        results = pool.submit(list(range(50)))()
        assert [value for value, _ in results] == list(range(50))  # in order all the same
        here = [value for value, pid in results if pid == os.getpid()]
        assert here and here[-1] == 49  # taken from the end of the batch
        assert {pid for _, pid in results} - {os.getpid()} <= set(pool.pids())
        assert pool.chunks["here"] == len(here) // 5 >= 1
        assert pool.chunks["here"] + pool.chunks["helpers"] == 10
        assert pool.batches == Counter(helpers=1)
    finally:
        pool.close()


def test_started_helpers_are_running_before_the_first_batch_and_do_it() -> None:
    pool = HelperPool[int, tuple[int, int]](2, tagged, "context", min_batch=4)
    try:
        pool.start()
        started = pool.pids()
        assert len(started) == 2  # both spawned now, not by the first batch
        pool.start()  # started already: nothing more
        assert pool.pids() == started
        results = pool.submit(list(range(40)), 0)()
        assert {pid for _, pid in results} <= set(started)
        assert pool.batches == Counter(helpers=1)
    finally:
        pool.close()


def test_a_helper_whose_polling_process_is_gone_exits() -> None:
    # in a process of its own whose parent is not `parent`: as a helper of a killed poller
    code = "from reconciler.service.helper_pool import _orphaned; _orphaned(0); print('alive')"
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "")


def test_a_small_batch_stays_in_this_process() -> None:
    pool = HelperPool[int, tuple[int, int]](1, tagged, "context", min_batch=32)
    try:
        results = pool.submit([1, 2, 3], 0)()
        assert [pid for _, pid in results] == [os.getpid()] * 3
        assert pool.pids() == []  # no helper was started for it
        assert pool.batches == Counter(here=1)
    finally:
        pool.close()


def test_a_killed_helper_is_replaced_and_its_batch_done_here(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool = HelperPool[int, tuple[int, int]](1, tagged, "context", min_batch=1)
    try:
        assert pool.submit([1], 0)()[0][1] != os.getpid()
        for pid in pool.pids():
            os.kill(pid, signal.SIGKILL)
        done_here = pool.submit(list(range(10)), 0)()  # the pool is broken: done here
        assert [value for value, _ in done_here] == list(range(10))
        assert "analysis helper processes failed" in caplog.text
        again = pool.submit([5], 0)()  # a new pool for the next batch
        assert again[0][0] == 5 and again[0][1] != os.getpid()
        assert pool.batches == Counter(helpers=2, here=1)
    finally:
        pool.close()


def test_a_work_function_that_raises_in_the_helper_raises_here_too() -> None:
    # analyse_batch never raises (it returns Failed); a work function that does is run again
    # here, where its error surfaces to the caller instead of being lost in a helper
    pool = HelperPool[int, int](1, failing, "context", min_batch=1)
    try:
        with pytest.raises(ValueError, match="the work itself failed"):
            pool.submit([1, 2])()
    finally:
        pool.close()


def test_the_classifier_pickles_as_its_rules_and_classifies_the_same() -> None:
    classifier = Classifier(load_rules().rules)
    copy = pickle.loads(pickle.dumps(classifier))
    assert copy.rules == classifier.rules
    for raw in raws(40):
        mine = analyse(raw.data, classifier, None, 0)
        theirs = analyse(raw.data, copy, None, 0)
        assert [v.classification for v in mine.verdicts] == [
            v.classification for v in theirs.verdicts
        ]


def test_helpers_make_the_same_ledger_entries_as_this_process() -> None:
    stages = Stages(Classifier(load_rules().rules), None)
    batch = raws(60)
    here = analyse_batch(stages, batch, FOLDERS, NOW)
    pool = HelperPool[RawMessage, Analysed](2, analyse_batch, stages, min_batch=1)
    try:
        there = pool.submit(batch, FOLDERS, NOW)()
    finally:
        pool.close()
    assert pool.batches == Counter(helpers=1)
    assert there == here
    assert all(isinstance(entry, LedgerEntry) for entry in there)
    first = there[0]
    assert isinstance(first, LedgerEntry) and first.received_at == datetime(
        2026, 3, 1, 11, 0, tzinfo=UTC
    )


def test_a_message_whose_analysis_raises_comes_back_as_failed() -> None:
    broken = Stages(None, None)  # type: ignore[arg-type]  # no classifier: classify raises
    result = analyse_batch(broken, raws(1), FOLDERS, NOW)  # a bounce: it needs classifying
    assert isinstance(result[0], Failed)
    # AttributeError from the pure-Python classify, TypeError from the compiled one
    # (reconciler/_native.py checks argument types)
    assert result[0].error.startswith(("AttributeError", "TypeError"))
    assert "Traceback" in result[0].trace


# --- the transfer of results: records as (class, field values) ---------------------------------


@dataclass(frozen=True, slots=True)
class _Pair:
    left: object
    right: object = None


@dataclass(frozen=True, slots=True)
class _Own:
    """A record with its own state: pickled as it says, not as its fields."""

    value: int
    extra: int = 0

    def __getstate__(self) -> tuple[int]:
        return (self.value,)

    def __setstate__(self, state: tuple[int]) -> None:
        object.__setattr__(self, "value", state[0])
        object.__setattr__(self, "extra", -1)


@dataclass(frozen=True)
class _Plain:  # no slots: a __dict__, pickled as usual
    value: int
    other: int = 0


def test_the_transfer_gives_back_equal_records() -> None:
    from reconciler.records import VerpFailure, VerpMatch
    from reconciler.service.helper_pool import _dumps, _loads

    stages = Stages(Classifier(load_rules().rules), None)
    entries = analyse_batch(stages, raws(60), FOLDERS, NOW)
    assert any(isinstance(e, LedgerEntry) and e.events for e in entries)
    match = VerpMatch(valid=False, failure=VerpFailure.EXPIRED, tried=(("a@b", "expired"),))
    sent: list[object] = [
        *entries,
        match,
        _Pair(1, [2]),
        _Own(5, 6),
        _Plain(7, 8),
        Failed("e", "t"),
    ]
    back = _loads(_dumps(sent))
    assert back == [*entries, match, _Pair(1, [2]), _Own(5, -1), _Plain(7, 8), Failed("e", "t")]
    assert [type(item) for item in back] == [type(item) for item in sent]
    with pytest.raises(FrozenInstanceError):
        back[-1].error = "changed"  # type: ignore[attr-defined]
    shared = _Pair("x")
    twice = _loads(_dumps([_Pair(shared, shared)]))[0]
    assert twice.left is twice.right and twice.left == shared


def test_only_records_whose_state_is_their_fields_go_as_values() -> None:
    from reconciler.service.helper_pool import _dumps, _plan, _rebuild

    assert _plan(_Own) is None and _plan(_Plain) is None and _plan(datetime) is None
    assert _plan(_Pair) is not None and _plan(LedgerEntry) is not None
    assert b"_rebuild" in _dumps([_Pair(1)]) and b"_rebuild" not in _dumps([_Own(1)])
    with pytest.raises(ValueError):  # as many values as fields, or nothing is built
        _rebuild(_Pair, (1, 2, 3))
    with pytest.raises(pickle.UnpicklingError):
        _rebuild(_Own, (1, 2))


# -- helpers forked before the poll opens anything (HelperPool.fork) ---------------------------

_FORKED = """
import os, signal, sys, threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from reconciler.analysis import Destinations, Stages, analyse_batch
from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules
from reconciler.records import RawMessage
from reconciler.service.helper_pool import HelperPool

zone = timezone(timedelta(hours=9))
raws = [RawMessage("box", 7, uid, path.read_bytes(), None, datetime(2026, 3, 1, tzinfo=zone))
        for uid, path in enumerate(sorted(Path(sys.argv[1]).glob("*.eml"))[:60], start=1)]
folders = Destinations("processed", "unmatched", "quarantine")
now = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
stages = Stages(Classifier(load_rules().rules), None)
if sys.argv[2] == "thread":  # another thread runs: no fork
    gate = threading.Event()
    threading.Thread(target=gate.wait, daemon=True).start()
pool = HelperPool(1, analyse_batch, stages, min_batch=4)
print("forked", pool.fork())
pool.start()
mine = Path("/proc/self/cmdline").read_bytes()
(helper,) = pool.pids()
print("same-command", Path(f"/proc/{helper}/cmdline").read_bytes() == mine)
here = analyse_batch(stages, raws, folders, now)
print("equal", pool.submit(raws, folders, now)() == here, pool.batches["helpers"])
os.kill(helper, signal.SIGKILL)
print("after-kill", pool.submit(raws, folders, now)() == here, pool.batches["here"])
print("equal-again", pool.submit(raws, folders, now)() == here)
print("new-same-command", Path(f"/proc/{pool.pids()[0]}/cmdline").read_bytes() == mine)
pool.close()
print("closed", pool.pids())
"""


def _forked(mode: str) -> list[str]:
    run = [sys.executable, "-c", _FORKED, str(CORPUS), mode]
    done = subprocess.run(run, check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split("\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="helpers fork on Linux only")
def test_forked_helpers_analyse_at_once_and_a_replacement_is_spawned() -> None:
    # in a process of its own: this one runs pytest's threads, and fork refuses to run beside
    # another thread.  The helper is this very program (its command line), not a new
    # interpreter; it returns what this process would; killed, its batch is done here and the
    # next pool is spawned (by then the poll holds sockets and threads).
    lines = _forked("alone")
    assert lines[:4] == ["forked True", "same-command True", "equal True 1", "after-kill True 1"]
    assert lines[4:7] == ["equal-again True", "new-same-command False", "closed []"]


def test_no_fork_beside_another_thread_the_helpers_are_spawned() -> None:
    lines = _forked("thread")
    assert lines[:3] == ["forked False", "same-command False", "equal True 1"]


def test_a_chunk_goes_to_the_helper_as_records_of_values_and_comes_back_equal() -> None:
    """The fetched messages go out packed by `_dumps` (not the pool's own pickler, which
    calls each record's Python `__getstate__`): what the helper unpacks equals what was
    sent, with each message's time in its own zone, and RawMessage went as field values."""
    from reconciler.service.helper_pool import _dumps, _loads

    east = timezone(timedelta(hours=3))
    sent = [
        *raws(5),
        RawMessage("box", 1, 9, b"x\r\n", 3, datetime(2026, 1, 2, 3, 4, 5, tzinfo=east)),
        RawMessage("box", 1, 10, b"", 0, None),
    ]
    packed = _dumps(sent)
    assert b"_rebuild" in packed and b"RawMessage" in packed
    back = _loads(packed)
    assert back == sent and all(type(item) is RawMessage for item in back)
    assert back[5].received_at is not None and back[5].received_at.utcoffset() == timedelta(hours=3)
