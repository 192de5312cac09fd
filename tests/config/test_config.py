"""Configuration loading: validation errors name the key on one line, secrets stay hidden."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from pathlib import Path

import pytest
from support import ROOT

from reconciler import config
from reconciler.config import (
    BounceHandlerSettings,
    DaemonSettings,
    DatabaseSettings,
    DigestSettings,
    LoggingSettings,
    MailboxSettings,
    MetricsSettings,
    OAuthSettings,
    ProbeSettings,
    RulesSettings,
    Settings,
    SmtpSettings,
    VerpKey,
    VerpSettings,
    describe_settings,
    load_settings,
    resolve_config_path,
)
from reconciler.config.sections import default_analysis_processes
from reconciler.errors import ConfigError

EXAMPLE = ROOT / "config.example.toml"

IMAP_PASSWORD = "imap-pass-Zq81"
VERP_KEY = "verp-key-0123456789-Qx"
BH_KEY = "bounce-handler-key-77"
DB_PASSWORD = "db-pass-Wk42"
ENV = {"PW": IMAP_PASSWORD, "KEY": VERP_KEY, "BHKEY": BH_KEY}

Value = str | int | float | bool | list[str] | None


def _render(table: dict[str, Value]) -> str:
    """key = value lines (JSON literals are valid TOML for these simple values)."""
    return "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items() if v is not None)


MAILBOX: dict[str, Value] = {
    "name": "main",
    "host": "imap.example.org",
    "username": "bounces",
    "password_env": "PW",
}
VERP: dict[str, Value] = {"domain": "bounces.example.org"}
KEY: dict[str, Value] = {"id": "a", "secret_env": "KEY"}
BH: dict[str, Value] = {"secret_env": "BHKEY"}


def document(
    mailbox: dict[str, Value] | None = None,
    verp: dict[str, Value] | None = None,
    key: dict[str, Value] | None = None,
    extra: str = "",
) -> str:
    """A valid configuration, with some keys overridden (None removes a key)."""
    return (
        f"[[mailbox]]\n{_render({**MAILBOX, **(mailbox or {})})}\n"
        f"[verp]\n{_render({**VERP, **(verp or {})})}\n"
        f"[[verp.keys]]\n{_render({**KEY, **(key or {})})}\n{extra}"
    )


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "reconciler.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    return load_settings(write(tmp_path, text), ENV if env is None else env)


# --- the shipped example ---------------------------------------------------------------------


def _example_env() -> dict[str, str]:
    names = re.findall(r'^\s*\w+_env = "(\w+)"', EXAMPLE.read_text(), re.M)
    assert names, "the example names no environment variables"
    return {name: f"example-secret-for-{name}-0123456789" for name in names}


def test_example_loads() -> None:
    settings = load_settings(EXAMPLE, _example_env())
    assert settings.mailboxes[0].name == "bounces"
    assert settings.verp is not None
    assert settings.verp.bouncehandler is None  # optional: commented out in the example
    assert settings.verp.keys[0].id == "a"
    # the default SQLite file lies beside the configuration file, wherever the command runs
    assert settings.database == DatabaseSettings(url=f"sqlite:///{EXAMPLE.parent}/reconciler.db")
    assert settings.warnings == ()


def test_example_needs_exactly_the_variables_the_readme_exports() -> None:
    readme = (EXAMPLE.parent / "README.md").read_text()
    quick = readme.split("## Quick start")[1].split("\n## ")[0]
    exported = re.findall(r"^\s*export (RECONCILER_\w+)=", quick, re.M)
    assert set(exported) == set(_example_env()), "README and example disagree on the secrets"
    load_settings(EXAMPLE, dict.fromkeys(exported, "x" * 32))


def test_the_optional_bouncehandler_section_loads_when_uncommented(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    block = text.split("\n# [verp.bouncehandler]\n")[1].split("\n\n")[0]
    keys = [line[2:] for line in block.splitlines() if re.match(r"# [a-z_]+ = ", line)]
    keys = [k for k in keys if not k.startswith(("secret_file", "secret ="))]
    on = text.replace(block, "\n".join(keys)).replace(
        "\n# [verp.bouncehandler]\n", "\n[verp.bouncehandler]\n"
    )
    path = write(tmp_path, on)
    env = _example_env() | {"RECONCILER_BOUNCEHANDLER_KEY": "bh-secret-0123456789abcdef"}
    settings = load_settings(path, env)
    assert settings.verp is not None and settings.verp.bouncehandler is not None
    assert settings.verp.bouncehandler.domain == "wikimedia.org"


@pytest.mark.parametrize(("cores", "helpers"), [(1, 0), (2, 1), (16, 1)])
def test_one_analysis_helper_by_default_where_there_is_a_second_core(
    cores: int, helpers: int
) -> None:
    assert default_analysis_processes(cores) == helpers


def test_analysis_processes_left_out_or_zero(tmp_path: Path) -> None:
    left_out = load_settings(write(tmp_path, document()), ENV)
    cores = len(os.sched_getaffinity(0))
    assert left_out.daemon.analysis_processes == (1 if cores > 1 else 0)
    zero = load_settings(write(tmp_path, document(extra="[daemon]\nanalysis_processes = 0\n")), ENV)
    assert zero.daemon.analysis_processes == 0


def test_example_shows_the_dataclass_defaults() -> None:
    settings = load_settings(EXAMPLE, _example_env())
    # one helper process by default where there are cores for it (commented in the example)
    helpers = default_analysis_processes(len(os.sched_getaffinity(0)))
    assert settings.daemon == dataclasses.replace(DaemonSettings(), analysis_processes=helpers)
    assert settings.logging == LoggingSettings()
    assert settings.rules == RulesSettings()
    verp = settings.verp
    assert verp is not None
    defaults = VerpSettings(domain=verp.domain, keys=verp.keys, bouncehandler=verp.bouncehandler)
    assert verp == defaults
    mailbox = settings.mailboxes[0]
    assert mailbox == dataclasses.replace(
        MailboxSettings(mailbox.name, mailbox.host, mailbox.username, mailbox.password),
        password_env=mailbox.password_env,
    )


# Fields that are not keys of their own: resolved secrets (read from <stem>_env / <stem>_file /
# <stem>), nested tables written as [[...]] or [...], and bookkeeping of Settings.
_NOT_KEYS = {
    "password", "secret", "client_secret", "refresh_token", "keys", "bouncehandler", "mailboxes",
    "source_path", "warnings", "oauth", "smtp",
}  # fmt: skip
_RECORDS = (
    MailboxSettings,
    OAuthSettings,
    DatabaseSettings,
    RulesSettings,
    VerpKey,
    BounceHandlerSettings,
    VerpSettings,
    DaemonSettings,
    LoggingSettings,
    MetricsSettings,
    DigestSettings,
    ProbeSettings,
    SmtpSettings,
    Settings,
)


@pytest.mark.parametrize("record", _RECORDS, ids=lambda r: r.__name__)
def test_example_documents_every_key(record: type) -> None:
    text = EXAMPLE.read_text()
    for item in dataclasses.fields(record):
        if item.name in _NOT_KEYS:
            continue
        key = f"[{item.name}]" if record is Settings else f"{item.name} ="
        assert re.search(rf"^[ #]*{re.escape(key)}", text, re.M), f"{record.__name__}.{item.name}"
    assert "[[mailbox]]" in text
    assert "[[verp.keys]]" in text
    assert "[verp.bouncehandler]" in text


# --- validation: one line, naming the key ----------------------------------------------------

BAD = [
    (document(mailbox={"port": "abc"}), "mailbox[0].port"),
    (document(mailbox={"port": 0}), "mailbox[0].port"),
    (document(mailbox={"port": 70000}), "mailbox[0].port"),
    (document(mailbox={"port": True}), "mailbox[0].port"),
    (document(mailbox={"security": "ssl"}), "mailbox[0].security"),
    (document(mailbox={"security": "none"}), "mailbox[0].security"),
    (document(mailbox={"password": "hunter2"}), "mailbox[0].password"),
    (document(mailbox={"password_env": None}), "mailbox[0].password"),
    (document(mailbox={"password_file": "pw.txt"}), "mailbox[0].password_file"),
    (document(mailbox={"password_env": "UNSET"}), "mailbox[0].password_env"),
    (document(mailbox={"password_env": None, "password_file": "nope"}), "mailbox[0].password_file"),
    (document(mailbox={"name": None}), "mailbox[0].name"),
    (document(mailbox={"name": "has space"}), "mailbox[0].name"),
    (document(mailbox={"host": ""}), "mailbox[0].host"),
    (document(mailbox={"username": 7}), "mailbox[0].username"),
    (document(mailbox={"processed_folder": "INBOX"}), "mailbox[0].processed_folder"),
    (document(mailbox={"batch_size": 0}), "mailbox[0].batch_size"),
    (document(mailbox={"timeout_seconds": 0}), "mailbox[0].timeout_seconds"),
    (document(mailbox={"timeout_seconds": "60"}), "mailbox[0].timeout_seconds"),
    (document(mailbox={"max_message_bytes": 10}), "mailbox[0].max_message_bytes"),
    (document(mailbox={"tls_verify": "yes"}), "mailbox[0].tls_verify"),
    (document(mailbox={"allow_plaintext": 1}), "mailbox[0].allow_plaintext"),
    (document(mailbox={"ca_file": "missing.pem"}), "mailbox[0].ca_file"),
    (document(mailbox={"pasword_env": "PW"}), "mailbox[0].pasword_env"),
    (document(extra=f"[[mailbox]]\n{_render(MAILBOX)}"), "mailbox[1].name"),
    (document(extra='[database]\nurl = "postgres://u@h/db"\n'), "database.url"),
    (document(extra='[database]\nurl = "http://example.org/"\n'), "database.url"),
    (document(extra='[database]\nurl = "reconciler.db"\n'), "database.url"),
    (document(extra='[database]\nurl = "sqlite://reconciler.db"\n'), "database.url"),
    (document(extra='[database]\nurl = "postgresql://db.example.org"\n'), "database.url"),
    (document(extra='[database]\nurl = "mysql://h:port/db"\n'), "database.url"),
    (document(extra='[database]\nuri = "sqlite:///x.db"\n'), "database.uri"),
    (document(extra='[rules]\ndir = "no-such-dir"\n'), "rules.dir"),
    (document(extra="[rules]\nuse_shipped = false\n"), "rules.use_shipped"),
    (document(extra='[rules]\nuse_shipped = "no"\n'), "rules.use_shipped"),
    (document(extra="[daemon]\ninterval_seconds = 0\n"), "daemon.interval_seconds"),
    (document(extra="[daemon]\nidle = 1\n"), "daemon.idle"),
    (document(extra="[daemon]\nmisfire_grace_seconds = -1\n"), "daemon.misfire_grace_seconds"),
    (document(extra='[logging]\nlevel = "verbose"\n'), "logging.level"),
    (document(extra='[logging]\nformat = "xml"\n'), "logging.format"),
    (document(extra='[logging]\nlog_addresses = "no"\n'), "logging.log_addresses"),
    (document(extra="[logging]\ncolour = true\n"), "logging.colour"),
    (document(extra="[mailboxes]\n"), "mailboxes"),
    (document(verp={"domain": None}), "verp.domain"),
    (document(verp={"domain": "not a domain"}), "verp.domain"),
    (document(verp={"format": "mediawiki"}), "verp.format"),
    (document(verp={"format": "bouncehandler"}), "verp.format"),
    (document(verp={"prefix": "Bounces"}), "verp.prefix"),
    (document(verp={"prefix": "bounces-"}), "verp.prefix"),
    (document(verp={"prefix": "b" * 23}), "verp.prefix"),
    (document(verp={"prefix": "b" * 17}), "verp.prefix"),  # a bound token would not fit
    (document(verp={"separator": "_"}), "verp.separator"),
    (document(verp={"accept_days": 0}), "verp.accept_days"),
    (document(verp={"accept_days": 400}), "verp.accept_days"),
    (document(verp={"future_skew_seconds": -1}), "verp.future_skew_seconds"),
    (document(verp={"search_headers": ["subject"]}), "verp.search_headers"),
    (document(verp={"search_headers": []}), "verp.search_headers"),
    (document(verp={"search_headers": ["to", "To"]}), "verp.search_headers"),
    (document(verp={"search_headers": "to"}), "verp.search_headers"),
    (document(verp={"secret": "x"}), "verp.secret"),
    (document(key={"id": "ab"}), "verp.keys[0].id"),
    (document(key={"id": "A"}), "verp.keys[0].id"),
    (document(key={"id": None}), "verp.keys[0].id"),
    (document(key={"secret_env": None, "secret": "short"}), "verp.keys[0].secret"),
    (document(key={"secret": VERP_KEY}), "verp.keys[0].secret_env"),
    (document(key={"secret_env": None}), "verp.keys[0].secret"),
    (document(key={"secret_env": "UNSET"}), "verp.keys[0].secret_env"),
    (document(key={"secret_env": None, "secret_file": "none.key"}), "verp.keys[0].secret_file"),
    (document(extra='[[verp.keys]]\nid = "a"\nsecret_env = "KEY"\n'), "verp.keys[1].id"),
    (document(extra=f"[verp.bouncehandler]\n{_render({**BH, 'algorithm': 'nope'})}"),
     "verp.bouncehandler.algorithm"),
    (document(extra=f"[verp.bouncehandler]\n{_render({**BH, 'prefix': 'a-b'})}"),
     "verp.bouncehandler.prefix"),
    (document(extra=f"[verp.bouncehandler]\n{_render({**BH, 'accept_seconds': 1})}"),
     "verp.bouncehandler.accept_seconds"),
    (document(extra=f"[verp.bouncehandler]\n{_render({**BH, 'domain': 'a b'})}"),
     "verp.bouncehandler.domain"),
    (document(extra=f"[verp.bouncehandler]\n{_render({**BH, 'secret_env': None})}"),
     "verp.bouncehandler.secret"),
    (document(extra=f"[verp.bouncehandler]\n{_render({**BH, 'key': 'x'})}"),
     "verp.bouncehandler.key"),
    ('mailbox = "imap.example.org"\n', "mailbox"),
    ("verp = 3\n", "verp"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "key"), BAD, ids=[f"{i:02}-{k}" for i, (_, k) in enumerate(BAD)])
def test_bad_value_gives_one_line_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, ENV)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key}: "), message
    for secret in (IMAP_PASSWORD, VERP_KEY, BH_KEY, "hunter2"):
        assert secret not in message


def test_error_message_shape(tmp_path: Path) -> None:
    path = write(tmp_path, document(mailbox={"port": "abc"}))
    with pytest.raises(
        ConfigError, match=r'mailbox\[0\]\.port: expected an integer 1-65535, got "abc"$'
    ):
        load_settings(path, ENV)


def test_literal_password_is_refused_with_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="use password_env or password_file"):
        load(tmp_path, document(mailbox={"password": "hunter2"}))


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match='did you mean "password_env"'):
        load(tmp_path, document(mailbox={"pasword_env": "PW"}))


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML") as caught:
        load(tmp_path, "[mailbox\nname = 1\n")
    assert "\n" not in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.toml: not found \(copy config\.example"):
        load_settings(tmp_path / "absent.toml", ENV)


# --- accepted values ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "::1"])
def test_plaintext_is_allowed_on_loopback(tmp_path: Path, host: str) -> None:
    settings = load(tmp_path, document(mailbox={"security": "none", "host": host}))
    assert settings.mailboxes[0].security == "none"
    assert settings.mailboxes[0].port == 143


def test_plaintext_elsewhere_needs_allow_plaintext(tmp_path: Path) -> None:
    settings = load(tmp_path, document(mailbox={"security": "none", "allow_plaintext": True}))
    assert settings.mailboxes[0].allow_plaintext


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///reconciler.db",
        "sqlite:////var/lib/reconciler/state.db",
        "sqlite:///:memory:",
        "postgresql://reconciler@db.example.org/bounces",
        "postgresql:///bounces",
        "mysql://reconciler@127.0.0.1:3306/bounces",
    ],
)
def test_database_urls_accepted(tmp_path: Path, url: str) -> None:
    settings = load(tmp_path, document(extra=f'[database]\nurl = "{url}"\n'))
    relative = url.removeprefix("sqlite:///")
    if url.startswith("sqlite:///") and not relative.startswith(("/", ":memory:")):
        url = f"sqlite:///{tmp_path / relative}"  # beside the configuration file
    assert settings.database.url == url
    assert settings.warnings == ()


def test_relative_paths_start_at_the_configuration_file_not_the_working_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (tmp_path / "bin").mkdir()
    hook = tmp_path / "bin" / "on-suppress"
    hook.write_text("#!/bin/sh\n")
    hook.chmod(0o755)
    extra = (
        '[database]\nurl = "sqlite:///state/db.sqlite?timeout=5"\n'
        '[actions]\nenabled = ["suppress", "command"]\n'
        '[actions.command]\nargv = ["bin/on-suppress", "--quiet"]\n'
    )
    settings = load(tmp_path, document(extra=extra))
    assert settings.database.url == f"sqlite:///{tmp_path}/state/db.sqlite?timeout=5"
    assert settings.actions.command is not None
    assert settings.actions.command.argv == (str(hook), "--quiet")


def test_secret_file_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "imap.pass").write_text(IMAP_PASSWORD + "\n")
    (tmp_path / "imap.pass").chmod(0o600)
    (tmp_path / "rules.d").mkdir()
    text = document(mailbox={"password_env": None, "password_file": "imap.pass"})
    settings = load(
        tmp_path, text + '[rules]\ndir = "rules.d"\nuse_shipped = false\n', env={"KEY": VERP_KEY}
    )
    assert settings.mailboxes[0].password == IMAP_PASSWORD
    assert settings.mailboxes[0].password_file == tmp_path / "imap.pass"
    assert settings.rules.dir == tmp_path / "rules.d"
    assert not settings.rules.use_shipped


def test_world_readable_secret_file_warns(tmp_path: Path) -> None:
    (tmp_path / "verp.key").write_text(VERP_KEY)
    (tmp_path / "verp.key").chmod(0o644)
    text = document(key={"secret_env": None, "secret_file": "verp.key"})
    settings = load(tmp_path, text)
    assert settings.verp is not None
    assert settings.verp.keys[0].secret == VERP_KEY.encode()
    assert any("verp.keys[0].secret_file" in w and "world-readable" in w for w in settings.warnings)


@pytest.mark.parametrize(("mode", "warned"), [(0o644, True), (0o640, False), (0o600, False)])
def test_literal_secret_in_world_readable_file_warns(
    tmp_path: Path, mode: int, warned: bool
) -> None:
    text = document(key={"secret_env": None, "secret": VERP_KEY})
    settings = load_settings(write(tmp_path, text, mode), ENV)
    assert any("world-readable" in w for w in settings.warnings) is warned
    assert all(VERP_KEY not in w for w in settings.warnings)


def test_bouncehandler_default_and_short_keys_load_with_a_warning(tmp_path: Path) -> None:
    text = document(extra='[verp.bouncehandler]\nsecret = "MediawikiVERP"\n')
    settings = load(tmp_path, text)
    assert settings.verp is not None
    bh = settings.verp.bouncehandler
    assert bh == BounceHandlerSettings(secret=b"MediawikiVERP", domain="")
    assert any("shipped default key" in w for w in settings.warnings)
    settings = load(tmp_path, document(extra='[verp.bouncehandler]\nsecret = "short"\n'))
    assert any("only 5 bytes" in w for w in settings.warnings)


def test_verp_is_optional_and_keys_optional_for_bouncehandler(tmp_path: Path) -> None:
    assert load(tmp_path, f"[[mailbox]]\n{_render(MAILBOX)}").verp is None
    verp = '[verp]\nformat = "bouncehandler"\ndomain = "example.org"\n'
    text = f"{verp}[verp.bouncehandler]\n{_render(BH)}"
    settings = load(tmp_path, text)
    assert settings.verp is not None
    assert settings.verp.keys == ()


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path, "")
    assert settings.mailboxes == ()
    assert settings.verp is None
    assert settings.database == DatabaseSettings(url=f"sqlite:///{tmp_path}/reconciler.db")


# --- secrets stay hidden -----------------------------------------------------------------------


def _full(tmp_path: Path) -> Settings:
    bh = f"[verp.bouncehandler]\n{_render({'secret': BH_KEY})}"
    db = f'[database]\nurl = "postgresql://rec:{DB_PASSWORD}@db.example.org:5432/bounces"\n'
    return load(tmp_path, document(extra=bh + db))


def test_secrets_never_in_repr_str_or_describe(tmp_path: Path) -> None:
    settings = _full(tmp_path)
    assert settings.mailboxes[0].password == IMAP_PASSWORD
    assert settings.verp is not None
    assert settings.verp.bouncehandler is not None
    assert settings.verp.bouncehandler.secret == BH_KEY.encode()
    shown = describe_settings(settings)
    texts = [repr(settings), str(settings), *(f"{k} = {v}" for k, v in shown)]
    for text in texts:
        for secret in (IMAP_PASSWORD, VERP_KEY, BH_KEY, DB_PASSWORD):
            assert secret not in text
    assert "postgresql://rec:***@db.example.org:5432/bounces" in repr(settings)


def test_describe_says_where_secrets_come_from(tmp_path: Path) -> None:
    shown = dict(describe_settings(_full(tmp_path)))
    assert shown["mailbox[0].password"] == "(hidden; from environment variable PW)"
    assert shown["verp.keys[0].secret"] == "(hidden; from environment variable KEY)"
    assert shown["verp.bouncehandler.secret"] == "(hidden; written in the configuration file)"
    assert shown["mailbox[0].port"] == "993"
    assert shown["database.url"] == "postgresql://rec:***@db.example.org:5432/bounces"
    assert shown["rules.dir"] == "(not set)"
    assert shown["mailbox[0].ca_file"] == "(not set)"
    assert "mailbox[0].password_env" not in shown
    assert not any(k == "warning" for k, _ in describe_settings(_full(tmp_path)))  # mode 0600


def test_database_password_in_world_readable_file_warns(tmp_path: Path) -> None:
    text = f'[database]\nurl = "mysql://rec:{DB_PASSWORD}@localhost/bounces"\n'
    settings = load_settings(write(tmp_path, text, 0o644), ENV)
    assert len(settings.warnings) == 1
    assert "database.url" in settings.warnings[0]
    assert "world-readable" in settings.warnings[0]
    assert DB_PASSWORD not in settings.warnings[0]
    shown = dict(describe_settings(settings))
    assert shown["warning"] == settings.warnings[0]


def test_mask_url_variants() -> None:
    assert config.mask_url("sqlite:///x.db") == "sqlite:///x.db"
    assert config.mask_url("mysql://u:p@[::1]:3306/db") == "mysql://u:***@[::1]:3306/db"


# --- where the file is -------------------------------------------------------------------------


def test_resolve_config_path_precedence(tmp_path: Path) -> None:
    env = {"RECONCILER_CONFIG": "/etc/reconciler/env.toml"}
    assert resolve_config_path("given.toml", env, tmp_path) == tmp_path / "given.toml"
    assert resolve_config_path(None, env, tmp_path) == Path("/etc/reconciler/env.toml")
    assert resolve_config_path(None, {}, tmp_path) == tmp_path / "reconciler.toml"
    assert resolve_config_path(None, {"RECONCILER_CONFIG": ""}, tmp_path) == tmp_path / (
        "reconciler.toml"
    )


def test_configuration_doc_examples_parse() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        tomllib.loads(block)


def test_public_surface() -> None:
    for name in config.__all__:
        assert hasattr(config, name), name
