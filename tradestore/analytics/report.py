"""The performance report: the analytics API's figures as text or lossless JSON.

``collect`` makes the library calls (one window for all of them); ``render_text``
and ``render_json`` only format. Text rounds for display (money to cents, small
amounts to four significant digits, percentages to two decimals) and never
changes a stored value; JSON keeps every digit (Decimals as strings).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable

from tradestore._core.codec import UTC, to_plain, utc_now
from tradestore._core.hints import Amount, Days, Moment
from tradestore.analytics.facade import AnalyticsFacade
from tradestore.analytics.metrics import GroupPerformance, PerformanceMetrics, TradeStatistics
from tradestore.errors import ValidationError

WIDTH = 80
NA = "n/a"


@dataclass(frozen=True)
class Report:
    """Everything the report shows.

    Attributes:
      account: the account whose equity curve and round trips are reported.
      days: the look-back in days, or None for all time.
      since: the window's start (midnight UTC of the first day), None for all time.
      metrics: PerformanceMetrics of the account over the window (its round-trip figures
        only when they are in one currency; otherwise those fields are empty).
      strategies, symbols: GroupPerformance rows of the account over the same window.
      round_trips: {currency: TradeStatistics} of the account's closed round trips, one
        block per quote currency ("" = round trips without a currency).
      benchmark_curve: [(datetime, value)] the benchmark scaled to the start value (the
        start point, then the end of each day), [] without a benchmark.
    """

    account: str
    days: float | None
    since: datetime | None
    metrics: PerformanceMetrics
    strategies: list[GroupPerformance]
    symbols: list[GroupPerformance]
    round_trips: dict | None = None
    benchmark_curve: list | None = None


def collect(repo: AnalyticsFacade, days: Days = 30, *, account: str = "default",
            now: datetime | None = None,
            benchmark: str | Iterable[tuple[Moment, Amount]] | None = None,
            benchmark_exchange: str = "") -> Report:
    """The report's figures. ``days=None`` is all time; otherwise the window starts at
    midnight UTC of the day ``days`` ago (as ``calculate_performance_metrics`` does).
    ``benchmark``: a symbol with stored candles (or [(time, value)]) to compare with.
    ``repo``: a TradeRepo (the layer above analytics, so not imported here)."""
    since = None
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, (int, float)) or not 0 <= days < 1e6:
            raise ValidationError(f"days: {days!r} must be a number of days >= 0 or None",
                                  field="days", value=days)
        start = (now or utc_now()) - timedelta(days=days)
        since = datetime(start.year, start.month, start.day, tzinfo=UTC)
    trips = repo.get_statistics_by_currency(None, account=account, since=since)
    versus: dict[str, Any] = dict(benchmark=benchmark, benchmark_exchange=benchmark_exchange)
    if len(trips) > 1:   # amounts of two currencies are never added: one block each
        metrics = repo.calculate_performance_metrics(None, account=account, since=since,
                                                     statistics=False, **versus)
    else:
        metrics = repo.calculate_performance_metrics(None, account=account, since=since,
                                                     currency=next(iter(trips), None),
                                                     **versus)
    curve = [] if benchmark is None else repo.analytics.benchmark_curve(
        benchmark, None, account=account, since=since, benchmark_exchange=benchmark_exchange)
    return Report(account, days, since, metrics,
                  repo.get_strategy_performance(None, account=account, since=since),
                  repo.get_symbol_performance(None, account=account, since=since), trips,
                  curve)


# ------------------------------------------------------------------ display formats

def money(value: Decimal | None) -> str:
    """Cents with thousands separators; amounts under 1 to four significant digits."""
    if value is None:
        return NA
    if value.is_zero():
        return "0.00"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    places = min(8, max(2, 3 - value.adjusted()))
    return f"{value:.{places}f}"


def _number(value: float, spec: str) -> str:
    return f"{value:{spec}}" if abs(value) < 1e7 else f"{value:.3e}"


def pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return NA
    return _number(value * 100, "+.2f" if signed else ".2f") + "%"


def ratio(value: float | None) -> str:
    return NA if value is None else _number(value, ".2f")


def duration(value: timedelta | None) -> str:
    if value is None:
        return NA
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s"


def _fit(label: str, value: str) -> str:
    """``label + value`` on one line; a value too long keeps its end ("...tail")."""
    room = WIDTH - len(label)
    return label + (value if len(value) <= room else "..." + value[len(value) - room + 3:])


def _pairs(rows) -> list[str]:
    """Two label/value columns per line; a line too wide is split in two."""
    lines = []
    for left, right in rows:
        cells = [f"{label:<18}{value:>16}" for label, value in (left, right) if label]
        line = "  " + "   ".join(cells)
        if len(line.rstrip()) <= WIDTH:
            lines.append(line.rstrip())
        else:
            lines += [f"  {label:<18} {value}" for label, value in (left, right) if label]
    return lines


def _group_name(row: GroupPerformance, several: bool) -> str:
    name = row.name or "(none)"
    return f"{name} [{row.currency or 'no currency'}]" if several else name


def _table(title: str, key: str, rows: list[GroupPerformance]) -> list[str]:
    headers = [key, "trades", "wins", "win rate", "net pnl", "fees", "profit f."]
    several = len({r.currency for r in rows}) > 1
    body = [[_group_name(r, several), str(r.trades), str(r.wins), pct(r.win_rate), money(r.net_pnl),
             money(r.fees), ratio(r.profit_factor)] for r in rows]
    sizes = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(headers)]
    room = WIDTH - 2 - sum(sizes[1:]) - 2 * (len(sizes) - 1)
    sizes[0] = max(6, min(sizes[0], room))
    def line(cells):
        first = cells[0] if len(cells[0]) <= sizes[0] else cells[0][:sizes[0] - 1] + "~"
        rest = [c.rjust(s) for c, s in zip(cells[1:], sizes[1:])]
        return "  " + "  ".join([first.ljust(sizes[0])] + rest)
    out = [title]
    if not body:
        return out + [line(headers), "  (no closed round trips)"]
    if len(line(body[0])) <= WIDTH and all(len(line(b)) <= WIDTH for b in body):
        return out + [line(headers)] + [line(b) for b in body]
    for b in body:  # too wide for one line a row (huge amounts): a block per row
        out += [_fit("  ", b[0]),
                f"    trades {b[1]}, wins {b[2]}, win rate {b[3]}, profit factor {b[6]}",
                f"    net pnl  {b[4]}", f"    fees     {b[5]}"]
    return out


def render_text(report: Report, *, source: str | None = None,
                pictures: list[str] | None = None) -> str:
    """The report as text lines of at most 80 columns; ``pictures`` (the equity
    sparkline and the monthly returns table) go after the equity figures."""
    m = report.metrics
    if report.days is None:
        window = "all time"
    else:
        days = f"{report.days:g}"
        window = f"last {days} day{'' if days == '1' else 's'} (since {report.since:%Y-%m-%d})"
    if m.start is None:
        curve = "no portfolio snapshots in the window"
    else:
        curve = f"{m.start} .. {m.end} ({m.days} days of daily closes)"
    lines = [_fit("Performance report of account ", repr(report.account))]
    if source:
        lines.append(_fit("Database:     ", source))
    lines += [f"Window:       {window}", f"Equity curve: {curve}"]
    lines.append("")
    lines += _pairs([
        (("start value", money(m.start_value)), ("end value", money(m.end_value))),
        (("total return", pct(m.total_return, True)), ("CAGR", pct(m.cagr, True))),
        (("volatility (ann.)", pct(m.volatility)), ("max drawdown", pct(m.max_drawdown))),
        (("Sharpe ratio", ratio(m.sharpe_ratio)),
         ("drawdown duration", duration(m.max_drawdown_duration))),
        (("Sortino ratio", ratio(m.sortino_ratio)), ("Calmar ratio", ratio(m.calmar_ratio))),
        (("pnl (flows out)", money(m.pnl)), ("net flows", money(m.net_flows))),
        (("money-weighted", pct(m.money_weighted_return, True)), ("", "")),
    ])
    if m.benchmark is not None:
        lines += [""] + benchmark_block(m)
    if pictures:
        lines += [""] + pictures
    blocks = report.round_trips or {m.currency or "": m}
    for currency, t in sorted(blocks.items()):
        lines += [""] + _trips_block(t, currency if len(blocks) > 1 or currency else None)
    lines += [""] + _table("By strategy", "strategy", report.strategies)
    lines += [""] + _table("By symbol", "symbol", report.symbols)
    return "\n".join(lines) + "\n"


def benchmark_name(m: PerformanceMetrics) -> str:
    """"BTC/USDT (1d candles)" or "the given series"."""
    if not m.benchmark:
        return "the given series"
    return m.benchmark + (f" ({m.benchmark_timeframe} candles)" if m.benchmark_timeframe
                          else "")


def benchmark_block(m: PerformanceMetrics) -> list[str]:
    """The comparison with the benchmark, over the days both have a return."""
    lines = [_fit("Benchmark: ", f"{benchmark_name(m)}, {m.benchmark_days} paired daily "
                                 "returns")]
    return lines + _pairs([
        (("benchmark return", pct(m.benchmark_return, True)),
         ("excess return", pct(m.excess_return, True))),
        (("alpha (ann.)", pct(m.alpha, True)), ("beta", ratio(m.beta))),
        (("correlation", ratio(m.correlation)),
         ("tracking error", pct(m.tracking_error))),
        (("information ratio", ratio(m.information_ratio)), ("", "")),
    ])


def _trips_block(t: TradeStatistics, currency: str | None) -> list[str]:
    """One currency's round-trip statistics (the currency named when there are several
    or it is known; "" is round trips without a currency)."""
    where = "" if currency is None else f" in {currency or '(no currency)'}"
    lines = [f"Closed round trips{where}: {t.total_trades} ({t.winning_trades} won, "
             f"{t.losing_trades} lost)"]
    lines += _pairs([
        (("win rate", pct(t.win_rate)), ("profit factor", ratio(t.profit_factor))),
        (("net pnl", money(t.net_pnl)), ("expectancy", money(t.expectancy))),
        (("gross profit", money(t.gross_profit)), ("gross loss", money(t.gross_loss))),
        (("best round trip", money(t.largest_win)), ("worst round trip", money(t.largest_loss))),
        (("average win", money(t.avg_win)), ("average loss", money(t.avg_loss))),
        (("total fees", money(t.total_fees)), ("avg holding time", duration(t.avg_holding_time))),
    ])
    if t.total_funding or t.liquidations or t.total_commission:  # futures (issue 17)
        lines += _pairs([
            (("funding", money(t.total_funding)),
             ("liquidations", f"{t.liquidations} ({money(t.liquidation_loss)})")),
            *([(("commission", money(t.total_commission)), ("", ""))]
              if t.total_commission else []),
        ])
    for fee_currency, amount in sorted((t.unvalued_fees or {}).items()):
        lines.append(_fit("  unvalued fees (left out of pnl): ",
                          f"{format(amount, 'f')} {fee_currency}"))
    return lines


# ------------------------------------------------------------------ JSON

def _shallow(record) -> dict:
    return {f.name: getattr(record, f.name) for f in fields(record)}


def render_json(report: Report) -> str:
    data = {"account": report.account, "days": report.days, "since": report.since,
            "metrics": _shallow(report.metrics),
            "strategies": [_shallow(r) for r in report.strategies],
            "symbols": [_shallow(r) for r in report.symbols],
            "round_trips": {c: _shallow(t) for c, t in (report.round_trips or {}).items()},
            "benchmark_curve": [[t, v] for t, v in report.benchmark_curve or []]}
    return json.dumps(to_plain(data), indent=1) + "\n"
