"""Values in and out of SQLite text: Decimal, UTC time, JSON.

Every value is converted once on the way in and once on the way out. Money is
TEXT in plain notation so that it comes back with exactly the digits it went in
with. This module imports nothing of ours but errors.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
import operator
import os
from dataclasses import fields, is_dataclass
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, overload

from tradestore.errors import ValidationError

UTC = _dt.timezone.utc
MAX_SIGNIFICANT_DIGITS = 38
MAX_PLAIN_LENGTH = 64
TIMESTAMP_WIDTH = 27  # YYYY-MM-DDTHH:MM:SS.ffffffZ
# The supported time range (docs/input.md): wide enough for any real record, narrow
# enough that every accepted moment, its next day and the open-ended bounds the
# queries use ("9999") stay valid and sort after it.
MIN_TIME = _dt.datetime(1900, 1, 1, tzinfo=_dt.timezone.utc)
MAX_TIME = _dt.datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=_dt.timezone.utc)
MAX_DAYS = 3_000_000  # longer than the whole supported range: "all time"
# JSON integers must fit 64 bits: SQLite's json functions (and most readers) lose the rest
MIN_JSON_INT, MAX_JSON_INT = -2 ** 63, 2 ** 63 - 1
MAX_LIMIT = 2 ** 63 - 1


# ---------------------------------------------------------------- Decimal

def to_decimal(value: Any, field: str, *, positive: bool = False,
               non_negative: bool = False) -> Decimal:
    """Turn Decimal/int/str/float into a finite Decimal, or raise naming ``field``.

    Floats go through their shortest repr, so ``0.1`` becomes ``Decimal('0.1')``.
    """
    if isinstance(value, str) and len(value) <= MAX_SIGNIFICANT_DIGITS and PLAIN.fullmatch(value):
        return _checked_plain(value, field, positive, non_negative)  # the common case, fast
    if isinstance(value, bool) or value is None:
        raise ValidationError(
            f"{field}: {_show(value)} is not a number (give a Decimal, int, str or float)",
            field=field, value=value)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{field}: {_show(value)} is not a finite number", field=field,
                                  value=value)
        number = Decimal(float.__repr__(value))  # np.float64's own repr is 'np.float64(0.1)'
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except (InvalidOperation, ValueError):  # ValueError: lone surrogates, NUL
            raise ValidationError(f"{field}: {_show(value)} is not a decimal number", field=field,
                                  value=value) from None
    else:
        number = _foreign_number(value, field)
    if not number.is_finite():
        raise ValidationError(f"{field}: {_show(value)} is not a finite number", field=field,
                              value=value)
    if number.is_zero() and number.is_signed():
        number = number.copy_abs()
    _, coefficient, exponent = number.as_tuple()
    # digits of the stored plain form: 1E+38 is written with 39 of them
    # as_tuple() types the exponent int | 'n' | 'N' | 'F'; finite here, so an int
    shift: int = max(exponent, 0)  # type: ignore[assignment]
    digits = 1 if number.is_zero() else len(coefficient) + shift
    if digits > MAX_SIGNIFICANT_DIGITS:
        raise ValidationError(
            f"{field}: {_show(value)} has {digits} significant digits; at most "
            f"{MAX_SIGNIFICANT_DIGITS} are allowed", field=field, value=value)
    if plain_length(number) > MAX_PLAIN_LENGTH:
        raise ValidationError(
            f"{field}: {_show(value)} is too large or too small (plain form longer than "
            f"{MAX_PLAIN_LENGTH} characters)", field=field, value=value)
    if positive and number <= 0:
        raise ValidationError(f"{field}: {_show(value)} must be greater than 0", field=field,
                              value=value)
    if non_negative and number < 0:
        raise ValidationError(f"{field}: {_show(value)} must be 0 or more", field=field,
                              value=value)
    return number


PLAIN = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def _foreign_number(value: Any, field: str) -> Decimal:
    """numpy and other numeric scalars, duck-typed (the core never imports numpy):
    an integral one (np.int64) as its int, a numpy float (np.float32) through its
    shortest repr, as numpy's str gives it."""
    try:
        if isinstance(value, numbers.Integral) or (
                hasattr(value, "__index__") and not isinstance(value, numbers.Real)):
            return Decimal(operator.index(value))
        if isinstance(value, numbers.Real) and getattr(getattr(value, "dtype", None), "kind",
                                                        None) == "f":
            return Decimal(str(value))  # 'nan'/'inf' parse and are refused as not finite
    except (TypeError, ValueError, ArithmeticError):
        pass
    raise ValidationError(
        f"{field}: {_show(value)} ({type(value).__name__}) is not a number "
        "(give a Decimal, int, str or float)", field=field, value=value)


