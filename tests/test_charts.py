"""Terminal charts: the equity sparkline and the monthly returns table."""

from __future__ import annotations

import io
import math
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradestore.analytics.charts import (ASCII_LEVELS, BLOCKS, can_encode, equity_lines,
                                         monthly_returns, monthly_table, resample, sparkline,
                                         wants_ascii, yearly_returns)


def daily(start: date, values) -> list[tuple[date, Decimal]]:
    return [(start + timedelta(days=i), Decimal(str(v))) for i, v in enumerate(values)]


# ------------------------------------------------------------------ sparkline
@pytest.mark.parametrize("n", [1, 2, 3, 59, 60, 61, 119, 365, 1000])
def test_sparkline_is_exactly_60_block_characters(n):
    line = sparkline([100 + (i % 17) for i in range(n)])
    assert len(line) == 60
    assert set(line) <= set(BLOCKS)


def test_rising_series_climbs_from_lowest_to_highest_block():
    line = sparkline(range(365))
    assert line[0] == BLOCKS[0] and line[-1] == BLOCKS[-1]
    levels = [BLOCKS.index(c) for c in line]
    assert levels == sorted(levels)
    assert len(set(levels)) == len(BLOCKS)


def test_ascii_fallback_has_the_same_shape():
    values = [math.sin(i / 10) for i in range(300)]
    unicode_line = sparkline(values)
    ascii_line = sparkline(values, ascii=True)
    assert len(ascii_line) == 60 and ascii_line.isascii()
    assert set(ascii_line) <= set(ASCII_LEVELS)
    pairs = sorted((BLOCKS.index(u), ASCII_LEVELS.index(a))
                   for u, a in zip(unicode_line, ascii_line))
    assert [a for _, a in pairs] == sorted(a for _, a in pairs)  # same order of heights
    # lowest and highest points land on the ends of the ASCII ramp
    assert ASCII_LEVELS[0] in ascii_line and ASCII_LEVELS[-1] in ascii_line


def test_sparkline_takes_the_daily_series_pairs_and_decimals():
    series = daily(date(2024, 1, 1), [100, 101, 102, 99, 120])
    assert sparkline(series, 5) == sparkline([100, 101, 102, 99, 120], 5)
    # low 99, high 120, 7 steps: 100 -> 0.83, 101 -> 1.17, 102 -> 1.5 (rounded down)
    assert sparkline(series, 5) == "▁▂▂▁█"


def test_flat_one_point_and_empty_series():
    assert sparkline([5] * 10) == BLOCKS[3] * 60
    assert sparkline([Decimal("7")], 12) == BLOCKS[3] * 12
    assert sparkline([]) == ""
    assert sparkline([None, float("nan")]) == ""
    with pytest.raises(ValueError):
        sparkline([1, 2], 0)


def test_resample_takes_each_buckets_close_or_interpolates():
    assert resample(list(range(120)), 60) == list(range(1, 120, 2))
    assert resample([0.0, 10.0], 5) == [0.0, 2.5, 5.0, 7.5, 10.0]
    assert resample([3.0], 4) == [3.0] * 4


@given(st.lists(st.floats(-1e9, 1e9), max_size=400), st.integers(1, 120), st.booleans())
def test_sparkline_width_is_exact_for_any_series(values, width, ascii):
    line = sparkline(values, width, ascii=ascii)
    assert len(line) == (width if values else 0)
    assert set(line) <= set(ASCII_LEVELS if ascii else BLOCKS)


def test_can_encode_and_the_terminal_choice():
    assert can_encode(BLOCKS, "utf-8")
    assert not can_encode(BLOCKS, "ascii")
    assert not can_encode(BLOCKS, "cp1252")
    assert not can_encode(BLOCKS, None)
    assert not can_encode(BLOCKS, "no-such-codec")
    assert can_encode("plain", None)
    assert wants_ascii(io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    assert wants_ascii(io.TextIOWrapper(io.BytesIO(), encoding="latin-1"))
    assert not wants_ascii(io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))


def test_equity_lines_fit_80_columns():
    series = daily(date(2024, 1, 1), [1_000_000 + 1000 * i for i in range(400)])
    spark, caption = equity_lines(series)
    assert len(spark) == 60 and len(caption) <= 80
    assert caption.startswith("2024-01-01 .. 2025-02-03")
    assert "low 1,000,000.00" in caption and "high 1,399,000.00" in caption
    assert equity_lines([]) == []
    assert equity_lines(series, ascii=True)[0].isascii()


