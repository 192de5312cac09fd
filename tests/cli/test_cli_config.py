"""The configuration as a person meets it through the commands: every mistake in one run,
only the secrets a command uses, relative paths beside the file, no empty database made by a
read-only command, and a missing database driver that names the extra to install."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import CORPUS, ROOT

from reconciler.cli import main
from reconciler.store import open_database

KEY = "0123456789abcdef-verp-key"
CONFIG = """
[[mailbox]]
name = "bounces"
host = "127.0.0.1"
security = "none"
username = "u"
password_env = "FIRST_HOUR_IMAP_PASSWORD"

[database]
url = "sqlite:///state/reconciler.db"

[verp]
domain = "bounces.example.org"
[[verp.keys]]
id = "a"
secret_env = "FIRST_HOUR_VERP_KEY"
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with ./reconciler.toml whose IMAP password is NOT set (the VERP key is)."""
    (tmp_path / "state").mkdir()
    (tmp_path / "reconciler.toml").write_text(CONFIG, "utf-8")
    monkeypatch.delenv("FIRST_HOUR_IMAP_PASSWORD", raising=False)
    monkeypatch.setenv("FIRST_HOUR_VERP_KEY", KEY)
    monkeypatch.delenv("RECONCILER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "120")
    return tmp_path


# -- every mistake in one run ------------------------------------------------------------------


def test_check_config_reports_every_mistake_in_one_run(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FIRST_HOUR_VERP_KEY")
    text = CONFIG.replace('security = "none"', 'security = "none"\nport = 99999\nbatchsize = 5')
    text += '[verp.bouncehandler]\nsecret_env = "FIRST_HOUR_BH_KEY"\n'
    text += "[policy.hard]\ndays = 0\n[digest]\nenabled = true\n"
    (home / "reconciler.toml").write_text(text, "utf-8")
    assert main(["check-config"]) == 2
    lines = capsys.readouterr().err.splitlines()
    where = str(home / "reconciler.toml")
    expected = [
        "mailbox[0].password_env: environment variable FIRST_HOUR_IMAP_PASSWORD is not set",
        "mailbox[0].port: expected an integer 1-65535",
        'mailbox[0].batchsize: unknown key; did you mean "batch_size"?',
        "verp.keys[0].secret_env: environment variable FIRST_HOUR_VERP_KEY is not set",
        "verp.bouncehandler.secret_env: environment variable FIRST_HOUR_BH_KEY is not set",
        "policy.hard.days: expected an integer 1-365",
        "digest.sender: required key is missing",
    ]
    assert len(lines) == len(expected), lines
    for line, wanted in zip(lines, expected, strict=True):
        assert line.startswith(f"reconciler: {where}: {wanted}"), (line, wanted)


def test_check_config_loads_the_rules_the_daemon_would_load(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule file of `[rules] dir` that does not load is found by check-config (it said ok and
    the daemon failed at its next start): one line naming the file and line, exit 2."""
    monkeypatch.setenv("FIRST_HOUR_IMAP_PASSWORD", "pw")
    rules = home / "rules"
    rules.mkdir()
    (rules / "site.yaml").write_text("enable: [text-user-unknown-unstated-stage-hard]\n", "utf-8")
    (home / "reconciler.toml").write_text(CONFIG + '[rules]\ndir = "rules"\n', "utf-8")
    assert main(["check-config"]) == 0
    assert "ok:" in capsys.readouterr().out
    (rules / "bad.yaml").write_text("rules:\n  - id: x\n    description: d\n", "utf-8")
    assert main(["check-config"]) == 2
    captured = capsys.readouterr()
    assert "ok:" not in captured.out
    (line,) = captured.err.splitlines()
    assert line.startswith(f"reconciler: {rules / 'bad.yaml'}:2:") and "match" in line