def show(value: object, width: int = 80) -> str:
    """A value for an error message: its repr, clipped, never raising."""
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not replace our error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else text[:width - 3] + "..."


_show = show

# C0 and C1 control characters and DEL: a name must not move the cursor or recolour
# the terminal; shown escaped (\n, \x1b, ...); so are lone surrogates, which no
# terminal encoding can print (shown as \ud800)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with control characters escaped, for a terminal (the CLI, text reports)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


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
    sign, digits, exponent_ = number.as_tuple()
    exponent: int = exponent_  # type: ignore[assignment]  # callers pass finite numbers
    if exponent >= 0:
        size = 1 if number.is_zero() else len(digits) + exponent
    else:
        size = max(len(digits) + exponent, 1) + 1 - exponent
    return size + sign


def optional_decimal(value: Any, field: str, *, positive: bool = False,
                     non_negative: bool = False) -> Decimal | None:
    return None if value is None else to_decimal(value, field, positive=positive,
                                                 non_negative=non_negative)


@overload
def dec_in(number: Decimal) -> str: ...
@overload
def dec_in(number: Decimal | None) -> str | None: ...
def dec_in(number: Decimal | None) -> str | None:
    """Decimal -> stored text, plain notation, digits kept (``1.10`` stays ``1.10``)."""
    if number is None:
        return None
    # str() is plain (and equal to format "f") unless it writes an exponent; it costs a
    # third of format, and every amount of every write passes here
    text = str(number)
    return text if "E" not in text else format(number, "f")


@overload
def dec_out(text: str) -> Decimal: ...
@overload
def dec_out(text: str | None) -> Decimal | None: ...
def dec_out(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


# ---------------------------------------------------------------- time

def to_utc(value: object, field: str) -> _dt.datetime:
    """An aware UTC datetime from a datetime (naive taken as UTC) or ISO-8601 text."""
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(f"{field}: {_show(value)} is not an ISO-8601 timestamp",
                                  field=field, value=value) from None
    elif isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        value = _dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, _dt.datetime):
        raise ValidationError(
            f"{field}: {_show(value)} is not a datetime (give a datetime or ISO-8601 text)",
            field=field, value=value)
    try:
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        inside = MIN_TIME <= moment <= MAX_TIME
    except (OverflowError, ValueError, TypeError):  # an offset past the ends, a broken tzinfo
        inside = False
    if not inside:
        raise ValidationError(
            f"{field}: {_show(value)} is out of range (supported: {MIN_TIME.isoformat()} to "
            f"{MAX_TIME.isoformat()})", field=field, value=value)
    return moment


def optional_utc(value: object, field: str) -> _dt.datetime | None:
    return None if value is None else to_utc(value, field)


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(UTC)


@overload
def ts_in(moment: _dt.datetime) -> str: ...
@overload
def ts_in(moment: _dt.datetime | None) -> str | None: ...
def ts_in(moment: _dt.datetime | None) -> str | None:
    """Aware datetime -> fixed-width ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (sorts as text)."""
    if moment is None:
        return None
    if moment.tzinfo is UTC:  # the common case: isoformat is YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00
        text = moment.isoformat()
        return text[:26] + "Z" if moment.microsecond else text[:19] + ".000000Z"
    m = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:"
            f"{m.second:02d}.{m.microsecond:06d}Z")


@overload
def ts_out(text: str) -> _dt.datetime: ...
@overload
def ts_out(text: str | None) -> _dt.datetime | None: ...
def ts_out(text: str | None) -> _dt.datetime | None:
    return None if text is None else _dt.datetime.fromisoformat(text)


def window(days: float | Decimal | None, since: object, until: object,
           field: str = "days") -> tuple[str | None, str | None]:
    """(since, until) as stored text for the usual ``days``/``since``/``until`` filters.

    ``since``/``until`` override ``days``; ``days=None`` means all time.
    """
    start = optional_utc(since, "since")
    end = optional_utc(until, "until")
    if start is None and since is None and days is not None:
        span = to_days(days, field)
        base = end or utc_now()
        # a window reaching past the supported start is all time from that start
        start = (MIN_TIME if span >= (base - MIN_TIME) / _dt.timedelta(days=1)
                 else max(base - _dt.timedelta(days=span), MIN_TIME))
    return ts_in(start), ts_in(end)


