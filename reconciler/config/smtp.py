"""SMTP submission keys, shared by `[digest]` and `[probe]`: the login and its secret, and (for
`[probe]`) the whole server: `smtp_host`, `smtp_port`, `starttls` or `tls`, `ca_file`.

A password is never sent in clear to another host than loopback: with a username, the
connection must be encrypted (STARTTLS, or implicit TLS where the section offers it).
"""

from __future__ import annotations

import re

from reconciler.config.read import SecretRef, Table, field_default
from reconciler.settings import SmtpSettings, is_loopback

__all__ = ["build_smtp", "is_address", "smtp_login"]

# A plain addr-spec check: enough to catch typos; the SMTP server has the last word.  (Compiled
# by `re` when a section names an address, not at every start.)
_ADDRESS = r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+"


def is_address(text: str) -> bool:
    """True for something@domain.tld without spaces or brackets."""
    return re.fullmatch(_ADDRESS, text) is not None


def smtp_login(
    t: Table, host: str, encrypted: bool, fix: str = "set it true"
) -> tuple[str | None, str, SecretRef | None]:
    """(username, password, where the password came from); no username: no SMTP AUTH."""
    if t.has("password"):
        raise t.fail("password", "not accepted inline; use password_env or password_file")
    username = t.optional_string("username")
    has_secret = t.has("password_env") or t.has("password_file")
    if username is None:
        if has_secret:
            raise t.fail("username", "required when a password is set")
        return None, "", None
    secret = t.secret("password", literal=False)
    if not encrypted and not is_loopback(host):
        raise t.fail("starttls", f"false would send the SMTP password in clear to {host}; {fix}")
    return username, t.text_secret("password", secret), secret


def build_smtp(t: Table) -> SmtpSettings:
    """The SMTP server keys of a section: STARTTLS by default, or implicit TLS (`tls`)."""
    host = t.string("smtp_host", field_default(SmtpSettings, "smtp_host"))
    tls = t.boolean("tls", False)
    starttls = t.boolean("starttls", not tls)
    if tls and starttls:
        raise t.fail("tls", "set only one of starttls and tls (implicit TLS, port 465)")
    username, password, source = smtp_login(
        t, host, starttls or tls, fix="set starttls or tls true"
    )
    return SmtpSettings(
        smtp_host=host,
        smtp_port=t.integer("smtp_port", 465 if tls else 587, 1, 65535),
        starttls=starttls,
        tls=tls,
        username=username,
        password=password,
        timeout_seconds=t.number("timeout_seconds", 30.0, 0.0, 600.0),
        ca_file=t.optional_path("ca_file"),
        password_env=source.env if source else None,
        password_file=source.file if source else None,
    )
