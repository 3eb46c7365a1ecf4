"""Trading signals: what each strategy decided, and which orders followed.

``repo.signals`` holds the BUY/SELL/HOLD decisions with links to orders; the orders
themselves are ``repo.orders``'s (it answers whether one exists).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Sequence

from tradestore._core.codec import (dec_in, dec_out, json_object_in, json_out, optional_decimal,
                                    optional_text, optional_utc, to_choice, to_finite_float,
                                    to_id, to_text, ts_in, ts_out)
from tradestore._core.hints import Amount, Engine, JSONObject, Moment
from tradestore._core.query import filtered
from tradestore.errors import NotFoundError
from tradestore.record.orders import OrderStore

ACTIONS = ("BUY", "SELL", "HOLD")


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

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> TradingSignal:
        """The record of one row of this module's SELECTs (stored text decoded)."""
        return cls(row[0], ts_out(row[1]), row[2], row[3], row[4], row[5], dec_out(row[6]),
                   row[7], json_out(row[8]), ts_out(row[9]))


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


class SignalStore:
    """``repo.signals``: what each strategy decided, and which orders followed."""

    def __init__(self, db: Engine, orders: OrderStore):
        self.db = db
        self.orders = orders

    def record(self, symbol: str, action: str, *, strength: float | None = None,
               strategy: str | None = None, price: Amount | None = None,
               timestamp: Moment | None = None, reason: str | None = None,
               metadata: JSONObject | None = None) -> int:
        """Record a BUY, SELL or HOLD signal; returns its id. ``timestamp`` defaults to now."""
        if strength is not None:
            strength = to_finite_float(strength, "strength")
        now = self.db.now()
        row = (ts_in(optional_utc(timestamp, "timestamp") or now), to_text(symbol, "symbol"),
               to_choice(action, "action", ACTIONS), strength,
               optional_text(strategy, "strategy"), dec_in(optional_decimal(price, "price")),
               optional_text(reason, "reason", max_length=100_000),
               json_object_in(metadata, "metadata"), ts_in(now))
        with self.db.transaction() as conn:
            return conn.execute(INSERT_SIGNAL, row).lastrowid

    def get(self, signal_id: int) -> TradingSignal:
        row = self.db.query_one(SELECT_SIGNAL, (to_id(signal_id, "signal_id"),))
        if row is None:
            raise NotFoundError(f"signal {signal_id}: no such signal")
        return TradingSignal.from_row(row)

    def recent(self, symbol: str | None = None, *, strategy: str | None = None,
               action: str | None = None, since: Moment | None = None, until: Moment | None = None,
               limit: int = 100) -> list[TradingSignal]:
        """Signals newest first, optionally for one symbol, strategy or action."""
        values = {"symbol": None if symbol is None else to_text(symbol, "symbol"),
                  "strategy": optional_text(strategy, "strategy"),
                  "action": None if action is None else to_choice(action, "action", ACTIONS),
                  "since": ts_in(optional_utc(since, "since")),
                  "until": ts_in(optional_utc(until, "until"))}
        rows = filtered(self.db, SELECT_SIGNALS, SIGNAL_FILTERS, values,
                        "timestamp DESC, id DESC", limit)
        return [TradingSignal.from_row(row) for row in rows]

    def link_order(self, signal_id: int, order_id: int) -> bool:
        """Record that ``signal_id`` caused ``order_id``; False if already linked.
        NotFoundError when either does not exist."""
        signal_id = to_id(signal_id, "signal_id")
        order_id = to_id(order_id, "order_id")
        with self.db.transaction() as conn:
            if conn.execute(SIGNAL_EXISTS, (signal_id,)).fetchone() is None:
                raise NotFoundError(f"signal {signal_id}: no such signal")
            if not self.orders.exists(conn, order_id):
                raise NotFoundError(f"order {order_id}: no such order")
            return conn.execute(LINK_ORDER, (signal_id, order_id, ts_in(self.db.now()))).rowcount == 1

    def for_order(self, order_id: int) -> list[TradingSignal]:
        """The signals linked to ``order_id``, oldest first (empty if none)."""
        rows = self.db.query(SIGNALS_FOR_ORDER, (to_id(order_id, "order_id"),))
        return [TradingSignal.from_row(row) for row in rows]

    def orders_for(self, signal_id: int) -> list[int]:
        """The ids of the orders linked to ``signal_id``."""
        rows = self.db.query(ORDERS_FOR_SIGNAL, (to_id(signal_id, "signal_id"),))
        return [row[0] for row in rows]
