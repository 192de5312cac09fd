#!/usr/bin/env python3
"""Make real bounces with real MTAs (Postfix, Exim, Sendmail) for tests/samples/mta/real/.

    sudo python3 scripts/mta_samples.py [--out tests/samples/mta/real]
                                        [--mta postfix,exim,sendmail] [--tags a,b]

How (run as root, on Debian 12; about five minutes per run, the MTAs side by side):
- The MTAs are not installed (Debian's MTA packages conflict with each other and would start
  system daemons): `apt-get download` fetches postfix; exim4-daemon-light, exim4-base and
  libidn12; sendmail-bin, sendmail-base, sendmail-cf, libmilter1.0.1 and m4 into a private
  cache (`--cache`, default /tmp/reconciler-mta), `dpkg -x` unpacks each MTA into its own
  root there, and each runs from that root with its own configuration, queue and log under
  a work directory (LD_LIBRARY_PATH points at the root's libraries). Postfix: `postfix -c`
  (its own config directory; submission by SMTP to its smtpd on 127.0.13.2:2526, because
  its sendmail drops LD_LIBRARY_PATH for postdrop). Exim: `-C` (its own configuration) with
  a queue-runner daemon and a root queue run every 10 s started by this script; it runs
  deliveries as its built-in user Debian-exim, which only exists in the namespace (a
  bind-mounted copy of /etc/passwd and /etc/group), and re-executes itself from
  /usr/sbin/exim4 (a bind-mounted copy of /usr/sbin that has it; its libraries are in a
  bind-mounted copy of the loader's cache, as a set-uid program ignores LD_LIBRARY_PATH).
  Sendmail: a
  sendmail.cf built with m4 from sendmail-cf (its own queue, aliases for the pipes, ruleset 0
  routes per address), `-C` and a queue-runner daemon.
- The script re-executes itself in a private mount and UTS namespace (`unshare -m -u`; its
  host name there is mx.example.org, as Sendmail wants a qualified one) where
  /etc/resolv.conf is bind-mounted to a file naming a tiny DNS server this script runs on
  127.0.13.53 (null MX for nullmx.test per RFC 7505, an MX to a missing host for
  mxnohost.test, SERVFAIL for servfail.test, a name with no record of any type for
  nodata.test, NXDOMAIN for everything else): the machine's own resolver is not touched.
- Every scenario of scripts/mta_grid.py gets its own scripted SMTP server on
  127.0.13.N:2525 (N from 10; one address per scenario, so an MTA's per-host retry state
  for one scenario never delays another), which answers at the scenario's stage (greeting,
  EHLO/HELO, MAIL FROM, RCPT TO, DATA, end of data) with the scenario's reply, multi-line
  where the provider's is. The MTAs route each recipient address to its scenario's server
  (Postfix: a regexp transport map on the full address; Exim: a manualroute router with an
  lsearch on the address; Sendmail: LOCAL_RULE_0 lines); pipe.test goes to a delivery
  program that exits with the code named in the local part, mx.example.org is the MTA's own
  local domain (unknown local user), and the DNS scenarios go through DNS.
- Queue lifetime two minutes, delay warning after one minute: a temporary refusal gives a
  delay warning, then a final failure; a server that never greets is given up after 20 s
  (Postfix smtp_helo_timeout, Exim command_timeout, Sendmail Timeout.initial). Each bounce
  (to bounces+<mta>-<tag>@example.org) is routed to a capture server on 127.0.13.1:2525 and
  saved as it arrived, named
  <mta>-<tag>-<failed|delayed>.eml; `truth.jsonl` gets one row per recipient of each saved
  file, from the scenario's truth (written before any classifier ran: see mta_grid.py),
  appended for the files it has no rows for yet (its existing rows stay byte-identical), so
  a run with `--tags` of new scenarios adds to the samples.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import smtplib
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mta_grid import SCENARIOS, Recipient, Scenario

PORT = 2525
CAPTURE = "127.0.13.1"
DNS = "127.0.13.53"
SUBMIT = "127.0.13.2"  # Postfix's smtpd, where the messages are submitted
NO_SERVER = "127.0.13.254"  # nothing listens there: connection refused
PACKAGES = {
    "postfix": ["postfix"],
    "exim": ["exim4-daemon-light", "exim4-base", "libidn12"],
    "sendmail": ["sendmail-bin", "sendmail-base", "sendmail-cf", "libmilter1.0.1", "m4"],
}
LIFETIME_S = 120
WARN_S = 60
# queue runs the script starts itself every 10 s, as root (command, environment)
QUEUE_RUNS: list[tuple[list[str], dict[str, str]]] = []


def address_of(index: int) -> str:
    return f"127.0.13.{10 + index}"


# ---------------------------------------------------------------- the scripted SMTP servers
class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    scenario: Scenario | None  # None: the capture server
    out: Path


def _reply(wfile: object, text: str) -> None:
    lines = text.split("\n")
    out = []
    for index, line in enumerate(lines):
        sep = " " if index == len(lines) - 1 else "-"
        out.append(f"{line[:3]}{sep}{line[4:]}\r\n")
    wfile.write("".join(out).encode())  # type: ignore[attr-defined]


class _Session(socketserver.StreamRequestHandler):
    server: _Server

    def _say(self, text: str) -> bool:
        """Reply; False when the reply closes the session (421)."""
        _reply(self.wfile, text)
        return not text.startswith("421")

    def _data(self) -> bytes:
        lines: list[bytes] = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)

    def handle(self) -> None:
        scenario = self.server.scenario
        stage = scenario.stage if scenario else ""
        reply = scenario.reply if scenario else ""
        if stage == "connect":
            if not reply:  # no greeting at all: wait until the client gives up
                self.rfile.read()
                return
            _reply(self.wfile, reply)
            return
        self._say("220 mx.remote.test ESMTP")
        try:
            self._dialogue(scenario, stage, reply)
        except OSError:
            return  # the client went away (after a 421, a timeout)

    # one branch per SMTP verb, as in any server's dispatcher
    def _dialogue(self, scenario: Scenario | None, stage: str, reply: str) -> None:  # noqa: PLR0911, PLR0912
        mail_ok, accepted = False, []
        replies = (
            {f"{r.local}@{r.domain}": r.rcpt_reply for r in scenario.recipients} if scenario else {}
        )
        while line := self.rfile.readline():
            verb, _, argument = line.decode("latin-1").rstrip("\r\n").partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                if stage == "helo":
                    if not self._say(reply):
                        return
                elif verb == "EHLO":
                    _reply(
                        self.wfile,
                        "250-mx.remote.test\n250-PIPELINING\n250-SIZE 52428800\n"
                        "250-ENHANCEDSTATUSCODES\n250 8BITMIME",
                    )
                else:
                    _reply(self.wfile, "250 mx.remote.test")
            elif verb == "MAIL":
                mail_ok, accepted = stage != "mail", []
                if not self._say(reply if stage == "mail" else "250 2.1.0 Ok"):
                    return
            elif verb == "RCPT":
                if not mail_ok:
                    _reply(self.wfile, "503 5.5.1 Error: need MAIL command")
                    continue
                rcpt = argument.partition(":")[2].split(">")[0].strip("<> ").lower()
                answer = replies.get(rcpt) if scenario else None
                if answer is None:
                    accepted.append(rcpt)
                if not self._say(answer or "250 2.1.5 Ok"):
                    return
            elif verb == "DATA":
                if stage == "data" and accepted:
                    if not self._say(reply):
                        return
                    continue
                if not accepted:
                    _reply(self.wfile, "554 5.5.1 Error: no valid recipients")
                    continue
                _reply(self.wfile, "354 End data with <CR><LF>.<CR><LF>")
                body = self._data()
                if scenario is None:
                    self._capture(accepted, body)
                if stage == "end-of-data":
                    if not reply:
                        return  # dropped: no reply at all
                    if not self._say(reply):
                        return
                else:
                    _reply(self.wfile, "250 2.0.0 Ok: queued")
                accepted = []
            elif verb == "RSET":
                mail_ok, accepted = False, []
                _reply(self.wfile, "250 2.0.0 Ok")
            elif verb == "NOOP":
                _reply(self.wfile, "250 2.0.0 Ok")
            elif verb == "QUIT":
                _reply(self.wfile, "221 2.0.0 Bye")
                return
            else:
                _reply(self.wfile, "502 5.5.2 Error: command not recognized")

    def _capture(self, recipients: list[str], body: bytes) -> None:
        for rcpt in recipients:
            match = re.match(r"bounces\+([a-z]+)-(.+)@example\.org$", rcpt)
            if not match:
                continue
            kind = "delayed" if re.search(rb"(?im)^Action:\s*delayed", body) else "failed"
            if (
                re.search(rb"(?im)^Action:\s*(relayed|delivered|expanded)", body)
                and kind != "delayed"
            ):
                kind = "success"
            name = f"{match[1]}-{match[2]}-{kind}.eml"
            path = self.server.out / name
            if not path.exists():
                path.write_bytes(body)


def _serve(host: str, scenario: Scenario | None, out: Path) -> _Server:
    server = _Server((host, PORT), _Session)
    server.scenario = scenario
    server.out = out
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# ---------------------------------------------------------------- the DNS server
def _dns_answer(query: bytes) -> bytes:
    tid, flags = struct.unpack(">HH", query[:4])
    labels, pos = [], 12
    while query[pos]:
        labels.append(query[pos + 1 : pos + 1 + query[pos]].decode().lower())
        pos += query[pos] + 1
    qtype = struct.unpack(">H", query[pos + 1 : pos + 3])[0]
    question = query[12 : pos + 5]
    name = ".".join(labels)
    rcode, answers = 3, b""
    if name == "servfail.test":
        rcode = 2
    elif name == "nodata.test":
        rcode = 0  # the name exists, with no record of any type (no MX, no address)
    elif name in ("nullmx.test", "mxnohost.test"):
        rcode = 0
        if qtype == 15:  # MX
            target = b"\x00" if name == "nullmx.test" else b"\x02mx\x07nowhere\x04test\x00"
            prio = 0 if name == "nullmx.test" else 10
            rdata = struct.pack(">H", prio) + target
            answers = struct.pack(">HHHIH", 0xC00C, 15, 1, 300, len(rdata)) + rdata
    header = struct.pack(
        ">HHHHHH", tid, 0x8000 | (flags & 0x0100) | 0x0480 | rcode, 1, 1 if answers else 0, 0, 0
    )
    return header + question + answers


def _serve_dns() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((DNS, 53))

    def loop() -> None:
        while True:
            data, peer = sock.recvfrom(4096)
            try:
                sock.sendto(_dns_answer(data), peer)
            except (IndexError, struct.error, UnicodeDecodeError):
                continue

    threading.Thread(target=loop, daemon=True).start()


# ---------------------------------------------------------------- routes and messages
def routes() -> dict[str, str]:
    """Recipient address -> the address of its scenario's server (smtp and session routes)."""
    table = {}
    for index, scenario in enumerate(SCENARIOS):
        if scenario.route in ("smtp", "session"):
            host = NO_SERVER if scenario.tag == "refused" else address_of(index)
            for rcpt in scenario.recipients:
                table[f"{rcpt.local}@{rcpt.domain}"] = host
    return table


