"""The SMTP stage of a failure (RFC 5321), read from the words a report uses for it.

Reporting MTAs name the command the remote server refused in their own phrasing: Postfix
"(in reply to RCPT TO command)", "(in reply to end of DATA command)", "refused to talk to me"
(the greeting), "while sending MAIL FROM"; Exim "SMTP error from remote mail server after RCPT
TO:<a@b>:", "after end of data:", "after initial connection:"; qmail "does not like recipient",
"failed after I sent the message", "Connected to ... but sender was rejected"; Sendmail and
Courier a session transcript (">>> RCPT To:<a@b>" then "<<< 550 ..."); Yahoo "[RCPT_TO]".

A Sendmail transcript needs more steps. A refusal right after "... while talking to
<host>:", no command sent, is the greeting's. A multi-line reply ("<<< 550-5.7.26 ...",
"<<< 550 5.7.26 ...") is one reply. And with PIPELINING the RCPT TO commands and DATA are
sent together, and the refusals of the recipients arrive after ">>> DATA", followed by the
reply to DATA itself ("554 no valid recipients"). A refusal that is not the last reply after
">>> DATA" is therefore the reply to a RCPT TO.

Sendmail writes only the commands and the refusals, never the "354" that accepts DATA nor a
">>> ." for the end of the message: a refusal of the DATA command and a refusal of the
message after it both read ">>> DATA" then "<<< 5xx ...". What tells them apart is the
recipient's own reply (its Diagnostic-Code: `reply_stage`). Sendmail gives a recipient the
remote server's reply as its Diagnostic-Code when that reply answered the recipient (RCPT
TO) or the message it was sent (the end of data); a refused DATA command leaves the
recipient without one (every Sendmail 8.17 bounce of tests/samples/mta/real/).
"""

from __future__ import annotations

import re
from typing import Final

from reconciler.parse.lazyre import Lazy
from reconciler.records import Stage

__all__ = ["reply_stage", "smtp_stage"]

