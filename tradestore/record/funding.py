"""Funding payments of perpetual contracts (issue 17.4; docs/futures.md).

A payment is signed (+ received, - paid) and in the settle currency of its symbol.
It belongs to the position of its key (account, exchange, symbol) open at its
timestamp: the one open just before it, since fills at the same instant apply after
it. It adds to that round trip's ``funding`` and ``realized_pnl``. A payment with no
position open at its time is kept, attached to none (it still moves the account's
cash). Saving is idempotent on (exchange, external_id). A payment older than the
newest fill of its key replays the key (the ledger, tradestore.record.ledger, which the
store receives as a ``KeyReplay``), so late fills and late funding both end where time
order would. The ledger's reads and writes of this table are here too.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Sequence

from tradestore._core.codec import (dec_in, is_int, json_object_in, json_out, optional_text,
                                    to_decimal, to_items, to_text, to_utc, ts_in, ts_out)
from tradestore._core.hints import (AccountBook, Amount, Connection, Engine, JSONObject,
                                    KeyReplay, Moment)
from tradestore._core.pg import MAYBE_EMPTY_TIME, per_engine
from tradestore.errors import ConflictError, ValidationError
from tradestore.record.ccxt import _timestamp
from tradestore.record.fees import currencies_of
from tradestore.record.positions import PositionStore, apply_funding
from tradestore.record.trades import SaveResult

FUNDING_COLUMNS = ("id, account, exchange, symbol, amount, currency, timestamp, external_id, "
                   "position_id, metadata, created_at")
INSERT_FUNDING = """
INSERT INTO funding_payments (account, exchange, symbol, amount, currency, timestamp,
                              external_id, position_id, metadata, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
SELECT_BY_EXTERNAL_ID = "SELECT id FROM funding_payments WHERE exchange = ? AND external_id = ?"
UNATTACHED = ("SELECT currency, amount FROM funding_payments WHERE account = ? "
              "AND position_id IS NULL")
# record's arguments: a row of record_many
RECORD_FIELDS = frozenset({"symbol", "amount", "timestamp", "exchange", "account",
                           "external_id", "currency", "metadata"})
SELECT_FUNDING = f"SELECT {FUNDING_COLUMNS} FROM funding_payments WHERE id = ?"
LIST_FUNDING = f"""
SELECT {FUNDING_COLUMNS} FROM funding_payments
WHERE (:account IS NULL OR account = :account) AND (:symbol IS NULL OR symbol = :symbol)
  AND (:exchange IS NULL OR exchange = :exchange)
  AND (:position_id IS NULL OR position_id = :position_id)
ORDER BY timestamp, id
"""


@dataclass(frozen=True)
class FundingPayment:
    """One funding payment.

    Attributes:
      id: row id. account, exchange, symbol: its position key.
      amount: signed Decimal in ``currency`` (+ received, - paid).
      currency: the settle currency of the symbol (None when unknown).
      timestamp: when it was paid (aware UTC).
      external_id: the exchange's id; with exchange it makes the payment idempotent.
      position_id: the round trip it counts in (None: no position open at its time).
      metadata: a dict or None. created_at: when stored.
    """

    id: int
    account: str
    exchange: str
    symbol: str
    amount: Decimal
    currency: str | None
    timestamp: _dt.datetime
    external_id: str | None
    position_id: int | None
    metadata: dict | None
    created_at: _dt.datetime

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> FundingPayment:
        """The record of one row of this module's SELECTs (stored text decoded)."""
        return cls(row[0], row[1], row[2], row[3], Decimal(row[4]), row[5],
                   ts_out(row[6]), row[7], row[8], json_out(row[9]), ts_out(row[10]))


def unattached_funding(conn: Connection, account: str) -> list[tuple[str, str]]:
    """(currency, amount as stored text) of the account's payments attached to no
    position, on the caller's connection (tradestore.books.balance counts them as cash)."""
    return conn.execute(UNATTACHED, (account,)).fetchall()


# ------------------------------------------------------------ the ledger's reads and writes
# (record/ledger.py attaches a key's payments on replay; conn first, inside the caller's
# transaction; the key is (account, exchange, symbol))
NEWEST_PAYMENT = ("SELECT timestamp FROM funding_payments WHERE account = ? AND exchange = ? "
                  "AND symbol = ? ORDER BY timestamp DESC, id DESC LIMIT 1")
# Funding at time t belongs to the position open just before t: fills at t come after it.
KEY_PAYMENTS_AFTER = ("SELECT id, amount, timestamp, position_id FROM funding_payments "
                      "WHERE account = ? AND exchange = ? AND symbol = ? AND timestamp > ? "
                      "ORDER BY timestamp, id")
# PostgreSQL: the "" of a whole-key replay is no time there
KEY_PAYMENTS_AFTER = per_engine(KEY_PAYMENTS_AFTER, KEY_PAYMENTS_AFTER.replace(
    "timestamp > ?", f"timestamp > {MAYBE_EMPTY_TIME}"))
DETACH_PAYMENTS = "UPDATE funding_payments SET position_id = NULL WHERE position_id = ?"
SET_PAYMENT_POSITION = "UPDATE funding_payments SET position_id = ? WHERE id = ?"
PAYMENT_KEYS = "SELECT DISTINCT account, exchange, symbol FROM funding_payments"


def newest_payment(conn: Connection, key: tuple[str, str, str]) -> str | None:
    """The stored time of the key's newest payment (None: it has none)."""
    row = conn.execute(NEWEST_PAYMENT, key).fetchone()
    return None if row is None else row[0]


def key_payments_after(conn: Connection, key: tuple[str, str, str],
                       after: str) -> list[tuple[int, str, str, int | None]]:
    """(id, amount, timestamp as stored text, position_id) of the key's payments after
    ``after`` (stored time; "": all), in (timestamp, id) order."""
    return [(r[0], r[1], r[2], r[3]) for r in conn.execute(KEY_PAYMENTS_AFTER, (*key, after))]


def detach_payments(conn: Connection, position_ids: Iterable[int]) -> None:
    """Unlink the payments of these round trips (a replay rewrites those round trips
    and attaches the payments again)."""
    conn.executemany(DETACH_PAYMENTS, [(i,) for i in position_ids])


def set_payment_positions(conn: Connection, rows: list[tuple[int | None, int]]) -> None:
    """Each replayed payment's (position_id or None, id)."""
    conn.executemany(SET_PAYMENT_POSITION, rows)


def payment_keys(conn: Connection) -> list[tuple[str, str, str]]:
    """Every key with a payment."""
    return [(r[0], r[1], r[2]) for r in conn.execute(PAYMENT_KEYS)]


class FundingStore:
    """``repo.funding``: funding payments, attached to the positions they count in."""

    def __init__(self, db: Engine, ledger: KeyReplay, accounts: AccountBook | None = None) -> None:
        self.db = db
        self.ledger = ledger  # the replay of a key (record.ledger.Ledger), for late payments
        self.accounts = accounts  # repo.accounts: which names may take payments (None: any)

    def record(self, symbol: str, amount: Amount, timestamp: Moment | None = None, *,
               exchange: str = "", account: str = "default", external_id: str | None = None,
               currency: str | None = None, metadata: JSONObject | None = None) -> int:
        """Store one payment and count it in the position open at ``timestamp``; returns
        its id (the stored one's for a repeated (exchange, external_id))."""
        return self._save(symbol, amount, timestamp, exchange, account, external_id, currency,
                          metadata)[0]

    def record_many(self, payments: Iterable[Mapping[str, Any]]) -> SaveResult:
        """Record payments in one transaction, all or nothing, each a mapping of
        ``record``'s arguments; says row by row which were new (SaveResult). A bad row
        is a ValidationError with its ``index``."""
        ids, new = [], []
        with self.db.transaction():
            for index, values in enumerate(to_items(payments, "payments",
                                                    "mappings of record's arguments")):
                try:
                    if not isinstance(values, Mapping):
                        raise ValidationError(f"{values!r} is not a mapping of record's "
                                              "arguments", value=values)
                    unknown = sorted(map(str, set(values) - RECORD_FIELDS))
                    if unknown:
                        raise ValidationError(f"unknown field(s) {', '.join(unknown)}; allowed: "
                                              f"{', '.join(sorted(RECORD_FIELDS))}",
                                              field=unknown[0], value=values)
                    payment_id, is_new = self._save(
                        values.get("symbol"), values.get("amount"), values.get("timestamp"),
                        values.get("exchange", ""), values.get("account", "default"),
                        values.get("external_id"), values.get("currency"),
                        values.get("metadata"))
                except (ValidationError, ConflictError) as exc:
                    raise exc.in_row(index) from None
                ids.append(payment_id)
                new.append(is_new)
        return SaveResult(ids, new)

    def _save(self, symbol, amount, timestamp, exchange, account, external_id, currency,
              metadata) -> tuple[int, bool]:
        """(id, whether it is new) of one payment, recorded as ``record`` says."""
        symbol = to_text(symbol, "symbol")
        value = to_decimal(amount, "amount")
        moment = self.db.now() if timestamp is None else to_utc(timestamp, "timestamp")
        exchange = to_text(exchange, "exchange", allow_empty=True)
        account = to_text(account, "account")
        if external_id is not None:
            external_id = to_text(str(external_id) if is_int(external_id) else external_id,
                                  "external_id", max_length=500)
        currency = optional_text(currency, "currency")
        meta = json_object_in(metadata, "metadata")
        with self.db.transaction() as conn:
            if external_id is not None:
                row = conn.execute(SELECT_BY_EXTERNAL_ID, (exchange, external_id)).fetchone()
                if row is not None:
                    return row[0], False
            if self.accounts is not None:
                self.accounts.require(account)
            settle = currencies_of(conn, symbol).settle
            if currency is not None and settle is not None and currency.upper() != settle.upper():
                raise ValidationError(
                    f"currency: a funding payment on {symbol} is in its settle currency "
                    f"{settle}, not {currency!r}", field="currency", value=currency)
            key, stamp, now = (account, exchange, symbol), ts_in(moment), ts_in(self.db.now())
            late = self.ledger.payment_is_late(conn, key, stamp)
            position = None if late else PositionStore.load_open(conn, *key)
            row_id = conn.execute(INSERT_FUNDING, (
                account, exchange, symbol, dec_in(value), currency or settle, stamp, external_id,
                None if position is None else position.id, meta, now)).lastrowid
            if position is not None:
                apply_funding(position, value)
                PositionStore.update(conn, position, now)
            elif late:
                self.ledger.replay(conn, key, (stamp, 0), now)
            return row_id, True

    def record_ccxt(self, entries: Iterable[Mapping[str, Any]], *, exchange: str,
                    account: str = "default") -> list[int]:
        """ccxt ``fetchFundingHistory`` entries ({symbol, code, timestamp or datetime, id,
        amount}) in one transaction; idempotent on (exchange, id)."""
        if isinstance(entries, (str, bytes, Mapping)) or not hasattr(entries, "__iter__"):
            raise ValidationError(f"entries: {entries!r} is not a list of ccxt funding entries",
                                  field="entries", value=entries)
        exchange = to_text(exchange, "exchange")
        ids = []
        with self.db.transaction():
            for index, entry in enumerate(entries):
                if not isinstance(entry, Mapping):
                    raise ValidationError(f"{entry!r} is not a ccxt funding entry (a dict)",
                                          value=entry).in_row(index)
                try:
                    ids.append(self.record(  # a missing symbol or amount: record refuses it
                        entry.get("symbol"), entry.get("amount"),  # type: ignore[arg-type]
                        _timestamp(entry),
                        exchange=exchange, account=account, external_id=entry.get("id"),
                        currency=entry.get("code"),
                        metadata={"info": entry["info"]} if isinstance(entry.get("info"),
                                                                       Mapping) else None))
                except (ValidationError, ConflictError) as exc:
                    raise exc.in_row(index) from None
        return ids

    def get(self, funding_id: int) -> FundingPayment | None:
        row = self.db.query_one(SELECT_FUNDING, (funding_id,))
        return None if row is None else FundingPayment.from_row(row)

    def list(self, *, account: str | None = None, symbol: str | None = None,
             exchange: str | None = None, position_id: int | None = None) -> list[FundingPayment]:
        """Payments in time order, filtered."""
        return [FundingPayment.from_row(r) for r in self.db.query(LIST_FUNDING, {
            "account": account, "symbol": symbol, "exchange": exchange,
            "position_id": position_id})]
