"""Messages per second of the full classify path (parse → VERP → rules) over a corpus, in one
process, best of several runs (and the first, cold run: what a whole process pays once more,
see below); beside it, Perl Sisimai on the same files in the same run when
it is installed (`apt-get install libsisimai-perl`), and the ratio.  Both sides read each file
in the timed pass (Sisimai->make takes a path), and the passes alternate.

    python bench/classify.py [--runs 7] [--whole-runs 5] [--copies 4] [DIR]

Then the whole-process comparison, as a user runs it: `reconciler classify --json` against
`Sisimai->dump` (both print JSON) over the corpus taken --copies times (4 x 315 = 1,260
messages), three ways: every file named on the command line, the directory, and one mbox of
them.  The reconciler runs as a user runs it (its worker processes, one per usable core:
how many were started is counted in a run of this Python's package before the timed ones)
and with `--jobs 1` (its own process alone; the same output byte for byte: checked).  For
each, the median, min and max wall-clock seconds of --whole-runs runs (alternating),
messages per second, and the median CPU seconds (user + system, the workers' included);
the ratios to Sisimai of the wall-clock rate (which the workers raise by using more than
one core) and of the CPU seconds (which they do not: each worker loads what its messages
need).  On a busy machine the wall-clock figures say little; CPU time is swayed less.  The
reconciler timed is the console script beside this Python (the virtual environment's), or
--reconciler PATH (the installed wheel).

The classify path runs compiled when scripts/native.py has built it (scripts/bootstrap does);
RECONCILER_PURE=1 times the pure-Python modules.  Prints figures; it is not a timed test.
"""

from __future__ import annotations

import argparse
import mailbox
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from reconciler import _native
from reconciler.analysis import analyse
from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "sisimai" / "emails"

_PERL = r"""
use strict; use warnings; use Sisimai; use Time::HiRes qw(time);
$| = 1;
my ($dir) = @ARGV; my @files = sort glob("$dir/*.eml");
while (my $line = <STDIN>) {
  my $t = time; my $n = 0;
  for my $f (@files) { my $r = Sisimai->make($f); $n += defined $r ? scalar @$r : 0; }
  printf "%d %.6f %d\n", scalar(@files), time - $t, $n;
}
"""


def _ours_once(files: list[Path], rules: Classifier) -> tuple[float, int]:
    """One pass: read each file and run the full classify path (as Sisimai->make($path))."""
    start = time.perf_counter()
    results = sum(len(analyse(f.read_bytes(), rules, None, 0).verdicts) for f in files)
    return time.perf_counter() - start, results


