"""`[[mailbox]] auth`: the password, or OAuth2 from a token command or a token endpoint.

Every combination that does not fit is refused with one line naming the key and saying what
it belongs to; `check-config` shows where each secret comes from, never the secret.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.config import Auth, OAuthGrant, OAuthSettings, describe_settings, load_settings
from reconciler.errors import ConfigError

CLIENT_SECRET = "client-Secret-8d1e"
REFRESH_TOKEN = "1//refresh-Token-0c7b"
ENV = {"CS": CLIENT_SECRET, "RT": REFRESH_TOKEN, "PW": "imap-pass-Zq81"}
MICROSOFT = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
GOOGLE = "https://oauth2.googleapis.com/token"

Value = str | int | list[str] | None

BASE: dict[str, Value] = {"name": "m365", "host": "outlook.office365.com", "username": "b@x.org"}
ENDPOINT: dict[str, Value] = {
    "auth": "xoauth2",
    "token_url": MICROSOFT,
    "client_id": "8a1e6c7e-app",
    "scope": "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access",
    "client_secret_env": "CS",
    "refresh_token_env": "RT",
}


def _document(mailbox: dict[str, Value]) -> str:
    keys = {**BASE, **mailbox}
    return "[[mailbox]]\n" + "".join(
        f"{k} = {json.dumps(v)}\n" for k, v in keys.items() if v is not None
    )


def _load(tmp_path: Path, mailbox: dict[str, Value]):  # type: ignore[no-untyped-def]
    path = tmp_path / "reconciler.toml"
    path.write_text(_document(mailbox))
    path.chmod(0o600)
    return load_settings(path, ENV)


def _program(tmp_path: Path) -> str:
    program = tmp_path / "print-token"
    program.write_text("#!/bin/sh\necho tok\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return str(program)


def test_password_is_the_default(tmp_path: Path) -> None:
    mailbox = _load(tmp_path, {"password_env": "PW"}).mailboxes[0]
    assert mailbox.auth is Auth.PASSWORD and mailbox.oauth is None
    assert mailbox.password == "imap-pass-Zq81"


def test_refresh_token_grant(tmp_path: Path) -> None:
    (tmp_path / "rt").write_text(REFRESH_TOKEN + "\n")
    settings = _load(tmp_path, {**ENDPOINT, "refresh_token_env": None, "refresh_token_file": "rt"})
    mailbox = settings.mailboxes[0]
    assert mailbox.auth is Auth.XOAUTH2
    assert mailbox.password == "" and mailbox.password_env is None
    assert mailbox.oauth == OAuthSettings(
        token_url=MICROSOFT,
        grant=OAuthGrant.REFRESH_TOKEN,
        client_id="8a1e6c7e-app",
        scope="https://outlook.office365.com/IMAP.AccessAsUser.All offline_access",
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH_TOKEN,
        client_secret_env="CS",
        refresh_token_file=tmp_path / "rt",
    )
    assert CLIENT_SECRET not in repr(mailbox) and REFRESH_TOKEN not in repr(mailbox)


def test_google_public_style_client_without_scope(tmp_path: Path) -> None:
    oauth = _load(
        tmp_path,
        {"auth": "oauthbearer", "token_url": GOOGLE, "client_id": "123.apps.googleusercontent.com",
         "refresh_token_env": "RT"},
    ).mailboxes[0].oauth  # fmt: skip
    assert oauth is not None
    assert oauth.client_secret == "" and oauth.scope == "" and oauth.refresh_token == REFRESH_TOKEN


def test_client_credentials_grant(tmp_path: Path) -> None:
    oauth = _load(
        tmp_path,
        {**ENDPOINT, "grant": "client_credentials", "refresh_token_env": None,
         "scope": "https://outlook.office365.com/.default"},
    ).mailboxes[0].oauth  # fmt: skip
    assert oauth is not None and oauth.grant is OAuthGrant.CLIENT_CREDENTIALS
    assert oauth.refresh_token == "" and oauth.client_secret == CLIENT_SECRET


def test_token_command(tmp_path: Path) -> None:
    program = _program(tmp_path)
    settings = _load(tmp_path, {"auth": "xoauth2", "token_command": [program, "b@x.org"]})
    assert settings.mailboxes[0].oauth == OAuthSettings(token_command=(program, "b@x.org"))


def test_loopback_endpoint_may_be_plain_http(tmp_path: Path) -> None:
    oauth = _load(tmp_path, {**ENDPOINT, "token_url": "http://127.0.0.1:8080/token"})
    assert oauth.mailboxes[0].oauth is not None


BAD: list[tuple[dict[str, Value], str, str]] = [
    ({"auth": "oauth2"}, "auth", 'expected one of "password" | "xoauth2" | "oauthbearer"'),
    ({"auth": "xoauth2"}, "auth", '"xoauth2" needs token_command, or token_url with client_id'),
    ({"password_env": "PW", "token_url": MICROSOFT}, "token_url",
     'only used with auth = "xoauth2" or "oauthbearer"'),
    ({"password_env": "PW", "refresh_token_env": "RT"}, "refresh_token_env", "only used with"),
    ({**ENDPOINT, "password_env": "PW"}, "password_env",
     'not used with auth = "xoauth2": the access token comes from token_command or token_url'),
    ({**ENDPOINT, "token_command": ["/bin/true"]}, "token_url",
     "set only one of token_command and token_url"),
    ({"auth": "xoauth2", "token_command": ["/bin/true"], "client_id": "x"}, "client_id",
     "only used with token_url (token_command prints the token)"),
    ({"auth": "xoauth2", "token_command": []}, "token_command", "expected a non-empty array"),
    ({"auth": "xoauth2", "token_command": "oama access"}, "token_command",
     "expected an array of non-empty strings"),
    ({"auth": "xoauth2", "token_command": ["no-such-token-program"]}, "token_command",
     'program "no-such-token-program" not found or not executable'),
    ({**ENDPOINT, "client_id": None}, "client_id", "required key is missing"),
    ({**ENDPOINT, "refresh_token_env": None}, "refresh_token",
     "required: set one of refresh_token_env or refresh_token_file"),
    ({**ENDPOINT, "refresh_token_env": None, "refresh_token": REFRESH_TOKEN}, "refresh_token",
     "a secret is not accepted inline; use refresh_token_env or refresh_token_file"),
    ({**ENDPOINT, "client_secret_env": None, "client_secret": CLIENT_SECRET}, "client_secret",
     "a secret is not accepted inline"),
    ({**ENDPOINT, "client_secret_file": "cs"}, "client_secret_file",
     "set only one of client_secret_env, client_secret_file"),
    ({**ENDPOINT, "refresh_token_env": "UNSET"}, "refresh_token_env",
     "environment variable UNSET is not set or empty"),
    ({**ENDPOINT, "refresh_token_env": REFRESH_TOKEN}, "refresh_token_env",
     "the value is not shown"),
    ({**ENDPOINT, "grant": "password"}, "grant",
     'expected one of "refresh_token" | "client_credentials"'),
    ({**ENDPOINT, "grant": "client_credentials"}, "refresh_token_env",
     'not used with grant = "client_credentials"'),
    ({**ENDPOINT, "grant": "client_credentials", "refresh_token_env": None,
      "client_secret_env": None}, "client_secret", 'grant = "client_credentials" needs'),
    ({**ENDPOINT, "grant": "client_credentials", "refresh_token_env": None, "scope": None},
     "scope", 'grant = "client_credentials" needs a scope'),
    ({**ENDPOINT, "token_url": "http://login.example.org/token"}, "token_url",
     "http:// sends the secrets in clear to login.example.org; use https://"),
    ({**ENDPOINT, "token_url": "ftp://login.example.org/token"}, "token_url",
     "expected an https:// URL with a host"),
    ({**ENDPOINT, "token_url": "https://app:pw@login.example.org/t"}, "token_url",
     "no credentials in the URL"),
    ({**ENDPOINT, "token_url": "https://login.example.org:99999/t"}, "token_url",
     "the port is not a number"),
    ({**ENDPOINT, "tokenurl": MICROSOFT}, "tokenurl", 'unknown key; did you mean "token_url"?'),
    ({**ENDPOINT, "client_secret_env": None, "client_secret_envv": "CS"}, "client_secret_envv",
     "unknown key"),
]  # fmt: skip


@pytest.mark.parametrize(("mailbox", "key", "problem"), BAD, ids=[k for _, k, _ in BAD])
def test_a_combination_that_does_not_fit_is_one_line(
    tmp_path: Path, mailbox: dict[str, Value], key: str, problem: str
) -> None:
    (tmp_path / "cs").write_text(CLIENT_SECRET)
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, mailbox)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'reconciler.toml'}: mailbox[0].{key}: "), message
    assert problem in message
    assert "\n" not in message
    assert CLIENT_SECRET not in message and REFRESH_TOKEN not in message


def test_describe_masks_the_oauth_secrets(tmp_path: Path) -> None:
    (tmp_path / "rt").write_text(REFRESH_TOKEN)
    settings = _load(tmp_path, {**ENDPOINT, "refresh_token_env": None, "refresh_token_file": "rt"})
    shown = dict(describe_settings(settings))
    assert shown["mailbox[0].auth"] == "xoauth2"
    assert shown["mailbox[0].token_url"] == MICROSOFT  # listed as written: a key of [[mailbox]]
    assert shown["mailbox[0].grant"] == "refresh_token"
    assert shown["mailbox[0].client_secret"] == "(hidden; from environment variable CS)"
    assert shown["mailbox[0].refresh_token"] == f"(hidden; from file {tmp_path / 'rt'})"
    assert shown["mailbox[0].token_command"] == "(none)"
    assert not any(key.startswith("mailbox[0].oauth") for key in shown)
    assert "mailbox[0].client_secret_env" not in shown  # shown with the secret it holds
    text = "\n".join(f"{k} {v}" for k, v in shown.items())
    assert CLIENT_SECRET not in text and REFRESH_TOKEN not in text


def test_describe_of_a_password_mailbox_has_no_oauth_lines(tmp_path: Path) -> None:
    shown = dict(describe_settings(_load(tmp_path, {"password_env": "PW"})))
    assert shown["mailbox[0].auth"] == "password"
    assert not any("token" in key or "client" in key for key in shown)


def test_check_config_prints_no_oauth_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "reconciler.toml"
    path.write_text(_document(ENDPOINT))
    path.chmod(0o600)
    assert main(["--config", str(path), "check-config", "--all"]) == 0
    out, err = capsys.readouterr()
    assert "(hidden; from environment variable RT)" in out
    assert CLIENT_SECRET not in out + err and REFRESH_TOKEN not in out + err
