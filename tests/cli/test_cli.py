"""The command line through main(argv): output shapes, exit codes, errors on one line."""

from __future__ import annotations

import json
import mailbox
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import CORPUS

from reconciler.cli import main

JSON_KEYS = {
    "file",
    "kind",
    "recipient",
    "original_recipient",
    "stage",
    "status",
    "reply_code",
    "reason",
    "severity",
    "fault",
    "rule",
    "diagnostic",
    "remote_mta",
    "original_message_id",
    "verp",
}
KEY = "0123456789abcdef-test-key"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEST_VERP_KEY", KEY)
    path = tmp_path / "reconciler.toml"
    path.write_text(
        '[verp]\ndomain = "bounces.example.org"\n[[verp.keys]]\nid = "k"\n'
        'secret_env = "TEST_VERP_KEY"\n',
        encoding="utf-8",
    )
    return path


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_classify_json_has_the_documented_keys(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./reconciler.toml: classify works without a config
    assert main(["classify", "--json", str(CORPUS / "lhost-outlook-04.eml")]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert len(rows) == 2  # two recipients, two outcomes
    assert all(set(row) == JSON_KEYS for row in rows)
    by_rcpt = {row["recipient"]: row for row in rows}
    assert by_rcpt["sabineko@example.co.jp"]["severity"] == "hard"
    assert by_rcpt["mikeneko@example.co.jp"]["reason"] == "mailboxfull"
    assert all(row["verp"] is None for row in rows)


def test_classify_json_shows_the_stage_and_the_original_recipient(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    others = CORPUS.parent.parent / "others" / "emails" / "flufl-bounce"
    samples = CORPUS.parent.parent.parent / "samples" / "mta"
    paths = [others / "dsn_01.eml", samples / "exim-nouser-failed.eml"]
    assert main(["classify", "--json", *map(str, paths)]) == 0
    first, second = _json_lines(capsys.readouterr().out)
    # Final-Recipient userx@sims-ms-daemon is the receiving MTA's internal name
    assert (first["recipient"], first["original_recipient"]) == ("userx@example.com",) * 2
    assert (second["recipient"], second["stage"]) == ("nouser@remote.test", "rcpt")
    assert second["original_recipient"] is None


def test_classify_reads_dirs_mbox_and_maildir(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    picks = ["lhost-postfix-33.eml", "lhost-exim-05.eml", "arf-17.eml"]
    box = mailbox.mbox(tmp_path / "bounces.mbox")
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    sub = tmp_path / "dir" / "nested"
    sub.mkdir(parents=True)
    for name in picks:
        data = (CORPUS / name).read_bytes()
        box.add(data)
        maildir.add(data)
        shutil.copy(CORPUS / name, sub / name)
    box.close()
    targets = [tmp_path / "bounces.mbox", tmp_path / "Maildir", tmp_path / "dir"]
    assert main(["classify", "--json", *map(str, targets)]) == 0
    rows = _json_lines(capsys.readouterr().out)
    files = {str(row["file"]) for row in rows}
    assert {f for f in files if "#" in f} == {f"{tmp_path}/bounces.mbox#{i}" for i in (1, 2, 3)}
    assert sum(1 for f in files if "/Maildir/" in f) == 3
    assert sum(1 for f in files if "/dir/nested/" in f) == 3
    reasons = sorted(str(r["reason"]) for r in rows if "/dir/" in str(r["file"]))
    assert reasons == ["feedback", "feedback", "userunknown", "userunknown"]


def test_classify_prints_a_line_for_a_message_without_results(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    note = tmp_path / "hello.eml"
    note.write_bytes(b"From: a@example.org\nTo: b@example.org\nSubject: hi\n\nJust saying hi.\n")
    missing = tmp_path / "missing.eml"
    assert main(["classify", "--json", str(note), str(missing)]) == 1  # a path was not read
    out, err = capsys.readouterr()
    rows = _json_lines(out)
    assert [(r["kind"], r["recipient"]) for r in rows] == [("other", None), ("error", None)]
    assert "cannot read" in str(rows[1]["error"])
    assert err == f"reconciler: {missing}: cannot read: No such file or directory\n"


def test_classify_is_quiet_when_the_flufl_fallback_trips_over_a_message(tmp_path: Path) -> None:
    """flufl.bounce logs a traceback per failing detector; ours is "no answer", said nowhere."""
    noisy = tmp_path / "noisy.eml"  # a bounce subject, an empty From: flufl's Yale detector fails
    noisy.write_bytes(
        b"From: \nTo: x@example.org\nSubject: Undelivered Mail Returned to Sender\n\n"
        b"The message could not be delivered.\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "classify", "--json", str(noisy)],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert json.loads(done.stdout)["kind"] == "other"
    assert done.stderr == ""


def test_classify_table_and_summary(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["classify", str(CORPUS / "lhost-outlook-04.eml")]) == 0
    out = capsys.readouterr().out
    assert "Summary" in out and "mailboxfull" in out and "hard 1" in out


def test_classify_fills_verp_from_the_config(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    assert (
        main(
            [
                "--config",
                str(config),
                "verp",
                "make",
                "--user",
                "42",
                "--address",
                "userunknown@libsisimai.org",
                "--realm",
                "enwiki",
                "--time",
                "1800000000",
            ]
        )
        == 0
    )
    address = capsys.readouterr().out.strip()
    bounce = (
        (CORPUS / "lhost-postfix-33.eml")
        .read_bytes()
        .replace(b"\nSubject:", f"\nDelivered-To: {address}\nSubject:".encode(), 1)
    )
    sample = tmp_path / "bounce.eml"
    sample.write_bytes(bounce)
    assert (
        main(["--config", str(config), "classify", "--json", "--now", "1800000500", str(sample)])
        == 0
    )
    row = _json_lines(capsys.readouterr().out)[0]
    assert isinstance(row["verp"], dict)
    assert row["verp"]["valid"] is True
    assert (row["verp"]["user"], row["verp"]["realm"]) == (42, "enwiki")
    assert row["verp"]["found_in"] == "delivered-to"


def test_verp_check_exit_codes(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    make = ["--config", str(config), "verp", "make", "--user", "7", "--time", "1800000000"]
    assert main([*make, "--unbound"]) == 0
    address = capsys.readouterr().out.strip()
    assert main(["--config", str(config), "verp", "check", address, "--time", "1800000001"]) == 0
    assert "valid" in capsys.readouterr().out
    expired = ["--config", str(config), "verp", "check", address, "--time", "1900000000"]
    assert main(expired) == 1
    assert "expired" in capsys.readouterr().out


def test_verp_make_binds_the_recipient_and_check_tells(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    make = ["--config", str(config), "verp", "make", "--user", "7", "--time", "1800000000"]
    assert main(make) == 2  # a token binds its recipient unless asked not to
    err = capsys.readouterr().err
    assert err == "reconciler: verp make: give --address (the recipient) or --unbound\n"
    assert main([*make, "--address", "kim@example.net"]) == 0
    address = capsys.readouterr().out.strip()
    check = ["--config", str(config), "verp", "check", address, "--time", "1800000001"]
    assert main(check) == 0
    assert "recipient: bound (digest " in capsys.readouterr().out
    assert main([*check, "--recipient", "KIM@example.net"]) == 0
    assert "recipient KIM@example.net: bound" in capsys.readouterr().out
    assert main([*check, "--recipient", "victim@example.org"]) == 1
    assert "recipient victim@example.org: address-mismatch" in capsys.readouterr().out


@pytest.mark.parametrize(("user", "code"), [("9223372036854775807", 0), ("9223372036854775808", 2)])
def test_verp_make_refuses_a_user_id_past_a_signed_64_bit_integer(
    capsys: pytest.CaptureFixture[str], config: Path, user: str, code: int
) -> None:
    argv = ["--config", str(config), "verp", "make", "--user", user, "--time", "1800000000"]
    argv.append("--unbound")
    assert main(argv) == code
    captured = capsys.readouterr()
    if code:
        assert captured.out == "" and "user_id" in captured.err
        assert len(captured.err.strip().splitlines()) == 1


def test_explain_shows_fields_and_the_deciding_rule(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["explain", str(CORPUS / "lhost-exim-05.eml")]) == 0
    out = capsys.readouterr().out
    assert "kijitora@neko.example.co.jp" in out
    assert "the first decides" in out and "userunknown" in out and "stage rcpt" in out


def test_explain_lists_an_optional_rule_that_is_off_where_it_would_decide(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Off, the optional rule is listed (marked) before the rule that decides, and decides
    nothing; enabled in a rules directory, it decides and is not marked."""
    monkeypatch.chdir(tmp_path)
    sample = CORPUS.parent.parent / "others/emails/flufl-bounce/simple_36.eml"
    optional = "text-user-unknown-unstated-stage-hard"
    assert main(["explain", "--json", str(sample)]) == 0
    (recipient,) = json.loads(capsys.readouterr().out)["recipients"]
    rules = [(r["id"], r["off"]) for r in recipient["rules"]]
    assert rules[:2] == [(optional, True), ("text-user-unknown-filtered", False)]
    assert not any(off for _, off in rules[1:])
    assert (recipient["rule"], recipient["severity"]) == ("text-user-unknown-filtered", "soft")
    assert main(["explain", str(sample)]) == 0
    out = capsys.readouterr().out
    assert f"{optional} (off)" in out and "the first not off decides" in out
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "site.yaml").write_text(f"enable: [{optional}]\n", "utf-8")
    assert main(["explain", "--json", "--rules", "rules", str(sample)]) == 0
    (recipient,) = json.loads(capsys.readouterr().out)["recipients"]
    assert (recipient["rule"], recipient["severity"]) == (optional, "hard")
    assert (recipient["rules"][0]["id"], recipient["rules"][0]["off"]) == (optional, False)
    # a message no optional rule matches: nothing marked, the plain title
    assert main(["explain", str(CORPUS / "lhost-exim-05.eml")]) == 0
    out = capsys.readouterr().out
    assert "(off)" not in out and "Rules that match (the first decides)" in out


def test_rules_check_on_a_bad_dir_names_the_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "ops.yaml").write_text("rules:\n  - id: x\n    description: d\n", "utf-8")
    assert main(["rules", "check", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"{tmp_path / 'ops.yaml'}:2:" in err[0] and "missing required key" in err[0]


def test_rules_check_dir_with_switches_of_shipped_rules(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An operator directory is checked as the daemon loads it, before the shipped rules: its
    `disable:` and `enable:` may name shipped rules (they were "unknown rule id"), an id that
    repeats a shipped one is refused, and only the directory's own rules are listed."""
    (tmp_path / "site.yaml").write_text(
        "disable: [text-mailbox-full]\nenable: [text-user-unknown-unstated-stage-hard]\n",
        "utf-8",
    )
    assert main(["rules", "check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ok: 0 rules in 1 file(s)" in out
    assert "optional rules, on:\n  text-user-unknown-unstated-stage-hard\n" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    (tmp_path / "own.yaml").write_text(
        "rules:\n  - id: text-mailbox-full\n    description: d\n    match: {kind: bounce}\n"
        "    reason: mailboxfull\n",
        "utf-8",
    )
    assert main(["rules", "check", str(tmp_path)]) == 2
    assert "duplicate rule id 'text-mailbox-full'" in capsys.readouterr().err


def test_rules_check_classifies_the_examples_of_operator_rules(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Each example of an operator rule must be decided by its rule with the rules in force:
    one line for each that is not, or cannot be read, and exit 1."""
    shutil.copy(CORPUS / "lhost-exim-05.eml", tmp_path / "uu.eml")
    rules = """rules:
  - id: site-unknown
    description: d
    match: {diagnostic: ['unknown or illegal user']}
    reason: userunknown
    examples: [uu.eml]
"""
    (tmp_path / "a.yaml").write_text(rules, "utf-8")
    assert main(["rules", "check", str(tmp_path)]) == 0
    assert "ok: 1 rules in 1 file(s)" in capsys.readouterr().out
    # a rule tried first that takes the example, and an example that is not there
    first = rules.replace("site-unknown", "site-first").replace(
        "'unknown or illegal user'", "'unknown'"
    )
    (tmp_path / "0.yaml").write_text(first.replace("uu.eml", "gone.eml"), "utf-8")
    assert main(["rules", "check", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "ok:" not in captured.out
    assert captured.err.splitlines() == [
        f"reconciler: {tmp_path / '0.yaml'}:2: rule 'site-first': example gone.eml: cannot "
        "read: No such file or directory",
        f"reconciler: {tmp_path / 'a.yaml'}:2: rule 'site-unknown': example uu.eml: decided by "
        "site-first",
    ]
    assert main(["rules", "check", "--json", str(tmp_path)]) == 1
    assert len(json.loads(capsys.readouterr().out)["example_problems"]) == 2


def test_rules_check_names_the_optional_rules_left_off(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["rules", "check"]) == 0
    out = capsys.readouterr().out
    assert "optional rules, off" in out and "\n  text-user-unknown-unstated-stage-hard\n" in out
    assert main(["rules", "check", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["optional_off"] == [
        "text-user-unknown-unstated-stage-hard"
    ]


def test_rules_check_shipped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["rules", "check"]) == 0
    assert "ok:" in capsys.readouterr().out


def test_check_config_masks_secrets_and_bad_config_is_one_line(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    assert main(["--config", str(config), "check-config", "--all"]) == 0
    out = capsys.readouterr().out
    assert KEY not in out and "hidden" in out
    config.write_text(config.read_text("utf-8") + "typo_key = 1\n", "utf-8")
    assert main(["--config", str(config), "check-config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "typo_key" in err[0]
