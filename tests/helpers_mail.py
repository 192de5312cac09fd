"""Helpers shared by the chaos, forged and fuzz tests: bounces with VERP tokens, daemon
configuration files, a daemon subprocess, polling with a deadline, and reading the store's
tables directly (the checks look at rows, not at the Store API under test).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dovecot import Account, Dovecot  # tests/dovecot.py (tests/ is on sys.path)

from reconciler.config import VerpKey, VerpSettings
from reconciler.verp import make_address

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "sisimai" / "emails"
KEY = b"chaos-and-forgery-test-key-0123456789"
VERP = VerpSettings(domain="bounces.example.org", keys=(VerpKey("c", KEY),))
REALM = "wiki"
HARD = ("lhost-postfix-33.eml", b"userunknown@libsisimai.org")  # 550 5.1.1 user unknown
FOLDERS = ("INBOX", "processed", "unmatched", "quarantine")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def token_for(user: int, *, realm: str | None = REALM, at: datetime | None = None) -> str:
    issued = at or now() - timedelta(minutes=10)
    return make_address(VERP, user_id=user, realm=realm, now=int(issued.timestamp()))


def _sample(name: str) -> bytes:
    data = (CORPUS / name).read_bytes()
    if data.startswith(b"From "):  # an mbox From_ line: not part of the message
        data = data.split(b"\n", 1)[1]
    return data


def hard_bounce(token: str, address: str, tag: str, *, own_mx: bool = False) -> bytes:
    """A real Postfix 5.1.1 bounce for `address`, delivered to `token`; `tag` makes it unique.

    `own_mx`: the rejecting MTA is the recipient's domain's (else all share one remote MTA,
    and many users bouncing there within an hour are an incident, not evidence).
    """
    name, recipient = HARD
    data = _sample(name).replace(recipient, address.encode())
    if own_mx:
        data = data.replace(b"mx.libsisimai.org", b"mx." + address.rpartition("@")[2].encode())
    return f"Delivered-To: {token}\r\nX-Test-Tag: {tag}\r\n".encode() + data


def corpus_mail(name: str, token: str, tag: str) -> bytes:
    """A corpus sample as delivered to `token`; `tag` makes it unique."""
    return f"Delivered-To: {token}\r\nX-Test-Tag: {tag}\r\n".encode() + _sample(name)


def plain_mail(token: str, tag: str, *, subject: str = "Re: your newsletter") -> bytes:
    """An ordinary message (no bounce) that happens to be addressed to a token."""
    return (
        f"Delivered-To: {token}\r\nX-Test-Tag: {tag}\r\n"
        "From: Someone <someone@elsewhere.example>\r\n"
        f"To: {token}\r\nSubject: {subject}\r\n"
        "Date: Thu, 26 Nov 2026 06:00:00 +0000\r\n"
        f"Message-ID: <{tag}@elsewhere.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Thanks, but please do not write to me again. User unknown? No, I am here.\r\n"
    ).encode()


def auto_reply(token: str, tag: str) -> bytes:
    """An RFC 3834 out-of-office reply to a token address."""
    return (
        f"Delivered-To: {token}\r\nX-Test-Tag: {tag}\r\n"
        "From: Holiday Person <away@elsewhere.example>\r\n"
        f"To: {token}\r\nSubject: Out of office: your message\r\n"
        "Auto-Submitted: auto-replied\r\nPrecedence: auto_reply\r\n"
        "Date: Thu, 26 Nov 2026 06:00:00 +0000\r\n"
        f"Message-ID: <{tag}@elsewhere.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "I am out of the office until Monday with no access to e-mail.\r\n"
    ).encode()


def until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll `condition` (a short pause between checks) until true; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.05)


# -- IMAP views ------------------------------------------------------------------------------


def folder_counts(dovecot: Dovecot, account: Account) -> dict[str, int]:
    """Messages per folder (0 for a folder that does not exist yet)."""
    with dovecot.client(account, folder=None) as imap:
        counts = {}
        for folder in FOLDERS:
            exists = folder == "INBOX" or imap.folder_exists(folder)
            counts[folder] = imap.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"] if exists else 0
        return counts


def tags_by_folder(dovecot: Dovecot, account: Account) -> dict[str, list[str]]:
    """The X-Test-Tag of every message, per folder."""
    found: dict[str, list[str]] = {}
    with dovecot.client(account, folder=None) as imap:
        for folder in FOLDERS:
            if folder != "INBOX" and not imap.folder_exists(folder):
                found[folder] = []
                continue
            imap.select_folder(folder, readonly=True)
            uids = imap.search("ALL")
            got = imap.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (X-TEST-TAG)]"]) if uids else {}
            found[folder] = [
                data[b"BODY[HEADER.FIELDS (X-TEST-TAG)]"].decode().split(":", 1)[1].strip()
                for data in got.values()
            ]
    return found


# -- the store's tables ----------------------------------------------------------------------


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one read-only query on the store at `url` (SQLite file or PostgreSQL URL)."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True)
        try:
            return list(conn.execute(sql))
        finally:
            conn.close()
    import psycopg2

    pg = psycopg2.connect(url.replace("postgresql://", "postgres://"))
    with contextlib.closing(pg), pg.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def scalar(url: str, sql: str) -> Any:
    return rows(url, sql)[0][0]


# -- the daemon as a process -----------------------------------------------------------------


def write_config(
    path: Path,
    dovecot: Dovecot,
    account: Account,
    db_url: str,
    *,
    batch_size: int = 50,
    idle: bool = True,
    lease_seconds: int = 120,
) -> Path:
    """A complete configuration file for one mailbox (password in a 0600 file beside it)."""
    secret = path.with_suffix(".pw")
    secret.write_text(account.password)
    secret.chmod(0o600)
    path.write_text(
        f"""[[mailbox]]
name = "chaos"
host = "{dovecot.host}"
port = {dovecot.imap_port}
security = "none"
username = "{account.name}"
password_file = "{secret}"
batch_size = {batch_size}
timeout_seconds = 5

[database]
url = "{db_url}"

[daemon]
interval_seconds = 10
idle = {"true" if idle else "false"}
lease_seconds = {lease_seconds}

[logging]
level = "info"

[verp]
domain = "{VERP.domain}"
[[verp.keys]]
id = "c"
secret = "{KEY.decode()}"
"""
    )
    path.chmod(0o600)
    return path


class DaemonProcess:
    """`python -m reconciler --config X run` as a child process, its output in one log file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"=== start {self.starts} ===\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "reconciler", "--config", str(self.config), "run"],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"},
            )  # fmt: skip

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or rolled back by the process."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self) -> int:
        """SIGTERM (the clean stop); returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def cleanup(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(30)


@contextlib.contextmanager
def daemon(config: Path, log: Path) -> Iterator[DaemonProcess]:
    process = DaemonProcess(config, log)
    try:
        yield process
    finally:
        process.cleanup()
