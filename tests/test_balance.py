"""An account's money (issue 17.8): cash per currency from the record, portfolio value
at marks, computed snapshots. Figures worked by hand in the comments."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from tradestore import ConflictError, TradeData, ValidationError

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def at(hours):
    return T0 + timedelta(hours=hours)


def test_buying_stock_spends_cash(memory_repo):
    memory_repo.accounts.create("ira", base_currency="USD", initial_cash=100000)
    memory_repo.save_trade(TradeData("AAPL", "BUY", 10, 150, timestamp=at(0), account="ira",
                                     fees="1", commission="0.5"))
    # 100000 - 10 x 150 - 1 - 0.5 = 98498.5
    assert memory_repo.accounts.balance("ira") == D("98498.5")
    assert memory_repo.accounts.balances("ira") == {"USD": D("98498.5")}
    # portfolio at 155: 98498.5 + 10 x 155 = 100048.5
    assert memory_repo.portfolio_value("ira", {"AAPL": 155}) == {"USD": D("100048.5")}


def test_spot_crypto_cash_per_currency(memory_repo):
    memory_repo.accounts.deposit("default", 1000)   # the default account is in USD
    memory_repo.save_trades([
        TradeData("BTC/USDT", "BUY", 1, 100, timestamp=at(0), fees="0.001", fee_currency="BTC"),
        TradeData("BTC/USDT", "SELL", "0.5", 120, timestamp=at(1), fees="0.06",
                  fee_currency="USDT"),
        TradeData("ETH/USDT", "BUY", 1, 10, timestamp=at(2), fees="0.01", fee_currency="BNB",
                  fee_value="0.02"),
    ])
    # USDT: -100 + 60 - 0.06 - 10 = -50.06; the BTC fee came out of the BTC held; BNB -0.01
    assert memory_repo.accounts.balances("default") == {
        "USD": D(1000), "USDT": D("-50.06"), "BNB": D("-0.01")}


def test_futures_cash_is_realised_pnl_funding_and_costs(memory_repo):
    memory_repo.accounts.create("perp", base_currency="USDT", initial_cash=1000)
    S = "BTC/USDT:USDT"
    memory_repo.save_trades([
        TradeData(S, "BUY", 2, 100, timestamp=at(0), account="perp", fees="0.2", leverage=10),
        TradeData(S, "SELL", 1, 110, timestamp=at(9), account="perp", fees="0.11"),
    ])
    memory_repo.record_funding(S, "-0.5", at(8), account="perp")
    memory_repo.record_funding(S, "3", at(1), account="perp", exchange="other")  # no position
    # realised: 1 x (110 - 100) - 0.1 (half the entry fee) - 0.11 = 9.79; funding -0.5;
    # the other half of the entry fee (0.1) is paid and still held; loose funding +3
    # cash = 1000 + 9.79 - 0.5 - 0.1 + 3 = 1012.19 (the notional 200 is not spent)
    assert memory_repo.accounts.balance("perp") == D("1012.19")
    # at a mark of 105 the held 1 contract is worth 1 x (105 - 100) = 5 before costs
    marked, = memory_repo.mark_to_market({S: 105}, account="perp")
    assert (marked.unrealized_pnl, marked.market_value, marked.derivative) == \
        (D("4.9"), D("5"), True)
    assert memory_repo.portfolio_value("perp", {S: 105}) == {"USDT": D("1017.19")}
    sid = memory_repo.save_portfolio_snapshot(account="perp", marks={S: 105}, timestamp=at(10))
    snap = memory_repo.latest_portfolio_snapshot("perp")
    assert (snap.id, snap.total_value, snap.cash) == (sid, D("1017.19"), D("1012.19"))


def test_inverse_cash_is_in_the_settle_coin(memory_repo):
    memory_repo.save_trades([TradeData("BTC/USD:BTC", "BUY", 100, 20000, timestamp=at(0)),
                             TradeData("BTC/USD:BTC", "SELL", 100, 25000, timestamp=at(1))])
    # 100 x (1/20000 - 1/25000) = 0.005 - 0.004 = 0.001 BTC
    assert memory_repo.accounts.balances("default") == {"USD": D(0), "BTC": D("0.001")}


def test_a_missing_mark_and_mixed_currencies_are_refused(memory_repo):
    memory_repo.save_trade(TradeData("BTC/USDT", "BUY", 1, 100, timestamp=at(0)))
    with pytest.raises(ValidationError, match="marks: no mark price for 'BTC/USDT'"):
        memory_repo.portfolio_value("default", {})
    memory_repo.accounts.deposit("default", 5)
    # USD 5 and USDT -100 + 101 = 1: one total would add two currencies
    with pytest.raises(ConflictError, match="USD, USDT"):
        memory_repo.save_portfolio_snapshot(marks={"BTC/USDT": 101})
    assert memory_repo.latest_portfolio_snapshot() is None
