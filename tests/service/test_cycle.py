"""The poll cycle end to end: the suite's private dovecot, real bounces, SQLite and PostgreSQL.

No mocks of IMAP or the store.  The mailbox is seeded by APPEND with Sisimai samples into which a
VERP token is written (valid, forged, expired or none); faults are injected by wrapping the real
`ImapSource` (a MOVE that crashes, dovecot stopped between two batches) or by making the
analysis of one message raise.  The clock is injected; nothing sleeps.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import signal
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dovecot import Account, Dovecot
from support import CORPUS, NOW

from reconciler import analysis as entries
from reconciler.analysis import Analysis, ledger_entry
from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules
from reconciler.config import MailboxSettings, VerpKey, VerpSettings
from reconciler.errors import SourceError
from reconciler.records import Checkpoint, MessageOutcome, RawMessage
from reconciler.service import cycle, leasing
from reconciler.service.cycle import CycleContext, CycleReport, open_source, poll_mailbox
from reconciler.service.helper_pool import HelperPool
from reconciler.source.imap import ImapSource
from reconciler.store import Store, open_database
from reconciler.store.models import database
from reconciler.verp import make_address

live = pytest.mark.live  # every test here drives the private dovecot the suite starts

DOMAIN = "bounces.example.org"
VERP = VerpSettings(domain=DOMAIN, keys=(VerpKey("a", b"cycle-test-key-0123456789"),))
FORGER = VerpSettings(domain=DOMAIN, keys=(VerpKey("a", b"not-our-key-0123456789ab"),))  # same id
REALM = "shop"
SEEN = b"\\Seen"
PROCESSED, UNMATCHED, SKIPPED, QUARANTINED = (
    MessageOutcome.PROCESSED,
    MessageOutcome.UNMATCHED,
    MessageOutcome.SKIPPED,
    MessageOutcome.QUARANTINED,
)
FOLDER = {  # where each outcome goes (a bounce-less message without a valid token: unmatched)
    PROCESSED: "processed",
    UNMATCHED: "unmatched",
    SKIPPED: "unmatched",
    QUARANTINED: "quarantine",
}
# parse() reads any non-empty bytes as a message (binary junk is kind OTHER, so "skipped");
# what it cannot understand at all is a message without content.
GARBAGE = b" \r\n\r\n \r\n"


@dataclass(frozen=True, slots=True)
class Seed:
    """One seeded message and what the cycle must make of it."""

    file: str | None  # corpus sample; None: GARBAGE
    token: str  # "delivered-to" | "return-path" (valid) | "forged" | "expired" | "none"
    user_id: int | None
    outcome: MessageOutcome
    events: int  # recipient results recorded for it


SEEDS = (
    Seed("lhost-exim-02.eml", "delivered-to", 1, PROCESSED, 2),
    Seed("lhost-amavis-01.eml", "return-path", 2, PROCESSED, 1),
    Seed("lhost-exim-03.eml", "forged", 3, UNMATCHED, 1),
    Seed("lhost-courier-01.eml", "delivered-to", 4, PROCESSED, 1),
    Seed("lhost-exim-05.eml", "expired", 5, UNMATCHED, 1),
    Seed("lhost-exim-08.eml", "none", None, UNMATCHED, 1),
    Seed("is-not-bounce-02.eml", "none", None, SKIPPED, 0),
    Seed(None, "none", None, QUARANTINED, 0),
    Seed("lhost-dragonfly-01.eml", "delivered-to", 6, PROCESSED, 1),
)
EXTRA = Seed("lhost-exim-31.eml", "delivered-to", 7, PROCESSED, 1)  # arrives later
VERIFIED = ("delivered-to", "return-path")
FAILURE = {"forged": "bad_signature", "expired": "expired", "none": "not_found"}


class Clock:
    """The injected clock: fixed until a test moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Crash(Exception):
    """The process dying at a chosen point (not an error the cycle knows)."""


# -- seeding ---------------------------------------------------------------------------------


def _crlf(data: bytes) -> bytes:
    """CRLF line ends, as dovecot stores them (it also drops stray CRs: one sample has them)."""
    return data.replace(b"\r", b"").replace(b"\n", b"\r\n")


def _token(seed: Seed, now: datetime) -> str:
    issued = int(now.timestamp()) - 3600
    assert seed.user_id is not None
    # bound to no recipient (the samples name various ones): as tokens made before binding
    if seed.token == "forged":
        return make_address(FORGER, user_id=seed.user_id, address=None, realm=REALM, now=issued)
    if seed.token == "expired":
        issued -= (VERP.accept_days + 1) * 86_400
    return make_address(VERP, user_id=seed.user_id, address=None, realm=REALM, now=issued)


