"""`poll --once` and `dry-run` against the suite's dovecot, as a person runs them: one
vocabulary for the counts (the cycle's log line, the table, --json and the dry run agree), a
table that fits 80 and 120 columns, a failed mailbox with a status and its error under the
table, and server errors in words (no `b'...'`, TLS against a plaintext port said as such)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dovecot import Account, Dovecot
from support import CORPUS, check_documented

from reconciler.config import VerpKey, VerpSettings
from reconciler.parse import parse
from reconciler.verp import make_address

pytestmark = pytest.mark.live

KEY = "first-hour-verp-key-0123456789"
VERP = VerpSettings(domain="bounces.example.org", keys=(VerpKey("a", KEY.encode()),))
OUTCOMES = ("processed", "unmatched", "skipped", "quarantined")
LOG_LINE = re.compile(r"INFO reconciler\.service\.cycle: cycle (mailbox=\S+ .*)$", re.M)


def _bounce(name: str, user: int | None, *, forged: bool = False) -> bytes:
    data = (CORPUS / name).read_bytes()
    if user is None:
        return data
    recipient = next(b.recipient for b in parse(data).bounces if b.recipient)
    address = make_address(VERP, user_id=user, address=recipient, realm="enwiki",
                           now=int(time.time()) - 600)  # fmt: skip
    if forged:
        address = address.replace("bounces+a", "bounces+a0", 1)
    return f"Delivered-To: {address}\r\n".encode() + data


MESSAGES = [
    _bounce("lhost-postfix-33.eml", 1001),
    _bounce("lhost-exim-05.eml", 1002),
    _bounce("arf-17.eml", 1006),
    _bounce("lhost-sendmail-28.eml", 1007, forged=True),
    _bounce("lhost-gmail-19.eml", None),
    b"\x00\x01 this is not a mail message at all \xff\xfe\n",
]


def _config(tmp_path: Path, dovecot: Dovecot, *accounts: Account, security: str = "none") -> Path:
    boxes = ""
    for index, account in enumerate(accounts):
        (tmp_path / f"pw{index}").write_text(account.password)
        boxes += (
            f'[[mailbox]]\nname = "box{index}"\nhost = "127.0.0.1"\n'
            f'port = {dovecot.imap_port}\nsecurity = "{security}"\n'
            f'username = "{account.name}"\npassword_file = "pw{index}"\n\n'
        )
    (tmp_path / "verp.key").write_text(KEY)
    path = tmp_path / "reconciler.toml"
    path.write_text(
        boxes + '[verp]\ndomain = "bounces.example.org"\n[[verp.keys]]\nid = "a"\n'
        'secret_file = "verp.key"\n',
        "utf-8",
    )
    return path


def _run(config: Path, *argv: str, columns: int = 120) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "--config", str(config), *argv],
        check=False, capture_output=True, text=True, env=env, cwd=config.parent, timeout=120,
    )  # fmt: skip


def _logged(stderr: str) -> dict[str, int]:
    (line,) = LOG_LINE.findall(stderr)
    pairs = dict(part.split("=", 1) for part in line.split())
    return {k: int(v) for k, v in pairs.items() if v.isdigit()}


def _table_row(out: str, mailbox: str) -> dict[str, str]:
    lines = out.splitlines()
    header = next(line for line in lines if line.strip().startswith("mailbox"))
    row = next(line for line in lines if line.strip().startswith(mailbox))
    return dict(zip(header.split(), row.split(), strict=True))


def test_the_counts_agree_across_dry_run_log_line_table_json_and_report(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account
) -> None:
    second = dovecot.add_user()
    for tag, account in enumerate((imap_account, second)):
        # other bytes per mailbox: the same bytes again would be recorded as duplicates
        unique = [f"X-Copy: {tag}\r\n".encode() + m for m in MESSAGES]
        dovecot.append(account, "INBOX", unique, create=False)
    config = _config(tmp_path, dovecot, imap_account, second)
    preview = json.loads(_run(config, "dry-run", "--json").stdout)
    would = {m["mailbox"]: m["outcomes"] for m in preview["mailboxes"]}

    done = _run(config, "poll", "--once", columns=160)
    assert done.returncode == 0, done.stderr
    logged = [dict(zip(("mailbox", *OUTCOMES), _fields(line), strict=True))
              for line in LOG_LINE.findall(done.stderr)]  # fmt: skip
    for line in logged:
        row = _table_row(done.stdout, line["mailbox"])
        for word in OUTCOMES:  # the table's columns are the log line's words, and agree
            assert row[word] == line[word], (word, row, line)
            assert would[line["mailbox"]][word] == int(line[word]), word
    assert int(logged[0]["skipped"]) == 1 and int(logged[0]["unmatched"]) == 2

    report = json.loads(_run(config, "report", "--json").stdout)
    for word in OUTCOMES:
        assert report["messages"][word] == sum(int(line[word]) for line in logged)


def _fields(line: str) -> tuple[str, ...]:
    pairs = dict(part.split("=", 1) for part in line.split())
    return (pairs["mailbox"], *(pairs[word] for word in OUTCOMES))


def test_poll_json_has_the_counts_of_the_log_line(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account
) -> None:
    dovecot.append(imap_account, "INBOX", MESSAGES, create=False)
    config = _config(tmp_path, dovecot, imap_account)
    done = _run(config, "poll", "--once", "--json")
    assert done.returncode == 0, done.stderr
    (box,) = json.loads(done.stdout)["mailboxes"]
    logged = _logged(done.stderr)
    assert {k: box[k] for k in logged} == logged
    assert box["status"] == "ok" and box["error"] is None


@pytest.mark.parametrize("columns", [80, 120])
def test_poll_and_dry_run_fit_the_terminal(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account, columns: int
) -> None:
    dovecot.append(imap_account, "INBOX", MESSAGES, create=False)
    config = _config(tmp_path, dovecot, imap_account)
    for argv in (["dry-run"], ["poll", "--once"]):
        done = _run(config, *argv, columns=columns)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert all(len(line) <= columns for line in lines), done.stdout
        assert "…" not in done.stdout
    assert "mailbox" in done.stdout and "status" in done.stdout and "unmatched" in done.stdout
    if columns == 80:
        assert "not shown at 80 columns:" in done.stdout


def test_a_failed_mailbox_has_a_status_and_its_error_below_the_table(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account
) -> None:
    wrong = Account(dovecot.add_user().name, "not-the-password")
    config = _config(tmp_path, dovecot, imap_account, wrong)
    done = _run(config, "poll", "--once", columns=80)
    assert done.returncode == 1
    assert _table_row(done.stdout, "box0")["status"] == "ok"
    assert _table_row(done.stdout, "box1")["status"] == "failed"
    below = done.stdout.split("\n\n")[-1] if "\n\n" in done.stdout else done.stdout
    assert "box1: box1 (" in below and "login failed: [AUTHENTICATIONFAILED]" in below
    assert "b'" not in done.stdout + done.stderr  # the server's words, not a bytes repr


def test_dry_run_with_a_wrong_password_says_it_in_words(tmp_path: Path, dovecot: Dovecot) -> None:
    config = _config(tmp_path, dovecot, Account(dovecot.add_user().name, "wrong"))
    done = _run(config, "dry-run")
    assert done.returncode == 1
    assert "login failed: [AUTHENTICATIONFAILED] Authentication failed." in done.stderr
    assert "b'" not in done.stderr


def test_tls_against_a_plaintext_port_says_so_once(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account
) -> None:
    config = _config(tmp_path, dovecot, imap_account, security="tls")
    done = _run(config, "dry-run")
    assert done.returncode == 1
    assert "retrying" not in done.stderr  # a wrong port does not mend itself: no backoff
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("reconciler: ")]
    assert f"port {dovecot.imap_port} is a plaintext port" in line
    assert '"starttls"' in line and "993" in line


def test_status_asks_the_server_and_fits(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account
) -> None:
    dovecot.append(imap_account, "INBOX", MESSAGES[:2], create=False)
    config = _config(tmp_path, dovecot, imap_account)
    assert _run(config, "poll", "--once").returncode == 0
    dovecot.append(imap_account, "INBOX", MESSAGES[2:4], create=False)
    done = _run(config, "status", columns=80)
    assert done.returncode == 0, done.stderr
    assert all(len(line) <= 80 for line in done.stdout.splitlines()) and "…" not in done.stdout
    (row,) = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("box0")]
    assert row[1] == "ok" and row[-3:] == ["2", "0", "0"]  # backlog, unmoved, retrying


def test_dry_run_and_poll_json_are_as_documented(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account
) -> None:
    dovecot.append(imap_account, "INBOX", MESSAGES, create=False)
    wrong = Account(dovecot.add_user().name, "not-the-password")
    config = _config(tmp_path, dovecot, imap_account, wrong)
    previews = _run(config, "dry-run", "--json")
    polled = _run(config, "poll", "--once", "--json")
    assert (previews.returncode, polled.returncode) == (1, 1)  # one mailbox failed
    preview, poll = json.loads(previews.stdout), json.loads(polled.stdout)
    check_documented("dry-run --json", [preview])
    check_documented("poll --once --json", [poll])
    assert [m["status"] for m in preview["mailboxes"]] == ["ok", "failed"]
    assert preview["mailboxes"][0]["users"][0] == {
        "realm": "enwiki", "user_id": 1001, "hard": 1, "soft": 0, "none": 0,
    }  # fmt: skip
    assert "AUTHENTICATIONFAILED" in poll["mailboxes"][1]["error"] and not poll["ok"]


def test_dry_run_of_an_empty_folder_says_so(
    tmp_path: Path, dovecot: Dovecot, imap_account: Account
) -> None:
    done = _run(_config(tmp_path, dovecot, imap_account), "dry-run")
    assert done.returncode == 0
    assert done.stdout == "Dry run: box0: no message in the folder, nothing to record\n"
