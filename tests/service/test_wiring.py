"""The composition root (service/wiring.py): what it builds from the settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import NOW

from reconciler.classify import rulecache
from reconciler.classify.rules import load_rules
from reconciler.config import load_settings
from reconciler.service.wiring import open_service
from reconciler.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    config = tmp_path / "reconciler.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "store.db"}"\n')
    return load_settings(config, {})


def test_the_rules_come_from_the_users_cache_once_it_holds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`poll --once` reads the rules as `classify` does: from the cache after the first run
    (issue 16: YAML parsed and validated at every start was some 55 ms of it)."""
    loaded = _settings(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    with open_service(loaded, clock=lambda: NOW, rules_cache=cache) as service:
        first = service.cycle.classifier.rules
    assert len(list(cache.glob("rules-*.pickle"))) == 1

    def unread(*args: object) -> object:
        raise AssertionError("the rule files were read again")

    monkeypatch.setattr(rulecache, "load_rule_files", unread)
    with open_service(loaded, clock=lambda: NOW, rules_cache=cache) as service:
        again = service.cycle.classifier.rules
    assert again == first == load_rules().rules


def test_without_a_cache_the_rules_are_read_from_their_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = _settings(tmp_path)
    read: list[object] = []
    real = rulecache.load_rule_files
    monkeypatch.setattr(rulecache, "load_rule_files", lambda files: read.append(1) or real(files))
    for _ in range(2):
        with open_service(loaded, clock=lambda: NOW) as service:
            assert service.cycle.classifier.rules == load_rules().rules
    assert read == [1, 1]


_OPEN = """
import sys, threading
import subprocess
import sys
from pathlib import Path
from reconciler.config import load_settings
from reconciler.service.wiring import open_service
loaded = load_settings(Path(sys.argv[1]), {})
with open_service(loaded, polls=sys.argv[2] == "polls") as service:
    helpers = service.cycle.helpers
    mine = Path("/proc/self/cmdline").read_bytes()
    store_open = any(str(fd.resolve()).endswith("store.db")
                     for fd in Path("/proc/self/fd").iterdir())
    print(store_open, len(helpers.pids()), [
        Path(f"/proc/{pid}/cmdline").read_bytes() == mine  # a fork: the same program
        and not any(str(fd.resolve()).endswith("store.db")
                    for fd in Path(f"/proc/{pid}/fd").iterdir())
        for pid in helpers.pids()])
print(helpers.pids())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="helpers fork on Linux only")
def test_a_polling_command_forks_its_helpers_before_it_opens_the_store(tmp_path: Path) -> None:
    # the helpers of `poll`/`run` are copies of this process made before the store was opened
    # (no database descriptor in them); other commands start none
    config = tmp_path / "reconciler.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "store.db"}"\n\n'
        "[daemon]\nanalysis_processes = 1\n"
    )
    for how, expected in (("polls", "True 1 [True]\n[]\n"), ("reads", "True 0 []\n[]\n")):
        run = [sys.executable, "-c", _OPEN, str(config), how]
        done = subprocess.run(run, check=False, capture_output=True, text=True, timeout=120)
        assert (done.returncode, done.stdout) == (0, expected), done.stderr[-2000:]
