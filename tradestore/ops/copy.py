"""Copy a whole store into another, on either engine (``tradestore copy SRC DEST``).

A generic walk over every record table (like ``ops/export``, not through each table's
owner: a whole-store copy moves rows as stored, it decides nothing about them). Ids
are kept, so fills still point at their orders and positions, and the copy is
verified: DEST's row count and checksum of every table must equal SOURCE's, or
nothing is written. One transaction on DEST; SOURCE is read in one snapshot.

Idempotent: a DEST that already holds exactly SOURCE's rows is left alone; a DEST
holding anything else than what a new store is created with (the default account, as
seeded: compared row by row, stamps aside) is refused, never overwritten. A DEST behind
SOURCE's schema is judged read-only first (``judge_destination``): one holding data is
refused unmigrated. The store's own tables (identity, schema log) stay DEST's: a copy is
another store, not a backup of this one.

Checksum of a table: the sum modulo 2**256 of the SHA-256 of every row's canonical
text (each value as stored: money and quantities as their exact digits, times as
``YYYY-MM-DDTHH:MM:SS.ffffffZ``, integers in decimal, floats by ``repr``, NULL as
``\\N``; values joined by a tab). A sum does not depend on row order, so neither
engine's sort order (its collation) changes it; a changed, missing or extra row does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from tradestore._core.codec import to_path
from tradestore._core.db import Database
from tradestore._core.files import is_sqlite_file, refuse_store_target
from tradestore._core.migrate import (NOT_RECORD_ROWS, NOT_RECORD_TABLES, load_migrations,
                                      split_statements, table_names)
from tradestore._core.pg import per_engine
from tradestore._core.url import SQLITE, Target, sqlite_path
from tradestore.errors import ConflictError, DatabaseError, StoreError

FETCH_ROWS = 1000  # rows read and inserted at once
MODULUS = 2 ** 256
STAMPS = frozenset({"created_at", "updated_at"})  # differ between any two new stores

# (child table, parent table) of every foreign key: parents are filled first
FOREIGN_KEYS = per_engine(
    "SELECT m.name, f.\"table\" FROM sqlite_master AS m, pragma_foreign_key_list(m.name) AS f "
    "WHERE m.type = 'table'",
    "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
    "WHERE contype = 'f' AND connamespace = 'public'::regnamespace")
# A table's generated columns (events.level from schema 14): computed by DEST, never
# inserted (SQLite: table_xinfo's hidden 2 VIRTUAL, 3 STORED)
GENERATED_COLUMNS = per_engine(
    "SELECT name FROM pragma_table_xinfo(?) WHERE hidden IN (2, 3)",
    "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
    "AND table_name = ? AND is_generated = 'ALWAYS'")
# PostgreSQL: ids inserted as given do not move an identity's sequence; the next insert
# must draw above them (SQLite's INTEGER PRIMARY KEY takes max(id) + 1 by itself)
MOVE_SEQUENCE = "SELECT setval(pg_get_serial_sequence(?, 'id'), max(id)) FROM {table}"


@dataclass(frozen=True)
class TableSum:
    """What a table holds. Attributes: rows: its row count; checksum: hex, see above."""

    rows: int
    checksum: str


@dataclass(frozen=True)
class CopyResult:
    """What ``copy_store`` did.

    Attributes:
      source, dest: the stores as messages show them (passwords masked).
      version: the schema version of both.
      tables: {table: TableSum}, equal on both ends (verified).
      copied: False when DEST already held exactly SOURCE's rows (nothing written).
    """

    source: str
    dest: str
    version: int
    tables: dict[str, TableSum]
    copied: bool


def quoted(name: str) -> str:
    return '"{}"'.format(name.replace('"', '""'))


def canonical(value: Any) -> str:
    """One stored value as text, the same from either engine."""
    if value is None:
        return "\\N"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def row_hash(row: Iterable[Any]) -> int:
    text = "\t".join(canonical(v) for v in row)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest(), "big")


def _columns(conn: Any, table: str) -> list[str]:
    cursor = conn.execute(f"SELECT * FROM {quoted(table)} LIMIT 0")
    names = [d[0] for d in cursor.description]
    cursor.close()
    return names


def _select(table: str, columns: list[str]) -> str:
    order = " ORDER BY id" if "id" in columns else ""
    return f"SELECT {', '.join(map(quoted, columns))} FROM {quoted(table)}{order}"


def _rows(conn: Any, sql: str) -> Iterator[list[Any]]:
    """Batches of rows from one cursor (a server-side one on PostgreSQL, so a large
    table is never held whole in memory)."""
    named = getattr(conn, "pgconn", None) is not None
    cursor = conn.cursor(name="tradestore_copy") if named else conn.cursor()
    try:
        cursor.execute(sql)
        while True:
            batch = cursor.fetchmany(FETCH_ROWS)
            if not batch:
                return
            yield batch
    finally:
        cursor.close()


def table_sum(conn: Any, table: str, columns: list[str]) -> TableSum:
    count, total = 0, 0
    for batch in _rows(conn, _select(table, columns)):
        count += len(batch)
        total = (total + sum(row_hash(row) for row in batch)) % MODULUS
    return TableSum(count, f"{total:064x}")


def record_tables(conn: Any) -> list[str]:
    return [name for name in table_names(conn) if name not in NOT_RECORD_TABLES]


def parents_first(conn: Any, tables: list[str]) -> list[str]:
    """``tables`` ordered so that a table comes after every table its foreign keys name."""
    parents: dict[str, set[str]] = {name: set() for name in tables}
    for child, parent in conn.execute(FOREIGN_KEYS).fetchall():
        if child in parents and parent in parents and parent != child:
            parents[child].add(parent)
    ordered: list[str] = []
    while parents:
        ready = sorted(name for name, needs in parents.items() if not needs - set(ordered))
        if not ready:
            raise DatabaseError(f"foreign keys form a cycle among {sorted(parents)}")
        ordered += ready
        for name in ready:
            del parents[name]
    return ordered


def check_destination(source: Target, dest: Target) -> None:
    """The store guard (tradestore._core.files) for a SQLite DEST, before it is opened:
    never SOURCE's file or a journal beside a database, never a file that is not a
    database. An existing store is opened and judged by ``copy_store``. A SQLite
    location that is no file name ("", NUL, ...) is refused for either."""
    for name, target in (("source", source), ("dest", dest)):
        if target.engine == SQLITE:
            to_path(target.location, name)
    path = sqlite_path(dest)
    if path is None:
        return
    src = sqlite_path(source)
    if src is not None and path.resolve() == Path(src).resolve():
        raise ConflictError(f"{dest.shown}: is the source store itself; copy into another "
                            "file or database")
    if is_sqlite_file(path):
        return
    if path.exists() and (not path.is_file() or path.stat().st_size > 0):
        raise ConflictError(f"{dest.shown}: exists and is not a SQLite database; refusing to "
                            "write into it (choose a new file)")
    refuse_store_target(path, src)


def judge_destination(dest: Any, source: Any) -> None:
    """Refuse a DEST behind SOURCE's schema that holds more than a new store, before
    anything is written to it (``dest`` opened read-only, unmigrated: opening it
    writable would migrate it and log an event, and the copy would then refuse it)."""
    version = dest.current_version
    if not 0 < version < source.current_version:
        return  # new and empty, or at SOURCE's version: copy_store judges it
    with dest.db.reading() as conn:
        new = is_new_store(conn, fresh_rows(version))
    if not new:
        raise ConflictError(f"{dest.path}: schema version {version}, behind the source "
                            f"{source.path} ({source.current_version}), and it holds data of "
                            "its own; refusing to migrate it or copy into it: copy into a new "
                            "file or an empty database")


def copy_store(source: Any, dest: Any) -> CopyResult:
    """Copy every record table of ``source`` into ``dest`` (two open stores, any
    engines, at the same schema version), ids kept, verified; see the module's
    docstring. Returns what both now hold."""
    version = source.current_version
    if dest.current_version != version:
        raise ConflictError(f"{dest.path}: schema version {dest.current_version}, the source "
                            f"{source.path} is at {version}; migrate both to the same "
                            "version first ('tradestore migrate')")
    fresh = fresh_rows(version)  # what a new store holds (the default account)
    copying: list[str] = []  # the table being copied, named when DEST refuses a row
    try:
        with source.db.reading() as src:
            tables = record_tables(src)
            columns = {name: _columns(src, name) for name in tables}
            with dest.db.transaction() as dst:
                counts = _counts(dst, tables, source, dest)
                if not is_new_store(dst, fresh):
                    seeded = {name: len(rows) for name, (_, rows) in fresh.items()}
                    held = _already_copied(src, dst, columns, counts, seeded, source, dest)
                    return CopyResult(source.path, dest.path, version, held, False)
                for name in tables:
                    if counts[name]:  # the rows a new store is made with: SOURCE's replace them
                        dst.execute(f"DELETE FROM {quoted(name)}")
                wanted = {}
                for name in parents_first(dst, tables):
                    copying[:] = [name]
                    wanted[name] = _copy_table(src, dst, name, columns[name], dest.db.engine)
                copying.clear()
                _verify(dst, columns, wanted, dest)
    except StoreError as exc:
        if not copying:
            raise
        raise in_table(exc, dest.path, copying[0]) from exc
    return CopyResult(source.path, dest.path, version, dict(sorted(wanted.items())), True)


def in_table(exc: StoreError, dest: str, table: str) -> StoreError:
    """``exc`` again, its message saying which table of DEST refused and that nothing was
    copied; its attributes (a ValidationError's field and value) kept."""
    wrapped = type(exc)(f"{dest}: table {table} could not be copied, so nothing was: {exc}")
    wrapped.__dict__.update(exc.__dict__)
    return wrapped


def fresh_rows(version: int) -> dict[str, tuple[list[str], list[str]]]:
    """What a new store at ``version`` holds: {table: (columns, rows)} of its non-empty
    record tables, stamps left out, rows as canonical text, sorted. (PostgreSQL's
    schema files seed the same rows as SQLite's: tests/test_pg_schema.py.)"""
    scratch = Database(":memory:")
    try:
        with scratch.transaction() as conn:
            for migration in load_migrations()[:version]:
                for statement in split_statements(migration.up):
                    conn.execute(statement)
            fresh = {}
            for name in record_tables(conn):
                cols = [c for c in _columns(conn, name) if c not in STAMPS]
                rows = _record_rows(conn, name, cols, None)
                if rows:
                    fresh[name] = (cols, rows)
            return fresh
    finally:
        scratch.close()


def is_new_store(conn: Any, fresh: dict[str, tuple[list[str], list[str]]]) -> bool:
    """True when the store holds exactly what a new one does (``fresh_rows``): the same
    seeded rows, stamps and store identity aside, and nothing else (a renamed or
    edited default account is data). Reads at most one row more than a new store has."""
    for name in record_tables(conn):
        cols, rows = fresh.get(name, (None, []))
        own = [c for c in _columns(conn, name) if c not in STAMPS]
        if cols is not None and sorted(own) != sorted(cols):
            return False
        if _record_rows(conn, name, cols or own, len(rows) + 1) != rows:
            return False
    return True


def _record_rows(conn: Any, table: str, columns: list[str], limit: int | None) -> list[str]:
    """Up to ``limit`` of a table's record rows (NOT_RECORD_ROWS left out: a migration's
    own event) as canonical text, sorted."""
    where = f" WHERE NOT ({NOT_RECORD_ROWS[table]})" if table in NOT_RECORD_ROWS else ""
    select = f"SELECT {', '.join(map(quoted, columns))} FROM {quoted(table)}{where}"
    cursor = conn.execute(select)
    rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
    cursor.close()
    return sorted("\t".join(canonical(v) for v in row) for row in rows)


def _counts(dst: Any, tables: list[str], source: Any, dest: Any) -> dict[str, int]:
    """DEST's rows per table of SOURCE (a table DEST lacks is a ConflictError)."""
    missing = sorted(set(tables) - set(record_tables(dst)))
    if missing:
        raise ConflictError(f"{dest.path}: has no table {', '.join(missing)} (a table of "
                            f"{source.path}); nothing was copied")
    return {name: dst.execute(f"SELECT count(*) FROM {quoted(name)}").fetchone()[0]
            for name in tables}


def _already_copied(src: Any, dst: Any, columns: dict[str, list[str]], counts: dict[str, int],
                    seeded: dict[str, int], source: Any, dest: Any) -> dict[str, TableSum]:
    """What a DEST holding rows of its own holds, when that is exactly SOURCE's rows;
    else a ConflictError naming the tables that differ (DEST's own rows first)."""
    wanted = {name: table_sum(src, name, cols) for name, cols in columns.items()}
    held = {name: table_sum(dst, name, cols) for name, cols in columns.items()}
    if held == wanted:
        return wanted
    differ = [name for name in columns if held[name] != wanted[name]]
    differ.sort(key=lambda name: counts[name] <= seeded.get(name, 0))
    own = [f"{name} ({counts[name]:,} rows, source {wanted[name].rows:,})" for name in differ]
    raise ConflictError(f"{dest.path}: already holds other data than {source.path} ("
                        f"{', '.join(own[:5])}{' ...' if len(own) > 5 else ''}); refusing to "
                        "overwrite it: copy into a new file or an empty database")


def _verify(dst: Any, columns: dict[str, list[str]], wanted: dict[str, TableSum],
            dest: Any) -> None:
    """DEST reads back, table by table, the count and checksum SOURCE gave."""
    for name, cols in columns.items():
        held = table_sum(dst, name, cols)
        if held != wanted[name]:
            raise DatabaseError(
                f"{dest.path}: table {name} does not read back as copied ({held.rows:,} rows, "
                f"checksum {held.checksum[:12]}; source {wanted[name].rows:,} rows, checksum "
                f"{wanted[name].checksum[:12]}); nothing was copied")


def _copy_table(src: Any, dst: Any, table: str, columns: list[str], engine: str) -> TableSum:
    """Insert SOURCE's rows of ``table`` into DEST as they are; their TableSum. A
    generated column is not inserted (DEST computes it from the row and accepts no value
    for it) but counts in the checksum, so the verification reads back what DEST made."""
    generated = {row[0] for row in dst.execute(GENERATED_COLUMNS, (table,)).fetchall()}
    stored = [i for i, name in enumerate(columns) if name not in generated]
    insert = (f"INSERT INTO {quoted(table)} ({', '.join(quoted(columns[i]) for i in stored)}) "
              f"VALUES ({', '.join('?' for _ in stored)})")
    count, total = 0, 0
    for batch in _rows(src, _select(table, columns)):
        dst.executemany(insert, batch if not generated else
                        [[row[i] for i in stored] for row in batch])
        count += len(batch)
        total = (total + sum(row_hash(row) for row in batch)) % MODULUS
    if engine != SQLITE and "id" in columns:
        dst.execute(MOVE_SEQUENCE.format(table=quoted(table)), (table,))
    return TableSum(count, f"{total:064x}")
