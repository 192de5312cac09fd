"""Score `reconciler classify --json` on the real-MTA bounces of tests/samples/mta/real/ against
their truth (truth.jsonl, written by scripts/mta_samples.py before any classifier ran).

    python bench/real_mta.py              # the figures: work, validation, whole, per MTA
    python bench/real_mta.py --misses     # and the WORK part's misses (never the validation's)

Split: a file is in the VALIDATION part when the first byte of SHA-256(its name) is divisible
by 3 (tests/corpus_split.py), else in the WORK part. Rules may be written from the work part's
misses; the validation part is only scored.

Scoring, per truth row (one per failed recipient of a file):
- class: hard / soft / none; a predicted row counts as `none` unless its kind is `bounce`; a
  truth row with no predicted row for its recipient counts as wrong (and `missed`).
- false hard: predicted hard, truth soft or none (a good address that would be suppressed).
- hard called soft: predicted soft or none, truth hard.
- reason: the predicted reason is one of the truth's acceptable reasons; a final failure
  reported with a 4.x.x status (the queue lifetime expired) may also be `expired` (decided
  before scoring: mta_grid.py). Delay warnings are scored on their class only.
- stage: the predicted `stage` equals the truth's, on bounce rows whose truth stage is known.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REAL = Path(__file__).resolve().parent.parent / "tests" / "samples" / "mta" / "real"
SCOPES = ("work", "validation", "whole")


def part(name: str) -> str:
    """The split of tests/corpus_split.py (kept in step; bench/ does not import tests/)."""
    return "validation" if hashlib.sha256(name.encode()).digest()[0] % 3 == 0 else "work"


def load_truth(folder: Path) -> list[dict[str, Any]]:
    with (folder / "truth.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def predict(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(file name, recipient) -> the `classify --json` row."""
    done = subprocess.run(  # this interpreter's package, whatever the PATH holds
        [sys.executable, "-m", "reconciler", "classify", "--json", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for line in done.stdout.splitlines():
        row = json.loads(line)
        name = Path(row["file"]).name
        for key in ("recipient", "original_recipient"):
            if row.get(key):
                rows.setdefault((name, str(row[key]).lower()), row)
    return rows


def klass(row: dict[str, Any] | None) -> str:
    if row is None:
        return "missing"
    return str(row["severity"]) if row["kind"] == "bounce" else "none"


def score(
    truth: list[dict[str, Any]], preds: dict[tuple[str, str], dict[str, Any]]
) -> dict[str, Any]:
    n = len(truth)
    agree = false_hard = hard_soft = missed = reason_ok = reason_n = stage_ok = stage_n = 0
    for t in truth:
        p = preds.get((t["file"], t["recipient"].lower()))
        got = klass(p)
        agree += got == t["severity"]
        missed += p is None
        false_hard += got == "hard" and t["severity"] != "hard"
        hard_soft += t["severity"] == "hard" and got != "hard"
        if t["kind"] == "bounce":
            reason_n += 1
            ok = set(t["reasons"])
            if p is not None and str(p.get("status") or "").startswith("4"):
                ok.add("expired")
            reason_ok += p is not None and p["reason"] in ok
            if t["stage"] != "unknown":
                stage_n += 1
                stage_ok += p is not None and p.get("stage") == t["stage"]
    pct = lambda a, b: round(100 * a / b, 2) if b else None  # noqa: E731
    return {
        "rows": n,
        "files": len({t["file"] for t in truth}),
        "hard_soft_none": pct(agree, n),
        "false_hard": false_hard,
        "hard_called_soft": hard_soft,
        "missed": missed,
        "reason": pct(reason_ok, reason_n),
        "stage": pct(stage_ok, stage_n),
    }


def misses(truth: list[dict[str, Any]], preds: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    out = []
    for t in truth:
        p = preds.get((t["file"], t["recipient"].lower()))
        ok = set(t["reasons"]) | (
            {"expired"} if p and str(p.get("status") or "")[:1] == "4" else set()
        )
        wrong_class = klass(p) != t["severity"]
        wrong_reason = t["kind"] == "bounce" and (p is None or p["reason"] not in ok)
        wrong_stage = (
            t["kind"] == "bounce"
            and t["stage"] != "unknown"
            and (p is None or p.get("stage") != t["stage"])
        )
        if wrong_class or wrong_reason or wrong_stage:
            have = (
                f"{p['reason']}/{klass(p)} stage={p.get('stage')} rule={p['rule']}"
                if p
                else "<none>"
            )
            want = f"{'|'.join(t['reasons'])}/{t['severity']} stage={t['stage']}"
            out.append(f"{t['file']} {t['recipient']}: want {want} got {have}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="show the work part's misses")
    parser.add_argument("--folder", type=Path, default=REAL)
    args = parser.parse_args()
    truth = load_truth(args.folder)
    preds = predict(args.folder)
    columns: dict[str, dict[str, Any]] = {}
    for scope in SCOPES:
        columns[scope] = score(
            [t for t in truth if scope == "whole" or part(t["file"]) == scope], preds
        )
    for mta in sorted({t["mta"] for t in truth}):
        columns[mta] = score([t for t in truth if t["mta"] == mta], preds)
    keys = (
        "files",
        "rows",
        "hard_soft_none",
        "false_hard",
        "hard_called_soft",
        "missed",
        "reason",
        "stage",
    )
    print(f"{'':18}" + "".join(f"{c:>11}" for c in columns))
    for key in keys:
        print(f"{key:18}" + "".join(f"{columns[c][key]!s:>11}" for c in columns))
    if args.misses:
        for line in misses([t for t in truth if part(t["file"]) == "work"], preds):
            print(line)
    hards = Counter(t["severity"] for t in truth)
    print(f"truth rows: {dict(hards)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
