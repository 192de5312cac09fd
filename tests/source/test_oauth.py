"""OAuth2 tokens for IMAP: the pure part (SASL strings, token answers, expiry arithmetic) on
literals, and the I/O part against a real token endpoint and real programs on this machine.

The endpoint is `tests/tokenservice.py` on loopback (plain HTTP, or HTTPS with a self-signed
certificate); the clock of the token cache is injected, so nothing waits.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dovecot import make_certificate  # tests/dovecot.py (tests/ is on sys.path)
from support import ROOT
from tokenservice import TokenService

from reconciler.config import Auth, OAuthGrant, OAuthSettings
from reconciler.errors import SourceError, SourceUnavailable
from reconciler.source.oauth import (
    CachedToken,
    SaslExchange,
    TokenGrant,
    TokenRefusal,
    check_token,
    oauthbearer_response,
    read_token_answer,
    token_request,
    xoauth2_response,
)
from reconciler.source.tokens import (
    MAX_ANSWER,
    CommandTokens,
    EndpointTokens,
    TokenRefreshFailed,
    TokenUnavailable,
)

# -- the SASL strings --------------------------------------------------------------------------


def test_xoauth2_response_is_googles_format() -> None:
    # developers.google.com/gmail/imap/xoauth2-protocol: "user=" {User} "^Aauth=Bearer "
    # {Access Token} "^A^A"
    token = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
    assert xoauth2_response("someuser@example.com", token) == (
        b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
        b"\x01\x01"
    )


def test_oauthbearer_response_is_rfc7628() -> None:
    # RFC 7628 section 4.1, the IMAP example (its base64 decodes to exactly this)
    expected = base64.b64decode(
        "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVy"
        "IHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
    )
    got = oauthbearer_response(
        "user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", "server.example.com", 143
    )
    assert got == expected


def test_oauthbearer_escapes_the_authzid() -> None:
    got = oauthbearer_response("a,b=c@example.com", "t0k", "h", 993)
    assert got.startswith(b"n,a=a=2Cb=3Dc@example.com,\x01host=h\x01port=993\x01")


@pytest.mark.parametrize(
    ("auth", "error_challenge", "dummy", "shown"),
    [
        (Auth.XOAUTH2, b'{"status":"401","schemes":"bearer","scope":"mail"}', b"", "status=401"),
        (Auth.OAUTHBEARER, b'{"status":"invalid_token"}', b"\x01", "status=invalid_token"),
    ],
)
def test_sasl_exchange_answers_the_token_then_ends_a_failure(
    auth: Auth, error_challenge: bytes, dummy: bytes, shown: str
) -> None:
    exchange = SaslExchange.start(auth, "bounces@example.org", "tok3n", "imap.example.org", 993)
    assert exchange.mechanism == auth.value.upper()
    first = exchange(b"")
    assert b"auth=Bearer tok3n\x01\x01" in first
    assert exchange.error == ""
    assert exchange(error_challenge) == dummy  # what makes the server end the exchange
    assert shown in exchange.error
    assert "tok3n" not in repr(exchange)


def test_a_garbled_error_challenge_is_shown_safely() -> None:
    exchange = SaslExchange.start(Auth.XOAUTH2, "u", "t", "h", 1)
    exchange(b"")
    exchange(b"\x1b]0;pwned\x07 nope")
    assert exchange.error == r"\x1b]0;pwned\x07 nope"


@pytest.mark.parametrize(
    ("text", "usable"),
    [
        ("ya29.a0AfB_byC-x~y+z/w==", True),
        ("eyJ0eXAiOiJKV1QiLCJub25jZSI6Im.eyJhdWQiOiJodHRwczovL291.dGxvb2subW", True),
        ("", False),
        ("two words", False),
        ("tok\x01en", False),  # would end the SASL string early
        ("x" * 20_000, False),
    ],
)
def test_check_token(text: str, usable: bool) -> None:
    assert (check_token(text) is None) is usable
    if not usable:
        assert text[:5] not in (check_token(text) or "") or not text  # never quoted


# -- the token request and its answer ----------------------------------------------------------


def test_refresh_token_request() -> None:
    settings = OAuthSettings(token_url="https://t.example/token", client_id="app", scope="a b",
                             client_secret="s3")  # fmt: skip
    assert token_request(settings, "rt") == {
        "grant_type": "refresh_token", "client_id": "app", "refresh_token": "rt",
        "client_secret": "s3", "scope": "a b",
    }  # fmt: skip
    public = OAuthSettings(token_url="https://t.example/token", client_id="app")
    assert token_request(public, "rt") == {
        "grant_type": "refresh_token", "client_id": "app", "refresh_token": "rt",
    }  # fmt: skip


def test_client_credentials_request() -> None:
    settings = OAuthSettings(
        token_url="https://t.example/token", grant=OAuthGrant.CLIENT_CREDENTIALS,
        client_id="app", scope="https://outlook.office365.com/.default", client_secret="s3",
    )  # fmt: skip
    form = token_request(settings, "")
    assert form == {
        "grant_type": "client_credentials", "client_id": "app", "client_secret": "s3",
        "scope": "https://outlook.office365.com/.default",
    }  # fmt: skip


def _answer(status: int, value: object) -> TokenGrant | TokenRefusal:
    return read_token_answer(status, json.dumps(value).encode())


def test_a_grant() -> None:
    got = _answer(200, {"access_token": "at1", "token_type": "Bearer", "expires_in": 3599})
    assert got == TokenGrant("at1", 3599.0)
    assert "at1" not in repr(got)
    rotated = _answer(200, {"access_token": "at1", "token_type": "bearer", "refresh_token": "r2"})
    assert rotated == TokenGrant("at1", None, "r2")


@pytest.mark.parametrize(
    ("expires_in", "seconds"),
    [(3599, 3599.0), ("3599", 3599.0), (0, None), (-5, None), ("soon", None), (True, None)],
)
def test_expires_in_as_number_or_digits(expires_in: object, seconds: float | None) -> None:
    got = _answer(200, {"access_token": "a", "token_type": "Bearer", "expires_in": expires_in})
    assert isinstance(got, TokenGrant) and got.expires_in == seconds


@pytest.mark.parametrize(
    ("status", "body", "error", "retry"),
    [
        (400, {"error": "invalid_grant", "error_description": "AADSTS70008: expired.\r\nTrace"},
         "invalid_grant: AADSTS70008: expired.", False),
        (401, {"error": "invalid_client"}, "invalid_client", False),
        (400, {"error": "\x1b[2Jx"}, r"\x1b[2Jx", False),
        (503, {"error": "temporarily_unavailable"}, "temporarily_unavailable", True),
        (429, {"message": "slow down"}, "HTTP 429", True),
        (404, "not json", "HTTP 404: the answer is not a JSON object", False),
        (302, "", "HTTP 302: a redirect, not followed", False),
        (502, "<html>bad gateway</html>", "HTTP 502: the answer is not a JSON object", True),
        (200, {"token_type": "Bearer"}, "HTTP 200: no usable access_token: it is missing", False),
        (200, {"access_token": "a b", "token_type": "Bearer"}, "HTTP 200: no usable", False),
        (200, {"access_token": "ab", "token_type": "mac"}, "HTTP 200: token_type 'mac'", False),
    ],
)  # fmt: skip
def test_a_refusal(status: int, body: object, error: str, retry: bool) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    got = read_token_answer(status, raw)
    assert isinstance(got, TokenRefusal)
    assert str(got).startswith(error)
    assert got.retry is retry
    assert "\n" not in str(got) and "Trace" not in str(got)  # one line


def test_expiry_arithmetic() -> None:
    hour = CachedToken.of(TokenGrant("a", 3600.0), now=1000.0)
    assert hour.renew_at == 1000.0 + 3600 - 60  # a minute before it expires
    assert hour.usable(4539.9) and not hour.usable(4540.0)
    short = CachedToken.of(TokenGrant("a", 100.0), now=0.0)
    assert short.renew_at == 90.0  # a tenth of a short lifetime
    unknown = CachedToken.of(TokenGrant("a", None), now=0.0)
    assert unknown.renew_at == 300.0 - 30.0  # five minutes assumed


# -- the token endpoint, for real ----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def service() -> Iterator[TokenService]:
    started = TokenService()
    started.start()
    yield started
    started.stop()


def _endpoint(service: TokenService, refresh: str, **changes: object) -> OAuthSettings:
    fields: dict[str, object] = {
        "token_url": service.token_url,
        "client_id": service.client_id,
        "client_secret": service.client_secret,
        "refresh_token": refresh,
        "scope": "https://mail.google.com/",
    }
    fields.update(changes)
    return OAuthSettings(**fields)  # type: ignore[arg-type]


def test_tokens_are_cached_until_shortly_before_they_expire(service: TokenService) -> None:
    clock = Clock()
    tokens = EndpointTokens("box", _endpoint(service, service.add_refresh_token("u1")), 5.0, clock)
    first = tokens.get()
    assert first.fresh and first.value == service.issued[0]
    assert [(g.grant_type, g.scope) for g in service.grants] == [
        ("refresh_token", "https://mail.google.com/")
    ]
    clock.now += 3600 - 61
    again = tokens.get()
    assert again.value == first.value and not again.fresh
    assert len(service.grants) == 1
    clock.now += 1  # within the last minute: renewed before the server could refuse it
    renewed = tokens.get()
    assert renewed.fresh and renewed.value == service.issued[1] != first.value
    assert len(service.grants) == 2


def test_a_discarded_token_is_replaced(service: TokenService) -> None:
    tokens = EndpointTokens(
        "box", _endpoint(service, service.add_refresh_token("u1")), 5.0, Clock()
    )
    first = tokens.get()
    tokens.discard(first)
    second = tokens.get()
    assert second.fresh and second.value != first.value
    tokens.discard(first)  # an older token: the cached one stays
    assert tokens.get() == second.__class__(second.value, fresh=False)


def test_a_replaced_refresh_token_is_used_from_then_on(
    service: TokenService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="reconciler.source.tokens")
    service.rotate = True
    clock = Clock()
    tokens = EndpointTokens("box", _endpoint(service, service.add_refresh_token("u1")), 5.0, clock)
    tokens.get()
    clock.now += 7200
    tokens.get()  # with the refresh token of the first answer: the configured one is retired
    clock.now += 7200
    tokens.get()
    assert [g.status for g in service.grants] == [200, 200, 200]
    assert "replaced the refresh token" in caplog.text


def test_a_replaced_refresh_token_is_written_back_to_its_file(
    service: TokenService, tmp_path: Path
) -> None:
    """A provider that rotates refresh tokens retires the old one: the new one must survive a
    restart, and a second process sharing the file must follow it."""
    service.rotate = True
    configured = service.add_refresh_token("u1")
    secret = tmp_path / "refresh-token"
    secret.write_text(configured + "\n")
    secret.chmod(0o640)
    settings = _endpoint(service, configured, refresh_token_file=secret)
    clock = Clock()
    first = EndpointTokens("box", settings, 5.0, clock)
    first.get()
    kept = secret.read_text()
    assert kept.endswith("\n") and kept.strip() not in ("", configured)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o640  # the operator's permissions stay
    assert not [p for p in tmp_path.iterdir() if p.name != "refresh-token"]  # no temporary left
    # A restart (or another process) configured with the token it read at its start:
    other = EndpointTokens("box", settings, 5.0, Clock())
    assert other.get().fresh
    clock.now += 7200
    first.get()  # after the other process replaced it again: the file's token is sent
    assert [g.status for g in service.grants] == [200, 200, 200]
    assert secret.read_text().strip() in service.refresh_tokens


def test_a_replaced_refresh_token_from_the_environment_is_a_warning(
    service: TokenService, caplog: pytest.LogCaptureFixture
) -> None:
    service.rotate = True
    settings = _endpoint(
        service, service.add_refresh_token("u1"), refresh_token_env="MAIL_REFRESH_TOKEN"
    )
    EndpointTokens("box", settings, 5.0, Clock()).get()
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = warning.getMessage()
    assert "$MAIL_REFRESH_TOKEN still holds the old one" in text and "refresh_token_file" in text
    assert all(token not in text for token in service.refresh_tokens)


def test_a_refresh_token_file_that_cannot_be_written_keeps_the_token_in_memory(
    service: TokenService, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service.rotate = True
    gone = tmp_path / "no-such-directory" / "refresh-token"
    settings = _endpoint(service, service.add_refresh_token("u1"), refresh_token_file=gone)
    clock = Clock()
    tokens = EndpointTokens("box", settings, 5.0, clock)
    tokens.get()
    assert f"cannot write the new refresh token to {gone}" in caplog.text
    clock.now += 7200
    assert tokens.get().fresh  # the replacement, from memory
    assert [g.status for g in service.grants] == [200, 200]


def test_a_revoked_refresh_token_is_one_clear_error(service: TokenService) -> None:
    refresh = service.add_refresh_token("u1")
    service.revoke(refresh)
    tokens = EndpointTokens("box", _endpoint(service, refresh), 5.0, Clock())
    with pytest.raises(TokenRefreshFailed) as caught:
        tokens.get()
    assert not isinstance(caught.value, SourceUnavailable)  # not retried: waiting won't help
    text = str(caught.value)
    assert text.startswith("box: token refresh failed: invalid_grant: AADSTS70000:")
    assert text.endswith(f"(from 127.0.0.1:{service.url.rsplit(':', 1)[1]})")
    assert refresh not in text and service.client_secret not in text
    assert "\n" not in text and len(service.grants) == 1


def test_a_wrong_client_secret(service: TokenService) -> None:
    settings = _endpoint(service, service.add_refresh_token("u1"), client_secret="wrong")
    with pytest.raises(TokenRefreshFailed, match="token refresh failed: invalid_client"):
        EndpointTokens("box", settings, 5.0, Clock()).get()


def test_client_credentials(service: TokenService) -> None:
    service.app_user = "bounces"
    settings = _endpoint(service, "", grant=OAuthGrant.CLIENT_CREDENTIALS,
                         scope="https://outlook.office365.com/.default")  # fmt: skip
    token = EndpointTokens("box", settings, 5.0, Clock()).get()
    assert token.value == service.issued[0]
    assert service.grants[0].grant_type == "client_credentials"


def test_a_busy_endpoint_is_retried_later(service: TokenService) -> None:
    service.fail_next(503, b'{"error":"temporarily_unavailable"}')
    tokens = EndpointTokens("box", _endpoint(service, service.add_refresh_token("u")), 5.0, Clock())
    with pytest.raises(TokenUnavailable, match="token refresh failed: temporarily_unavailable"):
        tokens.get()
    assert tokens.get().fresh  # the next attempt (after the backoff) gets one


def test_an_unreachable_endpoint_is_retried_later(service: TokenService) -> None:
    settings = _endpoint(service, "r")
    service.stop()
    with pytest.raises(TokenUnavailable, match=r"box: token refresh failed: 127\.0\.0\.1:\d+: "):
        EndpointTokens("box", settings, 5.0, Clock()).get()


def test_a_redirect_is_not_followed(service: TokenService) -> None:
    elsewhere = TokenService()
    elsewhere.start()
    try:
        service.redirect(elsewhere.token_url)
        settings = _endpoint(service, service.add_refresh_token("u"))
        with pytest.raises(TokenRefreshFailed, match="token refresh failed: HTTP 307"):
            EndpointTokens("box", settings, 5.0, Clock()).get()
        assert elsewhere.grants == []  # the secrets never went there
    finally:
        elsewhere.stop()


def test_a_huge_answer_is_cut_off(service: TokenService) -> None:
    service.fail_next(200, b'{"access_token": "' + b"a" * MAX_ANSWER + b'"}')
    settings = _endpoint(service, service.add_refresh_token("u"))
    with pytest.raises(TokenRefreshFailed, match=f"longer than {MAX_ANSWER} bytes"):
        EndpointTokens("box", settings, 5.0, Clock()).get()


def test_the_endpoint_certificate_is_verified(tmp_path: Path) -> None:
    secure = TokenService(tls=make_certificate(tmp_path))  # self-signed: not trusted
    secure.start()
    try:
        assert secure.token_url.startswith("https://")
        settings = _endpoint(secure, secure.add_refresh_token("u"))
        with pytest.raises(TokenRefreshFailed, match="CERTIFICATE_VERIFY_FAILED"):
            EndpointTokens("box", settings, 5.0, Clock()).get()
        assert secure.grants == []
    finally:
        secure.stop()


# -- the token command -----------------------------------------------------------------------------


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "token.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_the_command_prints_the_token(tmp_path: Path) -> None:
    program = _script(tmp_path, 'printf "%s\\n" "ya29.from-$1"\n')
    tokens = CommandTokens("box", (program, "cmd"), 5.0)
    assert tokens.get().value == "ya29.from-cmd"
    assert tokens.get().fresh  # run for every login: the program keeps its own cache


def test_a_failing_command_shows_its_stderr_and_status(tmp_path: Path) -> None:
    program = _script(
        tmp_path, 'echo "error: no grant for $1;" >&2\necho "run: oama authorize" >&2\nexit 3\n'
    )
    with pytest.raises(TokenRefreshFailed) as caught:
        CommandTokens("box", (program, "bounces@example.org"), 5.0).get()
    assert str(caught.value) == (
        f"box: token refresh failed: token_command {program} exited with status 3: "
        "error: no grant for bounces@example.org; run: oama authorize"
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("exit 0\n", "printed no usable token: it is empty"),
        ('echo "Bearer abc"\n', "printed no usable token: it holds characters"),
        ('echo "abc\001"\n', "printed no usable token: it holds characters"),
        ("kill -9 $$\n", "was killed by signal 9: (no stderr)"),
    ],
)
def test_a_command_without_a_token(tmp_path: Path, body: str, problem: str) -> None:
    with pytest.raises(TokenRefreshFailed) as caught:
        CommandTokens("box", (_script(tmp_path, body),), 5.0).get()
    assert str(caught.value).endswith(problem) or problem in str(caught.value)


def test_a_command_that_hangs_is_stopped(tmp_path: Path) -> None:
    program = _script(tmp_path, "exec sleep 30\n")  # the command waits; the test does not
    with pytest.raises(TokenRefreshFailed, match=r"timed out after 0\.2 s"):
        CommandTokens("box", (program,), 0.2).get()


def test_a_missing_program(tmp_path: Path) -> None:
    with pytest.raises(TokenRefreshFailed, match="cannot run: No such file"):
        CommandTokens("box", (str(tmp_path / "absent"),), 5.0).get()


def test_the_command_does_not_see_our_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_OAUTH_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("HOME", str(tmp_path))
    program = _script(
        tmp_path, 'printf "%s.%s\\n" "${RECONCILER_OAUTH_CLIENT_SECRET:-absent}" "$HOME"\n'
    )
    assert CommandTokens("box", (program,), 5.0).get().value == f"absent.{tmp_path}"
    assert os.environ["RECONCILER_OAUTH_CLIENT_SECRET"] == "s3cret"


def test_token_errors_are_source_errors() -> None:
    assert issubclass(TokenRefreshFailed, SourceError)
    assert issubclass(TokenUnavailable, SourceUnavailable)  # connect_with_retry backs off


def test_importing_the_imap_source_loads_no_certificates() -> None:
    """The token endpoint's TLS context is made at the first token request: a mailbox that
    logs in with a password never loads the system's certificates (issue 16, the start)."""
    probe = (
        "import ssl\n"
        "made = []\n"
        "real = ssl.create_default_context\n"
        "ssl.create_default_context = lambda *a, **k: made.append(1) or real(*a, **k)\n"
        "import reconciler.source.imap, reconciler.source.tokens\n"
        "print(len(made))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert ran.stdout.strip() == "0"
