"""Positions by average cost, per account, exchange and symbol (ARCHITECTURE.md,
"Positions" and "Position keys and order").

A position is one round trip: opened by a fill, closed when its quantity returns
to zero. ``apply_fill`` is the whole accounting, as a pure function over
``PositionState``; ``PositionStore`` reads and writes the ``positions`` table.
Fills reach a position in (timestamp, id) order; ``tradestore.record.ledger`` replays a
key when a fill arrives late or is voided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, Sequence

from tradestore._core.codec import (canonical_json, dec_in, dec_out, json_out, to_decimal, to_text,
                                    ts_in, ts_out, window)
from tradestore._core.hints import Amount, Connection, Engine, Moment
from tradestore._core.money import EXACT, ONE, ZERO, exact, ratio, share, tidy
from tradestore._core.pg import per_engine
from tradestore.errors import ConflictError, ValidationError

POSITION_COLUMNS = ("id, account, symbol, side, quantity, entry_value, entry_fees, max_quantity, "
                    "realized_pnl, fees, trade_count, opened_at, closed_at, exchange, currency, "
                    "strategy, unvalued_fees, entered_quantity, entered_value, exited_quantity, "
                    "exit_value, funding, commission, closed_by, contract_size, inverse, leverage, "
                    "margin, margin_mode, liquidation_price, trading_pnl")
# schema 11: the round trip in full (issue 17); round_trip_entry_price and avg_exit_price
# are stored for the views and derived again on every write.
EXTRA_SET = ("entered_quantity = ?, entered_value = ?, exited_quantity = ?, exit_value = ?, "
             "funding = ?, commission = ?, closed_by = ?, contract_size = ?, inverse = ?, "
             "leverage = ?, margin = ?, margin_mode = ?, liquidation_price = ?, "
             "round_trip_entry_price = ?, avg_exit_price = ?, trading_pnl = ?")
SELECT_OPEN = (f"SELECT {POSITION_COLUMNS} FROM positions WHERE account = ? AND exchange = ? "
               "AND symbol = ? AND closed_at IS NULL")
SELECT_OPEN_ANY_VENUE = (f"SELECT {POSITION_COLUMNS} FROM positions WHERE account = ? "
                         "AND symbol = ? AND closed_at IS NULL ORDER BY exchange")
SELECT_BY_ID = f"SELECT {POSITION_COLUMNS} FROM positions WHERE id = ?"
# A replay (tradestore.record.ledger) rewrites a key's round trips from one id on:
SELECT_KEY_FROM = (f"SELECT {POSITION_COLUMNS} FROM positions WHERE account = ? "
                   "AND exchange = ? AND symbol = ? AND id >= ? ORDER BY id")
# while they are rewritten in place, none of them may hold the key's one open slot
PARK_OPEN = ("UPDATE positions SET closed_at = opened_at WHERE account = ? AND exchange = ? "
             "AND symbol = ? AND id >= ? AND closed_at IS NULL")
DELETE_POSITION = "DELETE FROM positions WHERE id = ?"
POSITION_KEYS = "SELECT DISTINCT account, exchange, symbol FROM positions"
INSERT_POSITION = """
INSERT INTO positions (id, account, exchange, symbol, side, quantity, entry_value, entry_fees,
                       max_quantity, realized_pnl, fees, trade_count, opened_at, closed_at,
                       currency, strategy, unvalued_fees, created_at, updated_at,
                       entered_quantity, entered_value, exited_quantity, exit_value, funding,
                       commission, closed_by, contract_size, inverse, leverage, margin,
                       margin_mode, liquidation_price, round_trip_entry_price, avg_exit_price,
                       trading_pnl)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
        ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""  # id None: SQLite gives the next one
# PostgreSQL gives an identity column no id for an explicit NULL: draw it from the
# sequence there (COALESCE evaluates nextval only when the id is None).
INSERT_POSITION = per_engine(INSERT_POSITION, INSERT_POSITION.replace(
    "VALUES (?,", "VALUES (coalesce(?, nextval(pg_get_serial_sequence('positions', 'id'))),", 1))
