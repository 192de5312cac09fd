"""Forged bounces end to end (issue 7): through `run_once` on the real dovecot, in ENFORCE.

test_enforcement.py already covers a tampered MAC, a token signed with the wrong secret
under the right key id, an expired token, and 100 replays of the same bytes.  Here: a key id
that is not configured, a token whose (signed) realm was changed, a token from the future, a
valid token pasted into an ordinary message or an auto-reply, or carried by delay notices
(never counted as hard), and a real bounce replayed 100 times
under new UIDs *and* across a UIDVALIDITY change (counted once).  Also: secrets never appear
in the errors raised by config, source and store, and SQL goes through bound parameters.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dovecot import Account, Dovecot
from helpers_mail import (
    HARD,
    REALM,
    VERP,
    apple_unsubscribe,
    arf_complaint,
    auto_reply,
    corpus_mail,
    hard_bounce,
    plain_mail,
    token_for,
)
from support import ROOT

from reconciler.config import (
    DatabaseSettings,
    MailboxSettings,
    Settings,
    VerpKey,
    VerpSettings,
    load_settings,
)
from reconciler.errors import ConfigError, ReconcilerError, SourceError, StoreError
from reconciler.records import Mode, StoredDecision, UserSelector, VerpFailure
from reconciler.service.cycle import run_once
from reconciler.service.wiring import Service, open_service
from reconciler.settings import PolicySettings
from reconciler.source.imap import ImapSource
from reconciler.store import open_database
from reconciler.verp import make_address

NOW = datetime.now(UTC).replace(microsecond=0)
# tokens are issued before the service's clock (NOW, taken when the module is collected),
# not before the real time: a long run between collection and the test would make them
# tokens from the future
ISSUED = NOW - timedelta(minutes=10)
assert HARD  # the sample every bounce here is built from (helpers_mail)


@pytest.fixture
def service(tmp_path: Path, mailbox_settings: MailboxSettings) -> Iterator[Service]:
    settings = Settings(
        mailboxes=(mailbox_settings,),
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'state.db'}"),
        verp=VERP,
        policy=PolicySettings(),
    )
    with open_service(settings, clock=lambda: NOW) as opened:
        opened.store.set_mode(Mode.ENFORCE, "operator:test", "forgery tests", NOW)
        yield opened


def deliver(dovecot: Dovecot, account: Account, mail: list[tuple[bytes, datetime]]) -> None:
    with dovecot.client(account, folder=None) as imap:
        for data, when in mail:
            imap.append("INBOX", data, msg_time=when)


def poll(service: Service) -> None:
    result = run_once(service.settings.mailboxes, service.store, service.cycle, mode="enforce")
    assert result.ok, result.errors


def three_days(token: str, user: int, tag: str) -> list[tuple[bytes, datetime]]:
    """Hard bounces on three days: enough for a hard decision if the token were trusted."""
    address = f"v{user}@f{user}.example"
    return [
        (hard_bounce(token, address, f"{tag}-{day}", own_mx=True), NOW - timedelta(days=day))
        for day in (5, 3, 1)
    ]


def _no_action(service: Service, users: list[int]) -> None:
    store = service.store
    assert store.suppressions() == []
    assert store.decisions(NOW - timedelta(days=30), NOW + timedelta(days=1)) == []
    for user in users:
        for realm in (REALM, "other", None):
            assert store.user_events(realm, user, NOW - timedelta(days=30)) == []


def test_unknown_key_realm_change_and_future_token_lead_to_no_action(
    service: Service, dovecot: Dovecot, imap_account: Account
) -> None:
    issued = NOW - timedelta(minutes=10)
    # a key id we do not have ("z"), validly signed with its own secret
    stranger = VerpSettings(domain=VERP.domain, keys=(VerpKey("z", b"someone-elses-key-0123456"),))
    unknown_key = make_address(
        stranger, user_id=600, address="v600@f600.example", realm=REALM,
        now=int(issued.timestamp()),
    )  # fmt: skip
    # our own valid token for realm "wiki", its realm suffix rewritten to "other"
    genuine = token_for(601, address="v601@f601.example", at=issued)
    assert genuine.split("@")[0].endswith(f".{REALM}")
    other_realm = genuine.replace(f".{REALM}@", ".other@")
    # a token issued (and signed by us) a week in the future
    future = token_for(602, address="v602@f602.example", at=NOW + timedelta(days=7))
    mail = (
        three_days(unknown_key, 600, "k")
        + three_days(other_realm, 601, "r")
        + three_days(future, 602, "f")
    )
    deliver(dovecot, imap_account, mail)
    poll(service)
    _no_action(service, [600, 601, 602])
    # recorded as unmatched evidence, with the reason each token failed
    folders = dovecot.folders(imap_account)
    assert "processed" not in folders and len(dovecot.uids(imap_account, "unmatched")) == 9
    assert dovecot.uids(imap_account) == []


def test_a_valid_token_in_a_non_bounce_is_never_counted_as_hard(
    service: Service, dovecot: Dovecot, imap_account: Account
) -> None:
    token = token_for(
        700, address=None, at=ISSUED
    )  # binds nothing: read as user 700's whatever they name
    mail = []
    for day in (6, 5, 4, 3, 2, 1):
        mail.append((plain_mail(token, f"plain-{day}"), NOW - timedelta(days=day)))
        mail.append((auto_reply(token, f"ooo-{day}"), NOW - timedelta(days=day, hours=1)))
    deliver(dovecot, imap_account, mail)
    poll(service)
    store = service.store
    events = store.user_events(REALM, 700, NOW - timedelta(days=30))
    assert all(e.severity.value != "hard" for e in events), events
    # the token did verify (so the messages were read as user 700's): still nothing counted
    assert len(dovecot.uids(imap_account, "processed")) == 12
    assert store.suppressions() == []
    assert [d for d in store.decisions(NOW - timedelta(days=30), NOW + timedelta(days=1))
            if d.decision.disposition.value == "applied"] == []  # fmt: skip
    assert dovecot.uids(imap_account) == []  # read and moved, not left to be read again


def test_delayed_dsns_with_a_valid_token_are_never_counted_as_hard(
    service: Service, dovecot: Dovecot, imap_account: Account
) -> None:
    """Delay notices (4.x.x, Action: delayed) on six days, one of them about a recipient
    named "this-local-part-does-not-exist...": soft or not a bounce, never hard."""
    token = token_for(
        800, address=None, at=ISSUED
    )  # binds nothing: the samples name various recipients
    samples = ("lhost-sendmail-29.eml", "lhost-opensmtpd-06.eml", "rfc3464-07.eml")
    mail = [
        (corpus_mail(samples[day % 3], token, f"delay-{day}"), NOW - timedelta(days=day))
        for day in range(1, 7)
    ]
    deliver(dovecot, imap_account, mail)
    poll(service)
    store = service.store
    events = store.user_events(REALM, 800, NOW - timedelta(days=30))
    assert events, "the delays are recorded as evidence of user 800"
    assert {e.severity.value for e in events} <= {"soft", "none"}, events
    assert store.suppressions() == []
    assert [d for d in store.decisions(NOW - timedelta(days=30), NOW + timedelta(days=1))
            if d.decision.disposition.value == "applied"] == []  # fmt: skip


def test_the_same_bounce_replayed_100_times_across_uidvalidity_is_counted_once(
    tmp_path: Path, mailbox_settings: MailboxSettings, dovecot: Dovecot, imap_account: Account
) -> None:
    """100 copies (new UIDs) in one cycle, then the folder re-created (new UIDVALIDITY) with
    100 more copies: one event, one count, no action from the replays, every copy moved."""
    folders = dataclasses.replace(mailbox_settings, folder="bounces")
    settings = Settings(
        mailboxes=(folders,),
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'state.db'}"),
        verp=VERP,
        policy=PolicySettings(),
    )
    token = token_for(900, address="r900@r900.example", at=ISSUED)
    original = hard_bounce(token, "r900@r900.example", "replayed", own_mx=True)
    copies = [{"msg": original, "date": NOW - timedelta(days=2)}] * 100
    with open_service(settings, clock=lambda: NOW) as service:
        service.store.set_mode(Mode.ENFORCE, "operator:test", "forgery tests", NOW)
        dovecot.append(imap_account, "bounces", copies)  # type: ignore[arg-type]
        poll(service)
        with dovecot.client(imap_account, folder=None) as imap:
            before = imap.folder_status("bounces", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
            imap.delete_folder("bounces")
            imap.create_folder("bounces")
            after = imap.folder_status("bounces", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
        assert after != before
        dovecot.append(imap_account, "bounces", copies)  # type: ignore[arg-type]
        poll(service)
        store = service.store
        assert len(store.user_events(REALM, 900, NOW - timedelta(days=30))) == 1
        assert store.suppressions() == []
        assert store.decisions(NOW - timedelta(days=30), NOW + timedelta(days=1)) == []
    assert dovecot.uids(imap_account, "bounces") == []
    assert len(dovecot.uids(imap_account, "processed")) == 200  # every copy moved out


# -- a valid token never suppresses an address we did not send to (issue 12, item 1) ---------


def _applied(service: Service) -> list[StoredDecision]:
    found = service.store.decisions(NOW - timedelta(days=30), NOW + timedelta(days=1))
    return [d for d in found if d.applied_at is not None]


def test_a_users_own_token_cannot_suppress_another_address(
    service: Service, dovecot: Dovecot, imap_account: Account
) -> None:
    """User 1000 mails their own (bound) token an X-Apple-Unsubscribe `From:` a victim, and
    an ARF report with `Original-Rcpt-To:` another victim.  In enforce mode, before the fix,
    both complaints acted at once and put the victims on the suppression list.  Now they are
    recorded as address mismatches, under the token's user, and nothing acts; the user's own
    complaint (From: their address) still acts on their address."""
    token = token_for(1000, address="ann@own.example", at=ISSUED)
    forged = [
        (apple_unsubscribe(token, "victim@target.example", "apple"), NOW - timedelta(hours=2)),
        (arf_complaint(token, "other@target.example", "arf"), NOW - timedelta(hours=1)),
    ]
    deliver(dovecot, imap_account, forged)
    poll(service)
    store = service.store
    assert store.suppressions() == [] and _applied(service) == []
    events = store.stored_events(UserSelector(REALM, 1000))
    assert sorted(
        (e.event.recipient, e.event.verp_valid, e.event.verp_failure) for e in events
    ) == [
        ("other@target.example", False, VerpFailure.ADDRESS_MISMATCH),
        ("victim@target.example", False, VerpFailure.ADDRESS_MISMATCH),
    ]
    assert len(dovecot.uids(imap_account, "unmatched")) == 2
    # the positive control: the same token, the user's own complaint, acts on their address
    own = [(apple_unsubscribe(token, "Ann@Own.example", "own"), NOW - timedelta(minutes=30))]
    deliver(dovecot, imap_account, own)
    poll(service)
    assert [s.address for s in store.suppressions()] == ["ann@own.example"]
    assert [d.decision.address for d in _applied(service)] == ["ann@own.example"]


def test_a_token_that_binds_nothing_acts_on_the_user_never_on_a_named_address(
    service: Service, dovecot: Dovecot, imap_account: Account
) -> None:
    """A token made before binding (or with --unbound): the same forgery counts against the
    token's user alone.  The decision acts on the user, with no address (the sending side
    resolves the user's current one): the victim is never put on the suppression list."""
    token = token_for(1001, address=None, at=ISSUED)
    deliver(dovecot, imap_account, [(apple_unsubscribe(token, "victim@target.example", "u"), NOW)])
    poll(service)
    assert service.store.suppressions() == []
    ((stored,),) = [_applied(service)]
    assert (stored.decision.user_id, stored.decision.address, stored.decision.rule) == (
        1001, None, "complaint",
    )  # fmt: skip
    (action,) = service.store.actions_of(stored.id)
    assert (action.action, action.status.value, action.detail) == (
        "suppress", "skipped", "no address proven (the user only)",
    )  # fmt: skip


