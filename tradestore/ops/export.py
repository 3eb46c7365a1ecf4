"""Streaming export of the record as CSV, JSON or JSON Lines.

Lossless: money and quantities leave as the exact text they are stored as (JSON
strings, never floats), timestamps as the stored ISO-8601 UTC text, JSON columns
(metadata, details, ...) as JSON objects (CSV: their canonical JSON text). Every
export reads one consistent snapshot through one cursor, rows in id order (the
order fills were saved, which is the order that rebuilds the same positions), so
memory stays constant on any size; JSON streams one array.

Import of fills and funding payments lives in ``tradestore.ops.imports``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from typing import IO, Any, Iterable, Iterator, Sequence

from tradestore._core.codec import window
from tradestore._core.db import Connection, translated
from tradestore._core.files import atomic_file
from tradestore._core.hints import Days, Moment, PathLike
from tradestore._core.hints import Facade
from tradestore.errors import DatabaseError, ValidationError

FORMATS = ("csv", "json", "jsonl")
FETCH_ROWS = 1000  # rows per fetchmany: the only rows held at once
FILTERS = ("symbol", "account", "strategy", "exchange", "bot", "event_type")


@dataclass(frozen=True)
class ExportKind:
    """One exportable table.

    Attributes:
      table: the table read. columns: exported, in this order.
      time_column: what ``days``/``since``/``until`` filter on.
      filters: which of FILTERS apply. json_columns: JSON text, exported as objects.
    """

    table: str
    columns: tuple
    time_column: str
    filters: frozenset
    json_columns: frozenset = frozenset()


# Every stored column of a fill but its derived round-trip links (position_id,
# opened_position_id), which an import derives again. Schema 8's and 11's columns come
# last, so readers of the older header find theirs where they were.
TRADE_EXPORT_COLUMNS = ("id", "timestamp", "account", "symbol", "side", "quantity", "price", "fees",
                        "fee_currency", "exchange", "external_id", "order_id", "strategy", "pnl",
                        "pnl_given", "metadata", "created_at", "kind", "fee_value", "voided_at",
                        "void_reason", "liquidation", "commission", "commission_currency",
                        "leverage", "margin", "margin_mode", "liquidation_price")
POSITION_EXPORT_COLUMNS = (
    "id", "account", "symbol", "side", "quantity", "entry_value", "entry_fees", "max_quantity",
    "realized_pnl", "fees", "trade_count", "opened_at", "closed_at", "created_at", "updated_at",
    "exchange", "currency", "strategy", "unvalued_fees", "entered_quantity", "entered_value",
    "exited_quantity", "exit_value", "avg_exit_price", "round_trip_entry_price", "funding",
    "commission", "trading_pnl", "closed_by", "contract_size", "inverse", "leverage", "margin",
    "margin_mode", "liquidation_price")
INSTRUMENT_EXPORT_COLUMNS = (
    "id", "symbol", "name", "asset_class", "exchange", "tick_size", "lot_size", "currency",
    "metadata", "created_at", "updated_at", "base_currency", "quote_currency", "kind",
    "contract_size", "inverse", "settle_currency", "expiry", "is_active")
FUNDING_EXPORT_COLUMNS = ("id", "timestamp", "account", "exchange", "symbol", "amount", "currency",
                          "external_id", "position_id", "metadata", "created_at")
KINDS = {
    "trades": ExportKind("trades", TRADE_EXPORT_COLUMNS, "timestamp",
                         frozenset({"symbol", "account", "strategy", "exchange"}),
                         frozenset({"metadata"})),
    "orders": ExportKind("orders", (
        "id", "account", "symbol", "side", "order_type", "quantity", "price", "stop_price",
        "status", "filled_quantity", "avg_fill_price", "exchange", "external_id", "strategy",
        "metadata", "created_at", "updated_at"), "created_at",
        frozenset({"symbol", "account", "strategy", "exchange"}), frozenset({"metadata"})),
    "positions": ExportKind("positions", POSITION_EXPORT_COLUMNS, "opened_at",
                            frozenset({"symbol", "account", "exchange", "strategy"}),
                            frozenset({"unvalued_fees"})),
    "funding": ExportKind("funding_payments", FUNDING_EXPORT_COLUMNS, "timestamp",
                          frozenset({"symbol", "account", "exchange"}), frozenset({"metadata"})),
    # contract terms value the fills: a store that receives them needs them too
    "instruments": ExportKind("instruments", INSTRUMENT_EXPORT_COLUMNS, "created_at",
                              frozenset({"symbol", "exchange"}), frozenset({"metadata"})),
    "snapshots": ExportKind("portfolio_snapshots", (
        "id", "account", "timestamp", "total_value", "cash", "positions", "balances",
        "created_at", "updated_at"), "timestamp", frozenset({"account"}),
        frozenset({"positions", "balances"})),
    # payload: the exact checksummed text (a string, so sha256 can be checked again)
    "states": ExportKind("bot_states", (
        "id", "bot", "version", "saved_at", "size", "sha256", "payload", "created_at"),
        "saved_at", frozenset({"bot"})),
    "events": ExportKind("events", (
        "id", "timestamp", "severity", "level", "event_type", "message", "symbol", "trade_id",
        "order_id", "details"), "timestamp", frozenset({"symbol", "event_type"}),
        frozenset({"details"})),
}


def export_sql(kind: ExportKind, filters: dict, days: Days, since: Moment | None,
               until: Moment | None) -> tuple[str, list]:
    """The one SELECT of an export: table and column names come from KINDS, values
    are parameters."""
    clauses, params = [], []
    for name, value in filters.items():
        if value is None:
            continue
        if name not in kind.filters:
            allowed = ", ".join(sorted(kind.filters)) or "none"
            raise ValidationError(f"{name}: not a filter of this export (allowed: {allowed})",
                                  field=name, value=value)
        clauses.append(f"{name} = ?")
        params.append(value)
    start, end = window(days, since, until)
    if start is not None:
        clauses.append(f"{kind.time_column} >= ?")
        params.append(start)
    if end is not None:
        clauses.append(f"{kind.time_column} < ?")
        params.append(end)
    columns = ", ".join("CAST(payload AS BLOB)" if c == "payload" else c for c in kind.columns)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return f"SELECT {columns} FROM {kind.table}{where} ORDER BY id", params


@contextlib.contextmanager
def snapshot(repo: Facade) -> Iterator[Any]:
    """A connection holding one read transaction: a private read-only connection for
    a file (the bot's connection and lock stay free), the store's own for memory and
    for a server (its REPEATABLE READ snapshot; other sessions never wait for it)."""
    db = repo.db
    if db.path == ":memory:" or db.engine != "sqlite":
        with db.reading() as conn:
            yield conn
        return
    db.require_open()  # raises if the store is closed
    with translated(db.path):
        conn = sqlite3.connect(f"file:{quote(str(Path(db.path).resolve()))}?mode=ro", uri=True,
                               timeout=5.0, isolation_level=None, factory=Connection)
    conn.echo = db.conn.echo  # the export's statements are echoed like the store's
    try:
        with translated(db.path):
            conn.execute("BEGIN")
            yield conn
    finally:
        conn.close()


def iter_rows(repo: Facade, kind_name: str, *, days: Days = None, since: Moment | None = None,
              until: Moment | None = None, **filters: Any) -> Iterator[Any]:
    """Yield (columns, row-tuples...): the export's rows straight from one cursor."""
    kind = _kind(kind_name)
    unknown = set(filters) - set(FILTERS)
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationError(f"{name}: unknown filter (allowed: {', '.join(FILTERS)}, days, "
                              "since, until)", field=name)
    sql, params = export_sql(kind, filters, days, since, until)
    payload = kind.columns.index("payload") if "payload" in kind.columns else None
    with snapshot(repo) as conn, translated(repo.db.path):
        cursor = conn.execute(sql, params)
        try:
            while True:
                rows = cursor.fetchmany(FETCH_ROWS)
                if not rows:
                    return
                for row in rows:
                    if payload is not None:  # bytes as stored; a damaged one stays visible
                        row = (*row[:payload], row[payload].decode("utf-8", "replace"),
                               *row[payload + 1:])
                    yield row
        finally:
            cursor.close()


def _kind(name: str) -> ExportKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValidationError(f"kind: {name!r} is not one of {', '.join(KINDS)}", field="kind",
                              value=name) from None


def export(repo: Facade, kind: str, out: IO[str] | PathLike | None = None, *, fmt: str = "csv",
           progress: Progress | None = None, **filters: Any) -> int:
    """Write ``kind`` (trades, orders, positions, funding, instruments, snapshots, states,
    events) to ``out``
    (a text file object, a path written atomically, or stdout); returns the row count.

    Filters: ``days``/``since``/``until`` on the kind's time column, and ``symbol``,
    ``account``, ``strategy``, ``exchange``, ``bot``, ``event_type`` where they apply.
    """
    if fmt not in FORMATS:
        raise ValidationError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}",
                              field="format", value=fmt)
    spec = _kind(kind)
    rows = iter_rows(repo, kind, **filters)
    if out is None or hasattr(out, "write"):
        stream: IO[str] = out or sys.stdout  # type: ignore[assignment]  # a file object here
        return write_rows(rows, spec, stream, fmt, progress)
    target = Path(out)  # not a file object: a path
    check_writable_folder(target)
    with atomic_file(target, store=repo.db.path) as f:  # never over a database
        return write_rows(rows, spec, f, fmt, progress)


