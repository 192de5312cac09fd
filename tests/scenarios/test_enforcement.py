"""The decision layer end to end on the real dovecot: log-only records "would" decisions and
applies nothing; enforcement applies; reinstate and batch undo restore; a burst of sender-side
bounces trips the breaker; a domain spike is not counted; forged, expired and replayed bounces
lead to no action; a running daemon picks up `mode enforce` at its next cycle.

Bounces are real corpus messages with a VERP token added the way the final MTA adds it
(Delivered-To) and the recipient rewritten per user; their IMAP INTERNALDATE puts them on
different days (the evidence time the cycle records).
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dovecot import Account, Dovecot
from support import ROOT, until

from reconciler.actions import reinstate, undo
from reconciler.config import (
    DaemonSettings,
    DatabaseSettings,
    MailboxSettings,
    Settings,
    VerpKey,
    VerpSettings,
)
from reconciler.records import Mode, UndoFilter
from reconciler.service.cycle import run_once
from reconciler.service.wiring import Service, open_service
from reconciler.settings import PolicySettings
from reconciler.store import open_database
from reconciler.verp import make_address

pytestmark = pytest.mark.live
CORPUS = ROOT / "tests" / "corpus" / "sisimai" / "emails"
KEY = b"enforcement-test-key-0123456789"
VERP = VerpSettings(domain="bounces.example.org", keys=(VerpKey("e", KEY),))
HARD = ("lhost-postfix-33.eml", b"userunknown@libsisimai.org")  # 550 5.1.1 user unknown
BLOCKED = ("lhost-amazonses-14.eml", b"sironeko@neko.example.org")  # 554 5.7.1 blocklisted
NOW = datetime.now(UTC).replace(microsecond=0)


_SEQUENCE = itertools.count()


def bounce(
    sample: tuple[str, bytes], user: int, address: str, *, token: str | None = None
) -> bytes:
    """A distinct message each call (a real MTA's bounces differ by ids and dates)."""
    name, recipient = sample
    data = (CORPUS / name).read_bytes().replace(recipient, address.encode())
    if data.startswith(b"From "):  # an mbox From_ line: not part of the message
        data = data.split(b"\n", 1)[1]
    token = token or make_address(
        VERP, user_id=user, address=address, realm="wiki", now=int(NOW.timestamp()) - 600
    )
    headers = f"Delivered-To: {token}\r\nX-Test-Sequence: {next(_SEQUENCE)}\r\n"
    return headers.encode() + data


def deliver(dovecot: Dovecot, account: Account, mail: Sequence[tuple[bytes, datetime]]) -> None:
    with dovecot.client(account, folder=None) as imap:
        for data, when in mail:
            imap.append("INBOX", data, msg_time=when)


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


@pytest.fixture
def settings(tmp_path: Path, mailbox_settings: MailboxSettings) -> Settings:
    return Settings(
        mailboxes=(mailbox_settings,),
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'state.db'}"),
        verp=VERP,
        policy=PolicySettings(),
    )


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    with open_service(settings, clock=lambda: NOW) as opened:
        yield opened


def poll(service: Service) -> None:
    result = run_once(service.settings.mailboxes, service.store, service.cycle, mode="test")
    assert result.ok, result.errors


def hard_days(user: int, address: str, days: Sequence[float]) -> list[tuple[bytes, datetime]]:
    return [(bounce(HARD, user, address), days_ago(d)) for d in days]


def test_log_only_records_would_decisions_and_applies_nothing(
    service: Service, dovecot: Dovecot, imap_account: Account
) -> None:
    deliver(dovecot, imap_account, hard_days(1, "ann@one.example", [3, 2, 1]))
    poll(service)
    pending = service.store.pending_decisions()
    assert [(d.decision.user_id, d.decision.rule) for d in pending] == [(1, "hard:3d/14d")]
    assert pending[0].decision.disposition.value == "would"
    assert service.store.suppressions() == []


def test_one_day_of_hard_bounces_is_not_enough(
    service: Service, dovecot: Dovecot, imap_account: Account
) -> None:
    service.store.set_mode(Mode.ENFORCE, "operator:test", "test", NOW)
    deliver(dovecot, imap_account, hard_days(2, "bob@two.example", [0.3, 0.2, 0.1]))
    poll(service)
    assert service.store.suppressions() == []
    assert service.store.pending_decisions() == []


def test_enforce_applies_then_reinstate_and_batch_undo_restore(
    service: Service, dovecot: Dovecot, imap_account: Account
) -> None:
    store = service.store
    store.set_mode(Mode.ENFORCE, "operator:test", "reviewed the logs", NOW)
    for user in (11, 12, 13):
        deliver(dovecot, imap_account, hard_days(user, f"u{user}@d{user}.example", [5, 3, 1]))
    poll(service)
    assert {s.address for s in store.suppressions()} == {f"u{u}@d{u}.example" for u in (11, 12, 13)}
    assert store.check_suppression("U11@D11.example") is not None

    reinstate(store, service.actions, UndoFilter(address="u11@d11.example"),
              ("operator:test", "the user fixed the mailbox"), NOW)  # fmt: skip
    assert store.check_suppression("u11@d11.example") is None
    undo(store, service.actions, UndoFilter(since=NOW - timedelta(hours=1)),
         ("operator:test", "bad rule"), NOW)  # fmt: skip
    assert store.suppressions() == []
    actions = [a.action for a in store.audit_log(limit=20)]
    assert actions.count("undo") == 3 and "mode" in actions


