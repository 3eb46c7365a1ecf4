"""The analytics views answer the same in the real ``sqlite3`` shell as in the API.

A store is built through the API (fills with a flip, a break-even, two accounts,
snapshots with gaps and several a day), closed, and then read three ways: the real
``sqlite3`` binary (``-json``), our own connection, and the API's records. Money must
match to the byte between the shell and our connection, and as Decimal with the API.
"""

from __future__ import annotations

import json
import math
import subprocess
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from tradestore import ConflictError, TradeRepo

UTC = timezone.utc


def at(day, hour=0, minute=0) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


FILLS = [
    # default/BTC long: 2 x (105.5 - 100) - 0.25 - 0.25 = 10.5  (opened by "trend")
    dict(symbol="BTC", side="BUY", quantity="2", price="100", fees="0.25", strategy="trend",
         timestamp=at(1, 9)),
    dict(symbol="BTC", side="SELL", quantity="2", price="105.5", fees="0.25", strategy="exit",
         timestamp=at(1, 17, 30)),
    # default/ETH: long 1 @ 20 (fee 0.1), then SELL 3 @ 18 (fee 0.3) flips to a short of 2:
    #   long: 18 - 20 - 0.1 - 0.1 = -2.2 ("mean");  short opened by "flip" (fee 0.2 of 0.3),
    #   covered BUY 2 @ 17 (fee 0.1): 36 - 34 - 0.2 - 0.1 = 1.7
    dict(symbol="ETH", side="BUY", quantity="1", price="20", fees="0.1", strategy="mean",
         timestamp=at(2, 10)),
    dict(symbol="ETH", side="SELL", quantity="3", price="18", fees="0.3", strategy="flip",
         timestamp=at(3, 10)),
    dict(symbol="ETH", side="BUY", quantity="2", price="17", fees="0.1", timestamp=at(5, 10)),
    # default/SOL: break-even, no strategy: 10 x 1.01 - 10 x 1 - 0.05 - 0.05 = 0
    dict(symbol="SOL", side="BUY", quantity="10", price="1.00", fees="0.05",
         timestamp=at(4, 8)),
    dict(symbol="SOL", side="SELL", quantity="10", price="1.01", fees="0.05",
         timestamp=at(4, 20)),
    # margin/BTC short: 100 - 110 - 0 - 0.001 = -10.001 ("trend")
    dict(account="margin", symbol="BTC", side="SELL", quantity="1", price="100",
         strategy="trend", timestamp=at(2, 0)),
    dict(account="margin", symbol="BTC", side="BUY", quantity="1", price="110", fees="0.001",
         timestamp=at(6, 0)),
    # open, never in the views
    dict(symbol="ADA", side="BUY", quantity="5", price="0.5", strategy="trend",
         timestamp=at(6, 12)),
    # default/XRP/EUR on kraken, fees in BNB with no EUR value: 100 x (0.6 - 0.5) = 10 EUR,
    # the 0.01 + 0.02 BNB left out of pnl and reported as unvalued
    dict(symbol="XRP/EUR", side="BUY", quantity="100", price="0.5", fees="0.01",
         fee_currency="BNB", exchange="kraken", strategy="trend", timestamp=at(6, 13)),
    dict(symbol="XRP/EUR", side="SELL", quantity="100", price="0.6", fees="0.02",
         fee_currency="BNB", exchange="kraken", timestamp=at(6, 14)),
]
# (round trip) -> (account, symbol, strategy, pnl by hand, fees by hand)
TRIPS = [("default", "BTC", "trend", D("10.5"), D("0.5")),
         ("default", "ETH", "mean", D("-2.2"), D("0.2")),
         ("default", "ETH", "flip", D("1.7"), D("0.3")),
         ("default", "SOL", None, D("0"), D("0.1")),
         ("margin", "BTC", "trend", D("-10.001"), D("0.001")),
         ("default", "XRP/EUR", "trend", D("10"), D("0"))]


def currency(trip) -> str:
    """The quote currency of a hand-worked trip ("" for a symbol without one)."""
    return trip[1].split("/")[1] if "/" in trip[1] else ""
SNAPSHOTS = [  # default: gaps on Mar 3 and Mar 5; margin: one point
    ("default", at(1, 8), "1000.00"), ("default", at(1, 20), "1010.50"),
    ("default", at(2, 12), "1008.30"), ("default", at(4, 9), "1011"),
    ("default", at(4, 23), "1009.5"), ("default", at(6, 1), "1020.25"),
    ("margin", at(2, 0), "500"),
]
# by hand: the last value of each day, a gap carries the previous one
DAILY_DEFAULT = [(date(2024, 3, 1), D("1010.50")), (date(2024, 3, 2), D("1008.30")),
                 (date(2024, 3, 3), D("1008.30")), (date(2024, 3, 4), D("1009.5")),
                 (date(2024, 3, 5), D("1009.5")), (date(2024, 3, 6), D("1020.25"))]

