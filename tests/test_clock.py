"""One injected clock (issue 18.2): ``db.now()`` stamps the rows the repositories write,
so a test or the demo sets ``db.clock`` instead of rewriting stamps with UPDATEs."""

from __future__ import annotations

import datetime as dt

from tradestore._core.codec import utc_now
from tradestore._core.db import Database
from tradestore.record.trades import TradeData

UTC = dt.timezone.utc
MOMENT = dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
STAMP = "2024-01-02T03:04:05.000006Z"  # MOMENT as stored, written out by hand


def test_the_clock_is_the_wall_clock_unless_set():
    db = Database()
    try:
        before = utc_now()
        now = db.now()
        assert before <= now <= utc_now() and now.tzinfo is not None
        db.clock = lambda: MOMENT
        assert db.now() == MOMENT
        assert Database().now() != MOMENT  # set on one store, not on the class
    finally:
        db.close()


def test_every_stamp_of_the_repositories_comes_from_the_store_clock(memory_repo):
    repo = memory_repo
    repo.db.clock = lambda: MOMENT
    order = repo.create_order("BTC/USDT", "BUY", "LIMIT", "1", price="100", status="OPEN")
    repo.record_fill(order.id, "0.4", "100", timestamp=MOMENT)
    repo.cancel_order(order.id, "enough")
    repo.strategies.create("trend", config={"k": 1})
    repo.strategies.update_config("trend", {"k": 2})
    repo.accounts.create("side")
    repo.accounts.deposit("side", "5")
    repo.settings.set("risk", 1)
    repo.instruments.upsert("BTC/USDT", asset_class="crypto", currency="USDT")
    repo.instruments.deactivate("BTC/USDT")
    signal = repo.signals.record("BTC/USDT", "BUY")
    repo.signals.link_order(signal, order.id)
    repo.news.save("BTC/USDT", "up", source="wire", published_at=MOMENT, sentiment_score=0.5)
    repo.indicators.save_many("BTC/USDT", "1h", "rsi", [(MOMENT, 50)])
    repo.events.log("note", "hello")
    repo.record_funding("BTC/USDT", "-0.1")
    stamps = {
        "orders": "SELECT DISTINCT created_at FROM orders UNION SELECT updated_at FROM orders",
        "order_status_history": "SELECT DISTINCT changed_at FROM order_status_history",
        "strategies": "SELECT created_at FROM strategies UNION SELECT updated_at FROM strategies",
        "strategy_configs": "SELECT DISTINCT created_at FROM strategy_configs",
        "accounts": "SELECT created_at FROM accounts WHERE name = 'side'",
        "cash_movements": "SELECT DISTINCT timestamp FROM cash_movements UNION "
                          "SELECT created_at FROM cash_movements",
        "settings": "SELECT DISTINCT updated_at FROM settings",
        "instruments": "SELECT DISTINCT updated_at FROM instruments",
        "signals": "SELECT timestamp FROM signals UNION SELECT created_at FROM signals",
        "signal_orders": "SELECT linked_at FROM signal_orders",
        "news": "SELECT created_at FROM news",
        "indicators": "SELECT computed_at FROM indicators",
        "events": "SELECT timestamp FROM events WHERE event_type = 'note'",
        "funding_payments": "SELECT timestamp FROM funding_payments UNION "
                            "SELECT created_at FROM funding_payments",
    }
    for table, sql in stamps.items():
        assert [r[0] for r in repo.db.query(sql)] == [STAMP], table


EARLY = dt.datetime(2024, 1, 1, tzinfo=UTC)  # a late fill's own time: replays its key


def test_fills_positions_states_snapshots_and_audit_events_are_stamped_by_the_clock(
        memory_repo):
    repo = memory_repo
    made_before = TradeData("ETH/USDT", "BUY", "2", "10")  # no timestamp: "now" when saved
    repo.db.clock = lambda: MOMENT
    repo.save_trade(made_before)
    sell = repo.save_trade({"symbol": "ETH/USDT", "side": "SELL", "quantity": "1", "price": "12"})
    late = repo.save_trade({"symbol": "ETH/USDT", "side": "BUY", "quantity": "1", "price": "9",
                            "timestamp": EARLY})
    repo.void_trade(sell, "wrong fill")
    repo.save_trades([{"symbol": "BTC/USDT", "side": "BUY", "quantity": "1", "price": "100"}])
    order = repo.create_order("SOL/USDT", "BUY", "LIMIT", "1", price="5", status="OPEN")
    repo.record_fill(order.id, "1", "5")  # fills and so closes the order (an audit event)
    repo.record_funding("BTC/USDT", "-0.1")  # updates the open position
    repo.save_bot_state({"step": 1})
    repo.rollback_bot_state(1)
    repo.save_portfolio_snapshot("100")
    repo.portfolio.save_many([{"total_value": "90", "timestamp": EARLY}])
    repo.settings.set("risk", 1)
    repo.accounts.create("side")
    stamps = {
        "trades": ("SELECT DISTINCT created_at FROM trades UNION SELECT timestamp FROM trades "
                   f"WHERE id <> {late} UNION SELECT voided_at FROM trades WHERE id = {sell}"),
        "positions": "SELECT DISTINCT created_at FROM positions UNION "
                     "SELECT updated_at FROM positions",
        "bot_states": "SELECT DISTINCT saved_at FROM bot_states UNION "
                      "SELECT created_at FROM bot_states",
        "portfolio_snapshots": "SELECT DISTINCT created_at FROM portfolio_snapshots UNION "
                               "SELECT updated_at FROM portfolio_snapshots UNION SELECT timestamp "
                               "FROM portfolio_snapshots WHERE total_value = '100'",
        "audit events": "SELECT DISTINCT timestamp FROM events WHERE event_type = 'audit'",
    }
    for table, sql in stamps.items():
        assert [r[0] for r in repo.db.query(sql)] == [STAMP], table
    assert repo.db.query("SELECT count(*) FROM bot_states") == [(2,)]
    assert repo.db.query("SELECT count(*) FROM positions") == [(3,)]  # ETH, BTC, SOL
    audited = repo.db.query("SELECT message FROM events WHERE event_type = 'audit' ORDER BY id")
    assert [m for (m,) in audited] == [f"order {order.id}: status (status)",
                                       "setting risk: create", "account side: create"]
    assert repo.db.query(f"SELECT timestamp FROM trades WHERE id = {late}") == \
        [("2024-01-01T00:00:00.000000Z",)]
