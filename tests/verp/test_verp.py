"""VERP tokens: making, checking and finding them (pure functions, no mocks)."""

from __future__ import annotations

import dataclasses
import re
import string
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import ROOT

from reconciler import verp
from reconciler.config import BounceHandlerSettings, VerpKey, VerpSettings
from reconciler.errors import VerpError
from reconciler.records import OriginalMessage, ParsedMessage, VerpFailure, VerpMatch
from reconciler.verp import EPOCH, MAX_USER_ID, check_address, find_token, make_address

KEY_A = VerpKey("a", b"first key, 32 bytes long......!!")
KEY_B = VerpKey("b", b"second key at least 16 bytes")
BH = BounceHandlerSettings(secret=b"MediawikiVERP", domain="wikimedia.org")
SETTINGS = VerpSettings(domain="bounces.example.org", keys=(KEY_A,), bouncehandler=BH)
NOW = 1_800_000_000
DAY = 86_400
LAST_TIME = EPOCH + 36**6 - 1
VECTOR = "wiki-enwiki-9ix-s44we8-lMmjYixanFpZFmO6@wikimedia.org"
RCPT = "kim@example.net"  # the recipient the tokens here are made for (bound)
TOKEN_ALPHABET = string.ascii_lowercase + string.digits + "_-."

_ALNUM = string.ascii_lowercase + string.digits
realms = st.builds(
    lambda first, middle, last: first + middle + last,
    st.sampled_from(_ALNUM),
    st.text(alphabet=_ALNUM + "_-.", max_size=verp.max_realm_length(SETTINGS) - 2),
    st.sampled_from(_ALNUM),
).filter(lambda realm: ".." not in realm)
user_ids = st.integers(min_value=0, max_value=MAX_USER_ID)
times = st.integers(min_value=EPOCH, max_value=LAST_TIME)
message_ids = st.none() | st.from_regex(r"<[a-zA-Z0-9.$]{1,30}@[a-z.]{1,20}>", fullmatch=True)


def local_part(address: str) -> str:
    return address.rpartition("@")[0]


# --- native: round trip -----------------------------------------------------------------------


recipients = st.none() | st.from_regex(r"[a-zA-Z0-9._+-]{1,20}@[a-z0-9-]{1,20}\.[a-z]{2,6}",
                                        fullmatch=True)  # fmt: skip


@given(
    user_id=user_ids,
    realm=st.none() | realms,
    now=times,
    message_id=message_ids,
    recipient=recipients,
)
def test_round_trip(
    user_id: int, realm: str | None, now: int, message_id: str | None, recipient: str | None
) -> None:
    address = make_address(
        SETTINGS, address=recipient, user_id=user_id, realm=realm, message_id=message_id, now=now
    )
    local = local_part(address)
    assert len(local) <= 64
    assert re.fullmatch(r"bounces\+[a-z0-9_.-]+", local)
    match = check_address(SETTINGS, address, now)
    expected_ref = verp.send_ref(message_id) if message_id else None
    assert match == VerpMatch(
        valid=True, realm=realm, user_id=user_id, issued=now, key_id="a",
        send_ref=expected_ref, format="native", address=address,
        recipient_digest=match.recipient_digest,
    )  # fmt: skip
    assert (match.recipient_digest is None) is (recipient is None)
    assert verp.binds(SETTINGS, match, recipient) is (None if recipient is None else True)
    assert verp.binds(SETTINGS, match, "someone.else@example.org") is (
        None if recipient is None else False
    )


@given(user_id=user_ids, realm=st.none() | realms, now=times)
def test_upper_cased_token_still_verifies(user_id: int, realm: str | None, now: int) -> None:
    address = make_address(
        SETTINGS, address=RCPT, user_id=user_id, realm=realm, message_id="<m@x>", now=now
    )
    match = check_address(SETTINGS, address.upper(), now)
    assert match.valid
    assert (match.user_id, match.realm) == (user_id, realm)


