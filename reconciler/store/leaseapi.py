"""Store methods for worker leases: one worker drains a mailbox at a time (scale-out).

A mixin of `Store`.
"""

from __future__ import annotations

__all__ = ["LeaseStore"]


class LeaseStore:
    """Leases on mailboxes held in the database."""
