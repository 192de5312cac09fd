"""The poll cycle on the folder source: the whole cycle (analyse, commit, move, replay) with no
IMAP server, beside the live tier of test_cycle.py that runs it on the suite's dovecot."""

from __future__ import annotations

from pathlib import Path

from helpers_mail import HARD, VERP, corpus_mail, hard_bounce, plain_mail, token_for

from reconciler.classify.match import Classifier
from reconciler.classify.rules import load_rules
from reconciler.records import MessageOutcome
from reconciler.service.cycle import CycleContext, poll_mailbox
from reconciler.settings import MailboxSettings
from reconciler.source.folder import DirSource
from reconciler.store import Store

FOLDERS = MailboxSettings(name="folder", host="localhost", username="-", password="")


def _write(folder: Path, messages: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in messages.items():
        (folder / name).write_bytes(data)


def test_a_cycle_on_a_folder_records_and_moves_every_message(
    tmp_path: Path, sqlite_store: Store
) -> None:
    inbox = tmp_path / "inbox"
    address = HARD[1].decode()
    _write(
        inbox,
        {
            "1.eml": hard_bounce(token_for(7, address=address), address, "t1"),
            "2.eml": corpus_mail(HARD[0], "bounces@example.org", "t2"),  # no token: unmatched
            "3.eml": plain_mail(token_for(8, address=None), "t3"),  # not a bounce
        },
    )
    ctx = CycleContext(classifier=Classifier(load_rules().rules), verp=VERP)
    with DirSource(inbox, read_only=False) as source:
        report = poll_mailbox(source, sqlite_store, FOLDERS, ctx)
    assert report.seen == 3
    assert report.outcomes[MessageOutcome.PROCESSED] == 1
    assert report.outcomes[MessageOutcome.UNMATCHED] == 1
    assert report.moved == 3
    assert not list(inbox.glob("*.eml"))  # every message moved out of the folder
    moved = {d.name: sorted(f.name for f in d.glob("*.eml")) for d in inbox.iterdir()}
    # a valid token sends a message to processed/, a bounce or not; none to unmatched/
    assert moved == {"processed": ["1.eml", "3.eml"], "unmatched": ["2.eml"]}
    with DirSource(inbox, read_only=False) as source:  # the next cycle: nothing left to do
        again = poll_mailbox(source, sqlite_store, FOLDERS, ctx)
    assert (again.seen, again.moved, again.events) == (0, 0, 0)
