"""TOML configuration → typed, validated, frozen Settings (STYLE 2.9).

SKELETON: the dataclasses below are the contract other modules build on.  Loading and
validation (`load_settings`) are being written; see the module's tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "BounceHandlerSettings",
    "DaemonSettings",
    "DatabaseSettings",
    "MailboxSettings",
    "RulesSettings",
    "Settings",
    "VerpKey",
    "VerpSettings",
]


@dataclass(frozen=True, slots=True)
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
    timeout_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str = "sqlite:///reconciler.db"


@dataclass(frozen=True, slots=True)
class RulesSettings:
    """Operator rule files (`dir`) come first; the shipped rules follow unless disabled."""

    dir: Path | None = None
    use_shipped: bool = True


@dataclass(frozen=True, slots=True)
class VerpKey:
    id: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class BounceHandlerSettings:
    """MediaWiki BounceHandler-compatible VERP (`[verp.bouncehandler]`)."""

    secret: bytes = field(repr=False)
    prefix: str = "wiki"
    algorithm: str = "md5"
    domain: str = ""
    accept_seconds: int = 3 * 24 * 3600


@dataclass(frozen=True, slots=True)
class VerpSettings:
    domain: str
    keys: tuple[VerpKey, ...]  # the first one signs
    format: str = "native"  # which format `verp make` writes: "native" | "bouncehandler"
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


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    interval_seconds: int = 300
    idle: bool = False
    misfire_grace_seconds: int = 60


@dataclass(frozen=True, slots=True)
class Settings:
    mailboxes: tuple[MailboxSettings, ...] = ()
    database: DatabaseSettings = DatabaseSettings()
    verp: VerpSettings | None = None
    rules: RulesSettings = RulesSettings()
    daemon: DaemonSettings = DaemonSettings()
    source_path: Path | None = None  # the file the settings came from
