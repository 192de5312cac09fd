"""OAuth2 mailboxes against a real dovecot whose `oauth2` passdb asks a real token service.

`oauth_dovecot` takes XOAUTH2 and OAUTHBEARER and checks each token by introspection at
`token_service` (tests/tokenservice.py, HTTP on loopback), which issues access tokens from
refresh tokens and expires or refuses them when a test asks: nothing waits for a clock.
The same accounts also log in with a password, so an OAuth2 mailbox and a password mailbox
can drain the same messages side by side.
"""

from __future__ import annotations

import base64
import json
import logging
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from dovecot import Account, Dovecot
from helpers_mail import FOLDERS, VERP, corpus_mail, hard_bounce, plain_mail, token_for
from tokenservice import TokenService

from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules
from reconciler.cli import main
from reconciler.config import Auth, LoggingSettings, MailboxSettings, OAuthSettings
from reconciler.errors import SourceError
from reconciler.logs import configure_logging
from reconciler.records import MessageOutcome
from reconciler.service.cycle import CycleContext, CycleReport, poll_mailbox, run_once
from reconciler.source.backoff import Backoff, connect_with_retry
from reconciler.source.imap import ImapSource
from reconciler.source.oauth import oauthbearer_response, xoauth2_response
from reconciler.source.tokens import EndpointTokens, TokenRefreshFailed
from reconciler.store import Store, open_database

pytestmark = pytest.mark.live

MECHANISMS = [Auth.XOAUTH2, Auth.OAUTHBEARER]


class Clock:
    """The token cache's clock (monotonic seconds), moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _oauth(service: TokenService, refresh: str) -> OAuthSettings:
    return OAuthSettings(
        token_url=service.token_url,
        client_id=service.client_id,
        client_secret=service.client_secret,
        refresh_token=refresh,
    )


def _mailbox(
    dovecot: Dovecot, account: Account, name: str, auth: Auth, oauth: OAuthSettings | None
) -> MailboxSettings:
    return MailboxSettings(
        name=name, host=dovecot.host, port=dovecot.imap_port, username=account.name,
        password="" if oauth else account.password, security="none", timeout_seconds=10.0,
        auth=auth, oauth=oauth,
    )  # fmt: skip


@pytest.fixture
def account(oauth_dovecot: Dovecot) -> Account:
    oauth_dovecot.start()
    return oauth_dovecot.add_user()


def _context() -> CycleContext:
    return CycleContext(classifier=Classifier(load_rules(None).rules), verp=VERP)


def _bounces(tag: str, count: int) -> list[bytes]:
    """Hard bounces with verified tokens, one corpus bounce, one message that is no bounce,
    and one bounce without a token: every destination folder gets something."""
    mail = [
        hard_bounce(
            token_for(100 + i, address=f"user{i}@example.net"), f"user{i}@example.net", f"{tag}-{i}"
        )
        for i in range(count)
    ]
    mail.append(corpus_mail("lhost-exim-05.eml", token_for(200, address=None), f"{tag}-exim"))
    mail.append(plain_mail(token_for(201, address=None), f"{tag}-plain"))
    mail.append(corpus_mail("lhost-postfix-33.eml", "nobody@example.org", f"{tag}-no-token"))
    return mail


def _today() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(days=1), now + timedelta(days=1)


def _folders(dovecot: Dovecot, account: Account) -> dict[str, int]:
    found = dovecot.folders(account)
    return {f: len(dovecot.uids(account, f)) for f in FOLDERS if f in found}


def _logins(dovecot: Dovecot, account: Account) -> list[str]:
    """The dovecot log lines of this account's logins and failed logins with a token (the
    test's own checks log in with the password)."""
    lines = dovecot.log_file.read_text(errors="replace").splitlines()
    return [
        line
        for line in lines
        if f"user=<{account.name}>" in line and "imap-login" in line and "method=PLAIN" not in line
    ]


