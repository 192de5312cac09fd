"""The parser a person meets first: every command's --help says what it does and what each
argument is, --config goes before or after the command, --json is on every command that
prints a result, and `poll` alone says what it needs."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from reconciler.cli import _parser, main

# Commands without --json, and why (docs/cli.md says the same).
NO_JSON = {
    "run": "the daemon prints no result: its log is the output ([logging] format = json)",
}


def _leaves(
    parser: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (command words, parser) down the tree; groups (`rules`, `verp`) and leaves."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*words, name), sub
                yield from _leaves(sub, (*words, name))


def _is_leaf(parser: argparse.ArgumentParser) -> bool:
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


COMMANDS = list(_leaves(_parser()))


@pytest.mark.parametrize(("words", "parser"), COMMANDS, ids=[" ".join(w) for w, _ in COMMANDS])
def test_every_command_has_a_description_and_every_argument_a_help(
    words: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    assert parser.description, f"reconciler {' '.join(words)} --help has no description"
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        assert action.help, f"reconciler {' '.join(words)}: {action.dest} has no help text"


def test_the_help_of_a_command_shows_its_description(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["dry-run", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "read-only preview of what the next cycle would record" in out
    assert "--config CONFIG" in out and "--json" in out


@pytest.mark.parametrize(("words", "parser"), [(w, p) for w, p in COMMANDS if _is_leaf(p)],
                         ids=[" ".join(w) for w, p in COMMANDS if _is_leaf(p)])  # fmt: skip
def test_every_command_that_prints_a_result_has_json(
    words: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    options = {o for a in parser._actions for o in a.option_strings}
    if " ".join(words) in NO_JSON:
        assert "--json" not in options
        return
    assert "--json" in options, f"reconciler {' '.join(words)} has no --json"


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "a.toml", "report"],
        ["report", "--config", "a.toml"],
        ["rules", "check", "--config", "a.toml"],
        ["verp", "check", "x@y", "--config", "a.toml"],
    ],
)
def test_config_is_accepted_before_and_after_the_command(argv: list[str]) -> None:
    assert _parser().parse_args(argv).config == "a.toml"


def test_config_after_the_command_wins_over_none_before() -> None:
    assert _parser().parse_args(["report"]).config is None
    assert _parser().parse_args(["--config", "a", "report", "--config", "b"]).config == "b"


def test_poll_alone_says_that_it_needs_once(
    capsys: pytest.CaptureFixture[str], tmp_path: pytest.TempPathFactory
) -> None:
    assert main(["--config", "/nonexistent.toml", "poll"]) == 2  # before any configuration
    (line,) = capsys.readouterr().err.splitlines()
    assert "--once" in line and "reconciler run" in line
