"""The ``tradestore`` command: parse, make one library call, print.

Each command group lives in its own module with ``register(subparsers)``; a
command's handler receives the parsed arguments and returns an exit code.
A ``StoreError`` becomes one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..errors import StoreError

COMMAND_MODULES = ["store", "bench"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradestore", description="A trading bot's whole record in one SQLite file.")
    parser.add_argument("--version", action="version", version=f"tradestore {__version__}")
    parser.add_argument("--db", metavar="PATH", default=None,
                        help="database file (default: $TRADESTORE_DB, then ./trades.db)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args) or 0
    except StoreError as exc:
        print(f"tradestore: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tradestore: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
