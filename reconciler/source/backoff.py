"""Reconnect with exponential backoff and full jitter; sleep and randomness are injected."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from reconciler.errors import SourceError, SourceUnavailable

__all__ = ["Backoff", "backoff_delays", "connect_with_retry"]

log = logging.getLogger(__name__)


class _Openable(Protocol):
    def open(self) -> None: ...


S = TypeVar("S", bound=_Openable)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Attempt n (from 0) waits a random time in [0, min(maximum, initial * factor**n))."""

    attempts: int = 5
    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 300.0


def backoff_delays(policy: Backoff, rng: Callable[[], float] = random.random) -> Iterator[float]:
    """The waits between attempts: `attempts - 1` of them (full jitter, AWS style)."""
    for attempt in range(max(policy.attempts - 1, 0)):
        ceiling = min(policy.maximum, policy.initial * policy.factor**attempt)
        yield rng() * ceiling


def connect_with_retry(
    make: Callable[[], S],
    policy: Backoff,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> S:
    """`make()` a source and `open()` it, retrying only `SourceUnavailable` failures.

    Other SourceErrors (bad login, refused certificate, plaintext refused) are raised at once:
    waiting would not fix them.
    """
    delays = backoff_delays(policy, rng)
    while True:
        source = make()
        try:
            source.open()
        except SourceUnavailable as err:
            delay = next(delays, None)
            if delay is None:
                raise SourceError(f"giving up after {policy.attempts} attempts: {err}") from err
            log.warning("source unavailable (%s); retrying in %.1f s", err, delay)
            sleep(delay)
            continue
        return source