UPDATE_POSITION = """
UPDATE positions SET quantity = ?, entry_value = ?, entry_fees = ?, max_quantity = ?,
       realized_pnl = ?, fees = ?, trade_count = ?, unvalued_fees = ?, closed_at = ?,
       updated_at = ?, """ + EXTRA_SET + """
WHERE id = ?
"""
# A replay rewrites a round trip in place (same id) with everything recomputed.
REWRITE_POSITION = """
UPDATE positions SET side = ?, quantity = ?, entry_value = ?, entry_fees = ?, max_quantity = ?,
       realized_pnl = ?, fees = ?, trade_count = ?, unvalued_fees = ?, opened_at = ?,
       closed_at = ?, currency = ?, strategy = ?, updated_at = coalesce(?, updated_at),
       """ + EXTRA_SET + """
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
    entry_value: Decimal  # value (see fill_value) of what is still held
    entry_fees: Decimal   # the held share of the opening costs
    max_quantity: Decimal
    realized_pnl: Decimal  # the reducing fills' pnl plus funding
    fees: Decimal         # every cost counted in this round trip (fees and commission)
    trade_count: int
    opened_at: datetime
    closed_at: datetime | None = None
    exchange: str = ""
    currency: str | None = None
    strategy: str | None = None
    unvalued_fees: dict = field(default_factory=dict)  # {currency: Decimal}, out of pnl
    entered_quantity: Decimal = ZERO  # every quantity that opened or added
    entered_value: Decimal = ZERO     # their value
    exited_quantity: Decimal = ZERO   # every quantity that reduced or closed
    exit_value: Decimal = ZERO        # their value
    funding: Decimal = ZERO           # funding payments attached (signed, settle currency)
    commission: Decimal = ZERO        # the commission part of ``fees``
    closed_by: str | None = None      # trade, liquidation or adjustment
    contract_size: Decimal = ONE
    inverse: bool = False
    leverage: Decimal | None = None   # as the latest fill that gave one
    margin: Decimal = ZERO            # initial margin posted by its opening and adding fills
    margin_mode: str | None = None
    liquidation_price: Decimal | None = None
    stored_trading_pnl: Decimal | None = None  # as read back (check compares it)

    @property
    def trading_pnl(self) -> Decimal:
        """realized_pnl - funding + fees: pnl from prices alone (stored for the views)."""
        return _trading_pnl(self.realized_pnl, self.funding, self.fees)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> PositionState:
        """A round trip as stored (a row of POSITION_COLUMNS), decoded for the accounting.

        Hot (each save of a key whose round trip it does not keep, every replay): the
        NOT NULL amounts go straight to Decimal, and the contract columns a spot round
        trip leaves at their defaults are not decoded at all."""
        state = cls(row[0], row[1], row[2], row[3], Decimal(row[4]), Decimal(row[5]),
                    Decimal(row[6]), Decimal(row[7]), Decimal(row[8]), Decimal(row[9]), row[10],
                    ts_out(row[11]), ts_out(row[12]), row[13], row[14], row[15],
                    unvalued_out(row[16]), Decimal(row[17]), Decimal(row[18]),
                    Decimal(row[19]), Decimal(row[20]), stored_trading_pnl=Decimal(row[30]))
        if row[21:30] != SPOT_COLUMNS:
            state.funding, state.commission = Decimal(row[21]), Decimal(row[22])
            state.closed_by, state.contract_size = row[23], Decimal(row[24])
            state.inverse, state.leverage = bool(row[25]), dec_out(row[26])
            state.margin, state.margin_mode = Decimal(row[27]), row[28]
            state.liquidation_price = dec_out(row[29])
        return state


# POSITION_COLUMNS funding .. liquidation_price as an open spot round trip stores them:
# PositionState's defaults
SPOT_COLUMNS = ("0", "0", None, "1", 0, None, "0", None, None)


class FillEffect(NamedTuple):
    """What one fill did: its realised pnl, the position it belongs to, and the
    position it opened when it crossed zero (a tuple: one is made per fill)."""

    pnl: Decimal | None
    position: PositionState
    opened: PositionState | None = None


@dataclass(frozen=True)
class Terms:
    """A fill's contract terms and flags beside price and quantity (issue 17).

    Attributes:
      contract_size: the multiplier (1 for spot). inverse: priced in quote, settled in base.
      commission: the part of the fill's costs that is commission (already in ``fees``).
      closed_by: what a fill that brings the position to zero records: trade,
        liquidation or adjustment.
      margin, leverage, margin_mode, liquidation_price: as given with the fill.
    """

    contract_size: Decimal = Decimal(1)
    inverse: bool = False
    commission: Decimal = ZERO
    closed_by: str = "trade"
    margin: Decimal | None = None
    leverage: Decimal | None = None
    margin_mode: str | None = None
    liquidation_price: Decimal | None = None


PLAIN = Terms()


def fill_value(price: Decimal, quantity: Decimal, terms: Terms = PLAIN) -> Decimal:
    """A fill's value in the settle currency. Linear: price x quantity x contract_size,
    exact. Inverse: quantity x contract_size / price, rounded half-even to the share
    quantum (the one division of an inverse contract)."""
    # EXACT's methods: what ``with exact():`` does, without switching contexts (per fill)
    units = quantity if terms.contract_size == 1 else EXACT.multiply(quantity,
                                                                     terms.contract_size)
    if not terms.inverse:
        return tidy(EXACT.multiply(price, units))
    return share(units, ONE, price) if price != 1 else tidy(units)


def _margin_for(value: Decimal, terms: Terms, part: Decimal, whole: Decimal) -> Decimal:
    """Margin a fill posts for ``part`` of its ``whole`` quantity: as given (its share),
    else value / leverage (rounded to the share quantum), else 0."""
    if terms.margin is not None:
        return share(terms.margin, part, whole)
    if terms.leverage is not None:
        return share(value, ONE, terms.leverage)
    return ZERO


def _open(account, exchange, symbol, side, qty, price, fee, ts, currency, strategy,
          unvalued, terms: Terms, commission: Decimal, margin: Decimal) -> PositionState:
    value = fill_value(price, qty, terms)
    return PositionState(None, account, symbol, "LONG" if side == "BUY" else "SHORT", qty,
                         value, fee, qty, ZERO, fee, 1, ts, None, exchange, currency,
                         strategy, dict(unvalued or {}), qty, value, ZERO, ZERO, ZERO,
                         commission, None, terms.contract_size, terms.inverse, terms.leverage,
                         margin, terms.margin_mode, terms.liquidation_price)


def add_unvalued(target: dict, amounts: dict | None) -> None:
    """Adds ``amounts`` {currency: amount} into ``target``, exactly."""
    for currency, amount in (amounts or {}).items():
        target[currency] = tidy(EXACT.add(target.get(currency, ZERO), amount))


def _take_terms(position: PositionState, terms: Terms) -> None:
    """The latest leverage, margin mode and liquidation price given win."""
    if terms.leverage is not None:
        position.leverage = terms.leverage
    if terms.margin_mode is not None:
        position.margin_mode = terms.margin_mode
    if terms.liquidation_price is not None:
        position.liquidation_price = terms.liquidation_price


def apply_funding(position: PositionState, amount: Decimal) -> None:
    """A funding payment (signed, settle currency) counts in the round trip's pnl."""
    with exact():
        position.funding = tidy(position.funding + amount)
        position.realized_pnl = tidy(position.realized_pnl + amount)


