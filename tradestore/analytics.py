"""How is the bot doing: trade statistics and performance metrics, computed in SQL.

The grouping, windows and exact sums run in hand-written SQL over the views of
``schema/0007_analytics_views.sql``; Python does only what SQL lacks (square
roots, powers, divisions of exact sums). Definitions: README "Metrics".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from .codec import dec_out, to_decimal, to_utc, ts_in, utc_now, window
from .db import Database
from .errors import ValidationError
from .money import ratio, tidy
from .returns import money_weighted, walk

STATS_SQL = """
SELECT count(*), sum(outcome = 1), sum(outcome = -1),
       decimal_sum(CASE WHEN outcome = 1 THEN pnl END),
       decimal_sum(CASE WHEN outcome = -1 THEN pnl END),
       decimal_sum(pnl), decimal_sum(fees),
       max(CASE WHEN outcome = 1 THEN pnl END COLLATE decimal),
       min(CASE WHEN outcome = -1 THEN pnl END COLLATE decimal),
       avg(holding_seconds)
FROM v_round_trips
WHERE closed_at >= :start AND closed_at < :end
  AND (:account IS NULL OR account = :account)
  AND (:strategy IS NULL OR strategy = :strategy)
  AND (:symbol IS NULL OR symbol = :symbol)
"""

GROUPED_SQL = """
SELECT {key} AS name, count(*), sum(outcome = 1), decimal_sum(pnl), decimal_sum(fees),
       coalesce(decimal_sum(CASE WHEN outcome = 1 THEN pnl END), '0'),
       coalesce(decimal_sum(CASE WHEN outcome = -1 THEN pnl END), '0')
