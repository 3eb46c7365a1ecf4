"""Time-weighted returns with deposits and withdrawals, windows that start where the
money was, and the money-weighted return (issue 15 points 1-2).

Expected numbers are worked by hand in the comments, or computed by the plain-Python
oracle below, which shares no code with tradestore.analytics.returns (exact Fractions, the
definitions of docs/metrics.md written out the long way).
"""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import examples

from tradestore import TradeRepo, ValidationError

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


UTC = timezone.utc


def at(day, hour=0, minute=0) -> datetime:
    return datetime(2024, 1, day, hour, minute, tzinfo=UTC)


# ------------------------------------------------------------------ hand-worked

def test_a_deposit_with_no_trading_is_no_return(memory_repo):
    repo = memory_repo
    repo.save_portfolio_snapshot("1000", timestamp=at(1, 12))
    repo.accounts.deposit("default", "1000", timestamp=at(2, 10))
    repo.save_portfolio_snapshot("2000", timestamp=at(2, 12))
    repo.save_portfolio_snapshot("2000", timestamp=at(3, 12))
    m = repo.calculate_performance_metrics(days=None)
    # Jan 2: (2000 - 1000 - 1000) / (1000 + w * 1000) = 0; every day 0
    assert m.total_return == 0.0 and m.cagr == 0.0
    assert m.sharpe_ratio is None and m.sortino_ratio is None
    assert m.max_drawdown == 0.0 and m.calmar_ratio is None
    assert (m.net_flows, m.pnl) == (D("1000"), D(0))
    assert m.money_weighted_return == pytest.approx(0.0, abs=1e-9)
    assert (m.start_value, m.end_value) == (D("1000"), D("2000"))


def test_a_withdrawal_is_not_a_loss_nor_a_drawdown(memory_repo):
    repo = memory_repo
    repo.save_portfolio_snapshot("1000", timestamp=at(1, 12))
    repo.accounts.withdraw("default", "400", timestamp=at(2, 9), allow_overdraft=True)
    repo.save_portfolio_snapshot("600", timestamp=at(2, 12))
    m = repo.calculate_performance_metrics(days=None)
    assert m.total_return == 0.0 and m.max_drawdown == 0.0
    assert (m.net_flows, m.pnl) == (D("-400"), D(0))


def test_modified_dietz_by_hand(memory_repo):
    """Jan 1 00:00 1000; deposit 500 at 05:00; Jan 1 20:00 1600; withdraw 100 at
    Jan 2 02:00; Jan 2 12:00 1540.

    Sub-period 1 (20h): w = 15/20 = 0.75 -> (1600 - 1000 - 500) / (1000 + 375) = 100/1375.
    Sub-period 2 (16h): w = 10/16 = 0.625 -> (1540 - 1600 + 100) / (1600 - 62.5) = 40/1537.5.
    Each ends on its own day: daily returns [100/1375, 40/1537.5].
    """
    repo = memory_repo
    repo.save_portfolio_snapshot("1000", timestamp=at(1))
    repo.accounts.deposit("default", "500", timestamp=at(1, 5))
    repo.save_portfolio_snapshot("1600", timestamp=at(1, 20))
    repo.accounts.withdraw("default", "100", timestamp=at(2, 2))
    repo.save_portfolio_snapshot("1540", timestamp=at(2, 12))
    m = repo.calculate_performance_metrics(days=None)
    r1, r2 = 100 / 1375, 40 / 1537.5
    total = (1 + r1) * (1 + r2) - 1
    assert (m.start, m.end, m.days) == (date(2024, 1, 1), date(2024, 1, 2), 2)
    assert m.total_return == pytest.approx(total, rel=1e-12)
    assert m.cagr == pytest.approx((1 + total) ** (365 / 2) - 1, rel=1e-12)
    mean = (r1 + r2) / 2
    stdev = math.sqrt(((r1 - mean) ** 2 + (r2 - mean) ** 2) / 1)
    assert m.volatility == pytest.approx(stdev * math.sqrt(365), rel=1e-12)
    assert m.sharpe_ratio == pytest.approx(mean / stdev * math.sqrt(365), rel=1e-12)
    # 1540 - 1000 - (500 - 100) = 140, exact
    assert (m.net_flows, m.pnl) == (D("400"), D("140"))
    assert m.sortino_ratio is None and m.max_drawdown == 0.0


