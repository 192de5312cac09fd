"""`suppressions check ADDRESS`: what a sending application runs before each mail, so it starts
with nothing but the configuration's [database] url and one indexed query (reconciler.senders);
`list` and `export` are the policy commands' (cli/policy.py)."""

from __future__ import annotations

import argparse

from reconciler.cli.exits import EXIT_USAGE, print_notice
from reconciler.controls import dumps
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.senders import config_path, database_url, is_suppressed

__all__ = ["suppressions"]


def suppressions(args: argparse.Namespace) -> int:
    if args.action != "check":
        from reconciler.cli.policy import suppressions as listed

        return listed(args)
    if not args.address:
        raise ConfigError("suppressions check: give the ADDRESS to check")
    try:
        found = is_suppressed(args.address, database_url(config_path(args.config)))
    except ReconcilerError as err:
        # 1 means "not suppressed": a sender must not read "cannot tell" as that (grep's 2)
        print_notice(str(err))
        return EXIT_USAGE
    if args.json:
        print(dumps({"version": 1, "address": args.address, "suppressed": found}))
    else:
        print("suppressed" if found else "not suppressed")
    return 0 if found else 1
