"""The `[verp]` section: native signing keys and the BounceHandler-compatible table.

Apart from `config.sections` because its rules follow `reconciler.verp` (key id and prefix
alphabets, the 64-character budget), not the rest of the file.
"""

from __future__ import annotations

import hmac
import re
from pathlib import Path

from reconciler import verp
from reconciler.config.read import Table, field_default
from reconciler.settings import BounceHandlerSettings, VerpFormat, VerpKey, VerpSettings

__all__ = ["build_verp"]

_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}", re.I)
_SHIPPED_BH_KEY = b"MediawikiVERP"


def build_verp(t: Table) -> VerpSettings:
    """Validate `[verp]` and its `[[verp.keys]]` and `[verp.bouncehandler]` tables."""
    fmt = VerpFormat(t.string("format", "native", choices=tuple(VerpFormat)))
    prefix, separator = _prefix(t)
    realms_file = t.optional_path("realms_file")
    settings = VerpSettings(
        domain=_domain(t, "domain"),
        keys=_keys(t, fmt),
        format=fmt,
        prefix=prefix,
        separator=separator,
        accept_days=t.integer("accept_days", 14, 1, 365),
        future_skew_seconds=t.integer("future_skew_seconds", 300, 0, 86_400),
        search_headers=_search_headers(t),
        bouncehandler=(
            t.table("bouncehandler").guard(_bouncehandler, None) if t.has("bouncehandler") else None
        ),
        realms=_realms(t, realms_file),
        realms_file=realms_file,
    )
    if fmt is VerpFormat.BOUNCEHANDLER and not t.has("bouncehandler"):
        raise t.fail("format", '"bouncehandler" needs a [verp.bouncehandler] table')
    t.finish()
    return settings


def _prefix(t: Table) -> tuple[str, str]:
    prefix = t.string("prefix", "bounces")
    separator = t.string("separator", "+", choices=verp.SEPARATORS)
    if not verp.PREFIX_PATTERN.fullmatch(prefix):
        raise t.fail(
            "prefix",
            f'expected lower-case letters, digits, "-" or "." (not first or last), got "{prefix}"',
        )
    if len(prefix) + len(separator) > verp.MAX_PREFIX_LENGTH:
        raise t.fail(
            "prefix",
            f"too long: prefix and separator may take at most {verp.MAX_PREFIX_LENGTH} "
            "characters, so that every token fits the 64-character local part",
        )
    return prefix, separator


def _realms(t: Table, realms_file: Path | None) -> tuple[str, ...]:
    """`realms` and the lines of `realms_file` (a MediaWiki *.dblist), lower case, each once;
    two whose references collide are one error naming both.  Each problem is noted (the load
    fails at the end, with every problem of the file listed)."""
    found: list[str] = []
    for realm in t.strings("realms", ()):
        try:
            found.append(verp.check_realm(realm))
        except ValueError as err:
            t.note("realms", str(err))
    if realms_file is not None:
        try:
            found += verp.parse_realm_list(realms_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeError) as err:
            t.note("realms_file", f"cannot read {realms_file}: {err}")
        except ValueError as err:
            t.note("realms_file", f"{realms_file}, {err}")
    realms = tuple(dict.fromkeys(found))
    try:
        verp.realm_index(realms)
    except verp.RealmCollision as err:
        t.note("realms", str(err))
    return realms


def _keys(t: Table, fmt: VerpFormat) -> tuple[VerpKey, ...]:
    tables = t.tables("keys")
    keys = tuple(key for key in (k.guard(_verp_key, None) for k in tables) if key is not None)
    if fmt is VerpFormat.NATIVE and not tables:
        raise t.fail("keys", 'format "native" needs at least one [[verp.keys]] entry')
    for index, key in enumerate(keys):
        if key.id in (k.id for k in keys[:index]):
            raise t.fail(f"keys[{index}].id", f'duplicate key id "{key.id}"')
    return keys


def _domain(t: Table, key: str, *, required: bool = True) -> str:
    value = t.string(key) if required else (t.optional_string(key) or "")
    if value and not _DOMAIN.fullmatch(value):
        raise t.fail(key, f'expected a domain name such as "bounces.example.org", got "{value}"')
    return value.lower()


def _search_headers(t: Table) -> tuple[str, ...]:
    headers = tuple(
        h.lower()
        for h in t.strings("search_headers", field_default(VerpSettings, "search_headers"))
    )
    for header in headers:
        if header not in verp.SEARCHABLE_HEADERS:
            known = ", ".join(verp.SEARCHABLE_HEADERS)
            raise t.fail("search_headers", f'unknown header "{header}" (known: {known})')
    if not headers or len(set(headers)) != len(headers):
        raise t.fail("search_headers", "expected a non-empty list without repeats")
    return headers


def _verp_key(t: Table) -> VerpKey:
    key_id = t.string("id")
    if not verp.KEY_ID_PATTERN.fullmatch(key_id):
        raise t.fail("id", f'expected one lower-case letter or digit, got "{key_id}"')
    secret = t.secret("secret", literal=True)
    if secret.resolved and len(secret.value) < verp.MIN_KEY_BYTES:
        raise t.fail(
            "secret",
            f"the key has {len(secret.value)} bytes; native keys need at "
            f"least {verp.MIN_KEY_BYTES} (try: openssl rand -hex 32)",
        )
    t.finish()
    return VerpKey(id=key_id, secret=secret.value, secret_env=secret.env, secret_file=secret.file)


def _bouncehandler(t: Table) -> BounceHandlerSettings:
    secret = t.secret("secret", literal=True)
    algorithm = t.string("algorithm", "md5")
    try:
        hmac.new(b"probe", b"", algorithm)
    except ValueError as err:
        raise t.fail("algorithm", f'unknown hash algorithm "{algorithm}"') from err
    prefix = t.string("prefix", "wiki")
    if "-" in prefix or "@" in prefix or not prefix.isprintable() or " " in prefix:
        raise t.fail("prefix", f'may not contain "-", "@" or spaces, got "{prefix}"')
    if not secret.resolved:
        pass  # not read by this command, or missing (a problem noted already)
    elif secret.value == _SHIPPED_BH_KEY:
        t.warn("secret", "is BounceHandler's shipped default key: anyone can forge tokens")
    elif len(secret.value) < verp.MIN_KEY_BYTES:
        t.warn(
            "secret", f"is only {len(secret.value)} bytes long; use at least {verp.MIN_KEY_BYTES}"
        )
    settings = BounceHandlerSettings(
        secret=secret.value,
        prefix=prefix,
        algorithm=algorithm,
        domain=_domain(t, "domain", required=False),
        accept_seconds=t.integer("accept_seconds", 3 * 24 * 3600, 60, 365 * 86_400),
        secret_env=secret.env,
        secret_file=secret.file,
    )
    t.finish()
    return settings
