"""Benchmark comparison: an account's daily returns against a benchmark's.

The benchmark is a series of (time, level) points: the closes of stored candles (one
timeframe, chosen by :func:`candle_points`) or a list the caller gives. Its level on a
UTC day is its last point of that day or before (the close of the day, carried), the
same rule as the portfolio's daily closes. Pure functions apart from the candle read,
so the math can be checked against an independent calculation. Definitions:
docs/metrics.md, "Benchmark comparison".
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterable, Sequence

from tradestore._core.codec import to_decimal, to_text, to_utc, ts_in
from tradestore._core.hints import Amount, Moment
from tradestore.errors import ValidationError
from tradestore.market.candles import STEP_SECONDS, TIMEFRAMES, CandleStore

DAY_SECONDS = 86400
MONTH = "1M"                       # a calendar month: its end is the next month's start
MIN_LOOKBACK = timedelta(days=10)  # how far before the window a start level is looked for
FIELDS = ("benchmark_return", "excess_return", "alpha", "beta", "correlation",
          "tracking_error", "information_ratio")


def _seconds(timeframe: str) -> int:
    """A timeframe's length in seconds (a month counts as 31 days for ordering)."""
    if timeframe == MONTH:
        return 31 * DAY_SECONDS
    return STEP_SECONDS[timeframe]


def _candle_end(open_time: datetime, timeframe: str) -> datetime:
    """When a candle closes: its open time plus its length (a calendar month for 1M)."""
    if timeframe == MONTH:
        year, month = divmod(open_time.month, 12)
        return open_time.replace(year=open_time.year + year, month=month + 1)
    return open_time + timedelta(seconds=_seconds(timeframe))


def timeframe_order() -> list[str]:
    """Timeframes in the order they are tried: the largest of at most one day first
    (fewest candles that still give every daily close), then longer ones, shortest first."""
    names = sorted(TIMEFRAMES, key=_seconds)
    daily = [t for t in names if _seconds(t) <= DAY_SECONDS]
    return daily[::-1] + [t for t in names if _seconds(t) > DAY_SECONDS]


def candle_points(candles: CandleStore, symbol: str, exchange: str, first_day: date, last_day: date
                  ) -> tuple[str | None, list[tuple[str, Decimal]]]:
    """(timeframe, points) of ``symbol``'s stored candles around the days first_day ..
    last_day: the first timeframe of :func:`timeframe_order` with a candle there. Each
    candle gives one point: its close, at the last microsecond it covers (so a 1d candle
    is its own day's close and a 1h candle opening at 23:00 closes that day)."""
    symbol = to_text(symbol, "benchmark")
    exchange = to_text(exchange, "benchmark_exchange", allow_empty=True)
    if symbol not in candles.symbols(exchange=exchange):
        raise ValidationError(
            f"benchmark: {symbol!r} has no stored candles on exchange {exchange!r} (give "
            "benchmark_exchange=, store candles with repo.candles, or pass the benchmark "
            "as [(time, value), ...])", field="benchmark", value=symbol)
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time())
    for timeframe in timeframe_order():
        lookback = max(MIN_LOOKBACK, 2 * timedelta(seconds=_seconds(timeframe)))
        start = datetime.combine(first_day, datetime.min.time()) - lookback
        bars = candles.get_range(symbol, timeframe, start, end, exchange=exchange)
        if bars:
            tick = timedelta(microseconds=1)
            return timeframe, [(ts_in(_candle_end(b.timestamp, timeframe) - tick), b.close)
                               for b in bars]
    return None, []


def given_points(series: Iterable[tuple[Moment, Amount]]) -> list[tuple[str, Decimal]]:
    """``benchmark=[(time, value), ...]`` as sorted (stored timestamp, Decimal); a value
    must be > 0 (a level, e.g. a price or an index). Equal times: the last one given wins."""
    if isinstance(series, (str, bytes)) or not hasattr(series, "__iter__"):
        raise ValidationError(f"benchmark: {series!r} must be a symbol with stored candles or a "
                              "list of (time, value) pairs", field="benchmark", value=series)
    out = {}
    for item in series:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ValidationError(f"benchmark: {item!r} must be a (time, value) pair",
                                  field="benchmark", value=item)
        value = to_decimal(item[1], "benchmark value")
        if not value > 0:
            raise ValidationError(f"benchmark value: {value} must be > 0 (a price or index "
                                  "level)", field="benchmark value", value=item[1])
        out[ts_in(to_utc(item[0], "benchmark time"))] = value
    return sorted(out.items())


def _day_end(day: date) -> str:
    return day.isoformat() + "T23:59:59.999999Z"


