"""MediaWiki 1.39's `user` table for the tests that run the MediaWiki action and the
BounceHandler import against the machine's MariaDB.

The DDL is the release's own (maintenance/tables-generated.sql of MediaWiki 1.39, as Debian's
mediawiki 1:1.39.17 ships it; MediaWiki is GPL-2.0-or-later), with the table options an
installer writes: MediaWiki's default `DEFAULT CHARSET=binary` (user_email a byte string) or a
character set (user_email TINYTEXT, read back as text).
"""

from __future__ import annotations

USER_TABLE = (
    "CREATE TABLE {table} ("
    "user_id INT UNSIGNED AUTO_INCREMENT NOT NULL, "
    "user_name VARBINARY(255) DEFAULT '' NOT NULL, "
    "user_real_name VARBINARY(255) DEFAULT '' NOT NULL, "
    "user_password TINYBLOB NOT NULL, "
    "user_newpassword TINYBLOB NOT NULL, "
    "user_newpass_time BINARY(14) DEFAULT NULL, "
    "user_email TINYTEXT NOT NULL, "
    "user_touched BINARY(14) NOT NULL, "
    "user_token BINARY(32) DEFAULT '' NOT NULL, "
    "user_email_authenticated BINARY(14) DEFAULT NULL, "
    "user_email_token BINARY(32) DEFAULT NULL, "
    "user_email_token_expires BINARY(14) DEFAULT NULL, "
    "user_registration BINARY(14) DEFAULT NULL, "
    "user_editcount INT UNSIGNED DEFAULT NULL, "
    "user_password_expires VARBINARY(14) DEFAULT NULL, "
    "UNIQUE INDEX user_name (user_name), "
    "INDEX user_email_token (user_email_token), "
    "INDEX user_email (user_email(50)), "
    "PRIMARY KEY(user_id)"
    ") ENGINE=InnoDB, DEFAULT CHARSET={charset}"
)

# The columns a new account fills (the rest have defaults), as MediaWiki's User::addToDatabase.
INSERT_USER = (
    "INSERT INTO {table} (user_id, user_name, user_password, user_newpassword, user_email, "
    "user_touched, user_email_authenticated) VALUES (%s, %s, '', '', %s, '20240101000000', %s)"
)


def user_table(table: str, charset: str = "binary") -> str:
    """CREATE TABLE for `table` (quoted by the caller: `db`.user or `prefix_user`)."""
    return USER_TABLE.format(table=table, charset=charset)


def insert_user(table: str) -> str:
    """INSERT of one account: user_id, user_name, user_email, user_email_authenticated."""
    return INSERT_USER.format(table=table)


def as_bytes(value: str | bytes) -> bytes:
    """A column read back as bytes (binary table options) or text (a character set)."""
    return value.encode() if isinstance(value, str) else value
