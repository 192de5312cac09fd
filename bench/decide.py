"""The decide stage a drain owes at its end, alone: its CPU seconds and where they go.

    python bench/decide.py [--n 4000] [--repeat 5] [--store FILE] [--profile FILE]
                           [--corpus DIR]

Builds a fresh SQLite store of N ledger entries made by the real analysis path
(`analysis.ledger_entry`) from the Sisimai samples of `bench/drain.py`'s backlog: each
message made unique by a signed VERP token for its own user or, for one in five, by no
token; the messages arrived 1,000 a second, as a MULTIAPPEND seeds them, and are recorded
in batches of 500, as a drain records them.  Then, on a fresh copy of that store each time,
it runs the decide stage once as the drain's settle does (`run_decisions` from the first
event, in the default mode and settings, INFO lines logged to /dev/null through the CLI's
formatter) and prints its CPU seconds (`time.process_time`: the median and the range of
`--repeat` runs) with a phase breakdown: incidents (detecting them, their log lines),
histories (which users have new evidence, reading their events), decisions (the pure
policy, the rest of the stage) and writes (incidents, decisions, actions, the watermark).

All times are fixed (no clock is read), so the store and the stage are the same at every
run: `--store FILE` keeps the seeded store there and uses it again when it holds N
entries; under `PYTHONHASHSEED=0 valgrind --tool=callgrind`, the difference between
`--repeat 1` and `--repeat 0` on a kept store is the instructions of one decide run.
`--profile FILE` writes a cProfile of one more run.  It prints figures; it is not a
timed test (STYLE 2.20).
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.drain import VERP, Backlog, _templates  # noqa: E402 (after the path set-up)
from reconciler.actions import build_actions  # noqa: E402
from reconciler.analysis import Destinations, Stages, ledger_entry  # noqa: E402
from reconciler.classify import Classifier  # noqa: E402
from reconciler.classify.rules import load_rules  # noqa: E402
from reconciler.logs import configure_logging  # noqa: E402
from reconciler.records import RawMessage  # noqa: E402
from reconciler.service import decisions  # noqa: E402
from reconciler.settings import LoggingSettings, Settings  # noqa: E402
from reconciler.store import Store, open_database  # noqa: E402

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # when the backlog is drained
BATCH = 500
PHASES = ("incidents", "histories", "decisions", "writes")
FOLDERS = Destinations("processed", "unmatched", "quarantine")


def _raw(backlog: Backlog) -> Iterator[RawMessage]:
    """The backlog as fetched: it arrived 1,000 a second, ending a minute before NOW."""
    first = NOW - timedelta(minutes=1, seconds=backlog.n // 1000)
    for uid, data in enumerate(backlog, 1):
        arrived = first + timedelta(seconds=uid // 1000)
        yield RawMessage("INBOX", 1, uid, data, len(data), arrived)


def _seed(path: Path, n: int, corpus: Path) -> None:
    """A store of the backlog's N entries, recorded batch by batch as a drain records them."""
    backlog = Backlog(_templates(corpus), n, int(NOW.timestamp()))
    stages = Stages(Classifier(load_rules().rules), VERP)
    path.unlink(missing_ok=True)
    store = open_database(f"sqlite:///{path}")
    try:
        store.migrate(NOW)
        batch = []
        for raw in _raw(backlog):
            batch.append(ledger_entry(raw, stages, FOLDERS, NOW)[0])
            if len(batch) == BATCH:
                store.record_batch(batch, NOW)
                batch = []
        if batch:
            store.record_batch(batch, NOW)
    finally:
        store.close()


def _entries(path: Path) -> int:
    """The ledger entries of a kept store (0: none there, or not one of ours)."""
    if not path.exists():
        return 0
    store = open_database(f"sqlite:///{path}", create=False)
    try:
        return sum(store.count_outcomes(NOW - timedelta(days=1), NOW + timedelta(days=1)).values())
    finally:
        store.close()


