"""The Prometheus endpoint, tested by scraping it over HTTP on loopback."""

from __future__ import annotations

import dataclasses
import re
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import ROOT

from reconciler.config import MetricsSettings, load_settings
from reconciler.errors import ConfigError
from reconciler.records import MessageOutcome, Mode, Unprocessed
from reconciler.service.cycle import CycleReport
from reconciler.service.decisions import DecideReport
from reconciler.service.metrics import Metrics, NoMetrics, start_metrics

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def served() -> Iterator[tuple[Metrics, int]]:
    metrics = Metrics()
    server = metrics.serve("127.0.0.1", 0)
    try:
        yield metrics, server.port
    finally:
        metrics.close()


def _cycle_report() -> CycleReport:
    report = CycleReport(mailbox="bounces", uidvalidity=7, seen=12, duplicates=1, moved=11)
    report.outcomes.update(
        {
            MessageOutcome.PROCESSED: 6,
            MessageOutcome.UNMATCHED: 3,
            MessageOutcome.SKIPPED: 1,
            MessageOutcome.QUARANTINED: 1,
        }
    )
    report.severities.update({"hard": 5, "soft": 3, "not_a_bounce": 1})
    report.failed.append(Unprocessed("bounces", 7, 99, "analyse", "ParseError('bad')"))
    if "reasons" in {f.name for f in dataclasses.fields(CycleReport)}:
        report.reasons.update({"userunknown": 4, "mailboxfull": 3})  # type: ignore[attr-defined]
    return report


def test_cycle_counts_are_scraped(served: tuple[Metrics, int]) -> None:
    metrics, port = served
    metrics.observe_cycle(_cycle_report(), 2.5, at=AT)
    metrics.observe_cycle(CycleReport(mailbox="bounces", seen=3), 0.25, at=AT)
    metrics.set_backlog("bounces", 40)
    s = _scrape(port)
    assert _value(s, "reconciler_messages_fetched_total", mailbox="bounces") == 15
    assert _value(s, "reconciler_messages_total", mailbox="bounces", outcome="processed") == 6
    assert _value(s, "reconciler_messages_total", mailbox="bounces", outcome="unmatched") == 3
    assert _value(s, "reconciler_messages_total", mailbox="bounces", outcome="quarantined") == 1
    assert _value(s, "reconciler_messages_total", mailbox="bounces", outcome="duplicate") == 1
    assert _value(s, "reconciler_unprocessed_total", mailbox="bounces") == 1
    assert _value(s, "reconciler_messages_moved_total", mailbox="bounces") == 11
    assert _value(s, "reconciler_bounces_total", mailbox="bounces", severity="hard") == 5
    assert _value(s, "reconciler_bounces_total", mailbox="bounces", severity="soft") == 3
    assert _value(s, "reconciler_cycle_duration_seconds_count", mailbox="bounces") == 2
    assert _value(s, "reconciler_cycle_duration_seconds_sum", mailbox="bounces") == 2.75
    assert _value(s, "reconciler_cycle_duration_seconds_bucket", mailbox="bounces", le="1.0") == 1
    stamp = _value(s, "reconciler_last_success_timestamp_seconds", mailbox="bounces")
    assert stamp == AT.timestamp()
    assert _value(s, "reconciler_cycle_failures_total", mailbox="bounces") == 0
    assert _value(s, "reconciler_backlog_messages", mailbox="bounces") == 40


def test_bounce_reasons_are_scraped(served: tuple[Metrics, int]) -> None:
    metrics, port = served
    metrics.observe_cycle(_cycle_report(), 1.0, at=AT)
    s = _scrape(port)
    assert (
        _value(s, "reconciler_bounce_reasons_total", mailbox="bounces", reason="userunknown") == 4
    )
    assert (
        _value(s, "reconciler_bounce_reasons_total", mailbox="bounces", reason="mailboxfull") == 3
    )


def test_failures_are_counted_per_mailbox(served: tuple[Metrics, int]) -> None:
    metrics, port = served
    metrics.observe_failure("bounces")
    metrics.observe_failure("bounces")
    metrics.observe_failure("other")
    s = _scrape(port)
    assert _value(s, "reconciler_cycle_failures_total", mailbox="bounces") == 2
    assert _value(s, "reconciler_cycle_failures_total", mailbox="other") == 1


