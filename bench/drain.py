"""Drain a backlog of N bounces: the raw IMAP+parse reference against the reconciler.

    python bench/drain.py [--n 20000] [--batch N] [--processes N] [--corpus DIR] [--profile F]
                          [--cold]

Starts a private dovecot (sdbox, loopback; the test suite's harness in tests/dovecot.py) and
seeds two identical mailboxes with N real bounces (Sisimai samples, each made unique by a
signed VERP token for its own user or, for one in five, by no token), by MULTIAPPEND.  Then:

(a) reference: one imapclient connection; UID FETCH BODY.PEEK[] in batches, parse every message
    with `email.message_from_bytes` (compat32), UID MOVE each batch: the floor of any drain;
(b) the reconciler: `python -m reconciler --config X poll --once` in a subprocess, with a fresh
    SQLite database, so that its peak RSS is its own (GNU time's %M; see `_poll`), and the
    DEFAULT settings unless told otherwise: `--batch` sets `batch_size` of both (a) and (b)
    (default 500, the reconciler's default), `--processes` sets `[daemon] analysis_processes`
    (default: left out, i.e. one helper process where there is a second core).

Prints both rates, their ratio (target of issue 16: (b) >= 80% of (a) at 4,000 and 20,000
messages; 100% is the aim) and the peak RSS of (b) (target: <= 100 MB at 20,000, and flat when
N grows: try --n 100000), and the sampled peak of its whole process tree (helpers included;
proportional set sizes, so that pages a forked helper shares with the poll count once).
The rate of (b) is given with and without the process start (interpreter, imports, rules,
schema), measured by polling an empty mailbox.  (b) runs with a bytecode cache of its own,
written by a first, untimed poll, as an installed package has one (pip compiles the modules it
installs); `--cold` leaves it out, and with PYTHONDONTWRITEBYTECODE set every start of the
poll and of its helper then compiles the package from source.  `--profile FILE` writes a
cProfile of (b) (read it with `python -m pstats FILE`).  It prints figures; it is not a timed
test (STYLE 2.20).
"""

from __future__ import annotations

import argparse
import email
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.analysis import analyse  # noqa: E402 (after the path set-up)
from reconciler.classify import Classifier  # noqa: E402
from reconciler.classify.rules import load_rules  # noqa: E402
from reconciler.config import VerpKey, VerpSettings  # noqa: E402
from reconciler.verp import make_address  # noqa: E402
from tests.dovecot import Account, Dovecot  # noqa: E402

VERP_SECRET = "bench-drain-verp-key-0123456789"
VERP = VerpSettings(domain="bounces.example.org", keys=(VerpKey("a", VERP_SECRET.encode()),))
TIME = Path("/usr/bin/time")
MAX_TEMPLATE = 16 * 1024  # leave out the few huge samples: a backlog is mostly small DSNs


@dataclass(frozen=True, slots=True)
class Backlog:
    """N messages made on demand (the same bytes every time): templates plus a unique header."""

    templates: tuple[bytes, ...]
    n: int
    now: int

    def __iter__(self) -> Iterator[bytes]:
        for i in range(self.n):
            raw = self.templates[i % len(self.templates)]
            if i % 5 == 4:  # no token: an unmatched bounce, unique by its own header
                yield b"X-Bench-Seq: %d\r\n" % i + raw
                continue
            address = make_address(  # bound to no recipient: the templates name various ones
                VERP, user_id=i + 1, address=None, realm="bench", now=self.now - 3600
            )
            yield b"Delivered-To: " + address.encode() + b"\r\n" + raw

    def mean_size(self) -> float:
        return sum(len(t) for t in self.templates) / len(self.templates)


def _templates(corpus: Path) -> tuple[bytes, ...]:
    """The corpus bounces the reconciler reads as bounces with recipients, CRLF, not huge."""
    classifier = Classifier(load_rules().rules)
    now = int(time.time())
    found = []
    for path in sorted(corpus.glob("*.eml")):
        raw = path.read_bytes().replace(b"\r", b"").replace(b"\n", b"\r\n")
        if len(raw) <= MAX_TEMPLATE and analyse(raw, classifier, VERP, now).verdicts:
            found.append(raw)
    if not found:
        raise SystemExit(f"no usable samples in {corpus}")
    return tuple(found)


