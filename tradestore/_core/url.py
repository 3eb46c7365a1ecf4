"""Which engine a store location names: a path or ``sqlite:///...`` is SQLite,
``postgresql://...`` is PostgreSQL, nothing is ``$DATABASE_URL`` then ``trades.db``.

A URL's password never leaves this module unmasked except to the driver: ``shown``
is what errors, logs, ``status`` and ``repr`` print.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tradestore.errors import ValidationError

DEFAULT_PATH = "trades.db"
URL_VARIABLE = "DATABASE_URL"
SQLITE, POSTGRESQL = "sqlite", "postgresql"
PG_SCHEMES = ("postgresql", "postgres")
MASK = "******"
INSTALL_HINT = "pip install 'tradestore[postgres]'"
# A URL's user:password@: a password may hold an unencoded "#", "?", "/" or "@" (libpq
# reads "#" and "?" as part of it), so the mask runs from the user's ":" to the LAST "@"
# (when a query value holds an "@" too, more than the password is masked: never less)
_USER_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/?#]*:).*@", re.S)
# (ssl)password=... in a URL's query string or a key=value connection string ('quoted' too)
_PASSWORD_PARAM = re.compile(
    r"(?i)\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'(?=\s|$)|[^&\s]*)")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class Target:
    """Where a store lives.

    Attributes:
      engine: "sqlite" or "postgresql".
      location: the SQLite path (or ":memory:"), or the full PostgreSQL URL.
      shown: the same with any password masked: the only form put in messages.
    """

    engine: str
    location: Any = field(repr=False)  # str or os.PathLike for SQLite, a str URL otherwise
    shown: str


def password_of(url: str) -> str | None:
    """The password ``mask_url`` hides (the netloc's, else a password= parameter), so
    that a driver's message quoting it can be scrubbed too."""
    match = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^:/?#]*:(.*)@", str(url), re.S)
    if match is None:
        match = _PASSWORD_PARAM.search(str(url))
        value = match.group(2).strip("'") if match else None
    else:
        value = match.group(1)
    return value or None


def mask_url(url: str) -> str:
    """``url`` with its password (in the netloc, as password=... or in a key=value
    connection string) replaced by ******."""
    text = _USER_PASSWORD.sub(rf"\g<1>{MASK}@", str(url), count=1)
    return _PASSWORD_PARAM.sub(rf"\g<1>{MASK}", text)


def parse_target(value: str | os.PathLike[str] | None = None) -> Target:
    """The engine and location for ``value`` (a path, a URL, or None: the environment)."""
    if value is None:
        value = os.environ.get(URL_VARIABLE) or DEFAULT_PATH
    if isinstance(value, os.PathLike):
        return Target(SQLITE, value, str(value))
    if not isinstance(value, str):
        return Target(SQLITE, value, repr(value))  # to_path refuses it with its own message
    scheme = _SCHEME.match(value)
    if scheme is None:
        return Target(SQLITE, value, value)
    name = scheme.group(1).lower()
    if name in PG_SCHEMES:
        return Target(POSTGRESQL, value, mask_url(value))
    if name == SQLITE:
        rest = value[len(scheme.group(0)):]
        if not rest.startswith("/"):
            raise ValidationError(f"url: {mask_url(value)!r}: a SQLite URL is sqlite:///path "
                                  "(three slashes; four for an absolute path) or "
                                  "sqlite:///:memory:", field="url", value=mask_url(value))
        path = unquote(rest[1:])
        if not path:
            raise ValidationError(f"url: {value!r} names no file (sqlite:///trades.db, "
                                  "sqlite:////abs/path.db or sqlite:///:memory:)",
                                  field="url", value=value)
        return Target(SQLITE, path, path)
    shown = mask_url(value)
    raise ValidationError(f"url: {shown!r}: unknown scheme {name!r}; use a file path, "
                          "sqlite:///path, sqlite:///:memory: or postgresql://user@host/db",
                          field="url", value=shown)


def is_memory(target: Target) -> bool:
    return target.engine == SQLITE and str(target.location) == ":memory:"


def sqlite_path(target: Target) -> Path | None:
    """The file of a SQLite target (None for memory and PostgreSQL)."""
    if target.engine != SQLITE or is_memory(target):
        return None
    return Path(target.location)

