"""OAuth2 for IMAP, the pure part: SASL responses, token requests and answers, expiry.

No network, no clock, no environment: the I/O around it is `reconciler.source.tokens`, and
the IMAP login that uses it is in `reconciler.source.imap`.

* `SaslExchange` answers the server's challenges for XOAUTH2 (Google's and Microsoft's
  mechanism) and OAUTHBEARER (RFC 7628): the first with the token, a later one (the server's
  JSON error) with the dummy response that ends the exchange, keeping the error to show.
* `token_request` builds the form of a refresh-token grant (RFC 6749 section 6) or of a
  client-credentials grant (section 4.4); `read_token_answer` reads the endpoint's answer
  (section 5.1 or 5.2) into a `TokenGrant` or a `TokenRefusal`.
* `CachedToken.usable(now)` says whether a token is still worth using: until `margin` before
  it expires, where the margin is a tenth of its lifetime and at most a minute.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Final

from reconciler.controls import neutralise
from reconciler.settings import Auth, OAuthGrant, OAuthSettings

__all__ = [
    "CachedToken",
    "SaslExchange",
    "TokenGrant",
    "TokenRefusal",
    "check_token",
    "oauthbearer_response",
    "read_token_answer",
    "token_request",
    "xoauth2_response",
]

UNKNOWN_LIFETIME: Final = 300.0  # seconds a token without `expires_in` is used before renewal
MAX_MARGIN: Final = 60.0  # renew at most this long before a token expires
_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 section 2.1
_MAX_TOKEN: Final = 16 * 1024  # Microsoft's JWTs are 2-4 KB
_DETAIL: Final = 160  # characters of an endpoint's error description that are shown
_RETRY_STATUS: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


def check_token(text: str) -> str | None:
    """Why `text` is not a usable bearer token (None: it is one).  Never quotes the text."""
    if not text:
        return "it is empty"
    if len(text) > _MAX_TOKEN:
        return f"it is longer than {_MAX_TOKEN} characters"
    if not _B64TOKEN.fullmatch(text):
        return "it holds characters a bearer token cannot have (RFC 6750), such as spaces"
    return None


def xoauth2_response(user: str, token: str) -> bytes:
    """The XOAUTH2 initial response: ``user=U^Aauth=Bearer T^A^A``."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def _saslname(user: str) -> str:
    return user.replace("=", "=3D").replace(",", "=2C")  # RFC 5801 section 4


def oauthbearer_response(user: str, token: str, host: str, port: int) -> bytes:
    """The OAUTHBEARER initial response (RFC 7628 section 3.1), with host and port."""
    pairs = f"host={host}\x01port={port}\x01auth=Bearer {token}\x01"
    return f"n,a={_saslname(user)},\x01{pairs}\x01".encode()


@dataclass(slots=True)
class SaslExchange:
    """The client side of one XOAUTH2 or OAUTHBEARER exchange (a callable for imapclient).

    Called with each server challenge: the first (empty) gets the token; any later one is the
    server's error (JSON, RFC 7628 section 3.2.2), which is kept in `error` and answered with
    the dummy response that lets the server end the exchange with NO.
    """

    auth: Auth
    initial: bytes = field(repr=False)
    error: str = ""
    _challenges: int = 0

    @classmethod
    def start(cls, auth: Auth, user: str, token: str, host: str, port: int) -> SaslExchange:
        if auth is Auth.OAUTHBEARER:
            return cls(auth, oauthbearer_response(user, token, host, port))
        return cls(auth, xoauth2_response(user, token))

    @property
    def mechanism(self) -> str:
        return self.auth.value.upper()

    def __call__(self, challenge: bytes) -> bytes:
        self._challenges += 1
        if self._challenges == 1:
            return self.initial
        self.error = _server_error(challenge)
        return b"\x01" if self.auth is Auth.OAUTHBEARER else b""


