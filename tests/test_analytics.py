"""Trade statistics and performance metrics against values worked by hand.

Every expected value here is either written out with its arithmetic in a comment or
computed with plain Python from the raw fills and snapshots below; none is copied
from the library's output. Definitions: ARCHITECTURE.md, "Metrics".
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradestore import PerformanceMetrics, TradeRepo, TradeStatistics, ValidationError
from tradestore.analytics.metrics import POINTS_SQL, START_POINT_SQL
from tradestore.books.accounts import FLOWS as FLOWS_SQL
from tradestore.record.roundtrips import ROUND_TRIPS_SQL

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


UTC = timezone.utc


def at(day, hour=0, minute=0, second=0) -> datetime:
    return datetime(2024, 1, day, hour, minute, second, tzinfo=UTC)


# ------------------------------------------------------------------ the trade sequence
# (account, symbol, side, quantity, price, fee, strategy, time)
FILLS = [
    # RT1: BTC long, opened by alpha, closed by a beta fill -> belongs to alpha. Win.
    ("default", "BTC", "BUY", "2", "100", "1", "alpha", at(2, 10)),
    ("default", "BTC", "SELL", "2", "110", "1", "beta", at(2, 12)),
    # RT2: ETH short covered in two fills (1/3 then the rest: the entry fee 0.5 is split
    # 1/3 : 2/3, which rounds, but the round trip's pnl is exact). Win.
    ("default", "ETH", "SELL", "3", "50", "0.5", "beta", at(3, 9)),
    ("default", "ETH", "BUY", "1", "40", "0.25", "beta", at(3, 15, 30)),
    ("default", "ETH", "BUY", "2", "45", "0.25", None, at(4, 9)),
    # RT3: BTC long added to, then closed at a loss. alpha.
    ("default", "BTC", "BUY", "1", "120", "0.6", "alpha", at(5, 10)),
    ("default", "BTC", "BUY", "1", "130", "0.4", "alpha", at(5, 11)),
    ("default", "BTC", "SELL", "2", "115", "0.5", "alpha", at(6, 10)),
    # RT4: SOL long, break-even after fees (25.1 - 25 - 0.1 = 0). No strategy.
    ("default", "SOL", "BUY", "10", "2.5", "0.05", None, at(7, 8)),
    ("default", "SOL", "SELL", "10", "2.51", "0.05", None, at(7, 20)),
    # RT5 + RT6: ETH flip. Long 1 (beta), then SELL 3 crosses zero: closes the long and
    # opens a short of 2 (its fee 0.9 split by quantity: 0.3 to RT5, 0.6 to RT6). The short
    # is opened by the gamma fill, so RT6 belongs to gamma.
    ("default", "ETH", "BUY", "1", "60", "0.3", "beta", at(8, 10)),
    ("default", "ETH", "SELL", "3", "55", "0.9", "gamma", at(9, 10)),
    ("default", "ETH", "BUY", "2", "50", "0.2", "beta", at(10, 16)),
    # Still open: never a round trip.
    ("default", "SOL", "BUY", "1", "3", "0.01", "alpha", at(11, 9)),
    # RT7: another account. Win.
    ("other", "BTC", "BUY", "1", "100", "0", "alpha", at(4, 12)),
    ("other", "BTC", "SELL", "1", "150", "0.5", "alpha", at(6, 12)),
]


@dataclass(frozen=True)
class Trip:
    """A round trip worked by hand from the fills above."""
    account: str
    symbol: str
    strategy: str | None
    legs: tuple          # (side, quantity, price, fee) of the fills (or fill parts) in it
    opened: datetime
    closed: datetime

    @property
    def pnl(self) -> D:
        """Its cash flow: sells - buys - fees (the definition, ARCHITECTURE.md)."""
        cash = D(0)
        for side, qty, price, fee in self.legs:
            value = D(qty) * D(price)
            cash += value if side == "SELL" else -value
            cash -= D(fee)
        return cash

    @property
    def fees(self) -> D:
        return sum((D(leg[3]) for leg in self.legs), D(0))


TRIPS = [
    Trip("default", "BTC", "alpha", (("BUY", 2, "100", "1"), ("SELL", 2, "110", "1")),
         at(2, 10), at(2, 12)),
    Trip("default", "ETH", "beta", (("SELL", 3, "50", "0.5"), ("BUY", 1, "40", "0.25"),
                                    ("BUY", 2, "45", "0.25")), at(3, 9), at(4, 9)),
    Trip("default", "BTC", "alpha", (("BUY", 1, "120", "0.6"), ("BUY", 1, "130", "0.4"),
                                     ("SELL", 2, "115", "0.5")), at(5, 10), at(6, 10)),
    Trip("default", "SOL", None, (("BUY", 10, "2.5", "0.05"), ("SELL", 10, "2.51", "0.05")),
         at(7, 8), at(7, 20)),
    # the flip fill's fee 0.9 split by quantity: 0.9 * 1/3 = 0.3 here, 0.9 * 2/3 = 0.6 below
    Trip("default", "ETH", "beta", (("BUY", 1, "60", "0.3"), ("SELL", 1, "55", "0.3")),
         at(8, 10), at(9, 10)),
    Trip("default", "ETH", "gamma", (("SELL", 2, "55", "0.6"), ("BUY", 2, "50", "0.2")),
         at(9, 10), at(10, 16)),
    Trip("other", "BTC", "alpha", (("BUY", 1, "100", "0"), ("SELL", 1, "150", "0.5")),
         at(4, 12), at(6, 12)),
]


def test_the_hand_worked_trips_are_what_we_think():
    """The pnl of each trip, by hand, so the helpers above cannot hide a mistake."""
    assert [t.pnl for t in TRIPS] == [
        D("18"),      # 220 - 200 - 1 - 1
        D("19"),      # 150 - 40 - 90 - 0.5 - 0.25 - 0.25
        D("-21.5"),   # 230 - 120 - 130 - 0.6 - 0.4 - 0.5
        D("0"),       # 25.1 - 25 - 0.05 - 0.05
        D("-5.6"),    # 55 - 60 - 0.3 - 0.3
        D("9.2"),     # 110 - 100 - 0.6 - 0.2
        D("49.5"),    # 150 - 100 - 0 - 0.5
    ]
    assert sum(t.fees for t in TRIPS) == D("6.5")


def build_trades(repo) -> None:
    repo.save_trades([dict(account=a, symbol=s, side=side, quantity=q, price=p, fees=f,
                           strategy=strat, timestamp=ts)
                      for a, s, side, q, p, f, strat, ts in FILLS])


def expected_stats(trips) -> dict:
    """TradeStatistics fields from the definitions, with plain Python."""
    pnls = [t.pnl for t in trips]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    if not trips:
        return {}
    gross_profit, gross_loss = sum(wins, D(0)), sum(losses, D(0))
    q = D("1e-18")  # averages of money are rounded to 18 places (money.ratio)
    return dict(
        total_trades=len(trips), winning_trades=len(wins), losing_trades=len(losses),
        win_rate=len(wins) / len(trips), gross_profit=gross_profit, gross_loss=gross_loss,
        net_pnl=sum(pnls, D(0)), total_fees=sum((t.fees for t in trips), D(0)),
        avg_win=(gross_profit / len(wins)).quantize(q) if wins else None,
        avg_loss=(gross_loss / len(losses)).quantize(q) if losses else None,
        largest_win=max(wins) if wins else None, largest_loss=min(losses) if losses else None,
        profit_factor=float(gross_profit) / float(-gross_loss) if losses else None,
        expectancy=(sum(pnls, D(0)) / len(trips)).quantize(q),
        avg_holding_time=sum((t.closed - t.opened for t in trips), timedelta(0)) / len(trips))


def assert_stats(got, trips) -> None:
    want = expected_stats(trips)
    for name, value in want.items():
        actual = getattr(got, name)
        if name == "avg_holding_time":   # a mean of seconds: to the microsecond
            assert abs(actual - value) <= timedelta(microseconds=1), (name, actual, value)
        elif isinstance(value, float):
            assert actual == pytest.approx(value, rel=1e-12), name
        else:
            assert actual == value, (name, actual, value)
            if isinstance(value, D):
                assert isinstance(actual, D), name
    if not trips:
        assert got == TradeStatistics()


def test_statistics_over_all_round_trips(repo):
    build_trades(repo)
    stats = repo.get_statistics(days=None)
    assert_stats(stats, TRIPS)
    # by hand: 4 wins (18, 19, 9.2, 49.5), 2 losses (-21.5, -5.6), 1 break-even
    assert (stats.total_trades, stats.winning_trades, stats.losing_trades) == (7, 4, 2)
    assert stats.win_rate == 4 / 7                      # the break-even is in the denominator
    assert stats.gross_profit == D("95.7") and stats.gross_loss == D("-27.1")
    assert stats.net_pnl == D("68.6") and stats.total_fees == D("6.5")
    assert stats.avg_win == D("23.925") and stats.avg_loss == D("-13.55")   # 95.7/4, -27.1/2
    assert stats.largest_win == D("49.5") and stats.largest_loss == D("-21.5")
    assert stats.profit_factor == pytest.approx(95.7 / 27.1)
    assert stats.expectancy == D("9.8")                 # 68.6 / 7
    # holding: 2h + 24h + 25h... by hand: 2, 24, 24, 12, 24, 30, 48 hours -> 164h / 7
    assert abs(stats.avg_holding_time - timedelta(hours=164) / 7) <= timedelta(microseconds=1)


def test_the_open_position_is_not_a_round_trip(repo):
    build_trades(repo)
    assert repo.get_position("SOL") is not None
    assert repo.get_statistics(days=None, symbol="SOL").total_trades == 1


@pytest.mark.parametrize("filters, keep", [
    ({"account": "default"}, lambda t: t.account == "default"),
    ({"account": "other"}, lambda t: t.account == "other"),
    ({"strategy": "alpha"}, lambda t: t.strategy == "alpha"),   # RT1 though closed by beta
    ({"strategy": "beta"}, lambda t: t.strategy == "beta"),
    ({"strategy": "gamma"}, lambda t: t.strategy == "gamma"),   # opened by the flip fill
    ({"symbol": "ETH"}, lambda t: t.symbol == "ETH"),
    ({"symbol": "BTC", "account": "default", "strategy": "alpha"},
     lambda t: t.symbol == "BTC" and t.account == "default" and t.strategy == "alpha"),
    # since inclusive, until exclusive, on the close time: RT2 closes exactly at since,
    # RT5 exactly at until
    ({"since": at(4, 9), "until": at(9, 10)}, lambda t: at(4, 9) <= t.closed < at(9, 10)),
    # days counts back from until
    ({"days": 2, "until": at(8)}, lambda t: at(6) <= t.closed < at(8)),
    ({"strategy": "nobody"}, lambda t: False),
])
def test_statistics_filters(repo, filters, keep):
    build_trades(repo)
    trips = [t for t in TRIPS if keep(t)]
    assert_stats(repo.get_statistics(**{"days": None, **filters}), trips)


def test_statistics_filter_cases_by_hand(memory_repo):
    build_trades(memory_repo)
    alpha = memory_repo.get_statistics(days=None, strategy="alpha")
    # RT1 18, RT3 -21.5, RT7 49.5; holding 2h, 24h, 48h -> exactly 74h / 3
    assert (alpha.total_trades, alpha.net_pnl, alpha.total_fees) == (3, D("46"), D("4"))
    assert alpha.avg_holding_time == timedelta(hours=74) / 3
    default = memory_repo.get_statistics(days=None, account="default")
    assert default.net_pnl == D("19.1")                  # 18 + 19 - 21.5 + 0 - 5.6 + 9.2
    assert default.expectancy == D("3.183333333333333333")   # 19.1 / 6, to 18 places
    window = memory_repo.get_statistics(since=at(4, 9), until=at(9, 10))
    assert window.total_trades == 4                      # RT2, RT3, RT4, RT7
    btc = memory_repo.get_statistics(days=None, account="default", symbol="BTC")
    # 18 - 21.5; holding 2h and 24h -> 13h exactly (a julianday difference would not be)
    assert btc.net_pnl == D("-3.5") and btc.avg_holding_time == timedelta(hours=13)


def test_statistics_days_window_counts_back_from_now(memory_repo):
    now = datetime.now(UTC)
    memory_repo.save_trades([
        dict(symbol="X", side="BUY", quantity=1, price=10, timestamp=now - timedelta(days=40)),
        dict(symbol="X", side="SELL", quantity=1, price=12, timestamp=now - timedelta(days=35)),
        dict(symbol="X", side="BUY", quantity=1, price=10, timestamp=now - timedelta(days=3)),
        dict(symbol="X", side="SELL", quantity=1, price=9, timestamp=now - timedelta(days=2)),
    ])
    assert memory_repo.get_statistics().net_pnl == D("-1")          # default: last 30 days
    assert memory_repo.get_statistics(days=None).net_pnl == D("1")  # 2 - 1


def test_no_losses_and_all_losses(memory_repo):
    memory_repo.save_trades([
        dict(symbol="W", side="BUY", quantity=1, price=10, timestamp=at(1)),
        dict(symbol="W", side="SELL", quantity=1, price=11, timestamp=at(2)),
        dict(symbol="L", side="SELL", quantity=2, price=10, fees="0.1", timestamp=at(1)),
        dict(symbol="L", side="BUY", quantity=2, price=11, timestamp=at(3)),
        dict(symbol="L", side="BUY", quantity=1, price=10, timestamp=at(4)),
        dict(symbol="L", side="SELL", quantity=1, price=9.5, timestamp=at(5)),
    ])
    wins = memory_repo.get_statistics(days=None, symbol="W")
    assert wins.profit_factor is None and wins.avg_loss is None and wins.largest_loss is None
    assert wins.gross_loss == D(0) and wins.win_rate == 1.0 and wins.net_pnl == D(1)
    losses = memory_repo.get_statistics(days=None, symbol="L")
    # -2 - 0.1 and -0.5
    assert losses.gross_profit == D(0) and losses.gross_loss == D("-2.6")
    assert losses.win_rate == 0.0 and losses.profit_factor == 0.0
    assert losses.avg_win is None and losses.largest_win is None
    assert losses.avg_loss == D("-1.3") and losses.largest_loss == D("-2.1")
    assert_all_finite(wins)
    assert_all_finite(losses)


def test_empty_store_gives_empty_statistics(repo):
    assert repo.get_statistics(days=None) == TradeStatistics()
    assert repo.get_strategy_performance() == [] and repo.get_symbol_performance() == []


# ------------------------------------------------------------------ per strategy / symbol

def group_rows(key):
    groups: dict = {}
    for t in TRIPS:
        name = getattr(t, key)
        groups.setdefault("" if name is None else name, []).append(t)
    return {name: expected_stats(trips) for name, trips in groups.items()}


@pytest.mark.parametrize("key", ["strategy", "symbol"])
def test_strategy_and_symbol_performance(repo, key):
    build_trades(repo)
    method = repo.get_strategy_performance if key == "strategy" else repo.get_symbol_performance
    rows = method()
    want = group_rows(key)
    assert [r.name for r in rows] == sorted(want)       # a trip without strategy: name ''
    for row in rows:
        w = want[row.name]
        assert (row.trades, row.wins) == (w["total_trades"], w["winning_trades"])
        assert row.win_rate == w["win_rate"]
        assert (row.net_pnl, row.fees) == (w["net_pnl"], w["total_fees"])
        assert (row.gross_profit, row.gross_loss) == (w["gross_profit"], w["gross_loss"])
        assert row.profit_factor == (None if w["profit_factor"] is None
                                     else pytest.approx(w["profit_factor"]))
    # the groups add up to the whole, exactly
    assert sum((r.net_pnl for r in rows), D(0)) == repo.get_statistics(days=None).net_pnl


def test_strategy_performance_by_hand_and_filtered(memory_repo):
    build_trades(memory_repo)
    by_name = {r.name: r for r in memory_repo.get_strategy_performance()}
    assert by_name["alpha"].net_pnl == D("46")           # 18 - 21.5 + 49.5
    assert by_name["alpha"].profit_factor == pytest.approx(67.5 / 21.5)
    assert by_name["gamma"].trades == 1 and by_name["gamma"].profit_factor is None
    assert by_name[""].wins == 0 and by_name[""].win_rate == 0.0   # only the break-even
    only_other = memory_repo.get_strategy_performance(account="other")
    assert [(r.name, r.net_pnl) for r in only_other] == [("alpha", D("49.5"))]
    window = memory_repo.get_symbol_performance(since=at(9), until=at(11))
    assert [(r.name, r.trades, r.net_pnl) for r in window] == [("ETH", 2, D("3.6"))]  # -5.6+9.2


# ------------------------------------------------------------------ the equity curve
# (time, value) for account "default"; gaps on Jan 3, 5 and 6; several points on 1, 4, 8.
SNAPSHOTS = [
    (at(1, 9), "1000"), (at(1, 18), "1010"),
    (at(2, 12), "1030"),
    (at(4, 8), "980"), (at(4, 13), "950"), (at(4, 23, 59, 59), "990"),
    (at(7, 10), "1040"),
    (at(8, 10), "1020"), (at(8, 12), "1025.00"),
]
# The daily series, by hand: the start value (the first snapshot, for all time), then the
# last value of each day, a gap carries the previous one.
DAILY = [(None, 1000), (date(2024, 1, 1), 1010), (date(2024, 1, 2), 1030), (date(2024, 1, 3), 1030),
         (date(2024, 1, 4), 990), (date(2024, 1, 5), 990), (date(2024, 1, 6), 990),
         (date(2024, 1, 7), 1040), (date(2024, 1, 8), 1025)]


def build_curve(repo) -> None:
    for ts, value in SNAPSHOTS:
        repo.save_portfolio_snapshot(value, timestamp=ts)
    repo.save_portfolio_snapshot("1", timestamp=at(3), account="other")   # must not leak in
    repo.save_portfolio_snapshot("99999", timestamp=at(5), account="other")


def returns_of(values) -> list[float]:
    return [b / a - 1.0 for a, b in zip(values, values[1:])]


def curve_metrics(daily, snaps, rf, n) -> dict:
    """Every curve metric from the definitions, in plain Python (no flows: the daily
    return is close / previous close - 1; ``daily`` starts with the start value)."""
    values = [float(v) for _, v in daily]
    r = returns_of(values)
    days = len(r)
    stdev = statistics.stdev(r)
    rf_period = (1 + rf) ** (1 / n) - 1
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / len(r))
    peak, max_dd = -math.inf, 0.0
    for _, v in snaps:
        peak = max(peak, float(v))
        max_dd = max(max_dd, 1 - float(v) / peak)
    cagr = (values[-1] / values[0]) ** (365 / days) - 1
    return dict(total_return=values[-1] / values[0] - 1, cagr=cagr,
                volatility=stdev * math.sqrt(n),
                sharpe_ratio=(statistics.fmean(r) - rf_period) / stdev * math.sqrt(n),
                sortino_ratio=statistics.fmean(r) * n / (downside * math.sqrt(n)),
                max_drawdown=max_dd, calmar_ratio=cagr / max_dd)


def test_performance_metrics_worked_by_hand(repo):
    build_trades(repo)
    build_curve(repo)
    m = repo.calculate_performance_metrics(days=None, periods_per_year=252,
                                           risk_free_rate=0.05)
    assert isinstance(m, PerformanceMetrics)
    assert (m.start, m.end, m.days) == (date(2024, 1, 1), date(2024, 1, 8), 8)
    assert m.start_value == D("1000") and m.end_value == D("1025.00")
    assert (m.net_flows, m.pnl) == (D(0), D("25"))
    assert (m.periods_per_year, m.risk_free_rate) == (252, 0.05)
    want = curve_metrics(DAILY, SNAPSHOTS, 0.05, 252)
    for name, value in want.items():
        assert getattr(m, name) == pytest.approx(value, rel=1e-9), name
    # by hand: total return from the first snapshot 1025/1000 - 1 = 0.025, the worst drop
    # is intra-day, 1030 -> 950 on Jan 4 (80/1030 = 0.0776699...), which the daily series
    # (1030 -> 990) would not show. 8 daily returns (Jan 1 .. Jan 8).
    assert m.total_return == pytest.approx(0.025)
    assert m.max_drawdown == pytest.approx(80 / 1030)
    assert m.cagr == pytest.approx(1.025 ** (365 / 8) - 1)
    # longest under water: peak 1030 (Jan 2 12:00) to recovery at 1040 (Jan 7 10:00);
    # the later one, 1040 -> still below at the last point (Jan 8 12:00), is 26h.
    assert m.max_drawdown_duration == at(7, 10) - at(2, 12) == timedelta(days=4, hours=22)
    # and the trade statistics of the account, over the same window
    assert_stats(m, [t for t in TRIPS if t.account == "default"])
    assert_all_finite(m)


def test_performance_defaults_and_numbers_by_hand(memory_repo):
    """rf = 0, 365 periods: sharpe = mean/stdev*sqrt(365)."""
    for day, value in ((1, "100"), (2, "110"), (4, "99")):   # Jan 3 carries 110
        memory_repo.save_portfolio_snapshot(value, timestamp=at(day, 12))
    m = memory_repo.calculate_performance_metrics(days=None)
    # series 100 (start), 100 (Jan 1 close), 110, 110, 99: returns 0, +0.1, 0, -0.1;
    # mean 0 -> sharpe 0, sortino 0
    # stdev (ddof=1) = sqrt((0 + 0.01 + 0 + 0.01) / 3); volatility that * sqrt(365)
    assert m.volatility == pytest.approx(math.sqrt(0.02 / 3) * math.sqrt(365))
    assert m.sharpe_ratio == pytest.approx(0.0, abs=1e-12)
    assert m.sortino_ratio == pytest.approx(0.0, abs=1e-12)
    assert m.total_return == pytest.approx(-0.01) and m.days == 4
    assert m.cagr == pytest.approx(0.99 ** (365 / 4) - 1)
    assert m.max_drawdown == pytest.approx(0.1)                     # 110 -> 99
    assert m.max_drawdown_duration == at(4, 12) - at(2, 12)         # not recovered
    assert m.calmar_ratio == pytest.approx(m.cagr / 0.1)


def test_performance_window_is_whole_utc_days(memory_repo):
    build_trades(memory_repo)
    build_curve(memory_repo)
    # since mid-Jan 3, until midnight Jan 8 (exclusive): the days Jan 3 .. Jan 7
    m = memory_repo.calculate_performance_metrics(since=at(3, 15), until=at(8))
    assert (m.start, m.end, m.days) == (date(2024, 1, 3), date(2024, 1, 7), 5)
    # the window starts where the money was: the last snapshot at or before Jan 3 00:00
    # is Jan 2 12:00's 1030; the daily closes Jan 3 .. Jan 7 follow it
    assert m.start_value == D("1030") and m.end_value == D("1040")
    daily = [(None, 1030)] + [(d, v) for d, v in DAILY[1:]
                              if date(2024, 1, 3) <= d <= date(2024, 1, 7)]
    snaps = [(at(2, 12), "1030")] + [(t, v) for t, v in SNAPSHOTS if at(3) <= t < at(8)]
    want = curve_metrics(daily, snaps, 0.0, 365)
    for name, value in want.items():
        assert getattr(m, name) == pytest.approx(value, rel=1e-9), name
    # the start value is the first peak: 1030 -> 950, recovered at 1040 on Jan 7 10:00
    assert m.max_drawdown == pytest.approx(80 / 1030)
    assert m.max_drawdown_duration == at(7, 10) - at(2, 12)
    assert m.total_return == pytest.approx(10 / 1030) and m.pnl == D("10")
    # trade statistics over the same whole days: RT2, RT3, RT4 close in Jan 3 .. Jan 7
    assert_stats(m, [t for t in TRIPS if t.account == "default" and at(3) <= t.closed < at(8)])
    same = memory_repo.calculate_performance_metrics(days=4, until=at(8))   # from Jan 4 00:00
    assert (same.start, same.end, same.start_value) == (date(2024, 1, 4), date(2024, 1, 7),
                                                       D("1030"))   # Jan 2's, carried


def test_performance_with_numpy_when_installed(memory_repo):
    np = pytest.importorskip("numpy")
    build_curve(memory_repo)
    m = memory_repo.calculate_performance_metrics(days=None, periods_per_year=252,
                                                  risk_free_rate=0.03)
    v = np.array([float(x) for _, x in DAILY])   # the start value first
    r = v[1:] / v[:-1] - 1
    rf = 1.03 ** (1 / 252) - 1
    assert m.volatility == pytest.approx(np.std(r, ddof=1) * np.sqrt(252), rel=1e-12)
    assert m.sharpe_ratio == pytest.approx(np.mean(r - rf) / np.std(r, ddof=1) * np.sqrt(252),
                                           rel=1e-12)
    downside = np.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert m.sortino_ratio == pytest.approx(np.mean(r) * 252 / (downside * np.sqrt(252)),
                                            rel=1e-12)
    curve = np.array([float(x) for _, x in SNAPSHOTS])
    assert m.max_drawdown == pytest.approx(np.max(1 - curve / np.maximum.accumulate(curve)))


# ------------------------------------------------------------------ undefined -> None

def assert_all_finite(obj) -> None:
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, float):
            assert math.isfinite(value), f.name
        if isinstance(value, D):
            assert value.is_finite(), f.name


CURVE_FIELDS = ("total_return", "cagr", "volatility", "sharpe_ratio", "sortino_ratio",
                "max_drawdown", "max_drawdown_duration", "calmar_ratio")


def curve_of(m) -> dict:
    return {name: getattr(m, name) for name in CURVE_FIELDS}


def test_no_data_gives_none(repo):
    m = repo.calculate_performance_metrics(days=None)
    assert curve_of(m) == dict.fromkeys(CURVE_FIELDS)
    assert (m.start, m.end, m.start_value, m.end_value, m.days) == (None, None, None, None, 0)
    assert m.total_trades == 0 and m.win_rate is None and m.net_pnl == D(0)
    assert m.expectancy is None and m.avg_holding_time is None


def test_one_snapshot(memory_repo):
    memory_repo.save_portfolio_snapshot("500", timestamp=at(3, 12))
    m = memory_repo.calculate_performance_metrics(days=None)
    # defined: no change (0) and no drawdown; undefined without a second day: the rest
    # one daily return (the start value to the day's close, both 500): 0
    assert curve_of(m) == dict(total_return=0.0, cagr=0.0, volatility=None, sharpe_ratio=None,
                               sortino_ratio=None, max_drawdown=0.0,
                               max_drawdown_duration=timedelta(0), calmar_ratio=None)
    assert (m.start, m.end, m.days, m.start_value) == (date(2024, 1, 3), date(2024, 1, 3), 1,
                                                      D("500"))


def test_flat_curve(memory_repo):
    # several points a day, a gap (Jan 3), different spellings of the same value
    for ts, value in ((at(1, 1), "100"), (at(1, 2), "100.0"), (at(2, 5), "100"),
                      (at(4, 5), "100.000"), (at(5, 5), "100")):
        memory_repo.save_portfolio_snapshot(value, timestamp=ts)
    m = memory_repo.calculate_performance_metrics(days=None)
    # zero deviation: no sharpe; no negative return: no sortino; no drawdown: no calmar
    assert curve_of(m) == dict(total_return=0.0, cagr=0.0, volatility=0.0, sharpe_ratio=None,
                               sortino_ratio=None, max_drawdown=0.0,
                               max_drawdown_duration=timedelta(0), calmar_ratio=None)


def test_rising_curve_has_no_sortino_nor_calmar(memory_repo):
    for day, value in ((1, 100), (2, 101), (3, 103)):
        memory_repo.save_portfolio_snapshot(value, timestamp=at(day))
    m = memory_repo.calculate_performance_metrics(days=None)
    assert m.sortino_ratio is None and m.calmar_ratio is None and m.max_drawdown == 0.0
    assert m.sharpe_ratio is not None and m.sharpe_ratio > 0


def test_overflowing_cagr_is_none_not_an_exception(memory_repo):
    memory_repo.save_portfolio_snapshot("100", timestamp=at(1))
    memory_repo.save_portfolio_snapshot("1000000", timestamp=at(2))  # (10^4)^365 overflows
    m = memory_repo.calculate_performance_metrics(days=None)
    assert m.cagr is None and m.calmar_ratio is None
    assert m.total_return == pytest.approx(9999.0)
    assert_all_finite(m)


@pytest.mark.parametrize("options", [
    {"periods_per_year": 0}, {"periods_per_year": 1.5}, {"periods_per_year": True},
    {"risk_free_rate": -1}, {"risk_free_rate": float("nan")}, {"risk_free_rate": "abc"},
    {"risk_free_rate": None}, {"days": -1}, {"days": "7"},
])
def test_bad_options_are_validation_errors(memory_repo, options):
    with pytest.raises(ValidationError):
        memory_repo.calculate_performance_metrics(**options)


# ------------------------------------------------------------------ query plans

FULL_SCAN = re.compile(r"\bSCAN (p|positions|t|trades)\b")


def plan(repo, sql, params) -> str:
    return " | ".join(r[3] for r in repo.db.query(f"EXPLAIN QUERY PLAN {sql}", params))


STATS_PARAMS = {"start": "2024-01-01T00:00:00.000000Z", "end": "2024-02-01T00:00:00.000000Z",
                "account": "default", "strategy": "alpha", "symbol": "BTC", "exchange": None,
                "currency": None}


def test_statistics_read_one_range_of_the_closed_index(sqlite_repo):
    """Raw columns of positions over the closed_at index; no fill is looked at."""
    text = plan(sqlite_repo, ROUND_TRIPS_SQL, STATS_PARAMS)
    assert re.search(r"SEARCH positions USING INDEX positions_by_closed\w* "
                     r"\(closed_at>\? AND closed_at<\?\)", text), text
    assert "trades" not in text and not FULL_SCAN.search(text), text


def test_round_trip_view_reads_no_fills(sqlite_repo):
    text = plan(sqlite_repo, "SELECT id, strategy FROM v_round_trips WHERE id = ?", (1,))
    assert "trades" not in text and not FULL_SCAN.search(text), text


def test_the_curve_ranges_over_the_snapshot_index(sqlite_repo):
    params = {"account": "default", "start": "2024", "after": "2024", "end": "2025",
              "last": "2025"}
    text = plan(sqlite_repo, POINTS_SQL, params)
    assert "SEARCH portfolio_snapshots USING INDEX portfolio_snapshots_by_account_time " \
           "(account=? AND timestamp>? AND timestamp<?)" in text, text
    text = plan(sqlite_repo, START_POINT_SQL, params)   # a point lookup, newest first
    assert "SEARCH portfolio_snapshots USING INDEX portfolio_snapshots_by_account_time " \
           "(account=? AND timestamp<?)" in text and "TEMP B-TREE" not in text, text
    text = plan(sqlite_repo, FLOWS_SQL, params)
    assert "USING INDEX cash_movements_by_account (account=? AND timestamp>? AND " \
           "timestamp<?)" in text, text


# ------------------------------------------------------------------ property

signed_fill = st.tuples(st.booleans(),
                        st.decimals(min_value=D("0.001"), max_value=D("50"), places=3),
                        st.decimals(min_value=D("0.01"), max_value=D("5000"), places=2),
                        st.decimals(min_value=D(0), max_value=D("2"), places=4),
                        st.sampled_from(["a", "b", None]))


@given(st.lists(st.lists(signed_fill, min_size=1, max_size=8), min_size=1, max_size=3),
       st.data())
def test_net_pnl_is_the_cash_flow_exactly(books, data):
    """For fills that end flat (flips included): net_pnl == sum of the closed positions'
    realized_pnl == sells - buys - fees, exactly; wins + losses + break-evens == total."""
    fills, t = [], at(1)
    for index, book in enumerate(books):
        symbol, net = f"S{index}", D(0)
        for buy, qty, price, fee, strategy in book:
            fills.append(dict(symbol=symbol, side="BUY" if buy else "SELL", quantity=qty,
                              price=price, fees=fee, strategy=strategy, timestamp=t))
            net += qty if buy else -qty
            t += timedelta(minutes=7)
        if net:
            price = data.draw(st.decimals(min_value=D("0.01"), max_value=D("5000"), places=2))
            fills.append(dict(symbol=symbol, side="SELL" if net > 0 else "BUY",
                              quantity=abs(net), price=price, fees="0.01", timestamp=t))
            t += timedelta(minutes=7)
    cash = D(0)
    for f in fills:
        value = D(f["quantity"]) * D(f["price"])
        cash += (value if f["side"] == "SELL" else -value) - D(f["fees"])
    with TradeRepo(":memory:") as repo:
        repo.save_trades(fills)
        assert repo.get_open_positions() == []
        closed = repo.get_closed_positions()
        stats = repo.get_statistics(days=None)
        assert stats.net_pnl == sum((p.realized_pnl for p in closed), D(0)) == cash
        assert stats.total_fees == sum((D(f["fees"]) for f in fills), D(0))
        assert stats.gross_profit + stats.gross_loss == stats.net_pnl
        even = sum(1 for p in closed if p.realized_pnl == 0)
        assert stats.winning_trades + stats.losing_trades + even == stats.total_trades \
            == len(closed)
        assert sum((r.net_pnl for r in repo.get_strategy_performance()), D(0)) == cash


def test_equity_series_starts_where_the_money_was(memory_repo):
    build_curve(memory_repo)
    # all time: the daily closes from the first snapshot's day (DAILY without its start)
    assert memory_repo.analytics.equity(None) == [(d, D(v)) for d, v in DAILY[1:]]
    # a window from Jan 3: Jan 3 has no snapshot and carries Jan 2's 1030 in
    got = memory_repo.analytics.equity(since=at(3, 15), until=at(8))
    assert got == [(date(2024, 1, 3), D("1030")), (date(2024, 1, 4), D("990")),
                   (date(2024, 1, 5), D("990")), (date(2024, 1, 6), D("990")),
                   (date(2024, 1, 7), D("1040"))]
    assert memory_repo.analytics.equity(since=at(20)) == []   # no snapshot of its own
