"""Indicators, trading signals (and the orders they caused), news sentiment.

What a bot saw and decided, kept so that a decision can be explained later:
``repo.indicators`` holds computed indicator values keyed by series, name, the
indicator's parameters (a JSON object such as ``{"period": 14}``, ``{}`` when none)
and time (recomputing replaces), ``repo.signals`` the BUY/SELL/HOLD decisions with
links to orders, ``repo.news`` scored headlines, deduplicated per source.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
from dataclasses import dataclass
from decimal import Decimal

from tradestore._core.codec import (dec_in, dec_out, json_object_in, json_out, optional_decimal,
                                    optional_text, optional_utc, show, to_choice, to_decimal,
                                    to_id, to_limit, to_text, to_utc, ts_in, ts_out, utc_now)
from tradestore._core.db import Database
from tradestore.errors import NotFoundError, ValidationError
from tradestore.market.candles import LOWEST, HIGHEST, check_timeframe

ACTIONS = ("BUY", "SELL", "HOLD")
SINGLE = ""  # the field name of a single-output indicator's value


# ---------------------------------------------------------------- records

@dataclass(frozen=True)
class IndicatorPoint:
    """One indicator value at one time.

    Attributes:
      timestamp: aware UTC datetime the value belongs to (usually a candle open time).
      value: a Decimal for a single-output indicator, or a dict of field -> Decimal
        for a multi-output one (MACD: ``{"macd": ..., "signal": ..., "histogram": ...}``).
    """

    timestamp: _dt.datetime
    value: Decimal | dict


@dataclass(frozen=True)
class TradingSignal:
    """A strategy's decision.

    Attributes:
      id: stable integer id.
      timestamp: when the signal was produced (aware UTC).
      symbol: the instrument.
      action: ``BUY``, ``SELL`` or ``HOLD``.
      strength: float on the strategy's own scale, or None.
      strategy: the strategy's name, or None.
      price: Decimal price the signal saw, or None.
      reason: free text, or None.
      metadata: dict, or None.
      created_at: when it was recorded (aware UTC).
    """

    id: int
    timestamp: _dt.datetime
    symbol: str
    action: str
    strength: float | None
    strategy: str | None
    price: Decimal | None
    reason: str | None
    metadata: dict | None
    created_at: _dt.datetime


@dataclass(frozen=True)
class NewsSentiment:
    """A scored headline.

    Attributes:
      id: stable integer id.
      symbol: the instrument it is about.
      headline: the headline text.
      source: where it came from (feed, site, API).
      url: link, or None.
      published_at: publication time (aware UTC).
      sentiment_score: float from -1 (negative) to 1 (positive).
      sentiment_label: e.g. ``"positive"``, or None.
      metadata: dict, or None.
      created_at: when it was recorded (aware UTC).
    """

    id: int
    symbol: str
    headline: str
    source: str
    url: str | None
    published_at: _dt.datetime
    sentiment_score: float
    sentiment_label: str | None
    metadata: dict | None
    created_at: _dt.datetime


# ---------------------------------------------------------------- indicators

# A series is (exchange, symbol, timeframe, name, parameters); parameters is canonical
# JSON text, so equal dicts are one series whatever their key order.
DELETE_POINT = """
DELETE FROM indicators
WHERE exchange = ? AND symbol = ? AND timeframe = ? AND name = ? AND parameters = ?
  AND timestamp = ?
