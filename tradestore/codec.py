"""Values in and out of SQLite text: Decimal, UTC time, JSON.

Every value is converted once on the way in and once on the way out. Money is
TEXT in plain notation so that it comes back with exactly the digits it went in
with. This module imports nothing of ours but errors.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import fields, is_dataclass
import re
from decimal import Decimal, InvalidOperation

from .errors import ValidationError

UTC = _dt.timezone.utc
MAX_SIGNIFICANT_DIGITS = 38
MAX_PLAIN_LENGTH = 64
TIMESTAMP_WIDTH = 27  # YYYY-MM-DDTHH:MM:SS.ffffffZ


# ---------------------------------------------------------------- Decimal

def to_decimal(value, field: str, *, positive=False, non_negative=False) -> Decimal:
    """Turn Decimal/int/str/float into a finite Decimal, or raise naming ``field``.

    Floats go through their shortest repr, so ``0.1`` becomes ``Decimal('0.1')``.
    """
    if isinstance(value, str) and len(value) <= MAX_SIGNIFICANT_DIGITS and PLAIN.fullmatch(value):
        return _checked_plain(value, field, positive, non_negative)  # the common case, fast
    if isinstance(value, bool) or value is None:
        raise ValidationError(
            f"{field}: {value!r} is not a number (give a Decimal, int, str or float)",
            field=field, value=value)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{field}: {value!r} is not a finite number", field=field, value=value)
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValidationError(f"{field}: {value!r} is not a decimal number", field=field,
                                  value=value) from None
    else:
        raise ValidationError(
            f"{field}: {value!r} ({type(value).__name__}) is not a number "
            "(give a Decimal, int, str or float)", field=field, value=value)
    if not number.is_finite():
        raise ValidationError(f"{field}: {value!r} is not a finite number", field=field, value=value)
    if number.is_zero() and number.is_signed():
        number = number.copy_abs()
    _, coefficient, exponent = number.as_tuple()
    # digits of the stored plain form: 1E+38 is written with 39 of them
    digits = 1 if number.is_zero() else len(coefficient) + max(exponent, 0)
    if digits > MAX_SIGNIFICANT_DIGITS:
        raise ValidationError(
            f"{field}: {value!r} has {digits} significant digits; at most "
            f"{MAX_SIGNIFICANT_DIGITS} are allowed", field=field, value=value)
    if plain_length(number) > MAX_PLAIN_LENGTH:
        raise ValidationError(
            f"{field}: {value!r} is too large or too small (plain form longer than "
            f"{MAX_PLAIN_LENGTH} characters)", field=field, value=value)
    if positive and number <= 0:
        raise ValidationError(f"{field}: {value!r} must be greater than 0", field=field, value=value)
    if non_negative and number < 0:
        raise ValidationError(f"{field}: {value!r} must be 0 or more", field=field, value=value)
    return number


PLAIN = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def _checked_plain(text: str, field: str, positive: bool, non_negative: bool) -> Decimal:
    """to_decimal for short plain text: it cannot exceed the digit or length limits."""
    number = Decimal(text)
    if positive and number <= 0:
        raise ValidationError(f"{field}: {text!r} must be greater than 0", field=field, value=text)
    if number.is_zero():
        return number.copy_abs()
    if non_negative and number < 0:
        raise ValidationError(f"{field}: {text!r} must be 0 or more", field=field, value=text)
    return number


def plain_length(number: Decimal) -> int:
    """``len(format(number, 'f'))`` without building it (``1E+999999999`` would take GBs)."""
    sign, digits, exponent = number.as_tuple()
    if exponent >= 0:
        size = 1 if number.is_zero() else len(digits) + exponent
    else:
        size = max(len(digits) + exponent, 1) + 1 - exponent
    return size + sign


def optional_decimal(value, field: str, **limits) -> Decimal | None:
    return None if value is None else to_decimal(value, field, **limits)


def dec_in(number: Decimal | None) -> str | None:
    """Decimal -> stored text, plain notation, digits kept (``1.10`` stays ``1.10``)."""
    return None if number is None else format(number, "f")


def dec_out(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


# ---------------------------------------------------------------- time

def to_utc(value, field: str) -> _dt.datetime:
    """An aware UTC datetime from a datetime (naive taken as UTC) or ISO-8601 text."""
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(f"{field}: {value!r} is not an ISO-8601 timestamp",
                                  field=field, value=value) from None
    elif isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        value = _dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, _dt.datetime):
        raise ValidationError(
            f"{field}: {value!r} is not a datetime (give a datetime or ISO-8601 text)",
            field=field, value=value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationError(f"{field}: {value!r} is out of range", field=field, value=value) from None


def optional_utc(value, field: str) -> _dt.datetime | None:
    return None if value is None else to_utc(value, field)


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(UTC)


def ts_in(moment: _dt.datetime | None) -> str | None:
    """Aware datetime -> fixed-width ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (sorts as text)."""
    if moment is None:
        return None
    m = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:"
            f"{m.second:02d}.{m.microsecond:06d}Z")


def ts_out(text: str | None) -> _dt.datetime | None:
    return None if text is None else _dt.datetime.fromisoformat(text)


def window(days, since, until, field="days"):
    """(since, until) as stored text for the usual ``days``/``since``/``until`` filters.

    ``since``/``until`` override ``days``; ``days=None`` means all time.
    """
    start = optional_utc(since, "since")
    end = optional_utc(until, "until")
    if start is None and since is None and days is not None:
        if isinstance(days, bool) or not isinstance(days, (int, float)) or days < 0:
            raise ValidationError(f"{field}: {days!r} must be a number of days >= 0 or None",
                                  field=field, value=days)
        start = (end or utc_now()) - _dt.timedelta(days=days)
    return ts_in(start), ts_in(end)


# ---------------------------------------------------------------- JSON

def _plain_default(obj):
    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    raise TypeError(type(obj).__name__)


def canonical_json(obj) -> str:
    """Sorted keys, no spaces, no NaN: the same object always gives the same text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=_plain_default)


