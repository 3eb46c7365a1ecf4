"""Instruments: what a symbol is (asset class, exchange, tick and lot size).

Soft delete (issue 20.4): ``deactivate(symbol)`` hides an instrument from ``list()``
(``include_inactive=True`` shows it) and makes new fills and orders of that symbol a
ConflictError naming it; ``activate(symbol)`` brings it back. A symbol that is not
registered is not checked (the registry is optional).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Sequence

from tradestore._core.audit import record
from tradestore._core.codec import (dec_in, dec_out, json_object_in, json_out, optional_decimal,
                                    optional_text, to_flag, to_text, to_utc, ts_in, ts_out)
from tradestore._core.hints import Amount, Engine, JSONObject, Moment
from tradestore.books.accounts import check_currency
from tradestore.errors import ConflictError, NotFoundError, ValidationError


@dataclass(frozen=True)
class Instrument:
    """A tradable symbol.

    Attributes:
      id: stable row id.
      symbol: unique symbol as fills carry it (``BTC/USDT``, ``AAPL``).
      name, asset_class, exchange: free text or None.
      tick_size, lot_size: positive Decimals or None.
      currency: quote currency code or None.
      base_currency, quote_currency: what the symbol trades and what its prices are in,
        for symbols that do not spell them as BASE/QUOTE (fees in the base currency
        change the quantity held; see tradestore.record.fees). quote_currency falls back to
        currency when only that is set.
      kind: spot, perpetual, future or option (None: unknown).
      contract_size: the multiplier of one contract (None: 1).
      inverse: priced in quote, settled in base (pnl = qty x size x (1/entry - 1/exit)).
      settle_currency: what pnl, fees and funding are in (None: the quote; the base for
        an inverse contract). expiry: a dated future's or option's expiry, or None.
      A ccxt symbol (BASE/QUOTE:SETTLE) needs no registration for its currencies;
      registering it sets contract_size (and kind, inverse) for it.
      metadata: a dict or None.
      created_at, updated_at: aware UTC datetimes.
      active: False once deactivated (soft delete; it refuses new fills and orders).
    """

    id: int
    symbol: str
    name: str | None
    asset_class: str | None
    exchange: str | None
    tick_size: Decimal | None
    lot_size: Decimal | None
    currency: str | None
    metadata: dict | None
    created_at: _dt.datetime
    updated_at: _dt.datetime
    base_currency: str | None = None
    quote_currency: str | None = None
    kind: str | None = None
    contract_size: Decimal | None = None
    inverse: bool = False
    settle_currency: str | None = None
    expiry: _dt.datetime | None = None
    active: bool = True

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Instrument:
        """The record of one row of this module's SELECTs (stored text decoded)."""
        return cls(row[0], row[1], row[2], row[3], row[4], dec_out(row[5]), dec_out(row[6]),
                   row[7], json_out(row[8]), ts_out(row[9]), ts_out(row[10]), row[11],
                   row[12], row[13], dec_out(row[14]), bool(row[15]), row[16],
                   ts_out(row[17]), bool(row[18]))


COLUMNS = ("id, symbol, name, asset_class, exchange, tick_size, lot_size, currency, metadata, "
           "created_at, updated_at, base_currency, quote_currency, kind, contract_size, "
           "inverse, settle_currency, expiry, is_active")
KINDS = ("spot", "perpetual", "future", "option")
GET_INSTRUMENT = f"SELECT {COLUMNS} FROM instruments WHERE symbol = ?"
LIST_INSTRUMENTS = f"""
SELECT {COLUMNS} FROM instruments
WHERE (:asset_class IS NULL OR asset_class = :asset_class)
  AND (:exchange IS NULL OR exchange = :exchange)
  AND (is_active = 1 OR :include_inactive = 1)
ORDER BY symbol
"""
IS_ACTIVE = "SELECT is_active FROM instruments WHERE symbol = ?"
SET_ACTIVE = "UPDATE instruments SET is_active = ?, updated_at = ? WHERE symbol = ?"
# A field given as None keeps what the row has, so an upsert can change one field.
UPSERT_INSTRUMENT = """
INSERT INTO instruments (symbol, name, asset_class, exchange, tick_size, lot_size, currency,
                         metadata, created_at, updated_at, base_currency, quote_currency,
                         kind, contract_size, inverse, settle_currency, expiry)
VALUES (:symbol, :name, :asset_class, :exchange, :tick_size, :lot_size, :currency, :metadata,
        :now, :now, :base_currency, :quote_currency, :kind, :contract_size,
        coalesce(:inverse, 0), :settle_currency, :expiry)
ON CONFLICT (symbol) DO UPDATE SET
    name = coalesce(excluded.name, instruments.name),
    asset_class = coalesce(excluded.asset_class, instruments.asset_class),
    exchange = coalesce(excluded.exchange, instruments.exchange),
    tick_size = coalesce(excluded.tick_size, instruments.tick_size),
    lot_size = coalesce(excluded.lot_size, instruments.lot_size),
    currency = coalesce(excluded.currency, instruments.currency),
    metadata = coalesce(excluded.metadata, instruments.metadata),
    base_currency = coalesce(excluded.base_currency, instruments.base_currency),
    quote_currency = coalesce(excluded.quote_currency, instruments.quote_currency),
    kind = coalesce(excluded.kind, instruments.kind),
    contract_size = coalesce(excluded.contract_size, instruments.contract_size),
    inverse = CASE WHEN :inverse IS NULL THEN instruments.inverse ELSE excluded.inverse END,
    settle_currency = coalesce(excluded.settle_currency, instruments.settle_currency),
    expiry = coalesce(excluded.expiry, instruments.expiry),
    updated_at = excluded.updated_at
"""


