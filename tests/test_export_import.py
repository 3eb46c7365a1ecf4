"""Export (streaming, lossless) and import of fills (validated, all or nothing)."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st
from conftest import examples

from tradestore import TradeData, TradeRepo, ValidationError
from tradestore.ops import export as exchange_io
from tradestore.ops import imports
from tradestore.ops.export import KINDS, Progress, export
from tradestore.ops.imports import import_trades

from conftest import run_tradestore

START = datetime(2025, 3, 1, tzinfo=timezone.utc)
FILL_FIELDS = ("symbol", "side", "quantity", "price", "timestamp", "fees", "fee_currency",
               "exchange", "external_id", "strategy", "account", "pnl", "metadata")
POSITION_FIELDS = ("account", "symbol", "side", "quantity", "entry_value", "entry_fees",
                   "avg_entry_price", "cost_basis", "realized_pnl", "fees", "max_quantity",
                   "trade_count", "opened_at", "closed_at")


def rich_fills(n=60):
    """Fills that open, add, reduce, close and cross zero, on two accounts, with every
    optional field used somewhere (and out of time order, as bots do save them)."""
    out = []
    for i in range(n):
        side = "BUY" if i % 5 in (0, 1, 2) else "SELL"
        out.append(TradeData(
            symbol=("BTC/USDT", "ETH/USDT", "AAPL")[i % 3], side=side,
            quantity=("0.10", "1.5", "2")[i % 3], price=f"{100 + (i * 7) % 23}.{i % 10}0",
            fees=("0", "0.0125", "0.10")[i % 3], fee_currency="USDT" if i % 2 else None,
            exchange="binance" if i % 4 else "", external_id=f"e{i}" if i % 4 else None,
            strategy=("trend", None)[i % 2], account=("default", "alt")[i % 2 and i % 3 == 0],
            metadata={"i": i, "note": "é ✓", "nested": {"px": "1.10"}} if i % 3 == 0 else None,
            pnl=Decimal("1.25") if i == 9 else None,
            timestamp=START + timedelta(minutes=(i * 37) % 101)))
    return out


def fills_of(repo):
    return [tuple(getattr(t, f) for f in FILL_FIELDS)
            for t in sorted(repo.get_trade_history(days=None), key=lambda t: t.id)]


def positions_of(repo):
    return sorted(tuple(getattr(p, f) for f in POSITION_FIELDS)
                  for p in repo.get_open_positions() + repo.get_closed_positions())


def same_record(a, b):
    assert fills_of(a) == fills_of(b)
    assert positions_of(a) == positions_of(b)
    for account in ("default", "alt", None):  # per quote currency: never added together
        assert a.get_statistics_by_currency(days=None, account=account) == \
            b.get_statistics_by_currency(days=None, account=account)


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_export_then_import_reproduces_fills_positions_and_statistics(tmp_path, repo, fmt):
    repo.save_trades(rich_fills())
    out = tmp_path / f"trades.{fmt}"
    assert export(repo, "trades", out, fmt=fmt) == 60
    with TradeRepo(tmp_path / "fresh.db") as fresh:
        result = import_trades(fresh, out)
        assert (result.read, result.inserted, result.duplicate) == (60, 60, 0)
        same_record(repo, fresh)
        assert fresh.check() == []
        again = import_trades(fresh, out)   # fills with an external id are skipped
        with_ids = sum(1 for t in rich_fills() if t.external_id is not None)
        assert (again.read, again.duplicate, again.inserted) == (60, with_ids, 60 - with_ids)


def test_given_pnl_survives_and_computed_pnl_is_computed_again(tmp_path, memory_repo):
    memory_repo.save_trades(rich_fills(12))
    out = tmp_path / "t.csv"
    export(memory_repo, "trades", out)
    rows = list(csv.DictReader(out.open()))
    assert rows[9]["pnl"] == "1.25" and rows[9]["pnl_given"] == "1"
    assert all(r["pnl_given"] == "0" for i, r in enumerate(rows) if i != 9)
    with TradeRepo(":memory:") as fresh:
        import_trades(fresh, out)
        flags = [r[0] for r in fresh.db.query("SELECT pnl_given FROM trades ORDER BY id")]
        assert flags == [int(i == 9) for i in range(12)]


def test_export_is_lossless_text(tmp_path, memory_repo):
    memory_repo.save_trade(TradeData("BTC/USDT", "BUY", "0.10000000", "42000.10", fees="0.000",
                                     metadata={"px": "1.10", "n": 3}, exchange="x",
                                     external_id="a", timestamp="2025-01-02T03:04:05.678901Z"))
    out = tmp_path / "t.json"
    export(memory_repo, "trades", out, fmt="json")
    row, = json.loads(out.read_text())
    assert row["quantity"] == "0.10000000" and row["price"] == "42000.10" and row["fees"] == "0.000"
    assert row["timestamp"] == "2025-01-02T03:04:05.678901Z"
    assert row["metadata"] == {"n": 3, "px": "1.10"}
    lines = (tmp_path / "t.jsonl")
    export(memory_repo, "trades", lines, fmt="jsonl")
    assert json.loads(lines.read_text().splitlines()[0]) == row


def test_empty_exports_are_valid(tmp_path, memory_repo):
    for fmt, check in (("json", lambda t: json.loads(t) == []), ("jsonl", lambda t: t == ""),
                       ("csv", lambda t: t.strip() == ",".join(KINDS["trades"].columns))):
        buffer = io.StringIO()
        assert export(memory_repo, "trades", buffer, fmt=fmt) == 0
        assert check(buffer.getvalue()), fmt


def test_export_streams_in_constant_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(exchange_io, "FETCH_ROWS", 100)
    def peak_for(n):
        path = tmp_path / f"s{n}.db"
        with TradeRepo(path) as repo:
            repo.save_trades([TradeData("BTC/USDT", "BUY", "1", "100.5", exchange="x",
                                        external_id=f"{i}", timestamp=START + timedelta(seconds=i))
                              for i in range(n)])
            sink = open(tmp_path / "out.json", "w")
            tracemalloc.start()
            export(repo, "trades", sink, fmt="json")
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            sink.close()
            return peak
    small, large = peak_for(400), peak_for(4_000)
    assert large < small * 1.5 + 50_000, (small, large)   # fetchall would grow 10x


def test_export_filters(tmp_path, memory_repo):
    memory_repo.save_trades(rich_fills())
    buffer = io.StringIO()
    n = export(memory_repo, "trades", buffer, symbol="ETH/USDT", account="default")
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert n == len(rows) > 0
    assert all(r["symbol"] == "ETH/USDT" and r["account"] == "default" for r in rows)
    assert [int(r["id"]) for r in rows] == sorted(int(r["id"]) for r in rows)
    until = START + timedelta(minutes=50)
    rows = list(csv.DictReader(io.StringIO(_export(memory_repo, "trades", until=until))))
    assert rows and all(r["timestamp"] < "2025-03-01T00:50" for r in rows)
    with pytest.raises(ValidationError, match="bot"):
        export(memory_repo, "trades", io.StringIO(), bot="x")
    with pytest.raises(ValidationError, match="kind"):
        export(memory_repo, "candles", io.StringIO())


def _export(repo, kind, fmt="csv", **filters):
    buffer = io.StringIO()
    export(repo, kind, buffer, fmt=fmt, **filters)
    return buffer.getvalue()


def test_other_kinds_export(memory_repo):
    order = memory_repo.create_order("BTC/USDT", "BUY", "LIMIT", "2", price="100.50")
    memory_repo.record_fill(order.id, "1", "100.50", fees="0.01")
    memory_repo.save_portfolio_snapshot("1000.10", cash="500", balances={"USDT": "500"},
                                        timestamp=START)
    memory_repo.save_bot_state({"balances": {"USDT": Decimal("1.10")}}, bot="b1")
    memory_repo.events.log("note", "hello", symbol="BTC/USDT", details={"k": 1})

    orders = json.loads(_export(memory_repo, "orders", "json"))
    assert orders[0]["filled_quantity"] == "1" and orders[0]["price"] == "100.50"
    assert orders[0]["status"] == "PARTIALLY_FILLED"
    positions = json.loads(_export(memory_repo, "positions", "json"))
    assert positions[0]["entry_value"] == "100.5" and positions[0]["closed_at"] is None
    snaps = json.loads(_export(memory_repo, "snapshots", "json"))
    assert snaps[0]["total_value"] == "1000.10" and snaps[0]["balances"] == {"USDT": "500"}
    states = [json.loads(line) for line in _export(memory_repo, "states", "jsonl").splitlines()]
    assert states[0]["bot"] == "b1"
    import hashlib
    assert hashlib.sha256(states[0]["payload"].encode()).hexdigest() == states[0]["sha256"]
    assert json.loads(states[0]["payload"])["balances"] == {"USDT": {"$decimal": "1.10"}}
    events = list(csv.DictReader(io.StringIO(_export(memory_repo, "events",
                                                     event_type="note"))))
    assert len(events) == 1 and json.loads(events[0]["details"]) == {"k": 1}
    assert _export(memory_repo, "states", bot="nobody").count("\n") == 1   # header only


# ------------------------------------------------------------------ import checks

def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


HEADER = "symbol,side,quantity,price,timestamp,exchange,external_id\n"


def test_bad_row_is_named_by_line_and_nothing_is_written(tmp_path, memory_repo):
    path = write(tmp_path / "t.csv", HEADER
                 + "BTC/USDT,BUY,1,100,2025-01-01T00:00:00Z,x,a\n"
                 + '"BTC\nUSDT",BUY,1,100.5,2025-01-01T00:00:01Z,x,b\n'   # lines 3-4
                 + "BTC/USDT,BUY,1,-3,2025-01-01T00:00:02Z,x,c\n")
    with pytest.raises(ValidationError, match=r"^line 5: price: '-3' must be greater than 0"):
        import_trades(memory_repo, path)
    assert memory_repo.get_trade_history(days=None) == []


def test_bad_row_after_many_good_ones(tmp_path, memory_repo, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK", 10)   # 50 chunks are saved before the bad row
    rows = "".join(f"BTC/USDT,BUY,1,100,2025-01-01T00:00:00Z,x,a{i}\n" for i in range(500))
    path = write(tmp_path / "t.csv", HEADER + rows + "BTC/USDT,HOLD,1,100,2025-01-01,x,z\n")
    with pytest.raises(ValidationError, match=r"^line 502: side"):
        import_trades(memory_repo, path)
    assert memory_repo.get_trade_history(days=None) == []


T = '"timestamp":"2025-01-01T00:00:00Z"'


@pytest.mark.parametrize("text,line", [
    ('{"symbol":"A","side":"BUY","quantity":"1","price":"1",%s}\n\n{"symbol": oops}\n' % T, 3),
    ('{"symbol":"A","side":"BUY","quantity":"1","price":"1",%s}\n{"symbol":"A","side":"BUY",'
     '"quantity":"0","price":"1",%s}\n' % (T, T), 2),
    ('{"symbol":"A","side":"BUY","quantity":"1","price":"1","colour":"red"}\n', 1),
    ('{"symbol":"A","side":"BUY","quantity":"1","price":"1",%s}\n'
     '{"symbol":"A","side":"BUY","quantity":"1","price":"1"}\n' % T, 2),  # no timestamp
])
def test_jsonl_errors_name_the_line(tmp_path, memory_repo, text, line):
    with pytest.raises(ValidationError, match=rf"^line {line}:"):
        import_trades(memory_repo, write(tmp_path / "t.jsonl", text))
    assert memory_repo.get_trade_history(days=None) == []


def test_json_array_is_read_incrementally_with_line_numbers(tmp_path, memory_repo):
    good = ('{"symbol":"A/B","side":"BUY","quantity":"1","price":"1.5","external_id":"%d",'
            + T + '}')
    text = "[\n" + ",\n".join(good % i for i in range(3000)) + ",\n" + \
        '{"symbol":"A/B","side":"BUY","quantity":"1","price":"nope",%s}\n]\n' % T
    path = write(tmp_path / "t.json", text)
    with pytest.raises(ValidationError, match=r"^line 3002: price"):
        import_trades(memory_repo, path)
    ok = write(tmp_path / "ok.json", "[" + ",".join(good % i for i in range(3000)) + "]")
    assert import_trades(memory_repo, ok).inserted == 3000
    one = good % 9999
    for broken, line in ((f"[\n{one}\n{one}]", 3), (f'[{one},\n\n  {{"a": }}]', 3),
                         (f"[{one}] x", 1)):
        with pytest.raises(ValidationError, match=rf"^line {line}:"):
            import_trades(memory_repo, write(tmp_path / "b.json", broken))


def test_duplicates_inside_the_file_are_counted(tmp_path, memory_repo):
    path = write(tmp_path / "t.csv", HEADER
                 + "BTC/USDT,BUY,1,100,2025-01-01T00:00:00Z,x,a\n"
                 + "BTC/USDT,BUY,1,100,2025-01-01T00:00:00Z,x,a\n"
                 + "BTC/USDT,BUY,1,100,2025-01-01T00:00:00Z,y,a\n"
                 + "BTC/USDT,BUY,1,100,2025-01-01T00:00:00Z,x,\n"
                 + "BTC/USDT,BUY,1,100,2025-01-01T00:00:00Z,x,\n")
    result = import_trades(memory_repo, path)
    assert (result.read, result.inserted, result.duplicate) == (5, 4, 1)
    assert memory_repo.get_position("BTC/USDT", exchange="x").quantity == 3
    assert memory_repo.get_position("BTC/USDT", exchange="y").quantity == 1


def test_a_failure_while_writing_rolls_everything_back(tmp_path, memory_repo, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK", 7)   # several chunks are written before the bad one
    memory_repo.accounts.create("main")        # now unknown account names are refused
    rows = [f"BTC/USDT,BUY,1,100,2025-01-01T00:00:00Z,x,a{i},{'ghost' if i == 30 else 'main'}\n"
            for i in range(40)]
    path = write(tmp_path / "t.csv", HEADER.strip() + ",account\n" + "".join(rows))
    with pytest.raises(ValidationError, match=r"^line 32: .*ghost"):
        import_trades(memory_repo, path)
    assert memory_repo.get_trade_history(days=None) == []
    assert memory_repo.get_open_positions() == []


def test_order_ids_must_exist_or_be_dropped(tmp_path, memory_repo):
    order = memory_repo.create_order("BTC/USDT", "BUY", "MARKET", "1")
    memory_repo.record_fill(order.id, "1", "100")
    out = tmp_path / "t.csv"
    export(memory_repo, "trades", out)
    with TradeRepo(":memory:") as fresh:
        with pytest.raises(ValidationError, match=r"^line 2: order_id"):
            import_trades(fresh, out)
        assert import_trades(fresh, out, ignore_order_ids=True).inserted == 1
        assert fresh.get_trade_history(days=None)[0].order_id is None


def test_exchange_option_fills_missing_exchanges(tmp_path, memory_repo):
    path = write(tmp_path / "t.jsonl",
                 '{"symbol":"A/B","side":"BUY","quantity":"1","price":"1","external_id":"1",%s}\n'
                 '{"symbol":"A/B","side":"BUY","quantity":"1","price":"1","external_id":"1",'
                 '"exchange":"other",%s}\n' % (T, T))
    import_trades(memory_repo, path, exchange="kraken")
    assert sorted(t.exchange for t in memory_repo.get_trade_history(days=None)) == \
        ["kraken", "other"]


def test_ccxt_import_from_array_and_lines(tmp_path, memory_repo):
    trade = {"id": "1", "order": "o1", "timestamp": 1502962946216, "symbol": "BTC/USDT",
             "side": "sell", "price": 4052.1, "amount": 0.02, "type": "limit",
             "fee": {"cost": 0.08, "currency": "USDT"}}
    array = write(tmp_path / "c.json", json.dumps([trade, {**trade, "id": "2"}]))
    lines = write(tmp_path / "c.jsonl", "\n".join(json.dumps({**trade, "id": str(i)})
                                                 for i in range(1, 4)))
    with pytest.raises(ValidationError, match="exchange"):
        import_trades(memory_repo, array, fmt="ccxt")
    assert import_trades(memory_repo, array, fmt="ccxt", exchange="binance").inserted == 2
    result = import_trades(memory_repo, lines, fmt="ccxt", exchange="binance")
    assert (result.inserted, result.duplicate) == (1, 2)
    t = memory_repo.get_trade_history(days=None)[0]
    assert (str(t.price), t.fees, t.metadata["order_external_id"]) == ("4052.1", Decimal("0.08"),
                                                                        "o1")


def test_progress_line_only_when_asked_or_on_a_terminal():
    quiet = io.StringIO()
    Progress("x", 100, stream=quiet).update(rows=5, position=50, force=True)
    assert quiet.getvalue() == ""   # StringIO is not a TTY
    loud = io.StringIO()
    bar = Progress("importing", 100, stream=loud, force=True)
    bar.update(rows=5, position=50, force=True)
    bar.done(rows=10)
    assert "importing: 5 rows" in loud.getvalue() and "50.0%" in loud.getvalue()
    assert loud.getvalue().endswith("100.0%\n")


# ------------------------------------------------------------------ property

fill_steps = st.lists(st.tuples(st.sampled_from(["BUY", "SELL"]),
                                st.decimals(min_value=Decimal("0.001"), max_value=Decimal("50"),
                                            places=3),
                                st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999"),
                                            places=2),
                                st.decimals(min_value=Decimal("0"), max_value=Decimal("1"),
                                            places=4),
                                st.sampled_from(["A/USD", "B/USD"])),
                      min_size=1, max_size=25)


@settings(max_examples=examples(25, 8))
@given(fill_steps, st.sampled_from(["csv", "json", "jsonl"]))
def test_round_trip_property(tmp_path_factory, steps, fmt):
    folder = tmp_path_factory.mktemp("rt")
    with TradeRepo(":memory:") as source, TradeRepo(":memory:") as target:
        source.save_trades([TradeData(sym, side, qty, price, fees=fee,
                                      timestamp=START + timedelta(seconds=i))
                            for i, (side, qty, price, fee, sym) in enumerate(steps)])
        export(source, "trades", folder / f"t.{fmt}", fmt=fmt)
        import_trades(target, folder / f"t.{fmt}")
        same_record(source, target)


# ------------------------------------------------------------------ CLI

def test_cli_export_import_round_trip(tmp_path, cli):
    db, fresh = tmp_path / "a.db", tmp_path / "b.db"
    with TradeRepo(db) as repo:
        repo.save_trades(rich_fills(30))
    out = tmp_path / "t.jsonl"
    result = cli("--db", db, "export", "trades", "--format", "jsonl", "--out", out)
    assert result.code == 0 and "30 trades rows" in result.out and result.err == ""
    TradeRepo(fresh).close()
    result = cli("--db", fresh, "import", "trades", out)
    assert result.code == 0 and result.out.strip() == "read 30, inserted 30, duplicate 0"
    assert result.err == ""   # no progress bar: stderr is not a terminal
    with TradeRepo(db) as a, TradeRepo(fresh) as b:
        same_record(a, b)
    result = cli("--db", db, "export", "positions", "--symbol", "AAPL", "--days", "100000")
    assert result.code == 0 and result.out.startswith("id,account,symbol,side,quantity")
    bad = write(tmp_path / "bad.csv", HEADER + "X,BUY,1,0,2025-01-01,,\n")
    result = cli("--db", fresh, "import", "trades", bad)
    assert result.code == 1 and result.err.startswith("tradestore: line 2: price")


def test_cli_import_from_stdin(tmp_path):
    db = tmp_path / "a.db"
    TradeRepo(db).close()
    text = '{"symbol":"A/B","side":"BUY","quantity":"1","price":"2",%s}\n' % T
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "tradestore", "--db", str(db), "import",
                           "trades", "-", "--format", "jsonl"], input=text, text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "read 1, inserted 1, duplicate 0"
    no_format = run_tradestore("--db", db, "import", "trades", "-")
    assert no_format.returncode == 1 and "--format" in no_format.stderr
