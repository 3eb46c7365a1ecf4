"""Typed settings: a key, a value stored as text, and the type that reads it back.

Types are str, int, float, bool, decimal and json; the seeds' spellings are taken
too (``string``, ``integer``, ``boolean``, ``number``, any case: TYPE_ALIASES) and
stored under our name. The type is inferred from the Python value when not given
(bool before int, since ``True`` is an int). Every change writes an audit event
(tradestore._core.audit) in the same transaction, a secret's value masked. Secret
settings never show their value in ``repr`` or the CLI; the database file (mode
0600) is their only protection, so API keys are better kept in the environment.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
import operator
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Sequence, TypeVar, overload

from tradestore._core.audit import record
from tradestore._core.codec import (MAX_JSON_INT, MIN_JSON_INT, canonical_json, check_unicode,
                                    dec_in, dec_out, is_int, optional_text, show, to_decimal,
                                    to_flag, ts_in, ts_out)
from tradestore._core.hints import Engine
from tradestore.errors import NotFoundError, ValidationError

VALUE_TYPES = ("str", "int", "float", "bool", "decimal", "json")
# The seeds' words for our types (PaperProfit's value_type "string", JSON Schema's names).
TYPE_ALIASES = {"string": "str", "integer": "int", "boolean": "bool", "number": "float"}
MASK = "******"
KEY_PATTERN = re.compile(r"[A-Za-z0-9_.:/@-]{1,200}")
TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}
_MISSING = object()
T = TypeVar("T")


@dataclass(frozen=True, repr=False)
class Setting:
    """One setting.

    Attributes:
      id: stable row id.
      key: the name (letters, digits and ``_ . : / @ -``).
      value: the typed value (str, int, float, bool, Decimal, or JSON data).
      value_type: one of str, int, float, bool, decimal, json.
      description: free text or None.
      secret: when True, ``repr`` and the CLI show ``******`` instead of the value.
      created_at, updated_at: aware UTC datetimes.
    """

    id: int
    key: str
    value: object
    value_type: str
    description: str | None
    secret: bool
    created_at: _dt.datetime
    updated_at: _dt.datetime

    @property
    def display_value(self) -> str:
        """The value as the CLI prints it: masked when secret."""
        if self.secret:
            return MASK
        return str(self.value) if self.value_type == "str" else _encode(self.value,
                                                                         self.value_type)

    def __repr__(self) -> str:
        shown = MASK if self.secret else repr(self.value)
        return (f"Setting(key={show(self.key)}, value={shown}, value_type={show(self.value_type)}, "
                f"secret={self.secret}, description={show(self.description)})")

    __str__ = __repr__

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Setting:
        """The record of one row of this module's SELECTs (stored text decoded)."""
        return cls(row[0], row[1], _decode(row[2], row[3]), row[3], row[4], bool(row[5]),
                   ts_out(row[6]), ts_out(row[7]))


GET_SETTING = """
SELECT id, key, value, value_type, description, secret, created_at, updated_at
FROM settings WHERE key = ?
"""
ALL_SETTINGS = """
SELECT id, key, value, value_type, description, secret, created_at, updated_at
FROM settings ORDER BY key
"""
UPSERT_SETTING = """
INSERT INTO settings (key, value, value_type, description, secret, created_at, updated_at)
VALUES (:key, :value, :value_type, :description, coalesce(:secret, 0), :now, :now)
ON CONFLICT (key) DO UPDATE SET
    value = excluded.value, value_type = excluded.value_type,
    description = coalesce(:description, settings.description),
    secret = coalesce(:secret, settings.secret), updated_at = excluded.updated_at
"""
DELETE_SETTING = "DELETE FROM settings WHERE key = ?"


