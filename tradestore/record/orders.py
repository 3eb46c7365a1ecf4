"""Orders and their life cycle: creation, fills, status changes, history.

A fill recorded against an order is saved as a trade (so it moves the position)
and, in the same transaction, updates the order's filled quantity, average fill
price and status; so does any fill saved with an ``order_id`` (ccxt ingest that
links fills to orders included) and a void. Every status change is kept in
``order_status_history``.

Late fills: a fill that arrives after the order was CANCELLED or EXPIRED (a cancel
racing a fill on the exchange) is recorded against it: its filled quantity and
average price take the fill, a status-history row notes the late fill, and the
status stays CANCELLED/EXPIRED unless the fill completes the order, which then
becomes FILLED (what the exchange reports for an order whose quantity all
traded). A REJECTED or FILLED order still refuses ``record_fill``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable, Sequence

from tradestore._core.audit import record
from tradestore._core.codec import (dec_in, dec_out, json_object_in, json_out, optional_decimal,
                                    optional_text, to_choice, to_decimal, to_id, to_items, to_text,
                                    ts_in, ts_out)
from tradestore._core.hints import (AccountBook, Amount, Connection, Engine, InstrumentBook,
                                    JSONObject, Moment)
from tradestore._core.money import exact
from tradestore._core.query import in_lists
from tradestore.errors import ConflictError, NotFoundError, ValidationError
from tradestore.record.trades import (SIDES, TradeData, TradeStore, fill_by_external_id,
                                      order_totals)

ORDER_TYPES = ("MARKET", "LIMIT", "STOP", "STOP_LIMIT")
STATUSES = ("PENDING", "OPEN", "PARTIALLY_FILLED", "FILLED", "CANCELLED", "REJECTED", "EXPIRED")
TERMINAL = frozenset({"FILLED", "CANCELLED", "REJECTED", "EXPIRED"})
TRANSITIONS = {
    "PENDING": {"OPEN", "PARTIALLY_FILLED", "FILLED", "CANCELLED", "REJECTED", "EXPIRED"},
    "OPEN": {"PARTIALLY_FILLED", "FILLED", "CANCELLED", "EXPIRED"},
    "PARTIALLY_FILLED": {"PARTIALLY_FILLED", "FILLED", "CANCELLED", "EXPIRED"},
}
FILL_STATUSES = frozenset({"PARTIALLY_FILLED", "FILLED"})

ORDER_COLUMNS = ("id, symbol, side, order_type, quantity, price, stop_price, status, "
                 "filled_quantity, avg_fill_price, exchange, external_id, strategy, account, "
                 "metadata, created_at, updated_at")
SELECT_ORDER = f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?"
ORDER_EXISTS = "SELECT 1 FROM orders WHERE id = ?"
INSERT_ORDER = """
INSERT INTO orders (symbol, side, order_type, quantity, price, stop_price, status, exchange,
                    external_id, strategy, account, metadata, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
INSERT_HISTORY = """
INSERT INTO order_status_history (order_id, from_status, to_status, reason, changed_at)
VALUES (?, ?, ?, ?, ?)
"""
UPDATE_STATUS = "UPDATE orders SET status = ?, updated_at = ? WHERE id = ?"
UPDATE_FILLED = """
UPDATE orders SET filled_quantity = ?, avg_fill_price = ?, status = ?, updated_at = ? WHERE id = ?
"""
# the ledger's check and rebuild of every order's fill totals (record/ledger.py)
FILL_TOTALS = "SELECT id, filled_quantity, avg_fill_price FROM orders ORDER BY id"
SET_FILL_TOTALS = ("UPDATE orders SET filled_quantity = ?, avg_fill_price = ?, updated_at = ? "
                   "WHERE id = ?")
WORKING = frozenset({"PENDING", "OPEN", "PARTIALLY_FILLED"})
LATE_FILL_STATUSES = frozenset({"CANCELLED", "EXPIRED"})


@dataclass(frozen=True)
class Order:
    """An order as stored.

    Attributes:
      id, symbol, side ("BUY"/"SELL"), order_type (MARKET, LIMIT, STOP, STOP_LIMIT).
      quantity: ordered; filled_quantity: filled so far; remaining_quantity: the rest.
      price: limit price; stop_price: trigger price (as the type requires).
      status: PENDING, OPEN, PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED, EXPIRED.
      avg_fill_price: value-weighted average of its fills (None before the first).
      exchange, external_id: the exchange's identity of the order.
      strategy, account, metadata, created_at, updated_at.
    """

    id: int
    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    status: str
    filled_quantity: Decimal
    avg_fill_price: Decimal | None
    exchange: str
    external_id: str | None
    strategy: str | None
    account: str
    metadata: dict | None
    created_at: datetime
    updated_at: datetime

    @property
    def remaining_quantity(self) -> Decimal:
        with exact():
            return self.quantity - self.filled_quantity

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_row(cls, r: Sequence[Any]) -> Order:
        return cls(r[0], r[1], r[2], r[3], Decimal(r[4]), dec_out(r[5]), dec_out(r[6]), r[7],
                   Decimal(r[8]), dec_out(r[9]), r[10], r[11], r[12], r[13], json_out(r[14]),
                   ts_out(r[15]), ts_out(r[16]))


STORED_IDS = "SELECT id FROM orders WHERE id IN ({marks})"  # marks: one ? per id
STATUS_HISTORY = ("SELECT order_id, from_status, to_status, reason, changed_at "
                  "FROM order_status_history WHERE order_id = ? ORDER BY id")


@dataclass(frozen=True)
class StatusChange:
    """One line of an order's status history."""

    order_id: int
    from_status: str | None
    to_status: str
    reason: str | None
    changed_at: datetime

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> StatusChange:
        """The record of one row of STATUS_HISTORY (stored text decoded)."""
        return cls(row[0], row[1], row[2], row[3], ts_out(row[4]))


class OrderStore:
    """``repo.orders``: create, fill, change status, read."""

    def __init__(self, db: Engine, trades: TradeStore, accounts: AccountBook | None = None,
                 instruments: InstrumentBook | None = None) -> None:
        self.db = db
        self.trades = trades
        self.accounts = accounts  # repo.accounts: which names may place orders (None: any)
        self.instruments = instruments  # repo.instruments: deactivated symbols (None: any)
        trades.order_hook = self._fills_changed

    def _fills_changed(self, conn, fills, voided=None) -> None:
        """Bring orders up to date after new fills [(trade_id, TradeData)] or a void
        (``voided`` = its order id): fill totals from their non-void fills, the status
        a fill moves them to, and a history line for each change or late fill."""
        new_fills: dict[int, list] = {}
        for trade_id, trade in fills:
            new_fills.setdefault(trade.order_id, []).append((trade_id, trade))
        now = ts_in(self.db.now())
        for order_id in sorted(set(new_fills) | ({voided} if voided is not None else set())):
            order = self._load(conn, order_id)
            filled, avg = order_totals(conn, order_id)
            status, reason = order.status, None
            if order_id in new_fills and order.status in WORKING:
                status = "FILLED" if filled >= order.quantity else "PARTIALLY_FILLED"
                reason = "fill" if status != order.status else None
            elif order_id in new_fills and order.status != "FILLED":
                if order.status in LATE_FILL_STATUSES and filled >= order.quantity:
                    status = "FILLED"
                done = ", ".join(f"trade {i}: {t.quantity} @ {t.price}"
                                 for i, t in new_fills[order_id])
                reason = (f"late fill after {order.status} ({done}); filled {filled} of "
                          f"{order.quantity}")
            conn.execute(UPDATE_FILLED, (dec_in(filled), dec_in(avg), status, now, order_id))
            if reason is not None:
                conn.execute(INSERT_HISTORY, (order_id, order.status, status, reason, now))
            if status != order.status:
                record(conn, "order", order_id, "status", {"status": order.status},
                       {"status": status}, symbol=order.symbol, order_id=order_id, now=now)

    def create(self, symbol: str, side: str, order_type: str, quantity: Amount, *,
               price: Amount | None = None, stop_price: Amount | None = None,
               external_id: str | None = None, exchange: str = "", strategy: str | None = None,
               account: str = "default", metadata: JSONObject | None = None,
               status: str = "PENDING") -> Order:
        order_type = to_choice(order_type, "order_type", ORDER_TYPES)
        values: dict[str, Any] = dict(
            symbol=to_text(symbol, "symbol"), side=to_choice(side, "side", SIDES),
            quantity=to_decimal(quantity, "quantity", positive=True),
            price=optional_decimal(price, "price", positive=True),
            stop_price=optional_decimal(stop_price, "stop_price", positive=True))
        if order_type in ("LIMIT", "STOP_LIMIT") and values["price"] is None:
            raise ValidationError(f"price: a {order_type} order needs a limit price",
                                  field="price", value=None)
        if order_type in ("STOP", "STOP_LIMIT") and values["stop_price"] is None:
            raise ValidationError(f"stop_price: a {order_type} order needs a stop price",
                                  field="stop_price", value=None)
        status = to_choice(status, "status", ("PENDING", "OPEN"))
        if external_id is not None:
            external_id = to_text(str(external_id) if isinstance(external_id, int) else external_id,
                                  "external_id", max_length=500)
        row = (values["symbol"], values["side"], order_type, dec_in(values["quantity"]),
               dec_in(values["price"]), dec_in(values["stop_price"]), status,
               to_text(exchange, "exchange", allow_empty=True), external_id,
               optional_text(strategy, "strategy"), to_text(account, "account"),
               json_object_in(metadata, "metadata"))
        now = ts_in(self.db.now())
        with self.db.transaction() as conn:
            if external_id is not None and conn.execute(
                    "SELECT 1 FROM orders WHERE exchange = ? AND external_id = ?",
                    (row[7], external_id)).fetchone():
                raise ConflictError(f"external_id: order {external_id!r} on exchange {row[7]!r} "
                                    "is already stored")
            if self.accounts is not None:
                self.accounts.require(row[10])
            if self.instruments is not None:
                self.instruments.require_active(row[0])
            order_id = conn.execute(INSERT_ORDER, (*row, now, now)).lastrowid
            conn.execute(INSERT_HISTORY, (order_id, None, status, "created", now))
            return self._load(conn, order_id)

    def record_fill(self, order_id: int, quantity: Amount, price: Amount, *, fees: Amount = 0,
                    external_id: str | None = None, timestamp: Moment | None = None,
                    fee_currency: str | None = None, metadata: JSONObject | None = None,
                    pnl: Amount | None = None) -> int:
        """Save a fill of the order as a trade and update the order, in one transaction
        (a late fill of a CANCELLED or EXPIRED order is recorded; see the module doc)."""
        with self.db.transaction() as conn:
            order = self._load(conn, order_id)
            trade = TradeData(symbol=order.symbol, side=order.side, quantity=quantity, price=price,
                              fees=fees, external_id=external_id, timestamp=timestamp,
                              fee_currency=fee_currency, exchange=order.exchange,
                              order_id=order.id, strategy=order.strategy, account=order.account,
                              metadata=metadata, pnl=pnl)
            if trade.external_id is not None:
                known = fill_by_external_id(conn, trade.exchange, trade.external_id)
                if known is not None:
                    return known
            if order.status in ("FILLED", "REJECTED"):
                raise ConflictError(f"order {order.id} is {order.status}; it cannot take a fill")
            with exact():
                filled = order.filled_quantity + trade.quantity
            if filled > order.quantity:
                raise ConflictError(
                    f"quantity: a fill of {trade.quantity} would overfill order {order.id} "
                    f"({order.filled_quantity} of {order.quantity} filled)")
            return self.trades.save(trade)  # the order is updated by _fills_changed

    def update_status(self, order_id: int, status: str, reason: str | None = None) -> Order:
        """Move an order to ``status``; illegal transitions raise ConflictError.

        PARTIALLY_FILLED and FILLED come only from ``record_fill``.
        """
        status = to_choice(status, "status", STATUSES)
        reason = optional_text(reason, "reason", max_length=1000)
        with self.db.transaction() as conn:
            order = self._load(conn, order_id)
            if status in FILL_STATUSES:
                raise ConflictError(f"status: {status} is set by record_fill, not by hand")
            if status == order.status:
                return order
            if status not in TRANSITIONS.get(order.status, ()):
                raise ConflictError(f"order {order.id}: {order.status} -> {status} is not allowed")
            now = ts_in(self.db.now())
            conn.execute(UPDATE_STATUS, (status, now, order.id))
            conn.execute(INSERT_HISTORY, (order.id, order.status, status, reason, now))
            record(conn, "order", order.id, "status", {"status": order.status, "reason": None},
                   {"status": status, "reason": reason}, symbol=order.symbol, order_id=order.id,
                   now=now)
            return self._load(conn, order.id)

    def cancel(self, order_id: int, reason: str | None = None) -> Order:
        return self.update_status(order_id, "CANCELLED", reason)

    # ------------------------------------------------------------ reads
    def _load(self, conn, order_id) -> Order:
        row = conn.execute(SELECT_ORDER, (order_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"order {order_id!r} does not exist")
        return Order.from_row(row)

    @staticmethod
    def exists(conn: Connection, order_id: int) -> bool:
        """Whether ``order_id`` is stored, on the caller's connection (signal links)."""
        return conn.execute(ORDER_EXISTS, (order_id,)).fetchone() is not None

    @staticmethod
    def fill_totals(conn: Connection) -> list[tuple[int, str, str | None]]:
        """(id, filled_quantity, avg_fill_price as stored text) of every order, by id, on
        the caller's connection (the ledger compares them with the fills')."""
        return [(r[0], r[1], r[2]) for r in conn.execute(FILL_TOTALS)]

    @staticmethod
    def set_fill_totals(conn: Connection, order_id: int, filled: Decimal,
                        avg: Decimal | None, now: str) -> None:
        """Store an order's fill totals as recomputed from its fills (rebuild), inside
        the caller's transaction; its status stays."""
        conn.execute(SET_FILL_TOTALS, (dec_in(filled), dec_in(avg), now, order_id))

    def stored_ids(self, order_ids: Iterable[int]) -> set[int]:
        """Which of ``order_ids`` are stored (an import checks its fills' orders first)."""
        wanted = [to_id(i, "order_ids") for i in to_items(order_ids, "order_ids", "order ids")]
        found: set[int] = set()
        for part, marks in in_lists(wanted):
            found.update(r[0] for r in self.db.query(STORED_IDS.format(marks=marks), part))
        return found

    def get(self, order_id: int) -> Order:
        with self.db.reading() as conn:
            return self._load(conn, order_id)

    def get_by_external_id(self, exchange: str, external_id: str) -> Order | None:
        row = self.db.query_one(f"SELECT {ORDER_COLUMNS} FROM orders "
                                "WHERE exchange = ? AND external_id = ?", (exchange, external_id))
        return None if row is None else Order.from_row(row)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders still working: PENDING, OPEN or PARTIALLY_FILLED, oldest first."""
        sql = (f"SELECT {ORDER_COLUMNS} FROM orders WHERE status IN "
               "('PENDING', 'OPEN', 'PARTIALLY_FILLED')")
        params = []
        if symbol is not None:
            sql += " AND symbol = ?"
            params.append(symbol)
        return [Order.from_row(r) for r in self.db.query(sql + " ORDER BY created_at, id", params)]

    def recent(self, limit: int = 50) -> list[Order]:
        return [Order.from_row(r) for r in self.db.query(
            f"SELECT {ORDER_COLUMNS} FROM orders ORDER BY created_at DESC, id DESC LIMIT ?",
            (limit,))]

    def history(self, order_id: int) -> list[StatusChange]:
        return [StatusChange.from_row(r) for r in self.db.query(STATUS_HISTORY, (order_id,))]
