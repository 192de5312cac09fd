"""`ImapSource`: one IMAP folder over imapclient, in UID mode only.

Reading never changes flags: bodies are fetched with BODY.PEEK[] (a partial
BODY.PEEK[]<0.N> with N = max_message_bytes, so a message larger than the cap arrives as its
head only, in the same round trip), together with RFC822.SIZE.  Moves go by UID sets in
chunks: UID MOVE when the server has MOVE, else COPY + \\Deleted + UID EXPUNGE.  A server with
neither MOVE nor UIDPLUS (no UID EXPUNGE) gets COPY + \\Deleted only: its plain EXPUNGE would
also remove the messages someone else flagged \\Deleted, so the copied ones are left flagged
for a person to expunge, and `move` says how many.

Login: LOGIN with the password, or (`auth = xoauth2 | oauthbearer`) SASL with an access token
from `source.tokens`; a cached token the server refuses is discarded and the login tried once
more, on a new connection, with a new token.
"""

from __future__ import annotations

import contextlib
import hashlib
import imaplib
import logging
import re
import ssl
from array import array
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from types import TracebackType
from typing import Any

from imapclient import DELETED, IMAPClient
from imapclient.datetime_util import parse_to_datetime
from imapclient.exceptions import LoginError
from imapclient.response_parser import parse_fetch_response

from reconciler.errors import SourceError, SourceUnavailable
from reconciler.records import LedgerEntry, RawMessage
from reconciler.settings import Auth, MailboxSettings, is_loopback
from reconciler.source.oauth import SaslExchange
from reconciler.source.tokens import AccessTokens, tokens_for

__all__ = ["ImapSource", "SourceUnavailable", "check_security", "find_message", "uid_set"]

log = logging.getLogger(__name__)

_MOVE_CHUNK = 1000  # UIDs per MOVE/COPY command: keeps command lines short
_FIND_CANDIDATES = 50  # messages of the right size fetched at most to find one by its digest
_SECURITY = ("tls", "starttls", "none")
_NEWS = ("EXPUNGE", "VANISHED", "EXISTS", "RECENT", "FETCH", "OK")  # untagged, kept by imaplib


class _RefusedCachedToken(SourceError):
    """The server refused a token from the cache (it may have expired early): ask again."""


def check_security(settings: MailboxSettings) -> None:
    """Refuse unusable transport settings before any connection is made."""
    if settings.security not in _SECURITY:
        raise SourceError(f"{settings.name}: security must be one of {_SECURITY}")
    if settings.security == "none" and not (settings.allow_plaintext or is_loopback(settings.host)):
        raise SourceError(
            f"{settings.name}: refusing plaintext IMAP to non-loopback host {settings.host} "
            "(use security = tls or starttls, or set allow_plaintext)"
        )


# What OpenSSL says when the server answered in plaintext (an IMAP greeting) to a TLS hello.
_PLAINTEXT_REASONS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG")
_NOT_TLS = (
    "the server answered without TLS: port {port} is a plaintext port; for security = "
    '"tls" use the TLS port (993), or set security = "starttls" (port 143)'
)
_BYTES_TEXT = re.compile(r"""^b(['"])(.*)\1$""", re.DOTALL)


def _plaintext_answer(err: ssl.SSLError) -> bool:
    return any(reason in str(err) for reason in _PLAINTEXT_REASONS) or (
        getattr(err, "reason", None) in _PLAINTEXT_REASONS
    )


def server_text(err: BaseException) -> str:
    """What the server said, as text: imapclient hands it over as bytes (`b'[AUTH...]'`)."""
    said = err.args[0] if err.args else str(err)
    if isinstance(said, bytes):
        return said.decode("utf-8", "replace")
    text = str(said)
    quoted = _BYTES_TEXT.match(text)
    return quoted.group(2) if quoted else text


