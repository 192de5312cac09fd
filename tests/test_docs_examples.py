"""The docs and contrib/ are executed or checked, so that they cannot drift from the code
(STYLE 2.19).

* every ```python block of docs/*.md runs (the blocks assert their own results);
* contrib/sender/send_with_verp.py makes a return path that verifies, and hands it to SMTP as
  the envelope sender (a stand-in SMTP object: nothing is sent);
* every `reconciler SUBCOMMAND ...` written in code in the docs, the README, contrib/ and
  config.example.toml exists in the CLI parser (down to nested actions and fixed choices);
* every configuration key the docs name (`[section] key`, `section.key`, and the key tables
  of docs/configuration.md) exists in config.example.toml;
* the systemd unit passes `systemd-analyze verify` (skipped, with the reason, when the tool is
  missing), the dovecot snippet passes `doveconf` (likewise), and the Postfix and Exim
  snippets have the shape their parsers expect and agree with config.example.toml.

A name written as `` `name` (in progress) `` is allowed to be missing, and the test fails
once it exists, so that the note is removed when the feature lands.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from reconciler import verp
from reconciler.cli import _parser
from reconciler.config import VerpKey
from reconciler.verp import check_address

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONTRIB = ROOT / "contrib"
EXAMPLE = ROOT / "config.example.toml"
IN_PROGRESS = "(in progress)"

# Known mistakes in files this test does not own; strict, so each one fails loudly once fixed.
KNOWN_WRONG_COMMANDS: dict[tuple[str, str], str] = {}  # (file, command words) -> why


# -- reading the docs ------------------------------------------------------------------------


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


CHANGES = ROOT / "changes"


def _markdown_files() -> list[Path]:
    return [
        *sorted(DOCS.glob("*.md")),
        ROOT / "README.md",
        *sorted(CONTRIB.rglob("*.md")),
        *sorted(CHANGES.glob("*.md")),
    ]


_FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _python_blocks() -> list[tuple[str, int, str]]:
    """(file, line, code) of every ```python block in docs/*.md."""
    found = []
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text("utf-8")
        for m in _FENCE.finditer(text):
            if m.group(1) == "python":
                found.append((_rel(path), text.count("\n", 0, m.start()) + 1, m.group(2)))
    return found


@dataclass(frozen=True)
class Snippet:
    """A piece of code in a document: a fenced or indented block, an inline span or a line."""

    file: str
    line: int
    text: str
    marked_in_progress: bool = False
    in_table: bool = False  # an inline span in a table row


def _code_snippets(path: Path) -> Iterator[Snippet]:
    """The code of a markdown file: fenced blocks, indented blocks and inline spans."""
    text = path.read_text("utf-8")
    name = _rel(path)
    for m in _FENCE.finditer(text):
        for offset, line in enumerate(m.group(2).splitlines(), start=1):
            yield Snippet(name, text.count("\n", 0, m.start()) + 1 + offset, line)
    prose = _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    previous_blank, in_block = True, False
    for number, line in enumerate(prose.splitlines(), start=1):
        if line.startswith("    ") and (previous_blank or in_block):
            in_block = True
            yield Snippet(name, number, line.strip())
        elif line.strip():
            in_block = False
        previous_blank = not line.strip()
    lines = prose.splitlines()
    for m in re.finditer(r"`([^`]+)`(\s*\(in progress\))?", prose):
        line = prose.count("\n", 0, m.start()) + 1
        table_row = lines[line - 1].startswith("|")
        yield Snippet(name, line, " ".join(m.group(1).split()), bool(m.group(2)), table_row)


def _plain_snippets(path: Path) -> Iterator[Snippet]:
    """Config files and scripts: every line that is not a comment, and `code` in comments
    (comment prose such as "the reconciler logs in" is not a command)."""
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        code, hash_, comment = line.partition("#")
        if code.strip():
            yield Snippet(_rel(path), number, code)
        for m in re.finditer(r"`([^`]+)`(\s*\(in progress\))?", hash_ + comment):
            yield Snippet(_rel(path), number, m.group(1), bool(m.group(2)))


def _all_snippets() -> list[Snippet]:
    snippets = [s for path in _markdown_files() for s in _code_snippets(path)]
    # contrib's Python is executed below instead: its docstrings are prose
    plain = [EXAMPLE, *sorted(p for p in CONTRIB.rglob("*") if p.suffix not in {".md", ".py"})]
    plain = [p for p in plain if p.is_file()]
    snippets += [s for path in plain for s in _plain_snippets(path)]
    return snippets


# -- (a) the Python examples run -------------------------------------------------------------


def test_the_docs_have_python_examples() -> None:
    files = {file for file, _, _ in _python_blocks()}
    assert {"docs/concepts.md", "docs/verp.md"} <= files


@pytest.mark.parametrize(
    "block", _python_blocks(), ids=[f"{f}:{line}" for f, line, _ in _python_blocks()]
)
def test_python_block_runs(block: tuple[str, int, str]) -> None:
    file, line, code = block
    namespace: dict[str, object] = {"__name__": f"docs_example_{line}"}
    exec(compile("\n" * (line) + code, file, "exec"), namespace)  # the blocks assert results


def _load_sender() -> ModuleType:
    path = CONTRIB / "sender" / "send_with_verp.py"
    spec = importlib.util.spec_from_file_location("send_with_verp", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # importing it must not send or read anything
    return module


def test_sender_example_makes_a_return_path_that_verifies() -> None:
    sender = _load_sender()
    settings = sender.verp_settings("bounces.example.org", "a", b"a secret of 16+ bytes!")
    message = sender.build_message(
        "wiki@example.org", "kim@example.net", "Hello", "Body\n", "example.org"
    )
    path = sender.return_path_for(settings, message, 12345, "enwiki", 1_800_000_000)
    assert path.startswith("bounces+a") and path.endswith(".enwiki@bounces.example.org")
    match = check_address(settings, path, now=1_800_000_060)
    assert match.valid and match.user_id == 12345 and match.realm == "enwiki"
    assert match.send_ref  # the Message-ID was signed into the token
    assert verp.binds(settings, match, "kim@example.net") is True  # and the recipient
    assert verp.binds(settings, match, "victim@example.net") is False


class _FakeSmtp:
    def __init__(self, host: str, port: int) -> None:
        self.where = (host, port)
        self.sent: list[tuple[str, str | None, list[str]]] = []
        self.quitted = False

    def send_message(
        self, msg: object, from_addr: str | None = None, to_addrs: list[str] | None = None
    ) -> dict[str, object]:
        self.sent.append((str(msg), from_addr, list(to_addrs or [])))
        return {}

    def quit(self) -> None:
        self.quitted = True


def test_sender_example_uses_the_verp_address_as_envelope_sender(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sender = _load_sender()
    made: list[_FakeSmtp] = []

    def connect(host: str, port: int) -> _FakeSmtp:
        made.append(_FakeSmtp(host, port))
        return made[-1]

    argv = [
        *("--user", "42", "--realm", "enwiki", "--to", "kim@example.net"),
        *("--from", "wiki@example.org", "--domain", "bounces.example.org"),
        *("--smtp", "mx.example.org:2525"),
    ]
    environ = {"RECONCILER_VERP_KEY": "a secret of 16+ bytes!"}
    assert sender.main(argv, environ=environ, connect=connect) == 0
    (smtp,) = made
    assert smtp.where == ("mx.example.org", 2525) and smtp.quitted
    ((text, envelope_from, rcpts),) = smtp.sent
    assert rcpts == ["kim@example.net"]
    assert envelope_from is not None and "From: wiki@example.org" in text
    settings = sender.verp_settings(
        "bounces.example.org", "a", environ["RECONCILER_VERP_KEY"].encode()
    )
    assert settings.keys == (VerpKey("a", b"a secret of 16+ bytes!"),)
    match = check_address(settings, envelope_from, now=int(time.time()))
    assert match.valid and match.user_id == 42
    assert envelope_from in capsys.readouterr().out


# -- (b) every command written in the docs exists --------------------------------------------

_COMMAND = re.compile(r"(?:^|(?<=[\s`(/$]))reconciler((?:[ \t]+\S+)*)")


def _command_words(rest: str) -> list[str]:
    """The subcommand words after `reconciler`: global options skipped, stop at the first
    option, placeholder or argument that is not a plain lower-case word."""
    tokens = rest.split()
    words: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i].strip("`'\".,;:)")
        if token == "reconciler":  # "sudo -u reconciler reconciler mode": the second one
            words, i = [], i + 1
            continue
        if not words and token == "--config":
            i += 2
            continue
        if not re.fullmatch(r"[a-z][a-z-]*", token):
            break
        words.append(token)
        i += 1
    return words


@dataclass(frozen=True)
class Mention:
    file: str
    line: int
    words: tuple[str, ...]
    marked_in_progress: bool

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}:{' '.join(self.words)}"


def _mentions() -> list[Mention]:
    found: dict[str, Mention] = {}
    for snippet in _all_snippets():
        for m in _COMMAND.finditer(snippet.text):
            words = _command_words(m.group(1))
            if words:
                mention = Mention(
                    snippet.file, snippet.line, tuple(words), snippet.marked_in_progress
                )
                found.setdefault(mention.id, mention)
    return list(found.values())


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return None


def _first_choices(parser: argparse.ArgumentParser) -> list[str] | None:
    """The fixed choices of the first positional argument, if it has any."""
    for action in parser._actions:
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction):
            return [str(c) for c in action.choices] if action.choices else None
    return None


def _problem(words: tuple[str, ...]) -> str | None:
    """Why `reconciler WORDS` is not a command of the parser (None when it is)."""
    parser: argparse.ArgumentParser = _parser()
    for depth, word in enumerate(words):
        subs = _subparsers(parser)
        if subs is not None:
            if word not in subs:
                return f"{word!r} is not one of {sorted(subs)}"
            parser = subs[word]
            continue
        if depth == 0:
            return "the parser has no subcommands"
        choices = _first_choices(parser)
        if choices is not None and word not in choices:
            return f"{word!r} is not one of {choices}"
        return None  # a free argument (a path, an address, ...)
    return None


MENTIONS = _mentions()


def test_the_docs_mention_commands() -> None:
    words = {m.words[0] for m in MENTIONS}
    assert {"run", "dry-run", "mode", "undo", "reinstate", "check-config", "explain"} <= words


@pytest.mark.parametrize(
    "mention",
    [
        pytest.param(m, marks=pytest.mark.xfail(strict=True, reason=KNOWN_WRONG_COMMANDS[key]))
        if (key := (m.file, " ".join(m.words[:2]))) in KNOWN_WRONG_COMMANDS
        or (key := (m.file, m.words[0])) in KNOWN_WRONG_COMMANDS
        else m
        for m in MENTIONS
    ],
    ids=[m.id for m in MENTIONS],
)
def test_documented_command_exists(mention: Mention) -> None:
    problem = _problem(mention.words)
    if mention.marked_in_progress:
        assert problem is not None, (
            f"`reconciler {' '.join(mention.words)}` exists now: remove its (in progress) note"
        )
        return
    assert problem is None, f"reconciler {' '.join(mention.words)}: {problem}"


# -- (c) every configuration key written in the docs exists ----------------------------------

_TABLE = re.compile(r"^\[\[?([a-z_.]+)\]\]?")
_KEY = re.compile(r"^([a-z_]+)\s*=")


def _example_keys() -> set[tuple[str, str]]:
    """(table, key) of config.example.toml, commented-out tables and keys included."""
    keys: set[tuple[str, str]] = set()
    table = ""
    for raw in EXAMPLE.read_text("utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#"):
            line = line.lstrip("#").strip()
        if m := _TABLE.match(line):
            table = m.group(1)
        elif (m := _KEY.match(line)) and not raw.startswith(" "):
            keys.add((table, m.group(1)))
    return keys


def _top_tables() -> set[str]:
    return {t.split(".")[0] for t, _ in _example_keys()}


_SUFFIXES = frozenset({"md", "py", "toml", "yaml", "service", "conf", "cf"})


def _doc_key_mentions() -> list[tuple[str, int, str, str, bool]]:
    """(file, line, table, key, marked in progress) named in the docs' inline code."""
    tops = _top_tables()
    found = []
    for path in _markdown_files():
        for s in _code_snippets(path):
            text = s.text.split("=")[0].strip() if "=" in s.text else s.text
            m = re.fullmatch(r"\[\[?([a-z_.]+)\]\]?\s+([a-z_]+)", text)
            if m is None and not s.in_table:
                # `verp.accept_days` in prose; table cells (JSON fields) and file names are not keys
                m = re.fullmatch(r"([a-z_]+(?:\.[a-z_]+)*)\.([a-z_]+)", text)
                if m and (m.group(1).split(".")[0] not in tops or m.group(2) in _SUFFIXES):
                    m = None
            if m is not None:
                found.append((s.file, s.line, m.group(1), m.group(2), s.marked_in_progress))
    return found


def _configuration_tables() -> list[tuple[int, str, str]]:
    """(line, table, key) of every row of the key tables in docs/configuration.md."""
    rows = []
    table = None
    text = (DOCS / "configuration.md").read_text("utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#"):
            m = re.match(r"#+ `\[\[?([a-z_.]+)\]\]?`", line)
            table = m.group(1) if m else None
            continue
        if table is None or not line.startswith("| `"):
            continue
        first = line.split("|")[1]
        sub = re.match(r"\s*`\[([a-z_.]+)\]`", first)
        row_table = sub.group(1) if sub else table
        names = re.findall(r"`([a-z_]+)`", first[sub.end() :] if sub else first)
        rows.extend((number, row_table, name) for name in names)
    return rows


def test_the_docs_mention_config_keys() -> None:
    tables = {t for _, t, _ in _configuration_tables()}
    assert {"mailbox", "database", "verp", "policy.hard", "actions.webhook"} <= tables
    assert len(_doc_key_mentions()) >= 10


@pytest.mark.parametrize(
    "mention",
    _doc_key_mentions(),
    ids=[f"{f}:{n}:[{t}] {k}" for f, n, t, k, _ in _doc_key_mentions()],
)
def test_documented_key_exists(mention: tuple[str, int, str, str, bool]) -> None:
    file, line, table, key, in_progress = mention
    exists = (table, key) in _example_keys()
    if in_progress:
        assert not exists, f"{file}:{line}: [{table}] {key} exists now: remove (in progress)"
    else:
        assert exists, f"{file}:{line}: [{table}] {key} is not in config.example.toml"


@pytest.mark.parametrize(
    "row", _configuration_tables(), ids=[f"[{t}] {k}" for _, t, k in _configuration_tables()]
)
def test_configuration_md_key_exists(row: tuple[int, str, str]) -> None:
    line, table, key = row
    assert (table, key) in _example_keys(), f"docs/configuration.md:{line}: [{table}] {key}"


def test_the_example_config_parses() -> None:
    tomllib.loads(EXAMPLE.read_text("utf-8"))  # the key scanner above reads a valid file


# -- (d) contrib: systemd, dovecot, Postfix, Exim --------------------------------------------

UNIT = CONTRIB / "systemd" / "reconciler.service"


def _unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text("utf-8").splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_systemd_unit_has_the_sandbox() -> None:
    s = _unit_settings()
    for key, value in {
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "SystemCallFilter": "@system-service",
        "StateDirectory": "reconciler",
        "SyslogIdentifier": "reconciler",
        "User": "reconciler",
    }.items():
        assert value in s.get(key, []), f"{key}={value}"
    assert set(s["RestrictAddressFamilies"][0].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert "/var/lib/reconciler" in s["ReadWritePaths"]
    assert s["ExecStart"][0].split()[-1] == "run"


def test_systemd_credentials_match_the_config_paths() -> None:
    """Every /run/credentials/reconciler.service/NAME in the docs is loaded by the unit."""
    loaded = {v.split(":")[0] for v in _unit_settings()["LoadCredential"]}
    texts = [UNIT.read_text("utf-8"), (CONTRIB / "systemd" / "README.md").read_text("utf-8")]
    named = {
        n for t in texts for n in re.findall(r"/run/credentials/reconciler\.service/([\w-]+)", t)
    }
    assert named and named <= loaded, named - loaded


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the systemd unit was not verified")
    script = Path(sys.executable).parent / "reconciler"
    if not script.exists():
        pytest.skip(f"no console script at {script} to stand in for ExecStart's binary")
    unit = tmp_path / "reconciler.service"
    unit.write_text(UNIT.read_text("utf-8").replace("/usr/local/bin/reconciler", str(script)))
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    about_unit = [ln for ln in done.stderr.splitlines() if "reconciler.service" in ln]
    assert done.returncode == 0 and not about_unit, done.stderr


def test_dovecot_snippet_parses(tmp_path: Path) -> None:
    doveconf = shutil.which("doveconf")
    if doveconf is None:
        pytest.skip("doveconf is not installed: contrib/dovecot/reconciler-lmtp.conf unchecked")
    conf = tmp_path / "dovecot.conf"
    snippet = CONTRIB / "dovecot" / "reconciler-lmtp.conf"
    conf.write_text(f"protocols = imap\nbase_dir = {tmp_path}/run\n!include {snippet}\n")
    done = subprocess.run(
        [doveconf, "-c", str(conf), "-n"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "lmtp" in done.stdout and "/var/spool/postfix/private/dovecot-lmtp" in done.stdout


def _verp_example() -> dict[str, object]:
    verp = tomllib.loads(EXAMPLE.read_text("utf-8"))["verp"]
    assert isinstance(verp, dict)
    return verp


def _postfix_main() -> dict[str, str]:
    params: dict[str, str] = {}
    last = None
    for line in (CONTRIB / "postfix" / "main.cf").read_text("utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace():  # a continuation line
            assert last is not None, line
            params[last] += " " + line.strip()
            continue
        m = re.fullmatch(r"([a-z][a-z0-9_]*) = (\S.*)", line)
        assert m, f"main.cf: not 'name = value': {line!r}"
        last = m.group(1)
        params[last] = m.group(2)
    return params


def _postfix_map(name: str) -> dict[str, str]:
    entries = {}
    for line in (CONTRIB / "postfix" / name).read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split(maxsplit=1)  # "key whitespace value"
            entries[key] = value.strip()
    return entries


def _postfix_master() -> dict[str, tuple[list[str], str]]:
    services: dict[str, tuple[list[str], str]] = {}
    last = None
    for line in (CONTRIB / "postfix" / "master.cf").read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line[0].isspace():
            assert last is not None
            fields, args = services[last]
            services[last] = (fields, f"{args} {line.strip()}".strip())
            continue
        fields = line.split()
        assert len(fields) >= 8, f"master.cf: 8 fields expected: {line!r}"
        name, kind, private, unpriv, chroot, wakeup, maxproc = fields[:7]
        assert kind in {"unix", "inet", "fifo", "pass", "unix-dgram"}
        assert {private, unpriv, chroot} <= {"y", "n", "-"}
        assert re.fullmatch(r"-|\d+\??", wakeup) and re.fullmatch(r"-|\d+", maxproc)
        services[name] = (fields, " ".join(fields[8:]))
        last = name
    return services


def test_postfix_snippets_agree_with_the_example_config() -> None:
    main = _postfix_main()
    verp = _verp_example()
    assert main["recipient_delimiter"] == verp["separator"]
    assert main["virtual_mailbox_domains"] == verp["domain"]
    mailboxes = _postfix_map("reconciler-mailboxes")
    assert f"{verp['prefix']}@{verp['domain']}" in mailboxes
    for name in ("virtual_mailbox_maps", "transport_maps"):
        table, _, file = main[name].partition(":")
        assert table == "hash" and (CONTRIB / "postfix" / Path(file).name).exists()


def test_postfix_transports_exist_and_keep_the_token_intact() -> None:
    services = _postfix_master()
    transports = _postfix_map("reconciler-transport")
    assert transports[str(_verp_example()["domain"])].startswith("lmtp:unix:private/")
    text = (CONTRIB / "postfix" / "reconciler-transport").read_text("utf-8")
    for alternative in re.findall(r"^#\s*\S+\s+([a-z-]+):\s*$", text, flags=re.MULTILINE):
        assert alternative in services, f"transport {alternative}: not defined in master.cf"
    fields, args = services["dovecot"]
    assert fields[7] == "pipe"
    flags = re.search(r"flags=(\S+)", args)
    assert flags and set(flags.group(1)) <= set("BDFORXhqu.>")
    assert "u" not in flags.group(1), "the u flag lower-cases the token's local part"
    assert "-a ${recipient}" in args or "-a ${original_recipient}" in args
    limit = _postfix_main()["dovecot_destination_recipient_limit"]
    assert limit == "1"


def _exim_blocks(name: str) -> dict[str, dict[str, str]]:
    """Exim driver instances: `name:` then `option = value` or boolean option lines."""
    blocks: dict[str, dict[str, str]] = {}
    current = None
    for line in (CONTRIB / "exim" / name).read_text("utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if m := re.fullmatch(r"([a-z][a-z0-9_]*):", line):
            current = m.group(1)
            blocks[current] = {}
            continue
        assert current is not None and line.startswith("  "), f"{name}: {line!r}"
        m = re.fullmatch(r"\s+(no_|not_)?([a-z][a-z0-9_]*)(?:\s*=\s*(\S.*))?", line)
        assert m, f"{name}: not an option line: {line!r}"
        blocks[current][m.group(2)] = m.group(3) or ("false" if m.group(1) else "true")
    return blocks


def test_exim_snippets_are_plausible_and_agree_with_the_example_config() -> None:
    routers = _exim_blocks("router")
    transports = _exim_blocks("transport")
    verp = _verp_example()
    assert {r["driver"] for r in routers.values()} <= {"accept", "redirect", "manualroute"}
    assert {t["driver"] for t in transports.values()} <= {"lmtp", "pipe", "appendfile", "smtp"}
    router = routers["reconciler_bounces"]
    assert router["transport"] in transports
    assert router["domains"] == verp["domain"]
    assert router["local_parts"] == verp["prefix"]
    assert router["local_part_suffix"] == f"{verp['separator']}*"
    lmtp = transports[router["transport"]]
    assert lmtp["driver"] == "lmtp" and lmtp["socket"].startswith("/")
    assert lmtp["rcpt_include_affixes"] == "true", "without it the token is stripped"
    lda = transports["reconciler_dovecot_lda"]
    assert "$local_part_suffix" in lda["command"]


# -- changelog fragments ---------------------------------------------------------------------

FRAGMENT_TYPES = ("feature", "bugfix", "removal", "migration", "doc", "misc")
_FRAGMENT = re.compile(rf"(\d+|\+[a-z0-9][a-z0-9-]*)\.({'|'.join(FRAGMENT_TYPES)})\.md")


def test_changelog_fragments_are_named_and_written() -> None:
    fragments = [p for p in CHANGES.iterdir() if p.name != "README.md"]
    assert fragments, "changes/ has no fragments"
    for path in fragments:
        assert _FRAGMENT.fullmatch(path.name), f"{path.name}: see changes/README.md for names"
        text = path.read_text("utf-8").strip()
        assert text and not text.startswith("#"), f"{path.name}: a few sentences, no heading"
    readme = (CHANGES / "README.md").read_text("utf-8")
    assert set(re.findall(r"^\| `([a-z]+)` \|", readme, re.MULTILINE)) == set(FRAGMENT_TYPES)
