"""How a `[[mailbox]]` logs in: `auth`, and the password or the OAuth2 keys that go with it.

    auth = "password"                        password_env | password_file
    auth = "xoauth2" | "oauthbearer"         token_command = ["program", "arg", ...]
                                             or token_url, client_id, [scope],
                                                grant = "refresh_token":  refresh_token_env |
                                                    _file, [client_secret_env | _file]
                                                grant = "client_credentials":  scope,
                                                    client_secret_env | _file

A key that belongs to another combination is refused with one line that says which one it
belongs to; secrets are never accepted inline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from reconciler.config.read import SecretRef, Table
from reconciler.frozenrecord import frozen_record
from reconciler.settings import Auth, OAuthGrant, OAuthSettings, is_loopback

__all__ = ["Credentials", "build_credentials"]

_SECRETS: Final = ("client_secret", "refresh_token")
_ENDPOINT_KEYS: Final = (
    "grant", "client_id", "scope", "client_secret_env", "client_secret_file",
    "refresh_token_env", "refresh_token_file",
)  # fmt: skip
_OAUTH_KEYS: Final = ("token_command", "token_url", *_ENDPOINT_KEYS, *_SECRETS)
_OAUTH_AUTH: Final = '"xoauth2" or "oauthbearer"'


@frozen_record
class Credentials:
    """What `[[mailbox]]` says about logging in."""

    auth: Auth
    password: str = ""
    password_env: str | None = None
    password_file: Path | None = None
    oauth: OAuthSettings | None = None


def build_credentials(t: Table) -> Credentials:
    """`auth` and its keys; every other combination's keys are refused."""
    auth = Auth(t.string("auth", Auth.PASSWORD.value, choices=tuple(a.value for a in Auth)))
    if auth is Auth.PASSWORD:
        _refuse(t, _OAUTH_KEYS, f"only used with auth = {_OAUTH_AUTH}")
        if t.has("password"):
            raise t.fail(
                "password", "a literal password is not accepted; use password_env or password_file"
            )
        secret = t.secret("password", literal=False)
        return Credentials(auth, t.text_secret("password", secret), secret.env, secret.file)
    _refuse(
        t,
        ("password", "password_env", "password_file"),
        f'not used with auth = "{auth}": the access token comes from token_command or token_url',
    )
    return Credentials(auth, oauth=_oauth(t, auth))


def _refuse(t: Table, keys: tuple[str, ...], why: str) -> None:
    for key in keys:
        if t.has(key):
            raise t.fail(key, why)


def _oauth(t: Table, auth: Auth) -> OAuthSettings:
    for key in _SECRETS:
        if t.has(key):
            raise t.fail(key, f"a secret is not accepted inline; use {key}_env or {key}_file")
    if t.has("token_command"):
        _refuse(t, ("token_url",), "set only one of token_command and token_url")
        _refuse(t, _ENDPOINT_KEYS, "only used with token_url (token_command prints the token)")
        return OAuthSettings(token_command=_program(t, "token_command"))
    if not t.has("token_url"):
        raise t.fail(
            "auth", f'"{auth}" needs token_command, or token_url with client_id and a grant'
        )
    url = _token_url(t)
    grant = OAuthGrant(
        t.string(
            "grant", OAuthGrant.REFRESH_TOKEN.value, choices=tuple(g.value for g in OAuthGrant)
        )
    )
    client_id = t.string("client_id")
    scope = " ".join((t.optional_string("scope") or "").split())
    client_secret = _optional_secret(t, "client_secret")
    refresh: SecretRef | None = None
    if grant is OAuthGrant.CLIENT_CREDENTIALS:
        _refuse(t, ("refresh_token_env", "refresh_token_file"), f'not used with grant = "{grant}"')
        if client_secret is None:
            raise t.fail(
                "client_secret", f'grant = "{grant}" needs client_secret_env or client_secret_file'
            )
        if not scope:
            raise t.fail("scope", f'grant = "{grant}" needs a scope (Microsoft: ".../.default")')
    else:
        refresh = t.secret("refresh_token", literal=False)
    return OAuthSettings(
        token_url=url,
        grant=grant,
        client_id=client_id,
        scope=scope,
        client_secret=t.text_secret("client_secret", client_secret) if client_secret else "",
        refresh_token=t.text_secret("refresh_token", refresh) if refresh else "",
        client_secret_env=client_secret.env if client_secret else None,
        client_secret_file=client_secret.file if client_secret else None,
        refresh_token_env=refresh.env if refresh else None,
        refresh_token_file=refresh.file if refresh else None,
    )


def _optional_secret(t: Table, stem: str) -> SecretRef | None:
    if t.has(f"{stem}_env") or t.has(f"{stem}_file"):
        return t.secret(stem, literal=False)
    return None


def _token_url(t: Table) -> str:
    """https://, or http:// to a loopback host; no credentials in it (they go in the body)."""
    url = t.string("token_url")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise t.fail("token_url", "expected an https:// URL with a host")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise t.fail(
            "token_url", f"http:// sends the secrets in clear to {parts.hostname}; use https://"
        )
    if parts.username is not None or parts.password is not None:
        raise t.fail("token_url", "no credentials in the URL: use client_id and client_secret_*")
    if parts.fragment:
        raise t.fail("token_url", "a token endpoint URL has no #fragment")
    try:
        parts.port  # noqa: B018 - the property parses the port and raises on nonsense
    except ValueError as err:
        raise t.fail("token_url", "the port is not a number 0-65535") from err
    return url


def _program(t: Table, key: str) -> tuple[str, ...]:
    """A non-empty argv whose program exists and may be run (absolute, or found on PATH)."""
    argv = t.strings(key, ())
    if not argv:
        raise t.fail(key, "expected a non-empty array: the program and its arguments")
    program = argv[0]
    if "/" in program and not Path(program).expanduser().is_absolute():
        program = str(t.base_dir / program)  # relative to the configuration file, as every path
    import shutil  # a program named by its name only: not on every start

    found = program if Path(program).is_absolute() else shutil.which(program)
    if found is None or not Path(found).is_file() or not os.access(found, os.X_OK):
        raise t.fail(key, f'program "{program}" not found or not executable (absolute or on PATH)')
    return (program, *argv[1:])
