"""`reconciler requeue` end to end on the suite's dovecot, on each backend: a quarantined
message is requeued and analysed once with the new rules; an unmatched one once a new key
verifies its token; requeuing again never counts a message twice; a requeued message gets
fresh attempts; `--dry-run` moves nothing; `--since` narrows; the preview fits 80 columns.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dovecot import Account, Dovecot
from helpers_mail import KEY, folder_counts, hard_bounce, tags_by_folder
from support import DOCS

from reconciler.cli import main
from reconciler.config import VerpKey, VerpSettings, load_settings
from reconciler.records import MessageOutcome, Mode
from reconciler.service.cycle import CycleReport, run_once
from reconciler.service.wiring import open_service
from reconciler.store import open_database
from reconciler.verp import make_address

pytestmark = pytest.mark.live
NOW = datetime.now(UTC).replace(microsecond=0)
NEW_KEY = b"a-key-added-after-the-bounce-came-0123"
SITE_RULE = """rules:
  - id: site-unknown-account
    description: Our MTA's wording for a closed account.
    match: {diagnostic: ['User Unknown']}
    reason: userunknown
"""


class Broken:
    """A classifier that fails on every message (a bug the operator fixes later)."""

    def classify(self, *_: object) -> object:
        raise RuntimeError("a broken rule")


def write_config(
    tmp_path: Path, dovecot: Dovecot, account: Account, url: str, *,
    new_key: bool = False, rules: bool = False, max_attempts: int = 1,
) -> Path:  # fmt: skip
    secret = tmp_path / "imap.pw"
    secret.write_text(account.password)
    secret.chmod(0o600)
    if rules:
        (tmp_path / "rules").mkdir(exist_ok=True)
        (tmp_path / "rules" / "site.yaml").write_text(SITE_RULE)
    path = tmp_path / "reconciler.toml"
    url = url.replace("mariadb://", "mysql://", 1)  # the configuration's name for it
    path.write_text(
        f'[[mailbox]]\nname = "bounces"\nhost = "{dovecot.host}"\nport = {dovecot.imap_port}\n'
        f'security = "none"\nusername = "{account.name}"\npassword_file = "{secret}"\n'
        f'timeout_seconds = 10\n\n[database]\nurl = "{url}"\n\n'
        f"[daemon]\nmax_attempts = {max_attempts}\n\n"
        + ('[rules]\ndir = "rules"\n\n' if rules else "")
        + f'[verp]\ndomain = "bounces.example.org"\n[[verp.keys]]\nid = "c"\n'
        f'secret = "{KEY.decode()}"\n'
        + (f'[[verp.keys]]\nid = "n"\nsecret = "{NEW_KEY.decode()}"\n' if new_key else "")
    )
    path.chmod(0o600)
    return path


def cycle(config: Path, *, classifier: object = None, at: datetime = NOW) -> CycleReport:
    loaded = load_settings(config, os.environ)
    with open_service(loaded, clock=lambda: at) as service:
        ctx = service.cycle if classifier is None else replace(service.cycle, classifier=classifier)
        result = run_once(loaded.mailboxes, service.store, ctx, mode=Mode.LOG_ONLY)
    assert result.ok, result.errors
    return result.reports[0]


def requeue(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    capsys.readouterr()
    assert main(["--config", str(config), "requeue", "--json", *args]) == 0
    shown: dict[str, object] = json.loads(capsys.readouterr().out)
    return shown


def token(key: str = "c", user: int = 7, address: str = "kim@example.org") -> str:
    secret = KEY if key == "c" else NEW_KEY
    verp = VerpSettings(domain="bounces.example.org", keys=(VerpKey(key, secret),))
    issued = int((NOW - timedelta(minutes=10)).timestamp())
    return make_address(verp, user_id=user, address=address, realm="wiki", now=issued)


def stored(url: str) -> tuple[dict[MessageOutcome, int], int, list[str]]:
    """Ledger rows by outcome, the events, and their rule ids."""
    with open_database(url) as store:
        span = (NOW - timedelta(days=30), NOW + timedelta(days=30))
        outcomes = store.count_outcomes(*span)
        events = store.user_events("wiki", 7, span[0])
        total = sum(store.count_events(*span).values())
    return outcomes, total, [e.rule_id for e in events]


def _documented() -> set[str]:
    section = (DOCS / "cli.md").read_text("utf-8").split("\n## `requeue --json`")[1]
    return set(re.findall(r"^\| `([^`]+)` \|", section.split("\n## ")[0], flags=re.M))


def _paths(value: object, prefix: str = "") -> set[str]:
    if isinstance(value, list):
        return {p for item in value for p in _paths(item, f"{prefix}[]")}
    if isinstance(value, dict) and prefix != "errors":  # a map: its keys are mailbox names
        return {p for k, v in value.items() for p in {f"{prefix}.{k}".lstrip(".")}
                | _paths(v, f"{prefix}.{k}".lstrip("."))}  # fmt: skip
    return set()


def test_quarantined_then_requeued_is_analysed_once_with_the_new_rules(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account, database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    config = write_config(tmp_path, dovecot, imap_account, database_url)
    dovecot.append(imap_account, "INBOX", [hard_bounce(token(), "kim@example.org", "q1")])
    report = cycle(config, classifier=Broken())
    assert report.outcomes[MessageOutcome.QUARANTINED] == 1
    assert tags_by_folder(dovecot, imap_account)["quarantine"] == ["q1"]

    preview = requeue(config, capsys, "--folder", "quarantine", "--dry-run")
    assert [m["outcome"] for m in preview["messages"]] == ["quarantined"]  # type: ignore[index]
    assert preview["requeued"] == 0
    assert folder_counts(dovecot, imap_account)["quarantine"] == 1  # the dry run moved nothing
    with open_database(database_url) as store:
        assert store.open_requeues() == 0

    shown = requeue(config, capsys, "--folder", "quarantine", "--yes")
    assert shown["requeued"] == 1 and shown["errors"] == {}
    assert _paths(shown) == _documented()  # docs/cli.md lists exactly these keys
    assert folder_counts(dovecot, imap_account) == {
        "INBOX": 1, "processed": 0, "unmatched": 0, "quarantine": 0
    }  # fmt: skip

    config = write_config(tmp_path, dovecot, imap_account, database_url, rules=True)
    report = cycle(config, at=NOW + timedelta(minutes=5))
    assert (report.requeued, report.events, report.duplicates) == (1, 1, 0)
    assert tags_by_folder(dovecot, imap_account)["processed"] == ["q1"]
    outcomes, events, rules = stored(database_url)
    assert rules == ["site-unknown-account"]  # analysed with the rules in force now
    assert events == 1
    assert (outcomes[MessageOutcome.PROCESSED], outcomes[MessageOutcome.REQUEUED]) == (1, 1)
    assert outcomes[MessageOutcome.QUARANTINED] == 0


def test_unmatched_then_requeued_after_a_new_key_counts_once(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account, database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    config = write_config(tmp_path, dovecot, imap_account, database_url)
    dovecot.append(imap_account, "INBOX", [hard_bounce(token("n"), "kim@example.org", "u1")])
    assert cycle(config).outcomes[MessageOutcome.UNMATCHED] == 1
    assert stored(database_url)[1:] == (1, [])  # one unverified event, nobody's

    # the first requeue with no fix: unmatched again, its event replaced, not added
    assert requeue(config, capsys, "--folder", "unmatched", "--yes")["requeued"] == 1
    assert cycle(config).requeued == 1
    assert stored(database_url)[1:] == (1, [])
    assert tags_by_folder(dovecot, imap_account)["unmatched"] == ["u1"]

    config = write_config(tmp_path, dovecot, imap_account, database_url, new_key=True)
    assert requeue(config, capsys, "--folder", "unmatched", "--yes")["requeued"] == 1
    assert cycle(config).outcomes[MessageOutcome.PROCESSED] == 1
    outcomes, events, rules = stored(database_url)
    assert (events, len(rules)) == (1, 1)  # the verified event replaced the unverified one
    assert (outcomes[MessageOutcome.REQUEUED], outcomes[MessageOutcome.UNMATCHED]) == (2, 0)
    assert tags_by_folder(dovecot, imap_account)["processed"] == ["u1"]
    # nothing left to requeue; a replay of the same bytes is a duplicate again
    assert requeue(config, capsys, "--folder", "unmatched", "--yes")["messages"] == []
    dovecot.append(imap_account, "INBOX", [hard_bounce(token("n"), "kim@example.org", "u1")])
    assert cycle(config).duplicates == 1
    assert stored(database_url)[1] == 1


def test_a_requeued_message_starts_its_attempts_afresh(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    config = write_config(tmp_path, dovecot, imap_account, url, max_attempts=2)
    dovecot.append(imap_account, "INBOX", [hard_bounce(token(), "kim@example.org", "a1")])
    assert len(cycle(config, classifier=Broken()).failed) == 1  # attempt 1: retried later
    assert cycle(config, classifier=Broken()).outcomes[MessageOutcome.QUARANTINED] == 1
    assert requeue(config, capsys, "--folder", "quarantine", "--yes")["requeued"] == 1
    first = cycle(config, classifier=Broken())  # attempt 1 of 2 again, not quarantined at once
    assert (len(first.failed), first.outcomes[MessageOutcome.QUARANTINED]) == (1, 0)
    assert folder_counts(dovecot, imap_account)["INBOX"] == 1
    assert cycle(config, classifier=Broken()).outcomes[MessageOutcome.QUARANTINED] == 1
    assert stored(url)[1] == 0


def test_since_picks_the_recent_ones_and_the_preview_fits_80_columns(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    url = f"sqlite:///{tmp_path / 'state.db'}"
    config = write_config(tmp_path, dovecot, imap_account, url)
    subject = b"Subject: " + b"an undeliverable mail with a long subject " * 3 + b"\r\n"
    dovecot.append(imap_account, "INBOX", [subject + hard_bounce(token(), "kim@example.org", "o")])
    cycle(config, classifier=Broken(), at=NOW - timedelta(days=3))
    dovecot.append(imap_account, "INBOX", [hard_bounce(token(), "kim@example.org", "n")])
    cycle(config, classifier=Broken())
    shown = requeue(config, capsys, "--folder", "quarantine", "--since", "1d", "--dry-run")
    assert [(m["uid"] > 0, m["outcome"]) for m in shown["messages"]] == [(True, "quarantined")]  # type: ignore[index, union-attr]
    assert shown["older"] == 1

    monkeypatch.setenv("COLUMNS", "80")
    assert main(["--config", str(config), "requeue", "--folder", "quarantine", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: nothing moved" in out and "quarantined" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert folder_counts(dovecot, imap_account)["quarantine"] == 2


def test_no_terminal_and_no_yes_changes_nothing(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    config = write_config(tmp_path, dovecot, imap_account, url)
    dovecot.append(imap_account, "INBOX", [hard_bounce(token("n"), "kim@example.org", "x")])
    cycle(config)
    assert main(["--config", str(config), "requeue", "--folder", "unmatched"]) == 2
    assert "add --yes" in capsys.readouterr().err
    assert main(["--config", str(config), "requeue", "--folder", "unmatched", "--json"]) == 2
    assert folder_counts(dovecot, imap_account)["unmatched"] == 1


def test_a_message_put_aside_by_hand_is_new_to_the_ledger(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    config = write_config(tmp_path, dovecot, imap_account, url)
    dovecot.append(imap_account, "quarantine", [hard_bounce(token(), "kim@example.org", "h")])
    shown = requeue(config, capsys, "--folder", "quarantine", "--yes")
    assert [m["outcome"] for m in shown["messages"]] == [None]  # type: ignore[index]
    with open_database(url) as store:
        assert store.open_requeues() == 0  # nothing to let through: it was never recorded
    report = cycle(config)
    assert (report.events, report.requeued) == (1, 0)
    assert tags_by_folder(dovecot, imap_account)["processed"] == ["h"]
