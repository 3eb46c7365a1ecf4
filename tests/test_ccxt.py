"""ccxt unified trades -> fills: mapping, fees per currency, order links, saving."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from tradestore import TradeData, ValidationError

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


def ccxt_trade(**overrides):
    """A trade in ccxt's documented unified structure."""
    trade = {
        "info": {"id": "12345", "qty": "0.02", "commissionAsset": "USDT"},
        "id": "12345",
        "order": "abc-1",
        "timestamp": 1502962946216,
        "datetime": "2017-08-17T09:42:26.216Z",
        "symbol": "BTC/USDT",
        "type": "limit",
        "side": "buy",
        "takerOrMaker": "taker",
        "price": 4052.1,
        "amount": 0.02,
        "cost": 81.042,
        "fee": {"cost": 0.081042, "currency": "USDT", "rate": 0.001},
        "fees": [{"cost": 0.081042, "currency": "USDT", "rate": 0.001}],
    }
    trade.update(overrides)
    return trade


def test_basic_mapping_takes_floats_through_their_shortest_repr():
    t = TradeData.from_ccxt(ccxt_trade(), exchange="binance")
    assert (t.symbol, t.side, t.exchange, t.external_id) == ("BTC/USDT", "BUY", "binance", "12345")
    assert t.quantity == Decimal("0.02") and str(t.quantity) == "0.02"
    assert str(t.price) == "4052.1"
    assert t.timestamp == datetime(2017, 8, 17, 9, 42, 26, 216000, tzinfo=timezone.utc)
    assert (t.fees, t.fee_currency) == (Decimal("0.081042"), "USDT")
    assert t.metadata["order_external_id"] == "abc-1"
    assert t.metadata["takerOrMaker"] == "taker" and t.metadata["type"] == "limit"
    assert t.metadata["cost"] == "81.042"
    assert t.metadata["info"]["commissionAsset"] == "USDT"
    assert t.metadata["fees"] == [{"cost": "0.081042", "currency": "USDT", "rate": "0.001"}]
    assert t.order_id is None  # no repo: the link is made when saving


def test_string_numbers_and_datetime_without_timestamp():
    t = TradeData.from_ccxt(ccxt_trade(price="4052.10", amount="0.020", timestamp=None,
                                   fee={"cost": "0.0810", "currency": "USDT"}, fees=[]),
                        exchange="kraken")
    assert str(t.price) == "4052.10" and str(t.quantity) == "0.020"  # digits kept
    assert t.timestamp == datetime(2017, 8, 17, 9, 42, 26, 216000, tzinfo=timezone.utc)
    assert str(t.fees) == "0.0810"
    t = TradeData.from_ccxt(ccxt_trade(timestamp="1502962946216"), exchange="x")
    assert t.timestamp.microsecond == 216000


def test_fractional_millisecond_timestamps_keep_microseconds():
    t = TradeData.from_ccxt(ccxt_trade(timestamp=1502962946216.5), exchange="x")
    assert t.timestamp.microsecond == 216500


@pytest.mark.parametrize("fee_fields", [
    {"fee": None, "fees": None},
    {"fee": None, "fees": []},
    {"fee": {"cost": None, "currency": None}, "fees": []},
    {"fee": {"cost": 0, "currency": "USDT"}},
])
def test_missing_or_empty_fee_is_zero(fee_fields):
    trade = ccxt_trade(**fee_fields)
    if "fees" not in fee_fields:
        trade["fees"] = []
    t = TradeData.from_ccxt(trade, exchange="x")
    assert t.fees == 0
    assert "unvalued_fees" not in t.metadata


def test_no_fee_keys_at_all():
    trade = ccxt_trade()
    del trade["fee"], trade["fees"]
    t = TradeData.from_ccxt(trade, exchange="x")
    assert (t.fees, t.fee_currency) == (0, None)
    assert "fees" not in t.metadata


def test_multi_fee_sums_per_currency_and_values_base_at_the_fill_price():
    fees = [{"cost": "0.05", "currency": "USDT"}, {"cost": "0.03", "currency": "USDT"},
            {"cost": "0.0001", "currency": "BTC"}, {"cost": "0.002", "currency": "BNB"}]
    t = TradeData.from_ccxt(ccxt_trade(price="40000", fees=fees), exchange="x")
    # 0.05 + 0.03 USDT + 0.0001 BTC x 40000 = 4.08 USDT; BNB cannot be valued
    assert t.fees == Decimal("4.08") and t.fee_currency == "USDT"
    assert t.metadata["unvalued_fees"] == {"BNB": "0.002"}
    assert [f["currency"] for f in t.metadata["fees"]] == ["USDT", "USDT", "BTC", "BNB"]


