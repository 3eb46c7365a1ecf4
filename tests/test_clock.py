"""One injected clock (issue 18.2): ``db.now()`` stamps the rows the repositories write,
so a test or the demo sets ``db.clock`` instead of rewriting stamps with UPDATEs."""

from __future__ import annotations

import datetime as dt

from tradestore._core.codec import utc_now
from tradestore._core.db import Database

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