# -- logging in ---------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", MECHANISMS)
def test_login(
    oauth_dovecot: Dovecot, account: Account, token_service: TokenService, auth: Auth
) -> None:
    oauth = _oauth(token_service, token_service.add_refresh_token(account.name))
    settings = _mailbox(oauth_dovecot, account, "login", auth, oauth)
    with ImapSource(settings, tokens=EndpointTokens("login", oauth, 10.0, Clock())) as source:
        assert source.uidvalidity > 0
        assert list(source.uids_after(0)) == []
    logins = _logins(oauth_dovecot, account)
    assert len(logins) == 1
    assert f"Login: user=<{account.name}>, method={auth.value.upper()}" in logins[0]


def test_a_token_for_another_user_is_login_failed(
    oauth_dovecot: Dovecot, account: Account, token_service: TokenService
) -> None:
    oauth = _oauth(token_service, token_service.add_refresh_token("someone-else"))
    settings = _mailbox(oauth_dovecot, account, "other", Auth.XOAUTH2, oauth)
    with pytest.raises(SourceError) as caught:
        _open(settings, EndpointTokens("other", oauth, 10.0, Clock()))
    text = str(caught.value)
    assert "login failed: XOAUTH2 with a new token: [AUTHENTICATIONFAILED]" in text
    assert "(status=401 scope=mail)" in text  # dovecot's error challenge
    assert "token refresh failed" not in text
    assert len(token_service.grants) >= 1 and token_service.grants[-1].status == 200


def test_a_server_without_the_mechanism(
    dovecot: Dovecot, imap_account: Account, token_service: TokenService
) -> None:
    """The suite's plain dovecot offers only PLAIN and LOGIN: said before any token is asked."""
    before = len(token_service.grants)
    oauth = _oauth(token_service, token_service.add_refresh_token(imap_account.name))
    settings = _mailbox(dovecot, imap_account, "plain", Auth.OAUTHBEARER, oauth)
    with pytest.raises(
        SourceError, match=r"does not offer AUTH=OAUTHBEARER \(it offers LOGIN, PLAIN\)"
    ):
        ImapSource(settings, tokens=EndpointTokens("plain", oauth, 10.0, Clock())).open()
    assert len(token_service.grants) == before


# -- draining -----------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", MECHANISMS)
def test_an_oauth_mailbox_drains_exactly_like_a_password_mailbox(
    tmp_path: Path, oauth_dovecot: Dovecot, token_service: TokenService, auth: Auth
) -> None:
    by_token, by_password = oauth_dovecot.add_user(), oauth_dovecot.add_user()
    mail = _bounces("drain", 5)
    for owner in (by_token, by_password):
        oauth_dovecot.append(owner, "INBOX", mail)
    oauth = _oauth(token_service, token_service.add_refresh_token(by_token.name))
    mailboxes = [
        _mailbox(oauth_dovecot, by_token, "bounces", auth, oauth),  # the shared token cache
        _mailbox(oauth_dovecot, by_password, "bounces", Auth.PASSWORD, None),
    ]
    reports, stores = [], []
    for index, mailbox in enumerate(mailboxes):  # each in its own database: same bytes
        with open_database(f"sqlite:///{tmp_path / f'{index}.db'}") as store:
            store.migrate(datetime.now(UTC))
            result = run_once([mailbox], store, _context(), "log-only")
            assert result.ok, result.errors
            reports.append(result.reports[0])
            stores.append((store.checkpoints()[0].last_uid, store.outcome_counts(*_today())))
    by_token_report, by_password_report = reports
    assert by_token_report.summary() == by_password_report.summary()
    assert by_token_report.seen == len(mail) and by_token_report.moved == len(mail)
    assert by_token_report.outcomes[MessageOutcome.PROCESSED] >= 6
    assert by_token_report.severities["hard"] >= 6
    assert stores[0] == stores[1] and stores[0][0] == len(mail)
    folders = _folders(oauth_dovecot, by_token)
    assert folders == _folders(oauth_dovecot, by_password)
    assert folders["INBOX"] == 0 and folders["processed"] >= 6 and folders["unmatched"] >= 1
    assert len(_logins(oauth_dovecot, by_token)) == 1


def _open(settings: MailboxSettings, tokens: EndpointTokens) -> ImapSource:
    """Connect as a cycle does (with backoff, which no test here expects to wait)."""
    return connect_with_retry(
        lambda: ImapSource(settings, tokens=tokens),
        Backoff(attempts=2),
        sleep=lambda _: pytest.fail("no retry expected"),
    )


