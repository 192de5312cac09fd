"""A usage error as one line a person can act on, in 80 columns.

argparse answers a wrong command line with its usage (several lines at a wide terminal) and
`prog: error: message`, where the message lists every choice ("invalid choice: 'bogus'
(choose from 'classify', 'explain', ...)": 283 columns) or every missing argument.  Here the
same error is said in one line: what is wrong, the nearest choices when a word was mistyped,
and where the usage is (`--help`), cut to fit.  Imported only when a command line is wrong.
"""

from __future__ import annotations

import difflib
import re

__all__ = ["WIDTH", "usage_line"]

WIDTH = 80  # the line, "reconciler: " included
_PREFIX = "reconciler: "
_QUOTED = 30  # at most this much of a word the user typed is quoted back

# argparse's messages (Python 3.11 to 3.13 word them alike; the choices are quoted with
# repr() in some releases and bare in others)
_REQUIRED = re.compile(r"the following arguments are required: (?P<names>.+)")
_CHOICE = re.compile(
    r"argument (?P<arg>[^:]+): invalid choice: (?P<value>.+?) \(choose from (?P<choices>.*)\)"
)
_ARGUMENT = re.compile(r"argument (?P<arg>[^:]+): (?P<rest>.+)")
_UNRECOGNISED = re.compile(r"unrecognized arguments: (?P<words>.+)")


def usage_line(prog: str, message: str) -> str:
    """The text after "reconciler: " for argparse's `message` about the command line of
    `prog` ("reconciler", "reconciler verp make"); the whole line fits `WIDTH` columns."""
    command = prog.partition(" ")[2]
    lead = f"{command}: " if command else ""
    hint = f" ({prog} --help)"
    text = _said(message)
    room = WIDTH - len(_PREFIX) - len(lead)
    if len(text) + len(hint) <= room:
        return lead + text + hint
    return lead + (text if len(text) <= room else text[: room - 3].rstrip() + "...")


def _said(message: str) -> str:
    """argparse's message said shortly (a message of another shape: as it is)."""
    if found := _REQUIRED.fullmatch(message):
        return f"missing {found['names']}"
    if found := _CHOICE.fullmatch(message):
        return _choice(_name(found["arg"]), _unquoted(found["value"]), found["choices"])
    if found := _UNRECOGNISED.fullmatch(message):
        words = found["words"]
        return f"unknown argument{'s' if ' ' in words else ''}: {_cut(words)}"
    if found := _ARGUMENT.fullmatch(message):
        return f"{_name(found['arg'])}: {found['rest']}"
    return message


def _choice(arg: str, value: str, choices_text: str) -> str:
    """A word that is not one of the choices: the nearest choices by spelling, else all of
    them when they are few."""
    choices = [_unquoted(choice) for choice in choices_text.split(", ")]
    quoted = f"'{_cut(value)}'"  # (argparse quoted it with repr(): no second repr here)
    near = difflib.get_close_matches(value, choices, n=3, cutoff=0.6)
    kind = {"COMMAND": "command", "ACTION": "action"}.get(arg)
    # an option is named ("--format: 'x' is ..."); a positional is the command's word
    named = f"{arg}: " if arg.startswith("-") else ""
    said = f"no {kind} {quoted}" if kind else f"{named}{quoted} is not a choice"
    if near:
        return f"{said}; did you mean {' or '.join(near)}?"
    if len(choices) <= 4:
        listed = ", ".join(choices)
        return f"{said}; one of {listed}" if kind else f"{named}{quoted} is not one of {listed}"
    return said


def _name(arg: str) -> str:
    """An argument as argparse names it ("-j/--jobs"): its long option alone."""
    return arg.rsplit("/", maxsplit=1)[-1]


def _unquoted(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _cut(text: str) -> str:
    return text if len(text) <= _QUOTED else text[: _QUOTED - 3] + "..."
