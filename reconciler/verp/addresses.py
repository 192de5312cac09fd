"""`getaddresses` of the email package, safe on any header a stranger writes.

The email package parses a comment inside a comment by recursion, so `To: ((((…` a thousand
deep raised RecursionError out of the analysis (issue 12): the message was retried, then
quarantined, although it may be a genuine bounce.  Values nested no deeper than
`_MAX_DEPTH` go to the email package as they are (same results); deeper ones lose their
comments first, by a loop that follows the package's own rules (a backslash quotes the next
character, a quoted string holds no comment, `)` or CR closes one).  A comment never holds
the address itself, only a display name, so the addresses found are the ones intended.
"""

from __future__ import annotations

__all__ = ["getaddresses"]

_MAX_DEPTH = 50  # the email package recurses about twice per level; Python allows 1,000


def _depth(value: str) -> int:
    """The deepest nesting of "(" in `value`, counted roughly (an upper bound is enough)."""
    if "(" not in value:
        return 0
    depth = deepest = 0
    for char in value:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")" and depth:
            depth -= 1
    return deepest


def without_comments(value: str) -> str:
    """`value` with each comment (nested ones included) replaced by one space."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in value:
        if escaped:  # inside a comment or a quoted string only, as in the email package
            escaped = False
            if not depth:
                out.append(char)
        elif char == "\\" and (depth or quoted):
            escaped = True
            if not depth:
                out.append(char)
        elif depth:
            if char == "(":
                depth += 1
            elif char in ")\r":
                depth -= 1
        elif quoted:
            quoted = char not in '"\r'
            out.append(char)
        elif char == "(":
            depth = 1
        else:
            quoted = char == '"'
            out.append(char)
    return "".join(out)


def getaddresses(values: list[str]) -> list[tuple[str, str]]:
    """(display name, address) pairs of header values, as `email.utils.getaddresses`."""
    # imported by the first message checked: the configuration imports this stage's package
    # (its realms), and most starts (`classify` without [verp]) check no address
    from email.utils import getaddresses as email_getaddresses

    safe = [value if _depth(value) <= _MAX_DEPTH else without_comments(value) for value in values]
    return email_getaddresses(safe)
