"""OAuth2 access tokens for IMAP, the I/O part: the token endpoint and the token command.

`tokens_for(settings)` gives the mailbox's `AccessTokens`, one per mailbox and process, so
that every connection of the process (the cycles, the IDLE watcher, `status`) shares its
cache.  `get()` returns a `Token` and says whether it was obtained just now (`fresh`); the
IMAP login (source/imap.py) calls `discard(token)` when the server refused a cached one and
asks once more.

* `EndpointTokens` asks the token endpoint (RFC 6749: the refresh-token grant, or the
  client-credentials grant) over HTTPS with urllib: certificates verified, no redirect
  followed (the request carries the secrets), the answer bounded in size and time.  The
  token is kept in memory until shortly before it expires.  A refresh token the endpoint
  replaces (RFC 6749 section 6; Microsoft's identity platform does at every use, providers
  with rotation retire the old one) is used from then on, and written back to
  `refresh_token_file` (atomically, owner-only) so that the next start has it; a process
  reads that file again before each refresh, so that processes sharing it follow each
  other's replacements.  One given by `refresh_token_env` cannot be written back: a warning
  says so.
* `CommandTokens` runs `token_command` (no shell, a small environment, stdin closed, a
  timeout) for every login and reads the token from its first line of output.

Failures: `TokenRefreshFailed` (a SourceError: the endpoint said no, e.g. invalid_grant, or
the command failed; waiting does not help) and `TokenUnavailable` (a SourceUnavailable: the
endpoint could not be reached or was busy; retried with backoff like an IMAP server that is
down).  Both messages start with "<mailbox>: token refresh failed:".  No token or secret is
ever logged or put in a message.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import ssl
import stat
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import urlencode, urlsplit

from reconciler import __version__
from reconciler.controls import neutralise
from reconciler.errors import SourceError, SourceUnavailable
from reconciler.settings import Auth, MailboxSettings, OAuthSettings
from reconciler.source.oauth import (
    CachedToken,
    TokenGrant,
    TokenRefusal,
    check_token,
    read_token_answer,
)
from reconciler.source.oauth import token_request as _form

__all__ = [
    "AccessTokens",
    "CommandTokens",
    "EndpointTokens",
    "Token",
    "TokenRefreshFailed",
    "TokenUnavailable",
    "tokens_for",
]

log = logging.getLogger(__name__)

MAX_ANSWER: Final = 64 * 1024  # bytes of a token endpoint's answer (they are 1-5 KB)
_CHUNK: Final = 8192
_TAIL: Final = 300  # characters of a failing command's stderr that are shown
# What token programs need (their own store, keyring, proxy, CAs); never our environment,
# which holds the configured secrets.
_COMMAND_ENV: Final = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR",
    "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR",
    "DBUS_SESSION_BUS_ADDRESS", "GNUPGHOME", "GPG_AGENT_INFO", "SSL_CERT_FILE", "SSL_CERT_DIR",
    "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy",
)  # fmt: skip


class TokenRefreshFailed(SourceError):
    """No access token: the endpoint refused (its error code in the message) or the command
    failed.  Not retried: the configuration or the grant needs a person."""


class TokenUnavailable(SourceUnavailable):
    """No access token for now: the endpoint was unreachable, too slow or busy."""


@dataclass(frozen=True, slots=True)
class Token:
    value: str = field(repr=False)
    fresh: bool  # obtained for this login (not from the cache)


class AccessTokens(Protocol):
    def get(self) -> Token: ...

    def discard(self, token: Token) -> None:
        """The server refused `token`: never hand it out again."""
        ...


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A token endpoint does not redirect; following would send the secrets elsewhere."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    """The opener of token requests, made at the first one: its TLS context loads the system's
    certificates (some 20 ms), which a process that logs in with a password never needs."""
    return urllib.request.build_opener(
        _NoRedirects(), urllib.request.HTTPSHandler(context=ssl.create_default_context())
    )


class EndpointTokens:
    """Access tokens from a token endpoint, cached until shortly before they expire.

    `clock` (seconds, monotonic) is injected for tests; a lock makes one refresh serve the
    threads that wait for it.
    """

    def __init__(
        self,
        name: str,
        settings: OAuthSettings,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._settings = settings
        self._timeout = timeout
        self._clock = clock
        self._refresh_token = settings.refresh_token
        self._cached: CachedToken | None = None
        self._lock = threading.Lock()

    def get(self) -> Token:
        with self._lock:
            now = self._clock()
            if self._cached is not None and self._cached.usable(now):
                return Token(self._cached.value, fresh=False)
            self._cached = None
            grant = self._ask()
            self._cached = CachedToken.of(grant, now)
            if grant.refresh_token and grant.refresh_token != self._refresh_token:
                self._refresh_token = grant.refresh_token  # RFC 6749 section 6: use the new one
                log.debug("mailbox=%s the token endpoint replaced the refresh token", self._name)
                self._keep(grant.refresh_token)
            log.debug(
                "mailbox=%s new access token, renewed after %.0f s",
                self._name,
                self._cached.renew_at - now,
            )
            return Token(self._cached.value, fresh=True)

    def discard(self, token: Token) -> None:
        with self._lock:
            if self._cached is not None and self._cached.value == token.value:
                self._cached = None

    def _keep(self, refresh: str) -> None:
        """Write a replaced refresh token where the configured one came from, if a file."""
        path = self._settings.refresh_token_file
        if path is None:
            log.warning(
                "mailbox=%s the token endpoint issued a new refresh token; $%s still holds "
                "the old one, which the endpoint may no longer accept after a restart: use "
                "refresh_token_file, which is kept up to date",
                self._name,
                self._settings.refresh_token_env,
            )
            return
        try:
            replace_file(path, refresh + "\n")
        except OSError as err:
            log.warning(
                "mailbox=%s cannot write the new refresh token to %s: %s; it is used from "
                "memory until the process ends",
                self._name,
                path,
                err.strerror or err,
            )

    def _current_refresh(self) -> str:
        """The refresh token to send: the file's, when another process replaced it there."""
        path = self._settings.refresh_token_file
        if path is not None:
            try:
                stored = path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):  # gone or broken: the one in memory
                stored = ""
            if stored:
                self._refresh_token = stored
        return self._refresh_token

    def _ask(self) -> TokenGrant:
        url = self._settings.token_url
        failed = f"{self._name}: token refresh failed"
        form = _form(self._settings, self._current_refresh())
        status, body = _post(url, form, self._timeout, failed)
        answer = read_token_answer(status, body)
        if isinstance(answer, TokenRefusal):
            text = f"{failed}: {answer} (from {urlsplit(url).netloc})"
            raise TokenUnavailable(text) if answer.retry else TokenRefreshFailed(text)
        return answer