@given(user_id=user_ids, realm=st.none() | realms, now=times, data=st.data())
def test_flipping_any_character_invalidates(
    user_id: int, realm: str | None, now: int, data: st.DataObject
) -> None:
    address = make_address(
        SETTINGS, address=RCPT, user_id=user_id, realm=realm, message_id="<m@x>", now=now
    )
    start = len("bounces+")
    position = data.draw(st.integers(min_value=start, max_value=len(local_part(address)) - 1))
    old = address[position]
    new = data.draw(st.sampled_from(TOKEN_ALPHABET.replace(old, "")))
    forged = address[:position] + new + address[position + 1 :]
    match = check_address(SETTINGS, forged, now)
    assert not match.valid
    assert match.failure in {
        VerpFailure.MALFORMED,
        VerpFailure.BAD_SIGNATURE,
        VerpFailure.UNKNOWN_KEY,
    }


def test_every_single_flip_of_one_token_is_rejected() -> None:
    address = make_address(
        SETTINGS, address=RCPT, user_id=4242, realm="en-wiki.x", message_id="<m@x>", now=NOW
    )
    local = local_part(address)
    for position in range(len("bounces+"), len(local)):
        for new in TOKEN_ALPHABET.replace(local[position], ""):
            forged = local[:position] + new + local[position + 1 :] + "@bounces.example.org"
            assert not check_address(SETTINGS, forged, NOW).valid, forged


def test_leading_zero_user_id_is_malformed() -> None:
    address = make_address(SETTINGS, address=RCPT, user_id=35, now=NOW)  # "z"
    padded = address.replace("+az.", "+a0z.")
    assert check_address(SETTINGS, padded, NOW).failure is VerpFailure.MALFORMED


# --- native: length -------------------------------------------------------------------------


def test_local_part_fits_at_the_extremes() -> None:
    longest = verp.max_realm_length(SETTINGS)
    assert longest == 8  # with the default "bounces+" prefix, bound to a recipient
    realm = "r" * (longest - 1) + "9"
    for now in (EPOCH, LAST_TIME):
        address = make_address(
            SETTINGS, address=RCPT, user_id=MAX_USER_ID, realm=realm, message_id="<a@b>", now=now
        )
        assert len(local_part(address)) == 64
        assert check_address(SETTINGS, address, now).valid


@given(prefix_length=st.integers(min_value=1, max_value=verp.MAX_PREFIX_LENGTH - 1))
def test_max_realm_length_holds_for_every_prefix(prefix_length: int) -> None:
    settings = dataclasses.replace(SETTINGS, prefix="p" * prefix_length, separator="-")
    realm = "r" * verp.max_realm_length(settings) or None
    address = make_address(
        settings, address=RCPT, user_id=MAX_USER_ID, realm=realm, message_id="<a@b>", now=NOW
    )
    assert len(local_part(address)) <= 64
    assert check_address(settings, address, NOW).realm == realm


def test_a_32_character_realm_fits_only_a_short_prefix_and_no_binding() -> None:
    # 32 realm characters + 80-bit MAC + a 2**63-1 user id cannot fit 64 characters (docs/verp.md)
    realm = "w" * 32
    with pytest.raises(ValueError, match="local part would have"):
        make_address(SETTINGS, address=RCPT, user_id=MAX_USER_ID, realm=realm, now=NOW)
    short = dataclasses.replace(SETTINGS, prefix="b", separator="+")
    with pytest.raises(ValueError, match="local part would have 67 characters"):
        make_address(short, address=RCPT, user_id=99, realm=realm, now=NOW)
    address = make_address(short, address=None, user_id=99, realm=realm, now=NOW)
    assert len(local_part(address)) <= 64
    assert check_address(short, address, NOW).realm == realm


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"user_id": -1}, "user_id"),
        ({"user_id": MAX_USER_ID + 1}, "user_id"),
        ({"user_id": 1, "realm": ".wiki"}, "realm"),
        ({"user_id": 1, "realm": "wiki."}, "realm"),
        ({"user_id": 1, "realm": "a..b"}, "realm"),
        ({"user_id": 1, "realm": "en wiki"}, "realm"),
        ({"user_id": 1, "realm": "en+wiki"}, "realm"),
        ({"user_id": 1, "realm": "x" * 33}, "realm"),
        ({"user_id": 1, "now": EPOCH - 1}, "now"),
        ({"user_id": 1, "now": LAST_TIME + 1}, "now"),
        ({"user_id": 1, "address": "kim"}, "address"),
        ({"user_id": 1, "address": "@example.net"}, "address"),
        ({"user_id": 1, "address": "Kim <kim@example.net>"}, "address"),
        ({"user_id": 1, "address": "kim @example.net"}, "address"),
    ],
)
def test_make_refuses_bad_input(kwargs: dict[str, int | str], problem: str) -> None:
    arguments: dict[str, int | str] = {"now": NOW, "address": RCPT, **kwargs}
    with pytest.raises(ValueError, match=problem):
        make_address(SETTINGS, **arguments)  # type: ignore[arg-type]


