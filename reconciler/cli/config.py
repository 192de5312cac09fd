"""`check-config`: validate the configuration and print it, secrets masked."""

from __future__ import annotations

import argparse

from reconciler.cli.common import EXIT_OK, settings
from reconciler.config import describe_settings

__all__ = ["check_config"]


def check_config(args: argparse.Namespace) -> int:
    loaded = settings(args, warn=False)  # describe_settings lists the warnings itself
    for key, value in describe_settings(loaded):
        print(f"{key} = {value}")
    print(f"ok: {loaded.source_path}")
    return EXIT_OK
