"""The operators' digest, sent to a real (tiny, threaded) SMTP server on loopback."""

from __future__ import annotations

import dataclasses
import re
import socket
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from smtpsink import SMTP_PASSWORD, Sink, received
from support import NOW, ROOT

from reconciler.config import DigestSettings, load_settings
from reconciler.errors import ActionError, ConfigError
from reconciler.records import (
    BounceEvent,
    BreakerCause,
    BreakerTrip,
    Fault,
    Incident,
    IncidentScope,
    LedgerEntry,
    MessageKind,
    MessageOutcome,
    Mode,
    Reason,
    Severity,
    VerpFailure,
)
from reconciler.service.digest import WATERMARK, build_message, collect_digest, send_digest
from reconciler.store import Store


def _settings(port: int, **kw: object) -> DigestSettings:
    values: dict[str, object] = {
        "enabled": True,
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "starttls": False,
        "username": "reconciler",
        "password": SMTP_PASSWORD,
        "sender": "reconciler@example.org",
        "recipients": ("ops@example.org", "postmaster@example.org"),
        "max_examples": 2,
        "timeout_seconds": 5.0,
    }
    values.update(kw)
    return DigestSettings(**values)  # type: ignore[arg-type]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- what the store holds ---------------------------------------------------------------------


def _event(recipient: str, at: datetime, *, valid: bool) -> BounceEvent:
    return BounceEvent(
        recipient=recipient,
        kind=MessageKind.BOUNCE,
        reason=Reason.USERUNKNOWN,
        severity=Severity.HARD,
        fault=Fault.RECIPIENT,
        rule_id="user-unknown",
        event_time=at,
        status="5.1.1",
        diagnostic="550 5.1.1 no such user",
        remote_mta="mx.example.net",
        original_message_id=f"<orig-{len(recipient)}-{ord(recipient[0])}@example.org>",
        realm="wiki" if valid else None,
        user_id=7 if valid else None,
        verp_valid=valid,
        verp_failure=None if valid else VerpFailure.BAD_SIGNATURE,
    )


def _entry(uid: int, outcome: MessageOutcome, at: datetime, *events: BounceEvent) -> LedgerEntry:
    return LedgerEntry(
        mailbox="bounces", uidvalidity=1, uid=uid, sha256=f"{uid:064x}", size=1000,
        outcome=outcome, received_at=at, processed_at=at, message_id=f"<m{uid}@mx.example.net>",
        destination=outcome.value, events=events,
    )  # fmt: skip


def _seed(store: Store, at: datetime) -> None:
    """Three unmatched bounces, one quarantined message, one verified bounce, a trip and an
    incident, all at `at`."""
    entries = [
        _entry(1, MessageOutcome.UNMATCHED, at, _event("alice@example.net", at, valid=False)),
        _entry(2, MessageOutcome.UNMATCHED, at, _event("bob@example.net", at, valid=False)),
        _entry(3, MessageOutcome.UNMATCHED, at, _event("carol@example.net", at, valid=False)),
        _entry(4, MessageOutcome.QUARANTINED, at),
        _entry(5, MessageOutcome.PROCESSED, at, _event("verified@example.com", at, valid=True)),
    ]
    store.record_batch(entries, at)
    store.set_mode(Mode.ENFORCE, "operator:ops", "go live", at - timedelta(days=1))
    trip = BreakerTrip(
        BreakerCause.ACTION_COUNT, int(at.timestamp()), 60, 50, 60, "60 actions > 50"
    )
    store.trip_breaker(trip, at)
    spike = Incident(
        scope=IncidentScope.DOMAIN, key="example.net", reason=Reason.USERUNKNOWN, users=9,
        start=int(at.timestamp()) - 600, end=int(at.timestamp()), active=True, event_ids=(1, 2),
    )  # fmt: skip
    store.record_incidents([spike], at)


# --- sending ----------------------------------------------------------------------------------


