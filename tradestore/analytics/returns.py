"""Returns of an equity curve with external flows: time-weighted and money-weighted.

Pure functions over already-read rows (no SQL here), so the math can be checked
against an independent oracle. Definitions: docs/metrics.md.

- Sub-period (t0, V0) -> (t1, V1) with flows F_i in (t0, t1]: Modified Dietz
  ``(V1 - V0 - sum F_i) / (V0 + sum w_i F_i)``, ``w_i = (t1 - t_i) / (t1 - t0)``.
- A day's return chain-links the sub-periods that end on that UTC day; a day with
  no snapshot returns 0 (its value is carried).
- The growth index (1 at the start point, times each sub-period's growth) is what
  the drawdown is measured on: a withdrawal is not a loss, a deposit not a gain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable, Sequence

MWR_TOLERANCE = 1e-12      # bisection stops when the log-growth bracket is this narrow
PEAK_TOLERANCE = 1e-12     # relative: an index within this of its peak has recovered
YEAR_SECONDS = 365 * 86400


def micros(ts: str) -> int:
    """Microseconds since the epoch of a stored fixed-width UTC timestamp."""
    moment = datetime.fromisoformat(ts)
    return (moment - EPOCH) // timedelta(microseconds=1)


EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


def dietz(t0: str, v0: Decimal, t1: str, v1: Decimal,
          flows: Iterable[tuple[str, Decimal]]) -> Decimal | None:
    """Modified Dietz return of one sub-period; ``flows`` are (ts, amount) in (t0, t1].

    None when the weighted capital is not positive and the gain is not exactly zero
    (an empty account that stays empty returns 0)."""
    start, end = micros(t0), micros(t1)
    span = end - start
    net = sum((amount for _, amount in flows), Decimal(0))
    weighted = sum((amount * (end - micros(ts)) / span for ts, amount in flows), Decimal(0))
    gain = v1 - v0 - net
    capital = v0 + weighted
    if capital <= 0:
        return Decimal(0) if gain == 0 else None
    return gain / capital


@dataclass
class Curve:
    """One pass over the equity curve.

    Attributes:
      first_day, last_day: the UTC days of the daily series (None without points).
      daily: the daily returns (floats), one per day first_day..last_day.
      max_drawdown: largest 1 - index/peak over every point (the start point first).
      max_drawdown_duration: longest time from a peak to the first point back at or
        above it (or to the last point when never recovered).
      defined: False when a sub-period's return is undefined (see dietz).
    """

    first_day: date | None = None
    last_day: date | None = None
    daily: list[float] = field(default_factory=list)
    max_drawdown: float | None = None
    max_drawdown_duration: timedelta | None = None
    defined: bool = True

    @property
    def start_day(self) -> date:
        """first_day of a curve walked from points (callers check there are some)."""
        if self.first_day is None:
            raise ValueError("the curve has no points")
        return self.first_day


def walk(points: Sequence[tuple[str, Any]], flows: Sequence[tuple[str, Decimal]],
         first_day: str | None = None) -> Curve:
    """The daily returns and drawdown of ``points`` [(ts, value text or Decimal)], the
    start point first, with external ``flows`` [(ts, Decimal)] sorted by ts; flows at or
    before the start point or after the last point are ignored. The daily series starts
    on ``first_day`` (YYYY-MM-DD; default the start point's day): a start point carried
    in from an earlier day is that day's opening value."""
    curve = Curve(daily=[])
    if not points:
        return curve
    it = iter(points)
    t0, first = next(it)
    v0 = Decimal(first)
    f0 = float(v0)
    flows = [(ts, amount) for ts, amount in flows if ts > t0]
    fi, nflows = 0, len(flows)
    day = max(first_day or t0[:10], t0[:10])
    curve.first_day = date.fromisoformat(day)
    day_growth = 1.0
    index, peak, peak_ts, under, worst, longest = 1.0, 1.0, t0, False, 0.0, 0
    recovered = 1.0 - PEAK_TOLERANCE
    daily = curve.daily
    for t1, text in it:
        if nflows and fi < nflows and flows[fi][0] <= t1:
            mine = []
            while fi < nflows and flows[fi][0] <= t1:
                mine.append(flows[fi])
                fi += 1
            v1 = Decimal(text)
            r = dietz(t0, v0, t1, v1, mine)
            if r is None:
                curve.defined = False
                growth = 1.0
            else:
                growth = 1.0 + float(r)
            v0, f0 = v1, float(v1)
        else:
            f1 = float(text)
            if f0 != 0.0:
                growth = f1 / f0
            elif f1 == 0.0:
                growth = 1.0
            else:
                curve.defined = False
                growth = 1.0
            if nflows:
                v0 = Decimal(text)
            f0 = f1
        t0 = t1
        d1 = t1[:10]
        if d1 != day:
            daily.append(day_growth - 1.0)
            gap = (date.fromisoformat(d1) - date.fromisoformat(day)).days - 1
            if gap > 0:
                daily.extend([0.0] * gap)
            day, day_growth = d1, growth
        else:
            day_growth *= growth
        index *= growth
        if index >= recovered:   # the peak starts at 1 and only rises: always > 0
            if under:
                longest = max(longest, micros(t1) - micros(peak_ts))
                under = False
            if index > peak:
                peak = index
                recovered = peak * (1.0 - PEAK_TOLERANCE)
            peak_ts = t1
        else:
            under = True
            fall = 1.0 - index / peak
            if fall > worst:
                worst = fall
    daily.append(day_growth - 1.0)
    if under:
        longest = max(longest, micros(t0) - micros(peak_ts))
    curve.last_day = date.fromisoformat(day)
    curve.max_drawdown = worst
    curve.max_drawdown_duration = timedelta(microseconds=longest)
    return curve


def money_weighted(start_ts: str, start_value: Decimal, flows: Iterable[tuple[str, Decimal]],
                   end_ts: str, end_value: Decimal) -> float | None:
    """Annualised internal rate of return r (365-day years) solving
    ``V_s (1+r)^T + sum F_i (1+r)^(T_i) = V_e`` (T, T_i: years from the start / from
    each flow to the end). Bisection on x = ln(1+r) to MWR_TOLERANCE. None when the
    period is empty, nothing was invested, or no sign change brackets a root."""
    end = micros(end_ts)
    years = (end - micros(start_ts)) / 1e6 / YEAR_SECONDS
    terms = [(float(start_value), years)]
    terms += [(float(amount), (end - micros(ts)) / 1e6 / YEAR_SECONDS) for ts, amount in flows]
    target = float(end_value)
    if years <= 0 or all(amount == 0 for amount, _ in terms):
        return None
    if len(terms) == 1:   # no flow: the closed form (end / start) ^ (1 / T) - 1
        if terms[0][0] <= 0 or target <= 0:
            return None
        try:
            rate = math.expm1(math.log(target / terms[0][0]) / years)
        except OverflowError:
            return None
        return rate if math.isfinite(rate) else None
    limit = 700.0 / years   # keeps exp() finite

    def npv(x: float) -> float:
        return sum(amount * math.exp(x * t) for amount, t in terms) - target

    lo, hi = -limit, limit
    f_lo, f_hi = npv(lo), npv(hi)
    if f_lo == 0:
        hi = lo
    elif f_hi == 0:
        lo = hi
    elif (f_lo < 0) == (f_hi < 0):
        return None
    while hi - lo > MWR_TOLERANCE * max(1.0, abs(lo)):
        mid = (lo + hi) / 2
        f_mid = npv(mid)
        if f_mid == 0:
            lo = hi = mid
        elif (f_mid < 0) == (f_lo < 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    try:
        rate = math.expm1((lo + hi) / 2)
    except OverflowError:
        return None
    return rate if math.isfinite(rate) else None
