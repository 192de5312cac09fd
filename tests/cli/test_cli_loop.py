"""`review`, `rules suggest`, `rules replay` and `reclassify` through main(argv), as an operator
types them: 80 columns, one line per error, exit codes, nothing written without `--yes`.
(Events recorded by a real cycle on dovecot: tests/scenarios/test_operator_loop.py.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support import CORPUS, NOW

from reconciler.classify import shipped_rules_dir
from reconciler.cli import main
from reconciler.store import open_database

HELD = CORPUS / "lhost-trendmicro-03.eml"  # onhold with the shipped rules


def _write(tmp_path: Path, rules: Path | None, shipped: bool = True) -> Path:
    path = tmp_path / "reconciler.toml"
    text = f'[database]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
    if rules is not None:
        text += f'\n[rules]\ndir = "{rules}"\nuse_shipped = {str(shipped).lower()}\n'
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "80")
    rules = tmp_path / "rules"
    rules.mkdir()
    return _write(tmp_path, rules)


def _run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _fits(text: str) -> None:
    assert max(len(line) for line in text.splitlines()) <= 80, text


def test_suggest_from_a_file_shows_the_rule_and_saves_only_when_told(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = config.parent / "rules"
    code, out, err = _run(capsys, config, "rules", "suggest", str(HELD), "--reason", "suspend")
    assert (code, "reason: suspend" in out, list(rules.iterdir())) == (2, True, [])  # no tty
    assert err == "reconciler: confirmation needed and no terminal to ask on: add --yes\n"
    code, out, err = _run(capsys, config, "rules", "suggest", str(HELD), "--reason", "suspend",
                          "--yes")  # fmt: skip
    assert code == 0, err
    _fits(out)
    assert "reason: suspend" in out and "the example is decided by local-suspend-" in out
    assert "the new rule decides 0 event(s)" in out  # the store holds nothing yet
    assert sorted(p.suffix for p in rules.iterdir()) == [".eml", ".yaml"]
    assert (rules / next(p.name for p in rules.iterdir() if p.suffix == ".eml")).read_bytes() == (
        HELD.read_bytes()
    )
    code, out, err = _run(capsys, config, "rules", "suggest", str(HELD), "--reason", "suspend",
                          "--yes")  # fmt: skip
    assert code == 2 and "exists: choose another --id" in err  # the same example twice
    # the new rule is in force: no --reason needed (the example's verdict now); a rule file
    # that sorts after it is never reached by the example, one that sorts first is
    code, out, err = _run(capsys, config, "rules", "suggest", str(HELD), "--id", "zz-again",
                          "--yes")  # fmt: skip
    assert code == 2 and "decided by rule 'local-suspend-" in err
    code, out, err = _run(capsys, config, "rules", "suggest", str(HELD), "--id", "a-first",
                          "--yes", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["saved"] and (rules / "a-first.yaml").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rules", "suggest", str(HELD)], "the rules in force call the example onhold"),
        (["rules", "suggest", "12345", "--reason", "suspend"], "event 12345: no such event"),
        (["rules", "suggest", "missing.eml", "--reason", "suspend"], "missing.eml"),
        (["rules", "replay", "/nonexistent"], "/nonexistent is not a directory"),
        (["review", "--since", "yesterday"], "--since: 'yesterday' is not an ISO time"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(
    config: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = _run(capsys, config, *argv)
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_suggest_needs_an_operator_rules_dir_and_never_writes_the_shipped_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, _write(tmp_path, None), "rules", "suggest", str(HELD),
                        "--reason", "suspend", "--yes")  # fmt: skip
    assert code == 2 and "set [rules] dir in the configuration" in err
    before = sorted(p.name for p in shipped_rules_dir().iterdir())
    code, _, err = _run(capsys, _write(tmp_path, shipped_rules_dir(), False), "rules", "suggest",
                        str(HELD), "--reason", "suspend", "--yes")  # fmt: skip
    assert code == 2 and "is the shipped rules" in err
    assert sorted(p.name for p in shipped_rules_dir().iterdir()) == before


def test_review_replay_and_reclassify_on_an_empty_store(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["review"], ["rules", "replay"], ["review", "show", "1"]):  # read-only
        code, _, err = _run(capsys, config, *command)
        assert code == 1 and err.startswith("reconciler: no database at "), (command, err)
    assert not (config.parent / "state.db").exists()
    with open_database(f"sqlite:///{config.parent / 'state.db'}") as store:
        store.migrate(NOW)  # what the first `poll --once` leaves: a store with nothing in it
    code, out, _ = _run(capsys, config, "review")
    assert code == 0 and "nothing to review" in out
    _fits(out)
    code, out, _ = _run(capsys, config, "review", "--kind", "quarantined", "--json")
    assert json.loads(out)["totals"] == {"quarantined": 0}
    code, out, _ = _run(capsys, config, "rules", "replay", str(config.parent / "rules"))
    assert code == 0 and "verdicts that change: 0" in out
    _fits(out)
    code, out, _ = _run(capsys, config, "reclassify", "--since", "30d")
    assert code == 0 and "nothing written: add --apply" in out
    _fits(out)
    code, out, _ = _run(capsys, config, "reclassify", "--apply", "--json")
    assert code == 0 and json.loads(out)["written"] == 0  # nothing changes: nothing to confirm


def test_a_rules_dir_copy_replays_in_place_of_the_operators(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rules replay DIR` reads DIR in place of `[rules] dir`, the shipped rules after."""
    with open_database(f"sqlite:///{config.parent / 'state.db'}") as store:
        store.migrate(NOW)
    candidate = tmp_path / "candidate"
    shutil.copytree(config.parent / "rules", candidate)
    (candidate / "site.yaml").write_text(
        "rules:\n  - id: site-x\n    description: x\n    match: {diagnostic: [x]}\n"
        "    reason: suspend\n",
        encoding="utf-8",
    )
    code, out, _ = _run(capsys, config, "rules", "replay", str(candidate), "--json")
    files = json.loads(out)["files"]
    assert code == 0 and files[0] == str(candidate / "site.yaml") and len(files) > 1
