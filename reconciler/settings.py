"""The typed settings: frozen records built once from the configuration file (STYLE 2.9).

Each is a `@frozen_record` (reconciler/frozenrecord.py): a frozen, slotted dataclass to every
reader and to mypy, defined without compiling methods for each of the 22 classes (issue 16).
A leaf: it imports nothing of ours (but the leaves `frozenrecord` and `verpformat`), so that
every stage can take its settings without importing the loader.  `reconciler.config` reads
and validates the TOML file into these (and re-exports them: `reconciler.config.VerpSettings`
is the same class).  Secrets never appear in `repr()`.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from reconciler.frozenrecord import field, frozen_record
from reconciler.verpformat import VerpFormat  # its own leaf (the pure stages' records use it)

__all__ = [
    "ACTION_NAMES",
    "PROBE_SUBJECT",
    "PROBE_TEXT",
    "REALM_TEMPLATE",
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
    "Settings",
    "SmtpSettings",
    "VerpFormat",
    "VerpKey",
    "VerpSettings",
    "WebhookSettings",
    "is_loopback",
    "mask_url",
]


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback IP literals (where plaintext may be allowed)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def mask_url(url: str) -> str:
    """The URL with any password replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


class Auth(StrEnum):
    """How a mailbox logs in: LOGIN with a password, or SASL with an OAuth2 access token."""

    PASSWORD = "password"
    XOAUTH2 = "xoauth2"  # Google's and Microsoft's mechanism
    OAUTHBEARER = "oauthbearer"  # RFC 7628 (Gmail has it; Microsoft 365 does not)


class OAuthGrant(StrEnum):
    """How the token endpoint is asked for an access token (RFC 6749)."""

    REFRESH_TOKEN = "refresh_token"  # section 6: a user's consent, given once
    CLIENT_CREDENTIALS = "client_credentials"  # section 4.4: the application's own access


@frozen_record
class OAuthSettings:
    """Where an OAuth2 mailbox gets its access tokens: `token_command`, or `token_url`.

    Written as keys of the `[[mailbox]]` table itself (check-config shows them there too).
    """

    token_command: tuple[str, ...] = ()  # a program that prints a current access token
    token_url: str = ""  # the token endpoint (with client_id and the grant's secrets)
    grant: OAuthGrant = OAuthGrant.REFRESH_TOKEN
    client_id: str = ""
    scope: str = ""  # sent when set: space-separated scopes
    client_secret: str = field(repr=False, default="")  # from client_secret_env / _file
    refresh_token: str = field(repr=False, default="")  # from refresh_token_env / _file
    client_secret_env: str | None = None
    client_secret_file: Path | None = None
    refresh_token_env: str | None = None
    refresh_token_file: Path | None = None


@frozen_record
class MailboxSettings:
    """One `[[mailbox]]` table: an IMAP folder to drain and where to move what was read."""

    name: str
    host: str
    username: str
    password: str = field(repr=False)  # resolved from password_env / password_file
    port: int = 993
    security: str = "tls"  # "tls" | "starttls" | "none"
    tls_verify: bool = True
    ca_file: Path | None = None
    allow_plaintext: bool = False
    folder: str = "INBOX"
    processed_folder: str = "processed"
    unmatched_folder: str = "unmatched"
    quarantine_folder: str = "quarantine"
    batch_size: int = 500
    max_message_bytes: int = 10 * 1024 * 1024  # larger messages: only the head is fetched
    fetch_bytes: int = 16 * 1024 * 1024  # message bytes per FETCH (and batch), >= one message
    timeout_seconds: float = 60.0
    password_env: str | None = None  # where `password` came from (one of the two is set)
    password_file: Path | None = None
    auth: Auth = Auth.PASSWORD
    # OAuth2 mailboxes only (their `password` is empty)
    oauth: OAuthSettings | None = field(default=None, metadata={"inline": True})


@frozen_record
class DatabaseSettings:
    """`[database]`: sqlite:///path, postgresql://..., or mysql://... (checked at load)."""

    url: str = "sqlite:///reconciler.db"
    retention_days: int = 400  # bounce events older than this are pruned; fingerprints stay

    def __repr__(self) -> str:  # the URL may carry a password: never show it
        return f"DatabaseSettings(url={mask_url(self.url)!r}, retention_days={self.retention_days})"


@frozen_record
class RulesSettings:
    """Operator rule files (`dir`) come first; the shipped rules follow unless disabled."""

    dir: Path | None = None
    use_shipped: bool = True


