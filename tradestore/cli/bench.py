"""tradestore bench: timings against a raw-sqlite3 floor."""

from __future__ import annotations

import argparse

from tradestore import benchmarks
from tradestore.benchmarks import postgres
from tradestore.cli.common import Subcommands
from tradestore.errors import ValidationError


def register(sub: Subcommands) -> None:
    p = sub.add_parser("bench", help="measure each hot operation against a raw-sqlite3 floor")
    p.add_argument("--rows", type=int, default=100_000, help="scale of the large benches")
    p.add_argument("--only", metavar="NAME", help="run only the bench modules whose name has NAME")
    p.add_argument("--db", dest="bench_db", metavar="URL",
                   help="instead: the trading rows (bulk fills, durable single fill, history, "
                        "statistics) on this PostgreSQL server against a raw psycopg floor, in "
                        "two scratch databases it creates and drops (the role needs CREATEDB; "
                        "the database the URL names is never touched)")
    p.add_argument("--peers", action="store_true",
                   help="also compare with SQLAlchemy ORM/Core and pandas when installed "
                        "(ratios ours/peer)")
    p.set_defaults(handler=cmd_bench)


MIN_ROWS, MAX_ROWS = 100, 10_000_000


def cmd_bench(args: argparse.Namespace) -> int:
    if not MIN_ROWS <= args.rows <= MAX_ROWS:
        raise ValidationError(f"--rows: {args.rows} must be a whole number from {MIN_ROWS:,} "
                              f"to {MAX_ROWS:,}", field="rows", value=args.rows)
    if args.bench_db is not None:
        if args.only is not None or args.peers:
            raise ValidationError("--db: runs the PostgreSQL rows only (not with --only or "
                                  "--peers)", field="db")
        postgres.run(args.bench_db, rows=args.rows)
        return 0
    if args.only is not None and not any(args.only and args.only in name
                                         for name in benchmarks.BENCH_MODULES + ["peers"]):
        raise ValidationError(f"--only: {args.only!r} names no bench (choose from "
                              f"{', '.join(benchmarks.BENCH_MODULES)}, peers)", field="only",
                              value=args.only)
    benchmarks.run(rows=args.rows, only=args.only, peers=args.peers)
    return 0
