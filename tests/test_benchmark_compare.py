"""Benchmark comparison (issue 20.5): benchmark_return, excess_return, alpha, beta,
correlation, tracking_error, information_ratio, hand-worked and against an independent
calculation (statistics module, numpy when installed). Definitions: docs/metrics.md,
"Benchmark comparison".
"""

from __future__ import annotations

import json
import math
import re
import statistics
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import examples

from tradestore import TradeRepo, ValidationError
from tradestore.market.candles import OHLCVBar
from tradestore.market.comparison import figures, timeframe_order

try:
    import numpy
except ImportError:  # the statistics-module oracle still runs
    numpy = None

UTC = timezone.utc
N = 365


def at(day, hour=0) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


def snapshots(repo, values, hour=0, first_day=1, account="default"):
    for i, value in enumerate(values):
        repo.save_portfolio_snapshot(value, timestamp=at(first_day + i, hour), account=account)


def candles(repo, symbol, closes, first: datetime, timeframe="1d", step=timedelta(days=1),
            exchange=""):
    bars = []
    for i, close in enumerate(closes):
        c = D(close)
        bars.append(OHLCVBar(symbol, timeframe, first + i * step, c, c, c, c, D(1),
                             exchange=exchange))
    repo.candles.insert_many(bars)


# The hand-worked case. Portfolio (all time), snapshots at midnight:
#   Jan 1 100, Jan 2 110, Jan 3 99, Jan 4 108.9
#   daily returns (the first day from the start value): 0, +0.10, -0.10, +0.10
# Benchmark closes: Jan 1 50, Jan 2 52, Jan 3 49.4, Jan 4 51.87 (start level: 50)
#   daily returns: 0, +0.04, -0.05, +0.05
# Means: p 0.1/4 = 0.025, b 0.04/4 = 0.01
# Deviations p: -0.025 0.075 -0.125 0.075; b: -0.01 0.03 -0.06 0.04
#   sum of products: 0.00025 + 0.00225 + 0.0075 + 0.003 = 0.013
#   sum of squares b: 0.0001 + 0.0009 + 0.0036 + 0.0016 = 0.0062
#   sum of squares p: 0.000625 + 0.005625 + 0.015625 + 0.005625 = 0.0275
# beta = 0.013 / 0.0062 = 65/31
# alpha (rf 0) = (0.025 - 65/31 * 0.01) * 365 = (0.125 / 31) * 365 = 45.625 / 31
# correlation = 0.013 / sqrt(0.0275 * 0.0062)
# differences p - b: 0, 0.06, -0.05, 0.05; mean 0.015; deviations -0.015 0.045 -0.065 0.035
#   sum of squares 0.000225 + 0.002025 + 0.004225 + 0.001225 = 0.0077
# tracking_error = sqrt(0.0077 / 3) * sqrt(365); information_ratio = 0.015 * 365 / it
# benchmark_return = 1.04 * 0.95 * 1.05 - 1 = 0.0374; total return 1.1*0.9*1.1 - 1 = 0.089
# excess_return = 1.089 - 1.0374 = 0.0516
VALUES = ["100", "110", "99", "108.9"]
BENCH = ["50", "52", "49.4", "51.87"]
HAND = dict(
    benchmark_days=4, benchmark_return=0.0374, excess_return=0.0516, beta=65 / 31,
    alpha=45.625 / 31, correlation=0.013 / math.sqrt(0.0275 * 0.0062),
    tracking_error=math.sqrt(0.0077 / 3) * math.sqrt(N),
    information_ratio=0.015 * N / (math.sqrt(0.0077 / 3) * math.sqrt(N)))


def check(m, expected):
    for name, value in expected.items():
        got = getattr(m, name)
        if value is None or isinstance(value, int):
            assert got == value, name
        else:
            assert got == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_hand_worked_series(memory_repo):
    snapshots(memory_repo, VALUES)
    series = [(date(2026, 1, i + 1), v) for i, v in enumerate(BENCH)]   # a date: that day
    m = memory_repo.calculate_performance_metrics(None, benchmark=series)
    assert m.total_return == pytest.approx(0.089)
    check(m, HAND)
    assert m.benchmark == "" and m.benchmark_timeframe is None


