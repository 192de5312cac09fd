"""SQLite: a transaction that reads and then writes must not fail because another process
wrote in between.  In WAL mode a deferred transaction that has read holds a snapshot; when
another connection commits meanwhile, its first write fails at once with "database is
locked" (SQLITE_BUSY_SNAPSHOT: the busy timeout does not apply).  That is what an operator's
`mode enforce` met while the daemon renewed its leases.  Write transactions now begin
IMMEDIATE: the other writer waits (busy timeout) until this one commits."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from support import NOW

from reconciler.records import Mode
from reconciler.store import open_database


def test_a_transaction_that_read_first_still_writes_while_another_process_writes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    with open_database(f"sqlite:///{path}") as store:
        store.migrate(NOW)
        other = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        other.execute("CREATE TABLE scratch (x INTEGER)")
        writer = threading.Thread(target=other.execute, args=("INSERT INTO scratch VALUES (1)",))
        with store.transaction():
            assert store.get_mode().mode is Mode.LOG_ONLY  # this transaction has read
            writer.start()
            writer.join(0.5)
            assert writer.is_alive(), "the other writer must wait for this transaction"
            store.set_mode(Mode.ENFORCE, "operator:test", "promote", NOW)
        writer.join(10)
        assert not writer.is_alive()
        assert store.get_mode().mode is Mode.ENFORCE
        assert other.execute("SELECT count(*) FROM scratch").fetchone() == (1,)
        other.close()
