"""init, migrate, status, check: the store itself."""

from __future__ import annotations

import json
import os
import argparse

from tradestore.cli.common import Subcommands, db_path, open_repo, printable
from tradestore._core.url import SQLITE
from tradestore.errors import ReadOnlyError
from tradestore.repo import TradeRepo


def register(sub: Subcommands) -> None:
    p = sub.add_parser("init", help="create the database (or bring it to the newest schema)",
                       description="Create the database file (mode 0600) or bring an existing "
                                   "one to the newest schema.")
    p.set_defaults(handler=cmd_init)
    p = sub.add_parser("migrate", help="move the schema up or down; its history, its version",
                       description="Apply (or undo) numbered schema migrations, one "
                                   "transaction each. 'migrate history' lists every schema "
                                   "file, whether and when it was applied; 'migrate current' "
                                   "prints the version.")
    p.add_argument("action", nargs="?", choices=("up", "history", "current"), default="up",
                   help="up (default): move to --to; history: list the schema files; "
                        "current: print the version")
    p.add_argument("--to", metavar="N",
                   help="target version, 'head' (default), or relative: -1 down one, +2 up two")
    p.add_argument("--force", action="store_true",
                   help="go down even if that drops tables holding rows (a verified backup "
                        "is written beside the store first)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the SQL it would run and change nothing")
    p.add_argument("--extra", metavar="FOLDER",
                   help="act on your own migrations in FOLDER (NNNN_name.sql), kept in "
                        "their own version sequence")
    p.set_defaults(handler=cmd_migrate)
    p = sub.add_parser("status", help="path, schema version, journal mode, size, row counts",
                       description="Show the store's path (a URL's password masked), engine, "
                                   "schema version and pending migrations, journal mode and "
                                   "file size (SQLite) and rows per table.")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="output format (default: text)")
    p.set_defaults(handler=cmd_status)
    p = sub.add_parser("check", help="integrity, stored values, foreign keys, checksums; "
                                     "non-zero on a problem",
                       description="Run integrity_check with CHECK constraints enforced, decode "
                                   "every stored money, time and JSON value, run "
                                   "foreign_key_check and the stores' own checks (state "
                                   "checksums, derived data); one line per problem naming "
                                   "table, column and row; exit 1 if anything is wrong. On "
                                   "PostgreSQL the server enforces types, CHECKs and foreign "
                                   "keys on every write: only the stores' own checks run.")
    p.set_defaults(handler=cmd_check)


def cmd_init(args: argparse.Namespace) -> int:
    path = db_path(args)
    if path != ":memory:" and os.path.isfile(path) and (
            not os.access(path, os.W_OK) or not os.stat(path).st_mode & 0o222):
        raise ReadOnlyError(f"{path}: the file is read-only; init needs to write it "
                            "(chmod u+w, or choose another file)")
    with TradeRepo(path, busy_timeout=args.busy_timeout) as repo:
        with repo.transaction():  # prove the store can be written (takes the write lock)
            pass
        print(f"{repo.path}: ready at schema version {repo.current_version}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    extra = args.extra is not None
    read = args.action != "up" or args.dry_run
    with open_repo(args, migrate=False, _allow_behind=True, readonly=read,
                   extra_migrations=args.extra) as repo:
        migrator = repo._extra() if extra else repo.migrator
        label = "extra version" if extra else "schema version"
        if args.action == "current":
            print(f"{label} {migrator.current_version} (newest {migrator.head})")
            return 0
        if args.action == "history":
            for entry in repo.migration_history(extra=extra):
                when = (entry.applied_at.strftime("%Y-%m-%d %H:%M:%S UTC") if entry.applied_at
                        else "unknown (before the log)" if entry.applied else "")
                print(printable(f"{entry.version:>4}  {entry.filename:<36} "
                                f"{'applied' if entry.applied else 'pending':<8} {when}"
                                + ("  (file changed since)" if entry.changed else "")).rstrip())
            return 0
        if args.dry_run:
            print(repo.migration_sql(args.to, extra=extra), end="")
            return 0
        before = migrator.current_version
        repo.migrate(args.to, force=args.force, extra=extra)
        if repo.last_backup is not None:
            print(f"backup before going down: {repo.last_backup}")
        print(f"{repo.path}: {label} {before} -> {migrator.current_version}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with open_repo(args, inspect=True) as repo:
        info = {"engine": repo.db.engine, **repo.status()}
    if args.format == "json":
        print(json.dumps(info, indent=1))
        return 0
    size = info["size_bytes"]
    print(f"path:            {info['path']}")
    print(f"engine:          {info['engine']}")
    print(f"schema version:  {info['schema_version']} (newest {info['head_version']})")
    print(f"pending:         {', '.join(info['pending']) or 'none'}")
    print(f"journal mode:    {info['journal_mode'] or '-'}")
    print(f"file size:       {'-' if size is None else f'{size:,} bytes'}")
    print("rows:")
    for name, count in info["tables"].items():
        print(f"  {name:<28} {count:>12,}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    with open_repo(args, inspect=True) as repo:
        problems = repo.check()
        engine = repo.db.engine
    if engine != SQLITE:
        print(f"skipped on {engine}: integrity_check, stored values that do not decode and "
              "foreign_key_check (SQLite's file-level checks; the server enforces types, "
              "CHECKs and foreign keys on every write)")
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        print(f"{len(problems)} problem(s) found")
        return 1
    print("ok")
    return 0
