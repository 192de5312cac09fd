"""What every test module shares: the repository's paths, the store fixtures' clock, waiting.

Tests live in folders that mirror the packages (tests/store/ for reconciler/store/, ...), so
paths are named here once instead of being worked out from each test file's place.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from dovecot import Dovecot

__all__ = [
    "CORPUS",
    "DOCS",
    "NOW",
    "ROOT",
    "SAMPLES",
    "TESTS",
    "check_documented",
    "host_port",
    "unavailable",
    "until",
]

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
DOCS = ROOT / "docs"
SAMPLES = TESTS / "samples"
CORPUS = TESTS / "corpus" / "sisimai" / "emails"  # the Sisimai sample bounces
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # the `store` fixture migrates at this time


def until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll `condition` (a short pause between checks) until true; fail after `seconds`.

    For what another thread or process makes true: a deadline, not a timing guess."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.02)


def unavailable(reason: str) -> None:
    """Skip with `reason`, or fail when running in CI (services are required there)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required service unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def private_dovecot(capabilities: str) -> Dovecot:
    """A dovecot of its own that offers only `capabilities` (its `imap_capability`), started;
    the caller stops it (`cleanup`).  Skips, or fails under CI=true, when it cannot start."""
    from dovecot import Dovecot, DovecotError

    root = Path(tempfile.mkdtemp(prefix="reconciler-dovecot-caps-"))
    try:
        server = Dovecot(root, extra=f"imap_capability = {capabilities}")
        server.start()
    except (DovecotError, OSError) as err:
        shutil.rmtree(root, ignore_errors=True)
        unavailable(f"cannot start a private dovecot: {err}")
        raise
    return server


def host_port(env: str, default: str) -> tuple[str, int]:
    """The service address of `env` ("host:port"), else `default`."""
    host, _, port = os.environ.get(env, default).rpartition(":")
    return host, int(port)


def _documented(command: str) -> tuple[set[str], set[str]]:
    """Key paths of one command's section in docs/cli.md, and those documented as maps."""
    text = (DOCS / "cli.md").read_text("utf-8")
    section = text.split(f"\n## `{command}`")[1].split("\n## ")[0]
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \|", section, flags=re.MULTILINE)
    return {path for path, _ in rows}, {path for path, kind in rows if "map" in kind}


def _paths(value: Any, maps: set[str], prefix: str = "") -> set[str]:
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _paths(item, maps, f"{prefix}[]")
    elif isinstance(value, dict) and prefix not in maps:
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            found |= {path} | _paths(item, maps, path)
    return found


def check_documented(command: str, outputs: list[Any]) -> None:
    """The keys of `outputs` (real JSON of `command`) are those its docs/cli.md section lists."""
    documented, maps = _documented(command)
    real: set[str] = set()
    for output in outputs:
        real |= _paths(output, maps)
    assert real == documented, (sorted(real - documented), sorted(documented - real))
