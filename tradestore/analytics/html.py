"""The report as one self-contained HTML page: inline CSS and SVG, no script, nothing
fetched from anywhere (a Content-Security-Policy says so to the browser too).

Every figure comes from the analytics API (``calculate_performance_metrics``,
``get_strategy_performance``, ``get_symbol_performance``) or the ``v_round_trips``
view; every piece of text from the database is escaped.
"""

from __future__ import annotations

import heapq
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

from tradestore._core.codec import ts_in, utc_now
from tradestore._core.files import atomic_file
from tradestore._core.hints import Amount, Days, Moment, PathLike
from tradestore._core.pg import per_engine
from tradestore.analytics import report as text_report
from tradestore.analytics import svg
from tradestore.analytics.charts import monthly_returns, yearly_returns
from tradestore.analytics.facade import AnalyticsFacade
from tradestore.analytics.metrics import START_POINT_SQL, PerformanceMetrics
from tradestore.analytics.returns import dietz
from tradestore.analytics.svg import escape
from tradestore.books.accounts import FLOWS, signed_flow
from tradestore.errors import ValidationError

# Snapshots of the chart window as (timestamp, epoch seconds, value), oldest first: the chart
# streams them through a min/max sampler, so a long history costs no memory, and the
# same pass keeps each day's last value for the monthly returns.
CHART_COUNT_SQL = """
SELECT count(*) FROM portfolio_snapshots
WHERE account = :account AND timestamp >= :start AND timestamp < :end
"""
CHART_SQL = """
SELECT timestamp, (julianday(timestamp) - 2440587.5) * 86400.0, total_value
FROM portfolio_snapshots
WHERE account = :account AND timestamp >= :start AND timestamp < :end
ORDER BY timestamp
"""
# PostgreSQL: seconds since 1970 from the timestamptz (no julianday); chart positions only
CHART_SQL = per_engine(CHART_SQL, CHART_SQL.replace(
    "(julianday(timestamp) - 2440587.5) * 86400.0",
    "CAST(extract(epoch FROM timestamp) AS double precision)"))
ROUND_TRIPS_SQL = """
SELECT id, symbol, side, strategy, quantity, pnl, fees, opened_at, closed_at
FROM v_round_trips
WHERE closed_at >= :start AND (:account IS NULL OR account = :account)
"""
TOP_TRADES = 10
WIDE = ("window", "benchmark")   # headline figures given two grid cells

CSS = """
body{margin:0;background:#f5f6f8;color:#222;font:14px/1.45 system-ui,-apple-system,
 'Segoe UI',Roboto,Helvetica,Arial,sans-serif}
main{max-width:1000px;margin:0 auto;padding:20px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#555;margin:0 0 12px}.meta code{background:#eceef1;padding:1px 4px;border-radius:3px}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px;margin:0}
.figure{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:8px 10px}
.figure dt{color:#666;font-size:12px}.figure dd{margin:2px 0 0;font-size:17px;font-weight:600}
.figure.wide{grid-column:span 2}.figure.wide dd{font-size:15px}
.panel{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:8px;overflow-x:auto}
.panel svg{display:block;max-width:100%;height:auto}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border-bottom:1px solid #e6e8eb;padding:4px 8px;text-align:left;white-space:nowrap}
th{background:#f0f2f5;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.gain{color:#1a7f37}.loss{color:#b42318}.none{color:#888;font-style:italic}
footer{color:#666;font-size:12px;margin-top:24px}
""".strip()

# ------------------------------------------------------------------ formatting
# The display formats are the text report's (tradestore/report.py), so both show the
# same figures the same way: money to cents, percentages and ratios to two decimals.
money, pct, ratio, duration = text_report.money, text_report.pct, text_report.ratio, \
    text_report.duration
NOT_AVAILABLE = text_report.NA


def window_text(metrics: PerformanceMetrics) -> str:
    if metrics.start is None:
        return "no portfolio snapshots in the window"
    return f"{metrics.start} .. {metrics.end} ({metrics.days} days)"


