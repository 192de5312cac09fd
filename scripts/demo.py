"""The main job, end to end on this machine: a private dovecot on loopback seeded with real
sample bounces (some carrying valid VERP tokens, one forged, one that is not mail at all), then the
operator's view: a dry run, one log-only poll cycle, the report of what it recorded, and the
review of what it could not use (the start of the operator's loop).

Run through `scripts/demo`, which sets everything up first.  Everything lives in
./demo-state/ (removed and rebuilt on each run); dovecot is stopped at the end, unless:

    scripts/demo --keep     # leave dovecot running, with a second mailbox seeded for you to
                            # try the README's quick start against; prints what to set
    scripts/demo --stop     # stop a dovecot left running by --keep
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.cli import _parser  # noqa: E402 - after the path set-up
from reconciler.config import VerpKey, VerpSettings  # noqa: E402
from reconciler.parse import parse  # noqa: E402
from reconciler.verp import make_address  # noqa: E402
from tests.dovecot import Account, Dovecot  # noqa: E402 - the harness the test suite uses

_STATE = [ROOT / "demo-state"]  # --state DIR: elsewhere (the test suite runs the demo there)


def state() -> Path:
    """Where everything of the demo lives."""
    return _STATE[0]


CORPUS = ROOT / "tests" / "corpus" / "sisimai" / "emails"
KEY_ID = "a"  # the key id of config.example.toml: its quick start verifies these tokens too
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
NOT_MAIL = b"\x00\x01 this is not a mail message at all \xff\xfe\n"


def _verp() -> VerpSettings:
    return VerpSettings(domain="bounces.example.org", keys=(VerpKey(KEY_ID, KEY.encode()),))


def _message(name: str, realm: str | None, user: int | None, forged: bool, now: int) -> bytes:
    data = (CORPUS / name).read_bytes()
    if user is None:
        return data
    named = [b.recipient for b in parse(data).bounces if b.recipient]  # bound to its recipient
    address = make_address(
        _verp(), user_id=user, address=named[0] if named else None, realm=realm, now=now - 3600
    )
    if forged:  # a token whose signature was tampered with: must never be trusted
        marker = f"bounces+{KEY_ID}"
        address = address.replace(marker, marker + "0", 1)
    return f"Delivered-To: {address}\r\n".encode() + data


def _secret(name: str, value: str) -> Path:
    path = state() / name
    path.write_text(value)
    path.chmod(0o600)
    return path


def _config(dovecot: Dovecot, account: Account) -> Path:
    password = _secret("imap-password", account.password)
    key = _secret("verp-key", KEY)
    path = state() / "reconciler.toml"
    path.write_text(
        f"""# written by scripts/demo: relative paths start in this directory
[[mailbox]]
name = "bounces"
host = "127.0.0.1"
port = {dovecot.imap_port}
security = "none"          # loopback only: plaintext is refused for any other host
username = "{account.name}"
password_file = "{password.name}"

[database]
url = "sqlite:///reconciler.db"

