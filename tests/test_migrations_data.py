"""Migrations keep data: a store built at every schema version N, with rows in every
table that exists at N, migrated to the newest schema keeps every row and value;
and head -> 0 -> head on an empty store gives the same schema as a fresh store.

Rows go in through the repositories (each takes a ``Database``, so they work on a
store at an older version) where the API exists, else as minimal valid raw rows.
A table added by a later migration needs a filler here: the test names it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from decimal import Decimal

import pytest

import reliability_worker as worker
from tradestore import TradeRepo
from tradestore._core.codec import ts_in
from tradestore._core.db import Database
from tradestore._core.events import EventLog
from tradestore._core.migrate import Migrator, load_migrations
from tradestore.books.accounts import AccountStore
from tradestore.books.instruments import InstrumentStore
from tradestore.books.settings import SettingStore
from tradestore.books.strategies import StrategyStore
from tradestore.market.candles import CandleStore, OHLCVBar
from tradestore.market.indicators import IndicatorStore
from tradestore.market.news import NewsStore
from tradestore.market.signals import SignalStore
from tradestore.record.ledger import Ledger
from tradestore.record.orders import OrderStore
from tradestore.record.positions import PositionStore
from tradestore.record.trades import TradeStore
from tradestore.state.portfolio import PortfolioStore
from tradestore.state.states import BotStateStore

HEAD = len(load_migrations())
T0 = _dt.datetime(2024, 5, 6, tzinfo=_dt.timezone.utc)
NOW = "2024-05-06T12:00:00.000000Z"


def tables_of(db: Database) -> list[str]:
    return [r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table' "
                                   "AND name NOT LIKE 'sqlite_%' ORDER BY name")]


# ------------------------------------------------------------------ fillers, one per feature

def fill_initial(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO store_meta (key, value, updated_at) VALUES ('origin', 'v1', ?)",
                     (NOW,))
    events = EventLog(db)
    events.log("startup", "bot started", details={"pid": 1})
    events.log("fault", "exchange timeout", severity="warning", symbol="BTC/USDT")


def fill_trading(db: Database) -> None:
    if db.scalar("PRAGMA user_version") < 11:  # today's TradeStore needs schema 11's columns
        return fill_trading_before_8(db)
    trades = TradeStore(db, PositionStore(db), Ledger())
    orders = OrderStore(db, trades)
    trades.save_many([
        dict(symbol="BTC/USDT", side="BUY", quantity="0.5", price="60000.10", fees="1.5",
             timestamp=T0, external_id="t1", exchange="binance", strategy="trend",
             metadata={"note": "first"}),
        dict(symbol="BTC/USDT", side="SELL", quantity="0.5", price="61000", fees="1.25",
             timestamp=T0 + _dt.timedelta(hours=1), external_id="t2", exchange="binance"),
        dict(symbol="ETH/USDT", side="SELL", quantity="2", price="3000", timestamp=T0)])
    order = orders.create("ETH/USDT", "BUY", "LIMIT", 3, price="2990", external_id="o1",
                          strategy="mean")
    orders.record_fill(order.id, 1, "2990", fees="0.1", external_id="f1",
                       timestamp=T0 + _dt.timedelta(hours=2))
    orders.cancel(orders.create("SOL/USDT", "SELL", "MARKET", 10).id, "changed mind")


def fill_trading_before_8(db: Database) -> None:
    """The same record as fill_trading, as the code before schema 8 stored it (raw rows;
    pnl worked by hand: BTC 0.5 x (61000 - 60000.10) - 1.5 - 1.25 = 497.2; the ETH short
    of 2 at 3000 bought back 1 at 2990 with fee 0.1: 10 - 0.1 = 9.9)."""
    orders = OrderStore(db, TradeStore(db, PositionStore(db), Ledger()))
    order = orders.create("ETH/USDT", "BUY", "LIMIT", 3, price="2990", external_id="o1",
                          strategy="mean")
    t = [(T0 + _dt.timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%S.%fZ") for h in range(3)]
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO positions (id, account, symbol, side, quantity, entry_value, entry_fees, "
            "max_quantity, realized_pnl, fees, trade_count, opened_at, closed_at, created_at, "
            "updated_at) VALUES (?, 'default', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(1, "BTC/USDT", "LONG", "0", "0", "0", "0.5", "497.2", "2.75", 2, t[0], t[1],
              NOW, NOW),
             (2, "ETH/USDT", "SHORT", "1", "3000", "0", "2", "9.9", "0.1", 2, t[0], None,
              NOW, NOW)])
        conn.executemany(
            "INSERT INTO trades (id, account, symbol, side, quantity, price, fees, exchange, "
            "external_id, order_id, strategy, timestamp, pnl, position_id, metadata, created_at) "
            "VALUES (?, 'default', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(1, "BTC/USDT", "BUY", "0.5", "60000.10", "1.5", "binance", "t1", None, "trend",
              t[0], None, 1, '{"note":"first"}', NOW),
             (2, "BTC/USDT", "SELL", "0.5", "61000", "1.25", "binance", "t2", None, None,
              t[1], "497.2", 1, None, NOW),
             (3, "ETH/USDT", "SELL", "2", "3000", "0", "", None, None, None, t[0], None, 2,
              None, NOW),
             (4, "ETH/USDT", "BUY", "1", "2990", "0.1", "", "f1", order.id, "mean", t[2],
              "9.9", 2, None, NOW)])
        conn.execute("UPDATE orders SET filled_quantity = '1', avg_fill_price = '2990', "
                     "status = 'PARTIALLY_FILLED' WHERE id = ?", (order.id,))
        conn.execute("INSERT INTO order_status_history (order_id, from_status, to_status, "
                     "reason, changed_at) VALUES (?, 'PENDING', 'PARTIALLY_FILLED', 'fill', ?)",
                     (order.id, NOW))
    orders.cancel(orders.create("SOL/USDT", "SELL", "MARKET", 10).id, "changed mind")
    if db.scalar("PRAGMA user_version") >= 8:  # schema 8-10: positions keyed per venue
        with db.transaction() as conn:
            conn.execute("UPDATE positions SET exchange = 'binance', currency = 'USDT', "
                         "strategy = 'trend' WHERE id = 1")
            conn.execute("UPDATE positions SET currency = 'USDT' WHERE id = 2")


def fill_funding(db: Database) -> None:
    from tradestore.record.funding import FundingStore  # schema 11: funding of perpetuals
    FundingStore(db, Ledger()).record("BTC/USDT:USDT", "-0.25", T0, exchange="binance",
                                      external_id="fu1")


def fill_states(db: Database) -> None:
    states = BotStateStore(db, EventLog(db))
    states.save({"positions": {"BTC/USDT": Decimal("0.5")}, "balances": {"USDT": Decimal("10")},
                 "extra": {"at": T0}})
    states.save({"configuration": {"risk": 0.02}}, bot="other")
    states.rollback(1)
    portfolio = PortfolioStore(db)
    portfolio.save("10000.00", cash="5000", timestamp=T0, positions={"BTC/USDT": "0.5"})
    portfolio.save("10100.50", timestamp=T0 + _dt.timedelta(days=1))


def fill_bookkeeping(db: Database) -> None:
    strategies = StrategyStore(db)
    strategies.create("trend", strategy_type="momentum", config={"window": 20})
    strategies.update_config("trend", {"window": 30})
    settings = SettingStore(db)
    settings.set("max_risk", Decimal("0.02"))
    settings.set("symbols", ["BTC/USDT", "ETH/USDT"])
    settings.set("live", True)
    accounts = AccountStore(db)
    if db.scalar("PRAGMA user_version") >= 12:  # today's AccountStore needs schema 12
        accounts.create("spot", base_currency="USDT", initial_cash="1000")
    else:  # before schema 12 (no is_active column): a raw row
        with db.transaction() as conn:
            conn.execute("INSERT INTO accounts (name, base_currency, initial_cash, created_at) "
                         "VALUES ('spot', 'USDT', '1000', ?)", (NOW,))
    accounts.deposit("spot", "250.5", note="top up")
    if db.scalar("PRAGMA user_version") >= 12:  # today's InstrumentStore needs schema 12
        InstrumentStore(db).upsert("BTC/USDT", name="Bitcoin", asset_class="crypto",
                               tick_size="0.01", lot_size="0.00001", currency="USDT")
        return
    with db.transaction() as conn:  # before schema 12 (no is_active column): a raw row
        conn.execute("INSERT INTO instruments (symbol, name, asset_class, tick_size, lot_size, "
                     "currency, created_at, updated_at) VALUES ('BTC/USDT', 'Bitcoin', "
                     "'crypto', '0.01', '0.00001', 'USDT', ?, ?)", (NOW, NOW))


def fill_market_data(db: Database) -> None:
    CandleStore(db).insert_many([
        OHLCVBar("BTC/USDT", "1h", T0 + _dt.timedelta(hours=i), Decimal("100") + i,
                 Decimal("110") + i, Decimal("90") + i, Decimal("105") + i, Decimal("7.5"))
        for i in range(3)])
    if db.scalar("PRAGMA user_version") >= 12:
        IndicatorStore(db).save_many("BTC/USDT", "1h", "rsi", [(T0, Decimal("55.5")),
                                                                (T0 + _dt.timedelta(hours=1),
                                                                 Decimal("60"))],
                                     parameters={"period": 14})
        IndicatorStore(db).save_many("BTC/USDT", "1h", "macd", [
            (T0, {"macd": Decimal("1.5"), "signal": Decimal("1.2")})])
    else:  # before schema 12 (no parameters column): raw rows
        with db.transaction() as conn:
            conn.executemany(
                "INSERT INTO indicators (exchange, symbol, timeframe, name, timestamp, field, "
                "value, computed_at) VALUES ('', 'BTC/USDT', '1h', ?, ?, ?, ?, ?)",
                [("rsi", ts_in(T0), "", "55.5", NOW),
                 ("rsi", ts_in(T0 + _dt.timedelta(hours=1)), "", "60", NOW),
                 ("macd", ts_in(T0), "macd", "1.5", NOW), ("macd", ts_in(T0), "signal", "1.2", NOW)])
    signals = SignalStore(db, OrderStore(db, TradeStore(db, PositionStore(db), Ledger())))
    signal_id = signals.record("BTC/USDT", "BUY", strength=0.8, strategy="trend", price="100",
                               timestamp=T0, reason="cross")
    signals.record("ETH/USDT", "HOLD", timestamp=T0)
    order_id = db.scalar("SELECT min(id) FROM orders")
    signals.link_order(signal_id, order_id)
    NewsStore(db).save("BTC/USDT", "Bitcoin rallies", source="wire", published_at=T0,
                       sentiment_score=0.7, url="https://example.com/a", sentiment_label="pos")


def fill_artifacts(db: Database) -> None:
    digest = hashlib.sha256(b"model").hexdigest()
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO artifacts (name, version, kind, serializer, relpath, size, sha256, "
            "metadata, created_at, updated_at) VALUES ('clf', 'v1', 'model', 'pickle', "
            "'clf/v1.pkl', 5, ?, '{\"acc\":0.9}', ?, ?)", (digest, NOW, NOW))
        conn.executemany(
            "INSERT INTO metrics (experiment_id, metric_name, value, step, timestamp, created_at) "
            "VALUES ('exp1', 'loss', ?, ?, ?, ?)", [(0.5, 1, NOW, NOW), (0.25, 2, NOW, NOW)])


FILLERS = {  # table -> the filler that puts rows in it (fillers run in this order)
    "store_meta": fill_initial, "events": fill_initial,
    "schema_history": fill_initial,  # rows written by the migrator itself (issue 20.1)
    "orders": fill_trading, "order_status_history": fill_trading, "positions": fill_trading,
    "trades": fill_trading, "funding_payments": fill_funding,
    "bot_states": fill_states, "portfolio_snapshots": fill_states,
    "strategies": fill_bookkeeping, "strategy_configs": fill_bookkeeping,
    "settings": fill_bookkeeping, "accounts": fill_bookkeeping,
    "cash_movements": fill_bookkeeping, "instruments": fill_bookkeeping,
    "candles": fill_market_data, "indicators": fill_market_data, "signals": fill_market_data,
    "signal_orders": fill_market_data, "news": fill_market_data,
    "artifacts": fill_artifacts, "metrics": fill_artifacts,
}


def contents(db: Database, tables) -> dict:
    """Every row of ``tables`` (with its column names), in a stable order."""
    out = {}
    with db.reading() as conn:
        for table in tables:
            columns = [r[1] for r in conn.execute(f'PRAGMA table_xinfo("{table}")')]
            order = ", ".join(f'"{c}"' for c in columns)
            rows = conn.execute(f'SELECT {order} FROM "{table}" ORDER BY {order}').fetchall()
            out[table] = (columns, rows)
    return out


def build_at(path, version: int) -> dict:
    """A store at ``version`` with rows in every table; returns its contents."""
    db = Database(path)
    try:
        db.use_wal()
        Migrator(db).migrate(version)
        tables = tables_of(db)
        missing = [t for t in tables if t not in FILLERS]
        assert not missing, (f"schema version {version} has table(s) {missing} with no filler "
                             "in tests/test_migrations_data.py: add one")
        for filler in dict.fromkeys(FILLERS[t] for t in FILLERS if t in tables):
            filler(db)  # in FILLERS' order: signals link to orders made before
        before = contents(db, tables)
        empty = [t for t, (_, rows) in before.items() if not rows]
        assert not empty, f"version {version}: no rows in {empty}"
        return before
    finally:
        db.close()


@pytest.mark.parametrize("version", range(1, HEAD + 1))
def test_data_written_at_every_version_survives_migration_to_head(tmp_path, version):
    path = tmp_path / f"v{version}.db"
    before = build_at(path, version)
    with TradeRepo(path) as repo:  # what a user does: open with the new code
        assert repo.current_version == HEAD
        assert repo.check() == []
        after = contents(repo.db, before)
        for table, (columns, rows) in before.items():
            now_columns, _ = after[table]
            assert now_columns[:len(columns)] == columns, f"{table}: columns changed"
            kept = contents_of_columns(repo.db, table, columns)
            if table == "events":  # opening logs the upgrade itself, once
                added = [r for r in kept if r not in rows]
                assert [r[columns.index("event_type")] for r in added] == \
                    (["migration"] if version < HEAD else [])
                kept = [r for r in kept if r in rows]
            if table == "schema_history":  # the log gains one 'up' row per step applied
                added = [r for r in kept if r not in rows]
                assert [(r[columns.index("version")], r[columns.index("direction")])
                        for r in added] == [(v, "up") for v in range(version + 1, HEAD + 1)]
                kept = [r for r in kept if r in rows]
            assert kept == rows, f"{table}: rows changed by migrating {version} -> {HEAD}"
        # the data still works through today's API
        if "trades" in before:
            assert worker.snapshot_problems(repo) == []
            assert len(repo.get_trade_history(days=None)) == len(before["trades"][1])
            assert repo.get_order_by_external_id("", "o1").filled_quantity == 1
            assert repo.get_position("ETH/USDT").quantity == 1
        if "bot_states" in before:
            assert repo.verify_bot_states() == []
            assert repo.load_bot_state().positions == {"BTC/USDT": Decimal("0.5")}
            assert [p[1] for p in repo.get_portfolio_value_history(days=None)] == \
                [Decimal("10000.00"), Decimal("10100.50")]
        if "accounts" not in before:  # the default account arrives with the migration
            assert [a.name for a in repo.accounts.list()] == ["default"]


def contents_of_columns(db: Database, table: str, columns: list[str]) -> list:
    order = ", ".join(f'"{c}"' for c in columns)
    return db.query(f'SELECT {order} FROM "{table}" ORDER BY {order}')


def schema_rows(db: Database) -> list:
    """sqlite_master without rootpage (page numbers depend on the file's history)."""
    return db.query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")


@pytest.mark.slow  # O(head**2) steps; test_migrate.py keeps head -> 0 -> head and each step
def test_head_to_zero_to_head_gives_a_fresh_schema(tmp_path):
    with TradeRepo(tmp_path / "fresh.db") as fresh:
        expected = schema_rows(fresh.db)
        pragmas = [fresh.db.scalar(f"PRAGMA {p}") for p in ("user_version", "application_id")]
    with TradeRepo(tmp_path / "walked.db") as repo:
        for version in range(HEAD - 1, -1, -1):  # down to every version and straight back up
            repo.migrate(version)
            repo.migrate()
            assert schema_rows(repo.db) == expected, f"head -> {version} -> head"
        repo.migrate(0)
        assert tables_of(repo.db) == [] and repo.db.scalar("PRAGMA application_id") == 0
        repo.migrate()
        assert schema_rows(repo.db) == expected
        assert [repo.db.scalar(f"PRAGMA {p}") for p in ("user_version", "application_id")] \
            == pragmas
        assert repo.check() == []
