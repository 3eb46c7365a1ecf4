"""Issue 14 point 2: check sees everything; damage never prints a traceback."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess

import pytest

from tradestore import DatabaseError, TradeData, TradeRepo
from tradestore._core.scan import decode_problem, typed_columns
from tradestore.tools.restore import restore, verify_backup

from conftest import run_tradestore


def make_store(path) -> None:
    with TradeRepo(path) as repo:
        repo.save_trade(TradeData("BTC/USDT", "BUY", 1, 100, metadata={"why": "test"}))
        repo.save_trade(TradeData("BTC/USDT", "SELL", 1, 110))
        repo.save_portfolio_snapshot(1000)


def hand_edit(path, sql) -> None:
    """What a person does in the sqlite3 shell, CHECK constraints switched off."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.execute(sql)
    conn.commit()
    conn.close()


def test_a_hand_edited_money_value_is_found_by_check(tmp_path):
    path = tmp_path / "trades.db"
    make_store(path)
    hand_edit(path, "UPDATE trades SET price = '12x.5' WHERE id = 1")
    hand_edit(path, "UPDATE trades SET side = 'HOLD' WHERE id = 2")  # only a CHECK sees it
    for opened in (TradeRepo.inspect(path), TradeRepo(path)):  # read-only and writable
        with opened as repo:
            problems = repo.check()
        assert "table trades column side row id 2: 'HOLD' fails its CHECK constraint" \
            in problems
        assert "table trades column price row id 1: '12x.5' is not a decimal number (money)" \
            in problems
        # the money value fails its CHECK too: one line for it, not two
        assert sum("column price row id 1" in p for p in problems) == 1


def test_the_real_sqlite3_shell_hand_edit_is_found(tmp_path, sqlite3_bin):
    path = tmp_path / "trades.db"
    make_store(path)
    subprocess.run([sqlite3_bin, str(path), "PRAGMA ignore_check_constraints=1; "
                    "UPDATE trades SET fees = '1.2.3' WHERE id = 2;"], check=True)
    result = run_tradestore("--db", path, "check")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "problem: table trades column fees row id 2: '1.2.3' is not a decimal number" \
        in result.stdout


def test_values_that_pass_their_check_but_do_not_decode(tmp_path):
    """Month 19 passes the timestamp GLOB; only decoding every value finds it."""
    path = tmp_path / "trades.db"
    make_store(path)
    hand_edit(path, "UPDATE trades SET timestamp = '2024-19-01T00:00:00.000000Z' WHERE id = 2")
    hand_edit(path, "UPDATE portfolio_snapshots SET positions = '{broken' WHERE id = 1")
    with TradeRepo.inspect(path) as repo:
        problems = repo.check()
    assert "table trades column timestamp row id 2: '2024-19-01T00:00:00.000000Z' is not a " \
           "valid date and time (time)" in problems
    assert "table portfolio_snapshots column positions row id 1: '{broken' is not valid " \
           "JSON (json)" in problems
    assert not any("CHECK constraint" in p for p in problems)


def test_a_clean_store_checks_clean(tmp_path):
    path = tmp_path / "trades.db"
    make_store(path)
    with TradeRepo.inspect(path) as repo:
        assert repo.check() == []
    result = run_tradestore("--db", path, "check")
    assert result.returncode == 0 and result.stdout.strip() == "ok"


def test_every_typed_column_of_the_schema_is_scanned(memory_repo):
    kinds = {}
    for table, sql in memory_repo.db.query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'"):
        for column, kind in typed_columns(sql):
            kinds[f"{table}.{column}"] = kind
    assert kinds["trades.price"] == kinds["positions.realized_pnl"] == "money"
    assert kinds["trades.timestamp"] == kinds["positions.created_at"] == "time"
    assert kinds["trades.metadata"] == kinds["events.details"] == "json"
    assert kinds["cash_movements.amount"] == kinds["candles.close"] == "money"
    assert "trades.symbol" not in kinds and "bot_states.payload" not in kinds


@pytest.mark.parametrize("kind, value, ok", [
    ("money", "12.50", True), ("money", "-0.001", True), ("money", "12x.5", False),
    ("money", "NaN", False), ("money", "Infinity", False), ("money", 12.5, False),
    ("time", "2024-01-02T03:04:05.000006Z", True), ("time", "2024-01-02", False),
    ("time", "2024-02-30T00:00:00.000000Z", False), ("json", '{"a":1}', True),
    ("json", "{a:1}", False), ("money", None, True),
])
def test_decode_problem(kind, value, ok):
    assert (decode_problem(kind, value) is None) is ok


