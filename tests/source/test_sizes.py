"""Sizes for the fetch budget without one response per message (issue 16).

`fetch_batches` keeps each FETCH within `fetch_bytes` by the sizes the source gives.  An
IMAP source asked with `small` finds the messages larger than that with one UID SEARCH
LARGER and fetches only their sizes; the others count as `small` bytes.  On the suite's
dovecot: the bounds hold, the budget holds, nothing is lost, and a batch of small messages
costs one search, no size fetch.
"""

from __future__ import annotations

import pytest
from dovecot import Account, Dovecot
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.config import MailboxSettings
from reconciler.source import fetch_batches
from reconciler.source.imap import ImapSource

live = pytest.mark.live


def _message(n: int, size: int) -> bytes:
    head = b"From: a@example.org\r\nSubject: message %d\r\n\r\n" % n
    return head + b"x" * max(0, size - len(head) - 2) + b"\r\n"


def _sent(source: ImapSource) -> list[bytes]:
    """The command lines this connection sends from now on."""
    imap = source._imap._imap
    sent: list[bytes] = []
    send = imap.send

    def record(data: bytes) -> None:
        sent.append(data)
        send(data)

    imap.send = record  # type: ignore[method-assign]
    return sent


@live
def test_sizes_with_a_bound_ask_only_the_larger_ones(
    dovecot: Dovecot, imap_account: Account, mailbox_settings: MailboxSettings
) -> None:
    lengths = [300, 5000, 200, 1000, 1001, 100, 7000, 400]
    dovecot.append(imap_account, "INBOX", [_message(n, k) for n, k in enumerate(lengths, 1)])
    with ImapSource(mailbox_settings) as source:
        uids = list(source.uids_after(0))
        exact = source.sizes(uids)
        sent = _sent(source)
        bounded = source.sizes(uids, 1000)
        searched, fetched = [line for line in sent if b" UID " in line]
        sent.clear()
        none_larger = source.sizes([1, 3, 4, 6], 1000)
        only_search = [line for line in sent if b" UID " in line]
        capped = source.sizes(uids, mailbox_settings.max_message_bytes)
    assert exact == dict(zip(uids, lengths, strict=True))
    assert bounded == {1: 1000, 2: 5000, 3: 1000, 4: 1000, 5: 1001, 6: 1000, 7: 7000, 8: 1000}
    assert b"UID SEARCH UID 1:8 LARGER 1000" in searched
    assert b"UID FETCH 2,5,7 (RFC822.SIZE)" in fetched
    assert none_larger == dict.fromkeys([1, 3, 4, 6], 1000)
    assert len(only_search) == 1 and b"SEARCH" in only_search[0]
    assert capped == dict.fromkeys(uids, mailbox_settings.max_message_bytes)


@live
@settings(max_examples=12, deadline=None)
@given(
    lengths=st.lists(st.sampled_from([120, 900, 2500, 9000]), min_size=1, max_size=14),
    batch=st.integers(min_value=1, max_value=6),
    budget=st.integers(min_value=9000, max_value=30000),
)
def test_batches_keep_the_budget_and_lose_nothing(
    dovecot: Dovecot, lengths: list[int], batch: int, budget: int
) -> None:
    dovecot.start()
    account = dovecot.add_user()
    messages = [_message(n, k) for n, k in enumerate(lengths, 1)]
    dovecot.append(account, "INBOX", messages)
    settings_ = MailboxSettings(
        name="sz", host=dovecot.host, port=dovecot.imap_port, username=account.name,
        password=account.password, security="none", timeout_seconds=10.0,
    )  # fmt: skip
    with ImapSource(settings_) as source:
        uids = source.uids_after(0)
        batches = list(fetch_batches(source, uids, batch, budget))
    got = [raw for part in batches for raw in part]
    assert [raw.data for raw in got] == messages  # all of them, once, in UID order
    for part in batches:
        assert len(part) <= batch
        assert len(part) == 1 or sum(len(raw.data) for raw in part) <= budget
    if max(lengths) <= budget // min(batch, len(lengths)):  # small ones: cut by count alone
        assert [len(part) for part in batches] == [
            min(batch, len(lengths) - start) for start in range(0, len(lengths), batch)
        ]