def test_hand_worked_candles(memory_repo):
    """Daily candles: a 1d candle's close is its own day's close, so the start level
    (at or before the first snapshot, Jan 1 00:00) is Dec 31's close."""
    snapshots(memory_repo, VALUES)
    candles(memory_repo, "BTC/USDT", ["50"] + BENCH, datetime(2025, 12, 31, tzinfo=UTC))
    m = memory_repo.calculate_performance_metrics(None, benchmark="BTC/USDT")
    check(m, HAND)
    assert m.benchmark == "BTC/USDT" and m.benchmark_timeframe == "1d"


def test_hourly_candles_give_the_last_close_of_each_day(memory_repo):
    """1h candles, two a day (22:00 and 23:00): the 23:00 candle closes the day; the
    22:00 closes are noise that must not count. Same figures as the daily case."""
    snapshots(memory_repo, VALUES)
    bars = []
    for i, close in enumerate(["50"] + BENCH):
        day = datetime(2025, 12, 31, tzinfo=UTC) + timedelta(days=i)
        bars += [(day + timedelta(hours=22), "1000"), (day + timedelta(hours=23), close)]
    memory_repo.candles.insert_many(
        OHLCVBar("BTC/USDT", "1h", t, D(c), D(c), D(c), D(c), D(1)) for t, c in bars)
    m = memory_repo.calculate_performance_metrics(None, benchmark="BTC/USDT")
    check(m, HAND)
    assert m.benchmark_timeframe == "1h"


def test_daily_candles_preferred_and_exchange(memory_repo):
    """With 1h and 1d stored the 1d candles are read (the largest timeframe of at most
    a day); candles of another exchange are found with benchmark_exchange."""
    snapshots(memory_repo, VALUES)
    candles(memory_repo, "BTC/USDT", ["50"] + BENCH, datetime(2025, 12, 31, tzinfo=UTC))
    candles(memory_repo, "BTC/USDT", ["1"] * 120, datetime(2025, 12, 31, tzinfo=UTC),
            timeframe="1h", step=timedelta(hours=1))
    assert memory_repo.calculate_performance_metrics(
        None, benchmark="BTC/USDT").benchmark_timeframe == "1d"
    candles(memory_repo, "ETH/USDT", ["50"] + BENCH, datetime(2025, 12, 31, tzinfo=UTC),
            exchange="kraken")
    m = memory_repo.calculate_performance_metrics(None, benchmark="ETH/USDT",
                                                  benchmark_exchange="kraken")
    check(m, HAND)
    with pytest.raises(ValidationError, match="ETH/USDT.*exchange ''"):
        memory_repo.calculate_performance_metrics(None, benchmark="ETH/USDT")


def test_order_of_timeframes():
    order = timeframe_order()
    assert order[0] == "1d" and order.index("1h") < order.index("1m")
    assert order.index("1d") < order.index("1w")


def test_window_with_a_carried_in_start(memory_repo):
    """Snapshots at noon; the window starts Jan 3, so the start value is Jan 2 12:00
    (110) and the benchmark starts from Jan 2's close (52), the previous day's close.
    Daily: p -0.1 (99/110 - 1), +0.1; b -0.05, +0.05.
    beta = cov / var_b = ((-0.1)(-0.05) + 0.1 * 0.05) / (0.05^2 + 0.05^2) = 2,
    alpha = (0 - 2 * 0) * 365 = 0, correlation 1, differences -0.05, 0.05: mean 0 so
    information ratio 0, tracking error = sqrt(0.005) * sqrt(365).
    benchmark_return = 0.95 * 1.05 - 1 = -0.0025; excess = 0.99 - 0.9975 = -0.0075."""
    snapshots(memory_repo, VALUES, hour=12)
    candles(memory_repo, "BTC/USDT", ["50"] + BENCH, datetime(2025, 12, 31, tzinfo=UTC))
    m = memory_repo.calculate_performance_metrics(
        since=at(3), until=at(5), benchmark="BTC/USDT")
    assert (m.start, m.end, m.start_value) == (date(2026, 1, 3), date(2026, 1, 4), D("110"))
    check(m, dict(benchmark_days=2, beta=2.0, alpha=0.0, correlation=1.0,
                  information_ratio=0.0, tracking_error=math.sqrt(0.005) * math.sqrt(N),
                  benchmark_return=-0.0025, excess_return=-0.0075))