def _cycle(settings: MailboxSettings, tokens: EndpointTokens, store: Store) -> CycleReport:
    """One cycle as the daemon runs it: connect, drain, log out."""
    with _open(settings, tokens) as source:
        return poll_mailbox(source, store, settings, _context())


@pytest.mark.parametrize("auth", MECHANISMS)
def test_a_token_that_expires_mid_run_is_refreshed_once(
    oauth_dovecot: Dovecot, account: Account, token_service: TokenService, sqlite_store: Store,
    auth: Auth, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger="reconciler")
    oauth = _oauth(token_service, token_service.add_refresh_token(account.name))
    settings = _mailbox(oauth_dovecot, account, "expiry", auth, oauth)
    clock = Clock()
    tokens = EndpointTokens("expiry", oauth, 10.0, clock)
    asked = len(token_service.grants)

    oauth_dovecot.append(account, "INBOX", _bounces("one", 2))
    first = _cycle(settings, tokens, sqlite_store)
    assert first.seen == 5 and first.moved == 5
    assert len(token_service.grants) == asked + 1

    # the server lets the token lapse before our clock says so: the cached token is refused,
    # a new one is asked for once, and the cycle goes on
    token_service.expire_all()
    oauth_dovecot.append(account, "INBOX", _bounces("two", 3))
    second = _cycle(settings, tokens, sqlite_store)
    assert second.seen == 6 and second.moved == 6
    assert len(token_service.grants) == asked + 2
    refused = [r for r in caplog.records if "refused the cached token" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.INFO
    logins = _logins(oauth_dovecot, account)
    assert len([line for line in logins if "auth failed" in line]) == 1
    assert len([line for line in logins if "Login:" in line]) == 2

    # our clock reaches the end of the token's life: renewed before the login, none refused
    clock.now += 3600
    oauth_dovecot.append(account, "INBOX", _bounces("three", 1))
    third = _cycle(settings, tokens, sqlite_store)
    assert third.seen == 4
    assert len(token_service.grants) == asked + 3
    assert len([r for r in caplog.records if "refused the cached token" in r.getMessage()]) == 1
    assert _folders(oauth_dovecot, account)["INBOX"] == 0


def test_a_token_refused_after_the_refresh_is_not_refreshed_again(
    oauth_dovecot: Dovecot, account: Account, token_service: TokenService, sqlite_store: Store
) -> None:
    oauth = _oauth(token_service, token_service.add_refresh_token(account.name))
    settings = _mailbox(oauth_dovecot, account, "disabled", Auth.XOAUTH2, oauth)
    tokens = EndpointTokens("disabled", oauth, 10.0, Clock())
    _cycle(settings, tokens, sqlite_store)
    asked = len(token_service.grants)
    token_service.disable(account.name)  # every token, old and new, is refused now
    with pytest.raises(SourceError, match="login failed: XOAUTH2 with a new token"):
        _cycle(settings, tokens, sqlite_store)
    assert len(token_service.grants) == asked + 1  # one refresh, then the error


# -- the CLI: poll --once, status, check-config ------------------------------------------------


def _config(
    tmp_path: Path, dovecot: Dovecot, account: Account, auth_lines: str, level: str = "info"
) -> Path:
    path = tmp_path / "reconciler.toml"
    path.write_text(
        f"""[[mailbox]]
name = "bounces"
host = "{dovecot.host}"
port = {dovecot.imap_port}
security = "none"
username = "{account.name}"
timeout_seconds = 10.0
{auth_lines}
[database]
url = "sqlite:///{tmp_path / "state.db"}"

[logging]
level = "{level}"

[verp]
domain = "{VERP.domain}"
[[verp.keys]]
id = "{VERP.keys[0].id}"
secret_env = "TEST_VERP_KEY"
"""
    )
    path.chmod(0o600)
    return path


def _endpoint_lines(service: TokenService, refresh_file: Path) -> str:
    return (
        f'auth = "xoauth2"\ntoken_url = "{service.token_url}"\nclient_id = "{service.client_id}"\n'
        f'client_secret_env = "TEST_CLIENT_SECRET"\nrefresh_token_file = "{refresh_file}"\n'
    )


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, token_service: TokenService) -> None:
    monkeypatch.setenv("TEST_VERP_KEY", VERP.keys[0].secret.decode())
    monkeypatch.setenv("TEST_CLIENT_SECRET", token_service.client_secret)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_revoked_refresh_token_is_one_clear_error_and_a_stale_status(
    tmp_path: Path, oauth_dovecot: Dovecot, account: Account, token_service: TokenService,
    capsys: pytest.CaptureFixture[str], env: None, restore_logging: None,
) -> None:  # fmt: skip
    refresh = token_service.add_refresh_token(account.name)
    (tmp_path / "refresh").write_text(refresh + "\n")
    lines = _endpoint_lines(token_service, tmp_path / "refresh")
    config = str(_config(tmp_path, oauth_dovecot, account, lines))
    oauth_dovecot.append(account, "INBOX", _bounces("revoked", 1))
    token_service.revoke(refresh)
    asked = len(token_service.grants)

    code, _out, err = _run(capsys, "--config", config, "poll", "--once")
    assert code == 1
    errors = [line for line in err.splitlines() if " ERROR " in line]
    assert len(errors) == 1, err
    assert (
        "mailbox=bounces cycle failed: bounces: token refresh failed: invalid_grant: " in errors[0]
    )
    assert "login failed" not in err
    assert len(token_service.grants) == asked + 1  # not retried: waiting would not help
    assert _folders(oauth_dovecot, account)["INBOX"] == 4  # nothing read, nothing moved

    code, out, _err = _run(capsys, "--config", config, "status", "--json")
    status = json.loads(out)["mailboxes"][0]
    assert code == 1 and status["stale"] is True and status["last_success"] is None
    assert "token refresh failed: invalid_grant" in status["imap_error"]
    code, out, _err = _run(capsys, "--config", config, "status")
    words = " ".join(out.split())  # the table folds the error over lines
    assert code == 1 and "STALE" in out and "token refresh failed: invalid_grant" in words


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_the_token_command_route(
    tmp_path: Path, oauth_dovecot: Dovecot, account: Account, token_service: TokenService,
    capsys: pytest.CaptureFixture[str], env: None, restore_logging: None,
) -> None:  # fmt: skip
    """A program prints the token (here: from a file a token tool would keep up to date)."""
    held = tmp_path / "access-token"
    oauth = _oauth(token_service, token_service.add_refresh_token(account.name))
    tokens = EndpointTokens("tool", oauth, 10.0)
    held.write_text(tokens.get().value + "\n")
    program = _script(tmp_path, "print-token", f'test "$1" = "{account.name}" && cat "{held}"\n')
    lines = f'auth = "oauthbearer"\ntoken_command = ["{program}", "{account.name}"]\n'
    config = str(_config(tmp_path, oauth_dovecot, account, lines))
    oauth_dovecot.append(account, "INBOX", _bounces("command", 2))

    code, _out, err = _run(capsys, "--config", config, "poll", "--once")
    assert code == 0, err
    assert _folders(oauth_dovecot, account) == {"INBOX": 0, "processed": 4, "unmatched": 1}
    logins = _logins(oauth_dovecot, account)
    assert len(logins) == 1 and f"user=<{account.name}>, method=OAUTHBEARER" in logins[0]