def _sisimai(directory: Path) -> subprocess.Popen[str] | None:
    """A Perl process that runs one pass over the files per line it reads (None: no Sisimai)."""
    if shutil.which("perl") is None:
        return None
    probe = subprocess.run(["perl", "-MSisimai", "-e", "1"], capture_output=True, check=False)
    if probe.returncode != 0:
        return None
    return subprocess.Popen(
        ["perl", "-e", _PERL, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _sisimai_once(perl: subprocess.Popen[str]) -> tuple[int, float, int]:
    assert perl.stdin is not None and perl.stdout is not None
    perl.stdin.write("go\n")
    perl.stdin.flush()
    count, seconds, results = perl.stdout.readline().split()
    return int(count), float(seconds), int(results)


_PERL_FILES = 'use Sisimai; for my $f (@ARGV) { print Sisimai->dump($f), "\\n" }'
_PERL_ONE = "use Sisimai; print Sisimai->dump(shift)"


def _corpus(files: list[Path], copies: int, work: Path) -> tuple[list[str], Path, Path]:
    """The corpus `copies` times: the file names, their directory, and one mbox of them."""
    directory = work / "messages"
    directory.mkdir()
    names: list[str] = []
    box = mailbox.mbox(work / "messages.mbox")
    for copy in range(copies):
        for f in files:
            target = directory / f"{copy}-{f.name}"
            data = f.read_bytes()
            target.write_bytes(data)
            names.append(str(target))
            box.add(data)
    box.close()
    return names, directory, work / "messages.mbox"


# the bytecode cached, as in an installed package, the output buffered (see bench/startup.py)
_NOT_A_USERS = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")
_ENV = {k: v for k, v in os.environ.items() if k not in _NOT_A_USERS}


def _run(argv: list[str]) -> tuple[float, float, bytes]:
    """Wall-clock and CPU (user + system) seconds of one run, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=False, env=_ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, done.stdout


# counts the worker processes a run starts (reconciler.cli.workers), then runs the command
_COUNTING = """
import sys
from reconciler.cli import console, workers
enter = workers.Workers.__enter__
def counted(self):
    print(f"workers: {self._count}", file=sys.stderr)
    return enter(self)
workers.Workers.__enter__ = counted
sys.argv[0] = "reconciler"
sys.exit(console())
"""


def _workers(argv: list[str]) -> int:
    """The worker processes that `reconciler ARGV` starts (0: it works alone)."""
    done = subprocess.run(
        [sys.executable, "-c", _COUNTING, *argv[1:]], capture_output=True, check=True, env=_ENV
    )
    said = [line for line in done.stderr.decode().splitlines() if line.startswith("workers: ")]
    return sum(int(line.split()[1]) for line in said)


class _Whole(NamedTuple):
    command: str  # the console script timed
    runs: int
    perl: bool  # Sisimai is there
    count: int  # messages


def _whole_process(files: list[Path], args: argparse.Namespace, perl: bool) -> None:
    command = args.reconciler or str(Path(sys.executable).parent / "reconciler")
    with tempfile.TemporaryDirectory(prefix="reconciler-classify-") as tmp:
        names, directory, mbox = _corpus(files, args.copies, Path(tmp))
        ways = {"files": names, "directory": [str(directory)], "mbox": [str(mbox)]}
        print(f"whole process: {len(names):,} messages ({args.copies} x {len(files)}); "
              f"{args.whole_runs} runs each;\n  {command}")  # fmt: skip
        print("  wall-clock seconds: median (min-max); CPU seconds (user + system): median")
        for way, paths in ways.items():
            _whole_way(way, paths, _Whole(command, args.whole_runs, perl, len(names)))


def _whole_way(way: str, paths: list[str], args: _Whole) -> None:
    command, runs, perl, count = args
    ours = [command, "classify", "--json", *paths]
    workers = _workers(ours)
    sides = {f"{workers} workers" if workers else "alone": ours}
    sides["--jobs 1"] = [command, "classify", "--json", "--jobs", "1", *paths]
    if perl:
        script = _PERL_FILES if way == "files" else _PERL_ONE
        sides["sisimai"] = ["perl", "-e", script, *paths]
    times: dict[str, list[float]] = {side: [] for side in sides}
    cpus: dict[str, list[float]] = {side: [] for side in sides}
    outputs: dict[str, bytes] = {}
    for argv in sides.values():  # one warm-up each: the page cache, the bytecode
        _run(argv)
    for _ in range(runs):
        for side, argv in sides.items():
            seconds, cpu, out = _run(argv)
            times[side].append(seconds)
            cpus[side].append(cpu)
            outputs[side] = out
    shared, alone = (outputs[side] for side in list(sides)[:2])
    same = "the same" if shared == alone else "NOT THE SAME"
    print(f"  {way}: {len(alone):,} bytes of JSON, {same} with workers and without")
    medians = {side: statistics.median(seconds) for side, seconds in times.items()}
    cpu = {side: statistics.median(seconds) for side, seconds in cpus.items()}
    for side, seconds in times.items():
        rate = count / medians[side]
        print(f"  {way:9} {side:10} {medians[side]:.3f} ({min(seconds):.3f}-{max(seconds):.3f})"
              f" cpu {cpu[side]:.3f} -> {rate:,.0f} msg/s")  # fmt: skip
    if perl:
        for side in list(sides)[:2]:
            print(f"  {way:9} {side:10} / sisimai: {medians['sisimai'] / medians[side]:.2f}x "
                  f"the rate, {cpu['sisimai'] / cpu[side]:.2f}x in CPU seconds")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--whole-runs", type=int, default=5, help="0: in-process figures only")
    parser.add_argument("--copies", type=int, default=4, help="the corpus this many times")
    parser.add_argument("--reconciler", help="the console script (default: this venv's)")
    args = parser.parse_args()
    files = sorted(args.dir.glob("*.eml"))
    rules = Classifier(load_rules().rules)
    perl = _sisimai(args.dir)
    # the passes alternate (ours, Sisimai's, ours, ...), so that a machine that gets busier
    # or quieter during the run slows both alike; each side's best pass counts
    ours: list[float] = []
    theirs: list[float] = []
    results = perl_results = count = 0
    for _ in range(args.runs):
        seconds, results = _ours_once(files, rules)
        ours.append(seconds)
        if perl is not None:
            count, perl_seconds, perl_results = _sisimai_once(perl)
            theirs.append(perl_seconds)
    if perl is not None:
        assert perl.stdin is not None
        perl.stdin.close()
        perl.wait()
    rate = len(files) / min(ours)
    build = (
        "compiled (mypyc)"
        if _native.active()
        else f"pure Python ({_native.pure_reason or 'not built'})"
    )
    print(
        f"reconciler [{build}]: {len(files)} messages, {results} results, best of {args.runs} "
        f"{min(ours) * 1000:.1f} ms -> {rate:,.0f} msg/s"
    )
    # what a whole process pays once more: the imports, regexes and matcher states that the
    # first messages of a kind need, made on the first pass and reused by the later ones
    print(f"  its first (cold) pass: {ours[0] * 1000:.1f} ms")
    if not theirs:
        print("sisimai: not installed (apt-get install libsisimai-perl); no ratio")
        if args.whole_runs:
            _whole_process(files, args, perl=False)
        return 0
    perl_rate = count / min(theirs)
    print(
        f"sisimai (perl): {count} messages, {perl_results} results, best of {args.runs} "
        f"{min(theirs) * 1000:.1f} ms -> {perl_rate:,.0f} msg/s"
    )
    pairs = sorted(t / o for o, t in zip(ours, theirs, strict=True))
    print(
        f"ratio reconciler/sisimai: {rate / perl_rate:.2f}x (best against best); "
        f"pass by pass: median {pairs[len(pairs) // 2]:.2f}x, range {pairs[0]:.2f}-{pairs[-1]:.2f}x"
    )
    if args.whole_runs:
        _whole_process(files, args, perl=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
