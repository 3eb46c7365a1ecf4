"""The bulk write path against one-by-one saves (issue 16.5).

``save_trades`` applies a bulk's fills in memory, per key in (timestamp, id) order,
and writes each round trip it touches once; ``save_trade`` writes after every fill
(and replays a key for a late one). Both must store exactly the same record: every
column of every fill and every round trip, the same Decimal text, the same links
between fills and round trips. Fills cover spot, a linear perpetual and an inverse
contract (its one rounded division), fees in the quote, base and a third currency
(with and without a quote value), commission, given pnl, adjustments, liquidations,
leverage and margin, repeated external ids, and a store that already holds fills.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

from hypothesis import given, settings, strategies as st
from conftest import examples

from tradestore import TradeData, TradeRepo

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
KEYS = [("default", "a", "S/USD"), ("default", "b", "S/USD"), ("alt", "a", "S/USD"),
        ("default", "a", "P/USDT:USDT"), ("default", "a", "I/USD:I")]
# each key's currencies: (quote, base) as fee currencies worth drawing
FEE_CURRENCIES = {"S/USD": ("USD", "S"), "P/USDT:USDT": ("USDT", "P"), "I/USD:I": ("I", "I")}


@st.composite
def fill_specs(draw, n):
    account, exchange, symbol = draw(st.sampled_from(KEYS))
    quote, base = FEE_CURRENCIES[symbol]
    quantity = D(draw(st.integers(1, 60))).scaleb(-1)
    fee_currency = draw(st.sampled_from([None, quote, base, "BNB"]))
    extra = {}
    if fee_currency == "BNB" and draw(st.booleans()):
        extra["fee_value"] = D(draw(st.integers(0, 900))).scaleb(-3)
    if draw(st.integers(0, 5)) == 0:
        extra["commission"] = D(draw(st.integers(1, 500))).scaleb(-3)
        extra["commission_currency"] = draw(st.sampled_from([None, quote]))
    if draw(st.integers(0, 6)) == 0:
        extra["pnl"] = D(draw(st.integers(-5000, 5000))).scaleb(-2)
    if draw(st.integers(0, 6)) == 0:
        extra["kind"] = "ADJUSTMENT"
    if draw(st.integers(0, 8)) == 0:
        extra["liquidation"] = True
    if symbol != "S/USD" and draw(st.booleans()):
        extra["leverage"] = D(draw(st.integers(1, 20)))
        if draw(st.booleans()):
            extra["margin"] = D(draw(st.integers(0, 3000))).scaleb(-1)
            extra["margin_mode"] = draw(st.sampled_from(["isolated", "cross"]))
    # an external id repeated now and then (the bulk and the single save skip it alike)
    external = draw(st.one_of(st.none(), st.integers(0, n + 3).map(lambda i: f"x{i}")))
    return TradeData(symbol, draw(st.sampled_from(["BUY", "SELL"])), quantity,
                     D(draw(st.integers(1, 4000))).scaleb(-1),
                     timestamp=T0 + timedelta(seconds=draw(st.integers(0, 60))),
                     fees=D(draw(st.integers(0, 9))).scaleb(-3), fee_currency=fee_currency,
                     account=account, exchange=exchange, external_id=external,
                     strategy=draw(st.sampled_from([None, "s1", "s2"])),
                     metadata=draw(st.sampled_from([None, {"n": 1}])), **extra)


@st.composite
def cases(draw):
    n = draw(st.integers(1, 18))
    fills = draw(st.lists(fill_specs(n), min_size=n, max_size=n))
    stored = draw(st.integers(0, n))  # saved first, as a bulk, in both stores
    return fills[:stored], fills[stored:]


def canonical(repo) -> tuple:
    """Every stored column of fills and round trips but the write times; a round trip
    named by its key and its rank in the key (ids grow with time within a key)."""
    rank = {}
    positions = repo.db.query("SELECT * FROM positions ORDER BY account, exchange, symbol, id")
    columns = [c[1] for c in repo.db.query("PRAGMA table_info(positions)")]
    kept = [i for i, c in enumerate(columns) if c not in ("id", "created_at", "updated_at")]
    trips = []
    for row in positions:
        key = (row[columns.index("account")], row[columns.index("exchange")],
               row[columns.index("symbol")])
        rank[row[0]] = (*key, sum(1 for k in rank.values() if k[:3] == key))
        trips.append((rank[row[0]], tuple(row[i] for i in kept)))
    columns = [c[1] for c in repo.db.query("PRAGMA table_info(trades)")]
    fills = []
    for row in repo.db.query("SELECT * FROM trades ORDER BY id"):
        named = dict(zip(columns, row))
        del named["created_at"]
        for link in ("position_id", "opened_position_id"):
            named[link] = rank.get(named[link])
        fills.append(named)
    return fills, trips


def store(first):
    repo = TradeRepo(":memory:")
    repo.accounts.create("alt")
    if first:
        repo.save_trades(first)
    return repo


@settings(max_examples=examples(60, 15), deadline=None)  # 60 in the deep leg (--runslow)
@given(cases())
def test_a_bulk_stores_what_saving_one_by_one_stores(case):
    first, rest = case
    with store(first) as bulk, store(first) as single:
        ids = bulk.save_trades(rest)
        assert ids == [single.save_trade(t) for t in rest]
        assert canonical(bulk) == canonical(single)
        assert bulk.derived_problems() == [] and single.derived_problems() == []


def test_a_bulk_writes_each_round_trip_once_with_ids_in_time_order():
    """Hand-worked: BUY 2 @10, SELL 3 @12 (closes 2: pnl 2 x (12 - 10) = 4 and opens a
    1 short), BUY 1 @11 (closes it: 12 - 11 = 1), all in one bulk given out of order."""
    t = [T0 + timedelta(seconds=s) for s in range(3)]
    with TradeRepo(":memory:") as repo:
        ids = repo.save_trades([TradeData("S/USD", "BUY", "1", "11", timestamp=t[2]),
                                TradeData("S/USD", "BUY", "2", "10", timestamp=t[0]),
                                TradeData("S/USD", "SELL", "3", "12", timestamp=t[1])])
        assert ids == [1, 2, 3]
        rows = repo.db.query("SELECT id, side, quantity, realized_pnl, trade_count, opened_at, "
                             "closed_at FROM positions ORDER BY id")
        stamp = [s.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for s in t]
        assert [tuple(r) for r in rows] == [(1, "LONG", "0", "4", 2, stamp[0], stamp[1]),
                                            (2, "SHORT", "0", "1", 2, stamp[1], stamp[2])]
        links = repo.db.query("SELECT id, pnl, position_id, opened_position_id FROM trades "
                              "ORDER BY id")
        assert [tuple(r) for r in links] == [(1, "1", 2, None), (2, None, 1, None),
                                             (3, "4", 1, 2)]
        assert repo.derived_problems() == []
