"""The daemon against the real dovecot: `reconciler run` as a process drains the mailbox at
its interval, reacts to new mail within seconds with IMAP IDLE, and stops cleanly (exit 0)
on SIGTERM.  Waits poll a condition with a deadline; nothing sleeps for a fixed time."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dovecot import Account, Dovecot
from support import ROOT, until

from reconciler.config import MailboxSettings
from reconciler.service.daemon import watch_mailbox

pytestmark = pytest.mark.live


def test_idle_watcher_wakes_on_new_mail(
    dovecot: Dovecot, imap_account: Account, mailbox_settings: MailboxSettings, corpus_dir: Path
) -> None:
    stop, woken = threading.Event(), threading.Event()
    watcher = threading.Thread(
        target=watch_mailbox, args=(mailbox_settings, stop, woken.set, 2.0), daemon=True
    )
    watcher.start()
    try:
        assert not woken.wait(0.5)  # nothing arrived: no wake-up
        dovecot.append(imap_account, "INBOX", [(corpus_dir / "lhost-postfix-33.eml").read_bytes()])
        assert woken.wait(10), "IDLE did not report the new message"
    finally:
        stop.set()
        watcher.join(10)
    assert not watcher.is_alive()


@pytest.fixture
def daemon_config(tmp_path: Path, dovecot: Dovecot, imap_account: Account) -> Iterator[Path]:
    secret = tmp_path / "imap-password"
    secret.write_text(imap_account.password)
    secret.chmod(0o600)
    config = tmp_path / "reconciler.toml"
    config.write_text(
        f"""[[mailbox]]
name = "daemon-test"
host = "{dovecot.host}"
port = {dovecot.imap_port}
security = "none"
username = "{imap_account.name}"
password_file = "{secret}"
timeout_seconds = 10

[database]
url = "sqlite:///{tmp_path / "state.db"}"

[daemon]
interval_seconds = 3600
idle = true
"""
    )
    yield config


def test_run_drains_reacts_to_idle_and_stops_on_sigterm(
    dovecot: Dovecot, imap_account: Account, daemon_config: Path, corpus_dir: Path
) -> None:
    first = [(corpus_dir / n).read_bytes() for n in ("lhost-exim-05.eml", "lhost-qmail-13.eml")]
    dovecot.append(imap_account, "INBOX", first)
    log = daemon_config.parent / "daemon.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "--config", str(daemon_config), "run"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        until(lambda: not dovecot.uids(imap_account), 30, "the first cycle to drain INBOX")
        # the interval is an hour: only IDLE can make the daemon see this one quickly
        dovecot.append(imap_account, "INBOX", [(corpus_dir / "lhost-postfix-33.eml").read_bytes()])
        until(lambda: not dovecot.uids(imap_account), 20, "IDLE to trigger a cycle")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert "mode=log-only" in text
    assert text.count("cycle mailbox=daemon-test") >= 2
    assert "daemon stopped" in text
    assert len(dovecot.uids(imap_account, "unmatched")) == 3  # no VERP token configured
