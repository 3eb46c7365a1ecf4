"""tradestore report | demo: how the bot is doing, and a simulated bot to look at."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path

from tradestore.analytics.charts import equity_lines, monthly_table, wants_ascii
from tradestore.analytics.fleet import by_account
from tradestore.analytics.fleet import render_json as fleet_json
from tradestore.analytics.fleet import render_text as fleet_text
from tradestore.analytics.html import write_html
from tradestore.analytics.report import Report, collect, render_json, render_text
from tradestore.cli.common import Subcommands, open_repo, sqlite_only
from tradestore.errors import ValidationError
from tradestore.repo import TradeRepo
from tradestore.tools.demo import build_demo


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and 0 <= value < 1e6):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days >= 0")
    return int(value) if value.is_integer() else value


def _whole(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {low} to "
                                             f"{high}")
        return value
    return parse


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "report", help="performance report: return, Sharpe, drawdown, win rate, per strategy",
        description="Equity-curve metrics (return, CAGR, volatility, Sharpe, Sortino, max "
                    "drawdown), round-trip statistics (win rate, profit factor, expectancy, "
                    "best and worst) and per-strategy and per-symbol tables, for one account. "
                    "Text rounds for display; json keeps every digit.")
    span = p.add_mutually_exclusive_group()
    span.add_argument("--days", type=_days, default=30, metavar="N",
                      help="from midnight UTC N days ago (default: 30)")
    span.add_argument("--all", action="store_true", help="all time")
    p.add_argument("--account", default="default", help="which account (default: default)")
    p.add_argument("--by-account", action="store_true",
                   help="instead: one line per account (fills, round trips, win rate, net "
                        "pnl, fees and cash balance per currency) and the total per currency")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="output format (default: text)")
    p.add_argument("--no-chart", action="store_true",
                   help="leave out the equity sparkline (text format)")
    p.add_argument("--html", metavar="FILE",
                   help="also write a self-contained HTML page with charts to FILE")
    p.add_argument("--benchmark", metavar="SYMBOL",
                   help="compare with SYMBOL's stored candles (daily closes): benchmark "
                        "return, alpha, beta, correlation, tracking error, information ratio")
    p.add_argument("--benchmark-exchange", metavar="NAME", default="",
                   help="the exchange of the benchmark's candles (default: none, '')")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser(
        "demo", help="simulate a bot into demo.db and print its report",
        description="Simulate a trading bot (random-walk prices, limit and market orders, "
                    "partial fills, cancels, long and short round trips, bot states, hourly "
                    "portfolio snapshots) into a fresh database, then print its report. "
                    "Deterministic for a seed. An existing demo database is replaced; any "
                    "other existing file is refused.")
    p.add_argument("--db", dest="demo_db", metavar="PATH", default=None,
                   help="where to write it (default: the global --db if given, else ./demo.db)")
    p.add_argument("--days", type=_whole(1, 3650), default=90, metavar="N",
                   help="days to simulate, ending at today's midnight UTC (default: 90)")
    p.add_argument("--seed", type=_whole(-2**63, 2**63 - 1), default=7,
                   help="random seed (default: 7)")
    p.add_argument("--futures", action="store_true",
                   help="add a perpetual-futures bot: linear and inverse contracts, leverage, "
                        "funding every 8h, one liquidation")
    p.set_defaults(handler=cmd_demo)


def pictures(repo: TradeRepo, report: Report, *, chart: bool = True) -> list[str]:
    """The equity sparkline (unless ``chart`` is off) and the monthly returns table (of
    the time-weighted growth, so a deposit is not a monthly gain)."""
    daily = repo.analytics.equity(None, account=report.account, since=report.since)
    bench = report.benchmark_curve or []
    lines = equity_lines(daily, ascii=wants_ascii(sys.stdout), benchmark=bench[-len(daily):],
                         name=report.metrics.benchmark or "benchmark") if chart else []
    table = monthly_table(repo.analytics.growth_index(None, account=report.account,
                                                      since=report.since))
    return lines + ([""] if lines and table else []) + table


def cmd_report(args: argparse.Namespace) -> int:
    days = None if args.all else args.days
    if args.by_account:
        return report_by_account(args, days)
    with open_repo(args, readonly=True) as repo:
        report = collect(repo, days, account=args.account, benchmark=args.benchmark,
                         benchmark_exchange=args.benchmark_exchange)
        source = repo.path
        if args.format == "json":
            text = render_json(report)
        else:
            text = render_text(report, source=source,
                               pictures=pictures(repo, report, chart=not args.no_chart))
        html = args.html and write_html(repo, args.html, days=days, account=args.account,
                                        source=source, benchmark=args.benchmark,
                                        benchmark_exchange=args.benchmark_exchange)
    print(text, end="")
    if html:
        print(f"HTML report written to {html}", file=sys.stderr)
    return 0


def report_by_account(args: argparse.Namespace, days: float | None) -> int:
    for option, given in (("--html", args.html), ("--benchmark", args.benchmark),
                          ("--account", args.account != "default")):
        if given:
            raise ValidationError(f"{option}: not with --by-account (it reports every account "
                                  "on one line each)", field=option.lstrip("-"))
    with open_repo(args, readonly=True) as repo:
        lines, grand = by_account(repo, days)
        source = repo.path
    print(fleet_json(lines, grand, days=days) if args.format == "json"
          else fleet_text(lines, grand, source=source, days=days), end="")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    given = args.demo_db or args.db
    location = str(sqlite_only(args, "demo", "'tradestore demo' into a file, then "
                               "'tradestore copy demo.db URL'", given=given)) if given \
        else "demo.db"
    path = build_demo(location, days=args.days, seed=args.seed, futures=args.futures)
    with TradeRepo(path) as repo:  # a writer's close leaves no -wal/-shm beside the file
        report = collect(repo, None)
        text = render_text(report, source=str(path), pictures=pictures(repo, report))
        html = write_html(repo, Path(path).with_name("demo-report.html"), days=None,
                          source=str(path))
    print(text)
    print(f"The HTML report (equity curve, drawdown, monthly returns) is in {html}")
    db = shlex.quote(str(path))
    print(f"The demo bot's record is in {path}. Open it with the sqlite3 shell:")
    print(f'  sqlite3 {db} "SELECT * FROM v_strategy_performance"')
    print(f'  sqlite3 {db} "SELECT symbol, side, pnl, closed_at FROM v_round_trips"')
    print("or look around with tradestore:")
    for command in ("report --days 7", "trades", "orders", "positions", "positions --closed",
                    "equity", "state history", "strategies", "events", "check"):
        print(f"  tradestore --db {db} {command}")
    return 0
