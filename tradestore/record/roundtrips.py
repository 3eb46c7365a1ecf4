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
from decimal import Decimal, localcontext
from typing import Any, Iterable, Iterator, Sequence

from tradestore._core.money import EXACT, ZERO
from tradestore._core.pg import per_engine
from tradestore.errors import ConflictError

# Every filter is "NULL or equal", so one statement ranges over positions_by_closed.
# The holding time is exact integer microseconds, computed in C by SQLite (whole seconds
# from strftime('%s') plus the microsecond digits), far cheaper than parsing in Python.
ROUND_TRIPS_SQL = """
SELECT realized_pnl, fees,
       (strftime('%s', closed_at) - strftime('%s', opened_at)) * 1000000
           + (substr(closed_at, 21, 6) - substr(opened_at, 21, 6)),
       coalesce(currency, ''), unvalued_fees, coalesce(strategy, ''), symbol, exchange
FROM positions
WHERE closed_at IS NOT NULL AND closed_at >= :start AND closed_at < :end
  AND (:account IS NULL OR account = :account)
  AND (:strategy IS NULL OR coalesce(strategy, '') = :strategy)
  AND (:symbol IS NULL OR symbol = :symbol)
  AND (:exchange IS NULL OR exchange = :exchange)
  AND (:currency IS NULL OR coalesce(currency, '') = :currency)
"""
# PostgreSQL: the same columns; the holding time from the interval (exact microseconds)
ROUND_TRIPS_PG = ROUND_TRIPS_SQL.replace(
    """(strftime('%s', closed_at) - strftime('%s', opened_at)) * 1000000
           + (substr(closed_at, 21, 6) - substr(opened_at, 21, 6))""",
    "CAST(extract(epoch FROM closed_at - opened_at) * 1000000 AS bigint)")
ROUND_TRIPS_SQL = per_engine(ROUND_TRIPS_SQL, ROUND_TRIPS_PG)
GROUP_COLUMN = {"strategy": 5, "symbol": 6, "exchange": 7, "currency": 3}


@dataclass
class Tally:
    """Exact sums over the round trips of one currency (or one group and currency)."""

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


def _add_unvalued(into: dict, text: str) -> None:
    for currency, amount in json.loads(text).items():
        into[currency] = into.get(currency, ZERO) + Decimal(amount)


def tally(rows: Iterable[Sequence[Any]], key: int | None = None) -> dict:
    """{currency: Tally} over ROUND_TRIPS_SQL rows, or {(group, currency): Tally} with
    ``key`` (the group's column; then largest win/loss and holding time are not kept).

    One tight loop with local accumulators: rows come in closed_at order, and in the
    usual case (one currency) the accumulators are flushed once at the end."""
    if key is not None:
        return _tally_groups(rows, key)
    out: dict = {}
    current = None
    t = Tally()
    n, wins, losses, profit, loss, fees = 0, 0, 0, ZERO, ZERO, ZERO
    best = worst = None
    held = 0
    with localcontext(EXACT):
        for pnl_text, fee_text, micros, currency, unvalued, *_ in rows:
            if currency != current:
                if n:
                    out[current] = Tally(n, wins, losses, profit, loss, fees, best, worst,
                                         held, t.unvalued)
                current = currency
                t = out.get(currency) or Tally()
                n, wins, losses, profit, loss, fees = (t.count, t.wins, t.losses,
                                                       t.gross_profit, t.gross_loss, t.fees)
                best, worst, held = t.largest_win, t.largest_loss, t.holding_micros
            pnl = Decimal(pnl_text)
            n += 1
            if not pnl:            # break-even (the sign of a stored zero is not read)
                pass
            elif pnl_text[0] == "-":
                losses += 1
                loss += pnl
                if worst is None or pnl < worst:
                    worst = pnl
            else:
                wins += 1
                profit += pnl
                if best is None or pnl > best:
                    best = pnl
            fees += Decimal(fee_text)
            held += micros
            if unvalued is not None:
                _add_unvalued(t.unvalued, unvalued)
        if n:
            out[current] = Tally(n, wins, losses, profit, loss, fees, best, worst, held,
                                 t.unvalued)
    return out


def _tally_groups(rows, key: int) -> dict:
    groups: dict = {}
    with localcontext(EXACT):
        for row in rows:
            pnl = Decimal(row[0])
            name = (row[key], row[3])
            g = groups.get(name)
            if g is None:
                g = groups[name] = [0, 0, 0, ZERO, ZERO, ZERO, {}]
            g[0] += 1
            if pnl > 0:
                g[1] += 1
                g[3] += pnl
            elif pnl < 0:
                g[2] += 1
                g[4] += pnl
            g[5] += Decimal(row[1])
            if row[4] is not None:
                _add_unvalued(g[6], row[4])
    return {name: Tally(g[0], g[1], g[2], g[3], g[4], g[5], unvalued=g[6])
            for name, g in groups.items()}


def chunks(cursor: Any, size: int = 4096) -> Iterator[Any]:
    """The cursor's rows fetched a block at a time: flat memory, fewer calls than
    iterating the cursor row by row."""
    while True:
        block = cursor.fetchmany(size)
        if not block:
            return
        yield from block


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
