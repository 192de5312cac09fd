"""Terminal output with rich: tables, reports, progress bars; and the `--json` shapes.

rich is imported inside this package only (STYLE 1).  Output stays readable without colour and
when piped: rich detects both by itself.  Submodules: `console` (console, progress bar),
`classify` (classify, explain, rules), `ops` (poll, dry-run, mode, decisions, suppressions),
`overview` (`report`), `trail` (`user show`, `status`), `gather` (the read-only queries
behind them) and `shapes` (their JSON, documented in docs/cli.md).
"""

from __future__ import annotations

from reconciler.report.classify import print_classify, print_explain, print_rules
from reconciler.report.console import make_console, print_notice, progress, working
from reconciler.report.gather import gather_health, gather_overview, gather_trail
from reconciler.report.ops import (
    print_decisions,
    print_mode,
    print_previews,
    print_run,
    print_suppressions,
)
from reconciler.report.overview import print_overview
from reconciler.report.shapes import health_json, overview_json, trail_json
from reconciler.report.trail import print_health, print_trail

__all__ = [
    "gather_health",
    "gather_overview",
    "gather_trail",
    "health_json",
    "make_console",
    "overview_json",
    "print_classify",
    "print_decisions",
    "print_explain",
    "print_health",
    "print_mode",
    "print_notice",
    "print_overview",
    "print_previews",
    "print_rules",
    "print_run",
    "print_suppressions",
    "print_trail",
    "progress",
    "trail_json",
    "working",
]
