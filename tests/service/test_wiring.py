"""The composition root (service/wiring.py): what it builds from the settings."""

from __future__ import annotations

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
