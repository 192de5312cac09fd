"""`classify --jobs`: a large batch shared out to worker processes prints what one process
prints, byte for byte and in the same order, with the same error lines and exit code; Ctrl-C
and a reader that leaves stay quiet and leave no process behind.

Each run is a subprocess, as a user runs it, through a probe that also reports how many
workers were started (so that the comparison is known to have compared something)."""

from __future__ import annotations

import json
import mailbox
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support import CORPUS, ROOT, SAMPLES, until

from reconciler.cli import main
from reconciler.cli.batch import AT_LEAST, SHARE, WARM_UP

_PROBE = """
import json, sys
from reconciler.cli import main, workers

started = []
enter = workers.Workers.__enter__

def counted(self):
    started.append(self._count)
    return enter(self)

workers.Workers.__enter__ = counted
code = main(sys.argv[1:])
sys.stdout.flush()
print(json.dumps({"code": code, "workers": started}), file=sys.stderr)
raise SystemExit(code)
"""

_ENV = os.environ | {"COLUMNS": "120", "RECONCILER_CACHE_DIR": "", "NO_COLOR": "1"}
BIG = WARM_UP + AT_LEAST  # the fewest messages that start workers


class Run:
    def __init__(self, done: subprocess.CompletedProcess[bytes]) -> None:
        *lines, last = done.stderr.decode().splitlines()
        report = json.loads(last)
        self.code: int = report["code"]
        self.workers: list[int] = report["workers"]
        self.out = done.stdout
        self.err = lines


def _classify(*argv: str, cwd: Path = ROOT) -> Run:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "classify", "--now", "1800000000", *argv],
        cwd=cwd, env=_ENV, capture_output=True, check=False,
    )  # fmt: skip
    return Run(done)


def _same(*argv: str, jobs: str = "2", cwd: Path = ROOT) -> Run:
    """Run with `--jobs 1` and with `--jobs JOBS`: the same output, errors and exit code."""
    alone = _classify("--jobs", "1", *argv, cwd=cwd)
    shared = _classify("--jobs", jobs, *argv, cwd=cwd)
    assert alone.workers == []
    assert shared.out == alone.out
    assert shared.err == alone.err
    assert shared.code == alone.code
    return shared


@pytest.mark.parametrize("corpus", [CORPUS, SAMPLES / "mta", ROOT / "tests/corpus/others"])
def test_workers_print_what_one_process_prints_on_the_corpora(corpus: Path) -> None:
    """Each corpus named as many times as makes a batch big enough for workers."""
    files = [p for p in corpus.rglob("*") if p.is_file()]
    times = -(-BIG // len(files))
    run = _same("--json", *[str(corpus.relative_to(ROOT))] * times)
    assert run.workers == [2]
    assert run.out.count(b"\n") >= len(files) * times


def _mbox(path: Path, files: list[Path]) -> Path:
    box = mailbox.mbox(path)
    for file in files:
        box.add(file.read_bytes())
    box.close()
    return path


def test_an_mbox_is_shared_out_message_by_message(tmp_path: Path) -> None:
    emails = sorted(CORPUS.glob("*.eml"))
    box = _mbox(tmp_path / "bounces.mbox", emails * 2)
    run = _same("--json", str(box), jobs="3")
    assert run.workers == [3]
    labels = [json.loads(line)["file"] for line in run.out.splitlines()]
    numbers = [int(label.rpartition("#")[2]) for label in dict.fromkeys(labels)]
    assert numbers == list(range(1, 2 * len(emails) + 1))  # every message, in order


def test_the_table_is_the_same_too(tmp_path: Path) -> None:
    run = _same(str(CORPUS.relative_to(ROOT)))
    assert run.workers == [2]
    assert run.out.count(b"userunknown") > 50  # rows of the table


def test_an_unreadable_file_in_the_middle_is_reported_in_its_place(tmp_path: Path) -> None:
    emails = sorted(CORPUS.glob("*.eml"))[: BIG + 3 * SHARE]
    middle = len(emails) // 2
    missing = str(tmp_path / "gone.eml")
    named = [str(p) for p in emails[:middle]] + [missing] + [str(p) for p in emails[middle:]]
    run = _same("--json", *named)
    assert run.workers == [2]
    assert run.code == 1
    assert run.err == [f"reconciler: {missing}: cannot read: No such file or directory"]
    files = list(dict.fromkeys(json.loads(line)["file"] for line in run.out.splitlines()))
    assert files == named


def test_files_an_mbox_and_a_maildir_together(tmp_path: Path) -> None:
    emails = sorted(CORPUS.glob("*.eml"))
    folder = tmp_path / "folder"
    folder.mkdir()
    for email in emails[:100]:
        shutil.copy(email, folder / email.name)
    box = _mbox(tmp_path / "box", emails[100:220])  # no .eml: found to be an mbox
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for n, email in enumerate(emails[220:]):
        shutil.copy(email, maildir / ("new" if n % 2 else "cur") / f"{n}.host")
    empty = tmp_path / "empty"
    empty.mkdir()
    run = _same("--json", str(folder), str(box), str(maildir), str(empty), str(emails[0]))
    assert run.workers == [2]
    assert run.code == 1  # the empty folder
    assert run.err == [f"reconciler: {empty}: no message in it"]


def test_a_small_batch_is_classified_without_workers() -> None:
    emails = sorted(CORPUS.glob("*.eml"))[: BIG - 1]
    run = _classify("--json", "--jobs", "2", *map(str, emails))
    assert run.code == 0
    assert run.workers == []


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_the_output_goes_to_stdout_beside_a_progress_bar(jobs: str) -> None:
    """With stderr on a terminal a progress bar is shown, which puts a proxy of its own in
    `sys.stdout` while it runs: the output still goes to stdout, as without a terminal."""
    screen, terminal = os.openpty()
    shown = bytearray()

    def watch() -> None:
        while True:
            try:
                data = os.read(screen, 1 << 16)
            except OSError:  # the terminal closed
                return
            if not data:
                return
            shown.extend(data)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "classify", "--json", "--jobs", jobs,
             "--now", "1800000000", str(CORPUS)],
            cwd=ROOT, env=_ENV | {"TERM": "xterm"}, stdout=subprocess.PIPE, stderr=terminal,
            check=False, timeout=120,
        )  # fmt: skip
    finally:
        os.close(terminal)
    watcher.join(timeout=30)
    os.close(screen)
    assert done.returncode == 0
    assert done.stdout == _classify("--json", "--jobs", "1", str(CORPUS)).out
    assert b"classifying" in shown  # the bar was there


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "", "²"])
def test_jobs_must_be_a_whole_number_of_one_or_more(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["classify", "--jobs", value, str(CORPUS / "lhost-postfix-01.eml")])
    assert done.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("reconciler: classify: --jobs: ")
    assert "a whole number of 1 or more" in line


