"""Probe before acting (`[policy] probe = true`) end to end: the suite's dovecot, a loopback
SMTP sink, the store on each backend, an injected clock.

A user over the hard threshold in enforce mode gets one probe (no action yet); a verified
bounce of the probe applies the decision; a silent probe clears it after probe_days; forged
probe bounces confirm nothing; log-only records "would probe" and sends nothing; a crash
after sending never sends twice; an unreachable SMTP server is tried again; two workers open
one probe; the breaker and incidents still apply; `report` and `user show` show the probes.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dovecot import Account, Dovecot
from helpers_mail import KEY, VERP, hard_bounce, token_for
from smtpsink import Sink, received

from reconciler.actions.probe import send_probe
from reconciler.actions.smtp import Submission
from reconciler.cli import main
from reconciler.config import (
    DatabaseSettings,
    MailboxSettings,
    PolicySettings,
    ProbeSettings,
    Settings,
    SmtpSettings,
)
from reconciler.records import (
    Decision,
    DecisionKind,
    Disposition,
    Mode,
    Probe,
    ProbeState,
    Trigger,
    UserSelector,
)
from reconciler.service.cycle import run_once
from reconciler.service.decisions import DecideContext, run_decisions
from reconciler.service.probes import ProbeRun
from reconciler.service.wiring import Service, open_service
from reconciler.settings import BreakerSettings, IncidentSettings
from reconciler.store import Store, open_database
from reconciler.verp import binds, check_address, send_ref

pytestmark = pytest.mark.live
NOW = datetime.now(UTC).replace(microsecond=0)
# tokens are issued before the service's clock (NOW, taken when the module is collected),
# not before the real time: a long run between collection and the test would make them
# tokens from the future
ISSUED = NOW - timedelta(minutes=10)
SUBJECT = "Is this address still yours?"
_TAGS = itertools.count()


@dataclass
class Clock:
    at: datetime = NOW

    def __call__(self) -> datetime:
        return self.at


@dataclass
class World:
    """An opened service on one mailbox, its clock, the SMTP sink and the dovecot account."""

    service: Service
    clock: Clock
    sink: Sink
    dovecot: Dovecot
    account: Account
    dctx: DecideContext | None = None  # the decide stage's context (None: the service's)
    closing: contextlib.ExitStack | None = None

    def cli(self, tmp_path: Path, *args: str) -> int:
        """Close the service (one store per process) and run a command on its database, with
        the same probes configured."""
        if self.closing is not None:
            self.closing.close()
        settings = self.service.settings
        url = settings.database.url.replace("mariadb://", "mysql://", 1)
        smtp = settings.probe.smtp
        config = tmp_path / "cli.toml"
        box = settings.mailboxes[0]
        secret = tmp_path / "imap.pw"
        secret.write_text(box.password)
        secret.chmod(0o600)
        config.write_text(
            f'[[mailbox]]\nname = "{box.name}"\nhost = "{box.host}"\nport = {box.port}\n'
            f'security = "none"\nusername = "{box.username}"\npassword_file = "{secret}"\n'
            f'[database]\nurl = "{url}"\n[policy]\nprobe = true\n'
            f'[probe]\nsender = "{settings.probe.sender}"\nsmtp_host = "{smtp.smtp_host}"\n'
            f"smtp_port = {smtp.smtp_port}\nstarttls = false\n"
            f'[verp]\ndomain = "{VERP.domain}"\n[[verp.keys]]\nid = "c"\n'
            f'secret = "{KEY.decode()}"\n'
        )
        config.chmod(0o600)
        return main(["--config", str(config), *args])

    @property
    def store(self) -> Store:
        return self.service.store

    def poll(self, at: datetime | None = None) -> None:
        """One cycle at `at` (the clock stays there), with the decide stage of `dctx`."""
        self.clock.at = at or self.clock.at
        dctx, run_id = self.dctx or self.service.decide, self.service.run_id

        def decide(now: datetime) -> object:
            return run_decisions(self.store, dctx, run_id, now)

        ctx = replace(self.service.cycle, after_batch=decide)
        result = run_once(self.service.settings.mailboxes, self.store, ctx, mode="test")
        assert result.ok, result.errors

    def probing(self, **changes: object) -> DecideContext:
        """The service's decide context with its probe context changed."""
        assert self.service.decide.probes is not None
        probes = replace(self.service.decide.probes, **changes)
        return replace(self.service.decide, probes=probes)

    def deliver(self, mail: Sequence[tuple[bytes, datetime]]) -> None:
        with self.dovecot.client(self.account, folder=None) as imap:
            for data, when in mail:
                imap.append("INBOX", data, msg_time=when)

    def hard_days(self, user: int, address: str, days: Sequence[float]) -> None:
        """Hard bounces of `user`'s mail to `address` on these days before now (own MX)."""
        token = token_for(user, address=address, at=ISSUED)
        self.deliver([(hard_bounce(token, address, f"t{next(_TAGS)}", own_mx=True),
                       NOW - timedelta(days=d)) for d in days])  # fmt: skip

    def bounce_of(self, token: str, address: str, at: datetime, *, own_mx: bool = True) -> None:
        self.deliver([(hard_bounce(token, address, f"p{next(_TAGS)}", own_mx=own_mx), at)])

    def decisions(self, user: int) -> list[Disposition]:
        found = self.store.decisions(NOW - timedelta(days=30), NOW + timedelta(days=30))
        return [d.decision.disposition for d in found if d.decision.user_id == user]

    def applied(self, user: int) -> list[int]:
        """The ids of the user's decisions whose actions ran.  (New evidence after a decision
        was applied is recorded as a decision again, and not applied twice.)"""
        found = self.store.decisions(NOW - timedelta(days=30), NOW + timedelta(days=30))
        return [d.id for d in found if d.decision.user_id == user and d.applied_at is not None]

    def probes(self, user: int) -> list[Probe]:
        return self.store.probes(UserSelector(realm="wiki", user_id=user))

    def suppressed(self) -> set[str]:
        return {s.address for s in self.store.suppressions()}