def message(mta: str, scenario: Scenario) -> bytes:
    to = ", ".join(f"{r.local}@{r.domain}" for r in scenario.recipients)
    return (
        f"From: Notifications <bounces+{mta}-{scenario.tag}@example.org>\r\n"
        f"To: {to}\r\nSubject: Your weekly digest ({scenario.tag})\r\n"
        f"Message-ID: <{scenario.tag}.{mta}@example.org>\r\n"
        "Date: Fri, 04 Dec 2026 17:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hello,\r\n\r\nthis is your weekly digest.\r\n"
    ).encode()


def _fetch(cache: Path, mta: str) -> Path:
    root = cache / f"root-{mta}"
    if root.exists():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *PACKAGES[mta]], cwd=debs, check=True)
    for deb in debs.glob("*.deb"):
        if any(deb.name.startswith(p + "_") for p in PACKAGES[mta]):
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root


# ---------------------------------------------------------------- Postfix
def _postfix(root: Path, work: Path) -> tuple[list[str], dict[str, str]]:
    conf, spool = work / "etc", work / "spool"
    for path in (conf, spool, work / "data"):
        path.mkdir(parents=True, exist_ok=True)
    shutil.chown(work / "data", "nobody")
    for sub in (
        "active",
        "bounce",
        "corrupt",
        "defer",
        "deferred",
        "flush",
        "hold",
        "incoming",
        "private",
        "saved",
        "trace",
        "maildrop",
        "public",
    ):
        (spool / sub).mkdir(exist_ok=True)
        shutil.chown(spool / sub, "nobody", "mail" if sub in ("maildrop", "public") else None)
        os.chmod(spool / sub, 0o730 if sub == "maildrop" else 0o710 if sub == "public" else 0o700)
    (spool / "pid").mkdir(exist_ok=True)
    lines = [f"/^{re.escape(a)}$/ smtp:[{h}]:{PORT}" for a, h in routes().items()]
    (conf / "transport").write_text(
        "\n".join(
            [
                *lines,
                "/@(nxdomain|nullmx|mxnohost|servfail|nodata)\\.test$/ smtp:",
                *(f"/^pipe{c}@pipe\\.test$/ pipe{c}:" for c in range(64, 79)),
                "",
            ]
        )
    )
    lib = root / "usr/lib/postfix"
    main = f"""compatibility_level = 3.6
queue_directory = {spool}
data_directory = {work / "data"}
command_directory = {root / "usr/sbin"}
daemon_directory = {lib / "sbin"}
meta_directory = {root / "etc/postfix"}
shlib_directory = {lib}
mail_owner = nobody
setgid_group = mail
default_privs = daemon
myhostname = mx.example.org
mydomain = example.org
myorigin = example.org
mydestination = mx.example.org
inet_interfaces = loopback-only
mynetworks = 127.0.0.0/8
smtpd_banner = mx.example.org ESMTP
inet_protocols = ipv4
alias_maps =
alias_database =
local_recipient_maps =
relayhost =
default_transport = smtp:[{CAPTURE}]:{PORT}
transport_maps = regexp:{conf / "transport"}
maillog_file = {work / "maillog"}
maillog_file_prefixes = {work}
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE
    POSTLOG_HOSTNAME LD_LIBRARY_PATH
maximal_queue_lifetime = {LIFETIME_S}s
bounce_queue_lifetime = {LIFETIME_S}s
delay_warning_time = {WARN_S}s
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 20s
smtp_connect_timeout = 5s
smtp_helo_timeout = 20s
smtp_data_done_timeout = 10s
smtp_tls_security_level = none
smtp_address_preference = ipv4
"""
    (conf / "main.cf").write_text(main)
    master = (root / "usr/share/postfix/master.cf.dist").read_text()
    master = re.sub(r"(?m)^smtp\s+inet.*\n", f"{SUBMIT}:{PORT + 1} inet n - n - - smtpd\n", master)
    # no chroot (Debian's default master.cf chroots the smtp client: it would not see the
    # namespace's resolv.conf)
    master = re.sub(r"(?m)^(\S+\s+\S+\s+\S+\s+\S+\s+)y(\s)", r"\1n\2", master)
    master += "".join(
        f"pipe{code} unix - n n - - pipe flags= user=daemon argv=/bin/sh {work}/exit.sh {code}\n"
        for code in range(64, 79)
    )
    (conf / "master.cf").write_text(master)
    (work / "exit.sh").write_text('exit "$1"\n')
    env = {"LD_LIBRARY_PATH": str(lib), "MAIL_CONFIG": str(conf)}
    start = [str(root / "usr/sbin/postfix"), "-c", str(conf), "start"]
    submit = ["smtp"]  # by SMTP to its smtpd: Postfix's sendmail drops LD_LIBRARY_PATH
    subprocess.run(start, env={**os.environ, **env}, check=True)
    return submit, env


