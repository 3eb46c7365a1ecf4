"""`tradestore demo`: a simulated bot in a fresh database, deterministic, never over a
database that is not a demo."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

import tradestore
from conftest import run_tradestore
from tradestore import ConflictError, StoreError, TradeRepo, ValidationError
from tradestore.tools import demo as demo_module
from tradestore.tools.demo import build_demo, is_demo_database

UTC = timezone.utc
ROOT = str(Path(tradestore.__file__).resolve().parent.parent)
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT,
                                                                 os.environ.get("PYTHONPATH")])))
END = datetime(2024, 3, 1, tzinfo=UTC)
TRADE_COLUMNS = ("id, account, symbol, side, quantity, price, fees, fee_currency, exchange, "
                 "external_id, order_id, strategy, timestamp, pnl, position_id, "
                 "opened_position_id, metadata")


def rows(path, sql):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """`python -m tradestore demo` in an empty directory: the default ./demo.db."""
    folder = tmp_path_factory.mktemp("demo")
    started = time.perf_counter()
    done = run_tradestore("demo", cwd=folder, env=ENV)
    return folder / "demo.db", done, time.perf_counter() - started


def test_demo_builds_from_scratch_and_prints_the_report(built):
    path, done, seconds = built
    assert done.returncode == 0, done.stderr
    assert path.exists() and sorted(p.name for p in path.parent.iterdir()) == ["demo-report.html", "demo.db"]
    assert seconds < 30, f"the demo took {seconds:.1f} s"  # a few seconds on a quiet machine
    out = done.stdout
    assert "Performance report of account 'default'" in out
    assert "By strategy" in out and "momentum" in out and "By symbol" in out
    assert 'sqlite3 demo.db "SELECT * FROM v_strategy_performance"' in out
    assert "demo-report.html" in out and "<svg" in (path.parent / "demo-report.html").read_text()
    for command in ("trades", "positions --closed", "equity", "state history", "check"):
        assert f"tradestore --db demo.db {command}" in out
    assert all(len(line) <= 80 for line in out.split("\n"))


def test_demo_database_passes_check(built):
    path, _, _ = built
    done = run_tradestore("--db", path, "check", env=ENV)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done


def test_the_printed_report_is_the_report_of_the_database(built):
    path, done, _ = built
    again = run_tradestore("report", "--all", cwd=path.parent, env=ENV)  # ./trades.db absent
    assert again.returncode == 1
    again = run_tradestore("--db", "demo.db", "report", "--all", cwd=path.parent, env=ENV)
    assert again.returncode == 0 and again.stdout in done.stdout


def test_demo_has_the_whole_record(built):
    path, _, _ = built
    statuses = dict(rows(path, "SELECT status, count(*) FROM orders GROUP BY status"))
    assert {"FILLED", "PARTIALLY_FILLED", "CANCELLED", "OPEN"} <= set(statuses)
    assert {r[0] for r in rows(path, "SELECT DISTINCT order_type FROM orders")} == {"MARKET",
                                                                                 "LIMIT"}
    # some cancelled orders had been partly filled, some orders were filled in several parts
    assert rows(path, "SELECT count(*) FROM orders WHERE status = 'CANCELLED' "
                      "AND filled_quantity <> '0'")[0][0] > 0
    assert rows(path, "SELECT count(*) FROM (SELECT order_id FROM trades GROUP BY order_id "
                      "HAVING count(*) > 1)")[0][0] > 0
    with TradeRepo(path, readonly=True) as repo:
        fills = repo.get_trade_history(days=None)
        closed = repo.get_closed_positions()
        states = repo.list_bot_states()
        snapshots = repo.get_portfolio_snapshots(None)
        strategies = {s.name: s for s in repo.strategies.list()}
    assert len(fills) > 100
    assert all(f.exchange == "demo" and f.external_id and f.fees > 0 and f.order_id
               for f in fills)
    assert {f.strategy for f in fills} == {"momentum", "mean_reversion", "breakout"}
    symbols = {f.symbol: f.price for f in fills}
    assert set(symbols) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "PEPE/USDT"}
    assert symbols["PEPE/USDT"] < 1 and symbols["PEPE/USDT"].as_tuple().exponent == -8
    assert symbols["BTC/USDT"].as_tuple().exponent == -2
    sides = {p.side for p in closed}
    assert sides == {"LONG", "SHORT"}
    assert any(p.realized_pnl > 0 for p in closed) and any(p.realized_pnl < 0 for p in closed)
    # a fill that crossed zero: it closed one side and opened the other
    assert rows(path, "SELECT count(*) FROM trades WHERE opened_position_id IS NOT NULL")[0][0]
    assert len(states) >= 3 and all(s.ok for s in states)
    assert [s.version for s in states] == list(range(1, len(states) + 1))
    assert len(snapshots) == 90 * 24 + 1
    gaps = {b.timestamp - a.timestamp for a, b in zip(snapshots, snapshots[1:])}
    assert gaps == {timedelta(hours=1)}
    assert snapshots[-1].timestamp.hour == 0 and snapshots[-1].timestamp <= datetime.now(UTC)
    assert strategies["momentum"].config_version == 2
    events = {r[0] for r in rows(path, "SELECT event_type FROM events")}
    assert {"bot.started", "strategy.config_changed"} <= events
    assert json.loads(rows(path, "SELECT value FROM store_meta WHERE key = 'demo'")[0][0])[
        "seed"] == 7


def test_demo_clock_is_consistent(built):
    """Every stamp sits on the simulated clock (db.clock), fills after their orders."""
    path, _, _ = built
    first, last = rows(path, "SELECT min(timestamp), max(timestamp) FROM portfolio_snapshots")[0]
    for table, column in (("orders", "created_at"), ("orders", "updated_at"),
                          ("order_status_history", "changed_at"), ("trades", "timestamp"),
                          ("bot_states", "saved_at"), ("strategies", "created_at"),
                          ("strategies", "updated_at"), ("strategy_configs", "created_at"),
                          ("trades", "created_at"), ("positions", "created_at"),
                          ("positions", "updated_at"), ("bot_states", "created_at"),
                          ("portfolio_snapshots", "created_at"), ("events", "timestamp"),
                          ("cash_movements", "created_at")):
        low, high = rows(path, f"SELECT min({column}), max({column}) FROM {table}")[0]
        assert first <= low and high <= last, (table, column)
    assert first <= rows(path, "SELECT updated_at FROM store_meta WHERE key = 'demo'")[0][0] \
        <= last
    assert rows(path, "SELECT count(*) FROM trades t JOIN orders o ON o.id = t.order_id "
                      "WHERE t.timestamp < o.created_at OR t.timestamp > o.updated_at")[0][0] == 0


def test_snapshots_agree_with_the_fills(built):
    """Each hourly value is cash + marked positions, and the cash is what the fills left."""
    path, _, _ = built
    with TradeRepo(path, readonly=True) as repo:
        fills = repo.get_trade_history(days=None)
        snapshots = repo.get_portfolio_snapshots(None)
        open_positions = {p.symbol: p for p in repo.get_open_positions()}
    deposit = Decimal("10000")
    for snap in snapshots[::97] + snapshots[-1:]:
        cash, held = deposit, {}
        for f in fills:
            if f.timestamp < snap.timestamp:
                sign = 1 if f.side == "BUY" else -1
                cash -= sign * f.price * f.quantity + f.fees
                held[f.symbol] = held.get(f.symbol, 0) + sign * f.quantity
        held = {s: q for s, q in held.items() if q}
        assert snap.cash == cash
        assert {s: Decimal(p["quantity"]) for s, p in snap.positions.items()} == held
        marked = sum(Decimal(p["quantity"]) * Decimal(p["price"]) for p in snap.positions.values())
        assert snap.total_value == snap.cash + marked
    final = {s: Decimal(p["quantity"]) for s, p in snapshots[-1].positions.items()}
    assert final == {s: p.quantity if p.side == "LONG" else -p.quantity
                     for s, p in open_positions.items()}


def test_same_seed_same_record_other_seed_other_record(tmp_path, built):
    path, _, _ = built
    again = build_demo(tmp_path / "again.db")
    other = build_demo(tmp_path / "other.db", seed=8)
    sql = f"SELECT {TRADE_COLUMNS} FROM trades ORDER BY id"
    assert rows(path, sql) == rows(again, sql)
    assert rows(path, sql) != rows(other, sql)
    for sql in ("SELECT id, symbol, side, order_type, quantity, price, status, filled_quantity, "
                "avg_fill_price, external_id, created_at, updated_at FROM orders ORDER BY id",
                "SELECT timestamp, total_value, cash, positions FROM portfolio_snapshots",
                "SELECT version, saved_at, payload, sha256 FROM bot_states",
                "SELECT * FROM v_round_trips"):
        assert rows(path, sql) == rows(again, sql)
    # the same report, word for word (same file name, so the same header)
    (tmp_path / "x").mkdir()
    os.replace(again, tmp_path / "x" / "demo.db")
    mine = run_tradestore("--db", "demo.db", "report", "--all", cwd=path.parent, env=ENV)
    theirs = run_tradestore("--db", "demo.db", "report", "--all", cwd=tmp_path / "x", env=ENV)
    assert mine.returncode == 0 and mine.stdout == theirs.stdout


def test_fixed_end_and_days(tmp_path):
    path = build_demo(tmp_path / "short.db", days=3, seed=1, end=END)
    first, last, count = rows(path, "SELECT min(timestamp), max(timestamp), count(*) "
                                    "FROM portfolio_snapshots")[0]
    assert (first, last, count) == ("2024-02-27T00:00:00.000000Z", "2024-03-01T00:00:00.000000Z",
                                    3 * 24 + 1)
    statuses = {r[0] for r in rows(path, "SELECT status FROM orders")}
    assert {"PARTIALLY_FILLED", "OPEN"} <= statuses


def test_refuses_a_database_that_is_not_a_demo(tmp_path):
    real = tmp_path / "trades.db"
    with TradeRepo(real) as repo:
        repo.save_trade(dict(symbol="BTC/USDT", side="BUY", quantity="0.5", price="40000"))
    before = real.read_bytes()
    listing = sorted(p.name for p in tmp_path.iterdir())
    done = run_tradestore("demo", "--db", real, env=ENV)
    assert done.returncode == 1 and "not a tradestore demo database" in done.stderr
    assert "Traceback" not in done.stderr
    assert real.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no -wal, no leftovers
    # the global --db names the demo's file too, and is refused the same way
    done = run_tradestore("--db", real, "demo", env=ENV)
    assert done.returncode == 1 and real.read_bytes() == before
    with pytest.raises(ConflictError):
        build_demo(real, days=1)
    assert real.read_bytes() == before


@pytest.mark.parametrize("content", [b"my notes, not a database\n", b""])
def test_refuses_other_files(tmp_path, content):
    other = tmp_path / "notes.db"
    other.write_bytes(content)
    with pytest.raises(StoreError, match="not a tradestore demo database"):
        build_demo(other, days=1)
    assert other.read_bytes() == content
    assert not is_demo_database(other)


def test_refuses_a_foreign_sqlite_file_with_a_demo_row(tmp_path):
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE store_meta (key TEXT, value TEXT, updated_at TEXT)")
    conn.execute("INSERT INTO store_meta VALUES ('demo', '{}', '')")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    assert not is_demo_database(foreign)
    with pytest.raises(ConflictError):
        build_demo(foreign, days=1)
    assert foreign.read_bytes() == before


def test_replaces_an_existing_demo(tmp_path):
    path = tmp_path / "demo.db"
    build_demo(path, days=2, seed=1, end=END)
    first = rows(path, f"SELECT {TRADE_COLUMNS} FROM trades")
    with TradeRepo(path) as repo:  # the user plays with it
        repo.save_portfolio_snapshot(1, timestamp=END + timedelta(days=5))
    done = run_tradestore("--db", path, "demo", "--days", "2", "--seed", "2", env=ENV)
    assert done.returncode == 0, done.stderr
    assert is_demo_database(path)
    meta = json.loads(rows(path, "SELECT value FROM store_meta WHERE key = 'demo'")[0][0])
    assert (meta["seed"], meta["days"]) == (2, 2)
    assert rows(path, f"SELECT {TRADE_COLUMNS} FROM trades") != first
    assert rows(path, "SELECT count(*) FROM portfolio_snapshots")[0][0] == 2 * 24 + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-report.html", "demo.db"]


def test_a_failed_build_leaves_the_old_demo_and_no_leftovers(tmp_path, monkeypatch):
    path = tmp_path / "demo.db"
    build_demo(path, days=2, seed=1, end=END)
    before = path.read_bytes()

    def broken(self):
        self.repo.save_trade(dict(symbol="X", side="BUY", quantity=1, price=1))
        raise RuntimeError("simulated crash half-way")
    monkeypatch.setattr(demo_module.Simulation, "run", broken)
    with pytest.raises(RuntimeError):
        build_demo(path, days=2, seed=3, end=END)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.db"]


def test_demo_own_db_option_wins_over_the_global_one(tmp_path):
    done = run_tradestore("--db", tmp_path / "global.db", "demo", "--db", tmp_path / "own.db",
                          "--days", "1", env=ENV)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "own.db").exists() and not (tmp_path / "global.db").exists()
    assert f"sqlite3 {tmp_path / 'own.db'}" in done.stdout


def test_bad_arguments(tmp_path, cli):
    for argv in (["--days", "0"], ["--days", "x"], ["--days", "3651"], ["--seed", "1.5"]):
        assert cli("demo", "--db", tmp_path / "d.db", *argv).code == 2, argv
    assert not (tmp_path / "d.db").exists()
    with pytest.raises(ValidationError):
        build_demo(tmp_path / "d.db", days=0)
    with pytest.raises(ValidationError):
        build_demo(tmp_path / "d.db", seed="7")
    with pytest.raises(ConflictError):
        build_demo(tmp_path, days=1)