def _settings(tmp_path: Path, mailbox: MailboxSettings, url: str, port: int) -> Settings:
    smtp = SmtpSettings(smtp_host="127.0.0.1", smtp_port=port, starttls=False, timeout_seconds=5)
    return Settings(
        mailboxes=(mailbox,),
        database=DatabaseSettings(url=url),
        verp=VERP,
        policy=PolicySettings(probe=True, probe_days=3),
        probe=ProbeSettings(smtp=smtp, sender="noreply@example.org", subject=SUBJECT),
    )


@pytest.fixture
def world(
    tmp_path: Path, database_url: str, mailbox_settings: MailboxSettings, dovecot: Dovecot,
    imap_account: Account, smtp: tuple[Sink, int],
) -> Iterator[World]:  # fmt: skip
    sink, port = smtp
    clock = Clock()
    settings = _settings(tmp_path, mailbox_settings, database_url, port)
    with contextlib.ExitStack() as closing:
        service = closing.enter_context(open_service(settings, clock=clock))
        yield World(service, clock, sink, dovecot, imap_account, closing=closing)


def enforce(w: World) -> None:
    w.store.set_mode(Mode.ENFORCE, "operator:test", "with probes", NOW - timedelta(days=10))


def probed(w: World, user: int = 1, address: str = "ann@one.example") -> Probe:
    """`user` crosses the hard threshold in enforce mode: one probe is sent, nothing applied."""
    enforce(w)
    w.hard_days(user, address, [5, 3, 1])
    w.poll()
    assert w.decisions(user) == [Disposition.PROBING]
    assert address not in w.suppressed()
    (probe,) = w.probes(user)
    assert probe.state is ProbeState.SENT and probe.due_at == NOW + timedelta(days=3)
    return probe


def test_a_probe_is_sent_and_its_bounce_applies_the_decision(world: World) -> None:
    probe = probed(world)
    sender, recipients, _ = world.sink.envelopes[0]
    mail = received(world.sink)
    assert (sender, recipients) == (probe.return_path, ["ann@one.example"])
    assert (mail["Subject"], mail["From"], mail["Auto-Submitted"]) == (
        SUBJECT, "noreply@example.org", "auto-generated")  # fmt: skip
    token = check_address(VERP, sender, now=int(NOW.timestamp()))
    assert token.valid and (token.realm, token.user_id) == ("wiki", 1)
    assert token.send_ref == send_ref(mail["Message-ID"]) == probe.send_ref
    assert binds(VERP, token, "ann@one.example") is True

    world.poll(NOW + timedelta(minutes=30))  # nothing new: no second probe
    assert len(world.sink.envelopes) == 1

    world.bounce_of(probe.return_path, "ann@one.example", NOW + timedelta(hours=1))
    world.poll(NOW + timedelta(hours=1))
    assert world.suppressed() == {"ann@one.example"}
    assert world.applied(1) == [probe.decision_id]  # the decision that waited, applied
    assert world.decisions(1)[0] is Disposition.APPLIED
    (done,) = world.probes(1)
    assert done.state is ProbeState.BOUNCED and done.event_id is not None
    assert len(world.sink.envelopes) == 1


