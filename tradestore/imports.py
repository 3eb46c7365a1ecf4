"""Import fills from CSV, JSON, JSON Lines or ccxt trade dumps: all or nothing.

Two passes over the file. The first parses and validates every row (building its
``TradeData``) and checks that every ``order_id`` names a stored order; the first
bad row stops the import, naming its line, before anything is written. The second
pass reads the file again and saves the fills in one transaction, chunk by chunk
(savepoints inside it), so memory stays flat on any size. Files of up to
``KEEP_IN_MEMORY`` rows keep the validated fills from the first pass instead of
reading the file twice.

Duplicates (a stored (exchange, external_id), or a repeat inside the file) are
skipped and counted.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import DatabaseError, StoreError, ValidationError
from .exchange_io import Progress
from .trades import FIELD_NAMES, TradeData

IMPORT_FORMATS = ("csv", "json", "jsonl", "ccxt")
# Columns an export writes that an import reads but does not store as given.
IGNORED_COLUMNS = frozenset({"id", "created_at", "position_id", "opened_position_id"})
REQUIRED = ("symbol", "side", "quantity", "price")
ACCEPTED = FIELD_NAMES | IGNORED_COLUMNS | {"pnl_given"}
KEEP_IN_MEMORY = 50_000
CHUNK = 5_000
MAX_JSON_ELEMENT = 16 * 1024 * 1024
ROW_PREFIX = re.compile(r"^row (\d+): ")
WHITESPACE = re.compile(r"[ \t\r\n]*")


@dataclass(frozen=True)
class ImportResult:
    """What an import did.

    Attributes:
      read: rows read from the file.
      inserted: fills stored.
      duplicate: rows skipped because their (exchange, external_id) was already
        stored or appeared earlier in the file.
    """

    read: int
    inserted: int
    duplicate: int


def import_trades(repo, source, *, fmt=None, exchange=None, ignore_order_ids=False,
                  progress: bool | None = None) -> ImportResult:
    """Import fills from the file ``source``; all or nothing.

    ``fmt``: csv, json, jsonl or ccxt (default: from the file's extension).
    ``exchange``: for ccxt the exchange the trades come from (required); for the
    other formats the exchange of rows that name none. ``ignore_order_ids``: drop
    ``order_id`` (ids of another store). ``progress``: force the stderr progress
    line on or off (default: on when stderr is a terminal).
    """
    path = Path(source)
    if not path.is_file():
        raise DatabaseError(f"{path}: no such file to import")
    fmt = fmt or format_of(path)
    if fmt not in IMPORT_FORMATS:
        raise ValidationError(f"format: {fmt!r} is not one of {', '.join(IMPORT_FORMATS)}",
                              field="format", value=fmt)
    if fmt == "ccxt" and not exchange:
        raise ValidationError("exchange: a ccxt import needs the exchange the trades come from",
                              field="exchange", value=exchange)
    build = _builder(fmt, exchange, ignore_order_ids)
    size = path.stat().st_size

    # pass 1: validate everything, write nothing
    check = Progress("checking", size, force=progress)
    kept, read, order_lines = [], 0, {}
    for line, trade, position in _trades(path, fmt, build):
        read += 1
        if trade.order_id is not None:
            order_lines.setdefault(trade.order_id, line)
        if kept is not None:
            kept.append((line, trade))
            if len(kept) > KEEP_IN_MEMORY:
                kept = None
        if not read % 10_000:
            check.update(rows=read, position=position)
    check.done(rows=read)
    _check_orders(repo, order_lines)

    # pass 2: one transaction, in chunks
    write = Progress("writing", read, force=progress)  # the total is in rows here
    source_rows = iter(kept) if kept is not None else (
        (line, trade) for line, trade, _ in _trades(path, fmt, build))
    inserted, written = 0, 0
    with repo.transaction():
        chunk = []
        for item in source_rows:
            chunk.append(item)
            if len(chunk) == CHUNK:
                inserted += _save_chunk(repo, chunk, fmt, exchange)
                written += len(chunk)
                chunk = []
                write.update(rows=written, position=written)
        if chunk:
            inserted += _save_chunk(repo, chunk, fmt, exchange)
            written += len(chunk)
        if written != read:  # inside the transaction: it rolls back
            raise DatabaseError(f"{path}: the file changed during the import ({read} rows "
                                f"checked, {written} read again); nothing was imported")
    write.done(rows=written)
    return ImportResult(read, inserted, read - inserted)


def format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    found = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(suffix)
    if found is None:
        raise ValidationError(f"format: cannot tell the format of {path.name!r}; give one of "
                              f"{', '.join(IMPORT_FORMATS)}", field="format", value=suffix)
    return found


def _save_chunk(repo, chunk, fmt, exchange) -> int:
    """Save one chunk inside the import's transaction; returns how many were new."""
    trades = [t for _, t in chunk]
    if fmt == "ccxt":
        from .ccxt import link_orders
        trades = link_orders(repo, trades)
    before = repo.db.scalar("SELECT coalesce(max(id), 0) FROM trades")
    try:
        ids = repo.save_trades(trades)
    except ValidationError as exc:
        match = ROW_PREFIX.match(str(exc))
        where = (f"line {chunk[int(match[1])][0]}" if match else
                 f"lines {chunk[0][0]}-{chunk[-1][0]}")
        text = str(exc)[match.end():] if match else str(exc)
        raise ValidationError(f"{where}: {text}; nothing was imported", field=exc.field,
                              value=exc.value) from None
    return len({i for i in ids if i > before})


def _check_orders(repo, order_lines: dict) -> None:
    wanted = list(order_lines)
    found = set()
    for start in range(0, len(wanted), 500):
        part = wanted[start:start + 500]
        marks = ",".join("?" * len(part))
        found.update(r[0] for r in repo.db.query(
            f"SELECT id FROM orders WHERE id IN ({marks})", part))
    missing = sorted((order_lines[i], i) for i in wanted if i not in found)
    if missing:
        line, order_id = missing[0]
        raise ValidationError(
            f"line {line}: order_id: {order_id} is not a stored order (import the orders' "
            "fills with ignore_order_ids / --ignore-order-ids to drop them); nothing was imported",
            field="order_id", value=order_id)


# ------------------------------------------------------------------ rows to fills

def _builder(fmt, exchange, ignore_order_ids):
    if fmt == "ccxt":
        from .ccxt import trade_from_ccxt
        return lambda record: trade_from_ccxt(record, exchange=exchange)
    return lambda record: trade_from_record(record, exchange=exchange,
                                            ignore_order_ids=ignore_order_ids)


def trade_from_record(record, *, exchange=None, ignore_order_ids=False) -> TradeData:
    """A TradeData from one exported row (CSV cells are text; empty means missing).

    ``pnl`` is taken as given unless ``pnl_given`` says 0 (an export's computed pnl,
    which the store computes again). ``id``/``created_at`` are ignored.
    """
    if not isinstance(record, dict):
        raise ValidationError(f"{record!r} is not an object with the fill's fields",
                              value=record)
    values = {k: v for k, v in record.items() if v is not None and v != ""}
    if not values.keys() <= ACCEPTED:
        _unknown_columns(values)
    if not values.keys().isdisjoint(IGNORED_COLUMNS):
        for name in IGNORED_COLUMNS:
            values.pop(name, None)
    given = values.pop("pnl_given", None)
    if given is not None and str(given).strip().lower() in ("0", "false", "no"):
        values.pop("pnl", None)
    if ignore_order_ids:
        values.pop("order_id", None)
    elif isinstance(values.get("order_id"), str):
        text = values["order_id"].strip()
        if not text.isdigit():
            raise ValidationError(f"order_id: {text!r} must be an integer order id",
                                  field="order_id", value=text)
        values["order_id"] = int(text)
    if isinstance(values.get("metadata"), str):
        try:
            values["metadata"] = json.loads(values["metadata"])
        except ValueError:
            raise ValidationError(f"metadata: {values['metadata'][:60]!r} is not JSON",
                                  field="metadata", value=values["metadata"]) from None
    if exchange and not values.get("exchange"):
        values["exchange"] = exchange
    for name in REQUIRED:
        if name not in values:
            raise ValidationError(f"{name}: missing (a fill needs {', '.join(REQUIRED)})",
                                  field=name)
    return TradeData(**values)


def _unknown_columns(names) -> None:
    unknown = sorted(map(str, set(names) - ACCEPTED))
    if unknown:
        raise ValidationError(f"{unknown[0]}: unknown column (allowed: "
                              f"{', '.join(sorted(FIELD_NAMES | {'pnl_given', 'id'}))})",
                              field=unknown[0])


def _trades(path: Path, fmt: str, build):
    """(line, TradeData, bytes read) for each row; errors name the line."""
    with open(path, "rb") as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        if fmt == "csv":
            records = _csv_records(text)
        elif fmt == "jsonl" or (fmt == "ccxt" and _first_char(text) != "["):
            records = _jsonl_records(text)
        else:
            records = _json_array_records(text)
        for line, record in records:
            try:
                trade = build(record)
            except StoreError as exc:
                raise ValidationError(f"line {line}: {exc}; nothing was imported",
                                      field=getattr(exc, "field", None),
                                      value=getattr(exc, "value", None)) from None
            yield line, trade, binary.tell()


def _first_char(text) -> str:
    start = text.read(4096).lstrip()
    text.seek(0)
    return start[:1]


def _csv_records(text):
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        return
    header = [h.strip() for h in header]
    try:
        _unknown_columns(header)
    except ValidationError as exc:
        raise ValidationError(f"line 1: {exc}; nothing was imported", field=exc.field) from None
    last = reader.line_num
    for row in reader:
        line, last = last + 1, reader.line_num
        if not row:
            continue
        if len(row) != len(header):
            raise ValidationError(f"line {line}: {len(row)} cells but the header has "
                                  f"{len(header)}; nothing was imported")
        yield line, dict(zip(header, row))


def _jsonl_records(text):
    for line, content in enumerate(text, start=1):
        if not content.strip():
            continue
        try:
            yield line, json.loads(content)
        except ValueError as exc:
            raise ValidationError(f"line {line}: not valid JSON ({exc}); nothing was "
                                  "imported") from None


def _json_array_records(text):
    """The elements of one JSON array, parsed incrementally (constant memory)."""
    scan = _Scanner(text)
    if scan.take() != "[":
        raise ValidationError(f"line {scan.line}: a JSON array ('[') was expected; nothing was "
                              "imported")
    if scan.peek() == "]":
        scan.take()
    else:
        while True:
            line = scan.line_after_space()
            yield line, scan.value()
            mark = scan.take()
            if mark == "]":
                break
            if mark != ",":
                raise ValidationError(f"line {scan.line}: ',' or ']' expected after the element "
                                      f"of line {line}; nothing was imported")
    if scan.peek():
        raise ValidationError(f"line {scan.line}: text after the end of the JSON array; "
                              "nothing was imported")


class _Scanner:
    """Reads a text stream in chunks for raw_decode, counting lines as it goes."""

    def __init__(self, text):
        self.text, self.buf, self.pos, self.line, self.eof = text, "", 0, 1, False
        self.decoder = json.JSONDecoder()

    def _more(self) -> bool:
        if self.eof:
            return False
        chunk = self.text.read(1 << 16)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        return True

    def _skip_space(self) -> None:
        while True:
            end = WHITESPACE.match(self.buf, self.pos).end()
            self.line += self.buf.count("\n", self.pos, end)
            self.pos = end
            if self.pos < len(self.buf) or not self._more():
                return

    def line_after_space(self) -> int:
        self._skip_space()
        return self.line

    def peek(self) -> str:
        self._skip_space()
        return self.buf[self.pos:self.pos + 1]

    def take(self) -> str:
        char = self.peek()
        self.pos += len(char)
        return char

    def value(self):
        self._skip_space()
        while True:
            try:
                obj, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if len(self.buf) - self.pos < MAX_JSON_ELEMENT and self._more():
                    continue
                line = self.line + self.buf.count("\n", self.pos, exc.pos)
                raise ValidationError(f"line {line}: not valid JSON ({exc.msg}); nothing was "
                                      "imported") from None
            if end == len(self.buf) and self._more():  # a number may go on in the next chunk
                continue
            self.line += self.buf.count("\n", self.pos, end)
            self.pos = end
            return obj