def message(seed: Seed, now: datetime = NOW) -> bytes:
    """The bytes to APPEND: the sample (CRLF) with its token written in."""
    if seed.file is None:
        return GARBAGE
    raw = _crlf((CORPUS / seed.file).read_bytes())
    if seed.token == "none":
        return raw
    address = _token(seed, now).encode()
    if seed.token != "return-path":  # the bounce's own envelope header, first searched
        return b"Delivered-To: " + address + b"\r\n" + raw
    head, sep, body = raw.partition(b"\r\n\r\n")  # the returned message's Return-Path
    body, count = re.subn(rb"(?mi)^Return-Path:[^\r\n]*", b"Return-Path: <" + address + b">", body)
    assert count, seed.file
    return head + sep + body


def folder_contents(server: Dovecot, account: Account, folder: str) -> list[bytes]:
    """The messages of a folder (read-only, BODY.PEEK), in UID order; [] when it is missing."""
    with server.client(account, folder=None) as imap:
        if not imap.folder_exists(folder):
            return []
        imap.select_folder(folder, readonly=True)
        uids = imap.search("ALL")
        fetched = imap.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
    return [bytes(fetched[uid][b"BODY[]"]) for uid in sorted(fetched)]


def placement(server: Dovecot, account: Account, inbox: str = "INBOX") -> dict[str, Counter[bytes]]:
    folders = (inbox, "processed", "unmatched", "quarantine")
    return {name: Counter(folder_contents(server, account, name)) for name in folders}


def expected_placement(seeds: Sequence[Seed], inbox: str = "INBOX") -> dict[str, Counter[bytes]]:
    wanted: dict[str, Counter[bytes]] = {inbox: Counter()}
    wanted.update({name: Counter() for name in ("processed", "unmatched", "quarantine")})
    for seed in seeds:
        wanted[FOLDER[seed.outcome]][message(seed)] += 1
    return wanted


# -- the store -------------------------------------------------------------------------------


def _open_store(url: str) -> Iterator[Store]:
    opened = open_database(url)
    opened.migrate(NOW)
    yield opened
    opened.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store on a temporary SQLite file and on the machine's PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    yield from _open_store(url)


def rows(sql: str) -> list[tuple[Any, ...]]:
    """A read-only query on the open store's connection."""
    return [tuple(row) for row in database.execute_sql(sql).fetchall()]


def count(table: str) -> int:
    return int(rows(f"SELECT COUNT(*) FROM {table}")[0][0])


