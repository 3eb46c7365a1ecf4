"""Export then import moves the whole record (issue 14.9, 15.7, 17): every fill field
(voids, kind, fee_value, futures columns), positions with every derived field,
statistics and funding, into a new file that the CLI `import` creates."""

from __future__ import annotations

import csv
import dataclasses
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from conftest import examples

from tradestore import TradeData, TradeRepo, ValidationError
from tradestore.ops.export import export
from tradestore.ops.imports import import_funding, import_instruments, import_trades

from conftest import run_tradestore

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=timezone.utc)
FORMATS = ("csv", "json", "jsonl")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def build_store(repo) -> dict:
    """A record with every kind of row the store keeps for fills; returns ids worth
    naming. Numbers are chosen so the results below can be worked by hand."""
    ids = {}
    # An inverse perpetual of 100 USD a contract; a linear one registered as perpetual.
    repo.instruments.upsert("BTC/USD:BTC", kind="perpetual", contract_size=100,
                            exchange="bybit", metadata={"tier": 1})
    repo.instruments.upsert("BTC/USDT:USDT", kind="perpetual", tick_size="0.5")
    repo.instruments.upsert("SOL/USDT", name="Solana")
    # Venue binance, BTC/USDT: one round trip, fees in the quote currency.
    repo.save_trades([
        TradeData("BTC/USDT", "BUY", 1, 100, at(0), fees="0.1", fee_currency="USDT",
                  exchange="binance", external_id="b1", strategy="trend"),
        TradeData("BTC/USDT", "SELL", 1, 110, at(10), fees="0.11", fee_currency="USDT",
                  exchange="binance", external_id="b2", strategy="trend",
                  metadata={"note": "é ✓", "px": "1.10"})])
    # Venue kraken, BTC/USDT: never nets with binance. A fill at 30, then a late one at
    # 20 saved afterwards, a mistaken fill voided, an adjustment (manual sale).
    repo.save_trade(TradeData("BTC/USDT", "BUY", 2, 105, at(30), exchange="kraken",
                              external_id="k1"))
    repo.save_trade(TradeData("BTC/USDT", "BUY", 2, 95, at(20), exchange="kraken",
                              external_id="k0"))  # late
    ids["void"] = repo.save_trade(TradeData("BTC/USDT", "BUY", 5, 1, at(35), exchange="kraken",
                                            external_id="k2"))
    repo.void_trade(ids["void"], "fat finger, \"quoted\", line\rbreak")
    repo.save_trade(TradeData("BTC/USDT", "SELL", 1, 110, at(40), exchange="kraken",
                              kind="ADJUSTMENT", strategy="manual"))
    # Third-currency fees: with a quote value (ETH), without one (SOL, left unvalued);
    # a base-currency fee (XRP).
    repo.save_trades([
        TradeData("ETH/USDT", "BUY", 1, 2000, at(50), fees="0.01", fee_currency="BNB",
                  fee_value=3, exchange="binance"),
        TradeData("ETH/USDT", "SELL", 1, 2100, at(60), fees="0.01", fee_currency="BNB",
                  fee_value="3.1", exchange="binance"),
        TradeData("SOL/USDT", "BUY", 10, 20, at(70), fees="0.02", fee_currency="BNB",
                  exchange="binance"),
        TradeData("XRP/USDT", "BUY", 100, "0.5", at(80), fees="0.1", fee_currency="XRP",
                  exchange="binance", account="alt")])
    repo.instruments.deactivate("SOL/USDT")  # no longer traded; its fill stays
    # A linear perpetual with leverage and margin, funding, then liquidated.
    perp = "BTC/USDT:USDT"
    repo.save_trade(TradeData(perp, "BUY", 2, 1000, at(100), fees=1, exchange="bybit",
                              external_id="p1", leverage=10, margin=200, margin_mode="isolated",
                              liquidation_price=910, strategy="perp"))
    repo.record_funding(perp, "-0.5", at(160), exchange="bybit", external_id="f1")
    repo.record_funding(perp, "0.2", at(220), exchange="bybit", external_id="f2",
                        metadata={"rate": "0.0001"})
    repo.record_funding(perp, "-0.05", at(5), exchange="bybit")  # nothing open: attached to none
    repo.save_trade(TradeData(perp, "SELL", 2, 905, at(230), fees=1, commission="0.5",
                              commission_currency="USDT", exchange="bybit", external_id="p2",
                              liquidation=True, strategy="perp"))
    # The inverse contract (settles in BTC), still open after a partial exit.
    inverse = "BTC/USD:BTC"
    repo.save_trades([
        TradeData(inverse, "BUY", 100, 20000, at(300), exchange="bybit", external_id="i1"),
        TradeData(inverse, "SELL", 50, 25000, at(310), exchange="bybit", external_id="i2")])
    return ids


