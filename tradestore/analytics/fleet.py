"""One summary line per account and the total per currency (``tradestore report
--by-account``): a fleet of bots sharing one store, each trading its own account.

Per account, over the window (from midnight UTC of the day ``days`` ago, as ``report``;
all time when ``days`` is None):

- fills: fills saved in the window (voided ones left out);
- round_trips, wins: closed round trips (by close time) and those with pnl > 0; counts,
  so they add over currencies;
- win_rate: wins / round_trips (a break-even counts in the denominator only), None
  without any;
- net_pnl, fees: {currency: sum} of those round trips' pnl and fees (docs/metrics.md),
  per quote currency;
- balance: {currency: cash} now (tradestore.books.balance), whatever the window.

The total adds each count over the accounts and each amount one currency at a time:
amounts of two currencies are never added.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from tradestore._core.codec import UTC, printable, to_plain, utc_now
from tradestore._core.hints import Days
from tradestore._core.money import ZERO, exact, tidy
from tradestore.analytics.facade import AnalyticsFacade
from tradestore.analytics.report import NA, money, pct
from tradestore.errors import ValidationError

TOTAL = "total"


@dataclass(frozen=True)
class AccountLine:
    """One account's summary (or the total's, account ``"total"``); see the module.

    Attributes:
      account: the account's name. fills, round_trips, wins: counts.
      win_rate: wins / round_trips (0..1), None without round trips.
      net_pnl, fees, balance: {currency: exact Decimal}, sorted by currency.
    """

    account: str
    fills: int = 0
    round_trips: int = 0
    wins: int = 0
    win_rate: float | None = None
    net_pnl: dict[str, Decimal] = field(default_factory=dict)
    fees: dict[str, Decimal] = field(default_factory=dict)
    balance: dict[str, Decimal] = field(default_factory=dict)


def window_start(days: Days, now: datetime | None = None) -> datetime | None:
    """Midnight UTC of the day ``days`` ago (None: all time), as ``report`` reads it."""
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not 0 <= days < 1e6:
        raise ValidationError(f"days: {days!r} must be a number of days >= 0 or None",
                              field="days", value=days)
    start = (now or utc_now()) - timedelta(days=days)
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


def by_account(repo: AnalyticsFacade, days: Days = 30, *, now: datetime | None = None,
               include_inactive: bool = True) -> tuple[list[AccountLine], AccountLine]:
    """(one AccountLine per account, "default" first then by name; the total).
    ``repo``: a TradeRepo (the layer above analytics, so not imported here)."""
    since = window_start(days, now)
    lines = []
    with repo.db.reading():  # one snapshot: a fill saved meanwhile counts everywhere or nowhere
        fills = repo.trades.count_by_account(since)
        for account in repo.accounts.list(include_inactive=include_inactive):
            name = account.name
            trips = repo.get_statistics_by_currency(None, account=name, since=since)
            round_trips = sum(t.total_trades for t in trips.values())
            wins = sum(t.winning_trades for t in trips.values())
            lines.append(AccountLine(
                name, fills.get(name, 0), round_trips, wins, _rate(wins, round_trips),
                {c: t.net_pnl for c, t in trips.items()},
                {c: t.total_fees for c, t in trips.items()},
                dict(sorted(repo.accounts.balances(name).items()))))
    return lines, total(lines)


def total(lines: list[AccountLine]) -> AccountLine:
    """The counts added over ``lines``; each amount added within its currency only."""
    round_trips = sum(line.round_trips for line in lines)
    wins = sum(line.wins for line in lines)
    return AccountLine(TOTAL, sum(line.fills for line in lines), round_trips, wins,
                       _rate(wins, round_trips),
                       *(_per_currency([getattr(line, name) for line in lines])
                         for name in ("net_pnl", "fees", "balance")))


def _rate(wins: int, round_trips: int) -> float | None:
    return wins / round_trips if round_trips else None


def _per_currency(books: list[dict[str, Decimal]]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    with exact():
        for book in books:
            for currency, amount in book.items():
                out[currency] = tidy(out.get(currency, ZERO) + amount)
    return dict(sorted(out.items()))


# ------------------------------------------------------------------ display

COLUMNS = ("account", "fills", "round trips", "win rate", "net pnl", "fees", "balance")


def _amounts(book: dict[str, Decimal]) -> str:
    """``1,234.50 USDT, -3.00 EUR``: rounded for display; "" is a quote without a name."""
    return ", ".join(f"{money(v)} {printable(c)}".rstrip() for c, v in book.items()) or NA


def render_text(lines: list[AccountLine], grand: AccountLine, *, source: str = "",
                days: Days = None) -> str:
    """An aligned table, one row per account and the total (amounts rounded for display;
    the json form keeps every digit)."""
    span = "all time" if days is None else f"last {days} days (from midnight UTC)"
    rows = [[printable(line.account), f"{line.fills:,}", f"{line.round_trips:,}",
             pct(line.win_rate), _amounts(line.net_pnl), _amounts(line.fees),
             _amounts(line.balance)]
            for line in [*lines, grand]]
    widths = [max(len(row[i]) for row in [list(COLUMNS), *rows]) for i in range(len(COLUMNS))]

    def show(row: list[str]) -> str:
        cells = [c.ljust(w) if i in (0, 4, 5, 6) else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()
    out = [f"Accounts of {printable(source)}" if source else "Accounts", f"Window: {span}", "",
           show(list(COLUMNS)), *(show(row) for row in rows[:-1]),
           "  ".join("-" * w for w in widths), show(rows[-1]),
           "", "win rate, net pnl and fees: closed round trips; balance: cash now.",
           "Amounts of two currencies are never added."]
    return "\n".join(out) + "\n"


def render_json(lines: list[AccountLine], grand: AccountLine, *, days: Days = None) -> str:
    data = {"days": days, "accounts": [asdict(line) for line in lines], "total": asdict(grand)}
    return json.dumps(to_plain(data), indent=1) + "\n"
