"""INTERNALDATE read by `source.imap._internaldate`: the instant imapclient's
`parse_to_datetime` gives, for the RFC 3501 form it reads itself and for the forms it leaves
to imapclient (other spellings, dates and zones out of range, "-0000")."""

from __future__ import annotations

import pytest
from imapclient.datetime_util import parse_to_datetime

from reconciler.source.imap import _internaldate

FORMS = [
    b"05-Dec-2026 02:10:36 +0000",
    b" 5-Dec-2026 02:10:36 +0000",
    b"29-Feb-2024 23:59:59 +0530",
    b"01-Jan-2000 00:00:00 -0800",
    b"31-Dec-1999 12:00:00 +1400",
    b"17-Jul-1996 02:44:25 -0730",
    b"01-Jan-2000 00:00:00 -0000",  # no zone: imapclient gives a naive datetime
    b"01-jan-2000 00:00:00 +0100",  # a month in lower case: imapclient's reading
    b"Sat, 05 Dec 2026 02:10:36 +0000",  # not RFC 3501's form
]
UNREADABLE = [
    b"30-Feb-2024 00:00:00 +0000",
    b"00-Jan-2024 00:00:00 +0000",
    b"01-Foo-2024 00:00:00 +0000",
    b"01-Jan-2024 24:00:00 +0000",
    b"garbage",
]


@pytest.mark.parametrize("value", FORMS)
def test_the_same_instant_as_imapclient(value: bytes) -> None:
    ours, theirs = _internaldate(value), parse_to_datetime(value, normalise=False)
    assert ours is not None
    assert ours == theirs and (ours.tzinfo is None) == (theirs.tzinfo is None)
    assert ours.utcoffset() == theirs.utcoffset()


@pytest.mark.parametrize("value", UNREADABLE)
def test_an_unreadable_date_is_none_as_imapclient_makes_it(value: bytes) -> None:
    with pytest.raises(ValueError):
        parse_to_datetime(value, normalise=False)
    assert _internaldate(value) is None
