"""get_trade_history(order_by=..., side=...) (issue 20.7): sort by time, symbol or pnl,
filter by side; iter_trades streams in time order only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st
from conftest import examples

from tradestore import TradeRepo, ValidationError

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


def fill(symbol, side, qty, price, day, **extra):
    return {"symbol": symbol, "side": side, "quantity": qty, "price": price,
            "timestamp": f"2024-01-{day:02d}T00:00:00Z", **extra}


@pytest.fixture
def trades(repo):
    # ETH: buy 1 @ 100 (day 1), sell 1 @ 90 (day 3): pnl 90 - 100 = -10
    # BTC: buy 1 @ 10 (day 2), sell 1 @ 12.5 (day 4): pnl 12.5 - 10 = 2.5
    # ADA: buy 2 @ 1 (day 5), sell 2 @ 6 (day 6): pnl 2 x (6 - 1) = 10 (bigger than 2.5 as a
    #      number, smaller as text: "10" < "2.5")
    repo.save_trades([fill("ETH/USDT", "BUY", "1", "100", 1), fill("BTC/USDT", "BUY", "1", "10", 2),
                      fill("ETH/USDT", "SELL", "1", "90", 3), fill("BTC/USDT", "SELL", "1", "12.5", 4),
                      fill("ADA/USDT", "BUY", "2", "1", 5), fill("ADA/USDT", "SELL", "2", "6", 6)])
    return repo


def shape(fills):
    return [(t.symbol[:3], t.side, t.pnl) for t in fills]


def test_order_by_time_is_the_default(trades):
    assert [t.timestamp.day for t in trades.get_trade_history(days=None)] == [1, 2, 3, 4, 5, 6]
    assert [t.timestamp.day for t in trades.get_trade_history(days=None, order_by="time",
                                                              newest_first=True)] == [6, 5, 4, 3, 2, 1]


def test_order_by_symbol_then_time(trades):
    assert [(s, side) for s, side, _ in shape(trades.get_trade_history(days=None, order_by="symbol"))] == [
        ("ADA", "BUY"), ("ADA", "SELL"), ("BTC", "BUY"), ("BTC", "SELL"), ("ETH", "BUY"), ("ETH", "SELL")]


def test_order_by_pnl_is_numeric_not_text(trades):
    sells = trades.get_trade_history(days=None, order_by="pnl", side="SELL")
    assert [t.pnl for t in sells] == [Decimal("-10"), Decimal("2.5"), Decimal("10")]
    best_first = trades.get_trade_history(days=None, order_by="pnl", side="sell", newest_first=True)
    assert [t.pnl for t in best_first] == [Decimal("10"), Decimal("2.5"), Decimal("-10")]
    # the opening fills (no pnl) sort lowest, in time order
    every = trades.get_trade_history(days=None, order_by="pnl")
    assert [t.timestamp.day for t in every[:3]] == [1, 2, 5]
    assert all(t.pnl is None for t in every[:3])
    assert trades.get_trade_history(days=None, order_by="pnl", limit=1, offset=3)[0].pnl == Decimal("-10")


def test_side_filter_in_history_and_iterate(trades):
    buys = trades.get_trade_history(days=None, side="BUY")
    assert [t.symbol[:3] for t in buys] == ["ETH", "BTC", "ADA"]
    assert [t.id for t in trades.iter_trades(days=None, side="buy")] == [t.id for t in buys]
    assert [t.symbol[:3] for t in trades.get_trade_history("BTC/USDT", days=None, side="SELL")] == ["BTC"]


@pytest.mark.parametrize("bad", ["size", "", None, 3, "TIME;drop"])
def test_bad_order_by_is_refused_by_name(trades, bad):
    with pytest.raises(ValidationError) as info:
        trades.get_trade_history(days=None, order_by=bad)
    assert info.value.field == "order_by"
    assert "time, symbol, pnl" in str(info.value)


@pytest.mark.parametrize("bad", ["HOLD", "", 1])
def test_bad_side_is_refused_by_name(trades, bad):
    with pytest.raises(ValidationError) as info:
        trades.get_trade_history(days=None, side=bad)
    assert info.value.field == "side"


def test_iterate_streams_in_time_order_only(trades):
    with pytest.raises(ValidationError) as info:
        list(trades.iter_trades(days=None, order_by="pnl"))
    assert info.value.field == "order_by" and "get_trade_history" in str(info.value)
    assert [t.timestamp.day for t in trades.iter_trades(days=None, order_by="time")] == [1, 2, 3, 4, 5, 6]


@settings(max_examples=examples(25, 8))
@given(st.lists(st.tuples(st.sampled_from(["A/X", "B/X", "C/X"]), st.sampled_from(["BUY", "SELL"]),
                          st.integers(1, 5), st.integers(1, 50), st.integers(1, 28)),
                min_size=1, max_size=25),
       st.sampled_from(["time", "symbol", "pnl"]), st.booleans(), st.sampled_from([None, "BUY", "SELL"]))
def test_history_is_a_sorted_filtered_permutation(rows, order_by, newest_first, side):
    with TradeRepo(":memory:") as repo:
        repo.save_trades([fill(sym, sd, str(q), str(p), day) for sym, sd, q, p, day in rows])
        every = repo.get_trade_history(days=None)
        got = repo.get_trade_history(days=None, order_by=order_by, newest_first=newest_first,
                                     side=side)
        wanted = [t for t in every if side is None or t.side == side]
        key = {"time": lambda t: (t.timestamp, t.id),
               "symbol": lambda t: (t.symbol, t.timestamp, t.id),
               "pnl": lambda t: (t.pnl is not None, t.pnl or 0, t.timestamp, t.id)}[order_by]
        assert [t.id for t in got] == [t.id for t in sorted(wanted, key=key, reverse=newest_first)]
