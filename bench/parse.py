"""Run reconciler.parse.parse() over the labelled corpus: recall, status/reply-code agreement,
speed.

    python bench/parse.py [--corpus tests/corpus/sisimai] [--misses] [--rounds 5]

Recall is over label rows (recipient, case-insensitive).  Status and reply-code agreement are
counted over matched rows whose label states a value; "stated" narrows that to rows whose
value occurs literally in the message (Sisimai also writes pseudo-codes such as 5.0.911 that
no message contains).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from reconciler.parse import parse
from reconciler.records import MessageKind, ParsedMessage

_KINDS = {"not-bounce": {MessageKind.OTHER}, "bounce": {MessageKind.BOUNCE, MessageKind.DELAY}}


def _labels(corpus: Path) -> list[dict[str, Any]]:
    with (corpus / "labels.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _score(label: dict[str, Any], data: bytes, got: ParsedMessage, m: Counter[str]) -> list[str]:
    misses: list[str] = []
    kind = str(label["kind"])
    wanted = _KINDS.get(kind) or {k for k in MessageKind if k.value == kind}
    if got.kind not in wanted:
        misses.append(f"kind {got.kind} want {kind}")
    m["files"] += 1
    pool = {(b.recipient or "").lower(): b for b in got.bounces}
    for row in label["results"]:
        m["rows"] += 1
        hit = pool.get(str(row.get("recipient") or "").lower())
        if hit is None:
            misses.append(f"recipient {row.get('recipient')} got {sorted(pool)}")
            continue
        m["hit"] += 1
        for key, have in (("status", hit.status), ("replycode", hit.reply_code)):
            want = str(row.get(key) or "")
            if not want:
                continue
            stated = want.encode() in data
            m[f"{key}_rows"] += 1
            m[f"{key}_stated"] += stated
            if want == (have or ""):
                m[f"{key}_ok"] += 1
                m[f"{key}_stated_ok"] += stated
            elif stated:
                misses.append(f"{key} {row['recipient']} want {want} got {have}")
    return misses


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="tests/corpus/sisimai", type=Path)
    ap.add_argument("--misses", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    labels = _labels(args.corpus)
    blobs = [(args.corpus / str(lab["file"])).read_bytes() for lab in labels]
    m: Counter[str] = Counter()
    for label, data in zip(labels, blobs, strict=True):
        got = parse(data)
        m["errors"] += got.kind is MessageKind.ERROR
        misses = _score(label, data, got, m)
        if args.misses and misses:
            print(
                label["file"],
                [(b.recipient, b.detector) for b in got.bounces],
                *misses,
                sep="\n   ",
            )
    best = float("inf")
    for _ in range(args.rounds):
        start = time.perf_counter()
        for data in blobs:
            parse(data)
        best = min(best, time.perf_counter() - start)
    rate = len(blobs) / best

    def pct(a: str, b: str) -> str:
        return f"{100.0 * m[a] / m[b]:.2f}% ({m[a]}/{m[b]})" if m[b] else "n/a"

    print(f"files {m['files']}  rows {m['rows']}  errors {m['errors']}")
    print(f"recipient recall        {pct('hit', 'rows')}")
    for key in ("status", "replycode"):
        print(f"{key:<10} agreement    {pct(f'{key}_ok', f'{key}_rows')}")
        print(f"{key:<10} where stated {pct(f'{key}_stated_ok', f'{key}_stated')}")
    print(f"speed                   {rate:,.0f} msg/s (parse only, best of {args.rounds} rounds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