def test_a_table_of_the_wrong_type_is_one_problem_not_an_echo_of_its_keys(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIRST_HOUR_IMAP_PASSWORD", "pw")
    (home / "reconciler.toml").write_text("verp = 3\n[daemon]\nidle = 1\n", "utf-8")
    assert main(["check-config"]) == 2
    lines = capsys.readouterr().err.splitlines()
    keys = [line.split(": ", 2)[2].split(":")[0] for line in lines]
    assert keys == ["daemon.idle", "verp"]  # in the order of the example file's sections


# -- a command reads only the secrets it uses ------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["classify", str(CORPUS / "lhost-postfix-33.eml")],
        ["explain", str(CORPUS / "lhost-postfix-33.eml")],
        ["rules", "check"],
        ["verp", "make", "--user", "7", "--address", "kim@example.net"],
        ["verp", "check", "bounces+x@bounces.example.org"],
    ],
    ids=["classify", "explain", "rules check", "verp make", "verp check"],
)
def test_commands_without_a_mailbox_need_no_imap_password(
    home: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert "FIRST_HOUR_IMAP_PASSWORD" not in err
    assert code == (1 if argv[:2] == ["verp", "check"] else 0), err  # an invalid token: 1


def test_classify_checks_tokens_with_the_key_of_the_config_it_finds(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["classify", "--json", str(CORPUS / "lhost-postfix-33.eml")]) == 0
    assert '"verp": {"valid": false' in capsys.readouterr().out  # the [verp] of ./reconciler.toml


def test_the_read_only_commands_need_no_secret_at_all(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FIRST_HOUR_VERP_KEY")
    with open_database(f"sqlite:///{home / 'state' / 'reconciler.db'}") as store:
        store.migrate(datetime.now(UTC))
    for argv in (["report"], ["suppressions", "list"], ["mode"], ["user", "show", "7"]):
        assert main(argv) in (0, 1), argv  # user show: 1, nothing is known about user 7
        assert "FIRST_HOUR" not in capsys.readouterr().err
    assert main(["status", "--no-imap"]) == 1  # stale: never polled; but no secret asked for
    assert "STALE" in capsys.readouterr().out


def test_the_commands_that_read_mail_still_need_the_password(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dry-run"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "FIRST_HOUR_IMAP_PASSWORD is not set" in line


# -- relative paths and read-only commands ---------------------------------------------------


READ_ONLY = [
    ["report"],
    ["user", "show", "7"],
    ["status", "--no-imap"],
    ["suppressions", "list"],
    ["mode"],
    ["reinstate", "kim@example.net", "--reason", "x", "--yes"],
    ["undo", "--since", "1d", "--reason", "x", "--yes"],
]


@pytest.mark.parametrize("argv", READ_ONLY, ids=[" ".join(a[:2]) for a in READ_ONLY])
def test_a_read_only_command_refuses_to_create_a_database(
    home: Path, argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = main(["--config", str(home / "reconciler.toml"), *argv])
    (line,) = capsys.readouterr().err.splitlines()
    assert code == 1
    assert line.startswith(f"reconciler: no database at {home / 'state' / 'reconciler.db'}: ")
    assert "poll --once" in line
    assert not list(home.rglob("*.db")) and not list(elsewhere.rglob("*.db"))


def test_the_sqlite_path_is_relative_to_the_config_file_not_the_working_dir(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_database(f"sqlite:///{home / 'state' / 'reconciler.db'}") as store:
        store.migrate(datetime.now(UTC))
        store.set_mode(
            store.get_mode().mode, "operator:test", "marker-for-this-db", datetime.now(UTC)
        )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["mode", "--config", str(home / "reconciler.toml")]) == 0
    assert "marker-for-this-db" in capsys.readouterr().out
    assert not list(elsewhere.iterdir())


# -- database drivers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "extra", "driver"),
    [
        ("postgresql://reconciler@127.0.0.1/bounces", "postgres", "psycopg2"),
        ("mysql://reconciler@127.0.0.1/bounces", "mysql", "PyMySQL"),
    ],
)
def test_a_missing_driver_names_the_extra_to_install(
    tmp_path: Path, url: str, extra: str, driver: str
) -> None:
    config = tmp_path / "reconciler.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', "utf-8")
    hide = ["psycopg2", "psycopg", "pymysql", "MySQLdb", "mysql", "mariadb"]
    code = (
        "import sys\n"
        f"for name in {hide!r}: sys.modules[name] = None  # as if not installed\n"
        "from reconciler.cli import main\n"
        f"raise SystemExit(main(['--config', {str(config)!r}, 'report']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.splitlines()
    assert f"pip install 'reconciler[{extra}]'" in line and driver in line


def test_docs_configuration_lists_the_extras() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text("utf-8")
    for extra in ("postgres", "mysql", "metrics"):
        assert f"pip install 'reconciler[{extra}]'" in text


# -- the summary fits the terminal -------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 60])
def test_check_config_lines_fit_the_terminal_and_keep_paths_whole(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], width: int
) -> None:
    """A password file in a directory tree makes the mailbox line long: it goes on, indented,
    on the next line, and the path is never cut; a path longer than the terminal stays whole
    on its line."""
    with tempfile.TemporaryDirectory(dir="/tmp") as short:
        secret = Path(short) / "imap" / "bounces-password"
        secret.parent.mkdir()
        secret.write_text("hunter2\n", "utf-8")
        config = CONFIG.replace(
            'password_env = "FIRST_HOUR_IMAP_PASSWORD"', f'password_file = "{secret}"'
        )
        (home / "reconciler.toml").write_text(config, "utf-8")
        monkeypatch.setenv("COLUMNS", str(width))
        for extra in ([], ["--all"]):
            assert main(["check-config", *extra]) == 0
            out = capsys.readouterr().out
            lines = out.splitlines()
            assert str(secret) in out  # whole: never broken across lines
            assert lines[-1] == f"ok: {home / 'reconciler.toml'}"  # one line for scripts
            # longer only when one of its words could not fit on a line of its own
            assert all(
                len(line) <= width or max(map(len, line.split())) > width - 4 for line in lines[:-1]
            ), lines
            assert any(line.startswith("    ") for line in lines)  # a long line went on
            assert "hunter2" not in out
