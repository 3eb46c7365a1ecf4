"""Derived data is checked against the fills and rebuilt from them (issue 14 points 2-3),
and a store from before schema 8 is re-keyed per venue when it is opened (15.3)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

from tradestore import TradeData, TradeRepo
from tradestore._core.db import Database
from tradestore._core.migrate import Migrator

from conftest import run_tradestore

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def build(path):
    with TradeRepo(path) as repo:
        repo.save_trade(TradeData("ETH/USDT", "BUY", "2", "10", timestamp=at(1)))
        repo.save_trade(TradeData("ETH/USDT", "SELL", "1", "15.1", timestamp=at(2)))
        order = repo.create_order("BTC/USDT", "BUY", "LIMIT", "2", price="100")
        repo.record_fill(order.id, "1", "100", timestamp=at(3))
        repo.record_fill(order.id, "1", "90", timestamp=at(4))
        assert repo.check() == []
        return order.id


def test_hand_edit_is_found_and_rebuilt(tmp_path):
    path = tmp_path / "t.db"
    build(path)
    raw = sqlite3.connect(path)  # a hand edit in the real file, as a person would
    with raw:
        position_id = raw.execute(
            "SELECT id FROM positions WHERE symbol = 'ETH/USDT'").fetchone()[0]
        raw.execute("UPDATE positions SET realized_pnl = '5.0' WHERE id = ?", (position_id,))
    raw.close()
    with TradeRepo(path) as repo:
        # sold 1 of 2 bought at 10 for 15.1: pnl 5.1
        line = (f"positions id {position_id} column realized_pnl: stored 5.0, "
                "replayed from fills 5.1")
        assert repo.check() == [line]
        assert repo.rebuild() == [line]
        assert repo.check() == [] and repo.rebuild() == []
        assert repo.get_position("ETH/USDT").realized_pnl == D("5.1")


def test_deleted_fill_is_found_and_rebuilt_through_the_cli(tmp_path):
    path = tmp_path / "t.db"
    order_id = build(path)
    raw = sqlite3.connect(path)
    with raw:  # the 90 fill of the order disappears
        raw.execute("DELETE FROM trades WHERE price = '90'")
    raw.close()
    check = run_tradestore("--db", path, "check")
    assert check.returncode == 1 and "Traceback" not in check.stderr
    # 1 left of the order at 100: filled 1, average 100; the BTC position holds 1 at 100
    assert f"orders id {order_id} column filled_quantity: stored 2, replayed from fills 1" \
        in check.stdout
    assert "column quantity: stored 2, replayed from fills 1" in check.stdout
    rebuilt = run_tradestore("--db", path, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "fixed: orders id" in rebuilt.stdout and "value(s) rebuilt" in rebuilt.stdout
    again = run_tradestore("--db", path, "check")
    assert again.returncode == 0 and again.stdout.strip().endswith("ok")
    with TradeRepo(path) as repo:
        order = repo.get_order(order_id)
        assert (order.filled_quantity, order.avg_fill_price) == (D(1), D(100))
        position = repo.get_position("BTC/USDT")
        assert (position.quantity, position.entry_value) == (D(1), D(100))


def test_position_without_fills_is_removed(tmp_path):
    path = tmp_path / "t.db"
    build(path)
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("PRAGMA foreign_keys = OFF")
        raw.execute("DELETE FROM trades WHERE symbol = 'ETH/USDT'")
    raw.close()
    with TradeRepo(path) as repo:
        problems = repo.check()
        assert len(problems) == 1 and "no fill of account 'default' exchange '' symbol " \
            "'ETH/USDT' makes this round trip" in problems[0]
        repo.rebuild()
        assert repo.check() == [] and repo.get_open_positions()[0].symbol == "BTC/USDT"


def test_store_at_version_7_with_two_venues_is_rekeyed_when_opened(tmp_path):
    """Before schema 8 a BUY on one exchange closed a SHORT on another; opening the
    store with today's code splits them into one position per venue."""
    path = tmp_path / "v7.db"
    db = Database(path)
    db.use_wal()
    Migrator(db).migrate(7)
    now = "2024-01-01T00:00:00.000000Z"
    with db.transaction() as conn:  # what the code at version 7 stored
        conn.execute(
            "INSERT INTO positions (id, account, symbol, side, quantity, entry_value, "
            "entry_fees, max_quantity, realized_pnl, fees, trade_count, opened_at, closed_at, "
            "created_at, updated_at) VALUES (1, 'default', 'BTC/USDT', 'SHORT', '0', '0', '0', "
            "'1', '-5', '0', 2, ?, ?, ?, ?)", ("2024-01-01T00:00:01.000000Z",
                                              "2024-01-01T00:00:02.000000Z", now, now))
        conn.executemany(
            "INSERT INTO trades (id, account, symbol, side, quantity, price, exchange, "
            "timestamp, pnl, position_id, strategy, created_at) "
            "VALUES (?, 'default', 'BTC/USDT', ?, '1', ?, ?, ?, ?, 1, ?, ?)",
            [(1, "SELL", "100", "kraken", "2024-01-01T00:00:01.000000Z", None, "s1", now),
             (2, "BUY", "105", "binance", "2024-01-01T00:00:02.000000Z", "-5", "s2", now)])
    db.close()
    with TradeRepo(path) as repo:
        assert repo.current_version == repo.migrator.head
        assert repo.get_closed_positions() == []  # the made-up -5 is gone
        short = repo.get_position("BTC/USDT", exchange="kraken")
        long_ = repo.get_position("BTC/USDT", exchange="binance")
        assert (short.side, short.quantity, short.entry_value, short.strategy) == \
            ("SHORT", D(1), D(100), "s1")
        assert (long_.side, long_.quantity, long_.entry_value, long_.strategy) == \
            ("LONG", D(1), D(105), "s2")
        assert short.id == 1 and short.currency == long_.currency == "USDT"
        assert [t.pnl for t in repo.get_trade_history(days=None)] == [None, None]
        assert repo.check() == []
        rebuilt = [e for e in repo.events.recent() if e.event_type == "rebuild"]
        assert len(rebuilt) == 1 and "change" in rebuilt[0].message


def test_a_key_that_cannot_be_replayed_is_reported_and_left(tmp_path):
    path = tmp_path / "t.db"
    build(path)
    raw = sqlite3.connect(path)
    with raw:  # a fee the rule refuses: a base fee as large as the quantity bought
        raw.execute("UPDATE trades SET fees = '2', fee_currency = 'ETH' "
                    "WHERE symbol = 'ETH/USDT' AND side = 'BUY'")
    raw.close()
    with TradeRepo(path) as repo:
        before = repo.get_position("ETH/USDT")
        line, = repo.check()
        assert "symbol 'ETH/USDT': cannot be replayed from the fills (fees: a 2 ETH fee" in line
        changes = repo.rebuild()
        assert len(changes) == 1 and changes[0].endswith("left as stored")
        assert repo.get_position("ETH/USDT") == before
