"""Logging: text by default, JSON lines on request, and never a secret in any line.

The secret tests run real code paths (config loading and its errors, a refused IMAP login on
the suite's dovecot, an IMAP server that is down, a database that is down, the decide stage with
a webhook whose receiver is down, a digest whose SMTP server is down) with known secrets, and
capture everything: every log record at DEBUG (pytest's handler), the JSON lines and text lines
of `configure_logging`, stdout and stderr.  Addresses are checked the same way: at INFO and
above they appear only when `logging.log_addresses` allows it.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from support import NOW

from reconciler.actions import build_actions
from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules
from reconciler.config import (
    ActionsSettings,
    DigestSettings,
    LoggingSettings,
    MailboxSettings,
    WebhookSettings,
    describe_settings,
    load_settings,
)
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.logs import configure_logging, mask_address
from reconciler.records import (
    BounceEvent,
    Fault,
    LedgerEntry,
    MessageKind,
    MessageOutcome,
    Mode,
    Reason,
    Severity,
)
from reconciler.service.cycle import CycleContext, run_once
from reconciler.service.decisions import DecideContext, run_decisions
from reconciler.service.digest import send_digest
from reconciler.settings import PolicySettings
from reconciler.source.backoff import Backoff, connect_with_retry
from reconciler.source.imap import ImapSource
from reconciler.store import Store, open_database

IMAP_PASSWORD = "imap-Pw-7c1f9e-SECRET"
VERP_KEY = "verp-key-0123456789abcdef-SECRET"
WEBHOOK_SECRET = "webhook-0123456789abcdef-SECRET"
DB_PASSWORD = "db-Pw-4242x-SECRET"
SMTP_PASSWORD = "smtp-Pw-9911z-SECRET"
SECRETS = (IMAP_PASSWORD, VERP_KEY, WEBHOOK_SECRET, DB_PASSWORD, SMTP_PASSWORD)
ENV = {
    "RECONCILER_IMAP_PASSWORD": IMAP_PASSWORD,
    "RECONCILER_VERP_KEY": VERP_KEY,
    "RECONCILER_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "RECONCILER_SMTP_PASSWORD": SMTP_PASSWORD,
}
ADDRESS = "dana.secretuser@example.com"


def _needles() -> list[str]:
    """Each secret, and the forms a protocol sends it in (AUTH PLAIN / LOGIN base64)."""
    forms = list(SECRETS)
    for secret in SECRETS:
        forms.append(base64.b64encode(secret.encode()).decode())
        forms.append(base64.b64encode(f"\0user\0{secret}".encode()).decode())
    return forms


@dataclass
class Captured:
    caplog: pytest.LogCaptureFixture
    capsys: pytest.CaptureFixture[str]
    text: io.StringIO

    def everything(self) -> str:
        out, err = self.capsys.readouterr()
        records = "\n".join(
            f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in self.caplog.records
        )
        return "\n".join((out, err, self.caplog.text, records, self.text.getvalue()))

    def assert_no_secret(self, *extra: str) -> str:
        seen = self.everything() + "\n".join(extra)
        for needle in _needles():
            assert needle not in seen, f"a secret leaked: {needle[:8]}..."
        return seen


@pytest.fixture
def logs(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[Captured]:
    """The real set-up (JSON lines on stderr) plus a text handler and pytest's, all at DEBUG."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging(LoggingSettings(level="debug", format="json"))
    text = io.StringIO()
    plain = logging.StreamHandler(text)
    plain.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(plain)
    root.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.DEBUG)
    for name in ("imapclient", "peewee", "urllib3", "smtplib"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield Captured(caplog, capsys, text)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- configuration ----------------------------------------------------------------------------

CONFIG = f"""
[[mailbox]]
name = "bounces"
host = "imap.example.org"
username = "bounces"
password_env = "RECONCILER_IMAP_PASSWORD"

[database]
url = "postgresql://rec:{DB_PASSWORD}@db.example.org:5432/bounces"

[verp]
domain = "bounces.example.org"

[[verp.keys]]
id = "a"
secret_env = "RECONCILER_VERP_KEY"

[actions]
enabled = ["suppress", "webhook"]

[actions.webhook]
url = "https://hooks.example.org/bounces"
secret_env = "RECONCILER_WEBHOOK_SECRET"

[digest]
enabled = true
smtp_host = "mail.example.org"
username = "reconciler"
password_env = "RECONCILER_SMTP_PASSWORD"
sender = "reconciler@example.org"
recipients = ["ops@example.org"]
"""


def _write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "reconciler.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_settings_describe_repr_and_warnings_hide_every_secret(
    tmp_path: Path, logs: Captured
) -> None:
    settings = load_settings(_write(tmp_path, CONFIG, 0o644), ENV)
    assert settings.digest.password == SMTP_PASSWORD  # the secrets were really loaded
    assert settings.actions.webhook is not None
    assert settings.actions.webhook.secret == WEBHOOK_SECRET.encode()
    log = logging.getLogger("reconciler.cli")
    for key, value in describe_settings(settings):
        log.info("%s = %s", key, value)  # what check-config prints
    for warning in settings.warnings:
        log.warning("%s", warning)
    assert settings.warnings  # the database password is inline in a world-readable file
    print(settings)
    shown = logs.assert_no_secret(repr(settings), str(settings), repr(settings.digest))
    assert "(hidden; from environment variable RECONCILER_SMTP_PASSWORD)" in shown
    assert "postgresql://rec:***@db.example.org:5432/bounces" in shown