def _ssl_context(settings: MailboxSettings) -> ssl.SSLContext:
    cafile = str(settings.ca_file) if settings.ca_file else None
    context = ssl.create_default_context(cafile=cafile)
    if not settings.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _connect(settings: MailboxSettings, tokens: AccessTokens | None) -> IMAPClient:
    """A logged-in client; a refused cached token is refreshed once, on a new connection."""
    try:
        return _connect_once(settings, tokens)
    except _RefusedCachedToken:
        log.info("mailbox=%s the server refused the cached token; refreshing it", settings.name)
        return _connect_once(settings, tokens)


def _connect_once(settings: MailboxSettings, tokens: AccessTokens | None) -> IMAPClient:
    """A logged-in client; the socket is closed again when any step fails."""
    tls = settings.security == "tls"
    context = _ssl_context(settings) if settings.security != "none" else None
    client = IMAPClient(
        settings.host, settings.port, ssl=tls, ssl_context=context,
        timeout=settings.timeout_seconds,
    )  # fmt: skip
    client.normalise_times = False  # keep INTERNALDATE's zone: aware datetimes, not local ones
    _quiet_trace(client)
    try:
        if settings.security == "starttls":
            if not client.has_capability("STARTTLS"):
                raise SourceError(
                    f"{settings.host}:{settings.port}: the server does not offer STARTTLS "
                    '(is it its TLS port? then set security = "tls")'
                )
            client.starttls(context)
        if tokens is None:
            client.login(settings.username, settings.password)
        else:
            _sasl_login(client, settings, tokens)
    except BaseException:
        _shutdown(client)
        raise
    return client


def _enable_qresync(client: IMAPClient) -> bool:
    """ENABLE QRESYNC (RFC 7162) when the server offers it (and ENABLE, RFC 5161): whether
    it is on.  Must come before SELECT.

    What it changes for us: the server reports expunged messages as one `* VANISHED uid-set`
    per command instead of one `* N EXPUNGE` per message (a UID MOVE of 500 messages: one
    line, not 500, each read and matched by imaplib, here and on the reader connection,
    which hears of the moves too).  CONDSTORE comes with it; our FETCH commands ask for no
    FLAGS nor MODSEQ, so their responses carry no MODSEQ item; SELECT and EXAMINE without
    QRESYNC parameters answer as before (plus HIGHESTMODSEQ).
    """
    if not (client.has_capability("QRESYNC") and client.has_capability("ENABLE")):
        return False
    try:
        enabled = client.enable("QRESYNC")
    except imaplib.IMAP4.abort:
        raise  # the connection is gone: as any other command's
    except imaplib.IMAP4.error as err:  # refused (NO, BAD): the mailbox is read as without it
        log.info("QRESYNC offered but not enabled (%s): expunges come one by one", err)
        return False
    return b"QRESYNC" in (cap.upper() for cap in enabled)


def _quiet_trace(client: IMAPClient) -> None:
    """No protocol trace unless its logger takes DEBUG records (never, as `logs` sets it).

    imapclient turns imaplib's trace fully on and sends it to the "imapclient.imaplib"
    logger; imaplib formats each trace line before the logger drops it: the repr of every
    line read, of every message body, and of a whole FETCH's bodies once more when the
    command ends.  In a drain that was a fifth of the CPU spent fetching.
    """
    if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        client._imap.debug = 0


def _sasl_login(client: IMAPClient, settings: MailboxSettings, tokens: AccessTokens) -> None:
    """AUTHENTICATE XOAUTH2 / OAUTHBEARER with an access token (never logged)."""
    mechanism = settings.auth.value.upper()
    if not client.has_capability(f"AUTH={mechanism}"):
        offered = sorted(c.decode()[5:] for c in client.capabilities() if c.startswith(b"AUTH="))
        raise SourceError(
            f"{settings.host}: the server does not offer AUTH={mechanism} "
            f"(it offers {', '.join(offered) or 'none'})"
        )
    token = tokens.get()
    exchange = SaslExchange.start(
        settings.auth, settings.username, token.value, settings.host, settings.port
    )
    try:
        client.sasl_login(mechanism, exchange)
    except LoginError as err:
        if not token.fresh:
            tokens.discard(token)
            raise _RefusedCachedToken(str(err)) from err
        said = f" ({exchange.error})" if exchange.error else ""
        raise LoginError(f"{mechanism} with a new token: {server_text(err)}{said}") from err


