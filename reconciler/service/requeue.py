"""`requeue`: messages set aside in a mailbox's quarantine or unmatched folder go back to the
folder the cycle drains, so the next cycle analyses them again (after a fix, a new rule or a
new VERP key).

Finding them reads the folder read-only (EXAMINE, BODY.PEEK) and fingerprints each message
the way the cycle does (SHA-256 of the bytes as fetched), so the ledger tells what became of
it and when.  Moving them first records a grant per content (the ledger then lets those bytes
through once more, replacing their earlier events instead of adding to them: see
`store.ledger`), then moves them by UID sets; a crash between the two leaves a harmless grant.
A message moved back gets a new UID, and with it a fresh count of failed attempts.
"""

from __future__ import annotations

import email.errors
import email.header
import email.parser
import email.policy
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from reconciler.errors import ReconcilerError
from reconciler.records import HeldMessage, RawMessage
from reconciler.settings import MailboxSettings
from reconciler.source import MailSource, fetch_batches
from reconciler.source.imap import ImapSource
from reconciler.store import Store

__all__ = ["HELD_FOLDERS", "Requeue", "RequeueDone", "find_held", "held_folder", "requeue"]

log = logging.getLogger(__name__)
HELD_FOLDERS = ("quarantine", "unmatched")
_SUBJECT_MAX = 200
_HEAD_MAX = 65_536  # the subject is looked for in the head only


def held_folder(mailbox: MailboxSettings, kind: str) -> str:
    """The configured quarantine or unmatched folder of a mailbox."""
    if kind not in HELD_FOLDERS:
        raise ValueError(f"folder kind {kind!r}: expected one of {HELD_FOLDERS}")
    return str(getattr(mailbox, f"{kind}_folder"))


Opener = Callable[[MailboxSettings, bool], ImapSource]


def _open(mailbox: MailboxSettings, read_only: bool) -> ImapSource:
    return ImapSource(mailbox, read_only=read_only)


@dataclass(frozen=True, slots=True)
class Requeue:
    """What `find_held` found: the messages to move back, and the mailboxes it could not read."""

    kind: str  # "quarantine" | "unmatched"
    since: datetime | None
    messages: tuple[HeldMessage, ...]
    older: int = 0  # messages in the folders set aside before `since`
    errors: dict[str, str] = field(default_factory=dict)  # mailbox name -> why


@dataclass(frozen=True, slots=True)
class RequeueDone:
    """What `requeue` moved, per mailbox, and what failed."""

    moved: dict[str, int]
    errors: dict[str, str]

    @property
    def total(self) -> int:
        return sum(self.moved.values())


def _subject(data: bytes) -> str:
    """The Subject of a message, decoded when it can be, on one line (for the preview)."""
    head = data[:_HEAD_MAX].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    try:
        parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
        value = parsed.get("subject")
        if value is None:
            return ""
        text = str(email.header.make_header(email.header.decode_header(str(value))))
    except (ValueError, LookupError, TypeError, UnicodeError, email.errors.MessageError):
        text = ""  # a hostile or broken header: the preview shows none
    return " ".join(text.split())[:_SUBJECT_MAX]


def _held(raw: RawMessage, mailbox: MailboxSettings, folder: str) -> HeldMessage:
    return HeldMessage(
        mailbox=mailbox.name,
        folder=folder,
        uidvalidity=raw.uidvalidity,
        uid=raw.uid,
        sha256=hashlib.sha256(raw.data).hexdigest(),  # as `analysis.ledger_entry` makes it
        size=raw.size or len(raw.data),
        received_at=raw.received_at,
        subject=_subject(raw.data),
    )


def _read_folder(mailbox: MailboxSettings, folder: str, opener: Opener) -> list[HeldMessage]:
    """Every message of the folder (none when it does not exist), read-only."""
    with opener(mailbox, True) as drained:
        if not drained.folder_exists(folder):
            return []
    source: MailSource
    with opener(replace(mailbox, folder=folder), True) as source:
        uids = source.uids_after(0)
        return [
            _held(raw, mailbox, folder)
            for batch in fetch_batches(source, uids, mailbox.batch_size, mailbox.fetch_bytes)
            for raw in batch
        ]


def find_held(
    mailboxes: Sequence[MailboxSettings],
    store: Store,
    kind: str,
    since: datetime | None,
    *,
    opener: Opener = _open,
) -> Requeue:
    """The messages in each mailbox's `kind` folder set aside at or after `since` (all: None),
    with what the ledger recorded of them.  Reads only: nothing is moved or written."""
    found: list[HeldMessage] = []
    errors: dict[str, str] = {}
    for mailbox in mailboxes:
        try:
            found += _read_folder(mailbox, held_folder(mailbox, kind), opener)
        except ReconcilerError as err:
            errors[mailbox.name] = str(err)
    verdicts = store.ledger_verdicts(m.sha256 for m in found)
    known = [
        replace(m, outcome=verdicts[m.sha256][0], recorded_at=verdicts[m.sha256][1])
        if m.sha256 in verdicts
        else m
        for m in found
    ]
    chosen = [m for m in known if since is None or (m.since is not None and m.since >= since)]
    return Requeue(kind, since, tuple(chosen), len(known) - len(chosen), errors)


def requeue(
    mailboxes: Sequence[MailboxSettings],
    store: Store,
    plan: Requeue,
    actor: str,
    now: datetime,
    *,
    opener: Opener = _open,
) -> RequeueDone:
    """Move the messages of `plan` back to their mailbox's drained folder: the grants first
    (one transaction), then the moves; each mailbox audited.  A folder whose UIDVALIDITY
    changed since `find_held` is left alone (its UIDs name other messages now)."""
    by_name = {m.name: m for m in mailboxes}
    moved: dict[str, int] = {}
    errors: dict[str, str] = {}
    for name in sorted({m.mailbox for m in plan.messages}):
        items = [m for m in plan.messages if m.mailbox == name]
        mailbox = by_name[name]
        try:
            moved[name] = _move_back(mailbox, items, store, actor, now, opener=opener)
        except ReconcilerError as err:
            log.error("mailbox=%s requeue failed: %s", name, err)
            errors[name] = str(err)
    return RequeueDone(moved, errors)


def _move_back(
    mailbox: MailboxSettings,
    items: Sequence[HeldMessage],
    store: Store,
    actor: str,
    now: datetime,
    *,
    opener: Opener,
) -> int:
    folder = items[0].folder
    known = [m for m in items if m.outcome is not None]  # the others are new to the ledger
    if known:
        store.grant_requeue(known, actor, now)  # before the move: a cycle may read them at once
    with opener(replace(mailbox, folder=folder), False) as source:
        if source.uidvalidity != items[0].uidvalidity:
            raise ReconcilerError(
                f"folder {folder} changed since it was read (UIDVALIDITY "
                f"{items[0].uidvalidity} -> {source.uidvalidity}): nothing moved, run again"
            )
        source.move([m.uid for m in items], mailbox.folder)
    detail = f"{len(items)} message(s) from {folder} back to {mailbox.folder} of {mailbox.name}"
    store.audit(actor, "requeue", detail, now)
    log.info("requeue mailbox=%s moved=%d from=%s to=%s by=%s", mailbox.name, len(items),
             folder, mailbox.folder, actor)  # fmt: skip
    return len(items)
