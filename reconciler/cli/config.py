"""`check-config`: validate the configuration, every mistake at once; a summary, or every key.

Every problem found is one line on stderr (exit 2); so is a rule file of `[rules] dir` (or
a shipped one) that does not load, as the daemon would find it when it starts.  A valid file
gives a short summary of what will run (`--all`: every effective key, secrets hidden;
`--json`: the same as an object), each line fitted to the terminal's width: a long one goes
on, indented, on the next line, broken between words only (a path or an address is never
split); the last line, `ok: FILE`, stays one line.
"""

from __future__ import annotations

import argparse
import textwrap

from reconciler.classify.rules import load_rules
from reconciler.cli.common import EXIT_OK, settings
from reconciler.cli.exits import terminal_columns
from reconciler.config import describe_settings, summarise_settings
from reconciler.controls import dumps

__all__ = ["check_config"]

_NOT_KEYS = ("file", "warning")  # lines of describe_settings that are not settings


def check_config(args: argparse.Namespace) -> int:
    loaded = settings(args, warn=False)  # the summary and describe_settings list the warnings
    # the rules the daemon would load with it: a rule file it cannot load is a mistake in the
    # configuration's reach (RuleError: one line, exit 2), found here and not at the next start
    load_rules(loaded.rules.dir, use_shipped=loaded.rules.use_shipped)
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
        lines = [f"{key} = {value}" for key, value in describe_settings(loaded)]
    else:
        lines = summarise_settings(loaded)
    width = terminal_columns()
    for line in lines:
        print(_fitted(line, width))
    print(f"ok: {loaded.source_path}")  # one line, whatever its length: what scripts look for
    return EXIT_OK


def _fitted(line: str, width: int) -> str:
    """The line in lines of at most `width` columns, the rest indented, broken between words;
    as it is when it fits, or when one of its words could not fit even on a line of its own
    (breaking it would only make a second long line)."""
    if len(line) <= width or max(map(len, line.split())) > width - len(_INDENT):
        return line
    parts = textwrap.wrap(
        line, width, subsequent_indent=_INDENT, break_long_words=False, break_on_hyphens=False
    )
    return "\n".join(parts)


_INDENT = "    "
