"""Our own small SVG charts for the HTML report: no dependency, no script, text escaped.

- :func:`downsample` / :class:`MinMaxSampler`: at most ``limit`` points, keeping the
  lowest and the highest point of each bucket so a spike (or a crash) survives.
- :func:`line_chart`: the equity curve with its drawdown shaded in a panel beneath
  it, one shared time axis; value ticks are "nice numbers" (1-2-5 steps).
- :func:`heatmap`: monthly returns, green/red centred on zero, values in the cells.
- :func:`no_data`: what an empty or one-point series draws instead of failing.

x values are datetimes (naive = UTC), dates (midnight UTC) or epoch seconds.
"""

from __future__ import annotations

import html
import math
from datetime import date, datetime, timezone
from typing import Any, Iterable, Sequence

from tradestore.analytics.charts import MONTHS, percent

MAX_POINTS = 2000
FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif\""
EQUITY_COLOUR = "#1f5fa8"
DRAWDOWN_COLOUR = "#c62828"
BENCHMARK_COLOUR = "#e08a00"
GRID_COLOUR = "#e3e3e3"
TEXT_COLOUR = "#333333"
NEUTRAL = (244, 244, 244)
GREEN = (26, 140, 70)
RED = (200, 40, 40)


def escape(text: object) -> str:
    """Text for an SVG/HTML text node or attribute value."""
    return html.escape(str(text), quote=True)


def to_epoch(x: datetime | date | float) -> float:
    """Seconds since 1970 (UTC) from a datetime, date or number."""
    if isinstance(x, datetime):
        if x.tzinfo is None:
            x = x.replace(tzinfo=timezone.utc)
        return x.timestamp()
    if isinstance(x, date):
        return datetime(x.year, x.month, x.day, tzinfo=timezone.utc).timestamp()
    return float(x)


# ------------------------------------------------------------------ downsampling
class MinMaxSampler:
    """Streaming min/max-per-bucket downsampling of ``count`` points (in x order).

    Keeps the first and last point and, for each of ``(limit - 2) // 2`` buckets of
    consecutive points, its lowest and highest point in their original order: so the
    result has at most ``limit`` points and never loses an extreme.
    """

    def __init__(self, count: int, limit: int = MAX_POINTS):
        if limit < 4:
            raise ValueError(f"limit: {limit!r} must be >= 4")
        self.count, self.limit = count, limit
        self.buckets = (limit - 2) // 2
        self.index = 0
        self.out: list[tuple[float, float]] = []
        self._bucket: int | None = None
        self._low: tuple[int, float, float] = (0, 0.0, 0.0)  # set with _bucket
        self._high: tuple[int, float, float] = (0, 0.0, 0.0)

    def add(self, x: float, y: float) -> None:
        i = self.index
        self.index += 1
        if self.count <= self.limit:
            self.out.append((x, y))
            return
        if i == 0 or i >= self.count - 1:
            self._flush()
            self.out.append((x, y))
            return
        bucket = (i - 1) * self.buckets // (self.count - 2)
        if bucket != self._bucket:
            self._flush()
            self._bucket = bucket
            self._low = self._high = (i, x, y)
        elif y < self._low[2]:
            self._low = (i, x, y)
        elif y > self._high[2]:
            self._high = (i, x, y)

    def _flush(self) -> None:
        if self._bucket is None:
            return
        kept = sorted({self._low, self._high})
        self.out.extend((x, y) for _, x, y in kept)
        self._bucket = None

    def points(self) -> list[tuple[float, float]]:
        self._flush()
        return self.out


def downsample(points: Iterable[tuple[float, float]],
               limit: int = MAX_POINTS) -> list[tuple[float, float]]:
    """At most ``limit`` of ``points`` ((x, y) in x order), extremes of each bucket kept."""
    points = list(points)
    sampler = MinMaxSampler(len(points), limit)
    for x, y in points:
        sampler.add(x, y)
    return sampler.points()


def drawdown_series(points: Iterable[tuple[Any, float]]) -> list[tuple[Any, float]]:
    """[(x, drawdown)]: value / running peak - 1 (<= 0); points before a positive peak
    are skipped (a drawdown from a peak of zero or less means nothing)."""
    out, peak = [], None
    for x, y in points:
        peak = y if peak is None or y > peak else peak
        if peak > 0:
            out.append((x, min(0.0, y / peak - 1.0)))
    return out


