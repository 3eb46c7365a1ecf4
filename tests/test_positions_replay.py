"""Positions per venue and in time order; voids and adjustments (issue 15 points 3, 4, 7).

Hand-worked numbers in the comments; the property test saves the same fills in any
order, one by one or in bulks, and must end where saving them sorted ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from hypothesis import given, settings, strategies as st
from conftest import examples

from tradestore import TradeData, TradeRepo
from tradestore.errors import ConflictError, ValidationError

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def fill(side, qty, price, t, **kw):
    return TradeData(kw.pop("symbol", "ETH/USDT"), side, qty, price, timestamp=at(t), **kw)


# ------------------------------------------------------------------ venues (15.3)

def test_fills_on_two_venues_never_net(repo):
    repo.save_trade(fill("BUY", "1", "100", 1, exchange="a"))
    repo.save_trade(fill("SELL", "1", "105", 2, exchange="b"))
    # a long on a and a short on b, no made-up pnl
    assert repo.get_closed_positions() == []
    long_, = repo.get_open_positions(exchange="a")
    short, = repo.get_open_positions(exchange="b")
    assert (long_.side, long_.quantity, short.side, short.quantity) == \
        ("LONG", D(1), "SHORT", D(1))
    with pytest.raises(ConflictError, match="'a', 'b'"):
        repo.get_position("ETH/USDT")
    assert repo.get_position("ETH/USDT", exchange="b").side == "SHORT"
    assert repo.get_position("ETH/USDT", exchange="c") is None
    repo.save_trade(fill("SELL", "1", "110", 3, exchange="a"))
    closed, = repo.get_closed_positions(exchange="a")
    assert (closed.exchange, closed.realized_pnl) == ("a", D("10"))  # 110 - 100
    assert repo.get_closed_positions(exchange="b") == []
    assert repo.get_position("ETH/USDT").exchange == "b"  # the one open venue


def test_round_trip_view_carries_venue_currency_and_opening_strategy(repo):
    repo.save_trade(fill("BUY", "1", "100", 1, exchange="a", strategy="trend"))
    repo.save_trade(fill("SELL", "1", "90", 2, exchange="a", strategy="exit"))
    row = repo.db.query_one("SELECT exchange, currency, strategy, pnl FROM v_round_trips")
    assert tuple(row) == ("a", "USDT", "trend", "-10")


# ------------------------------------------------------------------ time order (15.4)

def test_late_fill_replays_its_key_by_time(repo):
    repo.save_trade(fill("BUY", "1", "10", 10))
    sell = repo.save_trade(fill("SELL", "1", "12", 20))
    assert repo.get_trade(sell).pnl == D("2")
    late = repo.save_trade(fill("BUY", "1", "11", 15))  # re-synced late
    # by time: buy 1 @ 10, buy 1 @ 11 (avg 10.5), sell 1 @ 12: pnl 12 - 10.5 = 1.5
    assert repo.get_trade(sell).pnl == D("1.5") and repo.get_trade(late).pnl is None
    p = repo.get_position("ETH/USDT")
    assert (p.quantity, p.entry_value, p.realized_pnl, p.max_quantity, p.trade_count) == \
        (D(1), D("10.5"), D("1.5"), D(2), 3)
    assert p.opened_at == at(10) and repo.get_closed_positions() == []
    assert repo.derived_problems() == []


def test_late_fill_before_a_closed_round_trip_reopens_it(repo):
    first = repo.save_trade(fill("BUY", "2", "10", 10))
    close = repo.save_trade(fill("SELL", "2", "13", 20))
    nxt = repo.save_trade(fill("BUY", "1", "14", 30))
    closed_id = repo.get_closed_positions()[0].id
    late = repo.save_trade(fill("SELL", "1", "12", 15))
    # by time: buy 2 @ 10; sell 1 @ 12 -> 2; sell 2 @ 13 closes 1 (+3) and opens a
    # short of 1 @ 13; buy 1 @ 14 closes it: 13 - 14 = -1
    assert [repo.get_trade(i).pnl for i in (first, late, close, nxt)] == \
        [None, D("2"), D("3"), D("-1")]
    trips = repo.get_closed_positions()
    assert [(p.side, p.realized_pnl, p.opened_at, p.closed_at) for p in trips] == \
        [("LONG", D("5"), at(10), at(20)), ("SHORT", D("-1"), at(20), at(30))]
    assert trips[0].id == closed_id  # the rewritten round trip keeps its id
    assert repo.get_position("ETH/USDT") is None and repo.derived_problems() == []


def test_bulk_out_of_order_is_applied_in_time_order(repo):
    repo.save_trades([fill("SELL", "1", "12", 20), fill("BUY", "1", "10", 10)])
    closed, = repo.get_closed_positions()
    assert (closed.side, closed.realized_pnl) == ("LONG", D("2"))


def test_the_common_path_reads_the_key_through_the_replay_index(sqlite_repo):
    plan = " ".join(r[3] for r in sqlite_repo.db.query(
        "EXPLAIN QUERY PLAN SELECT timestamp FROM trades WHERE account = ? AND exchange = ? "
        "AND symbol = ? AND voided_at IS NULL ORDER BY timestamp DESC, id DESC LIMIT 1",
        ("default", "", "X")))
    assert "trades_replay" in plan and "TEMP B-TREE" not in plan


keys = st.sampled_from([("default", "a", "S/USD"), ("default", "b", "S/USD"),
                        ("alt", "a", "S/USD"), ("default", "a", "T/USD")])
fill_specs = st.tuples(keys, st.sampled_from(["BUY", "SELL"]), st.integers(1, 40),
                       st.integers(1, 300), st.integers(0, 5),
                       st.sampled_from([None, "USD", "S", "BNB"]))


@st.composite
def permuted_fills(draw):
    specs = draw(st.lists(fill_specs, min_size=1, max_size=14))
    stamps = draw(st.lists(st.integers(0, 10_000), min_size=len(specs), max_size=len(specs),
                           unique=True))
    trades = []
    for n, ((key, side, qty, price, fee, currency), t) in enumerate(zip(specs, stamps)):
        symbol = key[2]
        currency = "T" if currency == "S" and symbol.startswith("T") else currency
        trades.append(TradeData(symbol, side, D(qty).scaleb(-1), D(price), timestamp=at(t),
                                fees=D(fee).scaleb(-3), fee_currency=currency,
                                account=key[0], exchange=key[1], external_id=f"f{n}",
                                strategy=f"s{n % 3}"))
    order = draw(st.permutations(range(len(trades))))
    sizes = draw(st.lists(st.integers(1, 4), min_size=len(trades), max_size=len(trades)))
    return trades, order, sizes


def record(repo) -> tuple:
    """Everything derived, without ids and stamps: positions, fill pnl and round trips."""
    positions = sorted(
        tuple(row) for row in repo.db.query(
            "SELECT account, exchange, symbol, side, quantity, entry_value, entry_fees, "
            "max_quantity, realized_pnl, fees, trade_count, opened_at, closed_at, currency, "
            "strategy, unvalued_fees FROM positions"))
    pnl = dict(repo.db.query("SELECT external_id, pnl FROM trades"))
    trips = sorted(tuple(r[1:]) for r in repo.db.query("SELECT * FROM v_round_trips"))
    links = sorted(tuple(r) for r in repo.db.query(
        "SELECT t.external_id, p.opened_at, p.exchange, o.opened_at FROM trades t "
        "LEFT JOIN positions p ON p.id = t.position_id "
        "LEFT JOIN positions o ON o.id = t.opened_position_id"))
    return positions, pnl, trips, links


@settings(max_examples=examples(60, 15), deadline=None)
@given(permuted_fills(), st.booleans())
def test_any_save_order_ends_where_time_order_ends(case, in_bulks):
    trades, order, sizes = case
    with TradeRepo(":memory:") as repo:
        repo.accounts.create("alt")
        repo.save_trades(sorted(trades, key=lambda t: t.timestamp))
        expected = record(repo)
    with TradeRepo(":memory:") as repo:
        repo.accounts.create("alt")
        shuffled = [trades[i] for i in order]
        if in_bulks:
            start = 0
            for size in sizes:
                if start >= len(shuffled):
                    break
                repo.save_trades(shuffled[start:start + size])
                start += size
        else:
            for trade in shuffled:
                repo.save_trade(trade)
        assert record(repo) == expected
        assert repo.derived_problems() == []


# ------------------------------------------------------------------ corrections (15.7)

def test_void_replays_without_the_fill_and_keeps_it(repo):
    buy = repo.save_trade(fill("BUY", "2", "10", 10))
    wrong = repo.save_trade(fill("BUY", "2", "20", 15))
    sell = repo.save_trade(fill("SELL", "2", "18", 20))
    # with the wrong fill: avg 15, sell 2 @ 18 = +6; without it: 2 x (18 - 10) = +16
    assert repo.get_trade(sell).pnl == D("6")
    voided = repo.void_trade(wrong, "duplicate from a resync")
    assert voided.voided_at is not None and voided.void_reason == "duplicate from a resync"
    assert repo.get_trade(sell).pnl == D("16")
    closed, = repo.get_closed_positions()
    assert (closed.realized_pnl, closed.trade_count, closed.max_quantity) == (D("16"), 2, D(2))
    assert repo.get_position("ETH/USDT") is None
    assert [t.id for t in repo.get_trade_history(days=None)] == [buy, sell]
    assert [t.id for t in repo.get_trade_history(days=None, include_void=True)] == \
        [buy, wrong, sell]
    assert [t.id for t in repo.iter_trades(days=None)] == [buy, sell]
    event, = [e for e in repo.events.recent() if e.event_type == "trade_voided"]
    assert event.trade_id == wrong and "duplicate" in event.message
    assert repo.get_statistics(days=None).net_pnl == D("16")
    assert repo.derived_problems() == []


def test_void_refusals(repo):
    with pytest.raises(ValidationError, match="trade_id: 99 is not a stored fill"):
        repo.void_trade(99, "x")
    trade_id = repo.save_trade(fill("BUY", "1", "10", 1))
    repo.void_trade(trade_id, "x")
    with pytest.raises(ConflictError, match="already voided"):
        repo.void_trade(trade_id, "again")
    with pytest.raises(ValidationError, match="reason"):
        repo.void_trade(trade_id, "")
    with pytest.raises(ValidationError, match="voided_at"):
        TradeData("X", "BUY", 1, 1, voided_at=T0)


def test_void_of_an_order_fill_recomputes_the_order(repo):
    order = repo.create_order("ETH/USDT", "BUY", "LIMIT", "3", price="11")
    first = repo.record_fill(order.id, "1", "10")
    repo.record_fill(order.id, "2", "11")
    repo.void_trade(first, "exchange busted the trade")
    got = repo.get_order(order.id)
    assert (got.filled_quantity, got.avg_fill_price, got.status) == (D(2), D(11), "FILLED")
    assert repo.get_position("ETH/USDT").quantity == 2
    assert repo.derived_problems() == []


def test_adjustment_fills_move_the_position_and_say_so(repo):
    repo.save_trade(fill("BUY", "2", "10", 1))
    adj = repo.save_trade(fill("SELL", "1", "10", 2, kind="adjustment"))  # a manual sale
    assert repo.get_trade(adj).kind == "ADJUSTMENT"
    assert repo.get_position("ETH/USDT").quantity == 1
    with pytest.raises(ValidationError, match="kind"):
        fill("BUY", "1", "1", 3, kind="GIFT")


def test_position_overflow_is_a_validation_error_naming_the_figure(repo):
    big = "9" * 38
    with pytest.raises(ValidationError, match="entry value"):
        repo.save_trade(TradeData("BIG", "BUY", big, big))
    repo.save_trade(TradeData("BIG", "BUY", "1", big, timestamp=at(1)))
    with pytest.raises(ValidationError, match="entry value"):
        repo.save_trade(TradeData("BIG", "BUY", big, "0." + "0" * 10 + "1" * 27,
                                  timestamp=at(0)))  # a late fill: overflow in the replay
    assert repo.table_counts()["trades"] == 1 and repo.derived_problems() == []


@settings(max_examples=examples(40, 10), deadline=None)
@given(permuted_fills(), st.data())
def test_voiding_fills_ends_where_never_saving_them_ends(case, data):
    trades, order, _ = case
    voided = data.draw(st.sets(st.integers(0, len(trades) - 1)))
    kept = [t for i, t in enumerate(trades) if i not in voided]
    with TradeRepo(":memory:") as repo:
        repo.accounts.create("alt")
        repo.save_trades(sorted(kept, key=lambda t: t.timestamp))
        expected = record(repo)
    with TradeRepo(":memory:") as repo:
        repo.accounts.create("alt")
        ids = [repo.save_trade(trades[i]) for i in order]
        by_index = dict(zip(order, ids))
        for i in sorted(voided, key=lambda i: data.draw(st.integers(0, 99))):
            repo.void_trade(by_index[i], "test")
        positions, pnl, trips, links = record(repo)
        gone = {f"f{i}" for i in voided}
        assert positions == expected[0] and trips == expected[2]
        assert {k: v for k, v in pnl.items() if k not in gone} == expected[1]
        assert [l for l in links if l[0] not in gone] == expected[3]
        assert all(l[1:] == (None, None, None) for l in links if l[0] in gone)
        assert repo.derived_problems() == []
