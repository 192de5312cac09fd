"""The SMTP stage of a failure, read from the phrasing of each reporting MTA (parse/stages.py)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from support import SAMPLES

from reconciler.parse import parse, stages
from reconciler.parse.stages import smtp_stage
from reconciler.records import Stage


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        # Postfix
        ("host mx[192.0.2.1] said: 550 5.1.1 no (in reply to RCPT TO command)", Stage.RCPT),
        ("said: 550 5.7.1 spam (in reply to end of DATA command)", Stage.END_OF_DATA),
        ("said: 554 5.5.1 no valid recipients (in reply to DATA command)", Stage.DATA),
        ("said: 553 5.1.8 sender domain (in reply to MAIL FROM command)", Stage.MAIL),
        ("said: 550 go away (in reply to EHLO command)", Stage.HELO),
        ("host mx[192.0.2.1] refused to talk to me: 554 5.7.1 blocked", Stage.CONNECT),
        # Postfix says "refused to talk to me" of a refused EHLO/HELO too: the reply names it
        # (tests/samples/mta/real/postfix-nc-helo-failed.eml, postfix-tm-helo-failed.eml)
        (
            "<a@b>: host mx[192.0.2.1] refused to talk to me:\n    550 Access denied - Invalid"
            " HELO name (See RFC2821 4.1.1.1)",
            Stage.HELO,
        ),
        (
            "host mx[192.0.2.1] refused to talk to me: 450 4.7.1 <mx.example.org>: Helo"
            " command rejected: Host not found",
            Stage.HELO,
        ),
        # a later recipient's paragraph that names HELO is not this refusal's
        (
            "<a@b>: host mx[192.0.2.1] refused to talk to me: 554 busy\n\n<c@d>: host mx2"
            " said: 550 bad HELO name",
            Stage.CONNECT,
        ),
        ("connect to mx[192.0.2.1]:25: Connection refused", Stage.CONNECT),
        # a line folded inside the phrase (Postfix's notice wraps at 80 columns)
        ("said: 550 5.7.25 no PTR (in reply\n    to MAIL FROM command)", Stage.MAIL),
        ("host mx[192.0.2.1] refused to talk\n    to me: 554 5.7.0 Blocked", Stage.CONNECT),
        ("lost connection with mx[192.0.2.1] while sending RCPT TO", Stage.RCPT),
        ("timed out while receiving the initial server greeting", Stage.CONNECT),
        ("conversation timed out while sending message body", Stage.END_OF_DATA),
        # Exim
        ("SMTP error from remote mail server after RCPT TO:<a@b.example>: 550", Stage.RCPT),
        ("SMTP error from remote mail server after pipelined RCPT TO:<a@b.example>", Stage.RCPT),
        ("SMTP error from remote mail server after MAIL FROM:<> SIZE=1234: 550", Stage.MAIL),
        ("SMTP error from remote mail server after end of data: 550 spam", Stage.END_OF_DATA),
        ("SMTP error from remote mail server after initial connection: 554", Stage.CONNECT),
        ("SMTP error from remote mail server after EHLO mail.example.org: 550", Stage.HELO),
        ("SMTP error from remote server after RCPT command: host: mx 5.1.1", Stage.RCPT),
        # qmail-remote
        ("192.0.2.1 does not like recipient. Remote host said: 550 no such user", Stage.RCPT),
        (
            "192.0.2.1 failed after I sent the message. Remote host said: 554 spam",
            Stage.END_OF_DATA,
        ),
        ("Connected to 192.0.2.1 but sender was rejected. Remote host said: 553", Stage.MAIL),
        ("Connected to 192.0.2.1 but my name was rejected. Remote host said: 501", Stage.HELO),
        ("Connected to 192.0.2.1 but greeting failed. Remote host said: 554", Stage.CONNECT),
        ("no SMTP connection got far enough; most progress was RCPT TO response", Stage.RCPT),
        # others
        ("there was an error: did not like our RCPT TO: 550 no", Stage.RCPT),
        ("554 delivery error: dd This user doesn't have an account [RCPT_TO]", Stage.RCPT),
        ("RCPT TO:<a@b.example>: 550 5.1.1 user unknown", Stage.RCPT),
        # Sendmail transcripts
        # a multi-line reply is one reply (not a pipelined RCPT refusal before DATA's own)
        (
            ">>> DATA\n<<< 550-5.7.26 Unauthenticated email\n<<< 550 5.7.26 DMARC policy.\n"
            "554 5.0.0 Service unavailable",
            Stage.DATA,
        ),
        # refused at the greeting: no command sent
        (
            "... while talking to [192.0.2.1]:\n<<< 521 5.3.2 mx does not accept mail\n"
            "554 5.0.0 Service unavailable",
            Stage.CONNECT,
        ),
        (">>> RCPT To:<a@b.example> <<< 550 5.1.1 <a@b.example>... User unknown", Stage.RCPT),
        (">>> DATA <<< 554 5.7.1 Message refused by content filter", Stage.DATA),
        (">>> MAIL From:<x@y.example> <<< 553 5.1.8 Domain of sender does not exist", Stage.MAIL),
        # PIPELINING: the refusal of RCPT TO arrives after ">>> DATA", before DATA's own reply
        (
            ">>> DATA <<< 550 <a@b.example>: User unknown 550 5.1.1 <a@b.example>... User "
            "unknown <<< 554 5.5.1 Error: no valid recipients",
            Stage.RCPT,
        ),
        # nothing stated
        ("550 5.1.1 user unknown", None),
        ("Data format error", None),
        ("in reply to authentication", None),
    ],
)
def test_stage_is_read_from_each_mtas_phrasing(text: str, stage: Stage | None) -> None:
    assert smtp_stage(text) == stage


def test_stage_read_from_the_lower_cased_text_given_alike() -> None:
    texts = [
        "said: 550 5.1.1 NO (IN REPLY TO RCPT TO COMMAND)",
        ">>> DATA\n<<< 550 5.1.1 <a@b>... User unknown\n<<< 554 no valid recipients",
        "Connected to 192.0.2.1 but sender was rejected.",
        "",
    ]
    for text in texts:
        assert smtp_stage(text, text[:3000].lower()) == smtp_stage(text), text
    assert smtp_stage("RCPT TO:<a@b>: 550 unknown", "rcpt to:<a@b>: 550 unknown") is Stage.RCPT


def test_a_parsed_result_carries_its_stage() -> None:
    result = parse((SAMPLES / "mta" / "exim-nouser-failed.eml").read_bytes())
    assert [b.stage for b in result.bounces] == [Stage.RCPT]
    result = parse((SAMPLES / "mta" / "postfix-spam-failed.eml").read_bytes())
    assert [b.stage for b in result.bounces] == [Stage.END_OF_DATA]
    result = parse((SAMPLES / "mta" / "exim-nxdomain-failed.eml").read_bytes())
    assert [b.stage for b in result.bounces] == [Stage.UNKNOWN]


def _plain_named(low: str) -> object:
    """The phrase reader as first written: a key, then one regex search; then the phrases."""
    keyed = any(key in low for key in stages._NAMED_KEYS)
    found = stages._NAMED_RE.search(low) if keyed else None
    if found is not None:
        return stages._stage_of(found)
    return next((stage for phrase, stage in stages._PHRASES if phrase in low), None)


def _stage_collapsing_always(text: str) -> object:
    """The reader before the _FOLD_WORDS test: the text's whitespace collapsed and read again
    whenever nothing was found."""
    low = text[:3000].lower()
    stage = _plain_named(low)
    if stage is None:
        stage = stages._transcript(low)
    if stage is None and "\n" in low:
        stage = _plain_named(" ".join(low.split()))
    return stage


def _fold_texts() -> list[str]:
    words = [
        "in", "reply", "to", "rcpt", "mail", "from", "data", "after", "end", "of",
        "while", "sending", "failed", "at", "response", "did", "not", "like", "our",
        "recipient", "but", "sender", "was", "rejected", "refused", "talk", "me",
        ": connection", "greeting", "most", "progress", "command", "x", "550",
    ]  # fmt: skip
    gaps = [" ", "\n", "\n    ", "\t", " \r\n ", "  ", "\u00a0", "\n\u2003", "\x1c"]
    rng = random.Random(16)
    texts = []
    for _ in range(3000):
        parts = [rng.choice(words) + rng.choice(gaps) for _ in range(rng.randint(1, 9))]
        texts.append("".join(parts))
    for phrase in ("in reply to RCPT TO command", "does not like recipient",
                   "refused to talk to me", "while sending MAIL FROM",
                   "failed after I sent the message", "but sender was rejected",
                   "but my name was rejected", "but greeting failed",
                   "mx: connection refused", "x\nafter end of data"):  # fmt: skip
        for gap in ("\n    ", "\t", "\r\n", "\u00a0"):
            texts.append("Error:\n(" + phrase.replace(" ", gap, 1) + ")")
            texts.append("Error: failed\n" + phrase.replace(" ", gap))
    return texts


def test_folded_phrase_reader_agrees_with_collapsing_always() -> None:
    texts = _fold_texts()
    corpus = Path(__file__).resolve().parents[1] / "corpus" / "sisimai" / "emails"
    texts += [f.read_bytes().decode("utf-8", "replace") for f in sorted(corpus.glob("*.eml"))]
    found = 0
    for text in texts:
        expected = _stage_collapsing_always(text)
        assert stages.smtp_stage(text) == expected, text
        found += expected is not None
    assert found > 100  # the generated texts do name stages


def _same_named_search(low: str) -> bool:
    named = stages._NAMED_RE
    old, new = named.search(low), stages._named_search(low)
    assert (old and old.span()) == (new and new.span()), low
    # the starts looked for only where the words their matches need stand: the same match
    words = frozenset(word for word in stages._FOLD_WORDS if word in low)
    gated = stages._named_search(low, words)
    assert (old and old.span()) == (gated and gated.span()), low
    return old is not None


_NAMED_PIECES = [
    "in", "reply", "response", "to", "after", "rcpt", "data", "end of", "failed", "at",
    "did", "not", "didn't", "like", "our", "while", "sending", "most", "progress", "was",
    "mail from", " ", "  ", "\n", "\t", "\u00a0", "\u2003", "\x1c", "x", "(", ":",
]  # fmt: skip


def test_named_phrase_matched_at_its_starts_finds_what_search_finds() -> None:
    rng = random.Random(1605)
    found = 0
    for _ in range(6000):
        found += _same_named_search(
            "".join(rng.choice(_NAMED_PIECES) for _ in range(rng.randint(1, 14)))
        )
    for gap in (" ", "\t", "\n   ", "\u00a0", "\u2003 ", "\x1c", "\r\n"):
        for phrase in ("in{}reply to rcpt", "x in{}response to data", "in {}reply{}to mail from"):
            assert _same_named_search("said: 550 " + phrase.replace("{}", gap))
    corpus = Path(__file__).resolve().parents[1] / "corpus" / "sisimai" / "emails"
    for path in sorted(corpus.glob("*.eml")):
        low = path.read_bytes().decode("utf-8", "replace").lower()
        found += _same_named_search(low[:3000]) + _same_named_search(" ".join(low.split()))
    assert found > 100


# Sendmail 8.17 (tests/samples/mta/real, work part): ">>> DATA" then the refusal, whether the
# DATA command or the message after it was refused; the recipient's own Diagnostic-Code
# (present only for the reply to the message) tells them apart.
@pytest.mark.parametrize(
    ("name", "stages_found"),
    [
        ("sendmail-rfc-eod-big-failed.eml", [Stage.END_OF_DATA]),  # 552 5.3.4 after the data
        ("sendmail-gm-dmarc-failed.eml", [Stage.END_OF_DATA]),  # a multi-line reply
        ("sendmail-nc-eod-tmp-failed.eml", [Stage.END_OF_DATA]),  # 452, retried, expired
        ("sendmail-nc-data-failed.eml", [Stage.DATA]),  # DATA refused: no Diagnostic-Code
        ("sendmail-nc-data-tmp-failed.eml", [Stage.DATA]),
        # a pipelined RCPT TO refusal (Sendmail's "<a>... User unknown" line after it)
        # stays with the transcript reading; the message's refusal is the end of data
        ("sendmail-mx-rcpt-eod-failed.eml", [Stage.UNKNOWN, Stage.END_OF_DATA, Stage.END_OF_DATA]),
    ],
)
def test_sendmail_transcript_tells_data_from_end_of_data(
    name: str, stages_found: list[Stage]
) -> None:
    result = parse((SAMPLES / "mta" / "real" / name).read_bytes())
    assert [b.stage for b in result.bounces] == stages_found


def test_reply_stage_reads_the_recipients_own_reply() -> None:
    pipelined = (
        "... while talking to mx.example.net.:\n>>> data\n<<< 550 5.1.1 <c@d>... user unknown\n"
        "550 5.1.1 <c@d>... user unknown\n<<< 554 5.5.1 no valid recipients\n"
    )
    assert stages.reply_stage(pipelined, "550 5.1.1 <c@d>... User unknown") is None
    last = "... while talking to mx.example.net.:\n>>> data\n<<< 552 5.3.4 too big\n"
    assert stages.reply_stage(last, "552 5.3.4 Too big") is Stage.END_OF_DATA
    assert stages.reply_stage(last + "554 5.0.0 service unavailable\n", "552 5.3.4 too big") is (
        Stage.END_OF_DATA
    )
    no_user = last + "550 5.1.1 <c@d>... user unknown\n"  # Sendmail's RCPT TO line after it
    assert stages.reply_stage(no_user, "552 5.3.4 too big") is None
    mail = ">>> mail from:<a@b> size=10\n<<< 553 5.1.8 sender domain\n"
    assert stages.reply_stage(mail, "553 5.1.8 Sender domain") is Stage.MAIL
    assert stages.reply_stage(last, "421 not in the transcript") is None
    assert stages.reply_stage("550 no transcript", "550 no transcript") is None
