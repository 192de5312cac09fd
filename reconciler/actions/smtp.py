"""SMTP submission that says whether the mail left: ACCEPTED, REFUSED (surely not sent: the
server said no before it took the message, or was never reached) or UNKNOWN (the connection
broke while the message was being handed over: it may have been taken).

A caller that must never send twice treats UNKNOWN as sent; one that must not lose a mail
treats it as refused.  STARTTLS or implicit TLS as configured (`SmtpSettings`), with SMTP AUTH
when a username is set.  Nothing here raises: every failure is an outcome with its detail.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from enum import StrEnum

from reconciler.settings import SmtpSettings

__all__ = ["Handover", "Submission", "submit"]


class Handover(StrEnum):
    ACCEPTED = "accepted"  # the server took the message (250 after DATA)
    REFUSED = "refused"  # not sent: unreachable, refused, or refused the message
    UNKNOWN = "unknown"  # the connection broke during DATA: it may have been taken


@dataclass(frozen=True, slots=True)
class Submission:
    handover: Handover
    detail: str = ""


def _context(settings: SmtpSettings) -> ssl.SSLContext:
    cafile = str(settings.ca_file) if settings.ca_file else None
    return ssl.create_default_context(cafile=cafile)


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.timeout_seconds
    if settings.tls:
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=_context(settings))
    smtp = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if settings.starttls:
            smtp.starttls(context=_context(settings))
    except BaseException:
        smtp.close()
        raise
    return smtp


def _envelope(smtp: smtplib.SMTP, settings: SmtpSettings, sender: str, recipient: str) -> None:
    """Everything before DATA: a failure here means the message was not sent."""
    smtp.ehlo_or_helo_if_needed()
    if settings.username:
        smtp.login(settings.username, settings.password)
    code, reply = smtp.mail(sender)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = smtp.rcpt(recipient)
    if code not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})


def submit(
    settings: SmtpSettings, message: EmailMessage, sender: str, recipient: str
) -> Submission:
    """Hand `message` to the server with envelope `sender` → `recipient`."""
    where = f"SMTP {settings.smtp_host}:{settings.smtp_port}"
    try:
        smtp = _connect(settings)
    except (smtplib.SMTPException, OSError) as err:
        return Submission(Handover.REFUSED, f"{where}: cannot connect: {err}")
    try:
        try:
            _envelope(smtp, settings, sender, recipient)
        except (smtplib.SMTPException, OSError) as err:
            return Submission(Handover.REFUSED, f"{where} refused: {err}")
        try:
            code, reply = smtp.data(message.as_bytes())
        except smtplib.SMTPDataError as err:  # the server answered DATA with a refusal
            return Submission(Handover.REFUSED, f"{where} refused the message: {err}")
        except (smtplib.SMTPException, OSError) as err:
            return Submission(Handover.UNKNOWN, f"{where}: broke off during DATA: {err}")
        if code != 250:  # it answered the message itself: not taken
            said = reply.decode(errors="replace")
            return Submission(Handover.REFUSED, f"{where} refused the message: {code} {said}")
        return Submission(Handover.ACCEPTED, f"accepted by {where}")
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()