def fill_fields(repo) -> list:
    """Every field of every fill (voided included), in id order, without the id."""
    return [{k: v for k, v in dataclasses.asdict(t).items() if k != "id"}
            for t in sorted(repo.get_trade_history(days=None, include_void=True),
                            key=lambda t: t.id)]


def position_key(p) -> tuple:
    return (p.account, p.exchange, p.symbol, p.opened_at)


def positions(repo) -> list:
    """Every position with every field but its identity and row times."""
    rows = repo.get_open_positions() + repo.get_closed_positions()
    drop = {"id", "created_at", "updated_at"}
    return sorted(({k: v for k, v in dataclasses.asdict(p).items() if k not in drop}
                   for p in rows), key=lambda d: (d["account"], d["exchange"], d["symbol"],
                                                  d["opened_at"]))


def funding(repo) -> list:
    """Every payment, its round trip named by key and opening time (ids may differ)."""
    opened = {p.id: position_key(p)
              for p in repo.get_open_positions() + repo.get_closed_positions()}
    return [(f.account, f.exchange, f.symbol, f.amount, f.currency, f.timestamp,
             f.external_id, f.metadata, opened.get(f.position_id) if f.position_id else None)
            for f in repo.funding.list()]


def statistics(repo) -> dict:
    return {account: repo.get_statistics_by_currency(days=None, account=account)
            for account in ("default", "alt", None)}


def instruments(repo) -> list:
    drop = {"id", "created_at", "updated_at"}
    return [{k: v for k, v in dataclasses.asdict(i).items() if k not in drop}
            for i in repo.instruments.list(include_inactive=True)]


def assert_same_record(a, b) -> None:
    assert instruments(a) == instruments(b)
    assert fill_fields(a) == fill_fields(b)
    assert positions(a) == positions(b)
    assert funding(a) == funding(b)
    assert statistics(a) == statistics(b)
    assert b.check() == []


def test_the_built_record_worked_by_hand(tmp_path):
    """The source store's figures, worked out by hand, so the round trip below compares
    a record that is known to be right."""
    with TradeRepo(tmp_path / "src.db") as repo:
        build_store(repo)
        closed = {(p.exchange, p.symbol): p for p in repo.get_closed_positions()}
        # binance BTC: 110 - 100 - (0.1 + 0.11)
        assert closed[("binance", "BTC/USDT")].realized_pnl == Decimal("9.79")
        # kraken: 2 @ 95 + 2 @ 105 = 4 held at 400 (the voided 5 @ 1 counts nowhere);
        # the adjustment sells 1 @ 110 against 100 of entry value: +10; 3 left at 300
        open_ = {(p.account, p.exchange, p.symbol): p for p in repo.get_open_positions()}
        kraken = open_[("default", "kraken", "BTC/USDT")]
        assert (kraken.quantity, kraken.entry_value, kraken.realized_pnl) == (3, 300, 10)
        # ETH: 2100 - 2000 - (3 + 3.1), the BNB fees valued by fee_value
        assert closed[("binance", "ETH/USDT")].realized_pnl == Decimal("93.9")
        # SOL: the BNB fee without a value is kept apart
        assert open_[("default", "binance", "SOL/USDT")].unvalued_fees == {"BNB": Decimal("0.02")}
        # XRP: a base fee is paid in XRP: 100 - 0.1 held
        assert open_[("alt", "binance", "XRP/USDT")].quantity == Decimal("99.9")
        # perp: (905 - 1000) x 2 = -190, funding -0.5 + 0.2, fees 1 + 1 + commission 0.5
        perp = closed[("bybit", "BTC/USDT:USDT")]
        assert (perp.trading_pnl, perp.funding, perp.fees, perp.commission) == \
            (Decimal(-190), Decimal("-0.3"), Decimal("2.5"), Decimal("0.5"))
        assert perp.realized_pnl == Decimal("-192.8")
        assert (perp.closed_by, perp.leverage, perp.margin, perp.margin_mode) == \
            ("liquidation", 10, 200, "isolated")
        # inverse: 50 contracts x 100 USD x (1/20000 - 1/25000) = 5000 x 0.00001 = 0.05 BTC
        inverse = open_[("default", "bybit", "BTC/USD:BTC")]
        assert (inverse.realized_pnl, inverse.currency, inverse.inverse,
                inverse.contract_size) == (Decimal("0.05"), "BTC", True, 100)
        assert repo.check() == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_export_then_import_into_a_new_file_moves_the_whole_record(tmp_path, fmt):
    source, target = tmp_path / "src.db", tmp_path / "new.db"
    with TradeRepo(source) as repo:
        ids = build_store(repo)
    files = {}
    for kind in ("trades", "funding", "instruments", "positions"):
        files[kind] = tmp_path / f"{kind}.{fmt}"
        done = run_tradestore("--db", str(source), "export", kind, "--format", fmt,
                              "--out", str(files[kind]))
        assert done.returncode == 0, done.stderr
    assert not target.exists()
    done = run_tradestore("--db", str(target), "import", "trades", str(files["trades"]))
    assert done.returncode == 0, done.stderr
    assert "read 14, inserted 14, duplicate 0" in done.stdout
    done = run_tradestore("--db", str(target), "import", "funding", str(files["funding"]))
    assert done.returncode == 0, done.stderr
    assert "read 3, inserted 3, duplicate 0" in done.stdout
    # last: a deactivated instrument refuses new fills; terms that arrive after the
    # fills rebuild their positions
    done = run_tradestore("--db", str(target), "import", "instruments", str(files["instruments"]))
    assert done.returncode == 0, done.stderr
    assert "read 3, inserted 3, duplicate 0" in done.stdout
    with TradeRepo(source) as a, TradeRepo(target) as b:
        assert_same_record(a, b)
        moved = b.get_trade(ids["void"])  # same id here: the source had no gaps
        assert moved.voided_at == a.get_trade(ids["void"]).voided_at
        assert moved.void_reason == "fat finger, \"quoted\", line\rbreak"
    # the positions export of the new store equals the old one's but for ids and row times
    again = tmp_path / f"positions-new.{fmt}"
    done = run_tradestore("--db", str(target), "export", "positions", "--format", fmt,
                          "--out", str(again))
    assert done.returncode == 0, done.stderr
    assert exported_positions(files["positions"], fmt) == exported_positions(again, fmt)
    # a second import skips every fill and payment that has an external id
    done = run_tradestore("--db", str(target), "import", "funding", str(files["funding"]))
    assert "read 3, inserted 1, duplicate 2" in done.stdout


