"""How is the bot doing: trade statistics and performance metrics.

Round trips are read as raw columns over the closed-position index and summed exactly
in Python (tradestore.record.roundtrips); the equity curve is one range of the (account,
timestamp) snapshot index plus a point lookup for the carried-in start value, walked
once in Python (tradestore.analytics.returns). The views of schema/ answer the same questions in
the sqlite3 shell. Definitions: docs/metrics.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, localcontext
from typing import Any, Iterable

from tradestore._core.codec import (show, to_decimal, to_int, to_text, to_utc, ts_in, utc_now,
                                    window)
from tradestore._core.hints import Amount, Connection, Days, Engine, Flows, Moment
from tradestore._core.money import EXACT, ratio, tidy
from tradestore.analytics.returns import Curve, money_weighted, walk
from tradestore.books.accounts import FLOWS, signed_flow
from tradestore.errors import ValidationError
from tradestore.market import comparison
from tradestore.market.candles import CandleStore
from tradestore.record.positions import round_trip_extras
from tradestore.record.roundtrips import (GROUP_COLUMN, ROUND_TRIPS_SQL, Tally, chunks, single,
                                          tally)

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
# The flows come from accounts.FLOWS (cash_movements is the accounts repository's table).


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
      avg_holding_time: a timedelta, from first fill to last (mean, to the microsecond).
      currency: the quote currency of the amounts ("" for round trips without one), None
        without round trips.
      unvalued_fees: {currency: Decimal} of fees left out of pnl (no quote value given).
      total_funding: funding payments counted in the round trips' pnl (signed);
      total_commission: the commission part of total_fees; liquidations: round trips
        closed by a liquidation, liquidation_loss: the sum of their pnl (docs/futures.md).
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
    currency: str | None = None
    unvalued_fees: dict = field(default_factory=dict, hash=False)
    total_funding: Decimal = Decimal(0)
    total_commission: Decimal = Decimal(0)
    liquidations: int = 0
    liquidation_loss: Decimal = Decimal(0)


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
      benchmark: the benchmark's symbol ("" for a given series), None without one;
        benchmark_timeframe: the candles' timeframe read for it (None for a series).
      benchmark_days: the daily returns paired with the benchmark's.
      benchmark_return, excess_return, alpha, beta, correlation, tracking_error,
        information_ratio: floats over the paired days, None where undefined.
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
    benchmark: str | None = None
    benchmark_timeframe: str | None = None
    benchmark_days: int = 0
    benchmark_return: float | None = None
    excess_return: float | None = None
    alpha: float | None = None
    beta: float | None = None
    correlation: float | None = None
    tracking_error: float | None = None
    information_ratio: float | None = None


@dataclass(frozen=True)
class GroupPerformance:
    """One row of per-strategy, -symbol, -exchange or -currency performance over closed
    round trips; a group trading in two currencies has one row per currency."""

    name: str
    trades: int
    wins: int
    win_rate: float | None
    net_pnl: Decimal
    fees: Decimal
    gross_profit: Decimal
    gross_loss: Decimal
    profit_factor: float | None
    currency: str = ""


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


def _stats_fields(currency, t: Tally | None) -> dict:
    """TradeStatistics' fields from one currency's Tally (empty without round trips)."""
    if t is None or not t.count:
        return {}
    gross_profit, gross_loss = tidy(t.gross_profit), tidy(t.gross_loss)
    net = tidy(EXACT.add(t.gross_profit, t.gross_loss))
    return dict(
        total_trades=t.count, winning_trades=t.wins, losing_trades=t.losses,
        win_rate=t.wins / t.count, gross_profit=gross_profit, gross_loss=gross_loss,
        net_pnl=net, total_fees=tidy(t.fees),
        avg_win=ratio(gross_profit, Decimal(t.wins)) if t.wins else None,
        avg_loss=ratio(gross_loss, Decimal(t.losses)) if t.losses else None,
        largest_win=t.largest_win, largest_loss=t.largest_loss,
        profit_factor=_profit_factor(gross_profit, gross_loss),
        expectancy=ratio(net, Decimal(t.count)),
        avg_holding_time=timedelta(microseconds=t.holding_micros) / t.count,  # exact
        currency=currency,
        unvalued_fees={c: tidy(a) for c, a in sorted(t.unvalued.items())},
        **getattr(t, "extras", {}))


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


class _CurveWindow:
    """The rows of an equity curve over whole UTC days: the carried-in start point (one
    point lookup), the window's snapshots (one index range) and the external flows that
    count (cash_movements plus ``flows=``), read on one connection."""

    def __init__(self, conn: Connection, account: str, days: Days, since: Moment | None,
                 until: Moment | None, flows: Iterable[tuple[Moment, Amount]] | None):
        start, end = _window(days, since, until)
        extra = _flows_in(flows)
        start_day = start[:10] if start != "0000" else "0000-00-00"
        self.first_day = start_day if start != "0000" else None
        self.day_start = start_day + "T00:00:00.000000Z" if start != "0000" else "0000"
        self.day_end = ts_in(datetime.fromisoformat(_last_day(end)).replace(
            tzinfo=timezone.utc) + timedelta(days=1)) if end != "9999" else "9999"
        params = {"account": account, "start": self.day_start, "end": self.day_end}
        first = conn.execute(START_POINT_SQL, params).fetchone()
        after = first[0] if first else self.day_start
        points = conn.execute(POINTS_SQL, dict(params, after=after)).fetchall()
        self.points, self.moves = [], []
        if not points:      # no curve without a snapshot in the window
            return
        if first is None:
            first, points = points[0], points[1:]
            after = first[0]
        last_ts = points[-1][0] if points else after
        stored = conn.execute(FLOWS, {"account": account, "after": after,
                                      "last": last_ts}).fetchall() if points else []
        self.points = [first] + points
        self.moves = sorted([(ts, signed_flow(kind, amount)) for ts, kind, amount in stored]
                            + [(ts, amount) for ts, amount in extra if after < ts <= last_ts])


class Analytics:
    """``repo.analytics``: statistics, performance metrics, breakdowns."""

    def __init__(self, db: Engine):
        self.db = db

    def _tallies(self, conn, start, end, key=None, **filters) -> dict:
        params = {"start": start, "end": end, "account": None, "strategy": None,
                  "symbol": None, "exchange": None, "currency": None}
        for name, value in filters.items():
            if name not in params or name in ("start", "end"):
                raise ValidationError(f"{name}: not a filter of round trips (account, "
                                      "strategy, symbol, exchange, currency)", field=name,
                                      value=value)
            if value is not None and not isinstance(value, str):
                raise ValidationError(f"{name}: {value!r} must be text or None", field=name,
                                      value=value)
            params[name] = value
        tallies = tally(chunks(conn.execute(ROUND_TRIPS_SQL, params)), key)
        if key is None:  # funding, commission, liquidations (tradestore.record.positions)
            for currency, extra in round_trip_extras(conn, params).items():
                if currency in tallies:
                    tallies[currency].extras = extra
        return tallies

    def statistics(self, days: Days = 30, *, account: str | None = None,
                   strategy: str | None = None, symbol: str | None = None,
                   exchange: str | None = None, currency: str | None = None,
                   since: Moment | None = None, until: Moment | None = None) -> TradeStatistics:
        """TradeStatistics over the closed round trips in the window; ConflictError when
        they are in several currencies and no ``currency=`` ("" = without a currency)."""
        return self.statistics_by_currency(  # type: ignore[return-value]  # _single: one
            days, account=account, strategy=strategy, symbol=symbol, exchange=exchange,
            currency=currency, since=since, until=until, _single=True)

    def statistics_by_currency(self, days: Days = 30, *, account: str | None = None,
                               strategy: str | None = None, symbol: str | None = None,
                               exchange: str | None = None, currency: str | None = None,
                               since: Moment | None = None, until: Moment | None = None,
                               _single: bool = False) -> dict[str, TradeStatistics]:
        """{currency: TradeStatistics}, one per quote currency ("" = without one)."""
        start, end = _window(days, since, until)
        with self.db.reading() as conn:
            tallies = self._tallies(conn, start, end, account=account, strategy=strategy,
                                    symbol=symbol, exchange=exchange, currency=currency)
        if _single:
            name, t = single(tallies, "the statistics' scope")
            # statistics() asks for the one currency's figures (_single)
            return TradeStatistics(**_stats_fields(name, t))  # type: ignore[return-value]
        return {name: TradeStatistics(**_stats_fields(name, t))
                for name, t in sorted(tallies.items())}

    def performance(self, days: Days = 30, *, account: str = "default", periods_per_year: int = 365,
                    risk_free_rate: float = 0, since: Moment | None = None,
                    until: Moment | None = None, flows: Flows | None = None,
                    currency: str | None = None, statistics: bool = True,
                    benchmark: str | Flows | None = None,
                    benchmark_exchange: str = "") -> PerformanceMetrics:
        """Equity-curve figures of ``account`` over whole UTC days, with deposits and
        withdrawals (cash_movements, plus ``flows`` [(timestamp, signed amount)] recorded
        elsewhere) taken out of the returns, and the statistics of its round trips in the
        same whole days (``currency=`` when they are in several; ``statistics=False``
        leaves them out, for callers that show them per currency). ``benchmark``: a
        symbol whose stored candles give the benchmark's daily closes (on
        ``benchmark_exchange``), or [(time, value)]; adds the comparison figures
        (benchmark_return, alpha, beta, ...). docs/metrics.md."""
        if not isinstance(statistics, bool):
            raise ValidationError(f"statistics: {statistics!r} must be True or False",
                                  field="statistics", value=statistics)
        periods_per_year = to_int(periods_per_year, "periods_per_year", lowest=1,
                                  allowed="a whole number > 0")
        try:  # a str or None must be our ValidationError, not float()'s ValueError/TypeError
            rf = float(risk_free_rate)
        except (TypeError, ValueError):
            rf = math.nan
        if isinstance(risk_free_rate, bool) or not math.isfinite(rf) or rf <= -1:
            raise ValidationError(f"risk_free_rate: {risk_free_rate!r} must be a finite rate > -1",
                                  field="risk_free_rate", value=risk_free_rate)
        account = to_text(account, "account")
        with self.db.reading() as conn:
            span = _CurveWindow(conn, account, days, since, until, flows)
            tallies = self._tallies(conn, span.day_start, span.day_end, account=account,
                                    currency=currency) if statistics else {}
        name, t = single(tallies, f"account {account!r} in the window")
        metrics = dict(_stats_fields(name, t), periods_per_year=periods_per_year,
                       risk_free_rate=rf)
        points = self._benchmark_points(benchmark, benchmark_exchange, span)
        if span.points:
            figures, curve = self._curve(span.points, span.moves, rf, periods_per_year,
                                         span.first_day)
            metrics.update(figures)
            if points is not None and curve.defined:
                start, day_levels = comparison.levels(points[1], curve.start_day,
                                                      len(curve.daily), span.points[0][0])
                rf_period = (1.0 + rf) ** (1.0 / periods_per_year) - 1.0
                metrics.update(comparison.figures(
                    comparison.pairs(curve.daily, start, day_levels), rf_period,
                    periods_per_year))
        if points is not None:
            metrics.update(benchmark=points[2], benchmark_timeframe=points[0])
        return PerformanceMetrics(**metrics)

    def _benchmark_points(self, benchmark, exchange, span):
        """(timeframe, points, name) of ``benchmark`` around the window; None without one."""
        if benchmark is None:
            return None
        if not isinstance(benchmark, str):
            return None, comparison.given_points(benchmark), ""
        if not span.points:  # still check the name: a typo is an error, not "no data"
            today = date.fromisoformat(_last_day("9999"))
            comparison.candle_points(self.candles, benchmark, exchange, today, today)
            return None, [], benchmark
        first = span.first_day or span.points[0][0][:10]
        timeframe, points = comparison.candle_points(
            self.candles, benchmark, exchange, date.fromisoformat(first),
            date.fromisoformat(span.points[-1][0][:10]))
        return timeframe, points, benchmark

    @property
    def candles(self) -> CandleStore:
        return CandleStore(self.db)

    def benchmark_curve(self, benchmark: str | Flows, days: Days = 30, *, account: str = "default",
                        since: Moment | None = None, until: Moment | None = None,
                        flows: Flows | None = None,
                        benchmark_exchange: str = "") -> list[tuple[datetime, float]]:
        """The benchmark beside the equity curve: [(datetime, value)] starting at the
        start point's time and value, then each day's close (the account's last snapshot
        that day, else the end of the day) at start value x the benchmark's growth since
        the start (docs/metrics.md). Empty without a curve."""
        with self.db.reading() as conn:
            span = _CurveWindow(conn, to_text(account, "account"), days, since, until, flows)
        points = self._benchmark_points(benchmark, benchmark_exchange, span)
        if not span.points or points is None:
            return []
        curve = walk(span.points, span.moves, span.first_day)
        start, day_levels = comparison.levels(points[1], curve.start_day, len(curve.daily),
                                              span.points[0][0])
        closes = {ts[:10]: ts for ts, _ in span.points}   # the last snapshot of each day
        return comparison.scaled_curve(span.points[0][0], Decimal(span.points[0][1]),
                                       curve.start_day, start, day_levels, closes)

    def growth_index(self, days: Days = 30, *, account: str = "default",
                     since: Moment | None = None, until: Moment | None = None,
                     flows: Flows | None = None) -> list[tuple[date, float]]:
        """The time-weighted growth of the window as a daily series: [(first day, 1.0)]
        for the start value, then (day, product of 1 + the daily returns so far). Its
        period-over-period changes are returns with deposits and withdrawals taken out
        (the monthly returns of the report use it). Empty without a curve."""
        with self.db.reading() as conn:
            span = _CurveWindow(conn, to_text(account, "account"), days, since, until, flows)
        if not span.points:
            return []
        curve = walk(span.points, span.moves, span.first_day)
        out, index, day = [(curve.start_day, 1.0)], 1.0, curve.start_day
        for r in curve.daily:
            index *= 1.0 + r
            out.append((day, index))
            day += timedelta(days=1)
        return out

    @staticmethod
    def _curve(points: list[tuple[str, str]], moves: list[tuple[str, Decimal]], rf: float,
               periods: int, first_day: str | None) -> tuple[dict[str, Any], Curve]:
        """Every equity-curve figure from one pass over the points (returns.walk), and
        the walked curve (its daily returns are what a benchmark is compared with)."""
        start_ts, end_ts = points[0][0], points[-1][0]
        start_value, end_value = Decimal(points[0][1]), Decimal(points[-1][1])
        with localcontext(EXACT):   # exact, however many digits
            net_flows = sum((amount for _, amount in moves), Decimal(0))
            pnl = end_value - start_value - net_flows
        curve = walk(points, moves, first_day)
        out: dict[str, Any] = dict(start=curve.first_day, end=curve.last_day,
                                   start_value=start_value,
                   end_value=end_value, days=len(curve.daily), net_flows=tidy(net_flows),
                   pnl=tidy(pnl),
                   max_drawdown=curve.max_drawdown,
                   max_drawdown_duration=curve.max_drawdown_duration,
                   money_weighted_return=money_weighted(start_ts, start_value, moves, end_ts,
                                                        end_value))
        if not curve.defined:
            return out, curve
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
        return ({k: _nonfinite_to_none(v) if isinstance(v, float) else v
                 for k, v in out.items()}, curve)

    def by_group(self, key: str, days: Days = None, *, account: str | None = None,
                 since: Moment | None = None, until: Moment | None = None,
                 **filters: str | None) -> list[GroupPerformance]:
        """Per ``strategy``, ``symbol``, ``exchange`` or ``currency`` performance over
        closed round trips, one row per (group, currency), ordered by name."""
        if not isinstance(key, str) or key not in GROUP_COLUMN:
            raise ValidationError(f"key: {show(key)} must be one of {', '.join(GROUP_COLUMN)}",
                                  field="key", value=key)
        start, end = _window(days, since, until)
        with self.db.reading() as conn:
            tallies = self._tallies(conn, start, end, GROUP_COLUMN[key], account=account,
                                    **filters)
        out = []
        for (name, currency), t in sorted(tallies.items()):
            f = _stats_fields(currency, t)
            out.append(GroupPerformance(name, t.count, t.wins, f["win_rate"], f["net_pnl"],
                                        f["total_fees"], f["gross_profit"], f["gross_loss"],
                                        f["profit_factor"], currency))
        return out

    def equity(self, days: Days = 30, *, account: str = "default", since: Moment | None = None,
               until: Moment | None = None) -> list[tuple[date, Decimal]]:
        """The daily series [(date, Decimal)]: the close of each UTC day of the window, a
        day without a snapshot carrying the previous value (the carried-in start value
        on the first day). Read like performance(): a point lookup and one range."""
        start, end = _window(days, since, until)
        day_start = start[:10] + "T00:00:00.000000Z" if start != "0000" else "0000"
        day_end = ts_in(datetime.fromisoformat(_last_day(end)).replace(tzinfo=timezone.utc)
                        + timedelta(days=1)) if end != "9999" else "9999"
        params = {"account": account, "start": day_start, "end": day_end}
        with self.db.reading() as conn:
            first = conn.execute(START_POINT_SQL, params).fetchone()
            after = first[0] if first else day_start
            points = conn.execute(POINTS_SQL, dict(params, after=after)).fetchall()
        if not points:
            return []
        closes = {}
        for ts, value in points:
            closes[ts[:10]] = value
        day = date.fromisoformat(start[:10]) if first else date.fromisoformat(points[0][0][:10])
        last = date.fromisoformat(points[-1][0][:10])
        value = first[1] if first else points[0][1]
        out = []
        while day <= last:
            value = closes.get(day.isoformat(), value)
            out.append((day, Decimal(value)))
            day += timedelta(days=1)
        return out
