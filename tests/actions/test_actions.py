"""Actions against real things: our store (SQLite), a loopback HTTP receiver in a thread, real
programs (`sys.executable`), and the machine's MariaDB as a MediaWiki database."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from support import NOW, host_port, unavailable

from reconciler.actions import (
    PENDING_GRACE,
    Action,
    CommandAction,
    SuppressAction,
    WebhookAction,
    apply_pending,
    build_actions,
    carry_out,
    deliver_due,
    reinstate,
    retry_failed,
    undo,
)
from reconciler.actions.webhook import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    backoff,
)
from reconciler.config import ActionsSettings, CommandSettings, MediaWikiSettings, WebhookSettings
from reconciler.errors import ActionError
from reconciler.records import (
    ActionOutcome,
    ActionStatus,
    Decision,
    DecisionKind,
    Disposition,
    Mode,
    Reason,
    Suppression,
    Trigger,
    UndoFilter,
)
from reconciler.store import Store, open_database
from tests.mediawiki_schema import as_bytes, insert_user, user_table

T = int(NOW.timestamp())
SECRET = b"webhook-secret-0123456789abcdef"
WHO = ("operator:ann", "false positives of a broken rule")


def decision(user_id: int = 7, mode: Mode = Mode.ENFORCE, **kw: object) -> Decision:
    dispositions = {
        Mode.ENFORCE: Disposition.APPLIED,
        Mode.LOG_ONLY: Disposition.WOULD,
        Mode.PAUSED: Disposition.WITHHELD,
    }
    values: dict[str, object] = {
        "kind": DecisionKind.SUPPRESS, "realm": "wiki", "user_id": user_id,
        "address": f"user{user_id}@example.org", "at": T, "mode": mode,
        "disposition": dispositions[mode], "trigger": Trigger.HARD, "rule": "hard:3d/14d",
        "hard_days": 3, "event_ids": (11, 12, 13), "message_ids": ("<m1@x>",),
        "reasons": (Reason.USERUNKNOWN,),
    }  # fmt: skip
    values.update(kw)
    return Decision(**values)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    opened.migrate(NOW)
    yield opened
    opened.close()


# -- suppress, modes, pending, undo ----------------------------------------------------------


def test_log_only_describes_and_applies_nothing(store: Store) -> None:
    actions = build_actions(ActionsSettings(), store)
    stored, outcomes = carry_out(store, actions, decision(mode=Mode.LOG_ONLY), "run-1", NOW)
    assert outcomes == []
    assert store.suppressions() == [] and store.actions_of(stored.id) == []
    assert "suppress: add ***@example.org of wiki:7" in actions[0].describe(stored)
    shown = SuppressAction(store, show_address=True).describe(stored)
    assert "user7@example.org" in shown
    assert [s.id for s in store.pending_decisions()] == [stored.id]
    paused, outcomes = carry_out(store, actions, decision(8, Mode.PAUSED), "run-1", NOW)
    assert outcomes == [] and paused.decision.disposition is Disposition.WITHHELD


def test_enforce_suppresses_once(store: Store) -> None:
    actions = build_actions(ActionsSettings(), store)
    stored, outcomes = carry_out(store, actions, decision(), "run-1", NOW)
    assert [(o.action, o.status) for o in outcomes] == [("suppress", ActionStatus.DONE)]
    entry = store.check_suppression("User7@example.org")
    assert entry is not None and entry.decision_id == stored.id
    assert entry.reason == "hard:3d/14d userunknown"
    assert store.get_decision(stored.id).applied_at == NOW  # type: ignore[union-attr]
    again, outcomes = carry_out(store, actions, decision(), "run-2", NOW + timedelta(hours=1))
    assert outcomes == []  # already applied by the first decision: nothing runs twice
    assert store.actions_of(again.id) == []


def test_promotion_applies_pending_only_on_request(store: Store) -> None:
    actions = build_actions(ActionsSettings(), store)
    carry_out(store, actions, decision(7, Mode.LOG_ONLY), "run-1", NOW)
    carry_out(store, actions, decision(7, Mode.LOG_ONLY, hard_days=4), "run-2", NOW)
    carry_out(store, actions, decision(8, Mode.LOG_ONLY), "run-2", NOW)
    store.set_mode(Mode.ENFORCE, "operator:ann", "go", NOW)
    assert store.suppressions() == []  # promotion alone applies nothing
    done = apply_pending(store, actions, "operator:ann", NOW + timedelta(minutes=1))
    assert sorted(s.decision.user_id for s, _ in done) == [7, 8]  # the latest per user
    assert [s.address for s in store.suppressions()] == ["user7@example.org", "user8@example.org"]
    assert store.pending_decisions() == []
    audited = store.audit_log(action="apply-pending")
    assert len(audited) == 2 and all("suppress=done" in e.detail for e in audited)


def test_apply_pending_skips_what_an_enforced_decision_covers(store: Store) -> None:
    actions = build_actions(ActionsSettings(), store)
    carry_out(store, actions, decision(7, Mode.LOG_ONLY), "run-1", NOW)
    carry_out(store, actions, decision(7), "run-2", NOW)  # enforced meanwhile
    assert store.pending_decisions() == []  # applying covered the pending one
    carry_out(store, actions, decision(8, Mode.LOG_ONLY), "run-3", NOW)
    store.add_suppression(Suppression("user8@example.org", "wiki", 8, "by hand", NOW))
    (done,) = apply_pending(store, actions, "operator:ann", NOW)
    assert [o.status for o in done[1]] == [ActionStatus.SKIPPED]  # already on the list
    assert store.pending_decisions() == []


def test_undo_by_rule_and_reinstate_by_address(store: Store) -> None:
    actions = build_actions(ActionsSettings(), store)
    first, _ = carry_out(store, actions, decision(7), "run-1", NOW)
    carry_out(store, actions, decision(8, rule="soft:10d/30d", trigger=Trigger.SOFT), "run-1", NOW)
    done = undo(store, actions, UndoFilter(rule="hard"), WHO, NOW + timedelta(hours=1))
    assert [(s.id, [o.status for o in out]) for s, out in done] == [(first.id, [ActionStatus.DONE])]
    assert [s.address for s in store.suppressions()] == ["user8@example.org"]
    assert store.get_decision(first.id).undone_at is not None  # type: ignore[union-attr]
    assert undo(store, actions, UndoFilter(rule="hard"), WHO, NOW) == []  # nothing left
    entry = store.audit_log(action="undo")[0]
    assert (entry.actor, entry.decision_id) == ("operator:ann", first.id)
    assert "broken rule" in entry.detail and "removed from the suppression list" in entry.detail
    # A hand-added suppression has no decision: reinstate ADDRESS still removes it.
    store.add_suppression(Suppression("manual@example.org", "wiki", 9, "by hand", NOW))
    reinstate(store, actions, UndoFilter(address="MANUAL@example.org"), WHO, NOW)
    reinstate(store, actions, UndoFilter(address="user8@example.org"), WHO, NOW)
    assert store.suppressions() == []
    assert [e.action for e in store.audit_log()][:2] == ["undo", "reinstate"]


def test_build_actions_refuses_an_unconfigured_action(store: Store) -> None:
    with pytest.raises(ActionError, match=r"\[actions.webhook\]"):
        build_actions(ActionsSettings(enabled=("suppress", "webhook")), store)


# -- webhook: a real HTTP receiver on loopback -----------------------------------------------


@dataclass
class Receiver:
    """A loopback HTTP server in a thread that answers with the statuses it is told."""

    statuses: list[int] = field(default_factory=list)  # answers to give, then 200
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    server: HTTPServer | None = None
    port: int = 0

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.requests.append((dict(self.headers.items()), body))
                self.send_response(owner.statuses.pop(0) if owner.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


def verified(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """What a receiver does: check the signature over "<timestamp>.<body>", then parse."""
    stamp = headers[TIMESTAMP_HEADER]
    mac = hmac.new(SECRET, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], f"sha256={mac}")
    event: dict[str, Any] = json.loads(body)
    assert headers[EVENT_ID_HEADER] == event["event_id"]
    return event


def webhook_settings(url: str, **kw: Any) -> WebhookSettings:
    return WebhookSettings(url=url, secret=SECRET, timeout_seconds=5.0, **kw)


def test_webhook_survives_an_outage_and_a_restart(store: Store, receiver: Receiver) -> None:
    settings = webhook_settings(receiver.url)
    actions: list[Action] = [SuppressAction(store), WebhookAction(store, settings)]
    stored, outcomes = carry_out(store, actions, decision(), "run-1", NOW)
    assert [o.status for o in outcomes] == [ActionStatus.DONE, ActionStatus.QUEUED]
    assert receiver.requests == []  # queued in the decision's transaction, not sent yet
    receiver.statuses = [500]
    (item,) = deliver_due(store, settings, NOW)
    assert (item.attempts, item.next_at) == (1, NOW + timedelta(seconds=60))
    assert item.last_error.startswith("HTTP 500")
    receiver.stop()  # the receiver is down: connection refused
    t2 = NOW + timedelta(seconds=60)
    (item,) = deliver_due(store, settings, t2)
    assert item.attempts == 2 and "cannot reach" in item.last_error
    assert item.next_at == t2 + timedelta(seconds=120)
    assert deliver_due(store, settings, t2 + timedelta(seconds=119)) == []  # not due yet
    receiver.start()  # back, on the same port
    (item,) = deliver_due(store, settings, t2 + timedelta(seconds=120))
    assert item.delivered_at == t2 + timedelta(seconds=120) and item.attempts == 3
    events = [verified(h, b) for h, b in receiver.requests]
    assert [e["event_id"] for e in events] == [f"d{stored.id}-suppress"] * 2  # same key
    assert events[-1]["type"] == "suppress"
    assert events[-1]["decision"]["user_id"] == 7
    assert events[-1]["decision"]["address"] == "user7@example.org"
    assert receiver.requests[-1][0][TIMESTAMP_HEADER] == str(int(t2.timestamp()) + 120)
    assert deliver_due(store, settings, NOW + timedelta(days=1)) == []  # delivered once

    undo(store, actions, UndoFilter(user_id=7), WHO, NOW + timedelta(days=1))
    (item,) = deliver_due(store, settings, NOW + timedelta(days=1))
    assert item.delivered_at is not None
    assert verified(*receiver.requests[-1])["type"] == "reinstated"


def test_webhook_gives_up_keeps_the_item_and_can_retry(
    store: Store, receiver: Receiver, tmp_path: Path
) -> None:
    settings = webhook_settings(receiver.url, max_attempts=2)
    carry_out(store, [WebhookAction(store, settings)], decision(), "run-1", NOW)
    # A crash before delivery loses nothing: the item is in the database.
    store.close()
    store = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    receiver.statuses = [503, 503]
    deliver_due(store, settings, NOW)
    (item,) = deliver_due(store, settings, NOW + backoff(settings, 1))
    assert item.failed_at is not None and item.attempts == 2
    assert store.outbox("failed") == [item]
    assert store.retry_outbox(NOW + timedelta(hours=1)) == 1
    (item,) = deliver_due(store, settings, NOW + timedelta(hours=1))
    assert item.delivered_at is not None
    assert len(receiver.requests) == 3


def test_backoff_doubles_up_to_the_cap() -> None:
    settings = webhook_settings("http://127.0.0.1/", backoff_seconds=10, max_backoff_seconds=50)
    assert [backoff(settings, n).seconds for n in (1, 2, 3, 4, 9)] == [10, 20, 40, 50, 50]


# -- command: real programs ------------------------------------------------------------------


def program(code: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code, *args)


def test_command_gets_the_decision_on_stdin_and_can_undo(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    write = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text(sys.stdin.read())"
    settings = CommandSettings(argv=program(write, str(out)), undo_argv=program(write, str(out)))
    action = CommandAction(store, settings)
    stored, (outcome,) = carry_out(store, [action], decision(), "run-1", NOW)
    assert outcome.status is ActionStatus.DONE
    event = json.loads(out.read_text())
    assert (event["type"], event["decision"]["id"], event["decision"]["rule"]) == (
        "suppress", stored.id, "hard:3d/14d",
    )  # fmt: skip
    assert store.actions_of(stored.id)[0].status is ActionStatus.DONE
    (_, (undone,)) = undo(store, [action], UndoFilter(), WHO, NOW)[0]
    assert undone.status is ActionStatus.DONE
    assert json.loads(out.read_text())["type"] == "reinstated"


def test_command_failures_are_recorded_then_retried(store: Store, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    code = (
        "import sys, pathlib\n"
        "if not pathlib.Path(sys.argv[1]).exists():\n"
        "    sys.stderr.write('list server down'); sys.exit(3)\n"
    )
    action = CommandAction(store, CommandSettings(argv=program(code, str(flag))))
    stored, outcomes = carry_out(store, [SuppressAction(store), action], decision(), "r", NOW)
    assert [o.status for o in outcomes] == [ActionStatus.DONE, ActionStatus.FAILED]
    assert "exit status 3: list server down" in outcomes[1].detail
    record = store.actions_of(stored.id)[1]
    assert (record.action, record.status) == ("command", ActionStatus.FAILED)
    assert store.check_suppression("user7@example.org") is not None  # the rest still applied
    flag.write_text("")
    (again,) = retry_failed(store, [action], NOW + timedelta(hours=1))
    assert again.status is ActionStatus.DONE and again.id == record.id
    assert retry_failed(store, [action], NOW + timedelta(hours=2)) == []


def test_an_interrupted_outside_action_runs_on_retry(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "ran"
    action = CommandAction(store, CommandSettings(argv=program(
        "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text('yes')", str(out))))  # fmt: skip
    stored = store.record_decision(decision(), "run-1", NOW)
    store.mark_applied([stored.id], NOW)
    # What a crash between the commit and the program leaves behind; run again once it is
    # surely not running any more (another worker might be running it until then)
    store.record_action(stored.id, ActionOutcome("command", ActionStatus.PENDING), NOW)
    assert retry_failed(store, [action], NOW + timedelta(minutes=5)) == []
    (record,) = retry_failed(store, [action], NOW + PENDING_GRACE)
    assert record.status is ActionStatus.DONE and out.read_text() == "yes"


def test_command_timeout_and_missing_program(store: Store) -> None:
    slow = CommandAction(
        store, CommandSettings(argv=program("import time; time.sleep(30)"), timeout_seconds=0.3)
    )
    _, (outcome,) = carry_out(store, [slow], decision(7), "run-1", NOW)
    assert outcome.status is ActionStatus.FAILED and "timed out after 0.3 s" in outcome.detail
    gone = CommandAction(store, CommandSettings(argv=("/nonexistent/program",)))
    stored, (outcome,) = carry_out(store, [gone], decision(8), "run-1", NOW)
    assert outcome.status is ActionStatus.FAILED and "cannot run" in outcome.detail
    record = store.actions_of(stored.id)[0]
    assert gone.undo(record, NOW).status is ActionStatus.SKIPPED  # no undo_argv configured


# -- mediawiki: the machine's MariaDB --------------------------------------------------------


@dataclass
class Wiki:
    settings: MediaWikiSettings
    conn: Any
    table: str

    def add(self, user_id: int, email: str, confirmed: bytes | None) -> None:
        with self.conn.cursor() as cur:
            cur.execute(
                insert_user(f"`{self.table}`"),
                (user_id, f"User{user_id}".encode(), email.encode(), confirmed),
            )

    def row(self, user_id: int) -> tuple[bytes, bytes | None]:
        """`user_email` as bytes, whether the column is binary (MediaWiki's default table
        options) or text in a character set."""
        with self.conn.cursor() as cur:
            cur.execute(
                f"SELECT user_email, user_email_authenticated FROM `{self.table}` "
                "WHERE user_id = %s",
                (user_id,),
            )
            email, confirmed = cur.fetchone()
        return as_bytes(email), confirmed


@pytest.fixture(params=["binary", "utf8mb4"])
def wiki(request: pytest.FixtureRequest) -> Iterator[Wiki]:
    """MediaWiki's own `user` table, with a unique prefix in the `test` database, in
    MediaWiki's default binary table options and in a character set."""
    import pymysql

    host, port = host_port("RECONCILER_TEST_MYSQL", "127.0.0.1:3306")
    try:
        conn = pymysql.connect(host=host, port=port, user="root", password="", database="test",
                               autocommit=True)  # fmt: skip
    except pymysql.Error as err:
        unavailable(f"MariaDB at {host}:{port} unavailable: {err}")
    prefix = f"t{secrets.token_hex(4)}_"
    table = f"{prefix}user"
    with conn.cursor() as cur:
        cur.execute(user_table(f"`{table}`", request.param))
    url = f"mysql://root@{host}:{port}/test"
    yield Wiki(MediaWikiSettings(url=url, table_prefix=prefix), conn, table)
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS `{table}`")
    conn.close()