BAD_CONFIGS = [
    # the secret itself written in a *_env or *_file key (the operator's likeliest mistake)
    CONFIG.replace('"RECONCILER_IMAP_PASSWORD"', f'"{IMAP_PASSWORD}"'),
    CONFIG.replace('"RECONCILER_VERP_KEY"', f'"{VERP_KEY}"'),
    CONFIG.replace(
        'password_env = "RECONCILER_SMTP_PASSWORD"', f'password_file = "{SMTP_PASSWORD}"'
    ),
    CONFIG.replace('password_env = "RECONCILER_IMAP', f'password = "{IMAP_PASSWORD}"\n#'),
    CONFIG.replace('secret_env = "RECONCILER_VERP_KEY"', f'secret = "{VERP_KEY[:9]}"'),
    CONFIG.replace(':5432/bounces"', ':port/bounces"'),
    CONFIG.replace('"postgresql://rec:', '"http://rec:'),
    CONFIG.replace(':5432/bounces"', ':5432/"'),
    CONFIG.replace("https://hooks", f"https://hook:{WEBHOOK_SECRET}@hooks"),
    CONFIG.replace('secret_env = "RECONCILER_WEBHOOK_SECRET"', f'secret = "{WEBHOOK_SECRET}"'),
    CONFIG.replace('password_env = "RECONCILER_SMTP', f'password = "{SMTP_PASSWORD}"\n#'),
    CONFIG.replace('password_env = "RECONCILER_SMTP', f'passwd = "{SMTP_PASSWORD}"\n#'),
    CONFIG.replace(
        'username = "reconciler"', f'username = "reconciler"\npasword = "{SMTP_PASSWORD}"'
    ),
    CONFIG.replace(
        'smtp_host = "mail.example.org"', 'smtp_host = "mail.example.org"\nstarttls = false'
    ),
]


@pytest.mark.parametrize("text", BAD_CONFIGS, ids=range(len(BAD_CONFIGS)))
def test_config_errors_hide_every_secret(tmp_path: Path, logs: Captured, text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path, text), ENV)
    logging.getLogger("reconciler.cli").error("%s", caught.value)  # what the CLI prints
    logs.assert_no_secret(str(caught.value), repr(caught.value))
    assert VERP_KEY[:9] not in str(caught.value)


# --- IMAP ---------------------------------------------------------------------------------------


def _cycle_context() -> CycleContext:
    return CycleContext(classifier=Classifier(load_rules(None).rules), verp=None, clock=lambda: NOW)