def headline(metrics: PerformanceMetrics, trips: dict | None = None) -> list[tuple[str, str, str]]:
    """[(key, label, text)]: the headline figures, formatted as the text report does; the
    round-trip figures once per currency when ``trips`` ({currency: stats}) has several."""
    m = metrics
    if trips and len(trips) > 1:
        return _curve_figures(m) + [item for currency, t in sorted(trips.items())
                                    for item in _trip_figures(t, currency)]
    return _curve_figures(m) + _trip_figures(m, None)


def _curve_figures(m) -> list[tuple[str, str, str]]:
    return [
        ("window", "Equity curve", window_text(m)),
        ("start_value", "Start value", money(m.start_value)),
        ("end_value", "End value", money(m.end_value)),
        ("total_return", "Total return", pct(m.total_return, True)),
        ("cagr", "CAGR", pct(m.cagr, True)),
        ("sharpe_ratio", "Sharpe ratio", ratio(m.sharpe_ratio)),
        ("sortino_ratio", "Sortino ratio", ratio(m.sortino_ratio)),
        ("max_drawdown", "Max drawdown", pct(m.max_drawdown)),
        ("max_drawdown_duration", "Drawdown duration", duration(m.max_drawdown_duration)),
        ("volatility", "Volatility (ann.)", pct(m.volatility)),
        ("net_flows", "Deposits - withdrawals", money(m.net_flows)),
        ("pnl", "Pnl (end - start - flows)", money(m.pnl)),
        ("money_weighted_return", "Money-weighted return", pct(m.money_weighted_return, True)),
    ] + (_benchmark_figures(m) if m.benchmark is not None else [])


def _benchmark_figures(m) -> list[tuple[str, str, str]]:
    return [
        ("benchmark", "Benchmark", f"{text_report.benchmark_name(m)}, "
                                   f"{m.benchmark_days} paired days"),
        ("benchmark_return", "Benchmark return", pct(m.benchmark_return, True)),
        ("excess_return", "Excess return", pct(m.excess_return, True)),
        ("alpha", "Alpha (ann.)", pct(m.alpha, True)),
        ("beta", "Beta", ratio(m.beta)),
        ("correlation", "Correlation", ratio(m.correlation)),
        ("tracking_error", "Tracking error (ann.)", pct(m.tracking_error)),
        ("information_ratio", "Information ratio", ratio(m.information_ratio)),
    ]


def _trip_figures(t, currency: str | None) -> list[tuple[str, str, str]]:
    """Round-trip figures; with ``currency`` their keys and labels name it."""
    key = "" if currency is None else f"-{currency or 'none'}"
    label = "" if currency is None else f" ({currency or 'no currency'})"
    return [
        ("total_trades" + key, "Closed round trips" + label, str(t.total_trades)),
        ("win_rate" + key, "Win rate" + label, pct(t.win_rate)),
        ("profit_factor" + key, "Profit factor" + label, ratio(t.profit_factor)),
        ("expectancy" + key, "Expectancy" + label, money(t.expectancy)),
        ("net_pnl" + key, "Net pnl" + label, money(t.net_pnl)),
        ("total_fees" + key, "Total fees" + label, money(t.total_fees)),
    ] + [("unvalued_fees" + key + "-" + c, f"Unvalued fees{label}", f"{format(a, 'f')} {c}")
         for c, a in sorted((t.unvalued_fees or {}).items())]


def _amount(value: Decimal, *, signed=False) -> str:
    """A money cell: rounded for display, the exact value in its tooltip."""
    cls = " gain" if signed and value > 0 else " loss" if signed and value < 0 else ""
    return (f'<td class="num{cls}" title="{escape(format(value, "f"))}">'
            f"{escape(money(value))}</td>")


# ------------------------------------------------------------------ data
def window_start(days: Days, now: datetime | None = None) -> datetime | None:
    """Midnight UTC of the day ``days`` ago (None: all time), as the text report's window."""
    if days is None:
        return None
    first_day = ((now or utc_now()) - timedelta(days=days)).date()
    return datetime.combine(first_day, time(), timezone.utc)


