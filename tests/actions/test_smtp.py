"""SMTP submission tells whether a mail left: accepted by the loopback sink (with AUTH),
refused before DATA or after it, unreachable, or broken off during DATA (unknown: a caller
that must never send twice takes it as sent)."""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from dovecot import make_certificate
from smtpsink import SMTP_PASSWORD, Sink, received, smtp_sink

from reconciler.actions.probe import compose_probe, send_probe
from reconciler.actions.smtp import Handover, submit
from reconciler.records import Probe, ProbeState, Trigger
from reconciler.settings import ProbeSettings, SmtpSettings

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def _message() -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "hello"
    message.set_content("text\n")
    return message


def _settings(port: int, **changes: object) -> SmtpSettings:
    values: dict[str, object] = {"smtp_host": "127.0.0.1", "smtp_port": port,
                                 "starttls": False, "timeout_seconds": 5.0}  # fmt: skip
    values.update(changes)
    return SmtpSettings(**values)  # type: ignore[arg-type]


def test_accepted_by_the_sink_with_the_envelope_and_a_login(smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    settings = _settings(port, username="probe", password=SMTP_PASSWORD)
    outcome = submit(settings, _message(), "bounces+t@b.example", "kim@example.org")
    assert outcome.handover is Handover.ACCEPTED
    assert sink.logins == [("probe", SMTP_PASSWORD)]
    assert [(s, r) for s, r, _ in sink.envelopes] == [("bounces+t@b.example", ["kim@example.org"])]


def test_refused_login_and_unreachable_server_mean_not_sent(smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    wrong = submit(_settings(port, username="p", password="wrong"), _message(), "a@b.c", "d@e.f")
    assert wrong.handover is Handover.REFUSED and "535" in wrong.detail
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    down = submit(_settings(closed), _message(), "a@b.c", "d@e.f")
    assert down.handover is Handover.REFUSED and "cannot connect" in down.detail
    no_tls = submit(_settings(port, starttls=True), _message(), "a@b.c", "d@e.f")
    assert no_tls.handover is Handover.REFUSED  # the sink offers no STARTTLS: nothing sent
    assert sink.envelopes == []


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    after_data: bytes  # what the server says after the message ("" : it hangs up)


class _Session(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.wfile.write(b"220 test\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                self.wfile.write(b"354 go\r\n")
                while self.rfile.readline() not in (b".\r\n", b""):
                    pass
                if not self.server.after_data:
                    return  # the connection breaks after the message was handed over
                self.wfile.write(self.server.after_data)
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@contextmanager
def _server(after_data: bytes) -> Iterator[int]:
    server = _Server(("127.0.0.1", 0), _Session)
    server.after_data = after_data
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_refusal_after_data_is_not_sent_and_a_hang_up_is_unknown() -> None:
    with _server(b"554 5.7.1 rejected\r\n") as port:
        refused = submit(_settings(port), _message(), "a@b.c", "d@e.f")
    assert refused.handover is Handover.REFUSED and "554" in refused.detail
    with _server(b"") as port:
        broken = submit(_settings(port), _message(), "a@b.c", "d@e.f")
    assert broken.handover is Handover.UNKNOWN and "DATA" in broken.detail


def test_the_probe_mail_as_sent(smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    settings = ProbeSettings(smtp=_settings(port), sender="noreply@example.org",
                             subject="Still there?", text="Nothing to do.\n")  # fmt: skip
    probe = Probe(
        id=3, decision_id=9, realm="wiki", user_id=42, address="kim@example.org",
        trigger=Trigger.HARD, state=ProbeState.SENDING, message_id="p3@bounces.example.org",
        send_ref="abcd", return_path="bounces+tok@bounces.example.org", created_at=NOW,
        due_at=NOW + timedelta(days=3),
    )  # fmt: skip
    assert compose_probe(settings, probe)["Message-ID"] == "<p3@bounces.example.org>"
    assert send_probe(settings, probe).handover is Handover.ACCEPTED
    mail = received(sink)
    assert sink.envelopes[0][:2] == ("bounces+tok@bounces.example.org", ["kim@example.org"])
    assert (mail["From"], mail["To"], mail["Subject"]) == (
        "noreply@example.org", "kim@example.org", "Still there?")  # fmt: skip
    assert mail.get_content().strip() == "Nothing to do."


def test_implicit_tls_with_the_configured_certificates(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with smtp_sink(tls=context) as (sink, port):
        trusted = _settings(port, tls=True, ca_file=cert, username="u", password=SMTP_PASSWORD)
        assert submit(trusted, _message(), "a@b.c", "d@e.f").handover is Handover.ACCEPTED
        assert sink.logins == [("u", SMTP_PASSWORD)]  # the password went over TLS only
        untrusted = submit(_settings(port, tls=True), _message(), "a@b.c", "d@e.f")
        assert untrusted.handover is Handover.REFUSED and "certificate" in untrusted.detail
    assert len(sink.envelopes) == 1
