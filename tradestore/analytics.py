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

from .codec import dec_out, window, ts_in, utc_now
from .db import Database
from .errors import ValidationError
from .money import ratio, tidy

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

CURVE_SQL = """
WITH daily AS (
    SELECT day, total_value, CAST(total_value AS REAL) AS v FROM v_daily_equity
    WHERE account = :account AND day >= :start_day AND day <= :end_day),
returns AS (
    SELECT day, total_value, v / lag(v) OVER (ORDER BY day) - 1.0 AS r FROM daily),
moments AS (
    SELECT day, total_value, r, count(r) OVER () AS n, avg(r) OVER () AS m FROM returns)
SELECT day, total_value, n, m, sum((r - m) * (r - m)) OVER (),
       avg(min(r, 0.0) * min(r, 0.0)) OVER ()
FROM moments ORDER BY day
"""

DRAWDOWN_SQL = """
WITH snaps AS (
    SELECT timestamp AS ts, CAST(total_value AS REAL) AS v FROM portfolio_snapshots
    WHERE account = :account AND timestamp >= :start AND timestamp < :end),
peaks AS (
    SELECT ts, v, max(v) OVER (ORDER BY ts ROWS UNBOUNDED PRECEDING) AS peak FROM snaps),
groups AS (
    SELECT ts, v, peak,
           sum(v >= peak) OVER (ORDER BY ts ROWS UNBOUNDED PRECEDING) AS grp FROM peaks),
spans AS (
    SELECT grp, min(ts) AS started, max(ts) AS last_ts, count(*) AS n FROM groups GROUP BY grp),
ends AS (
    SELECT n, started, coalesce(lead(started) OVER (ORDER BY grp), last_ts) AS ended FROM spans),
durations AS (  -- exact microseconds (julianday rounds to milliseconds)
    SELECT n, (strftime('%s', ended) - strftime('%s', started)) * 1000000
              + (substr(ended, 21, 6) - substr(started, 21, 6)) AS micros
    FROM ends)
SELECT (SELECT max(CASE WHEN peak > 0 THEN 1.0 - v / peak END) FROM peaks),
       (SELECT max(micros) FROM durations WHERE n > 1)
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
      start, end: the window (whole UTC days, inclusive of both ends' days).
      start_value, end_value: first and last daily value (Decimal), None without snapshots.
      days: calendar days between them. periods_per_year, risk_free_rate: as used.
      total_return, cagr, volatility, sharpe_ratio, sortino_ratio, calmar_ratio: floats.
      max_drawdown: a positive fraction over every snapshot; max_drawdown_duration: the
        longest time below a previous peak (timedelta).
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
                    since=None, until=None) -> PerformanceMetrics:
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
        end_day = _last_day(end)
        day_start = start_day + "T" if start != "0000" else "0000"
        day_end = ts_in(datetime.fromisoformat(end_day).replace(tzinfo=timezone.utc)
                        + timedelta(days=1)) if end != "9999" else "9999"
        params = {"account": account, "start_day": start_day, "end_day": end_day,
                  "start": day_start, "end": day_end}
        with self.db.reading() as conn:
            daily = conn.execute(CURVE_SQL, params).fetchall()  # the view is computed once
            max_dd, dd_micros = conn.execute(DRAWDOWN_SQL, params).fetchone()
            stats_row = conn.execute(STATS_SQL, {"start": day_start, "end": day_end,
                                                 "account": account, "strategy": None,
                                                 "symbol": None}).fetchone()
        metrics = dict(self._stats_fields(stats_row), periods_per_year=periods_per_year,
                       risk_free_rate=rf)
        if daily:
            n, mean, squares, downside = daily[0][2:]
            first_day, last_day = date.fromisoformat(daily[0][0]), date.fromisoformat(daily[-1][0])
            metrics.update(start=first_day, end=last_day, start_value=dec_out(daily[0][1]),
                           end_value=dec_out(daily[-1][1]), days=(last_day - first_day).days)
            metrics.update(self._curve(metrics["start_value"], metrics["end_value"],
                                       metrics["days"], n, mean, squares, downside, rf,
                                       periods_per_year))
        if max_dd is not None:
            metrics["max_drawdown"] = max(max_dd, 0.0)
            metrics["max_drawdown_duration"] = timedelta(microseconds=dd_micros or 0)
            cagr = metrics.get("cagr")
            if cagr is not None and metrics["max_drawdown"] > 0:
                metrics["calmar_ratio"] = cagr / metrics["max_drawdown"]
        return PerformanceMetrics(**metrics)

    @staticmethod
    def _curve(start_value, end_value, days, n, mean, squares, downside, rf, periods) -> dict:
        out = {}
        if start_value and start_value > 0:
            out["total_return"] = float(end_value) / float(start_value) - 1.0
            if days > 0 and end_value >= 0:
                try:
                    out["cagr"] = (float(end_value) / float(start_value)) ** (365.0 / days) - 1.0
                except OverflowError:  # float ** raises instead of giving inf
                    out["cagr"] = None
        if n and n >= 2:
            stdev = math.sqrt(squares / (n - 1))
            out["volatility"] = stdev * math.sqrt(periods)
            rf_period = (1.0 + rf) ** (1.0 / periods) - 1.0
            if stdev > 0:
                out["sharpe_ratio"] = (mean - rf_period) / stdev * math.sqrt(periods)
        if n and downside:
            out["sortino_ratio"] = mean * periods / (math.sqrt(downside) * math.sqrt(periods))
        return {k: _nonfinite_to_none(v) for k, v in out.items()}

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

