"""Actions: what carries out a decision that acts, and undoes it (STYLE 2.7).  All I/O here.

Every action has `describe` (always), `apply` (only for a decision that is applied) and `undo`
(see `Action`).  `build_actions` makes the enabled ones from the settings, in their order;
`carry_out` records a decision and applies it when its disposition says so; `apply_pending`
applies "would" decisions on the operator's request; `undo` and `reinstate` reverse applied
decisions; `retry_failed` runs failed or interrupted actions again; `deliver_due` sends the
webhook outbox.  The MediaWiki adapter (which can also
tell a user's current address) is `reconciler.actions.mediawiki.MediaWikiAction`, imported on
demand because PyMySQL is optional.
"""

from __future__ import annotations

from reconciler.actions.base import Action, AddressBook, RealmGate
from reconciler.actions.command import CommandAction
from reconciler.actions.run import (
    PENDING_GRACE,
    apply_pending,
    apply_recorded,
    carry_out,
    reinstate,
    retry_failed,
    undo,
)
from reconciler.actions.suppress import SuppressAction
from reconciler.actions.webhook import WebhookAction, deliver_due
from reconciler.errors import ActionError
from reconciler.settings import ActionsSettings, MediaWikiSettings
from reconciler.store import Store

__all__ = [
    "PENDING_GRACE",
    "Action",
    "AddressBook",
    "CommandAction",
    "RealmGate",
    "SuppressAction",
    "WebhookAction",
    "apply_pending",
    "apply_recorded",
    "build_actions",
    "carry_out",
    "deliver_due",
    "reinstate",
    "retry_failed",
    "undo",
]


def _mediawiki(settings: MediaWikiSettings) -> Action:
    """Imported on demand: PyMySQL is an optional dependency (the `mysql` extra)."""
    try:
        from reconciler.actions.mediawiki import MediaWikiAction
    except ImportError as err:
        raise ActionError(
            "the mediawiki action needs PyMySQL: pip install 'reconciler[mysql]'"
        ) from err
    return MediaWikiAction(settings)


def _build(name: str, settings: ActionsSettings, store: Store, show_address: bool) -> Action:
    if name == "suppress":
        return SuppressAction(store, show_address=show_address)
    if name == "webhook" and settings.webhook is not None:
        return WebhookAction(store, settings.webhook)
    if name == "command" and settings.command is not None:
        return CommandAction(store, settings.command)
    if name == "mediawiki" and settings.mediawiki is not None:
        return _mediawiki(settings.mediawiki)
    raise ActionError(f'action "{name}" is enabled but not configured ([actions.{name}])')


def build_actions(
    settings: ActionsSettings, store: Store, *, show_address: bool = False
) -> list[Action]:
    """The enabled actions, in the configured order (`show_address`: unmasked in describe)."""
    return [_build(name, settings, store, show_address) for name in settings.enabled]
