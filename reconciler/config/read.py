"""Typed, key-tracking access to one TOML table, for the config loader (STYLE 2.9).

Every read names its key; every failure is one line of the form
``<file>: <table>.<key>: <problem>``.  The reader goes on after a mistake so that one run
reports them all: a bad value that has a default is noted and the default used, a table
built with `Table.guard()` that fails is noted and the next one read; `build_settings` raises
one `ConfigError` with every problem at the end.  `Table.finish()` notes the keys nobody
asked for.  Secrets are read through `Table.secret()`, which never echoes the value it
refuses, and resolves them only when the command needs them (`Context.resolve`).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

from reconciler.errors import ConfigError
from reconciler.frozenrecord import fields, frozen_record

__all__ = ["Context", "SecretRef", "Table", "field_default", "show", "world_readable"]

T = TypeVar("T")

_MISSING: Final = object()
# patterns, compiled by `re` (and kept in its cache) when a secret is read, not at start
_ENV_NAME: Final = r"[A-Z_][A-Z0-9_]{0,127}"
_PATH_LIKE: Final = r"[/.~]"  # a missing secret file is echoed if it looks like a path
_NOT_ECHOED: Final = "not found; the value is not shown: is the secret itself written in this key?"


def show(value: object) -> str:
    """Render a TOML value the way it was (probably) written, for error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, int | float):
        return str(value)
    kinds: dict[type, str] = {list: "an array", dict: "a table"}
    return kinds.get(type(value), "a date/time")  # tomllib produces nothing else


class _KeyProblem(ConfigError):
    """A problem with one key (its dotted path kept, so that it is reported once)."""

    def __init__(self, key: str, line: str) -> None:
        super().__init__(line)
        self.key = key


class Context:
    """What every table of one file shares: its name, env, directory, the warnings and the
    problems found so far, and whether the secrets of the section being read are resolved.
    (A plain class: a dataclass compiles its methods when defined, at every start.)"""

    __slots__ = ("_failed", "base_dir", "env", "file", "literal_secrets", "problems",
                 "resolve", "warnings")  # fmt: skip

    def __init__(self, file: str, env: Mapping[str, str], base_dir: Path) -> None:
        self.file = file
        self.env = env
        self.base_dir = base_dir
        self.warnings: list[str] = []
        self.literal_secrets: list[str] = []  # keys that hold a secret inline
        self.problems: list[str] = []
        self.resolve = True  # False: a secret's key is checked, its variable or file not read
        self._failed: set[str] = set()

    def note(self, err: ConfigError) -> None:
        """Keep a problem for the end of the run (once per key: no echoes of one mistake)."""
        if isinstance(err, _KeyProblem):
            if err.key in self._failed:
                return
            self._failed.add(err.key)
        self.problems.extend(p for p in err.problems if p not in self.problems)


@frozen_record
class SecretRef:
    """A resolved secret and where it came from (for `check-config` output)."""

    value: bytes
    env: str | None = None
    file: Path | None = None
    resolved: bool = True  # False: not read (not needed, or missing: a problem was noted)


