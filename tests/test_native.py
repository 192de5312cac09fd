"""The compiled classify path (reconciler/_native.py, scripts/native.py): it is what runs when
built, it gives the very results of the pure-Python modules, and it never runs stale."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from support import TESTS, unavailable

from reconciler import _native

ROOT = TESTS.parent
CORPUS = TESTS / "corpus" / "sisimai" / "emails"


def _package_copy(tmp_path: Path) -> Path:
    """The compiled modules' sources in a package directory of their own."""
    package = tmp_path / "reconciler"
    for module in _native.COMPILED:
        target = _native.source_path(module, package)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(_native.source_path(module), target)
    return package


def test_a_matching_manifest_is_not_stale(tmp_path: Path) -> None:
    package = _package_copy(tmp_path)
    (package / _native.MANIFEST).write_text(_native.manifest_text(package))
    assert _native.stale(package) is None


def test_an_edited_source_makes_the_build_stale_and_is_named(tmp_path: Path) -> None:
    package = _package_copy(tmp_path)
    (package / _native.MANIFEST).write_text(_native.manifest_text(package))
    fields = _native.source_path("reconciler.parse.fields", package)
    fields.write_text(fields.read_text() + "\n# edited\n")
    assert _native.stale(package) == "reconciler.parse.fields changed since the compiled build"


def test_extensions_without_a_manifest_are_stale_and_none_are_not(tmp_path: Path) -> None:
    package = _package_copy(tmp_path)
    assert _native.stale(package) is None  # a pure-Python install
    entity = _native.source_path("reconciler.parse.entity", package)
    entity.with_suffix(".cpython-311-x86_64-linux-gnu.so").write_bytes(b"half a build")
    assert _native.stale(package) == "compiled modules without a manifest"


def _run(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != _native.PURE_ENV} | env
    return subprocess.run(
        [sys.executable, "-c", code],
        env=environ,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _require_build() -> None:
    if (Path(_native.__file__).parent / _native.MANIFEST).exists() and _native.active():
        return
    reason = _native.pure_reason or "not built"
    unavailable(f"no compiled build in use ({reason}): scripts/bootstrap builds it")


def test_the_compiled_build_is_in_use() -> None:
    """scripts/bootstrap builds it; under CI=true its absence is a failure."""
    _require_build()
    code = "import reconciler.parse.entity as e; print(e.__spec__.origin, type(e.Entity.get))"
    origin, kind = _run(code).strip().split(maxsplit=1)
    # (mypyc names a path under the shared library's directory as the origin: off by one level)
    assert origin.endswith("/parse/entity" + EXTENSION_SUFFIXES[0])
    assert kind == "<class 'method_descriptor'>"  # a native class (a function when pure)


def test_reconciler_pure_loads_every_compiled_module_from_its_source() -> None:
    code = (
        "import importlib, reconciler._native as n\n"
        "print(n.pure_reason)\n"
        "for m in n.COMPILED: print(importlib.import_module(m).__spec__.origin)\n"
    )
    reason, *files = _run(code, RECONCILER_PURE="1").splitlines()
    assert reason == "RECONCILER_PURE is set"
    assert len(files) == len(_native.COMPILED)
    assert all(f.endswith(".py") for f in files)


def _classify(directory: Path = CORPUS, **env: str) -> list[dict[str, object]]:
    code = "from reconciler.cli import main; raise SystemExit(main(['classify', '--json', %r]))"
    out = _run(code % str(directory), **env)
    return [json.loads(line) for line in out.splitlines()]


def test_compiled_and_pure_agree_on_every_corpus_row() -> None:
    _require_build()
    compiled, pure = _classify(), _classify(RECONCILER_PURE="1")
    assert len(compiled) >= 315
    assert compiled == pure


def _mutated(data: bytes, other: bytes, rng: random.Random) -> bytes:
    """A corpus message broken the way mail gets broken: cut, bytes flipped or dropped, line
    endings changed, a bogus charset, stray boundaries, another message spliced in."""
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data)) if data else 0
        match rng.randrange(7):
            case 0:
                data = data[:at]
            case 1:
                data = data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
            case 2:
                data = data[:at] + data[at + rng.randint(1, 200) :]
            case 3:
                data = data.replace(b"\n", rng.choice([b"\r\n", b"\r"]))
            case 4:
                data = data.replace(b"charset=", b"charset=x-bogus-", 1)
            case 5:
                data = data[:at] + b"\n--" + data[at:]
            case _:
                data = data[:at] + other[: rng.randint(0, 2000)] + data[at:]
    return data


def test_compiled_and_pure_agree_on_broken_messages(tmp_path: Path) -> None:
    """mypyc checks types at run time: a value the annotations do not admit would raise where
    the pure modules go on. 600 broken messages must give the very same rows."""
    _require_build()
    rng = random.Random(7)
    corpus = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]
    for n in range(600):
        data = _mutated(rng.choice(corpus), rng.choice(corpus), rng)
        (tmp_path / f"m{n:03d}.eml").write_bytes(data)
    compiled, pure = _classify(tmp_path), _classify(tmp_path, RECONCILER_PURE="1")
    assert len(compiled) >= 600
    assert compiled == pure
