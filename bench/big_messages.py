"""Peak memory of one cycle over a mailbox of large bounces (issue 12, item 5).

    python bench/big_messages.py [--n 41] [--mb 9.5] [--processes 0] [--fetch-bytes N]

Starts a private dovecot (sdbox, loopback; the test suite's harness in tests/dovecot.py),
seeds one mailbox with N bounces of about MB megabytes each (a DSN returning the original
message with a large attachment, each with its own VERP token), and runs `reconciler poll
--once` over it in a child process that prints its own peak resident size (VmHWM of
/proc/self/status, which starts afresh at exec: not inherited from this driver).  Prints the
peak, the time and where the messages went.  Target: a peak under 300 MB whatever arrives.
It prints figures; it is not a timed test (STYLE 2.20).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from dovecot import Dovecot  # noqa: E402 (after the path set-up)
from helpers_big import count, poll_peak, seed, write_config  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=41, help="messages in the mailbox")
    parser.add_argument("--mb", type=float, default=9.5, help="size of each message, MB")
    parser.add_argument("--processes", type=int, default=0, help="[daemon] analysis_processes")
    parser.add_argument("--fetch-bytes", type=int, default=0, help="[[mailbox]] fetch_bytes")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="reconciler-bench-big-"))
    work.chmod(0o755)  # dovecot's mail processes (nobody, when run as root) must traverse it
    server = Dovecot(Path(tempfile.mkdtemp(prefix="dovecot-", dir=work)), mail_format="sdbox")
    try:
        server.start()
        account = server.add_user()
        size = int(args.mb * 1_000_000)
        start = time.perf_counter()
        seed(server, account, args.n, size)
        print(f"seeded {args.n} messages of {size / 1e6:.1f} MB "
              f"in {time.perf_counter() - start:.1f} s")  # fmt: skip
        extra = f"fetch_bytes = {args.fetch_bytes}" if args.fetch_bytes else ""
        start = time.perf_counter()
        peak, status, _ = poll_peak(write_config(work, server, account, extra), args.processes)
        seconds = time.perf_counter() - start
        where = {f: count(server, account, f) for f in ("INBOX", "processed", "unmatched")}
        print(f"poll --once: exit {status}, {seconds:.1f} s, moved: {where}")
        print(f"peak RSS of the polling process: {peak / 1024:.1f} MB (target < 300 MB)")
        return 0 if where["INBOX"] == 0 and peak < 300 * 1024 else 1
    finally:
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