FROM v_round_trips
WHERE closed_at >= :start AND closed_at < :end AND (:account IS NULL OR account = :account)
GROUP BY name ORDER BY name
"""

DAILY_SQL = """
SELECT day, total_value FROM v_daily_equity
WHERE account = :account AND day >= :start_day AND day <= :end_day ORDER BY day
"""

# The carried-in start value: one point lookup on (account, timestamp).
START_POINT_SQL = """
SELECT timestamp, total_value FROM portfolio_snapshots
WHERE account = :account AND timestamp <= :start ORDER BY timestamp DESC LIMIT 1
"""
# The window's points after the start point: one range of the (account, timestamp) index.
POINTS_SQL = """
SELECT timestamp, total_value FROM portfolio_snapshots
WHERE account = :account AND timestamp > :after AND timestamp < :end ORDER BY timestamp
"""
# Deposits (+) and withdrawals (-) of the account in (after, last point].
FLOWS_SQL = """
SELECT timestamp, kind, amount FROM cash_movements
WHERE account = :account AND timestamp > :after AND timestamp <= :last ORDER BY timestamp, id
"""


@dataclass(frozen=True)
class TradeStatistics:
    """Statistics over closed round trips (closed positions) in a window.

    Attributes:
      total_trades, winning_trades, losing_trades: counts (a break-even is neither).
      win_rate: winning / total (0..1), None without trades.
      gross_profit (>= 0), gross_loss (<= 0), net_pnl, total_fees: exact Decimal.
      avg_win (> 0), avg_loss (< 0), largest_win, largest_loss (a negative pnl).
      profit_factor: gross_profit / |gross_loss|, None without losses.
      expectancy: net_pnl / total_trades, the average pnl of a round trip.
      avg_holding_time: a timedelta, from first fill to last.
    """

    total_trades: int = 0
    winning_trades: int = 0
    losing_trades: int = 0
    win_rate: float | None = None
    gross_profit: Decimal = Decimal(0)
    gross_loss: Decimal = Decimal(0)
    net_pnl: Decimal = Decimal(0)
    total_fees: Decimal = Decimal(0)
    avg_win: Decimal | None = None
    avg_loss: Decimal | None = None
    largest_win: Decimal | None = None
    largest_loss: Decimal | None = None
    profit_factor: float | None = None
    expectancy: Decimal | None = None
    avg_holding_time: timedelta | None = None


@dataclass(frozen=True)
class PerformanceMetrics(TradeStatistics):
    """Equity-curve metrics of one account plus its TradeStatistics, over a window.

    Attributes:
      start, end: first and last UTC day of the daily returns.
      start_value: the last snapshot at or before the window's start (else its first
        snapshot); end_value: the last snapshot in the window. None without snapshots.
      days: how many daily returns (end - start + 1). periods_per_year, risk_free_rate:
        as used.
      total_return, cagr, volatility, sharpe_ratio, sortino_ratio, calmar_ratio: floats
        (fractions), time-weighted: deposits and withdrawals are not returns.
      max_drawdown: a positive fraction over every snapshot of the time-weighted index,
        the start value the first peak; max_drawdown_duration: the longest time below a
        previous peak (timedelta).
      net_flows: deposits - withdrawals after the start value up to the end value.
      pnl: end_value - start_value - net_flows, exact.
      money_weighted_return: annualised internal rate of return, None where undefined.
      Definitions: docs/metrics.md.
    """

    start: date | None = None
    end: date | None = None
    start_value: Decimal | None = None
    end_value: Decimal | None = None
    days: int = 0
    periods_per_year: int = 365
    risk_free_rate: float = 0.0
    total_return: float | None = None
    cagr: float | None = None
    volatility: float | None = None
    sharpe_ratio: float | None = None
    sortino_ratio: float | None = None
    max_drawdown: float | None = None
    max_drawdown_duration: timedelta | None = None
    calmar_ratio: float | None = None
    net_flows: Decimal = Decimal(0)
    pnl: Decimal | None = None
    money_weighted_return: float | None = None


@dataclass(frozen=True)
class GroupPerformance:
    """One row of per-strategy or per-symbol performance (from round trips)."""

    name: str
    trades: int
    wins: int
    win_rate: float | None
    net_pnl: Decimal
    fees: Decimal
    gross_profit: Decimal
    gross_loss: Decimal
    profit_factor: float | None


def _window(days, since, until) -> tuple[str, str]:
    """(start, end) as stored text; the end is exclusive, all time when both are open."""
    start, end = window(days, since, until)
    return start or "0000", end or "9999"


def _last_day(end: str) -> str:
    """The last whole UTC day before the exclusive ``end`` (today when open): an
    ``until`` at midnight does not pull in the day it starts."""
    if end == "9999":
        return ts_in(utc_now())[:10]
    return ts_in(datetime.fromisoformat(end) - timedelta(microseconds=1))[:10]


def _profit_factor(gross_profit: Decimal, gross_loss: Decimal) -> float | None:
    return None if gross_loss == 0 else float(gross_profit) / -float(gross_loss)


def _flows_in(flows) -> list[tuple[str, Decimal]]:
    """``flows=`` as sorted (stored timestamp, Decimal); deposits positive."""
    if flows is None:
        return []
    if isinstance(flows, (str, bytes)) or not hasattr(flows, "__iter__"):
        raise ValidationError(f"flows: {flows!r} must be a list of (timestamp, amount) pairs",
                              field="flows", value=flows)
    out = []
    for item in flows:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ValidationError(f"flows: {item!r} must be a (timestamp, amount) pair",
                                  field="flows", value=item)
        amount = to_decimal(item[1], "flows amount")
        if amount != 0:
            out.append((ts_in(to_utc(item[0], "flows timestamp")), amount))
    return sorted(out)


def _nonfinite_to_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class Analytics:
    """``repo.analytics``: statistics, performance metrics, breakdowns."""

    def __init__(self, db: Database):
        self.db = db

    def statistics(self, days=30, *, account=None, strategy=None, symbol=None, since=None,
                   until=None) -> TradeStatistics:
        start, end = _window(days, since, until)
        row = self.db.query_one(STATS_SQL, {"start": start, "end": end, "account": account,
                                            "strategy": strategy, "symbol": symbol})
        return TradeStatistics(**self._stats_fields(row))

    @staticmethod
    def _stats_fields(row) -> dict:
        total, wins, losses = row[0], row[1] or 0, row[2] or 0
        if not total:
            return {}
        gross_profit = tidy(dec_out(row[3]) or Decimal(0))
        gross_loss = tidy(dec_out(row[4]) or Decimal(0))
        net, fees = tidy(dec_out(row[5])), tidy(dec_out(row[6]))
        return dict(
            total_trades=total, winning_trades=wins, losing_trades=losses,
            win_rate=wins / total, gross_profit=gross_profit, gross_loss=gross_loss,
            net_pnl=net, total_fees=fees,
            avg_win=ratio(gross_profit, Decimal(wins)) if wins else None,
            avg_loss=ratio(gross_loss, Decimal(losses)) if losses else None,
            largest_win=dec_out(row[7]), largest_loss=dec_out(row[8]),
            profit_factor=_profit_factor(gross_profit, gross_loss),
            expectancy=ratio(net, Decimal(total)),
            avg_holding_time=None if row[9] is None else timedelta(seconds=row[9]))

    def performance(self, days=30, *, account="default", periods_per_year=365, risk_free_rate=0,
                    since=None, until=None, flows=None) -> PerformanceMetrics:
        """Equity-curve figures of ``account`` over whole UTC days, with deposits and
        withdrawals (cash_movements, plus ``flows`` [(timestamp, signed amount)] recorded
        elsewhere) taken out of the returns. Definitions: docs/metrics.md."""
        if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, int) \
                or periods_per_year <= 0:
            raise ValidationError(f"periods_per_year: {periods_per_year!r} must be a whole number "
                                  "> 0", field="periods_per_year", value=periods_per_year)
        try:  # a str or None must be our ValidationError, not float()'s ValueError/TypeError
            rf = float(risk_free_rate)
        except (TypeError, ValueError):
            rf = math.nan
        if isinstance(risk_free_rate, bool) or not math.isfinite(rf) or rf <= -1:
            raise ValidationError(f"risk_free_rate: {risk_free_rate!r} must be a finite rate > -1",
                                  field="risk_free_rate", value=risk_free_rate)
        start, end = _window(days, since, until)
        start_day = start[:10] if start != "0000" else "0000-00-00"
        day_start = start_day + "T00:00:00.000000Z" if start != "0000" else "0000"
        day_end = ts_in(datetime.fromisoformat(_last_day(end)).replace(tzinfo=timezone.utc)
                        + timedelta(days=1)) if end != "9999" else "9999"
        extra = _flows_in(flows)
        params = {"account": account, "start": day_start, "end": day_end}
        with self.db.reading() as conn:
            first = conn.execute(START_POINT_SQL, params).fetchone()
            after = first[0] if first else day_start
            points = conn.execute(POINTS_SQL, dict(params, after=after)).fetchall()
            in_window = bool(points)  # no curve without a snapshot in the window
            if first is None and points:
                first, points = points[0], points[1:]
                after = first[0]
            last_ts = points[-1][0] if points else after
            stored = conn.execute(FLOWS_SQL, {"account": account, "after": after,
                                              "last": last_ts}).fetchall() if points else []
            stats_row = conn.execute(STATS_SQL, {"start": day_start, "end": day_end,
                                                 "account": account, "strategy": None,
                                                 "symbol": None}).fetchone()
        metrics = dict(self._stats_fields(stats_row), periods_per_year=periods_per_year,
                       risk_free_rate=rf)
        if in_window:
            moves = sorted([(ts, Decimal(amount) if kind == "deposit" else -Decimal(amount))
                            for ts, kind, amount in stored]
                           + [(ts, amount) for ts, amount in extra if after < ts <= last_ts])
            metrics.update(self._curve([first] + points, moves, rf, periods_per_year,
                                       start_day if start != "0000" else None))
        return PerformanceMetrics(**metrics)

    @staticmethod
    def _curve(points, moves, rf, periods, first_day) -> dict:
        """Every equity-curve figure from one pass over the points (returns.walk)."""
        start_ts, end_ts = points[0][0], points[-1][0]
        start_value, end_value = Decimal(points[0][1]), Decimal(points[-1][1])
        net_flows = sum((amount for _, amount in moves), Decimal(0))
        curve = walk(points, moves, first_day)
        out = dict(start=curve.first_day, end=curve.last_day, start_value=start_value,
                   end_value=end_value, days=len(curve.daily), net_flows=tidy(net_flows),
                   pnl=tidy(end_value - start_value - net_flows),
                   max_drawdown=curve.max_drawdown,
                   max_drawdown_duration=curve.max_drawdown_duration,
                   money_weighted_return=money_weighted(start_ts, start_value, moves, end_ts,
                                                        end_value))
        if not curve.defined:
            return out
        r = curve.daily
        n = len(r)
        growth = math.prod(1.0 + x for x in r)
        out["total_return"] = growth - 1.0
        if growth >= 0:
            try:
                out["cagr"] = growth ** (365.0 / n) - 1.0
            except OverflowError:  # float ** raises instead of giving inf
                out["cagr"] = None
        mean = math.fsum(r) / n
        if n >= 2:
            stdev = math.sqrt(math.fsum((x - mean) ** 2 for x in r) / (n - 1))
            out["volatility"] = stdev * math.sqrt(periods)
            rf_period = (1.0 + rf) ** (1.0 / periods) - 1.0
            if stdev > 0:
                out["sharpe_ratio"] = (mean - rf_period) / stdev * math.sqrt(periods)
        downside = math.fsum(min(x, 0.0) ** 2 for x in r) / n
        if downside > 0:
            out["sortino_ratio"] = mean * periods / (math.sqrt(downside) * math.sqrt(periods))
        cagr, max_dd = out.get("cagr"), out["max_drawdown"]
        if cagr is not None and math.isfinite(cagr) and max_dd and max_dd > 0:
            out["calmar_ratio"] = cagr / max_dd
        return {k: _nonfinite_to_none(v) if isinstance(v, float) else v for k, v in out.items()}

    def by_group(self, key: str, days=None, *, account=None, since=None,
                 until=None) -> list[GroupPerformance]:
        """Per ``strategy`` or ``symbol`` performance over closed round trips."""
        column = {"strategy": "coalesce(strategy, '')", "symbol": "symbol"}[key]
        start, end = _window(days, since, until)
        rows = self.db.query(GROUPED_SQL.format(key=column),
                             {"start": start, "end": end, "account": account})
        out = []
        for name, trades, wins, net, fees, profit, loss in rows:
            profit, loss = tidy(Decimal(profit)), tidy(Decimal(loss))
            out.append(GroupPerformance(name, trades, wins, wins / trades if trades else None,
                                        tidy(Decimal(net)), tidy(Decimal(fees)), profit, loss,
                                        _profit_factor(profit, loss)))
        return out

    def equity(self, days=30, *, account="default", since=None, until=None):
        """The daily series: [(date, Decimal)], gaps carried forward."""
        start, end = _window(days, since, until)
        end_day = _last_day(end)
        rows = self.db.query(DAILY_SQL, {"account": account,
                                         "start_day": start[:10] if start != "0000" else "0000",
                                         "end_day": end_day})
        return [(date.fromisoformat(d), Decimal(v)) for d, v in rows]

