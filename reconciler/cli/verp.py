"""`verp make` and `verp check`: signed return paths from the configured keys.

They read the `[verp]` section and its keys only: no mailbox password, no database.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from reconciler.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, Secrets, print_notice, settings
from reconciler.controls import dumps
from reconciler.errors import ConfigError
from reconciler.report.results import verp_json
from reconciler.settings import VerpFormat, VerpSettings
from reconciler.verp import binds, check_address, describe_match, make_address

__all__ = ["check", "make"]

_BOUND = {True: "bound", False: "address-mismatch", None: "cannot tell (nothing bound)"}


def _verp_settings(args: argparse.Namespace) -> VerpSettings:
    loaded = settings(args, secrets={Secrets.VERP})
    if loaded.verp is None:
        raise ConfigError(f"{loaded.source_path}: no [verp] section in the configuration")
    return loaded.verp


def make(args: argparse.Namespace) -> int:
    verp = _verp_settings(args)
    if args.format is not None:
        verp = dataclasses.replace(verp, format=VerpFormat(args.format))
    now = args.time if args.time is not None else int(time.time())
    if args.address is None and not args.unbound and verp.format is VerpFormat.NATIVE:
        print_notice("verp make: give --address (the recipient) or --unbound")
        return EXIT_USAGE
    try:
        address = make_address(
            verp, user_id=args.user, address=args.address, realm=args.realm,
            message_id=args.message_id, now=now,
        )  # fmt: skip
    except ValueError as err:
        print_notice(str(err))
        return EXIT_USAGE
    print(dumps({"version": 1, "address": address}) if args.json else address)
    return EXIT_OK


def check(args: argparse.Namespace) -> int:
    verp = _verp_settings(args)
    now = args.time if args.time is not None else int(time.time())
    match = check_address(verp, args.address, now)
    bound = None
    if args.recipient is not None and match.valid:
        bound = binds(verp, match, args.recipient)
    if args.json:
        verdict = _BOUND[bound] if args.recipient is not None and match.valid else None
        print(dumps({"version": 1, **(verp_json(match) or {}), "recipient": verdict}, indent=2))
    else:
        for key, value in describe_match(match):
            print(f"{key}: {value}")
        if args.recipient is not None and match.valid:
            print(f"recipient {args.recipient}: {_BOUND[bound]}")
    if not match.valid:
        return EXIT_FAIL
    return EXIT_FAIL if bound is False else EXIT_OK