@pytest.mark.mariadb
def test_mediawiki_unconfirms_and_restores(store: Store, wiki: Wiki) -> None:
    from reconciler.actions.mediawiki import MediaWikiAction

    wiki.add(7, "User7@Example.org", b"20240102030405")
    action = MediaWikiAction(wiki.settings)
    assert action.current_address("wiki", 7) == "User7@Example.org"
    assert action.current_address("wiki", 99) is None
    stored, (outcome,) = carry_out(store, [action], decision(7), "run-1", NOW)
    assert outcome.status is ActionStatus.DONE, outcome.detail
    assert wiki.row(7) == (b"User7@Example.org", None)
    (_, (undone,)) = undo(store, [action], UndoFilter(user_id=7), WHO, NOW)[0]
    assert undone.status is ActionStatus.DONE
    assert wiki.row(7) == (b"User7@Example.org", b"20240102030405")
    assert store.get_decision(stored.id).undone_at is not None  # type: ignore[union-attr]


@pytest.mark.mariadb
def test_mediawiki_leaves_an_address_that_is_no_longer_the_users(store: Store, wiki: Wiki) -> None:
    from reconciler.actions.mediawiki import MediaWikiAction

    wiki.add(7, "new@example.org", b"20250101000000")
    action = MediaWikiAction(wiki.settings)
    _, (outcome,) = carry_out(store, [action], decision(7), "run-1", NOW)
    assert outcome.status is ActionStatus.SKIPPED
    assert "no longer the user's" in outcome.detail
    assert wiki.row(7) == (b"new@example.org", b"20250101000000")
    other = MediaWikiAction(replace(wiki.settings, realm="otherwiki"))
    assert other.current_address("wiki", 7) is None
    _, (outcome,) = carry_out(store, [other], decision(8), "run-1", NOW)
    assert outcome.status is ActionStatus.SKIPPED