def json_object_in(value, field: str) -> str | None:
    """A JSON object (mapping) -> canonical text; Decimals and datetimes become text."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError(f"{field}: {value!r} must be a JSON object (a dict)",
                              field=field, value=value)
    try:
        return canonical_json(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{field}: {value!r} is not JSON-serialisable ({exc})",
                              field=field, value=value) from None


def to_plain(value):
    """JSON-ready data, losing nothing: Decimal as plain-notation text, dates ISO-8601,
    durations in seconds, records (dataclasses) as dicts."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def json_out(text: str | None):
    return None if text is None else json.loads(text)


# Tagged JSON keeps types JSON cannot say (bot states): {"$decimal": "1.10"} etc.
_TAGS = ("$decimal", "$datetime", "$date", "$escaped")


def to_tagged(obj, path: str = ""):
    """Python value -> JSON-ready value with type tags; raises naming the path."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValidationError(f"{path or 'state'}: {obj!r} is not a finite number",
                                  field=path, value=obj)
        return obj
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValidationError(f"{path or 'state'}: {obj!r} is not a finite number",
                                  field=path, value=obj)
        # plain where that keeps every digit and stays short; else exact scientific form
        plain = obj.as_tuple().exponent <= 0 and plain_length(obj) <= 100
        return {"$decimal": format(obj, "f") if plain else str(obj)}
    if isinstance(obj, _dt.datetime):
        return {"$datetime": obj.isoformat()}
    if isinstance(obj, _dt.date):
        return {"$date": obj.isoformat()}
    if isinstance(obj, (list, tuple)):
        return [to_tagged(item, f"{path}[{i}]") for i, item in enumerate(obj)]
    if isinstance(obj, dict):
        out = {}
        for key, item in obj.items():
            if not isinstance(key, str):
                raise ValidationError(
                    f"{path or 'state'}: key {key!r} is not a string (JSON keys are text)",
                    field=path, value=key)
            out[key] = to_tagged(item, f"{path}.{key}" if path else key)
        if len(out) == 1 and next(iter(out)) in _TAGS:
            return {"$escaped": out}
        return out
    raise ValidationError(
        f"{path or 'state'}: {obj!r} ({type(obj).__name__}) cannot be stored in a state "
        "(use dict, list, str, int, float, bool, None, Decimal, datetime or date)",
        field=path, value=obj)


def from_tagged(obj):
    """Inverse of :func:`to_tagged`."""
    if isinstance(obj, list):
        return [from_tagged(item) for item in obj]
    if isinstance(obj, dict):
        if len(obj) == 1:
            (key, value), = obj.items()
            if key == "$decimal":
                return Decimal(value)
            if key == "$datetime":
                return _dt.datetime.fromisoformat(value)
            if key == "$date":
                return _dt.date.fromisoformat(value)
            if key == "$escaped":
                return {k: from_tagged(v) for k, v in value.items()}
        return {k: from_tagged(v) for k, v in obj.items()}
    return obj


# ------------------------------------------------ text fields and choices

def to_text(value, field: str, *, max_length=200, allow_empty=False) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field}: {value!r} must be a string", field=field, value=value)
    if not allow_empty and not value.strip():
        raise ValidationError(f"{field}: {value!r} must not be empty", field=field, value=value)
    if len(value) > max_length:
        raise ValidationError(f"{field}: {value[:40]!r}... is longer than {max_length} characters",
                              field=field, value=value)
    return value


def optional_text(value, field: str, **limits) -> str | None:
    return None if value is None else to_text(value, field, **limits)


def to_choice(value, field: str, choices) -> str:
    """Case-insensitive pick from ``choices`` (stored upper case)."""
    if isinstance(value, str) and value.upper() in choices:
        return value.upper()
    raise ValidationError(f"{field}: {value!r} is not one of {', '.join(choices)}",
                          field=field, value=value)
