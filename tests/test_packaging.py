"""A `pip install .` user gets the default rules: the wheel carries rules/ inside the package,
and the installed package finds them there.  The wheel also carries the compiled classify
path (scripts/native.py) when it can be built here, and the installed package runs it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from reconciler._native import COMPILED
from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_the_default_rules(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("reconciler-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(p.name for p in (ROOT / "rules").glob("*.yaml"))
    assert shipped
    for name in shipped:
        assert f"reconciler/_rules/{name}" in names
    # the installed package prefers its own copy
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = "from reconciler.classify.rules import shipped_rules_dir; print(shipped_rules_dir())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(target)},
        cwd=tmp_path,  # not the checkout, whose reconciler/ would shadow the wheel's
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert out == str(target / "reconciler" / "_rules")
    _compiled_modules_run_from(wheel, names, target)


def _compiled_modules_run_from(wheel: Path, names: list[str], target: Path) -> None:
    if "reconciler/_native_manifest.txt" not in names:
        unavailable("the wheel was built pure-Python (no C compiler or mypyc here)")
    assert not wheel.name.endswith("-py3-none-any.whl")  # a platform wheel
    assert "reconciler/_native__mypyc" + EXTENSION_SUFFIXES[0] in names  # their shared library
    for module in COMPILED:
        assert module.replace(".", "/") + EXTENSION_SUFFIXES[0] in names
    code = (
        "import reconciler._native as n, reconciler.parse as d\n"
        "print(n.active(), n.pure_reason, d.parse(open(%r, 'rb').read()).bounces[0].recipient)"
    )
    sample = next(iter(sorted((ROOT / "tests/corpus/sisimai/emails").glob("*.eml"))))
    out = subprocess.run(
        [sys.executable, "-c", code % str(sample)],
        env={"PYTHONPATH": str(target)},
        cwd=target,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert out[:2] == ["True", "None"] and "@" in out[2]