def _server_error(challenge: bytes) -> str:
    """The server's error challenge as `key=value` pairs (status, scope), for the log."""
    try:
        found = json.loads(challenge)
    except ValueError:
        found = None
    if not isinstance(found, dict):
        return neutralise(challenge[:_DETAIL].decode("utf-8", "replace"))
    pairs = (f"{k}={v}" for k, v in found.items() if isinstance(v, str | int) and k != "schemes")
    return neutralise(" ".join(pairs)[:_DETAIL])


def token_request(settings: OAuthSettings, refresh_token: str) -> dict[str, str]:
    """The form fields POSTed to the token endpoint (client secret in the body, as Microsoft
    and Google document it)."""
    form = {"grant_type": settings.grant.value, "client_id": settings.client_id}
    if settings.grant is OAuthGrant.REFRESH_TOKEN:
        form["refresh_token"] = refresh_token
    if settings.client_secret:
        form["client_secret"] = settings.client_secret
    if settings.scope:
        form["scope"] = settings.scope
    return form


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A successful answer (RFC 6749 section 5.1)."""

    access_token: str = field(repr=False)
    expires_in: float | None  # seconds; None when the endpoint did not say
    refresh_token: str | None = field(repr=False, default=None)  # a replacement, if issued


@dataclass(frozen=True, slots=True)
class TokenRefusal:
    """A failed answer: the endpoint's error code (section 5.2) or what was wrong with it.

    `retry`: worth asking again later (the endpoint was busy or broken), as opposed to an
    answer that waiting does not change (invalid_grant, invalid_client, a wrong URL)."""

    error: str  # "invalid_grant", or e.g. "HTTP 404" when the answer carried no error code
    description: str = ""
    retry: bool = False

    def __str__(self) -> str:
        return f"{self.error}: {self.description}" if self.description else self.error


def _text(value: object) -> str:
    """One line of at most `_DETAIL` characters of text from the endpoint, safe to show."""
    if not isinstance(value, str):
        return ""
    first = value.strip().splitlines()[0] if value.strip() else ""
    return neutralise(first[:_DETAIL])


def read_token_answer(status: int, body: bytes) -> TokenGrant | TokenRefusal:
    """The endpoint's answer: a grant (HTTP 200 with a bearer token) or why not."""
    if 300 <= status < 400:
        return TokenRefusal(f"HTTP {status}", "a redirect, not followed: is token_url right?")
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return TokenRefusal(f"HTTP {status}", "the answer is not a JSON object", _retry(status))
    if status != 200:
        code = _text(answer.get("error")) or f"HTTP {status}"
        return TokenRefusal(code, _text(answer.get("error_description")), _retry(status))
    return _grant(answer)


def _retry(status: int) -> bool:
    return status in _RETRY_STATUS or status >= 500


def _grant(answer: dict[str, object]) -> TokenGrant | TokenRefusal:
    token = answer.get("access_token")
    if not isinstance(token, str) or check_token(token) is not None:
        why = check_token(token) if isinstance(token, str) else "it is missing"
        return TokenRefusal("HTTP 200", f"no usable access_token: {why}")
    kind = answer.get("token_type", "Bearer")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        return TokenRefusal("HTTP 200", f"token_type {_text(str(kind))!r}: IMAP needs Bearer")
    refresh = answer.get("refresh_token")
    return TokenGrant(
        access_token=token,
        expires_in=_seconds(answer.get("expires_in")),
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
    )


def _seconds(value: object) -> float | None:
    """`expires_in` as a number of seconds: a JSON number, or a string of digits (Microsoft's
    v1 endpoint writes it so); anything else is unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int | float) and value > 0:
        return float(value)
    return None


@dataclass(frozen=True, slots=True)
class CachedToken:
    """An access token and when (on the clock that obtained it) it stops being used."""

    value: str = field(repr=False)
    obtained_at: float
    lifetime: float

    @classmethod
    def of(cls, grant: TokenGrant, now: float) -> CachedToken:
        return cls(grant.access_token, now, grant.expires_in or UNKNOWN_LIFETIME)

    @property
    def renew_at(self) -> float:
        return self.obtained_at + self.lifetime - min(MAX_MARGIN, self.lifetime / 10)

    def usable(self, now: float) -> bool:
        return now < self.renew_at
