"""Candles (OHLCV bars): bulk insert and upsert, range reads, gaps found in SQL.

A candle is keyed by (exchange, symbol, timeframe, timestamp) where timestamp is
the candle's open time, aligned to its timeframe. Every ccxt timeframe is taken:
1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d align to the UTC epoch (a 4h candle
opens at 00:00, 04:00, ... UTC, a 1d candle at 00:00 UTC, a 3d candle every third
day from 1970-01-01), 1w to Monday 00:00 UTC (as Binance and ccxt's exchanges
open weekly candles) and 1M to the first day of a calendar month, 00:00 UTC (a
month is a calendar month, 28 to 31 days; gaps count months). The table is WITHOUT
ROWID with that key as its primary key, so a range read is one walk of the key and a
candle is stored once.
"""

from __future__ import annotations

import csv
import datetime as _dt
import re
import sqlite3
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

from tradestore._core.codec import (UTC, bounded, dec_in, optional_utc, show, time_range,
                                    to_decimal, to_int, to_items, to_limit, to_text, to_utc,
                                    ts_in)
from tradestore._core.hints import Amount, Engine, Moment
from tradestore._core.pg import per_engine
from tradestore.errors import ValidationError

# Seconds per candle (None: 1M, a calendar month); those up to 12h divide a day.
TIMEFRAMES = {"1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600,
              "2h": 7200, "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400,
              "3d": 259200, "1w": 604800, "1M": None}