def _shutdown(client: IMAPClient) -> None:
    with contextlib.suppress(OSError):
        client.shutdown()


class ImapSource:
    """One folder (`settings.folder`) of one IMAP account.

    `read_only=True` opens it with EXAMINE and refuses `move` (dry-run).  `use_move=False`
    forces the COPY + \\Deleted + UID EXPUNGE path even when MOVE is advertised.
    """

    def __init__(
        self,
        settings: MailboxSettings,
        read_only: bool = False,
        use_move: bool = True,
        tokens: AccessTokens | None = None,
    ) -> None:
        check_security(settings)
        self._settings = settings
        # OAuth2: the mailbox's shared token cache unless the caller brings its own (tests)
        if tokens is None and settings.auth is not Auth.PASSWORD:
            tokens = tokens_for(settings)
        self._tokens = tokens
        self._read_only = read_only
        self._use_move = use_move
        self._client: IMAPClient | None = None
        self._uidvalidity = 0
        self._delimiter = "."
        self._known_folders: set[str] = set()
        self._qresync = False

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Connect, log in, read the delimiter, SELECT (or EXAMINE) the folder ("/" separates
        levels, as in the names of the destination folders), read UIDVALIDITY."""
        with self._errors("connecting"):
            client = _connect(self._settings, self._tokens)
        try:
            with self._errors(f"opening folder {self._settings.folder}"):
                self._delimiter = self._read_delimiter(client)
                self._qresync = _enable_qresync(client)
                folder = self.server_folder(self._settings.folder)  # as the moves name it
                info = client.select_folder(folder, readonly=self._read_only)
                self._uidvalidity = int(info[b"UIDVALIDITY"])
        except SourceError:
            _shutdown(client)
            raise
        self._client = client

    def __enter__(self) -> ImapSource:
        if self._client is None:
            self.open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Log out; errors while leaving are logged, not raised."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError) as err:
            log.debug("%s: logout failed: %s", self.mailbox, err)
            _shutdown(client)

    @staticmethod
    def _read_delimiter(client: IMAPClient) -> str:
        listed = client.list_folders("", "")
        delimiter = listed[0][1] if listed else None
        if isinstance(delimiter, bytes):
            delimiter = delimiter.decode()
        return delimiter or "."

    # -- properties ------------------------------------------------------------------------

    @property
    def mailbox(self) -> str:
        """The configured mailbox name (`[[mailbox]] name`): the key of checkpoints and ledger."""
        return self._settings.name

    @property
    def uidvalidity(self) -> int:
        return self._uidvalidity

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def delimiter(self) -> str:
        return self._delimiter

    @property
    def qresync(self) -> bool:
        """Whether QRESYNC is enabled on this connection: expunges come as VANISHED."""
        return self._qresync

    @property
    def capabilities(self) -> frozenset[str]:
        with self._errors("reading capabilities"):
            return frozenset(cap.decode().upper() for cap in self._imap.capabilities())

    def reader(self) -> ImapSource:
        """A second connection to this folder, read-only (EXAMINE), for fetching ahead in a
        thread (`source.ahead`) while this one moves; the same UIDVALIDITY, or SourceError."""
        other = ImapSource(self._settings, read_only=True, tokens=self._tokens)
        other.open()
        if other.uidvalidity != self._uidvalidity:
            other.close()
            raise SourceError(f"{self.mailbox}: UIDVALIDITY changed while opening a reader")
        return other

    # -- reading ---------------------------------------------------------------------------

    def uids_after(self, last_uid: int) -> Sequence[int]:
        """UID SEARCH UID last+1:* (filtered: "n:*" always matches the highest UID).

        An array of 32-bit UIDs (RFC 3501: UIDs are 32-bit): a backlog of 100,000 messages
        costs 400 KB for the whole cycle, not 3.6 MB of int objects.
        """
        with self._errors(f"searching UIDs after {last_uid}"):
            found = self._imap.search(["UID", f"{last_uid + 1}:*"])
        return array("L", sorted(int(uid) for uid in found if int(uid) > last_uid))

    def sizes(self, uids: Sequence[int], small: int = 0) -> dict[int, int]:
        """UID FETCH RFC822.SIZE: the bytes `fetch` will bring of each (at most the cap).

        With `small` > 0: a UID SEARCH UID <uids> LARGER <small> (RFC 3501: RFC822.SIZE
        above it) first, one line naming the larger ones, whose sizes are then fetched; the
        others are given as `small`.  A batch of bounces is mostly small: one response
        instead of one per message (each written by the server, read and parsed here).
        With `small` at or above the cap, every one is given as the cap, unasked.
        """
        if not uids:
            return {}
        cap = self._settings.max_message_bytes
        if small >= cap:
            return dict.fromkeys(uids, cap)  # none brings more than the cap
        wanted = set(uids)
        asked: Sequence[int] = uids
        sizes: dict[int, int] = {}
        if small > 0:
            with self._errors(f"searching {len(uids)} messages larger than {small} bytes"):
                found = self._imap.search(["UID", uid_set(uids), "LARGER", small])
            larger = {int(uid) for uid in found} & wanted
            sizes = {uid: small for uid in uids if uid not in larger}
            if not larger:
                return sizes
            asked = sorted(larger)
        with self._errors(f"reading the sizes of {len(asked)} messages from UID {min(asked)}"):
            response = self._fetch_data(asked, ["RFC822.SIZE"])
        sizes.update(
            (int(uid), min(int(data.get(b"RFC822.SIZE", cap)), cap))
            for uid, data in response.items()
            if int(uid) in wanted
        )
        return sizes

    def fetch(self, uids: Sequence[int]) -> list[RawMessage]:
        """UID FETCH (BODY.PEEK[]<0.cap> RFC822.SIZE INTERNALDATE) for all `uids` in one command.

        A message larger than `max_message_bytes` comes back as its first bytes only:
        `len(raw.data) < raw.size` tells the cycle it holds a head.  \\Seen is never set.
        """
        if not uids:
            return []
        cap = self._settings.max_message_bytes
        with self._errors(f"fetching {len(uids)} messages from UID {min(uids)}"):
            response = self._fetch_data(
                uids, [f"BODY.PEEK[]<0.{cap}>", "RFC822.SIZE", "INTERNALDATE"]
            )
        wanted = set(uids)
        return [self._raw(uid, response[uid]) for uid in sorted(response) if uid in wanted]

    def _fetch_data(self, uids: Sequence[int], items: list[str]) -> dict[int, dict[bytes, Any]]:
        """One UID FETCH, its responses by UID as imapclient's `fetch` gives them.

        imapclient's parser reads every byte of the response through its lexer, message
        bodies included; `_lean_fetch` takes the common shape apart with two regular
        expressions instead, and anything else is left to imapclient's parser.
        """
        typ, data = self._imap._imap.uid("FETCH", uid_set(uids), "(" + " ".join(items) + ")")
        self._forget_untagged()
        if typ != "OK":
            raise imaplib.IMAP4.error(f"UID FETCH answered {typ}: {server_text(Exception(*data))}")
        lean = _lean_fetch(data)
        return lean if lean is not None else _parsed_fetch(data)

    def _raw(self, uid: int, data: dict[bytes, Any]) -> RawMessage:
        body = data.get(b"BODY[]<0>", data.get(b"BODY[]"))
        if body is None:
            raise SourceError(f"{self.mailbox}: UID {uid}: server returned no body")
        size = int(data.get(b"RFC822.SIZE", len(body)))
        received = data.get(b"INTERNALDATE")
        if isinstance(received, datetime):
            # in UTC: the server's zone says nothing more, and imapclient's own zone class
            # does not survive pickling (the record goes to helper processes; see offload)
            received = (
                received.replace(tzinfo=UTC)
                if received.tzinfo is None
                else received.astimezone(UTC)
            )
        return RawMessage(
            self.mailbox,
            self._uidvalidity,
            int(uid),
            bytes(body),
            size,
            received if isinstance(received, datetime) else None,
        )

    # -- moving ----------------------------------------------------------------------------

    def server_folder(self, name: str) -> str:
        """A configured folder name ("/" separates levels) in the server's hierarchy."""
        return name.replace("/", self._delimiter) if self._delimiter != "/" else name

    def folder_exists(self, name: str) -> bool:
        """Whether a configured folder ("/" separates levels) exists on the server."""
        folder = self.server_folder(name)
        with self._errors(f"looking for folder {folder}"):
            return bool(self._imap.folder_exists(folder))

    def ensure_folder(self, name: str) -> str:
        """Create (and subscribe) the folder when missing; returns its server name."""
        folder = self.server_folder(name)
        if folder in self._known_folders:
            return folder
        with self._errors(f"creating folder {folder}"):
            if not self._imap.folder_exists(folder):
                self._imap.create_folder(folder)
                self._imap.subscribe_folder(folder)
        self._known_folders.add(folder)
        return folder

    def move(self, uids: Sequence[int], destination: str) -> int:
        """Move by UID sets, `_MOVE_CHUNK` per command; never one message per command.

        Returns how many were copied but left in this folder, flagged \\Deleted: all of them
        on a server without MOVE and UIDPLUS, none otherwise.
        """
        if self._read_only:
            raise SourceError(f"{self.mailbox}: opened read-only (dry-run): no move")
        if not uids:
            return 0
        folder = self.ensure_folder(destination)
        capabilities = self.capabilities
        with_move = self._use_move and "MOVE" in capabilities
        expunge = "UIDPLUS" in capabilities  # UID EXPUNGE: only the UIDs we copied
        ordered = sorted(set(uids))
        for start in range(0, len(ordered), _MOVE_CHUNK):
            chunk = ordered[start : start + _MOVE_CHUNK]
            with self._errors(f"moving {len(chunk)} messages to {folder}"):
                if with_move:
                    self._imap.move(uid_set(chunk), folder)
                else:
                    self._copy_and_flag(uid_set(chunk), folder, expunge)
        self._forget_untagged()
        left = 0 if with_move or expunge else len(ordered)
        if left:
            log.debug("%s: no MOVE or UIDPLUS: %d left flagged \\Deleted", self.mailbox, left)
        return left

    def _copy_and_flag(self, uids: str, folder: str, expunge: bool) -> None:
        """COPY, flag \\Deleted and, with UIDPLUS, UID EXPUNGE exactly these UIDs; never a plain
        EXPUNGE, which would also remove what others flagged \\Deleted."""
        imap = self._imap
        imap.copy(uids, folder)
        imap.add_flags(uids, [DELETED], silent=True)
        if expunge:
            imap.uid_expunge(uids)

    # -- waiting ---------------------------------------------------------------------------

    def wait_for_new(self, timeout: float) -> bool:
        """IMAP IDLE for at most `timeout` seconds: True when the server announced new mail.

        The IDLE command is always ended (DONE) before returning, so the connection can be
        used or closed normally afterwards.  Servers without IDLE: returns False at once.
        Mail that arrived since the last look counts too: a NOOP first reports what came
        before IDLE began (dovecot reports what comes later after its "+ idling"), and the
        answer to DONE what came as IDLE ended.
        """
        imap = self._imap
        if not imap.has_capability("IDLE"):
            return False
        with self._errors("waiting in IDLE"):
            if _announces_mail(imap.noop()[1]):
                return True
            imap.idle()
            responses: list[Any] = []
            try:
                responses = list(imap.idle_check(timeout=timeout))
            finally:
                done = imap.idle_done()[1]
        return _announces_mail(responses) or _announces_mail(done)

    # -- finding a recorded message --------------------------------------------------------

    def _find(self, folder: str, entry: LedgerEntry) -> RawMessage | None:
        """EXAMINE `folder` and look for the message of `entry`: SEARCH by its size (first on
        the days around its arrival), FETCH the candidates as the cycle did and compare their
        SHA-256 with the ledger's.  Leaves `folder` selected (a source opened for this only)."""
        name = self.server_folder(folder)
        with self._errors(f"examining {name}"):
            if not self._imap.folder_exists(name):
                return None
            self._imap.select_folder(name, readonly=True)
        size = ["LARGER", entry.size - 1, "SMALLER", entry.size + 1]
        day = entry.received_at.astimezone(UTC).date()
        around = ["SINCE", day - timedelta(days=1), "BEFORE", day + timedelta(days=2)]
        for criteria in ([*size, *around], size):
            with self._errors(f"searching {name} for a message of {entry.size} bytes"):
                found = sorted(int(uid) for uid in self._imap.search(criteria))
            for raw in self.fetch(found[-_FIND_CANDIDATES:]):
                if hashlib.sha256(raw.data).hexdigest() == entry.sha256:
                    return raw
        return None

    # -- plumbing --------------------------------------------------------------------------

    @property
    def _imap(self) -> IMAPClient:
        if self._client is None:
            raise SourceError(f"{self.mailbox}: not open")
        return self._client

    def _forget_untagged(self) -> None:
        """Drop what imaplib keeps of the server's news (EXPUNGE after every MOVE, here or by
        another connection, EXISTS, ...): nothing reads it, and in a drain it grows by one per
        message.  A SELECT flushes it anyway (imaplib), before reading its own."""
        kept = self._imap._imap.untagged_responses
        for name in _NEWS:
            kept.pop(name, None)

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn library and socket errors into SourceError / SourceUnavailable with context."""
        s = self._settings
        where = f"{s.name} ({s.username}@{s.host}:{s.port}/{s.folder}): {what}"
        try:
            yield
        except SourceError:
            raise
        except LoginError as err:
            raise SourceError(f"{where}: login failed: {server_text(err)}") from err
        except ssl.SSLCertVerificationError as err:
            raise SourceError(f"{where}: {err}") from err
        except ssl.SSLError as err:
            if not _plaintext_answer(err):
                raise SourceUnavailable(f"{where}: {err}") from err
            raise SourceError(f"{where}: {_NOT_TLS.format(port=s.port)}") from err
        except (imaplib.IMAP4.abort, OSError) as err:
            raise SourceUnavailable(f"{where}: {err}") from err
        except imaplib.IMAP4.error as err:
            raise SourceError(f"{where}: {err}") from err


# The FETCH responses of our two commands, as imaplib hands them over: a message's items, then
# its body as a literal ("... BODY[]<0> {n}", the n bytes) and the ")" closing the response;
# or (sizes) the items alone.  UID, RFC822.SIZE and INTERNALDATE, in any order.
_ONE = rb'(?:UID \d+|RFC822\.SIZE \d+|INTERNALDATE "[^"\\]*")'
_ITEMS = _ONE + rb"(?: " + _ONE + rb")*"
_WITH_BODY = re.compile(rb"\d+ \((" + _ITEMS + rb") (BODY\[\](?:<0>)?) \{(\d+)\}", re.ASCII)
_WITHOUT_BODY = re.compile(rb"\d+ \((" + _ITEMS + rb")\)", re.ASCII)
_ITEM = re.compile(rb'(UID|RFC822\.SIZE|INTERNALDATE) (\d+|"[^"\\]*")', re.ASCII)


def _lean_fetch(data: list[Any]) -> dict[int, dict[bytes, Any]] | None:
    """The FETCH responses in imaplib's `data` by UID, as `parse_fetch_response` gives them,
    when each is of the shape our commands ask for (None: any other, e.g. an unsolicited
    FLAGS response, a body as NIL or a quoted string, a UID twice; imapclient parses those).
    """
    found: dict[int, dict[bytes, Any]] = {}
    items = iter(data)
    for item in items:
        if isinstance(item, tuple):
            head, body = item
            match = _WITH_BODY.fullmatch(head)
            if match is None or next(items, None) != b")" or int(match[3]) != len(body):
                return None
            values = _values(match[1])
            values[match[2]] = body
        elif isinstance(item, bytes) and (match := _WITHOUT_BODY.fullmatch(item)) is not None:
            values = _values(match[1])
        else:
            return None
        uid = values.pop(b"UID", None)
        if not isinstance(uid, int) or uid in found:
            return None
        found[uid] = values
    return found


def _values(items: bytes) -> dict[bytes, Any]:
    """UID and RFC822.SIZE as int, INTERNALDATE as a datetime in the server's zone."""
    values: dict[bytes, Any] = {}
    for name, value in _ITEM.findall(items):
        if name != b"INTERNALDATE":
            values[name] = int(value)
            continue
        values[name] = _internaldate(value[1:-1])
    return values


