"""tradestore copy: a whole store into another, either engine, ids kept, verified,
idempotent, never over other data (tradestore/ops/copy.py, cli/ops.py)."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.conftest import run_tradestore
from tradestore import TradeRepo
from tradestore._core.url import parse_target
from tradestore.errors import ConflictError, ValidationError
from tradestore.ops.copy import (MODULUS, TableSum, canonical, check_destination, copy_store,
                                 in_table, record_tables, table_sum)

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc)


def fill(symbol, side, qty, price, fees="0", minutes=0, account="default", **extra):
    return {"symbol": symbol, "side": side, "quantity": qty, "price": price, "fees": fees,
            "timestamp": T0.replace(minute=minutes), "account": account, **extra}


def seed(repo):
    """A little of everything: two accounts and currencies, an order with a fill, a
    round trip, funding, a state, a snapshot, candles (a table without ids), a setting,
    a strategy with its config, an event."""
    repo.accounts.create("bot-b", base_currency="EUR")
    repo.accounts.deposit("bot-b", "1000.50")
    repo.strategies.create("grid", config={"step": "0.5"})
    order = repo.create_order("BTC/USDT", "BUY", "limit", "0.5", price="43000.10")
    repo.record_fill(order.id, "0.5", "43000.10", fees="0.02", timestamp=T0)
    repo.save_trades([fill("BTC/USDT", "SELL", "0.5", "43100.00", "0.03", 5),
                      fill("ETH/EUR", "BUY", "1.10", "2000", "1", 7, account="bot-b")])
    repo.record_funding("ETH/EUR", "-0.15", T0.replace(minute=8), account="bot-b")
    repo.save_bot_state({"balances": {"USDT": Decimal("10.10")}, "positions": {"BTC/USDT": 1}})
    repo.save_portfolio_snapshot("10000.10", timestamp=T0)
    repo.candles.insert_many([{"symbol": "BTC/USDT", "timeframe": "1m",
                               "timestamp": T0.replace(minute=m), "open": "1", "high": "2",
                               "low": "0.5", "close": "1.5", "volume": "10.000"}
                              for m in (3, 1, 2)])
    repo.settings.set("risk", Decimal("0.25"))
    repo.events.log("note", "seeded", details={"k": 1})


def sums(repo):
    with repo.db.reading() as conn:
        return {name: table_sum(conn, name, [d[0] for d in conn.execute(
                    f'SELECT * FROM "{name}" LIMIT 0').description])
                for name in record_tables(conn)}


def history(repo):
    return [(t.id, t.symbol, t.side, t.quantity, t.price, t.fees, t.pnl, t.order_id,
             t.account) for t in repo.get_trade_history(days=None, include_void=True)]


@pytest.fixture
def source(tmp_path):
    with TradeRepo(tmp_path / "src.db") as repo:
        seed(repo)
        yield repo


# ---------------------------------------------------------------- the checksum
def test_table_sum_by_hand(tmp_path):
    """Two rows, worked out from the definition: each row's canonical text is its values
    joined by a tab (NULL as \\N), hashed with SHA-256; the table's checksum is the sum
    of the hashes modulo 2**256, so row order does not matter."""
    with TradeRepo(":memory:") as repo:
        repo.db.query("CREATE TABLE t (id INTEGER PRIMARY KEY, amount TEXT, note TEXT, x REAL)")
        repo.db.query("INSERT INTO t VALUES (2, '1.10', NULL, 0.5), (1, '-3', 'a', NULL)")
        with repo.db.reading() as conn:
            got = table_sum(conn, "t", ["id", "amount", "note", "x"])
    a = int(hashlib.sha256(b"1\t-3\ta\t\\N").hexdigest(), 16)
    b = int(hashlib.sha256(b"2\t1.10\t\\N\t0.5").hexdigest(), 16)
    assert got == TableSum(2, f"{(a + b) % MODULUS:064x}")
    assert canonical(Decimal("1.10")) == "1.10" and canonical(None) == "\\N"


# ---------------------------------------------------------------- SQLite -> SQLite
def test_copy_keeps_every_row_and_id(source, tmp_path):
    with TradeRepo(tmp_path / "dest.db") as dest:
        result = copy_store(source, dest)
        assert result.copied and result.version == source.current_version
        assert result.tables == sums(source) == sums(dest)
        assert result.tables["candles"].rows == 3 and result.tables["accounts"].rows == 2
        assert history(dest) == history(source)
        assert sorted(t[0] for t in history(dest)) == [1, 2, 3]
        assert dest.get_trade(1).order_id == 1  # the fill still names its order
        assert dest.load_bot_state().balances["USDT"] == Decimal("10.10")
        assert dest.get_closed_positions(days=None)[0].realized_pnl == \
            source.get_closed_positions(days=None)[0].realized_pnl == Decimal("49.90")  # 0.5 x (43100.00 - 43000.10) - 0.02 - 0.03
        assert dest.check() == []
        assert dest.store_id != source.store_id  # a copy is another store
        # new rows draw ids above the copied ones
        assert dest.save_trade(fill("BTC/USDT", "BUY", "1", "1", minutes=20)) == 4


def test_copy_again_changes_nothing(source, tmp_path):
    with TradeRepo(tmp_path / "dest.db") as dest:
        first = copy_store(source, dest)
        events = dest.table_counts()["events"]
        second = copy_store(source, dest)
        assert not second.copied and second.tables == first.tables
        assert dest.table_counts()["events"] == events


def test_dest_with_other_data_is_refused_untouched(source, tmp_path):
    with TradeRepo(tmp_path / "dest.db") as dest:
        dest.save_trade(fill("SOL/USDT", "BUY", "2", "100"))
        before = sums(dest)
        with pytest.raises(ConflictError, match=r"already holds other data .*trades \(1 rows, "
                                                r"source 3\).*refusing to overwrite"):
            copy_store(source, dest)
        assert sums(dest) == before


def test_dest_that_grew_after_a_copy_is_refused(source, tmp_path):
    with TradeRepo(tmp_path / "dest.db") as dest:
        copy_store(source, dest)
        dest.settings.set("risk", Decimal("0.5"))
        before = sums(dest)
        with pytest.raises(ConflictError, match="settings"):
            copy_store(source, dest)
        assert sums(dest) == before


def test_schema_versions_must_match(source, tmp_path):
    with TradeRepo(tmp_path / "dest.db") as dest:
        dest.migrate(source.current_version - 1)
        behind = source.current_version - 1
        with pytest.raises(ConflictError, match=f"schema version {behind}, the source .* is at "
                                                f"{behind + 1}; migrate both"):
            copy_store(source, dest)


def test_the_store_guard_applies_to_a_sqlite_dest(tmp_path):
    src = tmp_path / "src.db"
    TradeRepo(src).close()
    with pytest.raises(ConflictError, match="is the source store itself"):
        check_destination(parse_target(str(src)), parse_target(f"sqlite:///{src}"))
    with pytest.raises(ConflictError, match="or its journal"):
        check_destination(parse_target(str(src)), parse_target(f"{src}-wal"))
    other = tmp_path / "other.db"
    TradeRepo(other).close()
    with pytest.raises(ConflictError, match="wal file of the database"):
        check_destination(parse_target(str(src)), parse_target(f"{other}-wal"))
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    with pytest.raises(ConflictError, match="not a SQLite database"):
        check_destination(parse_target(str(src)), parse_target(str(notes)))
    assert notes.read_text() == "mine"


@pytest.mark.parametrize("edit", [
    "UPDATE accounts SET base_currency = 'EUR' WHERE name = 'default'",  # a hand edit
    "UPDATE accounts SET name = 'bot-z', initial_cash = '250'",          # another account
])
def test_a_dest_whose_single_account_is_not_the_seeded_one_is_refused(source, tmp_path, edit):
    """One account, as in a new store, is not enough: its row must be the seeded one
    (stamps aside), else it is DEST's own data and is never deleted."""
    with TradeRepo(tmp_path / "dest.db") as dest:
        with dest.db.transaction() as conn:
            conn.execute(edit)
        before = sums(dest)
        with pytest.raises(ConflictError, match=r"already holds other data .*accounts \(1 "
                                                r"rows, source 2\)"):
            copy_store(source, dest)
        assert sums(dest) == before


