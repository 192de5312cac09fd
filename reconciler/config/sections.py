"""One builder per configuration section: TOML tables → the frozen dataclasses of `settings`.

This module holds the rules each key is checked against; `config` reads the file and
`settings` holds what is built.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler.config.auth import build_credentials
from reconciler.config.monitor import build_digest, build_metrics
from reconciler.config.policy import build_actions, build_policy, build_probe
from reconciler.config.read import Context, Table, field_default, world_readable
from reconciler.errors import ConfigError
from reconciler.settings import (
    ActionsSettings,
    DaemonSettings,
    DatabaseSettings,
    DigestSettings,
    LoggingSettings,
    MailboxSettings,
    MetricsSettings,
    PolicySettings,
    ProbeSettings,
    RulesSettings,
    Settings,
    VerpSettings,
    is_loopback,
)

__all__ = ["Secrets", "build_settings", "default_analysis_processes"]


class Secrets(StrEnum):
    """The groups of secrets a command may need; the others are not read (only their keys
    are checked), so that `classify` needs no IMAP password and `report` no VERP key."""

    MAILBOX = "mailbox"  # IMAP passwords, OAuth2 client secrets and refresh tokens
    VERP = "verp"  # VERP signing keys, the BounceHandler secret
    ACTIONS = "actions"  # webhook secret, MediaWiki database password, the probe's SMTP password
    DIGEST = "digest"  # SMTP password of the digest


ALL_SECRETS: frozenset[Secrets] = frozenset(Secrets)

# patterns compiled by `re` (and kept in its cache) when a key uses them, not at every start
_NAME = r"[A-Za-z0-9_.-]{1,64}"
_DB_SCHEMES = ("sqlite", "postgresql", "mysql")
_WORKER = r"[A-Za-z0-9_.:@-]{1,200}"
_LEVELS = ("debug", "info", "warning", "error", "critical")


def build_settings(
    data: Mapping[str, Any],
    path: Path,
    env: Mapping[str, str],
    secrets: Collection[Secrets] = ALL_SECRETS,
) -> Settings:
    """Validate every section of a parsed TOML document and build `Settings`.

    Every problem is collected and raised at the end in one `ConfigError` (one line each).
    Only the `secrets` named are read from their variable or file; the others stay empty.
    """
    ctx = Context(file=str(path), env=env, base_dir=path.parent)
    root = Table(data, "", ctx)
    ctx.resolve = Secrets.MAILBOX in secrets
    built = (t.guard(_mailbox, None) for t in root.tables("mailbox"))
    mailboxes = tuple(m for m in built if m is not None)
    _check_unique_names(root, mailboxes)
    database = root.table("database").guard(_database, DatabaseSettings())
    rules = root.table("rules").guard(_rules, RulesSettings())
    daemon = root.table("daemon").guard(_daemon, DaemonSettings())
    logging = root.table("logging").guard(_logging, LoggingSettings())
    ctx.resolve = Secrets.VERP in secrets
    verp_settings = root.table("verp").guard(_verp, None) if root.has("verp") else None
    policy = root.table("policy").guard(build_policy, PolicySettings())
    ctx.resolve = Secrets.ACTIONS in secrets
    actions = root.table("actions").guard(build_actions, ActionsSettings())
    metrics = root.table("metrics").guard(build_metrics, MetricsSettings())
    ctx.resolve = Secrets.DIGEST in secrets
    digest = root.table("digest").guard(build_digest, DigestSettings())
    ctx.resolve = Secrets.ACTIONS in secrets  # a probe is sent by the decide stage, as actions
    probe = root.table("probe").guard(lambda t: build_probe(t, policy.probe), ProbeSettings())
    if policy.probe:
        _check_probes(root, verp_settings, policy.probe_days)
    root.finish()
    if ctx.problems:
        raise ConfigError(*ctx.problems)
    if ctx.literal_secrets and world_readable(path):
        keys = ", ".join(ctx.literal_secrets)
        ctx.warnings.append(
            f"{path}: the file holds a secret ({keys}) and is world-readable; "
            f"chmod o-r it or move the secret to *_env / *_file"
        )
    return Settings(
        mailboxes=mailboxes,
        database=database,
        verp=verp_settings,
        rules=rules,
        daemon=daemon,
        source_path=path,
        logging=logging,
        warnings=tuple(ctx.warnings),
        policy=policy,
        actions=actions,
        metrics=metrics,
        digest=digest,
        probe=probe,
    )


def _verp(t: Table) -> VerpSettings:
    """`[verp]`: its rules (and `reconciler.verp`, whose alphabets and limits they follow) are
    imported by a file that has the section, not by every start."""
    from reconciler.config.verp import build_verp

    return build_verp(t)


def _check_probes(root: Table, verp: VerpSettings | None, days: int) -> None:
    """Probes need native VERP keys (their token carries a send reference and binds the
    address), and their bounce must come while the token is still accepted."""
    if verp is None or not verp.keys:
        root.note("policy.probe", "needs [verp] with [[verp.keys]] to sign the probes")
    elif days > verp.accept_days:
        root.note(
            "policy.probe_days",
            f"{days} is longer than verp.accept_days ({verp.accept_days}): the probe's bounce "
            "would come back with an expired token",
        )


def _check_unique_names(root: Table, mailboxes: tuple[MailboxSettings, ...]) -> None:
    seen: set[str] = set()
    for index, mailbox in enumerate(mailboxes):
        if mailbox.name in seen:
            root.note(f"mailbox[{index}].name", f'duplicate mailbox name "{mailbox.name}"')
        seen.add(mailbox.name)


def _security(t: Table, host: str) -> tuple[str, bool]:
    security = t.string("security", "tls", choices=("tls", "starttls", "none"))
    allow_plaintext = t.boolean("allow_plaintext", False)
    if security == "none" and not (allow_plaintext or is_loopback(host)):
        raise t.fail(
            "security",
            f'"none" sends the password in clear to {host}; use "tls" or '
            f'"starttls", or set allow_plaintext = true',
        )
    return security, allow_plaintext


def _folders(t: Table) -> dict[str, str]:
    folders = {"folder": t.string("folder", "INBOX")}
    for key in ("processed_folder", "unmatched_folder", "quarantine_folder"):
        folders[key] = t.string(key, key.removesuffix("_folder"))
        if folders[key] == folders["folder"]:
            raise t.fail(key, f'must differ from folder ("{folders["folder"]}")')
    return folders


def _mailbox(t: Table) -> MailboxSettings:
    name, host = t.string("name"), t.string("host")
    if not re.fullmatch(_NAME, name):
        raise t.fail("name", f'expected 1-64 of A-Z a-z 0-9 _ . -, got "{name}"')
    security, allow_plaintext = _security(t, host)
    login = build_credentials(t)
    mailbox = MailboxSettings(
        name=name,
        host=host,
        username=t.string("username"),
        password=login.password,
        port=t.integer("port", 993 if security == "tls" else 143, 1, 65535),
        security=security,
        tls_verify=t.boolean("tls_verify", True),
        ca_file=t.optional_path("ca_file"),
        allow_plaintext=allow_plaintext,
        **_folders(t),
        batch_size=t.integer("batch_size", 500, 1, 10_000),
        max_message_bytes=t.integer("max_message_bytes", 10 * 1024 * 1024, 1024, 1 << 31),
        fetch_bytes=t.integer("fetch_bytes", 16 * 1024 * 1024, 1 << 20, 1 << 31),
        timeout_seconds=t.number("timeout_seconds", 60.0, 0.0, 3600.0),
        password_env=login.password_env,
        password_file=login.password_file,
        auth=login.auth,
        oauth=login.oauth,
    )
    if not mailbox.tls_verify and security != "none":
        t.warn("tls_verify", "certificate checks are off: anyone on the path can read the password")
    t.finish()
    return mailbox


def _database(t: Table) -> DatabaseSettings:
    url = t.string("url", field_default(DatabaseSettings, "url"))
    parts = urlsplit(url)
    if parts.scheme not in _DB_SCHEMES:
        wanted = ", ".join(f"{s}://" for s in _DB_SCHEMES)
        raise t.fail(
            "url", f'expected a URL starting with {wanted}; got scheme "{parts.scheme or "(none)"}"'
        )
    try:
        parts.port  # noqa: B018 - the property parses the port and raises on nonsense
    except ValueError as err:
        raise t.fail("url", "the port is not a number 0-65535") from err
    if parts.scheme == "sqlite":
        if parts.netloc or not parts.path.removeprefix("/"):
            raise t.fail(
                "url",
                "expected sqlite:///relative.db, sqlite:////absolute.db or sqlite:///:memory:",
            )
        url = _sqlite_beside(url, t.base_dir)
    elif not parts.path.strip("/"):
        raise t.fail("url", f"expected {parts.scheme}://user@host/database: no database name")
    if parts.password:
        t.literal_secret("url")
    retention = t.integer(
        "retention_days", field_default(DatabaseSettings, "retention_days"), 1, 36_500
    )
    t.finish()
    return DatabaseSettings(url=url, retention_days=retention)


def _sqlite_beside(url: str, base_dir: Path) -> str:
    """A relative SQLite path made absolute against the configuration file's directory (as
    every relative path of the file), not the directory the command was started in."""
    parts = urlsplit(url)
    relative = parts.path.removeprefix("/")
    if relative == ":memory:" or relative.startswith("/"):
        return url
    query = f"?{parts.query}" if parts.query else ""
    return f"sqlite:///{(base_dir / relative).absolute()}{query}"


def _rules(t: Table) -> RulesSettings:
    rules = RulesSettings(
        dir=t.optional_path("dir", directory=True), use_shipped=t.boolean("use_shipped", True)
    )
    if rules.dir is None and not rules.use_shipped:
        raise t.fail("use_shipped", "false leaves no rules at all: set rules.dir too")
    t.finish()
    return rules


def _daemon(t: Table) -> DaemonSettings:
    daemon = DaemonSettings(
        interval_seconds=t.integer("interval_seconds", 300, 10, 86_400),
        idle=t.boolean("idle", False),
        misfire_grace_seconds=t.integer("misfire_grace_seconds", 60, 1, 86_400),
        max_attempts=t.integer("max_attempts", 3, 1, 100),
        worker_id=_worker_id(t),
        lease_seconds=t.integer("lease_seconds", 120, 2, 3_600),
        analysis_processes=t.integer(
            "analysis_processes", default_analysis_processes(_cores()), 0, 32
        ),
    )
    t.finish()
    return daemon


def default_analysis_processes(cores: int) -> int:
    """`[daemon] analysis_processes` when the file leaves it out: one helper process when
    this process may run on more than one core (it analyses a batch while the poller
    fetches, records and moves), none on one core (a helper would only take turns)."""
    return 1 if cores > 1 else 0


def _cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no sched_getaffinity (macOS): every core of the machine
        return os.cpu_count() or 1


def _worker_id(t: Table) -> str | None:
    """An explicit lease holder id: unique per process among the workers of one database."""
    worker = t.optional_string("worker_id")
    if worker is not None and not re.fullmatch(_WORKER, worker):
        raise t.fail("worker_id", "1-200 characters of A-Z a-z 0-9 _ . : @ -")
    return worker


def _logging(t: Table) -> LoggingSettings:
    settings = LoggingSettings(
        level=t.string("level", "info", choices=_LEVELS),
        format=t.string("format", "text", choices=("text", "json")),
        log_addresses=t.boolean("log_addresses", False),
    )
    t.finish()
    return settings