def test_risk_free_rate_in_alpha(memory_repo):
    """alpha = (mean(r_p - rf) - beta * mean(r_b - rf)) * N with rf per day
    (1 + rate)^(1/N) - 1, as the Sharpe ratio uses it."""
    snapshots(memory_repo, VALUES)
    series = [(date(2026, 1, i + 1), v) for i, v in enumerate(BENCH)]
    m = memory_repo.calculate_performance_metrics(None, benchmark=series,
                                                  risk_free_rate=0.05)
    rf = 1.05 ** (1 / N) - 1
    assert m.alpha == pytest.approx((0.025 - rf - 65 / 31 * (0.01 - rf)) * N, rel=1e-9)
    assert m.beta == pytest.approx(65 / 31)


def test_undefined_is_none(memory_repo):
    snapshots(memory_repo, VALUES)
    flat = [(date(2026, 1, i + 1), "7") for i in range(4)]
    m = memory_repo.calculate_performance_metrics(None, benchmark=flat)
    # zero benchmark variance: no beta, alpha or correlation; the rest is defined
    assert (m.beta, m.alpha, m.correlation) == (None, None, None)
    assert m.benchmark_return == 0.0 and m.excess_return == pytest.approx(0.089)
    assert m.tracking_error > 0
    # the benchmark is the portfolio: tracking error 0, no information ratio
    same = [(date(2026, 1, i + 1), v) for i, v in enumerate(VALUES)]
    m = memory_repo.calculate_performance_metrics(None, benchmark=same)
    assert m.beta == pytest.approx(1.0) and m.correlation == pytest.approx(1.0)
    assert m.tracking_error == 0.0 and m.information_ratio is None
    assert m.alpha == pytest.approx(0.0, abs=1e-12) and m.excess_return == 0.0
    # one paired day: returns, but no deviation-based figure
    one = [(date(2026, 1, 3), "10"), (date(2026, 1, 4), "11")]
    m = memory_repo.calculate_performance_metrics(None, benchmark=one)
    assert m.benchmark_days == 1 and m.benchmark_return == pytest.approx(0.1)
    assert m.excess_return == pytest.approx(0.0)
    assert (m.beta, m.alpha, m.correlation, m.tracking_error, m.information_ratio) == \
        (None,) * 5
    # no overlap with the curve
    later = [(date(2026, 2, 1), "10"), (date(2026, 2, 2), "11")]
    m = memory_repo.calculate_performance_metrics(None, benchmark=later)
    assert m.benchmark_days == 0 and m.benchmark_return is None and m.alpha is None
    # no snapshots at all: no curve, no comparison
    m = memory_repo.calculate_performance_metrics(None, account="empty", benchmark=later)
    assert m.benchmark == "" and m.benchmark_days == 0 and m.beta is None


def test_days_outside_the_benchmark_are_left_out(memory_repo):
    """Benchmark data for Jan 2 and Jan 3 only: Jan 1 has no level and Jan 4 is past
    the data (no level is carried past the last point), so one day pairs: Jan 3
    (b = 49.4/52 - 1 = -0.05, p = -0.1); excess = 0.9 - 0.95 = -0.05."""
    snapshots(memory_repo, VALUES)
    m = memory_repo.calculate_performance_metrics(
        None, benchmark=[(date(2026, 1, 2), "52"), (date(2026, 1, 3), "49.4")])
    assert m.benchmark_days == 1
    assert m.benchmark_return == pytest.approx(-0.05)
    assert m.excess_return == pytest.approx(-0.05)


def test_gap_in_the_benchmark_carries(memory_repo):
    """A day without a benchmark point inside its data carries the previous level
    (a weekend of a stock index): Jan 3 missing, so b = 0 on Jan 3 and 51.87/52 - 1
    on Jan 4."""
    snapshots(memory_repo, VALUES)
    m = memory_repo.calculate_performance_metrics(None, benchmark=[
        (date(2026, 1, 1), "50"), (date(2026, 1, 2), "52"), (date(2026, 1, 4), "51.87")])
    assert m.benchmark_days == 4
    assert m.benchmark_return == pytest.approx(51.87 / 50 - 1)