def test_damage_is_a_located_error_not_a_traceback(tmp_path, cli):
    path = tmp_path / "trades.db"
    make_store(path)
    hand_edit(path, "UPDATE trades SET price = '12x.5' WHERE id = 1")
    with TradeRepo(path) as repo, pytest.raises(DatabaseError) as info:
        repo.get_trade_history(days=None)
    message = str(info.value)
    assert "table trades column price row id 1" in message and "tradestore check" in message
    for argv in (["trades", "--days", "100000"], ["export", "trades", "--format", "json"],
                 ["report", "--days", "100000"]):
        result = run_tradestore("--db", path, *argv)
        if result.returncode == 0:  # a command that never decodes the bad value is fine
            continue
        assert "Traceback" not in result.stderr, (argv, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (argv, result.stderr)
    result = run_tradestore("--db", path, "trades", "--days", "100000")
    assert result.returncode == 1 and "table trades column price row id 1" in result.stderr
    assert "tradestore check" in result.stderr


def test_verify_backup_and_restore_refuse_a_damaged_backup(tmp_path):
    path = tmp_path / "trades.db"
    make_store(path)
    with TradeRepo(path) as repo:
        backup = repo.backup(tmp_path / "b.db")
    damaged = tmp_path / "damaged.db"
    shutil.copyfile(backup, damaged)
    hand_edit(damaged, "UPDATE trades SET quantity = 'abc' WHERE id = 2")
    verify_backup(backup)  # the good one passes
    with pytest.raises(DatabaseError, match="damaged.*table trades column quantity row id 2"):
        verify_backup(damaged)
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match="damaged"):
        restore(damaged, path)
    assert path.read_bytes() == before
    result = run_tradestore("--db", path, "restore", damaged)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "table trades column quantity row id 2" in result.stderr


def test_comments_in_a_table_definition_are_not_columns():
    sql = ("CREATE TABLE t (\n  id INTEGER PRIMARY KEY, -- the key, with a comma\n"
           "  note TEXT, -- 'quoted' -- text\n  done_at TEXT\n)")
    assert typed_columns(sql) == [("done_at", "time")]


def test_the_located_error_names_the_value_that_failed(tmp_path):
    path = tmp_path / "trades.db"
    make_store(path)
    with TradeRepo(path) as repo:
        repo.create_order("ETH/USDT", "BUY", "LIMIT", 1, price=10)
    hand_edit(path, "UPDATE orders SET stop_price = 'zz' WHERE id = 1")  # found first
    hand_edit(path, "UPDATE trades SET timestamp = 'yesterday' WHERE id = 2")  # quoted by
    with TradeRepo(path) as repo, pytest.raises(DatabaseError) as info:  # fromisoformat
        repo.get_trade_history(days=None)
    message = str(info.value)
    assert "table trades column timestamp row id 2" in message and "(and 1 more)" in message


@contextlib.contextmanager
def read_only_folder(folder):
    """A folder nobody can write, root included (chmod, and for root the immutable flag)."""
    os.chmod(folder, 0o555)
    root = os.geteuid() == 0
    try:
        if root:
            subprocess.run(["chattr", "+i", str(folder)], check=True)
        yield
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        os.chmod(folder, 0o755)


def test_check_enforces_checks_in_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "trades.db"
    make_store(path)
    hand_edit(path, "UPDATE trades SET side = 'HOLD' WHERE id = 1")
    with read_only_folder(folder):
        with TradeRepo.inspect(path) as repo:
            problems = repo.check()
            assert "table trades column side row id 1: 'HOLD' fails its CHECK constraint" \
                in problems
        result = run_tradestore("--db", path, "check")
        assert result.returncode == 1 and "column side row id 1" in result.stdout
        assert sorted(os.listdir(folder)) == ["trades.db"]  # nothing written beside it


def test_a_table_constraint_and_a_without_rowid_table_are_located(tmp_path):
    from tradestore._core.scan import check_expressions
    sql = ("CREATE TABLE t (a TEXT CHECK (a IN ('x', 'y')), b INTEGER, "
           "CONSTRAINT pos CHECK (b > 0), PRIMARY KEY (a)) WITHOUT ROWID")
    assert check_expressions(sql) == [("a", "a IN ('x', 'y')"), (None, "b > 0")]
    path = tmp_path / "trades.db"
    make_store(path)
    with TradeRepo(path) as repo:
        repo.candles.insert_many([{"symbol": "BTC/USDT", "timeframe": "1h",
                                   "timestamp": "2024-01-01T00:00:00Z", "open": 1, "high": 2,
                                   "low": 1, "close": 2, "volume": 5}])
    hand_edit(path, "UPDATE candles SET timeframe = '7q'")
    with TradeRepo.inspect(path) as repo:
        problems = [p for p in repo.check() if p.startswith("table candles")]
    assert len(problems) == 1 and "timeframe='7q'" in problems[0]
    assert "symbol='BTC/USDT'" in problems[0] and "fails CHECK (CASE timeframe" in problems[0]
