"""What the command handlers share: exit codes and the operator's one-line notices (from
`exits`, which `reconciler.cli` imports before it knows the command), the settings, `--since`,
and the actor and the confirmation of a change."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.cli.exits import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, print_notice
from reconciler.config import ALL_SECRETS, Secrets, load_settings, resolve_config_path
from reconciler.errors import ConfigError
from reconciler.settings import Settings

__all__ = [
    "EXIT_FAIL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "NO_SECRETS",
    "Secrets",
    "actor",
    "confirm",
    "now",
    "optional_settings",
    "parse_since",
    "print_notice",
    "settings",
]

NO_SECRETS: frozenset[Secrets] = frozenset()
_RELATIVE = r"(\d+)([mhdw])"  # compiled by `re` when --since is given
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def actor(args: argparse.Namespace) -> str:
    """Who runs a change, for the audit log: `--by`, else the login name."""
    import getpass  # a change's actor only: not on every start

    name = args.by or os.environ.get("SUDO_USER") or getpass.getuser()
    return f"operator:{name}"


def confirm(question: str, args: argparse.Namespace) -> bool:
    """True with `--yes`, else when the operator types "yes" on the terminal (Ctrl-D: no)."""
    if args.yes:
        return True
    if getattr(args, "json", False):
        raise ConfigError("--json prints the outcome of a change: add --yes (no question asked)")
    if not sys.stdin.isatty():
        raise ConfigError("confirmation needed and no terminal to ask on: add --yes")
    try:
        return input(f"{question} [type yes]: ").strip().lower() == "yes"
    except EOFError:  # Ctrl-D: no answer is no
        print()
        return False


def settings(
    args: argparse.Namespace,
    *,
    warn: bool = True,
    secrets: Collection[Secrets] = ALL_SECRETS,
) -> Settings:
    """The configuration named by `--config` (else `$RECONCILER_CONFIG`, else ./reconciler.toml);
    its warnings are printed unless `warn` is false.  Only the `secrets` the command uses are
    read (the keys of the others are still checked)."""
    path = resolve_config_path(args.config, os.environ, Path.cwd())
    loaded = load_settings(path, os.environ, secrets)
    for warning in loaded.warnings if warn else ():
        print_notice(f"warning: {warning}")
    return loaded


def optional_settings(
    args: argparse.Namespace, secrets: Collection[Secrets] = NO_SECRETS
) -> Settings | None:
    """The settings when a config file is named or present; classify works without one."""
    path = resolve_config_path(args.config, os.environ, Path.cwd())
    if args.config is None and os.environ.get("RECONCILER_CONFIG") is None and not path.exists():
        return None
    return load_settings(path, os.environ, secrets)


def now() -> datetime:
    return datetime.now(UTC)


def parse_since(text: str, now: datetime) -> datetime:
    """`--since`: an ISO time (UTC if no zone) or a span back from now: 30m, 24h, 7d, 2w."""
    relative = re.fullmatch(_RELATIVE, text.strip())
    if relative:
        amount, unit = int(relative.group(1)), _UNITS[relative.group(2)]
        return now - timedelta(**{unit: amount})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise ConfigError(f"--since: {text!r} is not an ISO time or 30m / 24h / 7d / 2w") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
