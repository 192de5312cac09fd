"""Large bounces for the memory tests and bench/big_messages.py (issue 12, item 5): a DSN
that returns the original message with a large attachment, a one-mailbox configuration, and a
`poll --once` child process that reports its own peak resident size.

The peak is VmHWM of /proc/self/status, read by the child itself: it starts afresh at exec,
whereas the rusage of a child counts the resident pages of the (large) parent it was forked
from.  `poll_peak(..., data_limit=N)` caps the child's data segment (RLIMIT_DATA) as a small
machine or a cgroup would: a process that needs more fails with MemoryError.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from dovecot import Account, Dovecot  # tests/dovecot.py (tests/ is on sys.path)

from reconciler.config import VerpKey, VerpSettings
from reconciler.verp import make_address

ROOT = Path(__file__).resolve().parent.parent
VERP_SECRET = "bench-big-verp-key-0123456789"
VERP = VerpSettings(domain="bounces.example.org", keys=(VerpKey("a", VERP_SECRET.encode()),))

# The child: one `poll --once`, then its own peak resident size (kB) on the last line.
CHILD = """
import resource, sys
if int(sys.argv[2]):
    resource.setrlimit(resource.RLIMIT_DATA, (int(sys.argv[2]),) * 2)
from reconciler.cli import main
code = main(["--config", sys.argv[1], "poll", "--once"])
peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("vmhwm-kb", peak, "exit", code)
"""


def big_bounce(n: int, size: int, token: str) -> bytes:
    """A Postfix-style DSN for user n returning a message with a `size`-byte attachment."""
    line = b"QUJD" * 19 + b"\r\n"  # base64 lines of 78 characters
    attachment = line * (size // len(line))
    return (
        b"Delivered-To: " + token.encode() + b"\r\n"
        b"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        b"To: " + token.encode() + b"\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <big-%d@mx.example.net>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b1\r\n\r\n"
        b"--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.net\r\n\r\n"
        b"Final-Recipient: rfc822; user%d@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Remote-MTA: dns; mx.example.org\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
        b"--b1\r\nContent-Type: message/rfc822\r\n\r\n"
        b"From: site@example.com\r\nTo: user%d@example.org\r\nSubject: your files\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b2\r\n\r\n"
        b"--b2\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
        b"--b2\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"--b2--\r\n--b1--\r\n"
    ) % (n, n, n)


def write_config(work: Path, server: Dovecot, account: Account, extra: str = "") -> Path:
    """A configuration for one mailbox of `account`, SQLite in `work`; `extra` goes in the
    [[mailbox]] table (e.g. "fetch_bytes = ...")."""
    secret = work / "imap.password"
    secret.write_text(account.password)
    secret.chmod(0o600)
    verp_key = work / "verp.key"
    verp_key.write_text(VERP_SECRET)
    verp_key.chmod(0o600)
    config = work / "big.toml"
    config.write_text(
        f"""[[mailbox]]
name = "big"
host = "{server.host}"
port = {server.imap_port}
security = "none"
username = "{account.name}"
password_file = "{secret}"
timeout_seconds = 120
{extra}

[database]
url = "sqlite:///{work / "big.db"}"

[verp]
domain = "{VERP.domain}"

[[verp.keys]]
id = "a"
secret_file = "{verp_key}"
"""
    )
    return config


def seed(server: Dovecot, account: Account, n: int, size: int, now: int | None = None) -> None:
    """`n` bounces of `size` bytes, each with a token for its own user (1..n)."""
    now = int(time.time()) if now is None else now
    for i in range(1, n + 1):  # one at a time: the harness appends 200 per command
        token = make_address(
            VERP, user_id=i, address=f"user{i}@example.org", realm="bench", now=now - 3600
        )
        server.append(account, "INBOX", [big_bounce(i, size, token)])


def poll_peak(config: Path, processes: int = 0, data_limit: int = 0) -> tuple[int, int, str]:
    """(peak RSS in kB, exit status, output) of one `poll --once` child; `data_limit`: its
    RLIMIT_DATA in bytes (0: none)."""
    if processes:
        text = config.read_text().replace("[verp]", f"[daemon]\nanalysis_processes = {processes}"
                                          "\n\n[verp]")  # fmt: skip
        config.write_text(text)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(config), str(data_limit)], cwd=ROOT,
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    last = (done.stdout.strip().splitlines() or [""])[-1].split()
    if done.returncode != 0 or len(last) != 4 or last[0] != "vmhwm-kb":
        raise RuntimeError(f"poll child failed ({done.returncode}): {done.stderr[-2000:]}")
    return int(last[1]), int(last[3]), done.stdout + done.stderr


def count(server: Dovecot, account: Account, folder: str) -> int:
    with server.client(account, folder=None) as imap:
        if not imap.folder_exists(folder):
            return 0
        return int(imap.select_folder(folder, readonly=True)[b"EXISTS"])