def to_days(days: object, field: str = "days") -> float:
    """A finite number of days, 0 to MAX_DAYS (int, float, Decimal, numpy scalar)."""
    number = None
    if not isinstance(days, bool) and isinstance(days, (numbers.Real, Decimal)):
        try:
            number = float(days)
        except (TypeError, ValueError, OverflowError):
            number = None
    if number is None or not 0 <= number <= MAX_DAYS:  # NaN fails both comparisons
        raise ValidationError(
            f"{field}: {_show(days)} must be a number of days from 0 to {MAX_DAYS:,} or None "
            "(None means all time)", field=field, value=days)
    return number


def _integer(value: Any, lowest: int) -> int | None:
    """``value`` as an int when it is an integer (int or numpy integer, never a bool)
    from ``lowest`` to 2**63-1, as SQLite stores it; else None."""
    if not is_int(value):
        return None
    try:
        number = operator.index(value)
    except (TypeError, ValueError):
        return None
    return number if lowest <= number <= MAX_LIMIT else None


def to_id(value: object, field: str) -> int:
    """A row id: an integer (int or numpy integer) from 0 to 2**63-1, as SQLite stores it."""
    number = _integer(value, 0)
    if number is None:
        raise ValidationError(f"{field}: {_show(value)} must be an integer id from 0 to "
                              f"{MAX_LIMIT}", field=field, value=value)
    return number


def optional_id(value: object, field: str) -> int | None:
    return None if value is None else to_id(value, field)


def to_items(values: Any, field: str, what: str,
             singles: tuple[type, ...] = ()) -> Iterator[Any]:
    """An iterator over a batch; a number, text, a mapping or one of ``singles`` (a
    single record where a list of them is wanted) is refused by name."""
    try:
        if isinstance(values, (str, bytes, dict, *singles)) or values is None:
            raise TypeError
        return iter(values)
    except TypeError:
        raise ValidationError(f"{field}: {_show(values)} is not a list (or iterable) of {what}",
                              field=field, value=values) from None


def to_limit(limit: object, field: str = "limit", *, lowest: int = 1) -> int:
    """A row limit: an integer (int or numpy integer) from ``lowest`` (1; 0 for an
    offset) to 2**63-1."""
    number = _integer(limit, lowest)
    if number is None:
        raise ValidationError(f"{field}: {_show(limit)} must be a whole number from {lowest} to "
                              f"{MAX_LIMIT}", field=field, value=limit)
    return number


# ---------------------------------------------------------------- JSON

def _plain_default(obj: object) -> Any:
    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    return _numpy_scalar(obj)


def _numpy_scalar(obj: Any) -> int | float:
    """np.int64 as its int, a numpy float as a float (json's ``default`` hook)."""
    if is_int(obj):
        return operator.index(obj)
    if isinstance(obj, numbers.Real) and getattr(getattr(obj, "dtype", None), "kind", None) == "f":
        return float(obj)
    raise TypeError(f"{type(obj).__name__} is not a JSON type")


LONG_DIGITS = re.compile(r"[0-9]{19}")  # every integer outside 64 bits has 19 digits or more


def canonical_json(obj: object, field: str = "value") -> str:
    """Sorted keys, no spaces, no NaN: the same object always gives the same text.

    Raises ValidationError naming ``field`` for an integer outside 64 bits (SQLite's
    json functions turn those into inexact floats) and for text that is not valid
    Unicode (a lone surrogate cannot be stored); TypeError/ValueError as json does.
    """
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=_plain_default)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(f"{field}: contains text that is not valid Unicode (a lone "
                                  "surrogate such as '\\ud800')", field=field) from None
    if LONG_DIGITS.search(text):
        _check_json_ints(obj, field)
    return text


def _check_json_ints(obj: object, field: str) -> None:
    """Refuse integers outside 64 bits, naming where they are (obj is known to encode)."""
    stack: list[tuple[Any, str]] = [(obj, field)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, f"{path}.{k}") for k, v in item.items())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(item))
        elif is_int(item):
            number = operator.index(item)
            if not MIN_JSON_INT <= number <= MAX_JSON_INT:
                raise ValidationError(
                    f"{path}: an integer of {len(str(abs(number)))} digits is outside the "
                    f"64-bit range JSON readers keep exactly ({MIN_JSON_INT} to "
                    f"{MAX_JSON_INT}); store it as a Decimal or text",
                    field=path, value=item)