def test_refused_imap_login_hides_the_password(
    tmp_path: Path, logs: Captured, mailbox_settings: MailboxSettings
) -> None:
    wrong = replace(mailbox_settings, password=IMAP_PASSWORD)
    with open_database(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.migrate(NOW)
        result = run_once([wrong], store, _cycle_context(), "log-only")
    assert list(result.errors) == ["test"]
    seen = logs.assert_no_secret(*result.errors.values())
    assert "cycle failed" in seen
    assert "LOGIN **REDACTED**" in seen  # the IMAP dialogue itself was captured at DEBUG


def test_unreachable_imap_server_hides_the_password(logs: Captured) -> None:
    settings = MailboxSettings(
        name="down", host="127.0.0.1", port=_closed_port(), username="bounces",
        password=IMAP_PASSWORD, security="none", timeout_seconds=2.0,
    )  # fmt: skip
    with pytest.raises(ReconcilerError) as caught:
        connect_with_retry(lambda: ImapSource(settings), Backoff(attempts=3), sleep=lambda _: None)
    logging.getLogger("reconciler.service.cycle").error(
        "cycle failed: %s", caught.value, exc_info=True
    )
    seen = logs.assert_no_secret(str(caught.value))
    assert "retrying in" in seen


def test_unreachable_database_hides_the_password(logs: Captured) -> None:
    for scheme in ("postgresql", "mysql"):
        url = f"{scheme}://rec:{DB_PASSWORD}@127.0.0.1:{_closed_port()}/bounces"
        with pytest.raises(ReconcilerError) as caught:
            open_database(url)
        logging.getLogger("reconciler.cli").error("%s", caught.value, exc_info=True)
        assert "rec:***@127.0.0.1" in str(caught.value)
        logs.assert_no_secret(str(caught.value), repr(caught.value.__cause__))


# --- the decide stage: webhook down, addresses masked -----------------------------------------


def _complaint(store: Store, at: datetime) -> None:
    event = BounceEvent(
        recipient=ADDRESS, kind=MessageKind.FEEDBACK, reason=Reason.FEEDBACK,
        severity=Severity.HARD, fault=Fault.RECIPIENT, rule_id="arf", event_time=at,
        realm="wiki", user_id=7, verp_valid=True, original_message_id="<orig-1@example.org>",
        address_bound=True,
    )  # fmt: skip
    entry = LedgerEntry(
        mailbox="bounces", uidvalidity=1, uid=1, sha256="a" * 64, size=900,
        outcome=MessageOutcome.PROCESSED, received_at=at, processed_at=at, events=(event,),
    )  # fmt: skip
    store.record_batch([entry], at)


def _decide(store: Store, show_address: bool) -> None:
    webhook = WebhookSettings(
        url=f"http://127.0.0.1:{_closed_port()}/hook", secret=WEBHOOK_SECRET.encode(),
        timeout_seconds=2.0,
    )  # fmt: skip
    actions = ActionsSettings(enabled=("suppress", "webhook"), webhook=webhook)
    dctx = DecideContext(
        policy=PolicySettings(),
        actions=tuple(build_actions(actions, store, show_address=show_address)),
        webhook=webhook,
        show_address=show_address,
    )
    run_decisions(store, dctx, "run-1", NOW)


@pytest.mark.parametrize("allowed", [False, True], ids=["masked", "allowed"])
def test_decisions_log_addresses_only_when_allowed(
    tmp_path: Path, logs: Captured, allowed: bool
) -> None:
    with open_database(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.migrate(NOW)
        store.set_mode(Mode.ENFORCE, "operator:test", "test", NOW - timedelta(days=1))
        _complaint(store, NOW - timedelta(hours=1))
        _decide(store, show_address=allowed)
        assert store.check_suppression(ADDRESS) is not None  # it really acted
    info = [r.getMessage() for r in logs.caplog.records if r.levelno >= logging.INFO]
    decisions = [m for m in info if m.startswith("decision ")]
    assert decisions, info
    assert any("webhook event" in m and "failed" in m for m in info)  # the receiver is down
    if allowed:
        assert any(f"address={ADDRESS}" in m for m in decisions)
    else:
        assert not any(ADDRESS in m for m in info)
        assert any("address=***@example.com" in m for m in decisions)
    logs.assert_no_secret()


def test_mask_address() -> None:
    assert mask_address(ADDRESS, False) == "***@example.com"
    assert mask_address(ADDRESS, True) == ADDRESS
    assert mask_address(None, False) == "-"
    assert mask_address("", True) == "-"


# --- the digest: SMTP server down ---------------------------------------------------------------


def test_unreachable_smtp_server_hides_the_password(tmp_path: Path, logs: Captured) -> None:
    settings = DigestSettings(
        enabled=True, smtp_host="127.0.0.1", smtp_port=_closed_port(), starttls=False,
        username="reconciler", password=SMTP_PASSWORD, sender="r@example.org",
        recipients=("ops@example.org",), timeout_seconds=2.0,
    )  # fmt: skip
    with open_database(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.migrate(NOW)
        _complaint(store, NOW - timedelta(hours=1))
        quarantined = LedgerEntry(
            mailbox="bounces", uidvalidity=1, uid=2, sha256="b" * 64, size=10,
            outcome=MessageOutcome.QUARANTINED, received_at=NOW, processed_at=NOW,
        )  # fmt: skip
        store.record_batch([quarantined], NOW)
        with pytest.raises(ReconcilerError) as caught:
            send_digest(store, settings, NOW + timedelta(minutes=1))
    logging.getLogger("reconciler.service.daemon").error("digest failed: %s", caught.value)
    logs.assert_no_secret(str(caught.value), repr(settings))


# --- the formats ----------------------------------------------------------------------------------


def test_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging(LoggingSettings(level="debug", format="json"))
        log = logging.getLogger("reconciler.test")
        log.info("cycle mailbox=%s seen=%d", "bounces", 3)
        log.debug('quotes " and\nnewlines and unicode: %s', "Größe ✓")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
        logging.getLogger("apscheduler.scheduler").info("suppressed below WARNING")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3  # one physical line per record, whatever the message holds
    records = [json.loads(line) for line in lines]
    for record in records:
        assert set(record) >= {"ts", "level", "logger", "message"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", record["ts"])
        assert record["logger"] == "reconciler.test"
    assert records[0]["level"] == "info"
    assert records[0]["message"] == "cycle mailbox=bounces seen=3"
    assert records[1]["message"] == 'quotes " and\nnewlines and unicode: Größe ✓'
    assert records[2]["level"] == "error"
    assert "ValueError: boom" in records[2]["exception"]


def test_text_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging(LoggingSettings())
        logging.getLogger("reconciler.test").info("cycle mailbox=%s", "bounces")
        logging.getLogger("reconciler.test").debug("not shown at the default level")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO reconciler\.test: cycle mailbox=bounces\n", err
    )
