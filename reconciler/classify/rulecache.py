"""The loaded rules kept between processes: `reconciler classify ONE.eml` run again and again
(a script, an operator) parses and validates the same YAML each time, some tens of
milliseconds of a start (bench/startup.py).

The cache is one pickle of the `RuleSet` per key.  The key is the SHA-256 of everything the
rules are built from: each rule file's path and bytes, the source of the modules that read,
validate and define them (so a changed reconciler never reads a stale shape), the package
version and the Python version.  A changed file is a new key; nothing is ever invalidated in
place.

Only the user's own private directory is trusted (pickle runs code when it loads): the
directory must be the user's and writable by nobody else, each file likewise (opened without
following a link).  Anything else, an unreadable or a corrupt file, or a pickle that is not a
`RuleSet`, is a miss: the rules are loaded from their files, exactly as without a cache.  A
failed write (a read-only home, a sandboxed service) is ignored.  The directory comes from the
caller (the command line reads `$RECONCILER_CACHE_DIR`, else `$XDG_CACHE_HOME/reconciler`, else
`~/.cache/reconciler`; an empty `RECONCILER_CACHE_DIR` switches the cache off).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from reconciler import __version__
from reconciler.classify.rules import RuleSet, load_rule_files, rule_files

__all__ = ["CACHE_ENV", "cache_dir", "load_rules_cached"]

CACHE_ENV = "RECONCILER_CACHE_DIR"
_KEEP = 8  # cache files kept (the newest): a few rule directories in turn, not a growing pile
_FORMAT = b"rules-cache-1"
# the modules whose code decides what a loaded RuleSet holds
_SOURCES = ("classify/rules.py", "classify/codetable.py", "classify/patterns.py", "records/mail.py")
_PACKAGE = Path(__file__).resolve().parent.parent


def cache_dir(env: Mapping[str, str]) -> Path | None:
    """Where the cache lives (None: off): $RECONCILER_CACHE_DIR, $XDG_CACHE_HOME/reconciler,
    ~/.cache/reconciler."""
    if CACHE_ENV in env:
        return Path(env[CACHE_ENV]).expanduser() if env[CACHE_ENV] else None
    base = env.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base) / "reconciler"


def load_rules_cached(
    operator_dir: Path | None, *, use_shipped: bool, directory: Path | None
) -> RuleSet:
    """`load_rules(operator_dir, use_shipped=...)`, from the cache in `directory` when it holds
    the same rules (None: no cache)."""
    files = rule_files(operator_dir, use_shipped=use_shipped)
    if directory is None:
        return load_rule_files(files)
    try:
        key = _key(files)
    except OSError:
        return load_rule_files(files)  # the load names the unreadable file
    path = directory / f"rules-{key}.pickle"
    cached = _read(path)
    if cached is not None:
        return cached
    ruleset = load_rule_files(files)
    with contextlib.suppress(OSError, pickle.PicklingError):
        _write(directory, path, ruleset)
    return ruleset


def _key(files: list[Path]) -> str:
    digest = hashlib.sha256(_FORMAT)
    for part in (__version__, sys.version, *(str(f) for f in files)):
        digest.update(part.encode() + b"\0")
    for source in [*(_PACKAGE / s for s in _SOURCES), *files]:
        data = source.read_bytes()
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()[:32]


def _private(info: os.stat_result) -> bool:
    """Ours, and writable by nobody else."""
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read(path: Path) -> RuleSet | None:
    try:
        if not _private(os.stat(path.parent)):
            return None
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            if not _private(os.fstat(handle.fileno())):
                return None
            loaded = pickle.load(handle)  # the user's own private file (checked above)
    except Exception:  # corrupt, outdated: a miss, never an error
        return None
    return loaded if isinstance(loaded, RuleSet) else None


def _write(directory: Path, path: Path, ruleset: RuleSet) -> None:
    import tempfile  # a miss only (some milliseconds of every run otherwise)

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _private(os.stat(directory)):
        return
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".rules-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(ruleset, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    old = sorted(directory.glob("rules-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in old[_KEEP:]:
        with contextlib.suppress(OSError):
            stale.unlink()
