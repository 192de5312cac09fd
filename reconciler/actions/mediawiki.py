"""The MediaWiki action: un-confirm the user's e-mail address, as BounceHandler did, on a farm.

The realm's wiki database (`reconciler.actions.farm`) holds the local account.  When a
CentralAuth database is configured and the local account is attached to a global one
(``localuser.lu_wiki`` = the realm, ``lu_name`` = the local ``user_name``, ``globaluser.gu_name``
= the same name), the global account is un-confirmed::

    UPDATE globaluser SET gu_email_authenticated = NULL WHERE gu_id = %s AND gu_email = %s

and else (unattached, or no CentralAuth) the local one::

    UPDATE user SET user_email_authenticated = NULL WHERE user_id = %s AND user_email = %s

each only while the address there is the bounced one.  The previous value is kept in the action
log, with which of the two was changed, so that `undo` restores that one (only if the address is
still the same and nobody confirmed it again meanwhile).  The adapter also tells a user's
current address (the global one for an attached account), so policy can ignore bounces for an
address that is no longer the user's, and which users have an address (`owners`, the import).

PyMySQL is imported here only: these are the wikis' databases, not our store (STYLE 1); the
other modules reach them through `transaction`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql

from reconciler.actions.farm import database_for, unserved
from reconciler.errors import ActionError
from reconciler.records import ActionOutcome, ActionRecord, ActionStatus, StoredDecision
from reconciler.settings import MediaWikiSettings

__all__ = ["Attached", "MediaWikiAction", "same_address", "text", "transaction"]

_LOCAL = "SELECT user_name, user_email, user_email_authenticated FROM {t} WHERE user_id = %s"
_UNCONFIRM = "UPDATE {t} SET user_email_authenticated = NULL WHERE user_id = %s AND user_email = %s"
_RESTORE = (
    "UPDATE {t} SET user_email_authenticated = %s "
    "WHERE user_id = %s AND user_email = %s AND user_email_authenticated IS NULL"
)
_GLOBAL = (
    "SELECT gu_id, gu_email, gu_email_authenticated FROM globaluser "
    "JOIN localuser ON lu_name = gu_name WHERE lu_wiki = %s AND lu_name = %s"
)
_G_UNCONFIRM = (
    "UPDATE globaluser SET gu_email_authenticated = NULL WHERE gu_id = %s AND gu_email = %s"
)
_G_RESTORE = (
    "UPDATE globaluser SET gu_email_authenticated = %s "
    "WHERE gu_id = %s AND gu_email = %s AND gu_email_authenticated IS NULL"
)


def text(value: Any) -> str | None:
    """A column value (MediaWiki stores e-mail and timestamps as binary) as text."""
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)


def same_address(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


@contextmanager
def transaction(url: str, password: str, timeout: float, what: str) -> Iterator[Any]:
    """A cursor on the database of `url` in one transaction: committed on success, rolled back
    on error; every failure is an ActionError naming the host and `what`."""
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or 3306}/{unquote(parts.path.strip('/'))}"
    try:
        conn = pymysql.connect(
            host=parts.hostname, port=parts.port or 3306, user=unquote(parts.username or ""),
            password=password, database=unquote(parts.path.strip("/")), charset="utf8mb4",
            connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout,
            autocommit=False,
        )  # fmt: skip
    except pymysql.MySQLError as err:
        raise ActionError(f"mediawiki {where}: {what}: cannot connect: {err}") from err
    try:
        with conn.cursor() as cursor:
            yield cursor
        conn.commit()
    except pymysql.MySQLError as err:
        with suppress(pymysql.MySQLError):  # the connection may be gone already
            conn.rollback()
        raise ActionError(f"mediawiki {where}: {what} failed: {err}") from err
    finally:
        with suppress(pymysql.MySQLError):
            conn.close()


@dataclass(frozen=True, slots=True)
class Attached:
    """The global account a local account is attached to."""

    gu_id: int
    email: str
    authenticated: str | None


class MediaWikiAction:
    """Reads and updates the `user` tables of a farm's wikis (`table_prefix` + "user") and,
    when configured, CentralAuth's `globaluser` through `localuser`."""

    name = "mediawiki"
    local = False

    def __init__(self, settings: MediaWikiSettings) -> None:
        self._settings = settings
        self._table = f"`{settings.table_prefix}user`"  # prefix checked at load: [A-Za-z0-9_]

    @property
    def settings(self) -> MediaWikiSettings:
        return self._settings

    @property
    def table(self) -> str:
        """The quoted name of the `user` table (`table_prefix` + "user"; [A-Za-z0-9_] only)."""
        return self._table

    def db(self, url: str, what: str) -> Any:
        """A transaction on one of the configured databases (see `transaction`)."""
        s = self._settings
        return transaction(url, s.password, s.timeout_seconds, what)

    def unserved(self, realm: str) -> str | None:
        """Why no database serves `realm` (a decision there is withheld); None when one does."""
        return unserved(self._settings, realm)

    def attached(self, realm: str, name: str, *, lock: bool = False) -> Attached | None:
        """The global account that `name` on `realm` is attached to (None: none, or no
        CentralAuth configured)."""
        central = self._settings.centralauth_url
        if central is None:
            return None
        with self.db(central, f"reading the global account of {realm}:{name}") as cur:
            cur.execute(_GLOBAL + (" FOR UPDATE" if lock else ""), (realm, name.encode()))
            row = cur.fetchone()
        return Attached(int(row[0]), text(row[1]) or "", text(row[2])) if row else None

    def _local(self, realm: str, user_id: int) -> tuple[str, str, str | None] | None:
        url = database_for(self._settings, realm)
        if url is None:
            return None
        with self.db(url, f"reading user {user_id}") as cur:
            cur.execute(_LOCAL.format(t=self._table), (user_id,))
            row = cur.fetchone()
        return (text(row[0]) or "", text(row[1]) or "", text(row[2])) if row else None

    def current_address(self, realm: str, user_id: int) -> str | None:
        """The user's address now: the global account's for an attached local account, else
        the local `user_email`; None for a realm without database, an unknown user, no e-mail."""
        local = self._local(realm, user_id)
        if local is None:
            return None
        found = self.attached(realm, local[0])
        return (found.email if found is not None else local[1]) or None

    def describe(self, decision: StoredDecision) -> str:
        d = decision.decision
        why = self.unserved(d.realm)
        if why is not None:
            return f"mediawiki: nothing ({why})"
        where = "globally if attached, else locally" if self._settings.centralauth_url else ""
        return (
            f"mediawiki: un-confirm the e-mail of user {d.user_id} on {d.realm} {where} "
            "if it is still the bounced address"
        ).replace("  ", " ")

    def apply(self, decision: StoredDecision, now: datetime) -> ActionOutcome:
        d = decision.decision
        why = self.unserved(d.realm)
        if why is not None:
            return ActionOutcome(self.name, ActionStatus.SKIPPED, why)
        if not d.address:
            return ActionOutcome(self.name, ActionStatus.SKIPPED, "the address is unknown")
        local = self._local(d.realm, d.user_id)
        if local is None:
            return ActionOutcome(self.name, ActionStatus.SKIPPED, "no such user")
        if self._settings.centralauth_url is not None:
            outcome = self._apply_global(d.realm, local[0], d.address)
            if outcome is not None:
                return outcome
        return self._apply_local(d.realm, d.user_id, d.address)

    def _apply_global(self, realm: str, name: str, address: str) -> ActionOutcome | None:
        """Un-confirm the global account `name` is attached to; None when it is not attached."""
        central = self._settings.centralauth_url or ""
        with self.db(central, f"un-confirming the global account of {realm}:{name}") as cur:
            cur.execute(_GLOBAL + " FOR UPDATE", (realm, name.encode()))
            row = cur.fetchone()
            if row is None:
                return None  # unattached: the local account
            gu_id, email, confirmed = row
            skipped = self._unchanged(email, confirmed, address, "global")
            if skipped is not None:
                return skipped
            cur.execute(_G_UNCONFIRM, (gu_id, email))
        undo = {"scope": "global", "gu_id": int(gu_id), "email": text(email),
                "authenticated": text(confirmed), "name": name}  # fmt: skip
        detail = f"global account {name}: gu_email_authenticated {text(confirmed)} -> NULL"
        return ActionOutcome(self.name, ActionStatus.DONE, detail, json.dumps(undo))

    def _apply_local(self, realm: str, user_id: int, address: str) -> ActionOutcome:
        url = database_for(self._settings, realm) or ""
        with self.db(url, f"un-confirming user {user_id}") as cur:
            cur.execute(_LOCAL.format(t=self._table) + " FOR UPDATE", (user_id,))
            row = cur.fetchone()
            if row is None:
                return ActionOutcome(self.name, ActionStatus.SKIPPED, "no such user")
            _name, email, confirmed = row
            skipped = self._unchanged(email, confirmed, address, "local")
            if skipped is not None:
                return skipped
            cur.execute(_UNCONFIRM.format(t=self._table), (user_id, email))
        undo = {"scope": "local", "user_id": user_id, "email": text(email),
                "authenticated": text(confirmed)}  # fmt: skip
        detail = f"user_email_authenticated {text(confirmed)} -> NULL"
        return ActionOutcome(self.name, ActionStatus.DONE, detail, json.dumps(undo))

    def _unchanged(
        self, email: Any, confirmed: Any, address: str, scope: str
    ) -> ActionOutcome | None:
        if not same_address(text(email) or "", address):
            detail = f"the address is no longer the user's ({scope})"
            return ActionOutcome(self.name, ActionStatus.SKIPPED, detail)
        if confirmed is None:
            return ActionOutcome(self.name, ActionStatus.SKIPPED, f"already unconfirmed ({scope})")
        return None

    def undo(self, record: ActionRecord, now: datetime) -> ActionOutcome:
        if not record.undo_data:
            return ActionOutcome(self.name, ActionStatus.SKIPPED, "nothing to restore")
        data = json.loads(record.undo_data)
        if data.get("scope") == "global":
            central = self._settings.centralauth_url
            if central is None:
                raise ActionError("mediawiki: cannot restore a global account: no centralauth_url")
            values = (data["authenticated"], data["gu_id"], data["email"].encode())
            with self.db(central, f"restoring global account {data['name']}") as cur:
                changed = cur.execute(_G_RESTORE, values)
            column = f"global account {data['name']}: gu_email_authenticated"
        else:  # "local", and the records made before farms (no scope)
            url = database_for(self._settings, record.realm)
            if url is None:
                raise ActionError(f"mediawiki: cannot restore: {self.unserved(record.realm)}")
            values = (data["authenticated"], data["user_id"], data["email"].encode())
            with self.db(url, f"restoring user {data['user_id']}") as cur:
                changed = cur.execute(_RESTORE.format(t=self._table), values)
            column = "user_email_authenticated"
        if not changed:
            detail = "not restored: the address changed or was confirmed again"
            return ActionOutcome(self.name, ActionStatus.SKIPPED, detail)
        detail = f"{column} restored to {data['authenticated']}"
        return ActionOutcome(self.name, ActionStatus.DONE, detail)