# ---------------------------------------------------------------- Exim
EXIM_UID = 64999  # Debian's exim4 is built for the user Debian-exim: given in the namespace only


def _exim_account(cache: Path) -> None:
    """Bind-mount copies of /etc/passwd and /etc/group that add Debian-exim (this namespace
    only: the machine's accounts are not touched)."""
    for name, line in (
        ("passwd", f"Debian-exim:x:{EXIM_UID}:{EXIM_UID}::/nonexistent:/bin/false"),
        ("group", f"Debian-exim:x:{EXIM_UID}:"),
    ):
        copy = cache / name
        text = Path("/etc", name).read_text()
        copy.write_text(text if "Debian-exim:" in text else text + line + "\n")
        subprocess.run(["mount", "--bind", str(copy), f"/etc/{name}"], check=True)
    # Exim re-executes itself from its built-in path, /usr/sbin/exim4: a copy of /usr/sbin
    # with it added is bind-mounted there (this namespace only)
    sbin = cache / "sbin"
    shutil.rmtree(sbin, ignore_errors=True)
    shutil.copytree("/usr/sbin", sbin, symlinks=True)
    shutil.copy2(cache / "root-exim/usr/sbin/exim4", sbin / "exim4")
    subprocess.run(["mount", "--bind", str(sbin), "/usr/sbin"], check=True)
    # a set-uid Exim run by Debian-exim ignores LD_LIBRARY_PATH (glibc secure mode), so its
    # library directory goes into a copy of the loader's cache, bind-mounted over the real
    # one (this namespace only; -X: no links are made in the system's library directories)
    cache_file = cache / "ld.so.cache"
    lib = cache / "root-exim/usr/lib/x86_64-linux-gnu"
    subprocess.run(["ldconfig", "-X", "-C", str(cache_file), str(lib)], check=True)
    subprocess.run(["mount", "--bind", str(cache_file), "/etc/ld.so.cache"], check=True)