STEP_SECONDS = {name: step for name, step in TIMEFRAMES.items() if step is not None}  # all but 1M
MONTH = "1M"
WEEK_ORIGIN = 345_600  # 1970-01-05, the first Monday after the epoch, in epoch seconds
EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = _dt.timedelta(seconds=1)
_MINUTES = {name: step // 60 for name, step in TIMEFRAMES.items() if step and step <= 86400}

COLUMNS = "exchange, symbol, timeframe, timestamp, open, high, low, close, volume, " \
          "quote_volume, trades_count"
INSERT_SKIP = f"""
INSERT INTO candles ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (exchange, symbol, timeframe, timestamp) DO NOTHING
"""
INSERT_REPLACE = f"""
INSERT INTO candles ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (exchange, symbol, timeframe, timestamp) DO UPDATE SET
    open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
    volume = excluded.volume, quote_volume = excluded.quote_volume,
    trades_count = excluded.trades_count
"""
_BAR_VALUES = "timestamp, open, high, low, close, volume, quote_volume, trades_count"
SELECT_RANGE = f"""
SELECT {_BAR_VALUES} FROM candles
WHERE exchange = ? AND symbol = ? AND timeframe = ? AND timestamp >= ? AND timestamp < ?
ORDER BY timestamp
"""
SELECT_OPEN_TIMES = """
SELECT timestamp FROM candles
WHERE exchange = ? AND symbol = ? AND timeframe = ? AND timestamp >= ? AND timestamp < ?
ORDER BY timestamp
"""
SELECT_LATEST = f"""
SELECT {_BAR_VALUES} FROM candles
WHERE exchange = ? AND symbol = ? AND timeframe = ?
ORDER BY timestamp DESC LIMIT ?
"""
DELETE_RANGE = """
DELETE FROM candles
WHERE exchange = ? AND symbol = ? AND timeframe = ? AND timestamp >= ? AND timestamp < ?
"""
# Missing candles between :lo and :hi (epoch seconds of aligned open times; either may
# be NULL for "from the first bar" / "up to the last bar"). Each bar is compared with the
# next one (LEAD, defaulting to :hi after the last bar); the stretch before the first bar
# comes from the first bar, which the primary key finds with one seek. The caller
# sorts the (few) gap rows. unixepoch() is SQLite 3.38+; older ones use strftime('%s').
_GAPS = """
SELECT gap_start, gap_end FROM (
    SELECT {epoch} + :step AS gap_start,
           LEAD({epoch}, 1, :hi) OVER (ORDER BY timestamp) AS gap_end
    FROM candles
    WHERE exchange = :exchange AND symbol = :symbol AND timeframe = :timeframe
      AND timestamp >= :start AND timestamp < :end
) AS steps WHERE gap_end > gap_start
UNION ALL
SELECT gap_start, gap_end FROM (
    SELECT :lo AS gap_start, coalesce({first}, :hi) AS gap_end
) AS head WHERE gap_end > gap_start
"""
_FIRST = """(SELECT timestamp FROM candles
      WHERE exchange = :exchange AND symbol = :symbol AND timeframe = :timeframe
        AND timestamp >= :start AND timestamp < :end
      ORDER BY timestamp LIMIT 1)"""
_EPOCH = ("unixepoch({})" if sqlite3.sqlite_version_info >= (3, 38) else
          "CAST(strftime('%s', {}) AS INTEGER)")
SELECT_GAPS = _GAPS.format(epoch=_EPOCH.format("timestamp"),
                           first=_EPOCH.format(_FIRST))
_PG_EPOCH = "CAST(extract(epoch FROM {}) AS bigint)"  # PostgreSQL: no unixepoch()
# and typed ends: a NULL :lo alone in a select list would be text there
SELECT_GAPS = per_engine(SELECT_GAPS, _GAPS.replace(":lo", "CAST(:lo AS bigint)").replace(
    ":hi", "CAST(:hi AS bigint)").format(epoch=_PG_EPOCH.format("timestamp"),
                                         first=_PG_EPOCH.format(_FIRST)))
NEXT_SYMBOL = """
SELECT symbol FROM candles WHERE exchange = ? AND symbol > ? ORDER BY symbol LIMIT 1
"""
NEXT_SERIES = """
SELECT exchange, symbol FROM candles WHERE (exchange, symbol) > (?, ?)
ORDER BY exchange, symbol LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class OHLCVBar:
    """One candle, validated when built.

    Attributes:
      symbol: the instrument, e.g. ``"BTC/USDT"``.
      exchange: where it traded; ``""`` when the bot trades one venue (keyword only).
      timeframe: one of ``1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M``.
      timestamp: the candle's open time, aware UTC, aligned to the timeframe.
      open, high, low, close: Decimal prices; high >= max(open, close, low),
        low <= min(open, close).
      volume: Decimal base volume, >= 0.
      quote_volume: optional Decimal quote volume, >= 0.
      trades_count: optional number of trades, >= 0.
    """

    symbol: str
    exchange: str = field(default="", kw_only=True)
    timeframe: str
    timestamp: _dt.datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal | None = None
    trades_count: int | None = None

    if TYPE_CHECKING:  # what it is built from: __post_init__ converts and checks
        def __init__(self, symbol: str, timeframe: str, timestamp: Moment, open: Amount,
                     high: Amount, low: Amount, close: Amount, volume: Amount,
                     quote_volume: Amount | None = None, trades_count: int | None = None, *,
                     exchange: str = "") -> None: ...

    def __post_init__(self) -> None:
        put = object.__setattr__.__get__(self)
        put("symbol", to_text(self.symbol, "symbol"))
        put("exchange", to_text(self.exchange, "exchange", allow_empty=True))
        timeframe = check_timeframe(self.timeframe)
        put("timestamp", check_aligned(to_utc(self.timestamp, "timestamp"), timeframe))
        o, h, lo, c = (_number(self.open, "open"), _number(self.high, "high"),
                       _number(self.low, "low"), _number(self.close, "close"))
        if h < o or h < c or h < lo:
            raise ValidationError(f"high: {h} is below open {o}, close {c} or low {lo}",
                                  field="high", value=self.high)
        if lo > o or lo > c:
            raise ValidationError(f"low: {lo} is above open {o} or close {c}",
                                  field="low", value=self.low)
        put("open", o)
        put("high", h)
        put("low", lo)
        put("close", c)
        put("volume", _number(self.volume, "volume", non_negative=True))
        if self.quote_volume is not None:
            put("quote_volume", _number(self.quote_volume, "quote_volume", non_negative=True))
        if self.trades_count is not None:
            put("trades_count", to_int(self.trades_count, "trades_count",
                                       allowed="a whole number >= 0"))


BAR_FIELDS = tuple(f.name for f in fields(OHLCVBar))


def _number(value, field: str, non_negative=False) -> Decimal:
    """``codec.to_decimal`` with a fast path for the short plain numbers candles are made
    of (a bulk import builds millions); anything unusual takes the full check."""
    kind = type(value)
    try:
        if kind is str:
            number = Decimal(value)
        elif kind is Decimal:
            number = value
        elif kind is float and value - value == 0:  # finite
            number = Decimal(repr(value))
        else:
            number = None
    except ArithmeticError:
        number = None
    if number is not None and number.is_finite():
        text = str(number)
        # Under 38 characters and no exponent: at most 38 digits and a short plain form.
        if len(text) <= 38 and "E" not in text:
            if text[0] != "-":
                return number
            if not non_negative and not number.is_zero():
                return number
    return to_decimal(value, field, non_negative=non_negative)


def check_timeframe(timeframe: str) -> str:
    if not isinstance(timeframe, str) or timeframe not in TIMEFRAMES:
        raise ValidationError(f"timeframe: {show(timeframe)} is not one of {', '.join(TIMEFRAMES)}",
                              field="timeframe", value=timeframe)
    return timeframe


def check_aligned(moment: _dt.datetime, timeframe: str) -> _dt.datetime:
    """``moment`` if it is a candle open time of ``timeframe``, else a ValidationError."""
    minutes = moment.hour * 60 + moment.minute
    if timeframe in _MINUTES:
        aligned = minutes % _MINUTES[timeframe] == 0
    elif timeframe == "1w":
        aligned = minutes == 0 and moment.weekday() == 0
    elif timeframe == MONTH:
        aligned = minutes == 0 and moment.day == 1
    else:  # 3d: whole days since the epoch
        aligned = minutes == 0 and (moment - EPOCH).days % (STEP_SECONDS[timeframe] // 86400) == 0
    if not aligned or moment.second or moment.microsecond:
        rule = ("a Monday 00:00 UTC" if timeframe == "1w" else
                "the first day of a month, 00:00 UTC" if timeframe == MONTH else
                f"a multiple of {timeframe} since 1970-01-01 00:00 UTC")
        raise ValidationError(
            f"timestamp: {moment.isoformat()} is not a {timeframe} candle open time (must be "
            f"{rule}; the candle containing it opens at {align(moment, timeframe).isoformat()})",
            field="timestamp", value=moment)
    return moment


def epoch_seconds(moment: _dt.datetime) -> int:
    """Whole seconds since the epoch, rounded down."""
    return (moment - EPOCH) // _SECOND


def from_epoch(seconds: int) -> _dt.datetime:
    return EPOCH + _dt.timedelta(seconds=seconds)


def next_open(opened: _dt.datetime, timeframe: str) -> _dt.datetime:
    """The open time of the candle after the one that opened at ``opened``."""
    if timeframe == MONTH:
        year, month = divmod(opened.month, 12)
        return opened.replace(year=opened.year + year, month=month + 1)
    return opened + _dt.timedelta(seconds=STEP_SECONDS[timeframe])


def align(moment: Moment, timeframe: str) -> _dt.datetime:
    """The open time of the ``timeframe`` candle that contains ``moment``."""
    if check_timeframe(timeframe) == MONTH:
        return to_utc(moment, "timestamp").replace(day=1, hour=0, minute=0, second=0,
                                                   microsecond=0)
    step = STEP_SECONDS[timeframe]
    origin = WEEK_ORIGIN if timeframe == "1w" else 0
    seconds = epoch_seconds(to_utc(moment, "timestamp")) - origin
    return from_epoch(seconds - seconds % step + origin)


def _ceil_seconds(moment: _dt.datetime, timeframe: str) -> int:
    """Epoch seconds of the first open time at or after ``moment``."""
    opened = align(moment, timeframe)
    return epoch_seconds(opened if opened == moment else next_open(opened, timeframe))


def _row(bar) -> tuple:
    """A bar as the insert's parameters; each value converted once, here."""
    if type(bar) is not OHLCVBar:
        bar = _as_bar(bar)
    values = []
    for number in (bar.open, bar.high, bar.low, bar.close, bar.volume):
        text = str(number)
        values.append(format(number, "f") if "E" in text else text)
    m = bar.timestamp  # aligned: seconds and microseconds are zero
    return (bar.exchange, bar.symbol, bar.timeframe,
            "%04d-%02d-%02dT%02d:%02d:00.000000Z" % (m.year, m.month, m.day, m.hour, m.minute),
            *values, dec_in(bar.quote_volume), bar.trades_count)


def _iterable(bars):
    return to_items(bars, "bars", "OHLCVBar or dicts of its fields", (OHLCVBar,))


def _as_bar(item) -> OHLCVBar:
    if isinstance(item, OHLCVBar):
        return item
    if isinstance(item, dict):
        try:
            return OHLCVBar(**item)
        except TypeError as exc:
            raise ValidationError(f"bar: {show(item)} is not a candle ({exc})", field="bar",
                                  value=item) from None
    raise ValidationError(f"bar: {show(item)} is not an OHLCVBar (or a dict of its fields)",
                          field="bar", value=item)


def _bar(symbol, exchange, timeframe, row) -> OHLCVBar:
    """A bar from a stored row, without validating again (the schema did)."""
    bar = _new(OHLCVBar)
    quote = row[6]
    for name, value in zip(BAR_FIELDS, (
            symbol, exchange, timeframe, _dt.datetime.fromisoformat(row[0]), Decimal(row[1]),
            Decimal(row[2]), Decimal(row[3]), Decimal(row[4]), Decimal(row[5]),
            None if quote is None else Decimal(quote), row[7])):
        _set(bar, name, value)
    return bar


_new, _set = object.__new__, object.__setattr__


class CandleStore:
    """``repo.candles``: OHLCV series by (exchange, symbol, timeframe)."""

    def __init__(self, db: Engine):
        self.db = db

    # ------------------------------------------------------------- writes
    def insert_many(self, bars: Iterable[OHLCVBar | Mapping[str, Any]]) -> int:
        """Store new bars in one transaction; a bar whose key is already stored is
        skipped (kept as it was). Returns how many were inserted."""
        rows = map(_row, _iterable(bars))
        with self.db.transaction() as conn:
            return conn.executemany(INSERT_SKIP, rows).rowcount

    def upsert_many(self, bars: Iterable[OHLCVBar | Mapping[str, Any]]) -> int:
        """Store bars in one transaction, replacing any stored bar with the same key.
        Returns how many bars were written."""
        rows = map(_row, _iterable(bars))
        with self.db.transaction() as conn:
            return conn.executemany(INSERT_REPLACE, rows).rowcount

    def delete_range(self, symbol: str, timeframe: str, start: Moment | None = None,
                     end: Moment | None = None, *, exchange: str = "") -> int:
        """Delete the bars with start <= timestamp < end (None: unbounded); returns the count."""
        with self.db.transaction() as conn:
            return conn.execute(DELETE_RANGE, self._range(symbol, timeframe, start, end,
                                                          exchange)).rowcount

    # ------------------------------------------------------------- reads
    def get_range(self, symbol: str, timeframe: str, start: Moment, end: Moment, *,
                  exchange: str = "") -> list[OHLCVBar]:
        """Bars with start <= timestamp < end, oldest first (None: unbounded)."""
        params = self._range(symbol, timeframe, start, end, exchange)
        rows = self.db.query(SELECT_RANGE, params)
        return [_bar(symbol, exchange, timeframe, row) for row in rows]

    def get_latest(self, symbol: str, timeframe: str, limit: int = 100, *,
                   exchange: str = "") -> list[OHLCVBar]:
        """The newest ``limit`` bars, newest last (the order an indicator is fed)."""
        limit = to_limit(limit)
        key = self._key(symbol, timeframe, exchange)
        rows = self.db.query(SELECT_LATEST, (*key, limit))
        return [_bar(symbol, exchange, timeframe, row) for row in reversed(rows)]

    def get_gaps(self, symbol: str, timeframe: str, *, exchange: str = "",
                 start: Moment | None = None,
                 end: Moment | None = None) -> list[tuple[_dt.datetime, _dt.datetime]]:
        """Missing candles as half-open (first missing open time, next present open time).

        Without ``start`` the series starts at its first bar, without ``end`` it ends
        after its last; a bound between open times counts from the next open time. The
        gaps and the stored bars tile the range exactly.
        """
        exchange, symbol, timeframe = self._key(symbol, timeframe, exchange)
        first, last = optional_utc(start, "start"), optional_utc(end, "end")
        lo = None if first is None else _ceil_seconds(first, timeframe)
        hi = None if last is None else _ceil_seconds(last, timeframe)
        if lo is not None and hi is not None and hi <= lo:
            return []
        if timeframe == MONTH:
            return self._month_gaps(exchange, symbol, lo, hi)
        try:
            low, high = bounded(None if lo is None else ts_in(from_epoch(lo)),
                                None if hi is None else ts_in(from_epoch(hi)))
            params = dict(exchange=exchange, symbol=symbol, timeframe=timeframe,
                          step=TIMEFRAMES[timeframe], lo=lo, hi=hi, start=low, end=high)
        except OverflowError:
            raise ValidationError(f"end: {show(end)} is too close to the end of the calendar",
                                  field="end", value=end) from None
        rows = sorted(self.db.query(SELECT_GAPS, params))
        return [(from_epoch(a), from_epoch(b)) for a, b in rows]

    def _month_gaps(self, exchange, symbol, lo, hi) -> list:
        """get_gaps of 1M candles: months vary in length, so the (few) open times are
        walked here, a calendar month at a time."""
        first = None if lo is None else from_epoch(lo)
        last = None if hi is None else from_epoch(hi)
        opens = [_dt.datetime.fromisoformat(row[0]) for row in self.db.query(
            SELECT_OPEN_TIMES,
            (exchange, symbol, MONTH, *bounded(ts_in(first), ts_in(last))))]
        if not opens:
            return [(first, last)] if first is not None and last is not None else []
        expected = opens[0] if first is None else first
        gaps = []
        for opened in opens:
            if opened > expected:
                gaps.append((expected, opened))
            expected = next_open(opened, MONTH)
        end = expected if last is None else last
        if end > expected:
            gaps.append((expected, end))
        return gaps

    def symbols(self, *, exchange: str | None = None) -> list[str]:
        """The symbols with stored candles, sorted (on one exchange, or on any)."""
        found = set()
        with self.db.reading() as conn:
            if exchange is not None:
                exchange = to_text(exchange, "exchange", allow_empty=True)
                row = conn.execute(NEXT_SYMBOL, (exchange, "")).fetchone()
                while row:
                    found.add(row[0])
                    row = conn.execute(NEXT_SYMBOL, (exchange, row[0])).fetchone()
            else:
                row = conn.execute(NEXT_SERIES, ("", "")).fetchone()
                while row:  # one index seek per (exchange, symbol), not a scan of every bar
                    found.add(row[1])
                    row = conn.execute(NEXT_SERIES, tuple(row)).fetchone()
        return sorted(found)

    # ------------------------------------------------------------- helpers
    @staticmethod
    def _key(symbol, timeframe, exchange) -> tuple:
        return (to_text(exchange, "exchange", allow_empty=True), to_text(symbol, "symbol"),
                check_timeframe(timeframe))

    def _range(self, symbol, timeframe, start, end, exchange) -> tuple:
        return (*self._key(symbol, timeframe, exchange), *time_range(start, end))


# ---------------------------------------------------------------- CSV

CSV_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume", "quote_volume",
               "trades_count")
