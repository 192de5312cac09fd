"""Moving on servers without MOVE, or without UIDPLUS (issue 12, item 10), on real dovecots.

Without MOVE a message is moved by COPY, \\Deleted and an expunge.  Without UIDPLUS the only
expunge is a plain EXPUNGE, which removes every message flagged \\Deleted in the folder,
including those someone else flagged and meant to keep for now.  So without UIDPLUS the
reconciler copies and flags, expunges nothing, and says so (log and cycle report); with
UIDPLUS it expunges exactly the UIDs it copied.  Each test runs its own dovecot whose
`imap_capability` hides MOVE, or MOVE and UIDPLUS.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from dovecot import Account, Dovecot
from support import NOW, private_dovecot

from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules
from reconciler.config import MailboxSettings
from reconciler.service.cycle import CycleContext, open_source, poll_mailbox
from reconciler.source.imap import ImapSource
from reconciler.store import open_database

pytestmark = pytest.mark.live

_BASE = "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE MULTIAPPEND UNSELECT NAMESPACE"
NO_MOVE = f"{_BASE} UIDPLUS"
NO_MOVE_NO_UIDPLUS = _BASE
DELETED = b"\\Deleted"


@pytest.fixture(params=[NO_MOVE, NO_MOVE_NO_UIDPLUS], ids=["uidplus", "no-uidplus"])
def limited(request: pytest.FixtureRequest) -> Iterator[Dovecot]:
    """A dovecot that advertises neither MOVE nor, in one variant, UIDPLUS."""
    server = private_dovecot(str(request.param))
    yield server
    server.cleanup()


def _message(n: int) -> bytes:
    return b"From: a@example.org\r\nSubject: message %d\r\n\r\nbody %d\r\n" % (n, n)


def _settings(server: Dovecot, account: Account) -> MailboxSettings:
    return MailboxSettings(
        name="caps", host=server.host, port=server.imap_port, username=account.name,
        password=account.password, security="none", timeout_seconds=10.0,
    )  # fmt: skip


def _seed_with_anothers_deleted(server: Dovecot, account: Account) -> int:
    """Three messages of ours, and (UID 4) one that someone else flagged \\Deleted and has not
    expunged yet (a mail client's "mark as deleted"); returns its UID."""
    server.append(account, "INBOX", [_message(n) for n in (1, 2, 3, 4)])
    with server.client(account) as imap:
        imap.add_flags([4], [DELETED])
    return 4


def _subjects(server: Dovecot, account: Account, folder: str) -> dict[int, bytes]:
    with server.client(account, folder=None) as imap:
        if not imap.folder_exists(folder):
            return {}
        imap.select_folder(folder, readonly=True)
        got = imap.fetch(imap.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    return {int(uid): bytes(v[b"BODY[HEADER.FIELDS (SUBJECT)]"]).strip() for uid, v in got.items()}


def test_without_move_the_copies_are_expunged_only_with_uidplus(limited: Dovecot) -> None:
    account = limited.add_user()
    theirs = _seed_with_anothers_deleted(limited, account)
    uidplus = "UIDPLUS" in limited.extra
    with ImapSource(_settings(limited, account)) as source:
        assert "MOVE" not in source.capabilities
        assert ("UIDPLUS" in source.capabilities) is uidplus
        left = source.move([1, 2, 3], "processed")
    assert sorted(_subjects(limited, account, "processed").values()) == [
        b"Subject: message 1", b"Subject: message 2", b"Subject: message 3",
    ]  # fmt: skip
    inbox = _subjects(limited, account, "INBOX")
    flags = limited.flags(account)
    assert theirs in inbox and DELETED in flags[theirs]  # never expunged by us
    if uidplus:
        assert (left, sorted(inbox)) == (0, [theirs])  # exactly what we copied is gone
    else:
        assert (left, sorted(inbox)) == (3, [1, 2, 3, theirs])  # flagged, left for a person
        assert all(DELETED in flags[uid] for uid in (1, 2, 3))


def test_the_cycle_says_what_it_left_flagged_and_does_not_copy_it_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = private_dovecot(NO_MOVE_NO_UIDPLUS)
    try:
        account = server.add_user()
        theirs = _seed_with_anothers_deleted(server, account)
        settings = _settings(server, account)
        ctx = CycleContext(Classifier(load_rules().rules), None, clock=lambda: NOW)
        with open_database(f"sqlite:///{tmp_path / 'store.db'}") as store:
            store.migrate(NOW)
            with caplog.at_level(logging.WARNING), open_source(settings) as source:
                first = poll_mailbox(source, store, settings, ctx)
            with open_source(settings) as source:
                second = poll_mailbox(source, store, settings, ctx)
        inbox = _subjects(server, account, "INBOX")
        unmatched = _subjects(server, account, "unmatched")
    finally:
        server.cleanup()
    # UID 4 was flagged \Deleted by someone else, but it is still a message of the folder
    assert (first.seen, first.moved, first.unexpunged) == (4, 4, 4)
    assert "unexpunged=4" in first.summary()
    assert (second.seen, second.moved, second.unexpunged) == (0, 0, 0)
    assert sorted(inbox) == [1, 2, 3, theirs]
    assert len(unmatched) == 4  # copied once, not again on the next cycle
    (warning,) = [r.getMessage() for r in caplog.records if "not expunged" in r.getMessage()]
    assert warning.startswith("mailbox=caps 4 messages copied to their folders")
    assert "no UIDPLUS" in warning
