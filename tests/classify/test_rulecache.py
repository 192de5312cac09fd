"""The rules kept between processes (reconciler/classify/rulecache.py): the same RuleSet as a
load from the files, a new key for any change, and nothing trusted that is not private."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest

from reconciler.classify import rulecache
from reconciler.classify.rules import load_rules, shipped_rules_dir

RULE = """rules:
  - id: local-full
    description: The mailbox is full.
    match: {diagnostic: ['mailbox is full']}
    reason: mailboxfull
"""


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    return directory


def _operator(tmp_path: Path, text: str = RULE) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "local.yaml").write_text(text, "utf-8")
    return rules


def _files(cache: Path) -> list[Path]:
    return sorted(cache.glob("rules-*.pickle"))


def test_a_hit_is_the_same_ruleset_as_a_load(tmp_path: Path, cache: Path) -> None:
    operator = _operator(tmp_path)
    first = rulecache.load_rules_cached(operator, use_shipped=True, directory=cache)
    assert first == load_rules(operator)
    (written,) = _files(cache)
    assert written.stat().st_mode & 0o077 == 0  # mkstemp: 0600
    second = rulecache.load_rules_cached(operator, use_shipped=True, directory=cache)
    assert second == first
    assert second is not first  # read back from the file
    assert pickle.loads(written.read_bytes()) == first


def test_the_hit_is_read_from_the_file(tmp_path: Path, cache: Path) -> None:
    """What the file holds is what a hit returns (the YAML is not read again)."""
    operator = _operator(tmp_path)
    rulecache.load_rules_cached(operator, use_shipped=False, directory=cache)
    (written,) = _files(cache)
    fewer = rulecache.load_rules_cached(operator, use_shipped=False, directory=cache)
    shrunk = type(fewer)(rules=fewer.rules[:0], files=fewer.files, disabled=fewer.disabled)
    written.write_bytes(pickle.dumps(shrunk))
    assert rulecache.load_rules_cached(operator, use_shipped=False, directory=cache) == shrunk


def test_a_changed_rule_file_is_a_new_key(tmp_path: Path, cache: Path) -> None:
    operator = _operator(tmp_path)
    before = rulecache.load_rules_cached(operator, use_shipped=False, directory=cache)
    _operator(tmp_path, RULE.replace("mailbox is full", "quota exceeded"))
    after = rulecache.load_rules_cached(operator, use_shipped=False, directory=cache)
    assert after == load_rules(operator, use_shipped=False)
    assert after.rules[0].match.diagnostic != before.rules[0].match.diagnostic
    assert len(_files(cache)) == 2


def test_a_corrupt_or_foreign_file_is_a_miss(tmp_path: Path, cache: Path) -> None:
    operator = _operator(tmp_path)
    expected = load_rules(operator)
    rulecache.load_rules_cached(operator, use_shipped=True, directory=cache)
    (written,) = _files(cache)
    written.write_bytes(b"not a pickle")
    assert rulecache.load_rules_cached(operator, use_shipped=True, directory=cache) == expected
    written.write_bytes(pickle.dumps({"not": "a ruleset"}))
    assert rulecache.load_rules_cached(operator, use_shipped=True, directory=cache) == expected


def test_a_file_or_directory_others_can_write_is_not_trusted(tmp_path: Path, cache: Path) -> None:
    operator = _operator(tmp_path)
    expected = rulecache.load_rules_cached(operator, use_shipped=False, directory=cache)
    (written,) = _files(cache)
    planted = type(expected)(rules=(), files=expected.files, disabled=expected.disabled)

    def plant(mode: int = 0o600) -> None:
        written.unlink(missing_ok=True)
        written.write_bytes(pickle.dumps(planted))
        os.chmod(written, mode)

    def load() -> object:
        return rulecache.load_rules_cached(operator, use_shipped=False, directory=cache)

    plant()
    assert load() == planted  # private: trusted (the check below can fail)
    plant(0o666)
    assert load() == expected  # others may write it: a miss (and rewritten, private)
    plant()
    os.chmod(cache, 0o777)
    try:
        assert load() == expected  # others may write in the directory: a miss
    finally:
        os.chmod(cache, 0o700)
    plant()
    link = cache / "elsewhere"
    written.rename(link)
    written.symlink_to(link)
    assert load() == expected  # a link is not followed


def test_an_unwritable_place_or_none_is_no_cache(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file, not a directory")
    expected = load_rules()
    assert rulecache.load_rules_cached(None, use_shipped=True, directory=blocked) == expected
    assert rulecache.load_rules_cached(None, use_shipped=True, directory=None) == expected


def test_the_directory_comes_from_the_environment() -> None:
    assert rulecache.cache_dir({"RECONCILER_CACHE_DIR": ""}) is None
    assert rulecache.cache_dir({"RECONCILER_CACHE_DIR": "/x/y"}) == Path("/x/y")
    assert rulecache.cache_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/reconciler")
    assert rulecache.cache_dir({}) == Path("~/.cache/reconciler").expanduser()


def test_a_shipped_rules_change_is_a_new_key(tmp_path: Path) -> None:
    """The key covers every file loaded (here a copy standing for an upgraded package)."""
    copy = tmp_path / "shipped"
    shutil.copytree(shipped_rules_dir(), copy)
    files = sorted(copy.glob("*.yaml"))
    key = rulecache._key(files)
    files[0].write_text(files[0].read_text("utf-8") + "\n# a comment\n", "utf-8")
    assert rulecache._key(files) != key