def test_make_refuses_short_or_missing_keys() -> None:
    with pytest.raises(VerpError):
        make_address(dataclasses.replace(SETTINGS, keys=()), address=RCPT, user_id=1, now=NOW)
    weak = dataclasses.replace(SETTINGS, keys=(VerpKey("w", b"too short"),))
    with pytest.raises(VerpError):
        make_address(weak, address=RCPT, user_id=1, now=NOW)


def test_realm_is_case_folded() -> None:
    address = make_address(SETTINGS, address=RCPT, user_id=1, realm="EnWiki", now=NOW)
    assert check_address(SETTINGS, address, NOW).realm == "enwiki"


# --- native: the window ---------------------------------------------------------------------


def test_acceptance_window_edges() -> None:
    address = make_address(SETTINGS, address=RCPT, user_id=7, now=NOW)
    window = SETTINGS.accept_days * DAY
    assert check_address(SETTINGS, address, NOW + window).valid
    late = check_address(SETTINGS, address, NOW + window + 1)
    assert late.failure is VerpFailure.EXPIRED
    assert (late.user_id, late.issued) == (7, NOW)  # still says whose token it was


def test_clock_skew_edges() -> None:
    address = make_address(SETTINGS, address=RCPT, user_id=7, now=NOW)
    skew = SETTINGS.future_skew_seconds
    assert check_address(SETTINGS, address, NOW - skew).valid
    assert check_address(SETTINGS, address, NOW - skew - 1).failure is VerpFailure.FROM_THE_FUTURE


def test_custom_window() -> None:
    settings = dataclasses.replace(SETTINGS, accept_days=1, future_skew_seconds=0)
    address = make_address(settings, address=RCPT, user_id=7, now=NOW)
    assert check_address(settings, address, NOW + DAY).valid
    assert check_address(settings, address, NOW + DAY + 1).failure is VerpFailure.EXPIRED
    assert check_address(settings, address, NOW - 1).failure is VerpFailure.FROM_THE_FUTURE


# --- native: keys -----------------------------------------------------------------------------


def test_key_rotation() -> None:
    old_token = make_address(SETTINGS, address=RCPT, user_id=1, now=NOW)
    rotated = dataclasses.replace(SETTINGS, keys=(KEY_B, KEY_A))
    new_token = make_address(rotated, address=RCPT, user_id=1, now=NOW)
    assert check_address(rotated, old_token, NOW).key_id == "a"
    assert check_address(rotated, new_token, NOW).key_id == "b"
    assert local_part(new_token).startswith("bounces+b")
    retired = dataclasses.replace(SETTINGS, keys=(KEY_B,))
    assert check_address(retired, old_token, NOW).failure is VerpFailure.UNKNOWN_KEY
    assert check_address(retired, new_token, NOW).valid


def test_same_id_other_secret_is_a_bad_signature() -> None:
    address = make_address(SETTINGS, address=RCPT, user_id=1, now=NOW)
    other = dataclasses.replace(SETTINGS, keys=(VerpKey("a", b"another secret of 16+ bytes"),))
    assert check_address(other, address, NOW).failure is VerpFailure.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("address", "failure"),
    [
        ("someone@example.org", VerpFailure.NOT_FOUND),
        ("not an address", VerpFailure.NOT_FOUND),
        ("bounces+@bounces.example.org", VerpFailure.MALFORMED),
        ("bounces+a1.zzz@bounces.example.org", VerpFailure.MALFORMED),
        ("bounces+a1.000000aaaaaaaaaaaaaaaa.@x.org", VerpFailure.MALFORMED),
        ("bounces+a1.000000aaaaaaaaaaaaaaaa.a..b@x.org", VerpFailure.MALFORMED),
        ("bounces+a1zzzzzzzzzzzz.000000aaaaaaaaaaaaaaaa@x.org", VerpFailure.MALFORMED),
        ("bounces+z1.000000aaaaaaaaaaaaaaaa@x.org", VerpFailure.UNKNOWN_KEY),
        ("bounces+a1.000000aaaaaaaaaaaaaaaa@x.org", VerpFailure.BAD_SIGNATURE),
        ("wiki-enwiki-9ix@wikimedia.org", VerpFailure.MALFORMED),
    ],
)
def test_failures_are_named(address: str, failure: VerpFailure) -> None:
    match = check_address(SETTINGS, address, NOW)
    assert not match.valid
    assert match.failure is failure