# The command words, most specific first, each with the stage it names (lower-cased text).
_COMMANDS: Final[tuple[tuple[str, Stage], ...]] = (
    (
        r"end\s+of\s+data|final\s+dot|message\s+(?:body|data|content|text)|data\s+block",
        Stage.END_OF_DATA,
    ),
    (r"bdat", Stage.END_OF_DATA),
    (r"rcpt(?:\s+to|_to)?|recipient\s+command", Stage.RCPT),
    (r"mail(?:\s+from|_from)|mail\s+command", Stage.MAIL),
    (r"data", Stage.DATA),
    (r"helo|ehlo|lhlo|starttls|auth", Stage.HELO),
    (
        r"(?:initial\s+)?(?:server\s+|protocol\s+|smtp\s+)?(?:greeting|banner)"
        r"|initial\s+connection|connect",
        Stage.CONNECT,
    ),
)  # fmt: skip
_STAGE_OF: Final = {index: stage for index, (_, stage) in enumerate(_COMMANDS, 1)}
_COMMAND: Final = "|".join(f"({words})" for words, _ in _COMMANDS)
# "after RCPT TO", "in reply to end of DATA command", "while sending MAIL FROM", ...; only
# searched in a text holding one of _NAMED_KEYS (a substring test is much cheaper).
_NAMED_KEYS: Final = (
    "after",
    "reply to",
    "response to",
    "failed at",
    "like our",
    "while ",
    "progress",
)
# The first word of each _NAMED_RE alternative but "in", "reply" and "response", with the
# word of _FOLD_WORDS every match of that alternative holds.
_NAMED_FIRST: Final = (
    ("after", "after"), ("failed", "failed"), ("did", "like"), ("while", "while"),
    ("most", "progress"),
)  # fmt: skip
_NAMED_RE: Final = Lazy(
    r"(?:after|in\s+reply\s+to|in\s+response\s+to|response\s+to|reply\s+to|failed\s+at"
    r"|did\s+not\s+like\s+our|didn't\s+like\s+our|while\s+(?:sending|receiving)"
    r"|most\s+progress\s+was)\s+"
    r"(?:the\s+)?(?:smtp\s+)?(?:pipelined\s+)?(?:sending\s+)?(?:" + _COMMAND + r")\b"
)
# Phrasings that name a stage without naming the command (qmail-remote, Postfix).
_PHRASES: Final[tuple[tuple[str, Stage], ...]] = (
    ("does not like recipient", Stage.RCPT),
    ("failed after i sent the message", Stage.END_OF_DATA),
    ("but sender was rejected", Stage.MAIL),
    ("but my name was rejected", Stage.HELO),
    ("but greeting failed", Stage.CONNECT),
    ("refused to talk to me", Stage.CONNECT),  # or HELO: see _helo_refused
    # the TCP connection itself failed (Postfix "connect to mx[192.0.2.1]:25: Connection
    # refused", Sendmail/Exim alike): nothing of SMTP was said yet
    (": connection refused", Stage.CONNECT),
)
# A word of every _NAMED_KEYS key and every _PHRASES phrase: collapsing whitespace keeps each
# word, so a text holding none of them names no stage collapsed either (and is not joined).
_FOLD_WORDS: Final = (
    "after", "reply", "response", "failed", "like", "while", "progress", "rejected", "refused",
)  # fmt: skip
# Each _NAMED_KEYS key and each _PHRASES phrase with its _FOLD_WORDS word; a key that is its
# word ("after", "progress") is None: the word found, the key is (no second scan of the text).
_NAMED_KEY_WORDS: Final[tuple[tuple[str | None, str], ...]] = tuple(
    (None if key == word else key, word)
    for key, word in ((key, next(w for w in _FOLD_WORDS if w in key)) for key in _NAMED_KEYS)
)
_PHRASE_WORDS: Final = tuple(
    (phrase, next(word for word in _FOLD_WORDS if word in phrase), stage)
    for phrase, stage in _PHRASES
)
# Each phrase with any whitespace between its words: the phrase of the text collapsed.
# (Its word, then its last word first: substring tests, cheaper than a search that fails.)
_PHRASE_RES: Final[tuple[tuple[str, str, Lazy, Stage], ...]] = tuple(
    (word, phrase.rpartition(" ")[2], Lazy(re.escape(phrase).replace("\\ ", r"\s+")), stage)
    for phrase, word, stage in _PHRASE_WORDS
)
# A transcript line sent by the client: ">>> RCPT To:<a@b>", ">>> DATA", ">>> ." (end of data)
_SENT_RE: Final = Lazy(r">>>\s*(?:" + _COMMAND + r"|(\.))(?=\W|$)")
# A reply's last line only: "<<< 550-5.7.26 ..." continues a multi-line reply (RFC 5321 4.2.1)
# Sendmail's "... while talking to mx.example.net.:" followed at once by a refusal, no command
# sent: the server's greeting (RFC 5321 3.1)
_GREETING_RE: Final = Lazy(r"while talking to \S+\s+<<<\s*[45]\d\d")
_REPLY_RE: Final = Lazy(r"<<<\s*([245])\d\d(?![-\d])")
# Sendmail's line after a refusal of RCPT TO: "550 5.1.1 <a@b>... User unknown" (sysexits
# EX_NOUSER, which it gives a recipient refused with 550, 551 or 553 at RCPT TO; a refused
# message is "554 5.0.0 Service unavailable" or "<a@b>... Deferred: ...")
_NOUSER_RE: Final = Lazy(r"\s*(?:5\d\d\s+5\.\d{1,3}\.\d{1,3}\s+)?\S+\.\.\.\s*user unknown")
# Without a transcript: a command that starts the text ("RCPT TO:<a@b>: 550 ...") or Yahoo's
# bracketed one ("... [RCPT_TO]").
_START_RE: Final = Lazy(r"\s*(?:" + _COMMAND + r")\s*:")
# The first letter of every _COMMAND alternative (tests/parse/test_stages_fast.py derives them
# from the pattern): a text whose first character after white space is none of these starts
# with no command, and _START_RE is not tried (most texts start with a reply code or a word).
_COMMAND_FIRST: Final = frozenset("abcdefghilmprs")
_BRACKETED_RE: Final = Lazy(r"\[(?:" + _COMMAND + r")\]")


