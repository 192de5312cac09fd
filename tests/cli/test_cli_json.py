"""`--json` on every command (docs/cli.md lists every key; this checks them against the real
output), and the words of the text output: no Python `None` or `b'...'`, "no token" when
there is none, ISO times; `--reason` means "why" on every command, and a command with
nothing to do says so and stops."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support import CORPUS, check_documented

from reconciler.actions import SuppressAction, carry_out
from reconciler.cli import main
from reconciler.records import (
    BreakerCause,
    BreakerTrip,
    Decision,
    DecisionKind,
    Disposition,
    Mode,
    Reason,
    Trigger,
)
from reconciler.store import open_database

NOW = datetime.now(UTC)
KEY = "json-test-verp-key-0123456789"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with one applied decision (wiki:7) and one pending (wiki:8); a VERP key."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with open_database(url) as store:
        store.migrate(NOW)
        for user, disposition in ((7, Disposition.APPLIED), (8, Disposition.WOULD)):
            decision = Decision(
                kind=DecisionKind.SUPPRESS, realm="wiki", user_id=user,
                address=f"u{user}@example.org", at=int(NOW.timestamp()),
                mode=Mode.ENFORCE if disposition is Disposition.APPLIED else Mode.LOG_ONLY,
                disposition=disposition, trigger=Trigger.HARD, rule="hard:3d/14d",
                hard_days=3, reasons=(Reason.USERUNKNOWN,),
            )  # fmt: skip
            carry_out(store, [SuppressAction(store)], decision, "run-1", NOW)
    monkeypatch.setenv("JSON_VERP_KEY", KEY)
    path = tmp_path / "reconciler.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n[verp]\ndomain = "bounces.example.org"\n'
        '[[verp.keys]]\nid = "k"\nsecret_env = "JSON_VERP_KEY"\n',
        "utf-8",
    )
    monkeypatch.chdir(tmp_path)
    return path


def _json(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> Any:
    assert main(list(argv)) == code
    out = capsys.readouterr().out
    return json.loads(out)


def _lines(capsys: pytest.CaptureFixture[str], *argv: str) -> list[Any]:
    assert main(list(argv)) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_explain_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shapes = _lines(capsys, "explain", "--json", str(CORPUS / "lhost-outlook-04.eml"))
    shapes += _lines(capsys, "explain", "--json", str(CORPUS / "rfc3834-01.eml"))
    check_documented("explain --json", shapes)
    first = shapes[0]
    assert len(first["recipients"]) == 2
    assert first["recipients"][0]["rules"][0]["id"] == first["recipients"][0]["rule"]
    assert first["verp"]["failure"] == "not_found"  # a [verp] is configured: checked, none


def test_rules_check_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shape = _json(capsys, "rules", "check", "--json")
    check_documented("rules check --json", [shape])
    assert shape["rules"][0]["file"] in shape["files"]


def test_check_config_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shape = _json(capsys, "check-config", "--json")
    check_documented("check-config --json", [shape])
    assert (
        shape["settings"]["verp.keys[0].secret"]
        == "(hidden; from environment variable JSON_VERP_KEY)"
    )
    assert KEY not in json.dumps(shape)


def test_mode_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shown = _json(capsys, "mode", "--json")
    with open_database(f"sqlite:///{config.parent / 'state.db'}") as store:
        store.set_mode(Mode.ENFORCE, "operator:test", "go", NOW)
        trip = BreakerTrip(BreakerCause.ACTION_COUNT, int(NOW.timestamp()), 60, 50, 60, "many")
        store.trip_breaker(trip, NOW)
    tripped = _json(capsys, "mode", "--json")
    assert (
        tripped["breaker"]["tripped"] is True
        and "many" in tripped["breaker"]["last_trip"]["detail"]
    )
    changed = _json(capsys, "mode", "enforce", "--reason", "reviewed", "--yes", "--json")
    check_documented("mode --json", [shown, changed])
    assert (shown["mode"], changed["mode"], changed["reason"]) == (
        "log-only",
        "enforce",
        "reviewed",
    )
    assert main(["mode", "log-only", "--reason", "r", "--json"]) == 2  # --json asks nothing
    assert "add --yes" in capsys.readouterr().err


def test_suppressions_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listed = _json(capsys, "suppressions", "list", "--json")
    check_documented("suppressions list --json", [listed])
    assert [e["address"] for e in listed] == ["u7@example.org"]
    checked = _json(capsys, "suppressions", "check", "u7@example.org", "--json")
    assert checked == {"version": 1, "address": "u7@example.org", "suppressed": True}
    # the option before the address, as `--json` goes anywhere after the command
    assert _json(capsys, "suppressions", "check", "--json", "u7@example.org") == checked


def test_reinstate_and_undo_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nothing = _json(capsys, "undo", "--since", "1d", "--rule", "soft", "--reason", "x", "--json")
    assert nothing == {"version": 1, "decisions": [], "undone": 0}
    done = _json(capsys, "reinstate", "wiki:7", "--reason", "was fine", "--yes", "--json")
    check_documented("reinstate --json", [done])
    assert done["undone"] == 1 and [d["user_id"] for d in done["decisions"]] == [7]


def test_verp_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made = _json(capsys, "verp", "make", "--user", "5", "--address", "kim@example.net", "--json")
    address = made["address"]
    valid = _json(capsys, "verp", "check", address, "--recipient", "kim@example.net", "--json")
    none = _json(capsys, "verp", "check", "postmaster@example.org", "--json", code=1)
    check_documented("verp check --json", [valid, none])
    assert valid["valid"] is True and valid["user"] == 5 and valid["recipient"] == "bound"
    assert none["failure"] == "not_found" and none["recipient"] is None


# -- the words of the text output ------------------------------------------------------------


def test_verp_check_says_no_token_and_an_iso_time(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verp", "check", "postmaster@example.org"]) == 1
    assert capsys.readouterr().out == "result: no token\n"  # none found: not "invalid"
    assert main(["verp", "make", "--user", "5", "--unbound", "--time", "1800000000"]) == 0
    address = capsys.readouterr().out.strip()
    assert main(["verp", "check", address, "--time", "1800000060"]) == 0
    out = capsys.readouterr().out
    assert "issued: 2027-01-15T08:00:00Z (unix 1800000000)" in out


def test_explain_shows_the_verp_result_in_words(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(CORPUS / "lhost-postfix-33.eml")]) == 0
    out = capsys.readouterr().out
    assert "  verp: no token\n" in out
    assert "None" not in out and "b'" not in out


# -- --reason means why, on every command ----------------------------------------------------


def test_undo_takes_reason_for_why_and_bounce_reason_for_the_filter(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["undo", "--since", "1d", "--bounce-reason", "mailboxfull", "--reason", "x", "--yes"]
    assert main(argv) == 0
    assert "nothing to undo" in capsys.readouterr().out  # the filter matched nothing
    argv = ["undo", "--since", "1d", "--bounce-reason", "userunknown", "--reason", "bad day",
            "--yes"]  # fmt: skip
    assert main(argv) == 0
    assert "undone: 1 decision(s)" in capsys.readouterr().out
    with open_database(f"sqlite:///{config.parent / 'state.db'}") as store:
        (entry,) = store.audit_log(action="undo", limit=1)
    assert "bad day" in entry.detail


def test_the_old_undo_spelling_still_works_with_a_note(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["undo", "--since", "1d", "--reason", "userunknown", "--note", "old script", "--yes"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "undone: 1 decision(s)" in out
    assert err.startswith("reconciler: warning: undo --note is deprecated: write --reason WHY")


def test_reinstate_with_nothing_to_undo_says_so_and_asks_nothing(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # no --yes and no terminal: it would have to ask; with nothing to do it does not
    assert main(["reinstate", "nobody@example.org", "--reason", "x"]) == 0
    out = capsys.readouterr().out
    assert out == (
        "nothing to undo: no applied decision matches and the address is not on the "
        "suppression list\n"
    )
    assert main(["reinstate", "wiki:99", "--reason", "x"]) == 0
    assert capsys.readouterr().out == "nothing to undo: no applied decision matches\n"


def test_an_unknown_user_says_so(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "show", "wiki:404"]) == 1
    assert capsys.readouterr().out == "nothing is known about wiki:404\n"


def test_ctrl_d_at_the_confirmation_is_no(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def closed(_prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", closed)
    assert main(["mode", "enforce", "--reason", "r"]) == 1
    assert "nothing changed" in capsys.readouterr().out
