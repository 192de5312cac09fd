"""A tiny threaded SMTP server on loopback for the tests: EHLO, AUTH PLAIN, MAIL, RCPT, DATA,
RSET, NOOP, QUIT; it keeps every login and envelope it was given (the `smtp` fixture)."""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

__all__ = ["SMTP_PASSWORD", "Sink", "received", "smtp_sink"]

SMTP_PASSWORD = "smtp-pass-Zq8#wK2v"


@dataclass
class Sink:
    password: str = SMTP_PASSWORD
    logins: list[tuple[str, str]] = field(default_factory=list)
    envelopes: list[tuple[str, list[str], bytes]] = field(default_factory=list)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    sink: Sink
    tls: ssl.SSLContext | None = None  # implicit TLS (SMTPS) when set

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = super().get_request()
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                sock.close()  # a client that refused our certificate: no session
                raise
        return sock, address


class _Session(socketserver.StreamRequestHandler):
    server: _Server

    def _reply(self, *lines: str) -> None:
        for index, text in enumerate(lines):
            sep = " " if index == len(lines) - 1 else "-"
            self.wfile.write(f"{text[:3]}{sep}{text[4:]}\r\n".encode())

    def _data(self) -> bytes:
        lines: list[bytes] = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)

    def _auth(self, argument: str) -> None:
        _mech, _, initial = argument.partition(" ")
        _authz, user, password = base64.b64decode(initial).decode().split("\0")
        self.server.sink.logins.append((user, password))
        ok = password == self.server.sink.password
        self._reply("235 2.7.0 ok" if ok else "535 5.7.8 authentication credentials invalid")

    def handle(self) -> None:
        sender, recipients = "", []
        self._reply("220 sink ESMTP")
        while line := self.rfile.readline():
            verb, _, argument = line.decode().rstrip("\r\n").partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self._reply("250 sink", "250 AUTH PLAIN", "250 8BITMIME")
            elif verb == "AUTH":
                self._auth(argument)
            elif verb == "MAIL":
                sender, recipients = argument.partition(":")[2].split()[0].strip("<>"), []
                self._reply("250 2.1.0 ok")
            elif verb == "RCPT":
                recipients.append(argument.partition(":")[2].strip().strip("<>"))
                self._reply("250 2.1.5 ok")
            elif verb == "DATA":
                self._reply("354 go ahead")
                self.server.sink.envelopes.append((sender, recipients, self._data()))
                self._reply("250 2.0.0 queued")
            elif verb == "QUIT":
                self._reply("221 2.0.0 bye")
                return
            else:
                self._reply("250 ok")


@contextlib.contextmanager
def smtp_sink(tls: ssl.SSLContext | None = None) -> Iterator[tuple[Sink, int]]:
    """A running sink on a free loopback port: (what it received, its port); with `tls`,
    the sessions speak implicit TLS (SMTPS)."""
    server = _Server(("127.0.0.1", 0), _Session)
    server.sink = Sink()
    server.tls = tls
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.sink, int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def received(sink: Sink, index: int = 0) -> EmailMessage:
    message = email.message_from_bytes(sink.envelopes[index][2], policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message
