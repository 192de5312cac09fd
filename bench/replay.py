"""Replay and review over a stored window: how fast the operator's loop reads a site's mail.

    python bench/replay.py [--n 50000] [--url sqlite:///tmp/replay.db]

Records N events in a fresh store (the Sisimai samples analysed as the cycle does, each made
unique by its recipient; one in five without a token, the others for their own verified
user), then times, best of three:

(a) `rules replay` with the rules in force (classify every event again from what the store
    keeps: no change expected);
(b) the same with one operator rule that decides a tenth of the events otherwise (the users
    and decisions it touches are decided again);
(c) `review` of the window (the events the reconciler could not use, grouped by shape).

Prints events per second of each.  It prints figures; it is not a timed test (STYLE 2.20).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.analysis import Destinations, Stages, ledger_entry  # noqa: E402 (path set-up)
from reconciler.classify import Classifier, load_rule_files, load_rules  # noqa: E402
from reconciler.records import LedgerEntry, RawMessage, ReviewKind  # noqa: E402
from reconciler.service.replay import replay  # noqa: E402
from reconciler.service.review import gather_review  # noqa: E402
from reconciler.settings import PolicySettings  # noqa: E402
from reconciler.store import Store, open_database  # noqa: E402

CORPUS = ROOT / "tests" / "corpus" / "sisimai" / "emails"
NOW = datetime.now(UTC).replace(microsecond=0)
FOLDERS = Destinations("processed", "unmatched", "quarantine")
CHANGE = """rules:
  - id: bench-changed
    description: a tenth of the stored events, decided otherwise
    match: {domain: ['*.example.jp']}
    reason: suspend
"""


def _templates(classifier: Classifier) -> list[LedgerEntry]:
    out = []
    for path in sorted(CORPUS.glob("*.eml")):
        raw = RawMessage("bench", 1, 0, path.read_bytes(), received_at=NOW)
        entry = ledger_entry(raw, Stages(classifier, None), FOLDERS, NOW)[0]
        if entry.events:
            out.append(entry)
    return out


def _seed(store: Store, n: int, classifier: Classifier) -> None:
    templates = _templates(classifier)
    batch: list[LedgerEntry] = []
    for i in range(n):
        t = templates[i % len(templates)]
        verified = i % 5 != 0
        events = tuple(
            replace(
                e,
                recipient=f"u{i}@{e.recipient.rpartition('@')[2] or 'example.org'}",
                event_time=NOW - timedelta(minutes=i % 40_000),
                realm="bench" if verified else None,
                user_id=i if verified else None,
                verp_valid=verified,
            )
            for e in t.events[:1]
        )
        digest = hashlib.sha256(b"%d" % i).hexdigest()
        batch.append(replace(t, uid=i + 1, sha256=digest, events=events))
        if len(batch) == 1000:
            store.record_batch(batch, NOW)
            batch = []
    store.record_batch(batch, NOW)


T = TypeVar("T")


def _best(what: str, n: int, run: Callable[[], T]) -> T:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    best = min(times)
    print(f"{what}: {n} events, best of 3 {best:.2f} s -> {n / best:,.0f} events/s")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--url", help="a database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'replay.db'}"
        store = open_database(url)
        store.migrate(NOW)
        rules = load_rules()
        classifier = Classifier(rules.rules)
        started = time.perf_counter()
        _seed(store, args.n, classifier)
        print(f"seeded {args.n} events in {time.perf_counter() - started:.1f} s ({url})")
        window = (NOW - timedelta(days=90), NOW + timedelta(seconds=1))
        policy = PolicySettings()
        same = _best("(a) replay, rules in force", args.n,
                     lambda: replay(store, classifier, rules.files, policy, window))  # fmt: skip
        extra = Path(tmp) / "bench.yaml"
        extra.write_text(CHANGE, encoding="utf-8")
        changed = load_rule_files([extra, *(Path(f) for f in rules.files)])
        other = _best("(b) replay, one rule changes some", args.n,
                      lambda: replay(store, Classifier(changed.rules), changed.files, policy,
                                     window))  # fmt: skip
        review = _best("(c) review", args.n,
                       lambda: gather_review(store, *window, list(ReviewKind)))  # fmt: skip
        store.close()
    print(f"changes: (a) {len(same.changes)}, (b) {len(other.changes)} "
          f"({len(other.users)} users, {len(other.decisions)} decisions); "
          f"review: {len(review.groups)} groups")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
