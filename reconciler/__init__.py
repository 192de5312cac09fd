"""Bounce reconciler."""

# Before any module of the package is imported: never run compiled modules older than their
# sources (see _native.py; the one thing here besides the version).
from reconciler._native import guard as _guard

_guard()

__version__ = "0.1.0"
