"""VERP tokens through the whole chain, on real bounces: a token written where real MTAs put
the return path (the bounce's delivery headers, the returned original's Return-Path) is found
by the real parser and verified, in every corpus message that has such a place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import CORPUS

from reconciler.config import VerpKey, VerpSettings
from reconciler.parse import parse
from reconciler.verp import find_token, make_address

VERP = VerpSettings(
    domain="bounces.example.org", keys=(VerpKey("c", b"chain-test-key-0123456789"),)
)
NOW = 1_800_000_000
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_HEADER = re.compile(rb"^(X-Original-To|Delivered-To):[ \t]*<?([^>\r\n]+)>?", re.I | re.M)


def _with_token_in_original(data: bytes, user: int) -> bytes | None:
    """Replace the returned original's Return-Path address with a token; None if it has none."""
    original = parse(data).original
    if original is None or not original.return_path or "@" not in original.return_path:
        return None
    old = original.return_path.strip("<> ").encode()
    token = make_address(VERP, user_id=user, address=None, realm="chain", now=NOW).encode()
    # only occurrences after the bounce's own header block: the copy of the original
    head_end = _HEAD_END.search(data)
    cut = head_end.end() if head_end else 0
    return data[:cut] + data[cut:].replace(old, token)


def _with_token_in_delivery_header(data: bytes, user: int) -> tuple[bytes, str] | None:
    found = _HEADER.search(_HEAD_END.split(data, 1)[0])  # the bounce's own header block
    if found is None:
        return None
    token = make_address(VERP, user_id=user, address=None, realm="chain", now=NOW).encode()
    start, end = found.span(2)
    return data[:start] + token + data[end:], found.group(1).decode().lower()


def test_token_in_the_returned_originals_return_path_is_found_in_real_bounces() -> None:
    checked = 0
    for user, path in enumerate(sorted(CORPUS.glob("*.eml")), 1):
        data = _with_token_in_original(path.read_bytes(), user)
        if data is None:
            continue
        match = find_token(parse(data), VERP, NOW + 60)
        if match.found_in is not None and match.found_in.startswith("original"):
            checked += 1
            assert match.valid and match.user_id == user, (path.name, match)
    assert checked >= 100  # most real bounces return the original's headers


WITH_HEADER = [
    p for p in sorted(CORPUS.glob("*.eml")) if _with_token_in_delivery_header(p.read_bytes(), 1)
]


def test_many_real_bounces_carry_a_delivery_header() -> None:
    assert len(WITH_HEADER) >= 100


@pytest.mark.parametrize("path", WITH_HEADER, ids=lambda p: p.name)
def test_token_in_a_delivery_header_of_a_real_bounce_verifies(path: Path) -> None:
    rewritten = _with_token_in_delivery_header(path.read_bytes(), 4242)
    assert rewritten is not None
    data, header = rewritten
    match = find_token(parse(data), VERP, NOW + 60)
    assert match.valid and match.user_id == 4242 and match.realm == "chain", match
    assert match.found_in == header