def test_sub_periods_of_one_day_chain_link(memory_repo):
    """Two sub-periods on Jan 2 (flows in neither): 100 -> 110 -> 99: the day returns
    1.1 * 0.9 - 1 = -0.01; Jan 1 holds only the start value: 0."""
    for ts, value in ((at(1, 12), "100"), (at(2, 8), "110"), (at(2, 16), "99")):
        memory_repo.save_portfolio_snapshot(value, timestamp=ts)
    m = memory_repo.calculate_performance_metrics(days=None)
    assert m.days == 2 and m.total_return == pytest.approx(-0.01)
    # daily returns [0, -0.01]: mean -0.005, stdev sqrt(2 * 0.005^2) = 0.005 * sqrt(2)
    assert m.volatility == pytest.approx(0.005 * math.sqrt(2) * math.sqrt(365))
    # the intra-day peak 110 counts: 1 - 99/110 = 0.1
    assert m.max_drawdown == pytest.approx(0.1)
    assert m.max_drawdown_duration == at(2, 16) - at(2, 8)


def test_flows_argument_adds_to_recorded_movements(memory_repo):
    repo = memory_repo
    repo.save_portfolio_snapshot("1000", timestamp=at(1, 12))
    repo.save_portfolio_snapshot("2000", timestamp=at(2, 12))
    plain = repo.calculate_performance_metrics(days=None)
    assert plain.total_return == pytest.approx(1.0) and plain.net_flows == D(0)
    # the same curve with the 1000 recorded elsewhere, given at the snapshot's time (w = 0)
    m = repo.calculate_performance_metrics(days=None, flows=[(at(2, 12), "1000")])
    assert m.total_return == 0.0 and (m.net_flows, m.pnl) == (D("1000"), D(0))
    # a flow outside (start, end] is not part of the curve
    m = repo.calculate_performance_metrics(days=None, flows=[(at(1, 12), "5"), (at(3), "7")])
    assert m.net_flows == D(0) and m.total_return == pytest.approx(1.0)
    # flows are per account: another account's deposit is not ours
    repo.accounts.create("other")
    repo.accounts.deposit("other", "1000", timestamp=at(2))
    assert repo.calculate_performance_metrics(days=None).net_flows == D(0)


@pytest.mark.parametrize("flows", ["abc", 5, [("2024-01-01", "x")], [("nope", 1)], [(1,)],
                                   [("2024-01-01", float("nan"))]])
def test_bad_flows_are_validation_errors(memory_repo, flows):
    with pytest.raises(ValidationError, match="flows"):
        memory_repo.calculate_performance_metrics(days=None, flows=flows)


def test_window_starts_from_the_last_snapshot_before_it(memory_repo):
    """Jan 1 1000, Jan 3 900, Jan 5 990; the window Jan 4 .. Jan 5 starts from 900 (Jan 3):
    Jan 4 carries 900 (return 0), Jan 5 990 (+10%). The fall to 900 is before the
    window, so no drawdown; the start value is the first peak."""
    for ts, value in ((at(1, 12), "1000"), (at(3, 12), "900"), (at(5, 12), "990")):
        memory_repo.save_portfolio_snapshot(value, timestamp=ts)
    m = memory_repo.calculate_performance_metrics(since=at(4), until=at(6))
    assert (m.start, m.end, m.days, m.start_value) == (date(2024, 1, 4), date(2024, 1, 5), 2,
                                                      D("900"))
    assert m.total_return == pytest.approx(0.1) and m.max_drawdown == 0.0
    assert m.pnl == D("90")
    # the window Jan 2 .. Jan 3 starts from Jan 1's 1000: the first day's move counts
    m = memory_repo.calculate_performance_metrics(since=at(2), until=at(4))
    assert m.start_value == D("1000") and m.total_return == pytest.approx(-0.1)
    assert m.max_drawdown == pytest.approx(0.1)
    assert m.max_drawdown_duration == at(3, 12) - at(1, 12)    # not recovered
    # a window with no snapshot of its own has no curve
    m = memory_repo.calculate_performance_metrics(since=at(6), until=at(8))
    assert m.start is None and m.total_return is None and m.pnl is None