# RFC 3501's date-time (section 9): date-day-fixed "-" date-month "-" date-year SP time SP
# zone, as servers send INTERNALDATE
_DATE_TIME = re.compile(
    rb"([ \d]\d)-([A-Z][a-z][a-z])-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)", re.ASCII
)
_MONTHS = {
    name: number
    for number, name in enumerate(b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)
}


@lru_cache(maxsize=64)
def _zone(minutes: int) -> timezone:
    return timezone(timedelta(minutes=minutes))


def _internaldate(value: bytes) -> datetime | None:
    """An INTERNALDATE as an aware datetime (None: unreadable, as imapclient gives it).

    The RFC 3501 form is read here (imapclient's `parse_to_datetime` goes through
    `email.utils.parsedate_tz`: about 10 microseconds a message); any other form, and a
    date or zone out of range, and "-0000" (no zone: a naive datetime), is left to imapclient.
    The same instant either way.
    """
    match = _DATE_TIME.fullmatch(value)
    month = _MONTHS.get(match[2]) if match is not None else None
    if match is not None and month is not None and match[7] + match[8] + match[9] != b"-0000":
        day, _, year, hour, minute, second, sign, zone_hours, zone_minutes = match.groups()
        offset = int(zone_hours) * 60 + int(zone_minutes)
        try:
            return datetime(
                int(year), month, int(day), int(hour), int(minute), int(second),
                tzinfo=_zone(-offset if sign == b"-" else offset),
            )  # fmt: skip
        except ValueError:
            pass
    try:
        parsed: datetime = parse_to_datetime(value, normalise=False)
    except ValueError:
        return None
    return parsed