def test_sender_side_burst_trips_the_breaker(
    service: Service, dovecot: Dovecot, imap_account: Account
) -> None:
    store = service.store
    store.set_mode(Mode.ENFORCE, "operator:test", "test", NOW)
    burst = [(bounce(BLOCKED, 100 + u, f"x{u}@b{u}.example"), NOW - timedelta(minutes=5))
             for u in range(25)]  # fmt: skip
    deliver(dovecot, imap_account, burst)
    poll(service)
    state = store.get_mode()
    assert state.mode is Mode.PAUSED and state.by == "breaker"
    assert "sender" in state.reason
    # enforcement stays paused: a user now over the threshold is decided, not acted on
    deliver(dovecot, imap_account, hard_days(200, "c@c200.example", [4, 2, 1]))
    poll(service)
    assert store.suppressions() == []
    assert [d.decision.disposition.value for d in store.decisions(days_ago(30), NOW + timedelta(1))
            if d.decision.user_id == 200] == ["withheld"]  # fmt: skip


def test_a_domain_spike_is_an_incident_not_evidence(
    service: Service, dovecot: Dovecot, imap_account: Account
) -> None:
    store = service.store
    store.set_mode(Mode.ENFORCE, "operator:test", "test", NOW)
    spike_at = days_ago(1)
    mail: list[tuple[bytes, datetime]] = []
    for user in range(300, 306):  # six users of one provider, one reason, one hour
        address = f"u{user}@spike.example"
        mail += hard_days(user, address, [6, 4])  # two real days each: below the threshold
        mail.append((bounce(HARD, user, address), spike_at + timedelta(minutes=user - 300)))
    deliver(dovecot, imap_account, mail)
    poll(service)
    assert store.suppressions() == []
    spikes = [i for i in store.incidents(days_ago(30)) if i.key == "spike.example"]
    assert spikes and spikes[0].users >= 5


def test_forged_expired_and_replayed_bounces_lead_to_no_action(
    service: Service, dovecot: Dovecot, imap_account: Account
) -> None:
    store = service.store
    store.set_mode(Mode.ENFORCE, "operator:test", "test", NOW)
    good = make_address(
        VERP, user_id=400, address="v400@f.example", realm="wiki", now=int(NOW.timestamp()) - 600
    )
    local, _, domain = good.partition("@")
    forged = local[:-3] + ("aaa" if not local.endswith("aaa") else "bbb") + "@" + domain
    other_key = VerpSettings(domain=VERP.domain, keys=(VerpKey("e", b"not-the-real-key-0123456"),))
    wrong_key = make_address(
        other_key, user_id=401, address="v401@f.example", realm="wiki", now=int(NOW.timestamp())
    )
    expired = make_address(
        VERP, user_id=402, address="v402@f.example", realm="wiki",
        now=int(days_ago(30).timestamp()),
    )  # fmt: skip
    mail = []
    for user, token in ((400, forged), (401, wrong_key), (402, expired)):
        mail += [(bounce(HARD, user, f"v{user}@f.example", token=token), days_ago(d))
                 for d in (5, 3, 1)]  # fmt: skip
    replayed = bounce(HARD, 403, "v403@r.example")  # the very same bytes, 100 times
    mail += [(replayed, days_ago(2))] * 100
    deliver(dovecot, imap_account, mail)
    poll(service)
    assert store.suppressions() == [] and store.decisions(days_ago(30), NOW) == []
    assert len(store.user_events("wiki", 403, days_ago(30))) == 1  # the replay counted once
    for user in (400, 401, 402):
        assert store.user_events("wiki", user, days_ago(30)) == []


def test_a_running_daemon_applies_after_mode_enforce(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account, settings: Settings
) -> None:
    secret = tmp_path / "pw"
    secret.write_text(imap_account.password)
    config = tmp_path / "daemon.toml"
    db = tmp_path / "state.db"
    config.write_text(
        f"""[[mailbox]]
name = "enforce"
host = "{dovecot.host}"
port = {dovecot.imap_port}
security = "none"
username = "{imap_account.name}"
password_file = "{secret}"

[database]
url = "sqlite:///{db}"

[daemon]
interval_seconds = 3600
idle = true

[verp]
domain = "{VERP.domain}"
[[verp.keys]]
id = "e"
secret = "{KEY.decode()}"
"""
    )
    config.chmod(0o600)
    deliver(dovecot, imap_account, hard_days(500, "d@d500.example", [5, 3]))
    log = (tmp_path / "daemon.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "--config", str(config), "run"],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        until(lambda: not dovecot.uids(imap_account), 30, "the first cycle")
        with open_database(f"sqlite:///{db}") as store:
            store.set_mode(Mode.ENFORCE, "operator:test", "promote", datetime.now(UTC))
        deliver(dovecot, imap_account, hard_days(500, "d@d500.example", [1]))
        until(lambda: _suppressed(db, "d@d500.example"), 30, "the next cycle to apply")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()


def _suppressed(db: Path, address: str) -> bool:
    with open_database(f"sqlite:///{db}") as store:
        return store.check_suppression(address) is not None


def test_settings_default_policy_is_the_documented_one() -> None:
    policy = PolicySettings()
    assert (policy.hard.days, policy.hard.window_days) == (3, 14)
    assert (policy.soft.days, policy.soft.window_days) == (10, 30)
    assert replace(DaemonSettings(), idle=True).idle