_REQUIRED = CSV_COLUMNS[:6]
_EPOCH_MS = re.compile(r"^-?\d+$")
PROGRESS_EVERY = 100_000  # rows between progress reports of a long import


def parse_csv_time(text: str) -> _dt.datetime:
    """ISO-8601 text (naive = UTC) or whole epoch milliseconds."""
    text = text.strip()
    if _EPOCH_MS.match(text):
        try:
            return EPOCH + _dt.timedelta(milliseconds=int(text))
        except OverflowError:
            raise ValidationError(f"timestamp: {show(text)} is out of range as epoch milliseconds",
                                  field="timestamp", value=text) from None
    return to_utc(text, "timestamp")


def bars_from_csv(lines: Iterable[str], *, symbol: str, timeframe: str, exchange: str = "",
                  name: str = "CSV",
                  progress: Callable[[int], object] | None = None) -> Iterator[OHLCVBar]:
    """Yield an OHLCVBar per data line of a CSV whose header names the columns.

    Needs timestamp, open, high, low, close, volume; reads quote_volume and trades_count
    when present; ignores other columns. A bad line raises ValidationError naming
    ``name`` and the line's number. ``progress(rows)`` is called every PROGRESS_EVERY rows.
    """
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise ValidationError(f"{name}: is empty (expected a header line naming "
                              f"{', '.join(_REQUIRED)})", field="header")
    names = [h.strip().lower() for h in header]
    missing = [c for c in _REQUIRED if c not in names]
    if missing:
        raise ValidationError(f"{name} line 1: header {show(header)} lacks {', '.join(missing)}",
                              field="header", value=header)
    where = {c: names.index(c) for c in CSV_COLUMNS if c in names}
    symbol, timeframe = to_text(symbol, "symbol"), check_timeframe(timeframe)
    count = 0
    for row in reader:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        try:
            if len(row) != len(names):
                raise ValidationError(f"has {len(row)} fields, the header has {len(names)}")
            values = {c: row[i].strip() for c, i in where.items()}
            quote, trades = values.get("quote_volume") or None, values.get("trades_count") or None
            if trades is not None and not (trades.isascii() and trades.isdigit()):
                raise ValidationError(f"trades_count: {show(trades)} must be a whole number >= 0")
            bar = OHLCVBar(symbol, timeframe, parse_csv_time(values["timestamp"]),
                           values["open"], values["high"], values["low"], values["close"],
                           values["volume"], quote, None if trades is None else int(trades),
                           exchange=exchange)
        except ValidationError as exc:
            raise ValidationError(f"{name} line {reader.line_num}: {exc}", field=exc.field,
                                  value=exc.value) from None
        yield bar
        count += 1
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)


def write_csv(bars: Iterable[OHLCVBar], out: IO[str]) -> int:
    """Write bars as CSV (the columns ``bars_from_csv`` reads); returns the count."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for bar in bars:
        writer.writerow((ts_in(bar.timestamp), dec_in(bar.open), dec_in(bar.high),
                         dec_in(bar.low), dec_in(bar.close), dec_in(bar.volume),
                         dec_in(bar.quote_volume) or "",
                         "" if bar.trades_count is None else bar.trades_count))
        count += 1
    return count