def _exim(root: Path, work: Path) -> tuple[list[str], dict[str, str]]:
    spool, conf = work / "spool", work / "exim.conf"
    (work / "log").mkdir(parents=True, exist_ok=True)
    spool.mkdir(exist_ok=True)
    shutil.chown(spool, EXIM_UID, EXIM_UID)
    shutil.chown(work / "log", EXIM_UID, EXIM_UID)
    (work / "routes").write_text("".join(f"{a}: {h}\n" for a, h in routes().items()))
    codes = range(64, 79)
    pipe_routers = "".join(
        f"pipe{c}:\n  driver = accept\n  domains = pipe.test\n  local_parts = pipe{c}\n"
        f"  transport = pipe{c}_t\n"
        for c in codes
    )
    pipe_transports = "".join(
        f"pipe{c}_t:\n  driver = pipe\n  command = /bin/sh -c 'exit {c}'\n  user = Debian-exim\n"
        for c in codes
    )
    conf.write_text(f"""primary_hostname = mx.example.org
qualify_domain = example.org
domainlist local_domains = mx.example.org
never_users =
keep_environment = LD_LIBRARY_PATH
trusted_users = root
spool_directory = {spool}
log_file_path = {work}/log/%slog
pid_file_path = {work}/exim.pid
delay_warning = {WARN_S}s
disable_ipv6 = true
acl_smtp_rcpt = accept
begin routers
by_dns:
  driver = dnslookup
  domains = nxdomain.test : nullmx.test : mxnohost.test : servfail.test : nodata.test
  transport = remote_smtp
  no_more
{pipe_routers}local_user:
  driver = accept
  domains = +local_domains
  check_local_user
  transport = local_file
scripted:
  driver = manualroute
  domains = ! +local_domains
  route_data = ${{lookup{{$local_part@$domain}}lsearch{{{work}/routes}}{{$value}}{{{CAPTURE}}}}}
  transport = remote_smtp
  self = send
begin transports
remote_smtp:
  driver = smtp
  port = {PORT}
  connect_timeout = 5s
  command_timeout = 20s
  hosts_avoid_tls = *
  allow_localhost
{pipe_transports}local_file:
  driver = appendfile
  file = {work}/local-$local_part
  user = nobody
begin retry
* * F,{LIFETIME_S}s,10s
""")
    exim = str(root / "usr/sbin/exim4")
    env = {"LD_LIBRARY_PATH": str(root / "usr/lib/x86_64-linux-gnu")}
    subprocess.run(
        [exim, "-C", str(conf), "-oP", f"{work}/exim.pid", "-q10s"],
        env={**os.environ, **env},
        check=True,
    )
    # the daemon above runs as Debian-exim, and its queue runs did not deliver (a re-executed
    # Exim with -C is no longer trusted): a root queue run every 10 s does
    QUEUE_RUNS.append(([exim, "-C", str(conf), "-q"], env))
    return [exim, "-C", str(conf), "-odq", "-f"], env


