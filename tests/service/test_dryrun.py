"""`reconciler dry-run` against the real dovecot: it reports what the next cycle would record
and leaves the mailbox and the database byte-for-byte unchanged."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import pytest
from dovecot import Account, Dovecot

from reconciler.cli import main
from reconciler.config import VerpKey, VerpSettings
from reconciler.verp import make_address

pytestmark = pytest.mark.live
KEY = "dry-run-test-key-0123456789"


def _snapshot(dovecot: Dovecot, account: Account, db: Path) -> tuple[object, ...]:
    folders = sorted(dovecot.folders(account))
    # \Recent belongs to a session, not to the message: the snapshot's own SELECT clears it
    mail = {
        f: sorted((uid, tuple(x for x in flags if x != b"\\Recent"))
                  for uid, flags in dovecot.flags(account, f).items())
        for f in folders
    }  # fmt: skip
    digest = hashlib.sha256(db.read_bytes()).hexdigest() if db.exists() else None
    wal = [p.name for p in db.parent.glob(db.name + "*")]
    return folders, mail, digest, sorted(wal)


def test_dry_run_reports_and_changes_nothing(
    tmp_path: Path,
    dovecot: Dovecot,
    imap_account: Account,
    corpus_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DRY_RUN_IMAP_PASSWORD", imap_account.password)
    monkeypatch.setenv("DRY_RUN_VERP_KEY", KEY)
    verp = VerpSettings(domain="bounces.example.org", keys=(VerpKey("k", KEY.encode()),))
    token = make_address(
        verp, user_id=77, address="kijitora@neko.example.co.jp", realm="enwiki",
        now=int(time.time()) - 60,
    )  # fmt: skip
    mail = [
        f"Delivered-To: {token}\n".encode() + (corpus_dir / "lhost-exim-05.eml").read_bytes(),
        (corpus_dir / "lhost-outlook-04.eml").read_bytes(),
    ]
    dovecot.append(imap_account, "INBOX", mail)
    db = tmp_path / "state.db"
    config = tmp_path / "reconciler.toml"
    config.write_text(
        f"""[[mailbox]]
name = "dry"
host = "{dovecot.host}"
port = {dovecot.imap_port}
security = "none"
username = "{imap_account.name}"
password_env = "DRY_RUN_IMAP_PASSWORD"

[database]
url = "sqlite:///{db}"

[verp]
domain = "bounces.example.org"
[[verp.keys]]
id = "k"
secret_env = "DRY_RUN_VERP_KEY"
"""
    )
    # a database with history already in it must not change either
    assert main(["--config", str(config), "poll", "--once"]) == 0
    dovecot.append(imap_account, "INBOX", mail)
    capsys.readouterr()
    before = _snapshot(dovecot, imap_account, db)
    assert main(["--config", str(config), "dry-run"]) == 0
    after = _snapshot(dovecot, imap_account, db)
    assert before == after
    out = capsys.readouterr().out
    assert re.search(r"messages\s+2\b", out)
    assert "enwiki:77" in out
    assert "processed 1" in out and "unmatched 1" in out


def test_preview_advances_once_per_message(corpus_dir: Path) -> None:
    """The dry run's progress callback (a bar over a big mailbox) ticks once per message."""
    from reconciler.classify import Classifier
    from reconciler.classify.rules import load_rules
    from reconciler.config import MailboxSettings
    from reconciler.service.cycle import CycleContext
    from reconciler.service.dryrun import preview_mailbox
    from reconciler.source.folder import DirSource

    source = DirSource(corpus_dir)
    source.open()
    folders = MailboxSettings(name="dir", host="localhost", username="u", password="p",
                              security="none", batch_size=50)  # fmt: skip
    ctx = CycleContext(classifier=Classifier(load_rules().rules), verp=None)
    ticks: list[int] = []
    preview = preview_mailbox(source, folders, ctx, advance=lambda: ticks.append(1))
    assert preview.seen == len(ticks) == len(list(corpus_dir.glob("*.eml")))
    assert preview.kinds["bounce"] > 250 and preview.unmatched > 250
