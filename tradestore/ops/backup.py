"""Live backup and verified restore.

``backup`` copies the store with SQLite's online backup API while the bot keeps
writing: one read transaction gives a consistent snapshot (WAL readers never block
writers). The copy is written to a temporary file beside the destination, switched
to rollback-journal mode (so it is one complete file that needs no ``-wal``),
checked with ``integrity_check``, synced, given mode 0600 and renamed into place.

``restore`` checks the backup first, refuses while any other connection has the
target open, keeps the current database under ``<name>.before-restore-<UTC>``
(never deleted) and swaps the backup in with an atomic rename.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from tradestore._core.codec import UTC, to_int, to_path
from tradestore._core.db import APPLICATION_ID, translate
from tradestore._core.files import SIDECARS, fsync_dir, fsync_file, path_error, refuse_store_target
from tradestore._core.hints import PathLike
from tradestore._core.migrate import read_store_id
from tradestore.ops.facade import OpsFacade
from tradestore.errors import ConflictError, DatabaseError, SchemaError, ValidationError

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
VERIFY = {"quick": "PRAGMA quick_check", "full": "PRAGMA integrity_check"}
# errors of the backup API that come from writing the copy, not from reading the store
_WRITE_SIDE = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN,
               sqlite3.SQLITE_IOERR, sqlite3.SQLITE_PERM}
BACKUP_NAME = re.compile(r"^(?P<stem>.+)-(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?\.db$")


@dataclass(frozen=True)
class BackupInfo:
    """What ``verify_backup`` found in a good backup.

    Attributes:
      path: the backup file.
      size_bytes: its size.
      schema_version: its schema version (may be behind this tradestore; it
        migrates when opened after a restore).
      head_version: the newest version this tradestore knows.
      tables: rows per table.
    """

    path: Path
    size_bytes: int
    schema_version: int
    head_version: int
    tables: dict


@dataclass(frozen=True)
class RestoreResult:
    """What ``restore`` did.

    Attributes:
      db_path: the database now holding the backup's content.
      backup_path: the backup it came from.
      previous: where the database that was there before now lives (None when
        there was none); its ``-wal``/``-shm`` moved beside it with the same suffixes.
      schema_version: the restored database's version after opening (migrated).
    """

    db_path: Path
    backup_path: Path
    previous: Path | None
    schema_version: int


def utc_stamp(moment: _dt.datetime | None = None) -> str:
    return (moment or _dt.datetime.now(UTC)).strftime(STAMP_FORMAT)


# ------------------------------------------------------------------ file helpers

def _remove_quietly(path: Path) -> None:
    for suffix in ("", *SIDECARS):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


@contextlib.contextmanager
def discarded_on_failure(temp: Path, failure: str) -> Iterator[None]:
    """A block that fills ``temp`` and moves it into place: on any error ``temp`` (and
    its -wal/-shm) is removed, and an OS error becomes DatabaseError("<failure>: why")."""
    try:
        yield
    except OSError as exc:
        _remove_quietly(temp)
        raise DatabaseError(f"{failure}: {exc}") from None
    except BaseException:
        _remove_quietly(temp)
        raise


def _temp_beside(target: Path) -> Path:
    """An empty private (0600) file in the target's folder, so the final rename is atomic."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


def backup_destination(db_path: PathLike, dest: PathLike) -> Path:
    """The file a backup goes to: ``dest`` itself, or for a folder a new
    ``<stem>-YYYYMMDDTHHMMSSZ.db`` in it (``-2``, ``-3``... within the same second).
    A name ending in a slash is a folder, created (mode 0700) if missing."""
    text = os.fspath(dest)
    dest = Path(dest)
    if text.endswith(("/", os.sep)) and not dest.exists():
        dest.mkdir(mode=0o700, parents=True)
    if not dest.is_dir():
        return dest
    stem = Path(db_path).stem if str(db_path) != ":memory:" else "memory"
    stamp = utc_stamp()
    candidate, n = dest / f"{stem}-{stamp}.db", 1
    while candidate.exists():
        n += 1
        candidate = dest / f"{stem}-{stamp}-{n}.db"
    return candidate


def list_backups(folder: PathLike, stem: str = "trades") -> list[Path]:
    """Backups named ``<stem>-YYYYMMDDTHHMMSSZ[-n].db`` in ``folder``, oldest first."""
    found = []
    for path in Path(folder).iterdir():
        match = BACKUP_NAME.match(path.name)
        if match and match["stem"] == stem and path.is_file():
            found.append((match["stamp"], int(match["n"] or 1), path))
    return [p for _, _, p in sorted(found)]


def backup_store_id(path: PathLike) -> str | None:
    """The identity of the store a backup file was taken from (None if it has none or
    is unreadable). Read as an immutable file: nothing is locked or written."""
    uri = f"file:{quote(str(Path(path).resolve()))}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error:
        return None
    try:
        return read_store_id(conn)
    finally:
        conn.close()


def prune_backups(folder: PathLike, keep: int, stem: str = "trades",
                  store_id: str | None = None) -> list[Path]:
    """Delete all but the ``keep`` newest backups of ``stem`` whose identity is
    ``store_id`` (given by ``backup --keep``): another store's backups with the same
    name, and backups without an identity, are never deleted. Returns the deleted files."""
    keep = to_int(keep, "keep", lowest=1, allowed="a whole number >= 1")
    ours = [p for p in list_backups(folder, stem)
            if store_id is None or backup_store_id(p) == store_id]
    old = ours[:-keep]
    for path in old:
        path.unlink()
    return old


