"""Durable file writes: fsync of files and folders, and atomic replacement."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

from tradestore._core.codec import show
from tradestore._core.hints import PathLike
from tradestore.errors import (ConflictError, DatabaseError, DiskFullError, StoreError,
                               ValidationError)

SQLITE_MAGIC = b"SQLite format 3\x00"
SIDECARS = ("-wal", "-shm", "-journal")


def is_sqlite_file(path: PathLike) -> bool:
    """True when ``path`` is an existing file that starts with SQLite's 16-byte header."""
    try:
        with open(path, "rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:  # missing, a folder, unreadable: not a database we could destroy
        return False


def refuse_store_target(target: PathLike, store: PathLike | None = None) -> None:
    """Refuse (ConflictError, nothing written) to write a file over a database.

    Refused: ``store`` itself or its -wal/-shm/-journal, any existing SQLite file, and
    the -wal/-shm/-journal of any SQLite file. Every path that writes a file calls this
    first (``atomic_file`` does it itself), so no command can replace a live store.
    """
    path = Path(os.fspath(target))
    real = path.resolve()
    if store is not None and str(store) != ":memory:":
        base = Path(os.fspath(store)).resolve()
        if real in {Path(f"{base}{s}") for s in ("", *SIDECARS)}:
            raise ConflictError(f"{path}: is the database itself ({store}) or its journal; "
                                "refusing to write over it")
    if is_sqlite_file(real):
        raise ConflictError(f"{path}: is a SQLite database; refusing to write over it "
                            "(choose another file)")
    for suffix in SIDECARS:
        if real.name.endswith(suffix) and is_sqlite_file(str(real)[:-len(suffix)]):
            raise ConflictError(f"{path}: is the {suffix[1:]} file of the database "
                                f"{str(path)[:-len(suffix)]}; refusing to write over it")


def fsync_file(path: PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: PathLike) -> None:
    """Make a rename or a new file in ``folder`` durable (where the platform allows)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_file(target: PathLike, *, mode: int = 0o600, binary: bool = False,
                store: PathLike | None = None) -> Iterator[IO[Any]]:
    """Write to a temp file beside ``target``, fsync, then rename over it: readers see the
    old file or the whole new one, never half of it. Yields the open file.

    Refuses a target that is a database or its journal (``refuse_store_target``),
    checked both before writing and again just before the rename."""
    target = Path(target)
    refuse_store_target(target, store)
    try:
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(target, exc) from None
    try:
        with (os.fdopen(fd, "wb") if binary
              else os.fdopen(fd, "w", encoding="utf-8", newline="")) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        refuse_store_target(target, store)  # a database may have appeared meanwhile
        os.replace(temp, target)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise _write_error(target, exc) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _write_error(target: Path, exc: OSError) -> StoreError:
    """Our error for a failed file write, naming the file being written (not a temp)."""
    if exc.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", -1)):
        return DiskFullError(f"{target}: cannot write it, the disk is full (or the file is "
                             f"too large): {exc.strerror}; nothing was written")
    return StoreError(f"{target}: cannot write it: {exc.strerror or exc}; nothing was written")


def path_error(path: PathLike, exc: OSError, field: str = "path") -> StoreError:
    """Our error for an OSError met while looking at ``path`` (a name too long for
    the file system is the caller's value: ValidationError)."""
    if exc.errno == errno.ENAMETOOLONG:
        return ValidationError(f"{field}: {show(str(path))} is too long for the file system "
                               f"({len(str(path))} characters; a name may have at most 255 "
                               "bytes)", field=field, value=path)
    return DatabaseError(f"{path}: {exc.strerror or exc}")
