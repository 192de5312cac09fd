"""Store queries for reports, user evidence trails and health (`report`, `user show`, `status`).

A mixin of `Store`; every method returns records, never rows.
"""

from __future__ import annotations

__all__ = ["ReportStore"]


class ReportStore:
    """Read-only queries for the operator's reports."""
