"""`find_message`: a recorded message found again in its mailbox by its ledger entry (size,
day, SHA-256), read-only, on the suite's dovecot (what `rules suggest EVENT_ID` fetches)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from dovecot import Account, Dovecot

from reconciler.config import MailboxSettings
from reconciler.records import LedgerEntry, MessageOutcome, RawMessage
from reconciler.source.imap import ImapSource, find_message

pytestmark = pytest.mark.live
WHEN = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


def _mail(tag: str, message_id: bool = True) -> bytes:
    head = f"Message-ID: <{tag}@mx.example>\r\n" if message_id else ""
    return (f"From: MAILER-DAEMON@mx.example\r\nSubject: failure {tag}\r\n{head}\r\n"
            f"body of {tag}\r\n").encode()  # fmt: skip


def _entry(raw: RawMessage) -> LedgerEntry:
    """The ledger entry the cycle records for a fetched message."""
    return LedgerEntry(
        raw.mailbox, raw.uidvalidity, raw.uid, hashlib.sha256(raw.data).hexdigest(),
        raw.size or len(raw.data), MessageOutcome.UNMATCHED, raw.received_at or WHEN, WHEN,
        destination="unmatched", moved_at=WHEN,
    )  # fmt: skip


def _flags(dovecot: Dovecot, account: Account) -> dict[str, object]:
    """Messages and flags per folder (\\Recent belongs to a session, not to a message)."""
    return {
        folder: {
            uid: set(flags) - {b"\\Recent"} for uid, flags in dovecot.flags(account, folder).items()
        }
        for folder in ("INBOX", "unmatched")
    }


def test_a_moved_message_is_found_by_its_digest_and_nothing_changes(
    dovecot: Dovecot, imap_account: Account, mailbox_settings: MailboxSettings
) -> None:
    # same size, same day: only the digest tells them apart; one has no Message-ID
    messages = [_mail("aaaa"), _mail("bbbb"), _mail("cccc", message_id=False)]
    with dovecot.client(imap_account, folder=None) as imap:
        for data in messages:
            imap.append("INBOX", data, msg_time=WHEN)
    with ImapSource(mailbox_settings) as source:
        fetched = source.fetch(source.uids_after(0))
        source.move([raw.uid for raw in fetched[:2]], "unmatched")
    entries = [_entry(raw) for raw in fetched]
    before = _flags(dovecot, imap_account)
    for raw, entry in zip(fetched, entries, strict=True):
        found = find_message(mailbox_settings, ["unmatched", "INBOX"], entry)
        assert found is not None and found.data == raw.data
    assert _flags(dovecot, imap_account) == before  # no \\Seen, nothing moved or deleted


def test_a_message_is_found_off_its_day_and_not_found_once_deleted(
    dovecot: Dovecot, imap_account: Account, mailbox_settings: MailboxSettings
) -> None:
    with dovecot.client(imap_account, folder=None) as imap:
        imap.append("INBOX", _mail("dddd"), msg_time=WHEN)
    with ImapSource(mailbox_settings) as source:
        (raw,) = source.fetch(source.uids_after(0))
    entry = replace(_entry(raw), received_at=WHEN - timedelta(days=40))  # a clock that lied
    assert find_message(mailbox_settings, ["nowhere", "INBOX"], entry) is not None
    with dovecot.client(imap_account) as imap:
        imap.delete_messages(imap.search("ALL"))
        imap.expunge()
    assert find_message(mailbox_settings, ["INBOX"], entry) is None
    assert find_message(replace(mailbox_settings, max_message_bytes=10), ["INBOX"], entry) is None