VIEWS = {
    "v_round_trips": "SELECT * FROM v_round_trips ORDER BY id",
    "v_trade_stats": "SELECT * FROM v_trade_stats ORDER BY account, currency",
    "v_strategy_performance": "SELECT * FROM v_strategy_performance ORDER BY strategy, currency",
    "v_symbol_performance": "SELECT * FROM v_symbol_performance ORDER BY symbol, currency",
    "v_exchange_performance": "SELECT * FROM v_exchange_performance ORDER BY exchange, currency",
    "v_unvalued_fees": "SELECT * FROM v_unvalued_fees ORDER BY account, currency, fee_currency",
    "v_daily_equity": "SELECT * FROM v_daily_equity ORDER BY account, day",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("views") / "trades.db"
    with TradeRepo(path) as repo:
        repo.save_trades(FILLS)
        for account, ts, value in SNAPSHOTS:
            repo.save_portfolio_snapshot(value, timestamp=ts, account=account)
    return path   # closed: the WAL is checkpointed, the shell sees everything


def shell_rows(sqlite3_bin, path, sql) -> list[dict]:
    done = subprocess.run([sqlite3_bin, "-json", "-readonly", str(path), sql],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else []


def our_rows(path, sql) -> list[dict]:
    with TradeRepo(path, readonly=True) as repo, repo.db.reading() as conn:
        cursor = conn.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def same(a, b) -> bool:
    """Equal; floats printed by the shell with 20 digits read back to the same double
    (a tolerance of one unit in the last place in case a build rounds differently)."""
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=4e-16)
    return a == b and type(a) is type(b)


_answers: dict = {}


@pytest.fixture
def both(sqlite3_bin, store):
    """{view: (rows from the shell, rows from our connection)}, read once per module."""
    if store not in _answers:
        _answers[store] = {name: (shell_rows(sqlite3_bin, store, sql), our_rows(store, sql))
                           for name, sql in VIEWS.items()}
    return _answers[store]


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_shell_and_our_connection_agree(both, view):
    shell, ours = both[view]
    assert ours, view
    assert len(shell) == len(ours), view
    for s_row, o_row in zip(shell, ours):
        assert list(s_row) == list(o_row), view
        for column in o_row:
            assert same(s_row[column], o_row[column]), (view, column, s_row, o_row)


def test_round_trips_view_matches_the_positions(both, store):
    shell, _ = both["v_round_trips"]
    with TradeRepo(store, readonly=True) as repo:
        closed = sorted(repo.get_closed_positions(), key=lambda p: p.id)
    assert [r["id"] for r in shell] == [p.id for p in closed]
    by_key = {(t[0], t[1], t[2]): t for t in TRIPS}   # ids follow the replay, not TRIPS
    assert len(shell) == len(TRIPS) == len(by_key)
    for row, position in zip(shell, closed):
        account, symbol, strategy, pnl, fees = by_key[(row["account"], row["symbol"],
                                                       row["strategy"])]
        assert (row["account"], row["symbol"], row["strategy"]) == (account, symbol, strategy)
        assert (row["currency"] or "") == currency((account, symbol))
        assert D(row["pnl"]) == position.realized_pnl == pnl
        assert D(row["fees"]) == position.fees == fees
        assert D(row["quantity"]) == position.max_quantity
        assert datetime.fromisoformat(row["closed_at"]) == position.closed_at
        assert row["holding_seconds"] == (position.closed_at - position.opened_at).total_seconds()
        assert row["outcome"] == (pnl > 0) - (pnl < 0)


def test_trade_stats_view_matches_get_statistics(both, store):
    shell, _ = both["v_trade_stats"]
    assert [(r["account"], r["currency"]) for r in shell] == [("default", ""),
                                                               ("default", "EUR"),
                                                               ("margin", "")]
    with TradeRepo(store, readonly=True) as repo:
        for row in shell:
            api = repo.get_statistics(days=None, account=row["account"],
                                      currency=row["currency"])
            assert api == repo.get_statistics_by_currency(
                None, account=row["account"])[row["currency"]]
            trips = [t for t in TRIPS if t[0] == row["account"] and currency(t) == row["currency"]]
            assert row["total_trades"] == api.total_trades == len(trips)
            assert row["winning_trades"] == api.winning_trades
            assert row["losing_trades"] == api.losing_trades
            assert row["win_rate"] == api.win_rate
            for column, field in (("gross_profit", "gross_profit"), ("gross_loss", "gross_loss"),
                                  ("net_pnl", "net_pnl"), ("total_fees", "total_fees")):
                assert D(row[column]) == getattr(api, field), column
            assert D(row["net_pnl"]) == sum((t[3] for t in trips), D(0))
            assert D(row["total_fees"]) == sum((t[4] for t in trips), D(0))
            assert (None if row["largest_win"] is None else D(row["largest_win"])) \
                == api.largest_win
            assert (None if row["largest_loss"] is None else D(row["largest_loss"])) \
                == api.largest_loss
            assert timedelta(seconds=row["avg_holding_seconds"]) == api.avg_holding_time
    default = shell[0]   # by hand: 10.5 - 2.2 + 1.7 + 0
    assert (default["net_pnl"], default["gross_loss"], default["total_fees"]) == \
        ("10.0", "-2.2", "1.1")   # decimal_sum keeps the widest scale, as the shell does


def test_two_currencies_are_never_added(store):
    with TradeRepo(store, readonly=True) as repo:
        with pytest.raises(ConflictError, match=r"\(no currency\), EUR"):
            repo.get_statistics(days=None, account="default")
        with pytest.raises(ConflictError, match="EUR"):
            repo.calculate_performance_metrics(days=None)
        eur = repo.get_statistics(days=None, currency="EUR")
        assert (eur.total_trades, eur.net_pnl, eur.unvalued_fees) == (1, D("10"),
                                                                      {"BNB": D("0.03")})
        assert repo.get_statistics(days=None, exchange="kraken") == eur
        assert repo.get_statistics(days=None, account="margin").currency == ""


def test_unvalued_fees_view_matches_the_api(both, store):
    shell, _ = both["v_unvalued_fees"]
    assert shell == [{"account": "default", "currency": "EUR", "fee_currency": "BNB",
                      "amount": "0.03"}]


@pytest.mark.parametrize("view, key", [("v_strategy_performance", "strategy"),
                                       ("v_symbol_performance", "symbol"),
                                       ("v_exchange_performance", "exchange")])
def test_group_views_match_the_api(both, store, view, key):
    shell, _ = both[view]
    with TradeRepo(store, readonly=True) as repo:
        api = repo.analytics.by_group(key)
    assert [(r[key], r["currency"]) for r in shell] == [(g.name, g.currency) for g in api]
    column = {"strategy": 2, "symbol": 1}.get(key)
    for row, group in zip(shell, api):
        trips = [t for t in TRIPS if currency(t) == group.currency
                 and (((t[column] or "") if column else
                       ("kraken" if t[1] == "XRP/EUR" else "")) == group.name)]
        assert row["trades"] == group.trades == len(trips)
        assert row["wins"] == group.wins and row["win_rate"] == group.win_rate
        assert D(row["net_pnl"]) == group.net_pnl == sum((t[3] for t in trips), D(0))
        assert D(row["fees"]) == group.fees == sum((t[4] for t in trips), D(0))
        assert D(row["gross_profit"]) == group.gross_profit
        assert D(row["gross_loss"]) == group.gross_loss


def test_daily_equity_view_matches_the_api_and_the_hand_series(both, store):
    shell, _ = both["v_daily_equity"]
    default = [(date.fromisoformat(r["day"]), r["total_value"]) for r in shell
               if r["account"] == "default"]
    assert [(d, D(v)) for d, v in default] == DAILY_DEFAULT
    # the stored text comes through unchanged, digits kept
    assert [v for _, v in default] == ["1010.50", "1008.30", "1008.30", "1009.5", "1009.5",
                                       "1020.25"]
    assert [(r["day"], r["total_value"]) for r in shell if r["account"] == "margin"] == \
        [("2024-03-02", "500")]
    with TradeRepo(store, readonly=True) as repo:
        assert repo.analytics.equity(days=None) == DAILY_DEFAULT
        # two currencies among its round trips: the curve alone, or one currency's trips
        metrics = repo.calculate_performance_metrics(days=None, statistics=False)
    # the window starts where the money was: the first snapshot, 1000.00 at 08:00
    assert (metrics.start_value, metrics.end_value) == (D("1000.00"), D("1020.25"))
    assert (metrics.start, metrics.end) == (DAILY_DEFAULT[0][0], DAILY_DEFAULT[-1][0])
