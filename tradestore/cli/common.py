"""What every command shares: which database, opening it, printing rows."""

from __future__ import annotations

import csv
import json
import os
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from ..codec import to_plain as plain  # noqa: F401 (commands import it from here)
from ..errors import DatabaseError
from ..repo import TradeRepo


def db_path(args) -> str:
    return args.db or os.environ.get("TRADESTORE_DB") or "trades.db"


def open_repo(args, *, readonly=False, inspect=False, must_exist=True, **options) -> TradeRepo:
    """Open the store named by --db; reading commands never create a file."""
    path = db_path(args)
    options.setdefault("busy_timeout", getattr(args, "busy_timeout", 5.0))
    if must_exist and path != ":memory:" and not Path(path).exists():
        raise DatabaseError(f"{path}: no such database (create it with 'tradestore init')")
    if inspect:
        return TradeRepo.inspect(path, **options)
    return TradeRepo(path, readonly=readonly, **options)


def add_format(parser, choices=("table", "csv", "json"), default="table") -> None:
    parser.add_argument("--format", choices=choices, default=default,
                        help=f"output format (default: {default})")


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_rows(rows: list[dict], columns: list[str], fmt: str = "table", *, out=None,
               widths: dict | None = None, headers: dict | None = None) -> None:
    """Print dict rows as an aligned table (values clipped to ``widths``, marked ``~``),
    CSV or JSON (both lossless)."""
    out = out or sys.stdout
    if fmt == "json":
        json.dump([plain({c: r.get(c) for c in columns}) for r in rows], out, indent=1)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else plain(r.get(c)) for c in columns])
        return
    widths = widths or {}
    titles = [(headers or {}).get(c, c) for c in columns]
    texts = [[cell(r.get(c)) for c in columns] for r in rows]
    sizes = []
    for i, c in enumerate(columns):
        size = max([len(titles[i])] + [len(t[i]) for t in texts])
        sizes.append(max(len(titles[i]), min(size, widths.get(c, size))))
    def clip(text, size):
        return text if len(text) <= size else text[:max(size - 1, 0)] + "~"
    out.write("  ".join(c.ljust(s) for c, s in zip(titles, sizes)).rstrip() + "\n")
    for t in texts:
        out.write("  ".join(clip(v, s).ljust(s) for v, s in zip(t, sizes)).rstrip() + "\n")
    if not rows:
        out.write("(none)\n")