def test_money_weighted_return_by_hand(memory_repo):
    """1000 at t=0, +1000 half a year later (182.5 days), 2100 at one year (365 days):
    1000 (1+r) + 1000 (1+r)^0.5 = 2100; x = sqrt(1+r) solves x^2 + x - 2.1 = 0,
    x = (-1 + sqrt(9.4)) / 2, r = x^2 - 1."""
    t0 = datetime(2023, 1, 1, tzinfo=UTC)
    memory_repo.save_portfolio_snapshot("1000", timestamp=t0)
    memory_repo.accounts.deposit("default", "1000", timestamp=t0 + timedelta(days=182.5))
    memory_repo.save_portfolio_snapshot("2100", timestamp=t0 + timedelta(days=365))
    m = memory_repo.calculate_performance_metrics(days=None)
    x = (-1 + math.sqrt(9.4)) / 2
    assert m.money_weighted_return == pytest.approx(x * x - 1, rel=1e-9)
    # no flows: 1000 -> 1100 in exactly one year is 10 %
    with TradeRepo(":memory:") as other:
        other.save_portfolio_snapshot("1000", timestamp=t0)
        other.save_portfolio_snapshot("1100", timestamp=t0 + timedelta(days=365))
        assert other.calculate_performance_metrics(days=None).money_weighted_return == \
            pytest.approx(0.1, rel=1e-9)


def test_money_weighted_return_undefined_is_none(memory_repo):
    memory_repo.save_portfolio_snapshot("0", timestamp=at(1))      # nothing invested
    memory_repo.save_portfolio_snapshot("10", timestamp=at(2))
    m = memory_repo.calculate_performance_metrics(days=None)
    assert m.money_weighted_return is None
    # 0 -> 10 without a flow: the return is undefined, so are the return figures
    assert m.total_return is None and m.sharpe_ratio is None and m.pnl == D("10")
    with TradeRepo(":memory:") as one:
        one.save_portfolio_snapshot("5", timestamp=at(1))
        assert one.calculate_performance_metrics(days=None).money_weighted_return is None


# ------------------------------------------------------------------ the oracle

def _seconds(moment: datetime) -> Fraction:
    return Fraction((moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1),
                    10**6)


def oracle(points, flows, first_day=None) -> dict:
    """Daily returns, total return and drawdown from the definitions, exactly.

    ``points``: [(datetime, Decimal)] with the start point first; ``flows``:
    [(datetime, Decimal)] (only those in (first, last] count).
    """
    t_first, t_last = points[0][0], points[-1][0]
    flows = [(t, Fraction(a)) for t, a in flows if t_first < t <= t_last]
    growth_of_day, index, indexes = {}, Fraction(1), [Fraction(1)]
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        mine = [(t, a) for t, a in flows if t0 < t <= t1]
        span = _seconds(t1) - _seconds(t0)
        net = sum((a for _, a in mine), Fraction(0))
        weighted = sum((a * (_seconds(t1) - _seconds(t)) / span for t, a in mine), Fraction(0))
        g = 1 + (Fraction(v1) - Fraction(v0) - net) / (Fraction(v0) + weighted)
        day = t1.date()
        growth_of_day[day] = growth_of_day.get(day, Fraction(1)) * g
        index *= g
        indexes.append(index)
    start = max(first_day or t_first.date(), t_first.date())
    days = []
    d = start
    while d <= t_last.date():
        days.append(growth_of_day.get(d, Fraction(1)) - 1)
        d += timedelta(days=1)
    peak, worst = indexes[0], Fraction(0)
    for x in indexes:
        peak = max(peak, x)
        worst = max(worst, 1 - x / peak)
    total = math.prod((1 + r for r in days), start=Fraction(1)) - 1
    return {"daily": [float(r) for r in days], "total_return": float(total),
            "max_drawdown": float(worst), "days": len(days),
            "pnl": points[-1][1] - points[0][1] - sum((D(a.numerator) / D(a.denominator)
                                                      for _, a in flows), D(0))}


moments = st.integers(min_value=0, max_value=6 * 24 * 60).map(
    lambda minutes: at(1) + timedelta(minutes=minutes))
values = st.decimals(min_value=D("100"), max_value=D("10000"), places=2)
flow_amounts = st.decimals(min_value=D("-50"), max_value=D("500"), places=2).filter(bool)


@settings(max_examples=examples(40, 10), deadline=None)
@given(st.dictionaries(moments, values, min_size=1, max_size=12),
       st.lists(st.tuples(moments, flow_amounts), max_size=5),
       st.integers(min_value=0, max_value=3))