# -- secrets never appear in errors ----------------------------------------------------------

PASSWORD = "S3cr3t-p%40ss-Xy"  # percent-encoded "@" in the URL
DECODED = "S3cr3t-p@ss-Xy"


def _leaks(text: str) -> list[str]:
    return [s for s in (PASSWORD, DECODED, "S3cr3t") if s in text]


def _chain(err: BaseException) -> str:
    """The error's text, its repr and everything it is chained to."""
    parts = []
    seen: BaseException | None = err
    while seen is not None:
        parts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://postgres:{DECODED.replace('@', '%40')}@127.0.0.1:1/none",  # nothing there
        f"postgresql://nobody:{DECODED.replace('@', '%40')}@127.0.0.1:5432/none",  # auth fails
        f"mysql://nobody:{DECODED.replace('@', '%40')}@127.0.0.1:1/none",
        f"nosuchdb://nobody:{DECODED.replace('@', '%40')}@127.0.0.1:1/none",
    ],
)
def test_store_errors_carry_no_password(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_database(url).close()
    assert _leaks(str(caught.value)) == [], str(caught.value)


def test_store_errors_carry_no_password_in_the_chain() -> None:
    """The StoreError's own text is redacted; the chained driver error must be too, since a
    traceback (log.exception) prints the whole chain."""
    url = f"postgresql://postgres:{DECODED.replace('@', '%40')}@127.0.0.1:1/none"
    with pytest.raises(StoreError) as caught:
        open_database(url).close()
    assert _leaks(_chain(caught.value)) == []


def test_imap_login_failure_carries_no_password(dovecot: Dovecot, imap_account: Account) -> None:
    settings = MailboxSettings(
        name="secret", host=dovecot.host, port=dovecot.imap_port, username=imap_account.name,
        password=DECODED, security="none", timeout_seconds=5.0,
    )  # fmt: skip
    with pytest.raises(SourceError) as caught, ImapSource(settings):
        pass
    assert "secret" in str(caught.value)  # it says which mailbox
    assert _leaks(_chain(caught.value)) == []
    assert DECODED not in repr(settings)


def test_config_errors_carry_no_secret(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        f'[[mailbox]]\nname = "m"\nhost = "imap.example"\nusername = "u"\n'
        f'password = "{DECODED}"\nport = "not a number"\n\n'
        f'[database]\nurl = "postgresql://u:{PASSWORD}@db.example/x"\nretention_days = -1\n'
    )
    config.chmod(0o600)
    with pytest.raises(ReconcilerError) as caught:
        load_settings(config, {})
    assert isinstance(caught.value, ConfigError)
    assert _leaks(_chain(caught.value)) == []


def test_database_settings_repr_masks_an_encoded_password() -> None:
    shown = repr(DatabaseSettings(url=f"postgresql://u:{PASSWORD}@db.example/x"))
    assert _leaks(shown) == [], shown


# -- SQL only through bound parameters -------------------------------------------------------

_EXECUTE = re.compile(
    r"\b(execute_sql|execute|executemany|raw|SQL)\(\s*(f[\"']|[\"'][^\"']*[\"']\s*%)"
)
_FORMAT = re.compile(r"\b(execute_sql|execute|raw|SQL)\([^)]*\.format\(")
# Identifiers cannot be bound parameters: the MediaWiki adapter formats in its table name, built
# from `table_prefix`, which the config loader restricts to [A-Za-z0-9_]{0,32}; values are bound.
# The import's IN lists format in only their "%s, %s, ..." placeholders (issue 15).
_IDENTIFIER_ONLY = (
    "t=self._table)",
    "t=table, p=_placeholders(len(chunk)))",
    "p=_placeholders(len(chunk)))",
)


def test_no_string_formatted_sql_in_the_product() -> None:
    """A guard: SQL text is never built with f-strings, % or .format (STYLE §3.9)."""
    offenders = []
    for path in sorted((ROOT / "reconciler").rglob("*.py")):
        text = path.read_text()
        for pattern in (_EXECUTE, _FORMAT):
            for found in pattern.finditer(text):
                if text[found.end() :].startswith(_IDENTIFIER_ONLY):
                    continue
                line = text.count("\n", 0, found.start()) + 1
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {found.group(0)}")
    assert offenders == []


def test_the_sql_guard_catches_formatted_sql() -> None:
    bad = [
        'db.execute_sql(f"SELECT * FROM t WHERE a = {x}")',
        "db.execute_sql('SELECT * FROM t WHERE a = %s' % x)",
        'cursor.execute("DELETE FROM t WHERE a = {}".format(x))',
    ]
    assert all(_EXECUTE.search(b) or _FORMAT.search(b) for b in bad)
    assert not _EXECUTE.search('db.execute_sql("SELECT 1 WHERE a = %s", (x,))')
