"""`import bouncehandler`: MediaWiki BounceHandler's `bounce_records` recorded as evidence.

Reads the rows, previews what would be recorded (and for whom), asks (`--yes` for scripts),
records.  A rerun adds nothing: rows imported before are counted, not recorded again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import timedelta
from urllib.parse import urlsplit

from reconciler.cli.common import EXIT_FAIL, EXIT_OK, Secrets, now, parse_since, settings
from reconciler.errors import ConfigError
from reconciler.service.decisions import evidence_days
from reconciler.service.importing import ImportPlan, prepare_import, run_import
from reconciler.service.wiring import open_service

__all__ = ["bouncehandler"]

PASSWORD_ENV = "RECONCILER_IMPORT_PASSWORD"


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mariadb") or not parts.hostname:
        raise ConfigError("--url: expected mysql://user@host:3306/wikishared")
    if parts.password is not None:
        raise ConfigError(f"--url: no password in the URL: set {PASSWORD_ENV}")
    if not parts.path.strip("/"):
        raise ConfigError("--url: name the database: mysql://user@host:3306/wikishared")
    return url


def _counts(plan: ImportPlan) -> dict[str, object]:
    return {
        "source": plan.source, "since": plan.since.isoformat(), "rows": plan.rows,
        "already": plan.already, "new": len(plan.entries), "attributed": plan.attributed,
        "ambiguous": plan.ambiguous, "unknown": plan.unknown, "wikis": plan.wikis,
    }  # fmt: skip


def _preview(plan: ImportPlan) -> None:
    print(f"BounceHandler rows at {plan.source}")
    print(f"sent since {plan.since:%Y-%m-%d %H:%M} UTC")
    lines = (
        ("rows read", plan.rows, ""),
        ("imported before", plan.already, "left as they are"),
        ("to import", len(plan.entries), "soft bounces, reason undefined"),
        ("  for one user", plan.attributed, "counted for that user"),
        ("  for several users", plan.ambiguous, "kept without a user"),
        ("  for no user now", plan.unknown, "kept without a user"),
        ("wikis searched", plan.wikis, "through [actions.mediawiki]"),
    )
    for label, count, note in lines:
        print(f"  {label:<20}{count:>9}  {note}".rstrip())


def _confirm(question: str, args: argparse.Namespace) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigError("confirmation needed and no terminal to ask on: add --yes")
    print(f"{question} [type yes]: ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() == "yes"


def bouncehandler(args: argparse.Namespace) -> int:
    loaded = settings(args, secrets={Secrets.ACTIONS})
    url = _checked_url(args.url)
    at = now()
    since = (parse_since(args.since, at) if args.since
             else at - timedelta(days=evidence_days(loaded.policy)))  # fmt: skip
    mediawiki = loaded.actions.mediawiki
    password = os.environ.get(PASSWORD_ENV, mediawiki.password if mediawiki else "")
    with open_service(loaded) as service:
        plan = prepare_import(loaded, service.store, url, password, since=since, now=at)
        if not args.json:
            _preview(plan)
        if not plan.entries:
            imported, answer = 0, True
        else:
            answer = _confirm(f"Import {len(plan.entries)} row(s)?", args)
            imported = run_import(service.store, plan, now()) if answer else 0
    if args.json:
        print(json.dumps({**_counts(plan), "imported": imported}))
    else:
        print(f"imported: {imported}" if answer else "nothing changed")
    return EXIT_OK if answer else EXIT_FAIL