def _kind(value) -> str:
    if isinstance(value, str) and value.strip().lower() in KINDS:
        return value.strip().lower()
    raise ValidationError(f"kind: {value!r} is not one of {', '.join(KINDS)}", field="kind",
                          value=value)


def _audit_fields(instrument: Instrument) -> dict:
    """What the audit trail shows of an instrument (not its id and times)."""
    fields = dict(vars(instrument))
    for name in ("id", "symbol", "created_at", "updated_at"):
        fields.pop(name, None)
    return fields


class InstrumentStore:
    """``repo.instruments``: the symbols a bot trades and their properties."""

    def __init__(self, db: Engine):
        self.db = db

    def require_active(self, symbol: str) -> str:
        """``symbol`` unless it is a deactivated instrument (ConflictError); an
        unregistered symbol passes. Fills and orders call this inside their transaction
        (a bulk save puts the row's "row N: " before the error)."""
        symbol = to_text(symbol, "symbol")
        active = self.db.scalar(IS_ACTIVE, (symbol,))
        if active is not None and not active:
            raise ConflictError(f"symbol: instrument {symbol!r} is deactivated; it takes "
                                f"no new fills or orders (repo.instruments.activate({symbol!r}) "
                                "brings it back)")
        return symbol

    def upsert(self, symbol: str, *, name: str | None = None, asset_class: str | None = None,
               exchange: str | None = None, tick_size: Amount | None = None,
               lot_size: Amount | None = None, currency: str | None = None,
               metadata: JSONObject | None = None, base_currency: str | None = None,
               quote_currency: str | None = None, kind: str | None = None,
               contract_size: Amount | None = None, inverse: bool | None = None,
               settle_currency: str | None = None, expiry: Moment | None = None) -> Instrument:
        """Insert ``symbol`` or update it; fields left as None keep their stored value.
        Changing contract terms of a symbol with fills: run ``repo.rebuild()``."""
        if inverse is not None:
            to_flag(inverse, "inverse")
        params = {
            "symbol": to_text(symbol, "symbol"),
            "name": optional_text(name, "name"),
            "asset_class": optional_text(asset_class, "asset_class"),
            "exchange": optional_text(exchange, "exchange"),
            "tick_size": dec_in(optional_decimal(tick_size, "tick_size", positive=True)),
            "lot_size": dec_in(optional_decimal(lot_size, "lot_size", positive=True)),
            "currency": None if currency is None else check_currency(currency, "currency"),
            "metadata": json_object_in(metadata, "metadata"),
            "base_currency": optional_text(base_currency, "base_currency"),
            "quote_currency": optional_text(quote_currency, "quote_currency"),
            "kind": None if kind is None else _kind(kind),
            "contract_size": dec_in(optional_decimal(contract_size, "contract_size",
                                                     positive=True)),
            "inverse": None if inverse is None else int(inverse),
            "settle_currency": optional_text(settle_currency, "settle_currency"),
            "expiry": None if expiry is None else ts_in(to_utc(expiry, "expiry")),
            "now": ts_in(self.db.now()),
        }
        with self.db.transaction() as conn:
            before = conn.execute(GET_INSTRUMENT, (params["symbol"],)).fetchone()
            conn.execute(UPSERT_INSTRUMENT, params)
            after = Instrument.from_row(conn.execute(GET_INSTRUMENT, (params["symbol"],)).fetchone())
            record(conn, "instrument", after.symbol, "update" if before else "create",
                   before and _audit_fields(Instrument.from_row(before)), _audit_fields(after),
                   symbol=after.symbol, now=params["now"])
            return after

    def get(self, symbol: str) -> Instrument:
        row = self.db.query_one(GET_INSTRUMENT, (to_text(symbol, "symbol"),))
        if row is None:
            raise NotFoundError(f"no instrument {symbol!r}")
        return Instrument.from_row(row)

    def list(self, *, asset_class: str | None = None, exchange: str | None = None,
             include_inactive: bool = False) -> list[Instrument]:
        """By symbol; deactivated ones only with ``include_inactive=True``."""
        to_flag(include_inactive, "include_inactive")
        params = {"asset_class": optional_text(asset_class, "asset_class"),
                  "exchange": optional_text(exchange, "exchange"),
                  "include_inactive": int(include_inactive)}
        return [Instrument.from_row(r) for r in self.db.query(LIST_INSTRUMENTS, params)]

    def deactivate(self, symbol: str) -> Instrument:
        """Soft delete: hidden from lists, refuses new fills and orders of the symbol."""
        return self._set_active(symbol, False)

    def activate(self, symbol: str) -> Instrument:
        """Undo ``deactivate``."""
        return self._set_active(symbol, True)

    def _set_active(self, symbol, active: bool) -> Instrument:
        symbol = to_text(symbol, "symbol")
        with self.db.transaction() as conn:
            row = conn.execute(GET_INSTRUMENT, (symbol,)).fetchone()
            if row is None:
                raise NotFoundError(f"no instrument {symbol!r}")
            now = ts_in(self.db.now())
            conn.execute(SET_ACTIVE, (int(active), now, symbol))
            record(conn, "instrument", symbol, "activate" if active else "deactivate",
                   {"active": bool(row[18])}, {"active": active}, symbol=symbol, now=now)
            return Instrument.from_row(conn.execute(GET_INSTRUMENT, (symbol,)).fetchone())
