"""The MediaWiki action: un-confirm the user's e-mail address, as BounceHandler did.

    UPDATE user SET user_email_authenticated = NULL WHERE user_id = %s AND user_email = %s

only while the user's current `user_email` is the bounced address; the previous value is kept
in the action log so that `undo` can restore it (only if the address is still the same and
nobody confirmed it again meanwhile).  The adapter also tells a user's current address, so
policy can ignore bounces for an address that is no longer the user's.

PyMySQL is imported here only: this is the wiki's database, not our store (STYLE 1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql

from reconciler.errors import ActionError
from reconciler.records import ActionOutcome, ActionRecord, ActionStatus, StoredDecision
from reconciler.settings import MediaWikiSettings

__all__ = ["MediaWikiAction"]

_SELECT = "SELECT user_email, user_email_authenticated FROM {t} WHERE user_id = %s FOR UPDATE"
_UNCONFIRM = "UPDATE {t} SET user_email_authenticated = NULL WHERE user_id = %s AND user_email = %s"
_RESTORE = (
    "UPDATE {t} SET user_email_authenticated = %s "
    "WHERE user_id = %s AND user_email = %s AND user_email_authenticated IS NULL"
)


def _text(value: Any) -> str | None:
    """A column value (MediaWiki stores e-mail and timestamps as binary) as text."""
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)


def _same(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


class MediaWikiAction:
    """Reads and updates the `user` table of one wiki (`table_prefix` + "user")."""

    name = "mediawiki"
    local = False

    def __init__(self, settings: MediaWikiSettings) -> None:
        self._settings = settings
        self._table = f"`{settings.table_prefix}user`"  # prefix checked at load: [A-Za-z0-9_]
        self._where = urlsplit(settings.url).netloc

    @contextmanager
    def _cursor(self, what: str) -> Iterator[Any]:
        """A cursor in one transaction: committed on success, rolled back on error."""
        parts = urlsplit(self._settings.url)
        timeout = self._settings.timeout_seconds
        try:
            conn = pymysql.connect(
                host=parts.hostname, port=parts.port or 3306, user=unquote(parts.username or ""),
                password=self._settings.password, database=unquote(parts.path.strip("/")),
                charset="utf8mb4", connect_timeout=timeout, read_timeout=timeout,
                write_timeout=timeout, autocommit=False,
            )  # fmt: skip
        except pymysql.MySQLError as err:
            raise ActionError(f"mediawiki {self._where}: {what}: cannot connect: {err}") from err
        try:
            with conn.cursor() as cursor:
                yield cursor
            conn.commit()
        except pymysql.MySQLError as err:
            with suppress(pymysql.MySQLError):  # the connection may be gone already
                conn.rollback()
            raise ActionError(f"mediawiki {self._where}: {what} failed: {err}") from err
        finally:
            with suppress(pymysql.MySQLError):
                conn.close()

    def _ours(self, realm: str) -> bool:
        return self._settings.realm is None or self._settings.realm == realm

    def current_address(self, realm: str, user_id: int) -> str | None:
        """The user's `user_email` now; None for another realm, an unknown user or no e-mail."""
        if not self._ours(realm):
            return None
        query = f"SELECT user_email FROM {self._table} WHERE user_id = %s"
        with self._cursor(f"reading user {user_id}") as cur:
            cur.execute(query, (user_id,))
            row = cur.fetchone()
        return (_text(row[0]) or None) if row is not None else None

    def describe(self, decision: StoredDecision) -> str:
        d = decision.decision
        if not self._ours(d.realm):
            return f"mediawiki: nothing (realm {d.realm} is not {self._settings.realm})"
        return (
            f"mediawiki: un-confirm the e-mail of user {d.user_id} on {self._where} "
            "if it is still the bounced address"
        )

    def apply(self, decision: StoredDecision, now: datetime) -> ActionOutcome:
        d = decision.decision
        if not self._ours(d.realm):
            return ActionOutcome(self.name, ActionStatus.SKIPPED, f"realm {d.realm} is not ours")
        if not d.address:
            return ActionOutcome(self.name, ActionStatus.SKIPPED, "the address is unknown")
        with self._cursor(f"un-confirming user {d.user_id}") as cur:
            cur.execute(_SELECT.format(t=self._table), (d.user_id,))
            row = cur.fetchone()
            if row is None:
                return ActionOutcome(self.name, ActionStatus.SKIPPED, "no such user")
            email, confirmed = row
            if not _same(_text(email) or "", d.address):
                detail = "the address is no longer the user's"
                return ActionOutcome(self.name, ActionStatus.SKIPPED, detail)
            if confirmed is None:
                return ActionOutcome(self.name, ActionStatus.SKIPPED, "already unconfirmed")
            cur.execute(_UNCONFIRM.format(t=self._table), (d.user_id, email))
        undo = {"user_id": d.user_id, "email": _text(email), "authenticated": _text(confirmed)}
        detail = f"user_email_authenticated {_text(confirmed)} -> NULL"
        return ActionOutcome(self.name, ActionStatus.DONE, detail, json.dumps(undo))

    def undo(self, record: ActionRecord, now: datetime) -> ActionOutcome:
        if not record.undo_data:
            return ActionOutcome(self.name, ActionStatus.SKIPPED, "nothing to restore")
        data = json.loads(record.undo_data)
        values = (data["authenticated"], data["user_id"], data["email"].encode())
        with self._cursor(f"restoring user {data['user_id']}") as cur:
            changed = cur.execute(_RESTORE.format(t=self._table), values)
        if not changed:
            detail = "not restored: the address changed or was confirmed again"
            return ActionOutcome(self.name, ActionStatus.SKIPPED, detail)
        detail = f"user_email_authenticated restored to {data['authenticated']}"
        return ActionOutcome(self.name, ActionStatus.DONE, detail)
