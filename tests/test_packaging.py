"""A `pip install .` user gets the default rules: the wheel carries rules/ inside the package,
and the installed package finds them there."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

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
    code = "from reconciler.rules import shipped_rules_dir; print(shipped_rules_dir())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(target)},
        cwd=tmp_path,  # not the checkout, whose reconciler/ would shadow the wheel's
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert out == str(target / "reconciler" / "_rules")
