"""The command action: run a configured program (argv, no shell) with the event on stdin.

The program gets one JSON event (the webhook's body: "suppress", or "reinstated" for the
`undo_argv` program) on stdin, a small environment (PATH, LANG, LC_ALL, TZ; not ours, which
may hold secrets) and `timeout_seconds`.  Exit status 0 is success; anything else, a timeout
or a program that cannot start raises `ActionError`, recorded as a failure.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from datetime import datetime

from reconciler.actions.payload import event_json
from reconciler.errors import ActionError
from reconciler.records import ActionOutcome, ActionRecord, ActionStatus, StoredDecision
from reconciler.settings import CommandSettings
from reconciler.store import Store

__all__ = ["CommandAction"]

_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TZ")
_TAIL = 300  # characters of output kept in the action log


def _tail(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    return " ".join(text[-_TAIL:].split())


def _run_program(argv: Sequence[str], stdin: str, timeout: float) -> str:
    """Run `argv` with `stdin`; returns the tail of its output, raises ActionError on failure."""
    env = {k: v for k, v in os.environ.items() if k in _KEEP_ENV}
    try:
        done = subprocess.run(  # argv from the operator's config; never a shell
            list(argv), input=stdin.encode(), capture_output=True, timeout=timeout,
            check=False, env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired as err:
        raise ActionError(f"command {argv[0]}: timed out after {timeout:g} s") from err
    except OSError as err:
        raise ActionError(f"command {argv[0]}: cannot run: {err.strerror or err}") from err
    if done.returncode != 0:
        raise ActionError(
            f"command {argv[0]}: exit status {done.returncode}: {_tail(done.stderr) or '-'}"
        )
    return _tail(done.stdout)


class CommandAction:
    """Runs `argv` for a decision and `undo_argv` (if configured) to undo it."""

    name = "command"
    local = False

    def __init__(self, store: Store, settings: CommandSettings) -> None:
        self._store = store
        self._settings = settings

    def describe(self, decision: StoredDecision) -> str:
        d = decision.decision
        return f"command: run {self._settings.argv[0]} for {d.realm}:{d.user_id}"

    def apply(self, decision: StoredDecision, now: datetime) -> ActionOutcome:
        event = event_json("suppress", f"d{decision.id}-suppress", decision, now)
        output = _run_program(self._settings.argv, event, self._settings.timeout_seconds)
        return ActionOutcome(self.name, ActionStatus.DONE, output or "exit status 0")

    def undo(self, record: ActionRecord, now: datetime) -> ActionOutcome:
        if not self._settings.undo_argv:
            return ActionOutcome(self.name, ActionStatus.SKIPPED, "no undo_argv configured")
        stored = self._store.get_decision(record.decision_id)
        if stored is None:
            return ActionOutcome(self.name, ActionStatus.SKIPPED, "the decision is gone")
        event_id = f"d{record.decision_id}-reinstated-{record.id}"
        event = event_json("reinstated", event_id, stored, now)
        output = _run_program(self._settings.undo_argv, event, self._settings.timeout_seconds)
        return ActionOutcome(self.name, ActionStatus.DONE, output or "exit status 0")
