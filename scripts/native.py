"""Compile the classify path with mypyc (see reconciler/_native.py for what and why).

    python scripts/native.py            # build beside the sources when they changed
    python scripts/native.py --force    # build even when the manifest matches
    python scripts/native.py --clean    # remove the compiled modules (pure Python again)

`scripts/bootstrap` runs the first form for a checkout.  The same file is the hatchling build
hook (`[tool.hatch.build.hooks.custom]` in pyproject.toml) that puts the compiled modules into
a wheel built by `pip install .`; an editable install is left to this script.  Without a C
compiler (or mypyc) the build says so and the pure-Python modules run: same results, slower.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_GROUP = "reconciler._native"  # the shared library of the compiled modules


def _plan(root: Path) -> ModuleType:
    """reconciler/_native.py, loaded from its file (the package need not be importable)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_native_plan", root / "reconciler/_native.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def compile_modules(root: Path, build_lib: Path, temp: Path) -> list[Path]:
    """Compile the modules into build_lib (package layout); the files built, relative to it.

    Raises on any failure (no compiler, mypyc missing, a type error mypyc refuses).
    """
    from mypyc.build import mypycify
    from setuptools import Distribution

    plan = _plan(root)
    # hashed before compiling: a source saved during the build leaves the build stale
    manifest = plan.manifest_text(root / "reconciler")
    sources = [
        str(plan.source_path(m, root / "reconciler").relative_to(root)) for m in plan.COMPILED
    ]
    with _cwd(root):  # mypy reads [tool.mypy] of pyproject.toml; paths are relative
        extensions = mypycify(
            ["--ignore-missing-imports", *sources],
            opt_level="3",
            group_name=_GROUP,
            target_dir=str(temp / "mypyc"),
        )
        dist = Distribution({"name": "reconciler-native", "ext_modules": extensions})
        command: Any = dist.get_command_obj("build_ext")
        command.build_lib = str(build_lib)
        command.build_temp = str(temp / "obj")
        command.inplace = False
        dist.run_command("build_ext")
    built = sorted(p.relative_to(build_lib) for p in build_lib.rglob("*.so"))
    (build_lib / "reconciler" / plan.MANIFEST).write_text(manifest)
    return [*built, Path("reconciler") / plan.MANIFEST]


def clean(root: Path) -> list[Path]:
    """Remove the compiled modules and the manifest from the checkout."""
    plan = _plan(root)
    package = root / "reconciler"
    removed = [package / plan.MANIFEST] if (package / plan.MANIFEST).exists() else []
    for path in package.rglob("*"):
        if path.is_file() and any(path.name.endswith(s) for s in EXTENSION_SUFFIXES):
            removed.append(path)
    for path in removed:
        path.unlink()
    return removed


@contextmanager
def _quiet() -> Iterator[None]:
    """mypyc's notes and the C compiler's output (both write to the file descriptors
    themselves) go to a scratch file, shown only when the build fails."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), 1)
        os.dup2(scratch.fileno(), 2)
        try:
            yield
        except BaseException:
            _restore(saved)
            scratch.seek(0)
            sys.stderr.write(scratch.read().decode(errors="replace")[-4000:])
            raise
        else:
            _restore(saved)


def _restore(saved: tuple[int, int]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, original in zip((1, 2), saved, strict=True):
        os.dup2(original, fd)
        os.close(original)


def build_in_place(root: Path) -> list[Path]:
    """Compile into the checkout: the old build goes first, the manifest comes last."""
    clean(root)
    with tempfile.TemporaryDirectory(prefix="reconciler-native-") as tmp:
        build_lib = Path(tmp) / "lib"
        files = compile_modules(root, build_lib, Path(tmp))
        manifest = files[-1]
        for rel in files[:-1]:
            shutil.copy2(build_lib / rel, root / rel)
        shutil.copy2(build_lib / manifest, root / manifest)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="build even when up to date")
    parser.add_argument("--clean", action="store_true", help="remove the compiled modules")
    args = parser.parse_args(argv)
    if args.clean:
        print(f"native: removed {len(clean(ROOT))} files")
        return 0
    plan = _plan(ROOT)
    package = ROOT / "reconciler"
    if not args.force and (package / plan.MANIFEST).exists() and plan.stale(package) is None:
        print("native: compiled modules are up to date")
        return 0
    try:
        with _quiet():
            files = build_in_place(ROOT)
    except Exception as err:  # any build failure: the pure modules run
        clean(ROOT)
        print(f"native: not compiled ({type(err).__name__}: {err}); the pure-Python modules run")
        return 0
    print(f"native: compiled {len(files) - 1} extension files ({len(plan.COMPILED)} modules)")
    return 0


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # running as a script without hatchling: only the in-place build
    pass
else:

    class NativeBuildHook(BuildHookInterface):  # type: ignore[type-arg]
        """Puts the compiled modules into a wheel (not into an editable install)."""

        PLUGIN_NAME = "custom"

        def initialize(self, version: str, build_data: dict[str, Any]) -> None:
            if self.target_name != "wheel" or version == "editable":
                return
            if os.environ.get("RECONCILER_PURE"):
                self.app.display_info("native: RECONCILER_PURE is set, pure-Python wheel")
                return
            self._tmp = tempfile.TemporaryDirectory(prefix="reconciler-native-")
            build_lib = Path(self._tmp.name) / "lib"
            try:
                files = compile_modules(Path(self.root), build_lib, Path(self._tmp.name))
            except Exception as err:  # a wheel without them still works
                self.app.display_warning(f"native: not compiled ({err}); pure-Python wheel")
                return
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
            for rel in files:
                build_data["force_include"][str(build_lib / rel)] = rel.as_posix()

        def finalize(self, version: str, build_data: dict[str, Any], artifact: str) -> None:
            tmp = getattr(self, "_tmp", None)
            if tmp is not None:
                tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
