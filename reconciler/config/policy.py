"""The `[policy]` and `[actions]` sections: thresholds, incidents, breaker, and the actions.

Apart from `config.sections` because these follow `reconciler.policy` and `reconciler.actions`.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.config.read import SecretRef, Table
from reconciler.config.smtp import build_smtp, is_address
from reconciler.settings import (
    ACTION_NAMES,
    PROBE_SUBJECT,
    PROBE_TEXT,
    ActionsSettings,
    BreakerSettings,
    CommandSettings,
    DayThreshold,
    IncidentSettings,
    MediaWikiSettings,
    PolicySettings,
    ProbeSettings,
    WebhookSettings,
)
from reconciler.settings import REALM_TEMPLATE as TEMPLATE

__all__ = ["build_actions", "build_policy", "build_probe"]

_PREFIX = r"[A-Za-z0-9_]{0,32}"  # compiled by `re` when a table prefix is given
_MANY = 1_000_000


def build_policy(t: Table) -> PolicySettings:
    """Validate `[policy]` with `[policy.hard]`, `.soft`, `.incident` and `.breaker`."""
    defaults = PolicySettings()
    policy = PolicySettings(
        hard=t.table("hard").guard(lambda h: _threshold(h, defaults.hard), defaults.hard),
        soft=t.table("soft").guard(lambda s: _threshold(s, defaults.soft), defaults.soft),
        complaint_window_days=t.integer("complaint_window_days", 30, 1, 3650),
        quiet_days=t.integer("quiet_days", 30, 0, 3650),
        incident=t.table("incident").guard(_incident, defaults.incident),
        breaker=t.table("breaker").guard(_breaker, defaults.breaker),
        probe=t.boolean("probe", False),
        probe_days=t.integer("probe_days", 3, 1, 30),
    )
    t.finish()
    return policy


def build_probe(t: Table, enabled: bool) -> ProbeSettings:
    """Validate `[probe]`: the SMTP server, the From address and the text of a probe.  The
    sender is required when `[policy] probe` is on."""
    smtp = build_smtp(t)
    sender = t.string("sender") if enabled else t.optional_string("sender") or ""
    if sender and not is_address(sender):
        raise t.fail("sender", f'expected an address like noreply@example.org, got "{sender}"')
    subject = t.string("subject", PROBE_SUBJECT)
    if any(ch in subject for ch in "\r\n"):
        raise t.fail("subject", "one line, please")
    settings = ProbeSettings(
        smtp=smtp, sender=sender, subject=subject, text=t.string("text", PROBE_TEXT)
    )
    t.finish()
    return settings


def _threshold(t: Table, default: DayThreshold) -> DayThreshold:
    days = t.integer("days", default.days, 1, 365)
    window = t.integer("window_days", default.window_days, 1, 3650)
    if days > window:
        raise t.fail("days", f"{days} different days cannot fit in a window of {window} days")
    t.finish()
    return DayThreshold(days, window)


def _incident(t: Table) -> IncidentSettings:
    settings = IncidentSettings(
        window_seconds=t.integer("window_seconds", 3600, 60, 7 * 86_400),
        min_users=t.integer("min_users", 5, 2, _MANY),
    )
    t.finish()
    return settings


def _breaker(t: Table) -> BreakerSettings:
    settings = BreakerSettings(
        window_seconds=t.integer("window_seconds", 3600, 60, 7 * 86_400),
        max_actions=t.integer("max_actions", 50, 1, _MANY),
        max_action_share=t.number("max_action_share", 0.25, 0.0, 1.0),
        max_sender_share=t.number("max_sender_share", 0.5, 0.0, 1.0),
        min_sample=t.integer("min_sample", 20, 1, _MANY),
    )
    t.finish()
    return settings


def build_actions(t: Table) -> ActionsSettings:
    """Validate `[actions]`: the enabled list and the table of every enabled action."""
    enabled = t.strings("enabled", ("suppress",))
    for name in enabled:
        if name not in ACTION_NAMES:
            wanted = " | ".join(f'"{n}"' for n in ACTION_NAMES)
            raise t.fail("enabled", f'unknown action "{name}"; expected {wanted}')
    if len(set(enabled)) != len(enabled):
        raise t.fail("enabled", "an action is listed twice")
    for name in enabled:
        if name != "suppress" and not t.has(name):
            raise t.fail("enabled", f'"{name}" is enabled but [actions.{name}] is missing')
    settings = ActionsSettings(
        enabled=enabled,
        webhook=t.table("webhook").guard(_webhook, None) if t.has("webhook") else None,
        command=t.table("command").guard(_command, None) if t.has("command") else None,
        mediawiki=t.table("mediawiki").guard(_mediawiki, None) if t.has("mediawiki") else None,
    )
    t.finish()
    return settings


def _webhook(t: Table) -> WebhookSettings:
    url = t.string("url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise t.fail("url", "expected an http:// or https:// URL with a host")
    if parts.password:
        raise t.fail("url", "no credentials in the URL: requests are signed with `secret`")
    if t.has("secret"):
        raise t.fail("secret", "not accepted inline; use secret_env or secret_file")
    secret = t.secret("secret", literal=False)
    if secret.resolved and len(secret.value) < 16:
        raise t.fail("secret", "at least 16 bytes (try: openssl rand -hex 32)")
    backoff = t.integer("backoff_seconds", 60, 1, 86_400)
    settings = WebhookSettings(
        url=url,
        secret=secret.value,
        timeout_seconds=t.number("timeout_seconds", 10.0, 0.0, 300.0),
        max_attempts=t.integer("max_attempts", 8, 1, 100),
        backoff_seconds=backoff,
        max_backoff_seconds=t.integer("max_backoff_seconds", 6 * 3600, backoff, 7 * 86_400),
        secret_env=secret.env,
        secret_file=secret.file,
    )
    t.finish()
    return settings


def _program(t: Table, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    argv = t.strings(key, default)
    if not argv:
        return argv
    program = _beside(t, argv[0])
    import shutil  # a program named by its name only: not on every start

    found = program if Path(program).is_absolute() else shutil.which(program)
    if found is None or not Path(found).is_file():
        raise t.fail(key, f'program "{program}" not found (give an absolute path or one on PATH)')
    return (program, *argv[1:])


def _beside(t: Table, program: str) -> str:
    """A program given as a relative path (with a "/") starts at the configuration file's
    directory, like every relative path of the file; a bare name is looked up on PATH."""
    if "/" in program and not Path(program).expanduser().is_absolute():
        return str(t.base_dir / program)
    return str(Path(program).expanduser()) if program.startswith("~") else program


def _command(t: Table) -> CommandSettings:
    argv = _program(t, "argv", ())
    if not argv:
        raise t.fail("argv", "expected a non-empty array: the program and its arguments")
    settings = CommandSettings(
        argv=argv,
        timeout_seconds=t.number("timeout_seconds", 30.0, 0.0, 3600.0),
        undo_argv=_program(t, "undo_argv", ()),
    )
    t.finish()
    return settings


def _mysql_url(t: Table, key: str, url: str, *, database: bool = True) -> str:
    """A MySQL/MariaDB URL with a user (and a database unless `database` is False)."""
    parts = urlsplit(url.replace(TEMPLATE, "realm"))
    if parts.scheme not in ("mysql", "mariadb") or not parts.hostname:
        raise t.fail(key, "expected mysql://user@host:3306/wikidb")
    try:
        parts.port  # noqa: B018 - the property parses the port and raises on nonsense
    except ValueError as err:
        raise t.fail(key, "the port is not a number 0-65535") from err
    if (database and not parts.path.strip("/")) or not parts.username:
        raise t.fail(key, "expected mysql://user@host:3306/wikidb: user and database needed")
    if parts.password is not None:
        raise t.fail(key, "no password in the URL: use password_env or password_file")
    if TEMPLATE in url and TEMPLATE not in parts.path.replace("realm", TEMPLATE):
        raise t.fail(key, f"{TEMPLATE} may stand in the database name only")
    return url


def _wikis(t: Table) -> tuple[tuple[str, str], ...]:
    """`[actions.mediawiki.wikis]`: realm = URL of its database (several hosts are normal)."""
    from reconciler.verp.realms import check_realm  # a farm's table only: not at every start

    wikis: list[tuple[str, str]] = []
    for name in t.names():
        try:
            realm = check_realm(name)
        except ValueError as err:
            raise t.fail(name, str(err)) from None
        url = _mysql_url(t, name, t.string(name))
        if TEMPLATE in url:
            raise t.fail(name, f"a wiki's own URL has no {TEMPLATE}")
        wikis.append((realm, url))
    t.finish()
    return tuple(wikis)


def _mediawiki_password(t: Table) -> tuple[str, SecretRef | None]:
    if not (t.has("password_env") or t.has("password_file") or t.has("password")):
        return "", None
    if t.has("password"):
        raise t.fail("password", "not accepted inline; use password_env or password_file")
    secret = t.secret("password", literal=False)
    return t.text_secret("password", secret), secret


def _mediawiki(t: Table) -> MediaWikiSettings:
    url = _mysql_url(t, "url", t.string("url")) if t.has("url") else ""
    wikis = _wikis(t.table("wikis")) if t.has("wikis") else ()
    if not url and not wikis:
        raise t.fail("url", "give url (one wiki, or a template with {realm}) or [wikis]")
    realm = t.optional_string("realm")
    if realm is not None and TEMPLATE in url:
        raise t.fail("realm", f"a url with {TEMPLATE} serves every realm: leave realm out")
    password, secret = _mediawiki_password(t)
    prefix = t.string("table_prefix", "_") if t.has("table_prefix") else ""
    if not re.fullmatch(_PREFIX, prefix):
        raise t.fail("table_prefix", "expected up to 32 of A-Z a-z 0-9 _")
    central = t.optional_string("centralauth_url")
    settings = MediaWikiSettings(
        url=url,
        password=password,
        table_prefix=prefix,
        realm=realm,
        timeout_seconds=t.number("timeout_seconds", 10.0, 0.0, 300.0),
        password_env=secret.env if secret else None,
        password_file=secret.file if secret else None,
        wikis=wikis,
        centralauth_url=_mysql_url(t, "centralauth_url", central) if central else None,
    )
    t.finish()
    return settings
