"""tradestore bench: timings against a raw-sqlite3 floor."""

from __future__ import annotations

from .. import benchmarks


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure each hot operation against a raw-sqlite3 floor")
    p.add_argument("--rows", type=int, default=100_000, help="scale of the large benches")
    p.add_argument("--only", metavar="NAME", help="run only the bench modules whose name has NAME")
    p.set_defaults(handler=cmd_bench)


def cmd_bench(args) -> int:
    benchmarks.run(rows=args.rows, only=args.only)
    return 0
