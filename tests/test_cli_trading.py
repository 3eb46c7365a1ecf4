"""tradestore trades | positions | orders: tables fit 80 columns, csv/json are lossless."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from tradestore import TradeData, TradeRepo


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "t.db"
    now = datetime.now(timezone.utc)
    with TradeRepo(path) as repo:
        repo.save_trade(TradeData("BTC/USDT", "BUY", "0.00000812", "61234.123456789012",
                                  fees="0.000001", timestamp=now - timedelta(days=2),
                                  strategy="a-very-long-strategy-name", external_id="e1"))
        repo.save_trade(TradeData("ETH/USDT", "SELL", "1.10", "3000", timestamp=now))
        repo.save_trade(TradeData("ETH/USDT", "BUY", "1.10", "2900", timestamp=now))
        order = repo.create_order("SOL/USDT", "BUY", "LIMIT", "10", price="20")
        repo.record_fill(order.id, "4", "19.5")
        repo.create_order("SOL/USDT", "SELL", "MARKET", "1")
    return path


def lines_fit(text):
    return all(len(line) <= 80 for line in text.splitlines())


@pytest.mark.parametrize("argv", [["trades"], ["trades", "--all"], ["positions"],
                                  ["positions", "--closed"], ["orders"], ["orders", "--open"]])
def test_tables_fit_80_columns(cli, store, argv):
    result = cli("--db", store, *argv)
    assert result.code == 0, result
    assert lines_fit(result.out) and len(result.out.splitlines()) >= 2


def test_trades_json_and_csv_are_lossless(cli, store):
    data = json.loads(cli("--db", store, "trades", "--format", "json").out)
    btc = next(r for r in data if r["symbol"] == "BTC/USDT")
    assert (btc["quantity"], btc["price"], btc["fees"]) == ("0.00000812", "61234.123456789012",
                                                            "0.000001")
    assert btc["strategy"] == "a-very-long-strategy-name" and btc["external_id"] == "e1"
    rows = list(csv.DictReader(io.StringIO(cli("--db", store, "trades", "--format", "csv").out)))
    assert [r["price"] for r in rows] == [r["price"] for r in data]
    assert next(r for r in rows if r["symbol"] == "ETH/USDT" and r["side"] == "BUY")["pnl"] == "110"


def test_trades_filters(cli, store):
    data = json.loads(cli("--db", store, "trades", "--symbol", "ETH/USDT", "--format", "json").out)
    assert {r["symbol"] for r in data} == {"ETH/USDT"} and len(data) == 2
    assert len(json.loads(cli("--db", store, "trades", "--days", "1", "--format", "json").out)) == 3
    newest = json.loads(cli("--db", store, "trades", "--limit", "1", "--format", "json").out)
    assert len(newest) == 1 and newest[0]["symbol"] in ("ETH/USDT", "SOL/USDT")


def test_positions_and_orders_content(cli, store):
    closed = json.loads(cli("--db", store, "positions", "--closed", "--format", "json").out)
    assert [(p["symbol"], p["realized_pnl"]) for p in closed] == [("ETH/USDT", "110")]
    opened = json.loads(cli("--db", store, "positions", "--format", "json").out)
    assert {p["symbol"] for p in opened} == {"BTC/USDT", "SOL/USDT"}
    working = json.loads(cli("--db", store, "orders", "--open", "--format", "json").out)
    assert [(o["status"], o["filled_quantity"]) for o in working] == [
        ("PARTIALLY_FILLED", "4"), ("PENDING", "0")]


def test_reading_commands_do_not_create_a_database(cli, tmp_path):
    missing = tmp_path / "none.db"
    result = cli("--db", missing, "trades")
    assert result.code != 0 and "no such database" in result.err and not missing.exists()


def test_void_hides_a_fill_unless_asked_and_rebuild_reports(store, cli):
    with TradeRepo(store) as repo:
        eth = [t for t in repo.get_trade_history(days=None) if t.symbol == "ETH/USDT"]
    result = cli("--db", store, "void", eth[0].id, "--reason", "resync duplicate")
    assert result.code == 0 and f"fill {eth[0].id} voided" in result.out
    shown = json.loads(cli("--db", store, "trades", "--all", "--format", "json").out)
    assert eth[0].id not in [row["id"] for row in shown]
    everything = json.loads(cli("--db", store, "trades", "--all", "--include-void",
                                "--format", "json").out)
    voided, = [row for row in everything if row["id"] == eth[0].id]
    assert voided["void_reason"] == "resync duplicate" and voided["kind"] == "TRADE"
    again = cli("--db", store, "void", eth[0].id, "--reason", "x")
    assert again.code == 1 and "already voided" in again.err and "Traceback" not in again.err
    # the ETH short is gone with its void; only the later BUY 1.10 remains, a long
    positions = json.loads(cli("--db", store, "positions", "--format", "json").out)
    eth_now, = [p for p in positions if p["symbol"] == "ETH/USDT"]
    assert (eth_now["side"], eth_now["quantity"]) == ("LONG", "1.10")
    rebuilt = cli("--db", store, "rebuild")
    assert rebuilt.code == 0 and "nothing to rebuild" in rebuilt.out
    assert cli("--db", store, "check").code == 0


def test_positions_filter_by_exchange(tmp_path, cli):
    path = tmp_path / "v.db"
    with TradeRepo(path) as repo:
        repo.save_trade(TradeData("BTC/USDT", "BUY", "1", "100", exchange="a"))
        repo.save_trade(TradeData("BTC/USDT", "SELL", "2", "100", exchange="b"))
    rows = json.loads(cli("--db", path, "positions", "--exchange", "b", "--format", "json").out)
    assert [(r["exchange"], r["side"], r["quantity"]) for r in rows] == [("b", "SHORT", "2")]


def test_show_a_round_trip_with_its_fills(tmp_path, cli):
    path = tmp_path / "f.db"
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with TradeRepo(path) as repo:
        repo.save_trades([
            TradeData("BTC/USDT:USDT", "BUY", 2, 100, timestamp=t0, leverage=5),
            TradeData("BTC/USDT:USDT", "BUY", 2, 110, timestamp=t0 + timedelta(hours=1)),
            TradeData("BTC/USDT:USDT", "SELL", 4, 90, timestamp=t0 + timedelta(hours=2),
                      liquidation=True, fees="1")])
        repo.record_funding("BTC/USDT:USDT", "-0.5", t0 + timedelta(minutes=30))
    out = cli("--db", path, "positions", "--show", "1").out
    assert lines_fit(out)
    # entry (200 + 220) / 4 = 105; trading 360 - 420 = -60; funding -0.5; fee 1 -> -61.5
    for text in ("avg_entry_price  105", "trading_pnl  -60", "funding  -0.5",
                 "realized_pnl  -61.5", "closed_by  liquidation", "margin  40"):
        assert text in out
    actions = [line.split()[3] for line in out.splitlines()[-3:]]
    assert actions == ["OPEN", "ADD", "LIQUIDATION"]
    shown = json.loads(cli("--db", path, "positions", "--show", "1", "--format", "json").out)[0]
    assert [f["action"] for f in shown["fills"]] == ["OPEN", "ADD", "LIQUIDATION"]
    assert shown["pnl_pct"] == "-14.642857142857142857"  # -61.5 / 420 x 100
    closed = json.loads(cli("--db", path, "positions", "--closed", "--format", "json").out)[0]
    assert (closed["avg_exit_price"], closed["funding"], closed["closed_by"]) == \
        ("90", "-0.5", "liquidation")
    table = cli("--db", path, "positions", "--closed").out
    assert lines_fit(table) and "liquidation" in table
    missing = cli("--db", path, "positions", "--show", "7")
    assert missing.code == 1 and "position_id: 7 is not a stored round trip" in missing.err
