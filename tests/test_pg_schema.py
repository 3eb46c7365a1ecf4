"""schema/postgres/: the PostgreSQL migrations match the SQLite ones.

Every up block applies in order (one transaction per file) to a fresh database on the
throwaway server, every down block undoes exactly its up block (the catalog is compared
before and after), and up again gives the same head. At the head both folders define
the same tables with the same columns (names, order and a type class) and the same views
with the same columns, the SQLite side built by the real migrator.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradestore import TradeRepo
from tradestore._core import decimal_sql
from tradestore._core.migrate import load_migrations, split_statements

psycopg = pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]' psycopg-pool")

ROOT = Path(__file__).resolve().parent.parent
SQLITE_DIR = ROOT / "schema"
PG_DIR = ROOT / "schema" / "postgres"

# Tables of a SQLite store that no numbered file makes, each with why PostgreSQL's files
# have no counterpart.
SQLITE_ONLY = {
    "schema_history": "the migrator's log (tradestore/migrate.py CREATE_HISTORY), made by "
                      "the migrator, not by a numbered file; the PostgreSQL migrator keeps "
                      "its own",
    "sqlite_sequence": "SQLite's AUTOINCREMENT counters; identity columns keep them on "
                       "PostgreSQL",
    "sqlite_stat1": "ANALYZE statistics, SQLite's own",
}

# PostgreSQL catalog of the current schema: what a down block must restore exactly.
CATALOG = {
    "relations": """SELECT c.relname, c.relkind FROM pg_class c
                    WHERE c.relnamespace = current_schema()::regnamespace
                      AND c.relkind IN ('r', 'v', 'i', 'S') ORDER BY 1""",
    "columns": """SELECT table_name, column_name, data_type, domain_name, is_nullable,
                         column_default, is_identity
                  FROM information_schema.columns WHERE table_schema = current_schema()
                  ORDER BY table_name, ordinal_position""",
    "constraints": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                      FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
                      ORDER BY 1, 2""",
    "indexes": """SELECT indexname, indexdef FROM pg_indexes
                  WHERE schemaname = current_schema() ORDER BY 1""",
    "views": """SELECT viewname, definition FROM pg_views
                WHERE schemaname = current_schema() ORDER BY 1""",
    "routines": """SELECT p.oid::regprocedure::text, p.prokind,
                          CASE WHEN p.prokind = 'f' THEN pg_get_functiondef(p.oid) END
                   FROM pg_proc p
                   WHERE p.pronamespace = current_schema()::regnamespace ORDER BY 1""",
    "types": """SELECT t.typname, t.typtype, format_type(t.typbasetype, t.typtypmod)
                FROM pg_type t WHERE t.typnamespace = current_schema()::regnamespace
                  AND t.typtype = 'd' ORDER BY 1""",
}
PG_COLUMNS = """SELECT c.table_name, t.table_type, c.column_name, c.data_type, c.domain_name
                FROM information_schema.columns c
                JOIN information_schema.tables t USING (table_schema, table_name)
                WHERE c.table_schema = current_schema()
                ORDER BY c.table_name, c.ordinal_position"""
TIME_GLOB = r"GLOB\s*'\[0-9\]\[0-9\]\[0-9\]\[0-9\]-"


