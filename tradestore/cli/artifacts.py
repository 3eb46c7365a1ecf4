"""artifacts list, verify, cleanup, backup, restore: the ML artifacts folder and its catalog.

By default the catalog is the --db database and the files are in ``artifacts/``
beside it (``trades.db`` in /srv/bot -> /srv/bot/artifacts). ``--standalone`` is for
an ``ArtifactManager(base_path)`` opened without a repo: the catalog is then
``<base-path>/catalog.db``.
"""

from __future__ import annotations

from pathlib import Path
import argparse

from tradestore._core.url import sqlite_path
from tradestore.artifacts.catalog import CATALOG_NAME, ArtifactManager
from tradestore.cli.common import (Subcommands, add_format, db_target, open_repo, print_rows,
                                   printable, shows_help)
from tradestore.errors import DatabaseError
from tradestore.repo import TradeRepo

LIST_COLUMNS = ["name", "version", "kind", "size", "saved", "sha256"]
LIST_WIDTHS = {"name": 18, "version": 12, "kind": 7, "size": 9, "saved": 16, "sha256": 8}


def register(sub: Subcommands) -> None:
    p = sub.add_parser("artifacts", help="ML artifacts: list, verify checksums, clean up")
    groups = p.add_subparsers(dest="artifacts_command", metavar="ACTION")
    p.set_defaults(handler=shows_help(p))

    q = groups.add_parser("list", help="cataloged artifacts, by name then version")
    _common(q)
    q.add_argument("--name", metavar="GLOB", help="only names matching this glob (e.g. 'lstm*')")
    add_format(q)
    q.set_defaults(handler=cmd_list)

    q = groups.add_parser("verify", help="rehash every file; non-zero exit on a missing, "
                                         "changed or orphan file")
    _common(q)
    q.add_argument("--repair", action="store_true",
                   help="remove orphan files (interrupted saves); missing and changed files "
                        "are only reported")
    q.set_defaults(handler=cmd_verify)

    q = groups.add_parser("cleanup", help="delete old versions, keeping the newest of each name")
    _common(q)
    q.add_argument("--retention-days", type=float, default=30, metavar="DAYS",
                   help="delete versions saved more than DAYS ago (default: 30)")
    q.add_argument("--keep-latest", type=int, default=1, metavar="N",
                   help="always keep the newest N versions of each name (default: 1)")
    q.add_argument("--dry-run", action="store_true", help="only say how many would go")
    q.set_defaults(handler=cmd_cleanup)

    q = groups.add_parser("backup", help="copy the catalog and every artifact file, verified "
                                         "by checksum, into DEST/artifacts-<UTC stamp>/")
    _common(q)
    q.add_argument("dest", metavar="DEST", help="folder that holds the backups (created if "
                                                "missing)")
    q.add_argument("--keep", type=int, default=None, metavar="N",
                   help="then delete all but the newest N backups of this catalog in DEST")
    q.set_defaults(handler=cmd_backup)

    q = groups.add_parser("restore", help="verify a backup folder, then put its missing or "
                                          "damaged files and their catalog rows back")
    _common(q)
    q.add_argument("backup", metavar="BACKUP", help="an artifacts-<stamp> folder")
    q.add_argument("--overwrite", action="store_true",
                   help="replace artifacts whose stored checksum differs from the backup's")
    q.set_defaults(handler=cmd_restore)


def _common(parser) -> None:
    parser.add_argument("--base-path", metavar="DIR", default=None,
                        help="artifacts folder (default: 'artifacts' beside the database "
                             "file; ./artifacts for a server store)")
    parser.add_argument("--standalone", action="store_true",
                        help=f"the catalog is DIR/{CATALOG_NAME} (an ArtifactManager opened "
                             "without a repo), not --db")


def _open(args, *, write: bool) -> tuple[ArtifactManager, TradeRepo]:
    if args.standalone:
        base = Path(args.base_path or "artifacts")
        catalog = base / CATALOG_NAME
        if not catalog.exists():
            raise DatabaseError(f"{catalog}: no artifacts catalog there")
        repo = TradeRepo(catalog, readonly=not write)
    else:
        repo = open_repo(args, readonly=not write)
        file = sqlite_path(db_target(args))  # a server store has no folder: ./artifacts
        base = Path(args.base_path or (file.parent if file else Path()) / "artifacts")
    return ArtifactManager(base, repo=repo), repo


def _size(n: int) -> str:
    size: float = n
    for unit in ("B", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{n}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return str(size)


def cmd_list(args: argparse.Namespace) -> int:
    manager, repo = _open(args, write=False)
    with repo:
        infos = manager.list_artifacts(args.name)
    table = args.format == "table"
    rows = [{"name": a.name, "version": a.version, "kind": a.kind,
             "size": _size(a.size) if table else a.size,
             "saved": a.updated_at.strftime("%Y-%m-%d %H:%M") if table else a.updated_at,
             "sha256": a.sha256[:8] if table else a.sha256} for a in infos]
    print_rows(rows, LIST_COLUMNS, args.format, widths=LIST_WIDTHS)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    manager, repo = _open(args, write=args.repair)
    with repo:
        report = manager.verify(repair=args.repair)
    for info in report.missing:
        print(printable(f"missing: {info.name} {info.version} ({info.path})"))
    for info in report.changed:
        print(printable(f"changed: {info.name} {info.version} ({info.path})"))
    for relpath in report.orphans:
        print(printable(f"{'removed' if relpath in report.removed else 'orphan'}: {relpath}"))
    for relpath in report.foreign:
        print(printable(f"foreign (not ours, left alone): {relpath}"))
    if report.shared_with:
        print(printable(f"note: store {', '.join(report.shared_with)} saves into this folder "
                        "too: its files show as orphans here (give each store its own "
                        "--base-path)"))
    if report.ok:
        print(printable(f"ok: {report.checked} artifact(s) verified in {manager.base_path}"))
        return 0
    print(printable(f"problems found in {manager.base_path}")
          + ("" if args.repair else " (--repair removes orphans)"))
    return 1


def cmd_cleanup(args: argparse.Namespace) -> int:
    manager, repo = _open(args, write=not args.dry_run)
    with repo:
        count = manager.cleanup_old_artifacts(args.retention_days, keep_latest=args.keep_latest,
                                              dry_run=args.dry_run)
    print(f"{'would delete' if args.dry_run else 'deleted'} {count} artifact(s)")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    manager, repo = _open(args, write=True)
    with repo:
        folder = manager.backup(args.dest, keep=args.keep)
        count = len(manager.list_artifacts())
    print(f"backed up {count} artifact(s) and the catalog to {folder}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    manager, repo = _open(args, write=True)
    with repo:
        result = manager.restore(args.backup, overwrite=args.overwrite)
    for label in result.restored:
        print(f"restored: {label}")
    print(f"restored {len(result.restored)} artifact(s), {len(result.unchanged)} already "
          f"intact, {result.metrics} metric point(s)")
    return 0
