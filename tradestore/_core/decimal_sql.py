"""decimal_add, decimal_sub, decimal_mul, decimal_cmp, decimal_sum and decimal().

The ``sqlite3`` shell ships these as its ``decimal`` extension. We register the
same names with the same results on our connections, so a view written once
answers identically in Python and in ``sqlite3 trades.db``. "Same results"
includes the shell's formatting rules: a sum keeps the larger scale
(``1.10 + 1.10 = 2.20``), a product drops trailing zeros down to the smaller
input scale, and ``decimal_cmp`` treats extra trailing zeros as larger
(``decimal_cmp('1.0', '1') = 1``). Views therefore never use ``decimal_cmp``
to test a value against zero; see ``SIGN_SQL`` in the schema views.

A number is held as the shell holds it: (sign, digit string, digits after the
point), leading zeros kept where the shell keeps them.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import TypeAlias, overload

_SPACE = " \t\n\v\f\r"
Number: TypeAlias = tuple[int, str, int]  # (sign, digits, digits after the point)
Value: TypeAlias = str | bytes | int | float  # what SQLite passes a function (None aside)


def _split_plain(text: str) -> tuple[int, str, str] | None:
    """(sign, whole, fraction) of plain notation ('-12.50', '0', '3', '.5'), as every money
    column stores it, else None: the caller then takes the shell's character loop (spaces,
    '+', exponents, a bare '.' or '-', two dots, non-ASCII digits)."""
    whole, _, fraction = text.partition(".")
    sign = 0
    if whole[:1] == "-":
        sign, whole = 1, whole[1:]
    digits = whole + fraction
    if digits.isdigit() and digits.isascii():
        return sign, whole, fraction
    return None


def _text_of(value: Value) -> str:
    """What ``sqlite3_value_text`` gives for a value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float):
        return _real_text(value)
    return str(value)


_scratch = threading.local()


def _real_text(value: float) -> str:
    """SQLite's own text for a REAL: its printf rounds differently from Python's
    (``-0.0`` loses its sign, some 16th digits differ), so ask SQLite."""
    conn = getattr(_scratch, "conn", None)
    if conn is None:
        conn = _scratch.conn = sqlite3.connect(":memory:", check_same_thread=False)
    text: str = conn.execute("SELECT CAST(? AS TEXT)", (value,)).fetchone()[0]
    return text


@overload
def _parse(value: Value) -> Number: ...
@overload
def _parse(value: Value | None) -> Number | None: ...
def _parse(value: Value | None) -> Number | None:
    """(sign, digits, frac) as the shell parses ``value``; None for NULL."""
    if value is None:
        return None
    if type(value) is str:
        plain = _split_plain(value)
        if plain is not None:  # the loop's answer: leading zeros of the whole part dropped
            sign, whole, fraction = plain
            return sign, whole.lstrip("0") + fraction, len(fraction)
    s = _text_of(value)
    n = len(s)
    i = 0
    while i < n and s[i] in _SPACE:
        i += 1
    sign = 0
    if i < n and s[i] == "-":
        sign, i = 1, i + 1
    elif i < n and s[i] == "+":
        i += 1
    while i < n and s[i] == "0":
        i += 1
    digits: list[str] = []
    dot = 0
    exp = 0
    while i < n:
        c = s[i]
        if "0" <= c <= "9":
            digits.append(c)
        elif c == ".":
            dot = len(digits) + 1
        elif c in "eE":
            j = i + 1
            if j >= n:
                break
            negative = False
            if s[j] == "-":
                negative, j = True, j + 1
            elif s[j] == "+":
                j += 1
            while j < n and exp < 1000000:
                if "0" <= s[j] <= "9":
                    exp = exp * 10 + ord(s[j]) - 48
                j += 1
            if negative:
                exp = -exp
            break
        i += 1
    text = "".join(digits)
    frac = len(text) - (dot - 1) if dot else 0
    if exp > 0:
        if frac > 0:
            if exp <= frac:
                frac, exp = frac - exp, 0
            else:
                exp, frac = exp - frac, 0
        text += "0" * exp
    elif exp < 0:
        exp = -exp
        extra = len(text) - frac - 1
        if extra:
            if extra >= exp:
                frac, exp = frac + exp, 0
            else:
                exp, frac = exp - extra, len(text) - 1
        if exp > 0:
            text = "0" * exp + text
            frac += exp
    return sign, text, frac


def _render(number: Number | None) -> str | None:
    """The shell's text for (sign, digits, frac)."""
    if number is None:
        return None
    sign, digits, frac = number
    if not digits or digits == "0":
        sign = 0
    whole = len(digits) - frac
    out = "-" if sign else ""
    if whole <= 0:
        out += "0"
    j = 0
    while whole > 1 and digits[j] == "0":
        j += 1
        whole -= 1
    if whole > 0:
        out += digits[j:j + whole]
        j += whole
    if frac:
        out += "." + (digits[j:] or "0")
    return out


def _add(a: Number | None, b: Number | None) -> Number | None:
    if a is None or b is None:
        return None
    a_sign, a_digits, a_frac = a
    b_sign, b_digits, b_frac = b
    whole = len(a_digits) - a_frac
    if whole and a_digits[0] == "0":
        whole -= 1
    whole = max(whole, len(b_digits) - b_frac)
    frac = max(a_frac, b_frac)
    width = whole + frac + 1
    x = int(a_digits or "0") * 10 ** (frac - a_frac)
    y = int(b_digits or "0") * 10 ** (frac - b_frac)
    if a_sign == b_sign:
        magnitude, sign = x + y, a_sign
    elif x >= y:
        magnitude, sign = x - y, a_sign
    else:
        magnitude, sign = y - x, 1 - a_sign
    return sign, str(magnitude).zfill(width)[-width:], frac


