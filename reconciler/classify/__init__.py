"""The classify stage: rule files (`rules`, with their code tables in `codetable`), RE2
patterns (`patterns`) and the matcher (`match`: ParsedBounce → Classification).

The names below are re-exported for callers outside the stage; the modules of the package
import each other directly, never this package.
"""

from __future__ import annotations

from reconciler.classify.match import (
    FALLBACK_RULE_ID,
    Classifier,
    classify,
    derive_fault,
    derive_severity,
    explain,
)
from reconciler.classify.rules import RuleSet, load_rule_files, load_rules, shipped_rules_dir

__all__ = [
    "FALLBACK_RULE_ID",
    "Classifier",
    "RuleSet",
    "classify",
    "derive_fault",
    "derive_severity",
    "explain",
    "load_rule_files",
    "load_rules",
    "shipped_rules_dir",
]