# -- stopping ----------------------------------------------------------------------------------


def _many(tmp_path: Path, count: int = 3000) -> Path:
    many = tmp_path / "many"
    many.mkdir()
    data = (CORPUS / "lhost-postfix-33.eml").read_bytes()
    for n in range(count):
        (many / f"{n:05}.eml").write_bytes(data + b"\n" * (n % 7))
    return many


def _start(tmp_path: Path, *argv: str) -> subprocess.Popen[bytes]:
    """`classify --json --jobs 2 ...` in a process group of its own, as a shell starts a job,
    once the workers' output is coming."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _PROBE, "classify", "--json", "--jobs", "2", *argv],
        cwd=tmp_path, env=_ENV | {"PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for _ in range(BIG + 4 * SHARE):  # past the first messages, classified by the command
        assert proc.stdout.readline().startswith(b"{")
    return proc


def _group_gone(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return True
    return False


def _quiet(err: bytes, said: list[str]) -> Run:
    text = err.decode()
    assert "Traceback" not in text and "Error" not in text, text
    *lines, last = text.splitlines()
    assert [line for line in lines if line.startswith("reconciler: ")] == said
    return Run(subprocess.CompletedProcess([], 0, b"", f"{last}\n".encode()))


@pytest.mark.parametrize("to_group", [True, False], ids=["terminal", "parent"])
def test_ctrl_c_is_quiet_and_ends_the_workers(tmp_path: Path, to_group: bool) -> None:
    """Ctrl-C at a terminal signals the whole group; `kill -INT` the command alone."""
    proc = _start(tmp_path, str(_many(tmp_path)))
    if to_group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    run = _quiet(err, ["reconciler: interrupted"])
    assert run.workers == [2]
    assert _group_gone(proc.pid)  # the workers ended before the command did


def test_a_reader_that_leaves_is_no_error_to_show(tmp_path: Path) -> None:
    """`reconciler classify --json DIR | head`: exit 1, nothing said, no process left."""
    proc = _start(tmp_path, str(_many(tmp_path)))
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 1
    run = _quiet(err, [])
    assert run.workers == [2]
    assert _group_gone(proc.pid)


def test_workers_end_when_the_command_is_killed(tmp_path: Path) -> None:
    proc = _start(tmp_path, str(_many(tmp_path)))
    proc.kill()
    proc.wait(timeout=60)
    until(lambda: _group_gone(proc.pid), 60, "the workers to end after their command")
