"""strategies, settings, accounts, events: the bot's bookkeeping.

Secret settings are printed as ``******`` in every format; their values are only
readable from Python.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from tradestore.books.settings import VALUE_TYPES, _encode
from tradestore.cli.common import (Subcommands, add_format, cell, csv_writer, open_repo, plain,
                                   print_rows, printable)


def register(sub: Subcommands) -> None:
    p = sub.add_parser("strategies", help="strategies with performance read from their fills",
                       description="List strategies (trades, win rate, pnl and fees from the "
                                   "fills), or show one with its config history.")
    p.add_argument("name", nargs="?", help="show this strategy in detail")
    p.add_argument("--all", action="store_true", help="include deleted (inactive) strategies")
    p.add_argument("--days", type=float, metavar="N", help="performance over the last N days")
    add_format(p)
    p.set_defaults(handler=cmd_strategies)

    p = sub.add_parser("settings", help="typed settings: list, get, set, delete",
                       description="Typed key-value settings. Secret values are shown as ******.")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    add_format(p)
    q = actions.add_parser("list", help="every setting (the default)")
    q.add_argument("--format", choices=("table", "csv", "json"), default=argparse.SUPPRESS,
                   help="output format (default: table)")
    q = actions.add_parser("get", help="print one setting's value")
    q.add_argument("key", help="the setting's name")
    q.add_argument("--reveal", action="store_true",
                   help="print a secret's value (otherwise its mask is printed)")
    q = actions.add_parser("set", help="set a value ('-' reads it from stdin)")
    q.add_argument("key", help="the setting's name")
    q.add_argument("value", help="the value as text; '-' reads one line from stdin")
    q.add_argument("--type", choices=VALUE_TYPES, dest="value_type",
                   help="value type (default: the stored type, or str for a new key)")
    q.add_argument("--description", help="what the setting is for")
    q.add_argument("--secret", action=argparse.BooleanOptionalAction, default=None,
                   help="mask the value in all output (default: keep the stored flag)")
    q = actions.add_parser("delete", help="remove a setting")
    q.add_argument("key", help="the setting's name")
    p.set_defaults(handler=cmd_settings)

    p = sub.add_parser("accounts", help="accounts with deposits, withdrawals and cash balance; "
                                        "deactivate / activate one")
    add_format(p)
    p.add_argument("--all", action="store_true", help="include deactivated accounts")
    _soft_delete_actions(p, "account", "NAME")
    p.set_defaults(handler=cmd_accounts)

    p = sub.add_parser("instruments", help="registered instruments; deactivate / activate one")
    add_format(p)
    p.add_argument("--all", action="store_true", help="include deactivated instruments")
    _soft_delete_actions(p, "instrument", "SYMBOL")
    p.set_defaults(handler=cmd_instruments)

    p = sub.add_parser("events", help="the event log, newest last; --follow keeps polling")
    p.add_argument("--severity", type=str.lower,
                   choices=("debug", "info", "warning", "error", "critical"),
                   help="this level and above")
    p.add_argument("--type", dest="event_type", metavar="TYPE",
                   help="only this event type ('audit': the audit trail of changes, voided "
                        "fills and migrations)")
    p.add_argument("--since", metavar="TIME", help="only events at or after this ISO time")
    p.add_argument("--limit", type=int, default=50, metavar="N",
                   help="how many recent events (default: 50)")
    p.add_argument("--follow", action="store_true",
                   help="keep printing new events until interrupted (Ctrl-C)")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                   help="polling interval for --follow (default: 1)")
    p.add_argument("--follow-seconds", type=float, default=None, help=argparse.SUPPRESS)
    add_format(p)
    p.set_defaults(handler=cmd_events)


# ------------------------------------------------------------------ strategies

def cmd_strategies(args: argparse.Namespace) -> int:
    with open_repo(args, readonly=True) as repo:
        if args.name:
            return _show_strategy(repo, args)
        strategies = {s.name: s for s in repo.strategies.list(active=None if args.all else True)}
        inactive = {s.name for s in repo.strategies.list(active=False)}
        perf = repo.strategies.performance_all(days=args.days)
    rows = []
    for name, p in perf.items():
        if name in inactive and not args.all:
            continue
        s = strategies.get(name)
        status = ("unregistered" if s is None else "deleted" if not s.active
                  else "enabled" if s.enabled else "disabled")
        rows.append({"name": name, "status": status, "type": s and s.strategy_type,
                     "trades": p.total_trades, "win_rate": _percent(p.win_rate),
                     "total_pnl": p.total_pnl, "fees": p.fees, "fills": p.fills,
                     "config_version": s and s.config_version,
                     "last_run_at": s and s.last_run_at})
    columns = ["name", "status", "trades", "win_rate", "total_pnl", "fees"]
    if args.format != "table":
        columns += ["type", "fills", "config_version", "last_run_at"]
    print_rows(rows, columns, args.format,
               widths={"name": 18, "status": 12, "total_pnl": 14, "fees": 12})
    return 0


def _percent(rate):
    return None if rate is None else f"{rate * 100:.1f}%"


def _show_strategy(repo, args) -> int:
    s = repo.strategies.get(args.name)
    p = repo.strategies.performance(s.name, days=args.days)
    history = repo.strategies.config_history(s.name)
    if args.format != "table":
        data = {"strategy": plain(s), "performance": plain(p), "config_history": plain(history)}
        print(json.dumps(data, indent=1) if args.format == "json" else json.dumps(data))
        return 0
    for label, value in (("name", s.name), ("type", s.strategy_type),
                         ("description", s.description), ("enabled", s.enabled),
                         ("active", s.active), ("last run", s.last_run_at),
                         ("created", s.created_at), ("closing trades", p.total_trades),
                         ("wins / losses", f"{p.wins} / {p.losses}"),
                         ("win rate", _percent(p.win_rate)), ("total pnl", p.total_pnl),
                         ("fees", p.fees)):
        print(f"{label + ':':<16}{cell(value)}")
    print("config history:")
    for c in history:
        print(f"  v{c.version}  {cell(c.created_at)}  {json.dumps(c.config, sort_keys=True)}")
    return 0


# ------------------------------------------------------------------ settings

def cmd_settings(args: argparse.Namespace) -> int:
    action = args.action or "list"
    if action == "list":
        with open_repo(args, readonly=True) as repo:
            settings = repo.settings.all()
        rows = [{"key": s.key, "type": s.value_type,
                 "value": s.display_value if args.format == "table" or s.secret
                 else plain(s.value), "secret": s.secret, "description": s.description,
                 "updated_at": s.updated_at} for s in settings]
        columns = ["key", "type", "value", "description"]
        if args.format != "table":
            columns += ["secret", "updated_at"]
        print_rows(rows, columns, args.format,
                   widths={"key": 24, "type": 7, "value": 28, "description": 13})
        return 0
    if action == "get":
        with open_repo(args, readonly=True) as repo:
            setting = repo.settings.setting(args.key)
        if setting.secret and args.reveal:
            print(setting.value if setting.value_type == "str"
                  else _encode(setting.value, setting.value_type))
            return 0
        print(setting.display_value)
        if setting.secret:
            print(f"tradestore: {setting.key} is secret; pass --reveal to print its value",
                  file=sys.stderr)
        return 0
    if action == "delete":
        with open_repo(args) as repo:
            repo.settings.delete(args.key)
        print(f"deleted {args.key}")
        return 0
    value = sys.stdin.readline().rstrip("\r\n") if args.value == "-" else args.value
    with open_repo(args) as repo:
        value_type = args.value_type
        if value_type is None:
            existing = repo.settings.setting(args.key, None)
            value_type = existing.value_type if existing else "str"
        setting = repo.settings.set(args.key, value, value_type=value_type,
                                    description=args.description, secret=args.secret)
    flags = f"{setting.value_type}, secret" if setting.secret else setting.value_type
    print(f"{setting.key} = {setting.display_value} ({flags})")
    return 0


# ------------------------------------------------------------------ accounts

def _soft_delete_actions(parser, what: str, metavar: str) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    for action, text in (("deactivate", f"hide the {what} and refuse new fills and orders on it"),
                         ("activate", f"bring a deactivated {what} back")):
        q = actions.add_parser(action, help=text)
        q.add_argument("target", metavar=metavar, help=f"the {what}'s "
                       + ("name" if what == "account" else "symbol"))


def _set_active(args, store) -> int:
    with open_repo(args) as repo:
        getattr(getattr(repo, store), args.action)(args.target)
    print(f"{args.action}d {args.target}")
    return 0


def cmd_instruments(args: argparse.Namespace) -> int:
    if getattr(args, "action", None):
        return _set_active(args, "instruments")
    with open_repo(args, readonly=True) as repo:
        rows = [{"symbol": i.symbol, "asset_class": i.asset_class, "exchange": i.exchange,
                 "currency": i.quote_currency or i.currency, "tick_size": i.tick_size,
                 "lot_size": i.lot_size, "active": i.active}
                for i in repo.instruments.list(include_inactive=args.all)]
    print_rows(rows, ["symbol", "asset_class", "exchange", "currency", "tick_size", "lot_size",
                      "active"], args.format)
    return 0


def cmd_accounts(args: argparse.Namespace) -> int:
    if getattr(args, "action", None):
        return _set_active(args, "accounts")
    with open_repo(args, readonly=True) as repo:
        rows = repo.accounts.summary(include_inactive=args.all)
    columns = ["name", "currency", "initial_cash", "deposits", "withdrawals", "balance"]
    if args.all:
        columns.append("active")
    if args.format != "table":
        columns += ["strategy", "created_at"]
    print_rows(rows, columns, args.format,
               widths={"name": 12, "initial_cash": 12, "deposits": 12, "withdrawals": 11,
                       "balance": 13})
    return 0


# ------------------------------------------------------------------ events

EVENT_WIDTHS = (("timestamp", 19), ("severity", 8), ("event_type", 16), ("message", 31))


def cmd_events(args: argparse.Namespace) -> int:
    with open_repo(args, readonly=True) as repo:
        events = repo.events.recent(args.limit, severity=args.severity,
                                    event_type=args.event_type, since=args.since)[::-1]
        if not args.follow:
            _print_events(events, args.format, header=True, empty_note=True)
            return 0
        _print_events(events, args.format, header=True, empty_note=False)
        last = max([e.id for e in events], default=None)
        if last is None:
            last = repo.events.last_id()
        deadline = None if args.follow_seconds is None else time.monotonic() + args.follow_seconds
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(args.interval if deadline is None
                           else max(0.0, min(args.interval, deadline - time.monotonic())))
                new = repo.events.after(last, severity=args.severity, event_type=args.event_type)
                if new:
                    _print_events(new, args.format, header=False, empty_note=False)
                    last = new[-1].id
        except KeyboardInterrupt:
            pass
    return 0


def _print_events(events, fmt, *, header, empty_note) -> None:
    out = sys.stdout
    if fmt == "json":  # one JSON object per line, so --follow output stays parseable
        for e in events:
            out.write(json.dumps(plain(e)) + "\n")
    elif fmt == "csv":
        writer = csv_writer(out)
        fields = ["id", "timestamp", "severity", "event_type", "message", "symbol", "trade_id",
                  "order_id", "details"]
        if header:
            writer.writerow(fields)
        for e in events:
            data = plain(e)
            writer.writerow(["" if data[f] is None else
                             json.dumps(data[f]) if f == "details" else data[f] for f in fields])
    else:
        if header:
            out.write("  ".join(name.ljust(w) for name, w in EVENT_WIDTHS).rstrip() + "\n")
        for e in events:
            texts = [e.timestamp.strftime("%Y-%m-%d %H:%M:%S"), e.severity,
                     printable(e.event_type), printable(e.message)]
            out.write("  ".join(_clip(t, w).ljust(w)
                                for t, (_, w) in zip(texts, EVENT_WIDTHS)).rstrip() + "\n")
        if empty_note and not events:
            out.write("(none)\n")
    out.flush()


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[:size - 1] + "~"
