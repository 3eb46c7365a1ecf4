"""The ``tradestore`` command: parse, make one library call, print.

Each command group lives in its own module with ``register(subparsers)``; a
command's handler receives the parsed arguments and returns an exit code.
A ``StoreError`` becomes one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sqlite3
import sys
from typing import Sequence

from tradestore import __version__
from tradestore._core.db import translate
from tradestore._core.scan import damaged_store_error
from tradestore._core.url import SQLITE
from tradestore.cli.common import db_path, db_shown, db_target, printable
from tradestore.errors import StoreError
from tradestore.repo import DECODE_ERRORS, TradeRepo

COMMAND_MODULES = ["store", "trading", "bookkeeping", "artifacts", "state", "marketdata", "report", "ops", "bench"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradestore", description="A trading bot's whole record in one SQLite file.")
    parser.add_argument("--version", action="version", version=f"tradestore {__version__}")
    parser.add_argument("--db", metavar="PATH|URL", default=None,
                        help="the store: a SQLite file, sqlite:///path or "
                             "postgresql://user@host/db (default: $TRADESTORE_DB, then "
                             "$DATABASE_URL, then ./trades.db)")
    parser.add_argument("--busy-timeout", metavar="SECONDS", type=_seconds, default=5.0,
                        help="how long to wait for another process's write (default: 5)")
    parser.add_argument("--echo", action="store_true",
                        help="print every SQL statement and its parameters to stderr "
                             "(secrets masked; also TRADESTORE_SQL_ECHO=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e6:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    for name, value in vars(args).items():  # bytes that were not UTF-8 arrive as surrogates
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                shown = value.encode("utf-8", "backslashreplace").decode("utf-8")
                print(f"tradestore: {name}: '{shown}' is not valid UTF-8 text", file=sys.stderr)
                return 1
    try:
        with _echo(args.echo):
            return args.handler(args) or 0
    except StoreError as exc:
        print(f"tradestore: {_one_line(exc)}", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:  # a safety net: the library should have translated it
        print(f"tradestore: {_one_line(translate(exc, db_shown(args)))}", file=sys.stderr)
        return 1
    except DECODE_ERRORS as exc:  # a damaged stored value, or else a bug (then re-raised)
        problem = _damage(args, exc)
        if problem is None:
            raise
        print(f"tradestore: {_one_line(problem)}", file=sys.stderr)
        return 1
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            return 0
        print(f"tradestore: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tradestore: interrupted", file=sys.stderr)
        return 130


@contextlib.contextmanager
def _echo(on: bool):
    """--echo: every store this command opens echoes (through TRADESTORE_SQL_ECHO, so
    stores opened deep inside a command do too); the variable is restored after."""
    if not on:
        yield
        return
    old = os.environ.get("TRADESTORE_SQL_ECHO")
    os.environ["TRADESTORE_SQL_ECHO"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TRADESTORE_SQL_ECHO", None)
        else:
            os.environ["TRADESTORE_SQL_ECHO"] = old


def _damage(args, exc: BaseException):
    """The located DatabaseError when ``exc`` came from a stored value that does not
    decode (tradestore._core.scan), else None."""
    path = db_path(args)
    if path == ":memory:" or db_target(args).engine != SQLITE:
        return None  # a server checks what it stores: nothing there fails to decode
    try:
        with TradeRepo.inspect(path) as repo:
            return damaged_store_error(repo.db, exc)
    except StoreError:
        return None


def _one_line(exc: BaseException) -> str:
    """One line for stderr: whitespace collapsed, other control characters escaped."""
    return printable(" ".join(str(exc).split()))
