"""A small OAuth2 authorization server on loopback, for the tests of OAuth2 mailboxes.

It plays the provider's part (Microsoft's or Google's token endpoint) and the part dovecot's
`oauth2` passdb asks (token introspection, RFC 7662)::

    service = TokenService()                 # http://127.0.0.1:PORT, a thread of this process
    service.start()
    refresh = service.add_refresh_token("user7")      # grants access tokens for user7
    service.token_url                        # POST grant_type=refresh_token | client_credentials
    service.introspection_url                # POST token=...: {"active": true, "username": ...}
    service.expire_all()                     # every access token issued so far is now inactive
    service.revoke(refresh)                  # the refresh token gives invalid_grant from now on
    service.disable("user7")                 # tokens of user7 introspect inactive, new ones too
    service.grants                           # what the token endpoint was asked, in order
    service.stop()

Tokens never expire by the clock here (tests never sleep): a test expires them on request.
`lifetime` is only what `expires_in` says.  `rotate = True` makes every refresh issue a new
refresh token and retire the one used (as some providers do).  `fail_next(status, body)`
answers the next token request with that status and body instead.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

__all__ = ["Grant", "TokenService"]

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Grant:
    """One request to the token endpoint, as the service understood it."""

    grant_type: str
    client_id: str
    status: int  # what the service answered
    scope: str = ""
    error: str = ""


@dataclass
class _State:
    refresh: dict[str, str] = field(default_factory=dict)  # refresh token -> username
    active: dict[str, str] = field(default_factory=dict)  # access token -> username
    issued: list[str] = field(default_factory=list)  # every access token, in order
    grants: list[Grant] = field(default_factory=list)
    introspections: list[tuple[str, bool]] = field(default_factory=list)  # (username, active)
    failures: list[tuple[int, bytes, str]] = field(default_factory=list)  # injected answers
    disabled: set[str] = field(default_factory=set)  # users whose tokens introspect inactive
    redirect_to: str | None = None


class TokenService:
    """A loopback OAuth2 token endpoint and introspection endpoint (see the module doc)."""

    def __init__(
        self,
        *,
        client_id: str = "reconciler-test",
        client_secret: str | None = None,
        lifetime: int | str | None = 3600,
        app_user: str | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.lifetime = lifetime  # expires_in as answered (None: left out)
        self.app_user = app_user  # the mailbox a client_credentials token opens
        self.rotate = False
        self._tls = tls
        self._lock = threading.Lock()
        self._state = _State()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        server = ThreadingHTTPServer((HOST, 0), _handler(self))
        server.daemon_threads = True
        if self._tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self._tls[0]), str(self._tls[1]))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="tokens", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the token service is not running")
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{HOST}:{self._server.server_address[1]}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def introspection_url(self) -> str:
        return f"{self.url}/introspect"

    # -- controls --------------------------------------------------------------------------

    def add_refresh_token(self, username: str) -> str:
        token = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self._state.refresh[token] = username
        return token

    def revoke(self, refresh_token: str) -> None:
        with self._lock:
            self._state.refresh.pop(refresh_token, None)

    def disable(self, username: str) -> None:
        """Tokens of `username`, old and new, are inactive from now on (a disabled account)."""
        with self._lock:
            self._state.disabled.add(username)

    def expire_all(self) -> None:
        """Every access token issued so far is inactive from now on."""
        with self._lock:
            self._state.active.clear()

    def fail_next(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        with self._lock:
            self._state.failures.append((status, body, content_type))

    def redirect(self, location: str | None) -> None:
        """Answer every token request with a 307 to `location` (None: stop)."""
        with self._lock:
            self._state.redirect_to = location

    @property
    def grants(self) -> list[Grant]:
        with self._lock:
            return list(self._state.grants)

    @property
    def issued(self) -> list[str]:
        """Every access token issued, in order."""
        with self._lock:
            return list(self._state.issued)

    @property
    def refresh_tokens(self) -> list[str]:
        with self._lock:
            return list(self._state.refresh)

    @property
    def introspections(self) -> list[tuple[str, bool]]:
        with self._lock:
            return list(self._state.introspections)

    # -- the endpoints ---------------------------------------------------------------------

    def _token(self, form: Mapping[str, str]) -> tuple[int, dict[str, object]]:
        grant_type = form.get("grant_type", "")
        client_id = form.get("client_id", "")
        scope = form.get("scope", "")
        if client_id != self.client_id or form.get("client_secret") != self.client_secret:
            return self._deny(grant_type, client_id, 401, "invalid_client", scope)
        if grant_type == "client_credentials" and self.app_user is not None:
            user = self.app_user
        elif grant_type == "refresh_token":
            user = self._state.refresh.get(form.get("refresh_token", ""), "")
            if not user:
                return self._deny(grant_type, client_id, 400, "invalid_grant", scope)
        else:
            return self._deny(grant_type, client_id, 400, "unsupported_grant_type", scope)
        access = "at-" + secrets.token_urlsafe(24)
        self._state.active[access] = user
        self._state.issued.append(access)
        body: dict[str, object] = {"access_token": access, "token_type": "Bearer"}
        if self.lifetime is not None:
            body["expires_in"] = self.lifetime
        if self.rotate and grant_type == "refresh_token":
            del self._state.refresh[form["refresh_token"]]
            fresh = "rt-" + secrets.token_urlsafe(24)
            self._state.refresh[fresh] = user
            body["refresh_token"] = fresh
        self._state.grants.append(Grant(grant_type, client_id, 200, scope))
        return 200, body

    def _deny(
        self, grant_type: str, client_id: str, status: int, error: str, scope: str
    ) -> tuple[int, dict[str, object]]:
        self._state.grants.append(Grant(grant_type, client_id, status, scope, error))
        description = f"AADSTS70000: the request was refused ({error}).\r\nTrace ID: 1234"
        return status, {"error": error, "error_description": description}

    def _introspect(self, form: Mapping[str, str]) -> dict[str, object]:
        user = self._state.active.get(form.get("token", ""))
        if user in self._state.disabled:
            user = None
        self._state.introspections.append((user or "", user is not None))
        return {"active": True, "username": user} if user else {"active": False}

    def handle(self, path: str, form: Mapping[str, str]) -> tuple[int, str, bytes, str | None]:
        """(status, content type, body, Location) for one request."""
        with self._lock:
            if path == "/introspect":
                return 200, "application/json", json.dumps(self._introspect(form)).encode(), None
            if path != "/token":
                return 404, "text/plain", b"not found", None
            if self._state.redirect_to is not None:
                return 307, "text/plain", b"", self._state.redirect_to
            if self._state.failures:
                status, body, kind = self._state.failures.pop(0)
                grant = Grant(form.get("grant_type", ""), form.get("client_id", ""), status)
                self._state.grants.append(grant)
                return status, kind, body, None
            status, answer = self._token(form)
            return status, "application/json", json.dumps(answer).encode(), None


def _handler(service: TokenService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace")
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            status, kind, body, location = service.handle(self.path, form)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if location is not None:
                self.send_header("Location", location)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: the tests assert on what was asked, not on an access log

    return Handler