@pytest.mark.parametrize("series, match", [
    ("NOPE/USDT", "benchmark: 'NOPE/USDT' has no stored candles"),
    (5, "benchmark: 5 must be a symbol"),
    ([("2026-01-01", "1", "2")], "must be a \\(time, value\\) pair"),
    ([("yesterday", "1")], "benchmark time: 'yesterday' is not an ISO-8601"),
    ([("2026-01-01", "0")], "benchmark value: 0 must be > 0"),
    ([("2026-01-01", "-3")], "benchmark value: -3 must be > 0"),
    ([("2026-01-01", "nan")], "benchmark value"),
    ("", "benchmark"),
])
def test_bad_benchmark_is_a_validation_error(memory_repo, series, match):
    snapshots(memory_repo, VALUES)
    with pytest.raises(ValidationError, match=match):
        memory_repo.calculate_performance_metrics(None, benchmark=series)
    with pytest.raises(ValidationError, match=match):   # the same without a curve
        memory_repo.calculate_performance_metrics(None, account="none", benchmark=series)


def test_bad_benchmark_exchange(memory_repo):
    with pytest.raises(ValidationError, match="benchmark_exchange"):
        memory_repo.calculate_performance_metrics(None, benchmark="BTC/USDT",
                                                  benchmark_exchange=3)


def test_benchmark_curve_at_each_days_close(memory_repo):
    """Snapshots at noon, window from Jan 3: the start point is Jan 2 12:00 (110) and the
    benchmark's start level Jan 2's close (52); Jan 3 and Jan 4 are drawn at their noon
    snapshots: 110 x 49.4/52 = 104.5, 110 x 51.87/52 = 109.725. A day without a snapshot
    is drawn at its end."""
    snapshots(memory_repo, VALUES, hour=12)
    candles(memory_repo, "BTC/USDT", ["50"] + BENCH, datetime(2025, 12, 31, tzinfo=UTC))
    curve = memory_repo.analytics.benchmark_curve("BTC/USDT", since=at(3), until=at(5))
    assert [t for t, _ in curve] == [at(2, 12), at(3, 12), at(4, 12)]
    assert [round(v, 9) for _, v in curve] == [110, 104.5, 109.725]
    from tradestore.market.comparison import scaled_curve
    assert scaled_curve("2026-01-02T12:00:00.000000Z", D(110), date(2026, 1, 3), D(52),
                        [D("49.4"), None, D("52")]) == [
        (at(2, 12), 110.0), (at(4), 110 * 49.4 / 52), (at(6), 110.0)]


def test_benchmark_curve_scaled_to_start_value(memory_repo):
    """start value x benchmark growth since its start level: 100 x 52/50 = 104 at
    Jan 2's close, etc.; the first point is the start point itself."""
    snapshots(memory_repo, VALUES)
    candles(memory_repo, "BTC/USDT", ["50"] + BENCH, datetime(2025, 12, 31, tzinfo=UTC))
    curve = memory_repo.analytics.benchmark_curve("BTC/USDT", None)
    # each day's point at the account's last snapshot of that day (midnight here; Jan 1's
    # only snapshot is the start point itself)
    assert [t for t, _ in curve] == [at(1), at(1), at(2), at(3), at(4)]
    assert [round(v, 9) for _, v in curve] == [100, 100, 104, 98.8, 103.74]
    assert memory_repo.analytics.benchmark_curve("BTC/USDT", None, account="x") == []