def test_a_refused_rows_error_keeps_its_field_and_value():
    exc = ValidationError("price: 'x' is not a number", field="price", value="x")
    wrapped = in_table(exc, "dest.db", "trades")
    assert type(wrapped) is ValidationError and (wrapped.field, wrapped.value) == ("price", "x")
    assert str(wrapped) == ("dest.db: table trades could not be copied, so nothing was: "
                            "price: 'x' is not a number")


def user_version_and_events(path):
    conn = sqlite3.connect(path)
    try:
        return (conn.execute("PRAGMA user_version").fetchone()[0],
                conn.execute("SELECT * FROM events ORDER BY id").fetchall())
    finally:
        conn.close()


def test_a_dest_behind_holding_data_is_refused_unmigrated(source, tmp_path):
    """Judged before anything is written: opening DEST for writing would migrate it
    (and log the migration) only for the copy to refuse it."""
    src, dest = source.path, tmp_path / "dest.db"
    source.close()
    with TradeRepo(dest) as repo:
        repo.save_trade(fill("SOL/USDT", "BUY", "2", "100"))
        repo.migrate(12)
    before = user_version_and_events(dest)
    digest = hashlib.sha256(dest.read_bytes()).hexdigest()
    assert before[0] == 12
    refused = run_tradestore("copy", src, dest)
    assert refused.returncode == 1
    assert (f"{dest}: schema version 12, behind the source {src} (" in refused.stderr
            and "holds data of its own; refusing to migrate it" in refused.stderr)
    assert user_version_and_events(dest) == before
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == digest


