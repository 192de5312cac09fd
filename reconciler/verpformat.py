"""The VERP token formats, a leaf of its own: the records of the pure stages name it (a
`VerpMatch` says which format matched), and importing it must not import the settings (22
dataclasses, some 20 ms of a one-file `classify`; issue 16).  `reconciler.settings` re-exports
it: `reconciler.settings.VerpFormat` is the same class."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["VerpFormat"]


class VerpFormat(StrEnum):
    """The VERP token formats (docs/verp.md): which one `verp make` writes."""

    NATIVE = "native"  # signed, expiring, case-insensitive; binds the recipient
    BOUNCEHANDLER = "bouncehandler"  # MediaWiki BounceHandler's (a case-sensitive MAC)
