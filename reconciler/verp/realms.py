"""Realms (the sending sites, e.g. wiki ids) and the short references a native token carries.

A realm is 1-32 of ``a-z 0-9 _ . -`` (lower case; a dot neither first nor last nor doubled, so
that ``.realm`` stays a valid dot-atom).  A deployment lists the realms it knows (``[verp]
realms`` / ``realms_file``, a MediaWiki ``*.dblist``); a token for a listed realm carries a
reference of `REF_CHARS` base32 characters derived from the name instead of the name, so that
every address of a farm fits in 64 characters.  The reference is not secret and not keyed (the
MAC covers the full name); two listed realms with one reference are refused at start.

Pure: no I/O.  `parse_realm_list` reads the text of a list file that the config loader read.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Final

__all__ = [
    "REALM_MAX",
    "REALM_PATTERN",
    "REF_CHARS",
    "RealmCollision",
    "check_realm",
    "parse_realm_list",
    "realm_index",
    "realm_ref",
]

REALM_MAX: Final = 32
REF_CHARS: Final = 8  # 40 bits: about 1 in 2 million that two of 1,000 realms collide
# a-z 0-9 "_" "-" ".", a dot neither first nor last nor next to another dot
REALM_PATTERN: Final = re.compile(r"(?!\.)(?:[a-z0-9_-]|\.(?!\.))+(?<!\.)")


class RealmCollision(ValueError):
    """Two listed realms have the same reference (names both)."""


def check_realm(realm: str) -> str:
    """The realm lower-cased; ValueError when it is not 1-32 of a-z 0-9 _ . -."""
    folded = realm.lower()
    if len(folded) > REALM_MAX or not REALM_PATTERN.fullmatch(folded):
        raise ValueError(
            f"realm {realm!r}: expected 1-{REALM_MAX} of a-z 0-9 '_' '-' '.', "
            "without a '.' first, last or next to another"
        )
    return folded


def realm_ref(realm: str) -> str:
    """The fixed-width reference of a (lower-case) realm name: base32 of SHA-256, 40 bits."""
    digest = hashlib.sha256(f"reconciler-verp-realm-1\n{realm}".encode()).digest()
    return base64.b32encode(digest[:5]).decode("ascii").lower()


@lru_cache(maxsize=8)
def _index(realms: tuple[str, ...]) -> Mapping[str, str]:
    by_ref: dict[str, str] = {}
    for realm in realms:
        ref = realm_ref(realm)
        other = by_ref.setdefault(ref, realm)
        if other != realm:
            raise RealmCollision(
                f'realms "{other}" and "{realm}" have the same reference "{ref}": '
                "one of them cannot be listed (carry it by name)"
            )
    return MappingProxyType(by_ref)


def realm_index(realms: Iterable[str]) -> Mapping[str, str]:
    """Reference → name of the listed realms (cached); RealmCollision when two collide."""
    return _index(tuple(realms))


def parse_realm_list(text: str) -> list[str]:
    """The realms of a list file: one per line, ``#`` starts a comment, blank lines skipped.

    ValueError names the first line that is not a realm (1-based)."""
    found: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        try:
            found.append(check_realm(name))
        except ValueError as err:
            raise ValueError(f"line {number}: {err}") from None
    return found
