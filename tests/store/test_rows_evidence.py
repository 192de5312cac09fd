"""The evidence read for policy (reconciler.store.rows.evidence): an event's time in unix
seconds is the one `from_db(...).timestamp()` gives, for every form a driver hands back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.store.connection import from_db
from reconciler.store.rows import evidence

TIMES = [
    datetime(2026, 12, 5, 1, 40, 12, 552486),
    datetime(2026, 12, 5, 1, 40, 12),
    datetime(1969, 7, 20, 20, 17, 40, 999999),  # before the epoch: truncated, not floored
    datetime(1970, 1, 1) - timedelta(microseconds=1),
    datetime(2038, 1, 19, 3, 14, 8, 1),
]


def _row(event_time: object) -> tuple[object, ...]:
    return (7, "wiki", 3, "a@Example.ORG", None, "bounce", "userunknown", "hard", "recipient",
            1, event_time, None, None, 0, None)  # fmt: skip


@pytest.mark.parametrize("moment", TIMES)
@pytest.mark.parametrize("form", ["datetime", "text", "aware"])
def test_event_time_in_seconds_as_from_db_gives_it(moment: datetime, form: str) -> None:
    value: object = {
        "datetime": moment,
        "text": moment.isoformat(" "),  # SQLite's form
        "aware": moment.replace(tzinfo=UTC),
    }[form]
    event = evidence(_row(value))
    assert event.at == int(from_db(value).timestamp())
    assert event.domain == "example.org" and event.event_id == 7
