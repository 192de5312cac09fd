"""MediaWiki BounceHandler-compatible VERP addresses (a drop-in for existing MediaWiki senders).

Format, as VerpAddressGenerator writes it::

    {prefix}-{wikiId with "-" → "."}-{userId base36}-{unix time base36}-{mac}@{domain}

where mac = base64(first 12 bytes of HMAC-{algorithm}(key, "{prefix}-{wiki}-{uid}-{time}")).
The MAC is standard base64 and therefore case-sensitive: a relay that folds the case of the
local part breaks these tokens.  New senders should use the native format.  Signature checks
only; the acceptance window is applied by `reconciler.verp`.
"""

from __future__ import annotations

import base64
import hmac
import re
from typing import Final

from reconciler.errors import VerpError
from reconciler.records import VerpFailure, VerpMatch
from reconciler.settings import BounceHandlerSettings, VerpFormat, VerpSettings

__all__ = ["KEY_ID", "MAX_USER_ID", "check", "looks_like", "make"]

KEY_ID: Final = "bouncehandler"  # VerpMatch.key_id of tokens in this format
_WIKI: Final = re.compile(r"[^\s@<>()\[\]\\,;:\"-]+")
# a user id and a time of at most 13 base-36 digits (2**63 - 1 has 13): bounded before int()
_REST: Final = re.compile(
    r"(?P<wiki>[^\s@<>-]+)-(?P<uid>[0-9a-z]{1,13})-(?P<time>[0-9a-z]{1,13})"
    r"-(?P<mac>[A-Za-z0-9+/]{16})"
)
MAX_USER_ID: Final = 2**63 - 1  # the largest signed 64-bit integer: a BIGINT in every store
_DIGITS: Final = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(number: int) -> str:
    """`number` (>= 0) in lower-case base 36, no leading zeros (shared with verp.py)."""
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = _DIGITS[rest] + digits
        if number == 0:
            return digits


def _mac(bh: BounceHandlerSettings, signed: str) -> str:
    digest = hmac.new(bh.secret, signed.encode(), bh.algorithm).digest()
    return base64.b64encode(digest[:12]).decode("ascii")


def make(settings: VerpSettings, *, user_id: int, realm: str | None, now: int) -> str:
    """A BounceHandler address for `user_id` on wiki `realm` (required), issued at `now`."""
    bh = settings.bouncehandler
    if bh is None:
        raise VerpError('verp: format "bouncehandler" needs a [verp.bouncehandler] table')
    if not realm:
        raise ValueError("the bouncehandler format needs realm= (the wiki id)")
    wiki = realm.replace("-", ".")
    if not _WIKI.fullmatch(wiki):
        raise ValueError(f"realm {realm!r}: not usable in an address")
    if now < 0:
        raise ValueError(f"now {now}: expected unix seconds")
    signed = f"{bh.prefix}-{wiki}-{base36(user_id)}-{base36(now)}"
    return f"{signed}-{_mac(bh, signed)}@{bh.domain or settings.domain}"


def looks_like(bh: BounceHandlerSettings, local: str) -> bool:
    """True if the local part starts with the configured prefix and a "-"."""
    return local.lower().startswith(bh.prefix.lower() + "-")


def check(bh: BounceHandlerSettings, address: str, local: str) -> VerpMatch:
    """Parse and verify the signature (not the age) of a BounceHandler local part."""
    prefix = local[: len(bh.prefix)]
    parsed = _REST.fullmatch(local[len(bh.prefix) + 1 :])
    if parsed is None or int(parsed["uid"], 36) > MAX_USER_ID:
        return VerpMatch(
            valid=False,
            address=address,
            failure=VerpFailure.MALFORMED,
            format=VerpFormat.BOUNCEHANDLER,
        )
    signed = f"{prefix}-{parsed['wiki']}-{parsed['uid']}-{parsed['time']}"
    if not hmac.compare_digest(_mac(bh, signed).encode(), parsed["mac"].encode()):
        return VerpMatch(
            valid=False,
            address=address,
            failure=VerpFailure.BAD_SIGNATURE,
            format=VerpFormat.BOUNCEHANDLER,
            key_id=KEY_ID,
        )
    return VerpMatch(
        valid=True,
        realm=parsed["wiki"].replace(".", "-"),
        user_id=int(parsed["uid"], 36),
        issued=int(parsed["time"], 36),
        key_id=KEY_ID,
        format=VerpFormat.BOUNCEHANDLER,
        address=address,
    )