def test_a_failing_token_command_shows_its_stderr_and_exit_status(
    tmp_path: Path, oauth_dovecot: Dovecot, account: Account,
    capsys: pytest.CaptureFixture[str], env: None, restore_logging: None,
) -> None:  # fmt: skip
    program = _script(
        tmp_path, "oama", 'echo "oama: no refresh token for $2; run: oama authorize" >&2\nexit 2\n'
    )
    lines = f'auth = "xoauth2"\ntoken_command = ["{program}", "access", "{account.name}"]\n'
    config = str(_config(tmp_path, oauth_dovecot, account, lines))
    code, _out, err = _run(capsys, "--config", config, "poll", "--once")
    assert code == 1
    expected = (
        f"bounces: token refresh failed: token_command {program} exited with status 2: "
        f"oama: no refresh token for {account.name}; run: oama authorize"
    )
    assert next(line for line in err.splitlines() if " ERROR " in line).endswith(expected)
    code, out, _err = _run(capsys, "--config", config, "status", "--json")
    assert code == 1 and json.loads(out)["mailboxes"][0]["imap_error"] == expected


# -- no token or secret in any output --------------------------------------------------------------


def _needles(service: TokenService, user: str, refresh: list[str]) -> list[str]:
    """Every secret and token, and the forms a protocol carries them in."""
    plain = [service.client_secret, *refresh, *service.refresh_tokens, *service.issued]
    forms = list(plain)
    forms.extend(quote_plus(secret) for secret in plain)  # the form POSTed to the endpoint
    for token in service.issued:
        for sasl in (
            xoauth2_response(user, token),
            oauthbearer_response(user, token, "127.0.0.1", 0),
        ):
            forms.append(base64.b64encode(sasl).decode())
        forms.append(base64.b64encode(xoauth2_response(user, token)).decode()[:40])
    return forms