def chart_series(repo: AnalyticsFacade, metrics: PerformanceMetrics, account: str,
                 limit: int = svg.MAX_POINTS) -> tuple[list[tuple[float, float]],
                                                       list[tuple[float, float]],
                                                       list[tuple[date, float]]]:
    """(equity, drawdown, daily) of the metrics' window: every snapshot's value and the
    drawdown of the time-weighted index from its running peak (as max_drawdown: the
    carried-in start value is the first peak, deposits and withdrawals are not moves),
    each downsampled to ``limit`` with the extremes kept, and the daily series [(date,
    value)] (last value of each UTC day, carried)."""
    if metrics.start is None or metrics.end is None:  # (both or neither)
        return [], [], []
    start = datetime.combine(metrics.start, time(), timezone.utc)
    end = datetime.combine(metrics.end, time(), timezone.utc) + timedelta(days=1)
    params = {"account": account, "start": ts_in(start), "end": ts_in(end)}
    closes: dict[str, float] = {}
    with repo.db.reading() as conn:
        count = conn.execute(CHART_COUNT_SQL, params).fetchone()[0]
        equity, drawdown = svg.MinMaxSampler(count, limit), svg.MinMaxSampler(count, limit)
        first = conn.execute(START_POINT_SQL, params).fetchone()
        flows = [(t, signed_flow(kind, amount)) for t, kind, amount in conn.execute(
            FLOWS, {"account": account, "after": first[0] if first else params["start"],
                    "last": params["end"]})]
        prev, before = first, float(first[1]) if first else None
        index = peak = 1.0
        for ts, x, text in conn.execute(CHART_SQL, params):
            value = float(text)
            equity.add(x, value)
            if flows and prev is not None and flows[0][0] <= ts:
                mine = [f for f in flows if prev[0] < f[0] <= ts]
                flows = [f for f in flows if f[0] > ts]
                r = dietz(prev[0], Decimal(prev[1]), ts, Decimal(text), mine)
                index *= 1.0 if r is None else 1.0 + float(r)
            elif before:
                index *= value / before
            peak = max(peak, index)
            drawdown.add(x, min(0.0, index / peak - 1.0))
            closes[ts[:10]] = value
            prev, before = (ts, text), value
    return equity.points(), drawdown.points(), _carried(closes)


def _carried(closes: dict[str, float]) -> list[tuple[date, float]]:
    """Every calendar day from the first to the last, a day without a snapshot carrying
    the previous value: the daily series of ``v_daily_equity``."""
    daily: list[tuple[date, float]] = []
    for text, value in closes.items():
        day = date.fromisoformat(text)
        while daily and daily[-1][0] + timedelta(days=1) < day:
            daily.append((daily[-1][0] + timedelta(days=1), daily[-1][1]))
        daily.append((day, value))
    return daily