# ------------------------------------------------------------------ independent oracle
def oracle(rp, rb, rf=0.0):
    """The figures from the statistics module (and numpy when installed)."""
    diff = [p - b for p, b in zip(rp, rb)]
    out = {"benchmark_return": math.prod(1 + b for b in rb) - 1,
           "excess_return": math.prod(1 + p for p in rp) - math.prod(1 + b for b in rb)}
    te = statistics.stdev(diff) * math.sqrt(N)
    beta = statistics.covariance(rp, rb) / statistics.variance(rb)
    out.update(beta=beta, tracking_error=te,
               alpha=(statistics.fmean(rp) - rf - beta * (statistics.fmean(rb) - rf)) * N,
               correlation=statistics.correlation(rp, rb),
               information_ratio=statistics.fmean(diff) * N / te)
    if numpy is not None:
        slope, intercept = numpy.polyfit(rb, rp, 1)
        assert slope == pytest.approx(beta, rel=1e-6, abs=1e-9)
        if rf == 0:
            assert intercept * N == pytest.approx(out["alpha"], rel=1e-6, abs=1e-6)
        assert numpy.corrcoef(rp, rb)[0, 1] == pytest.approx(out["correlation"], abs=1e-9)
    return out


returns = st.floats(min_value=-0.5, max_value=0.5, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(returns, returns), min_size=3, max_size=40))
def test_figures_match_an_independent_calculation(paired):
    rb = [b for _, b in paired]
    rp = [p for p, _ in paired]
    if statistics.pvariance(rb) < 1e-12 or statistics.pvariance(rp) < 1e-12 or \
            statistics.pvariance([p - b for p, b in paired]) < 1e-12:
        return   # degenerate: covered by test_undefined_is_none
    got = figures(paired, 0.0, N)
    for name, value in oracle(rp, rb).items():
        assert got[name] == pytest.approx(value, rel=1e-7, abs=1e-9), name
    assert got["benchmark_days"] == len(paired)


levels = st.integers(min_value=1, max_value=10_000)


@settings(max_examples=examples(25, 8), deadline=None)
@given(st.lists(st.tuples(levels, levels), min_size=4, max_size=20))
def test_store_end_to_end_matches_the_oracle(days):
    """Random daily closes of the portfolio (snapshots at noon) and of a benchmark (1d
    candles): the library's figures equal the oracle's over returns computed here from
    the raw values (close / previous close - 1, the first from the start value)."""
    with TradeRepo(":memory:") as repo:
        for i, (value, _) in enumerate(days):
            repo.save_portfolio_snapshot(value, timestamp=at(1, 12) + timedelta(days=i))
        candles(repo, "IDX", [b for _, b in days], datetime(2025, 12, 31, tzinfo=UTC))
        m = repo.calculate_performance_metrics(None, benchmark="IDX")
    v = [p for p, _ in days]
    b = [x for _, x in days]
    # days=None: first day Jan 1 (start point at noon, return 0 that day); the benchmark
    # starts from the last close at or before noon Jan 1: Dec 31's close b[0]
    rp = [0.0] + [v[i] / v[i - 1] - 1 for i in range(1, len(v))]
    rb = [b[1] / b[0] - 1] + [b[i + 1] / b[i] - 1 for i in range(1, len(b) - 1)]
    rp = rp[:len(rb)]          # the last candle is Jan (len - 1): the last day pairs too
    assert m.benchmark_days == len(rb) == len(days) - 1
    if statistics.pvariance(rb) < 1e-12 or statistics.pvariance(rp) < 1e-12 or \
            statistics.pvariance([p - q for p, q in zip(rp, rb)]) < 1e-12:
        return
    for name, value in oracle(rp, rb).items():
        assert getattr(m, name) == pytest.approx(value, rel=1e-7, abs=1e-9), name


# ------------------------------------------------------------------ report, JSON, HTML, CLI
@pytest.fixture
def bench_db(db_path):
    with TradeRepo(db_path) as repo:
        snapshots(repo, VALUES)
        candles(repo, "BTC/USDT", ["50"] + BENCH, datetime(2025, 12, 31, tzinfo=UTC))
    return db_path