# --- BounceHandler format ---------------------------------------------------------------------


def test_bouncehandler_vector() -> None:
    settings = dataclasses.replace(SETTINGS, format="bouncehandler")
    address = make_address(settings, address=RCPT, user_id=12345, realm="enwiki", now=1_700_000_000)
    assert address == VECTOR
    match = check_address(SETTINGS, VECTOR, 1_700_000_000)
    assert match == VerpMatch(
        valid=True, realm="enwiki", user_id=12345, issued=1_700_000_000, key_id="bouncehandler",
        format="bouncehandler", address=VECTOR,
    )  # fmt: skip


def test_bouncehandler_window_and_case() -> None:
    issued = 1_700_000_000
    assert check_address(SETTINGS, VECTOR, issued + BH.accept_seconds).valid
    late = check_address(SETTINGS, VECTOR, issued + BH.accept_seconds + 1)
    assert late.failure is VerpFailure.EXPIRED
    early = check_address(SETTINGS, VECTOR, issued - SETTINGS.future_skew_seconds - 1)
    assert early.failure is VerpFailure.FROM_THE_FUTURE
    folded = check_address(SETTINGS, VECTOR.lower(), issued)  # its MAC is case-sensitive
    assert folded.failure is VerpFailure.BAD_SIGNATURE


def test_bouncehandler_wiki_ids_with_dashes() -> None:
    settings = dataclasses.replace(SETTINGS, format="bouncehandler")
    address = make_address(settings, address=RCPT, user_id=3, realm="mediawiki-wiki_", now=NOW)
    assert address.startswith("wiki-mediawiki.wiki_-3-")
    match = check_address(SETTINGS, address, NOW)
    assert (match.valid, match.realm, match.user_id) == (True, "mediawiki-wiki_", 3)


def test_bouncehandler_needs_its_table_and_a_realm() -> None:
    with pytest.raises(VerpError):
        make_address(
            dataclasses.replace(SETTINGS, format="bouncehandler", bouncehandler=None),
            address=None, user_id=1, realm="enwiki", now=NOW,
        )  # fmt: skip
    with pytest.raises(ValueError, match="realm"):
        make_address(
            dataclasses.replace(SETTINGS, format="bouncehandler"), address=RCPT, user_id=1, now=NOW
        )
    no_bh = dataclasses.replace(SETTINGS, bouncehandler=None)
    assert check_address(no_bh, VECTOR, 1_700_000_000).failure is VerpFailure.NOT_FOUND


def test_bouncehandler_other_key_is_a_bad_signature() -> None:
    other = dataclasses.replace(SETTINGS, bouncehandler=BounceHandlerSettings(secret=b"other"))
    assert check_address(other, VECTOR, 1_700_000_000).failure is VerpFailure.BAD_SIGNATURE


# --- finding the token in a bounce ------------------------------------------------------------


def _message(
    *addressing: tuple[str, str], original: OriginalMessage | None = None
) -> ParsedMessage:
    from reconciler.records import MessageKind

    return ParsedMessage(kind=MessageKind.BOUNCE, addressing=addressing, original=original)


