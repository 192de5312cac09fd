"""`scripts/demo --keep`, then the README's quick start as written against the dovecot the
demo left running, then `scripts/demo --stop`: the newcomer's first hour, end to end.

The demo runs in a directory of its own (`--state`), so that a demo-state/ of the checkout
and a dovecot kept there are left alone.
"""

from __future__ import annotations

import os
import pty
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import CORPUS, ROOT

pytestmark = pytest.mark.live

DEMO = ROOT / "scripts" / "demo.py"
BIN = Path(sys.executable).parent  # .venv/bin: where `reconciler` is installed


def _quick_start() -> list[str]:
    """The command lines of the README's quick start, comments cut off."""
    readme = (ROOT / "README.md").read_text("utf-8")
    block = readme.split("## Quick start")[1].split("\n\n")[1]
    commands = (line.split("  #")[0].strip() for line in block.splitlines())
    return [command for command in commands if command]


@pytest.fixture
def kept() -> Iterator[tuple[Path, str]]:
    """The demo run with --keep in a fresh directory: (its state directory, its output)."""
    where = Path(tempfile.mkdtemp(prefix="reconciler-demo-"))
    where.chmod(0o755)  # dovecot's mail processes (nobody, under root) pass through it
    state = where / "state"
    env = os.environ | {"COLUMNS": "80"}
    run = [sys.executable, str(DEMO), "--state", str(state)]
    try:
        done = subprocess.run([*run, "--keep"], check=False, capture_output=True, text=True,
                              env=env, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        yield state, done.stdout
    finally:
        stopped = subprocess.run([*run, "--stop"], check=False, capture_output=True, text=True)
        shutil.rmtree(where, ignore_errors=True)
    assert stopped.stdout.strip() == "dovecot stopped"


def test_the_demo_output_is_short_and_says_what_next(kept: tuple[Path, str]) -> None:
    state, out = kept
    assert "warning" not in out.lower() and "WARNING: Location" not in out
    check = out.split("check-config\n")[1].split("\n$ ")[0].strip().splitlines()
    assert len(check) <= 12 and check[-1] == f"ok: {state / 'reconciler.toml'}"
    assert "What to try next:" in out
    assert f'export PATH="{ROOT / ".venv" / "bin"}:$PATH"' in out
    assert "reconciler report --since 1d" in out
    assert f"the demo's configuration: {state / 'reconciler.toml'}" in out
    assert "stop it with: scripts/demo --stop" in out
    tables = out.split("dry-run\n")[1].split("What to try next:")[0]
    assert all(len(line) <= 80 for line in tables.splitlines() if not line.startswith("$ "))


def _apply(out: str, home: Path) -> dict[str, str]:
    """What the demo says to do for the quick start: the example, four keys, two variables."""
    text = (ROOT / "config.example.toml").read_text("utf-8")
    for key, value in re.findall(r"^    #   (\w+) = (.+)$", out, flags=re.M):
        text, n = re.subn(rf"^#? ?{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
        assert n == 1, key
    (home / "reconciler.toml").write_text(text, "utf-8")
    env = {}
    for name, file in re.findall(r"^    export (\w+)=\$\(cat (\S+)\)$", out, flags=re.M):
        env[name] = Path(file).read_text().strip()
    assert set(env) == {"RECONCILER_IMAP_PASSWORD", "RECONCILER_VERP_KEY"}
    return env


def _with_a_terminal(argv: list[str], home: Path, env: dict[str, str], answer: str) -> str:
    """Run with a terminal on stdin (the confirmation is typed there); stdout captured."""
    main_fd, term_fd = pty.openpty()
    try:
        proc = subprocess.Popen(argv, cwd=home, env=env, stdin=term_fd, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        os.write(main_fd, answer.encode())
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(main_fd)
        os.close(term_fd)
    assert proc.returncode == 0, out + err
    return out


def _daemon(argv: list[str], home: Path, env: dict[str, str]) -> str:
    proc = subprocess.Popen(argv, cwd=home, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stderr is not None
    seen: list[str] = []
    while not any("cycle mailbox=bounces" in line for line in seen):
        line = proc.stderr.readline()
        assert line, "".join(seen)
        seen.append(line)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return "".join(seen) + err


def test_the_readme_quick_start_runs_as_written_against_the_kept_dovecot(
    kept: tuple[Path, str], tmp_path: Path
) -> None:
    _state, out = kept
    home = tmp_path / "home"
    (home / "some" / "bounces").mkdir(parents=True)
    for name in ("lhost-postfix-33.eml", "arf-17.eml"):
        shutil.copy(CORPUS / name, home / "some" / "bounces" / name)
    shutil.copy(CORPUS / "lhost-exim-05.eml", home / "bounce.eml")
    path = f"{BIN}:{os.environ['PATH']}"
    env = os.environ | _apply(out, home) | {"COLUMNS": "80", "PATH": path}
    env.pop("RECONCILER_CONFIG", None)
    said: dict[str, str] = {}
    for line in _quick_start():
        argv = shlex.split(line)
        if argv[0] != "reconciler":  # pip install, cp, export: done above, as the demo said
            continue
        command = " ".join(argv[1:3])
        if argv[1] == "mode":
            said[command] = _with_a_terminal(argv, home, env, "yes\n")
        elif argv[1] == "run":
            said[command] = _daemon(argv, home, env)
        else:
            done = subprocess.run(argv, cwd=home, env=env, check=False, capture_output=True,
                                  text=True, timeout=120)  # fmt: skip
            assert done.returncode == 0, (line, done.stdout, done.stderr)
            said[command] = done.stdout
    assert said["check-config"].endswith(f"ok: {home / 'reconciler.toml'}\n")
    assert "processed 9, unmatched 3, skipped 1" in said["dry-run"]
    assert re.search(r"bounces\s+ok\s+13\s+9\s+3\s+1\s+0", said["poll --once"])
    assert "mode: log-only" in said["report"] and "kijitora@example.com" in said["report"]
    enforced = said["mode enforce"]
    assert "Switch to enforce? [type yes]" in enforced and "mode: enforce" in enforced
    assert "cycle start mailbox=bounces mode=enforce" in said["run"]
    assert '"rule": "text-user-unknown-at-rcpt"' in said["classify --json"]
    assert "kijitora@neko.example.co.jp" in said["explain bounce.eml"]
    assert (home / "reconciler.db").exists()  # beside reconciler.toml
