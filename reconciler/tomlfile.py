"""The configuration file itself: where it is looked for and how it is read, in one place for
the whole configuration (reconciler.config) and for the senders' check (reconciler.senders),
which reads its `[database] url` only and must start without the rest.  A leaf: it imports
nothing of ours but the errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from reconciler.errors import ConfigError

__all__ = ["CONFIG_ENV", "DEFAULT_CONFIG_NAME", "chosen_config", "read_config_file"]

CONFIG_ENV = "RECONCILER_CONFIG"
DEFAULT_CONFIG_NAME = "reconciler.toml"


def chosen_config(cli_path: str | None, env: Mapping[str, str]) -> str:
    """`--config`, else `$RECONCILER_CONFIG`, else ./reconciler.toml; `~` expanded (a relative
    path stays relative to the working folder)."""
    return os.path.expanduser(cli_path or env.get(CONFIG_ENV) or DEFAULT_CONFIG_NAME)


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The TOML document at `path`; one `ConfigError` line a person can act on when it cannot
    be read or is not TOML."""
    import tomllib

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as err:  # a newcomer's first error: short enough for 80 columns
        raise ConfigError(
            f"{_shown(path)}: not found (copy config.example.toml, or --config)"
        ) from err
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the configuration: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from err


def _shown(path: str | os.PathLike[str]) -> str:
    """`path` as a person would type it: relative to the working folder when it lies in it
    (the default ./reconciler.toml is looked up by its absolute path)."""
    text = os.fspath(path)
    if not os.path.isabs(text):
        return text
    try:
        relative = os.path.relpath(text)
    except ValueError:  # (another drive)
        return text
    return text if relative.startswith(os.pardir) else relative