@overload
def json_object_in(value: None, field: str) -> None: ...
@overload
def json_object_in(value: Mapping[str, Any], field: str) -> str: ...
@overload
def json_object_in(value: object, field: str) -> str | None: ...
def json_object_in(value: object, field: str) -> str | None:
    """A JSON object (mapping) -> canonical text; Decimals and datetimes become text."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError(f"{field}: {_show(value)} must be a JSON object (a dict)",
                              field=field, value=value)
    try:
        return canonical_json(value, field)
    except ValidationError:
        raise
    except (TypeError, ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ValidationError(f"{field}: {_show(value)} is not JSON-serialisable ({why})",
                              field=field, value=value) from None


def to_plain(value: Any) -> Any:
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


def json_out(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# Tagged JSON keeps types JSON cannot say (bot states): {"$decimal": "1.10"} etc.
_TAGS = ("$decimal", "$datetime", "$date", "$escaped")


def to_tagged(obj: Any, path: str = "") -> Any:
    """Python value -> JSON-ready value with type tags; raises naming the path."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, numbers.Integral):  # int, np.int64 (bool was taken above)
        number = operator.index(obj)
        if not MIN_JSON_INT <= number <= MAX_JSON_INT:
            raise ValidationError(
                f"{path or 'state'}: an integer of {number.bit_length()} binary digits is "
                f"outside the signed 64-bit range ({MIN_JSON_INT} to {MAX_JSON_INT}); "
                "store it as a Decimal",
                field=path, value=obj)
        return number
    if isinstance(obj, numbers.Real) and not isinstance(obj, (float, Decimal)) and \
            getattr(getattr(obj, "dtype", None), "kind", None) == "f":
        obj = float(obj)  # a numpy float, then checked as a float
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValidationError(f"{path or 'state'}: {_show(obj)} is not a finite number",
                                  field=path, value=obj)
        return obj
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValidationError(f"{path or 'state'}: {_show(obj)} is not a finite number",
                                  field=path, value=obj)
        # plain where that keeps every digit and stays short; else exact scientific form
        # (finite: the exponent is an int, though as_tuple's type allows 'n'/'F' too)
        plain = obj.as_tuple().exponent <= 0 and plain_length(obj) <= 100  # type: ignore[operator]
        return {"$decimal": format(obj, "f") if plain else str(obj)}
    if isinstance(obj, _dt.datetime):
        return {"$datetime": obj.isoformat()}
    if isinstance(obj, _dt.date):
        return {"$date": obj.isoformat()}
    if isinstance(obj, (list, tuple)):
        return [to_tagged(item, f"{path}[{i}]") for i, item in enumerate(obj)]
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, item in obj.items():
            if not isinstance(key, str):
                raise ValidationError(
                    f"{path or 'state'}: key {_show(key)} is not a string (JSON keys are text)",
                    field=path, value=key)
            out[key] = to_tagged(item, f"{path}.{key}" if path else key)
        if len(out) == 1 and next(iter(out)) in _TAGS:
            return {"$escaped": out}
        return out
    raise ValidationError(
        f"{path or 'state'}: {_show(obj)} ({type(obj).__name__}) cannot be stored in a state "
        "(use dict, list, str, int, float, bool, None, Decimal, datetime or date)",
        field=path, value=obj)


def from_tagged(obj: Any) -> Any:
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

def to_text(value: object, field: str, *, max_length: int = 200,
            allow_empty: bool = False) -> str:
    """Text of at most ``max_length`` characters that SQLite can store; non-blank
    unless ``allow_empty``."""
    if type(value) is str and len(value) <= max_length and value.isascii() and (
            allow_empty or (value and not value.isspace())):
        return value  # the common case, fast
    if not isinstance(value, str):
        raise ValidationError(f"{field}: {_show(value)} must be a string", field=field, value=value)
    if not allow_empty and not value.strip():
        raise ValidationError(f"{field}: {_show(value)} must not be empty", field=field,
                              value=value)
    if len(value) > max_length:
        raise ValidationError(f"{field}: {value[:40]!r}... is longer than {max_length} characters",
                              field=field, value=value)
    if not value.isascii():
        check_unicode(value, field)
    return value