def _parsed_fetch(data: list[Any]) -> dict[int, dict[bytes, Any]]:
    """imapclient's own reading of FETCH responses (UIDs as keys, times as the server's)."""
    return {int(uid): values for uid, values in parse_fetch_response(data, False, True).items()}


def find_message(
    settings: MailboxSettings, folders: Sequence[str], entry: LedgerEntry
) -> RawMessage | None:
    """The message a ledger entry records, looked for in `folders` of the mailbox (configured
    names, e.g. its destination folder, then the folder it was read from) over one read-only
    connection; None when none holds it any more.  Its bytes are what the cycle fetched (the
    head only of a message over `max_message_bytes`), checked against the ledger's SHA-256."""
    with ImapSource(settings, read_only=True) as source:
        for folder in folders:
            found = source._find(folder, entry)
            if found is not None:
                return found
    return None


def uid_set(uids: Sequence[int]) -> str:
    """The IMAP sequence-set of exactly these UIDs: each run of strictly consecutive UIDs as
    `first:last`, any other UID alone ("3:5,7,9:10").  A range names every UID between its
    ends, so only a run with none missing becomes one: a UID left out (held back for a
    retry) is never named.  Repeated UIDs stay as given (named twice: harmless).
    """
    parts: list[str] = []
    first = last = -2
    for uid in uids:
        if uid == last + 1:
            last = uid
            continue
        if first >= 0:
            parts.append(str(first) if first == last else f"{first}:{last}")
        first = last = uid
    if first >= 0:
        parts.append(str(first) if first == last else f"{first}:{last}")
    return ",".join(parts)


def _announces_mail(responses: list[Any]) -> bool:
    """Whether untagged responses announce mail: `* N EXISTS` or `* N RECENT`."""
    return any(
        isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses
    )
