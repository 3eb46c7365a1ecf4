"""Indicator values a bot computed, kept so that a decision can be explained later.

``repo.indicators`` holds them keyed by series, name, the indicator's parameters (a
JSON object such as ``{"period": 14}``, ``{}`` when none) and time (recomputing
replaces).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Mapping

from tradestore._core.codec import (dec_in, json_object_in, json_out, show, time_range,
                                    to_decimal, to_text, to_utc, ts_in, ts_out)
from tradestore._core.hints import Amount, Engine, JSONObject, Moment
from tradestore.errors import ValidationError
from tradestore.market.candles import check_timeframe

SINGLE = ""  # the field name of a single-output indicator's value


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

    def __init__(self, db: Engine):
        self.db = db

    def save_many(self, symbol: str, timeframe: str, name: str,
                  points: Iterable[tuple[Moment, Amount | Mapping[str, Amount]]], *,
                  exchange: str = "",
                  parameters: JSONObject | None = None) -> int:
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
        now = ts_in(self.db.now())
        rows = [(*key, moment, field, text, now)
                for moment, pairs in by_time.items() for field, text in pairs]
        with self.db.transaction() as conn:
            conn.executemany(DELETE_POINT, [(*key, moment) for moment in by_time])
            conn.executemany(INSERT_INDICATOR, rows)
        return len(by_time)

    def get(self, symbol: str, timeframe: str, name: str, start: Moment | None = None,
            end: Moment | None = None, *, exchange: str = "",
            parameters: JSONObject | None = None) -> list[IndicatorPoint]:
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

    def delete(self, symbol: str, timeframe: str, name: str, start: Moment | None = None,
               end: Moment | None = None, *, exchange: str = "",
               parameters: JSONObject | None = None) -> int:
        """Delete the points with start <= timestamp < end of the series saved with
        ``parameters``; returns how many values went."""
        params = self._params(symbol, timeframe, name, start, end, exchange, parameters)
        with self.db.transaction() as conn:
            return conn.execute(DELETE_INDICATOR, params).rowcount

    def parameter_sets(self, symbol: str, timeframe: str, name: str, *,
                       exchange: str = "") -> list[dict]:
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
        return (*_series(symbol, timeframe, exchange), to_text(name, "name", max_length=100),
                _parameters(parameters), *time_range(start, end))


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
