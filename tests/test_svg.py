"""Our SVG module: downsampling that keeps spikes, nice ticks, escaping, "no data"."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradestore.analytics import svg

NS = {"s": "http://www.w3.org/2000/svg"}
HOSTILE = '<script>alert("x")</script> & \'co\''


def parse(text: str) -> ET.Element:
    """Every chart must be well-formed XML (so also valid inline in HTML)."""
    return ET.fromstring(text)


def texts(root: ET.Element, cls: str | None = None) -> list[str]:
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")
            if cls is None or t.get("class") == cls]


def path_points(d: str) -> int:
    return len(re.findall(r"-?\d+(?:\.\d+)?,-?\d+(?:\.\d+)?", d))


def number(label: str) -> float:
    return float(label.replace(",", "").rstrip("%"))


def days(start: date, values) -> list[tuple[date, float]]:
    return [(start + timedelta(days=i), v) for i, v in enumerate(values)]


# ------------------------------------------------------------------ downsampling
def test_long_series_keeps_at_most_the_limit_and_its_spikes():
    points = [(i, 100 + math.sin(i / 50)) for i in range(100_000)]
    points[54_321] = (54_321, 1_000_000.0)   # a spike
    points[77_777] = (77_777, -5_000.0)      # a crash
    kept = svg.downsample(points, 2000)
    assert len(kept) <= 2000 and len(kept) > 1900
    assert (54_321, 1_000_000.0) in kept and (77_777, -5_000.0) in kept
    assert kept[0] == points[0] and kept[-1] == points[-1]
    assert [x for x, _ in kept] == sorted({x for x, _ in kept})  # in order, no repeats


def test_short_series_is_untouched():
    points = [(i, i * i) for i in range(2000)]
    assert svg.downsample(points, 2000) == points
    assert svg.downsample([], 2000) == []


@given(st.lists(st.floats(-1e6, 1e6), max_size=3000), st.integers(4, 400))
def test_downsample_is_an_ordered_subset_with_both_extremes(values, limit):
    points = list(enumerate(values))
    kept = svg.downsample(points, limit)
    assert len(kept) <= limit
    assert all(points[x] == (x, y) for x, y in kept)
    assert [x for x, _ in kept] == sorted(set(x for x, _ in kept))
    if values:
        assert max(values) in [y for _, y in kept] and min(values) in [y for _, y in kept]
        assert kept[0] == points[0] and kept[-1] == points[-1]


def test_streaming_sampler_matches_downsample():
    points = [(i, (i * 7919) % 1013) for i in range(10_000)]
    sampler = svg.MinMaxSampler(len(points), 500)
    for x, y in points:
        sampler.add(x, y)
    assert sampler.points() == svg.downsample(points, 500)
    with pytest.raises(ValueError):
        svg.MinMaxSampler(10, 3)


def test_drawdown_series_worked_by_hand():
    dd = svg.drawdown_series([(0, 100.0), (1, 120.0), (2, 90.0), (3, 108.0), (4, 130.0)])
    assert dd == [(0, 0.0), (1, 0.0), (2, pytest.approx(-0.25)), (3, pytest.approx(-0.10)),
                  (4, 0.0)]
    assert svg.drawdown_series([(0, 0.0), (1, -5.0)]) == []


# ------------------------------------------------------------------ axes
def test_nice_ticks_are_1_2_5_steps_covering_the_data():
    assert svg.nice_ticks(0, 97) == [0, 20, 40, 60, 80, 100]
    # span 369.5 / 5 = 73.9 per interval: the next 1-2-5 step is 100
    assert svg.nice_ticks(9_870.5, 10_240) == [9_800, 9_900, 10_000, 10_100, 10_200, 10_300]
    assert svg.nice_ticks(0.11, 0.47) == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert svg.nice_ticks(-37, -2) == [-40, -30, -20, -10, 0]
    flat = svg.nice_ticks(1000, 1000)
    assert flat[0] < 1000 < flat[-1]


@given(st.floats(-1e9, 1e9), st.floats(1e-6, 1e9), st.integers(2, 10))
def test_nice_ticks_properties(low, span, target):
    high = low + span
    ticks = svg.nice_ticks(low, high, target)
    step = svg.nice_step(high - low, target)
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-9
    assert all(b - a == pytest.approx(step, rel=1e-6, abs=1e-9 * abs(b))
               for a, b in zip(ticks, ticks[1:]))
    assert ticks[0] <= low and ticks[-1] >= high
    assert 2 <= len(ticks) <= 2 * target + 3


def test_format_number_uses_thousands_separators():
    assert svg.format_number(1_234_567.5, 1) == "1,234,567.5"
    assert svg.format_number(1_234_567.5) == "1,234,568"
    assert svg.format_number(-0.0001, 2) == "0.00"
    assert svg.format_number(-2500) == "-2,500"


def test_time_ticks_pick_round_moments_inside_the_span():
    start = svg.to_epoch(date(2024, 1, 1))
    yearly = svg.time_ticks(start, svg.to_epoch(date(2024, 12, 31)), 6)
    # 365 days / 2 months (2 x 30.44 days) = 6.0 intervals: two-month steps
    assert [label for _, label in yearly] == ["Jan 2024", "Mar 2024", "May 2024", "Jul 2024",
                                              "Sep 2024", "Nov 2024"]
    daily = svg.time_ticks(start, svg.to_epoch(date(2024, 1, 5)), 6)
    assert [label for _, label in daily] == ["2024-01-01", "2024-01-02", "2024-01-03",
                                             "2024-01-04", "2024-01-05"]
    hours = svg.time_ticks(start, start + 6 * 3600, 6)
    assert [label for _, label in hours] == [f"{h:02}:00" for h in range(7)]  # 6 intervals
    decade = svg.time_ticks(start, svg.to_epoch(date(2034, 6, 1)), 6)
    # 10.4 years: 24-month steps, on even years
    assert [label for _, label in decade] == ["2024", "2026", "2028", "2030", "2032", "2034"]
    assert svg.time_ticks(start, start, 6) == []


def test_to_epoch_reads_dates_datetimes_and_numbers():
    assert svg.to_epoch(date(1970, 1, 2)) == 86400
    assert svg.to_epoch(datetime(1970, 1, 1, 1)) == 3600  # naive is UTC
    assert svg.to_epoch(datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == 0
    assert svg.to_epoch(12.5) == 12.5


# ------------------------------------------------------------------ line chart
def test_line_chart_axes_cover_a_known_series():
    series = days(date(2024, 1, 1), [1000 + 5 * i for i in range(101)])  # 1,000 .. 1,500
    series[40] = (series[40][0], 1720.0)                                  # peak, then drawdown
    root = parse(svg.line_chart(series, title="Equity"))
    labels = texts(root, "y-tick")
    equity_ticks = [number(t) for t in labels if not t.endswith("%")]
    assert min(equity_ticks) <= 1000 and max(equity_ticks) >= 1720
    assert max(equity_ticks) < 2000 and "1,000" in labels
    dd_ticks = [number(t) for t in labels if t.endswith("%")]
    deepest = (1000 + 5 * 41) / 1720 - 1                                  # -29.9%
    assert min(dd_ticks) <= deepest * 100 and max(dd_ticks) == 0
    x_labels = texts(root, "x-tick")
    assert x_labels == ["Jan 2024", "Feb 2024", "Mar 2024", "Apr 2024"]  # 2024-01-01..04-10


def test_line_chart_downsamples_both_panels():
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    series = [(start + timedelta(minutes=i), 10_000 + (i % 300)) for i in range(50_000)]
    series[31_337] = (series[31_337][0], 2_000.0)  # one crash of 80%
    root = parse(svg.line_chart(series, max_points=2000))
    equity = root.find(".//s:path[@class='equity']", NS)
    drawdown = root.find(".//s:path[@class='drawdown']", NS)
    assert path_points(equity.get("d")) <= 2000
    assert path_points(drawdown.get("d")) <= 2000 + 2   # plus the two baseline corners
    equity_ticks = [number(t) for t in texts(root, "y-tick") if not t.endswith("%")]
    assert min(equity_ticks) <= 2000 < min(equity_ticks) + 2000  # the crash set the range
    dd_ticks = [number(t) for t in texts(root, "y-tick") if t.endswith("%")]
    assert min(dd_ticks) <= -80 < min(dd_ticks) + 30


def test_line_chart_without_drawdown_panel():
    root = parse(svg.line_chart(days(date(2024, 1, 1), [1, 2, 3]), drawdown=False))
    assert root.find(".//s:path[@class='drawdown']", NS) is None
    assert root.find(".//s:path[@class='equity']", NS) is not None


@pytest.mark.parametrize("series", [
    [],
    [(date(2024, 1, 1), 100.0)],
    [(date(2024, 1, 1), 100.0), (date(2024, 1, 1), 101.0)],   # no time span
    [(date(2024, 1, 1), None), (date(2024, 1, 2), float("nan"))],
])
def test_empty_or_one_point_series_draw_no_data(series):
    root = parse(svg.line_chart(series, title="Equity"))
    assert "no data" in texts(root, "no-data")
    assert root.find(".//s:path", NS) is None


def test_hostile_titles_are_escaped():
    for picture in (svg.line_chart(days(date(2024, 1, 1), [1, 2]), title=HOSTILE),
                    svg.line_chart([], title=HOSTILE),
                    svg.heatmap({(2024, 1): 0.1}, title=HOSTILE),
                    svg.heatmap({}, title=HOSTILE),
                    svg.no_data(title=HOSTILE, message=HOSTILE)):
        assert "<script" not in picture and "&lt;script&gt;" in picture
        root = parse(picture)
        assert HOSTILE in texts(root) or HOSTILE == root.get("aria-label")
        assert root.get("aria-label").startswith(HOSTILE)


# ------------------------------------------------------------------ heatmap
def test_heatmap_prints_values_and_centres_colours_on_zero():
    monthly = {(2024, 1): 0.123, (2024, 2): -0.045, (2024, 3): 0.0, (2025, 1): None}
    root = parse(svg.heatmap(monthly, {2024: 0.07, 2025: None}))
    cells = texts(root, "cell")
    assert cells == ["12.3%", "-4.5%", "0.0%", "7.0%", "n/a", "n/a"]
    assert texts(root)[1:14] == ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
                                "Oct", "Nov", "Dec", "Year"]
    assert "2024" in texts(root) and "2025" in texts(root)


def test_cell_colours():
    def rgb(colour):
        return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    neutral = rgb(svg.cell_colour(0.0, 0.2))
    gain, loss = rgb(svg.cell_colour(0.1, 0.2)), rgb(svg.cell_colour(-0.1, 0.2))
    assert neutral == svg.NEUTRAL
    assert gain[1] > gain[0] and loss[0] > loss[1]            # green up, red down
    distance = [sum(abs(a - b) for a, b in zip(c, neutral)) for c in (gain, loss)]
    half_green = sum(abs(a - b) for a, b in zip(svg.GREEN, neutral)) / 2
    half_red = sum(abs(a - b) for a, b in zip(svg.RED, neutral)) / 2
    assert distance[0] == pytest.approx(half_green, abs=2)   # equal distance from zero
    assert distance[1] == pytest.approx(half_red, abs=2)
    assert rgb(svg.cell_colour(0.9, 0.2)) == svg.GREEN       # saturates beyond the scale
    assert rgb(svg.cell_colour(None, 0.2)) == svg.NEUTRAL


def test_empty_heatmap_draws_no_data():
    root = parse(svg.heatmap({}, title="Monthly returns"))
    assert texts(root, "no-data") == ["no data"]
