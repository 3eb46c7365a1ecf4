"""state show/history/verify/rollback and equity: the bot's saved state and its curve."""

from __future__ import annotations

import json
import sys
import warnings
import argparse

from tradestore.cli.common import Subcommands, add_format, open_repo, plain, print_rows


def register(sub: Subcommands) -> None:
    p = sub.add_parser("state", help="saved bot states: show, history, verify, rollback",
                       description="Every saved bot state is kept with a SHA-256 checksum; "
                                   "these commands read, check and restore them.")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    p.set_defaults(handler=lambda args, parser=p: _usage(parser))

    q = actions.add_parser("show", help="print a saved state (newest that verifies by default)",
                           description="Print a bot's state: the newest version that verifies, "
                                       "or --version N. A fallback is reported on stderr.")
    q.add_argument("--version", type=int, metavar="N", help="this version instead of the newest")
    q.add_argument("--bot", default="default", help="which bot (default: default)")
    q.add_argument("--format", choices=("text", "json"), default="text",
                   help="text: a header and the JSON content; json: one object (default: text)")
    q.set_defaults(handler=cmd_show)

    q = actions.add_parser("history", help="every saved version with size and checksum status",
                           description="List a bot's saved versions, oldest first, each checked "
                                       "against its SHA-256.")
    q.add_argument("--bot", default="default", help="which bot (default: default)")
    add_format(q)
    q.set_defaults(handler=cmd_history)

    q = actions.add_parser("verify", help="check every saved state of every bot; exit 1 if bad",
                           description="Recompute the SHA-256 of every stored state; list the "
                                       "versions that no longer match and exit 1 if any.")
    q.set_defaults(handler=cmd_verify)

    q = actions.add_parser("rollback", help="save version N again as the newest",
                           description="Make version N the newest again by saving a copy of it; "
                                       "history is never rewritten.")
    q.add_argument("version", type=int, metavar="N", help="the version to restore")
    q.add_argument("--bot", default="default", help="which bot (default: default)")
    q.set_defaults(handler=cmd_rollback)

    p = sub.add_parser("equity", help="the portfolio's value over time (equity curve)",
                       description="Portfolio snapshots' total value, oldest first.")
    span = p.add_mutually_exclusive_group()
    span.add_argument("--days", type=float, default=30, metavar="N",
                      help="the last N days (default: 30)")
    span.add_argument("--all", action="store_true", help="all snapshots")
    p.add_argument("--account", default="default", help="which account (default: default)")
    add_format(p)
    p.set_defaults(handler=cmd_equity)


def _usage(parser) -> int:
    parser.print_help()
    return 2


def cmd_show(args: argparse.Namespace) -> int:
    with open_repo(args, readonly=True) as repo:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            state = repo.load_bot_state(args.version, bot=args.bot)
    for warning in caught:
        print(f"tradestore: warning: {warning.message}", file=sys.stderr)
    if state is None:
        print(f"bot {args.bot!r}: no saved state", file=sys.stderr)
        return 1
    content = plain(state.to_dict())
    if args.format == "json":
        print(json.dumps({"bot": state.bot, "version": state.version,
                          "saved_at": plain(state.saved_at), **content}, indent=1))
        return 0
    print(f"bot:       {state.bot}")
    print(f"version:   {state.version}")
    print(f"saved at:  {plain(state.saved_at)}")
    print(json.dumps(content, indent=1, sort_keys=True, ensure_ascii=False))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    with open_repo(args, readonly=True) as repo:
        versions = repo.list_bot_states(args.bot)
    rows = [{"version": v.version, "saved_at": v.saved_at, "size": v.size, "sha256": v.sha256,
             "checksum": "ok" if v.ok else "CORRUPT"} for v in versions]
    print_rows(rows, ["version", "saved_at", "size", "sha256", "checksum"], args.format,
               widths={"sha256": 16})
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    with open_repo(args, readonly=True) as repo:
        bad = repo.verify_bot_states()
    for v in bad:
        print(f"CORRUPT  bot {v.bot!r} version {v.version} (saved {v.saved_at.isoformat()}, "
              f"{v.size} bytes)")
    if bad:
        print(f"{len(bad)} corrupt state version(s)")
        return 1
    print("ok: every stored state matches its checksum")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    with open_repo(args) as repo:
        new = repo.rollback_bot_state(args.version, bot=args.bot)
    print(f"bot {args.bot!r}: version {args.version} saved again as version {new}")
    return 0


def cmd_equity(args: argparse.Namespace) -> int:
    with open_repo(args, readonly=True) as repo:
        points = repo.get_portfolio_value_history(None if args.all else args.days,
                                                  account=args.account)
    print_rows([{"timestamp": t, "total_value": v} for t, v in points],
               ["timestamp", "total_value"], args.format)
    return 0
