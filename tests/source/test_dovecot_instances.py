"""The suite's private dovecots are told apart by their whole directory: two whose
directories have the same name (the demo's "dovecot" of two checkouts, one left running by
`scripts/demo --keep`) neither see nor wait for each other's processes."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from dovecot import Dovecot, DovecotError, instance_name
from support import unavailable


def test_same_named_directories_are_two_instances() -> None:
    parents = [Path(tempfile.mkdtemp(prefix="reconciler-twins-")) for _ in range(2)]
    servers: list[Dovecot] = []
    try:
        try:
            for parent in parents:
                servers.append(Dovecot(parent / "dovecot"))
                servers[-1].start()
        except (DovecotError, OSError) as err:
            unavailable(f"cannot start a private dovecot: {err}")
            raise
        first, second = servers
        assert instance_name(first.root) != instance_name(second.root)
        assert first._instance_pids() and second._instance_pids()
        assert not set(first._instance_pids()) & set(second._instance_pids())
        started = time.monotonic()
        first.stop()  # does not wait for the other's processes (it would time out)
        assert time.monotonic() - started < 5
        assert second.is_running() and second._instance_pids()
    finally:
        for server in servers:
            server.stop()
        for parent in parents:
            shutil.rmtree(parent, ignore_errors=True)