def _stage_of(found: re.Match[str]) -> Stage:
    """The stage of the command group that matched.

    _SENT_RE's group after the command groups is the lone "." that ends the data.
    """
    index = found.lastindex
    if index is None:
        return Stage.UNKNOWN
    if found.re is _SENT_RE.compiled() and index > len(_COMMANDS):
        return Stage.END_OF_DATA
    return _STAGE_OF[index]


def _transcript(low: str) -> Stage | None:
    """The stage of the first refusal in a session transcript (PIPELINING: see above)."""
    sent, received = ">>>" in low, "<<<" in low
    if not sent and received and _GREETING_RE.search(low):  # (the greeting holds "<<<")
        return Stage.CONNECT
    if not sent or not received:
        # (lstrip: the white space of \s; a copy only of a text that starts with some)
        start = _START_RE.match(low) if low.lstrip()[:1] in _COMMAND_FIRST else None
        lone = start or (_BRACKETED_RE.search(low) if "[" in low else None)
        return _stage_of(lone) if lone is not None else None
    commands = list(_SENT_RE.finditer(low))
    replies = list(_REPLY_RE.finditer(low))
    failed = next((r for r in replies if r.group(1) != "2"), None)
    if failed is None:
        return None
    before = [s for s in commands if s.start() < failed.start()]
    if not before:
        return None
    command = before[-1]
    stage = _stage_of(command)
    after = next((s.start() for s in commands if s.start() > failed.start()), len(low))
    later = [r for r in replies if failed.start() < r.start() < after]
    if stage is Stage.DATA and later:
        return Stage.RCPT  # a pipelined RCPT TO's refusal, before DATA's own reply
    return stage


def reply_stage(low: str, reply: str) -> Stage | None:
    """The stage of a recipient's own reply (`reply`, from its Diagnostic-Code) in the session
    transcript of a lower-cased notice, or None when the notice has no transcript, the reply
    is not in it, or the transcript does not settle it.  The command sent before the reply
    names the stage.  After ">>> DATA" the last reply, with no line of Sendmail's naming a
    recipient it refused at RCPT TO after it, answered the end of data (the recipient's own
    reply: see the module's docstring); a reply that another follows is a pipelined RCPT
    TO's, left to `smtp_stage`."""
    if ">>>" not in low or "<<<" not in low:
        return None
    head = " ".join(reply[:80].lower().split())[:30]
    at = low.find("<<< " + head) if len(head) >= 5 else -1
    if at < 0:
        return None
    command = None
    for sent in _SENT_RE.finditer(low):
        if sent.start() > at:
            break
        command = sent
    if command is None:
        return None
    stage = _stage_of(command)
    return _after_data(low, at) if stage is Stage.DATA else stage


def _after_data(low: str, at: int) -> Stage | None:
    """`reply_stage` of the reply at `at`, sent after ">>> DATA"."""
    ended = _REPLY_RE.search(low, at)  # the last line of this reply
    if ended is None:
        return None
    following = _REPLY_RE.search(low, ended.end())
    after = _SENT_RE.search(low, ended.end())
    if following is not None and (after is None or following.start() < after.start()):
        return None  # a pipelined RCPT TO's refusal, before DATA's own reply
    line_end = low.find("\n", ended.end())
    if line_end >= 0 and _NOUSER_RE.match(low, line_end):
        return None  # Sendmail's own line for a recipient refused at RCPT TO
    return Stage.END_OF_DATA


