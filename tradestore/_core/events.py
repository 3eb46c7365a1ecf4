"""The event log: what happened to the bot and to the store, by severity.

``EventLogHandler`` routes a bot's own ``logging`` records into the same table;
a record that cannot be written goes to ``logging``'s error path, never up into
the bot.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from tradestore._core.codec import (UTC, json_object_in, json_out, optional_id, optional_text,
                                    optional_utc, time_range, to_choice, to_limit, to_text, ts_in,
                                    ts_out, window)
from tradestore._core.hints import Connection, Days, Engine, JSONObject, Moment
from tradestore._core.migrate import schema_version
from tradestore.errors import ValidationError

SEVERITIES = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
AUDIT = "audit"  # the event_type of tradestore._core.audit's change records
# What ``event_type="audit"`` selects: the change records plus the store's older audit
# lines, voided fills and schema changes, which keep their own types.
AUDIT_TYPES = (AUDIT, "trade_voided", "migration")

# From schema 14 on, level is generated from severity (schema/0014_event_level_generated.sql):
# the writer names severity only. Below 14 level is a plain column that must be named (a
# store taken down logs its migration at the lower version), so the writer reads the
# store's version in its transaction (one cheap read: SQLite's header, PostgreSQL's
# version row).
LEVEL_GENERATED_FROM = 14
_WRITTEN = "timestamp, severity, event_type, message, symbol, trade_id, order_id, details"
INSERT_EVENT = f"INSERT INTO events ({_WRITTEN}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_EVENT_WITH_LEVEL = (f"INSERT INTO events ({_WRITTEN}, level) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
EVENT_COLUMNS = "id, timestamp, severity, event_type, message, symbol, trade_id, order_id, details"
# recent(): three shapes so that each filter reads an index, newest first, and stops
# at the limit. ``since`` is codec.EARLIEST_TEXT when not given (before every timestamp).
RECENT_ALL = f"""
SELECT {EVENT_COLUMNS} FROM events WHERE timestamp >= :since
ORDER BY timestamp DESC, id DESC LIMIT :limit
"""
RECENT_OF_TYPE = f"""
SELECT {EVENT_COLUMNS} FROM events
WHERE event_type = :event_type AND timestamp >= :since AND level >= :level
ORDER BY timestamp DESC, id DESC LIMIT :limit
"""
RECENT_AUDIT = f"""
SELECT {EVENT_COLUMNS} FROM events
WHERE event_type IN ('audit', 'trade_voided', 'migration') AND timestamp >= :since
  AND level >= :level
ORDER BY timestamp DESC, id DESC LIMIT :limit
"""
# "This level and above": the newest :limit of each level (index level, timestamp), merged.
_LEVEL_BRANCH = """
SELECT * FROM (SELECT {columns} FROM events
               WHERE level = {level} AND :level <= {level} AND timestamp >= :since
               ORDER BY timestamp DESC, id DESC LIMIT :limit) AS level_{level}"""
RECENT_AT_LEVEL = (
    "SELECT * FROM (" + " UNION ALL ".join(
        _LEVEL_BRANCH.format(columns=EVENT_COLUMNS, level=level) for level in (10, 20, 30, 40, 50))
    + ") AS levels ORDER BY timestamp DESC, id DESC LIMIT :limit")
EVENTS_AFTER = f"""
SELECT {EVENT_COLUMNS} FROM events
WHERE id > :after AND level >= :level
  AND (:event_type IS NULL OR event_type = :event_type
       OR (:event_type = 'audit' AND event_type IN ('trade_voided', 'migration')))