def infer_type(value: object) -> str:
    """The value_type for a Python value (bool is checked before int)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Integral):  # int, np.int64
        return "int"
    if isinstance(value, numbers.Real) and not isinstance(value, (Decimal, numbers.Rational)):
        return "float"  # float, np.float32
    if isinstance(value, Decimal):
        return "decimal"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (dict, list, tuple)):
        return "json"
    raise ValidationError(
        f"value: {show(value)} ({type(value).__name__}) has no setting type; give str, int, "
        "float, bool, Decimal, dict or list, or name value_type", field="value", value=value)


def _bad(value, value_type, why=""):
    return ValidationError(f"value: {show(value)} is not a valid {value_type}{why}",
                           field="value", value=value)


def convert(value: Any, value_type: str) -> Any:
    """``value`` as ``value_type`` (text is parsed), or ValidationError."""
    if value_type == "str":
        if not isinstance(value, str):
            raise _bad(value, value_type, " (give a string)")
        return check_unicode(value, "value")
    if value_type == "bool":
        if isinstance(value, bool):
            return value
        word = value.strip().lower() if isinstance(value, str) else None
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise _bad(value, value_type, " (true/false, yes/no, on/off, 1/0)")
    if value_type == "int":
        number = None
        if is_int(value):
            number = operator.index(value)
        elif isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9]{1,40}\s*", value):
            number = int(value)
        if number is None or not MIN_JSON_INT <= number <= MAX_JSON_INT:
            raise _bad(value, value_type, f" (a whole number in the signed 64-bit range, "
                                          f"{MIN_JSON_INT} to {MAX_JSON_INT})")
        return number
    if value_type == "float":
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            try:
                real = float(value)
            except (OverflowError, TypeError, ValueError):
                raise _bad(value, value_type, " (too large for a float)") from None
        elif isinstance(value, str):
            try:
                real = float(value)
            except ValueError:
                raise _bad(value, value_type) from None
        else:
            raise _bad(value, value_type)
        if not math.isfinite(real):
            raise _bad(value, value_type, " (must be finite)")
        return real
    if value_type == "decimal":
        return to_decimal(value, "value")
    if value_type == "json":
        if isinstance(value, str):
            try:
                value = json.loads(check_unicode(value, "value"))
            except (ValueError, RecursionError):
                raise _bad(value, value_type, " (text given as json must be JSON)") from None
        try:
            return json.loads(canonical_json(value, "value"))
        except ValidationError:
            raise
        except (TypeError, ValueError, RecursionError) as exc:
            raise _bad(value, value_type, f" ({exc})") from None
    raise ValidationError(f"value_type: {show(value_type)} is not one of {', '.join(VALUE_TYPES)}",
                          field="value_type", value=value_type)


def value_type_of(value_type: str, field: str = "value_type") -> str:
    """Our name for a value type given in our spelling or the seeds' (any case)."""
    word = value_type.strip().lower() if isinstance(value_type, str) else None
    word = TYPE_ALIASES.get(word, word) if word is not None else None
    if word is None or word not in VALUE_TYPES:
        raise ValidationError(
            f"{field}: {show(value_type)} is not one of {', '.join(VALUE_TYPES)} (or "
            f"{', '.join(TYPE_ALIASES)})", field=field, value=value_type)
    return word


def _audit_fields(row) -> dict | None:
    """A stored settings row as the audit trail shows it."""
    if row is None:
        return None
    return {"value": row[2], "value_type": row[3], "description": row[4],
            "secret": bool(row[5])}


def _encode(value, value_type: str) -> str:
    if value_type == "bool":
        return "true" if value else "false"
    if value_type == "float":
        return repr(value)
    if value_type == "decimal":
        return dec_in(value)
    if value_type == "json":
        return canonical_json(value)
    return str(value)


def _decode(text: str, value_type: str):
    if value_type == "bool":
        return text == "true"
    if value_type == "int":
        return int(text)
    if value_type == "float":
        return float(text)
    if value_type == "decimal":
        return dec_out(text)
    if value_type == "json":
        return json.loads(text)
    return text


