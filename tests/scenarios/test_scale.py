"""Scale-out (issue 7): several workers share one database; each mailbox is drained by one
worker at a time through a lease.

* the lease API on SQLite, PostgreSQL and MariaDB: acquire, conflict, expiry takeover, renew,
  release, take-over of a dead holder;
* `claim` takes over a dead ``host:pid`` of this host at once; the crew's fair share;
* real `reconciler run` processes against one PostgreSQL schema and the private dovecot:
  two workers on one mailbox never process a message twice; two workers on two mailboxes
  drain one each; a SIGKILLed worker's mailbox passes to the other after the lease expiry.

Waits poll conditions with deadlines; nothing sleeps for timing.
"""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dovecot import Account, Dovecot
from helpers_mail import KEY as VERP_KEY
from helpers_mail import VERP as VERP_SETTINGS
from helpers_mail import (
    DaemonProcess,
    hard_bounce,
    rows,
    scalar,
    tags_by_folder,
    token_for,
)
from support import NOW, until

from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules
from reconciler.config import MailboxSettings
from reconciler.records import LeaseScope
from reconciler.service.cycle import CycleContext, run_once
from reconciler.service.leasing import WARM_UP, Crew, LeaseTerms, claim
from reconciler.store import Store, open_database
from reconciler.store.models import LeaseRow, database

WORKER = LeaseScope.WORKER

TTL = timedelta(seconds=30)
LATER = NOW + TTL + timedelta(seconds=1)


# -- the lease API, on every backend ----------------------------------------------------------


def test_lease_acquire_conflict_renew_release(store: Store) -> None:
    assert store.lease_holder("box", NOW) is None
    assert store.acquire_lease("box", "a", NOW, TTL)
    assert store.acquire_lease("box", "a", NOW, TTL)  # ours already: re-taken
    assert not store.acquire_lease("box", "b", NOW + timedelta(seconds=5), TTL)
    assert store.lease_holder("box", NOW + timedelta(seconds=5)) == "a"
    assert store.renew_lease("box", "a", NOW + timedelta(seconds=20), TTL)  # now until +50 s
    assert not store.acquire_lease("box", "b", LATER, TTL)  # renewed: not expired at +31 s
    assert not store.renew_lease("box", "b", LATER, TTL)
    assert not store.release_lease("box", "b", LATER)
    assert store.release_lease("box", "a", LATER)
    assert store.lease_holder("box", LATER) is None
    assert store.acquire_lease("box", "b", LATER, TTL)  # released: free at once


def test_lease_expires_and_passes_to_another(store: Store) -> None:
    assert store.acquire_lease("box", "a", NOW, TTL)
    assert not store.acquire_lease("box", "b", NOW + TTL - timedelta(seconds=1), TTL)
    assert store.acquire_lease("box", "b", NOW + TTL, TTL)  # a died: expired, b takes over
    assert store.lease_holder("box", NOW + TTL) == "b"
    assert not store.renew_lease("box", "a", NOW + TTL, TTL)  # a woke up: it lost the lease
    assert store.leases_held("a", NOW + TTL) == []
    assert store.leases_held("b", NOW + TTL) == ["box"]


def test_take_over_only_from_the_named_holder(store: Store) -> None:
    assert store.acquire_lease("box", "a", NOW, TTL)
    assert not store.take_over_lease("box", ("x", "b"), NOW, TTL)
    assert store.take_over_lease("box", ("a", "b"), NOW, TTL)
    assert store.lease_holder("box", NOW) == "b"


def test_scopes_are_separate(store: Store) -> None:
    assert store.acquire_lease("w1", "w1", NOW, TTL, scope=WORKER)
    assert store.acquire_lease("w1", "other", NOW, TTL)  # a mailbox of the same name
    assert store.live_leases(NOW, scope=WORKER) == {"w1": "w1"}
    assert store.live_leases(NOW) == {"w1": "other"}
    assert store.live_leases(LATER, scope=WORKER) == {}


def test_lease_table_matches_its_live_model(store: Store) -> None:
    cursor = database.obj.execute_sql("SELECT * FROM lease WHERE 1 = 0")
    assert {c[0] for c in cursor.description} == {
        f.column_name for f in LeaseRow._meta.sorted_fields
    }


# -- claim and the crew (SQLite) --------------------------------------------------------------


def test_claim_takes_over_a_dead_pid_of_this_host_at_once(sqlite_store: Store) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = f"{socket.gethostname()}:{child.pid}"
    assert sqlite_store.acquire_lease("box", dead, NOW, TTL)
    me = LeaseTerms(f"{socket.gethostname()}:1", TTL)  # pid 1 is alive: never taken over
    assert claim(sqlite_store, "box", me, NOW)
    assert sqlite_store.lease_holder("box", NOW) == me.worker
    assert not claim(sqlite_store, "box", LeaseTerms("elsewhere:42", TTL), NOW)


