"""The operator commands of the decision layer through main(argv): mode (preview, refusal
without a terminal, --apply-pending), suppressions list/export/check, reinstate and undo."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.actions import SuppressAction, carry_out
from reconciler.cli import main
from reconciler.records import Decision, DecisionKind, Disposition, Mode, Reason, Trigger
from reconciler.store import open_database

NOW = datetime.now(UTC)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A configuration with a store that holds one pending "would" decision."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with open_database(url) as store:
        store.migrate(NOW)
        decision = Decision(
            kind=DecisionKind.SUPPRESS,
            realm="wiki",
            user_id=7,
            address="u7@example.org",
            at=int(NOW.timestamp()),
            mode=Mode.LOG_ONLY,
            disposition=Disposition.WOULD,
            trigger=Trigger.HARD,
            rule="hard:3d/14d",
            hard_days=3,
            reasons=(Reason.USERUNKNOWN,),
        )
        carry_out(store, [SuppressAction(store)], decision, "run-1", NOW)
    path = tmp_path / "reconciler.toml"
    path.write_text(f'[database]\nurl = "{url}"\n', "utf-8")
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def test_mode_promotion_with_apply_pending_then_reinstate_and_back(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: no wrapping inside addresses
    assert run(config, "mode") == 0
    assert "log-only" in capsys.readouterr().out
    # no terminal to confirm on and no --yes: refused, nothing changed
    assert run(config, "mode", "enforce", "--reason", "reviewed") == 2
    assert "add --yes" in capsys.readouterr().err
    assert run(config, "suppressions", "check", "u7@example.org") == 1
    capsys.readouterr()

    assert run(config, "mode", "enforce", "--reason", "a month of logs", "--by", "alice",
               "--yes", "--apply-pending") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "u7@example.org" in out and "applied 1 pending" in out and "operator:alice" in out
    assert run(config, "suppressions", "check", "U7@example.org") == 0
    assert run(config, "suppressions", "check", "nobody@example.org") == 1
    capsys.readouterr()
    assert run(config, "suppressions", "export") == 0
    exported = json.loads(capsys.readouterr().out)
    assert [(e["address"], e["user_id"], e["decision_id"]) for e in exported] == [
        ("u7@example.org", 7, 1)
    ]

    assert run(config, "reinstate", "wiki:7", "--reason", "mailbox fixed", "--yes") == 0
    assert "undone: 1" in capsys.readouterr().out
    assert run(config, "suppressions", "check", "u7@example.org") == 1
    assert run(config, "undo", "--since", "1h", "--note", "again", "--yes") == 0
    assert "nothing to undo" in capsys.readouterr().out

    assert run(config, "mode", "log-only", "--reason", "holiday", "--yes") == 0
    capsys.readouterr()
    assert run(config, "mode") == 0
    shown = capsys.readouterr().out
    assert "log-only" in shown and "holiday" in shown and "reinstate" in shown


def test_bad_input_is_one_line_and_exit_2(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "mode", "enforce") == 2  # no --reason
    assert run(config, "undo", "--since", "yesterday", "--reason", "x", "--yes") == 2
    assert run(config, "undo", "--since", "1d", "--bounce-reason", "nosuch", "--reason", "x",
               "--yes") == 2  # fmt: skip
    assert run(config, "reinstate", "not-a-user", "--reason", "x", "--yes") == 2
    assert run(config, "suppressions", "check") == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 5 and all(line.startswith("reconciler: ") for line in errors)