def write_rows(rows: Iterable[Sequence[Any]], kind: ExportKind, out: IO[str], fmt: str,
               progress: Progress | None = None) -> int:
    columns = kind.columns
    count = 0
    if fmt == "csv":
        writer = csv_writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row)  # csv writes None as an empty cell
            count += 1
            if progress is not None and not count % 10_000:
                progress.update(rows=count)
    else:
        objects = [i for i, c in enumerate(columns) if c in kind.json_columns]
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        separator = "\n" if fmt == "jsonl" else ",\n"
        if fmt == "json":
            out.write("[")
        for row in rows:
            if objects:
                row = list(row)
                for i in objects:
                    if row[i] is not None:
                        row[i] = json.loads(row[i])
            out.write(("\n" if fmt == "json" and not count else separator if count else "")
                      + dumps(dict(zip(columns, row))))
            count += 1
            if progress is not None and not count % 10_000:
                progress.update(rows=count)
        if fmt == "json":
            out.write("\n]\n" if count else "]\n")
        elif count:
            out.write("\n")
    if progress is not None:
        progress.done(rows=count)
    return count


class _LineFeed:
    """A file wrapper for csv.writer: each row arrives as one write ending in ``\r\n``,
    which leaves as ``\n``."""

    __slots__ = ("out",)

    def __init__(self, out):
        self.out = out

    def write(self, row: str):
        return self.out.write(row[:-2] + "\n")


