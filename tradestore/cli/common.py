"""What every command shares: which database, opening it, printing rows."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Callable, Sequence, TypeAlias

from tradestore._core.codec import is_int, printable  # noqa: F401 (commands import printable)
from tradestore._core.codec import to_plain as plain  # noqa: F401 (commands import it from here)
from tradestore._core.url import (DEFAULT_PATH, SQLITE, URL_VARIABLE, Target, parse_target,
                                  sqlite_path)
from tradestore.errors import DatabaseError, ValidationError
from tradestore.ops.export import csv_writer
from tradestore.repo import TradeRepo


# the ``sub`` each command module's register() adds its subcommands to
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def db_target(args: argparse.Namespace) -> Target:
    """The store --db names: --db, else $TRADESTORE_DB, else $DATABASE_URL, else
    ./trades.db; a path, sqlite:///path or postgresql://... (tradestore._core.url)."""
    if args.db is not None and not args.db.strip():
        raise ValidationError(f"--db: {args.db!r} is empty; give a database file name or URL",
                              field="db", value=args.db)
    return parse_target(args.db or os.environ.get("TRADESTORE_DB")
                        or os.environ.get(URL_VARIABLE) or DEFAULT_PATH)


def db_path(args: argparse.Namespace) -> str:
    """The store as TradeRepo takes it: a SQLite file's path (a sqlite:/// URL read) or
    the PostgreSQL URL. Never print it: ``db_shown`` masks the password."""
    return str(db_target(args).location)


def db_shown(args: argparse.Namespace) -> str:
    """The store for messages: a URL's password masked."""
    return db_target(args).shown


def sqlite_only(args: argparse.Namespace, command: str, instead: str,
                given: str | None = None) -> Path:
    """The SQLite file --db (or a command's own option, ``given``) names, for commands
    that work on files; a server store is refused naming what to use ``instead``."""
    target = parse_target(given) if given else db_target(args)
    if target.engine != SQLITE:
        raise ValidationError(f"--db: {target.shown!r}: {command} works on a SQLite file; "
                              f"for a PostgreSQL store use {instead}", field="db",
                              value=target.shown)
    return Path(str(target.location))


def open_repo(args: argparse.Namespace, *, readonly: bool = False, inspect: bool = False,
              must_exist: bool = True, **options: Any) -> TradeRepo:
    """Open the store named by --db; reading commands never create a file (a server's
    database must exist: the server says so when it does not)."""
    options.setdefault("busy_timeout", getattr(args, "busy_timeout", 5.0))
    return open_store(db_target(args), readonly=readonly, inspect=inspect,
                      must_exist=must_exist, **options)


def open_store(target: Target, *, readonly: bool = False, inspect: bool = False,
               must_exist: bool = True, **options: Any) -> TradeRepo:
    """Open a store by its parsed location (``open_repo`` for --db; ``copy`` for its two)."""
    path = str(target.location)
    file = sqlite_path(target)
    if must_exist and file is not None and not file.exists():
        raise DatabaseError(f"{path}: no such database (create it with 'tradestore init')")
    if inspect:
        return TradeRepo.inspect(path, **options)
    return TradeRepo(path, readonly=readonly, **options)


def shows_help(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """The handler of a command group run without an action: its help, exit status 2."""
    def handler(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2
    return handler


def add_format(parser: argparse.ArgumentParser, choices: Sequence[str] = ("table", "csv", "json"),
               default: str = "table") -> None:
    parser.add_argument("--format", choices=choices, default=default,
                        help=f"output format (default: {default})")


def cell(value: object) -> str:
    """A value as one table cell: control characters escaped, numbers in full."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e15 else f"{value:.0f}"
    return printable(str(value))


def _is_number(value) -> bool:
    return isinstance(value, (Decimal, float)) or is_int(value)


def number_min_width(text: str) -> int:
    """The narrowest a number may print: every integer digit (and a ``~`` when its
    decimals are dropped)."""
    whole = text.split(".")[0]
    return len(whole) + (1 if "." in text else 0)


def clip_number(text: str, size: int) -> str:
    """Drop decimals first (marked ``~``), never integer digits."""
    if len(text) <= size:
        return text
    whole, _, decimals = text.partition(".")
    keep = size - len(whole) - 2  # room for "." and "~"
    if keep >= 1 and decimals:
        return f"{whole}.{decimals[:keep]}~"
    return whole + "~" if decimals else whole


def print_rows(rows: list[dict[str, Any]], columns: list[str], fmt: str = "table", *,
               out: IO[str] | None = None, widths: dict[str, int] | None = None,
               headers: dict[str, str] | None = None) -> None:
    """Print dict rows as an aligned table (values clipped to ``widths``, marked ``~``),
    CSV or JSON (both lossless)."""
    out = out or sys.stdout
    if fmt == "json":
        json.dump([plain({c: r.get(c) for c in columns}) for r in rows], out, indent=1)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv_writer(out)
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else plain(r.get(c)) for c in columns])
        return
    widths = widths or {}
    titles = [printable((headers or {}).get(c, c)) for c in columns]
    texts = [[cell(r.get(c)) for c in columns] for r in rows]
    numeric = [[_is_number(r.get(c)) for c in columns] for r in rows]
    sizes = []
    for i, c in enumerate(columns):
        size = max([len(titles[i])] + [len(t[i]) for t in texts])
        floor = max([number_min_width(t[i]) for t, n in zip(texts, numeric) if n[i]],
                    default=0)  # widen rather than drop an integer digit
        sizes.append(max(len(titles[i]), floor, min(size, widths.get(c, size))))

    def clip(text: str, size, number):
        if number:
            return clip_number(text, size)
        return text if len(text) <= size else text[:max(size - 1, 0)] + "~"
    out.write("  ".join(c.ljust(s) for c, s in zip(titles, sizes)).rstrip() + "\n")
    for t, n in zip(texts, numeric):
        out.write("  ".join(clip(v, s, k).ljust(s) for v, s, k in zip(t, sizes, n)).rstrip()
                  + "\n")
    if not rows:
        out.write("(none)\n")
