"""Command line: argument parsing, then one call into the stage that does the work."""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `reconciler` console script; returns the exit code."""
    return 0