def test_crew_takes_its_fair_share_and_hands_back_the_excess(sqlite_store: Store) -> None:
    first = Crew(LeaseTerms("host-a:1", TTL), mailboxes=2, warm_up=0)
    assert first.heartbeat(sqlite_store, NOW) == []
    assert first.claim(sqlite_store, "m1", NOW) and first.claim(sqlite_store, "m2", NOW)
    second = Crew(LeaseTerms("host-b:1", TTL), mailboxes=2, warm_up=0)
    second.heartbeat(sqlite_store, NOW)  # a second worker: the fair share is now one each
    assert not second.claim(sqlite_store, "m2", NOW)
    assert first.keeps(sqlite_store, "m1", NOW) and not first.keeps(sqlite_store, "m2", NOW)
    assert second.heartbeat(sqlite_store, NOW) == []  # m2 still held
    sqlite_store.release_lease("m2", "host-a:1", NOW)  # what the handing over does
    assert second.heartbeat(sqlite_store, NOW) == ["m2"]
    assert second.claim(sqlite_store, "m2", NOW)
    assert not first.claim(sqlite_store, "m2", NOW)  # held; and m1 is its share
    later = NOW + TTL
    first.heartbeat(sqlite_store, later)  # the second worker died: all is the first's again
    sqlite_store.acquire_lease("m1", "host-a:1", later, TTL)
    assert first.claim(sqlite_store, "m2", later)


