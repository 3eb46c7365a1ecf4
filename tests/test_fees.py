"""Fees in their currency (issue 15.5): one rule for TradeData, imports and ccxt.

Every expected number is worked out by hand in the comments beside it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from hypothesis import given, settings, strategies as st
from conftest import examples

from tradestore import TradeData
from tradestore.errors import ValidationError
from tradestore.record.fees import Currencies, fee_effect, parse_symbol

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def test_symbols_spell_their_currencies():
    assert parse_symbol("BTC/USDT") == Currencies("BTC", "USDT", "USDT", kind="spot")
    assert parse_symbol("BTC/USDT:USDT") == Currencies("BTC", "USDT", "USDT", kind="perpetual")
    # settled in its base: an inverse contract (issue 17.1)
    assert parse_symbol("BTC/USD:BTC") == Currencies("BTC", "USD", "BTC", inverse=True,
                                                     kind="perpetual")
    assert parse_symbol("BTC/USDT:USDT-251226") == Currencies("BTC", "USDT", "USDT",
                                                              kind="future")
    assert parse_symbol("BTC/USD:BTC-251226-60000-C") == Currencies("BTC", "USD", "BTC",
                                                                   inverse=True, kind="option")
    assert parse_symbol("AAPL") is None and parse_symbol("/USD") is None


def test_base_fee_on_a_buy_is_taken_from_what_is_held(repo):
    repo.save_trade(TradeData("BTC/USDT", "BUY", "1", "100", fees="0.001", fee_currency="BTC",
                              timestamp=at(1)))
    p = repo.get_position("BTC/USDT")
    # holds 1 - 0.001 = 0.999; entry value 100 x 0.999 = 99.9; the fee 0.001 x 100 = 0.1
    assert (p.quantity, p.entry_value, p.entry_fees, p.currency) == \
        (D("0.999"), D("99.9"), D("0.1"), "USDT")
    assert p.cost_basis == D("100")  # what was paid
    sell = repo.save_trade(TradeData("BTC/USDT", "SELL", "0.999", "110", timestamp=at(2)))
    # 0.999 x 110 = 109.89 received - 100 paid = 9.89
    assert repo.get_trade(sell).pnl == D("9.89")
    closed, = repo.get_closed_positions()
    assert (closed.realized_pnl, closed.fees, closed.max_quantity) == (D("9.89"), D("0.1"),
                                                                       D("0.999"))
    assert repo.get_position("BTC/USDT") is None


def test_base_fee_on_a_sell_spends_more_than_the_quantity(repo):
    repo.save_trade(TradeData("BTC/USDT", "SELL", "1", "100", fees="0.001", fee_currency="btc",
                              timestamp=at(1)))
    p = repo.get_position("BTC/USDT")
    # a short of 1 + 0.001 = 1.001; entry value 100 x 1.001 = 100.1; fee 0.001 x 100 = 0.1
    assert (p.side, p.quantity, p.entry_value, p.entry_fees) == \
        ("SHORT", D("1.001"), D("100.1"), D("0.1"))
    repo.save_trade(TradeData("BTC/USDT", "BUY", "1.001", "90", timestamp=at(2)))
    closed, = repo.get_closed_positions()
    # cash: +100 received, -1.001 x 90 = -90.09 paid: 9.91
    assert closed.realized_pnl == D("9.91")


def test_quote_fee_or_no_currency_counts_as_given(repo):
    repo.save_trade(TradeData("ETH/USDT", "BUY", "2", "10", fees="0.2", fee_currency="USDT",
                              timestamp=at(1)))
    repo.save_trade(TradeData("ETH/USDT", "SELL", "2", "11", fees="0.3", timestamp=at(2)))
    closed, = repo.get_closed_positions()
    # 22 - 20 - 0.2 - 0.3 = 1.5
    assert (closed.realized_pnl, closed.fees) == (D("1.5"), D("0.5"))


def test_third_currency_fee_is_unvalued_without_fee_value(repo):
    repo.save_trade(TradeData("BTC/USDT", "BUY", "1", "100", fees="0.01", fee_currency="BNB",
                              timestamp=at(1)))
    repo.save_trade(TradeData("BTC/USDT", "SELL", "1", "110", fees="0.02", fee_currency="BNB",
                              timestamp=at(2)))
    closed, = repo.get_closed_positions()
    # pnl 110 - 100 = 10; the 0.01 + 0.02 = 0.03 BNB are reported, never subtracted
    assert (closed.realized_pnl, closed.fees) == (D("10"), D("0"))
    assert closed.unvalued_fees == {"BNB": D("0.03")}
    assert repo.db.scalar("SELECT unvalued_fees FROM positions") == '{"BNB":"0.03"}'


def test_third_currency_fee_counts_through_fee_value(repo):
    repo.save_trade(TradeData("BTC/USDT", "BUY", "1", "100", fees="0.01", fee_currency="BNB",
                              fee_value="6", timestamp=at(1)))
    repo.save_trade(TradeData("BTC/USDT", "SELL", "1", "110", timestamp=at(2)))
    closed, = repo.get_closed_positions()
    assert (closed.realized_pnl, closed.fees, closed.unvalued_fees) == (D("4"), D("6"), {})
    assert repo.get_trade_history(days=None)[0].fee_value == D("6")


def test_crossing_fill_splits_an_unvalued_fee_by_quantity(repo):
    repo.save_trade(TradeData("BTC/USDT", "BUY", "1", "100", timestamp=at(1)))
    repo.save_trade(TradeData("BTC/USDT", "SELL", "4", "100", fees="0.4", fee_currency="BNB",
                              timestamp=at(2)))
    closed, = repo.get_closed_positions()
    # 1 of 4 closes: 0.1 BNB; the 3 that open a short carry 0.3 BNB
    assert closed.unvalued_fees == {"BNB": D("0.1")}
    assert repo.get_position("BTC/USDT").unvalued_fees == {"BNB": D("0.3")}


def test_instrument_registry_gives_currencies_to_plain_symbols(repo):
    repo.instruments.upsert("XBTUSD", base_currency="XBT", quote_currency="USD")
    repo.save_trade(TradeData("XBTUSD", "BUY", "2", "50", fees="0.5", fee_currency="XBT",
                              timestamp=at(1)))
    p = repo.get_position("XBTUSD")
    # holds 2 - 0.5 = 1.5, fee valued 0.5 x 50 = 25
    assert (p.quantity, p.entry_fees, p.currency) == (D("1.5"), D("25"), "USD")
    assert repo.instruments.get("XBTUSD").base_currency == "XBT"


def test_unknown_quote_counts_the_fee_as_given(repo):
    repo.save_trade(TradeData("AAPL", "BUY", "10", "5", fees="1", fee_currency="USD",
                              timestamp=at(1)))
    p = repo.get_position("AAPL")
    assert (p.quantity, p.entry_fees, p.currency) == (D("10"), D("1"), None)


def test_refusals_name_the_field_and_change_nothing(repo):
    with pytest.raises(ValidationError, match="fees: a 1 BTC fee is not smaller"):
        repo.save_trade(TradeData("BTC/USDT", "BUY", "1", "100", fees="1", fee_currency="BTC"))
    with pytest.raises(ValidationError, match="row 1: fee_value"):
        repo.save_trades([TradeData("BTC/USDT", "BUY", "1", "100"),
                          TradeData("BTC/USDT", "BUY", "1", "100", fees="1",
                                    fee_currency="USDT", fee_value="1")])
    with pytest.raises(ValidationError, match="fee_value"):
        TradeData("BTC/USDT", "BUY", "1", "100", fee_value="-1")
    assert repo.table_counts()["trades"] == 0 and repo.table_counts()["positions"] == 0


fills = st.lists(st.tuples(st.sampled_from(["BUY", "SELL"]), st.integers(1, 50),
                           st.integers(1, 500), st.integers(0, 9),
                           st.sampled_from([None, "USDT", "BTC", "BNB"])),
                 min_size=1, max_size=12)


@settings(max_examples=examples(60, 15), deadline=None)
@given(fills)
def test_round_trip_pnl_is_its_cash_flow_in_quote_whatever_the_fee_currency(specs):
    """Sum of round-trip pnl + what is still held, valued at entry = the quote cash flow:
    sells received - buys paid - quote-valued fees (base fees are in the quantities)."""
    from tradestore import TradeRepo
    with TradeRepo(":memory:") as repo:
        cash = D(0)
        for i, (side, qty, price, fee, currency) in enumerate(specs):
            qty, price, fee = D(qty).scaleb(-1), D(price), D(fee).scaleb(-3)
            repo.save_trade(TradeData("BTC/USDT", side, qty, price, fees=fee,
                                      fee_currency=currency, timestamp=at(i)))
            effect = fee_effect(side, qty, price, fee, currency, None, parse_symbol("BTC/USDT"))
            cash += (price * qty if side == "SELL" else -price * qty)
            if currency in (None, "USDT"):
                cash -= fee
        positions = repo.get_closed_positions() + repo.get_open_positions()
        realised = sum((p.realized_pnl for p in positions), D(0))
        held = sum(((p.entry_value if p.side == "LONG" else -p.entry_value) + p.entry_fees
                    for p in positions if p.is_open), D(0))
        assert realised - held == cash
        assert effect.quantity > 0
        assert repo.derived_problems() == []


def test_csv_import_follows_the_same_rule(repo, tmp_path):
    from tradestore.ops.imports import import_trades
    source = tmp_path / "fills.csv"
    source.write_text(
        "timestamp,symbol,side,quantity,price,fees,fee_currency,fee_value,kind\n"
        "2024-01-01T00:00:01Z,BTC/USDT,BUY,2,100,0.002,BTC,,TRADE\n"
        "2024-01-01T00:00:02Z,BTC/USDT,SELL,0.999,110,0.01,BNB,3,ADJUSTMENT\n",
        encoding="utf-8")
    import_trades(repo, source)
    p = repo.get_position("BTC/USDT")
    # holds 2 - 0.002 = 1.998 (entry 199.8, fee 0.002 x 100 = 0.2); sells half, 0.999 at
    # 110: 109.89 - 99.9 - 0.1 (half the entry fee) - 3 (the BNB fee's given value) = 6.89
    assert (p.quantity, p.realized_pnl, p.fees) == (D("0.999"), D("6.89"), D("3.2"))
    assert [t.kind for t in repo.get_trade_history(days=None)] == ["TRADE", "ADJUSTMENT"]
