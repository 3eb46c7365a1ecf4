"""Portfolio snapshots: the equity curve, one point per account and timestamp.

A re-sent snapshot (same account, same timestamp) replaces the earlier one, so a
bot that retries a write does not put a duplicate point on the curve; the row
keeps its id and gets a new ``updated_at``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Sequence

from tradestore._core.codec import (EARLIEST_TEXT, LATEST_TEXT, dec_in, json_object_in,
                                    json_out, optional_decimal, optional_utc, show, to_decimal,
                                    to_text, ts_in, window)
from tradestore._core.fastpath import money_text, name_text, timestamp_text
from tradestore._core.hints import AccountBook, Amount, Days, Engine, JSONObject, Moment
from tradestore.errors import ValidationError

COLUMNS = "id, account, timestamp, total_value, cash, positions, balances, created_at, updated_at"
UPSERT = """
INSERT INTO portfolio_snapshots (account, timestamp, total_value, cash, positions, balances,
                                 created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account, timestamp) DO UPDATE SET
    total_value = excluded.total_value, cash = excluded.cash, positions = excluded.positions,
    balances = excluded.balances, updated_at = excluded.updated_at
"""
UPSERT_RETURNING_ID = UPSERT.rstrip() + " RETURNING id"
# Missing bounds become sentinels that sort before / after every stored timestamp, so
# one statement serves every filter and always ranges over the (account, timestamp) index.
VALUE_HISTORY = """
SELECT timestamp, total_value FROM portfolio_snapshots
WHERE account = ? AND timestamp >= ? AND timestamp < ? ORDER BY timestamp
"""
SNAPSHOTS = f"""
SELECT {COLUMNS} FROM portfolio_snapshots
WHERE account = ? AND timestamp >= ? AND timestamp < ? ORDER BY timestamp
"""
LATEST = f"""
SELECT {COLUMNS} FROM portfolio_snapshots WHERE account = ? ORDER BY timestamp DESC LIMIT 1
"""


@dataclass(frozen=True)
class PortfolioSnapshot:
    """The portfolio's value at one moment.

    Attributes:
      id: stable row id (kept when a re-sent snapshot replaces the point).
      account: the account it belongs to.
      timestamp: the moment (UTC).
      total_value: everything the account is worth, as Decimal.
      cash: the cash part, Decimal or None.
      positions: JSON object as given (Decimal stored and returned as text), or None.
      balances: JSON object as given (Decimal stored and returned as text), or None.
      created_at: when the point was first written.
      updated_at: when it was last replaced.
    """

    id: int
    account: str
    timestamp: _dt.datetime
    total_value: Decimal
    cash: Decimal | None
    positions: dict | None
    balances: dict | None
    created_at: _dt.datetime
    updated_at: _dt.datetime

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> "PortfolioSnapshot":
        return cls(row[0], row[1], _dt.datetime.fromisoformat(row[2]), Decimal(row[3]),
                   None if row[4] is None else Decimal(row[4]), json_out(row[5]), json_out(row[6]),
                   _dt.datetime.fromisoformat(row[7]), _dt.datetime.fromisoformat(row[8]))


def snapshot_row(total_value: Amount | None, *, cash: Amount | None = None,
                 positions: JSONObject | None = None, balances: JSONObject | None = None,
                 timestamp: Moment | None = None, account: str = "default",
                 now: str) -> tuple[Any, ...]:
    """The validated row for UPSERT (raises ValidationError naming the field); no
    ``timestamp``: at ``now`` (the store's clock)."""
    moment = optional_utc(timestamp, "timestamp")
    return (to_text(account, "account"), now if moment is None else ts_in(moment),
            dec_in(to_decimal(total_value, "total_value")),
            dec_in(optional_decimal(cash, "cash")), json_object_in(positions, "positions"),
            json_object_in(balances, "balances"), now, now)


def _fields_of(item) -> dict:
    """Keyword arguments of save() from a PortfolioSnapshot or a mapping."""
    if isinstance(item, PortfolioSnapshot):
        return {"total_value": item.total_value, "cash": item.cash, "positions": item.positions,
                "balances": item.balances, "timestamp": item.timestamp, "account": item.account}
    if isinstance(item, Mapping):
        allowed = {"total_value", "cash", "positions", "balances", "timestamp", "account"}
        unknown = set(item) - allowed
        if unknown or "total_value" not in item:
            raise ValidationError(
                f"snapshot: {show(dict(item))} needs total_value and only "
                f"{', '.join(sorted(allowed))}", field="snapshot", value=item)
        return dict(item)
    raise ValidationError(f"snapshot: {show(item)} is not a PortfolioSnapshot or a mapping",
                          field="snapshot", value=item)


_SNAPSHOT_KEYS = frozenset({"total_value", "cash", "positions", "balances", "timestamp",
                            "account"})


def _bulk_row(item, now: str) -> tuple:
    """snapshot_row for one item of save_many: the common case (a dict of Decimals, a
    UTC datetime, an ASCII account) converted directly, anything else through
    _fields_of and snapshot_row, so both paths check and store exactly the same."""
    if type(item) is dict and item.keys() <= _SNAPSHOT_KEYS:
        get = item.get
        value, cash, moment = get("total_value"), get("cash"), get("timestamp")
        row = (name_text(get("account", "default")), timestamp_text(moment), money_text(value),
               None if cash is None else money_text(cash))
        if None not in row[:3] and (cash is None or row[3] is not None):
            positions, balances = get("positions"), get("balances")
            return row + (None if positions is None else json_object_in(positions, "positions"),
                          None if balances is None else json_object_in(balances, "balances"),
                          now, now)
    return snapshot_row(now=now, **_fields_of(item))


def _bounds(days, since, until) -> tuple[str, str]:
    start, end = window(days, since, until)
    return start or EARLIEST_TEXT, end or LATEST_TEXT


class PortfolioStore:
    """``repo.portfolio``: write and read the equity curve."""

    def __init__(self, db: Engine, accounts: AccountBook | None = None) -> None:
        self.db = db
        self.accounts = accounts  # repo.accounts: which names may take snapshots (None: any)

    def _check_accounts(self, rows) -> None:
        if self.accounts is not None:
            for name in {row[0] for row in rows}:
                self.accounts.require(name)

    def save(self, total_value: Amount | None, *, cash: Amount | None = None,
             positions: JSONObject | None = None, balances: JSONObject | None = None,
             timestamp: Moment | None = None, account: str = "default") -> int:
        """Record one point (now unless ``timestamp``); returns its id. A point already at
        that account and timestamp is replaced."""
        row = snapshot_row(total_value, cash=cash, positions=positions, balances=balances,
                           timestamp=timestamp, account=account, now=ts_in(self.db.now()))
        with self.db.transaction() as conn:
            self._check_accounts([row])
            return conn.execute(UPSERT_RETURNING_ID, row).fetchone()[0]

    def save_many(self, snapshots: Iterable[PortfolioSnapshot | Mapping[str, Any]]) -> int:
        """Record many points (PortfolioSnapshot or mappings of save()'s arguments) in one
        transaction, all or nothing; returns how many were given."""
        now = ts_in(self.db.now())
        if isinstance(snapshots, (str, bytes, dict)) or not hasattr(snapshots, "__iter__"):
            raise ValidationError(f"snapshots: {show(snapshots)} is not a list of snapshots "
                                  "(PortfolioSnapshot or mappings of save()'s arguments)",
                                  field="snapshots", value=snapshots)
        rows = [_bulk_row(item, now) for item in snapshots]
        with self.db.transaction() as conn:
            self._check_accounts(rows)
            conn.executemany(UPSERT, rows)
        return len(rows)

    def value_history(self, days: Days = 30, *, account: str = "default",
                      since: Moment | None = None,
                      until: Moment | None = None) -> list[tuple[_dt.datetime, Decimal]]:
        """(timestamp, total_value) oldest first; since <= t < until; days=None for all."""
        start, end = _bounds(days, since, until)
        rows = self.db.query(VALUE_HISTORY, (to_text(account, "account"), start, end))
        parse = _dt.datetime.fromisoformat
        return [(parse(t), Decimal(v)) for t, v in rows]

    def snapshots(self, days: Days = 30, *, account: str = "default", since: Moment | None = None,
                  until: Moment | None = None) -> list[PortfolioSnapshot]:
        """Full records with the same filters as value_history, oldest first."""
        start, end = _bounds(days, since, until)
        rows = self.db.query(SNAPSHOTS, (to_text(account, "account"), start, end))
        return [PortfolioSnapshot.from_row(r) for r in rows]

    def latest(self, account: str = "default") -> PortfolioSnapshot | None:
        row = self.db.query_one(LATEST, (to_text(account, "account"),))
        return None if row is None else PortfolioSnapshot.from_row(row)
