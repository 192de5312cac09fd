"""The main job, end to end on this machine: a private dovecot on loopback seeded with real
sample bounces (some carrying valid VERP tokens, one forged, one that is not mail at all), then the
operator's view: a dry run, one log-only poll cycle, and the report of what it recorded.

Run through `scripts/demo`, which sets everything up first.  Everything lives in
./demo-state/ (removed and rebuilt on each run); dovecot is stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.config import VerpKey, VerpSettings  # noqa: E402 - after the path set-up
from reconciler.parse import parse  # noqa: E402
from reconciler.verp import make_address  # noqa: E402
from tests.dovecot import Dovecot  # noqa: E402 - the same harness the test suite uses

STATE = ROOT / "demo-state"
CORPUS = ROOT / "tests" / "corpus" / "sisimai" / "emails"
KEY = "demo-key-" + "0123456789abcdef"
SAMPLES = [  # (file, realm, user id or None for no token, forged?)
    ("lhost-postfix-33.eml", "enwiki", 1001, False),
    ("lhost-exim-05.eml", "enwiki", 1002, False),
    ("lhost-qmail-13.eml", "dewiki", 2001, False),
    ("lhost-outlook-04.eml", "enwiki", 1003, False),
    ("lhost-exchange2007-02.eml", "dewiki", 2002, False),
    ("lhost-amazonses-14.eml", "enwiki", 1004, False),
    ("lhost-postfix-15.eml", "enwiki", 1005, False),
    ("arf-17.eml", "enwiki", 1006, False),
    ("rfc3834-01.eml", "dewiki", 2003, False),
    ("lhost-sendmail-28.eml", "enwiki", 1007, True),
    ("lhost-gmail-19.eml", None, None, False),
    ("lhost-yahoo-04.eml", None, None, False),
]


def _verp() -> VerpSettings:
    return VerpSettings(domain="bounces.example.org", keys=(VerpKey("d", KEY.encode()),))


def _message(name: str, realm: str | None, user: int | None, forged: bool, now: int) -> bytes:
    data = (CORPUS / name).read_bytes()
    if user is None:
        return data
    named = [b.recipient for b in parse(data).bounces if b.recipient]  # bound to its recipient
    address = make_address(
        _verp(), user_id=user, address=named[0] if named else None, realm=realm, now=now - 3600
    )
    if forged:  # a token whose signature was tampered with: must never be trusted
        address = address.replace("bounces+d", "bounces+d" + "0", 1)
    return f"Delivered-To: {address}\r\n".encode() + data


def _config(dovecot: Dovecot, user: str) -> Path:
    (STATE / "imap-password").write_text(dovecot_password(dovecot, user))
    (STATE / "verp-key").write_text(KEY)
    for secret in ("imap-password", "verp-key"):
        (STATE / secret).chmod(0o600)
    path = STATE / "reconciler.toml"
    path.write_text(
        f"""[[mailbox]]
name = "bounces"
host = "127.0.0.1"
port = {dovecot.imap_port}
security = "none"          # loopback only: plaintext is refused for any other host
username = "{user}"
password_file = "{STATE / "imap-password"}"

[database]
url = "sqlite:///{STATE / "reconciler.db"}"

[verp]
domain = "bounces.example.org"
[[verp.keys]]
id = "d"
secret_file = "{STATE / "verp-key"}"
"""
    )
    path.chmod(0o600)
    return path


_ACCOUNTS: dict[str, str] = {}


def dovecot_password(_dovecot: Dovecot, user: str) -> str:
    return _ACCOUNTS[user]


def _run(config: Path, *args: str) -> int:
    print(f"\n$ reconciler --config {config.relative_to(ROOT)} {' '.join(args)}", flush=True)
    command = [sys.executable, "-m", "reconciler", "--config", str(config), *args]
    env = os.environ | {"COLUMNS": "110"}
    return subprocess.run(command, check=False, cwd=ROOT, env=env).returncode


def main() -> int:
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir()
    dovecot = Dovecot(STATE / "dovecot")
    dovecot.start()
    try:
        account = dovecot.add_user()
        _ACCOUNTS[account.name] = account.password
        now = int(time.time())
        messages = [_message(*sample, now=now) for sample in SAMPLES]
        messages.append(b"\x00\x01 this is not a mail message at all \xff\xfe\n")
        dovecot.append(account, "INBOX", messages, create=False)
        print(
            f"dovecot on 127.0.0.1:{dovecot.imap_port}: seeded {len(messages)} messages "
            f"({sum(1 for s in SAMPLES if s[2] and not s[3])} with valid VERP tokens)"
        )
        config = _config(dovecot, account.name)
        codes = [_run(config, "check-config"), _run(config, "dry-run")]
        codes.append(_run(config, "poll", "--once"))
        folders = {f: len(dovecot.uids(account, f)) for f in sorted(dovecot.folders(account))}
        print("\nmailbox after the cycle:", ", ".join(f"{f}={n}" for f, n in folders.items()))
        codes.append(_run(config, "poll", "--once"))  # a second cycle finds nothing new
        codes.append(_run(config, "report", "--since", "1d"))  # what the operator reads
    finally:
        dovecot.stop()
    print(f"\nstate kept in {STATE.relative_to(ROOT)}/ (the database: reconciler.db)")
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