def _named_starts(low: str, words: frozenset[str] | None) -> list[int]:
    """Every offset where a match of _NAMED_RE can start, in order: where one of its first
    words stands, and "in" with whitespace before "reply"/"response".  Its search tries a
    match at every offset of the text; matching at these few finds the same first match.
    `words`: the _FOLD_WORDS the text holds, when known (a first word whose alternative
    needs an absent one is not looked for)."""
    starts: list[int] = []
    for word, needed in _NAMED_FIRST:
        if words is not None and needed not in words:
            continue
        at = low.find(word)
        while at >= 0:
            starts.append(at)
            at = low.find(word, at + 1)
    for word in ("reply", "response"):
        if words is not None and word not in words:
            continue
        at = low.find(word)
        while at >= 0:
            starts.append(at)
            before = at
            while before > 0 and low[before - 1].isspace():
                before -= 1
            if before < at and before >= 2:
                starts.append(before - 2)  # "in" is checked by the match itself
            at = low.find(word, at + 1)
    starts.sort()
    return starts


def _named_search(low: str, words: frozenset[str] | None = None) -> re.Match[str] | None:
    """`_NAMED_RE.search(low)`, matched at the offsets where a match can start only
    (`words`: the _FOLD_WORDS the text holds, when known)."""
    for start in _named_starts(low, words):
        found = _NAMED_RE.match(low, start)
        if found is not None:
            return found
    return None


# Postfix's smtp(8) says "refused to talk to me" of a refused greeting and of a refused
# EHLO/HELO alike (smtp_proto.c); a reply that names the command it refuses ("Helo command
# rejected", "Invalid HELO name") tells the second.  Searched in the reply that follows, up
# to the blank line that ends the recipient's paragraph.
_TALK: Final = "refused to talk to me"
_HELO_WORD_RE: Final = Lazy(r"\b(?:helo|ehlo)\b")


def _helo_refused(low: str) -> bool:
    """Whether the reply after Postfix's "refused to talk to me" names EHLO or HELO."""
    at = low.find(_TALK)
    if at < 0:
        return False
    end = low.find("\n\n", at)
    return _HELO_WORD_RE.search(low, at, len(low) if end < 0 else end) is not None


def _named(low: str, keyed: bool, words: frozenset[str]) -> Stage | None:
    """The stage named by a phrase ("in reply to RCPT TO command", "refused to talk to me");
    `keyed`: the text holds a _NAMED_KEYS key; `words`: the _FOLD_WORDS it holds."""
    found = _named_search(low, words) if keyed else None
    if found is not None:
        return _stage_of(found)
    for phrase, word, stage in _PHRASE_WORDS:
        if word in words and phrase in low:
            return Stage.HELO if phrase == _TALK and _helo_refused(low) else stage
    return None


def _collapsed(low: str, searched: bool, words: frozenset[str]) -> Stage | None:
    """`_named` of the text with its whitespace collapsed (`" ".join(low.split())`), read from
    the text as it is.  _NAMED_RE has only runs of whitespace between its words, so its
    first match in the text is the collapsed text's; every match holds a _NAMED_KEYS key
    once collapsed, so the key test is left out (and the search too when `_named` made it:
    `searched`).  A phrase is the collapsed text's when its words stand in the text with
    whitespace between them (its _FOLD_WORDS word among them: `words`)."""
    found = None if searched else _named_search(low, words)
    if found is not None:
        return _stage_of(found)
    for word, last, phrase, stage in _PHRASE_RES:
        if word in words and last in low and phrase.search(low) is not None:
            return Stage.HELO if stage is Stage.CONNECT and _helo_refused(low) else stage
    return None


def smtp_stage(text: str, low: str | None = None) -> Stage | None:
    """The stage a report's text names for the failure, or None when it names none (`low`:
    the text's first 3,000 characters lower-cased, when the caller has them)."""
    low = text[:3000].lower() if low is None else low
    # each key and phrase holds one of these words: one scan of the text per word, and a key
    # or phrase is looked for only where its word stands (a text holds few of them)
    words = frozenset([word for word in _FOLD_WORDS if word in low])
    keyed = any(word in words and (key is None or key in low) for key, word in _NAMED_KEY_WORDS)
    stage = _named(low, keyed, words) if words else None
    if stage is None:
        stage = _transcript(low)
    if stage is None and words and "\n" in low:
        # a phrase folded over two lines ("(in reply\n    to MAIL FROM command)": Postfix
        # wraps its notice)
        stage = _collapsed(low, keyed, words)
    return stage
