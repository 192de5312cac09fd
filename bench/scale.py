"""Scale-out: one worker on two mailboxes against two workers on two mailboxes, same run.

    python bench/scale.py [--n 5000] [--batch 500] [--lease 3]

Starts a private dovecot (sdbox, loopback; the test harness in tests/dovecot.py) and a
dedicated PostgreSQL database on the machine's cluster (dropped at the end).  Each scenario
seeds two fresh mailboxes with N bounces each (real Sisimai samples made unique by a signed
VERP token, one in five without a token) by MULTIAPPEND, migrates its own schema, then starts
`reconciler run` process(es) and measures the wall time from the start of the processes until
both INBOXes are empty (process start included, the same in both scenarios):

(1) one worker draining both mailboxes (its two mailbox jobs run as threads of one process);
(2) two workers started together: leases spread the mailboxes, one each.

Prints both throughputs, their ratio (target >= 1.6x) and the CPU used per process group
(workers, dovecot, PostgreSQL) from /proc over each drain, against the cores of the machine:
what limited the run.  It prints figures; it is not a timed test (STYLE 2.20).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
from imapclient import IMAPClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.analysis import analyse  # noqa: E402 (after the path set-up)
from reconciler.classify import Classifier  # noqa: E402
from reconciler.classify.rules import load_rules  # noqa: E402
from reconciler.config import VerpKey, VerpSettings  # noqa: E402
from reconciler.store import open_database  # noqa: E402
from reconciler.verp import make_address  # noqa: E402
from tests.dovecot import Account, Dovecot, instance_name  # noqa: E402

VERP_SECRET = "bench-scale-verp-key-0123456789"
VERP = VerpSettings(domain="bounces.example.org", keys=(VerpKey("a", VERP_SECRET.encode()),))
CORPUS = ROOT / "tests/corpus/sisimai/emails"
PG = ("127.0.0.1", 5432)
TICK = os.sysconf("SC_CLK_TCK")


def _templates() -> tuple[bytes, ...]:
    """Corpus bounces the reconciler reads as bounces with recipients (CRLF, at most 16 KB)."""
    classifier = Classifier(load_rules().rules)
    found = []
    for path in sorted(CORPUS.glob("*.eml")):
        raw = path.read_bytes().replace(b"\r", b"").replace(b"\n", b"\r\n")
        if len(raw) <= 16384 and analyse(raw, classifier, VERP, int(time.time())).verdicts:
            found.append(raw)
    return tuple(found)


def _backlog(templates: tuple[bytes, ...], n: int, first_user: int) -> Iterator[bytes]:
    issued = int(time.time()) - 3600
    for i in range(n):
        raw = templates[i % len(templates)]
        if i % 5 == 4:
            yield b"X-Bench-Seq: %d-%d\r\n" % (first_user, i) + raw
            continue
        address = make_address(  # bound to no recipient: the templates name various ones
            VERP, user_id=first_user + i, address=None, realm="bench", now=issued
        )
        yield b"Delivered-To: " + address.encode() + b"\r\n" + raw


# -- CPU from /proc --------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # exited
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def _processes() -> Iterator[tuple[int, str, str]]:
    """(pid, comm, command line) of every process."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
                cmdline = (
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
                )
            except OSError:
                continue  # exited while we looked
            yield int(entry.name), comm, cmdline


def _groups(server: Dovecot, workers: list[int]) -> dict[str, list[int]]:
    """The workers; this dovecot (master, by its config path, and its session processes, by
    their titles); every PostgreSQL process of the machine's cluster."""
    title, config = f"dovecot-{instance_name(server.root)}/", str(server.config_file)
    groups: dict[str, list[int]] = {"workers": workers, "dovecot": [], "postgres": []}
    for pid, comm, cmdline in _processes():
        if cmdline.startswith(title) or (comm == "dovecot" and config in cmdline):
            groups["dovecot"].append(pid)
        elif comm == "postgres":
            groups["postgres"].append(pid)
    return groups


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICK


def _sample(groups: dict[str, list[int]]) -> dict[str, dict[int, float]]:
    sample = {name: {pid: _cpu_seconds(pid) for pid in pids} for name, pids in groups.items()}
    sample["machine"] = {0: _busy_seconds()}
    return sample


# -- one scenario ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    workers: int
    messages: int
    seconds: float
    cpu: dict[str, float]  # group -> CPU seconds used during the drain
    each: tuple[float, ...]  # CPU seconds of each worker
    startup: float  # seconds until every worker had started (included in `seconds`)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def net_rate(self) -> float:
        return self.messages / (self.seconds - self.startup)


def _schema(database: str, name: str) -> str:
    with psycopg2.connect(database) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{name}"')
    conn.close()
    url = f"{database}?options=-csearch_path%3D{name}"
    with open_database(url) as store:
        store.migrate(datetime.now(UTC))
    return url


