"""What a command imports before it runs (issue 16): each one imports only what it uses, so a
start stays fast as the code grows.  Each case runs in a fresh interpreter and reads
`sys.modules` after the command; the figures are bench/startup.py's (no timing here)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT

# Never needed by --version or --help: the stages, the records, the configuration, and every
# third-party library the commands use.
HEAVY = [
    "apscheduler",
    "email",
    "flufl",
    "imapclient",
    "peewee",
    "rich",
    "yaml",
    "reconciler.actions",
    "reconciler.analysis",
    "reconciler.classify",
    "reconciler.config",
    "reconciler.parse",
    "reconciler.policy",
    "reconciler.records",
    "reconciler.report",
    "reconciler.service",
    "reconciler.settings",
    "reconciler.source",
    "reconciler.store",
    "reconciler.verp",
]

_PROBE = """
import json, sys
from reconciler.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _imported(*argv: str) -> tuple[int, set[str]]:
    """Run `reconciler ARGV` in a fresh interpreter: its exit code and every module imported."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], check=False, cwd=ROOT, capture_output=True, text=True
    )
    last = done.stderr.strip().splitlines()[-1]
    report = json.loads(last)
    return report["code"], set(report["modules"])


def _loaded(modules: set[str], names: list[str]) -> list[str]:
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in modules)]


def test_version_imports_nothing_heavy() -> None:
    code, modules = _imported("--version")
    assert code == 0
    assert _loaded(modules, HEAVY) == []
    assert _loaded(modules, ["typing", "pathlib", "hashlib"]) == []  # not even these


def test_help_lists_every_command_without_building_them() -> None:
    code, modules = _imported("--help")
    assert code == 0
    assert _loaded(modules, HEAVY) == []


def test_the_probe_sees_what_a_command_imports() -> None:
    """The check above can fail: a command that classifies imports the parser and the rules."""
    code, modules = _imported("classify", "--json", str(ROOT / "tests/samples"))
    assert code == 0
    assert _loaded(modules, ["reconciler.parse", "reconciler.classify", "yaml"]) == [
        "reconciler.parse",
        "reconciler.classify",
        "yaml",
    ]