# ------------------------------------------------------------------ axes
def nice_step(span: float, target: int = 5) -> float:
    """The 1-2-5 x 10^k step giving about ``target`` intervals over ``span``."""
    raw = span / max(1, target)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if multiple * magnitude >= raw * (1 - 1e-9):
            return multiple * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Evenly stepped round values from at or below ``low`` to at or above ``high``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("nice_ticks needs finite bounds")
    if high < low:
        low, high = high, low
    if high == low:
        pad = abs(low) * 0.05 or 1.0
        low, high = low - pad, high + pad
    step = nice_step(high - low, target)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    ticks = [round(k * step, decimals + 2) for k in range(first, last + 1)]
    if len(ticks) < 2:
        ticks.append(round((last + 1) * step, decimals + 2))
    # at the limit of float precision k * step can miss an end by an ulp: cover it anyway
    ticks[0], ticks[-1] = min(ticks[0], low), max(ticks[-1], high)
    return ticks


def tick_decimals(ticks: list[float]) -> int:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    return max(0, -math.floor(math.log10(abs(step)) + 1e-9))


def format_number(value: float, decimals: int = 0) -> str:
    """Thousands separators, fixed decimals, never "-0"."""
    text = f"{value:,.{decimals}f}"
    return text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text


_SECOND_STEPS = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600,
                 86400, 2 * 86400, 7 * 86400, 14 * 86400]
_MONTH_STEPS = [1, 2, 3, 6, 12, 24, 60, 120, 240, 600]


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1, day=1)


def time_ticks(start: float, end: float, target: int = 6) -> list[tuple[float, str]]:
    """[(epoch, label)] at round moments inside [start, end]: hours, days, Mondays,
    month or year starts: the finest step giving at most ``target`` intervals."""
    span = end - start
    if span <= 0:
        return []
    for step in _SECOND_STEPS:
        if span / step <= target:
            offset = 4 * 86400 if step == 7 * 86400 or step == 14 * 86400 else 0  # Mondays
            first = math.ceil((start - offset) / step) * step + offset
            fmt = "%Y-%m-%d" if step >= 86400 else ("%H:%M" if span <= 86400 else "%m-%d %H:%M")
            return [(t, datetime.fromtimestamp(t, timezone.utc).strftime(fmt))
                    for t in _frange(first, end, step)]
    begin = datetime.fromtimestamp(start, timezone.utc)
    for months in _MONTH_STEPS:
        if span / (months * 30.44 * 86400) <= target:
            break
    moment = _add_months(begin.replace(hour=0, minute=0, second=0, microsecond=0), 0)
    if moment.timestamp() < start:
        moment = _add_months(moment, 1)
    while (moment.year * 12 + moment.month - 1) % months:
        moment = _add_months(moment, 1)
    fmt = "%Y" if months >= 12 else "%b %Y"
    ticks = []
    while moment.timestamp() <= end:
        ticks.append((moment.timestamp(), moment.strftime(fmt)))
        moment = _add_months(moment, months)
    return ticks


def _frange(first: float, end: float, step: float):
    t = first
    while t <= end:
        yield t
        t += step


# ------------------------------------------------------------------ pieces
def _svg_open(width: int, height: int, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" {FONT} '
            f'font-size="12"><title>{escape(label)}</title>')


def _text(x, y, text, *, anchor="start", size=12, colour=TEXT_COLOUR, weight=None,
          cls=None) -> str:
    extra = f' font-weight="{weight}"' if weight else ""
    extra += f' class="{cls}"' if cls else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{colour}"{extra}>{escape(text)}</text>')


def no_data(width: int = 960, height: int = 200, title: str = "", message: str = "no data", *,
            heading: bool = True) -> str:
    """A framed panel saying ``message``: drawn for empty or one-point series."""
    parts = [_svg_open(width, height, f"{title}: {message}" if title else message),
             f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="#fafafa" '
             f'stroke="#cccccc" stroke-dasharray="6 4"/>']
    if title and heading:
        parts.append(_text(12, 22, title, weight="600", size=14))
    parts.append(_text(width / 2, height / 2 + 5, message, anchor="middle", size=16,
                       colour="#888888", cls="no-data"))
    parts.append("</svg>")
    return "".join(parts)


class _Scale:
    """Maps a data interval onto a pixel interval (y grows downwards when flipped)."""

    def __init__(self, low: float, high: float, pixel_low: float, pixel_high: float):
        self.low, self.high = low, high
        self.pixel_low, self.pixel_high = pixel_low, pixel_high

    def __call__(self, value: float) -> float:
        if self.high == self.low:
            return (self.pixel_low + self.pixel_high) / 2
        return self.pixel_low + (value - self.low) / (self.high - self.low) * (
            self.pixel_high - self.pixel_low)


def _path(points, sx, sy) -> str:
    return "M" + "L".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)