def test_find_with_display_names_brackets_and_a_forgery_first() -> None:
    valid = make_address(SETTINGS, address=RCPT, user_id=99, realm="enwiki", now=NOW)
    forged = make_address(SETTINGS, address=RCPT, user_id=100, realm="enwiki", now=NOW)
    forged = forged.replace("+a2s.", "+a2t.")  # claims user 101 with the MAC of user 100
    assert "+a2t." in forged
    message = _message(
        ("delivered-to", "postmaster@bounces.example.org"),
        ("to", f'"Bounce, Handler" <{forged.upper()}>, Someone <x@y.org>, <{valid}>'),
    )
    match = find_token(message, SETTINGS, NOW)
    assert match.valid
    assert (match.user_id, match.realm, match.found_in, match.address) == (
        99,
        "enwiki",
        "to",
        valid,
    )
    assert match.tried == ((forged.upper(), "bad_signature"),)


def test_find_follows_the_configured_order() -> None:
    first = make_address(SETTINGS, address=RCPT, user_id=1, now=NOW)
    second = make_address(SETTINGS, address=RCPT, user_id=2, now=NOW)
    message = _message(("to", first), ("delivered-to", second))
    assert find_token(message, SETTINGS, NOW).user_id == 2
    to_first = dataclasses.replace(SETTINGS, search_headers=("to", "delivered-to"))
    assert find_token(message, to_first, NOW).user_id == 1


def test_find_in_the_returned_originals_return_path() -> None:
    valid = make_address(SETTINGS, address=RCPT, user_id=5, now=NOW)
    original = OriginalMessage(return_path=f"<{valid}>", sender="list@example.org")
    message = _message(("to", "bounces@bounces.example.org"), original=original)
    match = find_token(message, SETTINGS, NOW)
    assert (match.valid, match.user_id, match.found_in) == (True, 5, "original:return-path")
    only_to = dataclasses.replace(SETTINGS, search_headers=("to",))
    assert find_token(message, only_to, NOW).failure is VerpFailure.NOT_FOUND


def test_find_bouncehandler_token_in_x_original_to() -> None:
    message = _message(("x-original-to", f"<{VECTOR}>"))
    match = find_token(message, SETTINGS, 1_700_000_000)
    assert (match.valid, match.format, match.found_in) == (True, "bouncehandler", "x-original-to")


def test_find_reports_the_first_failure_and_every_try() -> None:
    old = make_address(SETTINGS, address=RCPT, user_id=1, now=NOW - 30 * DAY)
    message = _message(("delivered-to", old), ("to", "bounces+nonsense@bounces.example.org"))
    match = find_token(message, SETTINGS, NOW)
    assert not match.valid
    assert (match.failure, match.found_in, match.user_id) == (
        VerpFailure.EXPIRED,
        "delivered-to",
        1,
    )
    assert match.tried == (
        (old, "expired"),
        ("bounces+nonsense@bounces.example.org", "malformed"),
    )


def test_find_nothing() -> None:
    message = _message(("to", "Alice <alice@example.org>"), original=OriginalMessage())
    assert find_token(message, SETTINGS, NOW) == VerpMatch(
        valid=False, failure=VerpFailure.NOT_FOUND
    )
    assert find_token(_message(), SETTINGS, NOW).failure is VerpFailure.NOT_FOUND


def test_find_counts_an_address_once() -> None:
    token = make_address(SETTINGS, address=RCPT, user_id=1, now=NOW + DAY)  # from the future
    message = _message(("delivered-to", token), ("to", token))
    match = find_token(message, SETTINGS, NOW)
    assert match.tried == ((token, "from_the_future"),)


def test_describe_match() -> None:
    lines = verp.describe_match(check_address(SETTINGS, VECTOR, 1_700_000_000))
    assert lines[0] == ("result", "valid")
    assert ("user_id", "12345") in lines
    assert ("realm", "enwiki") in lines
    issued = check_address(SETTINGS, VECTOR, 1_700_000_000).issued
    assert issued is not None
    iso = datetime.fromtimestamp(issued, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ("issued", f"{iso} (unix {issued})") in lines  # a date a person reads
    assert verp.describe_match(VerpMatch(valid=False, failure=VerpFailure.NOT_FOUND)) == [
        ("result", "no token")  # none was found: not "invalid"
    ]


# --- docs -------------------------------------------------------------------------------------


def test_send_ref_ignores_brackets_and_case() -> None:
    assert verp.send_ref("<Abc@Example.org>") == verp.send_ref("abc@example.org")
    assert re.fullmatch(r"[a-z2-7]{4}", verp.send_ref("<x@y>"))


def test_docs_examples_run() -> None:
    text = (ROOT / "docs" / "verp.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/verp.md", "exec"), {})  # our own documentation, run as a test