def check_key(key: str) -> str:
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise ValidationError(f"key: {show(key)} must be 1-200 letters, digits or _ . : / @ -",
                              field="key", value=key)
    return key


class SettingStore:
    """``repo.settings``: typed key-value configuration."""

    def __init__(self, db: Engine):
        self.db = db

    def set(self, key: str, value: Any, *, value_type: str | None = None,
            description: str | None = None, secret: bool | None = None) -> Setting:
        """Store ``value`` under ``key`` (insert or replace) and return the setting.

        ``value_type`` defaults to the type of ``value``; when given, text is parsed
        as that type. ``description`` and ``secret`` left as None keep what an existing
        setting has (a new one is not secret), so updating a secret keeps it secret.
        """
        key = check_key(key)
        if value_type is None:
            value_type = infer_type(value)
        else:
            value_type = value_type_of(value_type)
        typed = convert(value, value_type)
        if secret is not None:
            to_flag(secret, "secret")
        params = {"key": key, "value": _encode(typed, value_type), "value_type": value_type,
                  "description": optional_text(description, "description", max_length=10_000),
                  "secret": None if secret is None else int(secret), "now": ts_in(self.db.now())}
        with self.db.transaction() as conn:
            before = conn.execute(GET_SETTING, (key,)).fetchone()
            conn.execute(UPSERT_SETTING, params)
            after = conn.execute(GET_SETTING, (key,)).fetchone()
            secret_value = ("value",) if after[5] or (before and before[5]) else ()
            record(conn, "setting", key, "update" if before else "create",
                   _audit_fields(before), _audit_fields(after), masked=secret_value,
                   now=params["now"])
            return Setting.from_row(after)

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """The typed value; ``default`` if missing (NotFoundError when no default)."""
        row = self.db.query_one("SELECT value, value_type FROM settings WHERE key = ?",
                                (check_key(key),))
        if row is None:
            if default is _MISSING:
                raise NotFoundError(f"no setting {show(key)}")
            return default
        return _decode(row[0], row[1])

    def get_typed(self, key: str, value_type: str | None = None, default: Any = _MISSING) -> Any:
        """The value as stored (str, int, float, bool, Decimal or JSON data).

        With ``value_type``, a setting stored as another type is a ValidationError,
        so a bot can insist on the type it expects.
        """
        setting = self.setting(key, None)
        if setting is None:
            if default is _MISSING:
                raise NotFoundError(f"no setting {show(key)}")
            return default
        if value_type is not None:
            value_type = value_type_of(value_type)
        if value_type is not None and setting.value_type != value_type:
            raise ValidationError(f"{key}: stored as {setting.value_type}, not {value_type}",
                                  field=key, value=setting.value_type)
        return setting.value

    @overload
    def setting(self, key: str) -> Setting: ...
    @overload
    def setting(self, key: str, default: T) -> Setting | T: ...
    def setting(self, key: str, default: Any = _MISSING) -> Any:
        """The whole record (type, description, secret flag, times); NotFoundError when
        there is none and no ``default``."""
        row = self.db.query_one(GET_SETTING, (check_key(key),))
        if row is None:
            if default is _MISSING:
                raise NotFoundError(f"no setting {show(key)}")
            return default
        return Setting.from_row(row)

    def delete(self, key: str) -> None:
        key = check_key(key)
        with self.db.transaction() as conn:
            before = conn.execute(GET_SETTING, (key,)).fetchone()
            if not conn.execute(DELETE_SETTING, (key,)).rowcount:
                raise NotFoundError(f"no setting {show(key)}")
            record(conn, "setting", key, "delete", _audit_fields(before), None,
                   masked=("value",) if before[5] else (), now=ts_in(self.db.now()))

    def all(self) -> list[Setting]:
        """Every setting by key (secret values are in the records; repr masks them)."""
        return [Setting.from_row(r) for r in self.db.query(ALL_SETTINGS)]
