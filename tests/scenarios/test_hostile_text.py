"""Text from bounces is shown, never obeyed (issue 12, item 6).

A diagnostic, recipient, subject, Message-ID, remote MTA or file name may carry rich markup
(`[link=...]`, a stray `[/]`), ANSI / OSC sequences, C1 controls and bidi overrides.  Every
command that prints runs here through `main(argv)` as a user runs it, plain (piped) and as a
terminal (`FORCE_COLOR`): it must not crash, must show the text literally, and its output may
hold no escape sequence but our own SGR styling.  The log lines (text and JSON) and the digest
mail are checked the same way, and the JSON outputs must stay faithful to the text.
"""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dovecot import Account, Dovecot
from helpers_text import HOSTILE, VISIBLE, foreign, hostile_bounce, plain
from smtpsink import Sink, received
from support import ROOT

from reconciler.analysis import analyse
from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules
from reconciler.cli import main
from reconciler.config import LoggingSettings, VerpKey, VerpSettings
from reconciler.logs import configure_logging
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
    Reason,
    Severity,
    Suppression,
    Trigger,
)
from reconciler.report.console import make_console
from reconciler.store import Store, open_database
from reconciler.verp import make_address

KEY = "hostile-text-test-key-0123456789"
VERP = VerpSettings(domain="bounces.example.org", keys=(VerpKey("k", KEY.encode()),))
ADDRESS = "ann[/]\x1b[2j@one.example"  # lower case: the store keeps addresses lower-cased
SHOWN = r"\x1b[2J"  # how an escape shows: visibly, as the text it is
NAME = "b[red]\x1b]0;x\x07[link=mailto:x@evil.example]y.eml"  # no "/" in a file name