class Phases:
    """CPU seconds by phase of wrapped calls; a call inside another is its own phase only."""

    def __init__(self) -> None:
        self.cpu: Counter[str] = Counter()
        self._inner: list[float] = []

    def wrap(self, phase: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            self._inner.append(0.0)
            try:
                return call(*args, **kwargs)
            finally:
                spent = time.process_time() - start
                self.cpu[phase] += spent - self._inner.pop()
                if self._inner:
                    self._inner[-1] += spent

        return timed


_STORE_PHASES = {
    "verified_users_after": "histories",
    "user_activity": "histories",
    "user_histories": "histories",
    "decided_users": "histories",
    "record_incidents": "writes",
    "set_watermark": "writes",
}
_STAGE_PHASES = {
    "_incidents": "incidents",
    "carry_out": "writes",
    "retry_failed": "writes",
    "deliver_due": "writes",
}


def _run(path: Path, profile: Path | None = None) -> tuple[float, Counter[str], Any]:
    """One decide run on a fresh copy of the store: (CPU seconds, by phase, its report)."""
    with tempfile.TemporaryDirectory(prefix="bench-decide-") as work:
        copy = Path(work) / "copy.db"
        shutil.copyfile(path, copy)
        store = open_database(f"sqlite:///{copy}", create=False)
        try:
            return _timed(store, profile)
        finally:
            store.close()


def _timed(store: Store, profile: Path | None) -> tuple[float, Counter[str], Any]:
    settings = Settings()
    actions = tuple(build_actions(settings.actions, store))
    dctx = decisions.DecideContext(policy=settings.policy, actions=actions)
    phases = Phases()
    saved = {name: getattr(decisions, name) for name in _STAGE_PHASES}
    for name, phase in _STORE_PHASES.items():
        if hasattr(store, name):  # (an older store, measured for comparison, lacks some)
            setattr(store, name, phases.wrap(phase, getattr(store, name)))
    for name, phase in _STAGE_PHASES.items():
        setattr(decisions, name, phases.wrap(phase, saved[name]))
    profiler = cProfile.Profile() if profile is not None else None
    try:
        start = time.process_time()
        if profiler is not None:
            profiler.enable()
        report = decisions.run_decisions(store, dctx, "bench", NOW + timedelta(seconds=10))
        if profiler is not None:
            profiler.disable()
        total = time.process_time() - start
    finally:
        for name, call in saved.items():
            setattr(decisions, name, call)
    if profiler is not None and profile is not None:
        profiler.dump_stats(str(profile))
    phases.cpu["decisions"] = total - sum(phases.cpu.values())
    return total, phases.cpu, report


class _Lines(logging.Handler):
    """Counts the log lines by level (the CLI's handler writes them to /dev/null)."""

    def __init__(self) -> None:
        super().__init__()
        self.count: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.count[record.levelname] += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4000, help="messages in the backlog")
    parser.add_argument("--repeat", type=int, default=5, help="decide runs measured")
    parser.add_argument("--store", type=Path, help="keep the seeded store here (and reuse it)")
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests/corpus/sisimai/emails")
    parser.add_argument("--profile", type=Path, help="write a cProfile of one more run here")
    args = parser.parse_args(argv)

    configure_logging(LoggingSettings())
    root = logging.getLogger()
    devnull = open(os.devnull, "w")  # noqa: SIM115 (open for the whole run)
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(devnull)
    lines = _Lines()
    root.addHandler(lines)

    work = Path(tempfile.mkdtemp(prefix="bench-decide-"))
    try:
        path = args.store or work / "seeded.db"
        if _entries(path) != args.n:
            start = time.perf_counter()
            _seed(path, args.n, args.corpus)
            print(f"seeded {args.n} entries in {time.perf_counter() - start:.1f} s")
        runs = [_run(path) for _ in range(args.repeat)]
        per_run = Counter({level: n // max(len(runs), 1) for level, n in lines.count.items()})
        if args.profile is not None:
            _run(path, args.profile)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not runs:
        return 0
    report = runs[0][2]
    print(f"decide stage over {args.n} entries: {report.users} users, "
          f"{report.incidents} active incidents")  # fmt: skip
    print(
        f"  decisions {sum(report.kinds.values())}; log lines per run: "
        + (", ".join(f"{level} {n}" for level, n in sorted(per_run.items())) or "none")
    )
    totals = [total for total, _, _ in runs]
    print(f"CPU seconds (process_time) of {len(runs)} runs: {_spread(totals)}")
    for phase in PHASES:
        print(f"  {phase:<10} {_spread([cpu[phase] for _, cpu, _ in runs])}")
    return 0


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} (range {min(values):.3f}-{max(values):.3f})"


if __name__ == "__main__":
    sys.exit(main())
