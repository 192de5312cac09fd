"""Send one message with a signed VERP return path, using the reconciler's Python API.

The envelope sender (MAIL FROM) is `bounces+TOKEN@bounces.example.org`, made by
`reconciler.verp.make_address` for the user the message goes to; a bounce then comes back to
that address and names the user.  The token binds the recipient's address (a bounce or a
complaint about any other address never counts against the user) and carries a send reference
derived from the Message-ID, so one send is counted once.

    RECONCILER_VERP_KEY=$(cat /etc/reconciler/verp-key-a) \\
    python send_with_verp.py --user 12345 --realm enwiki --to kim@example.net \\
        --from wiki@example.org --domain bounces.example.org --smtp localhost:25

The key comes from the environment (`--key-env`, default RECONCILER_VERP_KEY) or a file
(`--key-file`), never from the command line, and must be the FIRST `[[verp.keys]]` entry of the
reconciler's configuration (same id, same secret): the reconciler verifies what this signs.
Nothing here reads the reconciler's configuration file, so a sending host needs only the key.
Importing this module has no side effects; the tests call its functions without sending.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol

from reconciler.config import VerpKey, VerpSettings
from reconciler.verp import make_address

__all__ = ["build_message", "main", "return_path_for", "send", "verp_settings"]


class _Smtp(Protocol):
    """The part of smtplib.SMTP used here (a test passes a stand-in)."""

    def send_message(
        self, msg: EmailMessage, from_addr: str | None = ..., to_addrs: Sequence[str] | None = ...
    ) -> object: ...


def verp_settings(
    domain: str, key_id: str, secret: bytes, prefix: str = "bounces", separator: str = "+"
) -> VerpSettings:
    """The VERP settings of the sender: the same domain, prefix, separator and signing key as
    the reconciler's `[verp]` table."""
    return VerpSettings(
        domain=domain, keys=(VerpKey(key_id, secret),), prefix=prefix, separator=separator
    )


def build_message(
    sender: str, recipient: str, subject: str, body: str, domain: str
) -> EmailMessage:
    """A plain-text message with its own Message-ID (the token's send reference uses it)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(body)
    return message


def return_path_for(
    settings: VerpSettings, message: EmailMessage, user_id: int, realm: str | None, now: int
) -> str:
    """The signed return path for this message and user, bound to its recipient."""
    return make_address(
        settings, user_id=user_id, address=str(message["To"]), realm=realm,
        message_id=str(message["Message-ID"]), now=now,
    )  # fmt: skip


def send(smtp: _Smtp, message: EmailMessage, return_path: str) -> None:
    """Submit with the VERP address as the envelope sender (MAIL FROM), not the From header."""
    smtp.send_message(message, from_addr=return_path, to_addrs=[str(message["To"])])


def _secret(args: argparse.Namespace, environ: Mapping[str, str]) -> bytes:
    if args.key_file:
        return Path(args.key_file).read_bytes().rstrip(b"\r\n")
    value = environ.get(args.key_env, "")
    if not value:
        raise SystemExit(f"send_with_verp: set {args.key_env} or use --key-file")
    return value.encode()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--user", type=int, required=True, help="the recipient's user id")
    p.add_argument("--realm", help="the sending site, e.g. a wiki id")
    p.add_argument("--to", required=True, help="the recipient's address")
    p.add_argument("--from", dest="sender", required=True, help="the From header")
    p.add_argument("--subject", default="Test message")
    p.add_argument("--body", default="This message carries a signed VERP return path.\n")
    p.add_argument("--domain", required=True, help="[verp] domain of the reconciler")
    p.add_argument("--prefix", default="bounces", help="[verp] prefix (default: bounces)")
    p.add_argument("--separator", default="+", help="[verp] separator (default: +)")
    p.add_argument("--key-id", default="a", help="id of the first [[verp.keys]] entry")
    p.add_argument("--key-env", default="RECONCILER_VERP_KEY", help="variable holding the key")
    p.add_argument("--key-file", help="file holding the key (instead of --key-env)")
    p.add_argument("--smtp", default="localhost:25", help="HOST:PORT of the SMTP server")
    return p


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] = os.environ,
    connect: Callable[[str, int], _Smtp] = smtplib.SMTP,
) -> int:
    args = _parser().parse_args(argv)
    settings = verp_settings(
        args.domain, args.key_id, _secret(args, environ), args.prefix, args.separator
    )
    message = build_message(args.sender, args.to, args.subject, args.body, args.domain)
    return_path = return_path_for(settings, message, args.user, args.realm, int(time.time()))
    host, _, port = args.smtp.rpartition(":")
    smtp = connect(host or args.smtp, int(port) if host else 25)
    try:
        send(smtp, message, return_path)
    finally:
        quit_ = getattr(smtp, "quit", None)
        if callable(quit_):
            quit_()
    print(f"sent {message['Message-ID']} to {args.to} with return path {return_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