"""
INSERT_INDICATOR = """
INSERT INTO indicators (exchange, symbol, timeframe, name, parameters, timestamp, field, value,
                        computed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
SELECT_INDICATOR = """
SELECT timestamp, field, value FROM indicators
WHERE exchange = ? AND symbol = ? AND timeframe = ? AND name = ? AND parameters = ?
  AND timestamp >= ? AND timestamp < ?
ORDER BY timestamp, field
"""
DELETE_INDICATOR = """
DELETE FROM indicators
WHERE exchange = ? AND symbol = ? AND timeframe = ? AND name = ? AND parameters = ?
  AND timestamp >= ? AND timestamp < ?
"""
# The parameter sets stored for one indicator: one seek per set (skip-scan by hand).
NEXT_PARAMETERS = """
SELECT parameters FROM indicators
WHERE exchange = ? AND symbol = ? AND timeframe = ? AND name = ? AND parameters > ?
ORDER BY parameters LIMIT 1
"""


def _point_fields(value, where: str) -> list[tuple[str, str]]:
    """(field, stored text) pairs of one point's value."""
    if isinstance(value, dict):
        if not value:
            raise ValidationError(f"{where}: an empty dict has no values", field=where,
                                  value=value)
        return sorted((to_text(key, f"{where} field", max_length=100),
                       dec_in(to_decimal(number, f"{where}.{key}")))
                      for key, number in value.items())
    return [(SINGLE, dec_in(to_decimal(value, where)))]


class IndicatorStore:
    """``repo.indicators``: computed values per (exchange, symbol, timeframe, name, time)."""

    def __init__(self, db: Database):
        self.db = db

    def save_many(self, symbol, timeframe, name, points, *, exchange="", parameters=None) -> int:
        """Save ``(timestamp, value)`` or ``(timestamp, {field: value})`` points in one
        transaction. A point at a stored timestamp replaces every field stored there
        (recomputing replaces); within one call the last point for a time wins.
        ``parameters`` (a JSON object, e.g. ``{"period": 14}``) is part of the series:
        RSI 14 and RSI 21 are kept apart and read back by their parameters.
        Returns the number of distinct timestamps saved."""
        key = _series(symbol, timeframe, exchange) + (to_text(name, "name", max_length=100),
                                                      _parameters(parameters))
        by_time = {}
        if isinstance(points, (str, bytes, dict)) or not hasattr(points, "__iter__"):
            raise ValidationError(f"points: {show(points)} is not a list of (timestamp, value) "
                                  "pairs", field="points", value=points)
        for i, point in enumerate(points):
            if not isinstance(point, (tuple, list)) or len(point) != 2:
                raise ValidationError(f"points[{i}]: {show(point)} is not a (timestamp, value) pair",
                                      field=f"points[{i}]", value=point)
            moment = ts_in(to_utc(point[0], f"points[{i}] timestamp"))
            by_time[moment] = _point_fields(point[1], f"points[{i}] value")
        now = ts_in(utc_now())
        rows = [(*key, moment, field, text, now)
                for moment, pairs in by_time.items() for field, text in pairs]
        with self.db.transaction() as conn:
            conn.executemany(DELETE_POINT, [(*key, moment) for moment in by_time])
            conn.executemany(INSERT_INDICATOR, rows)
        return len(by_time)

    def get(self, symbol, timeframe, name, start=None, end=None, *, exchange="",
            parameters=None) -> list[IndicatorPoint]:
        """Points with start <= timestamp < end (None: unbounded), oldest first, of the
        series saved with ``parameters`` (None: saved without, ``{}``)."""
        params = self._params(symbol, timeframe, name, start, end, exchange, parameters)
        points, moment, fields = [], None, None
        for stamp, field, text in self.db.query(SELECT_INDICATOR, params):
            if stamp != moment:
                if moment is not None:
                    points.append(_indicator_point(moment, fields))
                moment, fields = stamp, {}
            fields[field] = Decimal(text)
        if moment is not None:
            points.append(_indicator_point(moment, fields))
        return points

    def delete(self, symbol, timeframe, name, start=None, end=None, *, exchange="",
               parameters=None) -> int:
        """Delete the points with start <= timestamp < end of the series saved with
        ``parameters``; returns how many values went."""
        params = self._params(symbol, timeframe, name, start, end, exchange, parameters)
        with self.db.transaction() as conn:
            return conn.execute(DELETE_INDICATOR, params).rowcount

    def parameter_sets(self, symbol, timeframe, name, *, exchange="") -> list[dict]:
        """Every parameter set stored for the indicator ``name`` (``{}`` for none)."""
        key = _series(symbol, timeframe, exchange) + (to_text(name, "name", max_length=100),)
        found = []
        with self.db.reading() as conn:
            row = conn.execute(NEXT_PARAMETERS, (*key, "")).fetchone()
            while row:
                found.append(json_out(row[0]))
                row = conn.execute(NEXT_PARAMETERS, (*key, row[0])).fetchone()
        return found

    @staticmethod
    def _params(symbol, timeframe, name, start, end, exchange, parameters) -> tuple:
        first, last = optional_utc(start, "start"), optional_utc(end, "end")
        return (*_series(symbol, timeframe, exchange), to_text(name, "name", max_length=100),
                _parameters(parameters),
                LOWEST if first is None else ts_in(first), HIGHEST if last is None else ts_in(last))


def _parameters(parameters) -> str:
    """An indicator's parameters as canonical JSON text ('{}' for None)."""
    text = json_object_in({} if parameters is None else parameters, "parameters")
    if len(text) > 10_000:
        raise ValidationError(f"parameters: {show(parameters)} is longer than 10,000 "
                              "characters as JSON", field="parameters", value=parameters)
    return text


def _series(symbol, timeframe, exchange) -> tuple:
    return (to_text(exchange, "exchange", allow_empty=True), to_text(symbol, "symbol"),
            check_timeframe(timeframe))


def _indicator_point(stamp: str, fields: dict) -> IndicatorPoint:
    value = fields[SINGLE] if list(fields) == [SINGLE] else fields
    return IndicatorPoint(ts_out(stamp), value)


# ---------------------------------------------------------------- signals

_SIGNAL_COLUMNS = ("id, timestamp, symbol, action, strength, strategy, price, reason, metadata, "
                   "created_at")
INSERT_SIGNAL = """
INSERT INTO signals (timestamp, symbol, action, strength, strategy, price, reason, metadata,
                     created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
SELECT_SIGNAL = f"SELECT {_SIGNAL_COLUMNS} FROM signals WHERE id = ?"
SELECT_SIGNALS = f"SELECT {_SIGNAL_COLUMNS} FROM signals"
SIGNAL_FILTERS = {"symbol": "symbol = ?", "strategy": "strategy = ?", "action": "action = ?",
                  "since": "timestamp >= ?", "until": "timestamp < ?"}
ORDER_EXISTS = "SELECT 1 FROM orders WHERE id = ?"
SIGNAL_EXISTS = "SELECT 1 FROM signals WHERE id = ?"
LINK_ORDER = """
INSERT INTO signal_orders (signal_id, order_id, linked_at) VALUES (?, ?, ?)
ON CONFLICT (signal_id, order_id) DO NOTHING
"""
SIGNALS_FOR_ORDER = f"""
SELECT {', '.join('s.' + c.strip() for c in _SIGNAL_COLUMNS.split(','))}
FROM signal_orders AS l JOIN signals AS s ON s.id = l.signal_id
WHERE l.order_id = ?
ORDER BY s.timestamp, s.id
"""
ORDERS_FOR_SIGNAL = "SELECT order_id FROM signal_orders WHERE signal_id = ? ORDER BY order_id"


def _signal(row) -> TradingSignal:
    return TradingSignal(row[0], ts_out(row[1]), row[2], row[3], row[4], row[5], dec_out(row[6]),
                         row[7], json_out(row[8]), ts_out(row[9]))


_whole_id = to_id  # an integer id within SQLite's 64 bits (numpy integers too)


def _finite_float(value, field: str) -> float:
    """A float metric (not money): int, float or Decimal, finite."""
    number = None
    if not isinstance(value, bool) and isinstance(value, (numbers.Real, Decimal)):  # np too
        try:
            number = float(value)
        except (ValueError, OverflowError, TypeError):
            number = None
    if number is None or not math.isfinite(number):
        raise ValidationError(f"{field}: {show(value)} must be a finite number", field=field,
                              value=value)
    return number


_limit = to_limit


def _filtered(db, select: str, filters: dict, values: dict, order: str, limit) -> list:
    """``select`` with the WHERE fragments (constants from ``filters``) of the values
    given, newest first; only the filters in use appear, so each reads its index."""
    used = [name for name, value in values.items() if value is not None]
    sql = select + (" WHERE " + " AND ".join(filters[name] for name in used) if used else "")
    return db.query(f"{sql} ORDER BY {order} LIMIT ?",
                    (*(values[name] for name in used), _limit(limit)))


class SignalStore:
    """``repo.signals``: what each strategy decided, and which orders followed."""

    def __init__(self, db: Database):
        self.db = db

    def record(self, symbol, action, *, strength=None, strategy=None, price=None,
               timestamp=None, reason=None, metadata=None) -> int:
        """Record a BUY, SELL or HOLD signal; returns its id. ``timestamp`` defaults to now."""
        if strength is not None:
            strength = _finite_float(strength, "strength")
        row = (ts_in(optional_utc(timestamp, "timestamp") or utc_now()), to_text(symbol, "symbol"),
               to_choice(action, "action", ACTIONS), strength,
               optional_text(strategy, "strategy"), dec_in(optional_decimal(price, "price")),
               optional_text(reason, "reason", max_length=100_000),
               json_object_in(metadata, "metadata"), ts_in(utc_now()))
        with self.db.transaction() as conn:
            return conn.execute(INSERT_SIGNAL, row).lastrowid

    def get(self, signal_id) -> TradingSignal:
        row = self.db.query_one(SELECT_SIGNAL, (_whole_id(signal_id, "signal_id"),))
        if row is None:
            raise NotFoundError(f"signal {signal_id}: no such signal")
        return _signal(row)

    def recent(self, symbol=None, *, strategy=None, action=None, since=None, until=None,
               limit=100) -> list[TradingSignal]:
        """Signals newest first, optionally for one symbol, strategy or action."""
        values = {"symbol": None if symbol is None else to_text(symbol, "symbol"),
                  "strategy": optional_text(strategy, "strategy"),
                  "action": None if action is None else to_choice(action, "action", ACTIONS),
                  "since": ts_in(optional_utc(since, "since")),
                  "until": ts_in(optional_utc(until, "until"))}
        rows = _filtered(self.db, SELECT_SIGNALS, SIGNAL_FILTERS, values,
                         "timestamp DESC, id DESC", limit)
        return [_signal(row) for row in rows]

    def link_order(self, signal_id, order_id) -> bool:
        """Record that ``signal_id`` caused ``order_id``; False if already linked.
        NotFoundError when either does not exist."""
        signal_id = _whole_id(signal_id, "signal_id")
        order_id = _whole_id(order_id, "order_id")
        with self.db.transaction() as conn:
            if conn.execute(SIGNAL_EXISTS, (signal_id,)).fetchone() is None:
                raise NotFoundError(f"signal {signal_id}: no such signal")
            if conn.execute(ORDER_EXISTS, (order_id,)).fetchone() is None:
                raise NotFoundError(f"order {order_id}: no such order")
            return conn.execute(LINK_ORDER, (signal_id, order_id, ts_in(utc_now()))).rowcount == 1

    def for_order(self, order_id) -> list[TradingSignal]:
        """The signals linked to ``order_id``, oldest first (empty if none)."""
        rows = self.db.query(SIGNALS_FOR_ORDER, (_whole_id(order_id, "order_id"),))
        return [_signal(row) for row in rows]

    def orders_for(self, signal_id) -> list[int]:
        """The ids of the orders linked to ``signal_id``."""
        rows = self.db.query(ORDERS_FOR_SIGNAL, (_whole_id(signal_id, "signal_id"),))
        return [row[0] for row in rows]


# ---------------------------------------------------------------- news

_NEWS_COLUMNS = ("id, symbol, headline, source, url, published_at, sentiment_score, "
                 "sentiment_label, metadata, created_at")
INSERT_NEWS = """
INSERT INTO news (symbol, headline, source, url, published_at, sentiment_score,
                  sentiment_label, metadata, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""
FIND_NEWS = "SELECT id FROM news WHERE source = ? AND coalesce(url, headline) = ?"
SELECT_NEWS = f"SELECT {_NEWS_COLUMNS} FROM news"
NEWS_FILTERS = {"symbol": "symbol = ?", "since": "published_at >= ?",
                "until": "published_at < ?"}
AVERAGE_SENTIMENT = """
SELECT avg(sentiment_score) FROM news
WHERE symbol = ? AND published_at >= ? AND published_at < ?
"""


def _news(row) -> NewsSentiment:
    return NewsSentiment(row[0], row[1], row[2], row[3], row[4], ts_out(row[5]), row[6], row[7],
                         json_out(row[8]), ts_out(row[9]))


class NewsStore:
    """``repo.news``: scored headlines, one per (source, url or else headline)."""

    def __init__(self, db: Database):
        self.db = db

    def save(self, symbol, headline, *, source, published_at, sentiment_score, url=None,
             sentiment_label=None, metadata=None) -> int:
        """Save a scored headline; returns its id. A headline already saved from the same
        source (same url, or same headline when there is no url) is not saved again:
        the stored row is kept as it was and its id returned."""
        score = _finite_float(sentiment_score, "sentiment_score")
        if not -1 <= score <= 1:
            raise ValidationError(f"sentiment_score: {show(sentiment_score)} must be from -1 to 1",
                                  field="sentiment_score", value=sentiment_score)
        headline = to_text(headline, "headline", max_length=2000)
        source = to_text(source, "source")
        url = optional_text(url, "url", max_length=2000)
        row = (to_text(symbol, "symbol"), headline, source, url,
               ts_in(to_utc(published_at, "published_at")), score,
               optional_text(sentiment_label, "sentiment_label", max_length=50),
               json_object_in(metadata, "metadata"), ts_in(utc_now()))
        with self.db.transaction() as conn:
            cursor = conn.execute(INSERT_NEWS, row)
            if cursor.rowcount == 1:
                return cursor.lastrowid
            return conn.execute(FIND_NEWS, (source, url if url is not None else headline)
                                ).fetchone()[0]

    def get(self, news_id) -> NewsSentiment:
        row = self.db.query_one(f"{SELECT_NEWS} WHERE id = ?", (_whole_id(news_id, "news_id"),))
        if row is None:
            raise NotFoundError(f"news {news_id}: no such news item")
        return _news(row)

    def recent(self, symbol=None, since=None, *, until=None, limit=100) -> list[NewsSentiment]:
        """Headlines newest first (by publication time), optionally for one symbol."""
        values = {"symbol": None if symbol is None else to_text(symbol, "symbol"),
                  "since": ts_in(optional_utc(since, "since")),
                  "until": ts_in(optional_utc(until, "until"))}
        rows = _filtered(self.db, SELECT_NEWS, NEWS_FILTERS, values,
                         "published_at DESC, id DESC", limit)
        return [_news(row) for row in rows]

    def average_sentiment(self, symbol, since=None, *, until=None) -> float | None:
        """Mean sentiment_score of the symbol's headlines published in [since, until);
        None when there are none."""
        first, last = optional_utc(since, "since"), optional_utc(until, "until")
        return self.db.scalar(AVERAGE_SENTIMENT, (
            to_text(symbol, "symbol"), LOWEST if first is None else ts_in(first),
            HIGHEST if last is None else ts_in(last)))
