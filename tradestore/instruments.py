"""Instruments: what a symbol is (asset class, exchange, tick and lot size)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from decimal import Decimal

from .accounts import check_currency
from .codec import (dec_in, dec_out, json_object_in, json_out, optional_decimal, optional_text,
                    to_text, ts_in, ts_out, utc_now)
from .audit import record
from .db import Database
from .errors import NotFoundError


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
        change the quantity held; see tradestore.fees). quote_currency falls back to
        currency when only that is set.
      metadata: a dict or None.
      created_at, updated_at: aware UTC datetimes.
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


COLUMNS = ("id, symbol, name, asset_class, exchange, tick_size, lot_size, currency, metadata, "
           "created_at, updated_at, base_currency, quote_currency")
GET_INSTRUMENT = f"SELECT {COLUMNS} FROM instruments WHERE symbol = ?"
LIST_INSTRUMENTS = f"""
SELECT {COLUMNS} FROM instruments
WHERE (:asset_class IS NULL OR asset_class = :asset_class)
  AND (:exchange IS NULL OR exchange = :exchange)
ORDER BY symbol
"""
# A field given as None keeps what the row has, so an upsert can change one field.
UPSERT_INSTRUMENT = """
INSERT INTO instruments (symbol, name, asset_class, exchange, tick_size, lot_size, currency,
                         metadata, created_at, updated_at, base_currency, quote_currency)
VALUES (:symbol, :name, :asset_class, :exchange, :tick_size, :lot_size, :currency, :metadata,
        :now, :now, :base_currency, :quote_currency)
ON CONFLICT (symbol) DO UPDATE SET
    name = coalesce(excluded.name, name),
    asset_class = coalesce(excluded.asset_class, asset_class),
    exchange = coalesce(excluded.exchange, exchange),
    tick_size = coalesce(excluded.tick_size, tick_size),
    lot_size = coalesce(excluded.lot_size, lot_size),
    currency = coalesce(excluded.currency, currency),
    metadata = coalesce(excluded.metadata, metadata),
    base_currency = coalesce(excluded.base_currency, base_currency),
    quote_currency = coalesce(excluded.quote_currency, quote_currency),
    updated_at = excluded.updated_at
"""


def _instrument(row) -> Instrument:
    return Instrument(row[0], row[1], row[2], row[3], row[4], dec_out(row[5]), dec_out(row[6]),
                      row[7], json_out(row[8]), ts_out(row[9]), ts_out(row[10]), row[11],
                      row[12])


def _audit_fields(instrument: Instrument) -> dict:
    """What the audit trail shows of an instrument (not its id and times)."""
    fields = dict(vars(instrument))
    for name in ("id", "symbol", "created_at", "updated_at"):
        fields.pop(name, None)
    return fields


class Instruments:
    """``repo.instruments``: the symbols a bot trades and their properties."""

    def __init__(self, db: Database):
        self.db = db

    def upsert(self, symbol, *, name=None, asset_class=None, exchange=None, tick_size=None,
               lot_size=None, currency=None, metadata=None, base_currency=None,
               quote_currency=None) -> Instrument:
        """Insert ``symbol`` or update it; fields left as None keep their stored value."""
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
            "now": ts_in(utc_now()),
        }
        with self.db.transaction() as conn:
            before = conn.execute(GET_INSTRUMENT, (params["symbol"],)).fetchone()
            conn.execute(UPSERT_INSTRUMENT, params)
            after = _instrument(conn.execute(GET_INSTRUMENT, (params["symbol"],)).fetchone())
            record(conn, "instrument", after.symbol, "update" if before else "create",
                   before and _audit_fields(_instrument(before)), _audit_fields(after),
                   symbol=after.symbol)
            return after

    def get(self, symbol) -> Instrument:
        row = self.db.query_one(GET_INSTRUMENT, (to_text(symbol, "symbol"),))
        if row is None:
            raise NotFoundError(f"no instrument {symbol!r}")
        return _instrument(row)

    def list(self, *, asset_class=None, exchange=None) -> list[Instrument]:
        params = {"asset_class": optional_text(asset_class, "asset_class"),
                  "exchange": optional_text(exchange, "exchange")}
        return [_instrument(r) for r in self.db.query(LIST_INSTRUMENTS, params)]