def round_trips(repo: AnalyticsFacade, *, since: datetime | None = None, account: str | None = None,
                count: int = TOP_TRADES) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(best, worst): the ``count`` round trips with the highest and the lowest pnl,
    ordered exactly (Decimal), ties by close time then id."""
    params = {"start": ts_in(since) if since else "0000", "account": account}
    rows = [dict(zip(("id", "symbol", "side", "strategy", "quantity", "pnl", "fees",
                      "opened_at", "closed_at"), r))
            for r in repo.db.query(ROUND_TRIPS_SQL, params)]
    for row in rows:
        row["pnl"], row["fees"] = Decimal(row["pnl"]), Decimal(row["fees"])
    best = heapq.nsmallest(count, rows, key=lambda r: (-r["pnl"], r["closed_at"], r["id"]))
    worst = heapq.nsmallest(count, rows, key=lambda r: (r["pnl"], r["closed_at"], r["id"]))
    return best, worst


# ------------------------------------------------------------------ HTML pieces
def _figures(metrics, trips=None) -> str:
    items = "".join(f'<div class="figure{" wide" if key in WIDE else ""}" '
                    f'id="fig-{escape(key)}">'
                    f"<dt>{escape(label)}</dt><dd>{escape(text)}</dd></div>"
                    for key, label, text in headline(metrics, trips))
    return f'<dl class="figures">{items}</dl>'


def _name_cell(name: str | None) -> str:
    if not name:
        return '<td class="none">(none)</td>'
    return f"<td>{escape(name)}</td>"


def _group_table(rows, heading: str) -> str:
    if not rows:
        return '<p class="none">No closed round trips.</p>'
    several = len({g.currency for g in rows}) > 1
    body = "".join(
        f"<tr>{_name_cell(text_report._group_name(g, several) if several else g.name)}"
        f"{_amount(g.net_pnl, signed=True)}"
        f'<td class="num">{g.trades}</td><td class="num">{escape(pct(g.win_rate))}</td>'
        f'<td class="num">{escape(ratio(g.profit_factor))}</td>{_amount(g.fees)}</tr>'
        for g in rows)
    return (f'<table><thead><tr><th>{escape(heading)}</th><th class="num">Net pnl</th>'
            f'<th class="num">Trades</th><th class="num">Win rate</th>'
            f'<th class="num">Profit factor</th><th class="num">Fees</th></tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _trip_table(rows) -> str:
    if not rows:
        return '<p class="none">No closed round trips.</p>'
    body = "".join(
        f'<tr><td class="num">{r["id"]}</td><td>{escape(r["symbol"])}</td>'
        f'<td>{escape(r["side"])}</td>{_name_cell(r["strategy"])}'
        f'<td class="num">{escape(format(Decimal(r["quantity"]), ",f"))}</td>'
        f'<td>{escape(r["closed_at"][:16].replace("T", " "))}</td>'
        f'{_amount(r["pnl"], signed=True)}{_amount(r["fees"])}</tr>'
        for r in rows)
    return ('<table><thead><tr><th class="num">#</th><th>Symbol</th><th>Side</th>'
            '<th>Strategy</th><th class="num">Qty</th><th>Closed (UTC)</th>'
            '<th class="num">Pnl</th><th class="num">Fees</th></tr></thead>'
            f"<tbody>{body}</tbody></table>")


def requested_window(days: Days, since: datetime | None) -> str:
    """The window as the text report names it: "all time" or "last N days (since D)"."""
    if days is None:
        return "all time"
    text = f"{days:g}"
    return f"last {text} day{'' if text == '1' else 's'} (since {since:%Y-%m-%d})"


def _definitions(metrics, days, since) -> str:
    items = [
        f"Window: {requested_window(days, since)}"
        f"{'' if days is None else ', from midnight UTC'}; the equity curve spans "
        f"{window_text(metrics)}.",
        "The window starts where the money was: the last snapshot at or before its start "
        "(else its first snapshot); daily returns run from it to the last portfolio value "
        "of each UTC day; days without a snapshot carry the previous value.",
        "Deposits and withdrawals are not returns: between snapshots the return is "
        "Modified Dietz (V1 - V0 - flows) / (V0 + time-weighted flows), chain-linked into "
        "days; pnl = end - start - net flows; the money-weighted return is the annualised "
        "internal rate of return.",
        f"Annualisation: {metrics.periods_per_year} periods per year; risk-free rate "
        f"{metrics.risk_free_rate * 100:g}% per year.",
        "Total return = the chain-linked daily returns; CAGR over the days of returns; "
        "volatility = stdev(ddof=1) x sqrt(periods); Sharpe = mean(r - rf) / stdev(r) x sqrt(periods); Sortino = "
        "mean(r) x periods / (downside deviation x sqrt(periods)).",
        "Max drawdown: the deepest fall of the time-weighted index below a previous peak "
        "over every snapshot, the start value the first peak. The chart "
        "draws every snapshot (long series are downsampled keeping each bucket's extremes).",
        "Monthly return = the daily returns of the month chain-linked (deposits and "
        "withdrawals taken out); the first month from the start value.",
        *([] if metrics.benchmark is None else [
            "Benchmark: its daily close is its last value of each UTC day (the close of the "
            "last candle ending that day), carried over days without one; its returns are "
            "paired with the account's daily returns on the days both exist. Beta = "
            "cov(r_p, r_b) / var(r_b); alpha = (mean(r_p - rf) - beta x mean(r_b - rf)) x "
            "periods; tracking error = stdev(r_p - r_b) x sqrt(periods); information ratio "
            "= mean(r_p - r_b) x periods / tracking error; excess return = the account's "
            "return over the paired days - the benchmark's. The chart draws the benchmark "
            "scaled to the start value."]),
        "Round trips: closed positions (average cost). Win rate = wins / all closed; profit "
        "factor = gross profit / |gross loss|; expectancy = net pnl / round trips. Amounts "
        "of two quote currencies are never added: one set of figures per currency.",
        f"{NOT_AVAILABLE}: not defined for this data (no snapshots, no losses, zero deviation).",
    ]
    return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


def render_html(repo: AnalyticsFacade, *, days: Days = None, account: str = "default",
                periods_per_year: int = 365, risk_free_rate: float = 0, source: str | None = None,
                now: datetime | None = None,
                benchmark: str | Iterable[tuple[Moment, Amount]] | None = None,
                benchmark_exchange: str = "") -> str:
    """The whole report page as a string.

    ``days=None`` is all time, else the window starts at midnight UTC of the day ``days``
    ago (the text report's window). ``source`` names the database shown on the page
    (default: the store's path). ``now`` fixes the clock (tests). ``benchmark``: a symbol
    with stored candles (or [(time, value)]) compared with and drawn in the equity chart.
    """
    if days is not None and (isinstance(days, bool) or not isinstance(days, (int, float))
                             or not 0 <= days < 1e6):
        raise ValidationError(f"days: {days!r} must be a number of days >= 0 or None",
                              field="days", value=days)
    since = window_start(days, now)
    trips = repo.get_statistics_by_currency(None, account=account, since=since)
    metrics = repo.calculate_performance_metrics(
        None, account=account, since=since, periods_per_year=periods_per_year,
        risk_free_rate=risk_free_rate, statistics=len(trips) <= 1,
        currency=next(iter(trips)) if len(trips) == 1 else None, benchmark=benchmark,
        benchmark_exchange=benchmark_exchange)
    equity, drawdown, _ = chart_series(repo, metrics, account)
    versus = [] if benchmark is None else repo.analytics.benchmark_curve(
        benchmark, None, account=account, since=since, benchmark_exchange=benchmark_exchange)
    strategies = repo.get_strategy_performance(None, account=account, since=since)
    symbols = repo.get_symbol_performance(None, account=account, since=since)
    best, worst = round_trips(repo, since=since, account=account)
    source = repo.path if source is None else str(source)
    generated = (now or utc_now()).strftime("%Y-%m-%d %H:%M UTC")
    title = f"tradestore report: {account}"
    chart = svg.line_chart(equity, drawdown=drawdown or False, title="Equity and drawdown",
                           heading=False, benchmark=versus,
                           benchmark_label=metrics.benchmark or "benchmark")
    growth = repo.analytics.growth_index(None, account=account, since=since)
    months = svg.heatmap(monthly_returns(growth), yearly_returns(growth),
                         title="Monthly returns", heading=False)
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>Trading report</h1><p class=\"meta\">account <b>{escape(account)}</b> &middot; "
        f"window <span id=\"window\">{escape(requested_window(days, since))}</span> &middot; "
        f"database <code id=\"source\">{escape(source)}</code>"
        f" &middot; generated {escape(generated)}</p>",
        _figures(metrics, trips),
        f'<h2>Equity and drawdown</h2><div class="panel" id="equity-chart">{chart}</div>',
        f'<h2>Monthly returns</h2><div class="panel" id="monthly-heatmap">{months}</div>',
        '<h2>By strategy</h2><div id="by-strategy">', _group_table(strategies, "Strategy"),
        '</div><h2>By symbol</h2><div id="by-symbol">', _group_table(symbols, "Symbol"), "</div>",
        f'<h2>{TOP_TRADES} best round trips</h2><div id="best-trips">{_trip_table(best)}</div>',
        f'<h2>{TOP_TRADES} worst round trips</h2><div id="worst-trips">{_trip_table(worst)}</div>',
        f"<h2>Definitions</h2>{_definitions(metrics, days, since)}",
        f"<footer>Database <code>{escape(source)}</code>, account {escape(account)}, "
        f"generated {escape(generated)} by tradestore.</footer>",
        "</main></body></html>\n",
    ])


def write_html(repo: AnalyticsFacade, path: PathLike, **options: Any) -> Path:
    """Render and write atomically (a temp file renamed over ``path``), mode 0644."""
    target = Path(path)
    page = render_html(repo, **options).encode("utf-8")
    with atomic_file(target, mode=0o644, binary=True) as out:
        out.write(page)
    return target
