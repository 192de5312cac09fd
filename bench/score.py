"""The classifier's figures on both labelled corpora, for the work part, the validation part and
the whole (the split: tests/corpus_split.py), with the project's scorers
(tests/corpus/score_corpus.py and score_others.py, copies of the shared tools).

    python bench/score.py                 # the figures
    python bench/score.py --misses        # and the misses of the WORK part only
    python bench/score.py --rules DIR     # with an operator's rule files before the shipped ones

For the other projects' corpus it also prints the recipient recall without the files that are
delay warnings (their scorer counts a recipient only from a row of kind `bounce`), and the
recall that counts a recipient named by a row of kind `delay` as found too (a delay warning is
reported with its recipients, as a soft row of kind `delay`: never a bounce, so never counted
toward a suppression).

The validation part is scored, never shown: its misses are not printed by design (rules are
written from the work part; the gap between the parts measures overfitting).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from reconciler.analysis import analyse
from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules
from reconciler.report.results import result_rows, row_json

TESTS = Path(__file__).resolve().parent.parent / "tests"
CORPUS = TESTS / "corpus"
SCOPES = ("work", "validation", "whole")
SISIMAI_KEYS = ("hard_soft_none_acc", "false_hard_rows", "reason_acc", "recipient_recall")
OTHERS_KEYS = (
    "recipient_recall",
    "recall_without_delays",
    "recall_delays_found",
    "hard_recall",
    "false_hard",
    "not_bounce_fp",
)


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def label_files(corpus: Path) -> list[str]:
    with (corpus / "labels.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line)["file"] for line in handle if line.strip()]


def scoped(files: list[str], scope: str) -> list[str]:
    part = _load("corpus_split", TESTS / "corpus_split.py").part
    return [f for f in files if scope == "whole" or part(f) == scope]


def predict(corpus: Path, files: list[str], out: Path, rules: Classifier) -> None:
    """`classify --json` rows of every labelled file, as the CLI prints them."""
    with out.open("w", encoding="utf-8") as handle:
        for name in files:
            analysis = analyse((corpus / name).read_bytes(), rules, None, 0)
            for row in result_rows(name, analysis):
                handle.write(json.dumps(row_json(row)) + "\n")


def score_sisimai(pred: Path, files: list[str]) -> dict[str, Any]:
    scorer = _load("score_corpus", CORPUS / "score_corpus.py")
    labels = scorer.load_labels(str(CORPUS / "sisimai" / "labels.jsonl"), set(files))
    result: dict[str, Any] = scorer.score(labels, scorer.load_preds(str(pred)), 200)
    return result


def reason_misses(pred: Path, files: list[str]) -> list[str]:
    """Work-part rows whose reason or class differs from the label: file, recipient, label,
    prediction and deciding rule."""
    scorer = _load("score_corpus", CORPUS / "score_corpus.py")
    labels = scorer.load_labels(str(CORPUS / "sisimai" / "labels.jsonl"), set(files))
    preds = scorer.load_preds(str(pred))
    out = []
    for label in labels:
        got = {str(p.get("recipient") or "").lower(): p for p in preds.get(label["file"], [])}
        for row in label["results"]:
            p = got.get(str(row.get("recipient") or "").lower())
            want = f"{row['reason']}/{scorer.label_class(row)}"
            have = f"{p['reason']}/{scorer.pred_class(p)} {p['rule']}" if p else "<none>"
            if p is None or want.split("/") != have.split(" ", maxsplit=1)[0].split("/"):
                out.append(f"{label['file']} {row.get('recipient')} {want} -> {have}")
    return out


def score_others(pred: Path, files: list[str], show: bool) -> tuple[dict[str, Any], list[str]]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as only:
        only.write("\n".join(files) + "\n")
    command = [sys.executable, str(CORPUS / "score_others.py"), "--json"]
    command += ["--labels", str(CORPUS / "others" / "labels.jsonl"), "--only", only.name]
    command += ["--pred", str(pred)] + (["--show"] if show else [])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    Path(only.name).unlink()
    first, _, rest = done.stdout.partition("\n")
    result: dict[str, Any] = json.loads(first)
    return result, [line for line in rest.splitlines() if line.strip()]


def delay_warnings(pred: Path) -> set[str]:
    """Files every result of which is a delay warning (kind `delay`): the other projects'
    scorer counts a recipient as found only from rows of kind `bounce`, and a delay warning is
    never reported as one here (it never counts toward suppression)."""
    kinds: dict[str, set[str]] = {}
    with pred.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            kinds.setdefault(row["file"], set()).add(row["kind"])
    return {name for name, seen in kinds.items() if seen == {"delay"}}


def as_bounces(pred: Path, out: Path) -> Path:
    """A copy of the predictions where rows of kind `delay` read as kind `bounce` (for the
    recall that counts a delay warning's recipients as found; nothing else is read from it)."""
    with pred.open(encoding="utf-8") as source, out.open("w", encoding="utf-8") as target:
        for line in source:
            row = json.loads(line)
            if row["kind"] == "delay":
                row["kind"] = "bounce"
            target.write(json.dumps(row) + "\n")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="show the work part's misses")
    parser.add_argument(
        "--rules", type=Path, metavar="DIR", help="operator rule files, before the shipped ones"
    )
    args = parser.parse_args()
    rules = Classifier(load_rules(args.rules).rules)
    with tempfile.TemporaryDirectory() as tmp:
        figures: dict[str, dict[str, dict[str, Any]]] = {"sisimai": {}, "others": {}}
        shown: list[str] = []
        for corpus_name in ("sisimai", "others"):
            corpus = CORPUS / corpus_name
            files = label_files(corpus)
            pred = Path(tmp) / f"{corpus_name}.jsonl"
            predict(corpus, files, pred, rules)
            for scope in SCOPES:
                subset = scoped(files, scope)
                show = args.misses and scope == "work"
                if corpus_name == "sisimai":
                    result = score_sisimai(pred, subset)
                    if show:
                        shown += [f"sisimai {m}" for m in result["misses"]]
                        shown += [f"sisimai {c}" for c in result["top_reason_confusions"]]
                        shown += [f"sisimai {r}" for r in reason_misses(pred, subset)]
                else:
                    result, lines = score_others(pred, subset, show)
                    shown += [f"others {line.strip()}" for line in lines]
                    delays = delay_warnings(pred)
                    kept = [f for f in subset if f not in delays]
                    result["recall_without_delays"] = score_others(pred, kept, False)[0][
                        "recipient_recall"
                    ]
                    delays_found = as_bounces(pred, Path(tmp) / "delays-found.jsonl")
                    found = score_others(delays_found, subset, False)[0]
                    result["recall_delays_found"] = found["recipient_recall"]
                result["files"] = len(subset)
                figures[corpus_name][scope] = result
    for corpus_name, keys in (("sisimai", SISIMAI_KEYS), ("others", OTHERS_KEYS)):
        print(f"{corpus_name:8} {'':22}" + "".join(f"{s:>12}" for s in SCOPES))
        for key in ("files", *keys):
            values = [figures[corpus_name][s].get(key) for s in SCOPES]
            print(f"{'':8} {key:22}" + "".join(f"{v!s:>12}" for v in values))
    for line in shown:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
