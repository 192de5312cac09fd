"""A transaction the database aborts to break a deadlock runs again (`Store.run_transaction`).

Two workers that take the same two row locks in opposite orders deadlock on PostgreSQL and
MariaDB; the database aborts one of them and expects it to be issued again.  Deciding with two
workers at once did this under load (a MariaDB 1213 failed a decide run): the decision and its
local actions now commit on the second try instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from support import NOW

from reconciler.errors import StoreError
from reconciler.store import Store, open_database


@pytest.fixture(
    params=[
        pytest.param("pg_url", marks=pytest.mark.pg, id="postgresql"),
        pytest.param("mariadb_url", marks=pytest.mark.mariadb, id="mariadb"),
    ]
)
def server_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A migrated store on PostgreSQL and on MariaDB: the databases where several writers
    hold row locks at once (SQLite has one writer at a time, so two transactions never
    deadlock there)."""
    opened = open_database(str(request.getfixturevalue(request.param)))
    opened.migrate(NOW)
    yield opened
    opened.close()


def _worker(
    store: Store, first: str, second: str, value: int, barrier: threading.Barrier
) -> tuple[Callable[[], None], list[int], list[BaseException]]:
    attempts: list[int] = []
    failures: list[BaseException] = []

    def work() -> None:
        attempts.append(value)
        store.set_watermark(first, value, NOW)
        if len(attempts) == 1:  # both hold their first lock before either asks the second
            barrier.wait(30)
        store.set_watermark(second, value, NOW)

    def run() -> None:
        try:
            store.run_transaction(work)
        except BaseException as err:  # reported to the test
            failures.append(err)
        finally:
            store.release_connection()

    return run, attempts, failures


def test_a_deadlocked_transaction_runs_again(server_store: Store) -> None:
    store = server_store
    store.set_watermark("left", 0, NOW)
    store.set_watermark("right", 0, NOW)
    barrier = threading.Barrier(2)
    one, tries_one, failed_one = _worker(store, "left", "right", 1, barrier)
    two, tries_two, failed_two = _worker(store, "right", "left", 2, barrier)
    threads = [threading.Thread(target=one), threading.Thread(target=two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failed_one == failed_two == []
    # The database aborted one of them (at times, under load, both: PostgreSQL's deadlock
    # checks of the two sessions can both fire, and the retries can meet again), and each
    # aborted one ran again until it committed.
    assert max(len(tries_one), len(tries_two)) >= 2
    # Each transaction set both rows to its own value: whole, so both rows hold the value of
    # the one that committed last.
    assert store.watermark("left") == store.watermark("right") in (1, 2)


def test_other_errors_are_not_run_again(store: Store) -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        store.set_watermark("w", 1, NOW)
        raise StoreError("not a deadlock")

    with pytest.raises(StoreError, match="not a deadlock"):
        store.run_transaction(work)
    assert calls == [1]
    assert store.watermark("w") == 0  # rolled back
