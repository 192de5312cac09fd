"""Reports, evidence trails and health: the store's report queries on every backend, the
`report` / `user show` / `status` commands through main(argv) (JSON content and exit codes),
the JSON keys documented in docs/cli.md against real output, and one run on the real dovecot.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dovecot import Account, Dovecot
from support import NOW, ROOT, check_documented

from reconciler.cli import main
from reconciler.config import DatabaseSettings, MailboxSettings, Settings, VerpKey, VerpSettings
from reconciler.records import (
    ActionOutcome,
    ActionStatus,
    BounceEvent,
    BreakerCause,
    BreakerTrip,
    Checkpoint,
    Decision,
    DecisionKind,
    Disposition,
    Fault,
    Incident,
    IncidentScope,
    LedgerEntry,
    MessageKind,
    MessageOutcome,
    Mode,
    Probe,
    ProbeState,
    Reason,
    Severity,
    Suppression,
    Trigger,
    UserSelector,
)
from reconciler.report.gather import mode_at
from reconciler.service.cycle import run_once
from reconciler.service.wiring import open_service
from reconciler.store import Store, open_database
from reconciler.verp import make_address

CORPUS = ROOT / "tests" / "corpus" / "sisimai" / "emails"
KEY = "report-test-key-0123456789abcdef"
_SAMPLES = itertools.count(1)

# -- seeding ---------------------------------------------------------------------------------


def _event(
    recipient: str, when: datetime, severity: Severity = Severity.HARD, **kw: Any
) -> BounceEvent:
    verified = "user_id" in kw
    values: dict[str, Any] = {
        "kind": MessageKind.BOUNCE,
        "reason": Reason.USERUNKNOWN if severity is Severity.HARD else Reason.MAILBOXFULL,
        "severity": severity,
        "fault": Fault.RECIPIENT,
        "rule_id": "test-rule",
        "status": "5.1.1" if severity is Severity.HARD else "4.2.2",
        "diagnostic": "550 5.1.1 no such user",
        "remote_mta": "mx.one.example",
        "realm": "wiki" if verified else None,
        "verp_valid": verified,
    }
    values.update(kw)
    return BounceEvent(recipient=recipient, event_time=when, **values)


def _entry(mailbox: str, uid: int, when: datetime, *events: BounceEvent) -> LedgerEntry:
    outcome = (
        MessageOutcome.PROCESSED
        if any(e.verp_valid for e in events)
        else (MessageOutcome.UNMATCHED if events else MessageOutcome.QUARANTINED)
    )
    return LedgerEntry(
        mailbox=mailbox, uidvalidity=7, uid=uid, sha256=f"{mailbox}-{uid}".ljust(64, "0"),
        size=100, outcome=outcome, received_at=when, processed_at=when,
        destination="processed", events=events,
    )  # fmt: skip


def seed(store: Store, now: datetime) -> None:
    """Two mailboxes; user wiki:1 with hard bounces on 3 days (acted on, then undone), user
    wiki:2 with one soft day, an unmatched event, a quarantined message; mode changes and a
    breaker trip; an incident."""
    day = timedelta(days=1)
    ann = [_event("ann@one.example", now - n * day, user_id=1) for n in (3, 2, 1)]
    bob = _event("bob@two.example", now - 2 * day, Severity.SOFT, user_id=2, remote_mta=None)
    stray = _event("who@three.example", now - 1 * day, verp_failure=None)
    entries = [_entry("main", uid, e.event_time, e) for uid, e in enumerate([*ann, bob], 1)]
    entries += [_entry("side", 1, now - day, stray), _entry("side", 2, now - day)]
    store.record_batch(entries, now - day)
    store.set_checkpoint(Checkpoint("main", 7, 4, last_success=now - timedelta(minutes=5)), now)
    store.set_checkpoint(Checkpoint("side", 7, 2, last_success=now - 2 * day), now)
    store.set_mode(Mode.ENFORCE, "operator:test", "go", now - timedelta(hours=12))
    _decide(store, now - timedelta(hours=6))
    trip = BreakerTrip(BreakerCause.ACTION_COUNT, int(now.timestamp()), 60, 50, 60, "too many")
    store.trip_breaker(trip, now - timedelta(hours=1))
    start = int((now - day).timestamp())
    spike = Incident(IncidentScope.DOMAIN, "three.example", Reason.USERUNKNOWN, 6, start,
                     start + 600, active=False)  # fmt: skip
    store.record_incidents([spike], now - day)


def _decide(store: Store, at: datetime) -> None:
    ids = tuple(e.event_id for e in store.user_history("wiki", 1, at - timedelta(days=9)).events)
    decision = Decision(
        kind=DecisionKind.SUPPRESS, realm="wiki", user_id=1, address="ann@one.example",
        at=int(at.timestamp()), mode=Mode.ENFORCE, disposition=Disposition.APPLIED,
        trigger=Trigger.HARD, rule="hard:3d/14d", hard_days=3, event_ids=ids,
        reasons=(Reason.USERUNKNOWN,),
    )  # fmt: skip
    stored = store.record_decision(decision, "run-1", at)
    store.mark_applied([stored.id], at)
    store.add_suppression(Suppression("ann@one.example", "wiki", 1, "hard", at, stored.id))
    action = store.record_action(stored.id, ActionOutcome("suppress", ActionStatus.DONE), at)
    later = at + timedelta(hours=2)
    store.mark_undone(stored.id, later)
    store.mark_action_undone(action.id, later)
    store.remove_suppression("ann@one.example")
    store.audit("operator:test", "undo", "wrong: suppress done", later, stored.id)


# -- store queries (every backend) -----------------------------------------------------------


def test_event_summary_counts_by_field_day_domain_and_mailbox(store: Store) -> None:
    seed(store, NOW)
    summary = store.event_summary(NOW - timedelta(days=7), NOW)
    assert summary.total == 5
    assert dict(summary.severities) == {Severity.HARD: 4, Severity.SOFT: 1, Severity.NONE: 0}
    assert dict(summary.reasons)[Reason.USERUNKNOWN] == 4 and len(summary.reasons) == len(Reason)
    assert summary.domains[0] == ("one.example", 3)
    assert dict(summary.remote_mtas) == {"mx.one.example": 4, "": 1}
    days = {d.day: (d.hard, d.soft) for d in summary.days}
    assert days == {
        date(2026, 11, 23): (1, 0),
        date(2026, 11, 24): (1, 1),
        date(2026, 11, 25): (2, 0),
    }
    side = store.event_summary(NOW - timedelta(days=7), NOW, mailbox="side")
    assert side.total == 1 and side.domains == (("three.example", 1),)


def test_outcomes_decisions_and_mailbox_state(store: Store) -> None:
    seed(store, NOW)
    outcomes = dict(store.outcome_counts(NOW - timedelta(days=7), NOW))
    assert outcomes[MessageOutcome.PROCESSED] == 4 and outcomes[MessageOutcome.UNMATCHED] == 1
    assert outcomes[MessageOutcome.QUARANTINED] == 1
    assert dict(store.outcome_counts(NOW - timedelta(days=7), NOW, "main"))[
        MessageOutcome.UNMATCHED] == 0  # fmt: skip
    summary = store.decision_summary(NOW - timedelta(days=1), NOW)
    assert (summary.total, summary.applied, summary.undone) == (1, 1, 1)
    assert dict(summary.dispositions)[Disposition.APPLIED] == 1
    assert [(a.action, a.status, a.count) for a in summary.actions] == [
        ("suppress", ActionStatus.DONE, 1)]  # fmt: skip
    state = store.mailbox_state("main")
    assert state.checkpoint is not None and state.unmoved == 4 and state.retrying == 0
    assert store.mailbox_state("nowhere").checkpoint is None
    assert [c.mailbox for c in store.checkpoints()] == ["main", "side"]


def test_trail_queries_and_the_mode_in_force(store: Store) -> None:
    seed(store, NOW)
    events = store.stored_events(UserSelector(realm="wiki", user_id=1))
    assert [e.uid for e in events] == [1, 2, 3] and events[0].mailbox == "main"
    assert store.stored_events(UserSelector(user_id=1)) == events  # any realm
    by_address = store.stored_events(UserSelector(address="WHO@three.example"))
    assert [e.event.recipient for e in by_address] == ["who@three.example"]
    decisions = store.selected_decisions(UserSelector(address="ann@one.example"))
    assert [d.decision.user_id for d in decisions] == [1]
    assert [a.action for a in store.decision_audit([decisions[0].id])] == ["undo"]
    changes = store.mode_changes()
    assert [c.new_mode for c in changes] == [Mode.ENFORCE, Mode.PAUSED]
    assert mode_at(changes, NOW - timedelta(days=1)) is Mode.LOG_ONLY
    assert mode_at(changes, NOW - timedelta(hours=6)) is Mode.ENFORCE
    assert mode_at(changes, NOW) is Mode.PAUSED
    histories = store.period_histories(NOW - timedelta(days=30), NOW)
    assert [(h.user_id, len(h.events)) for h in histories] == [(1, 3), (2, 1)]


# -- the commands ----------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two configured mailboxes (no server behind them: use --no-imap) and a SQLite store."""
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "secret")
    monkeypatch.setenv("TEST_VERP_KEY", KEY)
    path = tmp_path / "reconciler.toml"
    mailboxes = "".join(
        f'[[mailbox]]\nname = "{name}"\nhost = "127.0.0.1"\nport = 1\nsecurity = "none"\n'
        f'username = "u"\npassword_env = "TEST_IMAP_PASSWORD"\n\n'
        for name in ("main", "side")
    )
    path.write_text(
        f'{mailboxes}[database]\nurl = "sqlite:///{tmp_path / "state.db"}"\n\n'
        "[daemon]\ninterval_seconds = 300\n\n"
        '[verp]\ndomain = "bounces.example.org"\n[[verp.keys]]\nid = "k"\n'
        'secret_env = "TEST_VERP_KEY"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def seeded(config: Path) -> Path:
    with open_database(f"sqlite:///{config.parent / 'state.db'}") as store:
        store.migrate(datetime.now(UTC))
        seed(store, datetime.now(UTC))
    return config


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out = _run(capsys, *argv)
    return code, json.loads(out)


def test_report_json_content(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _json(capsys, "--config", str(seeded), "report", "--json")
    assert code == 0
    assert out["events"]["total"] == 5 and out["events"]["severity"]["hard"] == 4
    assert out["messages"]["quarantined"] == 1 and out["messages"]["unmatched"] == 1
    assert [d["total"] for d in out["per_day"]] == [1, 2, 2]
    assert out["top_domains"][0] == {"domain": "one.example", "count": 3}
    assert out["mode"]["mode"] == "paused" and out["mode"]["breaker"]["tripped"] is True
    assert "too many" in out["mode"]["breaker"]["last_trip"]["detail"]
    closest = out["closest"]
    assert closest[0]["user_id"] == 1 and closest[0]["hard_days"] == 3
    assert closest[0]["trigger"] == "hard" and closest[0]["closeness"] == 1.0
    assert closest[1]["user_id"] == 2 and closest[1]["soft_days"] == 1
    assert out["decisions"]["disposition"]["applied"] == 1 and out["decisions"]["undone"] == 1
    assert out["actions"] == [{"action": "suppress", "status": "done", "count": 1}]
    assert [c["mailbox"] for c in out["checkpoints"]] == ["main", "side"]
    code, side = _json(capsys, "--config", str(seeded), "report", "--json", "--mailbox", "side")
    assert side["events"]["total"] == 1 and side["closest"] == []
    code, old = _json(capsys, "--config", str(seeded), "report", "--json", "--since", "30m")
    assert old["events"]["total"] == 0 and old["per_day"] == []


def test_report_text_is_plain_when_piped(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, "--config", str(seeded), "report", "--since", "2w")
    assert code == 0
    assert "\x1b[" not in out  # no colour codes when not a terminal
    assert "mode: paused" in out and "breaker: TRIPPED" in out
    assert re.search(r"\d{4}-\d\d-\d\d\s+2\s+2/0/0\s+#+", out) or "█" in out
    assert "wiki:1" in out and "3/3" in out


def test_report_rejects_bad_arguments(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(seeded), "report", "--since", "yesterday"]) == 2
    assert main(["--config", str(seeded), "report", "--mailbox", "nope"]) == 2
    assert main(["--config", str(seeded), "user", "show", "wiki:x"]) == 2


def test_user_show_json_is_the_whole_trail(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _json(capsys, "--config", str(seeded), "user", "show", "wiki:1", "--json")
    assert code == 0
    assert out["query"] == {"realm": "wiki", "user_id": 1, "address": None}
    assert [e["uid"] for e in out["events"]] == [1, 2, 3]
    assert {e["rule"] for e in out["events"]} == {"test-rule"}
    assert out["events"][0]["diagnostic"] == "550 5.1.1 no such user"
    assert [e["mode"] for e in out["events"]] == ["log-only"] * 3  # recorded before enforce
    (decision,) = out["decisions"]
    assert decision["mode"] == "enforce" and decision["undone_at"] is not None
    assert [(a["action"], a["mode"]) for a in out["actions"]] == [("suppress", "enforce")]
    assert [(a["action"], a["mode"]) for a in out["audit"]] == [("undo", "enforce")]
    assert out["suppressions"] == []
    code, text = _run(capsys, "--config", str(seeded), "user", "show", "ann@ONE.example")
    assert code == 0 and "decision" in text and "undo" in text and "test-rule" in text
    code, by_address = _json(
        capsys, "--config", str(seeded), "user", "show", "who@three.example", "--json"
    )
    assert code == 0 and by_address["events"][0]["verp_valid"] is False
    assert main(["--config", str(seeded), "user", "show", "99"]) == 1  # nothing known


def _checkpoints(config: Path, ages: dict[str, timedelta | None]) -> None:
    now = datetime.now(UTC)
    with open_database(f"sqlite:///{config.parent / 'state.db'}") as store:
        store.migrate(now)
        for name, age in ages.items():
            success = now - age if age is not None else None
            store.set_checkpoint(Checkpoint(name, 7, 0, last_success=success), now)


@pytest.mark.parametrize(
    ("ages", "code", "stale"),
    [
        ({"main": timedelta(minutes=1), "side": timedelta(minutes=14)}, 0, []),
        ({"main": timedelta(minutes=1), "side": timedelta(minutes=16)}, 1, ["side"]),
        ({"main": timedelta(minutes=1), "side": None}, 1, ["side"]),  # checkpoint, no success
        ({"main": timedelta(minutes=1)}, 1, ["side"]),  # never polled at all
    ],
    ids=["fresh", "stale", "never-succeeded", "never-polled"],
)
def test_status_exit_code_follows_three_intervals(
    config: Path, capsys: pytest.CaptureFixture[str],
    ages: dict[str, timedelta | None], code: int, stale: list[str],
) -> None:  # fmt: skip
    _checkpoints(config, ages)
    got, out = _json(capsys, "--config", str(config), "status", "--json", "--no-imap")
    assert got == code and out["ok"] is (code == 0)
    assert out["stale_after_seconds"] == 900
    assert [m["mailbox"] for m in out["mailboxes"] if m["stale"]] == stale
    assert all(m["imap_backlog"] is None for m in out["mailboxes"])
    assert out["mode"]["mode"] == "log-only" and out["mode"]["breaker"]["tripped"] is False


def test_status_tolerates_an_unreachable_server(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _checkpoints(config, {"main": timedelta(minutes=1), "side": timedelta(minutes=1)})
    code, out = _json(capsys, "--config", str(config), "status", "--json")
    assert code == 0  # freshness decides; an unreachable server is reported, not fatal
    assert all(m["imap_backlog"] is None and m["imap_error"] for m in out["mailboxes"])
    code, text = _run(capsys, "--config", str(config), "status")
    assert code == 0 and "unknown" in text and "status: ok" in text


# -- the documented JSON keys ----------------------------------------------------------------


def test_docs_cli_md_documents_every_json_key(
    seeded: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = ["--config", str(seeded)]
    with open_database(f"sqlite:///{seeded.parent / 'state.db'}") as store:  # a pending probe
        at = datetime.now(UTC)
        store.insert_probe(Probe(
            0, None, "wiki", 1, "ann@one.example", Trigger.HARD, ProbeState.SENDING,
            "p1@bounces.example.org", "abcd", "bounces+t@bounces.example.org", at,
            at + timedelta(days=3),
        ))  # fmt: skip
    check_documented("report --json", [_json(capsys, *config, "report", "--json")[1]])
    trails = [
        _json(capsys, *config, "user", "show", t, "--json")[1]
        for t in ("wiki:1", "who@three.example")
    ]
    with open_database(f"sqlite:///{seeded.parent / 'state.db'}") as store:  # a live suppression
        store.add_suppression(Suppression("bob@two.example", "wiki", 2, "hard", datetime.now(UTC)))
    trails.append(_json(capsys, *config, "user", "show", "wiki:2", "--json")[1])
    check_documented("user show --json", trails)
    check_documented("status --json", [_json(capsys, *config, "status", "--json")[1]])
    monkeypatch.chdir(seeded.parent)
    garbage = seeded.parent / "garbage.eml"
    garbage.write_bytes(b"")  # an empty message: a row with "error"
    signed = _verp_sample(seeded.parent, 5, "ann@one.example")
    _code, out = _run(capsys, *config, "classify", "--json", str(signed), str(garbage),
                     str(CORPUS / "lhost-postfix-33.eml"))  # fmt: skip
    rows = [json.loads(line) for line in out.splitlines()]
    assert any(r["verp"] for r in rows) and any("error" in r for r in rows)
    check_documented("classify --json", rows)


def _verp_sample(directory: Path, user: int, address: str, when: datetime | None = None) -> Path:
    """A corpus bounce for `address`, with a signed VERP Delivered-To header, as a file."""
    verp = VerpSettings(domain="bounces.example.org", keys=(VerpKey("k", KEY.encode()),))
    moment = int((when or datetime.now(UTC)).timestamp()) - 600
    token = make_address(verp, user_id=user, address=address, realm="wiki", now=moment)
    data = (CORPUS / "lhost-postfix-33.eml").read_bytes()
    data = data.replace(b"userunknown@libsisimai.org", address.encode())
    number = next(_SAMPLES)  # distinct bytes each call, as real bounces are
    path = directory / f"verp-{user}-{number}.eml"
    path.write_bytes(f"Delivered-To: {token}\r\nX-Test-Sample: {number}\r\n".encode() + data)
    return path


# -- end to end on the real dovecot ----------------------------------------------------------


def _deliver(dovecot: Dovecot, account: Account, mail: list[tuple[bytes, datetime]]) -> None:
    with dovecot.client(account, folder=None) as imap:
        for data, when in mail:
            imap.append("INBOX", data, msg_time=when)


@pytest.mark.live
def test_poll_then_report_user_show_and_status_with_imap_backlog(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account, mailbox_settings: MailboxSettings,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    now = datetime.now(UTC).replace(microsecond=0)
    verp = VerpSettings(domain="bounces.example.org", keys=(VerpKey("k", KEY.encode()),))
    db = f"sqlite:///{tmp_path / 'state.db'}"
    settings = Settings(mailboxes=(mailbox_settings,), database=DatabaseSettings(url=db),
                        verp=verp)  # fmt: skip
    bounces = [(_verp_sample(tmp_path, 7, "kim@seven.example", now), now - timedelta(days=n))
               for n in (3, 2, 1)]  # fmt: skip
    _deliver(dovecot, imap_account, [(path.read_bytes(), when) for path, when in bounces])
    with open_service(settings) as service:
        result = run_once(settings.mailboxes, service.store, service.cycle, mode="log-only")
        assert result.ok, result.errors
    _deliver(dovecot, imap_account, [(bounces[0][0].read_bytes(), now)] * 2)  # not polled yet
    monkeypatch.setenv("TEST_IMAP_PASSWORD", imap_account.password)
    monkeypatch.setenv("TEST_VERP_KEY", KEY)
    config = tmp_path / "live.toml"
    config.write_text(
        f'[[mailbox]]\nname = "test"\nhost = "{dovecot.host}"\nport = {dovecot.imap_port}\n'
        f'security = "none"\nusername = "{imap_account.name}"\n'
        f'password_env = "TEST_IMAP_PASSWORD"\n\n[database]\nurl = "{db}"\n\n'
        '[verp]\ndomain = "bounces.example.org"\n[[verp.keys]]\nid = "k"\n'
        'secret_env = "TEST_VERP_KEY"\n',
        encoding="utf-8",
    )
    code, status = _json(capsys, "--config", str(config), "status", "--json")
    assert code == 0 and status["ok"] is True
    (box,) = status["mailboxes"]
    assert (box["imap_backlog"], box["imap_error"], box["unmoved"]) == (2, None, 0)
    code, report = _json(capsys, "--config", str(config), "report", "--json")
    assert report["events"]["severity"]["hard"] == 3 and report["messages"]["processed"] == 3
    assert report["top_domains"] == [{"domain": "seven.example", "count": 3}]
    assert report["decisions"]["disposition"]["would"] >= 1
    code, trail = _json(capsys, "--config", str(config), "user", "show", "wiki:7", "--json")
    assert code == 0 and len(trail["events"]) == 3
    assert {e["rule"] for e in trail["events"]} != {""} and trail["events"][0]["diagnostic"]
    assert [d["disposition"] for d in trail["decisions"]][-1] == "would"
    assert dovecot.uids(imap_account)  # status and report only read: the backlog is still there


def test_report_store_methods_are_not_shadowed_by_other_store_parts() -> None:
    """`Store` mixes in several parts; a same-named method elsewhere would hide a report query."""
    from reconciler.store.reportapi import ReportStore

    mine = {name for name in vars(ReportStore) if not name.startswith("__")}
    for part in Store.__mro__:
        if part not in (ReportStore, object):
            assert not mine & set(vars(part)), (part, mine & set(vars(part)))
