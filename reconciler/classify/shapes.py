"""The shape of a diagnostic: its text with what changes from one message to the next masked
(addresses, IP addresses, host names, ids, numbers), so that one provider's message has one
shape however many users and servers it names; and a rule pattern (RE2) for a shape.

    >>> diagnostic_shape("550 5.1.1 <kim@example.net>: User unknown (mx7.example.net)")
    '{n} {n}.{n}.{n} <{addr}>: user unknown ({host})'

Pure.  `review` groups what the reconciler could not use by shape; `rules suggest` keys the
rule it writes on the pattern of the example's shape.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

__all__ = ["PLACEHOLDERS", "diagnostic_shape", "shape_id", "shape_pattern"]

SHAPE_CHARS = 4000  # of the text looked at
PATTERN_CHARS = 200  # of a shape made into a rule pattern (cut at a word)
# what each mask stands for, as an RE2 pattern (rules match without case)
PLACEHOLDERS = {
    "addr": r"\S+@\S+",
    "ip": r"[0-9a-f.:]+",
    "host": r"[a-z0-9.-]+",
    "id": r"\S+",
    "n": r"\d+",
}

_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:@]+@[^\s<>()\[\]\"',;:@]+")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![0-9a-z:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![0-9a-z:])")
_HOST = re.compile(r"(?<![\w.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}(?![\w-])")
_TOKEN = re.compile(r"(?<![\w{])[a-z0-9][a-z0-9._=+/-]{7,}")
_DIGIT, _LETTER = re.compile(r"\d"), re.compile(r"[a-z]")
_NUMBER = re.compile(r"\d+")
_MASK = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_OPEN_MASK = re.compile(r"\{[a-z]*$")  # a mask cut in two at the end
_SPECIAL = set(r"\.^$|?*+()[]{}-/")


def _ipv6(match: re.Match[str]) -> str:
    try:
        ipaddress.IPv6Address(match.group(0))
    except ValueError:
        return match.group(0)  # a time, a list of codes: not an address
    return "{ip}"


def _id(match: re.Match[str]) -> str:
    """A long token with both letters and digits (a queue id, a session id, a hash)."""
    token = match.group(0)
    return "{id}" if _DIGIT.search(token) and _LETTER.search(token) else token


def diagnostic_shape(text: str) -> str:
    """`text` in lower case on one line, with addresses, IPs, hosts, ids and numbers masked."""
    shape = " ".join(text[:SHAPE_CHARS].lower().split())
    shape = _ADDRESS.sub("{addr}", shape)
    shape = _IPV4.sub("{ip}", shape)
    shape = _IPV6.sub(_ipv6, shape)
    shape = _HOST.sub("{host}", shape)
    shape = _TOKEN.sub(_id, shape)
    return _NUMBER.sub("{n}", shape)


def shape_id(kind: str, shape: str) -> str:
    """A short id for a group of `kind` with `shape`, stable across runs: "g" + 8 hex."""
    return "g" + hashlib.sha256(f"{kind}\n{shape}".encode()).hexdigest()[:8]


def _literal(text: str) -> str:
    out = []
    for part in re.split(r"(\s+)", text):
        if part.isspace():
            out.append(r"\s+")
        else:
            out.append("".join("\\" + c if c in _SPECIAL else c for c in part))
    return "".join(out)


def shape_pattern(shape: str, limit: int = PATTERN_CHARS) -> str:
    """An RE2 pattern (case-insensitive, searched) that matches the texts of `shape`: its first
    `limit` characters, cut at a space, each mask standing for what it masked."""
    if len(shape) > limit:
        cut = shape.rfind(" ", 0, limit)
        shape = _OPEN_MASK.sub("", shape[: cut if cut > 0 else limit])
    pieces = []
    last = 0
    for match in _MASK.finditer(shape):
        pieces.append(_literal(shape[last : match.start()]))
        pieces.append(PLACEHOLDERS[match.group(1)])
        last = match.end()
    pieces.append(_literal(shape[last:]))
    return "".join(pieces)