def _files(folder: Path) -> list[tuple[str, str]]:
    return [(p.name, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.sql"))]


@pytest.fixture(scope="module")
def pg_url(pg_server):
    return pg_server.create_database(f"schema_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def pg_migrations():
    # the real parser: sections, numbering 1..N without gaps
    return load_migrations(_files(PG_DIR), folder="schema/postgres")


def catalog(conn) -> dict:
    return {name: conn.execute(sql).fetchall() for name, sql in CATALOG.items()}


def apply(conn, sql: str) -> None:
    """One file's block in one transaction (DDL is transactional on PostgreSQL), statement
    by statement as the SQLite migrator splits it: the files hold no dollar-quoted bodies,
    so the same splitter serves both folders and an error can name its statement."""
    with conn.transaction():
        for statement in split_statements(sql):
            conn.execute(statement)


def test_same_files_in_both_folders(pg_migrations):
    sqlite_names = [name for name, _ in _files(SQLITE_DIR)]
    assert [m.filename for m in pg_migrations] == sqlite_names


def test_up_down_up(pg_url, pg_migrations):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        before = [catalog(conn)]
        for migration in pg_migrations:
            apply(conn, migration.up)
            before.append(catalog(conn))
        head = before.pop()
        for migration in reversed(pg_migrations):
            apply(conn, migration.down)
            expected = before.pop()
            assert catalog(conn) == expected, f"{migration.filename}: down does not undo up"
        assert catalog(conn)["relations"] == []
        for migration in pg_migrations:
            apply(conn, migration.up)
        assert catalog(conn) == head
        # the store_id of 0010 is a version-4 UUID; 0004's default account is there
        (store_id,), = conn.execute("SELECT value FROM store_meta WHERE key = 'store_id'")
        assert uuid.UUID(store_id).version == 4
        assert conn.execute("SELECT name, base_currency, initial_cash FROM accounts").fetchall() \
            == [("default", "USD", Decimal("0"))]


def sqlite_class(table_sql: str, column: str, declared: str) -> str:
    """The type class of a SQLite column: its declared type, and for TEXT what its CHECK
    says (money checks call typeof(column)) or, for times, its name."""
    if declared in ("INTEGER", "REAL"):
        return declared.lower()
    assert declared == "TEXT", (column, declared)
    if re.search(rf"typeof\({column}\) = 'text'", table_sql):
        return "money"
    is_time = column == "timestamp" or column.endswith("_at") or column == "expiry"
    # the naming rule covers every column that the SQLite file checks as a time
    if re.search(rf"\b{column}\s+(IS NULL OR {column}\s+|IS NOT NULL AND {column}\s+)?"
                 + TIME_GLOB, table_sql):
        assert is_time, column
    return "time" if is_time else "text"


def pg_class(data_type: str, domain: str | None) -> str:
    """Money is the exact_money domain and time utc_time in tables; a view's aggregates
    are plain numeric (sum of exact_money)."""
    if domain == "exact_money" or (domain is None and data_type == "numeric"):
        return "money"
    if domain == "utc_time" or (domain is None and data_type == "timestamp with time zone"):
        return "time"
    return {"text": "text", "bigint": "integer", "integer": "integer",
            "double precision": "real"}.get(data_type, f"other: {data_type}/{domain}")


def sqlite_head(path: Path) -> tuple[dict, dict]:
    with TradeRepo(path):
        pass
    conn = sqlite3.connect(path)
    decimal_sql.register(conn)  # the views call decimal_sum: reading them needs it
    try:
        tables, views = {}, {}
        for kind, name, sql in conn.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'view')"):
            if name in SQLITE_ONLY:
                continue
            info = conn.execute(f'PRAGMA table_xinfo("{name}")').fetchall()  # with generated
            if kind == "table":
                tables[name] = [(c[1], sqlite_class(sql, c[1], c[2])) for c in info]
            else:
                views[name] = [c[1] for c in info]
        return tables, views
    finally:
        conn.close()


def pg_head(url: str, migrations) -> tuple[dict, dict]:
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass('trades')").fetchone()[0]:
            for migration in migrations:
                apply(conn, migration.up)
        tables, views = {}, {}
        for table, table_type, column, data_type, domain in conn.execute(PG_COLUMNS):
            if table_type == "VIEW":
                views.setdefault(table, []).append(column)
            else:
                tables.setdefault(table, []).append((column, pg_class(data_type, domain)))
        return tables, views


def test_same_tables_and_columns_as_sqlite(pg_url, pg_migrations, tmp_path):
    sqlite_tables, sqlite_views = sqlite_head(tmp_path / "head.db")
    pg_tables, pg_views = pg_head(pg_url, pg_migrations)
    assert sorted(pg_tables) == sorted(sqlite_tables)
    for table, columns in sqlite_tables.items():
        assert pg_tables[table] == columns, table
    # SQLite declares no type for a view's computed columns: views compare by name
    assert pg_views == sqlite_views


def test_event_level_is_generated_on_both_engines(pg_url, pg_migrations, tmp_path):
    """Schema 14: events.level is computed from severity on both (SQLite VIRTUAL,
    PostgreSQL STORED), the same expression."""
    pg_head(pg_url, pg_migrations)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        generated = conn.execute(
            "SELECT table_name, column_name, generation_expression FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND is_generated = 'ALWAYS'").fetchall()
    assert [(t, c) for t, c, _ in generated] == [("events", "level")]
    assert "WHEN 'critical'::text THEN 50" in generated[0][2]
    sqlite_head(tmp_path / "head.db")
    conn = sqlite3.connect(tmp_path / "head.db")
    try:
        hidden = conn.execute("SELECT m.name, c.name, c.hidden FROM sqlite_master AS m, "
                              "pragma_table_xinfo(m.name) AS c WHERE m.type = 'table' "
                              "AND c.hidden <> 0").fetchall()
    finally:
        conn.close()
    assert hidden == [("events", "level", 2)]  # 2: a VIRTUAL generated column


# --- the head's checks refuse what the SQLite checks refuse ------------------------------

T0 = "2024-01-01T00:00:00.000000Z"
VALID = {
    "trades": {"account": "a", "symbol": "BTC/USDT", "side": "BUY", "quantity": "1",
               "price": "100", "timestamp": T0, "created_at": T0},
    "candles": {"exchange": "x", "symbol": "BTC/USDT", "timeframe": "5m",
                "timestamp": "2024-01-01T00:05:00.000000Z", "open": "1", "high": "2",
                "low": "0.5", "close": "1.5", "volume": "10"},
    "settings": {"key": "k", "value": "1", "value_type": "int", "created_at": T0,
                 "updated_at": T0},
    "artifacts": {"name": "m", "version": "1", "kind": "model", "serializer": "bytes",
                  "relpath": "m/1.bin", "size": 0, "sha256": "0" * 64, "created_at": T0,
                  "updated_at": T0},
    "metrics": {"experiment_id": "e", "metric_name": "loss", "value": 0.5, "timestamp": T0,
                "created_at": T0},
    "events": {"timestamp": T0, "severity": "error", "event_type": "x", "message": "m"},
}
CHECK, JSON = "CheckViolation", "InvalidTextRepresentation"
REFUSED = [
    ("trades", {"price": "NaN"}, CHECK),
    ("trades", {"price": "Infinity"}, CHECK),
    ("trades", {"pnl": "-Infinity"}, CHECK),
    ("trades", {"price": "-1"}, CHECK),                   # no sign allowed on SQLite
    ("trades", {"price": "1" * 66}, CHECK),               # 66 characters > 65
    ("trades", {"timestamp": "infinity"}, CHECK),
    ("trades", {"pnl_given": 2}, CHECK),
    ("trades", {"metadata": "{not json"}, JSON),
    ("trades", {"kind": "GIFT"}, CHECK),
    ("candles", {"timestamp": "2024-01-01T00:03:00.000000Z"}, CHECK),   # not on 5 minutes
    ("candles", {"timestamp": "2024-01-01T00:05:00.500000Z", "timeframe": "1m"}, CHECK),
    ("candles", {"timeframe": "1w", "timestamp": "2024-01-02T00:00:00.000000Z"}, CHECK),
    ("candles", {"timeframe": "1M", "timestamp": "2024-02-02T00:00:00.000000Z"}, CHECK),
    ("candles", {"timeframe": "7m"}, CHECK),
    ("candles", {"high": "1.2"}, CHECK),                  # high below close 1.5
    ("candles", {"low": "1.01"}, CHECK),                  # low above open 1
    ("settings", {"value": "1.", "value_type": "decimal"}, CHECK),
    ("settings", {"value": "1-2", "value_type": "int"}, CHECK),
    ("settings", {"value": "yes", "value_type": "bool"}, CHECK),
    ("artifacts", {"relpath": "m/../x"}, CHECK),
    ("artifacts", {"relpath": "n/1.bin"}, CHECK),
    ("artifacts", {"name": ".m", "relpath": ".m/1.bin"}, CHECK),
    ("artifacts", {"sha256": "A" * 64}, CHECK),
    ("artifacts", {"metadata": "[]"}, CHECK),
    ("metrics", {"value": float("nan")}, CHECK),
    ("metrics", {"value": float("inf")}, CHECK),
    ("events", {"level": 40}, "GeneratedAlways"),         # 0014: computed from severity
    ("events", {"severity": "notice"}, CHECK),
]
ACCEPTED = [
    ("trades", {"price": "1.10", "quantity": "0.00000812", "pnl": "-0.5"}),
    ("trades", {"price": "1" * 65}),
    ("candles", {"timeframe": "1w", "timestamp": "2024-01-01T00:00:00.000000Z"}),  # a Monday
    ("candles", {"timeframe": "1M", "timestamp": "2024-02-01T00:00:00.000000Z"}),
    ("candles", {"timeframe": "3d", "timestamp": "1970-01-04T00:00:00.000000Z"}),
    ("candles", {"open": "-3", "high": "-1", "low": "-4", "close": "-2"}),  # below zero
    ("settings", {"value": "-.5", "value_type": "decimal"}),
    ("artifacts", {"name": "m", "relpath": "m/1.bin", "metadata": '{"a": 1}'}),
]


@pytest.fixture(scope="module")
def head(pg_server, pg_migrations):
    """A connection to a database at the head; each test rolls its rows back."""
    url = pg_server.create_database(f"head_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(url, autocommit=True) as conn:
        for migration in pg_migrations:
            apply(conn, migration.up)
        yield conn


def insert(conn, table: str, row: dict):
    from psycopg import sql
    names = list(row)
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING *").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(sql.Placeholder() * len(names)))
    cursor = conn.execute(statement, [row[name] for name in names])
    return dict(zip([d.name for d in cursor.description], cursor.fetchone()))


class _Undo(Exception):
    pass


@pytest.mark.parametrize("table,change,error", REFUSED,
                         ids=[f"{t}-{'-'.join(c)}-{e}" for t, c, e in REFUSED])
def test_refused(head, table, change, error):
    with pytest.raises(getattr(psycopg.errors, error)):
        with head.transaction():
            insert(head, table, {**VALID[table], **change})


@pytest.mark.parametrize("table,change", ACCEPTED)
def test_accepted_keeps_the_digits(head, table, change):
    with pytest.raises(_Undo):
        with head.transaction():
            row = insert(head, table, {**VALID[table], **change})
            for name, value in change.items():
                if isinstance(row[name], Decimal):
                    assert str(row[name]) == value  # "1.10" stays "1.10"
                elif isinstance(row[name], datetime):
                    assert row[name] == datetime.fromisoformat(value)
                else:
                    assert row[name] == value
            raise _Undo


# --- the views answer the same on both engines --------------------------------------------

def _position(account, symbol, side, pnl, fees, opened, closed, **more):
    return {"account": account, "symbol": symbol, "side": side, "quantity": "0",
            "entry_value": "0", "entry_fees": "0", "max_quantity": "1", "realized_pnl": pnl,
            "fees": fees, "trade_count": 2, "opened_at": opened, "closed_at": closed,
            "created_at": opened, "updated_at": closed or opened, **more}


POSITIONS = [
    _position("a", "BTC/USDT", "LONG", "12.50", "0.10", "2024-01-01T00:00:00.250000Z",
              "2024-01-01T00:01:30.000001Z", currency="USDT", strategy="trend",
              exchange="binance", entered_value="100.00", margin="0"),
    _position("a", "ETH/USDT", "SHORT", "-2.205", "0.05", "2024-01-02T10:00:00.000000Z",
              "2024-01-02T12:00:00.500000Z", currency="USDT", strategy="trend",
              exchange="kraken", entered_value="50", margin="10"),
    _position("a", "BTC/EUR", "LONG", "0.00", "0", "2024-01-03T00:00:00.000000Z",
              "2024-01-04T00:00:00.000000Z", currency="EUR", exchange="kraken",
              unvalued_fees='{"BNB":"0.01"}'),
    _position("b", "XYZ", "LONG", "1.10", "0.00000812", "2024-01-05T00:00:00.000000Z",
              "2024-01-05T00:00:01.000000Z", strategy="mean",
              unvalued_fees='{"BNB":"0.02","FTT":"1.5"}'),
    _position("a", "SOL/USDT", "LONG", "0", "0", "2024-01-06T00:00:00.000000Z", None,
              currency="USDT"),  # open: in no view
]
SNAPSHOTS = [
    {"account": "a", "timestamp": "2024-01-01T09:00:00.000000Z", "total_value": "100.00"},
    {"account": "a", "timestamp": "2024-01-01T18:00:00.000000Z", "total_value": "101.50"},
    {"account": "a", "timestamp": "2024-01-03T12:00:00.000000Z", "total_value": "99.9"},
    {"account": "b", "timestamp": "2024-01-05T00:00:00.000000Z", "total_value": "5"},
]
VIEW_KEYS = {
    "v_round_trips": "id",
    "v_trade_stats": "account, currency",
    "v_strategy_performance": "strategy, currency",
    "v_symbol_performance": "symbol, currency",
    "v_exchange_performance": "exchange, currency",
    "v_unvalued_fees": "account, currency, fee_currency",
    "v_daily_equity": "account, day",
}


def _same(sqlite_value, pg_value) -> bool:
    """Equal, and for money the same digits: SQLite's text against PostgreSQL's NUMERIC."""
    if isinstance(pg_value, Decimal):
        return isinstance(sqlite_value, (str, int)) and str(sqlite_value) == str(pg_value)
    if isinstance(pg_value, datetime):
        return datetime.fromisoformat(sqlite_value) == pg_value
    return type(sqlite_value) is type(pg_value) and sqlite_value == pg_value


def test_views_answer_the_same(head, tmp_path):
    path = tmp_path / "views.db"
    with TradeRepo(path):
        pass
    lite = sqlite3.connect(path, isolation_level=None)
    decimal_sql.register(lite)
    try:
        with pytest.raises(_Undo):
            with head.transaction():
                for table, rows in (("positions", POSITIONS), ("portfolio_snapshots", [
                        {**s, "created_at": s["timestamp"], "updated_at": s["timestamp"]}
                        for s in SNAPSHOTS])):
                    for row in rows:
                        insert(head, table, row)
                        lite.execute(f"INSERT INTO {table} ({', '.join(row)}) "
                                     f"VALUES ({', '.join('?' * len(row))})", list(row.values()))
                for view, key in VIEW_KEYS.items():
                    query = f"SELECT * FROM {view} ORDER BY {key}"
                    sqlite_rows = lite.execute(query).fetchall()
                    pg_cursor = head.execute(query)
                    pg_rows = pg_cursor.fetchall()
                    assert len(sqlite_rows) == len(pg_rows) > 0, view
                    names = [d.name for d in pg_cursor.description]
                    for lite_row, pg_row in zip(sqlite_rows, pg_rows):
                        for name, a, b in zip(names, lite_row, pg_row):
                            assert _same(a, b), (view, name, a, b)
                # worked by hand: 90 whole seconds, then (1 - 250000) microseconds
                (held,), = head.execute("SELECT holding_seconds FROM v_round_trips "
                                        "WHERE symbol = 'BTC/USDT'")
                assert held == 90 + (1 - 250000) / 1000000.0
                # the last value of each day; 2024-01-02 has none and carries 101.50
                assert head.execute("SELECT day, total_value::text FROM v_daily_equity "
                                    "WHERE account = 'a' ORDER BY day").fetchall() == [
                    ("2024-01-01", "101.50"), ("2024-01-02", "101.50"), ("2024-01-03", "99.9")]
                # a: 12.50 + (-2.205) in USDT; 0.00 in EUR is a break-even
                assert head.execute(
                    "SELECT currency, total_trades, winning_trades, losing_trades, "
                    "net_pnl::text, gross_profit::text, gross_loss::text FROM v_trade_stats "
                    "WHERE account = 'a' ORDER BY currency").fetchall() == [
                    ("EUR", 1, 0, 0, "0.00", "0", "0"),
                    ("USDT", 2, 1, 1, "10.295", "12.50", "-2.205")]
                raise _Undo
    finally:
        lite.close()


@settings(max_examples=40, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=None)
       .filter(lambda d: len(format(d, "f")) <= 65 and not (d == 0 and d.is_signed())))
def test_money_keeps_every_digit(head, amount):
    """Any finite amount that the SQLite checks take comes back with the same digits
    (negative zero excepted: NUMERIC has none, see docs/postgres-schema-notes.md)."""
    with pytest.raises(_Undo):
        with head.transaction():
            row = insert(head, "trades", {**VALID["trades"], "pnl": amount})
            assert format(row["pnl"], "f") == format(amount, "f")
            (text,), = head.execute("SELECT pnl::text FROM trades WHERE id = %s", (row["id"],))
            assert text == format(amount, "f")
            raise _Undo


def _down_to(conn, migrations, version: int) -> None:
    for migration in reversed(migrations[version:]):
        apply(conn, migration.down)


@pytest.mark.parametrize("version,table,rows,error", [
    # 0012 down: schema 11 has no 3m candles, nor two parameter sets at one time
    (11, "candles", [{"timeframe": "3m", "timestamp": "2024-01-01T00:03:00.000000Z"}],
     "CheckViolation"),
    (11, "indicators", [{"parameters": '{"period":14}'}, {"parameters": '{"period":21}'}],
     "UniqueViolation"),
    # 0008 down: schema 7 cannot hold two venues' open positions of one account and symbol
    (7, "positions", [{"exchange": "binance"}, {"exchange": "kraken"}], "UniqueViolation"),
])
def test_down_refuses_what_the_older_schema_cannot_hold(head, pg_migrations, version, table,
                                                        rows, error):
    base = {"candles": VALID["candles"],
            "indicators": {"exchange": "x", "symbol": "BTC/USDT", "timeframe": "1h",
                           "name": "rsi", "timestamp": T0, "field": "", "value": "55.5",
                           "computed_at": T0},
            "positions": {**_position("a", "BTC/USDT", "LONG", "0", "0", T0, None),
                          "quantity": "1"}}[table]
    with pytest.raises(getattr(psycopg.errors, error)):
        with head.transaction():
            for row in rows:
                insert(head, table, {**base, **row})
            _down_to(head, pg_migrations, version)
    # rolled back: still at the head, the rows gone
    assert head.execute("SELECT count(*) FROM indicators").fetchone() == (0,)
    assert head.execute("SELECT to_regclass('funding_payments') IS NOT NULL").fetchone() == (True,)


def test_down_keeps_rows_it_can_hold(head, pg_migrations):
    """A 5m candle and one parameter set go down to schema 11 and keep their values."""
    with pytest.raises(_Undo):
        with head.transaction():
            insert(head, "candles", VALID["candles"])
            _down_to(head, pg_migrations, 11)
            assert head.execute("SELECT timeframe, close::text FROM candles").fetchall() == [
                ("5m", "1.5")]
            raise _Undo


def test_0013_names_the_row_it_refuses(head, pg_migrations):
    """At version 12 an event whose level is not its severity's number stops 0013 with a
    message naming table, column, row and value; the step changes nothing."""
    assert pg_migrations[12].filename == "0013_schema_discipline.sql"
    with pytest.raises(_Undo):
        with head.transaction():
            _down_to(head, pg_migrations, 12)
            row = insert(head, "events", {**VALID["events"], "level": 20})
            with pytest.raises(psycopg.errors.InvalidTextRepresentation,
                               match=f"schema 13 refuses events.level of row {row['id']} = 20: "
                                     'not the number of its severity "error"'):
                apply(head, pg_migrations[12].up)
            assert head.execute("SELECT count(*) FROM pg_constraint "
                                "WHERE conname = 'events_level_is_severity'").fetchone() == (0,)
            raise _Undo