def test_public_surface() -> None:
    for name in verp.__all__:
        assert hasattr(verp, name), name


# --- user id range (issue 12, item 7) ---------------------------------------------------------


def _native_token_for(user_id: int) -> str:
    """A correctly signed native token for any user id, bypassing make_address's check."""
    issued = NOW
    mac = verp._native_mac(KEY_A, "", user_id, issued, "")
    time36 = verp.bouncehandler.base36(issued - EPOCH).rjust(6, "0")
    return f"bounces+a{verp.bouncehandler.base36(user_id)}.{time36}{mac}@bounces.example.org"


def test_user_ids_stop_at_the_largest_signed_64_bit_integer() -> None:
    """The store keeps user ids in a signed BIGINT: 2**63 itself must be refused everywhere."""
    assert MAX_USER_ID == 2**63 - 1
    assert check_address(SETTINGS, _native_token_for(2**63 - 1), NOW).user_id == 2**63 - 1
    assert check_address(SETTINGS, _native_token_for(2**63), NOW).failure is VerpFailure.MALFORMED
    with pytest.raises(ValueError, match="user_id"):
        make_address(SETTINGS, address=RCPT, user_id=2**63, now=NOW)


def _bouncehandler_address(uid36: str, time36: str = "s44we8") -> str:
    from reconciler.verp import bouncehandler as _verpbh

    signed = f"wiki-enwiki-{uid36}-{time36}"
    return f"{signed}-{_verpbh._mac(BH, signed)}@wikimedia.org"


@pytest.mark.parametrize(
    "uid36",
    [
        verp.bouncehandler.base36(2**63),  # one past the largest signed 64-bit integer
        "z" * 40,  # far beyond
        "1" * 5000,  # int() would raise ValueError (more than 4,300 digits)
    ],
)
def test_bouncehandler_user_ids_are_range_checked(uid36: str) -> None:
    match = check_address(SETTINGS, _bouncehandler_address(uid36), 1_700_000_000)
    assert (match.valid, match.failure, match.user_id) == (False, VerpFailure.MALFORMED, None)


def test_bouncehandler_largest_user_id_verifies() -> None:
    address = _bouncehandler_address(verp.bouncehandler.base36(2**63 - 1))
    match = check_address(SETTINGS, address, 1_700_000_000)
    assert (match.valid, match.user_id) == (True, 2**63 - 1)


# --- the recipient a token binds (issue 12, item 1) -------------------------------------------

DOC_KEY = VerpKey("a", b"a secret of at least 16 bytes")
DOC_SETTINGS = VerpSettings(domain="bounces.example.org", keys=(DOC_KEY,))


@pytest.mark.parametrize(
    "address",
    [
        # made before tokens bound a recipient (docs/verp.md at the time): they keep verifying
        "bounces+a9ix.3o9q804ka2ku7mdiywaku5.enwiki@bounces.example.org",
        "bounces+a9ix.3o9q80tzygoucmsgwdyvl7dpqp.enwiki@bounces.example.org",
    ],
)
def test_tokens_made_before_binding_still_verify_and_bind_nothing(address: str) -> None:
    match = check_address(DOC_SETTINGS, address, 1_800_000_060)
    assert (match.valid, match.user_id, match.realm) == (True, 12345, "enwiki")
    assert match.recipient_digest is None
    assert verp.binds(DOC_SETTINGS, match, "kim@example.net") is None


def test_the_bound_vector_of_the_docs() -> None:
    address = make_address(
        DOC_SETTINGS, user_id=12345, address="kim@example.net", realm="enwiki",
        message_id="<m1@example.org>", now=1_800_000_000,
    )  # fmt: skip
    assert address == "bounces+a9ix.3o9q80ejuc4dlumpforyecmp7wutdpqp.enwiki@bounces.example.org"
    match = check_address(DOC_SETTINGS, address, 1_800_000_060)
    assert (match.valid, match.send_ref, match.recipient_digest) == (True, "dpqp", "mp7wut")