ORDER BY id LIMIT :limit
"""
PRUNE_EVENTS = "DELETE FROM events WHERE timestamp < ?"
LAST_EVENT_ID = "SELECT coalesce(max(id), 0) FROM events"


@dataclass(frozen=True)
class Event:
    """One line of the event log.

    Attributes:
      id: stable row id (grows with each insert).
      timestamp: when it happened (aware UTC).
      severity: debug, info, warning, error or critical.
      event_type: short category (``order.rejected``; a logger's name for logging records).
      message: the text.
      symbol, trade_id, order_id: optional links (no foreign keys: a log line never
        blocks deleting what it mentions).
      details: a dict or None.
    """

    id: int
    timestamp: _dt.datetime
    severity: str
    event_type: str
    message: str
    symbol: str | None
    trade_id: int | None
    order_id: int | None
    details: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Event:
        """The record of one row of this module's SELECTs (stored text decoded)."""
        return cls(row[0], ts_out(row[1]), row[2], row[3], row[4], row[5], row[6], row[7],
                   json_out(row[8]))


def write_event(conn: Connection, row: Sequence[Any]) -> int:
    """Insert one event on ``conn`` (inside the caller's transaction); its id. ``row``:
    the values of _WRITTEN as stored (severity in lower case). Level is named only
    below schema 14, where it is not generated yet."""
    if schema_version(conn) >= LEVEL_GENERATED_FROM:
        cursor = conn.execute(INSERT_EVENT, row)
    else:
        cursor = conn.execute(INSERT_EVENT_WITH_LEVEL, (*row, SEVERITIES[row[1].upper()]))
    event_id: int = cursor.lastrowid
    return event_id


def level_of(severity: str | None) -> int:
    """The numeric level of a severity name (None means everything: 0)."""
    return 0 if severity is None else SEVERITIES[to_choice(severity, "severity", SEVERITIES)]


class EventLog:
    """``repo.events``: append-only log lines with a severity and optional links."""

    def __init__(self, db: Engine):
        self.db = db

    def log(self, event_type: str, message: str, *, severity: str = "info",
            symbol: str | None = None, trade_id: int | None = None, order_id: int | None = None,
            details: JSONObject | None = None, timestamp: Moment | None = None) -> int:
        """Append one event (one durable transaction); returns its id."""
        level_name = to_choice(severity, "severity", SEVERITIES)
        row = (ts_in(optional_utc(timestamp, "timestamp") or self.db.now()), level_name.lower(),
               to_text(event_type, "event_type", max_length=100),
               to_text(message, "message", max_length=100_000, allow_empty=True),
               optional_text(symbol, "symbol"), optional_id(trade_id, "trade_id"),
               optional_id(order_id, "order_id"), json_object_in(details, "details"))
        with self.db.transaction() as conn:
            return write_event(conn, row)

    def recent(self, limit: int = 100, severity: str | None = None, event_type: str | None = None,
               since: Moment | None = None) -> list[Event]:
        """The newest ``limit`` events, newest first; ``severity`` means that level and
        above, ``since`` a time (datetime or ISO text) from which on. ``event_type="audit"``
        is the audit trail: AUDIT_TYPES."""
        params: dict[str, Any] = {
            "limit": to_limit(limit), "level": level_of(severity),
            "event_type": optional_text(event_type, "event_type", max_length=100),
            "since": time_range(since, None, ("since", "until"))[0]}
        sql = (RECENT_AUDIT if params["event_type"] == AUDIT
               else RECENT_OF_TYPE if params["event_type"] is not None
               else RECENT_AT_LEVEL if params["level"] > 10 else RECENT_ALL)
        return [Event.from_row(r) for r in self.db.query(sql, params)]

    def after(self, event_id: int, *, severity: str | None = None, event_type: str | None = None,
              limit: int = 1000) -> list[Event]:
        """Events written after the one with id ``event_id``, in insertion order
        (what ``tradestore events --follow`` polls)."""
        params = {"after": optional_id(event_id, "event_id") or 0, "limit": to_limit(limit),
                  "level": level_of(severity),
                  "event_type": optional_text(event_type, "event_type", max_length=100)}
        return [Event.from_row(r) for r in self.db.query(EVENTS_AFTER, params)]

    def last_id(self) -> int:
        """The id of the newest event (0 when there is none): where ``after`` starts."""
        newest: int = self.db.scalar(LAST_EVENT_ID)
        return newest

    def prune(self, older_than_days: Days) -> int:
        """Delete events older than ``older_than_days`` days (0: all before now);
        returns how many were deleted."""
        if older_than_days is None:
            raise ValidationError("older_than_days: None must be a number of days >= 0",
                                  field="older_than_days")
        cutoff, _ = window(older_than_days, None, None, field="older_than_days")
        with self.db.transaction() as conn:
            deleted: int = conn.execute(PRUNE_EVENTS, (cutoff,)).rowcount
        return deleted


def severity_for(levelno: int) -> str:
    """A logging level number -> our severity (the nearest one at or below it)."""
    for name in ("CRITICAL", "ERROR", "WARNING", "INFO"):
        if levelno >= SEVERITIES[name]:
            return name.lower()
    return "debug"


_LINK_FIELDS = ("symbol", "trade_id", "order_id")


class _HasEvents(Protocol):
    """A TradeRepo, as far as the handler needs one."""

    events: EventLog


class EventLogHandler(logging.Handler):
    """A ``logging.Handler`` that writes each record into ``repo.events``.

    ``logging.getLogger("bot").addHandler(EventLogHandler(repo))``. The event_type
    is ``event_type`` if given, else the logger's name; ``extra={"symbol": ...,
    "trade_id": ..., "order_id": ..., "event_type": ...}`` fill those columns.
    Safe from many threads (the store's connection lock serialises the writes). A
    record that cannot be stored is reported through ``handleError`` (stderr) and
    dropped: logging never raises into the bot, and a record logged while this
    handler is writing on the same thread is dropped rather than recursing.
    """

    def __init__(self, repo: EventLog | _HasEvents, level: int = logging.NOTSET, *,
                 event_type: str | None = None) -> None:
        super().__init__(level)
        self.events = repo if isinstance(repo, EventLog) else repo.events
        self.event_type = event_type
        self._busy = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._busy, "active", False):
            return
        self._busy.active = True
        try:
            details = {"logger": record.name, "module": record.module,
                       "function": record.funcName, "line": record.lineno,
                       "thread": record.threadName, "process": record.process}
            links = {f: getattr(record, f, None) for f in _LINK_FIELDS}
            event_type = getattr(record, "event_type", None) or self.event_type or record.name
            self.events.log(
                str(event_type)[:100] or "log", self.format(record),
                severity=severity_for(record.levelno),
                timestamp=_dt.datetime.fromtimestamp(record.created, UTC),
                details=details, **{k: v for k, v in links.items() if v is not None})
        except Exception:
            self.handleError(record)
        finally:
            self._busy.active = False
