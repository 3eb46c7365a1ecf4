"""Terminal pictures for the report: an equity sparkline and a monthly returns table.

Both take the daily equity series (``repo.analytics.equity(...)``: ``[(date, value)]``)
and return plain strings, so the text report decides where they go. Everything fits
80 columns; :func:`can_encode` tells whether the terminal can show the block characters.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Sequence, TypeAlias

BLOCKS = "▁▂▃▄▅▆▇█"
ASCII_LEVELS = "_.-:=+*#%@"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MAX_WIDTH = 80
Series: TypeAlias = Sequence[tuple[date, Decimal | float]]  # daily values, oldest first


def can_encode(text: str, encoding: str | None) -> bool:
    """Whether ``text`` survives ``encoding`` (a stream's ``.encoding``; None counts as ASCII)."""
    try:
        text.encode(encoding or "ascii")
    except (UnicodeError, LookupError):
        return False
    return True


def wants_ascii(stream: object) -> bool:
    """True when ``stream`` (e.g. sys.stdout) cannot show the Unicode blocks."""
    return not can_encode(BLOCKS, getattr(stream, "encoding", None))


def _numbers(values) -> list[float]:
    """Numbers from plain values or from (date, value) pairs; None and non-finite dropped."""
    out = []
    for item in values:
        value = item[1] if isinstance(item, (tuple, list)) else item
        if value is None:
            continue
        number = float(value)
        if math.isfinite(number):
            out.append(number)
    return out


def resample(values: list[float], width: int) -> list[float]:
    """Exactly ``width`` values: the close (last value) of each bucket when there are
    more values than columns, linear interpolation when there are fewer."""
    n = len(values)
    if n == 0 or width <= 0:
        return []
    if n == 1:
        return [values[0]] * width
    if n >= width:
        return [values[((i + 1) * n) // width - 1] for i in range(width)]
    out = []
    for i in range(width):
        position = i * (n - 1) / (width - 1) if width > 1 else n - 1
        low = int(position)
        high = min(low + 1, n - 1)
        out.append(values[low] + (values[high] - values[low]) * (position - low))
    return out


def sparkline(values: Sequence[Any], width: int = 60, *, ascii: bool = False,
              scale: tuple[float, float] | None = None) -> str:
    """The series as exactly ``width`` characters, lowest value at the lowest level.

    ``values``: numbers or (date, value) pairs, oldest first. A flat series draws a
    middle line; an empty one gives "" (nothing to draw). ``scale``: (low, high) shared
    with another sparkline drawn beside it (default: this series' own range).
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width: {width!r} must be a whole number >= 1")
    numbers = resample(_numbers(values), width)
    if not numbers:
        return ""
    levels = ASCII_LEVELS if ascii else BLOCKS
    low, high = scale or (min(numbers), max(numbers))
    if high == low:
        return levels[len(levels) // 2 - 1] * width
    top = len(levels) - 1
    return "".join(levels[min(top, int((v - low) / (high - low) * top + 0.5))] for v in numbers)


def _closes(daily, key) -> list[tuple[object, float]]:
    """[(period, last value of that period)] in order, plus the first value as a base."""
    closes: dict = {}
    for day, value in daily:
        closes[key(day)] = float(value)
    return list(closes.items())


def _returns(daily, key) -> dict:
    daily = [(d, v) for d, v in daily if v is not None]
    if not daily:
        return {}
    previous = float(daily[0][1])  # the first period is measured from the first value
    out = {}
    for period, close in _closes(daily, key):
        out[period] = None if previous == 0 else close / previous - 1.0
        previous = close
    return out


def monthly_returns(daily: Series) -> dict[tuple[int, int], float | None]:
    """{(year, month): return}: the month's last value over the previous month's last
    value, minus one; the first month is measured from the series' first value.
    None where the previous value is zero."""
    return _returns(daily, lambda d: (d.year, d.month))


def yearly_returns(daily: Series) -> dict[int, float | None]:
    """{year: return}, by the same rule as :func:`monthly_returns` (so it compounds them)."""
    return _returns(daily, lambda d: d.year)


def percent(value: float | None) -> str:
    """A fraction as percent with one decimal, no sign for gains ("" for None)."""
    if value is None or not math.isfinite(value):
        return ""
    number = value * 100.0
    if abs(number) >= 1e6:
        return f"{number:.1e}"
    text = f"{number:.1f}"
    return "0.0" if text == "-0.0" else text


def _cell(returns: dict, key) -> str:
    """A table cell: blank outside the series, "n/a" where the base value was zero."""
    if key not in returns:
        return ""
    return "n/a" if returns[key] is None else percent(returns[key])


def _table(rows, columns: list[int], widths: dict, year_column: bool) -> list[str]:
    header = "    " + "".join(" " + MONTHS[m - 1].rjust(widths[m]) for m in columns)
    if year_column:
        header += " " + "Year".rjust(widths["year"])
    lines = [header.rstrip()]
    for year, cells, total in rows:
        line = f"{year:>4}" + "".join(" " + cells[m].rjust(widths[m]) for m in columns)
        if year_column:
            line += " " + total.rjust(widths["year"])
        lines.append(line.rstrip())
    return lines


def monthly_table(daily: Series) -> list[str]:
    """Monthly returns in percent (one decimal): rows are years, columns Jan..Dec and the
    whole Year; blank where the series has no data. Wider values than 80 columns allow
    split the table into Jan-Jun and Jul-Dec + Year blocks. [] for an empty series."""
    months = monthly_returns(daily)
    if not months:
        return []
    years = yearly_returns(daily)
    rows = []
    for year in sorted(years):
        cells = {m: _cell(months, (year, m)) for m in range(1, 13)}
        rows.append((year, cells, _cell(years, year)))
    widths: dict[int | str, int] = {m: max(4, *(len(r[1][m]) for r in rows))
                                    for m in range(1, 13)}
    widths["year"] = max(4, *(len(r[2]) for r in rows))
    width = 4 + sum(w + 1 for w in widths.values())
    title = "Monthly returns (%)"
    if width <= MAX_WIDTH:
        return [title, *_table(rows, list(range(1, 13)), widths, True)]
    return [title, *_table(rows, list(range(1, 7)), widths, False), "",
            *_table(rows, list(range(7, 13)), widths, True)]


def equity_lines(daily: Series, *, width: int = 60, ascii: bool = False,
                 money: Callable[[Any], str] = lambda v: f"{v:,.2f}",
                 benchmark: Series | None = None, name: str = "benchmark") -> list[str]:
    """The sparkline with a caption line: what the text report prints under "Equity".

    [] for an empty series. ``money`` formats the low/high values. ``benchmark``: the
    benchmark's values scaled to the start value ([(time, value)], one a day), drawn as a
    second sparkline on the same scale and labelled with ``name``.
    """
    numbers = _numbers(daily)
    if not numbers:
        return []
    first: date = daily[0][0]
    last: date = daily[-1][0]
    caption = (f"{first} .. {last}  low {money(min(numbers))}  high {money(max(numbers))}"
               f"  ({len(numbers)} days)")
    others = _numbers(benchmark or [])
    if not others:
        return [sparkline(numbers, width, ascii=ascii), caption[:MAX_WIDTH]]
    scale = (min(numbers + others), max(numbers + others))
    label = f"{name} scaled to the start value, same scale: low {money(min(others))}  " \
            f"high {money(max(others))}"
    return [sparkline(numbers, width, ascii=ascii, scale=scale) + " portfolio",
            sparkline(others, width, ascii=ascii, scale=scale) + " benchmark",
            caption[:MAX_WIDTH], label[:MAX_WIDTH]]