@pytest.fixture(params=["piped", "terminal"])
def terminal(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run once as a pipe and once as a colour terminal; wide enough not to fold the text."""
    monkeypatch.setenv("COLUMNS", "240")
    monkeypatch.delenv("NO_COLOR", raising=False)
    if request.param == "terminal":
        monkeypatch.setenv("FORCE_COLOR", "1")
        monkeypatch.setenv("TERM", "xterm-256color")
        return True
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return False


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _shown_safely(out: str, terminal: bool, *texts: str) -> None:
    """No escape sequence but our styling; styling only on a terminal; `texts` literally."""
    assert foreign(out) == []
    assert ("\x1b[" in out) is terminal  # the styling we chose, and only on a terminal
    for text in texts:
        assert text in plain(out)


# -- classify and explain: files, no configuration -------------------------------------------


@pytest.fixture
def hostile_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no ./reconciler.toml
    path = tmp_path / NAME  # a file name is message text too
    path.write_bytes(hostile_bounce())
    return path


def test_explain_shows_hostile_text_literally(
    hostile_file: Path, terminal: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "explain", str(hostile_file))
    assert code == 0
    _shown_safely(out, terminal, *VISIBLE, SHOWN, r"\x9b2J", r"\u202eexe", "b[red]")
    assert "userunknown" in out  # the bounce was understood, not just survived


def test_classify_table_shows_hostile_file_names_literally(
    hostile_file: Path, terminal: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "classify", str(hostile_file))
    assert code == 0
    _shown_safely(out, terminal, r"b[red]\x1b]0;x\x07[link=mailto:", "userunknown")


def test_classify_json_is_faithful_and_escapes_every_control(
    hostile_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "classify", "--json", str(hostile_file))
    assert code == 0
    assert foreign(out) == []  # C0 escaped by JSON itself; DEL, C1 and bidi as \u escapes
    (row,) = [json.loads(line) for line in out.splitlines()]
    analysis = analyse(hostile_file.read_bytes(), Classifier(load_rules().rules), None, 0)
    bounce = analysis.verdicts[0].bounce
    assert HOSTILE in bounce.diagnostic  # the parser kept the text ...
    assert row["diagnostic"] == bounce.diagnostic  # ... and the JSON is faithful to it
    assert row["remote_mta"] == bounce.remote_mta
    assert row["file"] == str(hostile_file)


# -- the store's commands: report, user show, suppressions, mode, undo, digest ---------------


def _event(when: datetime, **kw: Any) -> BounceEvent:
    values: dict[str, Any] = {
        "recipient": ADDRESS,
        "kind": MessageKind.BOUNCE,
        "reason": Reason.USERUNKNOWN,
        "severity": Severity.HARD,
        "fault": Fault.RECIPIENT,
        "rule_id": "test-rule",
        "event_time": when,
        "status": "5.1.1",
        "diagnostic": HOSTILE,
        "remote_mta": HOSTILE,
        "original_message_id": f"<{HOSTILE}@mx>",
    }
    values.update(kw)
    return BounceEvent(**values)


def _entry(uid: int, event: BounceEvent) -> LedgerEntry:
    return LedgerEntry(
        mailbox="main", uidvalidity=7, uid=uid, sha256=f"{uid:064x}", size=100,
        outcome=MessageOutcome.PROCESSED if event.verp_valid else MessageOutcome.UNMATCHED,
        received_at=event.event_time, processed_at=event.event_time, destination="processed",
        message_id=f"<{HOSTILE}@mx>", events=(event,),
    )  # fmt: skip


def _seed(store: Store, now: datetime) -> None:
    """Five forged (unmatched) bounces and three of wiki:1 carrying HOSTILE everywhere; a
    decision, action, suppression, undo, mode change, breaker trip and incident naming it."""
    day = timedelta(days=1)
    events = [_event(now - n * day, realm="wiki", user_id=1, verp_valid=True) for n in (3, 2, 1)]
    events += [_event(now - day) for _ in range(5)]
    entries = [_entry(uid, e) for uid, e in enumerate(events, 1)]
    store.record_batch(entries, now - timedelta(hours=8))  # within the digest's 24 hours
    store.set_checkpoint(Checkpoint("main", 7, 8, last_success=now - timedelta(minutes=5)), now)
    at = now - timedelta(hours=6)
    store.set_mode(Mode.ENFORCE, "operator:[/]ops", HOSTILE, at - timedelta(hours=1))
    ids = tuple(e.event_id for e in store.user_history("wiki", 1, at - 9 * day).events)
    decision = Decision(
        kind=DecisionKind.SUPPRESS, realm="wiki", user_id=1, address=ADDRESS,
        at=int(at.timestamp()), mode=Mode.ENFORCE, disposition=Disposition.APPLIED,
        trigger=Trigger.HARD, rule="hard:3d/14d", hard_days=3, event_ids=ids,
        reasons=(Reason.USERUNKNOWN,),
    )  # fmt: skip
    stored = store.record_decision(decision, "run-1", at)
    store.mark_applied([stored.id], at)
    store.add_suppression(Suppression(ADDRESS, "wiki", 1, HOSTILE, at, stored.id))
    store.record_action(stored.id, ActionOutcome("command", ActionStatus.DONE, HOSTILE), at)
    store.audit("operator:ops", "apply-pending", HOSTILE, at, stored.id)
    trip = BreakerTrip(BreakerCause.ACTION_COUNT, int(now.timestamp()), 60, 50, 60, HOSTILE)
    store.trip_breaker(trip, now - timedelta(hours=1))
    start = int((now - day).timestamp())
    spike = Incident(IncidentScope.REMOTE_MTA, HOSTILE, Reason.USERUNKNOWN, 6, start,
                     start + 600, active=True)  # fmt: skip
    store.record_incidents([spike], now - day)


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration (one mailbox without a server, SQLite) and a store full of HOSTILE."""
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "secret")
    monkeypatch.setenv("TEST_VERP_KEY", KEY)
    path = tmp_path / "reconciler.toml"
    path.write_text(
        '[[mailbox]]\nname = "main"\nhost = "127.0.0.1"\nport = 1\nsecurity = "none"\n'
        'username = "u"\npassword_env = "TEST_IMAP_PASSWORD"\n\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "state.db"}"\n\n'
        '[verp]\ndomain = "bounces.example.org"\n[[verp.keys]]\nid = "k"\n'
        'secret_env = "TEST_VERP_KEY"\n',
        encoding="utf-8",
    )
    now = datetime.now(UTC)
    with open_database(f"sqlite:///{tmp_path / 'state.db'}") as store:
        store.migrate(now)
        _seed(store, now)
    return path


