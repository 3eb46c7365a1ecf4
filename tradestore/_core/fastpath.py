"""Fast, exact conversions for bulk writes: the common input in one cheap step.

Each function returns the stored text that the full conversion in ``codec`` would
return for the same value, or None when the value is not one of the common, obviously
valid cases. None never means "invalid": the caller then runs the full conversion,
which converts the value or raises the ValidationError naming the field. So a bulk
write checks exactly what a single write checks, and stores exactly the same text.
"""

from __future__ import annotations

import datetime as _dt
import math
from decimal import Decimal
from typing import Any

from tradestore._core.codec import MAX_SIGNIFICANT_DIGITS, MIN_TIME, MAX_TIME

_UTC = _dt.timezone.utc
_DATETIME = _dt.datetime
_MIN_YEAR, _MAX_YEAR = MIN_TIME.year, MAX_TIME.year
# The supported range is whole years (1900-01-01 to 9998-12-31T23:59:59.999999 UTC),
# so a UTC or naive datetime is inside it exactly when its year is.
assert MIN_TIME == _dt.datetime(_MIN_YEAR, 1, 1, tzinfo=_UTC)
assert MAX_TIME == _dt.datetime(_MAX_YEAR, 12, 31, 23, 59, 59, 999999, tzinfo=_UTC)
_INT_LIMIT = 10 ** (MAX_SIGNIFICANT_DIGITS - 1)  # |int| below it: fewer than 38 digits
_EXPONENT_LIMIT = 20  # |adjusted exponent| below it: the plain form is short to build


def money_text(value: Any) -> str | None:
    """``dec_in(to_decimal(value, ...))`` for a Decimal, int or float whose plain form has
    at most 38 characters (so at most 38 digits and 64 characters: always allowed), and
    is not a negative zero (which to_decimal makes positive); else None."""
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            return None
        value, kind = Decimal(float.__repr__(value)), Decimal  # to_decimal's shortest repr
    if kind is Decimal:
        # is_finite first: adjusted() of NaN/inf is meaningless; the exponent bound keeps
        # format() from building a huge string for 1E+999999
        if value.is_finite() and -_EXPONENT_LIMIT < value.adjusted() < _EXPONENT_LIMIT:
            text = format(value, "f")
            if len(text) <= MAX_SIGNIFICANT_DIGITS and (text[0] != "-" or not value.is_zero()):
                return text
        return None
    if kind is int and -_INT_LIMIT < value < _INT_LIMIT:
        return str(value)  # format(Decimal(i), "f") is str(i) for every int
    return None


def timestamp_text(value: Any) -> str | None:
    """``ts_in(to_utc(value, ...))`` for a datetime that is naive (taken as UTC) or in
    ``datetime.timezone.utc`` and inside the supported range; else None."""
    if type(value) is not _DATETIME or not _MIN_YEAR <= value.year <= _MAX_YEAR:
        return None
    zone = value.tzinfo
    if zone is not None and zone is not _UTC:
        return None
    text = value.isoformat()  # YYYY-MM-DDTHH:MM:SS[.ffffff][+00:00]; the year has 4 digits
    return text[:26] + "Z" if value.microsecond else text[:19] + ".000000Z"


def name_text(value: Any, max_length: int = 200) -> str | None:
    """``to_text(value, ...)`` for non-blank ASCII text of at most ``max_length``
    characters; else None."""
    if type(value) is str and 0 < len(value) <= max_length and value.isascii() \
            and not value.isspace():
        return value
    return None
