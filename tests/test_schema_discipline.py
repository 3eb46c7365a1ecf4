"""Schema discipline (issue 18.6): every money, time and order-status column of the live
schema carries its canonical CHECK, and an event's level is computed from its severity
(schema 14: a generated column; schema 13 only CHECKed that the two agreed).

Columns are found by name (the conventions of ARCHITECTURE.md), not by the CHECKs they
already have, so a column that lacks its CHECK is found. Each CHECK is proved by storing
bad values in a store with rows in every table (as a hand edit in the sqlite3 shell
would) and expecting SQLite to refuse each with a CHECK failure that names the column.
The same search over a schema-12 store finds the five gaps schema 13 closed.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess

import pytest

from conftest import file_rows
from test_migrations_data import HEAD, build_at
from tradestore import MigrationError, TradeData, TradeRepo

# A time: `timestamp`, a name ending in `_at`, or an instrument's `expiry`.
TIME_NAMES = re.compile(r"^(timestamp|expiry|\w+_at)$")
# Money, quantities and prices: the name, or its last word after '_', is one of these.
MONEY_WORDS = frozenset({"quantity", "price", "fees", "value", "amount", "cash", "pnl", "volume",
                         "open", "high", "low", "close", "size", "leverage", "margin", "funding",
                         "commission"})
STATUS_NAMES = re.compile(r"^(\w+_)?status$")  # an order's status, wherever it is kept

# Columns whose names say money or time but are deliberately not held to that CHECK.
EXCEPTIONS = {
    # byte counts of a file, INTEGER
    ("bot_states", "size"): "a payload's length in bytes (INTEGER)",
    ("artifacts", "size"): "a file's length in bytes (INTEGER)",
    # text in the form its value_type names; a 'decimal' setting is held to the decimal
    # CHECK by a table CHECK (value_type <> 'decimal' OR ...)
    ("settings", "value"): "typed text (str, int, float, bool, decimal, json)",
    ("store_meta", "value"): "the store's own facts (its identity), free text",
    # a training metric is a float by design (REAL; NaN and infinities refused)
    ("metrics", "value"): "a training metric, REAL",
    # {currency: amount} as a JSON object (json_valid and object CHECKed); a CHECK cannot
    # read inside it, the library writes each amount with dec_in
    ("positions", "unvalued_fees"): "a JSON object of amounts per currency",
    # the migrator's own log, made by tradestore/_core/migrate.py (CREATE_HISTORY), not by a
    # numbered schema file; NULL for steps from before the log, else 27 characters
    # 'YYYY-MM-DDT...Z' as ts_in writes them
    ("schema_history", "applied_at"): "the migrator's log, looser shape CHECK",
}

TIME_BAD = ["2024-01-02 03:04:05", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000000",
            "2024-01-02T03:04:05.000000+00:00", "2024-01-02T03:04:05.000Z", "1704164645",
            "2024-01-02", "", "soon"]
MONEY_BAD = ["1e3", "1.5E-7", "abc", "NaN", "Infinity", "1,5", "+1", "1.", "1..2", " 1", "",
             "0x10", "1" * 66]
STATUS_BAD = ["DONE", "filled", "", "CANCELED"]
STATUSES = ("PENDING", "OPEN", "PARTIALLY_FILLED", "FILLED", "CANCELLED", "REJECTED", "EXPIRED")
TIME_GOOD = "2024-01-01T00:00:00.000000Z"  # also a candle open of every timeframe but 3d


def kind_of(name: str) -> str | None:
    """'time', 'money', 'status' or None, from the column's name alone."""
    if TIME_NAMES.match(name):
        return "time"
    if name in MONEY_WORDS or name.rsplit("_", 1)[-1] in MONEY_WORDS:
        return "money"
    if STATUS_NAMES.match(name):
        return "status"
    return None


def columns(conn) -> list[tuple[str, str, str, int]]:
    """(table, column, declared type, hidden) of every column of every table."""
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                         "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return [(t, r[1], r[2].upper(), r[6])
            for t in tables for r in conn.execute(f'PRAGMA table_xinfo("{t}")')]


def refusal(conn, table: str, column: str, value) -> str | None:
    """The CHECK failure storing ``value`` in every row of table.column causes (None when
    it is stored). Nothing stays: the change is rolled back."""
    conn.execute("SAVEPOINT probe")
    try:
        conn.execute(f'UPDATE "{table}" SET "{column}" = ?', (value,))
        return None
    except sqlite3.IntegrityError as exc:
        return str(exc)
    finally:
        conn.execute("ROLLBACK TO probe")
        conn.execute("RELEASE probe")


BAD = {"time": TIME_BAD, "money": MONEY_BAD, "status": STATUS_BAD}