def apply_fill(position: PositionState | None, *, account: str, symbol: str, side: str,
               quantity: Decimal, price: Decimal, fees: Decimal, timestamp: Any,
               given_pnl: Decimal | None = None, exchange: str = "", currency: str | None = None,
               strategy: str | None = None, unvalued: dict[str, Decimal] | None = None,
               terms: Terms = PLAIN) -> FillEffect:
    """Apply one fill; mutates ``position`` and returns the effect.

    ``quantity`` is what the position receives or gives up and ``fees`` every cost
    that counts in the settle currency (see tradestore.record.fees); ``unvalued`` {currency:
    amount} is carried beside pnl, never in it. A fill's value is ``fill_value``.
    Adding: quantity, entry value and entry fees grow. Reducing: the fill's value
    against its share of the entry value, minus that share of the entry fees and its
    own fee, signed for long or short (and the other way round for inverse
    contracts, whose value falls as the price rises); the closing fill takes what
    remains. Crossing zero closes the old side and opens the other, the fee split by
    quantity.
    """
    commission = terms.commission
    opened: PositionState | None
    if position is None:
        value = fill_value(price, quantity, terms)
        opened = _open(account, exchange, symbol, side, quantity, price, fees, timestamp,
                       currency, strategy, unvalued, terms, commission,
                       _margin_for(value, terms, quantity, quantity))
        if given_pnl is not None:
            opened.realized_pnl = given_pnl
        return FillEffect(given_pnl, opened)
    adds = (position.side == "LONG") == (side == "BUY")
    if terms is not PLAIN:
        _take_terms(position, terms)
    with exact():
        if adds:
            value = fill_value(price, quantity, terms)
            position.quantity += quantity
            position.entry_value = tidy(position.entry_value + value)
            position.entry_fees += fees
            position.fees += fees
            position.commission = tidy(position.commission + commission)
            position.entered_quantity = tidy(position.entered_quantity + quantity)
            position.entered_value = tidy(position.entered_value + value)
            position.margin = tidy(position.margin + _margin_for(value, terms, quantity,
                                                                 quantity))
            position.max_quantity = max(position.max_quantity, position.quantity)
            position.trade_count += 1
            if unvalued:
                add_unvalued(position.unvalued_fees, unvalued)
            if given_pnl is not None:
                position.realized_pnl = tidy(position.realized_pnl + given_pnl)
            return FillEffect(given_pnl, position)
        closing = min(quantity, position.quantity)
        rest = quantity - closing
        closing_fee = fees if rest == 0 else share(fees, closing, quantity)
        closing_commission = commission if rest == 0 else share(commission, closing, quantity)
        closing_unvalued = {c: a if rest == 0 else share(a, closing, quantity)
                            for c, a in unvalued.items()} if unvalued else None
        value_share = share(position.entry_value, closing, position.quantity)
        fee_share = share(position.entry_fees, closing, position.quantity)
        value = fill_value(price, closing, terms)
        gains_up = (position.side == "LONG") != position.inverse
        gross = value - value_share if gains_up else value_share - value
        pnl = tidy(gross - fee_share - closing_fee) if given_pnl is None else given_pnl
        position.quantity = tidy(position.quantity - closing)
        position.entry_value = tidy(position.entry_value - value_share)
        position.entry_fees = tidy(position.entry_fees - fee_share)
        position.realized_pnl = tidy(position.realized_pnl + pnl)
        position.fees = tidy(position.fees + closing_fee)
        position.commission = tidy(position.commission + closing_commission)
        position.exited_quantity = tidy(position.exited_quantity + closing)
        position.exit_value = tidy(position.exit_value + value)
        position.trade_count += 1
        if closing_unvalued:
            add_unvalued(position.unvalued_fees, closing_unvalued)
        opened = None
        if position.quantity == 0:
            position.closed_at = timestamp
            position.closed_by = terms.closed_by
            if rest > 0:
                rest_value = fill_value(price, rest, terms)
                opened = _open(account, exchange, symbol, side, rest, price,
                               tidy(fees - closing_fee), timestamp, currency, strategy,
                               # closing_unvalued is a dict whenever unvalued is
                               {c: tidy(a - closing_unvalued[c])  # type: ignore[index]
                                for c, a in unvalued.items()}
                               if unvalued else None, terms,
                               tidy(commission - closing_commission),
                               _margin_for(rest_value, terms, rest, rest))
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
    """One round trip, as stored (docs/trading-record.md, docs/futures.md).

    Attributes:
      id, account, symbol: identity; exchange: the venue (positions are per
        (account, exchange, symbol)).
      side: "LONG" or "SHORT".
      quantity: what is still held (0 once closed).
      entry_value, entry_fees: the value and opening costs of what is still held.
      avg_entry_price: open: the held entry value / quantity (the harmonic mean for an
        inverse contract); closed: the round trip's, over every opening and adding fill.
      cost_basis: entry value plus the held share of the entry fees.
      realized_pnl (also ``pnl``): the reducing fills' pnl plus funding, i.e.
        trading_pnl + funding - fees, in ``currency``.
      fees: every cost counted in the round trip (fees and commission); commission:
        the commission part of it.
      max_quantity: the largest quantity held.
      opened_at, closed_at: first and last fill (closed_at None while open).
      trade_count: fills in the round trip.
      currency: the settle currency of its amounts (the quote for spot), None when unknown.
      strategy: the strategy of the fill that opened it.
      unvalued_fees: {currency: Decimal} of fees in a third currency given without a
        quote value, left out of pnl (empty dict when none).
      entered_quantity, entered_value: every opening/adding fill's quantity and value;
        exited_quantity, exit_value: every reducing/closing fill's.
      avg_exit_price: the average exit (None before the first reduce).
      funding: funding payments attached (signed: + received, - paid).
      closed_by: "trade", "liquidation" or "adjustment" (None while open).
      contract_size, inverse: the contract terms the fills were valued with.
      leverage, margin_mode, liquidation_price: as the latest fill gave them (or None);
        margin: initial margin posted by its opening and adding fills.
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
    entered_quantity: Decimal = ZERO
    entered_value: Decimal = ZERO
    exited_quantity: Decimal = ZERO
    exit_value: Decimal = ZERO
    avg_exit_price: Decimal | None = None
    funding: Decimal = ZERO
    commission: Decimal = ZERO
    closed_by: str | None = None
    contract_size: Decimal = ONE
    inverse: bool = False
    leverage: Decimal | None = None
    margin: Decimal = ZERO
    margin_mode: str | None = None
    liquidation_price: Decimal | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def pnl(self) -> Decimal:
        return self.realized_pnl

    @property
    def trading_pnl(self) -> Decimal:
        """pnl from prices alone: realized_pnl - funding + fees."""
        return _trading_pnl(self.realized_pnl, self.funding, self.fees)

    @property
    def pnl_pct(self) -> Decimal | None:
        """realized_pnl as a percent of the entered value (rounded to 1e-18)."""
        return ratio(EXACT.multiply(self.realized_pnl, 100), self.entered_value)

    @property
    def roe(self) -> Decimal | None:
        """Return on equity: realized_pnl as a percent of the margin posted (None
        without margin)."""
        return ratio(EXACT.multiply(self.realized_pnl, 100), self.margin)

    @property
    def holding_time(self) -> timedelta | None:
        return None if self.closed_at is None else self.closed_at - self.opened_at

    @property
    def margin_used(self) -> Decimal:
        return self.margin

    def unrealized_pnl(self, mark_price: Amount) -> Decimal:
        """What closing the rest at ``mark_price`` without a fee would realise
        (the held entry fees included, like a realised close)."""
        mark = to_decimal(mark_price, "mark_price", positive=True)
        value = fill_value(mark, self.quantity, Terms(self.contract_size, self.inverse))
        with exact():
            gains_up = (self.side == "LONG") != self.inverse
            gross = value - self.entry_value if gains_up else self.entry_value - value
            return tidy(gross - self.entry_fees)


def average_price(value: Decimal, quantity: Decimal, contract_size: Decimal,
                  inverse: bool) -> Decimal | None:
    """Linear: value / (quantity x contract_size); inverse: quantity x contract_size /
    value (the contract-weighted harmonic mean); rounded to the share quantum."""
    # per write, twice: EXACT's method, not ``with exact()`` (see fill_value); x 1 is skipped
    # (its exponent could differ, but ratio quantizes, so the result is the same)
    units = quantity if contract_size == 1 else EXACT.multiply(quantity, contract_size)
    return ratio(units, value) if inverse else ratio(value, units)


def _trading_pnl(realized_pnl: Decimal, funding: Decimal, fees: Decimal) -> Decimal:
    """realized_pnl - funding + fees, exact (EXACT's methods: it runs per write)."""
    return tidy(EXACT.add(EXACT.subtract(realized_pnl, funding), fees))


def unvalued_in(amounts: dict) -> str | None:
    return canonical_json({c: dec_in(a) for c, a in sorted(amounts.items())}) if amounts else None


def unvalued_out(text: str | None) -> dict:
    if text is None:  # the common case, read per single save
        return {}
    return {c: Decimal(a) for c, a in (json_out(text) or {}).items()}


def position_from_state(s: PositionState) -> Position:
    cost = tidy(EXACT.add(s.entry_value, s.entry_fees))
    if s.closed_at is None:
        entry = average_price(s.entry_value, s.quantity, s.contract_size, s.inverse)
    else:
        entry = average_price(s.entered_value, s.entered_quantity, s.contract_size, s.inverse)
    # a stored state: its id is set (PositionState.id is None only before the insert)
    stored_id: int = s.id  # type: ignore[assignment]
    return Position(stored_id, s.account, s.symbol, s.side, s.quantity, s.entry_value,
                    s.entry_fees, entry, cost, s.realized_pnl, s.fees, s.max_quantity,
                    s.trade_count, s.opened_at, s.closed_at, s.exchange, s.currency, s.strategy,
                    dict(s.unvalued_fees), s.entered_quantity, s.entered_value,
                    s.exited_quantity, s.exit_value,
                    average_price(s.exit_value, s.exited_quantity, s.contract_size, s.inverse),
                    s.funding, s.commission, s.closed_by, s.contract_size, s.inverse,
                    s.leverage, s.margin, s.margin_mode, s.liquidation_price)


EXTRA_FIGURES = ("entered quantity", "entered value", "exited quantity", "exit value",
                 "funding", "commission")


def _row_values(s: PositionState) -> tuple:
    """The stored texts; a figure too long for the schema is a ValidationError naming it
    (products of 38-digit inputs can exceed what a CHECK lets through)."""
    values = (dec_in(s.quantity), dec_in(s.entry_value), dec_in(s.entry_fees),
              dec_in(s.max_quantity), dec_in(s.realized_pnl), dec_in(s.fees))
    for name, text in zip(FIGURES, values):
        if len(text) > STORED_LENGTH:
            raise _too_long(name, s.symbol, text)
    return (*values, s.trade_count)


def _extra_values(s: PositionState) -> tuple:
    """The schema 11 columns, in EXTRA_SET order."""
    values = (dec_in(s.entered_quantity), dec_in(s.entered_value), dec_in(s.exited_quantity),
              dec_in(s.exit_value), dec_in(s.funding), dec_in(s.commission))
    for name, text in zip(EXTRA_FIGURES, values):
        if len(text) > STORED_LENGTH:
            raise _too_long(name, s.symbol, text)
    return (*values, s.closed_by, dec_in(s.contract_size), int(s.inverse), dec_in(s.leverage),
            dec_in(s.margin), s.margin_mode, dec_in(s.liquidation_price),
            dec_in(average_price(s.entered_value, s.entered_quantity, s.contract_size,
                                 s.inverse)),
            dec_in(average_price(s.exit_value, s.exited_quantity, s.contract_size, s.inverse)),
            check_pnl(s.symbol, s.trading_pnl))


class PositionStore:
    """``repo.positions``: reads of the ``positions`` table, and the writes fills make."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    # ---- writes, inside the caller's transaction
    @staticmethod
    def load_open(conn: Connection, account: str, exchange: str, symbol: str) -> PositionState | None:
        row = conn.execute(SELECT_OPEN, (account, exchange, symbol)).fetchone()
        return None if row is None else PositionState.from_row(row)

    # ``now``: the store's clock as stored text (ts_in(db.now())), the caller's to give
    @staticmethod
    def insert(conn: Connection, s: PositionState, now: str) -> int:
        s.id = conn.execute(INSERT_POSITION, insert_values(s, now)).lastrowid
        return s.id

    @staticmethod
    def update(conn: Connection, s: PositionState, now: str) -> None:
        conn.execute(UPDATE_POSITION, update_values(s, now))

    @staticmethod
    def write_many(conn: Connection, updates: list[tuple], inserts: list[tuple]) -> None:
        """A bulk save's round trips: ``updates`` (update_values rows) first, one of them
        may close and free its key's open slot; then ``inserts`` (insert_values rows)."""
        if updates:
            conn.executemany(UPDATE_POSITION, updates)
        if inserts:
            conn.executemany(INSERT_POSITION, inserts)

    @staticmethod
    def load(conn: Connection, position_id: int) -> PositionState | None:
        """One round trip by id, on the caller's connection (None when not stored)."""
        row = conn.execute(SELECT_BY_ID, (position_id,)).fetchone()
        return None if row is None else PositionState.from_row(row)

    @staticmethod
    def key_from(conn: Connection, key: tuple[str, str, str], start: int) -> list[PositionState]:
        """The round trips of ``key`` (account, exchange, symbol) from id ``start`` on,
        in id order (a replay's old states)."""
        return [PositionState.from_row(r) for r in conn.execute(SELECT_KEY_FROM, (*key, start))]

    @staticmethod
    def park_open(conn: Connection, key: tuple[str, str, str], start: int) -> None:
        """Close (at their opening) the key's open round trips from id ``start`` on, so
        that a replay can rewrite them in place without two holding the open slot."""
        conn.execute(PARK_OPEN, (*key, start))

    @staticmethod
    def keys(conn: Connection) -> list[tuple[str, str, str]]:
        """Every (account, exchange, symbol) with a round trip (what rebuild walks)."""
        return [(r[0], r[1], r[2]) for r in conn.execute(POSITION_KEYS)]

    @staticmethod
    def delete(conn: Connection, position_id: int) -> None:
        """Remove a round trip a replay no longer makes (its fills were detached first)."""
        conn.execute(DELETE_POSITION, (position_id,))

    @staticmethod
    def rewrite(conn: Connection, s: PositionState, now: str | None) -> None:
        """``now`` None keeps updated_at (schema 11's figures filled in, nothing else)."""
        conn.execute(REWRITE_POSITION, (s.side, *_row_values(s), unvalued_in(s.unvalued_fees),
                                        ts_in(s.opened_at), ts_in(s.closed_at), s.currency,
                                        s.strategy, now,
                                        *_extra_values(s), s.id))

    # ---- reads
    def get_position(self, symbol: str, account: str = "default",
                     exchange: str | None = None) -> Position | None:
        """The open position of ``symbol`` in ``account`` (on ``exchange`` when given),
        or None when flat; ConflictError naming the venues when several hold one."""
        symbol, account = to_text(symbol, "symbol"), to_text(account, "account")
        if exchange is not None:
            exchange = to_text(exchange, "exchange", allow_empty=True)
            row = self.db.query_one(SELECT_OPEN, (account, exchange, symbol))
            return None if row is None else position_from_state(PositionState.from_row(row))
        rows = self.db.query(SELECT_OPEN_ANY_VENUE, (account, symbol))
        if len(rows) > 1:
            venues = ", ".join(repr(r[13]) for r in rows)
            raise ConflictError(f"symbol: {symbol!r} in account {account!r} is open on several "
                                f"exchanges ({venues}); pass exchange= to choose one")
        return position_from_state(PositionState.from_row(rows[0])) if rows else None

    def get(self, position_id: int) -> Position | None:
        row = self.db.query_one(SELECT_BY_ID, (position_id,))
        return None if row is None else position_from_state(PositionState.from_row(row))

    def get_open_positions(self, account: str | None = None,
                           exchange: str | None = None) -> list[Position]:
        rows = self.db.query(
            f"SELECT {POSITION_COLUMNS} FROM positions WHERE closed_at IS NULL "
            "AND (:account IS NULL OR account = :account) "
            "AND (:exchange IS NULL OR exchange = :exchange) ORDER BY account, symbol, exchange",
            {"account": account, "exchange": exchange})
        return [position_from_state(PositionState.from_row(r)) for r in rows]

    def get_closed_positions(self, symbol: str | None = None, days: float | None = None, *,
                             account: str | None = None, exchange: str | None = None,
                             since: Moment | None = None, until: Moment | None = None,
                             limit: int | None = None) -> list[Position]:
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
        return [position_from_state(PositionState.from_row(r)) for r in rows]


# Funding, commission and liquidations of closed round trips, per currency, with the
# filters of roundtrips.ROUND_TRIPS_SQL: only rows that have any (in C), summed exactly here.
ROUND_TRIP_EXTRAS_SQL = """
SELECT coalesce(currency, ''), funding, commission, closed_by, realized_pnl
FROM positions
WHERE closed_at IS NOT NULL AND closed_at >= :start AND closed_at < :end
  AND (funding <> '0' OR commission <> '0' OR closed_by = 'liquidation')
  AND (:account IS NULL OR account = :account)
  AND (:strategy IS NULL OR coalesce(strategy, '') = :strategy)
  AND (:symbol IS NULL OR symbol = :symbol)
  AND (:exchange IS NULL OR exchange = :exchange)
  AND (:currency IS NULL OR coalesce(currency, '') = :currency)
"""


def round_trip_extras(conn: Connection, params: dict[str, Any]) -> dict[int, Any]:
    """{currency: {total_funding, total_commission, liquidations, liquidation_loss}} of the
    closed round trips ROUND_TRIPS_SQL's ``params`` select (issue 17.4, 17.5, 17.7)."""
    out: dict = {}
    with exact():
        for currency, funding, commission, closed_by, pnl in conn.execute(
                ROUND_TRIP_EXTRAS_SQL, params):
            e = out.setdefault(currency, {"total_funding": ZERO, "total_commission": ZERO,
                                          "liquidations": 0, "liquidation_loss": ZERO})
            e["total_funding"] = tidy(e["total_funding"] + Decimal(funding))
            e["total_commission"] = tidy(e["total_commission"] + Decimal(commission))
            if closed_by == "liquidation":
                e["liquidations"] += 1
                e["liquidation_loss"] = tidy(e["liquidation_loss"] + Decimal(pnl))
    return out


def insert_values(s: PositionState, now: str) -> tuple:
    """INSERT_POSITION's parameters (id None: the next one); a ValidationError naming a
    figure too long to store. (A row builder for the bulk save, not a repository method.)"""
    return (s.id, s.account, s.exchange, s.symbol, s.side, *_row_values(s),
            ts_in(s.opened_at), ts_in(s.closed_at), s.currency, s.strategy,
            unvalued_in(s.unvalued_fees), now, now, *_extra_values(s))


def update_values(s: PositionState, now: str) -> tuple:
    """UPDATE_POSITION's parameters."""
    return (*_row_values(s), unvalued_in(s.unvalued_fees), ts_in(s.closed_at), now,
            *_extra_values(s), s.id)


CASH_POSITIONS = ("SELECT symbol, currency, realized_pnl, entry_fees, closed_at FROM positions "
                  "WHERE account = ?")


def cash_positions(conn: Connection, account: str) -> Any:
    """(symbol, currency, realized_pnl, entry_fees, closed_at) of the account's round
    trips, for its cash (books/balance.py)."""
    return conn.execute(CASH_POSITIONS, (account,))