def csv_writer(out: IO[str]) -> Any:
    """``csv.writer`` with lines ending in ``\n`` that also quotes a field holding a bare
    ``\r`` (the csv module quotes only the characters of its own line terminator, so
    the terminator is ``\r\n`` and ``_LineFeed`` turns it back), so every export
    re-imports."""
    return csv.writer(_LineFeed(out), lineterminator="\r\n")


class Progress:
    """A one-line progress report on a terminal (``stream`` defaults to stderr);
    silent when the stream is not a TTY, so pipes and logs stay clean."""

    def __init__(self, label: str, total_bytes: int | None = None, stream: IO[str] | None = None,
                 force: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = force if force is not None else isatty(self.stream)
        self.label, self.total = label, total_bytes
        self._last = 0.0

    def update(self, *, rows: int, position: int | None = None, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        text = f"\r{self.label}: {rows:,} rows"
        if self.total and position is not None:
            done = min(position / self.total, 1.0)
            bar = "#" * int(done * 30)
            text += f" [{bar:<30}] {done * 100:5.1f}%"
        self.stream.write(text)
        self.stream.flush()

    def done(self, *, rows: int, position: int | None = None) -> None:
        if self.enabled:
            self.update(rows=rows, position=self.total if self.total else position, force=True)
            self.stream.write("\n")
            self.stream.flush()


def isatty(stream: Any) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def check_writable_folder(path: PathLike) -> None:
    folder = Path(path).parent
    if not folder.is_dir():
        raise DatabaseError(f"{folder}: no such folder")