def _seed(server: Dovecot, account: Account, backlog: Backlog) -> float:
    start = time.perf_counter()
    server.append(account, "INBOX", backlog)
    return time.perf_counter() - start


def _reference(server: Dovecot, account: Account, batch: int) -> tuple[float, int, float]:
    """(a): fetch in batches, parse with compat32, UID MOVE each batch.

    Returns (seconds, messages, CPU seconds of this process)."""
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    done = 0
    client = IMAPClient(server.host, server.imap_port, ssl=False, timeout=60)
    try:
        client.login(account.name, account.password)
        client.create_folder("processed")
        client.select_folder("INBOX")
        uids = sorted(client.search("ALL"))
        for first in range(0, len(uids), batch):
            chunk = uids[first : first + batch]
            fetched = client.fetch(chunk, ["BODY.PEEK[]"])
            for uid in chunk:
                email.message_from_bytes(fetched[uid][b"BODY[]"])  # compat32
                done += 1
            client.move(chunk, "processed")
    finally:
        client.logout()
    seconds, used = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    return seconds, done, used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime


def _config(
    work: Path,
    server: Dovecot,
    account: Account,
    name: str,
    batch: int,
    *,
    processes: int | None = None,
) -> Path:
    secret = work / f"{name}.password"
    secret.write_text(account.password)
    secret.chmod(0o600)
    config = work / f"{name}.toml"
    daemon = "" if processes is None else f"[daemon]\nanalysis_processes = {processes}\n\n"
    config.write_text(
        f"""[[mailbox]]
name = "{name}"
host = "{server.host}"
port = {server.imap_port}
security = "none"
username = "{account.name}"
password_file = "{secret}"
batch_size = {batch}
timeout_seconds = 120

[database]
url = "sqlite:///{work / (name + ".db")}"

{daemon}[verp]
domain = "{VERP.domain}"

[[verp.keys]]
id = "a"
secret_env = "BENCH_VERP_KEY"
"""
    )
    return config


@dataclass(frozen=True, slots=True)
class ChildRun:
    seconds: float
    max_rss_mb: float  # of the largest single process (GNU time's %M)
    status: int
    output: str
    tree_rss_mb: float = 0.0  # peak of the whole process tree, helpers included (sampled)
    cpu_seconds: float = 0.0  # user + system of the whole process tree (its rusage)
    poll_cpu: float = 0.0  # of the reconciler process alone (sampled)
    helper_cpu: float = 0.0  # of its analysis helpers (sampled)


_TICK = os.sysconf("SC_CLK_TCK")


def _tree(root: int) -> tuple[int, dict[int, tuple[str, float]]]:
    """Resident KB of `root` and all its descendants now (from /proc; 0 when gone), and the
    CPU seconds (user + system) each of them has used so far, with its role: "poll" (the
    reconciler process itself), "helper" (an analysis helper: spawned, or forked by the poll,
    whose command line it then has) or "other".  The resident size of each process is its
    proportional share (Pss): pages a forked helper still shares with the poll count once."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / _TICK
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0
    commands: dict[int, list[bytes]] = {}
    for pid in tree:
        try:
            commands[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            total += _resident_kb(pid)
        except OSError:
            continue
    used: dict[int, tuple[str, float]] = {}
    for pid, command in commands.items():
        role = _role(command)
        if role == "poll" and commands.get(parents.get(pid, 0)) == command:
            role = "helper"  # forked by the poll
        used[pid] = (role, cpu.get(pid, 0.0))
    return total, used


def _resident_kb(pid: int) -> int:
    """The process's proportional resident size (Pss), else its VmRSS, in KB."""
    for name, key in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        try:
            text = Path(f"/proc/{pid}/{name}").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def _role(command: list[bytes]) -> str:
    if b"poll" in command and b"reconciler" in command:
        return "poll"
    if any(b"spawn_main" in part for part in command):
        return "helper"
    return "other"


