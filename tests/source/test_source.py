"""Mail sources: ImapSource against the suite's private dovecot, DirSource on the corpus."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from dovecot import Account, Dovecot

from reconciler.config import MailboxSettings
from reconciler.errors import SourceError, SourceUnavailable
from reconciler.source import fetch_batches
from reconciler.source import imap as imap_module
from reconciler.source.backoff import Backoff, backoff_delays, connect_with_retry
from reconciler.source.folder import DirSource
from reconciler.source.imap import ImapSource

live = pytest.mark.live  # needs the private dovecot the suite starts


def crlf(data: bytes) -> bytes:
    """IMAP messages have CRLF line ends; dovecot returns exactly what was appended."""
    return re.sub(rb"\r?\n", b"\r\n", data)


@pytest.fixture(scope="module")
def samples(corpus_dir: Path) -> list[bytes]:
    return [crlf(path.read_bytes()) for path in sorted(corpus_dir.glob("*.eml"))[:23]]


def seed(dovecot: Dovecot, account: Account, messages: list[bytes], folder: str = "INBOX") -> None:
    dovecot.append(account, folder, messages)


# -- reading -------------------------------------------------------------------------------


@live
def test_fetch_batches_returns_exact_bytes_in_uid_order(
    dovecot: Dovecot, imap_account: Account, mailbox_settings: MailboxSettings, samples: list[bytes]
) -> None:
    seed(dovecot, imap_account, samples)
    with ImapSource(mailbox_settings) as source:
        uids = source.uids_after(0)
        batches = list(fetch_batches(source, uids, 5))
    assert [len(batch) for batch in batches] == [5, 5, 5, 5, 3]
    fetched = [message for batch in batches for message in batch]
    assert [m.uid for m in fetched] == list(uids) == list(range(1, 24))
    assert [m.data for m in fetched] == samples
    assert [m.size for m in fetched] == [len(raw) for raw in samples]
    assert {(m.mailbox, m.uidvalidity) for m in fetched} == {(source.mailbox, source.uidvalidity)}


@live
def test_protocol_trace_is_off_unless_its_logger_takes_debug(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    samples: list[bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """imaplib formats its trace (every body's repr) before the logger drops it: off when
    nobody reads it; on, with the bodies traced, when its logger takes DEBUG records."""
    seed(dovecot, imap_account, samples[:2])
    trace = "imapclient.imaplib"
    caplog.clear()  # the seeding's own trace, when an earlier test left the logger at DEBUG
    with caplog.at_level(logging.INFO, logger=trace), ImapSource(mailbox_settings) as source:
        assert [m.data for m in source.fetch(source.uids_after(0))] == samples[:2]
        assert source._imap._imap.debug == 0
    assert not [r for r in caplog.records if r.name == trace]
    with caplog.at_level(logging.DEBUG, logger=trace), ImapSource(mailbox_settings) as source:
        assert [m.data for m in source.fetch(source.uids_after(0))] == samples[:2]
        assert source._imap._imap.debug == 5
    assert any("FETCH" in r.getMessage() for r in caplog.records if r.name == trace)


@live
def test_uids_after_a_checkpoint(
    dovecot: Dovecot, imap_account: Account, mailbox_settings: MailboxSettings, samples: list[bytes]
) -> None:
    seed(dovecot, imap_account, samples[:4])
    with ImapSource(mailbox_settings) as source:
        assert list(source.uids_after(2)) == [3, 4]
        assert list(source.uids_after(4)) == []  # "UID 5:*" still matches UID 4 on the server
        assert source.fetch([]) == []


@live
def test_uidvalidity_is_the_servers(
    dovecot: Dovecot, imap_account: Account, mailbox_settings: MailboxSettings
) -> None:
    with dovecot.client(imap_account, folder=None) as imap:
        expected = imap.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"]
    with ImapSource(mailbox_settings) as source:
        assert source.uidvalidity == expected > 0
        assert source.delimiter == "."


@live
def test_fetch_does_not_set_seen(
    dovecot: Dovecot, imap_account: Account, mailbox_settings: MailboxSettings, samples: list[bytes]
) -> None:
    seed(dovecot, imap_account, samples[:3])
    with ImapSource(mailbox_settings) as source:
        assert len(source.fetch(source.uids_after(0))) == 3
    assert dovecot.flags(imap_account) == {1: (), 2: (), 3: ()}


@live
def test_messages_over_the_cap_arrive_as_their_head(
    dovecot: Dovecot, imap_account: Account, mailbox_settings: MailboxSettings
) -> None:
    small = b"Subject: small\r\n\r\nhello\r\n"
    big = b"Subject: big\r\n\r\n" + b"x" * 5000 + b"\r\n"
    seed(dovecot, imap_account, [small, big])
    with ImapSource(replace(mailbox_settings, max_message_bytes=200)) as source:
        first, second = source.fetch([1, 2])
    assert (first.data, first.size) == (small, len(small))
    assert (second.data, second.size) == (big[:200], len(big))


# -- moving --------------------------------------------------------------------------------


@live
@pytest.mark.parametrize("use_move", [True, False], ids=["move", "copy-expunge"])
def test_move_in_batches_into_a_new_folder(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    samples: list[bytes],
    use_move: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(dovecot, imap_account, samples[:6])
    monkeypatch.setattr(imap_module, "_MOVE_CHUNK", 3)
    with ImapSource(mailbox_settings, use_move=use_move) as source:
        commands = spy_commands(monkeypatch, source)
        source.move([4, 1, 2, 3], "processed/2026")
        source.move([5, 6], "unmatched")
        assert list(source.uids_after(0)) == []
    if use_move:
        assert commands == [("move", [1, 2, 3]), ("move", [4]), ("move", [5, 6])]
    else:
        assert [name for name, _ in commands] == ["copy", "uid_expunge"] * 3
    assert {"processed", "processed.2026", "unmatched"} <= dovecot.folders(imap_account)
    assert dovecot.uids(imap_account) == []
    assert len(dovecot.uids(imap_account, "processed.2026")) == 4
    moved = _bodies(dovecot, imap_account, "unmatched")
    assert moved == samples[4:6]


@live
def test_move_into_an_existing_folder_and_nothing_to_move(
    dovecot: Dovecot, imap_account: Account, mailbox_settings: MailboxSettings, samples: list[bytes]
) -> None:
    seed(dovecot, imap_account, samples[:2])
    seed(dovecot, imap_account, samples[2:3], folder="processed")
    with ImapSource(mailbox_settings) as source:
        source.move([], "processed")
        source.move([1, 2], "processed")
    assert len(dovecot.uids(imap_account, "processed")) == 3


@live
def test_examine_mode_changes_nothing(
    dovecot: Dovecot, imap_account: Account, mailbox_settings: MailboxSettings, samples: list[bytes]
) -> None:
    seed(dovecot, imap_account, samples[:3])
    before = dovecot.folders(imap_account)
    with ImapSource(mailbox_settings, read_only=True) as source:
        assert source.read_only
        assert len(source.fetch([1, 2, 3])) == 3
        with pytest.raises(SourceError, match="read-only"):
            source.move([1], "processed")
    assert dovecot.folders(imap_account) == before
    # Not even \Recent was consumed: EXAMINE left the mailbox exactly as it was.
    assert dovecot.flags(imap_account) == dict.fromkeys([1, 2, 3], (b"\\Recent",))


def _named(sequence_set: str) -> list[int]:
    """The UIDs an IMAP sequence-set ("1:3,5") names."""
    named: list[int] = []
    for part in sequence_set.split(","):
        first, _, last = part.partition(":")
        named.extend(range(int(first), int(last or first) + 1))
    return named


def spy_commands(
    monkeypatch: pytest.MonkeyPatch, source: ImapSource
) -> list[tuple[str, list[int]]]:
    """Record the UID sets passed to MOVE / COPY / UID EXPUNGE (one entry per command)."""
    calls: list[tuple[str, list[int]]] = []
    client = source._imap
    for name in ("move", "copy", "uid_expunge"):
        real = getattr(client, name)

        def spy(
            uids: str | list[int], *rest: object, _name: str = name, _real: object = real
        ) -> object:
            calls.append((_name, _named(uids) if isinstance(uids, str) else list(uids)))
            return _real(uids, *rest)  # type: ignore[operator]

        monkeypatch.setattr(client, name, spy)
    return calls


def _bodies(dovecot: Dovecot, account: Account, folder: str) -> list[bytes]:
    with dovecot.client(account, folder) as imap:
        got = imap.fetch(imap.search("ALL"), ["BODY.PEEK[]"])
        return [got[uid][b"BODY[]"] for uid in sorted(got)]


# -- transport security --------------------------------------------------------------------


def test_plaintext_to_a_remote_host_is_refused_before_connecting() -> None:
    remote = MailboxSettings(
        name="remote", host="192.0.2.10", username="u", password="p", port=143, security="none"
    )
    with pytest.raises(SourceError, match="refusing plaintext"):
        ImapSource(remote)
    ImapSource(replace(remote, allow_plaintext=True))  # allowed: constructing does not connect
    ImapSource(replace(remote, host="localhost"))
    with pytest.raises(SourceError, match="security must be"):
        ImapSource(replace(remote, security="ssl"))


def tls_settings(dovecot: Dovecot, account: Account, **kw: object) -> MailboxSettings:
    base = MailboxSettings(
        name="tls",
        host="127.0.0.1",
        port=dovecot.imaps_port,
        username=account.name,
        password=account.password,
        security="tls",
        timeout_seconds=10.0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@live
def test_self_signed_certificate_is_refused_by_default(
    dovecot: Dovecot, imap_account: Account
) -> None:
    with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED") as caught:
        ImapSource(tls_settings(dovecot, imap_account)).open()
    assert not isinstance(caught.value, SourceUnavailable)  # not worth retrying


@live
@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_self_signed_certificate_accepted_with_ca_file(
    dovecot: Dovecot, imap_account: Account, security: str
) -> None:
    port = dovecot.imaps_port if security == "tls" else dovecot.imap_port
    settings = tls_settings(
        dovecot, imap_account, security=security, port=port, ca_file=dovecot.cert_file
    )
    with ImapSource(settings) as source:
        assert list(source.uids_after(0)) == []


@live
def test_tls_verify_off_accepts_any_certificate(dovecot: Dovecot, imap_account: Account) -> None:
    with ImapSource(tls_settings(dovecot, imap_account, tls_verify=False)) as source:
        assert source.uidvalidity > 0


@live
def test_wrong_password_is_not_retried(mailbox_settings: MailboxSettings) -> None:
    waits: list[float] = []
    wrong = replace(mailbox_settings, password="wrong")
    with pytest.raises(SourceError) as caught:
        connect_with_retry(lambda: ImapSource(wrong), Backoff(attempts=3), sleep=waits.append)
    assert not isinstance(caught.value, SourceUnavailable)
    assert waits == []


# -- server going away ---------------------------------------------------------------------


@live
def test_stopped_server_raises_source_error(own_dovecot: Dovecot, samples: list[bytes]) -> None:
    account = own_dovecot.add_user()
    seed(own_dovecot, account, samples[:2])
    settings = MailboxSettings(
        name="t", host=own_dovecot.host, port=own_dovecot.imap_port, username=account.name,
        password=account.password, security="none", timeout_seconds=5.0,
    )  # fmt: skip
    with ImapSource(settings) as source:
        assert len(source.fetch([1])) == 1
        own_dovecot.stop()
        with pytest.raises(SourceUnavailable, match="fetching"):
            source.fetch([2])
    waits: list[float] = []
    with pytest.raises(SourceError, match="giving up after 3 attempts"):
        connect_with_retry(
            lambda: ImapSource(settings), Backoff(attempts=3), sleep=waits.append, rng=lambda: 0.5
        )
    assert waits == [0.5, 1.0]
    own_dovecot.start()
    with connect_with_retry(lambda: ImapSource(settings), Backoff()) as source:
        assert list(source.uids_after(0)) == [1, 2]


def test_backoff_delays_grow_and_are_capped() -> None:
    policy = Backoff(attempts=6, initial=1.0, factor=3.0, maximum=20.0)
    assert list(backoff_delays(policy, rng=lambda: 1.0)) == [1.0, 3.0, 9.0, 20.0, 20.0]
    assert list(backoff_delays(Backoff(attempts=1))) == []


# -- DirSource -----------------------------------------------------------------------------


def test_dir_source_reads_and_moves(corpus_dir: Path, tmp_path: Path) -> None:
    names = sorted(corpus_dir.glob("*.eml"))[:4]
    for path in names:
        shutil.copy(path, tmp_path / path.name)
    with DirSource(tmp_path, read_only=False) as source:
        uids = source.uids_after(0)
        assert uids == [1, 2, 3, 4]
        (batch,) = fetch_batches(source, uids, 10)
        assert [m.data for m in batch] == [path.read_bytes() for path in names]
        assert (
            hashlib.sha256(batch[0].data).hexdigest()
            == hashlib.sha256(names[0].read_bytes()).hexdigest()
        )
        source.move([1, 2], "processed")
        assert list(source.uids_after(0)) == [3, 4]
    assert sorted(p.name for p in (tmp_path / "processed").iterdir()) == [p.name for p in names[:2]]


def test_dir_source_read_only_and_missing(corpus_dir: Path, tmp_path: Path) -> None:
    with DirSource(corpus_dir) as source, pytest.raises(SourceError, match="read-only"):
        source.move([1], "processed")
    with pytest.raises(SourceError, match="not a directory"):
        DirSource(tmp_path / "missing").open()
    with pytest.raises(ValueError, match="batch_size"):
        next(fetch_batches(DirSource(tmp_path), [1], 0))


@live
def test_starttls_required_but_not_offered(own_dovecot: Dovecot) -> None:
    account = own_dovecot.add_user()  # this instance has no TLS at all
    settings = MailboxSettings(
        name="t", host=own_dovecot.host, port=own_dovecot.imap_port, username=account.name,
        password=account.password, security="starttls", timeout_seconds=5.0,
    )  # fmt: skip
    with pytest.raises(SourceError, match="does not offer STARTTLS"):
        ImapSource(settings).open()


# -- waiting for new mail ---------------------------------------------------------------------


@live
def test_idle_reports_mail_that_came_before_it_began(
    dovecot: Dovecot, imap_account: Account, mailbox_settings: MailboxSettings, samples: list[bytes]
) -> None:
    """The IDLE watcher opens its connection, then waits: mail that arrives in between (the
    connection is slow to open under load) must wake it, not wait for the next interval."""
    with ImapSource(mailbox_settings, read_only=True) as src:
        assert src.uidvalidity > 0  # selected: the watcher's state before its first IDLE
        seed(dovecot, imap_account, samples[:1])
        assert src.wait_for_new(3)
        assert not src.wait_for_new(1)  # nothing more came: no wake-up