def test_fees_list_wins_over_fee():
    t = TradeData.from_ccxt(ccxt_trade(fee={"cost": 9, "currency": "USDT"},
                                   fees=[{"cost": 1, "currency": "USDT"}]), exchange="x")
    assert t.fees == 1


def test_other_currency_fee_left_out_unless_priced(repo):
    # issue 15.5: the fee stays in its currency; fee_prices gives its quote value
    trade = ccxt_trade(fees=[{"cost": "0.00075", "currency": "BNB"}])
    t = TradeData.from_ccxt(trade, exchange="x")
    assert (t.fees, t.fee_currency, t.fee_value) == (Decimal("0.00075"), "BNB", None)
    priced = TradeData.from_ccxt(trade, exchange="x", fee_prices={"BNB": "600"})
    assert (priced.fees, priced.fee_currency) == (Decimal("0.00075"), "BNB")
    assert priced.fee_value == Decimal("0.45")  # 0.00075 x 600
    repo.save_ccxt_trades([trade], exchange="x")
    position = repo.get_position("BTC/USDT")
    assert position.fees == 0 and position.unvalued_fees == {"BNB": Decimal("0.00075")}
    repo.save_ccxt_trades([dict(trade, id="p")], exchange="y", fee_prices={"BNB": "600"})
    position = repo.get_position("BTC/USDT", exchange="y")
    assert position.fees == Decimal("0.45") and position.unvalued_fees == {}


def test_symbol_without_quote_stores_a_single_fee_as_given():
    t = TradeData.from_ccxt(ccxt_trade(symbol="AAPL", fees=[{"cost": "1.5", "currency": "USD"}]),
                        exchange="ibkr")
    assert (t.fees, t.fee_currency) == (Decimal("1.5"), "USD")
    t = TradeData.from_ccxt(ccxt_trade(symbol="AAPL", fees=[{"cost": "1.5", "currency": "USD"},
                                                        {"cost": "2", "currency": "EUR"}]),
                        exchange="ibkr")
    assert t.fees == 0 and t.metadata["unvalued_fees"] == {"USD": "1.5", "EUR": "2"}


def test_contract_symbol_quote_is_before_the_settle_currency():
    t = TradeData.from_ccxt(ccxt_trade(symbol="BTC/USDT:USDT",
                                   fees=[{"cost": "0.2", "currency": "USDT"}]), exchange="x")
    assert (t.fees, t.fee_currency) == (Decimal("0.2"), "USDT")


def test_rebate_stores_zero_fee_and_keeps_the_rebate():
    t = TradeData.from_ccxt(ccxt_trade(fees=[{"cost": "-0.01", "currency": "USDT"}]), exchange="x")
    assert t.fees == 0 and t.metadata["fee_rebate"] == "0.01"


@pytest.mark.parametrize("field,value", [
    ("amount", None), ("amount", 0), ("amount", "abc"), ("price", None), ("price", -1),
    ("side", "hold"), ("symbol", None), ("timestamp", "soon"),
])
def test_bad_fields_are_named(field, value):
    with pytest.raises(ValidationError) as info:
        TradeData.from_ccxt(ccxt_trade(**{field: value}), exchange="x")
    assert field in str(info.value)


def test_missing_time_is_an_error_not_now():
    with pytest.raises(ValidationError, match="timestamp"):
        TradeData.from_ccxt(ccxt_trade(timestamp=None, datetime=None), exchange="x")


def test_exchange_is_required():
    with pytest.raises(ValidationError, match="exchange"):
        TradeData.from_ccxt(ccxt_trade(), exchange="")


def test_integer_ids_become_text():
    t = TradeData.from_ccxt(ccxt_trade(id=987654321, order=42), exchange="x")
    assert t.external_id == "987654321" and t.metadata["order_external_id"] == "42"