def exported_positions(path, fmt) -> list:
    text = path.read_text(encoding="utf-8")
    if fmt == "csv":
        rows = list(csv.DictReader(text.splitlines(keepends=True)))
    elif fmt == "json":
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines()]
    for row in rows:
        for name in ("id", "created_at", "updated_at"):
            row.pop(name)
    assert rows and "unvalued_fees" in rows[0] and "closed_by" in rows[0]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


def test_export_trades_has_every_stored_fill_column(tmp_path):
    """Every column of the trades table leaves, but the round-trip links an import
    derives again."""
    with TradeRepo(tmp_path / "s.db") as repo:
        build_store(repo)
        stored = {r[1] for r in repo.db.query("PRAGMA table_info(trades)")}
        out = tmp_path / "t.csv"
        export(repo, "trades", out)
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert set(header) == stored - {"position_id", "opened_position_id"}
    assert len(header) == len(set(header))


def test_a_voided_row_keeps_its_void_and_needs_a_reason(tmp_path):
    rows = [{"symbol": "BTC/USDT", "side": "BUY", "quantity": "1", "price": "10",
             "timestamp": "2025-01-01T00:00:00Z", "voided_at": "2025-01-02T00:00:00Z",
             "void_reason": "dup"},
            {"symbol": "BTC/USDT", "side": "BUY", "quantity": "2", "price": "12",
             "timestamp": "2025-01-01T01:00:00Z"}]
    path = tmp_path / "v.json"
    path.write_text(json.dumps(rows))
    with TradeRepo(tmp_path / "n.db") as repo:
        assert import_trades(repo, path).inserted == 2
        held = repo.get_position("BTC/USDT")
        assert (held.quantity, held.entry_value, held.trade_count) == (2, 24, 1)
        voided = repo.get_trade(1)
        assert (voided.voided_at, voided.void_reason) == \
            (datetime(2025, 1, 2, tzinfo=timezone.utc), "dup")
        assert repo.check() == []
        del rows[0]["void_reason"]
        path.write_text(json.dumps(rows))
        with pytest.raises(ValidationError, match="line 1: void_reason: missing"):
            import_trades(repo, path)
        assert len(repo.get_trade_history(days=None, include_void=True)) == 2  # unchanged


def test_instruments_imported_after_the_fills_rebuild_their_positions(tmp_path):
    """Contract terms that arrive after the fills value them: the inverse round trip is
    worked again with 100 USD a contract."""
    with TradeRepo(tmp_path / "n.db") as repo:
        repo.save_trades([
            TradeData("BTC/USD:BTC", "BUY", 100, 20000, at(0), exchange="x"),
            TradeData("BTC/USD:BTC", "SELL", 100, 25000, at(1), exchange="x")])
        # 100 x 1 USD x (1/20000 - 1/25000) = 100 x 0.00001 = 0.001 BTC
        assert repo.get_closed_positions()[0].realized_pnl == Decimal("0.001")
        path = tmp_path / "i.csv"
        path.write_text("symbol,kind,contract_size,inverse,is_active\n"
                        "BTC/USD:BTC,perpetual,100,1,1\nETH/USD:ETH,perpetual,10,1,0\n")
        result = import_instruments(repo, path)
        assert (result.read, result.inserted) == (2, 2)
        # 100 x 100 USD x 0.00001 = 0.1 BTC
        assert repo.get_closed_positions()[0].realized_pnl == Decimal("0.1")
        assert repo.instruments.get("ETH/USD:ETH").active is False
        assert repo.check() == []
        path.write_text("symbol,inverse\nBTC/USD:BTC,maybe\n")
        with pytest.raises(ValidationError, match="line 2: inverse: 'maybe' is not a boolean"):
            import_instruments(repo, path)
        assert repo.instruments.get("BTC/USD:BTC").contract_size == 100


