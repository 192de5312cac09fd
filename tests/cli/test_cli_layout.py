"""Output that fits a terminal: every table-printing command through main(argv) with the
terminal width set (COLUMNS=80 and 120).

At each width: no line is wider than the terminal, no header or value is cut with an ellipsis,
and every address, user id and rule id of the data stands whole on one line (never split
across two).  At 80 columns some columns give way, and a line under the table says which.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers_store import entry, event
from rich.text import Text
from support import CORPUS, ROOT

from reconciler.actions import SuppressAction, carry_out
from reconciler.cli import main
from reconciler.records import (
    Decision,
    DecisionKind,
    Disposition,
    Mode,
    Reason,
    Severity,
    Suppression,
    Trigger,
)
from reconciler.store import Store, open_database

NOW = datetime.now(UTC)
WIDTHS = [80, 120]
# realistic long values: a 43-character address, a 7-digit user id, a long rule id
ADDRESSES = [
    "this-local-part-does-not-exist@uqmobile.jp",
    "kijitora@bukkoji.example.org",
    "nekochan@cx.libsisimai.com",
]
USERS = ["enwiki:1234567", "dewiki:2001", "enwiki:1006"]
MAILBOX = "bounces-primary"


def _seed(store: Store) -> None:
    entries = []
    for uid, (address, user) in enumerate(zip(ADDRESSES, USERS, strict=True), 1):
        realm, _, number = user.partition(":")
        bounces = tuple(
            event(address, int(number), realm=realm, event_time=NOW - timedelta(days=day),
                  rule_id="text-user-unknown-at-rcpt", severity=Severity.HARD,
                  address_bound=True)
            for day in (1, 2, 3)
        )  # fmt: skip
        for day, bounce in enumerate(bounces):
            at = bounce.event_time
            entries.append(entry(uid * 10 + day, mailbox=MAILBOX, events=(bounce,),
                                 received_at=at, processed_at=at))  # fmt: skip
    store.record_batch(entries, NOW - timedelta(hours=1))
    for index, (address, user) in enumerate(zip(ADDRESSES, USERS, strict=True)):
        realm, _, number = user.partition(":")
        applied = index == 0
        decision = Decision(
            kind=DecisionKind.SUPPRESS, realm=realm, user_id=int(number), address=address,
            at=int(NOW.timestamp()), mode=Mode.ENFORCE if applied else Mode.LOG_ONLY,
            disposition=Disposition.APPLIED if applied else Disposition.WOULD,
            trigger=Trigger.HARD, rule="hard:3d/14d", hard_days=3,
            reasons=(Reason.USERUNKNOWN, Reason.MAILBOXFULL, Reason.HOSTUNKNOWN),
        )  # fmt: skip
        carry_out(store, [SuppressAction(store)], decision, "run-1", NOW)
    store.add_suppression(Suppression(ADDRESSES[1], "dewiki", 2001, "by hand: asked to", NOW))


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with open_database(url) as store:
        store.migrate(NOW)
        _seed(store)
    path = tmp_path / "reconciler.toml"
    monkeypatch.setenv("LAYOUT_IMAP_PASSWORD", "secret")
    path.write_text(
        f'[[mailbox]]\nname = "{MAILBOX}"\nhost = "127.0.0.1"\nport = 1\nsecurity = "none"\n'
        'username = "u"\npassword_env = "LAYOUT_IMAP_PASSWORD"\n'
        f'[database]\nurl = "{url}"\n',
        "utf-8",
    )
    return path


def assert_fits(out: str, width: int, whole: list[str]) -> None:
    """Within `width`, nothing cut off, each of `whole` on one line."""
    lines = out.splitlines()
    too_wide = [line for line in lines if Text(line).cell_len > width]
    assert not too_wide, f"wider than {width}: {too_wide[:3]}"
    assert "…" not in out, "a value or a header was cut off"
    for text in whole:
        assert any(text in line for line in lines), f"{text!r} is split or missing:\n{out}"


@pytest.fixture(params=WIDTHS, ids=[f"{w}cols" for w in WIDTHS])
def width(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("COLUMNS", str(request.param))
    yield request.param


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    main(list(argv))
    return capsys.readouterr().out


def test_report(config: Path, width: int, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "--config", str(config), "report")
    assert_fits(out, width, [*ADDRESSES, *USERS, "hard", "soft", "fires"])
    assert "top domains" in out and "uqmobile.jp 3" in out  # a count stays with its name


def test_user_show(config: Path, width: int, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "--config", str(config), "user", "show", ADDRESSES[0])
    assert_fits(out, width, [ADDRESSES[0], "when (UTC)", "detail", "text-user-unknown-at-rcpt"])


def test_status(config: Path, width: int, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "--config", str(config), "status", "--no-imap")
    assert_fits(out, width, [MAILBOX, "last success", "backlog"])


def test_suppressions(config: Path, width: int, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "--config", str(config), "suppressions", "list")
    assert_fits(out, width, [ADDRESSES[0], ADDRESSES[1], "since"])
    if width >= 120:
        assert_fits(out, width, [USERS[0], "by hand"])


def test_mode_enforce_preview(config: Path, width: int, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "--config", str(config), "mode", "enforce", "--reason", "ok", "--yes")
    assert_fits(out, width, [*ADDRESSES[1:], *USERS[1:], "hard:3d/14d", "address"])


def test_reinstate_preview(config: Path, width: int, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "--config", str(config), "reinstate", USERS[0], "--reason", "ok", "--yes")
    assert_fits(out, width, [ADDRESSES[0], USERS[0]])
    assert "undone: 1 decision(s)" in out


def test_classify(
    width: int,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "some" / "bounces"
    folder.mkdir(parents=True)
    for name in ("lhost-postfix-33.eml", "lhost-exim-05.eml", "arf-17.eml"):
        (folder / name).write_bytes((CORPUS / name).read_bytes())
    monkeypatch.chdir(tmp_path)
    out = _run(capsys, "classify", "some/bounces")
    assert_fits(out, width, ["userunknown@libsisimai.org", "kijitora@neko.example.co.jp"])
    # the file column shows the folder too (two folders may hold files of one name)
    assert "some/" in out
    if width >= 120:
        assert_fits(out, width, ["some/bounces/lhost-postfix-33.eml", "text-user-unknown-at-rcpt"])


def test_explain(width: int, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "explain", str(CORPUS / "lhost-postfix-33.eml"))
    assert_fits(out, width, ["userunknown@libsisimai.org", "text-user-unknown-at-rcpt"])
    # rule files are named relative to their rules directory, not by a full path
    assert "default.yaml:" in out and str(ROOT / "rules") not in out
    assert "None" not in out and "b'" not in out
    assert "verp: not checked" in out  # no configuration here: no [verp] to check with


def test_explain_marks_an_optional_rule_that_is_off(
    width: int, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = ROOT / "tests/corpus/others/emails/flufl-bounce/simple_36.eml"
    out = _run(capsys, "explain", str(sample))
    assert_fits(out, width, ["text-user-unknown-unstated-stage-hard (off)", "`enable: [id]`"])


def test_rules_check(width: int, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = _run(capsys, "rules", "check")
    assert_fits(out, width, ["text-user-unknown-at-rcpt", "userunknown"])


def test_a_narrow_table_says_which_columns_it_left_out(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = _run(capsys, "--config", str(config), "mode", "enforce", "--reason", "ok", "--yes")
    assert "not shown at 80 columns:" in out and "(see --json)" in out
    monkeypatch.setenv("COLUMNS", "200")
    out = _run(capsys, "--config", str(config), "mode")
    assert "not shown" not in out
