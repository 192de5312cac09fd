"""The code tables of a rule file: enhanced status codes and SMTP reply codes → a reason.

A rule file may carry, beside its `rules:`, two tables that decide a result no rule decided:

    status_codes:                      # RFC 3463 and the IANA registry, first match wins
      - {code: X.1.1, reason: userunknown, title: Bad destination mailbox address, ref: RFC 3463}
      - {code: 4.1.1, reason: userunknown, severity: soft, title: ..., ref: RFC 3463}
    reply_codes:                       # RFC 5321 reply codes, optionally per SMTP stage
      - {code: '550', stage: [rcpt], reason: userunknown, title: ..., ref: RFC 5321}

`X` in a status code stands for the class (4 or 5) and a detail `x` for any detail (a
subject's row for the details no row names: RFC 3463 section 2, the subject "classifies the
status"); `x` in a reply code stands for one digit.  Each
row becomes a rule (id `status-x.1.1`, `reply-550-rcpt`) that only applies to final failures;
rules.py validates it like any rule and places every table after every rule list: the status
table first, then the reply table.  This module only turns rows into rule mappings.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["TABLE_KEYS", "row_rule", "table_rule_id"]

TABLE_KEYS = ("status_codes", "reply_codes")  # in the order they apply
_ROW_KEYS = {"code", "reason", "title", "ref", "severity", "fault", "stage"}
_REQUIRED = ("code", "reason", "title", "ref")
_STATUS_CODE_RE = re.compile(r"^[45X]\.\d{1,3}\.(\d{1,3}|x)$")
_REPLY_CODE_RE = re.compile(r"^[45][0-9x]{2}$")


def _stages(row: dict[str, Any]) -> list[str]:
    value = row.get("stage")
    if value is None:
        return []
    return [str(v).lower() for v in (value if isinstance(value, list) else [value])]


def table_rule_id(key: str, row: dict[str, Any]) -> str:
    """`status-x.1.1`, `status-4.1.1`, `reply-550`, `reply-5xx-mail`."""
    prefix = "status" if key == "status_codes" else "reply"
    return "-".join([prefix, str(row.get("code", "")).lower(), *_stages(row)])


def row_rule(key: str, row: object) -> tuple[dict[str, Any] | None, str | None]:
    """The rule mapping of one table row, or (None, the problem with the row)."""
    if not isinstance(row, dict):
        return None, "each row must be a mapping"
    unknown = set(row) - _ROW_KEYS
    if unknown:
        return None, f"unknown key(s) {', '.join(sorted(unknown))}"
    missing = [name for name in _REQUIRED if name not in row]
    if missing:
        return None, f"missing key(s) {', '.join(missing)}"
    code = str(row["code"])
    status = key == "status_codes"
    if not (_STATUS_CODE_RE if status else _REPLY_CODE_RE).match(code):
        return None, f"code {code!r} is not a valid {'status' if status else 'reply'} code"
    match: dict[str, Any] = {"kind": "bounce"}
    if status:
        klass, subject, detail = code.split(".")
        glob = ("*" if klass == "X" else klass, subject, "*" if detail == "x" else detail)
        match["status"] = [".".join(glob)]
    else:
        match["reply_code"] = [code]
    if "stage" in row:
        match["stage"] = _stages(row)
    rule: dict[str, Any] = {
        "id": table_rule_id(key, row),
        "description": f"{code} {row['title']} ({row['ref']})",
        "match": match,
        "reason": row["reason"],
    }
    for name in ("severity", "fault"):
        if name in row:
            rule[name] = row[name]
    return rule, None
