"""Putting a backup in place of a store, and checking a backup file.

Both need the whole facade (opening a store, its checks, migrating after a restore),
so they sit above it; the copying itself is tradestore.ops.backup.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

from tradestore._core.files import SIDECARS, fsync_dir, fsync_file
from tradestore._core.hints import PathLike
from tradestore.errors import DatabaseBusyError, DatabaseError, ValidationError
from tradestore.ops.backup import (RestoreResult, _temp_beside,
                                   discarded_on_failure, utc_stamp)
from tradestore.repo import TradeRepo

# Checking a backup file is the facade's (a forced downgrade runs it too).
verify_backup = TradeRepo.verify_backup


def restore(backup_path: PathLike, db_path: PathLike, *,
            lock_timeout: float = 1.0) -> RestoreResult:
    """Put a verified backup in place of ``db_path``.

    Refuses (DatabaseBusyError) while another connection has ``db_path`` open, in this
    process or another. The database found there is kept as
    ``<name>.before-restore-<UTCSTAMP>`` (with its -wal/-shm, if any), never deleted.
    """
    backup_path, target = Path(backup_path).absolute(), Path(db_path).absolute()
    if backup_path == target:
        raise ValidationError(f"{target}: cannot restore a database onto itself",
                              field="backup_path", value=str(backup_path))
    verify_backup(backup_path)
    if not target.parent.is_dir():
        raise DatabaseError(f"{target.parent}: no such folder")
    temp = _temp_beside(target)
    with discarded_on_failure(temp, f"{target}: restore failed"):
        shutil.copyfile(backup_path, temp)
        os.chmod(temp, 0o600)
        fsync_file(temp)
        previous = _swap_in(temp, target, lock_timeout)
    with TradeRepo(target) as repo:  # opens and migrates as usual
        repo.events.log("restore", f"restored from {backup_path}",
                        details={"backup": str(backup_path),
                                 "previous": None if previous is None else str(previous)})
        version = repo.current_version
    return RestoreResult(target, backup_path, previous, version)


def _swap_in(temp: Path, target: Path, lock_timeout: float) -> Path | None:
    """Keep the current database aside and rename ``temp`` over it, holding an
    exclusive lock on the current one so that nobody opens it half-way."""
    if not target.exists():
        os.replace(temp, target)
        fsync_dir(target.parent)
        return None
    aside = target.with_name(f"{target.name}.before-restore-{utc_stamp()}")
    n = 1
    while any(Path(f"{aside}{s}").exists() for s in ("", *SIDECARS)):
        n += 1
        aside = target.with_name(f"{target.name}.before-restore-{utc_stamp()}-{n}")
    with _exclusive(target, lock_timeout):
        try:
            os.link(target, aside)  # the current file stays at its name until the rename
        except OSError:
            os.rename(target, aside)
        for suffix in SIDECARS:  # a stale -wal must never meet the restored file
            if Path(f"{target}{suffix}").exists():
                os.rename(f"{target}{suffix}", f"{aside}{suffix}")
        os.replace(temp, target)
        fsync_dir(target.parent)
    return aside


@contextlib.contextmanager
def _exclusive(target: Path, timeout: float):
    """Hold the database exclusively, or refuse.

    BEGIN EXCLUSIVE fails while another connection writes. Leaving WAL mode needs
    every other connection closed, so it also catches a bot that merely has the file
    open; the second BEGIN EXCLUSIVE keeps newcomers out until the swap is done. A
    file too damaged to lock is moved aside without the lock.
    """
    conn = sqlite3.connect(str(target), timeout=timeout, isolation_level=None)
    held = True  # False once closed: a file too damaged to lock
    step = "write"
    try:
        try:
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("ROLLBACK")
            step = "open"
            mode = conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
            if mode.lower() != "delete":
                raise sqlite3.OperationalError(f"database is locked (journal mode {mode})")
            conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            text = str(exc).lower()
            if "locked" in text or "busy" in text:
                what = ("another connection is writing to it" if step == "write" else
                        "it is open elsewhere (a bot, a tradestore command or another "
                        "connection of this process)")
                raise DatabaseBusyError(f"{target}: {what}; close it, then restore again. "
                                        "Nothing was changed.") from None
            conn.close()
            held = False  # damaged beyond locking: it is only moved aside
        except sqlite3.DatabaseError:
            conn.close()
            held = False
        yield
    finally:
        if held:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            conn.close()