# ---------------------------------------------------------------- Sendmail
def _sendmail_routes() -> str:
    """Ruleset 0 lines sending each scenario's recipient address to its server (a
    mailertable is keyed on the domain only, and several scenarios share one)."""
    lines = []
    for address, host in routes().items():
        local, domain = address.split("@")
        host_tokens = " . ".join(domain.split("."))
        lhs = f"R{local} < @ {host_tokens} $* > $*"
        lines.append(f"{lhs}\t$#esmtp $@ [{host}] $: {local} < @ {domain} >")
    lines.append(f"R$* < @ example . org $* > $*\t$#esmtp $@ [{CAPTURE}] $: $1 < @ example.org >")
    return "\n".join(lines)


def _sendmail(root: Path, work: Path) -> tuple[list[str], dict[str, str]]:
    queue = work / "mqueue"
    queue.mkdir(mode=0o700)
    cf = root / "usr/share/sendmail/cf"
    (work / "local-host-names").write_text("mx.example.org\npipe.test\n")
    (work / "aliases").write_text(
        "".join(f'pipe{c}: "|/bin/sh {work}/exit.sh {c}"\n' for c in range(64, 79))
        + "postmaster: root\nMAILER-DAEMON: postmaster\n"
    )
    (work / "exit.sh").write_text('exit "$1"\n')
    (work / "service.switch").write_text("hosts dns\naliases files\n")
    mc = f"""divert(-1)
define(`confCF_VERSION', `reconciler-mta-samples')
OSTYPE(`linux')
define(`confHOST_STATUS_DIRECTORY', `')
define(`QUEUE_DIR', `{queue}')
define(`confPID_FILE', `{work}/sendmail.pid')
define(`STATUS_FILE', `{work}/statistics')
define(`ALIAS_FILE', `{work}/aliases')
define(`confCW_FILE', `{work}/local-host-names')
define(`confSERVICE_SWITCH_FILE', `{work}/service.switch')
define(`confHOSTS_FILE', `/etc/hosts')
define(`confDOMAIN_NAME', `mx.example.org')
define(`confTO_QUEUEWARN', `{WARN_S}s')
define(`confTO_QUEUERETURN', `{LIFETIME_S}s')
define(`confMIN_QUEUE_AGE', `0')
define(`confTO_CONNECT', `5s')
define(`confTO_INITIAL', `20s')
define(`confDONT_PROBE_INTERFACES', `True')
define(`confBIND_OPTS', `-DNSRCH -DEFNAMES')
define(`confDEF_USER_ID', `daemon:daemon')
define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit,MapInUnsafeDirPath,GroupWritableDirPathSafe')
define(`ESMTP_MAILER_ARGS', `TCP $h {PORT}')
define(`LOCAL_MAILER_PATH', `{root}/usr/libexec/sendmail/mail.local')
FEATURE(`nocanonify')
FEATURE(`use_cw_file')
FEATURE(`accept_unresolvable_domains')
MAILER(`local')
MAILER(`smtp')
LOCAL_RULE_0
{_sendmail_routes()}
"""
    (work / "sendmail.mc").write_text(mc)
    m4 = subprocess.run(
        [
            str(root / "usr/bin/m4"),
            f"-D_CF_DIR_={cf}/",
            f"{cf}/m4/cf.m4",
            str(work / "sendmail.mc"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    conf = work / "sendmail.cf"
    conf.write_text(m4.stdout)
    binary = str(root / "usr/libexec/sendmail/sendmail")
    subprocess.run([binary, "-C", str(conf), "-bi"], check=True)  # the aliases database
    subprocess.run([binary, "-C", str(conf), "-q10s"], check=True)  # the queue runner
    return [binary, "-C", str(conf), "-odq", "-N", "failure,delay", "-f"], {}


# ---------------------------------------------------------------- main
def _submit(
    submit: list[str], env: dict[str, str], sender: str, rcpts: list[str], body: bytes
) -> None:
    if submit == ["smtp"]:
        with smtplib.SMTP(SUBMIT, PORT + 1) as client:
            client.sendmail(sender, rcpts, body, rcpt_options=["NOTIFY=FAILURE,DELAY"])
        return
    done = subprocess.run(
        [*submit, sender, *rcpts], input=body, env={**os.environ, **env}, check=False
    )
    # Sendmail checks local recipients at submission: it exits EX_NOUSER / EX_NOHOST (67, 68)
    # and returns the message to the sender itself
    if done.returncode not in (0, 67, 68):
        raise subprocess.CalledProcessError(done.returncode, submit)


def _truth(out: Path) -> int:
    """Append the rows of the files truth.jsonl does not have yet (its rows stay as they are)."""
    by_tag = {s.tag: s for s in SCENARIOS}
    truth = out / "truth.jsonl"
    old = truth.read_text() if truth.exists() else ""
    done = {json.loads(line)["file"] for line in old.splitlines() if line.strip()}
    rows = []
    for path in sorted(out.glob("*.eml")):
        if path.name in done:
            continue
        mta, rest = path.stem.split("-", 1)
        tag, _, kind = rest.rpartition("-")
        scenario = by_tag[tag]
        for r in scenario.recipients:
            rows.append(_row(path.name, mta, scenario, r, kind))
    rows = [r for r in rows if r is not None]
    truth.write_text(old + "".join(json.dumps(r) + "\n" for r in rows))
    return len(rows)


def _row(name: str, mta: str, scenario: Scenario, r: Recipient, kind: str) -> dict | None:
    if r.severity == "ok":
        return None
    delayed = kind == "delayed"
    return {
        "file": name,
        "mta": mta,
        "scenario": scenario.tag,
        "recipient": f"{r.local}@{r.domain}",
        "kind": "delay" if delayed else "bounce",
        "severity": "none" if delayed else r.severity,
        "reasons": list(r.reasons),
        "stage": r.stage,
        "basis": scenario.basis,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("tests/samples/mta/real"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/reconciler-mta"))
    parser.add_argument("--mta", default="postfix,exim")
    parser.add_argument("--tags", default="", help="only these scenarios (comma-separated)")
    parser.add_argument("--in-namespace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out = args.out.resolve()
    args.cache = args.cache.resolve()
    if not args.in_namespace:
        for mta in args.mta.split(","):
            _fetch(args.cache, mta)
        return subprocess.call(
            [
                "unshare",
                "-m",
                "-u",  # and a host name of our own (Sendmail waits for a qualified one)
                "--",
                sys.executable,
                __file__,
                "--in-namespace",
                "--out",
                str(args.out),
                "--cache",
                str(args.cache),
                "--mta",
                args.mta,
                "--tags",
                args.tags,
            ]
        )
    resolv = args.cache / "resolv.conf"
    resolv.write_text(f"nameserver {DNS}\noptions attempts:1 timeout:2\n")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    socket.sethostname("mx.example.org")
    subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True)
    if "exim" in args.mta:
        _exim_account(args.cache)
    args.out.mkdir(parents=True, exist_ok=True)
    _serve_dns()
    _serve(CAPTURE, None, args.out)
    for index, scenario in enumerate(SCENARIOS):
        if scenario.route in ("smtp", "session") and scenario.tag != "refused":
            _serve(address_of(index), scenario, args.out)
    started: list[tuple[str, Path, dict[str, str]]] = []
    try:
        for mta in args.mta.split(","):
            work = args.cache / f"work-{mta}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            root = args.cache / f"root-{mta}"
            submit, env = {"postfix": _postfix, "exim": _exim, "sendmail": _sendmail}[mta](
                root, work
            )
            started.append((mta, work, env))
            for scenario in SCENARIOS:
                if args.tags and scenario.tag not in args.tags.split(","):
                    continue
                rcpts = [f"{r.local}@{r.domain}" for r in scenario.recipients]
                sender = f"bounces+{mta}-{scenario.tag}@example.org"
                _submit(submit, env, sender, rcpts, message(mta, scenario))
        deadline = time.monotonic() + LIFETIME_S + 120
        runs: list[subprocess.Popen[bytes]] = []
        while time.monotonic() < deadline:
            time.sleep(10)
            runs = [r for r in runs if r.poll() is None]
            runs += [subprocess.Popen(c, env={**os.environ, **e}) for c, e in QUEUE_RUNS]
            print(f"{len(list(args.out.glob('*.eml')))} bounces so far", flush=True)
    finally:
        _stop(started)
    print(f"{_truth(args.out)} truth rows added to {args.out / 'truth.jsonl'}")
    return 0


def _stop(started: list[tuple[str, Path, dict[str, str]]]) -> None:
    for mta, work, _env in started:
        if mta == "postfix":
            pid = (work / "spool/pid/master.pid").read_text().split()[0]
        else:
            pid = (work / f"{mta}.pid").read_text().split()[0]
        os.kill(int(pid), 15)


if __name__ == "__main__":
    sys.exit(main())
