"""The drain's per-message VERP stage and its helper transfer, in memory (no IMAP).

    python bench/verp_stage.py [--n 500] [--repeat R] [--part verp|pack|unpack|none] [--plain]

Builds the first N messages of `bench/drain.py`'s backlog (the same samples, the same signed
VERP tokens: four in five carry one), parses them and analyses them into ledger entries, then
runs one part R times:

* verp: the VERP stage of each message (`find_token`, and `binds` for each of its results,
  as the ledger entry asks it);
* pack / unpack: pickle (unpickle) the batch of ledger entries, as the helper pool sends
  (receives) a batch's results (`--plain`: with the pickle module's defaults, as the pool
  did before issue 16);
* none: nothing (the set-up alone).

Meant for instruction counts: run it under `valgrind --tool=callgrind` with the part and with
`--part none`, and divide the difference by N x R (verp) or R (pack, unpack).  It prints the
seconds of the part too (wall clock: noisy on a shared machine).  Not a test (STYLE 2.20).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.drain import VERP, Backlog, _templates  # noqa: E402 (after the path set-up)
from reconciler.analysis import Destinations, Stages, analyse_batch  # noqa: E402
from reconciler.classify import Classifier  # noqa: E402
from reconciler.classify.rules import load_rules  # noqa: E402
from reconciler.parse import parse  # noqa: E402
from reconciler.records import RawMessage  # noqa: E402
from reconciler.service.helper_pool import _dumps, _loads  # noqa: E402
from reconciler.verp import binds, find_token  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="messages (a default batch)")
    parser.add_argument("--repeat", type=int, default=5, help="passes over the part")
    parser.add_argument("--part", choices=("verp", "pack", "unpack", "none"), default="verp")
    parser.add_argument("--plain", action="store_true", help="pickle as the pool did before")
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests/corpus/sisimai/emails")
    args = parser.parse_args(argv)

    now = 1_790_000_000  # fixed: the same tokens every run
    backlog = Backlog(_templates(args.corpus), args.n, now)
    datas = list(backlog)
    parsed = [parse(data) for data in datas]
    raws = [
        RawMessage(mailbox="INBOX", uidvalidity=1, uid=uid, data=data)
        for uid, data in enumerate(datas, 1)
    ]
    stages = Stages(Classifier(load_rules().rules), VERP)
    folders = Destinations("processed", "unmatched", "quarantine")
    when = datetime.fromtimestamp(now, UTC)
    entries = analyse_batch(stages, raws, folders, when)
    dumps, loads = (pickle.dumps, pickle.loads) if args.plain else (_dumps, _loads)
    packed = dumps(entries)
    assert loads(packed) == entries

    start = time.perf_counter()
    for _ in range(args.repeat):
        if args.part == "verp":
            for message in parsed:
                match = find_token(message, VERP, now)
                for bounce in message.bounces:
                    binds(VERP, match, bounce.recipient)
        elif args.part == "pack":
            dumps(entries)
        elif args.part == "unpack":
            loads(packed)
    seconds = time.perf_counter() - start
    print(f"{args.part}: {args.n} messages x {args.repeat}: {seconds * 1000:.1f} ms; "
          f"a batch pickles to {len(packed):,} bytes")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
