"""`check-config`: validate the configuration, every mistake at once; a summary, or every key.

Every problem found is one line on stderr (exit 2).  A valid file gives a short summary of
what will run (`--all`: every effective key, secrets hidden; `--json`: the same as an object).
"""

from __future__ import annotations

import argparse

from reconciler.cli.common import EXIT_OK, settings
from reconciler.config import describe_settings, summarise_settings
from reconciler.controls import dumps

__all__ = ["check_config"]

_NOT_KEYS = ("file", "warning")  # lines of describe_settings that are not settings


def check_config(args: argparse.Namespace) -> int:
    loaded = settings(args, warn=False)  # the summary and describe_settings list the warnings
    if args.json:
        shape = {
            "version": 1,
            "ok": True,
            "file": str(loaded.source_path),
            "settings": {k: v for k, v in describe_settings(loaded) if k not in _NOT_KEYS},
            "warnings": list(loaded.warnings),
        }
        print(dumps(shape, indent=2))
        return EXIT_OK
    if args.all:
        for key, value in describe_settings(loaded):
            print(f"{key} = {value}")
    else:
        for line in summarise_settings(loaded):
            print(line)
    print(f"ok: {loaded.source_path}")
    return EXIT_OK
