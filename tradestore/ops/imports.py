"""Import fills (and funding payments) from CSV, JSON, JSON Lines or ccxt trade dumps:
all or nothing.

One pass inside one transaction: each row is parsed and validated once (building its
``TradeData``), and the fills are saved chunk by chunk (savepoints inside the
transaction), so memory stays flat on any size. The first bad row, a fill naming an
order that is not stored, or text that is not UTF-8 raises a ValidationError naming
its line, and the transaction rolls back: nothing is imported.

Every digit is kept: JSON numbers are parsed as Decimal (never float), CSV cells are
text. Every row needs its timestamp (a CSV without a timestamp column is refused,
never stamped "now"). Duplicates (a stored (exchange, external_id), or a repeat
inside the file) are skipped and counted.

An export's whole fill comes back: a row with ``voided_at`` is saved and then voided in
the same transaction, keeping its voided_at and void_reason, so its key is replayed
without it and positions stay derived from the record. Funding payments (``export
funding``) import with ``import_funding``, each saved as ``TradeRepo.record_funding``
saves it (``repo.funding.record_many``, a chunk at a time).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Mapping

from tradestore._core.codec import show, to_id, to_path, to_text, to_utc, ts_in
from tradestore._core.hints import PathLike
from tradestore.errors import (ConflictError, DatabaseError, NotFoundError, StoreError,
                               ValidationError)
from tradestore.ops.ccxt_fills import link_orders
from tradestore.ops.export import Progress
from tradestore.ops.facade import OpsFacade
from tradestore.record.funding import RECORD_FIELDS
from tradestore.record.trades import FIELD_NAMES, TradeData, symbol_has_fills

IMPORT_FORMATS = ("csv", "json", "jsonl", "ccxt")
IMPORT_KINDS = ("trades", "funding", "instruments")
# Columns an export writes that an import reads but does not store as given.
IGNORED_COLUMNS = frozenset({"id", "created_at", "position_id", "opened_position_id"})
REQUIRED = ("symbol", "side", "quantity", "price", "timestamp")
BOOLEAN_COLUMNS = ("pnl_given",)
VOID_COLUMNS = frozenset({"voided_at", "void_reason"})
TRUE_WORDS, FALSE_WORDS = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
BOOLEAN_WORDS = {word: word in TRUE_WORDS for word in TRUE_WORDS | FALSE_WORDS}
ACCEPTED = FIELD_NAMES | IGNORED_COLUMNS | set(BOOLEAN_COLUMNS) | VOID_COLUMNS
# Funding payments: the arguments of TradeRepo.record_funding, plus what an export adds.
FUNDING_ACCEPTED = RECORD_FIELDS | IGNORED_COLUMNS
FUNDING_REQUIRED = ("symbol", "amount", "timestamp")
# Instruments: the arguments of repo.instruments.upsert, plus is_active and row times.
INSTRUMENT_FIELDS = frozenset({"symbol", "name", "asset_class", "exchange", "tick_size",
                               "lot_size", "currency", "metadata", "base_currency",
                               "quote_currency", "kind", "contract_size", "inverse",
                               "settle_currency", "expiry"})
INSTRUMENT_ACCEPTED = INSTRUMENT_FIELDS | IGNORED_COLUMNS | {"updated_at", "is_active"}
CHUNK = 5_000
MAX_JSON_ELEMENT = 16 * 1024 * 1024
WHITESPACE = re.compile(r"[ \t\r\n]*")
DECODER = json.JSONDecoder(parse_float=Decimal)  # every digit of 61234.123456789012345


@dataclass(frozen=True)
class ImportResult:
    """What an import did.

    Attributes:
      read: rows read from the file.
      inserted: rows stored (fills, funding payments; for instruments: new symbols).
      duplicate: rows skipped because their (exchange, external_id) was already
        stored or appeared earlier in the file.
    """

    read: int
    inserted: int
    duplicate: int


def import_trades(repo: OpsFacade, source: PathLike, *, fmt: str | None = None,
                  exchange: str | None = None, ignore_order_ids: bool = False,
                  progress: bool | None = None) -> ImportResult:
    """Import fills from the file ``source``; all or nothing.

    ``fmt``: csv, json, jsonl or ccxt (default: from the file's extension).
    ``exchange``: for ccxt the exchange the trades come from (required); for the
    other formats the exchange of rows that name none. ``ignore_order_ids``: drop
    ``order_id`` (ids of another store). ``progress``: force the stderr progress
    line on or off (default: on when stderr is a terminal). A row with ``voided_at``
    comes back voided (its voided_at and void_reason kept).
    """
    path, fmt = _prepare(source, fmt, exchange, progress, IMPORT_FORMATS)
    if fmt == "ccxt" and not exchange:
        raise ValidationError("exchange: a ccxt import needs the exchange the trades come from",
                              field="exchange", value=exchange)
    build = _builder(fmt, exchange, bool(ignore_order_ids))
    return _import(repo, path, fmt, build, lambda chunk: _save_chunk(repo, chunk, fmt),
                   ACCEPTED, progress)


def import_funding(repo: OpsFacade, source: PathLike, *, fmt: str | None = None,
                   exchange: str | None = None, progress: bool | None = None) -> ImportResult:
    """Import funding payments (the rows of ``export funding``) from ``source``; all or
    nothing, each saved as ``TradeRepo.record_funding`` saves it: idempotent on
    (exchange, external_id), counted in the position of its key open at its time.

    ``fmt``: csv, json or jsonl (default: from the extension). ``exchange``: of rows
    that name none.
    """
    path, fmt = _prepare(source, fmt, exchange, progress, PLAIN_FORMATS)
    clean = fmt == "csv"
    return _import(repo, path, fmt,
                   lambda record: funding_from_record(record, exchange=exchange, _clean=clean),
                   lambda chunk: _save_funding(repo, chunk), FUNDING_ACCEPTED, progress)


PLAIN_FORMATS = ("csv", "json", "jsonl")  # funding and instruments: no ccxt dialect


def import_instruments(repo: OpsFacade, source: PathLike, *, fmt: str | None = None,
                       progress: bool | None = None) -> ImportResult:
    """Import instruments (the rows of ``export instruments``) from ``source``; all or
    nothing. Each row is upserted (a stored symbol takes the file's values) and keeps
    its is_active; when symbols with stored fills change, positions are rebuilt from the
    fills in the same transaction, so their contract terms value them. ``inserted``
    counts symbols that were not stored."""
    path, fmt = _prepare(source, fmt, None, progress, PLAIN_FORMATS)
    clean = fmt == "csv"
    return _import(repo, path, fmt, lambda record: instrument_from_record(record, _clean=clean),
                   lambda chunk: _save_instruments(repo, chunk), INSTRUMENT_ACCEPTED, progress)


def _prepare(source, fmt, exchange, progress, formats) -> tuple[Path, str]:
    path = _source_path(source)
    fmt = format_of(path) if fmt is None else fmt
    if fmt not in formats:
        raise ValidationError(f"format: {show(fmt)} is not one of {', '.join(formats)}",
                              field="format", value=fmt)
    if exchange is not None and not isinstance(exchange, str):
        raise ValidationError(f"exchange: {show(exchange)} must be a string",
                              field="exchange", value=exchange)
    if progress is not None and not isinstance(progress, bool):
        raise ValidationError(f"progress: {show(progress)} must be True, False or None",
                              field="progress", value=progress)
    return path, fmt


def _import(repo: OpsFacade, path, fmt, build, save, accepted, progress) -> ImportResult:
    """One pass in one transaction: rows parsed as read, saved chunk by chunk."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DatabaseError(f"{path}: cannot read the file to import ({exc.strerror})") from None
    bar = Progress("importing", size, force=progress)
    read = inserted = 0
    with repo.transaction():  # a bad row anywhere rolls every chunk back
        chunk = []
        for line, item, position in _trades(path, fmt, build, accepted):
            read += 1
            chunk.append((line, item))
            if len(chunk) == CHUNK:
                inserted += save(chunk)
                chunk = []
                bar.update(rows=read, position=position)
        if chunk:
            inserted += save(chunk)
    bar.done(rows=read)
    return ImportResult(read, inserted, read - inserted)


def _source_path(source) -> Path:
    path = to_path(source, "source")
    try:
        found = path.is_file()
    except (ValueError, OSError, TypeError):
        found = False
    if not found:
        raise DatabaseError(f"{show(str(source))}: no such file to import")
    return path


def format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    found = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(suffix)
    if found is None:
        raise ValidationError(f"format: cannot tell the format of {path.name!r}; give one of "
                              f"{', '.join(IMPORT_FORMATS)}", field="format", value=suffix)
    return found


def _save_chunk(repo: OpsFacade, chunk, fmt) -> int:
    """Save one chunk of (line, (TradeData, void)) inside the import's transaction, then
    void the new fills that were exported voided; returns how many were new."""
    order_lines: dict[int, int] = {}
    for line, (trade, _void) in chunk:
        if trade.order_id is not None:
            order_lines.setdefault(trade.order_id, line)
    if order_lines:
        _check_orders(repo, order_lines)
    trades = [t for _, (t, _void) in chunk]
    if fmt == "ccxt":
        trades = link_orders(repo, trades)
    try:
        saved = repo.trades.save_report(trades)
    except (ValidationError, ConflictError) as exc:
        raise _at_line(exc, chunk) from None
    voids = [(trade_id, *void) for (_line, (_trade, void)), trade_id, new
             in zip(chunk, saved.ids, saved.new) if new and void is not None]
    if voids:
        repo.trades.restore_voids(voids)
    return saved.inserted


def _at_line(error: ValidationError | ConflictError, chunk) -> StoreError:
    """A bulk save's error for the chunk of (line, ...) it saved, naming the file's line
    of the failing row (all of the chunk's lines when no one row failed)."""
    where = (f"lines {chunk[0][0]}-{chunk[-1][0]}" if error.index is None else
             f"line {chunk[error.index][0]}")
    message = f"{where}: {error.detail}; nothing was imported"
    if isinstance(error, ValidationError):
        return ValidationError(message, field=error.field, value=error.value)
    return ConflictError(message)


def _save_instruments(repo: OpsFacade, chunk) -> int:
    """Upsert each instrument of (line, (fields, active)); rebuild positions when a
    symbol with fills changed. Returns how many symbols were new."""
    new, changed = 0, False
    for line, (values, active) in chunk:
        try:
            try:
                before = repo.instruments.get(values["symbol"])
            except NotFoundError:
                before = None
            after = repo.instruments.upsert(**values)
            if after.active != active:
                after = (repo.instruments.activate if active else
                         repo.instruments.deactivate)(after.symbol)
        except ValidationError as exc:
            raise ValidationError(f"line {line}: {exc}; nothing was imported", field=exc.field,
                                  value=exc.value) from None
        new += before is None
        if _terms(before) != _terms(after):
            with repo.db.reading() as conn:
                changed = changed or symbol_has_fills(conn, after.symbol)
    if changed:
        repo.rebuild()
    return new


TERMS = ("currency", "base_currency", "quote_currency", "kind", "contract_size", "inverse",
         "settle_currency")


def _terms(instrument) -> tuple | None:
    """What values an instrument's fills (tradestore.record.fees.currencies_of)."""
    return None if instrument is None else tuple(getattr(instrument, t) for t in TERMS)


def _save_funding(repo: OpsFacade, chunk) -> int:
    """Record each payment of (line, fields) inside the import's transaction; returns
    how many were new (a stored or repeated (exchange, external_id) is not)."""
    try:
        return repo.funding.record_many([values for _line, values in chunk]).inserted
    except (ValidationError, ConflictError) as exc:
        raise _at_line(exc, chunk) from None


def _check_orders(repo: OpsFacade, order_lines: dict) -> None:
    found = repo.orders.stored_ids(list(order_lines))
    missing = sorted((line, i) for i, line in order_lines.items() if i not in found)
    if missing:
        line, order_id = missing[0]
        raise ValidationError(
            f"line {line}: order_id: {order_id} is not a stored order (import the orders' "
            "fills with ignore_order_ids / --ignore-order-ids to drop them); nothing was imported",
            field="order_id", value=order_id)


# ------------------------------------------------------------------ rows to fills

def _builder(fmt, exchange, ignore_order_ids):
    if fmt == "ccxt":
        return lambda record: (TradeData.from_ccxt(record, exchange=exchange), None)
    clean = fmt == "csv"
    return lambda record: fill_from_record(record, exchange=exchange,
                                           ignore_order_ids=ignore_order_ids, _clean=clean)


def trade_from_record(record: Mapping[str, Any], *, exchange: str | None = None,
                      ignore_order_ids: bool = False, _clean: bool = False) -> TradeData:
    """A TradeData from one exported row that is not voided (see fill_from_record)."""
    trade, void = fill_from_record(record, exchange=exchange, ignore_order_ids=ignore_order_ids,
                                   _clean=_clean)
    if void is not None:
        raise ValidationError("voided_at: a voided fill is restored by import_trades (saved, "
                              "then voided in the same transaction)", field="voided_at",
                              value=void[0])
    return trade


def fill_from_record(record: Mapping[str, Any], *, exchange: str | None = None,
                     ignore_order_ids: bool = False,
                     _clean: bool = False) -> tuple[TradeData, tuple[Any, Any] | None]:
    """(TradeData, void) from one exported row (CSV cells are text; empty means missing);
    void is None or (voided_at as stored text, void_reason).

    ``pnl`` is taken as given unless ``pnl_given`` says false (an export's computed
    pnl, which the store computes again). ``id``/``created_at`` are ignored.
    ``_clean``: the CSV reader already dropped empty cells and ignored columns.
    """
    values = _clean_record(record, ACCEPTED, _clean, "fill")
    given = values.pop("pnl_given", None)
    if given is not None and not to_bool(given, "pnl_given"):
        values.pop("pnl", None)
    if "liquidation" in values:
        values["liquidation"] = to_bool(values["liquidation"], "liquidation")
    voided_at, reason = values.pop("voided_at", None), values.pop("void_reason", None)
    void = None if voided_at is None and reason is None else _void(voided_at, reason)
    if ignore_order_ids:
        values.pop("order_id", None)
    elif "order_id" in values:
        values["order_id"] = _order_id(values["order_id"])
    if "metadata" in values:
        _decode_metadata(values)
    if exchange and not values.get("exchange"):
        values["exchange"] = exchange
    _require(values, REQUIRED)
    return TradeData.from_fields(values), void


def funding_from_record(record: Mapping[str, Any], *, exchange: str | None = None,
                        _clean: bool = False) -> dict:
    """The keyword arguments of ``TradeRepo.record_funding`` from one exported funding
    row (``id``, ``position_id`` and ``created_at`` are derived again, so ignored)."""
    values = _clean_record(record, FUNDING_ACCEPTED, _clean, "funding payment")
    _decode_metadata(values)
    if exchange and not values.get("exchange"):
        values["exchange"] = exchange
    _require(values, FUNDING_REQUIRED)
    return values


def instrument_from_record(record: Mapping[str, Any], *, _clean: bool = False) -> tuple[dict, bool]:
    """(keyword arguments of ``repo.instruments.upsert``, is_active) from one exported
    instruments row; ``id`` and row times are the store's own, so ignored."""
    values = _clean_record(record, INSTRUMENT_ACCEPTED, _clean, "instrument")
    values.pop("updated_at", None)
    active = values.pop("is_active", None)
    active = True if active is None else to_bool(active, "is_active")
    if "inverse" in values:
        values["inverse"] = to_bool(values["inverse"], "inverse")
    _decode_metadata(values)
    _require(values, ("symbol",))
    return values, active


def _clean_record(record, accepted, clean, what) -> dict:
    if clean:
        return record
    if not isinstance(record, dict):
        raise ValidationError(f"{show(record)} is not an object with the {what}'s fields",
                              value=record)
    values = {k: v for k, v in record.items() if v is not None and v != ""}
    if not values.keys() <= accepted:
        _unknown_columns(values, accepted)
    if not values.keys().isdisjoint(IGNORED_COLUMNS):
        for name in IGNORED_COLUMNS:
            values.pop(name, None)
    return values


def _void(voided_at, reason):
    """None, or (voided_at as stored text, reason) of an exported voided fill."""
    if voided_at is None:
        if reason is not None:
            raise ValidationError(f"void_reason: {show(reason)} given without voided_at (a "
                                  "voided fill has both)", field="void_reason", value=reason)
        return None
    if reason is None:
        raise ValidationError(f"void_reason: missing for the fill voided at {show(voided_at)} "
                              "(a voided fill has both)", field="void_reason")
    return ts_in(to_utc(voided_at, "voided_at")), to_text(reason, "void_reason", max_length=1000)


def _decode_metadata(values) -> None:
    if isinstance(values.get("metadata"), str):
        try:
            values["metadata"] = DECODER.decode(values["metadata"])
        except (ValueError, RecursionError):
            raise ValidationError(f"metadata: {show(values['metadata'])} is not JSON",
                                  field="metadata", value=values["metadata"]) from None
    if "metadata" in values:
        values["metadata"] = _metadata_numbers(values["metadata"])


def _require(values, required) -> None:
    for name in required:
        if name not in values:
            raise ValidationError(f"{name}: missing (every row needs {', '.join(required)}; "
                                  "an import never stamps a row with the time of the import)",
                                  field=name)


def to_bool(value: object, field: str) -> bool:
    """true/false, 1/0, yes/no (any case; JSON true/false and 1/0 too); nothing else."""
    if isinstance(value, str):
        found = BOOLEAN_WORDS.get(value.strip().lower())
        if found is not None:
            return found
    elif isinstance(value, bool):
        return value
    elif isinstance(value, (int, Decimal)) and value in (0, 1):
        return value == 1
    raise ValidationError(f"{field}: {show(value)} is not a boolean (give true/false, 1/0 or "
                          "yes/no)", field=field, value=value)


def _order_id(value) -> int:
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            raise ValidationError(f"order_id: {show(text)} must be an integer order id",
                                  field="order_id", value=text)
        value = int(text) if len(text) <= 30 else 2 ** 64
    return to_id(value, "order_id")


def _metadata_numbers(value):
    """JSON numbers in metadata parsed as Decimal: back to float where the float keeps
    every digit (what metadata held before), else kept as Decimal (stored as text)."""
    if isinstance(value, Decimal):
        number = float(value)
        return number if Decimal(repr(number)) == value else value
    if isinstance(value, dict):
        return {k: _metadata_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_metadata_numbers(v) for v in value]
    return value


def _unknown_columns(names, accepted=ACCEPTED) -> None:
    unknown = sorted(map(str, set(names) - accepted))
    if unknown:
        shown = sorted((accepted - IGNORED_COLUMNS) | {"id"})
        hint = ("; funding payments import with `import funding` / import_funding"
                if accepted is ACCEPTED and "amount" in unknown else "")
        raise ValidationError(f"{show(unknown[0])}: unknown column (allowed: "
                              f"{', '.join(shown)}){hint}", field=unknown[0])


def _trades(path: Path, fmt: str, build, accepted=ACCEPTED):
    """(line, built row, bytes read) for each row; errors name the line."""
    try:
        binary = open(path, "rb")
    except OSError as exc:
        raise DatabaseError(f"{path}: cannot read the file to import ({exc.strerror})") from None
    with binary:
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        line = 1
        try:
            if fmt == "csv":
                records = _csv_records(text, accepted)
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
        except UnicodeDecodeError as exc:
            raise ValidationError(
                f"{path}: not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r} after "
                f"line {line}); save the file as UTF-8; nothing was imported",
                field="source", value=str(path)) from None
        except csv.Error as exc:
            raise ValidationError(f"line {line}: not valid CSV ({exc}); nothing was imported",
                                  field="source", value=str(path)) from None
        except OSError as exc:
            raise DatabaseError(f"{path}: reading the file failed ({exc}); nothing was "
                                "imported") from None


def _first_char(text) -> str:
    start = text.read(4096).lstrip()
    text.seek(0)
    return start[:1]


def _csv_records(text, accepted=ACCEPTED):
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        return
    header = [h.strip() for h in header]
    try:
        _unknown_columns(header, accepted)
        repeated = sorted({h for h in header if header.count(h) > 1})
        if repeated:
            raise ValidationError(f"{show(repeated[0])}: the column is named twice",
                                  field=repeated[0])
        if "timestamp" in accepted and "timestamp" not in header:
            raise ValidationError("timestamp: the header has no timestamp column (an import "
                                  "never stamps fills with the time of the import)",
                                  field="timestamp")
    except ValidationError as exc:
        raise ValidationError(f"line 1: {exc}; nothing was imported", field=exc.field) from None
    kept = [(i, h) for i, h in enumerate(header) if h not in IGNORED_COLUMNS]
    last, width = reader.line_num, len(header)
    for row in reader:
        line, last = last + 1, reader.line_num
        if len(row) != width:
            if not row:
                continue
            raise ValidationError(f"line {line}: {len(row)} cells but the header has "
                                  f"{width}; nothing was imported")
        yield line, {h: row[i] for i, h in kept if row[i]}  # an empty cell is missing


def _jsonl_records(text):
    for line, content in enumerate(text, start=1):
        if not content.strip():
            continue
        try:
            yield line, DECODER.decode(content)
        except (ValueError, RecursionError) as exc:
            why = "nested too deeply" if isinstance(exc, RecursionError) else exc
            raise ValidationError(f"line {line}: not valid JSON ({why}); nothing was "
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

    def __init__(self, text: IO[str]) -> None:
        self.text, self.buf, self.pos, self.line, self.eof = text, "", 0, 1, False
        self.decoder = DECODER

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
            end = WHITESPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]  # \s*
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
            except RecursionError:
                raise ValidationError(f"line {self.line}: not valid JSON (nested too deeply); "
                                      "nothing was imported") from None
            except json.JSONDecodeError as exc:
                if len(self.buf) - self.pos < MAX_JSON_ELEMENT and self._more():
                    continue
                line = self.line + self.buf.count("\n", self.pos, exc.pos)
                raise ValidationError(f"line {line}: not valid JSON ({exc.msg}); nothing was "
                                      "imported") from None
            except ValueError as exc:  # an integer past Python's 4300-digit limit
                raise ValidationError(f"line {self.line}: not valid JSON ({exc}); nothing was "
                                      "imported") from None
            if end == len(self.buf) and self._more():  # a number may go on in the next chunk
                continue
            self.line += self.buf.count("\n", self.pos, end)
            self.pos = end
            return obj