def test_decisions_mode_and_breaker_are_scraped(served: tuple[Metrics, int]) -> None:
    metrics, port = served
    metrics.set_mode(Mode.ENFORCE.value)
    report = DecideReport(mode=Mode.ENFORCE, users=5, incidents=2)
    report.dispositions.update({"applied": 3, "would": 1})
    metrics.observe_decisions(report)
    metrics.set_action_failures(2)
    s = _scrape(port)
    assert _value(s, "reconciler_decisions_total", disposition="applied") == 3
    assert _value(s, "reconciler_decisions_total", disposition="would") == 1
    assert _value(s, "reconciler_incidents_active") == 2
    assert _value(s, "reconciler_mode", mode="enforce") == 1
    assert _value(s, "reconciler_mode", mode="log-only") == 0
    assert _value(s, "reconciler_breaker_tripped") == 0
    assert _value(s, "reconciler_breaker_trips_total") == 0
    assert _value(s, "reconciler_action_failures") == 2

    tripped = DecideReport(mode=Mode.ENFORCE, tripped="actions 60 > 50 in 3600 s")
    tripped.dispositions.update({"applied": 1, "withheld": 4})
    metrics.observe_decisions(tripped)
    s = _scrape(port)
    assert _value(s, "reconciler_decisions_total", disposition="applied") == 4
    assert _value(s, "reconciler_decisions_total", disposition="withheld") == 4
    assert _value(s, "reconciler_breaker_trips_total") == 1
    assert _value(s, "reconciler_breaker_tripped") == 1
    assert _value(s, "reconciler_mode", mode="paused") == 1
    assert _value(s, "reconciler_mode", mode="enforce") == 0


def test_registries_are_separate() -> None:
    one, two = Metrics(), Metrics()  # the same names twice: no "duplicated timeseries" error
    one.observe_failure("bounces")
    assert (
        one.registry.get_sample_value("reconciler_cycle_failures_total", {"mailbox": "bounces"})
        == 1
    )
    assert (
        two.registry.get_sample_value("reconciler_cycle_failures_total", {"mailbox": "bounces"})
        is None
    )


def test_stop_closes_the_port() -> None:
    metrics = Metrics()
    port = metrics.serve("127.0.0.1", 0).port
    assert _scrape(port)
    metrics.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_start_metrics_serves_when_enabled() -> None:
    metrics = start_metrics(MetricsSettings(enabled=True, address="127.0.0.1", port=0))
    try:
        assert isinstance(metrics, Metrics)
        assert metrics._server is not None
        metrics.set_mode("log-only")
        assert _value(_scrape(metrics._server.port), "reconciler_mode", mode="log-only") == 1
    finally:
        metrics.close()


def test_start_metrics_port_taken_is_a_config_error() -> None:
    first = Metrics()
    port = first.serve("127.0.0.1", 0).port
    try:
        with pytest.raises(ConfigError, match=r"^metrics\.port: cannot listen on 127\.0\.0\.1"):
            start_metrics(MetricsSettings(enabled=True, address="127.0.0.1", port=port))
    finally:
        first.close()


def test_disabled_needs_no_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import now raises ImportError
    metrics = start_metrics(MetricsSettings())
    assert type(metrics) is NoMetrics
    metrics.observe_cycle(_cycle_report(), 1.0)
    metrics.observe_failure("bounces")
    metrics.observe_decisions(DecideReport())
    metrics.set_mode("enforce")
    metrics.set_backlog("bounces", 3)
    metrics.set_action_failures(1)
    metrics.close()
    with pytest.raises(ConfigError, match="pip install 'reconciler\\[metrics\\]'"):
        start_metrics(MetricsSettings(enabled=True, port=0))


# --- the [metrics] section --------------------------------------------------------------------


def _load(tmp_path: Path, text: str) -> MetricsSettings:
    path = tmp_path / "reconciler.toml"
    path.write_text(text)
    path.chmod(0o600)
    return load_settings(path, {}).metrics


def test_metrics_section_defaults_and_values(tmp_path: Path) -> None:
    assert _load(tmp_path, "") == MetricsSettings(enabled=False, address="127.0.0.1", port=9187)
    text = '[metrics]\nenabled = true\naddress = "::1"\nport = 9100\n'
    assert _load(tmp_path, text) == MetricsSettings(enabled=True, address="::1", port=9100)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[metrics]\naddress = "metrics.example.org"\n', "metrics.address"),
        ("[metrics]\nport = 0\n", "metrics.port"),
        ('[metrics]\nenabled = "yes"\n', "metrics.enabled"),
        ("[metrics]\nportt = 9100\n", "metrics.portt"),
    ],
)
def test_metrics_section_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message
    assert f": {key}: " in message


def test_public_address_warns(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.toml"
    path.write_text('[metrics]\nenabled = true\naddress = "0.0.0.0"\n')
    path.chmod(0o600)
    warnings = load_settings(path, {}).warnings
    assert any("metrics.address" in w and "no authentication" in w for w in warnings)


def test_example_documents_the_metrics_keys() -> None:
    text = (ROOT / "config.example.toml").read_text()
    assert re.search(r"^\[metrics\]", text, re.M)
    for item in dataclasses.fields(MetricsSettings):
        assert re.search(rf"^[ #]*{item.name} =", text, re.M), item.name


def test_report_counters_are_plain_counters() -> None:
    # observe_cycle reads these as collections.Counter (a contract with cycle.py)
    report = CycleReport(mailbox="x")
    assert isinstance(report.outcomes, Counter)
    assert isinstance(report.severities, Counter)
