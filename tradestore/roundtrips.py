"""Closed round trips read at the floor: raw columns over an index range, exact sums in
Python (issue 16.1).

A round trip is a closed position (voided fills apply to nothing, so they are in no
round trip). Its pnl is exact text; the sums here run in money.EXACT, so they are the
same Decimals the views' ``decimal_sum`` gives, without a Python call per row inside
SQLite. Amounts of two quote currencies are never added: ``tally`` keeps one Tally per
currency and the callers refuse to merge them (ConflictError naming the currencies).
Round trips without a currency (a symbol without '/', no instrument) are one unnamed
currency, spelled "" here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext

from .errors import ConflictError
from .money import EXACT, ZERO

# Every filter is "NULL or equal", so one statement ranges over positions_by_closed.
ROUND_TRIPS_SQL = """
SELECT realized_pnl, fees, opened_at, closed_at, coalesce(currency, ''), unvalued_fees,
       coalesce(strategy, ''), symbol, exchange
FROM positions
WHERE closed_at IS NOT NULL AND closed_at >= :start AND closed_at < :end
  AND (:account IS NULL OR account = :account)
  AND (:strategy IS NULL OR coalesce(strategy, '') = :strategy)
  AND (:symbol IS NULL OR symbol = :symbol)
  AND (:exchange IS NULL OR exchange = :exchange)
  AND (:currency IS NULL OR coalesce(currency, '') = :currency)
"""
GROUP_COLUMN = {"strategy": 6, "symbol": 7, "exchange": 8, "currency": 4}


@dataclass
class Tally:
    """Running exact sums over round trips of one currency."""

    count: int = 0
    wins: int = 0
    losses: int = 0
    gross_profit: Decimal = ZERO
    gross_loss: Decimal = ZERO
    fees: Decimal = ZERO
    largest_win: Decimal | None = None
    largest_loss: Decimal | None = None
    holding_micros: int = 0
    unvalued: dict = field(default_factory=dict)

    def add(self, row) -> None:
        pnl = Decimal(row[0])
        self.count += 1
        if pnl > 0:
            self.wins += 1
            self.gross_profit += pnl
            if self.largest_win is None or pnl > self.largest_win:
                self.largest_win = pnl
        elif pnl < 0:
            self.losses += 1
            self.gross_loss += pnl
            if self.largest_loss is None or pnl < self.largest_loss:
                self.largest_loss = pnl
        self.fees += Decimal(row[1])
        held = datetime.fromisoformat(row[3]) - datetime.fromisoformat(row[2])
        self.holding_micros += (held.days * 86400 + held.seconds) * 1_000_000 + held.microseconds
        if row[5] is not None:
            for currency, amount in json.loads(row[5]).items():
                self.unvalued[currency] = self.unvalued.get(currency, ZERO) + Decimal(amount)


def tally(rows, key: int | None = None) -> dict:
    """{(group, currency) or currency: Tally} over round-trip rows of ROUND_TRIPS_SQL."""
    out: dict = {}
    with localcontext(EXACT):
        for row in rows:
            name = row[4] if key is None else (row[key], row[4])
            t = out.get(name)
            if t is None:
                t = out[name] = Tally()
            t.add(row)
    return out


def describe(currency: str) -> str:
    return currency or "(no currency)"


def single(tallies: dict, what: str) -> tuple[str | None, Tally | None]:
    """The one currency's Tally, or ConflictError naming the currencies of ``what``."""
    if len(tallies) > 1:
        names = ", ".join(describe(c) for c in sorted(tallies))
        raise ConflictError(
            f"{what} holds round trips in several currencies ({names}); amounts of two "
            "currencies are never added: pass currency=... or use get_statistics_by_currency")
    for currency, t in tallies.items():
        return currency, t
    return None, None
