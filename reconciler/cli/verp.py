"""`verp make` and `verp check`: signed return paths from the configured keys."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from reconciler.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, print_notice, settings
from reconciler.errors import ConfigError
from reconciler.settings import VerpFormat, VerpSettings
from reconciler.verp import binds, check_address, describe_match, make_address

__all__ = ["check", "make"]


def _verp_settings(args: argparse.Namespace) -> VerpSettings:
    verp = settings(args).verp
    if verp is None:
        raise ConfigError("no [verp] section in the configuration")
    return verp


def make(args: argparse.Namespace) -> int:
    verp = _verp_settings(args)
    if args.format is not None:
        verp = dataclasses.replace(verp, format=VerpFormat(args.format))
    now = args.time if args.time is not None else int(time.time())
    if args.address is None and not args.unbound and verp.format is VerpFormat.NATIVE:
        print("reconciler: verp make: give --address (the recipient) or --unbound", file=sys.stderr)
        return EXIT_USAGE
    try:
        address = make_address(
            verp, user_id=args.user, address=args.address, realm=args.realm,
            message_id=args.message_id, now=now,
        )  # fmt: skip
    except ValueError as err:
        print_notice(str(err))
        return EXIT_USAGE
    print(address)
    return EXIT_OK


def check(args: argparse.Namespace) -> int:
    verp = _verp_settings(args)
    now = args.time if args.time is not None else int(time.time())
    match = check_address(verp, args.address, now)
    for key, value in describe_match(match):
        print(f"{key}: {value}")
    if args.recipient is None or not match.valid:
        return EXIT_OK if match.valid else EXIT_FAIL
    bound = binds(verp, match, args.recipient)
    verdict = {True: "bound", False: "address-mismatch", None: "cannot tell (nothing bound)"}
    print(f"recipient {args.recipient}: {verdict[bound]}")
    return EXIT_FAIL if bound is False else EXIT_OK
