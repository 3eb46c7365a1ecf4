"""Find damage: CHECK-enforced integrity and stored values that do not decode.

SQLite does not load a table's CHECK constraints when it opens a database
read-only (they could never fire), so ``PRAGMA integrity_check`` on a read-only
connection silently passes a money value hand-edited to ``12x.5``.
``checked_connection`` therefore gives the check a writable connection to the
same file (it only reads), or, where the file cannot be opened for writing, an
in-memory copy of it.

``value_problems`` reads every money, time and JSON column of every table and
decodes each value the way the library does; each failure is one line naming
table, column and row. Column kinds come from the schema itself (the CHECK
patterns, and ``*_at``/``timestamp`` names), so tables added later are covered.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import itertools
import json
import os
import re
import sqlite3
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterator, Sequence

from tradestore._core import decimal_sql
from tradestore._core.codec import TIMESTAMP_WIDTH
from tradestore._core.db import connect, translated
from tradestore._core.hints import Connection, Engine
from tradestore.errors import DatabaseError, StoreError

TABLES = "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' " \
         "ORDER BY name"
MONEY_MARK = "NOT GLOB '*.*.*'"          # every money CHECK forbids two dots
TIME_MARK = "[0-9][0-9][0-9][0-9]-[01][0-9]"
JSON_MARK = "json_valid("
SHOWN = 40  # characters of a bad value shown in a problem line
MAX_LOCATE = 1000  # bad values looked at to explain one failed call


@contextlib.contextmanager
def checked_connection(db: Engine) -> Iterator[Connection]:
    """A connection to ``db``'s file whose CHECK constraints are loaded: the store's own
    when it is writable, else a private read-write one, else an in-memory copy."""
    if not db.readonly:
        with db.lock:
            yield db._connection()
        return
    conn: sqlite3.Connection | None = None
    real = Path(db.path).resolve()
    # SQLite silently opens a file it cannot write read-only, CHECKs unloaded: ask first
    if real.is_file() and os.access(real, os.W_OK) and os.access(real.parent, os.W_OK):
        with contextlib.suppress(StoreError, sqlite3.Error):
            conn = connect(db.path, readonly=False, busy_timeout=db.busy_timeout)
            conn.execute("PRAGMA query_only = ON")
    if conn is None:  # read-only file or folder: check a private copy in memory
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        decimal_sql.register(conn)
        with db.lock, translated(db.path):
            db._connection().backup(conn)
    try:
        yield conn
    finally:
        conn.close()


def integrity_problems(conn: Connection, path: str) -> list[str]:
    with translated(path):
        return [row[0] for row in conn.execute("PRAGMA integrity_check") if row[0] != "ok"]


def _split_columns(sql: str) -> list[str]:
    """The column and constraint definitions of a CREATE TABLE, split at top-level commas
    (comments dropped)."""
    body = sql[sql.index("(") + 1:sql.rindex(")")]
    parts: list[str] = []
    current: list[str] = []
    depth, quote, comment = 0, None, False
    for i, ch in enumerate(body):
        if comment:
            comment = ch != "\n"
            continue
        if quote:
            quote = None if ch == quote else quote
        elif ch == "-" and body[i + 1:i + 2] == "-":
            comment = True
            continue
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return parts


def typed_columns(sql: str) -> list[tuple[str, str]]:
    """(column, kind) for the money, time and JSON columns of one CREATE TABLE."""
    found = []
    for part in _split_columns(sql):
        words = part.split()
        if not words or words[0].upper() in ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK",
                                             "FOREIGN"):
            continue
        name = words[0].strip('"`[]')
        declared = words[1].upper() if len(words) > 1 else ""
        if JSON_MARK in part:
            found.append((name, "json"))
        elif MONEY_MARK in part:
            found.append((name, "money"))
        elif TIME_MARK in part or (declared == "TEXT" and (name == "timestamp"
                                                            or name.endswith("_at"))):
            found.append((name, "time"))
    return found


def _balanced(text: str, start: int) -> str:
    """The text inside the parentheses that open at ``text[start]``."""
    depth, quote = 0, None
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1:i]
    return text[start + 1:]


def check_expressions(sql: str) -> list[tuple[str | None, str]]:
    """(column or None for a table constraint, expression) of every CHECK of a table."""
    found = []
    for part in _split_columns(sql):
        words = part.split()
        column = None if not words or words[0].upper() in ("CONSTRAINT", "CHECK") \
            else words[0].strip('"`[]')
        for match in re.finditer(r"\bCHECK\s*\(", part, re.I):
            found.append((column, _balanced(part, match.end() - 1)))
    return found


def check_violations(conn: Connection, path: str, table: str, sql: str,
                     limit: int = 100) -> list[tuple[str | None, str, Any, str]]:
    """(column or None, row label, value, expression) of rows of ``table`` whose CHECK
    is false (at most ``limit`` per CHECK)."""
    key_sql, key_names = _row_key(conn, table, sql)
    found = []
    with translated(path):
        for column, expr in check_expressions(sql):
            shown = _quote(column) if column else "NULL"
            rows = conn.execute(f"SELECT {key_sql}, {shown} FROM {_quote(table)} "
                                f"WHERE NOT coalesce(({expr}), 1) LIMIT {int(limit)}")
            for row in rows:
                found.append((column, _row_label(key_sql, key_names, row), row[-1], expr))
    return found


def _row_label(key_sql: str, key_names: list[str], row: Sequence[Any]) -> str:
    if key_sql == "rowid":
        return f"row id {row[0]}"
    return "row " + ", ".join(f"{n}={v!r}" for n, v in zip(key_names, row))


def stored_problems(conn: Connection, path: str) -> list[str]:
    """integrity_check (CHECKs enforced), each failed CHECK located to its table, column
    and row, and every stored value that does not decode; one line per problem."""
    problems: list[str] = []
    located: set[str] = set()
    decoded = list(bad_values(conn, path))
    for line, _ in decoded:
        located.add(line.split(":")[0])  # "table T column C row id N"
    with translated(path):
        tables = dict(conn.execute(TABLES).fetchall())
    for line in integrity_problems(conn, path):
        match = re.fullmatch(r"CHECK constraint failed in (.+)", line)
        if not match or match.group(1) not in tables:
            problems.append(line)
            continue
        table = match.group(1)
        rows = check_violations(conn, path, table, tables[table])
        for column, where, value, expr in rows:
            if column is None:  # a table constraint: name the rule, not one column
                problems.append(f"table {table} {where}: fails CHECK "
                                f"({' '.join(expr.split())[:80]})")
                continue
            key = f"table {table} column {column} {where}"
            if key not in located:
                problems.append(f"{key}: {_shown(value)!r} fails its CHECK constraint")
                located.add(key)
        if not rows:
            problems.append(line)
    return problems + [line for line, _ in decoded]


def _shown(value: Any) -> Any:
    return value if not isinstance(value, str) or len(value) <= SHOWN else value[:SHOWN] + "..."


def decode_problem(kind: str, value: object) -> str | None:
    """Why ``value`` (as stored) does not decode as ``kind``; None when it does."""
    if value is None:
        return None
    if not isinstance(value, str):
        return f"is stored as {type(value).__name__}, not text"
    if kind == "money":
        try:
            number = Decimal(value)
        except InvalidOperation:
            return "is not a decimal number"
        return None if number.is_finite() else "is not a finite number"
    if kind == "time":
        if len(value) != TIMESTAMP_WIDTH or not value.endswith("Z"):
            return "is not a UTC timestamp YYYY-MM-DDTHH:MM:SS.ffffffZ"
        try:
            _dt.datetime.fromisoformat(value)
        except ValueError:
            return "is not a valid date and time"
        return None
    try:
        json.loads(value)
    except ValueError:
        return "is not valid JSON"
    return None


def _quote(name: str) -> str:
    return '"{}"'.format(name.replace('"', '""'))


def _row_key(conn: Connection, table: str, sql: str) -> tuple[str, list[str]]:
    """How a row of ``table`` is named: its rowid, or its primary key (WITHOUT ROWID)."""
    if "WITHOUT ROWID" not in sql.upper():
        return "rowid", ["id"]
    keys = sorted((r[5], r[1]) for r in conn.execute(f"PRAGMA table_info({_quote(table)})")
                  if r[5])
    names = [k[1] for k in keys]
    return ", ".join(_quote(n) for n in names), names


def bad_values(conn: Connection, path: str) -> Iterator[tuple[str, Any]]:
    """Yield (problem line, stored value) for every money, time or JSON value that does
    not decode, naming table, column and row."""
    with translated(path):
        tables = conn.execute(TABLES).fetchall()
        for table, sql in tables:
            columns = typed_columns(sql or "")
            if not columns:
                continue
            key_sql, key_names = _row_key(conn, table, sql)
            width = len(key_names)
            select = ", ".join([key_sql] + [_quote(c) for c, _ in columns])
            for row in conn.execute(f"SELECT {select} FROM {_quote(table)}"):
                for (column, kind), value in zip(columns, row[width:]):
                    why = decode_problem(kind, value)
                    if why is None:
                        continue
                    where = _row_label(key_sql, key_names, row)
                    yield (f"table {table} column {column} {where}: {_shown(value)!r} {why} "
                           f"({kind})", value)


def value_problems(conn: Connection, path: str, limit: int | None = None) -> list[str]:
    """One line per stored money, time or JSON value that does not decode (at most
    ``limit``), naming table, column and row."""
    problems = []
    for line, _ in bad_values(conn, path):
        problems.append(line)
        if limit is not None and len(problems) >= limit:
            break
    return problems


def locate_bad_value(db: Engine, cause: BaseException | None = None) -> str | None:
    """The stored value behind ``cause`` (the one its message quotes, else the first bad
    one, with how many there are), as one problem line; None if every value decodes."""
    if db.engine != "sqlite":  # PostgreSQL's column types refuse such a value on the way in
        return None
    text = str(cause) if cause is not None else ""
    try:
        with db.lock:
            found = list(itertools.islice(bad_values(db._connection(), db.path), MAX_LOCATE))
    except StoreError:
        return None
    if not found:
        return None
    quoted = [line for line, value in found if isinstance(value, str) and value
              and repr(value) in text]
    line = quoted[0] if quoted else found[0][0]
    more = len(found) - 1
    return line if not more else \
        f"{line} (and {more}{'+' if len(found) == MAX_LOCATE else ''} more)"


def damaged_store_error(db: Engine, cause: BaseException) -> DatabaseError | None:
    """The DatabaseError for a decoding failure caused by a damaged stored value: names
    table, column and row and says to run ``tradestore check``. None when no stored
    value is bad (then ``cause`` is a bug, not damage)."""
    problem = locate_bad_value(db, cause)
    if problem is None:
        return None
    return DatabaseError(f"{db.path}: a stored value does not decode: {problem}; run "
                         f"'tradestore check' to list every problem")