def check_unicode(value: str, field: str) -> str:
    """Text SQLite can store: UTF-8 encodable, so no lone surrogates ('\\ud800')."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{field}: {_show(value)} is not valid Unicode text (it holds a "
                              "lone surrogate); give text that encodes as UTF-8",
                              field=field, value=value) from None
    return value


def to_path(value: object, field: str) -> Path:
    """A file or folder name (str or os.PathLike) that the OS can take: not empty, no
    NUL, valid Unicode. Returns a ``pathlib.Path``."""
    text = None
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bytes):
        text = os.fspath(value)
    if not isinstance(text, str) or not text or "\x00" in text:
        raise ValidationError(f"{field}: {_show(value)} is not a file name (give a non-empty "
                              "str or Path without NUL characters)", field=field, value=value)
    check_unicode(text, field)
    return Path(text)


def optional_text(value: object, field: str, *, max_length: int = 200,
                  allow_empty: bool = False) -> str | None:
    return None if value is None else to_text(value, field, max_length=max_length,
                                              allow_empty=allow_empty)


def to_choice(value: object, field: str, choices: Iterable[str]) -> str:
    """Case-insensitive pick from ``choices`` (stored upper case)."""
    if isinstance(value, str) and value.upper() in choices:
        return value.upper()
    raise ValidationError(f"{field}: {_show(value)} is not one of {', '.join(choices)}",
                          field=field, value=value)


# ------------------------------------------------ one vocabulary (issue 18.3)
# The checks every module used to write for itself: an integer that is not a bool, a
# flag, a finite float metric, and the open ends of a time range.

def is_int(value: object) -> bool:
    """An integer (int or numpy integer), never a bool: ``True`` is an int in Python."""
    return not isinstance(value, bool) and isinstance(value, numbers.Integral)


def to_int(value: Any, field: str, *, lowest: int = 0, highest: int = MAX_LIMIT,
           allowed: str | None = None) -> int:
    """An integer (int or numpy integer, never a bool) from ``lowest`` to ``highest``,
    as an int. ``allowed`` words what the refusal says is allowed (default: "a whole
    number from LOWEST to HIGHEST")."""
    number = None
    if is_int(value):
        try:
            number = operator.index(value)
        except (TypeError, ValueError):
            number = None
    if number is None or not lowest <= number <= highest:
        allowed = allowed or f"a whole number from {lowest} to {highest}"
        raise ValidationError(f"{field}: {show(value)} must be {allowed}", field=field,
                              value=value)
    return number


def optional_int(value: object, field: str, *, lowest: int = 0, highest: int = MAX_LIMIT,
                 allowed: str | None = None) -> int | None:
    return None if value is None else to_int(value, field, lowest=lowest, highest=highest,
                                             allowed=allowed)


def to_flag(value: object, field: str) -> bool:
    """True or False and nothing else: 1, "yes" or None must not flip a switch silently."""
    if not isinstance(value, bool):
        raise ValidationError(f"{field}: {show(value)} must be True or False", field=field,
                              value=value)
    return value


def to_finite_float(value: object, field: str) -> float:
    """A float metric (a score, a strength; not money): int, float, Decimal or a numpy
    number, finite."""
    number = None
    if not isinstance(value, bool) and isinstance(value, (numbers.Real, Decimal)):
        try:
            number = float(value)
        except (ValueError, OverflowError, TypeError):
            number = None
    if number is None or not math.isfinite(number):
        raise ValidationError(f"{field}: {show(value)} must be a finite number", field=field,
                              value=value)
    return number


# The open ends of a time range as stored text: every stored timestamp lies between
# MIN_TIME and MAX_TIME, so it sorts after the first and before the second. With both
# ends filled, one query shape (``t >= :start AND t < :end``) serves every range and reads
# its index; no ``:start IS NULL OR`` branch. Both are real times, so that PostgreSQL
# (timestamptz) reads them too.
EARLIEST_TEXT, LATEST_TEXT = "0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z"


def bounded(start: str | None, end: str | None) -> tuple[str, str]:
    """Stored-text ends of a range (``window``'s result), the open ones filled."""
    return (EARLIEST_TEXT if start is None else start, LATEST_TEXT if end is None else end)


def time_range(start: object, end: object,
               fields: tuple[str, str] = ("start", "end")) -> tuple[str, str]:
    """``start``/``end`` (datetime, ISO text or None for open) as stored text, bounded."""
    return bounded(ts_in(optional_utc(start, fields[0])), ts_in(optional_utc(end, fields[1])))