def test_digest_is_sent_with_counts_trips_incidents_and_examples(
    store: Store, smtp: tuple[Sink, int]
) -> None:
    sink, port = smtp
    _seed(store, NOW - timedelta(hours=1))
    assert send_digest(store, _settings(port), NOW) == 4  # 3 unmatched + 1 quarantined

    assert sink.logins == [("reconciler", SMTP_PASSWORD)]
    sender, recipients, _data = sink.envelopes[0]
    assert sender == "reconciler@example.org"
    assert recipients == ["ops@example.org", "postmaster@example.org"]
    message = received(sink)
    assert message["From"] == "reconciler@example.org"
    assert message["To"] == "ops@example.org, postmaster@example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    subject = str(message["Subject"])
    assert subject.startswith("[reconciler] digest since 2026-11-25 06:00 UTC:")
    assert "3 unmatched, 1 quarantined, breaker tripped 1x, 1 incident(s)" in subject

    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content().replace("\r\n", "\n")
    assert re.search(r"^  unmatched +3$", text, re.M)
    assert re.search(r"^  quarantined +1$", text, re.M)
    assert re.search(r"^  processed +1$", text, re.M)
    assert "60 actions > 50" in text
    assert "domain example.net: userunknown, 9 users" in text
    assert "(active)" in text
    assert "1 message(s) were moved to the quarantine folders" in text

    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["unmatched.txt"]
    examples = attachments[0].get_content().replace("\r\n", "\n")
    lines = [line for line in examples.splitlines() if "recipient=" in line]
    assert len(lines) == 2  # max_examples
    assert "recipient=***@example.net" in lines[0]
    assert "reason=userunknown severity=hard" in lines[0]
    assert "remote_mta=mx.example.net" in lines[0]
    assert "original_message_id=<orig-17-97@example.org>" in lines[0]
    for hidden in ("alice@", "bob@", "verified@"):
        assert hidden not in examples
    assert store.watermark(WATERMARK) == int(NOW.timestamp())


