"""Messages per second of the full classify path (parse → VERP → rules) over a corpus, in one
process, best of several runs; beside it, Perl Sisimai on the same files in the same run when
it is installed (`apt-get install libsisimai-perl`), and the ratio.  Both sides read each file
in the timed pass (Sisimai->make takes a path), and the passes alternate.

    python bench/classify.py [--runs 7] [DIR]

The classify path runs compiled when scripts/native.py has built it (scripts/bootstrap does);
RECONCILER_PURE=1 times the pure-Python modules.  Prints figures; it is not a timed test.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--runs", type=int, default=7)
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
    if not theirs:
        print("sisimai: not installed (apt-get install libsisimai-perl); no ratio")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
