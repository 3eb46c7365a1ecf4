"""tradestore candles import | export | gaps: OHLCV series in and out of the store."""

from __future__ import annotations

import contextlib
import sys
from typing import Any
import argparse

from tradestore._core.files import atomic_file
from tradestore.cli.common import (Subcommands, add_format, db_path, open_repo, print_rows,
                                   printable, shows_help)
from tradestore.errors import StoreError
from tradestore.market import candles
from tradestore.market.candles import TIMEFRAMES, bars_from_csv, write_csv


def register(sub: Subcommands) -> None:
    p = sub.add_parser("candles", help="import, export and check OHLCV candles")
    commands = p.add_subparsers(dest="candles_command", metavar="ACTION")
    p.set_defaults(handler=shows_help(p))

    c = commands.add_parser(
        "import", help="load a CSV file of candles (all or nothing)",
        description="Load candles from a CSV whose header names the columns: timestamp, open, "
                    "high, low, close, volume, and optionally quote_volume, trades_count "
                    "(other columns are ignored). Timestamps are ISO-8601 (naive = UTC) or "
                    "epoch milliseconds. One bad line and nothing is stored.")
    c.add_argument("file", metavar="FILE.csv", help="the CSV file ('-' for standard input)")
    _series_arguments(c)
    c.add_argument("--replace", action="store_true",
                   help="replace stored candles with the same open time (default: keep them)")
    c.set_defaults(handler=cmd_import)

    c = commands.add_parser("export", help="write candles as CSV (the columns import reads)")
    _series_arguments(c)
    _range_arguments(c)
    c.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    c.set_defaults(handler=cmd_export)

    c = commands.add_parser("gaps", help="list the missing candles of a series")
    _series_arguments(c)
    _range_arguments(c)
    add_format(c)
    c.set_defaults(handler=cmd_gaps)


def _series_arguments(parser) -> None:
    parser.add_argument("--symbol", required=True, help="e.g. BTC/USDT")
    parser.add_argument("--timeframe", required=True, choices=list(TIMEFRAMES),
                        help="candle length")
    parser.add_argument("--exchange", default="", help="venue (default: none)")


def _range_arguments(parser) -> None:
    parser.add_argument("--start", metavar="TIME", help="from this time (ISO-8601, UTC)")
    parser.add_argument("--end", metavar="TIME", help="up to, not including, this time")


def cmd_import(args: argparse.Namespace) -> int:
    name = "<stdin>" if args.file == "-" else args.file
    try:
        handle = sys.stdin if args.file == "-" else open(args.file, newline="",
                                                         encoding="utf-8-sig")
    except OSError as exc:
        raise StoreError(f"{name}: cannot read: {exc.strerror}") from None
    show = sys.stderr.isatty()
    counted = [0]

    def progress(rows):
        sys.stderr.write(f"\r{name}: {rows:,} rows read")
        sys.stderr.flush()

    def bars():
        for bar in bars_from_csv(handle, symbol=args.symbol, timeframe=args.timeframe,
                                 exchange=args.exchange, name=name,
                                 progress=progress if show else None):
            counted[0] += 1
            yield bar
    try:
        closing = contextlib.nullcontext() if handle is sys.stdin else handle
        with closing, open_repo(args, must_exist=False) as repo:
            store = repo.candles.upsert_many if args.replace else repo.candles.insert_many
            try:
                written = store(bars())
            finally:
                if show and counted[0] >= candles.PROGRESS_EVERY:
                    sys.stderr.write("\n")
    except UnicodeDecodeError as exc:
        raise StoreError(f"{name}: is not UTF-8 text ({exc.reason})") from None
    read = counted[0]
    name = printable(name)
    if args.replace:
        print(f"{name}: {read:,} candles read, {written:,} written")
    else:
        print(f"{name}: {read:,} candles read, {written:,} inserted, "
              f"{read - written:,} already stored (kept)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with open_repo(args, readonly=True) as repo:
        bars = repo.candles.get_range(args.symbol, args.timeframe, args.start, args.end,
                                      exchange=args.exchange)
    if args.out is None:
        write_csv(bars, sys.stdout)
        return 0
    # atomic_file refuses the store, its journals and any SQLite file (issue 14.1)
    with atomic_file(args.out, store=db_path(args)) as out:
        count = write_csv(bars, out)
    print(f"{printable(args.out)}: {count:,} candles written", file=sys.stderr)
    return 0


def cmd_gaps(args: argparse.Namespace) -> int:
    with open_repo(args, readonly=True) as repo:
        gaps = repo.candles.get_gaps(args.symbol, args.timeframe, exchange=args.exchange,
                                     start=args.start, end=args.end)
    step = TIMEFRAMES[args.timeframe]  # None: calendar months

    def missing(a, b) -> int:
        if step is None:
            return (b.year - a.year) * 12 + b.month - a.month
        return int((b - a).total_seconds()) // step
    rows: list[dict[str, Any]] = [{"gap_start": a, "gap_end": b, "missing": missing(a, b)}
                                  for a, b in gaps]
    print_rows(rows, ["gap_start", "gap_end", "missing"], args.format)
    if args.format == "table" and rows:
        print(f"{len(rows):,} gaps, {sum(r['missing'] for r in rows):,} candles missing")
    return 0