def test_full_addresses_only_when_allowed(store: Store, smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    _seed(store, NOW - timedelta(hours=1))
    send_digest(store, _settings(port, show_addresses=True), NOW)
    examples = next(received(sink).iter_attachments()).get_content()
    assert "recipient=alice@example.net" in examples
    assert "verified@example.com" not in examples  # verified bounces are not "unmatched"


def test_sent_once_per_interval_and_only_new_facts(store: Store, smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    settings = _settings(port, interval_hours=24)
    _seed(store, NOW - timedelta(hours=1))
    assert send_digest(store, settings, NOW) == 4
    assert send_digest(store, settings, NOW + timedelta(hours=23)) == 0  # not due yet
    assert len(sink.envelopes) == 1

    later = NOW + timedelta(hours=12)
    store.record_batch([_entry(9, MessageOutcome.QUARANTINED, later)], later)
    assert send_digest(store, settings, NOW + timedelta(hours=24)) == 1
    assert len(sink.envelopes) == 2
    subject = str(received(sink, 1)["Subject"])
    assert "0 unmatched, 1 quarantined" in subject
    assert "breaker" not in subject  # the trip was reported in the first digest
    assert not list(received(sink, 1).iter_attachments())


def test_forced_digest_ignores_the_interval(store: Store, smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    _seed(store, NOW - timedelta(hours=1))
    assert send_digest(store, _settings(port), NOW) == 4
    store.record_batch([_entry(9, MessageOutcome.UNMATCHED, NOW)], NOW + timedelta(minutes=1))
    assert send_digest(store, _settings(port), NOW + timedelta(minutes=5), force=True) == 1
    assert len(sink.envelopes) == 2


def test_nothing_to_report_sends_nothing(store: Store, smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    assert send_digest(store, _settings(port), NOW) == 0
    assert sink.envelopes == []
    assert store.watermark(WATERMARK) == int(NOW.timestamp())


def test_disabled_sends_nothing(store: Store) -> None:
    _seed(store, NOW - timedelta(hours=1))
    settings = _settings(_closed_port(), enabled=False)  # it would fail if it tried
    assert send_digest(store, settings, NOW, force=True) == 0
    assert store.watermark(WATERMARK) == 0


def test_refused_login_raises_keeps_the_watermark_and_hides_the_password(
    store: Store, smtp: tuple[Sink, int]
) -> None:
    sink, port = smtp
    sink.password = "something-else"
    _seed(store, NOW - timedelta(hours=1))
    with pytest.raises(ActionError, match=r"^digest: SMTP 127\.0\.0\.1:\d+ refused: \(535") as err:
        send_digest(store, _settings(port), NOW)
    assert SMTP_PASSWORD not in str(err.value)
    assert SMTP_PASSWORD not in repr(err.value.__cause__)
    assert store.watermark(WATERMARK) == 0
    sink.password = SMTP_PASSWORD  # fixed: the next run reports the same span
    assert send_digest(store, _settings(port), NOW + timedelta(minutes=10)) == 4


def test_unreachable_server_is_an_action_error(store: Store) -> None:
    _seed(store, NOW - timedelta(hours=1))
    with pytest.raises(ActionError, match=r"digest: cannot send through SMTP 127\.0\.0\.1"):
        send_digest(store, _settings(_closed_port()), NOW)
    assert store.watermark(WATERMARK) == 0


def test_no_login_without_a_username(store: Store, smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    _seed(store, NOW - timedelta(hours=1))
    assert send_digest(store, _settings(port, username=None, password=""), NOW) == 4
    assert sink.logins == []
    assert len(sink.envelopes) == 1


def test_message_of_a_collected_digest(store: Store) -> None:
    _seed(store, NOW - timedelta(hours=1))
    settings = _settings(25, max_examples=0)
    digest = collect_digest(store, settings, NOW)
    assert digest.reported == 4
    assert digest.unmatched == ()
    message = build_message(digest, settings)
    assert not list(message.iter_attachments())
    assert message["Message-ID"].endswith("@example.org>")


# --- the [digest] section ---------------------------------------------------------------------


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> DigestSettings:
    path = tmp_path / "reconciler.toml"
    path.write_text(text)
    path.chmod(0o600)
    return load_settings(path, env or {}).digest


ENABLED = '[digest]\nenabled = true\nsender = "r@example.org"\nrecipients = ["ops@example.org"]\n'


def test_digest_section_defaults_and_secret(tmp_path: Path) -> None:
    assert _load(tmp_path, "") == DigestSettings()
    text = ENABLED + 'smtp_host = "mail.example.org"\nusername = "r"\npassword_env = "SMTP_PW"\n'
    settings = _load(tmp_path, text, {"SMTP_PW": SMTP_PASSWORD})
    assert settings.password == SMTP_PASSWORD
    assert settings.password_env == "SMTP_PW"
    assert settings.recipients == ("ops@example.org",)
    assert SMTP_PASSWORD not in repr(settings)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[digest]\nenabled = true\n", "digest.sender"),
        ('[digest]\nenabled = true\nsender = "r@example.org"\n', "digest.recipients"),
        (ENABLED.replace('"r@example.org"', '"nobody"'), "digest.sender"),
        (ENABLED.replace('["ops@example.org"]', '["ops"]'), "digest.recipients"),
        (ENABLED + f'password = "{SMTP_PASSWORD}"\n', "digest.password"),
        (ENABLED + 'password_env = "SMTP_PW"\n', "digest.username"),
        (ENABLED + 'username = "r"\n', "digest.password"),
        (ENABLED + 'username = "r"\npassword_env = "UNSET"\n', "digest.password_env"),
        (
            ENABLED + 'smtp_host = "mail.example.org"\nstarttls = false\nusername = "r"\n'
            'password_env = "SMTP_PW"\n',
            "digest.starttls",
        ),
        (ENABLED + "interval_hours = 0\n", "digest.interval_hours"),
        (ENABLED + "smtp_port = 0\n", "digest.smtp_port"),
        (ENABLED + "to = []\n", "digest.to"),
    ],
)
def test_digest_section_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text, {"SMTP_PW": SMTP_PASSWORD})
    message = str(caught.value)
    assert "\n" not in message
    assert f": {key}: " in message
    assert SMTP_PASSWORD not in message


def test_example_documents_the_digest_keys() -> None:
    text = (ROOT / "config.example.toml").read_text()
    assert re.search(r"^\[digest\]", text, re.M)
    for item in dataclasses.fields(DigestSettings):
        if item.name != "password":  # resolved from password_env / password_file
            assert re.search(rf"^[ #]*{item.name} =", text, re.M), item.name
