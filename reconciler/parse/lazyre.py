"""Regular expressions compiled when first used, not when their module is imported.

The parser's modules hold some sixty regexes; compiling them all at import is some 20 ms of
every process that classifies, and a one-message `classify` uses fewer than half of them (a
DSN never needs the text formats' or the transcripts').  A `Lazy` is written and called like
the `re.Pattern` it stands for (`_X_RE = Lazy(r"...")`, `_X_RE.search(text)`); the pattern is
compiled by its first call and kept.  Compiled with the parser (reconciler/_native.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

__all__ = ["Lazy"]


class Lazy:
    """A `re.Pattern[str]` compiled on first use (the methods the parser calls)."""

    __slots__ = ("_compiled", "_flags", "pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self._flags = flags
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        found = self._compiled
        if found is None:
            found = self._compiled = re.compile(self.pattern, self._flags)
        return found

    # `endpos` None: the end of the text.  Only the arguments given are passed on: a default
    # of sys.maxsize would be boxed into a Python int on every call (it exceeds the compiled
    # build's short integers) and parsed again by the pattern's method.
    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        found = self._compiled
        if found is None:
            found = self.compiled()
        if endpos is not None:
            return found.search(text, pos, endpos)
        return found.search(text, pos) if pos else found.search(text)

    def match(self, text: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        found = self._compiled
        if found is None:
            found = self.compiled()
        if endpos is not None:
            return found.match(text, pos, endpos)
        return found.match(text, pos) if pos else found.match(text)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.compiled().finditer(text)

    def findall(self, text: str) -> list[str]:
        return self.compiled().findall(text)

    def sub(self, repl: str | Callable[[re.Match[str]], str], text: str) -> str:
        return self.compiled().sub(repl, text)
