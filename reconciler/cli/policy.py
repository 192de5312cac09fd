"""Operator commands of the decision layer: `mode`, `suppressions`, `reinstate`, `undo`.

Each one parses, opens the service and makes its call.  Changes are previewed first and need
a confirmation (`--yes` for scripts); every change is audited with who and why.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from reconciler import actions
from reconciler.actions import apply_pending
from reconciler.cli.common import actor, confirm, now, parse_since, settings
from reconciler.errors import ConfigError
from reconciler.records import Mode, Reason, StoredDecision, UndoFilter
from reconciler.report.console import make_console, progress
from reconciler.report.ops import print_decisions, print_mode, print_suppressions
from reconciler.service.probes import ProbeRun
from reconciler.service.wiring import Service, open_service
from reconciler.settings import Settings

__all__ = ["mode", "reinstate", "suppressions", "undo"]


def mode(args: argparse.Namespace) -> int:
    loaded = settings(args)
    console = make_console()
    with open_service(loaded) as service:
        store = service.store
        if args.target is None:
            print_mode(console, store.get_mode(), store.audit_log(limit=5))
            return 0
        if not args.reason:
            raise ConfigError("mode: --reason is required to change the mode")
        target = Mode(args.target)
        if target is Mode.ENFORCE:
            pending = store.pending_decisions()
            note = ("applied now (--apply-pending)" if args.apply_pending
                    else "left as they are (add --apply-pending to apply them)")  # fmt: skip
            if args.apply_pending and service.decide.probes is not None:
                note = "probed first, or applied (--apply-pending; [policy] probe)"
            print_decisions(console, pending, f"Pending 'would' decisions: {note}")
            console.print("From the next cycle on, new decisions are applied.")
        if not confirm(f"Switch to {target.value}?", args):
            console.print("nothing changed")
            return 1
        state = store.set_mode(target, actor(args), args.reason, now())
        if target is Mode.ENFORCE and args.apply_pending:
            console.print(_apply_pending(service, actor(args)))
        print_mode(console, state, [])
    return 0


def _apply_pending(service: Service, who: str) -> str:
    """`--apply-pending`: with probes on, the decisions about an address get a probe first."""
    if service.decide.probes is None:
        done = apply_pending(service.store, service.actions, who, now())
        return f"applied {len(done)} pending decision(s)"
    run = ProbeRun(service.store, service.decide.probes, service.settings.policy,
                   service.actions, service.run_id, now())  # fmt: skip
    probed, applied = run.pending(who)
    return f"probed {probed} pending decision(s) first; applied {applied}"


def suppressions(args: argparse.Namespace) -> int:
    loaded = settings(args)
    with open_service(loaded) as service:
        if args.action == "check":
            if not args.address:
                raise ConfigError("suppressions check: give the ADDRESS to check")
            found = service.store.check_suppression(args.address)
            print("suppressed" if found else "not suppressed")
            return 0 if found else 1
        entries = service.store.suppressions()
    if args.action == "export" or args.json:
        rows = [{**asdict(e), "since": e.since.isoformat()} for e in entries]
        print(json.dumps(rows, indent=2 if args.action == "export" else None))
    else:
        print_suppressions(make_console(), entries)
    return 0


def _target_filter(target: str) -> UndoFilter:
    if "@" in target:
        return UndoFilter(address=target.strip().lower())
    realm, _, user = target.rpartition(":")
    if not user.isdigit():
        raise ConfigError(f"reinstate: {target!r} is neither an address nor REALM:ID / ID")
    return UndoFilter(realm=realm or None, user_id=int(user))


def _undo_with_preview(
    args: argparse.Namespace, loaded: Settings, wanted: UndoFilter, what: str
) -> int:
    console = make_console()
    with open_service(loaded) as service:
        found: list[StoredDecision] = service.store.applied_decisions(wanted)
        print_decisions(console, found, f"Applied decisions that {what} would undo")
        is_address = what == "reinstate" and wanted.address
        if not found and not is_address:
            console.print("nothing to undo")
            return 0
        if not confirm(f"{what.capitalize()} these?", args):
            console.print("nothing changed")
            return 1
        run = actions.reinstate if what == "reinstate" else actions.undo
        with progress(make_console(stderr=True), len(found), what) as advance:
            done = run(
                service.store,
                service.actions,
                wanted,
                (actor(args), args.why),
                now(),
                advance=advance,
            )
        console.print(f"undone: {len(done)} decision(s)")
    return 0


def reinstate(args: argparse.Namespace) -> int:
    loaded = settings(args)
    return _undo_with_preview(args, loaded, _target_filter(args.target), "reinstate")


def undo(args: argparse.Namespace) -> int:
    loaded = settings(args)
    try:
        reason = Reason(args.bounce_reason) if args.bounce_reason else None
    except ValueError as err:
        raise ConfigError(f"--reason: unknown bounce reason {args.bounce_reason!r}") from err
    wanted = UndoFilter(
        since=parse_since(args.since, now()),
        rule=args.rule,
        reason=reason,
        run_id=args.decision_run,
    )
    return _undo_with_preview(args, loaded, wanted, "undo")
