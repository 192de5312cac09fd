"""The exception hierarchy: one base, one subclass per stage (STYLE 2.8).

Expected outcomes ("not a bounce", "no VERP token", "unknown user") are values, never
exceptions.  These are for failures: bad configuration, an unreachable mailbox, a rule file that
does not load, a database that refuses a write.
"""

__all__ = [
    "ActionError",
    "ConfigError",
    "ParseError",
    "ReconcilerError",
    "RuleError",
    "SourceError",
    "SourceUnavailable",
    "StoreError",
    "VerpError",
]


class ReconcilerError(Exception):
    """Base of every error the reconciler raises on purpose."""


class ConfigError(ReconcilerError):
    """The configuration file or a value in it is invalid; the message names the key.

    One error may carry several problems (`check-config` reports every mistake of a file in
    one run): `problems` holds one line each, and the message is those lines.
    """

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems: tuple[str, ...] = problems


class SourceError(ReconcilerError):
    """A mail source (IMAP server, folder) could not be read or written."""


class SourceUnavailable(SourceError):
    """The server (or the token endpoint) could not be reached or dropped the connection:
    worth a retry later, with backoff."""


class ParseError(ReconcilerError):
    """A message could not be parsed (used inside the parser; never escapes parse())."""


class RuleError(ReconcilerError):
    """A rule file is invalid; the message names file, line and problem."""


class StoreError(ReconcilerError):
    """The database refused an operation."""


class VerpError(ReconcilerError):
    """VERP configuration is unusable (for example a key that is too short)."""


class ActionError(ReconcilerError):
    """An action (suppress, webhook, command, mediawiki) failed."""