def test_report_text_shows_the_benchmark(cli, bench_db):
    result = cli("--db", bench_db, "report", "--all", "--benchmark", "BTC/USDT")
    assert result.code == 0, result
    out = result.out
    assert "Benchmark: BTC/USDT (1d candles), 4 paired daily returns" in out
    # the hand-worked figures, rounded for display
    assert re.search(r"benchmark return +\+3\.74%", out)
    assert re.search(r"excess return +\+5\.16%", out)        # 0.0516
    assert re.search(r"beta +2\.10", out)                     # 65/31 = 2.0968
    assert re.search(r"alpha \(ann\.\) +\+147\.18%", out)     # 45.625/31 = 1.47177
    assert re.search(r"correlation +1\.00", out)              # 0.99561
    te = math.sqrt(0.0077 / 3) * math.sqrt(N)                 # 0.96793...
    assert re.search(rf"tracking error +{te * 100:.2f}%", out)
    assert re.search(rf"information ratio +{0.015 * N / te:.2f}", out)
    lines = out.splitlines()
    spark = [line for line in lines if line.endswith((" portfolio", " benchmark"))]
    assert len(spark) == 2 and len(spark[0]) == len(spark[1])
    assert any("BTC/USDT scaled to the start value" in line for line in lines)
    assert all(len(line) <= 80 for line in lines)
    plain = cli("--db", bench_db, "report", "--all")
    assert plain.code == 0 and "Benchmark" not in plain.out and "bench" not in plain.out


def test_report_json_has_the_comparison_and_the_scaled_curve(cli, bench_db):
    result = cli("--db", bench_db, "report", "--all", "--format", "json",
                 "--benchmark", "BTC/USDT")
    assert result.code == 0, result
    data = json.loads(result.out)
    m = data["metrics"]
    assert m["benchmark"] == "BTC/USDT" and m["benchmark_timeframe"] == "1d"
    assert m["beta"] == pytest.approx(65 / 31) and m["alpha"] == pytest.approx(45.625 / 31)
    assert m["benchmark_days"] == 4
    # 100 x 52/50 = 104, 100 x 49.4/50 = 98.8, 100 x 51.87/50 = 103.74
    assert [(t[:10], round(v, 9)) for t, v in data["benchmark_curve"]] == [
        ("2026-01-01", 100), ("2026-01-01", 100), ("2026-01-02", 104), ("2026-01-03", 98.8),
        ("2026-01-04", 103.74)]


def test_html_draws_the_benchmark_beside_the_equity(bench_db):
    from tradestore.analytics.html import render_html
    with TradeRepo(bench_db, readonly=True) as repo:
        page = render_html(repo, benchmark="BTC/USDT")
        plain = render_html(repo)
    assert page.count('class="benchmark"') == 1 and 'class="benchmark"' not in plain
    assert "BTC/USDT (scaled to the start value)" in page
    shown = dict(re.findall(r'id="fig-(\w+)"><dt>.*?</dt><dd>(.*?)</dd>', page))
    assert shown["beta"] == "2.10" and shown["benchmark_return"] == "+3.74%"
    assert shown["alpha"] == "+147.18%" and shown["excess_return"] == "+5.16%"
    assert "fig-beta" not in plain


def test_cli_unknown_benchmark_is_one_line(bench_db):
    from conftest import run_tradestore
    before = bench_db.read_bytes()
    done = run_tradestore("--db", bench_db, "report", "--benchmark", "NOPE/USDT")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "'NOPE/USDT' has no stored candles" in done.stderr
    assert "Traceback" not in done.stderr and bench_db.read_bytes() == before
    ok = run_tradestore("--db", bench_db, "report", "--all", "--benchmark", "BTC/USDT")
    assert ok.returncode == 0 and "Benchmark: BTC/USDT" in ok.stdout


def test_sparklines_share_one_scale():
    """Equity 1..2 beside a benchmark 0..3: on a shared scale the equity line stays off
    the lowest and the highest level, which the benchmark reaches."""
    from tradestore.analytics.charts import BLOCKS, equity_lines
    days = [date(2026, 1, 1), date(2026, 1, 2)]
    lines = equity_lines(list(zip(days, [1, 2])), width=10,
                         benchmark=list(zip(days, [0, 3])), name="IDX")
    equity, bench = lines[0].split()[0], lines[1].split()[0]
    assert bench[0] == BLOCKS[0] and bench[-1] == BLOCKS[-1]
    assert BLOCKS[0] not in equity and BLOCKS[-1] not in equity
    assert lines[3].startswith("IDX scaled to the start value")