class Table:
    """One TOML table plus its dotted name; remembers which keys were read."""

    def __init__(
        self, data: Mapping[str, Any], name: str, ctx: Context, *, broken: bool = False
    ) -> None:
        self._data = data
        self._name = name
        self._ctx = ctx
        self._seen: set[str] = set()
        self._broken = broken  # not a table at all (a problem noted): nothing to build

    def path(self, key: str) -> str:
        return f"{self._name}.{key}" if self._name else key

    def fail(self, key: str, problem: str) -> ConfigError:
        path = self.path(key)
        return _KeyProblem(path, f"{self._ctx.file}: {path}: {problem}")

    def note(self, key: str, problem: str) -> None:
        """A problem that does not stop the reading of this table."""
        self._ctx.note(self.fail(key, problem))

    def _bad(self, key: str, default: object, problem: str) -> Any:
        """A bad value: noted and the default used, or (a required key) raised."""
        err = self.fail(key, problem)
        if default is _MISSING:
            raise err
        self._ctx.note(err)
        return default

    def guard(self, build: Callable[[Table], T], fallback: T) -> T:
        """`build(self)`; a problem it raises is noted and `fallback` returned, so that the
        other tables are still read (the fallback is never used: the load fails at the end)."""
        if self._broken:
            return fallback
        try:
            return build(self)
        except ConfigError as err:
            self._ctx.note(err)
            return fallback

    @property
    def base_dir(self) -> Path:
        """The directory of the configuration file: relative paths start there."""
        return self._ctx.base_dir

    def has(self, key: str) -> bool:
        return key in self._data

    def names(self) -> list[str]:
        """The keys of this table, for a table whose keys are data (e.g. realm → URL)."""
        return list(self._data)

    def _get(self, key: str, default: object) -> object:
        self._seen.add(key)
        if key in self._data:
            return self._data[key]
        if default is _MISSING:
            raise self.fail(key, "required key is missing")
        return default

    def string(self, key: str, default: object = _MISSING, *, choices: tuple[str, ...] = ()) -> str:
        value = self._get(key, default)
        if not isinstance(value, str) or not value.strip():
            return str(self._bad(key, default, f"expected a non-empty string, got {show(value)}"))
        if choices and value not in choices:  # the choice steers what is read next: stop here
            wanted = " | ".join(f'"{c}"' for c in choices)
            raise self.fail(key, f"expected one of {wanted}, got {show(value)}")
        return value

    def optional_string(self, key: str) -> str | None:
        self._seen.add(key)
        return self.string(key) if key in self._data else None

    def integer(self, key: str, default: object, low: int, high: int) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return int(
                self._bad(key, default, f"expected an integer {low}-{high}, got {show(value)}")
            )
        return value

    def number(self, key: str, default: object, low: float, high: float) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
            problem = f"expected a number above {low:g} and at most {high:g}, got {show(value)}"
            return float(self._bad(key, default, problem))
        return float(value)

    def boolean(self, key: str, default: object) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            return bool(self._bad(key, default, f"expected true or false, got {show(value)}"))
        return value

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self._get(key, default)
        if isinstance(value, tuple):
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            problem = f"expected an array of non-empty strings, got {show(value)}"
            return tuple(self._bad(key, default, problem))
        return tuple(value)

    def file_path(self, key: str, *, directory: bool = False) -> Path:
        """An existing file (or directory), relative to the config file's directory."""
        path = self._ctx.base_dir / Path(self.string(key)).expanduser()
        kind = "directory" if directory else "file"
        if not (path.is_dir() if directory else path.is_file()):
            raise self.fail(key, f"{kind} {str(path)!r} does not exist")
        return path

    def optional_path(self, key: str, *, directory: bool = False) -> Path | None:
        if key not in self._data:
            self._seen.add(key)
            return None
        try:
            return self.file_path(key, directory=directory)
        except ConfigError as err:
            self._ctx.note(err)
            return None

    def table(self, key: str) -> Table:
        value = self._get(key, {})
        if not isinstance(value, dict):
            self.note(key, f"expected a table [{self.path(key)}], got {show(value)}")
            return Table({}, self.path(key), self._ctx, broken=True)
        return Table(value, self.path(key), self._ctx)

    def tables(self, key: str) -> list[Table]:
        value = self._get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            problem = f"expected an array of tables [[{self.path(key)}]], got {show(value)}"
            value = self._bad(key, [], problem)
        return [Table(v, f"{self.path(key)}[{i}]", self._ctx) for i, v in enumerate(value)]

    def secret(self, stem: str, *, literal: bool) -> SecretRef:
        """Exactly one of `<stem>` (if `literal`), `<stem>_env`, `<stem>_file`; resolved."""
        keys = [k for k in (stem, f"{stem}_env", f"{stem}_file") if k in self._data]
        self._seen.update((f"{stem}_env", f"{stem}_file"))
        if not keys:
            allowed = (
                f"{stem}, {stem}_env or {stem}_file" if literal else f"{stem}_env or {stem}_file"
            )
            raise self.fail(stem, f"required: set one of {allowed}")
        if len(keys) > 1:
            raise self.fail(keys[1], f"set only one of {', '.join(keys)}")
        if keys[0] == stem:
            return self._secret_literal(stem)
        if not self._ctx.resolve:  # this command does not use it: where it is, not what
            given = self.string(keys[0])
            if keys[0] == f"{stem}_env":
                return SecretRef(b"", env=given, resolved=False)
            return SecretRef(
                b"", file=self._ctx.base_dir / Path(given).expanduser(), resolved=False
            )
        try:
            if keys[0] == f"{stem}_env":
                return self._secret_from_env(f"{stem}_env")
            return self._secret_from_file(f"{stem}_file")
        except ConfigError as err:  # the table goes on; the load fails at the end
            self._ctx.note(err)
            return SecretRef(b"", resolved=False)

    def _secret_literal(self, key: str) -> SecretRef:
        self._seen.add(key)
        value = self._data[key]
        if not isinstance(value, str) or not value:
            raise self.fail(key, "expected a non-empty string")
        self.literal_secret(key)
        return SecretRef(value.encode())

    def literal_secret(self, key: str) -> None:
        """Note that `key` holds a secret inline (a warning if the file is world-readable)."""
        self._ctx.literal_secrets.append(self.path(key))

    def _secret_from_env(self, key: str) -> SecretRef:
        name = self.string(key)
        value = self._ctx.env.get(name, "")
        if not value:
            # A value that does not look like a variable name may be the secret itself,
            # written in the wrong key: never echo it (the error is printed and logged).
            if not re.fullmatch(_ENV_NAME, name):
                raise self.fail(key, f"environment variable {_NOT_ECHOED}")
            raise self.fail(key, f"environment variable {name} is not set or empty")
        return SecretRef(value.encode(), env=name)

    def _secret_from_file(self, key: str) -> SecretRef:
        given = self.string(key)
        path = self._ctx.base_dir / Path(given).expanduser()
        if not path.is_file() and not re.search(_PATH_LIKE, given):  # maybe the secret itself
            raise self.fail(key, f"file {_NOT_ECHOED}")
        path = self.file_path(key)
        try:
            data = path.read_bytes().rstrip(b"\r\n")
            mode = path.stat().st_mode
        except OSError as err:
            raise self.fail(key, f"cannot read {str(path)!r}: {err.strerror}") from err
        if not data:
            raise self.fail(key, f"file {str(path)!r} is empty")
        if mode & stat.S_IROTH:
            self.warn(key, f"secret file {str(path)!r} is world-readable")
        return SecretRef(data, file=path)

    def text_secret(self, stem: str, secret: SecretRef) -> str:
        """The secret as text (passwords); a file that is not UTF-8 is an error."""
        try:
            return secret.value.decode()
        except UnicodeDecodeError as err:
            raise self.fail(stem, "the secret is not valid UTF-8 text") from err

    def warn(self, key: str, text: str) -> None:
        self._ctx.warnings.append(f"{self._ctx.file}: {self.path(key)}: {text}")

    def finish(self) -> None:
        """Note every key that no reader asked for, suggesting the closest known one."""
        for key in self._data:
            if key not in self._seen:
                import difflib  # a mistake only: not on every start

                close = difflib.get_close_matches(key, sorted(self._seen), n=1)
                hint = f'; did you mean "{close[0]}"?' if close else ""
                self.note(key, f"unknown key{hint}")


def field_default(cls: type, name: str) -> Any:
    """The declared default of a record's field (slots hide it from class attributes)."""
    return next(f.default for f in fields(cls) if f.name == name)


def world_readable(path: Path) -> bool:
    """True if anyone on the machine may read `path` (POSIX permission bits)."""
    try:
        return bool(os.stat(path).st_mode & stat.S_IROTH)
    except OSError:
        return False
