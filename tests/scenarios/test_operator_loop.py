"""The operator's loop end to end (issue 17): review → suggest → replay → reclassify, as an
operator runs the commands, on events recorded by a real cycle over the suite's dovecot, on
SQLite, PostgreSQL and MariaDB.

The mailbox holds three bounces of user 42 that no rule knows (InterScan's "Unable to deliver
message", `onhold`), on three days; one hard bounce of user 7; a bounce without a token; and
one the database refuses (a trigger of the test), which is quarantined with its error.  The
operator reviews them, teaches a rule from one of the three (its message fetched back from the
`processed` folder), replays it (user 42 would cross the hard threshold), and writes the new
verdicts (a `would` decision for user 42, audited).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dovecot import Account, Dovecot
from helpers_mail import corpus_mail, token_for, write_config
from helpers_store import refusing
from support import check_documented

from reconciler.cli import main
from reconciler.store import open_database
from reconciler.store.models import database

pytestmark = pytest.mark.live

HELD = "lhost-trendmicro-03.eml"  # onhold: no rule knows its words
HARD = "lhost-postfix-33.eml"  # 550 5.1.1 at RCPT: userunknown, hard
NO_TOKEN = "lhost-gmail-19.eml"
REFUSED = "lhost-exim-05.eml"  # for kijitora@neko.example.co.jp: the test's trigger refuses it


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = _run(capsys, *argv)
    assert code == 0, err
    return json.loads(out)


def _seed(dovecot: Dovecot, account: Account) -> dict[str, bytes]:
    now = datetime.now(UTC).replace(microsecond=0)
    held = token_for(42, address="kijitora@example.jp", at=now - timedelta(days=5))
    hard = token_for(7, address="userunknown@libsisimai.org", at=now - timedelta(days=5))
    mail = {f"held-{day}": corpus_mail(HELD, held, f"held-{day}") for day in (1, 2, 3)}
    mail["hard"] = corpus_mail(HARD, hard, "hard")
    mail["stray"] = corpus_mail(NO_TOKEN, "someone@elsewhere.example", "stray")
    mail["refused"] = corpus_mail(REFUSED, "someone@elsewhere.example", "refused")
    with dovecot.client(account, folder=None) as imap:
        for name, data in mail.items():
            day = int(name[-1]) if name.startswith("held") else 1
            imap.append("INBOX", data, msg_time=now - timedelta(days=day, hours=1))
    return mail


def _lines_fit(text: str) -> None:
    assert max((len(line) for line in text.splitlines()), default=0) <= 80, text


def test_review_suggest_replay_reclassify(
    tmp_path: Path,
    dovecot: Dovecot,
    imap_account: Account,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    mail = _seed(dovecot, imap_account)
    rules = tmp_path / "rules"
    rules.mkdir()
    url = database_url.replace("mariadb://", "mysql://", 1)  # the config's name for MariaDB
    config = write_config(tmp_path / "loop.toml", dovecot, imap_account, url)
    config.write_text(config.read_text() + f'\n[rules]\ndir = "{rules}"\n')
    cfg = ("--config", str(config))
    with open_database(database_url) as store:
        store.migrate(datetime.now(UTC))
        refused = "NEW.recipient = 'kijitora@neko.example.co.jp'"
        for statement in refusing(store.backend, "bounce_event", refused):
            database.execute_sql(statement)
    code, _, err = _run(capsys, *cfg, "poll", "--once")
    assert code == 0, err

    # 0. the report points to the review
    code, out, _ = _run(capsys, *cfg, "report", "--since", "7d")
    assert "to review: 1 unmatched, 1 quarantined message(s), 3 result(s) no rule knew" in out
    since = out.split("reconciler review --since ")[1].split()[0]
    assert _json(capsys, *cfg, "review", "--since", since, "--json")["totals"]["undetermined"] == 3

    # 1. review: the three onhold bounces are one group; the stray and the refused one their own
    review = _json(capsys, *cfg, "review", "--json")
    assert review["totals"] == {"undetermined": 3, "unmatched": 1, "quarantined": 1}
    groups = {g["kind"]: g for g in review["groups"]}
    held = groups["undetermined"]
    assert (held["count"], held["rules"], review["groups"][0]["group"]) == (
        3, {"fallback": 3}, held["group"],
    )  # fmt: skip
    assert held["shape"].startswith("reason: unable to deliver message to <{addr}>")
    assert held["example"]["folder"] == "processed" and held["example"]["rule"] == "fallback"
    assert groups["quarantined"]["example"]["event"] is None
    assert groups["quarantined"]["example"]["text"].startswith("store: recording a batch")
    assert "refused by a test" in groups["quarantined"]["example"]["text"]
    assert groups["quarantined"]["example"]["folder"] == "quarantine"
    assert groups["unmatched"]["example"]["folder"] == "unmatched"
    code, out, _ = _run(capsys, *cfg, "review")
    assert code == 0 and held["group"] in out and "undetermined 3" in out
    _lines_fit(out)
    code, out, _ = _run(capsys, *cfg, "review", "show", held["group"])
    assert code == 0 and "Unable to deliver message" in out and "fallback" in out
    _lines_fit(out)
    shown = _json(capsys, *cfg, "review", "show", str(held["example"]["event"]), "--json")
    assert shown["stored"]["reason"] == "onhold" and shown["facts"]["action"] == "failed"
    code, out, _ = _run(capsys, *cfg, "review", "show", groups["quarantined"]["group"])
    assert code == 0 and "refused by a test" in out
    held_json = _json(capsys, *cfg, "review", "show", groups["quarantined"]["group"], "--json")
    assert _run(capsys, *cfg, "review", "show", "g00000000")[0] == 1

    # 2. suggest: a rule from one of the three, its message fetched from `processed`
    event_id = str(held["example"]["event"])
    suggested = _json(capsys, *cfg, "rules", "suggest", event_id, "--reason", "userunknown",
                      "--yes", "--json")  # fmt: skip
    assert suggested["saved"] and suggested["matched"] == 3
    assert [u["user_id"] for u in suggested["replay"]["users"] if u["crosses"]] == [42]
    rule_file, example = Path(suggested["file"]), Path(suggested["example_file"])
    assert rule_file.parent == rules and rule_file.exists()
    as_stored = example.read_bytes().replace(b"\r\n", b"\n")  # the server stores CRLF
    assert as_stored in {mail[f"held-{day}"].replace(b"\r\n", b"\n") for day in (1, 2, 3)}
    assert f"examples: [{example.name}]" in rule_file.read_text()
    code, out, _ = _run(capsys, "rules", "check", str(rules))
    assert code == 0 and "ok: 1 rules in 1 file(s)" in out
    explained = _json(capsys, *cfg, "explain", "--json", "--rules", str(rules), str(example))
    assert [r["rules"][0]["id"] for r in explained["recipients"]] == [suggested["rule"]]
    code, out, _ = _run(capsys, *cfg, "explain", "--rules", str(rules), str(example))
    assert code == 0 and suggested["rule"] in out.split()  # an id is never split

    # 3. replay with the rules in force now: what would change, nothing written
    replayed = _json(capsys, *cfg, "rules", "replay", "--json")
    assert replayed["changed"] == replayed["verdicts_changed"] == 3
    (change,) = replayed["changes"]
    assert change["old"] == {"reason": "onhold", "severity": "soft", "fault": "unknown"}
    assert change["new"] == {"reason": "userunknown", "severity": "hard", "fault": "recipient"}
    assert replayed["rules"] == {suggested["rule"]: 3}
    code, out, _ = _run(capsys, *cfg, "rules", "replay")
    assert code == 0 and "crosses" in out
    _lines_fit(out)
    assert _json(capsys, *cfg, "reclassify", "--json")["written"] == 0

    # 4. reclassify: the new verdicts written, audited, and the decide stage runs for 42
    applied = _json(capsys, *cfg, "reclassify", "--apply", "--yes", "--reason", "taught",
                    "--by", "tester", "--json")  # fmt: skip
    assert (applied["written"], applied["decided"]) == (3, {"would": 1})
    assert _json(capsys, *cfg, "rules", "replay", "--json")["changed"] == 0
    assert _json(capsys, *cfg, "review", "--json")["totals"]["undetermined"] == 0
    trail = _json(capsys, *cfg, "user", "show", "wiki:42", "--json")
    assert [d["disposition"] for d in trail["decisions"]] == ["would"]
    shown = _json(capsys, *cfg, "review", "show", event_id, "--json")
    assert [r["new_rule"] for r in shown["reclassified"]] == [suggested["rule"]]
    with open_database(database_url) as store:
        (audit,) = store.audit_log(action="reclassify")
        assert audit.actor == "operator:tester" and audit.detail.startswith("taught: 3 events")

    # 5. without the new rule, user 42's recorded decision would no longer hold (not applied:
    # no undo to run); and every key of the JSON is documented in docs/cli.md
    empty = tmp_path / "empty"
    empty.mkdir()
    back = _json(capsys, *cfg, "rules", "replay", str(empty), "--json")
    ((shift,), (user,)) = back["decisions"], back["users"]
    assert (shift["disposition"], shift["new_decision"], shift["undo"]) == ("would", "none", None)
    assert user["falls_back"] and user["user_id"] == 42
    check_documented("review --json", [review])
    check_documented("review show --json", [shown, held_json])
    check_documented("rules replay --json", [replayed, back])
    extra = ("applied", "written", "decided")
    check_documented("reclassify --json", [{key: applied[key] for key in extra}])
    rest = {key: value for key, value in applied.items() if key not in extra}
    check_documented("rules replay --json", [rest, back])  # the rest: the replay's keys
    check_documented("rules suggest --json", [{**suggested, "replay": {}}])
