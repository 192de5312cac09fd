"""A private dovecot for the test suite: own config, base_dir, state, log and ports on loopback.

Usage::

    server = Dovecot(Path(tempfile.mkdtemp()), tls=True)
    server.start()                       # polls until the IMAP port answers (no sleeps)
    user = server.add_user()             # a fresh account: Account(name, password)
    server.append(user, "INBOX", [raw_bytes, ...])   # MULTIAPPEND, one round trip per chunk
    ...
    server.stop()                        # also removes a stale master.pid

Everything lives under one directory (see /work/shared/notes/dovecot.md for why each setting is
there).  As root the mail processes run as `nobody`; as an ordinary user everything runs as that
user.  `start()` raises `DovecotError` with the tail of the log when the server does not come up.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

__all__ = ["DOVECOT_BIN", "Account", "Dovecot", "DovecotError", "free_port", "make_certificate"]

DOVECOT_BIN = (
    os.environ.get("RECONCILER_TEST_DOVECOT") or shutil.which("dovecot") or "/usr/sbin/dovecot"
)
HOST = "127.0.0.1"
_START_DEADLINE = 15.0
_STOP_DEADLINE = 15.0
_APPEND_CHUNK = 200
_POOL = 200  # accounts written to the passwd file at a time


class DovecotError(RuntimeError):
    """The private dovecot could not be started, stopped or seeded."""


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    password: str


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1; returns (cert, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def instance_name(root: Path) -> str:
    """The dovecot instance name of a private dovecot under `root`: its processes' titles
    start with "dovecot-" and this.  The directory's name and a digest of its whole path:
    two dovecots whose directories have the same name (the demo's of two checkouts, one
    left running by `scripts/demo --keep` in a checkout since deleted) are told apart."""
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]
    return f"reconciler-test-{root.name}-{digest}"


def _identity() -> dict[str, str]:
    """Users and ids the processes run as: nobody when root, ourselves otherwise."""
    if os.geteuid() == 0:
        return {"uid": "65534", "gid": "65534", "login": "dovenull", "internal": "dovecot"}
    me = os.environ.get("USER") or str(os.geteuid())
    return {"uid": str(os.geteuid()), "gid": str(os.getegid()), "login": me, "internal": me}


_TEMPLATE = """\
instance_name = {instance}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/log/dovecot.log
info_log_path = {root}/log/dovecot.log
protocols = imap
listen = {host}
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth2_mechanisms}
auth_failure_delay = 0
# where inotify is short (many dovecots on one machine), IDLE falls back to a check at this
# interval (default 30 s)
mailbox_idle_check_interval = 1 secs
default_login_user = {login}
default_internal_user = {internal}
{not_root}mail_location = {mail}
first_valid_uid = 0
passdb {{
  driver = passwd-file
  args = {root}/passwd
}}
{oauth2_passdb}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {imap_port}
  }}
  inet_listener imaps {{
    {imaps}
  }}
}}
{ssl}"""

# With `oauth2_url`: tokens are checked by introspection (RFC 7662, POST token=...) at that
# URL, which must answer {"active": true, "username": NAME}; PLAIN and LOGIN keep the passwd file.
_OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/dovecot-oauth2.conf.ext
}}
"""
_OAUTH2_CONF = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
"""
# Dovecot delays every further failed login from one IP (2, 4, 8, 15 s: its anvil "auth
# penalty"); the OAuth2 tests fail logins on purpose, so the variant turns the penalty off.
_NO_PENALTY = """\
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
"""

# As an ordinary user nothing can chroot or switch users: everything runs as ourselves.
_NOT_ROOT = """\
default_internal_group = {gid}
service imap-login {{
  chroot =
}}
service anvil {{
  chroot =
}}
"""


def _config(
    root: Path, ports: dict[str, int], cert: tuple[Path, Path] | None, fmt: str, oauth2: bool
) -> str:
    ids = _identity()
    imaps = f"address = {HOST}\n    port = {ports['imaps']}" if cert else "port = 0"
    ssl = f"ssl = yes\nssl_cert = <{cert[0]}\nssl_key = <{cert[1]}\n" if cert else "ssl = no\n"
    return _TEMPLATE.format(
        instance=instance_name(root), root=root, host=HOST, imap_port=ports["imap"],
        imaps=imaps, ssl=ssl,
        login=ids["login"], internal=ids["internal"], uid=ids["uid"], gid=ids["gid"],
        not_root="" if os.geteuid() == 0 else _NOT_ROOT.format(gid=ids["gid"]),
        mail="sdbox:~/sdbox" if fmt == "sdbox" else "maildir:~/Maildir",
        oauth2_mechanisms=" xoauth2 oauthbearer" if oauth2 else "",
        oauth2_passdb=_OAUTH2_PASSDB.format(root=root) + _NO_PENALTY if oauth2 else "",
    )  # fmt: skip


class Dovecot:
    """One private dovecot instance under `root` (a directory this object owns)."""

    def __init__(
        self,
        root: Path,
        *,
        tls: bool = False,
        mail_format: str = "maildir",
        oauth2_url: str | None = None,
        extra: str = "",
    ) -> None:
        self.root = root
        self.oauth2_url = oauth2_url  # introspection endpoint: XOAUTH2 and OAUTHBEARER work
        self.extra = extra  # more configuration lines, e.g. "imap_capability = IMAP4rev1 ..."
        self.tls = tls
        self.mail_format = mail_format
        self.host = HOST
        self.imap_port = free_port()
        self.imaps_port = free_port() if tls else 0
        self.cert_file: Path | None = None
        self._users = itertools.count(1)
        self._pool: list[Account] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._prepare()

    @property
    def config_file(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_file(self) -> Path:
        return self.root / "log" / "dovecot.log"

    def _prepare(self) -> None:
        for sub in ("run", "state", "log", "mail", "tls"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # The mail processes run as another uid: they must traverse root and write mail/.
        self.root.chmod(0o755)
        (self.root / "mail").chmod(0o1777)
        self._write_pool()
        cert = make_certificate(self.root / "tls") if self.tls else None
        self.cert_file = cert[0] if cert else None
        ports = {"imap": self.imap_port, "imaps": self.imaps_port}
        oauth2 = self.oauth2_url is not None
        if oauth2:
            conf = _OAUTH2_CONF.format(url=self.oauth2_url)
            (self.root / "dovecot-oauth2.conf.ext").write_text(conf)
        config = _config(self.root, ports, cert, self.mail_format, oauth2)
        self.config_file.write_text(config + (self.extra + "\n" if self.extra else ""))

    # -- lifecycle -------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, *, detach: bool = False) -> None:
        """Start the master in the foreground (our child: no daemon, no zombie) and wait,
        polling with a deadline, until the IMAP port answers.  `detach`: in a session of its
        own, so that it outlives us untouched by the terminal (`scripts/demo --keep`)."""
        if self.is_running():
            return
        (self.root / "run" / "master.pid").unlink(missing_ok=True)  # stale from a kill
        with (self.root / "log" / "startup.log").open("w") as out:
            self._proc = subprocess.Popen(
                [DOVECOT_BIN, "-F", "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=detach,
            )  # fmt: skip
        self._wait_until(self._ready, "IMAP port to answer")

    def _ready(self) -> bool:
        if not self.is_running():
            startup = (self.root / "log" / "startup.log").read_text(errors="replace").strip()
            raise DovecotError(f"dovecot exited at start: {startup}{self._log_tail()}")
        return self._answers(self.imap_port)

    def stop(self) -> None:
        """Stop the master (SIGTERM) and wait until it and its session processes are gone."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=_STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # Mail processes of open sessions linger ~10 s after the master: end them (they are
        # this instance's own processes, found by their title) and wait until they are gone.
        for child in self._instance_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)
        self._wait_until(lambda: not self._instance_pids(), "imap processes to exit")
        (self.root / "run" / "master.pid").unlink(missing_ok=True)

    def _instance_pids(self) -> list[int]:
        """Processes of this instance (their titles start with dovecot-<instance_name>/)."""
        title = f"dovecot-{instance_name(self.root)}/".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if (entry / "cmdline").read_bytes().startswith(title):
                    pids.append(int(entry.name))
            except OSError:
                continue  # exited while we looked
        return pids

    def cleanup(self) -> None:
        """Stop and remove the whole directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _answers(self, port: int) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=1.0) as sock:
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def _wait_until(
        self, ready: Callable[[], bool], what: str, deadline: float = _START_DEADLINE
    ) -> None:
        end = time.monotonic() + deadline
        while not ready():
            if time.monotonic() > end:
                raise DovecotError(f"timed out waiting for {what}{self._log_tail()}")
            # Poll (not a timing sleep): a short pause between checks of a condition.
            time.sleep(0.02)

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()[-15:]
        except FileNotFoundError:
            return ""
        return "\n--- dovecot log ---\n" + "\n".join(lines)

    # -- accounts and seeding --------------------------------------------------------------

    def add_user(self) -> Account:
        """A fresh account from the pool written before start.

        dovecot notices a changed passwd file by its mtime in whole seconds, so users added
        while it runs may stay unknown for up to a second: the pool avoids that.  When it runs
        out, a new pool is written and the file's mtime pushed forward.
        """
        if not self._pool:
            self._write_pool()
            stamp = (self.root / "passwd").stat().st_mtime + 2
            os.utime(self.root / "passwd", (stamp, stamp))
        return self._pool.pop(0)

    def _write_pool(self) -> None:
        fresh = [Account(f"user{next(self._users)}", secrets.token_hex(8)) for _ in range(_POOL)]
        with (self.root / "passwd").open("a") as passwd:
            for account in fresh:
                passwd.write(f"{account.name}:{{PLAIN}}{account.password}::::::\n")
        self._pool.extend(fresh)

    @contextlib.contextmanager
    def client(self, account: Account, folder: str | None = "INBOX") -> Iterator[IMAPClient]:
        """A logged-in imapclient connection (plain IMAP on loopback), folder selected."""
        imap = IMAPClient(self.host, self.imap_port, ssl=False, timeout=10)
        try:
            imap.login(account.name, account.password)
            if folder is not None:
                imap.select_folder(folder)
            yield imap
        finally:
            with contextlib.suppress(Exception):
                imap.logout()

    def append(
        self, account: Account, folder: str, messages: Iterable[bytes], create: bool = True
    ) -> None:
        """Seed `folder` with `messages` in order (MULTIAPPEND, a chunk per round trip)."""
        with self.client(account, folder=None) as imap:
            if create and not imap.folder_exists(folder):
                imap.create_folder(folder)
            batch: list[bytes] = []
            for raw in messages:
                batch.append(raw)
                if len(batch) == _APPEND_CHUNK:
                    imap.multiappend(folder, batch)
                    batch = []
            if batch:
                imap.multiappend(folder, batch)

    def uids(self, account: Account, folder: str = "INBOX") -> list[int]:
        with self.client(account, folder) as imap:
            return sorted(int(uid) for uid in imap.search("ALL"))

    def flags(self, account: Account, folder: str = "INBOX") -> dict[int, Sequence[bytes]]:
        with self.client(account, folder) as imap:
            got = imap.get_flags(imap.search("ALL"))
            return {int(uid): tuple(flags) for uid, flags in got.items()}

    def folders(self, account: Account) -> set[str]:
        with self.client(account, folder=None) as imap:
            return {name for _flags, _delim, name in imap.list_folders()}