[verp]
domain = "bounces.example.org"
[[verp.keys]]
id = "{KEY_ID}"
secret_file = "{key.name}"
"""
    )
    path.chmod(0o600)
    return path


def _run(config: Path, *args: str) -> int:
    print(f"\n$ reconciler --config {_shown(config)} {' '.join(args)}", flush=True)
    command = [sys.executable, "-m", "reconciler", "--config", str(config), *args]
    return subprocess.run(command, check=False, cwd=ROOT).returncode


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _has_command(name: str) -> bool:
    subs = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return name in subs.choices


def _next_steps(config: Path, *, kept: bool) -> None:
    review = ["review                   # what waits for a look"] if _has_command("review") else []
    steps = [
        *review,
        "report --since 1d        # what was recorded and decided, the mode",
        "user show enwiki:1006    # one user's evidence trail",
        "status                   # health, as monitoring sees it",
    ]
    print("\nWhat to try next:")
    print(f'  export PATH="{ROOT / ".venv" / "bin"}:$PATH"    # puts `reconciler` on the PATH')
    print(f'  export RECONCILER_CONFIG="{config}"')
    for step in steps:
        print(f"  reconciler {step}")
    print(f"  reconciler explain {CORPUS / SAMPLES[0][0]}")
    if not kept:
        print("  scripts/demo --keep      # leaves dovecot running for the README's quick start")


def _keep(dovecot: Dovecot, now: int) -> None:
    """A second account with the same messages, untouched, for the README's quick start."""
    yours = dovecot.add_user()
    dovecot.append(yours, "INBOX", _messages(now), create=False)
    password = _secret("quickstart-imap-password", yours.password)
    print(f"\ndovecot keeps running on 127.0.0.1:{dovecot.imap_port} (pid {_pid()}); "
          "stop it with: scripts/demo --stop")  # fmt: skip
    print(f"the demo's configuration: {state() / 'reconciler.toml'}")
    print(
        "\nTo try the quick start of README.md against it, in a directory of your own:\n"
        f'    export PATH="{ROOT / ".venv" / "bin"}:$PATH"\n'
        f"    cp {ROOT / 'config.example.toml'} reconciler.toml\n"
        "    # then in reconciler.toml, under [[mailbox]], set:\n"
        f'    #   host = "127.0.0.1"\n    #   port = {dovecot.imap_port}\n'
        f'    #   security = "none"\n    #   username = "{yours.name}"\n'
        f"    export RECONCILER_IMAP_PASSWORD=$(cat {password})\n"
        f"    export RECONCILER_VERP_KEY=$(cat {state() / 'verp-key'})\n"
        "    reconciler check-config\n"
        f"(its INBOX holds the same {len(SAMPLES) + 1} messages, not yet read)"
    )


def _messages(now: int) -> list[bytes]:
    return [*(_message(*sample, now=now) for sample in SAMPLES), NOT_MAIL]


def _pid_file() -> Path:
    return state() / "dovecot" / "run" / "master.pid"


def _pid() -> int | None:
    try:
        return int(_pid_file().read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop_kept() -> bool:
    """Stop the dovecot a `--keep` run left (its master, by the pid it wrote); True if one ran."""
    pid = _pid()
    if pid is None or not Path(f"/proc/{pid}").exists():
        return False
    if b"dovecot" not in Path(f"/proc/{pid}/cmdline").read_bytes():
        return False  # a stale pid file, the number taken by another process
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the process table until the master is gone, not a timing
    with contextlib.suppress(OSError):
        os.waitpid(pid, os.WNOHANG)
    _pid_file().unlink(missing_ok=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--keep", action="store_true", help="leave dovecot running at the end")
    when.add_argument("--stop", action="store_true", help="stop a dovecot left by --keep")
    parser.add_argument("--state", type=Path, help="where to keep everything (./demo-state)")
    args = parser.parse_args(argv)
    if args.state is not None:
        _STATE[0] = args.state.resolve()
    if args.stop:
        print("dovecot stopped" if stop_kept() else "no dovecot of the demo was running")
        return 0
    stop_kept()  # a dovecot kept by an earlier run lives in the directory about to go
    shutil.rmtree(state(), ignore_errors=True)
    state().mkdir(parents=True)
    dovecot = Dovecot(state() / "dovecot")
    dovecot.start(detach=args.keep)
    kept = False
    try:
        account = dovecot.add_user()
        now = int(time.time())
        messages = _messages(now)
        dovecot.append(account, "INBOX", messages, create=False)
        valid = sum(1 for s in SAMPLES if s[2] and not s[3])
        print(f"dovecot on 127.0.0.1:{dovecot.imap_port}: seeded {len(messages)} messages\n"
              f"  ({valid} with valid VERP tokens, 1 forged, 2 without, 1 not mail)")  # fmt: skip
        config = _config(dovecot, account)
        codes = [_run(config, "check-config"), _run(config, "dry-run")]
        codes.append(_run(config, "poll", "--once"))
        folders = {f: len(dovecot.uids(account, f)) for f in sorted(dovecot.folders(account))}
        print("\nmailbox after the cycle:", ", ".join(f"{f}={n}" for f, n in folders.items()))
        codes.append(_run(config, "poll", "--once"))  # a second cycle finds nothing new
        codes.append(_run(config, "report", "--since", "1d"))  # what the operator reads
        codes.append(_run(config, "review", "--since", "1d"))  # what it could not use
        print(f"\nstate kept in {_shown(state())}/ (the database: reconciler.db)")
        _next_steps(config, kept=args.keep)
        if args.keep:
            _keep(dovecot, now)
            kept = True
    finally:
        if not kept:
            dovecot.stop()
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
