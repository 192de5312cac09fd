"""Operator commands of the decision layer: `mode`, `suppressions`, `reinstate`, `undo`.

Each one parses, opens the service and makes its call.  Changes are previewed first and need
a confirmation (`--yes` for scripts); every change is audited with who and why (`--reason`,
the same option on every command that changes something).  None of them creates a database:
they act on what a cycle recorded.
"""

from __future__ import annotations

import argparse

from reconciler import actions
from reconciler.actions import apply_pending
from reconciler.cli.common import (
    NO_SECRETS,
    Secrets,
    actor,
    confirm,
    now,
    parse_since,
    print_notice,
    settings,
)
from reconciler.controls import dumps
from reconciler.errors import ConfigError
from reconciler.records import Mode, Reason, StoredDecision, UndoFilter
from reconciler.report.console import make_console, progress
from reconciler.report.ops import print_decisions, print_mode, print_suppressions
from reconciler.report.opshapes import decisions_json, mode_state_json, suppression_json
from reconciler.service.probes import ProbeRun
from reconciler.service.wiring import Service, open_service
from reconciler.settings import Settings
from reconciler.store import Store

__all__ = ["mode", "reinstate", "suppressions", "undo"]


def mode(args: argparse.Namespace) -> int:
    if args.target is not None and not args.reason:
        raise ConfigError("mode: --reason is required to change the mode (it is audited)")
    loaded = settings(
        args, secrets={Secrets.ACTIONS, Secrets.VERP} if args.apply_pending else NO_SECRETS
    )
    console = make_console(stderr=args.json)  # with --json, stdout has the JSON alone
    with open_service(loaded, create=False) as service:
        store = service.store
        if args.target is None:
            _show_mode(args, service.store)
            return 0
        target = Mode(args.target)
        if target is Mode.ENFORCE:
            pending = store.pending_decisions()
            note = ("applied now: --apply-pending" if args.apply_pending
                    else "kept as they are; --apply-pending applies them")  # fmt: skip
            if args.apply_pending and service.decide.probes is not None:
                note = "probed first, or applied: --apply-pending, [policy] probe"
            print_decisions(console, pending, f"Pending 'would' decisions ({note})")
            console.print("From the next cycle on, new decisions are applied.")
        if not confirm(f"Switch to {target.value}?", args):
            console.print("nothing changed")
            return 1
        store.set_mode(target, actor(args), args.reason, now())
        if target is Mode.ENFORCE and args.apply_pending:
            console.print(_apply_pending(service, actor(args)))
        _show_mode(args, store)
    return 0


def _show_mode(args: argparse.Namespace, store: Store) -> None:
    state, recent = store.get_mode(), store.audit_log(limit=5)
    if args.json:
        trips = store.audit_log(action="breaker", limit=1)
        print(dumps(mode_state_json(state, trips[0] if trips else None, recent), indent=2))
    else:
        print_mode(make_console(), state, recent if args.target is None else [])


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
    """`suppressions list` and `export` (`check` is cli/suppressions.py's)."""
    loaded = settings(args, secrets=NO_SECRETS)
    with open_service(loaded, create=False) as service:
        entries = service.store.suppressions()
    if args.action == "export" or args.json:
        rows = [suppression_json(e) for e in entries]
        print(dumps(rows, indent=2 if args.action == "export" else None))
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
    console = make_console(stderr=args.json)  # with --json, stdout has the JSON alone
    with open_service(loaded, create=False) as service:
        found: list[StoredDecision] = service.store.applied_decisions(wanted)
        listed = what == "reinstate" and wanted.address is not None
        on_list = listed and service.store.check_suppression(wanted.address or "") is not None
        if not found and not on_list:
            where = " and the address is not on the suppression list" if listed else ""
            console.print(f"nothing to undo: no applied decision matches{where}", soft_wrap=True)
            if args.json:
                print(dumps(decisions_json([], 0)))
            return 0
        print_decisions(console, found, f"Applied decisions that {what} would undo")
        if on_list and not found:
            console.print(f"{wanted.address} is on the suppression list (added by hand)")
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
        if args.json:
            print(dumps(decisions_json(found, len(done)), indent=2))
    return 0


def reinstate(args: argparse.Namespace) -> int:
    wanted = _target_filter(args.target)
    loaded = settings(args, secrets={Secrets.ACTIONS})
    return _undo_with_preview(args, loaded, wanted, "reinstate")


def _undo_words(args: argparse.Namespace) -> tuple[str, str | None]:
    """(why, bounce reason) from the options, the deprecated spelling included: before,
    `--note` said why and `--reason` named the bounce reason; with `--note` it still does."""
    if args.note is None:
        if not args.why:
            raise ConfigError("undo: --reason WHY is required (it is audited)")
        return args.why, args.bounce_reason
    print_notice(
        "warning: undo --note is deprecated: write --reason WHY, and --bounce-reason REASON "
        "for the bounce reason (with --note, --reason still means the bounce reason)"
    )
    if args.why is not None and args.bounce_reason is not None:
        raise ConfigError("undo: with --note, give the bounce reason once (--bounce-reason)")
    return args.note, args.bounce_reason or args.why


def undo(args: argparse.Namespace) -> int:
    args.why, bounce_reason = _undo_words(args)
    try:
        reason = Reason(bounce_reason) if bounce_reason else None
    except ValueError as err:
        known = ", ".join(r.value for r in Reason)
        raise ConfigError(
            f"--bounce-reason: unknown bounce reason {bounce_reason!r} (known: {known})"
        ) from err
    wanted = UndoFilter(
        since=parse_since(args.since, now()),
        rule=args.rule,
        reason=reason,
        run_id=args.decision_run,
    )
    loaded = settings(args, secrets={Secrets.ACTIONS})
    return _undo_with_preview(args, loaded, wanted, "undo")
