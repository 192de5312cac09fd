"""The probe mail: composed from `[probe]` and the probe's record, sent by SMTP submission.

Its envelope sender is the probe's own VERP address (made when the intent was recorded, with
the probe's Message-ID as send reference and bound to the address), so a bounce of it comes
back to our mailbox with the token that names it.  `Auto-Submitted: auto-generated` keeps
auto-replies away (RFC 3834).  The text is the operator's; nothing of the bounces is in it.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime

from reconciler.actions.smtp import Submission, submit
from reconciler.records import Probe
from reconciler.settings import ProbeSettings

__all__ = ["compose_probe", "send_probe"]


def compose_probe(settings: ProbeSettings, probe: Probe) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = probe.address
    message["Subject"] = settings.subject
    message["Date"] = format_datetime(probe.created_at)
    message["Message-ID"] = f"<{probe.message_id}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(settings.text)
    return message


def send_probe(settings: ProbeSettings, probe: Probe) -> Submission:
    """Hand the probe to the SMTP server; the outcome says whether it surely left, surely did
    not, or may have (see `actions.smtp`)."""
    return submit(settings.smtp, compose_probe(settings, probe), probe.return_path, probe.address)