def replace_file(path: Path, text: str) -> None:
    """Replace the file's content atomically: a temporary file beside it, with the old file's
    permission bits (owner-only when there was none), flushed to disk, renamed over it."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o600
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _post(url: str, form: dict[str, str], timeout: float, failed: str) -> tuple[int, bytes]:
    """POST the form; (status, body) of any HTTP answer, TokenUnavailable when none came.

    `failed` starts the message of an error ("<mailbox>: token refresh failed")."""
    request = urllib.request.Request(url, data=urlencode(form).encode(), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("Accept", "application/json")
    request.add_header("User-Agent", f"bounce-reconciler/{__version__}")
    deadline = time.monotonic() + timeout
    where = f"{failed}: {urlsplit(url).netloc}"
    try:
        with _opener().open(request, timeout=timeout) as answer:
            return int(answer.status), _read(answer, deadline, where)
    except urllib.error.HTTPError as err:  # 3xx (not followed), 4xx, 5xx: the body may say why
        with err:
            return err.code, _read(err, deadline, where)
    except (urllib.error.URLError, OSError) as err:  # refused, reset, timeout, DNS, TLS
        reason = getattr(err, "reason", None) or err
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise TokenRefreshFailed(f"{where}: {reason}") from err
        raise TokenUnavailable(f"{where}: unreachable: {reason}") from err


def _read(answer: Readable, deadline: float, where: str) -> bytes:
    """At most `MAX_ANSWER` bytes, all read before `deadline` (a slow drip is cut off)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := answer.read(_CHUNK):
        size += len(chunk)
        if size > MAX_ANSWER:
            raise TokenRefreshFailed(f"{where}: the answer is longer than {MAX_ANSWER} bytes")
        if time.monotonic() > deadline:
            raise TokenUnavailable(f"{where}: the answer came too slowly")
        chunks.append(chunk)
    return b"".join(chunks)


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


class CommandTokens:
    """Access tokens printed by `token_command`: run for every login, never cached (the
    program keeps its own cache and knows when to refresh)."""

    def __init__(self, name: str, argv: tuple[str, ...], timeout: float) -> None:
        self._name = name
        self._argv = argv
        self._timeout = timeout

    def get(self) -> Token:
        return Token(_run_command(self._name, self._argv, self._timeout), fresh=True)

    def discard(self, token: Token) -> None:
        pass  # nothing kept


def _run_command(name: str, argv: tuple[str, ...], timeout: float) -> str:
    shown = f"{name}: token refresh failed: token_command {argv[0]}"
    env = {k: v for k, v in os.environ.items() if k in _COMMAND_ENV}
    try:
        done = subprocess.run(  # argv from the operator's configuration; never a shell
            list(argv), stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
            check=False, env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired as err:
        raise TokenRefreshFailed(f"{shown} timed out after {timeout:g} s") from err
    except OSError as err:
        raise TokenRefreshFailed(f"{shown} cannot run: {err.strerror or err}") from err
    if done.returncode != 0:
        status = (
            f"was killed by signal {-done.returncode}"
            if done.returncode < 0
            else f"exited with status {done.returncode}"
        )
        raise TokenRefreshFailed(f"{shown} {status}: {_tail(done.stderr) or '(no stderr)'}")
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    token = lines[0].strip() if lines else ""
    problem = check_token(token)
    if problem is not None:
        raise TokenRefreshFailed(f"{shown} printed no usable token: {problem}")
    return token


def _tail(data: bytes) -> str:
    """The end of a program's stderr on one line, control characters shown as escapes."""
    text = " ".join(data.decode("utf-8", "replace").split())
    return neutralise(text[-_TAIL:])


_SHARED: dict[tuple[str, Auth, OAuthSettings], AccessTokens] = {}
_SHARED_LOCK = threading.Lock()


def tokens_for(settings: MailboxSettings) -> AccessTokens:
    """The mailbox's token source, one per process: its cache serves every connection."""
    oauth = settings.oauth
    if settings.auth is Auth.PASSWORD or oauth is None:
        raise SourceError(f"{settings.name}: auth = password: no access tokens")
    key = (settings.name, settings.auth, oauth)
    with _SHARED_LOCK:
        found = _SHARED.get(key)
        if found is None:
            found = (
                CommandTokens(settings.name, oauth.token_command, settings.timeout_seconds)
                if oauth.token_command
                else EndpointTokens(settings.name, oauth, settings.timeout_seconds)
            )
            _SHARED[key] = found
        return found