def test_no_token_or_secret_in_any_log_line_or_output(
    tmp_path: Path, oauth_dovecot: Dovecot, account: Account, token_service: TokenService,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, env: None,
    restore_logging: None,
) -> None:  # fmt: skip
    token_service.rotate = True  # the endpoint hands out new refresh tokens too
    refresh = token_service.add_refresh_token(account.name)
    (tmp_path / "refresh").write_text(refresh)
    lines = _endpoint_lines(token_service, tmp_path / "refresh")
    config = str(_config(tmp_path, oauth_dovecot, account, lines, level="debug"))
    oauth_dovecot.append(account, "INBOX", _bounces("secret", 1))
    seen: list[str] = []
    try:
        for argv in (["check-config", "--all"], ["poll", "--once"], ["status"], ["dry-run"]):
            code, out, err = _run(capsys, "--config", config, *argv)
            assert code == 0, err
            seen += [out, err]
        shown = " ".join(seen[0].split())  # check-config fits its lines to the terminal
        assert "(hidden; from environment variable TEST_CLIENT_SECRET)" in shown
        # the IMAP library's own dialogue too (the logging set-up keeps it at INFO), with a
        # refused cached token on the way
        configure_logging(LoggingSettings(level="debug", format="json"))
        logging.getLogger().addHandler(caplog.handler)
        for name in ("imapclient", "urllib3"):
            logging.getLogger(name).setLevel(logging.DEBUG)
        caplog.set_level(logging.DEBUG)
        oauth = _oauth(token_service, token_service.refresh_tokens[-1])
        settings = _mailbox(oauth_dovecot, account, "bounces", Auth.XOAUTH2, oauth)
        tokens = EndpointTokens("bounces", oauth, 10.0, Clock())
        with open_database(f"sqlite:///{tmp_path / 'state.db'}") as store:
            _cycle(settings, tokens, store)
            token_service.expire_all()
            oauth_dovecot.append(account, "INBOX", _bounces("again", 1))
            _cycle(settings, tokens, store)
        seen.append(capsys.readouterr().err)
    finally:
        token_service.rotate = False
    seen.append(caplog.text)
    seen.extend(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    everything = "\n".join(seen)
    assert "AUTHENTICATE **REDACTED**" in everything  # the IMAP dialogue was captured
    assert "refused the cached token" in everything
    assert len(token_service.issued) >= 3
    for needle in _needles(token_service, account.name, [refresh]):
        assert needle not in everything, f"a secret leaked: {needle[:8]}..."


def test_token_refresh_failed_is_not_login_failed(
    oauth_dovecot: Dovecot, account: Account, token_service: TokenService
) -> None:
    refresh = token_service.add_refresh_token(account.name)
    token_service.revoke(refresh)
    oauth = _oauth(token_service, refresh)
    settings = _mailbox(oauth_dovecot, account, "revoked", Auth.XOAUTH2, oauth)
    with pytest.raises(TokenRefreshFailed, match=r"^revoked: token refresh failed: invalid_grant"):
        ImapSource(settings, tokens=EndpointTokens("revoked", oauth, 10.0, Clock())).open()
    assert _logins(oauth_dovecot, account) == []  # no login was even tried