@pytest.mark.mariadb
def test_mediawiki_undo_keeps_a_newer_confirmation(store: Store, wiki: Wiki) -> None:
    from reconciler.actions.mediawiki import MediaWikiAction

    wiki.add(7, "user7@example.org", b"20240102030405")
    action = MediaWikiAction(wiki.settings)
    carry_out(store, [action], decision(7), "run-1", NOW)
    with wiki.conn.cursor() as cur:  # the user confirmed the address again meanwhile
        cur.execute(
            f"UPDATE `{wiki.table}` SET user_email_authenticated = %s WHERE user_id = 7",
            (b"20261201000000",),
        )
    (_, (outcome,)) = undo(store, [action], UndoFilter(), WHO, NOW)[0]
    assert outcome.status is ActionStatus.SKIPPED
    assert wiki.row(7)[1] == b"20261201000000"


def test_mediawiki_unreachable_is_a_recorded_failure(store: Store) -> None:
    from reconciler.actions.mediawiki import MediaWikiAction

    settings = MediaWikiSettings(url="mysql://root@127.0.0.1:1/test", timeout_seconds=2.0)
    action = MediaWikiAction(settings)
    _, (outcome,) = carry_out(store, [action], decision(7), "run-1", NOW)
    assert outcome.status is ActionStatus.FAILED and "cannot connect" in outcome.detail
    with pytest.raises(ActionError, match=r"127\.0\.0\.1:1"):
        action.current_address("wiki", 7)
