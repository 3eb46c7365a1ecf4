"""The event log: what happened to the bot and to the store, by severity."""

from __future__ import annotations

from .codec import json_object_in, optional_text, optional_utc, to_choice, to_text, ts_in, utc_now
from .db import Database

SEVERITIES = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}

INSERT_EVENT = """
INSERT INTO events (timestamp, severity, level, event_type, message, symbol, trade_id, order_id,
                    details)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


class EventLog:
    """``repo.events``: append-only log lines with a severity and optional links."""

    def __init__(self, db: Database):
        self.db = db

    def log(self, event_type: str, message: str, *, severity="info", symbol=None, trade_id=None,
            order_id=None, details=None, timestamp=None) -> int:
        level_name = to_choice(severity, "severity", SEVERITIES)
        row = (ts_in(optional_utc(timestamp, "timestamp") or utc_now()), level_name.lower(),
               SEVERITIES[level_name], to_text(event_type, "event_type", max_length=100),
               to_text(message, "message", max_length=100_000, allow_empty=True),
               optional_text(symbol, "symbol"), trade_id, order_id,
               json_object_in(details, "details"))
        with self.db.transaction() as conn:
            return conn.execute(INSERT_EVENT, row).lastrowid