@frozen_record
class VerpKey:
    """One `[[verp.keys]]` entry.  `id` is one character [a-z0-9]; it is written in the token."""

    id: str
    secret: bytes = field(repr=False)
    secret_env: str | None = None  # where `secret` came from (neither: inline in the file)
    secret_file: Path | None = None


@frozen_record
class BounceHandlerSettings:
    """MediaWiki BounceHandler-compatible VERP (`[verp.bouncehandler]`)."""

    secret: bytes = field(repr=False)
    prefix: str = "wiki"
    algorithm: str = "md5"
    domain: str = ""
    accept_seconds: int = 3 * 24 * 3600
    secret_env: str | None = None
    secret_file: Path | None = None


@frozen_record
class VerpSettings:
    domain: str
    keys: tuple[VerpKey, ...]  # the first one signs
    format: VerpFormat = VerpFormat.NATIVE  # which format `verp make` writes
    prefix: str = "bounces"
    separator: str = "+"
    accept_days: int = 14
    future_skew_seconds: int = 300
    search_headers: tuple[str, ...] = (
        "delivered-to",
        "x-original-to",
        "envelope-to",
        "x-envelope-to",
        "to",
        "cc",
        "original:return-path",
        "original:sender",
    )
    bouncehandler: BounceHandlerSettings | None = None
    # the realms this deployment knows (`realms` and the lines of `realms_file`, lower case):
    # a native token carries a short reference of a listed realm instead of its name
    realms: tuple[str, ...] = ()
    realms_file: Path | None = None


@frozen_record
class DaemonSettings:
    interval_seconds: int = 300
    idle: bool = False
    misfire_grace_seconds: int = 60
    max_attempts: int = 3  # a message whose analysis fails this often is quarantined
    worker_id: str | None = None  # this worker's lease holder id; None: "host:pid"
    lease_seconds: int = 120  # a mailbox lease not renewed for this long passes to another worker
    analysis_processes: int = 0  # helper processes that analyse batches (0: in the poller)


@frozen_record
class LoggingSettings:
    """`[logging]`: level, text or JSON lines, and whether addresses may be logged at INFO."""

    level: str = "info"  # "debug" | "info" | "warning" | "error" | "critical"
    format: str = "text"  # "text" | "json"
    log_addresses: bool = False


ACTION_NAMES = ("suppress", "webhook", "command", "mediawiki")
REALM_TEMPLATE = "{realm}"  # in `[actions.mediawiki] url`: the realm's database name


@frozen_record
class WebhookSettings:
    """`[actions.webhook]`: POST signed JSON events from the outbox, with retries."""

    url: str
    secret: bytes = field(repr=False)  # HMAC-SHA256 key, from secret_env / secret_file
    timeout_seconds: float = 10.0
    max_attempts: int = 8  # then the item is given up (kept in the outbox; can be retried)
    backoff_seconds: int = 60  # delay before the first retry; doubles with every attempt
    max_backoff_seconds: int = 6 * 3600
    secret_env: str | None = None
    secret_file: Path | None = None


@frozen_record
class CommandSettings:
    """`[actions.command]`: a program run with the decision as JSON on stdin (no shell)."""

    argv: tuple[str, ...]
    timeout_seconds: float = 30.0
    undo_argv: tuple[str, ...] = ()  # run on reinstate/undo with the same JSON; () = no undo


@frozen_record
class MediaWikiSettings:
    """`[actions.mediawiki]`: un-confirm the address in a MediaWiki `user` table, or of the
    global account (CentralAuth) that a user's local account is attached to.

    Which database serves a realm: its entry in `wikis`, else `url` (with ``{realm}`` in it: a
    template for every realm; without: one wiki, for `realm` or every realm); else none.
    """

    url: str = ""  # mysql://user@host:3306/wikidb or .../{realm} (no password in the URL)
    password: str = field(repr=False, default="")  # from password_env / password_file, or none
    table_prefix: str = ""  # $wgDBprefix
    realm: str | None = None  # a `url` without {realm}: only this realm (None: every realm)
    timeout_seconds: float = 10.0
    password_env: str | None = None
    password_file: Path | None = None
    wikis: tuple[tuple[str, str], ...] = ()  # (realm, URL) of `[actions.mediawiki.wikis]`
    centralauth_url: str | None = None  # the CentralAuth database (globaluser, localuser)


@frozen_record
class ActionsSettings:
    """`[actions]`: which actions carry out a decision (in this order), and their tables."""

    enabled: tuple[str, ...] = ("suppress",)
    webhook: WebhookSettings | None = None
    command: CommandSettings | None = None
    mediawiki: MediaWikiSettings | None = None