def test_a_silent_probe_clears_the_decision_after_probe_days(world: World) -> None:
    probe = probed(world)
    world.poll(NOW + timedelta(days=2))  # within its time: still waiting
    assert world.probes(1)[0].state is ProbeState.SENT
    world.poll(NOW + timedelta(days=3, minutes=1))
    assert [p.state for p in world.probes(1)] == [ProbeState.DELIVERED]
    assert world.decisions(1) == [Disposition.PROBE_DELIVERED]
    assert world.suppressed() == set()
    # the evidence is kept, and no longer counts: one more bounce is one day, not four
    assert len(world.store.user_events("wiki", 1, NOW - timedelta(days=30))) == 3
    world.hard_days(1, "ann@one.example", [-3.5])
    world.poll(NOW + timedelta(days=3, hours=12))
    assert world.decisions(1) == [Disposition.PROBE_DELIVERED]
    assert len(world.sink.envelopes) == 1 and probe.id == world.probes(1)[0].id
    # a late bounce of the probe confirms nothing: its time is up
    world.bounce_of(probe.return_path, "ann@one.example", NOW + timedelta(days=4))
    world.poll(NOW + timedelta(days=4))
    assert world.suppressed() == set()


def test_forged_probe_bounces_never_confirm(world: World) -> None:
    probe = probed(world)
    at = NOW + timedelta(hours=1)
    local, _, domain = probe.return_path.partition("@")
    tampered = f"{local[:-8]}{'a' * 8 if not local.endswith('a' * 8) else 'b' * 8}@{domain}"
    other_ref = token_for(
        1, address="ann@one.example", at=ISSUED
    )  # the user's token of another mail
    world.bounce_of(tampered, "ann@one.example", at)  # a bad signature
    world.bounce_of("bounces@bounces.example.org", "ann@one.example", at)  # no token
    world.bounce_of(other_ref, "ann@one.example", at)  # verified, but not the probe's
    world.bounce_of(probe.return_path, "victim@two.example", at)  # about another address
    world.poll(at)
    assert world.suppressed() == set()
    assert world.probes(1)[0].state is ProbeState.SENT
    world.poll(NOW + timedelta(days=3, minutes=1))
    assert world.decisions(1) == [Disposition.PROBE_DELIVERED]
    assert world.suppressed() == set()


