"""Messages per second of the full classify path (parse → VERP → rules) over a corpus, in one
process, best of several runs; beside it, Perl Sisimai on the same files in the same run when it
is installed (`apt-get install libsisimai-perl`), and the ratio.

    python bench/classify.py [--runs 5] [DIR]

Prints figures; it is not a timed test.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from reconciler.analysis import analyse
from reconciler.classify import Classifier
from reconciler.rules import load_rules

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "sisimai" / "emails"

_PERL = r"""
use strict; use warnings; use Sisimai; use Time::HiRes qw(time);
my ($dir, $runs) = @ARGV; my @files = sort glob("$dir/*.eml");
my $best = 1e9; my $n = 0;
for (1..$runs) {
  my $t = time; $n = 0;
  for my $f (@files) { my $r = Sisimai->make($f); $n += defined $r ? scalar @$r : 0; }
  my $dt = time - $t; $best = $dt if $dt < $best;
}
printf "%d %.6f %d\n", scalar(@files), $best, $n;
"""


def bench_ours(files: list[Path], runs: int) -> tuple[float, int]:
    rules = Classifier(load_rules().rules)
    blobs = [f.read_bytes() for f in files]  # file reading is not part of the path we time
    best, results = float("inf"), 0
    for _ in range(runs):
        start = time.perf_counter()
        results = sum(len(analyse(b, rules, None, 0).verdicts) for b in blobs)
        best = min(best, time.perf_counter() - start)
    return best, results


def bench_sisimai(directory: Path, runs: int) -> tuple[int, float, int] | None:
    if shutil.which("perl") is None:
        return None
    probe = subprocess.run(["perl", "-MSisimai", "-e", "1"], capture_output=True, check=False)
    if probe.returncode != 0:
        return None
    out = subprocess.run(
        ["perl", "-e", _PERL, str(directory), str(runs)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[0]), float(out[1]), int(out[2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    files = sorted(args.dir.glob("*.eml"))
    seconds, results = bench_ours(files, args.runs)
    ours = len(files) / seconds
    print(
        f"reconciler: {len(files)} messages, {results} results, best {seconds * 1000:.1f} ms "
        f"-> {ours:,.0f} msg/s"
    )
    sisimai = bench_sisimai(args.dir, args.runs)
    if sisimai is None:
        print("sisimai: not installed (apt-get install libsisimai-perl); no ratio")
        return 0
    count, perl_seconds, perl_results = sisimai
    theirs = count / perl_seconds
    print(
        f"sisimai (perl): {count} messages, {perl_results} results, best "
        f"{perl_seconds * 1000:.1f} ms -> {theirs:,.0f} msg/s"
    )
    print(f"ratio reconciler/sisimai: {ours / theirs:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