def _config(
    work: Path, server: Dovecot, boxes: dict[str, Account], url: str, args: argparse.Namespace
) -> Path:
    parts = []
    for name, account in boxes.items():
        secret = work / f"{name}.pw"
        secret.write_text(account.password)
        secret.chmod(0o600)
        parts.append(
            f'[[mailbox]]\nname = "{name}"\nhost = "{server.host}"\nport = {server.imap_port}\n'
            f'security = "none"\nusername = "{account.name}"\npassword_file = "{secret}"\n'
            f"batch_size = {args.batch}\ntimeout_seconds = 120\n"
        )
    parts.append(
        f'[database]\nurl = "{url}"\n\n[daemon]\ninterval_seconds = 3600\n'
        f'lease_seconds = {args.lease}\n\n[verp]\ndomain = "{VERP.domain}"\n'
        '[[verp.keys]]\nid = "a"\nsecret_env = "BENCH_VERP_KEY"\n'
    )
    config = work / f"{'-'.join(boxes)}.toml"
    config.write_text("\n".join(parts))
    config.chmod(0o600)
    return config


def _inbox(imap: IMAPClient) -> int:
    return int(imap.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"])


def _drain(server: Dovecot, boxes: dict[str, Account], config: Path, workers: int) -> Result:
    env = {**os.environ, "BENCH_VERP_KEY": VERP_SECRET, "PYTHONPATH": str(ROOT)}
    watchers = []
    for account in boxes.values():
        imap = IMAPClient(server.host, server.imap_port, ssl=False, timeout=60)
        imap.login(account.name, account.password)
        watchers.append(imap)
    total = sum(_inbox(imap) for imap in watchers)
    command = [sys.executable, "-m", "reconciler", "--config", str(config), "run"]
    paths = [config.with_suffix(f".{i}.log") for i in range(workers)]
    logs = [path.open("w") for path in paths]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
        for f in logs
    ]
    groups = _groups(server, [p.pid for p in procs])
    before = _sample(groups)
    ready = 0.0  # when every worker has logged its start (interpreter, imports, rules, schema)
    try:
        while any(_inbox(imap) for imap in watchers):
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a worker exited early; see {config.parent}")
            if not ready and all("daemon start" in f.read_text() for f in paths):
                ready = time.perf_counter() - start
            time.sleep(0.05)  # a pause between two checks of the condition
        seconds = time.perf_counter() - start
        groups = _groups(server, [p.pid for p in procs])  # with the imap sessions now open
        after = _sample(groups)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
        for imap in watchers:
            imap.logout()
    cpu = {g: sum(t - before[g].get(pid, 0.0) for pid, t in after[g].items()) for g in after}
    cpu["others"] = cpu.pop("machine") - sum(cpu.values())  # other processes of the machine
    each = [after["workers"][p.pid] - before["workers"].get(p.pid, 0.0) for p in procs]
    return Result(workers, total, seconds, cpu, tuple(each), ready)


def _report(result: Result) -> None:
    cores = os.cpu_count() or 1
    used = ", ".join(
        f"{group} {seconds / result.seconds:.0%}" for group, seconds in result.cpu.items()
    )
    total = sum(result.cpu.values()) / result.seconds
    each = " + ".join(f"{seconds / result.seconds:.0%}" for seconds in result.each)
    print(
        f"({result.workers}) {result.workers} worker(s): {result.messages} msgs in "
        f"{result.seconds:6.2f} s = {result.rate:7,.0f} msg/s ({result.net_rate:,.0f} msg/s "
        f"without the {result.startup:.2f} s process start)\n"
        f"    CPU over the drain: {used} (machine busy {total:.0%} of {cores * 100}%); "
        f"per worker {each}; {result.messages / sum(result.each):,.0f} msg per worker CPU-second"
    )


def _database() -> tuple[str, psycopg2.extensions.connection, str]:
    name = f"reconciler_bench_{secrets.token_hex(4)}"
    admin = psycopg2.connect(host=PG[0], port=PG[1], user="postgres", dbname="test")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@{PG[0]}:{PG[1]}/{name}", admin, name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5_000, help="messages per mailbox")
    parser.add_argument("--batch", type=int, default=500, help="messages per batch")
    parser.add_argument("--lease", type=int, default=3, help="[daemon] lease_seconds")
    parser.add_argument("--keep", action="store_true", help="keep the worker logs and configs")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="reconciler-scale-"))
    work.chmod(0o755)  # dovecot's mail processes (nobody, when run as root) must traverse it
    server = Dovecot(Path(tempfile.mkdtemp(prefix="dovecot-", dir=work)), mail_format="sdbox")
    database, admin, name = _database()
    try:
        server.start()
        templates = _templates()
        print(
            f"{args.n} bounces per mailbox ({len(templates)} samples), two mailboxes per "
            f"scenario; dovecot sdbox and PostgreSQL on loopback; {os.cpu_count()} cores"
        )
        results = []
        for workers, first in ((1, 0), (2, 10 * args.n)):
            boxes = {f"s{workers}-{side}": server.add_user() for side in ("a", "b")}
            for index, account in enumerate(boxes.values()):
                server.append(account, "INBOX", _backlog(templates, args.n, first + index * args.n))
            url = _schema(database, f"scale{workers}")
            results.append(_drain(server, boxes, _config(work, server, boxes, url, args), workers))
            _report(results[-1])
        ratio = results[1].rate / results[0].rate
        net = results[1].net_rate / results[0].net_rate
        print(f"ratio (2)/(1): {ratio:.2f}x ({net:.2f}x without the process start); target >= 1.6x")
        return 0
    finally:
        server.cleanup()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        if args.keep:
            print(f"logs and configs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