@frozen_record
class MetricsSettings:
    """`[metrics]`: an optional Prometheus endpoint (needs the `metrics` extra)."""

    enabled: bool = False
    address: str = "127.0.0.1"
    port: int = 9187


@frozen_record
class DigestSettings:
    """`[digest]`: an optional summary mail to operators (unmatched, quarantined, incidents)."""

    enabled: bool = False
    smtp_host: str = "localhost"
    smtp_port: int = 587
    starttls: bool = True
    username: str | None = None  # None: no SMTP AUTH
    password: str = field(repr=False, default="")  # from password_env / password_file
    sender: str = ""  # required when enabled
    recipients: tuple[str, ...] = ()  # required when enabled
    interval_hours: int = 24
    max_examples: int = 10
    show_addresses: bool = False  # full recipient addresses in the examples (else ***@domain)
    timeout_seconds: float = 30.0
    password_env: str | None = None
    password_file: Path | None = None


@frozen_record
class SmtpSettings:
    """An SMTP submission server, with the keys the digest names the same way (`[probe]`)."""

    smtp_host: str = "localhost"
    smtp_port: int = 587
    starttls: bool = True  # STARTTLS before anything else
    tls: bool = False  # implicit TLS from the start (SMTPS, port 465); excludes starttls
    username: str | None = None  # None: no SMTP AUTH
    password: str = field(repr=False, default="")  # from password_env / password_file
    timeout_seconds: float = 30.0
    ca_file: Path | None = None  # the certificates to trust (default: the system's)
    password_env: str | None = None
    password_file: Path | None = None


PROBE_SUBJECT = "Checking your e-mail address"
PROBE_TEXT = (
    "Hello,\n\n"
    "mail to this address has come back undelivered lately, so we are checking that it still\n"
    "works. There is nothing to do: if you can read this, all is well.\n"
)


@frozen_record
class ProbeSettings:
    """`[probe]`: how a probe is sent when `[policy] probe` is on (see `reconciler.policy`)."""

    smtp: SmtpSettings = field(default_factory=SmtpSettings, metadata={"inline": True})
    sender: str = ""  # the From address; required when probes are on
    subject: str = PROBE_SUBJECT
    text: str = PROBE_TEXT


# --- policy (STYLE 2.6, 2.7): the thresholds the pure decision core reads ---------------------


@frozen_record
class DayThreshold:
    """Act when bounces fall on at least `days` different UTC days within `window_days`."""

    days: int
    window_days: int


@frozen_record
class IncidentSettings:
    """A domain (or remote MTA) incident: one reason for `min_users` distinct users in a window."""

    window_seconds: int = 3600
    min_users: int = 5


@frozen_record
class BreakerSettings:
    """The circuit breaker's limits over a sliding window (shares are fractions 0..1)."""

    window_seconds: int = 3600
    max_actions: int = 50  # trips when the actions in the window exceed this
    max_action_share: float = 0.25  # ... or exceed this share of the users seen
    max_sender_share: float = 0.5  # ... or sender-side bounces exceed this share of bounces
    min_sample: int = 20  # shares are judged only on at least this many users / bounces


@frozen_record
class PolicySettings:
    """Every threshold of the policy; built by the config loader (validation happens there)."""

    hard: DayThreshold = field(default_factory=lambda: DayThreshold(3, 14))
    soft: DayThreshold = field(default_factory=lambda: DayThreshold(10, 30))
    complaint_window_days: int = 30  # a complaint older than this no longer acts
    quiet_days: int = 30  # this long without a counted bounce resets the count
    incident: IncidentSettings = field(default_factory=IncidentSettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    probe: bool = False  # in enforce mode, a decision waits for a probe mail's verdict
    probe_days: int = 3  # how long a bounce of the probe is waited for


@frozen_record
class Settings:
    mailboxes: tuple[MailboxSettings, ...] = ()
    database: DatabaseSettings = DatabaseSettings()
    verp: VerpSettings | None = None
    rules: RulesSettings = RulesSettings()
    daemon: DaemonSettings = DaemonSettings()
    source_path: Path | None = None  # the file the settings came from
    logging: LoggingSettings = LoggingSettings()
    warnings: tuple[str, ...] = ()  # one line each: things that load but deserve attention
    policy: PolicySettings = field(default_factory=PolicySettings)
    actions: ActionsSettings = ActionsSettings()
    metrics: MetricsSettings = MetricsSettings()
    digest: DigestSettings = DigestSettings()
    probe: ProbeSettings = field(default_factory=ProbeSettings)