def gaps(path) -> dict[tuple[str, str], str]:
    """{(table, column): what is wrong} over the store at ``path``."""
    found = {}
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for table, column, declared, hidden in columns(conn):
            kind = kind_of(column)
            if kind is None or (table, column) in EXCEPTIONS:
                continue
            if declared != "TEXT" or hidden:
                found[table, column] = f"is {declared or 'untyped'}{' generated' if hidden else ''}"
                continue
            if not conn.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone():
                found[table, column] = "no row to test it on: add a filler in test_migrations_data.py"
                continue
            for value in BAD[kind]:
                why = refusal(conn, table, column, value)
                if why is None:
                    found[table, column] = f"stores {value!r} (no {kind} CHECK)"
                    break
                if "CHECK constraint failed" not in why or column not in why:
                    found[table, column] = f"{value!r} refused by another rule: {why}"
                    break
    finally:
        conn.close()
    return found


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store at the newest schema with rows in every table."""
    path = tmp_path_factory.mktemp("discipline") / "all.db"
    build_at(path, HEAD)
    return path


def test_every_money_time_and_status_column_refuses_what_the_codec_never_writes(store):
    assert gaps(store) == {}


def test_the_search_finds_columns_and_proves_with_real_rows(store):
    """Not vacuous: the name rules reach the columns they are meant for, and the good
    forms are stored (a CHECK that refused everything would pass the bad values too)."""
    conn = sqlite3.connect(store, isolation_level=None)
    try:
        kinds = {(t, c): kind_of(c) for t, c, _, _ in columns(conn)}
        for expected, kind in [(("positions", "created_at"), "time"),
                               (("trades", "created_at"), "time"),
                               (("instruments", "expiry"), "time"),
                               (("candles", "quote_volume"), "money"),
                               (("trades", "fee_value"), "money"),
                               (("positions", "round_trip_entry_price"), "money"),
                               (("order_status_history", "from_status"), "status"),
                               (("orders", "status"), "status")]:
            assert kinds[expected] == kind, expected
        assert kinds["trades", "fee_currency"] is None and kinds["positions", "closed_by"] is None
        assert sum(k == "money" for k in kinds.values()) >= 55  # at schema 13
        assert sum(k == "time" for k in kinds.values()) >= 44
        for table, column, good in [("positions", "created_at", TIME_GOOD),
                                    ("trades", "created_at", TIME_GOOD),
                                    ("positions", "updated_at", TIME_GOOD),
                                    ("trades", "fees", "0.00000812"),
                                    ("positions", "realized_pnl", "-12.5"),
                                    *[("order_status_history", "to_status", s) for s in STATUSES],
                                    ("order_status_history", "from_status", None)]:
            assert refusal(conn, table, column, good) is None, (table, column, good)
    finally:
        conn.close()


def test_every_column_with_a_canonical_check_is_found_by_name(store):
    """The name rules keep up: a column that already has the decimal or time CHECK but a
    name they do not know (a new word) is reported, so that its word gets added."""
    conn = sqlite3.connect(store)
    try:
        schema = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                              "AND name NOT LIKE 'sqlite_%'").fetchall()
    finally:
        conn.close()
    checked = {(table, column) for table, sql in schema for column in
               re.findall(r"typeof\((\w+)\) = 'text'", sql)
               + re.findall(r"(\w+) GLOB\s+'\[0-9\]\[0-9\]\[0-9\]\[0-9\]-", sql)}
    assert len(checked) >= 90
    assert [c for c in sorted(checked) if kind_of(c[1]) is None] == []


def test_every_exception_names_a_column_that_exists(store):
    conn = sqlite3.connect(store)
    try:
        present = {(t, c) for t, c, _, _ in columns(conn)}
    finally:
        conn.close()
    assert set(EXCEPTIONS) <= present
    assert all(kind_of(column) for _, column in EXCEPTIONS)  # else it needs no exception


def test_schema_12_had_the_gaps_that_13_closes(tmp_path):
    """The same search over the schema before this step finds exactly issue 18's gaps."""
    path = tmp_path / "v12.db"
    build_at(path, 12)
    found = gaps(path)
    assert sorted(found) == [("order_status_history", "from_status"),
                             ("order_status_history", "to_status"),
                             ("positions", "created_at"), ("positions", "updated_at"),
                             ("trades", "created_at")]
    assert found["positions", "created_at"] == "stores '2024-01-02 03:04:05' (no time CHECK)"
    assert found["order_status_history", "to_status"] == "stores 'DONE' (no status CHECK)"


# ------------------------------------------------------------ events: severity, once

LEVELS = [("debug", 10), ("info", 20), ("warning", 30), ("error", 40), ("critical", 50)]