def test_save_ccxt_trades_links_orders_and_skips_duplicates(repo):
    order = repo.create_order("BTC/USDT", "BUY", "LIMIT", "1", price="4100", exchange="binance",
                              external_id="abc-1")
    trades = [ccxt_trade(id=f"t{i}", order="abc-1" if i < 2 else "other",
                         timestamp=1502962946216 + i)
              for i in range(4)]
    ids = repo.save_ccxt_trades(trades, exchange="binance")
    assert len(set(ids)) == 4
    saved = repo.get_trade_history(days=None)
    assert [t.order_id for t in saved] == [order.id, order.id, None, None]
    assert [t.external_id for t in saved] == ["t0", "t1", "t2", "t3"]
    again = repo.save_ccxt_trades(trades, exchange="binance")
    assert again == ids and len(repo.get_trade_history(days=None)) == 4
    # the same ids on another exchange are other fills
    repo.save_ccxt_trades(trades[:1], exchange="kraken")
    assert len(repo.get_trade_history(days=None)) == 5


def test_save_ccxt_trades_is_all_or_nothing(repo):
    trades = [ccxt_trade(id="a"), ccxt_trade(id="b", amount=None)]
    with pytest.raises(ValidationError, match=r"trade 1: amount"):
        repo.save_ccxt_trades(trades, exchange="x")
    assert repo.get_trade_history(days=None) == []


def test_position_pnl_subtracts_the_valued_fees(repo):
    # issue 15.5: the base fee is taken from what is received: 1 - 0.001 = 0.999 held,
    # and the bot sells what the exchange says it holds
    buy = ccxt_trade(id="1", side="buy", price="100", amount="1",
                     fees=[{"cost": "0.001", "currency": "BTC"}])       # 0.1 USDT at 100
    sell = ccxt_trade(id="2", side="sell", price="110", amount="0.999", timestamp=1502962946217,
                      fees=[{"cost": "0.11", "currency": "USDT"}])
    repo.save_ccxt_trades([buy, sell], exchange="x")
    closed, = repo.get_closed_positions()
    # cash flow: 0.999 x 110 = 109.89 received - 100 paid - 0.11 fee = 9.78
    assert closed.realized_pnl == Decimal("9.78") and closed.max_quantity == Decimal("0.999")
    assert closed.fees == Decimal("0.21")  # 0.001 BTC x 100 + 0.11
    assert repo.get_open_positions() == []


def test_linked_fills_update_the_order_like_record_fill(repo):
    order = repo.create_order("BTC/USDT", "BUY", "LIMIT", "0.05", price="4100",
                              exchange="binance", external_id="abc-1")
    repo.save_ccxt_trades([ccxt_trade(id="a", amount="0.02", price="4000"),
                           ccxt_trade(id="b", amount="0.02", price="4100",
                                      timestamp=1502962946217)], exchange="binance")
    got = repo.get_order(order.id)
    # 0.04 of 0.05 filled; average (0.02 x 4000 + 0.02 x 4100) / 0.04 = 4050
    assert (got.status, got.filled_quantity, got.avg_fill_price) == \
        ("PARTIALLY_FILLED", Decimal("0.04"), Decimal("4050"))
    assert [(h.from_status, h.to_status, h.reason) for h in repo.orders.history(order.id)] == \
        [(None, "PENDING", "created"), ("PENDING", "PARTIALLY_FILLED", "fill")]
    assert repo.derived_problems() == []


@given(st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1000000"), places=8),
       st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2))
def test_float_inputs_round_trip_their_repr(amount, price):
    t = TradeData.from_ccxt(ccxt_trade(amount=float(amount), price=float(price)), exchange="x")
    assert t.quantity == Decimal(repr(float(amount)))
    assert t.price == Decimal(repr(float(price)))


def test_a_liquidation_trade_is_flagged(memory_repo):
    base = {"symbol": "BTC/USDT:USDT", "side": "sell", "amount": 2, "price": 90,
            "timestamp": 1_767_225_600_000}
    assert TradeData.from_ccxt(base, exchange="bybit").liquidation is False
    for flag in (True, "true"):
        assert TradeData.from_ccxt(dict(base, liquidation=flag), exchange="bybit").liquidation
    with pytest.raises(ValidationError, match="liquidation: 'maybe'"):
        TradeData.from_ccxt(dict(base, liquidation="maybe"), exchange="bybit")
    memory_repo.save_ccxt_trades([dict(base, side="buy", id="1", timestamp=1_767_225_000_000),
                                  dict(base, id="2", liquidation=True)], exchange="bybit")
    assert memory_repo.get_closed_positions()[0].closed_by == "liquidation"
