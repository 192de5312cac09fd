"""Signed, expiring VERP addresses: make them, check them, find them in a bounce (STYLE 2.10).

Pure: no clock, environment or I/O; `now` is unix seconds passed in by the caller.  Two formats:

* native (docs/verp.md):
  ``{prefix}{sep}{key}{uid}.{time}{mac}[{to}][{ref}][.{realm}|-{realm ref}]@{domain}``,
  lower-case letters, digits, ``_``, ``-`` and ``.`` only, HMAC-SHA256 truncated to 80 bits;
  `to` is a keyed digest of the recipient the mail was sent to (the token *binds* it; see
  `binds`); a listed realm is carried as its reference (`reconciler.verp.realms`);
* MediaWiki BounceHandler's ``{prefix}-{wiki}-{uid}-{time}-{mac}@{domain}`` (see
  `reconciler.verp.bouncehandler`), accepted when ``[verp.bouncehandler]`` is configured.

Every outcome is a `VerpMatch`; a token that does not verify carries a `VerpFailure`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import time
from typing import Final

from reconciler.errors import VerpError
from reconciler.frozenrecord import replace
from reconciler.records import ParsedMessage, VerpFailure, VerpMatch, known_address
from reconciler.settings import VerpFormat, VerpKey, VerpSettings
from reconciler.verp import bouncehandler
from reconciler.verp.addresses import getaddresses
from reconciler.verp.realms import (
    REALM_MAX,
    REALM_PATTERN,
    REF_CHARS,
    RealmCollision,
    check_realm,
    parse_realm_list,
    realm_index,
    realm_ref,
)

__all__ = [
    "EPOCH",
    "KEY_ID_PATTERN",
    "LOCAL_PART_MAX",
    "MAX_PREFIX_LENGTH",
    "MAX_USER_ID",
    "MIN_KEY_BYTES",
    "PREFIX_PATTERN",
    "REALM_MAX",
    "SEARCHABLE_HEADERS",
    "SEPARATORS",
    "RealmCollision",
    "binds",
    "check_address",
    "check_realm",
    "describe_match",
    "find_token",
    "make_address",
    "max_realm_length",
    "parse_realm_list",
    "realm_index",
    "realm_ref",
    "send_ref",
]

EPOCH: Final = 1_577_836_800  # 2020-01-01T00:00:00Z; native times count seconds from here
LOCAL_PART_MAX: Final = 64  # RFC 5321 4.5.3.1.1
MAX_USER_ID: Final = bouncehandler.MAX_USER_ID  # 2**63 - 1: a signed BIGINT in every store
MIN_KEY_BYTES: Final = 16
SEPARATORS: Final = ("+", "-", ".")
KEY_ID_PATTERN: Final = re.compile(r"[a-z0-9]")
# a-z 0-9 "-" ".", starting and ending with a letter or digit, no ".." (a valid dot-atom)
PREFIX_PATTERN: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]|\.(?!\.))*(?<![.-])")
SEARCHABLE_HEADERS: Final = (
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-to",
    "to",
    "cc",
    "original:return-path",
    "original:sender",
    "original:from",
    "original:to",
)

_TIME_WIDTH: Final = 6  # base36: covers 2020-01-01 .. 2088-12-23
_MAC_BYTES: Final = 10  # 80 bits → 16 base32 characters
_REF_CHARS: Final = 4  # 20 bits of SHA-256(Message-ID)
_MAC_CHARS: Final = 16
_TO_CHARS: Final = 6  # 30 bits of a keyed digest of the recipient; never 4 (see _SIGNED)
_FIXED: Final = 1 + 1 + _TIME_WIDTH + _MAC_CHARS + _TO_CHARS + _REF_CHARS  # key "." time ...
_UID_MAX_CHARS: Final = 13  # len(base36(2**63 - 1))
MAX_PREFIX_LENGTH: Final = LOCAL_PART_MAX - _FIXED - _UID_MAX_CHARS  # a realm-less token fits
_TOKEN: Final = re.compile(
    r"(?P<key>[a-z0-9])(?P<uid>0|[1-9a-z][0-9a-z]{0,12})\.(?P<time>[0-9a-z]{6})"
    r"(?P<signed>[a-z2-7]{16,26})"
    rf"(?:\.(?P<realm>[a-z0-9_.-]{{1,32}})|-(?P<realm_ref>[a-z2-7]{{{REF_CHARS}}}))?"
)
# The base32 run after the time is the MAC, then the recipient digest and the send reference
# when present: its length tells which (16, 16+4, 16+6 or 16+6+4; a 4-character digest would
# make 16+4 ambiguous).  Tokens made before recipients were bound have no digest.
_SIGNED: Final = {
    _MAC_CHARS: (False, False),
    _MAC_CHARS + _REF_CHARS: (False, True),
    _MAC_CHARS + _TO_CHARS: (True, False),
    _MAC_CHARS + _TO_CHARS + _REF_CHARS: (True, True),
}


_B32_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 section 6, lower case
# every 10-bit value → its two base32 characters: a 16-character MAC is 8 look-ups (the
# base64 module encodes in Python, 5 bytes a loop: some 6 µs a token; issue 16)
_B32_PAIRS: Final = tuple(a + b for a in _B32_ALPHABET for b in _B32_ALPHABET)


def _b32(data: bytes, chars: int) -> str:
    """The first `chars` (even) characters of the lower-case, unpadded base32 of `data`: as
    ``base64.b32encode(data).decode().rstrip("=").lower()[:chars]``."""
    value = int.from_bytes(data, "big") >> (len(data) * 8 - chars * 5)
    pairs = _B32_PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in range(chars * 5 - 10, -1, -10)])


def send_ref(message_id: str) -> str:
    """A 4-character reference of one send, from its Message-ID (brackets and case ignored)."""
    core = message_id.strip().strip("<>").strip().lower()
    return _b32(hashlib.sha256(core.encode()).digest()[:3], _REF_CHARS)


def max_realm_length(settings: VerpSettings) -> int:
    """The longest realm for which every native address (any user id, bound to a recipient,
    with a send ref) fits."""
    room = LOCAL_PART_MAX - len(settings.prefix) - len(settings.separator) - _FIXED
    return max(0, min(REALM_MAX, room - _UID_MAX_CHARS - 1))


_keyed: dict[bytes, hmac.HMAC] = {}  # a key's HMAC state before any message (see `_hmac`)


def _hmac(secret: bytes, text: str) -> bytes:
    """HMAC-SHA256 of `text` under `secret`, as ``hmac.digest(secret, text.encode(), "sha256")``
    returns it, continued from the key's state made once per key (its two padded blocks are
    not hashed again for every token: some 7,000 of the 24,000 instructions of a MAC)."""
    keyed = _keyed.get(secret)
    if keyed is None:
        if len(_keyed) >= 8:  # a few keys in any deployment; a test that makes many is bounded
            _keyed.clear()
        keyed = _keyed[secret] = hmac.new(secret, digestmod="sha256")
    mac = keyed.copy()
    mac.update(text.encode())
    return mac.digest()


def _native_mac(
    key: VerpKey, realm: str, user_id: int, issued: int, ref: str, *, to: str = ""
) -> str:
    """The MAC; a token that binds a recipient signs its digest too, under another label (so
    tokens made before recipients were bound verify as they always did)."""
    text = f"reconciler-verp-1\n{key.id}\n{realm}\n{user_id}\n{issued}\n{ref}"
    if to:
        text = f"reconciler-verp-2{text.removeprefix('reconciler-verp-1')}\n{to}"
    digest = _hmac(key.secret, text)
    return _b32(digest[:_MAC_BYTES], _MAC_CHARS)


def _normal_address(address: str) -> str:
    """The form an address is bound in: no brackets or spaces, lower case, an IDNA domain."""
    local, _, domain = address.strip().strip("<>").strip().lower().rpartition("@")
    if not domain.isascii():
        with contextlib.suppress(UnicodeError):  # else bound as it is, on both sides
            domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}"


def _recipient_digest(key: VerpKey, address: str) -> str:
    """The 6-character digest of a recipient that a token binds: keyed, so that nobody
    without the key can tell which addresses share a digest."""
    text = f"reconciler-verp-recipient-1\n{_normal_address(address)}"
    digest = _hmac(key.secret, text)
    return _b32(digest[:4], _TO_CHARS)


def _checked_recipient(address: str) -> str:
    bare = address.strip().strip("<>").strip()
    local, at, domain = bare.rpartition("@")
    if not (at and local and domain) or any(ch.isspace() or ch in "<>" for ch in bare):
        raise ValueError(f"address {address!r}: expected the bare recipient address, a@b")
    return bare


def _signing_key(settings: VerpSettings) -> VerpKey:
    if not settings.keys:
        raise VerpError("verp: no [[verp.keys]] configured: cannot sign native addresses")
    key = settings.keys[0]
    if len(key.secret) < MIN_KEY_BYTES:
        raise VerpError(f'verp: key "{key.id}" is shorter than {MIN_KEY_BYTES} bytes')
    return key


def _realm_field(settings: VerpSettings, realm: str | None) -> tuple[str, str]:
    """(the realm's name, how the token carries it): ``-{ref}`` for a listed realm, else
    ``.{name}``; ("", "") for none."""
    if realm is None:
        return "", ""
    folded = check_realm(realm)
    if settings.realms and realm_index(settings.realms).get(realm_ref(folded)) == folded:
        return folded, f"-{realm_ref(folded)}"
    return folded, f".{folded}"


def make_address(
    settings: VerpSettings,
    *,
    user_id: int,
    address: str | None,
    realm: str | None = None,
    message_id: str | None = None,
    now: int,
) -> str:
    """A signed return path for `user_id`, in the format `settings.format` names.

    `address` is the recipient the mail goes to: a native token binds it (a bounce or a
    complaint about another address does not count against it).  None makes a token that
    binds nothing (see docs/verp.md for what such a token can still do); the BounceHandler
    format never binds one.
    """
    if not 0 <= user_id <= MAX_USER_ID:
        raise ValueError(f"user_id {user_id}: expected 0..2**63-1")
    recipient = _checked_recipient(address) if address is not None else None
    if settings.format == VerpFormat.BOUNCEHANDLER:
        return bouncehandler.make(settings, user_id=user_id, realm=realm, now=now)
    if not EPOCH <= now < EPOCH + 36**_TIME_WIDTH:
        raise ValueError(f"now {now}: native tokens encode times from 2020-01-01 to 2088-12-23")
    key, (folded, carried) = _signing_key(settings), _realm_field(settings, realm)
    ref = send_ref(message_id) if message_id else ""
    to = _recipient_digest(key, recipient) if recipient is not None else ""
    mac = _native_mac(key, folded, user_id, now, ref, to=to)
    time36 = bouncehandler.base36(now - EPOCH).rjust(_TIME_WIDTH, "0")
    token = f"{key.id}{bouncehandler.base36(user_id)}.{time36}{mac}{to}{ref}{carried}"
    local = f"{settings.prefix}{settings.separator}{token}"
    if len(local) > LOCAL_PART_MAX:
        raise ValueError(
            f"the local part would have {len(local)} characters (limit {LOCAL_PART_MAX}): "
            f"list the realm in [verp] realms, or use one of at most "
            f"{max_realm_length(settings)} characters or a shorter prefix"
        )
    return f"{local}@{settings.domain}"


def _fail(
    address: str, failure: VerpFailure, fmt: VerpFormat | None = VerpFormat.NATIVE
) -> VerpMatch:
    return VerpMatch(valid=False, address=address, failure=failure, format=fmt)


def _check_native(
    settings: VerpSettings, address: str, local: str, now: int, found_in: str | None
) -> VerpMatch:
    token = local.lower()[len(settings.prefix) + len(settings.separator) :]
    parsed = _TOKEN.fullmatch(token)
    realm = parsed["realm"] if parsed and parsed["realm"] else ""
    if parsed is None or (realm and not REALM_PATTERN.fullmatch(realm)):
        return _fail(address, VerpFailure.MALFORMED)
    if parsed["realm_ref"]:  # a listed realm: resolved to its name, which the MAC covers
        realm = realm_index(settings.realms).get(parsed["realm_ref"], "")
        if not realm:
            return _fail(address, VerpFailure.UNKNOWN_REALM)
    layout = _SIGNED.get(len(parsed["signed"]))
    user_id = int(parsed["uid"], 36)
    if layout is None or user_id > MAX_USER_ID:
        return _fail(address, VerpFailure.MALFORMED)
    key = _key(settings, parsed["key"])
    if key is None:
        return _fail(address, VerpFailure.UNKNOWN_KEY)
    signed = parsed["signed"]
    to = signed[_MAC_CHARS : _MAC_CHARS + _TO_CHARS] if layout[0] else ""
    ref = signed[-_REF_CHARS:] if layout[1] else ""
    issued = EPOCH + int(parsed["time"], 36)
    expected = _native_mac(key, realm, user_id, issued, ref, to=to)
    if not hmac.compare_digest(expected.encode(), signed[:_MAC_CHARS].encode()):
        return _fail(address, VerpFailure.BAD_SIGNATURE)
    match = VerpMatch(
        valid=True,
        realm=realm or None,
        user_id=user_id,
        issued=issued,
        key_id=key.id,
        send_ref=ref or None,
        format=VerpFormat.NATIVE,
        address=address,
        found_in=found_in,
        recipient_digest=to or None,
        realm_ref=parsed["realm_ref"],
    )
    return _check_age(match, now - issued, settings.accept_days * 86_400, settings)


def _check_age(match: VerpMatch, age: int, window: int, settings: VerpSettings) -> VerpMatch:
    if age < -settings.future_skew_seconds:
        return replace(match, valid=False, failure=VerpFailure.FROM_THE_FUTURE)
    if age > window:
        return replace(match, valid=False, failure=VerpFailure.EXPIRED)
    return match


_SIMPLE_ADDRESS = re.compile(r"\s*(?:[^<>\",()]*<)?\s*([^\s<>\",()@]+@[^\s<>\",()@]+?)\s*>?\s*")


def _bare(address: str) -> str:
    """The address without display name, brackets or surrounding space."""
    simple = _SIMPLE_ADDRESS.fullmatch(address)
    if simple is not None:
        return simple.group(1)  # "addr", "<addr>", "Name <addr>": no need for the full parser
    pairs = getaddresses([address])
    return pairs[0][1] if len(pairs) == 1 and pairs[0][1] else address.strip().strip("<>")


def _is_native(settings: VerpSettings, local: str) -> bool:
    return local.lower().startswith(settings.prefix + settings.separator)


def check_address(settings: VerpSettings, address: str, now: int) -> VerpMatch:
    """Verify one address (bare, or with brackets and display name) in either format."""
    return _check(settings, address, now, None)


def _check(settings: VerpSettings, address: str, now: int, found_in: str | None) -> VerpMatch:
    """`check_address`, the match saying which header the address was `found_in` (a native
    token's match is made with it; others are copied, but for no token at all)."""
    match = _verify(settings, address, now, found_in)
    if match.found_in == found_in or match.failure is VerpFailure.NOT_FOUND:
        return match
    return replace(match, found_in=found_in)


def _verify(settings: VerpSettings, address: str, now: int, found_in: str | None) -> VerpMatch:
    address = _bare(address)
    local = address.rpartition("@")[0]
    if not local:
        return _fail(address, VerpFailure.NOT_FOUND, fmt=None)
    native = _is_native(settings, local)
    if native:
        match = _check_native(settings, address, local, now, found_in)
        if match.failure is not VerpFailure.MALFORMED:
            return match
    bh = settings.bouncehandler
    if bh is not None and bouncehandler.looks_like(bh, local):
        result = bouncehandler.check(bh, address, local)
        if result.valid:
            return _check_age(result, now - (result.issued or 0), bh.accept_seconds, settings)
        return result
    return _fail(address, VerpFailure.MALFORMED if native else VerpFailure.NOT_FOUND)


def binds(settings: VerpSettings, match: VerpMatch, address: str | None) -> bool | None:
    """Whether the verified token of `match` was made for `address` (any case, brackets).

    None when it cannot tell: the token binds no recipient (made without one, or in the
    BounceHandler format), it did not verify, or `address` is unknown (empty, a placeholder).
    """
    if not match.valid or match.recipient_digest is None:
        return None
    known = known_address(address)
    key = _key(settings, match.key_id)
    if known is None or key is None:
        return None
    expected = _recipient_digest(key, known)
    return hmac.compare_digest(expected.encode(), match.recipient_digest.encode())


class _Plan:
    """What the search reads of the settings, worked out once per settings (not per message):
    the token markers, the headers to search, the keys by id."""

    __slots__ = ("keys", "markers", "order", "original", "plain")

    def __init__(self, settings: VerpSettings) -> None:
        native = (settings.prefix + settings.separator).lower()
        bh = settings.bouncehandler
        # what every token's local part starts with (lower case), in either format
        self.markers = (native, bh.prefix.lower() + "-") if bh is not None else (native,)
        self.plain = frozenset(h for h in settings.search_headers if ":" not in h)
        # "original:sender" → the attribute of the original message that holds it
        self.original = {
            h: "from_" if h == "original:from" else h.removeprefix("original:").replace("-", "_")
            for h in settings.search_headers
            if h.startswith("original:")
        }
        # the search order: (header, the original message's attribute or None)
        self.order = tuple((h, self.original.get(h)) for h in settings.search_headers)
        self.keys: dict[str, VerpKey] = {}
        for key in settings.keys:
            self.keys.setdefault(key.id, key)  # the first of an id, as a scan finds it


_plans: dict[int, tuple[VerpSettings, _Plan]] = {}


def _plan(settings: VerpSettings) -> _Plan:
    """The plan of `settings` (kept while the same settings object is used: the daemon and
    a helper process use one for their whole run)."""
    known = _plans.get(id(settings))
    if known is not None and known[0] is settings:
        return known[1]
    if len(_plans) >= 8:
        _plans.clear()
    plan = _Plan(settings)
    _plans[id(settings)] = (settings, plan)  # the settings kept alive: the id stays theirs
    return plan


def _key(settings: VerpSettings, key_id: str | None) -> VerpKey | None:
    return _plan(settings).keys.get(key_id) if key_id is not None else None


def _addresses(values: list[str]) -> list[str]:
    """Addresses in header values: "addr", "<addr>", "Name <addr>" by a fast path; anything
    else (quoted names, comments, several addresses) by the email package's full parser."""
    out: list[str] = []
    for value in values:
        simple = _SIMPLE_ADDRESS.fullmatch(value)
        if simple is not None:
            out.append(simple.group(1))
        else:
            out.extend(address for _name, address in getaddresses([value]))
    return out


def _marked(value: str, markers: tuple[str, ...]) -> bool:
    low = value.lower()
    if len(markers) == 1:  # the native format alone: most deployments
        return markers[0] in low
    return any(marker in low for marker in markers)


def _candidates(message: ParsedMessage, settings: VerpSettings) -> list[tuple[str, str]]:
    """(header, address) pairs in search order; each address once, first occurrence wins.

    A header value that contains no token marker at all cannot hold a token: it is skipped
    before the (slow) address parsing, which is most values of most bounces.  The message's
    headers are read once (not once per searched header).
    """
    plan = _plan(settings)
    markers = plan.markers
    marked: dict[str, list[str]] = {}  # searched header → its values that hold a marker
    for name, value in message.addressing:
        if _marked(value, markers):
            header = name.lower()
            if header in plan.plain:
                marked.setdefault(header, []).append(value)
    original = message.original
    seen: set[str] = set()
    found: list[tuple[str, str]] = []
    for header, attribute in plan.order:
        if attribute is None:
            values = marked.get(header)
        else:
            held = getattr(original, attribute, None) if original is not None else None
            values = [held] if isinstance(held, str) and _marked(held, markers) else None
        if not values:
            continue
        for address in _addresses(values):
            if address and "@" in address and address not in seen:
                seen.add(address)
                found.append((header, address))
    return found


def find_token(message: ParsedMessage, settings: VerpSettings, now: int) -> VerpMatch:
    """The first candidate address that verifies; else the first failure, with all tried."""
    tried: list[tuple[str, str]] = []
    first: VerpMatch | None = None
    for header, address in _candidates(message, settings):
        match = _check(settings, address, now, header)
        if match.failure is VerpFailure.NOT_FOUND:
            continue  # an ordinary address, not a token
        if match.valid:
            return replace(match, tried=tuple(tried)) if tried else match
        tried.append((address, str(match.failure)))
        first = first or match
    if first is None:
        return VerpMatch(valid=False, failure=VerpFailure.NOT_FOUND)
    return replace(first, tried=tuple(tried))


def describe_match(match: VerpMatch) -> list[tuple[str, str]]:
    """(field, value) lines for `reconciler verp check`: the verdict first, then what is known."""
    if match.failure is VerpFailure.NOT_FOUND:
        return [("result", "no token"), *(("tried", f"{a}: {f}") for a, f in match.tried)]
    verdict = "valid" if match.valid else f"invalid: {match.failure}"
    lines = [("result", verdict)]
    fields = ("format", "key_id", "user_id", "realm", "realm_ref", "issued", "send_ref", "found_in")
    for name in fields:
        value = getattr(match, name)
        if name == "issued" and value is not None:
            moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))
            lines.append((name, f"{moment} (unix {value})"))
        elif value is not None:
            lines.append((name, str(value)))
    if match.valid:
        bound = match.recipient_digest
        lines.append(("recipient", f"bound (digest {bound})" if bound else "not bound"))
    lines.extend(("tried", f"{address}: {failure}") for address, failure in match.tried)
    return lines
