"""backup, restore, export, import: the store on a bad day and a busy one."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
import argparse

from tradestore._core.url import parse_target, sqlite_path
from tradestore.cli.common import Subcommands, open_repo, open_store, sqlite_only
from tradestore.errors import ValidationError
from tradestore.ops.backup import prune_backups
from tradestore.ops.copy import check_destination, copy_store, judge_destination
from tradestore.ops.export import FORMATS, KINDS, Progress, isatty, export
from tradestore.ops.imports import (IMPORT_FORMATS, IMPORT_KINDS, import_funding,
                                    import_instruments, import_trades)
from tradestore.tools.restore import restore, verify_backup


def register(sub: Subcommands) -> None:
    p = sub.add_parser("backup", help="a verified copy of the live store into a folder",
                       description="Copy the store while the bot keeps writing (SQLite's online "
                                   "backup API), check the copy (quick_check, or integrity_check "
                                   "with --verify full) and write "
                                   "it as DIR/<name>-YYYYMMDDTHHMMSSZ.db with mode 0600.")
    p.add_argument("dir", nargs="?", metavar="DIR",
                   help="folder for the backups (default: backups/ beside the database)")
    p.add_argument("--keep", type=_positive, metavar="N",
                   help="afterwards keep only the newest N backups of this database in DIR "
                        "(only backups carrying this store's identity are ever removed)")
    p.add_argument("--verify", choices=("quick", "full"), default="quick",
                   help="check the copy with quick_check (default) or a full integrity_check")
    p.set_defaults(handler=cmd_backup)

    p = sub.add_parser("restore", help="check a backup and put it in place of the database",
                       description="Verify BACKUP (integrity, application id, schema version, "
                                   "state checksums), refuse while another process has the "
                                   "database open, keep the current database as "
                                   "<name>.before-restore-<UTC time>, then swap the backup in "
                                   "atomically.")
    p.add_argument("backup", metavar="BACKUP", help="the backup file")
    p.add_argument("--db", dest="restore_db", metavar="PATH",
                   help="database to replace (default: the global --db, $TRADESTORE_DB, "
                        "./trades.db)")
    p.set_defaults(handler=cmd_restore)

    p = sub.add_parser("copy", help="copy a whole store into another, either engine, "
                                    "verified",
                       description="Copy every record table of SRC into DEST (each a file, "
                                   "sqlite:///path or postgresql://...) in one transaction on "
                                   "DEST, ids kept; DEST is created or migrated to the newest "
                                   "schema first. Verified: DEST's row count and checksum of "
                                   "every table must equal SRC's, or nothing is written. "
                                   "Copying again changes nothing; a DEST holding other data "
                                   "is refused, never overwritten. 'copy postgresql://... "
                                   "snapshot.db' is a one-file backup of a server store.")
    p.add_argument("source", metavar="SRC", help="the store to copy (read only)")
    p.add_argument("dest", metavar="DEST",
                   help="a new file, an empty database, or an earlier copy of SRC")
    p.set_defaults(handler=cmd_copy)

    p = sub.add_parser("export", help="stream a table as CSV, JSON or JSON Lines (lossless)",
                       description="Write trades, orders, positions, funding, instruments, "
                                   "snapshots, states or events in id order. A fill leaves "
                                   "whole (voids, kind, fee_value, futures columns), so export "
                                   "then import moves it. Decimals stay exact text, times "
                                   "ISO-8601 UTC. All time unless --days/--since/--until.")
    p.add_argument("kind", choices=list(KINDS), metavar="KIND",
                   help=f"what to export: {', '.join(KINDS)}")
    p.add_argument("--format", choices=FORMATS, default="csv", help="default: csv")
    p.add_argument("--out", metavar="FILE", help="write to FILE (atomically) instead of stdout")
    p.add_argument("--symbol", help="only this symbol (trades, orders, positions, funding, "
                                    "instruments, events)")
    p.add_argument("--account",
                   help="only this account (trades, orders, positions, funding, snapshots)")
    p.add_argument("--strategy", help="only this strategy (trades, orders, positions)")
    p.add_argument("--exchange",
                   help="only this exchange (trades, orders, positions, funding, instruments)")
    p.add_argument("--bot", help="only this bot (states)")
    p.add_argument("--event-type", help="only this event type (events)")
    span = p.add_mutually_exclusive_group()
    span.add_argument("--days", type=float, metavar="N", help="only the last N days")
    span.add_argument("--all", action="store_true", help="all time (the default)")
    p.add_argument("--since", metavar="TIME", help="from this ISO-8601 time on")
    p.add_argument("--until", metavar="TIME", help="before this ISO-8601 time")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("import", help="import fills, funding payments or instruments from a "
                                      "file, all or nothing",
                       description="Read and save every row in one pass inside one transaction "
                                   "(the first bad row is named by its line and nothing is "
                                   "imported). Rows whose (exchange, external_id) is already "
                                   "stored are skipped and counted. A fill exported voided comes "
                                   "back voided.")
    p.add_argument("kind", choices=list(IMPORT_KINDS),
                   help="trades (fills), funding (funding payments) or instruments (their "
                        "contract terms), as `export` writes them; to move a whole record "
                        "import trades, then funding, then instruments")
    p.add_argument("file", metavar="FILE", help="the file ('-' reads stdin)")
    p.add_argument("--format", choices=IMPORT_FORMATS,
                   help="csv, json, jsonl, or ccxt (a JSON array or lines of ccxt trades); "
                        "default: from the file's extension")
    p.add_argument("--exchange", metavar="E",
                   help="exchange of the fills (required for ccxt; otherwise fills rows "
                        "that name none)")
    p.add_argument("--ignore-order-ids", action="store_true",
                   help="drop order_id (order ids of another store)")
    p.set_defaults(handler=cmd_import)


def _positive(text: str) -> int:
    import argparse
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def cmd_backup(args: argparse.Namespace) -> int:
    path = str(sqlite_only(args, "backup", "pg_dump, or 'tradestore copy URL snapshot.db'"))
    folder = Path(args.dir) if args.dir else Path(path).absolute().parent / "backups"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # as it is: a backup never migrates the database it copies
    with open_repo(args, migrate=False, _allow_behind=True) as repo:
        target = repo.backup(folder, verify=args.verify)
        store_id = repo.store_id
    size = target.stat().st_size
    print(f"{target}: backup of {path} ({size:,} bytes), {args.verify} check ok")
    if args.keep:
        if store_id is None:
            print(f"not pruning: {path} has no identity yet (open it once for writing)",
                  file=sys.stderr)
            return 0
        for old in prune_backups(folder, args.keep, stem=Path(path).stem, store_id=store_id):
            print(f"removed old backup {old}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    target = str(sqlite_only(args, "restore", "'tradestore copy BACKUP URL' into an empty "
                             "database", given=args.restore_db))
    info = verify_backup(args.backup)
    print(f"{info.path}: ok (schema version {info.schema_version}, "
          f"{info.tables.get('trades', 0):,} fills, {info.size_bytes:,} bytes)")
    result = restore(args.backup, target, lock_timeout=min(args.busy_timeout, 2.0))
    if result.previous is not None:
        print(f"previous database kept as {result.previous}")
    print(f"{result.db_path}: restored from {result.backup_path} "
          f"(schema version {result.schema_version})")
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    source, dest = parse_target(args.source), parse_target(args.dest)
    check_destination(source, dest)
    options = {"busy_timeout": args.busy_timeout}
    with open_store(source, readonly=True, **options) as src:
        file = sqlite_path(dest)
        if file is None or file.exists():  # judged read-only: opening it would migrate it
            with open_store(dest, inspect=True, **options) as seen:
                judge_destination(seen, src)
        with open_store(dest, must_exist=False, **options) as dst:
            result = copy_store(src, dst)
    for name, table in result.tables.items():
        print(f"  {name:<28} {table.rows:>12,}  {table.checksum[:16]}")
    rows = sum(t.rows for t in result.tables.values())
    if result.copied:
        print(f"{result.dest}: copied {rows:,} rows in {len(result.tables)} tables from "
              f"{result.source} (schema version {result.version}); counts and checksums "
              "verified")
    else:
        print(f"{result.dest}: already holds the same {rows:,} rows as {result.source}; "
              "nothing to copy")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    filters = {"symbol": args.symbol, "account": args.account, "strategy": args.strategy,
               "exchange": args.exchange, "bot": args.bot, "event_type": args.event_type}
    # a progress line only when the rows do not go to the same terminal
    progress = Progress(f"exporting {args.kind}") if args.out or not isatty(sys.stdout) else None
    with open_repo(args, readonly=True) as repo:
        count = export(repo, args.kind, args.out, fmt=args.format,
                       days=None if args.all else args.days, since=args.since, until=args.until,
                       progress=progress,
                       **{k: v for k, v in filters.items() if v is not None})
    if args.out:
        print(f"{args.out}: {count:,} {args.kind} rows ({args.format})")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    spooled = None
    source = args.file
    try:
        if source == "-":  # two passes need a file: spool stdin to a private temp file
            if args.format is None:
                raise ValidationError("format: reading stdin needs --format", field="format")
            fd, spooled = tempfile.mkstemp(prefix="tradestore-import-")
            with os.fdopen(fd, "wb") as f:
                shutil.copyfileobj(sys.stdin.buffer, f)
            source = spooled
        with open_repo(args, must_exist=False) as repo:  # import into a new file creates it
            if args.kind != "trades" and args.ignore_order_ids:
                raise ValidationError(f"--ignore-order-ids: {args.kind} have no order ids",
                                      field="ignore_order_ids")
            if args.kind == "funding":
                result = import_funding(repo, source, fmt=args.format, exchange=args.exchange)
            elif args.kind == "instruments":
                if args.exchange is not None:
                    raise ValidationError("--exchange: instruments name their own exchange",
                                          field="exchange", value=args.exchange)
                result = import_instruments(repo, source, fmt=args.format)
            else:
                result = import_trades(repo, source, fmt=args.format, exchange=args.exchange,
                                       ignore_order_ids=args.ignore_order_ids)
    finally:
        if spooled:
            os.unlink(spooled)
    print(f"read {result.read:,}, inserted {result.inserted:,}, duplicate {result.duplicate:,}")
    return 0

