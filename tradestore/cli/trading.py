"""tradestore trades | positions | orders | void | rebuild: the trading record on the
terminal."""

from __future__ import annotations

from dataclasses import asdict
import argparse

from tradestore.cli.common import Subcommands, add_format, open_repo, print_rows

TRADE_COLUMNS = ["timestamp", "symbol", "side", "quantity", "price", "fees", "pnl"]
TRADE_COLUMNS_FULL = ["id", "timestamp", "symbol", "side", "quantity", "price", "fees",
                      "fee_currency", "fee_value", "pnl", "exchange", "external_id", "order_id",
                      "strategy", "account", "kind", "voided_at", "void_reason", "metadata"]
POSITION_COLUMNS = ["symbol", "side", "quantity", "avg_entry_price", "realized_pnl", "opened_at"]
CLOSED_COLUMNS = ["symbol", "side", "max_quantity", "avg_entry_price", "avg_exit_price",
                  "realized_pnl", "funding", "closed_by"]
# derived figures of a round trip (issue 17.6), beside its stored fields in csv/json
DERIVED = ("trading_pnl", "pnl_pct", "roe", "holding_time")
FILL_COLUMNS = ["id", "timestamp", "action", "side", "quantity", "price", "fees", "pnl"]
ORDER_COLUMNS = ["id", "symbol", "side", "order_type", "quantity", "filled_quantity", "status"]
WIDTHS = {"symbol": 9, "quantity": 10, "price": 11, "fees": 7, "pnl": 10, "avg_entry_price": 11,
          "realized_pnl": 11, "max_quantity": 10, "filled_quantity": 10, "id": 6, "status": 16,
          "avg_exit_price": 11, "funding": 9, "closed_by": 11}
HEADERS = {"avg_entry_price": "avg_entry", "realized_pnl": "pnl", "max_quantity": "max_qty",
           "avg_exit_price": "avg_exit",
           "filled_quantity": "filled", "order_type": "type", "timestamp": "time",
           "quantity": "qty", "opened_at": "opened", "closed_at": "closed"}


def register(sub: Subcommands) -> None:
    p = sub.add_parser("trades", help="list fills (newest last)")
    p.add_argument("--symbol", help="only this symbol")
    p.add_argument("--strategy", help="only this strategy")
    p.add_argument("--account", help="only this account")
    span = p.add_mutually_exclusive_group()
    span.add_argument("--days", type=float, default=30, help="look back N days (default 30)")
    span.add_argument("--all", action="store_true", help="all time")
    p.add_argument("--limit", type=int, help="at most N fills (the newest N)")
    p.add_argument("--exchange", help="only this exchange")
    p.add_argument("--include-void", action="store_true",
                   help="also list voided fills (kept for the audit trail)")
    add_format(p)
    p.set_defaults(handler=cmd_trades)

    p = sub.add_parser("void", help="void a fill: kept for the audit trail, applied to nothing")
    p.add_argument("trade_id", type=int,
                   help="the fill's id (see 'tradestore trades --format csv')")
    p.add_argument("--reason", required=True, help="why (kept with the fill and in the event log)")
    p.set_defaults(handler=cmd_void)

    p = sub.add_parser("rebuild", help="recompute positions and order fill totals from the fills")
    p.set_defaults(handler=cmd_rebuild)

    p = sub.add_parser("positions", help="open positions (or closed round trips with --closed)")
    p.add_argument("--closed", action="store_true", help="closed round trips instead")
    p.add_argument("--show", type=int, metavar="ID",
                   help="one round trip (open or closed) in full, with its fills and actions")
    p.add_argument("--account", help="only this account")
    p.add_argument("--exchange", help="only this exchange")
    add_format(p)
    p.set_defaults(handler=cmd_positions)

    p = sub.add_parser("orders", help="recent orders (or only working ones with --open)")
    p.add_argument("--open", action="store_true", help="only PENDING, OPEN, PARTIALLY_FILLED")
    p.add_argument("--limit", type=int, default=50, help="at most N orders (default 50)")
    add_format(p)
    p.set_defaults(handler=cmd_orders)


def cmd_trades(args: argparse.Namespace) -> int:
    with open_repo(args, readonly=True) as repo:
        trades = repo.get_trade_history(args.symbol, None if args.all else args.days,
                                        strategy=args.strategy, account=args.account,
                                        exchange=args.exchange, include_void=args.include_void,
                                        limit=args.limit, newest_first=args.limit is not None)
    if args.limit is not None:
        trades.reverse()
    columns = TRADE_COLUMNS if args.format == "table" else TRADE_COLUMNS_FULL
    print_rows([asdict(t) for t in trades], columns, args.format, widths=WIDTHS, headers=HEADERS)
    return 0


def _position_row(p) -> dict:
    row = asdict(p)
    for name in DERIVED:
        row[name] = getattr(p, name)
    return row


def cmd_show_round_trip(args: argparse.Namespace) -> int:
    with open_repo(args, readonly=True) as repo:
        position = repo.positions.get(args.show)
        fills = repo.get_round_trip_fills(args.show)  # ValidationError for an unknown id
    row = _position_row(position)
    if args.format == "json":
        row["fills"] = [dict(asdict(f.trade), action=f.action, effect=f.effect) for f in fills]
        print_rows([row], list(row), "json")
        return 0
    if args.format == "csv":
        print_rows([dict(asdict(f.trade), action=f.action) for f in fills], FILL_COLUMNS, "csv")
        return 0
    for name, value in row.items():
        if value not in (None, {}, ""):
            print(f"{name:>18}  {value}")
    print()
    print_rows([dict(asdict(f.trade), action=f.action) for f in fills], FILL_COLUMNS, "table",
               widths=WIDTHS, headers=HEADERS)
    return 0


def cmd_positions(args: argparse.Namespace) -> int:
    if args.show is not None:
        return cmd_show_round_trip(args)
    with open_repo(args, readonly=True) as repo:
        if args.closed:
            positions = repo.get_closed_positions(account=args.account, exchange=args.exchange)
        else:
            positions = repo.get_open_positions(args.account, args.exchange)
    rows = [_position_row(p) for p in positions]
    if args.format == "table":
        columns = CLOSED_COLUMNS if args.closed else POSITION_COLUMNS
    else:
        columns = list(rows[0]) if rows else CLOSED_COLUMNS
    print_rows(rows, columns, args.format, widths=WIDTHS, headers=HEADERS)
    return 0


def cmd_orders(args: argparse.Namespace) -> int:
    with open_repo(args, readonly=True) as repo:
        orders = repo.get_open_orders() if args.open else repo.get_recent_orders(args.limit)
    rows = [asdict(o) for o in orders]
    columns = ORDER_COLUMNS if args.format == "table" or not rows else list(rows[0])
    print_rows(rows, columns, args.format, widths=WIDTHS, headers=HEADERS)
    return 0


def cmd_void(args: argparse.Namespace) -> int:
    with open_repo(args) as repo:
        trade = repo.void_trade(args.trade_id, args.reason)
    print(f"fill {trade.id} voided ({trade.symbol} {trade.side} {trade.quantity} @ "
          f"{trade.price}); its positions were replayed without it")
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Print each value that changed, then a count; exit 0 (a rebuild that changed
    something has done its job; 'tradestore check' is clean afterwards)."""
    with open_repo(args) as repo:
        changes = repo.rebuild()
    for line in changes:
        print(f"fixed: {line}")
    print(f"{len(changes)} value(s) rebuilt from the fills" if changes
          else "nothing to rebuild: positions and orders agree with the fills")
    return 0
