"""A multi-line SMTP reply cut to its first line made whole from the transcript
(parse/replies.py): Sendmail's Diagnostic-Code keeps the first line only."""

from __future__ import annotations

from support import SAMPLES

from reconciler.analysis import analyse
from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules
from reconciler.parse.replies import whole_reply

_TRANSCRIPT = """   ----- Transcript of session follows -----
... while talking to [192.0.2.7]:
>>> DATA
<<< 550-Verification failed for <list@example.org>
<<< 550-Unrouteable address
<<< 550 Sender verify failed
550 5.1.1 a@example.net... User unknown
<<< 554 5.5.1 Error: no valid recipients
"""


def test_the_reply_is_made_whole_from_the_transcript() -> None:
    got = whole_reply("550-Verification failed for <list@example.org>", _TRANSCRIPT)
    assert got == (
        "550-Verification failed for <list@example.org> 550-Unrouteable address"
        " 550 Sender verify failed"
    )


def test_a_complete_or_unknown_reply_is_left_as_it_is() -> None:
    # a last line (a space after the code) is a whole reply
    assert whole_reply("550 Sender verify failed", _TRANSCRIPT) == "550 Sender verify failed"
    # a first line the transcript does not have, or no transcript at all
    assert whole_reply("550-Other text", _TRANSCRIPT) == "550-Other text"
    assert whole_reply("550-Verification failed", "no transcript") == "550-Verification failed"


def test_a_reply_cut_off_in_the_transcript_ends_where_its_lines_end() -> None:
    text = "<<< 451-first line\n<<< 451-second line\nrecipient... Deferred\n"
    assert whole_reply("451-first line", text) == "451-first line 451-second line"
    # a line of another reply code is not part of it
    text = "<<< 550-first line\n<<< 554 other reply\n"
    assert whole_reply("550-first line", text) == "550-first line"


def test_sendmail_sender_verify_refusal_at_rcpt_is_our_sender_not_the_address() -> None:
    """Sendmail gave the reply "550-Verification failed for <our sender>" ... "550 Sender
    verify failed" to RCPT TO the status 5.1.1 and kept its first line only: made whole, the
    refusal is about our sender (Exim's sender verification), never a hard bounce."""
    data = (SAMPLES / "mta" / "real" / "sendmail-ml-senderverify-failed.eml").read_bytes()
    (verdict,) = analyse(data, Classifier(load_rules().rules), None, 0).verdicts
    assert verdict.bounce.diagnostic is not None
    assert verdict.bounce.diagnostic.endswith("550 Sender verify failed")
    assert verdict.classification.severity.value == "soft"
    assert verdict.classification.reason.value == "rejected"
