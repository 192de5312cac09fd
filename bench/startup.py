"""Start-up figures of the commands a user runs once at a time, as whole processes: median,
min and max of N runs each (the runs of the commands alternate), beside `python -c pass` and,
when Perl Sisimai is installed (`apt-get install libsisimai-perl`), Sisimai on the same file.

    python bench/startup.py [--runs 9] [--reconciler PATH] [--file ONE.eml]

- `reconciler --version`
- `reconciler suppressions check ADDRESS` (a suppressed address and one that is not) against
  a SQLite store of 10,000 suppressions this script seeds in a temporary directory
- `reconciler classify --json ONE.eml`, and Sisimai's `Sisimai->dump(ONE.eml)` (it prints
  JSON too) and `Sisimai->make(ONE.eml)` (no output); the commands run in the directory of
  the seeded configuration, which classify reads (for its [rules] and [verp]), and classify
  once more from a directory without one (as a run on local files without a configuration)

The reconciler timed is the console script beside this Python (the virtual environment's),
or --reconciler: time the installed package as a user runs it (`pip install .` builds the
compiled wheel).  Prints figures; it is not a timed test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "tests" / "corpus" / "sisimai" / "emails" / "lhost-postfix-01.eml"
SUPPRESSED = 10_000
# The commands run as a user's do: with the bytecode of each module cached (pip writes it at
# install; a checkout writes it at the warm-up run), even when this shell says not to write
# any (PYTHONDONTWRITEBYTECODE: every run would compile the package's sources again, some
# 30 ms of a one-file classify that no installed package pays), and with their output
# buffered as Python buffers a pipe (PYTHONUNBUFFERED: a write per line of JSON).
_NOT_A_USERS = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")
_ENV = {k: v for k, v in os.environ.items() if k not in _NOT_A_USERS}


def _seed(directory: Path) -> Path:
    """A configuration and its SQLite store holding SUPPRESSED addresses u0..@example.org."""
    from reconciler.records import Suppression
    from reconciler.store import open_database

    now = datetime.now(UTC)
    with open_database(f"sqlite:///{directory / 'reconciler.db'}") as store:
        store.migrate(now)
        with store.transaction():
            for n in range(SUPPRESSED):
                address = f"u{n}@example.org"
                store.add_suppression(
                    Suppression(address=address, realm="", user_id=n, reason="hard", since=now)
                )
    config = directory / "reconciler.toml"
    config.write_text('[database]\nurl = "sqlite:///reconciler.db"\n', "utf-8")
    return config


def _sisimai() -> bool:
    if shutil.which("perl") is None:
        return False
    probe = subprocess.run(["perl", "-MSisimai", "-e", "1"], capture_output=True, check=False)
    return probe.returncode == 0


def _time(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, check=False, env=_ENV)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: "not suppressed" is an answer
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}: {' '.join(tail)}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--reconciler", help="the console script to time (default: this venv's)")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="the one message")
    args = parser.parse_args()
    command = args.reconciler or str(Path(sys.executable).parent / "reconciler")
    one = str(args.file.resolve())
    with tempfile.TemporaryDirectory(prefix="reconciler-startup-") as tmp:
        work = Path(tmp)
        config = str(_seed(work))
        cases: dict[str, list[str]] = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "reconciler --version": [command, "--version"],
            "suppressions check (suppressed)": [
                command, "--config", config, "suppressions", "check", "u4242@example.org"
            ],
            "suppressions check (not)": [
                command, "--config", config, "suppressions", "check", "kim@example.net"
            ],
            "classify --json ONE.eml": [command, "classify", "--json", one],
            "classify, no configuration": [command, "classify", "--json", one],
        }  # fmt: skip
        bare = work / "no-configuration"  # where classify finds no reconciler.toml
        bare.mkdir()
        if _sisimai():
            cases["sisimai dump ONE.eml"] = [
                "perl",
                "-MSisimai",
                "-e",
                "print Sisimai->dump(shift)",
                one,
            ]
            cases["sisimai make ONE.eml"] = ["perl", "-MSisimai", "-e", "Sisimai->make(shift)", one]
        times: dict[str, list[float]] = {name: [] for name in cases}
        where = {name: bare if "no configuration" in name else work for name in cases}
        for name, argv in cases.items():  # one warm-up each: the page cache, .pyc files
            _time(argv, where[name])
        for _ in range(args.runs):
            for name, argv in cases.items():
                times[name].append(_time(argv, where[name]))
    print(f"reconciler: {command}; {args.runs} runs each, seconds: median (min-max)")
    for name, seconds in times.items():
        print(
            f"  {name:34} {statistics.median(seconds):.3f} ({min(seconds):.3f}-{max(seconds):.3f})"
        )
    if "sisimai make ONE.eml" in times:
        for name in ("classify --json ONE.eml", "classify, no configuration"):
            ours = statistics.median(times[name])
            for theirs in ("sisimai dump ONE.eml", "sisimai make ONE.eml"):
                ratio = ours / statistics.median(times[theirs])
                print(f"{name} / {theirs}: {ratio:.2f}x the time (medians)")
    else:
        print("sisimai: not installed (apt-get install libsisimai-perl); no ratio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
