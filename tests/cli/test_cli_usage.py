"""A wrong command line is one line on stderr that fits 80 columns, says what is wrong and
where the usage is, and exits 2 (docs/cli.md): for every command and action of the real
parser, walked here, not listed by hand."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from reconciler.cli import _parser, main
from reconciler.cli.usage import WIDTH, usage_line

USAGE = 2


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the command line with the words that reach it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


ALL = list(_commands(_parser()))
LEAVES = [(path, p) for path, p in ALL if not any(
    isinstance(a, argparse._SubParsersAction) for a in p._actions)]  # fmt: skip
GROUPS = [path for path, p in ALL if (path, p) not in LEAVES]
CHOICES = [
    (path, action)
    for path, p in LEAVES
    for action in p._actions
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction)
]


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one line a wrong command line prints (exit 2, nothing on stdout)."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    line = err[:-1]
    assert line.startswith("reconciler: ")
    assert len(line) <= WIDTH, line
    return line


def test_the_walk_found_every_command() -> None:
    names = {path[0] for path, _ in ALL if path}
    assert {"classify", "report", "verp", "suppressions", "mode", "reinstate"} <= names
    assert ("verp", "make") in [path for path, _ in LEAVES]
    assert ("mode",) in [path for path, _ in CHOICES]


@pytest.mark.parametrize("path", [path for path, _ in LEAVES], ids=" ".join)
def test_an_unknown_option_of_any_command(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    line = _error([*path, "--no-such-option"], capsys)
    # (argparse tells missing required arguments before unrecognised ones)
    assert "unknown argument: --no-such-option" in line or ": missing " in line
    # the command is named: the whole path, or its first word for what the top-level parser
    # found unrecognised
    assert line.startswith((f"reconciler: {' '.join(path)}: ", f"reconciler: {path[0]}: "))


@pytest.mark.parametrize("path", GROUPS, ids=lambda p: " ".join(p) or "top")
def test_an_unknown_action_or_command(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    line = _error([*path, "zzzz"], capsys)
    assert f"no {'action' if path else 'command'} 'zzzz'" in line


@pytest.mark.parametrize(
    ("path", "action"),
    CHOICES,
    ids=[" ".join([*path, *action.option_strings[-1:]]) for path, action in CHOICES],
)
def test_a_value_that_is_not_a_choice(
    path: tuple[str, ...], action: argparse.Action, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*path, *action.option_strings[-1:], "zzzz"]
    line = _error(argv, capsys)
    assert "'zzzz' is not" in line
    if action.option_strings:
        assert f"{action.option_strings[-1]}: 'zzzz'" in line


def test_a_mistyped_command_gets_the_nearest(capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(["clasify", "x.eml"], capsys)
    assert line == "reconciler: no command 'clasify'; did you mean classify or reclassify?"


def test_missing_arguments_are_named_with_the_help_to_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = _error(["reinstate"], capsys)
    assert line == "reconciler: reinstate: missing target, --reason (reconciler reinstate --help)"
    assert _error([], capsys) == "reconciler: missing COMMAND (reconciler --help)"


def test_few_choices_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    # (the pointer to --help is left out when the line would not fit)
    assert _error(["mode", "bogus"], capsys) == (
        "reconciler: mode: 'bogus' is not one of enforce, log-only"
    )


def test_a_bad_value_keeps_the_types_own_words(capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(["classify", "--jobs", "x", "a.eml"], capsys)
    assert line.startswith("reconciler: classify: --jobs: expected a whole number")


def test_what_the_user_typed_is_cut_and_shown_not_obeyed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = _error(["bogus\x1b[2J" + "x" * 200], capsys)
    assert "\x1b" not in line
    assert "bogus\\x1b[2J" in line
    assert "x" * 40 not in line


@pytest.mark.parametrize(
    "message",
    [
        # Python 3.11 quotes the choices with repr(); later releases may not
        "argument COMMAND: invalid choice: 'bogus' (choose from 'a', 'b')",
        "argument COMMAND: invalid choice: 'bogus' (choose from a, b)",
        "argument COMMAND: invalid choice: bogus (choose from a, b)",
    ],
)
def test_choice_messages_of_either_quoting(message: str) -> None:
    said = "no command 'bogus'; one of a, b (reconciler --help)"
    assert usage_line("reconciler", message) == said


@pytest.mark.parametrize(
    "message",
    [
        "the following arguments are required: " + ", ".join(f"--opt{i}" for i in range(30)),
        "argument --x: " + "word " * 40,
        "some message argparse may word in a later release " * 3,
        "unrecognized arguments: " + "--y " * 50,
    ],
)
def test_every_line_fits(message: str) -> None:
    for prog in ("reconciler", "reconciler verp make", "reconciler check-config"):
        line = "reconciler: " + usage_line(prog, message)
        assert len(line) <= WIDTH
        assert line.endswith(("...", ")")) or len(line) < WIDTH
