"""TOML configuration → the typed, validated, frozen `Settings` of `reconciler.settings`.

`load_settings` reads the file once, validates every key (unknown keys and bad values raise
`ConfigError` with one line naming the key) and resolves secrets from the environment or from
files.  Secrets never appear in `repr()` or in `describe_settings()`.  Each section has its
builder: `sections` (the file, mailboxes, database, rules, daemon, logging), `auth` (how a
mailbox logs in), `verp`, `policy` (with the actions) and `monitor` (metrics, digest), all on
the key-tracking reader of `read`.  The settings dataclasses are re-exported here: they are
the contract other modules build on, and `reconciler.config.VerpSettings` stays a public name.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from reconciler.config.sections import ALL_SECRETS, Secrets, build_settings
from reconciler.settings import (
    ACTION_NAMES,
    ActionsSettings,
    Auth,
    BounceHandlerSettings,
    BreakerSettings,
    CommandSettings,
    DaemonSettings,
    DatabaseSettings,
    DayThreshold,
    DigestSettings,
    IncidentSettings,
    LoggingSettings,
    MailboxSettings,
    MediaWikiSettings,
    MetricsSettings,
    OAuthGrant,
    OAuthSettings,
    PolicySettings,
    ProbeSettings,
    RulesSettings,
    Settings,
    SmtpSettings,
    VerpFormat,
    VerpKey,
    VerpSettings,
    WebhookSettings,
    is_loopback,
    mask_url,
)
from reconciler.tomlfile import CONFIG_ENV, DEFAULT_CONFIG_NAME, chosen_config, read_config_file

__all__ = [
    "ACTION_NAMES",
    "ALL_SECRETS",
    "CONFIG_ENV",
    "DEFAULT_CONFIG_NAME",
    "ActionsSettings",
    "Auth",
    "BounceHandlerSettings",
    "BreakerSettings",
    "CommandSettings",
    "DaemonSettings",
    "DatabaseSettings",
    "DayThreshold",
    "DigestSettings",
    "IncidentSettings",
    "LoggingSettings",
    "MailboxSettings",
    "MediaWikiSettings",
    "MetricsSettings",
    "OAuthGrant",
    "OAuthSettings",
    "PolicySettings",
    "ProbeSettings",
    "RulesSettings",
    "Secrets",
    "Settings",
    "SmtpSettings",
    "VerpFormat",
    "VerpKey",
    "VerpSettings",
    "WebhookSettings",
    "describe_settings",
    "is_loopback",
    "load_settings",
    "mask_url",
    "resolve_config_path",
    "summarise_settings",
]


def resolve_config_path(cli_path: str | None, env: Mapping[str, str], cwd: Path) -> Path:
    """`--config`, else `$RECONCILER_CONFIG`, else `./reconciler.toml` (relative to `cwd`)."""
    return cwd / chosen_config(cli_path, env)


def load_settings(
    path: Path, env: Mapping[str, str], secrets: Collection[Secrets] = ALL_SECRETS
) -> Settings:
    """Read and validate the whole file; raise one `ConfigError` with a line per problem.

    Only the groups of `secrets` named are read from their variables or files (a command
    loads the secrets it uses); the keys of the others are still checked.
    """
    data = read_config_file(path)
    return build_settings(data, path, env, secrets)


def describe_settings(settings: Settings) -> list[tuple[str, str]]:
    """(key, value) lines of the effective settings for `check-config`; secrets are masked."""
    lines: list[tuple[str, str]] = []
    if settings.source_path is not None:
        lines.append(("file", str(settings.source_path)))
    for index, mailbox in enumerate(settings.mailboxes):
        _describe(f"mailbox[{index}]", mailbox, lines)
    lines.append(("database.url", mask_url(settings.database.url)))
    _describe("rules", settings.rules, lines)
    _describe("daemon", settings.daemon, lines)
    _describe("logging", settings.logging, lines)
    _describe("policy", settings.policy, lines)
    _describe("actions", settings.actions, lines)
    _describe("metrics", settings.metrics, lines)
    _describe("digest", settings.digest, lines)
    if settings.policy.probe:
        _describe("probe", settings.probe, lines)
    if settings.verp is None:
        lines.append(("verp", "(not configured)"))
    else:
        _describe("verp", settings.verp, lines)
    lines.extend(("warning", text) for text in settings.warnings)
    return lines


def summarise_settings(settings: Settings) -> list[str]:
    """A few lines for `check-config`: what will run, where, with which secrets (hidden)."""
    lines = [f"file: {settings.source_path}"]
    for m in settings.mailboxes:
        plain = " (plaintext)" if m.security == "none" else f" ({m.security})"
        login = (
            f"password from {_secret_source(m.password_env, m.password_file)}"
            if m.auth.value == "password"
            else f"OAuth2 ({m.auth.value})"
        )
        lines.append(f"mailbox {m.name}: {m.username}@{m.host}:{m.port}{plain} {m.folder}; "
                     f"{login}")  # fmt: skip
    if not settings.mailboxes:
        lines.append("mailbox: none (classify, explain and verp work; poll has nothing to read)")
    lines.append(f"database: {mask_url(settings.database.url)}")
    rules = settings.rules
    shipped = "shipped rules" if rules.use_shipped else "no shipped rules"
    lines.append(f"rules: {rules.dir}, then {shipped}" if rules.dir else f"rules: {shipped}")
    lines.append(f"verp: {_verp_summary(settings)}")
    hard, soft = settings.policy.hard, settings.policy.soft
    lines.append(f"policy: act on hard bounces on {hard.days} days within {hard.window_days}, "
                 f"soft on {soft.days} days within {soft.window_days}")  # fmt: skip
    enabled = ", ".join(settings.actions.enabled) or "none"
    lines.append(f"actions: {enabled} (carried out in enforce mode only: `reconciler mode`)")
    extras = [f"every {settings.daemon.interval_seconds} s",
              "metrics " + ("on" if settings.metrics.enabled else "off"),
              "digest " + ("on" if settings.digest.enabled else "off")]  # fmt: skip
    lines.append(f"daemon: {', '.join(extras)}")
    lines.extend(f"warning: {text}" for text in settings.warnings)
    lines.append("(check-config --all prints every key)")
    return lines


def _secret_source(env: str | None, file: Path | None) -> str:
    return f"${env}" if env else f"file {file}" if file else "nowhere"


def _verp_summary(settings: Settings) -> str:
    verp = settings.verp
    if verp is None:
        return "not configured: no token is checked, every bounce is unmatched"
    keys = ", ".join(k.id for k in verp.keys) or "none"
    bh = "on" if verp.bouncehandler is not None else "off"
    return (f"{verp.prefix}{verp.separator}TOKEN@{verp.domain}; keys {keys} (the first "
            f"signs); BounceHandler addresses {bh}")  # fmt: skip


def _describe(prefix: str, record: Any, lines: list[tuple[str, str]]) -> None:
    """Every field; a secret (a field hidden from repr) is shown as where it came from, and
    its `<name>_env` / `<name>_file` fields are not listed apart.  A field marked `inline`
    (written as keys of the same TOML table) is listed under the record's own prefix."""
    import dataclasses  # check-config only: not imported by every command that loads settings

    fields = dataclasses.fields(record)
    secrets = {item.name for item in fields if not item.repr}
    sources = {f"{name}_{kind}" for name in secrets for kind in ("env", "file")}
    for item in fields:
        value = getattr(record, item.name)
        key = f"{prefix}.{item.name}"
        if item.name in secrets:
            lines.append((key, _describe_secret(record, item.name)))
        elif item.metadata.get("inline"):
            if value is not None:
                _describe(prefix, value, lines)
        elif dataclasses.is_dataclass(value):
            _describe(key, value, lines)
        elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            for index, element in enumerate(value):
                _describe(f"{key}[{index}]", element, lines)
        elif isinstance(value, tuple) and value and isinstance(value[0], tuple):
            lines.extend(
                (f"{key}.{name}", _plain(url)) for name, url in value
            )  # a key → value table
        elif item.name not in sources:  # shown with the secret they hold
            shown = _listed(value) if isinstance(value, tuple) else _plain(value)
            lines.append((key, shown))


def _describe_secret(record: object, name: str) -> str:
    env = getattr(record, f"{name}_env", None)
    file = getattr(record, f"{name}_file", None)
    if env:
        return f"(hidden; from environment variable {env})"
    if file:
        return f"(hidden; from file {file})"
    if not getattr(record, name):
        return "(none)"
    return "(hidden; written in the configuration file)"


def _listed(values: tuple[str, ...], most: int = 10) -> str:
    """A list on one line; a long one (e.g. the realms of a farm) shortened, with its size."""
    if len(values) <= most:
        return ", ".join(values) or "(none)"
    return f"{', '.join(values[:most])}, ... ({len(values)} in all)"


def _plain(value: object) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