def test_level_is_generated_from_the_severity(memory_repo, db_path, sqlite3_bin):
    """Schema 14: severity is the one fact, level its number (logging's: DEBUG 10 ...
    CRITICAL 50) computed by SQLite. The API cannot write level (EventLog.log takes no
    such argument); SQL that names it is refused, naming the column, and a hand edit of
    the severity moves the level with it."""
    for severity, _ in LEVELS:
        memory_repo.events.log("probe", severity, severity=severity)
    assert memory_repo.db.query("SELECT severity, level FROM events ORDER BY id") == LEVELS
    conn = memory_repo.db.conn
    with pytest.raises(sqlite3.OperationalError, match='cannot UPDATE generated column "level"'):
        conn.execute("UPDATE events SET level = 40 WHERE message = 'debug'")
    with pytest.raises(sqlite3.OperationalError, match='cannot INSERT into generated column "level"'):
        conn.execute("INSERT INTO events (timestamp, severity, level, event_type, message) "
                     "VALUES (?, 'info', 20, 'probe', 'x')", (TIME_GOOD,))
    conn.execute("UPDATE events SET severity = 'error' WHERE message = 'debug'")
    assert memory_repo.db.scalar("SELECT level FROM events WHERE message = 'debug'") == 40
    assert [e.message for e in memory_repo.events.recent(severity="error")] == \
        ["critical", "error", "debug"]  # newest first, read through events_by_level_time
    # the sqlite3 shell opens a schema-14 store, reads level and refuses to write it
    TradeRepo(db_path).close()
    shell = subprocess.run(
        [sqlite3_bin, str(db_path), "INSERT INTO events (timestamp, severity, event_type, message) "
         f"VALUES ('{TIME_GOOD}', 'warning', 'shell', 'x'); SELECT severity, level FROM events; "
         f"INSERT INTO events (timestamp, severity, level, event_type, message) "
         f"VALUES ('{TIME_GOOD}', 'info', 20, 'shell', 'y');"],
        capture_output=True, text=True, timeout=60)
    assert shell.stdout == "warning|30\n"
    assert 'cannot INSERT into generated column "level"' in shell.stderr


def _schema_of_events(path) -> list[tuple]:
    return file_rows(path, "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'events' "
                           "ORDER BY type, name")


def test_down_to_13_gives_back_0013s_table_exactly(tmp_path):
    """14's down block makes events as 0013 did: the same text (level stored, CHECKed to be
    its severity's number) and indexes, so down and up again leave the schema as it was.
    (The rows across 14 -> 13 -> 14, on both engines: tests/test_events.py.)"""
    path, at_13 = tmp_path / "t.db", tmp_path / "v13.db"
    build_at(at_13, 13)
    with TradeRepo(path) as repo:
        repo.events.log("probe", "a warning", severity="warning")
        repo.migrate(13)
        assert _schema_of_events(path) == _schema_of_events(at_13)
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed: level = CASE"):
            repo.db.conn.execute("UPDATE events SET level = 40 WHERE message = 'a warning'")


def _at_12(path) -> None:
    """A store at schema 12: event 1 a warning, order 1 with its status history."""
    with TradeRepo(path) as repo:
        repo.events.log("x", "first", severity="warning")
        repo.orders.create("BTC/USDT", "BUY", "LIMIT", 1, price="100")
        repo.migrate(12)


@pytest.mark.parametrize("table, column, value, refused", [
    ("order_status_history", "to_status", "DONE", 'order_status_history.to_status of row 1 = '
     '"DONE": not an order status'),
    ("order_status_history", "from_status", "new", 'order_status_history.from_status of row 1 = '
     '"new": not an order status'),
    ("events", "level", 50, 'events.level of row 1 = 50: not the number of its severity '
     '"warning"'),
])
def test_upgrade_refuses_a_row_a_new_check_would_refuse_naming_it(tmp_path, table, column, value,
                                                                  refused):
    path = tmp_path / "t.db"
    _at_12(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"UPDATE {table} SET {column} = ? WHERE id = 1", (value,))  # a hand edit
    conn.close()
    with pytest.raises(MigrationError) as info:
        TradeRepo(path)
    assert f"schema 13 refuses {refused}" in str(info.value)
    assert "0013_schema_discipline.sql (up)" in str(info.value)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 12  # nothing changed
    assert conn.execute(f"SELECT {column} FROM {table} WHERE id = 1").fetchone() == (value,)
    fixed = 30 if column == "level" else "PENDING"
    conn.execute(f"UPDATE {table} SET {column} = ? WHERE id = 1", (fixed,))  # corrected
    conn.commit()
    conn.close()
    with TradeRepo(path) as repo:
        assert repo.current_version == HEAD and repo.check() == []


def test_upgrade_refuses_a_time_that_is_not_canonical(tmp_path):
    path = tmp_path / "t.db"
    with TradeRepo(path) as repo:
        repo.save_trade(TradeData("BTC/USDT", "BUY", "1", "100"))
        repo.migrate(12)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE trades SET created_at = datetime('now')")  # the shell's own form
    conn.close()
    with pytest.raises(MigrationError, match=r"schema 13 refuses trades\.created_at of row 1 = "
                                             r'"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d": not a UTC time'):
        TradeRepo(path)
