"""What the token search works out once per settings (`verp._plan`), and the base32 of the
MACs and digests: faster forms of the same checks (issue 16), held to the same results."""

from __future__ import annotations

import base64
import dataclasses

from hypothesis import example, given
from hypothesis import strategies as st

from reconciler import verp
from reconciler.config import VerpKey, VerpSettings
from reconciler.records import MessageKind, OriginalMessage, ParsedMessage, VerpFailure
from reconciler.verp import binds, check_address, find_token, make_address

KEY = VerpKey("a", b"first key, 32 bytes long......!!")
OTHER = VerpKey("a", b"another key of the same id.....!")
SETTINGS = VerpSettings(domain="bounces.example.org", keys=(KEY,))
NOW = 1_800_000_000
RCPT = "kim@example.net"


def _message(
    *addressing: tuple[str, str], original: OriginalMessage | None = None
) -> ParsedMessage:
    return ParsedMessage(kind=MessageKind.BOUNCE, addressing=addressing, original=original)


@given(st.binary(min_size=3, max_size=32), st.integers(min_value=1, max_value=12))
def test_base32_is_the_rfc4648_one(data: bytes, pairs: int) -> None:
    chars = min(2 * pairs, len(data) * 8 // 10 * 2)
    expected = base64.b32encode(data).decode("ascii").rstrip("=").lower()[:chars]
    assert verp._b32(data, chars) == expected


def test_the_widths_the_tokens_use() -> None:
    for data, chars in ((bytes(range(200, 210)), 16), (b"\xff\x01\x80\x7f", 6), (b"\x00ab", 4)):
        expected = base64.b32encode(data).decode("ascii").rstrip("=").lower()[:chars]
        assert verp._b32(data, chars) == expected


def test_each_settings_checks_with_its_own_keys() -> None:
    """Another settings object with a key of the same id (a rotated secret) is not answered
    from the plan of the first: a token of the old secret no longer verifies."""
    token = make_address(SETTINGS, user_id=7, address=RCPT, now=NOW)
    assert check_address(SETTINGS, token, NOW).valid
    rotated = dataclasses.replace(SETTINGS, keys=(OTHER,))
    assert check_address(rotated, token, NOW).failure is VerpFailure.BAD_SIGNATURE
    message = _message(("delivered-to", token))
    assert find_token(message, rotated, NOW).failure is VerpFailure.BAD_SIGNATURE
    assert find_token(message, SETTINGS, NOW).valid
    removed = dataclasses.replace(SETTINGS, keys=(VerpKey("b", OTHER.secret),))
    assert check_address(removed, token, NOW).failure is VerpFailure.UNKNOWN_KEY
    assert binds(removed, check_address(SETTINGS, token, NOW), RCPT) is None


def test_the_first_key_of_an_id_counts() -> None:
    token = make_address(SETTINGS, user_id=7, address=RCPT, now=NOW)
    first = dataclasses.replace(SETTINGS, keys=(KEY, OTHER))
    second = dataclasses.replace(SETTINGS, keys=(OTHER, KEY))
    assert check_address(first, token, NOW).valid
    assert check_address(second, token, NOW).failure is VerpFailure.BAD_SIGNATURE


def test_many_settings_objects_each_keep_their_answer() -> None:
    token = make_address(SETTINGS, user_id=7, address=RCPT, now=NOW)
    others = [
        dataclasses.replace(SETTINGS, keys=(VerpKey("a", bytes([n]) * 20),)) for n in range(20)
    ]
    for _ in range(2):
        assert all(find_token(_message(("to", token)), s, NOW).valid is False for s in others)
        assert find_token(_message(("to", token)), SETTINGS, NOW).valid


def test_header_names_in_any_case_and_the_original_from() -> None:
    token = make_address(SETTINGS, user_id=3, address=RCPT, now=NOW)
    match = find_token(_message(("Delivered-To", f"<{token}>")), SETTINGS, NOW)
    assert (match.valid, match.found_in, match.user_id) == (True, "delivered-to", 3)
    from_only = dataclasses.replace(SETTINGS, search_headers=("original:from",))
    original = OriginalMessage(from_=f"List <{token}>", return_path="<x@example.org>")
    match = find_token(_message(("to", token), original=original), from_only, NOW)
    assert (match.valid, match.found_in) == (True, "original:from")
    unknown = dataclasses.replace(SETTINGS, search_headers=("original:nothing", "x:to"))
    match = find_token(_message(("x:to", token), original=original), unknown, NOW)
    assert match.failure is VerpFailure.NOT_FOUND


def test_a_failure_names_its_header_and_a_later_token_wins() -> None:
    token = make_address(SETTINGS, user_id=3, address=RCPT, now=NOW)
    bad = token.replace("@", "x@")  # the recipient digest one character longer: malformed
    message = _message(("to", bad), ("cc", token))
    match = find_token(message, SETTINGS, NOW)
    assert (match.valid, match.found_in, match.tried) == (True, "cc", ((bad, "malformed"),))
    match = find_token(_message(("to", bad)), SETTINGS, NOW)
    assert (match.failure, match.found_in) == (VerpFailure.MALFORMED, "to")


@given(st.binary(max_size=200), st.text(max_size=300))
@example(b"", "")
@example(bytes(range(100)), "reconciler-verp-1\na\n\n7\n1800000000\n")  # > a block: hashed
def test_the_kept_key_state_makes_the_one_shot_hmac(secret: bytes, text: str) -> None:
    """`_hmac` continues from a key's kept state: the MAC `hmac.digest` makes in one call, for
    any key (empty, longer than SHA-256's block, which HMAC hashes first) and any text, every
    time (a kept state is copied, never used up)."""
    import hmac

    expected = hmac.digest(secret, text.encode(), "sha256")
    assert verp._hmac(secret, text) == expected
    assert verp._hmac(secret, text) == expected
    assert verp._hmac(secret, text + "x") == hmac.digest(secret, (text + "x").encode(), "sha256")


def test_the_kept_key_states_are_bounded() -> None:
    for n in range(40):
        verp._hmac(b"key %d" % n, "text")
    assert 0 < len(verp._keyed) <= 8
