"""Which wiki database serves a realm (`[actions.mediawiki]` of a farm): pure, no I/O.

An explicit `wikis` entry wins; else a `url` with ``{realm}`` is a template for every realm; a
`url` without it is one wiki (for its `realm`, or for every realm when none is set).  Nothing
else is guessed: a realm that none of them serves has no database, and a decision in it is
withheld with the reason `unserved` gives.
"""

from __future__ import annotations

from reconciler.settings import REALM_TEMPLATE as TEMPLATE
from reconciler.settings import MediaWikiSettings

__all__ = ["database_for", "searchable", "unserved"]


def database_for(settings: MediaWikiSettings, realm: str) -> str | None:
    """The URL of the database that serves `realm`, or None."""
    for name, url in settings.wikis:
        if name == realm:
            return url
    if not settings.url:
        return None
    if TEMPLATE in settings.url:
        return settings.url.replace(TEMPLATE, realm) if realm else None
    return settings.url if settings.realm in (None, realm) else None


def unserved(settings: MediaWikiSettings, realm: str) -> str | None:
    """Why no database serves `realm` (None when one does), one line for the decision."""
    if database_for(settings, realm) is not None:
        return None
    if not realm:
        return "the token names no realm, and [actions.mediawiki] has no single wiki for it"
    return f"realm {realm} has no database in [actions.mediawiki] (add it to wikis)"


def searchable(settings: MediaWikiSettings, realms: tuple[str, ...]) -> list[tuple[str, str]]:
    """(realm, URL) of every wiki whose users can be searched: the `wikis`, a one-wiki `url`
    with its `realm`, and a template for each of `realms` (the `[verp]` realm list)."""
    found = dict(settings.wikis)
    if settings.url and TEMPLATE not in settings.url and settings.realm:
        found.setdefault(settings.realm, settings.url)
    if TEMPLATE in settings.url:
        for realm in realms:
            found.setdefault(realm, settings.url.replace(TEMPLATE, realm))
    return sorted(found.items())