class _TreePeak(threading.Thread):
    """Samples a process tree every 50 ms: the peak of its resident size, and the CPU seconds
    of each process at its last sample (a little under its total: it may run up to 50 ms
    more before it ends)."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.peak_kb, self.done = root, 0, threading.Event()
        self.cpu: dict[int, tuple[str, float]] = {}

    def run(self) -> None:
        while not self.done.wait(0.05):
            kilobytes, used = _tree(self.root)
            self.peak_kb = max(self.peak_kb, kilobytes)
            for pid, (role, seconds) in used.items():
                # an ended process (a zombie until reaped) has no command line: its role
                # stays the one it was seen with
                known = self.cpu.get(pid, (role, 0.0))[0]
                self.cpu[pid] = (role if known == "other" else known, seconds)

    def cpu_of(self, role: str) -> float:
        return sum(seconds for kind, seconds in self.cpu.values() if kind == role)


def _environment(work: Path, cold: bool) -> dict[str, str]:
    """The poll's environment: a bytecode cache of its own (in `work`), as an installed package
    has one (pip compiles what it installs), unless `cold`.  Without it, and with
    PYTHONDONTWRITEBYTECODE set, the poll and its helper would compile every module of the
    package from source at every start (about 0.3 s of a core each)."""
    env = {**os.environ, "BENCH_VERP_KEY": VERP_SECRET}
    if not cold:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def _poll(config: Path, work: Path, profile: Path | None = None, *, cold: bool = False) -> ChildRun:
    """(b): one `poll --once` process; its wall time and peak RSS.

    The peak comes from GNU time (`%M`), which forks the poll from its own small process.  The
    rusage of a child forked from this driver would also count this driver's resident pages:
    Linux carries the high-water mark across fork and exec.  Without /usr/bin/time that
    figure (an upper bound) is shown instead.
    """
    env = _environment(work, cold)
    log, peak = work / (config.stem + ".log"), work / (config.stem + ".maxrss")
    command = [sys.executable, "-m", "reconciler", "--config", str(config), "poll", "--once"]
    if profile is not None:  # cProfile of the whole process, to read with pstats
        command[1:1] = ["-m", "cProfile", "-o", str(profile)]
    if TIME.exists():
        command = [str(TIME), "-f", "%M", "-o", str(peak), *command]
    start = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        sampler = _TreePeak(child.pid)
        sampler.start()
        _pid, status, usage = os.wait4(child.pid, 0)
        sampler.done.set()
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen quiet
    kilobytes = int(peak.read_text().split()[-1]) if TIME.exists() else usage.ru_maxrss
    cpu = usage.ru_utime + usage.ru_stime  # waited-for descendants included: the helpers
    return ChildRun(
        seconds,
        kilobytes / 1024,
        child.returncode,
        log.read_text(),
        sampler.peak_kb / 1024,
        cpu,
        sampler.cpu_of("poll"),
        sampler.cpu_of("helper"),
    )


def _count(server: Dovecot, account: Account, folder: str) -> int:
    with server.client(account, folder=None) as imap:
        if not imap.folder_exists(folder):
            return 0
        return int(imap.select_folder(folder, readonly=True)[b"EXISTS"])


def _drained(server: Dovecot, account: Account) -> dict[str, int]:
    return {f: _count(server, account, f) for f in ("INBOX", "processed", "unmatched")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="messages in the backlog")
    parser.add_argument("--batch", type=int, default=500, help="messages per FETCH / batch")
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests/corpus/sisimai/emails")
    parser.add_argument(
        "--processes", type=int, help="[daemon] analysis_processes of (b) (default: left out)"
    )
    parser.add_argument("--profile", type=Path, help="write a cProfile of (b) to this file")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="no bytecode cache for (b): every start compiles the package (as a checkout "
        "run with PYTHONDONTWRITEBYTECODE does)",
    )
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="reconciler-bench-"))
    work.chmod(0o755)  # dovecot's mail processes (nobody, when run as root) must traverse it
    # a unique directory name: the harness names the instance (and its process titles) after it
    server = Dovecot(Path(tempfile.mkdtemp(prefix="dovecot-", dir=work)), mail_format="sdbox")
    try:
        server.start()
        backlog = Backlog(_templates(args.corpus), args.n, int(time.time()))
        raw_account, ours, empty = server.add_user(), server.add_user(), server.add_user()
        print(f"backlog: {args.n} messages from {len(backlog.templates)} samples, mean "
              f"{backlog.mean_size() / 1024:.1f} KB;\n    dovecot sdbox on loopback")  # fmt: skip
        for account in (raw_account, ours):
            seconds = _seed(server, account, backlog)
            print(f"seeded {account.name}: {args.n / seconds:,.0f} msg/s (MULTIAPPEND)")

        seconds, parsed, raw_cpu = _reference(server, raw_account, args.batch)
        raw_rate = parsed / seconds
        print(f"(a) reference  {parsed} msgs in {seconds:6.2f} s = {raw_rate:8,.0f} msg/s")

        # the start-up cost of a `poll --once` process, on an empty mailbox; a first run (not
        # timed) writes the bytecode cache, as installing the package does
        idle_config = _config(work, server, empty, "empty", args.batch)
        if not args.cold:
            _poll(idle_config, work)
        idle = _poll(idle_config, work, cold=args.cold)
        run = _poll(
            _config(work, server, ours, "bench", args.batch, processes=args.processes),
            work,
            args.profile,
            cold=args.cold,
        )
        if run.status != 0 or idle.status != 0:
            dovecot_log = server.log_file.read_text(errors="replace").splitlines()[-20:]
            print(run.output[-3000:], idle.output[-2000:], *dovecot_log, sep="\n", file=sys.stderr)
            return 1
        left = _drained(server, ours)
        ok = left["INBOX"] == 0 and left["processed"] + left["unmatched"] == args.n
        rate = args.n / run.seconds
        net = args.n / max(run.seconds - idle.seconds, 1e-9)
        print("(b) runs " + ("with no bytecode cache (--cold)" if args.cold else
              "with a bytecode cache, as an installed package"))  # fmt: skip
        print(f"(b) reconciler {args.n} msgs in {run.seconds:6.2f} s = {rate:8,.0f} msg/s\n"
              f"    ({net:,.0f} msg/s without the {idle.seconds:.2f} s process start)")  # fmt: skip
        print(f"    moved: {left}  {'OK' if ok else 'NOT DRAINED'}")
        print(f"CPU user+sys (dovecot's not counted): (a) {raw_cpu:.2f} s, (b) "
              f"{run.cpu_seconds:.2f} s\n    (helpers included; {idle.cpu_seconds:.2f} s "
              "polling an empty mailbox)")  # fmt: skip
        print(f"    of which (sampled every 50 ms) the poll process {run.poll_cpu:.2f} s, "
              f"its helpers {run.helper_cpu:.2f} s")  # fmt: skip
        print(f"ratio (b)/(a): {rate / raw_rate:.0%} (without start: {net / raw_rate:.0%}); "
              "target >= 80%")  # fmt: skip
        print(f"peak RSS of (b): {run.max_rss_mb:.1f} MB (empty-mailbox run: "
              f"{idle.max_rss_mb:.1f} MB); target <= 100 MB")  # fmt: skip
        helpers = "default" if args.processes is None else args.processes
        print(f"peak Pss of (b)'s process tree, helpers ({helpers}) included: "
              f"{run.tree_rss_mb:.1f} MB\n    (sampled every 50 ms)")  # fmt: skip
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"(this driver process, incl. reference (a): {own:.1f} MB)")
        return 0 if ok else 1
    finally:
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
