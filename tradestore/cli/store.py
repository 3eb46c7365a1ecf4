"""init, migrate, status, check: the store itself."""

from __future__ import annotations

import json
import os

from .common import db_path, open_repo
from ..errors import ReadOnlyError
from ..repo import TradeRepo


def register(sub) -> None:
    p = sub.add_parser("init", help="create the database (or bring it to the newest schema)",
                       description="Create the database file (mode 0600) or bring an existing "
                                   "one to the newest schema.")
    p.set_defaults(handler=cmd_init)
    p = sub.add_parser("migrate", help="move the schema up or down",
                       description="Apply (or undo) numbered schema migrations, one "
                                   "transaction each.")
    p.add_argument("--to", type=int, metavar="N",
                   help="target version, lower to go down (default: newest)")
    p.add_argument("--force", action="store_true",
                   help="go down even if that drops tables holding rows (a verified backup "
                        "is written beside the store first)")
    p.set_defaults(handler=cmd_migrate)
    p = sub.add_parser("status", help="path, schema version, journal mode, size, row counts",
                       description="Show the store's path, schema version and pending "
                                   "migrations, journal mode, file size and rows per table.")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="output format (default: text)")
    p.set_defaults(handler=cmd_status)
    p = sub.add_parser("check", help="integrity, stored values, foreign keys, checksums; "
                                     "non-zero on a problem",
                       description="Run integrity_check with CHECK constraints enforced, decode "
                                   "every stored money, time and JSON value, run "
                                   "foreign_key_check and the stores' own checks (state "
                                   "checksums, derived data); one line per problem naming "
                                   "table, column and row; exit 1 if anything is wrong.")
    p.set_defaults(handler=cmd_check)


def cmd_init(args) -> int:
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


def cmd_migrate(args) -> int:
    with open_repo(args, migrate=False, _allow_behind=True) as repo:
        before = repo.current_version
        repo.migrate(args.to, force=args.force)
        if repo.last_backup is not None:
            print(f"backup before going down: {repo.last_backup}")
        print(f"{repo.path}: schema version {before} -> {repo.current_version}")
    return 0


def cmd_status(args) -> int:
    with open_repo(args, inspect=True) as repo:
        info = repo.status()
    if args.format == "json":
        print(json.dumps(info, indent=1))
        return 0
    size = info["size_bytes"]
    print(f"path:            {info['path']}")
    print(f"schema version:  {info['schema_version']} (newest {info['head_version']})")
    print(f"pending:         {', '.join(info['pending']) or 'none'}")
    print(f"journal mode:    {info['journal_mode']}")
    print(f"file size:       {'-' if size is None else f'{size:,} bytes'}")
    print("rows:")
    for name, count in info["tables"].items():
        print(f"  {name:<28} {count:>12,}")
    return 0


def cmd_check(args) -> int:
    with open_repo(args, inspect=True) as repo:
        problems = repo.check()
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        print(f"{len(problems)} problem(s) found")
        return 1
    print("ok")
    return 0
