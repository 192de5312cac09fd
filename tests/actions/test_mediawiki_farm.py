"""The MediaWiki action across a farm (issue 15), on the machine's MariaDB: two wiki databases
and a CentralAuth one, with MediaWiki's and CentralAuth's column types.  Local, global,
unattached, address changed meanwhile, re-confirmed meanwhile, and the undo of each."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from support import NOW, host_port, unavailable

from reconciler.actions import carry_out, undo
from reconciler.records import (
    ActionStatus,
    BounceEvent,
    Decision,
    DecisionKind,
    Disposition,
    Fault,
    LedgerEntry,
    MessageKind,
    MessageOutcome,
    Mode,
    Reason,
    Severity,
    Trigger,
    UndoFilter,
)
from reconciler.service.decisions import DecideContext, run_decisions
from reconciler.settings import MediaWikiSettings, PolicySettings
from reconciler.store import Store
from tests.mediawiki_schema import insert_user, user_table

pytestmark = pytest.mark.mariadb
WHO = ("operator:test", "testing")
OLD = b"20240102030405"  # a MediaWiki timestamp, binary(14)
NEWER = b"20261201000000"

_USER = user_table("user")  # MediaWiki's own, in its default binary table options

_GLOBALUSER = (
    "CREATE TABLE globaluser (gu_id INT UNSIGNED AUTO_INCREMENT NOT NULL PRIMARY KEY, "
    "gu_name VARBINARY(255) DEFAULT NULL, gu_email VARBINARY(255) DEFAULT NULL, "
    "gu_email_authenticated BINARY(14) DEFAULT NULL, UNIQUE INDEX gu_name (gu_name), "
    "INDEX gu_email (gu_email))"
)
_LOCALUSER = (
    "CREATE TABLE localuser (lu_wiki VARBINARY(255) NOT NULL, lu_name VARBINARY(255) NOT NULL, "
    "PRIMARY KEY (lu_wiki, lu_name), INDEX lu_name_wiki (lu_name, lu_wiki))"
)


@dataclass
class Farm:
    """Two wikis (`one` by the URL template, `two` by its own entry) and CentralAuth."""

    conn: Any
    one: str
    two: str
    central: str
    settings: MediaWikiSettings  # with centralauth_url

    def sql(self, query: str, *args: object) -> Any:
        with self.conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchone()

    def user(self, wiki: str, user_id: int, name: str, email: str, confirmed: bytes | None) -> None:
        self.sql(insert_user(f"`{wiki}`.user"), user_id, name.encode(), email.encode(), confirmed)

    def global_user(self, name: str, email: str, confirmed: bytes | None, *wikis: str) -> None:
        self.sql(f"INSERT INTO `{self.central}`.globaluser (gu_name, gu_email, "
                 "gu_email_authenticated) VALUES (%s, %s, %s)",
                 name.encode(), email.encode(), confirmed)  # fmt: skip
        for wiki in wikis:
            self.sql(f"INSERT INTO `{self.central}`.localuser VALUES (%s, %s)",
                     wiki.encode(), name.encode())  # fmt: skip

    def local_row(self, wiki: str, user_id: int) -> tuple[bytes, bytes | None]:
        found: tuple[bytes, bytes | None] = self.sql(
            f"SELECT user_email, user_email_authenticated FROM `{wiki}`.user WHERE user_id = %s",
            user_id,
        )
        return found

    def global_row(self, name: str) -> tuple[bytes, bytes | None]:
        found: tuple[bytes, bytes | None] = self.sql(
            f"SELECT gu_email, gu_email_authenticated FROM `{self.central}`.globaluser "
            "WHERE gu_name = %s",
            name.encode(),
        )
        return found


@pytest.fixture
def farm() -> Iterator[Farm]:
    import pymysql

    host, port = host_port("RECONCILER_TEST_MYSQL", "127.0.0.1:3306")
    try:
        conn = pymysql.connect(host=host, port=port, user="root", password="", autocommit=True)
    except pymysql.Error as err:
        unavailable(f"MariaDB at {host}:{port} unavailable: {err}")
    tag = secrets.token_hex(4)
    one, two, central = f"f{tag}_enwiki", f"f{tag}_zh_min_nanwikisource", f"f{tag}_centralauth"
    with conn.cursor() as cur:
        for name, tables in (
            (one, (_USER,)),
            (two, (_USER,)),
            (central, (_GLOBALUSER, _LOCALUSER)),
        ):
            cur.execute(f"CREATE DATABASE `{name}`")
            for table in tables:
                cur.execute(table.replace("CREATE TABLE ", f"CREATE TABLE `{name}`.", 1))
    base = f"mysql://root@{host}:{port}"
    settings = MediaWikiSettings(
        url=f"{base}/{{realm}}",
        wikis=((two, f"{base}/{two}"),),
        centralauth_url=f"{base}/{central}",
    )
    yield Farm(conn, one, two, central, settings)
    with conn.cursor() as cur:
        for name in (one, two, central):
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


def _decision(realm: str, user_id: int, address: str) -> Decision:
    return Decision(
        kind=DecisionKind.SUPPRESS, realm=realm, user_id=user_id, address=address,
        at=int(NOW.timestamp()), mode=Mode.ENFORCE, disposition=Disposition.APPLIED,
        trigger=Trigger.HARD, rule="hard:3d/14d", hard_days=3, event_ids=(11, 12, 13),
    )  # fmt: skip


def _action(settings: MediaWikiSettings) -> Any:
    from reconciler.actions.mediawiki import MediaWikiAction

    return MediaWikiAction(settings)


def test_each_realm_reads_its_own_wiki_and_an_attached_user_the_global_address(
    farm: Farm,
) -> None:
    farm.user(farm.one, 7, "Kim", "kim-old@example.org", OLD)  # stale local copy
    farm.user(farm.two, 7, "Lee", "lee@example.org", OLD)  # same id, another wiki, another user
    farm.global_user("Kim", "kim@example.org", OLD, farm.one, farm.two)
    action = _action(farm.settings)
    assert action.current_address(farm.one, 7) == "kim@example.org"  # global: Kim is attached
    assert action.current_address(farm.two, 7) == "lee@example.org"  # Lee is not attached
    assert action.current_address(farm.two, 99) is None
    local_only = _action(replace(farm.settings, centralauth_url=None))
    assert local_only.current_address(farm.one, 7) == "kim-old@example.org"


def test_a_local_account_without_centralauth_is_unconfirmed_locally_and_undone(
    sqlite_store: Store, farm: Farm
) -> None:
    farm.user(farm.one, 7, "Kim", "Kim@Example.org", OLD)
    action = _action(replace(farm.settings, centralauth_url=None))
    _, (outcome,) = carry_out(
        sqlite_store, [action], _decision(farm.one, 7, "kim@example.org"), "run-1", NOW
    )
    assert outcome.status is ActionStatus.DONE, outcome.detail
    assert farm.local_row(farm.one, 7) == (b"Kim@Example.org", None)
    ((_, (undone,)),) = undo(sqlite_store, [action], UndoFilter(user_id=7), WHO, NOW)
    assert undone.status is ActionStatus.DONE, undone.detail
    assert farm.local_row(farm.one, 7) == (b"Kim@Example.org", OLD)


def test_an_attached_user_is_unconfirmed_globally_and_undone(
    sqlite_store: Store, farm: Farm
) -> None:
    farm.user(farm.two, 7, "Kim", "kim@example.org", OLD)
    farm.global_user("Kim", "kim@example.org", OLD, farm.one, farm.two)
    action = _action(farm.settings)
    _, (outcome,) = carry_out(
        sqlite_store, [action], _decision(farm.two, 7, "kim@example.org"), "run-1", NOW
    )
    assert outcome.status is ActionStatus.DONE and "global account Kim" in outcome.detail
    assert farm.global_row("Kim") == (b"kim@example.org", None)
    assert farm.local_row(farm.two, 7) == (b"kim@example.org", OLD)  # the local row untouched
    ((_, (undone,)),) = undo(sqlite_store, [action], UndoFilter(user_id=7), WHO, NOW)
    assert undone.status is ActionStatus.DONE, undone.detail
    assert farm.global_row("Kim") == (b"kim@example.org", OLD)


def test_an_unattached_user_falls_back_to_the_local_table_and_is_undone(
    sqlite_store: Store, farm: Farm
) -> None:
    farm.user(farm.one, 7, "Kim", "kim@example.org", OLD)
    farm.global_user("Kim", "kim@example.org", OLD, farm.two)  # Kim is attached elsewhere only
    action = _action(farm.settings)
    _, (outcome,) = carry_out(
        sqlite_store, [action], _decision(farm.one, 7, "kim@example.org"), "run-1", NOW
    )
    assert outcome.status is ActionStatus.DONE and "global" not in outcome.detail
    assert farm.local_row(farm.one, 7) == (b"kim@example.org", None)
    assert farm.global_row("Kim") == (b"kim@example.org", OLD)
    ((_, (undone,)),) = undo(sqlite_store, [action], UndoFilter(user_id=7), WHO, NOW)
    assert undone.status is ActionStatus.DONE
    assert farm.local_row(farm.one, 7) == (b"kim@example.org", OLD)


def test_an_address_changed_meanwhile_is_left_alone(sqlite_store: Store, farm: Farm) -> None:
    farm.user(farm.one, 7, "Kim", "kim@example.org", OLD)
    farm.global_user("Kim", "new@example.org", NEWER, farm.one)  # changed globally
    farm.user(farm.two, 8, "Lee", "lee-new@example.org", NEWER)  # changed locally, unattached
    action = _action(farm.settings)
    _, (globally,) = carry_out(
        sqlite_store, [action], _decision(farm.one, 7, "kim@example.org"), "run-1", NOW
    )
    _, (locally,) = carry_out(
        sqlite_store, [action], _decision(farm.two, 8, "lee@example.org"), "run-1", NOW
    )
    assert globally.status is ActionStatus.SKIPPED and "no longer the user's (global)" in (
        globally.detail
    )
    assert locally.status is ActionStatus.SKIPPED and "no longer the user's (local)" in (
        locally.detail
    )
    assert farm.global_row("Kim") == (b"new@example.org", NEWER)
    assert farm.local_row(farm.one, 7) == (b"kim@example.org", OLD)  # not the fallback either
    assert farm.local_row(farm.two, 8) == (b"lee-new@example.org", NEWER)


def test_an_undo_keeps_a_confirmation_made_meanwhile(sqlite_store: Store, farm: Farm) -> None:
    farm.user(farm.one, 7, "Kim", "kim@example.org", OLD)
    farm.global_user("Kim", "kim@example.org", OLD, farm.one)
    farm.user(farm.two, 8, "Lee", "lee@example.org", OLD)
    action = _action(farm.settings)
    for realm, user, address in (
        (farm.one, 7, "kim@example.org"),
        (farm.two, 8, "lee@example.org"),
    ):
        _, (outcome,) = carry_out(
            sqlite_store, [action], _decision(realm, user, address), "run-1", NOW
        )
        assert outcome.status is ActionStatus.DONE, outcome.detail
    # both confirmed again meanwhile, the global account and the unattached local one
    farm.sql(f"UPDATE `{farm.central}`.globaluser SET gu_email_authenticated = %s", NEWER)
    farm.sql(f"UPDATE `{farm.two}`.user SET user_email_authenticated = %s", NEWER)
    outcomes = [o for _, done in undo(sqlite_store, [action], UndoFilter(), WHO, NOW) for o in done]
    assert [o.status for o in outcomes] == [ActionStatus.SKIPPED, ActionStatus.SKIPPED]
    assert farm.global_row("Kim") == (b"kim@example.org", NEWER)
    assert farm.local_row(farm.two, 8) == (b"lee@example.org", NEWER)


def _bounces(store: Store, realm: str, user_id: int, address: str) -> None:
    """Hard bounces on three days: enough for the default hard rule to act."""
    entries = []
    for day in range(3):
        event = BounceEvent(
            recipient=address, kind=MessageKind.BOUNCE, reason=Reason.USERUNKNOWN,
            severity=Severity.HARD, fault=Fault.RECIPIENT, rule_id="test",
            event_time=NOW - timedelta(days=day, minutes=5), realm=realm, user_id=user_id,
            verp_valid=True, address_bound=True,
        )  # fmt: skip
        uid, digest = 100 * user_id + day, f"{realm}{user_id}{day}"
        outcome = MessageOutcome.PROCESSED
        entries.append(
            LedgerEntry("bounces", 1, uid, digest, 100, outcome, NOW, NOW, events=(event,))
        )
    store.record_batch(entries, NOW)


def test_a_realm_without_a_database_is_withheld_with_the_reason(
    sqlite_store: Store, farm: Farm
) -> None:
    farm.user(farm.two, 7, "Lee", "lee@example.org", OLD)
    explicit = replace(farm.settings, url="", centralauth_url=None)  # wikis: only `two`
    action = _action(explicit)
    _bounces(sqlite_store, farm.two, 7, "lee@example.org")
    _bounces(sqlite_store, "dewiki", 8, "ann@example.org")  # served by nothing: not guessed
    sqlite_store.set_mode(Mode.ENFORCE, "operator:test", "testing", NOW)
    dctx = DecideContext(
        policy=PolicySettings(),
        actions=(action,),
        current_address=action.current_address,
        unserved=action.unserved,
    )
    report = run_decisions(sqlite_store, dctx, "run-1", NOW)
    assert report.dispositions == {"applied": 1, "withheld": 1}
    (held,) = sqlite_store.decisions(NOW - timedelta(days=1), NOW + timedelta(days=1), "dewiki", 8)
    assert held.decision.disposition is Disposition.WITHHELD and held.applied_at is None
    assert held.decision.withheld == (
        "realm dewiki has no database in [actions.mediawiki] (add it to wikis)"
    )
    assert sqlite_store.actions_of(held.id) == []
    assert farm.local_row(farm.two, 7) == (b"lee@example.org", None)  # the served realm acted


def test_owners_of_an_address_follow_the_current_address(farm: Farm) -> None:
    """The import's attribution (issue 15): an address is the user's current address, the
    global one for an attached account, the local one for an unattached account."""
    from reconciler.actions.bounce_records import owners

    farm.user(farm.one, 7, "Kim", "kim-old@example.org", OLD)  # stale local copy, attached
    farm.user(farm.two, 3, "Kim", "kim@example.org", OLD)
    farm.global_user("Kim", "kim@example.org", OLD, farm.one, farm.two)
    farm.user(farm.one, 8, "Lee", "lee@example.org", OLD)  # unattached
    farm.user(farm.two, 9, "Ann", "ann@example.org", OLD)  # attached, global address changed
    farm.global_user("Ann", "ann-new@example.org", OLD, farm.two)
    wikis = [(farm.one, farm.settings.url.replace("{realm}", farm.one)), *farm.settings.wikis]
    wanted = ["kim@example.org", "kim-old@example.org", "lee@example.org", "ann@example.org",
              "ann-new@example.org"]  # fmt: skip
    found = owners(_action(farm.settings), wanted, wikis)
    assert found == {
        "kim@example.org": {(farm.one, 7), (farm.two, 3)},  # several users: not attributed
        "lee@example.org": {(farm.one, 8)},
        "ann-new@example.org": {(farm.two, 9)},
    }
    local_only = owners(_action(replace(farm.settings, centralauth_url=None)), wanted, wikis)
    assert local_only["kim-old@example.org"] == {(farm.one, 7)}
    assert local_only["ann@example.org"] == {(farm.two, 9)}