def test_funding_import_errors_name_the_line_and_change_nothing(tmp_path):
    path = tmp_path / "f.jsonl"
    row = '{"symbol": "X/USDT:USDT", "amount": "%s", "timestamp": "2025-01-01T00:00:00Z"}\n'
    path.write_text(row % "1" + row % "NaN")
    with TradeRepo(tmp_path / "n.db") as repo:
        with pytest.raises(ValidationError, match="line 2: amount"):
            import_funding(repo, path)
        assert repo.funding.list() == []
        path.write_text('{"symbol": "X/USDT:USDT", "side": "BUY", "amount": "1"}\n')
        with pytest.raises(ValidationError, match="line 1: 'side': unknown column"):
            import_funding(repo, path)
    trades = tmp_path / "t.csv"
    trades.write_text("timestamp,symbol,amount\n2025-01-01T00:00:00Z,X,1\n")
    with TradeRepo(tmp_path / "m.db") as repo:
        with pytest.raises(ValidationError, match="import funding"):
            import_trades(repo, trades)


money = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("100000"), places=3,
                    allow_nan=False, allow_infinity=False)


@st.composite
def random_fills(draw):
    n = draw(st.integers(1, 12))
    fills = []
    for i in range(n):
        fee_currency = draw(st.sampled_from([None, "USDT", "BTC", "BNB"]))
        fills.append(TradeData(
            draw(st.sampled_from(["BTC/USDT", "ETH/BTC", "BTC/USDT:USDT", "BTC/USD:BTC"])),
            draw(st.sampled_from(["BUY", "SELL"])), draw(money), draw(money),
            at(draw(st.integers(0, 500))), fees=draw(st.sampled_from(["0", "0.01", "1.5"])),
            fee_currency=fee_currency,
            fee_value=draw(st.sampled_from([None, "0.2"])) if fee_currency == "BNB" else None,
            exchange=draw(st.sampled_from(["", "a", "b"])),
            external_id=draw(st.sampled_from([None, f"x{i}"])),
            kind=draw(st.sampled_from(["TRADE", "ADJUSTMENT"])),
            liquidation=draw(st.booleans()), commission=draw(st.sampled_from(["0", "0.3"])),
            leverage=draw(st.sampled_from([None, "5"])),
            margin_mode=draw(st.sampled_from([None, "cross"])),
            metadata=draw(st.sampled_from([None, {"k": "v,\r\n\""}]))))
    voids = draw(st.lists(st.integers(0, n - 1), unique=True, max_size=3))
    funding = draw(st.lists(st.tuples(
        st.sampled_from(["BTC/USDT:USDT", "BTC/USD:BTC"]), st.sampled_from(["", "a", "b"]),
        st.sampled_from(["-0.25", "0.1", "-3"]), st.integers(0, 500), st.booleans()),
        max_size=4))
    return fills, voids, funding


@settings(max_examples=examples(25, 8), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_fills(), st.sampled_from(FORMATS))
def test_round_trip_of_random_fills_keeps_the_whole_record(tmp_path_factory, case, fmt):
    fills, voids, payments = case
    folder = tmp_path_factory.mktemp("rt")
    with TradeRepo(":memory:") as a, TradeRepo(folder / "b.db") as b:
        ids = []
        for fill in fills:  # one at a time: later saves of earlier times replay
            try:
                ids.append(a.save_trade(fill))
            except ValidationError:  # a fill the store refuses (a base fee above the
                continue             # quantity, ...) is not part of the record
        for index in voids:
            if index < len(ids):
                a.void_trade(ids[index], f"void {index}")
        for i, (symbol, exchange, amount, minute, with_id) in enumerate(payments):
            a.record_funding(symbol, amount, at(minute), exchange=exchange,
                             external_id=f"f{i}" if with_id else None)
        for kind in ("trades", "funding"):
            export(a, kind, folder / f"{kind}.{fmt}", fmt=fmt)
        import_trades(b, folder / f"trades.{fmt}")
        import_funding(b, folder / f"funding.{fmt}")
        assert_same_record(a, b)
