"""Prometheus metrics: what the cycles and the decide stage did, served over HTTP (optional).

prometheus_client is an optional extra (`pip install 'reconciler[metrics]'`) and is imported
here only, and only when metrics are enabled: with `[metrics] enabled = false`,
`start_metrics` returns a `NoMetrics` whose calls do nothing, and the library may be absent.
Every `Metrics` has its own `CollectorRegistry` (never the global one), so two instances (two
tests) never share a sample.

Wiring::

    metrics = start_metrics(settings.metrics)          # at start; ConfigError if not installed
    metrics.observe_cycle(report, seconds)             # after each poll_mailbox
    metrics.observe_failure(mailbox)                   # when a mailbox's cycle failed
    metrics.observe_decisions(decide_report)           # after each run_decisions
    metrics.set_mode(store.get_mode().mode)            # each cycle
    metrics.close()                                    # at exit
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from reconciler.errors import ConfigError
from reconciler.records import MessageOutcome, Mode
from reconciler.settings import MetricsSettings

if TYPE_CHECKING:
    import threading
    from wsgiref.simple_server import WSGIServer

    import prometheus_client as prom
    from prometheus_client import CollectorRegistry, Gauge, Histogram

    from reconciler.service.cycle import CycleReport
    from reconciler.service.decisions import DecideReport

__all__ = ["Metrics", "MetricsServer", "NoMetrics", "start_metrics"]

log = logging.getLogger(__name__)

_DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


@dataclass(slots=True)
class MetricsServer:
    """The running HTTP endpoint: `port` is the bound port (useful with port 0)."""

    address: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and close the socket; waits for the server thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class NoMetrics:
    """The sink used when metrics are disabled: every call does nothing."""

    def observe_cycle(
        self, report: CycleReport, seconds: float, *, at: datetime | None = None
    ) -> None:
        """Count one finished cycle over one mailbox (`at`: its end; default now)."""

    def observe_failure(self, mailbox: str) -> None:
        """Count one cycle over `mailbox` that failed (connection, store...)."""

    def observe_decisions(self, report: DecideReport) -> None:
        """Count the decisions, actions, incidents and breaker trips of one decide run."""

    def set_mode(self, mode: Mode) -> None:
        """The mode in force."""

    def set_backlog(self, mailbox: str, n: int) -> None:
        """Messages waiting in the mailbox's folder after the cycle."""

    def set_action_failures(self, n: int) -> None:
        """Actions failed (or left pending by a crash) and waiting to be retried."""

    def close(self) -> None:
        """Stop the HTTP endpoint, if one runs."""


def _require_library() -> None:
    try:
        import prometheus_client  # noqa: F401 - only whether it is there
    except ImportError as err:
        raise ConfigError(
            "metrics.enabled: prometheus_client is not installed "
            "(pip install 'reconciler[metrics]')"
        ) from err


