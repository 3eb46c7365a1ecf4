"""Futures and margin (issue 17): contract terms, linear and inverse pnl, funding,
liquidations, round trips in full. Every figure is worked out by hand in the comments."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import examples

from tradestore import TradeData, TradeRepo, ValidationError
from tradestore._core.money import SHARE_QUANTUM, ROUNDING

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
LIN = "BTC/USDT:USDT"
INV = "BTC/USD:BTC"


def at(hours):
    return T0 + timedelta(hours=hours)


def fill(symbol, side, qty, price, hours, **kw):
    return TradeData(symbol, side, qty, price, timestamp=at(hours), **kw)


# ---------------------------------------------------------------- 1: instruments

def test_ccxt_symbols_fill_currencies_without_registration(memory_repo):
    memory_repo.save_trade(fill(INV, "BUY", 1, 20000, 0))
    memory_repo.save_trade(fill(LIN, "BUY", 1, 20000, 0))
    inv, lin = memory_repo.get_position(INV), memory_repo.get_position(LIN)
    assert (inv.currency, inv.inverse, lin.currency, lin.inverse) == ("BTC", True, "USDT", False)


def test_instrument_describes_a_contract(memory_repo):
    ins = memory_repo.instruments.upsert("ESH6", kind="future", contract_size=50,
                                         base_currency="ES", quote_currency="USD",
                                         expiry="2026-03-20T13:30:00Z")
    assert (ins.kind, ins.contract_size, ins.inverse, ins.settle_currency, ins.expiry) == \
        ("future", D(50), False, None, datetime(2026, 3, 20, 13, 30, tzinfo=timezone.utc))
    assert memory_repo.instruments.get("ESH6").contract_size == 50
    for bad in ({"kind": "swap"}, {"contract_size": 0}, {"inverse": "yes"}):
        with pytest.raises(ValidationError) as err:
            memory_repo.instruments.upsert("ESH6", **bad)
        assert list(bad)[0] in str(err.value)


# ---------------------------------------------------------------- 2: linear and inverse pnl

def test_linear_pnl_with_a_multiplier(memory_repo):
    memory_repo.instruments.upsert("ESH6", kind="future", contract_size=50,
                                   quote_currency="USD")
    memory_repo.save_trades([fill("ESH6", "BUY", 2, "5000", 0, fees="4"),
                             fill("ESH6", "SELL", 2, "5010.25", 1, fees="4")])
    p = memory_repo.get_closed_positions()[0]
    # 2 x 50 x (5010.25 - 5000) = 1025; costs 8 -> 1017
    assert (p.trading_pnl, p.fees, p.pnl) == (D("1025"), D("8"), D("1017"))
    assert (p.entered_value, p.exit_value) == (D("500000"), D("501025"))
    assert (p.avg_entry_price, p.avg_exit_price, p.contract_size) == \
        (D("5000"), D("5010.25"), D(50))


def test_inverse_pnl_harmonic_entry_worked_by_hand(memory_repo):
    memory_repo.save_trades([
        fill(INV, "BUY", 100, 20000, 0),          # 100 / 20000 = 0.005 BTC
        fill(INV, "BUY", 100, 25000, 1),          # 100 / 25000 = 0.004 BTC
        fill(INV, "SELL", 200, 40000, 2, fees="0.0001"),  # 200 / 40000 = 0.005 BTC
    ])
    p = memory_repo.get_closed_positions()[0]
    # harmonic mean entry: 200 / (0.005 + 0.004) = 22222.22...2 (18 places, half-even)
    assert p.avg_entry_price == D("22222.222222222222222222")
    assert p.avg_exit_price == D("40000")
    # long inverse: 200 x (1/22222.2.. - 1/40000) = 0.009 - 0.005 = 0.004 BTC; fee 0.0001
    assert (p.trading_pnl, p.pnl, p.currency) == (D("0.004"), D("0.0039"), "BTC")


def test_inverse_short_gains_when_the_price_falls(memory_repo):
    memory_repo.save_trades([fill(INV, "SELL", 300, 30000, 0),   # 0.01 BTC
                             fill(INV, "BUY", 300, 25000, 1)])   # 0.012 BTC
    # short inverse: 300 x (1/25000 - 1/30000) = 0.012 - 0.01 = 0.002 BTC
    assert memory_repo.get_closed_positions()[0].pnl == D("0.002")


def test_inverse_division_rounded_half_even_to_the_quantum(memory_repo):
    memory_repo.save_trades([fill(INV, "BUY", 1, 3, 0), fill(INV, "SELL", 1, 7, 1)])
    p = memory_repo.get_closed_positions()[0]
    # 1/3 = 0.333333333333333333 (18 places); 1/7 = 0.142857142857142857
    assert (p.entered_value, p.exit_value) == (D("0.333333333333333333"),
                                               D("0.142857142857142857"))
    # pnl = the settle-currency cash flow of the rounded values, exactly
    assert p.pnl == D("0.333333333333333333") - D("0.142857142857142857")


def _model_value(price, qty, size, inverse):
    units = qty * size
    if not inverse:
        return units * price
    return ROUNDING.divide(units, price).quantize(SHARE_QUANTUM, context=ROUNDING)


prices = st.decimals(min_value=D("0.5"), max_value=D("90000"), places=2)
quantities = st.decimals(min_value=D("0.01"), max_value=D("500"), places=2)


@settings(max_examples=examples(40, 10), deadline=None)
@given(steps=st.lists(st.tuples(st.booleans(), quantities, prices, st.sampled_from(["0", "0.01"])),
                      min_size=1, max_size=8),
       close_price=prices, inverse=st.booleans(), short=st.booleans(),
       size=st.sampled_from([D(1), D(10), D("0.001")]),
       funding=st.lists(st.decimals(min_value=D("-5"), max_value=D("5"), places=4), max_size=3))
def test_round_trip_pnl_equals_the_plain_decimal_model(steps, close_price, inverse, short, size,
                                                       funding):
    """Any adds and partial reduces, then a close: pnl = trading cash flow + funding - fees,
    with the cash flow of each fill its plain-Decimal value."""
    symbol = "BTC/USD:BTC" if inverse else "BTC/USDT:USDT"
    opening, closing = ("SELL", "BUY") if short else ("BUY", "SELL")
    with TradeRepo(":memory:") as repo:
        repo.instruments.upsert(symbol, contract_size=size)
        held, fills, hour = D(0), [], 0
        for adds, qty, price, fee in steps:
            if not adds and held > qty:
                side = closing
                held -= qty
            else:
                side = opening
                held += qty
            fills.append(fill(symbol, side, qty, price, hour, fees=fee))
            hour += 1
        fills.append(fill(symbol, closing, held, close_price, hour + 1, fees="0.02"))
        repo.save_trades(fills)
        for i, amount in enumerate(funding):
            repo.record_funding(symbol, amount, at(hour + 0.5 - i * 0.25))  # while open
        p = repo.get_closed_positions()[0]
        flow = sum((_model_value(f.price, f.quantity, size, inverse) *
                    (1 if f.side == "SELL" else -1) for f in fills), D(0))
        fees = sum((f.fees for f in fills), D(0))
        funded = sum(funding, D(0))
        # linear: sells - buys, whatever the side; inverse: buys - sells (in the settle coin)
        expected_trading = flow if not inverse else -flow
        assert p.trading_pnl == expected_trading
        assert p.fees == fees and p.funding == funded
        assert p.pnl == expected_trading + funded - fees
        assert repo.check() == []


# ---------------------------------------------------------------- 4: funding

def test_funding_counts_in_the_round_trip_and_is_idempotent(memory_repo):
    memory_repo.save_trade(fill(LIN, "BUY", 1, 100, 0, fees="0.1"))
    first = memory_repo.record_funding(LIN, "-0.3", at(8), exchange="", external_id="f1")
    assert memory_repo.record_funding(LIN, "-0.3", at(8), external_id="f1") == first
    memory_repo.record_funding(LIN, "0.05", at(16), external_id="f2")
    memory_repo.save_trade(fill(LIN, "SELL", 1, 110, 20, fees="0.1"))
    p = memory_repo.get_closed_positions()[0]
    # trading 110 - 100 = 10; funding -0.3 + 0.05 = -0.25; fees 0.2 -> 9.55
    assert (p.trading_pnl, p.funding, p.fees, p.pnl) == (D("10"), D("-0.25"), D("0.2"),
                                                         D("9.55"))
    assert [f.position_id for f in memory_repo.funding.list()] == [p.id, p.id]


def test_funding_without_an_open_position_is_kept_unattached(memory_repo):
    fid = memory_repo.record_funding(LIN, "1", at(1))
    assert memory_repo.funding.get(fid).position_id is None
    assert memory_repo.funding.get(fid).currency == "USDT"


def test_funding_at_the_time_of_a_fill_belongs_to_the_position_before_it(memory_repo):
    memory_repo.save_trade(fill(LIN, "BUY", 1, 100, 0))
    memory_repo.save_trade(fill(LIN, "SELL", 1, 100, 8))
    memory_repo.save_trade(fill(LIN, "BUY", 1, 100, 8))   # a new round trip at 8h
    memory_repo.record_funding(LIN, "-1", at(8))          # late: replays the key
    closed, = memory_repo.get_closed_positions()
    assert (closed.funding, memory_repo.get_position(LIN).funding) == (D("-1"), D(0))
    assert memory_repo.check() == []


def test_late_fill_moves_funding_to_the_position_open_at_its_time(memory_repo):
    fid = memory_repo.record_funding(LIN, "-2", at(8))          # nothing open yet
    memory_repo.save_trade(fill(LIN, "SELL", 2, 100, 4))          # a short opened earlier
    p = memory_repo.get_position(LIN)
    assert (p.funding, p.realized_pnl, memory_repo.funding.get(fid).position_id) == \
        (D("-2"), D("-2"), p.id)
    # voiding the fill leaves the payment attached to nothing again
    memory_repo.void_trade(1, "wrong")
    assert memory_repo.funding.get(fid).position_id is None
    assert memory_repo.check() == []


def test_funding_refuses_another_currency_and_bad_amounts(memory_repo):
    with pytest.raises(ValidationError, match="currency.*USDT"):
        memory_repo.record_funding(LIN, "1", at(1), currency="BTC")
    with pytest.raises(ValidationError, match="amount"):
        memory_repo.record_funding(LIN, "nan", at(1))
    assert memory_repo.funding.list() == []


def test_check_and_rebuild_cover_funding(tmp_path):
    path = tmp_path / "t.db"
    with TradeRepo(path) as repo:
        repo.save_trade(fill(LIN, "BUY", 1, 100, 0))
        repo.record_funding(LIN, "-1", at(8))
    raw = sqlite3.connect(path)  # a hand edit, as a person would make it in the shell
    with raw:
        raw.execute("UPDATE positions SET funding = '0', realized_pnl = '0', trading_pnl = '7'")
        raw.execute("UPDATE funding_payments SET position_id = NULL")
    raw.close()
    with TradeRepo(path) as repo:
        problems = repo.check()
        assert "positions id 1 column funding: stored 0, replayed from fills -1" in problems
        assert "funding_payments id 1 column position_id: stored NULL, replayed from fills 1" \
            in problems
        assert "positions id 1 column trading_pnl: stored 7, replayed from fills 0" in problems
        repo.rebuild()
        assert repo.check() == [] and repo.get_position(LIN).funding == D(-1)


def test_ccxt_funding_history_entries(memory_repo):
    memory_repo.save_trade(fill(LIN, "BUY", 1, 100, 0))
    entries = [{"symbol": LIN, "code": "USDT", "timestamp": int(at(8).timestamp() * 1000),
                "id": "77", "amount": -0.25, "info": {"x": 1}},
               {"symbol": LIN, "code": "USDT", "datetime": "2026-01-01T16:00:00Z",
                "id": "78", "amount": "0.1"}]
    ids = memory_repo.save_ccxt_funding(entries, exchange="binance")
    assert memory_repo.save_ccxt_funding(entries, exchange="binance") == ids
    # the fill was on exchange '' and the funding on binance: another key, unattached
    assert [f.position_id for f in memory_repo.funding.list()] == [None, None]
    with pytest.raises(ValidationError, match="row 0: amount"):
        memory_repo.save_ccxt_funding([{"symbol": LIN, "timestamp": 1, "id": "x"}],
                                      exchange="binance")


# ---------------------------------------------------------------- 5: liquidations

def test_liquidation_closes_and_is_recorded(memory_repo):
    memory_repo.save_trades([
        fill(LIN, "BUY", 2, 100, 0, leverage=10, margin_mode="isolated",
             liquidation_price="90.5"),
        fill(LIN, "SELL", 2, "90.5", 5, liquidation=True, fees="0.5"),
    ])
    p = memory_repo.get_closed_positions()[0]
    # 2 x (90.5 - 100) = -19; fee 0.5 -> -19.5; margin 200 / 10 = 20; ROE -19.5/20 = -97.5%
    assert (p.closed_by, p.pnl, p.margin, p.roe) == ("liquidation", D("-19.5"), D("20"),
                                                     D("-97.5"))
    assert (p.leverage, p.margin_mode, p.liquidation_price) == (D(10), "isolated", D("90.5"))
    assert [f.action for f in memory_repo.get_round_trip_fills(p.id)] == ["OPEN", "LIQUIDATION"]


def test_fill_validation_names_fields(memory_repo):
    for bad in ({"liquidation": "yes"}, {"leverage": 0}, {"margin": -1},
                {"margin_mode": "portfolio"}, {"liquidation_price": 0}, {"commission": -1}):
        with pytest.raises(ValidationError) as err:
            fill(LIN, "BUY", 1, 100, 0, **bad)
        assert list(bad)[0] in str(err.value)


# ---------------------------------------------------------------- 6: round trips in full

def test_round_trip_in_full_worked_by_hand(memory_repo):
    memory_repo.save_trades([
        fill(LIN, "BUY", 1, 100, 0, fees="0.1"),      # OPEN
        fill(LIN, "BUY", 3, 120, 1, fees="0.3"),      # ADD: 4 held, entry value 460
        fill(LIN, "SELL", 2, 130, 2, fees="0.2"),     # REDUCE
        fill(LIN, "SELL", 3, 110, 3, fees="0.3"),     # FLIP: closes 2, opens a short of 1
        fill(LIN, "BUY", 1, 105, 4, kind="ADJUSTMENT"),  # closes the short
    ])
    long_, short = memory_repo.get_closed_positions()
    # entry 460 / 4 = 115; exits 2 @ 130 and 2 @ 110 -> 480 / 4 = 120
    assert (long_.avg_entry_price, long_.avg_exit_price) == (D("115"), D("120"))
    assert (long_.entered_quantity, long_.exited_quantity, long_.max_quantity) == (4, 4, 4)
    # trading 480 - 460 = 20; fees 0.1 + 0.3 + 0.2 + 0.2 (2/3 of 0.3) = 0.8 -> 19.2
    assert (long_.trading_pnl, long_.fees, long_.pnl) == (D("20"), D("0.8"), D("19.2"))
    # pnl % of entry value: 19.2 / 460 x 100 = 4.1739130434782608695652... (18 places)
    assert long_.pnl_pct == D("4.173913043478260870")
    assert long_.holding_time == timedelta(hours=3) and long_.closed_by == "trade"
    assert long_.roe is None  # no margin given, no leverage: ROE undefined
    assert [(f.action, f.effect) for f in memory_repo.get_round_trip_fills(long_.id)] == \
        [("OPEN", "OPEN"), ("ADD", "ADD"), ("REDUCE", "REDUCE"), ("FLIP", "FLIP")]
    assert [f.action for f in memory_repo.get_round_trip_fills(short.id)] == \
        ["OPEN", "ADJUSTMENT"]
    # short: 1 @ 110 -> 1 @ 105: 5 - the 0.1 of the flip's fee = 4.9
    assert (short.closed_by, short.pnl, short.avg_entry_price) == ("adjustment", D("4.9"),
                                                                   D("110"))
    with pytest.raises(ValidationError, match="position_id"):
        memory_repo.get_round_trip_fills(99)


def test_views_show_the_round_trip_columns(memory_repo):
    memory_repo.save_trades([fill(LIN, "BUY", 2, 100, 0, leverage=4),
                             fill(LIN, "SELL", 2, 110, 1, fees="1")])
    memory_repo.record_funding(LIN, "0.5", at(0.5))
    row = memory_repo.db.query_one(
        "SELECT trading_pnl, funding, fees, pnl, avg_entry_price, avg_exit_price, closed_by, "
        "margin, roe_pct, pnl_pct FROM v_round_trips")
    # trading 20, funding 0.5, fees 1 -> 19.5;
    # margin 200 / 4 = 50; ROE 19.5 / 50 = 39%; 19.5 / 200 = 9.75%
    assert row == ("20", "0.5", "1", "19.5", "100", "110", "trade", "50", 39.0, 9.75)


# ---------------------------------------------------------------- 3 and 7: margin, commission

def test_margin_given_or_from_leverage(memory_repo):
    memory_repo.save_trades([fill(INV, "BUY", 100, 20000, 0, leverage=5),  # 0.005 / 5
                             fill(INV, "BUY", 100, 25000, 1, margin="0.002")])
    p = memory_repo.get_position(INV)
    assert (p.margin, p.margin_used, p.leverage) == (D("0.003"), D("0.003"), D(5))


def test_commission_and_fees_both_cost(memory_repo):
    memory_repo.save_trades([fill("AAPL", "BUY", 10, 150, 0, fees="0.5", commission="1"),
                             fill("AAPL", "SELL", 10, 151, 1, commission="1")])
    p = memory_repo.get_closed_positions()[0]
    # 10 x (151 - 150) = 10; costs 0.5 + 1 + 1 = 2.5 -> 7.5, commission 2 of it
    assert (p.trading_pnl, p.fees, p.commission, p.pnl) == (D("10"), D("2.5"), D("2"),
                                                            D("7.5"))
    assert memory_repo.get_trade(1).commission == D(1)


# ---------------------------------------------------------------- done when: a simulated bot

def test_simulated_perpetual_bot_reconciles(memory_repo):
    from tradestore.tools.futures_demo import SIZES, run_futures_bot
    memory_repo.accounts.deposit("default", 1000)
    did = run_futures_bot(memory_repo, days=12, seed=3, end=at(24 * 12), close_all=True)
    assert did["liquidated"] and did["funding_payments"] >= 10
    trips = memory_repo.get_closed_positions()
    assert memory_repo.get_open_positions() == [] and len(trips) > 5
    assert sum(t.closed_by == "liquidation" for t in trips) == 1
    cash = {"USDT": D(0), "BTC": D(0)}
    for t in trips:
        inverse = t.symbol == "BTC/USD:BTC"
        fills = memory_repo.get_round_trip_fills(t.id)
        flow = sum((_model_value(f.price, f.quantity, SIZES[t.symbol], inverse) *
                    (1 if f.side == "SELL" else -1) for f in fills), D(0))
        assert t.trading_pnl == (-flow if inverse else flow)
        assert t.pnl == t.trading_pnl + t.funding - t.fees
        assert t.funding == sum((f.amount for f in memory_repo.funding.list(position_id=t.id)),
                                D(0))
        cash[t.currency] += t.pnl
    for f in memory_repo.funding.list():
        if f.position_id is None:
            cash[f.currency] += f.amount
    # the account's cash: the deposit, and every round trip's pnl in its settle currency
    assert memory_repo.accounts.balances("default") == {"USD": D(1000), **cash}
    stats = memory_repo.get_statistics(None, currency="USDT")
    liq, = [t for t in trips if t.closed_by == "liquidation"]
    assert stats.total_funding == sum((t.funding for t in trips if t.currency == "USDT"), D(0))
    if liq.currency == "USDT":
        assert (stats.liquidations, stats.liquidation_loss) == (1, liq.pnl)
    assert memory_repo.check() == []


def test_seed_003_calls_in_its_words(memory_repo):
    memory_repo.save_trades([fill(LIN, "BUY", 1, 100, 0, exchange="bybit"),
                             fill(LIN, "SELL", 1, 101, 1, exchange="bybit"),
                             fill(LIN, "BUY", 2, 100, 2, exchange="bybit")])
    stats = memory_repo.get_statistics(None, exchange="bybit")
    assert (stats.total_trades, stats.win_rate, stats.net_pnl) == (1, 1.0, D(1))  # a fraction
    assert [p.quantity for p in memory_repo.get_open_positions(exchange="bybit")] == [2]
    assert memory_repo.get_open_positions(exchange="okx") == []
    assert memory_repo.get_position(LIN, exchange="bybit").quantity == 2
    assert memory_repo.get_position(LIN, exchange="okx") is None
    # the seed passes days positionally: get_statistics(days, exchange=...)
    assert memory_repo.get_statistics(36500, exchange="bybit").total_trades == 1


@settings(max_examples=examples(25, 8), deadline=None)
@given(events=st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["BUY", "SELL", "FUND"]),
                                 st.integers(1, 4), st.integers(90, 110)),
                       min_size=1, max_size=12),
       order=st.randoms(use_true_random=False), inverse=st.booleans())
def test_any_save_order_of_fills_and_funding_ends_as_time_order(events, order, inverse):
    """Fills and funding payments saved in any order (late ones replay their key) end
    where saving them in time order ends: the same round trips, funding and links."""
    symbol = INV if inverse else LIN

    def when(event):
        return event[0] + (0.5 if event[1] == "FUND" else 0)  # funding between fills

    def build(items):
        repo = TradeRepo(":memory:")
        for i, (hour, kind, qty, price) in items:
            if kind == "FUND":
                repo.record_funding(symbol, D(qty - 2) / 10, at(when((hour, kind))),
                                    external_id=f"f{i}")
            else:
                repo.save_trade(fill(symbol, kind, qty, price, hour, external_id=f"t{i}"))
        return repo

    def picture(repo):
        trips = repo.get_closed_positions() + repo.get_open_positions()
        index = {p.id: n for n, p in enumerate(trips)}
        return ([(p.side, p.quantity, p.realized_pnl, p.funding, p.trading_pnl, p.opened_at,
                  p.closed_at, p.closed_by) for p in trips],
                sorted((f.external_id, index.get(f.position_id)) for f in repo.funding.list()))

    numbered = list(enumerate(events))
    shuffled = list(numbered)
    order.shuffle(shuffled)
    # fills of one timestamp apply in save order: keep those in their original order
    same_time = {}
    for e in numbered:
        same_time.setdefault(when(e[1]), []).append(e)
    queues = {t: iter(v) for t, v in same_time.items()}
    shuffled = [next(queues[when(e[1])]) for e in shuffled]
    in_time, any_order = build(sorted(numbered, key=lambda e: (when(e[1]), e[0]))), \
        build(shuffled)
    try:
        assert picture(any_order) == picture(in_time)
        assert any_order.check() == []
    finally:
        in_time.close()
        any_order.close()


def test_demo_futures_command_reports_funding_and_the_liquidation(tmp_path):
    from conftest import run_tradestore
    done = run_tradestore("demo", "--futures", "--days", "10", "--db", tmp_path / "d.db",
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    blocks = done.stdout.split("\n\n")
    futures = [b for b in blocks if "funding" in b and "liquidations" in b]
    assert futures and any("liquidations" in b and " 1 (-" in b for b in futures)
    with TradeRepo(tmp_path / "d.db") as repo:
        trips = repo.get_closed_positions(exchange="demo-futures")
        assert sum(t.closed_by == "liquidation" for t in trips) == 1
        assert all(t.pnl == t.trading_pnl + t.funding - t.fees for t in trips)
        assert repo.funding.list() and repo.check() == []


def test_a_registered_inverse_symbol_without_a_slash(memory_repo):
    memory_repo.instruments.upsert("XBTUSD", kind="perpetual", inverse=True,
                                   base_currency="XBT", quote_currency="USD")
    memory_repo.save_trades([fill("XBTUSD", "SELL", 1000, 50000, 0, fees="0.00001",
                                  fee_currency="XBT"),
                             fill("XBTUSD", "BUY", 1000, 40000, 1)])
    p = memory_repo.get_closed_positions()[0]
    # short inverse: 1000 x (1/40000 - 1/50000) = 0.025 - 0.02 = 0.005 XBT; fee 0.00001
    assert (p.currency, p.inverse, p.pnl) == ("XBT", True, D("0.00499"))
    # a fee in USD on an inverse contract is another currency: valued only with fee_value
    with pytest.raises(ValidationError, match="fee_value"):
        memory_repo.save_trade(fill("XBTUSD", "BUY", 1, 40000, 2, fees="1", fee_currency="XBT",
                                    fee_value="0.5"))
    memory_repo.save_trade(fill("XBTUSD", "BUY", 1, 40000, 2, fees="1", fee_currency="USD"))
    assert memory_repo.get_position("XBTUSD").unvalued_fees == {"USD": D(1)}
