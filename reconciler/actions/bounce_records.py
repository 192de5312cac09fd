"""MediaWiki BounceHandler's `bounce_records` table, and who has an address on the farm (the
import of issue 15).  Through `reconciler.actions.mediawiki` (which owns PyMySQL); imported on
demand like it.

`bounce_records` (in the shared database, e.g. ``wikishared``): ``br_id`` INT, ``br_user_email``
VARCHAR(255) the user's address at the time, ``br_timestamp`` BINARY(14) a MediaWiki timestamp
``YYYYMMDDHHMMSS`` (UTC) of the send, ``br_reason`` VARCHAR(255) only the bounce's Subject.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

from reconciler.actions.mediawiki import MediaWikiAction, text, transaction
from reconciler.errors import ActionError
from reconciler.records import BounceRecord

__all__ = ["owners", "read_bounce_records"]

_CHUNK = 500  # values per IN (...) list
_SELECT = (
    "SELECT br_id, br_user_email, br_timestamp, br_reason FROM bounce_records "
    "WHERE br_timestamp >= %s ORDER BY br_id"
)


def _mw_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def read_bounce_records(
    url: str, password: str, since: datetime, timeout: float = 30.0
) -> list[BounceRecord]:
    """The rows sent at or after `since`, in id order (a row with a timestamp that does not
    parse raises ActionError naming its id)."""
    found: list[BounceRecord] = []
    with transaction(url, password, timeout, "reading bounce_records") as cur:
        cur.execute(_SELECT, (since.strftime("%Y%m%d%H%M%S").encode(),))
        for br_id, email, stamp, reason in cur.fetchall():
            try:
                at = _mw_time(text(stamp) or "")
            except ValueError as err:
                raise ActionError(f"bounce_records row {br_id}: bad br_timestamp: {err}") from err
            found.append(BounceRecord(int(br_id), text(email) or "", at, text(reason) or ""))
    return found


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _placeholders(count: int) -> str:
    """The IN list of `count` bound parameters: "%s, %s, ..." (the values are bound)."""
    return ", ".join(["%s"] * count)


_BY_EMAIL = "SELECT user_id, user_name, user_email FROM {t} WHERE user_email IN ({p})"
_BY_NAME = "SELECT user_id, user_name, user_email FROM {t} WHERE user_name IN ({p})"
_ATTACHED = "SELECT lu_wiki, lu_name FROM localuser WHERE lu_name IN ({p})"
_GLOBAL_BY_EMAIL = (
    "SELECT lu_wiki, lu_name, gu_email FROM globaluser JOIN localuser ON lu_name = gu_name "
    "WHERE gu_email IN ({p})"
)


def _local(
    action: MediaWikiAction, wikis: Sequence[tuple[str, str]], by: str, wanted: Sequence[str]
) -> dict[tuple[str, str], tuple[int, str]]:
    """(realm, user_name) → (user_id, user_email) of the local accounts whose e-mail (`by` is
    _BY_EMAIL) or name (_BY_NAME) is one of `wanted`, in every wiki of `wikis`."""
    found: dict[tuple[str, str], tuple[int, str]] = {}
    table = action.table
    for realm, url in wikis:
        with action.db(url, f"searching the users of {realm}") as cur:
            for chunk in _chunks(wanted):
                cur.execute(
                    by.format(t=table, p=_placeholders(len(chunk))), [v.encode() for v in chunk]
                )
                for user_id, name, email in cur.fetchall():
                    found[(realm, text(name) or "")] = (int(user_id), text(email) or "")
    return found


def _attached(
    action: MediaWikiAction, central: str, realms: set[str], names: Iterable[str], emails: list[str]
) -> tuple[set[tuple[str, str]], dict[tuple[str, str], str]]:
    """Of the farm's wikis in `realms`: which of the local `names` are attached to a global
    account, and (wiki, name) → gu_email of the attached accounts whose global address is
    one of `emails`."""
    attached: set[tuple[str, str]] = set()
    global_hits: dict[tuple[str, str], str] = {}
    with action.db(central, "searching the global accounts") as cur:
        for chunk in _chunks(sorted(set(names))):
            cur.execute(_ATTACHED.format(p=_placeholders(len(chunk))), [v.encode() for v in chunk])
            attached |= {(text(w) or "", text(n) or "") for w, n in cur.fetchall()}
        for chunk in _chunks(emails):
            cur.execute(
                _GLOBAL_BY_EMAIL.format(p=_placeholders(len(chunk))), [v.encode() for v in chunk]
            )
            for wiki, name, email in cur.fetchall():
                global_hits[(text(wiki) or "", text(name) or "")] = text(email) or ""
    keep = {key: email for key, email in global_hits.items() if key[0] in realms}
    return {key for key in attached if key[0] in realms}, keep


def owners(
    action: MediaWikiAction, addresses: Iterable[str], wikis: Sequence[tuple[str, str]]
) -> dict[str, set[tuple[str, int]]]:
    """Address (lower case) → the users (realm, user id) whose current address it is, over
    `wikis` ((realm, URL) pairs): the local `user_email` of an unattached account, the global
    `gu_email` of an attached one (when CentralAuth is configured), as `current_address`."""
    emails = sorted(set(addresses))
    local = _local(action, wikis, _BY_EMAIL, emails)
    current = {key: email for key, (_uid, email) in local.items()}
    ids = {key: uid for key, (uid, _email) in local.items()}
    central = action.settings.centralauth_url
    if central is not None:
        realms = {realm for realm, _url in wikis}
        attached, global_hits = _attached(action, central, realms, (n for _r, n in local), emails)
        for key in attached:
            current.pop(key, None)  # its address is the global one
        missing = sorted({key[1] for key in global_hits if key not in ids})
        if missing:
            named = _local(action, wikis, _BY_NAME, missing)
            ids.update({key: uid for key, (uid, _email) in named.items()})
        current.update({key: email for key, email in global_hits.items() if key in ids})
    found: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for key, email in current.items():
        found[email.strip().lower()].add((key[0], ids[key]))
    return dict(found)
