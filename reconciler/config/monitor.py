"""The `[metrics]` and `[digest]` sections: the Prometheus endpoint and the operators' digest.

Split from `config.sections` because these follow `reconciler.service.metrics` and
`reconciler.service.digest`.
"""

from __future__ import annotations

import ipaddress

from reconciler.config.read import Table, field_default
from reconciler.config.smtp import is_address, smtp_login
from reconciler.settings import DigestSettings, MetricsSettings, is_loopback

__all__ = ["build_digest", "build_metrics"]


def build_metrics(t: Table) -> MetricsSettings:
    """Validate `[metrics]`: the address must be an IP literal (or `localhost`)."""
    address = t.string("address", field_default(MetricsSettings, "address"))
    if address != "localhost":
        try:
            ipaddress.ip_address(address)
        except ValueError as err:
            raise t.fail("address", f'expected an IP address, got "{address}"') from err
    settings = MetricsSettings(
        enabled=t.boolean("enabled", False),
        address=address,
        port=t.integer("port", field_default(MetricsSettings, "port"), 1, 65535),
    )
    if settings.enabled and not is_loopback(address):
        t.warn("address", "the metrics endpoint has no authentication; keep it behind a firewall")
    t.finish()
    return settings


def _addresses(t: Table, enabled: bool) -> tuple[str, tuple[str, ...]]:
    sender = t.string("sender") if enabled else t.optional_string("sender") or ""
    recipients = t.strings("recipients", ())
    if sender and not is_address(sender):
        raise t.fail("sender", f'expected an address like ops@example.org, got "{sender}"')
    for address in recipients:
        if not is_address(address):
            raise t.fail("recipients", f'expected addresses like ops@example.org, got "{address}"')
    if enabled and not recipients:
        raise t.fail("recipients", "required when the digest is enabled: at least one address")
    return sender, recipients


def build_digest(t: Table) -> DigestSettings:
    """Validate `[digest]`; sender and recipients are required only when it is enabled."""
    enabled = t.boolean("enabled", False)
    host = t.string("smtp_host", field_default(DigestSettings, "smtp_host"))
    starttls = t.boolean("starttls", True)
    username, password, source = smtp_login(t, host, starttls)
    sender, recipients = _addresses(t, enabled)
    settings = DigestSettings(
        enabled=enabled,
        smtp_host=host,
        smtp_port=t.integer("smtp_port", field_default(DigestSettings, "smtp_port"), 1, 65535),
        starttls=starttls,
        username=username,
        password=password,
        sender=sender,
        recipients=recipients,
        interval_hours=t.integer("interval_hours", 24, 1, 24 * 31),
        max_examples=t.integer("max_examples", 10, 0, 1000),
        show_addresses=t.boolean("show_addresses", False),
        timeout_seconds=t.number("timeout_seconds", 30.0, 0.0, 600.0),
        password_env=source.env if source else None,
        password_file=source.file if source else None,
    )
    t.finish()
    return settings