def _value_axis(ticks, sy, left, right, labels) -> list[str]:
    parts = []
    for tick, label in zip(ticks, labels):
        y = sy(tick)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" '
                     f'stroke="{GRID_COLOUR}" stroke-width="1"/>')
        parts.append(_text(left - 6, y + 4, label, anchor="end", size=11, cls="y-tick"))
    return parts


def line_chart(series: Sequence[tuple[Any, Any]], *,
               drawdown: bool | Sequence[tuple[Any, float]] = True,
               title: str = "Equity", width: int = 960, height: int = 460,
               max_points: int = MAX_POINTS, heading: bool = True,
               benchmark: Sequence[tuple[Any, Any]] | None = None,
               benchmark_label: str = "benchmark") -> str:
    """The equity curve, with the drawdown shaded in a panel beneath it.

    ``series``: [(x, value)] in time order. ``drawdown``: True to compute it from the
    full series, False for no drawdown panel, or a ready [(x, fraction <= 0)] series.
    Both series are downsampled to ``max_points``. Fewer than two points, or no time
    span, draw :func:`no_data`. ``heading=False`` leaves the title out of the picture
    (it stays the accessible label) for a page that has its own heading.
    ``benchmark``: [(x, value)] drawn as a second, dashed line on the same value axis
    (already scaled to the equity's start value), with a legend naming
    ``benchmark_label``; its points outside the equity's time span are left out.
    """
    points = [(to_epoch(x), float(y)) for x, y in series
              if y is not None and math.isfinite(float(y))]
    if len(points) < 2 or points[-1][0] <= points[0][0]:
        return no_data(width, min(height, 200), title, heading=heading)
    if drawdown is True:
        dd = drawdown_series(points)
    elif drawdown:
        dd = [(to_epoch(x), float(y)) for x, y in drawdown]
    else:
        dd = []
    points = downsample(points, max_points)
    dd = downsample(dd, max_points) if dd else []
    left, right, top, bottom = 86, width - 24, 34 if heading else 14, height - 34
    t0, t1 = points[0][0], points[-1][0]
    other = [(to_epoch(x), float(y)) for x, y in benchmark or []
             if y is not None and math.isfinite(float(y))]
    other = downsample([(x, y) for x, y in other if t0 <= x <= t1], max_points)
    sx = _Scale(t0, t1, left, right)
    gap = 18
    equity_bottom = top + (bottom - top - gap) * 0.70 if dd else bottom
    values = [y for _, y in points] + [y for _, y in other]
    ticks = nice_ticks(min(values), max(values), 5)
    sy = _Scale(ticks[0], ticks[-1], equity_bottom, top)
    decimals = tick_decimals(ticks)
    parts = [_svg_open(width, height, title),
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    if heading:
        parts.append(_text(left, 20, title, weight="600", size=14))
    parts += _value_axis(ticks, sy, left, right, [format_number(t, decimals) for t in ticks])
    base = f"{equity_bottom:.1f}"
    area = _path(points, sx, sy) + f"L{sx(t1):.1f},{base}L{sx(t0):.1f},{base}Z"
    parts.append(f'<path d="{area}" fill="{EQUITY_COLOUR}" fill-opacity="0.08" stroke="none"/>')
    parts.append(f'<path class="equity" d="{_path(points, sx, sy)}" fill="none" '
                 f'stroke="{EQUITY_COLOUR}" stroke-width="1.6" stroke-linejoin="round"/>')
    if len(other) >= 2:
        parts.append(f'<path class="benchmark" d="{_path(other, sx, sy)}" fill="none" '
                     f'stroke="{BENCHMARK_COLOUR}" stroke-width="1.4" '
                     f'stroke-dasharray="5 3" stroke-linejoin="round"/>')
        parts.append(_text(left + 8, top + 16, "equity", size=11, colour=EQUITY_COLOUR,
                           cls="legend"))
        parts.append(_text(left + 60, top + 16, f"{benchmark_label} (scaled to the start "
                           "value)", size=11, colour=BENCHMARK_COLOUR, cls="legend"))
    parts.append(f'<rect x="{left}" y="{top}" width="{right - left}" '
                 f'height="{equity_bottom - top:.1f}" fill="none" stroke="#bbbbbb"/>')
    if dd:
        dd_top = equity_bottom + gap
        deepest = min(y for _, y in dd)
        dd_ticks = [t / 100 for t in nice_ticks(min(deepest * 100, -0.5), 0.0, 3)]
        sd = _Scale(dd_ticks[0], 0.0, bottom, dd_top)
        dd_decimals = tick_decimals([t * 100 for t in dd_ticks])
        parts += _value_axis(dd_ticks, sd, left, right,
                             [format_number(t * 100, dd_decimals) + "%" for t in dd_ticks])
        shade = (f"M{sx(dd[0][0]):.1f},{sd(0):.1f}L" + _path(dd, sx, sd)[1:]
                 + f"L{sx(dd[-1][0]):.1f},{sd(0):.1f}Z")
        parts.append(f'<path class="drawdown" d="{shade}" fill="{DRAWDOWN_COLOUR}" '
                     f'fill-opacity="0.45" stroke="{DRAWDOWN_COLOUR}" stroke-width="0.8"/>')
        parts.append(f'<rect x="{left}" y="{dd_top:.1f}" width="{right - left}" '
                     f'height="{bottom - dd_top:.1f}" fill="none" stroke="#bbbbbb"/>')
        parts.append(_text(right, dd_top - 5, "Drawdown", anchor="end", size=11,
                           colour=DRAWDOWN_COLOUR))
    x_ticks = time_ticks(t0, t1, max(2, (right - left) // 110)) or [
        (t, datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S"))
        for t in (t0, t1)]  # a span shorter than the smallest step: label both ends
    for t, label in x_ticks:
        x = sx(t)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" '
                     f'stroke="{GRID_COLOUR}" stroke-width="1" stroke-dasharray="2 3"/>')
        parts.append(_text(x, bottom + 16, label, anchor="middle", size=11, cls="x-tick"))
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------ heatmap
def _mix(colour, weight: float) -> tuple[int, int, int]:
    return tuple(round(n + (c - n) * weight) for n, c in zip(NEUTRAL, colour))


def cell_colour(value: float | None, scale: float) -> str:
    """Green for gains, red for losses, neutral at zero, full colour at ``|value| >= scale``."""
    if value is None or not math.isfinite(value) or scale <= 0:
        return "#%02x%02x%02x" % NEUTRAL
    weight = min(1.0, abs(value) / scale)
    return "#%02x%02x%02x" % _mix(GREEN if value > 0 else RED, weight)


def _scale(values) -> float:
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    return max(finite, default=0.0)


def heatmap(monthly: dict, yearly: dict | None = None, *, title: str = "Monthly returns",
            width: int = 960, heading: bool = True) -> str:
    """Rows = years, columns = months (and the whole year when ``yearly`` is given);
    returns are fractions, printed in percent with one decimal. Months and years get
    separate colour scales, each centred on zero. Empty: :func:`no_data`."""
    if not monthly:
        return no_data(width, 160, title, heading=heading)
    years = sorted({year for year, _ in monthly} | set(yearly or {}))
    columns = 13 if yearly is not None else 12
    left, top, row_h = 56, 50 if heading else 26, 28
    cell_w = (width - left - 12) / columns
    height = top + row_h * len(years) + 14
    month_scale, year_scale = _scale(monthly.values()), _scale((yearly or {}).values())
    parts = [_svg_open(width, height, title),
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    if heading:
        parts.append(_text(left, 20, title, weight="600", size=14))
    headers = list(MONTHS) + (["Year"] if yearly is not None else [])
    for c, name in enumerate(headers):
        parts.append(_text(left + (c + 0.5) * cell_w, top - 8, name, anchor="middle", size=11,
                           weight="600" if c == 12 else None))
    for r, year in enumerate(years):
        y = top + r * row_h
        parts.append(_text(left - 8, y + row_h / 2 + 4, str(year), anchor="end", weight="600"))
        cells = [(monthly, (year, m), month_scale) for m in range(1, 13)]
        if yearly is not None:
            cells.append((yearly, year, year_scale))
        for c, (source, key, scale) in enumerate(cells):
            x = left + c * cell_w
            present = key in source
            value = source.get(key)
            fill = cell_colour(value, scale) if present else "#ffffff"
            parts.append(f'<rect x="{x + 1:.1f}" y="{y + 1}" width="{cell_w - 2:.1f}" '
                         f'height="{row_h - 2}" rx="2" fill="{fill}" stroke="#e0e0e0"/>')
            if present:
                label = "n/a" if value is None else percent(value) + "%"
                strong = value is not None and scale > 0 and abs(value) / scale > 0.55
                parts.append(_text(x + cell_w / 2, y + row_h / 2 + 4, label, anchor="middle",
                                   size=11, colour="#ffffff" if strong else "#222222",
                                   cls="cell"))
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["MAX_POINTS", "MinMaxSampler", "cell_colour", "downsample", "drawdown_series",
           "escape", "format_number", "heatmap", "line_chart", "nice_step", "nice_ticks",
           "no_data", "time_ticks", "to_epoch"]