@pytest.mark.parametrize(
    ("candidate", "bound"),
    [
        ("kim@example.net", True),
        ("KIM@Example.NET", True),  # case folded on both sides
        ("<kim@example.net>", True),
        (" kim@example.net ", True),
        ("kim@example.org", False),
        ("kim+tag@example.net", False),
        ("victim@example.net", False),
        ("", None),  # the report named nobody
        (None, None),
        ("undisclosed-recipient-in-headers@libsisimai.org.invalid", None),  # a placeholder
    ],
)
def test_binds_names_the_recipient_only(candidate: str | None, bound: bool | None) -> None:
    match = check_address(SETTINGS, make_address(SETTINGS, address=RCPT, user_id=1, now=NOW), NOW)
    assert verp.binds(SETTINGS, match, candidate) is bound


def test_a_token_binds_an_international_domain_in_either_form() -> None:
    address = make_address(SETTINGS, address="kim@bücher.example", user_id=1, now=NOW)
    match = check_address(SETTINGS, address, NOW)
    assert verp.binds(SETTINGS, match, "kim@xn--bcher-kva.example") is True
    assert verp.binds(SETTINGS, match, "KIM@BÜCHER.example") is True


def test_binds_tells_nothing_for_unbound_invalid_or_bouncehandler_tokens() -> None:
    unbound = check_address(SETTINGS, make_address(SETTINGS, address=None, user_id=1, now=NOW), NOW)
    assert unbound.valid and verp.binds(SETTINGS, unbound, RCPT) is None
    expired = check_address(
        SETTINGS, make_address(SETTINGS, address=RCPT, user_id=1, now=NOW), NOW + 30 * DAY
    )
    assert expired.failure is VerpFailure.EXPIRED
    assert verp.binds(SETTINGS, expired, RCPT) is None  # never a verdict on an invalid token
    bh = dataclasses.replace(SETTINGS, format="bouncehandler")
    made = make_address(bh, address=RCPT, user_id=12345, realm="enwiki", now=1_700_000_000)
    assert made == VECTOR  # the format has no room for a recipient: nothing bound
    assert verp.binds(SETTINGS, check_address(SETTINGS, VECTOR, 1_700_000_000), RCPT) is None


def test_the_recipient_digest_is_signed() -> None:
    """Splicing another recipient's digest into a token breaks its MAC."""
    mine = make_address(SETTINGS, address="me@example.net", user_id=7, message_id="<m@x>", now=NOW)
    victim = make_address(SETTINGS, address=RCPT, user_id=7, message_id="<m@x>", now=NOW)
    start = len("bounces+a7.") + 6 + 16
    assert mine[:start] != victim[:start]  # the MAC covers the digest
    spliced = mine[:start] + victim[start : start + 6] + mine[start + 6 :]
    assert check_address(SETTINGS, spliced, NOW).failure is VerpFailure.BAD_SIGNATURE


def test_the_recipient_digest_is_keyed() -> None:
    """Without the key nobody can tell which addresses share a digest: another key, another
    digest for the same address (and the digest is not a plain hash of the address)."""
    other = dataclasses.replace(SETTINGS, keys=(VerpKey("a", b"another key of 16+ bytes"),))
    digests = {
        check_address(s, make_address(s, address=RCPT, user_id=1, now=NOW), NOW).recipient_digest
        for s in (SETTINGS, other)
    }
    assert len(digests) == 2


@pytest.mark.parametrize("run", [15, 17, 18, 19, 21, 23, 24, 25, 27])
def test_only_the_four_signed_layouts_parse(run: int) -> None:
    address = f"bounces+a1.000000{'a' * run}@bounces.example.org"
    assert check_address(SETTINGS, address, NOW).failure is VerpFailure.MALFORMED


def test_describe_match_says_whether_a_recipient_is_bound() -> None:
    bound = check_address(SETTINGS, make_address(SETTINGS, address=RCPT, user_id=1, now=NOW), NOW)
    free = check_address(SETTINGS, make_address(SETTINGS, address=None, user_id=1, now=NOW), NOW)
    assert ("recipient", f"bound (digest {bound.recipient_digest})") in verp.describe_match(bound)
    assert ("recipient", "not bound") in verp.describe_match(free)