def test_a_starting_worker_takes_one_mailbox_until_its_warm_up_ends(
    sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    first = Crew(LeaseTerms("host-a:1", TTL), mailboxes=2, warm_up=3600)
    first.heartbeat(sqlite_store, NOW)
    assert first.warming_up()
    assert first.claim(sqlite_store, "m1", NOW)
    assert not first.claim(sqlite_store, "m2", NOW)  # left for a worker starting meanwhile
    assert "mailbox=m2 deferred: other workers may be starting" in caplog.text
    assert first.heartbeat(sqlite_store, NOW) == []  # nothing to wake while warming up
    second = Crew(LeaseTerms("host-b:1", TTL), mailboxes=2, warm_up=3600)
    second.heartbeat(sqlite_store, NOW)
    assert second.claim(sqlite_store, "m2", NOW)  # the other worker took it from the start
    # alone, the worker takes the rest once warmed up (the daemon runs a heartbeat then)
    sqlite_store.release_lease("m2", "host-b:1", NOW)
    second.leave(sqlite_store, NOW)
    first.warm_up = 0
    assert first.heartbeat(sqlite_store, NOW) == ["m2"]
    assert first.claim(sqlite_store, "m2", NOW)
    assert Crew(LeaseTerms("host-c:1", TTL), mailboxes=2).warm_up == min(
        WARM_UP, TTL.total_seconds() / 3
    )


# -- real workers on PostgreSQL and dovecot -----------------------------------------------------


def _config(
    path: Path,
    dovecot: Dovecot,
    boxes: dict[str, Account],
    url: str,
    worker: str | None = None,
    lease: int = 10,
) -> Path:
    """Every mailbox of `boxes`; IDLE; leases renewed every batch of 20.  `lease` is short
    only where a takeover is the point (a loaded machine may stall a batch for seconds)."""
    parts = []
    for name, account in boxes.items():
        secret = path.parent / f"{name}.pw"
        secret.write_text(account.password)
        secret.chmod(0o600)
        parts.append(
            f'[[mailbox]]\nname = "{name}"\nhost = "{dovecot.host}"\nport = {dovecot.imap_port}\n'
            f'security = "none"\nusername = "{account.name}"\npassword_file = "{secret}"\n'
            "batch_size = 20\ntimeout_seconds = 10\n"
        )
    worker_line = f'worker_id = "{worker}"\n' if worker else ""
    parts.append(
        f'[database]\nurl = "{url}"\n\n[daemon]\ninterval_seconds = 10\nidle = true\n'
        f'lease_seconds = {lease}\n{worker_line}\n[logging]\nlevel = "info"\n\n'
        f'[verp]\ndomain = "{VERP_SETTINGS.domain}"\n[[verp.keys]]\nid = "c"\n'
        f'secret = "{VERP_KEY.decode()}"\n'
    )
    path.write_text("\n".join(parts))
    path.chmod(0o600)
    return path


def _copy(config: Path, to: Path) -> None:
    to.write_text(config.read_text())
    to.chmod(0o600)


def _bounces(first: int, count: int, prefix: str) -> list[bytes]:
    addresses = {n: f"u{n}@d{n % 50}.example" for n in range(first, first + count)}
    return [
        hard_bounce(token_for(n, address=a), a, f"{prefix}{n}", own_mx=True)
        for n, a in addresses.items()
    ]


def _seen(log: str) -> Counter[str]:
    """Messages seen per mailbox, from the cycle summary lines of one worker's log."""
    seen: Counter[str] = Counter()
    for mailbox, count in re.findall(r"cycle mailbox=(\S+) seen=(\d+)", log):
        seen[mailbox] += int(count)
    return seen


def _inbox(dovecot: Dovecot, account: Account) -> int:
    with dovecot.client(account, folder=None) as imap:
        return int(imap.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"])


def _ledger_checks(url: str, total: int) -> None:
    assert scalar(url, "SELECT COUNT(*) FROM message_ledger") == total
    assert scalar(url, "SELECT COUNT(DISTINCT sha256) FROM message_ledger") == total
    per_uid = "SELECT COUNT(*) FROM (SELECT DISTINCT mailbox, uid FROM message_ledger) AS u"
    assert scalar(url, per_uid) == total
    assert scalar(url, "SELECT COUNT(*) FROM message_ledger WHERE outcome = 'duplicate'") == 0
    assert scalar(url, "SELECT COUNT(*) FROM message_ledger WHERE NOT moved") == 0
    assert scalar(url, "SELECT COUNT(*) FROM bounce_event") == total
    per_message = rows(url, "SELECT message_id, COUNT(*) FROM bounce_event GROUP BY message_id")
    assert len(per_message) == total and {n for _m, n in per_message} == {1}


def _folder_checks(dovecot: Dovecot, account: Account, tags: set[str]) -> None:
    found = tags_by_folder(dovecot, account)
    assert found["INBOX"] == []
    everywhere = Counter(tag for folder in found.values() for tag in folder)
    assert set(everywhere) == tags and set(everywhere.values()) == {1}


def _present(url: str, workers: int) -> bool:
    return len(rows(url, "SELECT name FROM lease WHERE scope = 'worker'")) >= workers


@pytest.fixture
def workers(pg_url: str) -> Iterator[list[DaemonProcess]]:
    """Worker processes to start on `pg_url`, its schema migrated first (two workers that
    start at once on an empty database would both run the migrations)."""
    with open_database(pg_url) as store:
        store.migrate(datetime.now(UTC))
    started: list[DaemonProcess] = []
    yield started
    for proc in started:
        proc.cleanup()


def _start(started: list[DaemonProcess], config: Path) -> DaemonProcess:
    proc = DaemonProcess(config, config.with_suffix(".log"))
    started.append(proc)
    proc.start()
    return proc


@pytest.mark.live
@pytest.mark.pg
def test_two_workers_on_one_mailbox_never_process_a_message_twice(
    dovecot: Dovecot, pg_url: str, tmp_path: Path, workers: list[DaemonProcess]
) -> None:
    account = dovecot.add_user()
    dovecot.append(account, "INBOX", _bounces(0, 200, "w"))
    config = _config(tmp_path / "one.toml", dovecot, {"one": account}, pg_url)
    _copy(config, config.with_name("one-b.toml"))
    a, b = _start(workers, config), _start(workers, config.with_name("one-b.toml"))
    # more mail while both run: IDLE wakes both, and both try for the lease each time
    until(lambda: _present(pg_url, 2), 30, "both workers to be present")
    for wave in range(3):
        dovecot.append(account, "INBOX", _bounces(200 + 100 * wave, 100, "w"))
    until(lambda: _inbox(dovecot, account) == 0, 40, "the mailbox to be drained")
    until(lambda: scalar(pg_url, "SELECT COUNT(*) FROM message_ledger") == 500, 20, "ledger")
    assert a.terminate() == 0 and b.terminate() == 0
    logs = a.text(), b.text()
    # no message was fetched and analysed by both: the cycles saw 500 in all, not more
    assert _seen(logs[0])["one"] + _seen(logs[1])["one"] == 500, (_seen(logs[0]), _seen(logs[1]))
    assert any("skipped: lease held by" in log for log in logs)
    assert not any("Traceback" in log for log in logs)
    _ledger_checks(pg_url, 500)
    _folder_checks(dovecot, account, {f"w{n}" for n in range(500)})


@pytest.mark.live
@pytest.mark.pg
def test_two_workers_on_two_mailboxes_drain_one_each(
    dovecot: Dovecot, pg_url: str, tmp_path: Path, workers: list[DaemonProcess]
) -> None:
    boxes = {"left": dovecot.add_user(), "right": dovecot.add_user()}
    for index, (name, account) in enumerate(boxes.items()):
        dovecot.append(account, "INBOX", _bounces(1000 * index, 300, name))
    config = _config(tmp_path / "two.toml", dovecot, boxes, pg_url, lease=4)
    _copy(config, config.with_name("two-b.toml"))
    # started together: the first may claim both before the second is present; it hands one
    # back after a batch once it sees the second (fair share: one mailbox each)
    a, b = _start(workers, config), _start(workers, config.with_name("two-b.toml"))
    for account in boxes.values():
        until(lambda acc=account: _inbox(dovecot, acc) == 0, 40, "both mailboxes drained")
    until(lambda: scalar(pg_url, "SELECT COUNT(*) FROM message_ledger") == 600, 20, "ledger")
    assert a.terminate() == 0 and b.terminate() == 0
    seen = _seen(a.text()), _seen(b.text())
    mains = [max(s, key=lambda box, s=s: s[box]) for s in seen]  # what each worker drained
    assert set(mains) == {"left", "right"}, seen
    assert all(s[main] >= 240 for s, main in zip(seen, mains, strict=True)), seen  # >= 80 %
    _ledger_checks(pg_url, 600)
    for name, account in boxes.items():
        base = 0 if name == "left" else 1000
        _folder_checks(dovecot, account, {f"{name}{n}" for n in range(base, base + 300)})


@pytest.mark.live
@pytest.mark.pg
def test_a_killed_workers_mailbox_passes_to_the_other_after_the_expiry(
    dovecot: Dovecot, pg_url: str, tmp_path: Path, workers: list[DaemonProcess]
) -> None:
    account = dovecot.add_user()
    dovecot.append(account, "INBOX", _bounces(0, 1200, "k"))
    procs = {
        name: _start(
            workers, _config(tmp_path / f"{name}.toml", dovecot, {"k": account}, pg_url, name, 3)
        )
        for name in ("wa", "wb")
    }  # started together: whichever takes the lease first, the other is refused at its start
    lease = "SELECT holder, expires_at FROM lease WHERE scope = 'mailbox' AND name = 'k'"
    ledger = "SELECT COUNT(*) FROM message_ledger"
    until(lambda: bool(rows(pg_url, lease)) and scalar(pg_url, ledger) > 0, 30, "a first batch")
    holder = rows(pg_url, lease)[0][0]
    other = "wb" if holder == "wa" else "wa"
    procs[holder].kill()
    at_kill, (last_holder, expiry) = scalar(pg_url, ledger), rows(pg_url, lease)[0]
    assert last_holder == holder and at_kill < 1200, "killed after the drain: a larger backlog"
    until(lambda: _inbox(dovecot, account) == 0, 40, "the other worker to drain the rest")
    until(lambda: scalar(pg_url, ledger) == 1200, 20, "the ledger to hold every message")
    taker, acquired = rows(pg_url, "SELECT holder, acquired_at FROM lease WHERE name = 'k'")[0]
    assert taker == other and acquired >= expiry  # after the dead worker's expiry, not before
    assert f"skipped: lease held by {holder}" in procs[other].text()
    assert procs[other].terminate() == 0
    assert "Traceback" not in procs[other].text()
    _ledger_checks(pg_url, 1200)
    _folder_checks(dovecot, account, {f"k{n}" for n in range(1200)})


@pytest.mark.live
def test_poll_once_skips_a_mailbox_another_worker_holds(
    dovecot: Dovecot, imap_account: Account, mailbox_settings: MailboxSettings, sqlite_store: Store
) -> None:
    dovecot.append(imap_account, "INBOX", _bounces(0, 3, "p"))
    ctx = CycleContext(classifier=Classifier(load_rules().rules), verp=VERP_SETTINGS)
    me = LeaseTerms("poller:1", TTL)
    now = datetime.now(UTC)
    assert sqlite_store.acquire_lease(mailbox_settings.name, "daemon-elsewhere", now, TTL)
    skipped = run_once([mailbox_settings], sqlite_store, ctx, "log-only", lease=me)
    assert skipped.ok and skipped.reports == []  # skipped (logged), not a failure
    assert len(dovecot.uids(imap_account)) == 3
    sqlite_store.release_lease(mailbox_settings.name, "daemon-elsewhere", now)
    drained = run_once([mailbox_settings], sqlite_store, ctx, "log-only", lease=me)
    assert [r.seen for r in drained.reports] == [3] and dovecot.uids(imap_account) == []
    assert sqlite_store.lease_holder(mailbox_settings.name, datetime.now(UTC)) is None  # released
