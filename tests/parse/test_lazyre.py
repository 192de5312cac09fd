"""A `Lazy` regex answers as the compiled pattern it stands for, compiled once."""

from __future__ import annotations

import re

from reconciler.parse.lazyre import Lazy

TEXT = "RCPT TO:<a@example.org> refused; rcpt to:<b@example.org> refused"


def test_a_lazy_regex_answers_as_its_compiled_pattern() -> None:
    lazy, pattern = (
        Lazy(r"rcpt\s+to:<([^>]+)>", re.IGNORECASE),
        re.compile(r"rcpt\s+to:<([^>]+)>", re.IGNORECASE),
    )
    assert lazy.pattern == pattern.pattern
    for pos, end in ((0, len(TEXT)), (5, len(TEXT)), (0, 20), (30, 60)):
        found, expected = lazy.search(TEXT, pos, end), pattern.search(TEXT, pos, end)
        assert (found and found.span()) == (expected and expected.span())
        found, expected = lazy.match(TEXT, pos, end), pattern.match(TEXT, pos, end)
        assert (found and found.span()) == (expected and expected.span())
    assert lazy.search(TEXT) is not None and lazy.match(TEXT) is not None
    assert [m.group(1) for m in lazy.finditer(TEXT)] == ["a@example.org", "b@example.org"]
    assert lazy.findall(TEXT) == pattern.findall(TEXT)
    assert lazy.sub("x", TEXT) == pattern.sub("x", TEXT)
    assert lazy.sub(lambda m: m.group(1).upper(), TEXT) == pattern.sub(
        lambda m: m.group(1).upper(), TEXT
    )
    assert lazy.compiled() is lazy.compiled()  # compiled once, then kept
    assert lazy.compiled().flags & re.IGNORECASE
