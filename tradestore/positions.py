"""Positions by average cost, per account, exchange and symbol (ARCHITECTURE.md,
"Positions" and "Position keys and order").

A position is one round trip: opened by a fill, closed when its quantity returns
to zero. ``apply_fill`` is the whole accounting, as a pure function over
``PositionState``; ``PositionStore`` reads and writes the ``positions`` table.
Fills reach a position in (timestamp, id) order; ``tradestore.ledger`` replays a
key when a fill arrives late or is voided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .codec import (canonical_json, dec_in, dec_out, json_out, to_decimal, to_text, ts_in,
                    ts_out, utc_now, window)
from .db import Database
from .errors import ConflictError, ValidationError
from .money import ZERO, exact, ratio, share, tidy

POSITION_COLUMNS = ("id, account, symbol, side, quantity, entry_value, entry_fees, max_quantity, "
                    "realized_pnl, fees, trade_count, opened_at, closed_at, exchange, currency, "
                    "strategy, unvalued_fees")
SELECT_OPEN = (f"SELECT {POSITION_COLUMNS} FROM positions WHERE account = ? AND exchange = ? "
               "AND symbol = ? AND closed_at IS NULL")
SELECT_OPEN_ANY_VENUE = (f"SELECT {POSITION_COLUMNS} FROM positions WHERE account = ? "
                         "AND symbol = ? AND closed_at IS NULL ORDER BY exchange")
SELECT_BY_ID = f"SELECT {POSITION_COLUMNS} FROM positions WHERE id = ?"
INSERT_POSITION = """
INSERT INTO positions (account, exchange, symbol, side, quantity, entry_value, entry_fees,
                       max_quantity, realized_pnl, fees, trade_count, opened_at, closed_at,
                       currency, strategy, unvalued_fees, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
UPDATE_POSITION = """
UPDATE positions SET quantity = ?, entry_value = ?, entry_fees = ?, max_quantity = ?,
       realized_pnl = ?, fees = ?, trade_count = ?, unvalued_fees = ?, closed_at = ?,
       updated_at = ?
WHERE id = ?
"""
# A replay rewrites a round trip in place (same id) with everything recomputed.
REWRITE_POSITION = """
UPDATE positions SET side = ?, quantity = ?, entry_value = ?, entry_fees = ?, max_quantity = ?,
       realized_pnl = ?, fees = ?, trade_count = ?, unvalued_fees = ?, opened_at = ?,
       closed_at = ?, currency = ?, strategy = ?, updated_at = ?
WHERE id = ?
"""


@dataclass
class PositionState:
    """The working (mutable) state of one round trip while fills are applied."""

    id: int | None
    account: str
    symbol: str
    side: str            # LONG or SHORT
    quantity: Decimal
    entry_value: Decimal  # price x quantity of what is still held
    entry_fees: Decimal   # the held share of the opening fees
    max_quantity: Decimal
    realized_pnl: Decimal
    fees: Decimal         # every fee paid in this round trip (quote currency)
    trade_count: int
    opened_at: datetime
    closed_at: datetime | None = None
    exchange: str = ""
    currency: str | None = None
    strategy: str | None = None
    unvalued_fees: dict = field(default_factory=dict)  # {currency: Decimal}, out of pnl


@dataclass(frozen=True)
class FillEffect:
    """What one fill did: its realised pnl, the position it belongs to, and the
    position it opened when it crossed zero."""

    pnl: Decimal | None
    position: PositionState
    opened: PositionState | None = None


def _open(account, exchange, symbol, side, qty, price, fee, ts, currency, strategy,
          unvalued) -> PositionState:
    with exact():
        value = price * qty
    return PositionState(None, account, symbol, "LONG" if side == "BUY" else "SHORT", qty,
                         tidy(value), fee, qty, ZERO, fee, 1, ts, None, exchange, currency,
                         strategy, dict(unvalued or {}))


def _add_unvalued(target: dict, amounts: dict | None) -> None:
    for currency, amount in (amounts or {}).items():
        with exact():
            target[currency] = tidy(target.get(currency, ZERO) + amount)


def apply_fill(position: PositionState | None, *, account, symbol, side, quantity, price, fees,
               timestamp, given_pnl=None, exchange="", currency=None, strategy=None,
               unvalued=None) -> FillEffect:
    """Apply one fill; mutates ``position`` and returns the effect.

    ``quantity`` is what the position receives or gives up and ``fees`` what counts
    in quote (see tradestore.fees); ``unvalued`` {currency: amount} is carried beside
    pnl, never in it. Adding: quantity, entry value and entry fees grow. Reducing: the
    fill's value against its share of the entry value, minus that share of the entry
    fees and its own fee, signed for long or short; the closing fill takes what
    remains. Crossing zero closes the old side and opens the other, the fee split by
    quantity.
    """
    if position is None:
        opened = _open(account, exchange, symbol, side, quantity, price, fees, timestamp,
                       currency, strategy, unvalued)
        if given_pnl is not None:
            opened.realized_pnl = given_pnl
        return FillEffect(given_pnl, opened)
    adds = (position.side == "LONG") == (side == "BUY")
    with exact():
        if adds:
            position.quantity += quantity
            position.entry_value = tidy(position.entry_value + price * quantity)
            position.entry_fees += fees
            position.fees += fees
            position.max_quantity = max(position.max_quantity, position.quantity)
            position.trade_count += 1
            if unvalued:
                _add_unvalued(position.unvalued_fees, unvalued)
            if given_pnl is not None:
                position.realized_pnl = tidy(position.realized_pnl + given_pnl)
            return FillEffect(given_pnl, position)
        closing = min(quantity, position.quantity)
        rest = quantity - closing
        closing_fee = fees if rest == 0 else share(fees, closing, quantity)
        closing_unvalued = {c: a if rest == 0 else share(a, closing, quantity)
                            for c, a in unvalued.items()} if unvalued else None
        value_share = share(position.entry_value, closing, position.quantity)
        fee_share = share(position.entry_fees, closing, position.quantity)
        fill_value = price * closing
        gross = fill_value - value_share if position.side == "LONG" else value_share - fill_value
        pnl = tidy(gross - fee_share - closing_fee) if given_pnl is None else given_pnl
        position.quantity = tidy(position.quantity - closing)
        position.entry_value = tidy(position.entry_value - value_share)
        position.entry_fees = tidy(position.entry_fees - fee_share)
        position.realized_pnl = tidy(position.realized_pnl + pnl)
        position.fees = tidy(position.fees + closing_fee)
        position.trade_count += 1
        if closing_unvalued:
            _add_unvalued(position.unvalued_fees, closing_unvalued)
        opened = None
        if position.quantity == 0:
            position.closed_at = timestamp
            if rest > 0:
                opened = _open(account, exchange, symbol, side, rest, price,
                               tidy(fees - closing_fee), timestamp, currency, strategy,
                               {c: tidy(a - closing_unvalued[c]) for c, a in unvalued.items()}
                               if unvalued else None)
    return FillEffect(pnl, position, opened)


STORED_LENGTH = 65  # the schema's CHECK on every amount: length(text) <= 65
FIGURES = ("quantity", "entry value (price x quantity)", "entry fees", "max quantity",
           "realized_pnl", "fees")


def _too_long(name: str, symbol: str, text: str) -> ValidationError:
    return ValidationError(
        f"{name.split(' (')[0]}: the {name} on {symbol} would be {Decimal(text):.6e}, longer "
        f"than the {STORED_LENGTH} characters a stored amount may have; check the fills' "
        "quantity and price", field=name.split(" ")[0], value=text)


def check_pnl(symbol: str, pnl: Decimal | None) -> str | None:
    """A fill's pnl as stored text, or a ValidationError naming pnl when it cannot fit."""
    text = dec_in(pnl)
    if text is not None and len(text) > STORED_LENGTH:
        raise _too_long("pnl", symbol, text)
    return text


@dataclass(frozen=True)
class Position:
    """One round trip, as stored.

    Attributes:
      id, account, symbol: identity; exchange: the venue (positions are per
        (account, exchange, symbol)).
      side: "LONG" or "SHORT".
      quantity: what is still held (0 once closed).
      avg_entry_price: entry value / quantity, fees excluded (None once closed).
      cost_basis: entry value plus the held share of the entry fees.
      realized_pnl: the sum of the pnl of its reducing fills (quote currency).
      fees: every fee counted in the round trip (quote currency).
      max_quantity: the largest quantity held.
      opened_at, closed_at: first and last fill (closed_at None while open).
      trade_count: fills in the round trip.
      currency: the quote (or settle) currency of its amounts, None when unknown.
      strategy: the strategy of the fill that opened it.
      unvalued_fees: {currency: Decimal} of fees in a third currency given without a
        quote value, left out of pnl (empty dict when none).
    """

    id: int
    account: str
    symbol: str
    side: str
    quantity: Decimal
    entry_value: Decimal
    entry_fees: Decimal
    avg_entry_price: Decimal | None
    cost_basis: Decimal
    realized_pnl: Decimal
    fees: Decimal
    max_quantity: Decimal
    trade_count: int
    opened_at: datetime
    closed_at: datetime | None
    exchange: str = ""
    currency: str | None = None
    strategy: str | None = None
    unvalued_fees: dict = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def unrealized_pnl(self, mark_price) -> Decimal:
        """What closing the rest at ``mark_price`` without a fee would realise
        (the held entry fees included, like a realised close)."""
        mark = to_decimal(mark_price, "mark_price", positive=True)
        with exact():
            value = mark * self.quantity
            gross = value - self.entry_value if self.side == "LONG" else self.entry_value - value
            return tidy(gross - self.entry_fees)


def unvalued_in(amounts: dict) -> str | None:
    return canonical_json({c: dec_in(a) for c, a in sorted(amounts.items())}) if amounts else None


def unvalued_out(text: str | None) -> dict:
    return {c: Decimal(a) for c, a in (json_out(text) or {}).items()}


def state_from_row(row) -> PositionState:
    return PositionState(row[0], row[1], row[2], row[3], dec_out(row[4]), dec_out(row[5]),
                         dec_out(row[6]), dec_out(row[7]), dec_out(row[8]), dec_out(row[9]), row[10],
                         ts_out(row[11]), ts_out(row[12]), row[13], row[14], row[15],
                         unvalued_out(row[16]))


def position_from_state(s: PositionState) -> Position:
    with exact():
        cost = tidy(s.entry_value + s.entry_fees)
    return Position(s.id, s.account, s.symbol, s.side, s.quantity, s.entry_value, s.entry_fees,
                    ratio(s.entry_value, s.quantity), cost, s.realized_pnl, s.fees, s.max_quantity,
                    s.trade_count, s.opened_at, s.closed_at, s.exchange, s.currency, s.strategy,
                    dict(s.unvalued_fees))


def _row_values(s: PositionState) -> tuple:
    """The stored texts; a figure too long for the schema is a ValidationError naming it
    (products of 38-digit inputs can exceed what a CHECK lets through)."""
    values = (dec_in(s.quantity), dec_in(s.entry_value), dec_in(s.entry_fees),
              dec_in(s.max_quantity), dec_in(s.realized_pnl), dec_in(s.fees))
    for name, text in zip(FIGURES, values):
        if len(text) > STORED_LENGTH:
            raise _too_long(name, s.symbol, text)
    return (*values, s.trade_count)


class PositionStore:
    """``repo.positions``: reads of the ``positions`` table, and the writes fills make."""

    def __init__(self, db: Database):
        self.db = db

    # ---- writes, inside the caller's transaction
    @staticmethod
    def load_open(conn, account: str, exchange: str, symbol: str) -> PositionState | None:
        row = conn.execute(SELECT_OPEN, (account, exchange, symbol)).fetchone()
        return None if row is None else state_from_row(row)

    @staticmethod
    def insert(conn, s: PositionState) -> int:
        now = ts_in(utc_now())
        s.id = conn.execute(INSERT_POSITION, (
            s.account, s.exchange, s.symbol, s.side, *_row_values(s), ts_in(s.opened_at),
            ts_in(s.closed_at), s.currency, s.strategy, unvalued_in(s.unvalued_fees),
            now, now)).lastrowid
        return s.id

    @staticmethod
    def update(conn, s: PositionState) -> None:
        conn.execute(UPDATE_POSITION, (*_row_values(s), unvalued_in(s.unvalued_fees),
                                       ts_in(s.closed_at), ts_in(utc_now()), s.id))

    @staticmethod
    def rewrite(conn, s: PositionState) -> None:
        conn.execute(REWRITE_POSITION, (s.side, *_row_values(s), unvalued_in(s.unvalued_fees),
                                        ts_in(s.opened_at), ts_in(s.closed_at), s.currency,
                                        s.strategy, ts_in(utc_now()), s.id))

    # ---- reads
    def get_position(self, symbol: str, account: str = "default",
                     exchange: str | None = None) -> Position | None:
        """The open position of ``symbol`` in ``account`` (on ``exchange`` when given),
        or None when flat; ConflictError naming the venues when several hold one."""
        symbol, account = to_text(symbol, "symbol"), to_text(account, "account")
        if exchange is not None:
            exchange = to_text(exchange, "exchange", allow_empty=True)
            row = self.db.query_one(SELECT_OPEN, (account, exchange, symbol))
            return None if row is None else position_from_state(state_from_row(row))
        rows = self.db.query(SELECT_OPEN_ANY_VENUE, (account, symbol))
        if len(rows) > 1:
            venues = ", ".join(repr(r[13]) for r in rows)
            raise ConflictError(f"symbol: {symbol!r} in account {account!r} is open on several "
                                f"exchanges ({venues}); pass exchange= to choose one")
        return position_from_state(state_from_row(rows[0])) if rows else None

    def get(self, position_id: int) -> Position | None:
        row = self.db.query_one(SELECT_BY_ID, (position_id,))
        return None if row is None else position_from_state(state_from_row(row))

    def get_open_positions(self, account: str | None = None,
                           exchange: str | None = None) -> list[Position]:
        rows = self.db.query(
            f"SELECT {POSITION_COLUMNS} FROM positions WHERE closed_at IS NULL "
            "AND (:account IS NULL OR account = :account) "
            "AND (:exchange IS NULL OR exchange = :exchange) ORDER BY account, symbol, exchange",
            {"account": account, "exchange": exchange})
        return [position_from_state(state_from_row(r)) for r in rows]

    def get_closed_positions(self, symbol: str | None = None, days: float | None = None, *,
                             account: str | None = None, exchange: str | None = None,
                             since=None, until=None, limit: int | None = None) -> list[Position]:
        """Closed round trips, oldest close first, filtered by close time."""
        start, end = window(days, since, until)
        rows = self.db.query(
            f"SELECT {POSITION_COLUMNS} FROM positions WHERE closed_at IS NOT NULL "
            "AND (:start IS NULL OR closed_at >= :start) AND (:end IS NULL OR closed_at < :end) "
            "AND (:symbol IS NULL OR symbol = :symbol) AND (:account IS NULL OR account = :account) "
            "AND (:exchange IS NULL OR exchange = :exchange) "
            "ORDER BY closed_at, id LIMIT :limit",
            {"start": start, "end": end, "symbol": symbol, "account": account,
             "exchange": exchange, "limit": -1 if limit is None else limit})
        return [position_from_state(state_from_row(r)) for r in rows]