# ------------------------------------------------------------------ monthly returns
def test_monthly_returns_worked_by_hand():
    series = [(date(2024, 1, 1), Decimal(100)), (date(2024, 1, 31), Decimal(110)),
              (date(2024, 2, 15), Decimal(99)), (date(2024, 2, 29), Decimal(121)),
              (date(2024, 3, 31), Decimal(121)), (date(2024, 12, 31), Decimal("96.8")),
              (date(2025, 1, 2), Decimal("121"))]
    months = monthly_returns(series)
    assert list(months) == [(2024, 1), (2024, 2), (2024, 3), (2024, 12), (2025, 1)]
    assert months[(2024, 1)] == pytest.approx(0.10)     # 110 / 100 (the first value) - 1
    assert months[(2024, 2)] == pytest.approx(0.10)     # 121 / 110 - 1, mid-month 99 ignored
    assert months[(2024, 3)] == pytest.approx(0.0)
    assert months[(2024, 12)] == pytest.approx(-0.20)   # 96.8 / 121 - 1
    assert months[(2025, 1)] == pytest.approx(0.25)     # 121 / 96.8 - 1
    years = yearly_returns(series)
    assert years[2024] == pytest.approx(-0.032)         # 96.8 / 100 - 1
    assert years[2025] == pytest.approx(0.25)


def test_zero_base_month_is_undefined_not_an_error():
    months = monthly_returns([(date(2024, 1, 1), Decimal(0)), (date(2024, 2, 1), Decimal(5)),
                              (date(2024, 3, 1), Decimal(10))])
    assert months == {(2024, 1): None, (2024, 2): None, (2024, 3): pytest.approx(1.0)}
    assert monthly_returns([]) == {}


@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=500))
def test_months_compound_to_the_year(values):
    series = daily(date(2023, 11, 20), values)
    months, years = monthly_returns(series), yearly_returns(series)
    for year, total in years.items():
        product = math.prod(1 + r for (y, _), r in months.items() if y == year)
        assert product - 1 == pytest.approx(total, rel=1e-9, abs=1e-12)


def test_monthly_table_worked_by_hand():
    series = [(date(2024, 1, 1), Decimal(100)), (date(2024, 1, 31), Decimal(110)),
              (date(2024, 2, 29), Decimal(121)), (date(2024, 3, 31), Decimal(121)),
              (date(2024, 12, 31), Decimal("96.8")), (date(2025, 1, 2), Decimal("121"))]
    lines = monthly_table(series)
    # columns are 4 wide plus a space; Dec widens to 5 for "-20.0"; blank months are spaces
    assert lines == [
        "Monthly returns (%)",
        "    " + "".join(f" {m:>4}" for m in "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov".split())
        + "   Dec Year",
        "2024 10.0 10.0  0.0" + " " * 40 + " -20.0 -3.2",
        "2025 25.0" + " " * 50 + " " * 6 + " 25.0",
    ]
    assert all(len(line) <= 80 for line in lines)


def test_wide_values_split_the_table_to_fit_80_columns():
    # every month alternately halves and triples: -50.0 and 200.0, five characters each
    values, value = [], 1000.0
    for month in range(24):
        value *= 0.5 if month % 2 == 0 else 3.0
        values.append((date(2024 + month // 12, month % 12 + 1, 28), Decimal(str(value))))
    lines = monthly_table([(date(2024, 1, 1), Decimal(1000)), *values])
    assert all(len(line) <= 80 for line in lines)
    assert lines[1].split() == ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    assert lines[1 + 3].split() == []
    assert lines[5].split() == ["Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Year"]
    assert lines[2].split() == ["2024", "-50.0", "200.0", "-50.0", "200.0", "-50.0", "200.0"]
    assert lines[6].split()[:7] == ["2024", "-50.0", "200.0", "-50.0", "200.0", "-50.0",
                                    "200.0"]
    assert lines[6].split()[7] == "1039.1"   # (0.5 * 3) ** 6 - 1 over the year


def test_monthly_table_of_nothing_is_empty():
    assert monthly_table([]) == []


@given(st.lists(st.integers(1, 10**9), min_size=1, max_size=800))
def test_monthly_table_always_fits_80_columns(values):
    lines = monthly_table(daily(date(2021, 5, 17), values))
    assert lines and all(len(line) <= 80 for line in lines)