def levels(points: Sequence[tuple[str, Decimal]], first_day: date, days: int,
           start_ts: str) -> tuple[Decimal | None, list[Decimal | None]]:
    """(start level, [level of each day or None]) of sorted ``points``.

    The start level is the last point at or before the portfolio's start: its start
    point's time, or, for a start point carried in from an earlier day, the end of the
    day before ``first_day`` (both then start from the previous day's close). A day's
    level is the last point at or before its end; None before the first point and
    after the day of the last point (no level is carried past the data)."""
    if not points:
        return None, [None] * days
    before_first = _day_end(first_day - timedelta(days=1))
    cut = start_ts if start_ts > before_first else before_first
    i, n, level, start = 0, len(points), None, None
    while i < n and points[i][0] <= cut:
        start = points[i][1]
        i += 1
    level = start
    last_day = points[-1][0][:10]
    out = []
    day = first_day
    for _ in range(days):
        end = _day_end(day)
        while i < n and points[i][0] <= end:
            level = points[i][1]
            i += 1
        out.append(level if day.isoformat() <= last_day else None)
        day += timedelta(days=1)
    return start, out


def pairs(daily: Iterable[float], start_level: Decimal | None,
          day_levels: Iterable[Decimal | None]) -> list[tuple[float, float]]:
    """[(portfolio return, benchmark return)] of the days where both are defined: the
    benchmark's level on that day and on the day before (the start level for the first
    day) exist and the earlier one is > 0."""
    out, previous = [], start_level
    for r, level in zip(daily, day_levels):
        if level is not None and previous is not None and previous > 0:
            out.append((r, float(level) / float(previous) - 1.0))
        previous = level
    return out


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def figures(paired: Sequence[tuple[float, float]], rf_period: float,
            periods: int) -> dict[str, Any]:
    """The comparison's figures over ``paired`` daily returns (docs/metrics.md):
    benchmark_days, benchmark_return, excess_return, alpha, beta, correlation,
    tracking_error, information_ratio; None where undefined."""
    out = dict.fromkeys(FIELDS)
    out["benchmark_days"] = n = len(paired)
    if not n:
        return out
    rp = [p for p, _ in paired]
    rb = [b for _, b in paired]
    growth_b = math.prod(1.0 + b for b in rb)
    out["benchmark_return"] = growth_b - 1.0
    out["excess_return"] = math.prod(1.0 + p for p in rp) - growth_b
    if n >= 2:
        mp, mb = math.fsum(rp) / n, math.fsum(rb) / n
        var_p = math.fsum((p - mp) ** 2 for p in rp) / (n - 1)
        var_b = math.fsum((b - mb) ** 2 for b in rb) / (n - 1)
        cov = math.fsum((p - mp) * (b - mb) for p, b in paired) / (n - 1)
        if var_b > 0:
            beta = cov / var_b
            out["beta"] = beta
            out["alpha"] = ((mp - rf_period) - beta * (mb - rf_period)) * periods
            if var_p > 0:
                out["correlation"] = max(-1.0, min(1.0, cov / math.sqrt(var_p * var_b)))
        diff = [p - b for p, b in paired]
        md = math.fsum(diff) / n
        te = math.sqrt(math.fsum((d - md) ** 2 for d in diff) / (n - 1)) * math.sqrt(periods)
        out["tracking_error"] = te
        if te > 0:
            out["information_ratio"] = md * periods / te
    return {k: _finite(v) if isinstance(v, float) else v for k, v in out.items()}


def scaled_curve(start_ts: str, start_value: Decimal, first_day: date,
                 start_level: Decimal | None, day_levels: Sequence[Decimal | None],
                 closes: dict[str, str] | None = None) -> list[tuple[datetime, float]]:
    """The benchmark drawn beside the equity curve: (start point's time, start value),
    then (close of each day, start value x level / start level), for the days with a
    level. A day's close is the time of the account's last snapshot that day
    (``closes``: {"YYYY-MM-DD": stored timestamp}), else the end of the day, so both
    lines reach a day's close at the same x. Without a start level the first day's
    level is the base."""
    base = start_level
    if base is None or not base > 0:
        base = next((x for x in day_levels if x is not None and x > 0), None)
    if base is None:
        return []
    value, scale = float(start_value), float(base)
    out = [(datetime.fromisoformat(start_ts), value)] if start_level is not None else []
    day = first_day
    for level in day_levels:
        if level is not None:
            close = (closes or {}).get(day.isoformat())
            moment = datetime.fromisoformat(close) if close else datetime.combine(
                day + timedelta(days=1), time(), timezone.utc)
            out.append((moment, value * float(level) / scale))
        day += timedelta(days=1)
    return out