class Metrics(NoMetrics):
    """The metrics of one process, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        _require_library()  # a ConfigError naming the extra when the library is missing
        from prometheus_client import CollectorRegistry

        self.registry = registry if registry is not None else CollectorRegistry()
        self._server: MetricsServer | None = None
        self._cycle_metrics()
        self._decide_metrics()

    def _counter(self, name: str, text: str, labels: tuple[str, ...] = ()) -> prom.Counter:
        from prometheus_client import Counter as PromCounter

        return PromCounter(name, text, labels, registry=self.registry)

    def _gauge(self, name: str, text: str, labels: tuple[str, ...] = ()) -> Gauge:
        from prometheus_client import Gauge

        return Gauge(name, text, labels, registry=self.registry)

    def _cycle_metrics(self) -> None:
        from prometheus_client import Histogram

        mb = ("mailbox",)
        self.fetched = self._counter("reconciler_messages_fetched", "Messages fetched", mb)
        self.messages = self._counter(
            "reconciler_messages", "Messages recorded, by outcome", ("mailbox", "outcome")
        )
        self.unprocessed = self._counter(
            "reconciler_unprocessed", "Messages whose analysis failed (retried later)", mb
        )
        self.moved = self._counter("reconciler_messages_moved", "Messages moved to a folder", mb)
        self.bounces = self._counter(
            "reconciler_bounces", "Bounce events by severity", ("mailbox", "severity")
        )
        self.reasons = self._counter(
            "reconciler_bounce_reasons", "Bounce events by reason", ("mailbox", "reason")
        )
        self.failures = self._counter("reconciler_cycle_failures", "Cycles that failed", mb)
        self.duration: Histogram = Histogram(
            "reconciler_cycle_duration_seconds", "Duration of one cycle over one mailbox", mb,
            buckets=_DURATION_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.last_success = self._gauge(
            "reconciler_last_success_timestamp_seconds", "End of the last successful cycle", mb
        )
        self.backlog = self._gauge("reconciler_backlog_messages", "Messages left to read", mb)

    def _decide_metrics(self) -> None:
        self.decisions = self._counter(
            "reconciler_decisions", "Decisions recorded, by disposition", ("disposition",)
        )
        self.decision_kinds = self._counter(
            "reconciler_decision_kinds", "Decisions recorded, by kind", ("kind",)
        )
        self.actions = self._counter(
            "reconciler_actions", "Action outcomes, by action and status", ("action", "status")
        )
        self.action_failures = self._gauge(
            "reconciler_action_failures", "Actions failed or pending, waiting for a retry"
        )
        self.trips = self._counter("reconciler_breaker_trips", "Circuit-breaker trips")
        self.incidents = self._gauge("reconciler_incidents_active", "Active incidents")
        self.mode = self._gauge("reconciler_mode", "The mode in force (1) by name", ("mode",))
        self.breaker = self._gauge(
            "reconciler_breaker_tripped", "1 while the breaker holds enforcement paused"
        )

    def observe_cycle(
        self, report: CycleReport, seconds: float, *, at: datetime | None = None
    ) -> None:
        mailbox = report.mailbox
        self.fetched.labels(mailbox).inc(report.seen)
        for outcome in MessageOutcome:
            self.messages.labels(mailbox, outcome.value).inc(report.outcomes[outcome])
        self.messages.labels(mailbox, MessageOutcome.DUPLICATE.value).inc(report.duplicates)
        self.unprocessed.labels(mailbox).inc(len(report.failed))
        self.moved.labels(mailbox).inc(report.moved)
        for severity, n in report.severities.items():
            self.bounces.labels(mailbox, severity).inc(n)
        for reason, n in report.reasons.items():
            self.reasons.labels(mailbox, reason).inc(n)
        self.duration.labels(mailbox).observe(seconds)
        self.last_success.labels(mailbox).set(at.timestamp() if at else time.time())
        self.failures.labels(mailbox).inc(0)  # the series exists from the first cycle on

    def observe_failure(self, mailbox: str) -> None:
        self.failures.labels(mailbox).inc()

    def observe_decisions(self, report: DecideReport) -> None:
        for disposition, n in report.dispositions.items():
            self.decisions.labels(disposition).inc(n)
        for kind, n in report.kinds.items():
            self.decision_kinds.labels(kind).inc(n)
        for (action, status), n in report.actions.items():
            self.actions.labels(action, status).inc(n)
        self.incidents.set(report.incidents)
        if report.tripped is not None:
            self.trips.inc()
            self.set_mode(Mode.PAUSED)

    def set_mode(self, mode: Mode) -> None:
        for known in Mode:
            self.mode.labels(known.value).set(1 if known == mode else 0)
        self.breaker.set(1 if mode == Mode.PAUSED else 0)

    def set_backlog(self, mailbox: str, n: int) -> None:
        self.backlog.labels(mailbox).set(n)

    def set_action_failures(self, n: int) -> None:
        self.action_failures.set(n)

    def serve(self, address: str, port: int) -> MetricsServer:
        """Serve /metrics on `address:port` (port 0: any free port) in a daemon thread."""
        from prometheus_client import start_http_server

        server, thread = start_http_server(port, addr=address, registry=self.registry)
        bound = int(server.server_address[1])
        self._server = MetricsServer(address, bound, server, thread)
        log.info("metrics: serving http://%s:%d/metrics", address, bound)
        return self._server

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def start_metrics(settings: MetricsSettings) -> NoMetrics:
    """`NoMetrics` when disabled (nothing imported); else `Metrics`, served at once.

    Raises ConfigError when enabled but prometheus_client is missing or the port is taken.
    """
    if not settings.enabled:
        return NoMetrics()
    metrics = Metrics()
    try:
        metrics.serve(settings.address, settings.port)
    except OSError as err:
        raise ConfigError(
            f"metrics.port: cannot listen on {settings.address}:{settings.port}: {err.strerror}"
        ) from err
    return metrics
