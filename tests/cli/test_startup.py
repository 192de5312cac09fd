"""What a command imports before it runs (issue 16): each one imports only what it uses, so a
start stays fast as the code grows.  Each case runs in a fresh interpreter and reads
`sys.modules` after the command; the figures are bench/startup.py's (no timing here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dovecot import Account, Dovecot
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


def _imported(*argv: str, **env: str) -> tuple[int, set[str]]:
    """Run `reconciler ARGV` in a fresh interpreter: its exit code and every module imported."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], check=False, cwd=ROOT, capture_output=True,
        text=True, env=os.environ | env,
    )  # fmt: skip
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
    code, modules = _imported(
        "classify", "--json", str(ROOT / "tests/samples"), RECONCILER_CACHE_DIR=""
    )
    assert code == 0
    assert _loaded(modules, ["reconciler.parse", "reconciler.classify", "yaml"]) == [
        "reconciler.parse",
        "reconciler.classify",
        "yaml",
    ]


# What classifying files never needs, with a configuration or without: the store and its
# driver, the IMAP client, the scheduler, the tables, the actions, logging.
_NOT_FOR_CLASSIFY = [
    "apscheduler",
    "imapclient",
    "logging",
    "peewee",
    "rich",
    "reconciler.actions",
    "reconciler.service",
    "reconciler.store",
]


def test_classify_json_with_a_configuration_imports_no_store_client_or_tables(
    tmp_path: Path,
) -> None:
    """The configuration (read whole, every key checked) names a database and a mailbox;
    classifying a file still imports neither the store, the IMAP client nor the tables."""
    (tmp_path / "reconciler.toml").write_text(
        '[database]\nurl = "sqlite:///reconciler.db"\n\n[[mailbox]]\nname = "main"\n'
        'host = "imap.example.org"\nusername = "bounces"\npassword_env = "NOT_SET_HERE"\n',
        "utf-8",
    )
    one = str(ROOT / "tests/corpus/sisimai/emails/lhost-postfix-01.eml")
    probe = _PROBE.replace(
        "main(sys.argv[1:])",
        f"main(['--config', {str(tmp_path / 'reconciler.toml')!r}, *sys.argv[1:]])",
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "classify", "--json", one], check=False, cwd=ROOT,
        capture_output=True, text=True, env=os.environ | {"RECONCILER_CACHE_DIR": ""},
    )  # fmt: skip
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    modules = set(report["modules"])
    assert _loaded(modules, ["reconciler.config", "reconciler.settings"]) != []  # it was read
    assert _loaded(modules, _NOT_FOR_CLASSIFY) == []
    # the settings are records that compile nothing when defined (reconciler/frozenrecord.py)
    assert _loaded(modules, ["dataclasses", "inspect"]) == []


def test_classify_json_imports_no_table_configuration_or_yaml_code(tmp_path: Path) -> None:
    """`classify --json ONE.eml` without a configuration: no rich, no configuration code, and
    once the rules are cached (the second run) no YAML either."""
    one = str(ROOT / "tests/corpus/sisimai/emails/lhost-postfix-01.eml")
    cache = str(tmp_path / "cache")
    first = _imported("classify", "--json", one, RECONCILER_CACHE_DIR=cache)
    again = _imported("classify", "--json", one, RECONCILER_CACHE_DIR=cache)
    for code, modules in (first, again):
        assert code == 0
        assert _loaded(modules, ["rich", "reconciler.config", "reconciler.report.classify"]) == []
        assert _loaded(modules, _NOT_FOR_CLASSIFY) == []
        assert _loaded(modules, ["reconciler.parse", "reconciler.classify.match"]) != []
    assert _loaded(first[1], ["yaml"]) == ["yaml"]
    assert _loaded(again[1], ["yaml", "flufl"]) == []


def test_classify_json_of_a_dsn_imports_only_the_pure_stages_it_runs(tmp_path: Path) -> None:
    """Classifying a plain DSN without a configuration never needs the settings, the VERP
    stage, the ledger records, mailbox or the email package's header and address code, nor
    (the rules cached) tempfile (issue 16, part C: each some milliseconds of a one-file run)."""
    one = str(ROOT / "tests/corpus/sisimai/emails/lhost-postfix-01.eml")
    _imported("classify", "--json", one, RECONCILER_CACHE_DIR=str(tmp_path))  # caches the rules
    code, modules = _imported("classify", "--json", one, RECONCILER_CACHE_DIR=str(tmp_path))
    assert code == 0
    unused = [
        "reconciler.settings",
        "reconciler.verp",
        "reconciler.records.ledger",
        "mailbox",
        "email.header",
        "email.utils",
        "tempfile",
        "logging",  # nothing logs: the last-resort guard waits for an import of it
        "dataclasses",  # records are @frozen_record: with inspect, ast, dis and tokenize
        "inspect",
        "datetime",  # the records name it in annotations only
    ]
    assert _loaded(modules, unused) == []
    assert _loaded(modules, ["reconciler.verpformat", "reconciler.analysis"]) != []


def test_the_last_resort_handler_is_guarded_when_logging_is_imported_later() -> None:
    """A command's module that imports logging after the dispatch (the service's, the
    actions') gets the guarded last-resort handler, as when logging came first."""
    for first in ("logging", "reconciler.logs"):  # the latter imports logging itself
        probe = (
            "import sys; from reconciler.cli import _guard_logging; _guard_logging(); "
            f"assert 'logging' not in sys.modules; import {first}; import logging; "
            "print(type(logging.lastResort.formatter).__name__)"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe], check=True, cwd=ROOT, capture_output=True, text=True
        )
        assert done.stdout.strip() == "TextFormatter", first


# What `poll --once` on an SQLite store never needs, its output going to a pipe: the drivers
# of database servers, rich's progress display (a bar is drawn on a terminal only), the URL
# parser of other databases, the migrations (a new database is made in one step, an
# up-to-date one needs none), the dry run's preview and the JSON shapes.
_NOT_FOR_POLL = [
    "psycopg2",
    "pymysql",
    "rich.progress",
    "rich.live",
    "playhouse.db_url",
    "playhouse.migrate",
    "reconciler.store.migrations.v1",
    "reconciler.store.migrations.v12",
    "reconciler.service.dryrun",
    "reconciler.report.opshapes",
]


@pytest.mark.live
def test_poll_on_sqlite_imports_no_progress_display_migration_or_preview(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account
) -> None:
    """An idle `poll --once` (an empty mailbox) on a new SQLite database, then on the same
    database again: each imports what it polls with and prints its table with, nothing more."""
    (tmp_path / "pw").write_text(imap_account.password)
    config = tmp_path / "reconciler.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "poll.db"}"\n\n[[mailbox]]\nname = "box"\n'
        f'host = "{dovecot.host}"\nport = {dovecot.imap_port}\nsecurity = "none"\n'
        f'username = "{imap_account.name}"\npassword_file = "{tmp_path / "pw"}"\n',
        "utf-8",
    )
    cache = str(tmp_path / "cache")
    for run in ("new database", "up-to-date database"):
        code, modules = _imported(
            "--config", str(config), "poll", "--once", RECONCILER_CACHE_DIR=cache
        )
        assert code == 0, run
        assert _loaded(modules, _NOT_FOR_POLL) == [], run
        assert _loaded(modules, ["imapclient", "reconciler.store", "rich.table"]) == [
            "imapclient",
            "reconciler.store",
            "rich.table",
        ], run
