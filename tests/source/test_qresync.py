"""QRESYNC (RFC 7162) and UID ranges, on real dovecots: the suite's (which offers QRESYNC)
and private ones whose `imap_capability` hides it.

With QRESYNC enabled the server reports moved messages as one `* VANISHED uid-set` per
command instead of one `* N EXPUNGE` per message, on the moving connection and on the
reader that hears of the moves; a server without it answers as before.  Either way the
same messages are fetched, recorded and moved.  UID sets go as ranges for runs of
consecutive UIDs, never sweeping in a UID that was left out.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from dovecot import Account, Dovecot
from hypothesis import given
from hypothesis import strategies as st
from imapclient import IMAPClient
from support import NOW, private_dovecot

from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules
from reconciler.config import MailboxSettings
from reconciler.service.cycle import CycleContext, open_source, poll_mailbox
from reconciler.source.imap import ImapSource, uid_set
from reconciler.store import open_database

live = pytest.mark.live

# dovecot 2.3's own list, less QRESYNC (CONDSTORE stays: enabled alone it changes nothing)
NO_QRESYNC = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE ESEARCH ESORT SEARCHRES WITHIN "
    "CONTEXT=SEARCH LIST-STATUS BINARY MOVE LITERAL+"
)
EXPUNGE = re.compile(rb"\* \d+ EXPUNGE\Z")
VANISHED = re.compile(rb"\* VANISHED ([\d:,]+)\Z")


# -- uid_set ---------------------------------------------------------------------------------


def _expand(sequence_set: str) -> list[int]:
    """The UIDs an IMAP sequence-set of numbers names, in its order."""
    named: list[int] = []
    for part in sequence_set.split(",") if sequence_set else []:
        first, _, last = part.partition(":")
        named.extend(range(int(first), int(last or first) + 1))
    return named


def test_uid_set_ranges_only_runs_without_a_gap() -> None:
    assert uid_set([1, 2, 3, 5, 7, 8, 10]) == "1:3,5,7:8,10"
    assert uid_set([4]) == "4" and uid_set([]) == ""
    assert uid_set(range(1, 501)) == "1:500"
    assert uid_set([9, 10, 3, 4]) == "9:10,3:4"  # unsorted: still exactly these
    assert uid_set([2**32 - 2, 2**32 - 1]) == "4294967294:4294967295"  # 32-bit UIDs


@given(st.lists(st.integers(min_value=1, max_value=40), max_size=60))
def test_uid_set_names_exactly_the_uids_given(uids: list[int]) -> None:
    named = _expand(uid_set(uids))
    assert named == uids  # the same UIDs, in the same order, none swept in
    ascending = sorted(set(uids))
    assert _expand(uid_set(ascending)) == ascending


@given(st.sets(st.integers(min_value=1, max_value=300), min_size=1))
def test_uid_set_of_an_ascending_set_is_as_short_as_its_runs(uids: set[int]) -> None:
    ordered = sorted(uids)
    runs = 1 + sum(b != a + 1 for a, b in itertools.pairwise(ordered))
    assert uid_set(ordered).count(",") == runs - 1


# -- servers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def without_qresync() -> Iterator[Dovecot]:
    server = private_dovecot(NO_QRESYNC)
    yield server
    server.cleanup()


@pytest.fixture(params=["qresync", "without"])
def server(request: pytest.FixtureRequest) -> Dovecot:
    """The suite's dovecot (QRESYNC offered), and one that hides QRESYNC."""
    name = "dovecot" if request.param == "qresync" else "without_qresync"
    found: Dovecot = request.getfixturevalue(name)
    found.start()
    return found


def _settings(server: Dovecot, account: Account, **more: Any) -> MailboxSettings:
    return MailboxSettings(
        name="qr", host=server.host, port=server.imap_port, username=account.name,
        password=account.password, security="none", timeout_seconds=10.0, **more,
    )  # fmt: skip


def _message(n: int) -> bytes:
    return b"From: a@example.org\r\nSubject: message %d\r\n\r\nbody %d\r\n" % (n, n)


def _heard(source: ImapSource) -> list[bytes]:
    """Every line the server sends this connection from now on (imaplib's reads, recorded)."""
    lines: list[bytes] = []
    imap = source._imap._imap
    read = imap._get_line

    def get_line() -> bytes:
        line: bytes = read()
        lines.append(line)
        return line

    imap._get_line = get_line  # type: ignore[method-assign]
    return lines


def _uids(server: Dovecot, account: Account, folder: str) -> list[int]:
    with server.client(account, folder=None) as imap:
        if not imap.folder_exists(folder):
            return []
        imap.select_folder(folder, readonly=True)
        got = imap.fetch(imap.search("ALL"), ["BODY.PEEK[]"])
    return sorted(int(bytes(v[b"BODY[]"]).split(b"body ")[1]) for v in got.values())


# -- the protocol ------------------------------------------------------------------------------


@live
def test_moves_are_reported_as_vanished_sets_only_when_qresync_is_offered(
    server: Dovecot,
) -> None:
    account = server.add_user()
    server.append(account, "INBOX", [_message(n) for n in range(1, 21)])
    offered = "imap_capability" not in server.extra
    with ImapSource(_settings(server, account)) as source:
        reader = source.reader()
        try:
            assert source.qresync is reader.qresync is offered
            moving, reading = _heard(source), _heard(reader)
            source.move([1, 2, 3, 4, 6, 7, 8, 9, 10], "processed")  # 5 held back
            fetched = reader.fetch([5, *range(11, 21)])  # hears of the move meanwhile
        finally:
            reader.close()
    assert [m.uid for m in fetched] == [5, *range(11, 21)]
    assert [m.data for m in fetched] == [_message(n) for n in [5, *range(11, 21)]]
    for lines in (moving, reading):
        expunged = [line for line in lines if EXPUNGE.match(line)]
        vanished = [m[1] for line in lines if (m := VANISHED.match(line))]
        if offered:
            assert expunged == [] and vanished == [b"1:4,6:10"]
        else:
            assert vanished == [] and len(expunged) == 9
    assert _uids(server, account, "INBOX") == [5, *range(11, 21)]
    assert _uids(server, account, "processed") == [1, 2, 3, 4, 6, 7, 8, 9, 10]


