"""The compiled build of the classify path, and the guard that never lets it go stale.

`parse` and `classify` run once per message of every backlog, so their modules are compiled
with mypyc (from the same, unchanged sources) when the package is built: `scripts/native.py`
builds them beside the sources for a checkout (`scripts/bootstrap` runs it) and into the wheel
for `pip install .`.  Where there is no C compiler the pure-Python modules run: same results,
slower.  The build writes MANIFEST, the SHA-256 of each compiled source.

Python prefers an extension module to the source file beside it, so a source edited after the
build would silently run its old compiled code.  `guard()` (called by `reconciler/__init__`,
before any compiled module can be imported) puts a finder in front of the import system that,
when the first compiled module is imported (a command that never classifies never pays for
the check), compares the manifest with the sources; when any differs, or RECONCILER_PURE is
set, every compiled module loads from its source (all or none: compiled modules call each
other directly) and the reason is kept in `pure_reason` (printed by bench/classify.py).
It says nothing on stderr: commands' output stays the same.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: it is not imported at run time here
# Imported by every command before it runs (reconciler/__init__): the modules of the check
# itself (hashlib, pathlib, importlib.util) are imported when it runs, not here.
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from pathlib import Path
    from types import ModuleType

__all__ = [
    "COMPILED",
    "MANIFEST",
    "PURE_ENV",
    "active",
    "guard",
    "manifest_text",
    "pure_reason",
    "source_path",
    "stale",
]

# The modules of the per-message path.  Not compiled: the package __init__ files, and
# parse/fallback.py (flufl.bounce's own code dominates there).
COMPILED = (
    "reconciler.classify.facts",
    "reconciler.classify.match",
    "reconciler.classify.patterns",
    "reconciler.parse.context",
    "reconciler.parse.detectors",
    "reconciler.parse.encodedwords",
    "reconciler.parse.entity",
    "reconciler.parse.fields",
    "reconciler.parse.lazyre",
    "reconciler.parse.mime",
    "reconciler.parse.nonbounce",
    "reconciler.parse.original",
    "reconciler.parse.pipeline",
    "reconciler.parse.providers",
    "reconciler.parse.recipients",
    "reconciler.parse.rfc3464",
    "reconciler.parse.stages",
    "reconciler.parse.textformats",
)
MANIFEST = "_native_manifest.txt"
PURE_ENV = "RECONCILER_PURE"
_PACKAGE = os.path.dirname(os.path.realpath(__file__))
pure_reason: str | None = None  # why the pure-Python modules run although a build exists


def _package(package_dir: Path | None) -> Path:
    from pathlib import Path

    return Path(_PACKAGE) if package_dir is None else package_dir


def source_path(module: str, package_dir: Path | None = None) -> Path:
    """The .py file of a module of the package (of this one by default)."""
    return _package(package_dir).joinpath(*module.split(".")[1:]).with_suffix(".py")


def manifest_text(package_dir: Path | None = None) -> str:
    """What the build writes: one "sha256 module" line per compiled module."""
    import hashlib

    lines = (
        f"{hashlib.sha256(source_path(m, package_dir).read_bytes()).hexdigest()} {m}\n"
        for m in COMPILED
    )
    return "".join(lines)


def stale(package_dir: Path | None = None) -> str | None:
    """Why the compiled modules must not run (None: they may, or there are none)."""
    package_dir = _package(package_dir)
    manifest = package_dir / MANIFEST
    try:
        built = manifest.read_text(encoding="ascii")
    except FileNotFoundError:
        # a pure-Python install, or an interrupted build (the manifest is written last)
        return "compiled modules without a manifest" if _extensions(package_dir) else None
    except OSError as err:
        return f"cannot read {manifest}: {err}"
    try:
        current = manifest_text(package_dir)
    except OSError as err:
        return f"cannot read the sources: {err}"
    if built == current:
        return None
    changed = sorted(set(current.splitlines()) - set(built.splitlines()))
    names = ", ".join(line.split()[-1] for line in changed) or "the module list"
    return f"{names} changed since the compiled build"


def _extensions(package_dir: Path) -> bool:
    from importlib.machinery import EXTENSION_SUFFIXES

    return any(
        source_path(m, package_dir).with_suffix(suffix).exists()
        for m in COMPILED
        for suffix in EXTENSION_SUFFIXES
    )


class _SourceFinder:
    """A meta-path finder that loads the compiled modules from their .py files."""

    def __init__(self, modules: Sequence[str], package_dir: Path | None = None) -> None:
        self._paths = {m: source_path(m, package_dir) for m in modules}

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        import importlib.util

        source = self._paths.get(name)
        return None if source is None else importlib.util.spec_from_file_location(name, source)


class _Guard:
    """A meta-path finder that decides, when the first compiled module is imported (not when
    the package is: `reconciler --version` and the store's commands never hash the sources),
    whether the compiled modules may run; when not, it loads every one from its source."""

    def __init__(self, reason: str | None) -> None:
        self._decided = reason is not None
        self._sources = _SourceFinder(COMPILED) if reason is not None else None

    def pure(self) -> bool:
        """Decide now if not yet: True when the sources run in place of the compiled build."""
        global pure_reason  # noqa: PLW0603 - set once, before any compiled module is imported
        if not self._decided:
            self._decided = True
            pure_reason = stale()
            if pure_reason is not None:
                self._sources = _SourceFinder(COMPILED)
        return self._sources is not None

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name not in _COMPILED_SET or not self.pure():
            return None
        assert self._sources is not None
        return self._sources.find_spec(name, path, target)


_COMPILED_SET = frozenset(COMPILED)


def guard() -> None:
    """Run the pure-Python modules when asked to (decided now), or when the compiled ones are
    stale (decided at the first import of one of them)."""
    global pure_reason  # noqa: PLW0603 - set once, before any compiled module is imported
    if any(isinstance(f, _Guard) for f in sys.meta_path):
        return
    if os.environ.get(PURE_ENV):
        pure_reason = f"{PURE_ENV} is set"
    sys.meta_path.insert(0, _Guard(pure_reason))


def active() -> bool:
    """True when the compiled modules are the ones imported (tests, bench/classify.py): they
    are built, and `guard()` did not make them load from their sources.  (Decided without
    importing them: this guard sits below every module it guards.)"""
    guarded = any(isinstance(f, _Guard) and f.pure() for f in sys.meta_path)
    return not guarded and _extensions(_package(None))