def test_a_new_dest_behind_is_migrated_then_copied(source, tmp_path):
    src, dest = source.path, tmp_path / "dest.db"
    with TradeRepo(dest) as repo:
        repo.migrate(12)
    wanted = sums(source)
    source.close()
    done = run_tradestore("copy", src, dest)
    assert done.returncode == 0, done.stderr
    with TradeRepo(dest, migrate=False) as copied:
        assert sums(copied) == wanted


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["BUY", "SELL"]),
                          st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1e9"),
                                      places=8, allow_nan=False, allow_infinity=False),
                          st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1e7"),
                                      places=4, allow_nan=False, allow_infinity=False)),
                min_size=1, max_size=8))
def test_copy_keeps_every_digit(fills):
    """Whatever the amounts, the copy's fills, positions and pnl are the source's,
    digit for digit (1.10 stays 1.10)."""
    with TradeRepo(":memory:") as src, TradeRepo(":memory:") as dest:
        src.save_trades([fill("BTC/USDT", side, str(q), str(p), minutes=i)
                         for i, (side, q, p) in enumerate(fills)])
        copy_store(src, dest)
        assert history(dest) == history(src)
        assert [(p.id, p.quantity, p.realized_pnl, p.entry_value) for p in
                dest.get_closed_positions(days=None) + dest.get_open_positions()] == \
               [(p.id, p.quantity, p.realized_pnl, p.entry_value) for p in
                src.get_closed_positions(days=None) + src.get_open_positions()]


# ---------------------------------------------------------------- the command
def test_cli_copy_twice_and_refusal(source, tmp_path):
    src, dest = source.path, tmp_path / "dest.db"
    source.close()
    done = run_tradestore("copy", src, f"sqlite:///{dest}")
    assert done.returncode == 0, done.stderr
    assert f"{dest}: copied" in done.stdout and "counts and checksums verified" in done.stdout
    assert "  trades                                  3  " in done.stdout
    again = run_tradestore("copy", src, dest)
    assert again.returncode == 0 and "nothing to copy" in again.stdout
    other = tmp_path / "other.db"
    with TradeRepo(other) as repo:
        repo.save_trade(fill("SOL/USDT", "BUY", "2", "100"))
    refused = run_tradestore("copy", src, other)
    assert refused.returncode == 1 and "refusing to overwrite" in refused.stderr
    missing = run_tradestore("copy", tmp_path / "nope.db", tmp_path / "x.db")
    assert missing.returncode == 1 and "no such database" in missing.stderr
    assert not (tmp_path / "x.db").exists()