@pytest.mark.parametrize(
    ("argv", "texts"),
    [
        (["report", "--since", "2w"], ("[/]", SHOWN, "[link=https://evil.example/]")),
        (["user", "show", "wiki:1"], ("[/]", SHOWN, "ann[/]\\x1b[2j@one.example")),
        (["user", "show", ADDRESS], ("[/]", SHOWN)),
        (["suppressions", "list"], ("ann[/]\\x1b[2j@one.example", SHOWN)),
        (["mode"], ("operator:[/]ops", SHOWN)),
        (["undo", "--since", "2w", "--note", "wrong", "--yes"], ("ann[/]\\x1b[2j@one.",)),
    ],
    ids=["report", "user-show", "user-show-address", "suppressions", "mode", "undo"],
)
def test_store_commands_show_hostile_text_literally(
    seeded: Path,
    terminal: bool,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    texts: tuple[str, ...],
) -> None:
    code, out, err = _run(capsys, "--config", str(seeded), *argv)
    assert code == 0, err
    _shown_safely(out, terminal, *texts)


def test_report_and_user_show_json_are_faithful(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "--config", str(seeded), "report", "--json", "--since", "2w")
    assert code == 0 and foreign(out) == []
    report = json.loads(out)
    assert report["top_remote_mtas"][0] == {"remote_mta": HOSTILE, "count": 8}
    assert report["mode"]["breaker"]["last_trip"]["detail"].endswith(HOSTILE)
    assert [i["key"] for i in report["incidents"]] == [HOSTILE]
    code, out, _ = _run(capsys, "--config", str(seeded), "user", "show", "wiki:1", "--json")
    assert code == 0 and foreign(out) == []
    trail = json.loads(out)
    assert {e["diagnostic"] for e in trail["events"]} == {HOSTILE}
    assert {e["original_message_id"] for e in trail["events"]} == {f"<{HOSTILE}@mx>"}
    assert [s["reason"] for s in trail["suppressions"]] == [HOSTILE]
    assert [a["detail"] for a in trail["actions"]] == [HOSTILE]


