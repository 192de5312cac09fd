"""Text log lines on a terminal fit its width (wrapped at spaces onto indented lines); in a
file or a pipe a record stays one line.  The terminal is a real pseudo-terminal here."""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import subprocess
import sys
import termios

import pytest

from reconciler.logs import _TerminalFormatter

LONG = (
    "cycle mailbox=bounces seen=13 processed=9 unmatched=3 skipped=1 quarantined=0 "
    "duplicates=0 events=14 hard=5 soft=6 unprocessed=0 moved=13"
)
_SCRIPT = f"""
import logging
from reconciler.logs import configure_logging
from reconciler.settings import LoggingSettings
configure_logging(LoggingSettings())
logging.getLogger("reconciler.service.cycle").info({LONG!r})
logging.getLogger("reconciler.service.cycle").info("short\\x1b[2J")
"""


def _record(message: str, name: str = "reconciler.service.cycle") -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, None, None)


@pytest.mark.parametrize("width", [40, 60, 80, 132])
def test_a_long_record_is_wrapped_at_spaces_onto_indented_lines(width: int) -> None:
    text = _TerminalFormatter(width).format(_record(LONG))
    lines = text.split("\n")
    assert all(len(line) <= width for line in lines)
    assert len(lines) > 1
    assert not lines[0].startswith(" ")
    assert all(line.startswith("    ") and line[4] != " " for line in lines[1:])
    assert " ".join(line.strip() for line in lines).endswith(LONG)  # no word lost or cut
    assert " INFO service.cycle:" in lines[0]  # the package's name left out
    assert "," not in lines[0].split(" INFO")[0]  # the time without milliseconds


def test_a_short_record_is_one_line_and_the_record_keeps_its_name() -> None:
    record = _record("cycle start")
    assert "\n" not in _TerminalFormatter(80).format(record)
    assert record.name == "reconciler.service.cycle"


def test_a_word_longer_than_the_terminal_stays_whole() -> None:
    word = "x" * 100
    lines = _TerminalFormatter(60).format(_record(f"token {word} end")).split("\n")
    assert any(line.strip() == word for line in lines)


def _run(stderr: int, columns: str | None = None) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("COLUMNS", None)
    if columns is not None:
        env["COLUMNS"] = columns
    subprocess.run([sys.executable, "-c", _SCRIPT], stderr=stderr, env=env, check=True,
                   timeout=60)  # fmt: skip


@pytest.mark.parametrize(
    ("size", "columns", "width"),
    [(80, None, 80), (0, None, 80), (200, "60", 60)],
    ids=["80 columns", "no size told: 80", "COLUMNS=60"],
)
def test_on_a_real_terminal_the_lines_fit_and_in_a_pipe_a_record_is_one_line(
    size: int, columns: str | None, width: int
) -> None:
    leader, follower = os.openpty()
    try:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, size, 0, 0))
        _run(follower, columns)
        os.close(follower)
        follower = -1
        out = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end closed
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    lines = out.decode().replace("\r\n", "\n").splitlines()
    assert len(lines) > 2
    assert all(len(line) <= width for line in lines), lines
    assert any(len(line) > width - 15 for line in lines)  # the width used, not a narrower
    assert any("\\x1b[2J" in line for line in lines)  # controls still shown, not obeyed

    piped = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True, timeout=60
    ).stderr.splitlines()
    assert len(piped) == 2
    assert piped[0].endswith(LONG) and " INFO reconciler.service.cycle: " in piped[0]