def test_log_only_records_would_probe_and_sends_nothing(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    world.hard_days(1, "ann@one.example", [5, 3, 1])
    world.poll()
    assert world.decisions(1) == [Disposition.WOULD]
    assert [p.state for p in world.probes(1)] == [ProbeState.WOULD]
    assert world.sink.envelopes == [] and world.suppressed() == set()

    assert world.cli(tmp_path, "report", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["probes"]["recorded"]["would"] == 1 and shown["probes"]["pending"] == []
    assert world.cli(tmp_path, "user", "show", "wiki:1", "--json") == 0
    trail = json.loads(capsys.readouterr().out)
    assert [(p["state"], p["address"]) for p in trail["probes"]] == [("would", "ann@one.example")]
    monkeypatch.setenv("COLUMNS", "80")
    assert world.cli(tmp_path, "user", "show", "wiki:1") == 0
    out = capsys.readouterr().out
    assert "would probe" in out and max(len(line) for line in out.splitlines()) <= 80


def test_poll_once_from_the_configuration_sends_the_probe(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    enforce(world)
    world.hard_days(1, "ann@one.example", [5, 3, 1])
    assert world.cli(tmp_path, "poll", "--once") == 0  # as an operator or cron runs it
    assert [e[1] for e in world.sink.envelopes] == [["ann@one.example"]]
    with open_database(world.service.settings.database.url) as store:
        (probe,) = store.probes()
        assert probe.state is ProbeState.SENT and store.suppressions() == []


def test_apply_pending_sends_probes_first(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.hard_days(1, "ann@one.example", [5, 3, 1])
    world.hard_days(2, "bob@two.example", [5, 3, 1])
    world.poll()  # log-only: two "would" decisions, two "would" probes, nothing sent
    assert world.sink.envelopes == []
    url = world.service.settings.database.url
    assert world.cli(tmp_path, "mode", "enforce", "--reason", "reviewed", "--apply-pending",
                     "--yes") == 0  # fmt: skip
    assert "probed 2 pending decision(s) first; applied 0" in capsys.readouterr().out
    assert sorted(tuple(e[1]) for e in world.sink.envelopes) == [
        ("ann@one.example",), ("bob@two.example",)]  # fmt: skip
    with open_database(url) as store:
        assert store.suppressions() == []
        states = [p.state for p in store.probes(UserSelector(realm="wiki", user_id=1))]
        assert states == [ProbeState.WOULD, ProbeState.SENT]
        (pending,) = [d for d in store.decisions(NOW - timedelta(1), NOW + timedelta(1))
                      if d.decision.user_id == 1]  # fmt: skip
        assert pending.decision.disposition is Disposition.PROBING
        assert store.pending_decisions() == []


def test_pending_probes_show_in_report_and_user_show(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    probe = probed(world)
    capsys.readouterr()
    assert world.cli(tmp_path, "report", "--json") == 0
    (pending,) = json.loads(capsys.readouterr().out)["probes"]["pending"]
    assert (pending["id"], pending["state"], pending["user_id"]) == (probe.id, "sent", 1)
    assert pending["due_at"] == probe.due_at.isoformat()
    monkeypatch.setenv("COLUMNS", "80")
    assert world.cli(tmp_path, "report") == 0
    out = capsys.readouterr().out
    assert "Probes waiting for a bounce" in out and "probing" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert world.cli(tmp_path, "user", "show", "ann@one.example") == 0
    out = capsys.readouterr().out
    assert f"probe {probe.id}" in out and max(len(line) for line in out.splitlines()) <= 80


def _crashing(send: Callable[[ProbeSettings, Probe], Submission]) -> Callable[..., Submission]:
    def crash(settings: ProbeSettings, probe: Probe) -> Submission:
        send(settings, probe)  # the probe leaves ...
        raise KeyboardInterrupt  # ... and the process dies before it records so

    return crash


def test_a_crash_after_sending_never_sends_twice(world: World) -> None:
    enforce(world)
    world.dctx = world.probing(send=_crashing(send_probe))
    world.hard_days(1, "ann@one.example", [5, 3, 1])
    with pytest.raises(KeyboardInterrupt):
        world.poll()
    assert len(world.sink.envelopes) == 1
    (probe,) = world.probes(1)
    assert probe.state is ProbeState.SENDING  # the intent, recorded before the send
    world.dctx = None  # restarted
    world.poll(NOW + timedelta(minutes=10))
    world.poll(NOW + timedelta(minutes=20))
    assert len(world.sink.envelopes) == 1  # never sent again
    assert world.decisions(1) == [Disposition.PROBING]
    # its bounce still confirms it
    world.bounce_of(probe.return_path, "ann@one.example", NOW + timedelta(hours=1))
    world.poll(NOW + timedelta(hours=1))
    assert world.suppressed() == {"ann@one.example"}


def test_an_unreachable_smtp_server_is_tried_again_and_never_clears(world: World) -> None:
    enforce(world)
    pctx = world.service.decide.probes
    assert pctx is not None
    down = replace(pctx.settings, smtp=replace(pctx.settings.smtp, smtp_port=_closed_port()))
    world.dctx = world.probing(settings=down)
    world.hard_days(1, "ann@one.example", [5, 3, 1])
    world.poll()
    (probe,) = world.probes(1)
    assert probe.state is ProbeState.UNSENT and "cannot connect" in probe.detail
    assert world.decisions(1) == [Disposition.PROBING] and world.suppressed() == set()
    world.poll(NOW + timedelta(days=5))  # still down: tried again, never cleared
    (probe,) = world.probes(1)
    assert (probe.state, probe.attempts) == (ProbeState.UNSENT, 2)
    world.dctx = None  # the server is back
    back = NOW + timedelta(days=5, hours=1)
    world.poll(back)
    (probe,) = world.probes(1)
    assert (probe.state, probe.attempts) == (ProbeState.SENT, 3)
    assert probe.sent_at == back and probe.due_at == back + timedelta(days=3)
    assert len(world.sink.envelopes) == 1


def _decision(user: int, address: str) -> Decision:
    return Decision(
        kind=DecisionKind.SUPPRESS, realm="wiki", user_id=user, address=address,
        at=int(NOW.timestamp()), mode=Mode.ENFORCE, disposition=Disposition.APPLIED,
        trigger=Trigger.HARD, rule="hard:3d/14d", hard_days=3,
    )  # fmt: skip


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_workers_open_one_probe(world: World) -> None:
    enforce(world)
    pctx = world.service.decide.probes
    assert pctx is not None
    barrier = threading.Barrier(2)
    results: list[object] = []

    def worker(name: str) -> None:
        run = ProbeRun(world.store, pctx, world.service.settings.policy, world.service.actions,
                       name, NOW)  # fmt: skip
        barrier.wait()
        try:
            results.append(run.begin(_decision(9, "nine@nine.example")))
        finally:
            world.store.release_connection()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r is None for r in results) == [False, True]
    assert len(world.probes(9)) == 1 and len(world.sink.envelopes) == 1
    assert world.decisions(9) == [Disposition.PROBING]


def test_the_breaker_still_applies_to_confirmed_probes(
    tmp_path: Path, mailbox_settings: MailboxSettings, dovecot: Dovecot,
    imap_account: Account, smtp: tuple[Sink, int],
) -> None:  # fmt: skip
    sink, port = smtp
    url = f"sqlite:///{tmp_path / 'state.db'}"
    settings = _settings(tmp_path, mailbox_settings, url, port)
    breaker = BreakerSettings(max_actions=1, window_seconds=86_400)
    settings = replace(settings, policy=replace(settings.policy, breaker=breaker))
    clock = Clock()
    with open_service(settings, clock=clock) as service:
        w = World(service, clock, sink, dovecot, imap_account)
        enforce(w)
        for user in (21, 22, 23):
            w.hard_days(user, f"u{user}@d{user}.example", [5, 3, 1])
        w.poll()
        probes = {user: w.probes(user)[0] for user in (21, 22, 23)}
        for user, probe in probes.items():
            w.bounce_of(probe.return_path, f"u{user}@d{user}.example",
                        NOW + timedelta(hours=1))  # fmt: skip
        w.poll(NOW + timedelta(hours=1))
        assert w.store.get_mode().mode is Mode.PAUSED
        assert w.suppressed() == {"u21@d21.example", "u22@d22.example"}
        assert [w.decisions(u)[0] for u in (21, 22, 23)] == [
            Disposition.APPLIED, Disposition.APPLIED, Disposition.WITHHELD
        ]  # fmt: skip
        assert [len(w.applied(u)) for u in (21, 22, 23)] == [1, 1, 0]
        assert all(w.probes(u)[0].state is ProbeState.BOUNCED for u in (21, 22, 23))


def test_probe_bounces_in_an_incident_confirm_nothing(
    tmp_path: Path, mailbox_settings: MailboxSettings, dovecot: Dovecot,
    imap_account: Account, smtp: tuple[Sink, int],
) -> None:  # fmt: skip
    sink, port = smtp
    url = f"sqlite:///{tmp_path / 'state.db'}"
    settings = _settings(tmp_path, mailbox_settings, url, port)
    settings = replace(settings, policy=replace(settings.policy, incident=IncidentSettings(
        window_seconds=3600, min_users=2)))  # fmt: skip
    clock = Clock()
    with open_service(settings, clock=clock) as service:
        w = World(service, clock, sink, dovecot, imap_account)
        enforce(w)
        w.hard_days(31, "a@shared.example", [5, 3, 1])
        w.hard_days(32, "b@shared.example", [5.5, 3.5, 1.5])  # hours apart: no incident
        w.poll()
        for user, address in ((31, "a@shared.example"), (32, "b@shared.example")):
            probe = w.probes(user)[0]  # both probes bounce at one MX at once: an outage
            w.bounce_of(probe.return_path, address, NOW + timedelta(hours=1))
        w.poll(NOW + timedelta(hours=1))
        assert w.suppressed() == set()
        assert [w.probes(u)[0].state for u in (31, 32)] == [ProbeState.SENT, ProbeState.SENT]


def test_no_probe_token_no_action(world: World) -> None:
    """A realm too long for a token with a binding and a send reference: no probe can be
    made, and the decision records nothing rather than act without one."""
    enforce(world)
    pctx = world.service.decide.probes
    assert pctx is not None
    run = ProbeRun(world.store, pctx, world.service.settings.policy, world.service.actions,
                   "run-1", NOW)  # fmt: skip
    long_realm = replace(_decision(2**62, "x@long.example"), realm="a-rather-long-wiki-realm")
    assert run.begin(long_realm) is None
    assert world.store.probes() == [] and world.sink.envelopes == []
    assert world.store.decisions(NOW - timedelta(days=1), NOW + timedelta(days=1)) == []