def test_digest_mail_shows_hostile_text_as_text(
    seeded: Path,
    smtp: tuple[Sink, int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    sink, port = smtp
    with seeded.open("a", encoding="utf-8") as config:
        config.write(
            f'\n[digest]\nenabled = true\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\n'
            'starttls = false\nsender = "reconciler@example.org"\n'
            'recipients = ["ops@example.org"]\nshow_addresses = true\n'
        )
    code, _, err = _run(capsys, "--config", str(seeded), "digest", "--force")
    assert code == 0, err
    message = received(sink)
    parts = [part.get_content() for part in message.walk() if not part.is_multipart()]
    assert len(parts) == 2  # the summary and the unmatched examples
    for text in parts:
        assert foreign(text.replace("\r\n", "\n")) == []
        assert SHOWN in text and "[/]" in text
    assert str(message["Subject"]).isprintable()


def test_warnings_of_a_command_without_logging_set_up_show_hostile_text_as_text(
    seeded: Path, terminal: bool
) -> None:
    """`mode enforce --apply-pending` sets up no logging, but a failing action warns (through
    Python's last-resort handler, so in a process of its own); the program quotes the
    bounce's address back."""
    now = datetime.now(UTC)
    with open_database(f"sqlite:///{seeded.parent / 'state.db'}") as store:
        pending = Decision(
            kind=DecisionKind.SUPPRESS, realm="wiki", user_id=2, address="bob\x1b[2j@two.example",
            at=int(now.timestamp()), mode=Mode.LOG_ONLY, disposition=Disposition.WOULD,
            trigger=Trigger.HARD, rule="hard:3d/14d", hard_days=3,
        )  # fmt: skip
        store.record_decision(pending, "run-2", now)
    program = (
        "import json, sys; address = json.load(sys.stdin)['decision']['address']; "
        "sys.exit('no user ' + address)"
    )
    with seeded.open("a", encoding="utf-8") as config:
        config.write(
            '\n[actions]\nenabled = ["command"]\n\n[actions.command]\n'
            f"argv = {json.dumps([sys.executable, '-c', program])}\n"
        )
    argv = ["mode", "enforce", "--reason", "go", "--yes", "--apply-pending"]
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--config", str(seeded), *argv],
        capture_output=True, text=True, errors="surrogateescape", check=False, timeout=120,
    )  # fmt: skip
    code, out, err = done.returncode, done.stdout, done.stderr
    assert code == 0, err
    _shown_safely(out, terminal, "bob\\x1b[2j@two.example")
    assert "action command failed" in err and "no user bob\\x1b[2j@two.example" in err
    assert foreign(err) == []


# -- the console itself: the one boundary ----------------------------------------------------


def test_the_console_never_parses_markup_nor_passes_controls() -> None:
    """Whatever a report module hands it, even asking for markup, text stays text."""
    from rich.text import Text

    out = io.StringIO()
    console = make_console(out)
    console.print("[bold]x[/] [/]", markup=True)
    console.print(Text("raw \x1b[2J\x9b1m\u202e"))  # a Text built around the helpers
    console.print(":warning: \x1b]8;;https://evil.example/\x1b\\")
    text = out.getvalue()
    assert foreign(text) == []
    assert "[bold]x[/] [/]" in text and ":warning:" in text


def test_report_modules_never_build_markup() -> None:
    """Styling is chosen with Text and styles, never with markup strings that could carry a
    message's text: no `from_markup`, no `markup=True`, no `rich.markup`."""
    report = ROOT / "reconciler" / "report"
    for module in report.glob("*.py"):
        source = module.read_text(encoding="utf-8")
        found = re.findall(r"from_markup|markup=True|rich\.markup|render_markup", source)
        assert found == [], module.name


# -- log lines ---------------------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_text_log_lines_neutralise_controls_and_never_start_a_forged_record(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(LoggingSettings())
    forged = "\n2026-01-01 00:00:00,000 ERROR reconciler.service.decisions: decision 1 forged"
    logging.getLogger("reconciler.test").warning("diagnostic=%s", HOSTILE + forged)
    err = capsys.readouterr().err
    assert foreign(err) == [] and SHOWN in err and "[/]" in err
    (first, *more) = err.splitlines()
    assert "WARNING reconciler.test: diagnostic=" in first
    assert more and all(line.startswith(" ") for line in more)  # a continuation, not a record


def test_json_log_lines_are_faithful_and_escape_every_control(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(LoggingSettings(format="json"))
    logging.getLogger("reconciler.test").warning("diagnostic=%s", HOSTILE + "\n")
    err = capsys.readouterr().err
    assert foreign(err) == [] and len(err.splitlines()) == 1
    assert json.loads(err)["message"] == f"diagnostic={HOSTILE}\n"


# -- a poll cycle, its logs and the dry run on the real dovecot ------------------------------


def _live_config(tmp_path: Path, dovecot: Dovecot, account: Account, log_format: str) -> Path:
    path = tmp_path / "live.toml"
    path.write_text(
        f'[[mailbox]]\nname = "test"\nhost = "{dovecot.host}"\nport = {dovecot.imap_port}\n'
        f'security = "none"\nusername = "{account.name}"\n'
        f'password_env = "TEST_IMAP_PASSWORD"\n\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "live.db"}"\n\n'
        f'[logging]\nlevel = "debug"\nformat = "{log_format}"\n\n'
        '[verp]\ndomain = "bounces.example.org"\n[[verp.keys]]\nid = "k"\n'
        'secret_env = "TEST_VERP_KEY"\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.live
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_dry_run_and_poll_once_show_and_log_hostile_text_safely(
    tmp_path: Path,
    dovecot: Dovecot,
    imap_account: Account,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    restore_logging: None,
    log_format: str,
) -> None:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", imap_account.password)
    monkeypatch.setenv("TEST_VERP_KEY", KEY)
    now = int(datetime.now(UTC).timestamp())
    token = make_address(
        VERP, user_id=1, address="userunknown@libsisimai.org", realm="wiki", now=now - 600
    )
    with dovecot.client(imap_account, folder=None) as imap:
        imap.append("INBOX", hostile_bounce(token=token))
        imap.append("INBOX", hostile_bounce(recipient="forged@two.example"))  # no token
    config = str(_live_config(tmp_path, dovecot, imap_account, log_format))
    code, out, err = _run(capsys, "--config", config, "dry-run")
    assert code == 0, err
    assert foreign(out) == [] and foreign(err) == [], (out, err)
    assert "wiki:1" in out
    code, out, err = _run(capsys, "--config", config, "poll", "--once")
    assert code == 0, err
    assert foreign(out) == [] and foreign(err) == []
    if log_format == "json":
        messages = [json.loads(line)["message"] for line in err.splitlines()]
        assert any(f"message-id=<{HOSTILE}@mx>" in m for m in messages)  # faithful
    else:
        assert "message-id=<[link=https://evil.example/]click[/link] [/]" in err
        assert r"\x1b]0;pwned\x07" in err