def _negate(number: Number | None) -> Number | None:
    return None if number is None else (1 - number[0], number[1], number[2])


def decimal_text(x: Value | None) -> str | None:
    return _render(_parse(x))


def decimal_add(x: Value | None, y: Value | None) -> str | None:
    return _render(_add(_parse(x), _parse(y)))


def decimal_sub(x: Value | None, y: Value | None) -> str | None:
    return _render(_add(_parse(x), _negate(_parse(y))))


def decimal_mul(x: Value | None, y: Value | None) -> str | None:
    a, b = _parse(x), _parse(y)
    if a is None or b is None:
        return None
    width = len(a[1]) + len(b[1]) + 2
    digits = str(int(a[1] or "0") * int(b[1] or "0")).zfill(width)
    frac = a[2] + b[2]
    keep = min(a[2], b[2])
    while frac > keep and digits[-1] == "0":
        digits, frac = digits[:-1], frac - 1
    return _render((a[0] ^ b[0], digits, frac))


def _compare(a: Number, b: Number) -> int:
    if a[0] != b[0]:
        return -1 if a[0] else 1
    if a[0]:
        a, b = b, a
    a_whole = len(a[1]) - a[2]
    b_whole = len(b[1]) - b[2]
    if a_whole != b_whole:
        return -1 if a_whole < b_whole else 1
    n = min(len(a[1]), len(b[1]))
    if a[1][:n] != b[1][:n]:
        return -1 if a[1][:n] < b[1][:n] else 1
    return (len(a[1]) > len(b[1])) - (len(a[1]) < len(b[1]))


def decimal_cmp(x: Value | None, y: Value | None) -> int | None:
    a, b = _parse(x), _parse(y)
    if a is None or b is None:
        return None
    return _compare(a, b)


def decimal_collation(x: str, y: str) -> int:
    return _compare(_parse(x), _parse(y))


def _parse_int(value: Value) -> tuple[int, int, int]:
    """(sign, magnitude as int, frac) of a non-NULL value: _parse with the digits as an int."""
    sign, digits, frac = _parse(value)
    return sign, int(digits) if digits else 0, frac


class DecimalSum:
    """Aggregate and window function ``decimal_sum``: exact sum; NULLs skipped.

    The running total is (sign, magnitude, frac) with the magnitude as a Python int: the
    same arithmetic as ``_add`` (the scale is the widest seen, and a zero keeps the sign
    it reached, as the shell's '-0'), without building digit strings on every row.
    ``_add``'s digit width never truncates, so the rendered text is the same.
    """

    __slots__ = ("started", "sign", "magnitude", "frac")

    def __init__(self) -> None:
        self.started = False
        self.sign = self.magnitude = self.frac = 0

    def _accumulate(self, b_sign: int, y: int, b_frac: int) -> None:
        x, frac = self.magnitude, self.frac
        if b_frac != frac:
            if b_frac > frac:
                x *= 10 ** (b_frac - frac)
                self.frac = b_frac
            else:
                y *= 10 ** (frac - b_frac)
        if self.sign == b_sign:
            self.magnitude = x + y
        elif x >= y:
            self.magnitude = x - y
        else:
            self.magnitude = y - x
            self.sign = 1 - self.sign

    def step(self, value: Value | None) -> None:
        """Called once per row by SQLite: the plain-notation case is inlined (no regex, no
        digit strings), which is most of the cost of a sum (see the analytics bench)."""
        self.started = True
        if value is None:
            return
        if type(value) is str:
            whole, _, fraction = value.partition(".")
            b_sign = 0
            if whole[:1] == "-":
                b_sign, whole = 1, whole[1:]
            digits = whole + fraction
            if digits.isdigit() and digits.isascii():
                self._accumulate(b_sign, int(digits), len(fraction))
                return
        self._accumulate(*_parse_int(value))

    def inverse(self, value: Value | None) -> None:
        if value is not None:
            b_sign, y, b_frac = _parse_int(value)
            self._accumulate(1 - b_sign, y, b_frac)

    def value(self) -> str | None:
        if not self.started:
            return None
        sign = "-" if self.sign else ""   # a zero reached from below stays '-0', as in _add
        if not self.frac:
            return f"{sign}{self.magnitude}"
        whole, fraction = divmod(self.magnitude, 10 ** self.frac)
        return f"{sign}{whole}.{fraction:0{self.frac}d}"

    finalize = value


def register(conn: sqlite3.Connection) -> None:
    """Put the shell's decimal functions on ``conn``."""
    flags = {"deterministic": True}
    conn.create_function("decimal", 1, decimal_text, **flags)
    conn.create_function("decimal_add", 2, decimal_add, **flags)
    conn.create_function("decimal_sub", 2, decimal_sub, **flags)
    conn.create_function("decimal_mul", 2, decimal_mul, **flags)
    conn.create_function("decimal_cmp", 2, decimal_cmp, **flags)
    conn.create_window_function("decimal_sum", 1, DecimalSum)
    conn.create_collation("decimal", decimal_collation)
