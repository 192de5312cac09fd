"""The lean reader of FETCH responses (`source.imap._lean_fetch`) against imapclient's parser,
on the same responses of the suite's real dovecot: the same UIDs, bytes, sizes and times,
odd messages included (NUL bytes, 8-bit bytes, a body that looks like IMAP responses, bare
LF, a huge literal, a head cut at the size cap, flags set); and what it does not know (an
unsolicited FLAGS response in the middle) is left to imapclient's parser.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from dovecot import Account, Dovecot

from reconciler.config import MailboxSettings
from reconciler.source import imap as imap_module
from reconciler.source.imap import ImapSource

live = pytest.mark.live

BODY_ITEMS = ["BODY.PEEK[]<0.{cap}>", "RFC822.SIZE", "INTERNALDATE"]


def message(subject: str, body: bytes) -> bytes:
    head = f"From: a@example.org\r\nTo: b@example.net\r\nSubject: {subject}\r\n\r\n".encode()
    return head + body


ODD = [
    message("nul", b"before\x00after\r\n\x00\r\n"),
    message("8bit", bytes(range(128, 256)) + b"\r\n" + "Grüße, 日本".encode() + b"\r\n"),
    message("imap-like", b")\r\n* 9 FETCH (UID 99 RFC822.SIZE 5 BODY[] {5}\r\nhello)\r\nA1 OK\r\n"),
    message("quotes", b'INTERNALDATE "01-Jan-2000 00:00:00 +0000" UID 7 "\\" {0}\r\n'),
    b"Subject: bare LF\nFrom: x@example.org\n\nline one\nline two\n",
    message("huge", (b"x" * 998 + b"\r\n") * 3000),  # a 3 MB literal
    b"Subject: no body\r\n\r\n",
]


def served(seed: bytes) -> bytes:
    """What dovecot serves of an appended message: every byte, but NUL as 0x80 and LF as CRLF."""
    return re.sub(rb"\r?\n", b"\r\n", seed.replace(b"\0", b"\x80"))


def raw_fetch(source: ImapSource, uids: list[int], items: list[str]) -> list[Any]:
    """The untagged FETCH responses of one UID FETCH, as imaplib hands them over."""
    typ, data = source._imap._imap.uid("FETCH", ",".join(map(str, uids)), f"({' '.join(items)})")
    assert typ == "OK"
    return list(data)


def without_seq(parsed: dict[int, dict[bytes, Any]]) -> dict[int, dict[bytes, Any]]:
    return {uid: {k: v for k, v in values.items() if k != b"SEQ"} for uid, values in parsed.items()}


def both(data: list[Any]) -> tuple[dict[int, dict[bytes, Any]] | None, dict[int, dict[bytes, Any]]]:
    return imap_module._lean_fetch(data), without_seq(imap_module._parsed_fetch(data))


@live
@pytest.mark.parametrize("cap", [10 * 1024 * 1024, 1024], ids=["whole", "heads-at-1024"])
def test_the_lean_reader_reads_what_imapclient_reads(
    dovecot: Dovecot,
    imap_account: Account,
    mailbox_settings: MailboxSettings,
    corpus_dir: Any,
    cap: int,
) -> None:
    samples = [path.read_bytes() for path in sorted(corpus_dir.glob("*.eml"))[:20]]
    seeds = [served(raw) for raw in samples] + ODD
    dovecot.append(imap_account, "INBOX", seeds)
    with dovecot.client(imap_account) as other:  # flags set before: never in our responses
        other.add_flags([2, 5], [b"\\Flagged", b"$Keyword"])
        other.add_flags([3], [b"\\Seen"])
    settings = replace(mailbox_settings, max_message_bytes=cap)
    with ImapSource(settings) as source:
        uids = list(source.uids_after(0))
        items = [item.format(cap=cap) for item in BODY_ITEMS]
        lean, parsed = both(raw_fetch(source, uids, items))
        sizes_lean, sizes_parsed = both(raw_fetch(source, uids, ["RFC822.SIZE"]))
        fetched = source.fetch(uids)
        sizes = source.sizes(uids)

    assert lean is not None and sizes_lean is not None  # the lean reader read them all
    assert lean == parsed and sizes_lean == sizes_parsed
    assert sorted(lean) == uids and len(uids) == len(seeds)
    body = b"BODY[]<0>"
    assert [m.data for m in fetched] == [parsed[uid][body] for uid in uids]  # bytes for bytes
    stored = [served(seed) for seed in seeds]
    assert [m.data for m in fetched] == [whole[:cap] for whole in stored]
    assert [m.size for m in fetched] == [len(whole) for whole in stored]
    assert all(m.received_at is not None for m in fetched)
    assert sizes == {uid: min(len(whole), cap) for uid, whole in zip(uids, stored, strict=True)}
    assert b"before\x80after" in fetched[len(samples)].data


@live
def test_an_unsolicited_flags_response_is_left_to_imapclient(
    dovecot: Dovecot, imap_account: Account, mailbox_settings: MailboxSettings
) -> None:
    seeds = [message(f"m{n}", b"body\r\n") for n in range(6)]
    dovecot.append(imap_account, "INBOX", seeds)
    with ImapSource(mailbox_settings) as source:
        uids = list(source.uids_after(0))
        with dovecot.client(imap_account) as other:  # another session changes flags now
            other.add_flags([2, 4], [b"\\Flagged"])
        data = raw_fetch(source, uids, [item.format(cap=4096) for item in BODY_ITEMS])
        lean, parsed = both(data)
        with dovecot.client(imap_account) as other:
            other.remove_flags([2, 4], [b"\\Flagged"])
        fetched = source.fetch(uids)  # the flag change arrives in the middle of this one

    assert any(b"FLAGS" in (d[0] if isinstance(d, tuple) else d) for d in data)
    assert lean is None  # not a shape it knows: imapclient's parser reads it
    assert sorted(parsed) == uids
    assert [m.data for m in fetched] == seeds
    assert [m.uid for m in fetched] == uids
