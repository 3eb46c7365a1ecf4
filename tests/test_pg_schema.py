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
from decimal import Decimal
from pathlib import Path

import pytest

from tests.pg_server import pg_server  # noqa: F401  (fixture)
from tradestore import TradeRepo
from tradestore._core import decimal_sql
from tradestore._core.migrate import load_migrations

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
    "routines": """SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid) FROM pg_proc p
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
    """One file's block in one transaction (DDL is transactional on PostgreSQL)."""
    with conn.transaction():
        conn.execute(sql)


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
            info = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
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