# ------------------------------------------------------------------ backup

@contextlib.contextmanager
def _source_connection(repo: OpsFacade) -> Iterator[sqlite3.Connection]:
    """A connection to read the snapshot from: a private read-only one for a file
    (so the bot's own connection and lock stay free), the store's own for memory."""
    db = repo.db
    if db.path == ":memory:":
        with db.lock:
            yield db._connection()
        return
    db.require_open()  # raises if the store is closed
    uri = f"file:{quote(str(Path(db.path).resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=5.0, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def backup(repo: OpsFacade, dest: PathLike, *, overwrite: bool = False,
           verify: str = "quick") -> Path:
    """Copy the open store ``repo`` to ``dest`` (a file, or a folder for a stamped name)
    while it keeps being written; returns the verified backup's path.

    ``verify``: "quick" (quick_check, the default) or "full" (integrity_check). Never
    writes over a database; ``overwrite=True`` replaces only a file that is not one,
    or an earlier backup of this same store."""
    if verify not in VERIFY:
        raise ValidationError(f"verify: {verify!r} is not one of quick, full", field="verify",
                              value=verify)
    to_path(dest, "dest")  # refuses None, "", NUL and lone surrogates (dest keeps its "/")
    try:
        target = backup_destination(repo.path, dest).absolute()
        target.exists()
    except OSError as exc:
        raise path_error(dest, exc, "dest") from None
    if target.exists() and not overwrite:
        raise ConflictError(f"{target}: already exists (pass overwrite=True to replace it)")
    store_id = repo.store_id
    if not (overwrite and store_id is not None and backup_store_id(target) == store_id
            and not any(Path(f"{target}{s}").exists() for s in SIDECARS)):
        refuse_store_target(target, repo.path)
    if repo.path != ":memory:" and target.resolve() == Path(repo.path).resolve():
        raise ConflictError(f"{target}: is the database itself; back up to another file")
    if not target.parent.is_dir():
        raise DatabaseError(f"{target.parent}: no such folder for the backup")
    try:
        temp = _temp_beside(target)
    except OSError as exc:
        raise DatabaseError(f"{target.parent}: cannot write a backup there: {exc}") from None
    with discarded_on_failure(temp, f"backup destination {target}: backup failed"):
        _copy_and_check(repo, temp, target, verify)
        fsync_file(temp)
        os.chmod(temp, 0o600)
        os.replace(temp, target)
        fsync_dir(target.parent)
    if not repo.db.readonly:
        repo.events.log("backup", f"backup taken: {target}",
                        details={"path": str(target), "size_bytes": target.stat().st_size})
    return target


def _copy_and_check(repo: OpsFacade, temp: Path, target: Path, verify: str) -> None:
    """Copy into ``temp`` and check the copy; errors name ``target`` when writing the
    copy failed (a full disk is the destination's), the store when reading it did."""
    try:
        dst = sqlite3.connect(str(temp), isolation_level=None)
    except sqlite3.Error as exc:
        raise translate(exc, str(target)) from exc
    try:
        try:
            with _source_connection(repo) as src:
                src.backup(dst)  # pages=-1: one step, one read transaction, one snapshot
        except sqlite3.Error as exc:
            code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
            write_side = code in _WRITE_SIDE or "disk is full" in str(exc).lower()
            raise translate(exc, f"backup destination {target}" if write_side
                            else repo.path) from exc
        try:
            mode = dst.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
            app_id = dst.execute("PRAGMA application_id").fetchone()[0]
            if verify == "full":  # this writable connection also checks CHECK constraints
                problems = [r[0] for r in dst.execute(VERIFY[verify]) if r[0] != "ok"]
            else:
                problems = _quick_check(temp)
        except sqlite3.Error as exc:
            raise translate(exc, f"backup destination {target}") from exc
        if mode.lower() != "delete":
            raise DatabaseError(f"{target}: the copy stayed in journal mode {mode}")
        if problems:
            raise DatabaseError(f"{repo.path}: the backup copy fails {VERIFY[verify][7:]}: "
                                f"{'; '.join(problems[:3])}")
        if app_id not in (0, APPLICATION_ID):
            raise SchemaError(f"{repo.path}: the copy has a foreign application_id {app_id:#x}")
    finally:
        dst.close()


def backup_before_downgrade(repo: OpsFacade, before: int, target: int) -> Path:
    """A backup beside the store (integrity_check), taken before a forced downgrade;
    ``TradeRepo.migrate`` verifies it in full (``TradeRepo.verify_backup``)."""
    db = Path(repo.path)
    dest = db.with_name(f"{db.stem}-before-migrate-{before}-to-{target}-{utc_stamp()}.db")
    n = 1
    while dest.exists():
        n += 1
        dest = db.with_name(f"{db.stem}-before-migrate-{before}-to-{target}-{utc_stamp()}-{n}.db")
    return backup(repo, dest, verify="full")  # the facade then runs verify_backup on it


def _quick_check(path: Path) -> list[str]:
    """quick_check of the copy's structure (pages, b-trees, records) on a read-only
    connection, which skips the CHECK constraints: the copy holds the very pages the
    store accepted, and re-running every CHECK would triple the cost of a backup."""
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, isolation_level=None)
    try:
        return [r[0] for r in conn.execute(VERIFY["quick"]) if r[0] != "ok"]
    finally:
        conn.close()