def test_curve_matches_the_oracle(snaps, flows, window_start):
    points = sorted(snaps.items())
    with TradeRepo(":memory:") as repo:
        for t, v in points:
            repo.save_portfolio_snapshot(v, timestamp=t)
        since = at(1 + window_start) if window_start else None
        m = repo.calculate_performance_metrics(None, since=since, until=at(8), flows=flows)
    if since is not None:
        before = [p for p in points if p[0] <= since]
        inside = [p for p in points if p[0] > since]
        if not inside:
            assert m.start is None
            return
        points = before[-1:] + inside
    want = oracle(points, flows, since.date() if since else None)
    assert m.days == want["days"]
    assert m.total_return == pytest.approx(want["total_return"], rel=1e-9, abs=1e-12)
    assert m.max_drawdown == pytest.approx(want["max_drawdown"], rel=1e-9, abs=1e-12)
    assert m.pnl == want["pnl"]                       # exact
    assert m.start_value == points[0][1] and m.end_value == points[-1][1]
    r = want["daily"]
    if len(r) >= 2 and statistics.stdev(r) > 1e-12:
        assert m.volatility == pytest.approx(statistics.stdev(r) * math.sqrt(365), rel=1e-6)
        assert m.sharpe_ratio == pytest.approx(
            statistics.fmean(r) / statistics.stdev(r) * math.sqrt(365), rel=1e-6, abs=1e-9)


def test_curve_matches_pandas_when_installed(memory_repo):
    """With pandas (optional): the no-flow daily series as resample('D').last().ffill()."""
    pd = pytest.importorskip("pandas")
    snaps = [(at(1, 9), 1000), (at(1, 18), 1010), (at(2, 12), 1030), (at(4, 8), 980),
             (at(4, 23), 990), (at(7, 10), 1040), (at(8, 12), 1025)]
    for t, v in snaps:
        memory_repo.save_portfolio_snapshot(v, timestamp=t)
    m = memory_repo.calculate_performance_metrics(days=None)
    s = pd.Series([v for _, v in snaps], index=pd.DatetimeIndex([t for t, _ in snaps]),
                  dtype=float)
    closes = s.resample("D").last().ffill()
    series = pd.concat([pd.Series([s.iloc[0]]), closes.reset_index(drop=True)])
    r = series.pct_change().dropna()
    assert m.total_return == pytest.approx(series.iloc[-1] / series.iloc[0] - 1, rel=1e-12)
    assert m.volatility == pytest.approx(r.std(ddof=1) * math.sqrt(365), rel=1e-12)
    assert m.max_drawdown == pytest.approx((1 - s / s.cummax()).max(), rel=1e-12)


def test_pnl_and_flows_are_exact_with_many_digits(memory_repo):
    """38 significant digits: a 28-digit context would round these."""
    start, end = "1234567890123456789.1234567890123456789", "1234567890123456790.2234567890123456789"
    memory_repo.save_portfolio_snapshot(start, timestamp=at(1))
    memory_repo.save_portfolio_snapshot(end, timestamp=at(2))
    m = memory_repo.calculate_performance_metrics(
        days=None, flows=[(at(1, 12), "0.0000000000000000001")])
    # end - start = 1.1; minus the flow of 1e-19
    assert m.net_flows == D("1E-19") and m.pnl == D("1.0999999999999999999")
    with pytest.raises(ValidationError, match="account"):
        memory_repo.calculate_performance_metrics(days=None, account=5, statistics=False)


@settings(max_examples=examples(25, 8), deadline=None)
@given(st.dictionaries(moments, values, min_size=2, max_size=8),
       st.lists(st.tuples(moments, flow_amounts), max_size=4),
       st.sampled_from([D("2"), D("0.5"), D("1000")]))
def test_returns_do_not_depend_on_the_size_of_the_account(snaps, flows, k):
    """Scaling every value and every flow by k changes money figures by k and no return."""
    points = sorted(snaps.items())
    got = []
    for scale in (D(1), k):
        with TradeRepo(":memory:") as repo:
            for t, v in points:
                repo.save_portfolio_snapshot(v * scale, timestamp=t)
            got.append(repo.calculate_performance_metrics(
                None, flows=[(t, a * scale) for t, a in flows]))
    one, scaled = got
    assert scaled.pnl == one.pnl * k and scaled.net_flows == one.net_flows * k
    for name in ("total_return", "volatility", "max_drawdown", "sharpe_ratio",
                 "money_weighted_return"):
        a, b = getattr(one, name), getattr(scaled, name)
        assert (a is None) == (b is None), name
        if a is not None and b is not None:
            assert b == pytest.approx(a, rel=1e-9, abs=1e-12), name