@live
def test_fetch_commands_name_runs_as_ranges(server: Dovecot) -> None:
    account = server.add_user()
    server.append(account, "INBOX", [_message(n) for n in range(1, 13)])
    with ImapSource(_settings(server, account)) as source:
        imap = source._imap._imap
        sent: list[bytes] = []
        send = imap.send
        imap.send = lambda data: (sent.append(data), send(data))[1]  # type: ignore[method-assign]
        got = source.fetch([1, 2, 3, 4, 5, 7, 9, 10, 11, 12])
        sizes = source.sizes([2, 3, 4, 8])
    assert [m.uid for m in got] == [1, 2, 3, 4, 5, 7, 9, 10, 11, 12]
    assert sorted(sizes) == [2, 3, 4, 8]
    fetches = [line for line in sent if b" UID FETCH " in line]
    assert [line.split(b" ")[3] for line in fetches] == [b"1:5,7,9:12", b"2:4,8"]


@live
def test_idle_after_moves_by_another_connection_still_wakes_for_new_mail(
    server: Dovecot,
) -> None:
    account = server.add_user()
    server.append(account, "INBOX", [_message(n) for n in range(1, 4)])
    settings = _settings(server, account)
    with ImapSource(settings) as source, ImapSource(settings) as other:
        other.move([1, 2], "processed")  # reported to `source` as VANISHED (or EXPUNGE)
        heard = _heard(source)
        source.wait_for_new(1)  # dovecot adds "* 1 RECENT" (a new count): a wake-up either way
        assert any(VANISHED.match(line) or EXPUNGE.match(line) for line in heard)
        assert not source.wait_for_new(1)  # nothing since
        server.append(account, "INBOX", [_message(4)])
        assert source.wait_for_new(3)
        assert [m.uid for m in source.fetch(source.uids_after(0))] == [3, 4]


# -- the cycle ---------------------------------------------------------------------------------


def _drain(server: Dovecot, corpus: Sequence[bytes], tmp_path: Path) -> dict[str, Any]:
    """Seed `corpus`, drain it in batches of 4 (reader + background moves) and say what was
    recorded (per UID: digest, outcome, destination) and where each message is now."""
    account = server.add_user()
    server.append(account, "INBOX", corpus)
    settings = _settings(server, account, batch_size=4)
    ctx = CycleContext(Classifier(load_rules().rules), None, clock=lambda: NOW)
    url = f"sqlite:///{tmp_path / (server.root.name + '.db')}"
    with open_database(url) as store:
        store.migrate(NOW)
        with open_source(settings) as source:
            report = poll_mailbox(source, store, settings, ctx)
        entries = {}
        for uid in range(1, len(corpus) + 1):
            entry = store.get_entry(settings.name, report.uidvalidity, uid)
            assert entry is not None and entry.moved_at == NOW
            entries[uid] = (entry.sha256, entry.outcome, entry.destination)
    folders = {}
    for folder in ("INBOX", "processed", "unmatched", "quarantine"):
        with server.client(account, folder=None) as imap:
            if imap.folder_exists(folder):
                imap.select_folder(folder, readonly=True)
                got = imap.fetch(imap.search("ALL"), ["BODY.PEEK[]"])
                digests = (hashlib.sha256(bytes(v[b"BODY[]"])).hexdigest() for v in got.values())
                folders[folder] = sorted(digests)
    return {"seen": report.seen, "moved": report.moved, "entries": entries, "folders": folders}


@live
def test_a_drain_records_and_moves_the_same_with_and_without_qresync(
    dovecot: Dovecot, without_qresync: Dovecot, corpus_dir: Path, tmp_path: Path
) -> None:
    corpus = [
        re.sub(rb"\r?\n", b"\r\n", path.read_bytes())
        for path in sorted(corpus_dir.glob("*.eml"))[:30]
    ]
    dovecot.start()
    with_it = _drain(dovecot, corpus, tmp_path)
    without = _drain(without_qresync, corpus, tmp_path)
    assert with_it == without
    assert with_it["seen"] == with_it["moved"] == len(corpus)
    assert with_it["folders"].get("INBOX", []) == []
    digests = [hashlib.sha256(raw).hexdigest() for raw in corpus]
    assert [sha for sha, _, _ in with_it["entries"].values()] == digests


@live
def test_a_refused_enable_reads_the_mailbox_as_without_qresync(
    dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that offers QRESYNC but answers ENABLE with NO (as a proxy in front of
    another server may): the folder is opened all the same, and moves are heard one by one."""
    account = dovecot.add_user()
    dovecot.append(account, "INBOX", [_message(n) for n in range(3)])

    def refused(self: IMAPClient, *capabilities: str) -> list[bytes]:
        raise IMAPClient.Error(f"ENABLE command error: NO [{' '.join(capabilities)}]")

    monkeypatch.setattr(IMAPClient, "enable", refused)
    with ImapSource(_settings(dovecot, account)) as source:
        assert not source.qresync
        heard = _heard(source)
        uids = source.uids_after(0)
        assert len(uids) == 3
        source.move(uids, "processed")
    assert sum(bool(EXPUNGE.match(line)) for line in heard) == 3
    assert _uids(dovecot, account, "processed") == [0, 1, 2]