# ---------------------------------------------------------------- PostgreSQL
def test_sqlite_to_postgresql_and_back(source, pg_url, tmp_path):
    with TradeRepo(pg_url) as server:
        result = copy_store(source, server)
        assert result.copied and sums(server) == sums(source) == result.tables
        assert history(server) == history(source)
        assert server.check() == []
        assert not copy_store(source, server).copied  # idempotent
        assert server.save_trade(fill("BTC/USDT", "BUY", "1", "1", minutes=20)) == 4
        with TradeRepo(tmp_path / "snapshot.db") as snapshot:
            back = copy_store(server, snapshot)
            assert back.copied and sums(snapshot) == sums(server)
            assert history(snapshot) == history(server)
            assert snapshot.check() == []


def test_cli_copy_never_prints_the_password(source, pg_url, tmp_path):
    src = source.path
    source.close()
    # the throwaway server trusts 127.0.0.1, so a password in the URL is accepted unread
    secret = pg_url.replace("postgres@", "postgres:s3cr3t-pw@", 1)
    done = run_tradestore("copy", src, secret)
    assert done.returncode == 0, done.stderr
    assert "s3cr3t-pw" not in done.stdout + done.stderr and "******" in done.stdout
    back = run_tradestore("copy", secret, tmp_path / "snapshot.db")
    assert back.returncode == 0 and "s3cr3t-pw" not in back.stdout + back.stderr
    with TradeRepo(src) as a, TradeRepo(tmp_path / "snapshot.db") as b:
        assert sums(a) == sums(b)


def test_a_location_that_is_no_file_name_is_refused(tmp_path):
    good = parse_target(str(tmp_path / "src.db"))
    for bad, name in (("", "source"), ("a\x00b.db", "source")):
        with pytest.raises(ValidationError, match=f"^{name}: "):
            check_destination(parse_target(bad), good)
    with pytest.raises(ValidationError, match="^dest: "):
        check_destination(good, parse_target("a\x00b.db"))


def test_a_server_dest_with_other_data_is_refused_untouched(source, pg_url):
    with TradeRepo(pg_url) as server:
        server.save_trade(fill("SOL/USDT", "BUY", "2", "100"))
        before = sums(server)
        with pytest.raises(ConflictError, match=r"trades \(1 rows, source 3\)"):
            copy_store(source, server)
        assert sums(server) == before


def test_a_row_the_server_refuses_leaves_dest_as_it_was(pg_url):
    """One transaction on DEST: SQLite text may hold a NUL, PostgreSQL text may not; the
    copy stops at that table, names it, and DEST keeps only what it had."""
    with TradeRepo(":memory:") as src, TradeRepo(pg_url) as server:
        seed(src)
        src.events.log("note", "a\x00b")
        before = sums(server)
        with pytest.raises(ValidationError, match=r"table events could not be copied, so "
                                                  r"nothing was: .*NUL") as refused:
            copy_store(src, server)
        cause = refused.value.__cause__  # what the server refused, field and value kept
        assert (refused.value.field, refused.value.value) == (cause.field, cause.value)
        assert sums(server) == before
        assert server.table_counts()["accounts"] == 1  # the seeded default, not deleted


def test_a_server_dest_behind_holding_data_is_refused_unmigrated(source, pg_url):
    with TradeRepo(pg_url) as server:
        server.save_trade(fill("SOL/USDT", "BUY", "2", "100"))
        server.migrate(12)
        before = sums(server)
    src = source.path
    source.close()
    refused = run_tradestore("copy", src, pg_url)
    assert refused.returncode == 1 and "schema version 12, behind the source" in refused.stderr
    with TradeRepo.inspect(pg_url) as server:
        assert server.current_version == 12 and sums(server) == before