def events_by_sha() -> dict[str, list[tuple[Any, ...]]]:
    """sha256 of the message → its events as (realm, user_id, verp_valid, verp_failure)."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    for sha, realm, user, valid, failure in rows(
        "SELECT m.sha256, e.realm, e.user_id, e.verp_valid, e.verp_failure "
        "FROM bounce_event e JOIN message_ledger m ON e.message_id = m.id"
    ):
        found.setdefault(sha, []).append((realm, user, bool(valid), failure))
    return found


def expected_events(seeds: Sequence[Seed]) -> dict[str, list[tuple[Any, ...]]]:
    wanted: dict[str, list[tuple[Any, ...]]] = {}
    for seed in seeds:
        if not seed.events:
            continue
        sha = hashlib.sha256(message(seed)).hexdigest()
        if seed.token in VERIFIED:
            wanted[sha] = [(REALM, seed.user_id, True, None)] * seed.events
        else:
            wanted[sha] = [(None, None, False, FAILURE[seed.token])] * seed.events
    return wanted


def ledger(store: Store, settings: MailboxSettings, uidvalidity: int) -> dict[int, Any]:
    """uid → ledger entry, for the UIDs 1..50 of one UIDVALIDITY."""
    found = {}
    for uid in range(1, 51):
        entry = store.get_entry(settings.name, uidvalidity, uid)
        if entry is not None:
            found[uid] = entry
    return found


# -- the cycle -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_rules().rules)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def ctx(classifier: Classifier, clock: Clock) -> CycleContext:
    return CycleContext(classifier=classifier, verp=VERP, clock=clock, max_attempts=3)


Hook = Callable[[str, Counter[str]], None]


class Wrapped:
    """A real ImapSource; `hook(operation, calls so far)` runs before each fetch and move."""

    def __init__(self, inner: ImapSource, hook: Hook) -> None:
        self.inner = inner
        self.hook = hook
        self.calls: Counter[str] = Counter()

    @property
    def mailbox(self) -> str:
        return self.inner.mailbox

    @property
    def uidvalidity(self) -> int:
        return self.inner.uidvalidity

    @property
    def read_only(self) -> bool:
        return self.inner.read_only

    def uids_after(self, last_uid: int) -> Sequence[int]:
        return self.inner.uids_after(last_uid)

    def sizes(self, uids: Sequence[int], small: int = 0) -> dict[int, int]:
        return self.inner.sizes(uids, small)

    def fetch(self, uids: Sequence[int]) -> list[RawMessage]:
        self.calls["fetch"] += 1
        self.hook("fetch", self.calls)
        return self.inner.fetch(uids)

    def move(self, uids: Sequence[int], destination: str) -> int:
        self.calls["move"] += 1
        self.hook("move", self.calls)
        return self.inner.move(uids, destination)

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> Wrapped:
        self.inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.close()


def run(
    settings: MailboxSettings,
    store: Store,
    ctx: CycleContext,
    hook: Hook | None = None,
) -> CycleReport:
    """One cycle over one mailbox, as run_once does it (optionally through a Wrapped source)."""
    with open_source(settings) as source:
        return poll_mailbox(Wrapped(source, hook) if hook else source, store, settings, ctx)


def seed_inbox(
    server: Dovecot, account: Account, seeds: Sequence[Seed], folder: str = "INBOX"
) -> None:
    server.append(account, folder, [message(seed) for seed in seeds])


def total_events(seeds: Sequence[Seed]) -> int:
    return sum(seed.events for seed in seeds)


def crash_on_move(operation: str, calls: Counter[str]) -> None:
    if operation == "move":
        raise Crash("killed after the commit, before the MOVE")


# -- tests -----------------------------------------------------------------------------------


@live
def test_drain_puts_every_message_in_its_folder_and_records_each_once(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    any_store: Store,
    ctx: CycleContext,
    clock: Clock,
) -> None:
    seed_inbox(dovecot, imap_account, SEEDS)
    report = run(mailbox_settings, any_store, ctx)

    assert placement(dovecot, imap_account) == expected_placement(SEEDS)
    assert report.seen == report.moved == len(SEEDS)
    assert report.outcomes == Counter(seed.outcome for seed in SEEDS)
    assert report.events == total_events(SEEDS) == count("bounce_event")
    assert (report.duplicates, report.already, report.failed) == (0, 0, [])
    # the ledger: one row per UID, the outcome and destination of its seed, moved
    entries = ledger(any_store, mailbox_settings, report.uidvalidity)
    assert sorted(entries) == list(range(1, len(SEEDS) + 1))
    for uid, seed in enumerate(SEEDS, start=1):
        entry = entries[uid]
        assert (entry.outcome, entry.destination) == (seed.outcome, FOLDER[seed.outcome])
        assert entry.sha256 == hashlib.sha256(message(seed)).hexdigest()
        assert entry.moved_at == NOW
    # events: the verified ones carry realm and user, the others neither (and say why)
    assert events_by_sha() == expected_events(SEEDS)
    for seed in SEEDS:
        if seed.token in VERIFIED and seed.user_id is not None:
            mine = any_store.user_events(REALM, seed.user_id, NOW - timedelta(days=1))
            assert len(mine) == seed.events
    assert any_store.count_outcomes(NOW, NOW + timedelta(seconds=1)) == {
        **dict.fromkeys(MessageOutcome, 0),
        **Counter(seed.outcome for seed in SEEDS),
    }
    checkpoint = any_store.get_checkpoint(mailbox_settings.name)
    assert checkpoint == Checkpoint(mailbox_settings.name, report.uidvalidity, len(SEEDS), NOW)

    # a second cycle changes nothing: nothing seen, moved or recorded
    before = (count("message_ledger"), count("bounce_event"), events_by_sha())
    clock.advance(hours=1)
    again = run(mailbox_settings, any_store, ctx)
    assert (again.seen, again.moved, again.events, again.duplicates, again.already) == (0,) * 5
    assert sum(again.outcomes.values()) == 0
    assert (count("message_ledger"), count("bounce_event"), events_by_sha()) == before
    assert placement(dovecot, imap_account) == expected_placement(SEEDS)
    assert any_store.get_checkpoint(mailbox_settings.name) == replace(
        checkpoint, last_success=clock.now
    )


@live
def test_the_cycle_never_sets_seen(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    sqlite_store: Store,
    ctx: CycleContext,
) -> None:
    seed_inbox(dovecot, imap_account, SEEDS)
    with dovecot.client(imap_account) as imap:  # an operator has read one of them
        imap.add_flags([2], [SEEN])
    with pytest.raises(Crash):  # everything fetched and committed, still in the INBOX
        run(mailbox_settings, sqlite_store, ctx, hook=crash_on_move)
    flags = dovecot.flags(imap_account)
    assert {uid: SEEN in got for uid, got in flags.items()} == {
        uid: uid == 2 for uid in range(1, len(SEEDS) + 1)
    }
    run(mailbox_settings, sqlite_store, ctx)
    assert seen_messages(dovecot, imap_account) == [message(SEEDS[1])]  # MOVE keeps flags


def seen_messages(server: Dovecot, account: Account) -> list[bytes]:
    """Messages flagged \\Seen in any folder."""
    found = []
    with server.client(account, folder=None) as imap:
        for _flags, _delimiter, name in imap.list_folders():
            imap.select_folder(name, readonly=True)
            uids = imap.search("ALL")
            fetched = imap.fetch(uids, ["BODY.PEEK[]", "FLAGS"]) if uids else {}
            found += [bytes(d[b"BODY[]"]) for d in fetched.values() if SEEN in d[b"FLAGS"]]
    return found


@live
@pytest.mark.parametrize("how", ["move-crashes", "committed-by-hand"])
def test_committed_but_unmoved_messages_are_moved_next_cycle_and_not_counted_again(
    how: str,
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    any_store: Store,
    ctx: CycleContext,
    clock: Clock,
) -> None:
    settings = replace(mailbox_settings, batch_size=4)
    seed_inbox(dovecot, imap_account, SEEDS)
    if how == "move-crashes":  # the first batch is committed, then the process dies
        with pytest.raises(Crash):
            run(settings, any_store, ctx, hook=crash_on_move)
        committed = SEEDS[:4]
    else:  # everything committed (as a cycle would), the MOVEs never sent
        with ImapSource(settings) as source:
            fetched = source.fetch(source.uids_after(0))
            entries = [ledger_entry(raw, ctx, settings, clock())[0] for raw in fetched]
            last = Checkpoint(settings.name, source.uidvalidity, fetched[-1].uid)
            any_store.record_batch(entries, clock(), last)
        committed = SEEDS
    assert placement(dovecot, imap_account)["INBOX"] == Counter(message(s) for s in SEEDS)
    assert count("bounce_event") == total_events(committed)
    recorded = events_by_sha()

    clock.advance(minutes=5)
    report = run(settings, any_store, ctx)
    assert report.moved == len(SEEDS)
    assert report.seen == len(SEEDS) - len(committed)  # the committed ones are not fetched again
    assert report.events == total_events(SEEDS) - total_events(committed)
    assert report.duplicates == report.already == 0
    assert placement(dovecot, imap_account) == expected_placement(SEEDS)
    assert count("message_ledger") == len(SEEDS)
    assert count("bounce_event") == total_events(SEEDS)
    assert events_by_sha() == expected_events(SEEDS)
    assert all(events_by_sha()[sha] == found for sha, found in recorded.items())
    entries = ledger(any_store, settings, report.uidvalidity)
    assert all(entry.moved_at is not None for entry in entries.values())
    assert any_store.pending_moves(settings.name, report.uidvalidity) == []


@live
def test_new_uidvalidity_rescans_and_replays_are_duplicates(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    any_store: Store,
    ctx: CycleContext,
    clock: Clock,
) -> None:
    settings = replace(mailbox_settings, folder="bounces")
    seed_inbox(dovecot, imap_account, SEEDS, folder="bounces")
    with pytest.raises(Crash):  # all committed, nothing moved
        run(settings, any_store, ctx, hook=crash_on_move)
    old = any_store.get_checkpoint(settings.name)
    assert old is not None and old.last_uid == len(SEEDS)
    # the folder is recreated and refilled: same bytes, new UIDs, a new UIDVALIDITY, one new mail
    with dovecot.client(imap_account, folder=None) as imap:
        imap.delete_folder("bounces")
    seed_inbox(dovecot, imap_account, [EXTRA, *SEEDS], folder="bounces")

    clock.advance(hours=2)
    report = run(settings, any_store, ctx)
    assert report.rescanned
    assert report.uidvalidity != old.uidvalidity
    assert report.seen == report.moved == len(SEEDS) + 1
    assert report.duplicates == len(SEEDS)
    assert report.events == EXTRA.events  # only the new message adds events
    assert report.outcomes == Counter({EXTRA.outcome: 1})
    assert count("bounce_event") == total_events(SEEDS) + EXTRA.events
    assert events_by_sha() == expected_events([*SEEDS, EXTRA])
    assert placement(dovecot, imap_account, "bounces") == expected_placement(
        [*SEEDS, EXTRA], "bounces"
    )
    entries = ledger(any_store, settings, report.uidvalidity)
    assert entries[1].outcome is EXTRA.outcome
    assert {entries[uid].outcome for uid in range(2, len(SEEDS) + 2)} == {MessageOutcome.DUPLICATE}
    assert {entry.destination for entry in entries.values()} == {
        FOLDER[seed.outcome] for seed in SEEDS
    }
    assert any_store.get_checkpoint(settings.name) == Checkpoint(
        settings.name, report.uidvalidity, len(SEEDS) + 1, clock.now
    )
    assert run(settings, any_store, ctx).seen == 0


def _own_settings(server: Dovecot, account: Account) -> MailboxSettings:
    return MailboxSettings(
        name="stopped", host=server.host, port=server.imap_port, username=account.name,
        password=account.password, security="none", timeout_seconds=5.0, batch_size=3,
    )  # fmt: skip


@live
@pytest.mark.parametrize("operation", ["fetch", "move"])
def test_dovecot_stopping_mid_cycle_loses_and_doubles_nothing(
    operation: str,
    own_dovecot: Dovecot,
    sqlite_store: Store,
    ctx: CycleContext,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = own_dovecot.add_user()
    settings = _own_settings(own_dovecot, account)
    seed_inbox(own_dovecot, account, SEEDS)

    def stop_at_batch_2(name: str, calls: Counter[str]) -> None:
        if name == operation and calls["fetch"] == 2 and own_dovecot.is_running():
            own_dovecot.stop()  # before batch 2's FETCH, or before its first MOVE

    real_open = cycle.open_source
    monkeypatch.setattr(cycle, "open_source", lambda s: Wrapped(real_open(s), stop_at_batch_2))
    result = cycle.run_once([settings], sqlite_store, ctx, mode="log-only")
    monkeypatch.undo()
    assert not result.ok and list(result.errors) == ["stopped"]
    assert {"fetch": "fetching", "move": "moving"}[operation] in result.errors["stopped"]

    own_dovecot.start()
    # batch 1 was committed and moved; batch 2 was committed (not moved) if the stop came at
    # its MOVE.  Whatever left the INBOX was committed first; nothing else was committed.
    committed = 6 if operation == "move" else 3
    assert count("message_ledger") == committed
    inbox = folder_contents(own_dovecot, account, "INBOX")
    assert inbox == [message(seed) for seed in SEEDS[3:]]
    for raw in inbox:
        known = sqlite_store.seen_fingerprint(hashlib.sha256(raw).hexdigest())
        assert known == (raw in {message(seed) for seed in SEEDS[:committed]})
    pending = sqlite_store.pending_moves(settings.name, inbox_uidvalidity(own_dovecot, account))
    assert [entry.uid for entry in pending] == list(range(4, committed + 1))

    clock.advance(minutes=5)
    again = cycle.run_once([settings], sqlite_store, ctx, mode="log-only")
    assert again.ok
    assert again.reports[0].moved == len(SEEDS) - 3
    assert again.reports[0].events == total_events(SEEDS[committed:])
    assert placement(own_dovecot, account) == expected_placement(SEEDS)
    assert count("message_ledger") == len(SEEDS)
    assert events_by_sha() == expected_events(SEEDS)


def inbox_uidvalidity(server: Dovecot, account: Account) -> int:
    with server.client(account, folder=None) as imap:
        return int(imap.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"])


@live
def test_a_message_whose_analysis_fails_is_retried_then_quarantined(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    sqlite_store: Store,
    ctx: CycleContext,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the poison is in the first of several batches: later batches must not carry the
    # checkpoint past it, or it would never be read again
    settings = replace(mailbox_settings, batch_size=2)
    seeds = [SEEDS[0], SEEDS[3], SEEDS[2], SEEDS[5], SEEDS[8]]
    poison = message(seeds[1])
    real_analyse = entries.analyse

    def analyse(data: bytes, *args: Any) -> Analysis:
        if data == poison:
            raise RuntimeError("analysis blew up")
        return real_analyse(data, *args)

    monkeypatch.setattr(entries, "analyse", analyse)
    seed_inbox(dovecot, imap_account, seeds)
    others = [seed for seed in seeds if message(seed) != poison]

    for attempt in (1, 2):
        report = run(settings, sqlite_store, ctx)
        assert [(f.uid, f.stage) for f in report.failed] == [(2, "analyse")], attempt
        assert "analysis blew up" in report.failed[0].error
        assert folder_contents(dovecot, imap_account, "INBOX") == [poison]
        assert [SEEN in flags for flags in dovecot.flags(imap_account).values()] == [False]
        assert rows("SELECT attempts FROM attempt") == [(attempt,)]
        checkpoint = sqlite_store.get_checkpoint(settings.name)
        assert checkpoint is not None and checkpoint.last_uid == 1
        clock.advance(minutes=5)
    assert count("bounce_event") == total_events(others)

    report = run(settings, sqlite_store, ctx)
    assert report.failed == []
    assert report.outcomes == Counter({QUARANTINED: 1})
    assert report.events == 0
    wanted = expected_placement(others)
    wanted["quarantine"][poison] += 1
    assert placement(dovecot, imap_account) == wanted
    entry = sqlite_store.get_entry(settings.name, report.uidvalidity, 2)
    assert entry is not None
    assert (entry.outcome, entry.destination) == (QUARANTINED, "quarantine")
    assert entry.error == "analysis: RuntimeError('analysis blew up')"  # for `review`
    assert count("bounce_event") == total_events(others)
    assert count("attempt") == 0
    checkpoint = sqlite_store.get_checkpoint(settings.name)
    assert checkpoint is not None and checkpoint.last_uid == 2  # 3.. were moved already


@live
def test_run_once_drains_the_other_mailbox_when_one_login_fails(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    sqlite_store: Store,
    ctx: CycleContext,
) -> None:
    other = dovecot.add_user()
    broken = replace(mailbox_settings, name="broken", username=other.name, password="wrong")
    seed_inbox(dovecot, other, SEEDS[:2])
    seed_inbox(dovecot, imap_account, SEEDS)

    result = cycle.run_once([broken, mailbox_settings], sqlite_store, ctx, mode="log-only")

    assert list(result.errors) == ["broken"] and not result.ok
    assert other.name in result.errors["broken"]
    assert [report.mailbox for report in result.reports] == [mailbox_settings.name]
    assert result.reports[0].moved == len(SEEDS)
    assert placement(dovecot, imap_account) == expected_placement(SEEDS)
    assert len(folder_contents(dovecot, other, "INBOX")) == 2
    assert sqlite_store.get_checkpoint("broken") is None


def test_seeds_are_distinct_and_tokens_as_intended() -> None:
    assert len({message(seed) for seed in [*SEEDS, EXTRA]}) == len(SEEDS) + 1
    assert message(SEEDS[0]).startswith(b"Delivered-To: bounces+a1.")


# -- helper processes (reconciler.service.helper_pool) ------------------------------------


@pytest.fixture
def helpers(classifier: Classifier) -> Iterator[HelperPool[RawMessage, entries.Analysed]]:
    """One spawned helper process, used for every batch (however small)."""
    pool = HelperPool[RawMessage, entries.Analysed](
        1, entries.analyse_batch, entries.Stages(classifier, VERP), min_batch=1
    )
    yield pool
    pool.close()


@live
def test_helpers_drain_exactly_as_the_polling_process_does(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    any_store: Store,
    ctx: CycleContext,
    helpers: HelperPool[RawMessage, entries.Analysed],
) -> None:
    settings = replace(mailbox_settings, batch_size=3)  # 3 batches: each analysed ahead
    seed_inbox(dovecot, imap_account, SEEDS)
    report = run(settings, any_store, replace(ctx, helpers=helpers))

    assert helpers.batches == Counter(helpers=3)  # all analysed in the helper, none here
    assert len(helpers.pids()) == 1
    assert placement(dovecot, imap_account) == expected_placement(SEEDS)
    assert report.seen == report.moved == len(SEEDS) and not report.stopped
    assert report.outcomes == Counter(seed.outcome for seed in SEEDS)
    assert report.events == total_events(SEEDS) == count("bounce_event")
    assert events_by_sha() == expected_events(SEEDS)
    entries = ledger(any_store, settings, report.uidvalidity)
    for uid, seed in enumerate(SEEDS, start=1):
        assert (entries[uid].outcome, entries[uid].destination) == (
            seed.outcome,
            FOLDER[seed.outcome],
        )
        assert entries[uid].received_at <= NOW  # INTERNALDATE crossed the process boundary
    checkpoint = any_store.get_checkpoint(settings.name)
    assert checkpoint is not None and checkpoint.last_uid == len(SEEDS)


@live
def test_sharing_the_analysis_with_a_helper_drains_exactly_the_same(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    sqlite_store: Store,
    ctx: CycleContext,
    classifier: Classifier,
) -> None:
    # as `poll` has it by default on two cores: chunks of a batch to the helper, the rest here
    settings = replace(mailbox_settings, batch_size=4)
    seed_inbox(dovecot, imap_account, SEEDS)
    pool = HelperPool[RawMessage, entries.Analysed](
        1, entries.analyse_batch, entries.Stages(classifier, VERP), min_batch=1, share=1
    )
    try:
        report = run(settings, sqlite_store, replace(ctx, helpers=pool))
    finally:
        pool.close()

    assert sum(pool.chunks.values()) == len(SEEDS)  # one message a chunk, each done once
    assert placement(dovecot, imap_account) == expected_placement(SEEDS)
    assert report.seen == report.moved == len(SEEDS) and not report.stopped
    assert report.outcomes == Counter(seed.outcome for seed in SEEDS)
    assert report.events == total_events(SEEDS) == count("bounce_event")
    assert events_by_sha() == expected_events(SEEDS)


@live
def test_helpers_are_not_started_for_an_empty_mailbox(
    mailbox_settings: MailboxSettings,
    sqlite_store: Store,
    ctx: CycleContext,
    helpers: HelperPool[RawMessage, entries.Analysed],
) -> None:
    report = run(mailbox_settings, sqlite_store, replace(ctx, helpers=helpers))

    assert report.seen == 0
    assert helpers.pids() == [] and helpers.batches == Counter()  # a cron poll pays no spawn


@live
def test_a_helper_killed_mid_drain_costs_nothing_but_time(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    sqlite_store: Store,
    ctx: CycleContext,
    helpers: HelperPool[RawMessage, entries.Analysed],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = replace(mailbox_settings, batch_size=3)
    seed_inbox(dovecot, imap_account, SEEDS)

    def kill_helper(operation: str, calls: Counter[str]) -> None:
        if operation == "fetch" and calls["fetch"] == 2:  # batch 1 is with the helper
            for pid in helpers.pids():
                os.kill(pid, signal.SIGKILL)

    report = run(settings, sqlite_store, replace(ctx, helpers=helpers), kill_helper)

    assert helpers.batches["here"] >= 1  # the batch the helper died with, done here
    assert sum(helpers.batches.values()) == 3
    assert "analysis helper processes failed" in caplog.text
    assert placement(dovecot, imap_account) == expected_placement(SEEDS)
    assert report.seen == report.moved == len(SEEDS)
    assert events_by_sha() == expected_events(SEEDS)
    assert count("message_ledger") == len(SEEDS)


@live
def test_a_stop_leaves_the_batch_analysed_ahead_for_the_next_cycle(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    sqlite_store: Store,
    ctx: CycleContext,
    helpers: HelperPool[RawMessage, entries.Analysed],
) -> None:
    settings = replace(mailbox_settings, batch_size=3)
    seed_inbox(dovecot, imap_account, SEEDS)
    stopping = replace(ctx, helpers=helpers, stop=threading.Event())

    def stop_in_batch_1(operation: str, calls: Counter[str]) -> None:
        if operation == "move" and calls["move"] == 1:  # batch 2 is fetched and analysing
            stopping.stop.set()

    report = run(settings, sqlite_store, stopping, stop_in_batch_1)

    assert report.stopped and report.seen == 3
    assert count("message_ledger") == 3  # batch 2 was analysed, but nothing of it recorded
    assert len(folder_contents(dovecot, imap_account, "INBOX")) == len(SEEDS) - 3
    assert report.backlog == len(SEEDS) - 3
    checkpoint = sqlite_store.get_checkpoint(settings.name)
    assert checkpoint is not None and checkpoint.last_uid == 3

    rest = run(settings, sqlite_store, replace(ctx, helpers=helpers))
    assert rest.seen == len(SEEDS) - 3 and not rest.stopped
    assert placement(dovecot, imap_account) == expected_placement(SEEDS)
    assert events_by_sha() == expected_events(SEEDS)


# -- fetching ahead over a second connection (reconciler.source.ahead) -----------------------


@pytest.fixture
def readers(monkeypatch: pytest.MonkeyPatch) -> list[ImapSource]:
    """The second connections the cycle opens (the real `ImapSource.reader`, recorded)."""
    opened: list[ImapSource] = []
    real = ImapSource.reader

    def reader(self: ImapSource) -> ImapSource:
        opened.append(real(self))
        return opened[-1]

    monkeypatch.setattr(ImapSource, "reader", reader)
    return opened


def fetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "fetch-ahead"]


def move_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "move"]


@live
def test_a_backlog_is_fetched_ahead_over_a_read_only_second_connection(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    any_store: Store,
    ctx: CycleContext,
    readers: list[ImapSource],
) -> None:
    settings = replace(mailbox_settings, batch_size=3)
    seed_inbox(dovecot, imap_account, SEEDS)
    report = run(settings, any_store, ctx)

    assert len(readers) == 1 and readers[0].read_only
    assert placement(dovecot, imap_account) == expected_placement(SEEDS)
    assert report.seen == report.moved == len(SEEDS) and report.failed == []
    assert events_by_sha() == expected_events(SEEDS)
    assert count("message_ledger") == len(SEEDS)
    assert fetch_threads() == []
    with pytest.raises(SourceError, match="not open"):  # closed with the cycle
        readers[0].fetch([1])


@live
def test_a_backlog_fetched_ahead_is_moved_in_the_background_after_its_commit(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    sqlite_store: Store,
    ctx: CycleContext,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = replace(mailbox_settings, batch_size=3)
    seed_inbox(dovecot, imap_account, SEEDS)
    real_move = ImapSource.move
    moves: list[tuple[str, list[int], set[int]]] = []  # thread, UIDs, UIDs committed then

    def move(self: ImapSource, uids: Sequence[int], destination: str) -> int:
        with sqlite3.connect(tmp_path / "store.db") as seen:  # what is committed now
            committed = {uid for (uid,) in seen.execute("SELECT uid FROM message_ledger")}
        moves.append((threading.current_thread().name, sorted(uids), committed))
        return real_move(self, uids, destination)

    monkeypatch.setattr(ImapSource, "move", move)
    report = run(settings, sqlite_store, ctx)

    assert placement(dovecot, imap_account) == expected_placement(SEEDS)
    assert report.seen == report.moved == len(SEEDS)
    assert {thread for thread, _, _ in moves} == {"move"} and move_threads() == []
    assert sorted(uid for _, uids, _ in moves for uid in uids) == list(range(1, len(SEEDS) + 1))
    assert all(set(uids) <= committed for _, uids, committed in moves)
    assert count("message_ledger WHERE moved = 1") == len(SEEDS)  # each marked moved


@live
def test_the_decide_stage_owed_at_the_end_runs_while_the_last_batch_is_moved(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    sqlite_store: Store,
    ctx: CycleContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = replace(mailbox_settings, batch_size=3)
    seed_inbox(dovecot, imap_account, SEEDS)
    real_move = ImapSource.move
    decided = threading.Event()
    said: list[tuple[str, object]] = []

    def move(self: ImapSource, uids: Sequence[int], destination: str) -> int:
        if len(SEEDS) in uids:  # the last batch: its move waits (10 s at most) for the decide
            said.append(("the last move saw the decide stage run", decided.wait(timeout=10)))
        return real_move(self, uids, destination)

    def decide(at: datetime) -> None:
        said.append(("decide stage read", count("message_ledger")))
        decided.set()

    monkeypatch.setattr(ImapSource, "move", move)
    result = cycle.run_once([settings], sqlite_store, replace(ctx, after_batch=decide), "log-only")

    assert result.ok and result.reports[0].moved == len(SEEDS)
    assert placement(dovecot, imap_account) == expected_placement(SEEDS)
    assert ("the last move saw the decide stage run", True) in said
    assert said[-2:] == [  # the stage ran once more at the end, after every commit
        ("decide stage read", len(SEEDS)),
        ("the last move saw the decide stage run", True),
    ]
    assert count("message_ledger WHERE moved = 1") == len(SEEDS)


@live
@pytest.mark.parametrize("every", [leasing.DECIDE_EVERY, 0.0])
def test_a_drain_runs_the_decide_stage_every_so_often_not_after_its_first_batch(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    sqlite_store: Store,
    ctx: CycleContext,
    monkeypatch: pytest.MonkeyPatch,
    every: float,
) -> None:
    # a drain quicker than DECIDE_EVERY runs the stage once, at its end, over every batch;
    # with no wait between runs, after each batch (the first one included)
    monkeypatch.setattr(leasing, "DECIDE_EVERY", every)
    settings = replace(mailbox_settings, batch_size=3)
    seed_inbox(dovecot, imap_account, SEEDS)
    read: list[int] = []
    result = cycle.run_once(
        [settings],
        sqlite_store,
        replace(ctx, after_batch=lambda at: read.append(count("message_ledger"))),
        "log-only",
    )
    assert result.ok and result.reports[0].seen == len(SEEDS)
    batches = [*range(3, len(SEEDS), 3), len(SEEDS)]
    assert read == ([len(SEEDS)] if every else batches)


@live
def test_one_batch_needs_no_second_connection(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    sqlite_store: Store,
    ctx: CycleContext,
    readers: list[ImapSource],
) -> None:
    seed_inbox(dovecot, imap_account, SEEDS)
    report = run(replace(mailbox_settings, batch_size=len(SEEDS)), sqlite_store, ctx)
    assert readers == [] and report.moved == len(SEEDS)


@live
def test_a_refused_second_connection_fetches_in_turn(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    sqlite_store: Store,
    ctx: CycleContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refused(self: ImapSource) -> ImapSource:
        raise SourceError("too many connections")

    monkeypatch.setattr(ImapSource, "reader", refused)
    caplog.set_level(logging.INFO, logger="reconciler.service.cycle")
    seed_inbox(dovecot, imap_account, SEEDS)
    report = run(replace(mailbox_settings, batch_size=3), sqlite_store, ctx)

    assert "no second connection (too many connections): fetching in turn" in caplog.text
    assert placement(dovecot, imap_account) == expected_placement(SEEDS)
    assert report.seen == report.moved == len(SEEDS)


@live
def test_a_crash_before_the_move_with_a_batch_fetched_ahead_loses_nothing(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    sqlite_store: Store,
    ctx: CycleContext,
    readers: list[ImapSource],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = replace(mailbox_settings, batch_size=3)
    seed_inbox(dovecot, imap_account, SEEDS)
    real_move = ImapSource.move

    def crash(self: ImapSource, uids: Sequence[int], destination: str) -> int:
        raise Crash("killed after the commit, before the MOVE")

    monkeypatch.setattr(ImapSource, "move", crash)
    # batch 1 committed, its move started in the background (the batches come over the
    # second connection); batch 2 committed meanwhile, and the cycle learns of the crash
    # when it would move that one; batch 3 fetched ahead (or under way)
    with pytest.raises(Crash):
        run(settings, sqlite_store, ctx)
    assert fetch_threads() == [] and move_threads() == []  # they ended with the cycle
    assert len(folder_contents(dovecot, imap_account, "INBOX")) == len(SEEDS)
    assert count("message_ledger") == 6  # only what was committed

    monkeypatch.setattr(ImapSource, "move", real_move)
    report = run(settings, sqlite_store, ctx)
    assert placement(dovecot, imap_account) == expected_placement(SEEDS)
    assert report.moved == len(SEEDS) and report.seen == len(SEEDS) - 6
    assert events_by_sha() == expected_events(SEEDS)  # nothing counted twice
    assert count("message_ledger") == len(SEEDS)
