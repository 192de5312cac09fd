"""Exit codes as docs/cli.md says, and Ctrl-C: one line on stderr and exit 130, never a
traceback (the commands run as a person runs them: in a subprocess, interrupted by SIGINT)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dovecot import Account, Dovecot
from support import CORPUS, ROOT, until

from reconciler.cli import main

INTERRUPTED = 130


# -- exit codes --------------------------------------------------------------------------------


def test_explain_of_a_missing_file_is_a_runtime_failure(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "bounce.eml"
    assert main(["explain", str(missing)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"reconciler: {missing}: cannot read: No such file or directory\n"


def test_explain_of_an_empty_folder_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["explain", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"reconciler: {tmp_path}: no message in it\n"


def test_classify_of_a_missing_path_or_an_empty_folder_fails_after_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    good = str(CORPUS / "lhost-postfix-33.eml")
    assert main(["classify", good, str(empty)]) == 1
    out, err = capsys.readouterr()
    assert "userunknown@libsisimai.org" in out  # the readable one is classified all the same
    assert err == f"reconciler: {empty}: no message in it\n"
    assert main(["classify", good]) == 0


def test_poll_without_once_is_a_usage_error_on_one_line_that_fits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["poll"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and len(err.rstrip("\n")) <= 80
    assert "--once" in err and "reconciler run" in err


def test_a_missing_configuration_is_a_usage_error_with_what_to_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RECONCILER_CONFIG", raising=False)
    assert main(["report"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == "reconciler: reconciler.toml: not found (copy config.example.toml, or --config)"
    assert len(line) <= 80
    assert main(["--config", str(tmp_path / "elsewhere.toml"), "report"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("reconciler: elsewhere.toml: not found (copy config.example.toml")


# -- Ctrl-C ------------------------------------------------------------------------------------


def _start(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = os.environ | {"COLUMNS": "80", "PYTHONUNBUFFERED": "1"} | (env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *argv],
        cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _interrupt(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return out, err


def _one_line(err: str, said: str) -> None:
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    ours = [line for line in err.splitlines() if line.startswith("reconciler: ")]
    assert ours == [f"reconciler: {said}"], err


def test_ctrl_c_in_classify(tmp_path: Path) -> None:
    many = tmp_path / "many"
    many.mkdir()
    data = (CORPUS / "lhost-postfix-33.eml").read_bytes()
    for n in range(4000):
        (many / f"{n:05}.eml").write_bytes(data + b"\n" * (n % 7))
    proc = _start(["classify", "--json", str(many)], tmp_path)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("{")  # under way
    _out, err = _interrupt(proc)
    assert proc.returncode == INTERRUPTED
    _one_line(err, "interrupted")


@pytest.fixture
def silent_server() -> Iterator[tuple[int, threading.Event]]:
    """A TCP server on loopback that accepts and never greets: an IMAP login that hangs."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        held.append(conn)
        accepted.set()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], accepted
    for conn in held:
        conn.close()
    server.close()


def test_ctrl_c_in_poll(tmp_path: Path, silent_server: tuple[int, threading.Event]) -> None:
    port, accepted = silent_server
    config = tmp_path / "reconciler.toml"
    config.write_text(
        f'[[mailbox]]\nname = "bounces"\nhost = "127.0.0.1"\nport = {port}\n'
        'security = "none"\nusername = "u"\npassword_env = "SILENT_PASSWORD"\n'
        "timeout_seconds = 120\n",
        "utf-8",
    )
    proc = _start(["--config", str(config), "poll", "--once"], tmp_path, {"SILENT_PASSWORD": "pw"})
    until(accepted.is_set, 30, "the poll to connect")
    _out, err = _interrupt(proc)
    assert proc.returncode == INTERRUPTED
    _one_line(err, "interrupted; what was committed is kept; the rest is read again next cycle")


@pytest.mark.live
def test_ctrl_c_stops_the_daemon_cleanly(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account
) -> None:
    config = tmp_path / "reconciler.toml"
    (tmp_path / "pw").write_text(imap_account.password)
    config.write_text(
        f'[[mailbox]]\nname = "bounces"\nhost = "127.0.0.1"\nport = {dovecot.imap_port}\n'
        f'security = "none"\nusername = "{imap_account.name}"\npassword_file = "pw"\n'
        "[daemon]\ninterval_seconds = 10\n",
        "utf-8",
    )
    proc = _start(["--config", str(config), "run"], tmp_path)
    assert proc.stderr is not None
    seen: list[str] = []
    while not any("cycle mailbox=bounces" in line for line in seen):
        line = proc.stderr.readline()
        assert line, f"the daemon ended early: {''.join(seen)}"
        seen.append(line)
    _out, err = _interrupt(proc)
    assert proc.returncode == INTERRUPTED
    assert "Traceback" not in err and "SIGINT: finishing the current batch" in err
    assert "daemon stopped" in err


def test_docs_cli_md_lists_the_interrupt_exit_code() -> None:
    """docs/cli.md lists 130 with the other exit codes."""
    text = (ROOT / "docs" / "cli.md").read_text("utf-8")
    assert "130" in text and "Ctrl-C" in text
