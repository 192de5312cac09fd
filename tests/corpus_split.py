"""The fixed split of each labelled corpus into a WORK part and a VALIDATION part.

Rules are written from the work part (two thirds of the files); the validation part (one third)
is only ever scored, never read to write a rule, so the gap between the two parts' figures
measures how much the rules learnt their samples instead of the mail.  The split depends on the
file name alone (the `file` value of labels.jsonl, relative to the corpus directory, e.g.
`emails/lhost-postfix-01.eml`): it never changes when rules change or files are added.

Used by tests/classify/test_corpus.py and bench/score.py.
"""

from __future__ import annotations

import hashlib
from typing import Literal

__all__ = ["PARTS", "Part", "part"]

Part = Literal["work", "validation"]
PARTS: tuple[Part, ...] = ("work", "validation")


def part(name: str) -> Part:
    """`validation` when the first byte of SHA-256(name) is divisible by 3, else `work`."""
    first = hashlib.sha256(name.encode("utf-8")).digest()[0]
    return "validation" if first % 3 == 0 else "work"
