"""`cli.workers`: parts worked on in forked processes, the results in the order of the parts,
with bounded look-ahead; a failing worker is an error that says how it ended; no worker
outlives the `with` block.  Each case runs in a fresh interpreter (it forks)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from support import ROOT

_COMMON = """
import json, os, signal, sys, time
from reconciler.cli.workers import _AHEAD, Workers
from reconciler.errors import ReconcilerError

def no_child_left():
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False
"""


def _run(code: str) -> tuple[dict[str, object], str]:
    done = subprocess.run(
        [sys.executable, "-c", _COMMON + textwrap.dedent(code)],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


def test_results_come_in_the_order_of_the_parts_with_bounded_look_ahead() -> None:
    report, _err = _run("""
        taken = []
        def parts():
            for n in range(80):
                taken.append(n)
                yield n
        def work(n):
            time.sleep(0.03 if n % 7 == 0 else 0.0)  # later parts end first
            return (n, os.getpid())
        out, ahead = [], 0
        with Workers(3, work) as workers:
            for result in workers.map(parts()):
                out.append(result)
                ahead = max(ahead, len(taken) - len(out))
        print(json.dumps({"out": out, "ahead": ahead, "bound": _AHEAD * 3,
                          "me": os.getpid(), "gone": no_child_left()}))
    """)
    out = report["out"]
    assert isinstance(out, list)
    assert [n for n, _pid in out] == list(range(80))
    pids = {pid for _n, pid in out}
    assert len(pids) == 3 and report["me"] not in pids  # the work was done by the workers
    assert 0 < report["ahead"] <= report["bound"]  # type: ignore[operator]
    assert report["gone"] is True


def test_a_worker_that_fails_is_an_error_with_its_traceback() -> None:
    report, err = _run("""
        def work(n):
            if n == 5:
                raise ValueError("part five is bad")
            return n
        try:
            with Workers(2, work) as workers:
                list(workers.map(range(20)))
        except ReconcilerError as error:
            print(json.dumps({"error": str(error), "gone": no_child_left()}))
    """)
    assert report["error"] == "a worker process exited with status 1 before its work was done"
    assert "ValueError: part five is bad" in err
    assert report["gone"] is True


def test_a_worker_that_is_killed_is_an_error() -> None:
    report, _err = _run("""
        def work(n):
            if n == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return n
        try:
            with Workers(2, work) as workers:
                list(workers.map(range(20)))
        except ReconcilerError as error:
            print(json.dumps({"error": str(error), "gone": no_child_left()}))
    """)
    assert report["error"] == "a worker process was killed by signal 9 before its work was done"
    assert report["gone"] is True


def test_leaving_early_ends_the_workers() -> None:
    report, _err = _run("""
        def work(n):
            time.sleep(0.01)
            return n
        with Workers(2, work) as workers:
            for result in workers.map(range(1000)):
                if result == 10:
                    break
        print(json.dumps({"gone": no_child_left()}))
    """)
    assert report["gone"] is True
