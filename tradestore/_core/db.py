"""One SQLite connection, opened our way, and the transactions on it.

``Database`` owns the connection of a ``TradeRepo``: WAL, foreign keys, the
durability level, the busy timeout, the decimal functions, a lock so that the
threads of one bot can share it, and ``transaction()`` (BEGIN IMMEDIATE at the
outside, SAVEPOINTs inside). Errors from sqlite3 are turned into ours here.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import re
import sqlite3
import sys
import random
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import quote

from tradestore._core import decimal_sql
from tradestore._core.codec import show, utc_now
from tradestore._core.files import path_error
from tradestore.errors import (DatabaseBusyError, DatabaseError, DiskFullError, ReadOnlyError,
                               StoreError, ValidationError)

MIN_SQLITE_VERSION = (3, 37, 0)  # STRICT tables; RETURNING, window functions and JSON are older
QUICK_BUSY_MS = 2  # SQLite's own wait inside one try of BEGIN IMMEDIATE (see _begin_immediate)
APPLICATION_ID = 0x54524453  # "TRDS"
DURABILITY = {"full": "FULL", "normal": "NORMAL"}
SQL_LOGGER = "tradestore.sql"
ECHO_VARIABLES = ("TRADESTORE_SQL_ECHO", "SQL_ECHO")  # ours first, then the seeds' name
ECHO_ON, ECHO_OFF = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}
MASK = "******"
ECHO_ROWS = 20  # rows of one executemany shown by the echo
INT64 = (-2 ** 63, 2 ** 63 - 1)
# statements on the settings table carry setting values: masked in the echo, since a
# statement cannot tell whether the row it writes is (or stays) secret
_SETTINGS_SQL = re.compile(r"\bsettings\b", re.I)
_WRITE_SQL = re.compile(r"^\s*(INSERT|UPDATE|REPLACE)\b", re.I)


def check_sqlite_version(version: tuple[int, ...] = sqlite3.sqlite_version_info) -> None:
    if tuple(version) < MIN_SQLITE_VERSION:
        raise StoreError(
            f"SQLite {'.'.join(map(str, version))} is too old: tradestore needs "
            f"{'.'.join(map(str, MIN_SQLITE_VERSION))} or newer (STRICT tables)")


def translate(exc: sqlite3.Error, path: str) -> StoreError:
    """Our error for a sqlite3 error, with the database path in the message."""
    text = str(exc)
    low = text.lower()
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF  # the primary result code
    if isinstance(exc, sqlite3.IntegrityError) or code == sqlite3.SQLITE_CONSTRAINT:
        # first: a CHECK's text may contain any word ("busy", "full", ...)
        return ValidationError(f"{path}: rejected by the schema: {text}")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in low or "busy" in low:
        return DatabaseBusyError(f"{path}: database is busy (another process held it past the "
                                 f"busy timeout): {text}")
    if code == sqlite3.SQLITE_FULL or "disk is full" in low or "database or disk is full" in low:
        return DiskFullError(f"{path}: the disk is full or the page budget is used up; "
                             f"nothing was written: {text}")
    if code == sqlite3.SQLITE_READONLY or "readonly" in low or "read-only" in low:
        return ReadOnlyError(f"{path}: cannot write: {text}")
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return DatabaseError(f"{path}: not a usable tradestore database: {text}")
    if "unable to open" in low:
        return DatabaseError(f"{path}: cannot open the database file: {text}")
    if "no such table" in low or "no such column" in low:
        return DatabaseError(f"{path}: the schema is not what this code expects: {text}")
    return DatabaseError(f"{path}: {text}")


@contextlib.contextmanager
def translated(path: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise translate(exc, path) from exc


def _bad_value(value: object) -> str | None:
    """Why SQLite cannot bind ``value`` (None when it can)."""
    if isinstance(value, int) and not isinstance(value, bool) \
            and not INT64[0] <= value <= INT64[1]:
        return "is too large: integers must fit in 64 bits (-2**63 to 2**63-1)"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid text (a lone surrogate); text must be valid Unicode"
    return None


def binding_error(exc: Exception, sql: str, params: Any) -> ValidationError:
    """Our error for a value SQLite could not bind (a 65-bit int, a lone surrogate,
    an unsupported type), naming the parameter and the value; nothing was written."""
    if isinstance(params, dict):
        items = list(params.items())
    elif isinstance(params, (list, tuple)):
        items = [(f"parameter {i}", v) for i, v in enumerate(params, start=1)]
    else:
        items = []
    for name, value in items:
        why = _bad_value(value)
        if why is None and isinstance(exc, sqlite3.ProgrammingError) \
                and not isinstance(value, (int, float, str, bytes, type(None))):
            why = f"has type {type(value).__name__}, which cannot be stored"
        if why:
            return ValidationError(f"{name}: {show(value)} {why}", field=name, value=value)
    if _bad_value(sql):
        return ValidationError(f"a name in the statement {show(sql)} is not valid text "
                               "(a lone surrogate); text must be valid Unicode",
                               field="sql", value=sql)
    return ValidationError(f"a value could not be stored ({' '.join(str(exc).split())}); "
                           "integers must fit in 64 bits and text must be valid Unicode")


def _is_binding(exc: Exception) -> bool:
    return isinstance(exc, (OverflowError, UnicodeEncodeError)) or (
        isinstance(exc, sqlite3.ProgrammingError) and "binding parameter" in str(exc))


def masked(sql: str, params: Any) -> Any:
    """``params`` as the echo shows them: setting values masked (see _SETTINGS_SQL)."""
    if not params or not _SETTINGS_SQL.search(sql):
        return params
    if isinstance(params, dict):
        if params.get("secret") == 0:  # explicitly made or kept not secret
            return params
        return {k: (MASK if k == "value" else v) for k, v in params.items()}
    if _WRITE_SQL.match(sql):
        return [MASK] * len(params)
    return params


def echo_setting(echo: bool | None = None) -> bool:
    """``echo`` if given, else TRADESTORE_SQL_ECHO / SQL_ECHO from the environment."""
    if echo is not None:
        if not isinstance(echo, bool):
            raise ValidationError(f"echo: {echo!r} must be True or False", field="echo",
                                  value=echo)
        return echo
    for name in ECHO_VARIABLES:
        raw = os.environ.get(name)
        if raw is None:
            continue
        word = raw.strip().lower()
        if word in ECHO_ON or word in ECHO_OFF:
            return word in ECHO_ON
        raise ValidationError(f"{name}: {raw!r} is not one of 1, true, yes, on, 0, false, "
                              "no, off", field=name, value=raw)
    return False


def sql_logger() -> logging.Logger:
    """The ``tradestore.sql`` logger, given a stderr handler at INFO when the
    application configured none (as SQLAlchemy's echo does)."""
    logger = logging.getLogger(SQL_LOGGER)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    if not logger.hasHandlers():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger.addHandler(handler)
    return logger


Echo = Callable[..., None]  # echo(sql, params, many=False): logs one statement


def _echoer(logger: logging.Logger) -> Echo:
    def echo(sql: str, params: Any, many: bool = False) -> None:
        text = " ".join(sql.split())
        if many:  # a bulk insert's first rows; all of them would flood the log
            shown = [masked(sql, p) for p in params[:ECHO_ROWS]]
            more = f" and {len(params) - ECHO_ROWS:,} more" if len(params) > ECHO_ROWS else ""
            logger.info("%s [executemany, %d rows] %r%s", text, len(params), shown, more)
        elif params:
            logger.info("%s %r", text, masked(sql, params))
        else:
            logger.info("%s", text)
    return echo


class Connection(sqlite3.Connection):
    """sqlite3's connection with two additions at the one place every statement
    passes: a value SQLite cannot bind raises ValidationError naming it (not
    OverflowError / UnicodeEncodeError), and ``echo`` (a callable, or None: off,
    one attribute test per statement) sees each statement with its parameters."""

    echo: Echo | None = None

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        if self.echo is not None:
            self.echo(sql, parameters)
        try:
            return super().execute(sql, parameters)
        except (OverflowError, UnicodeEncodeError, sqlite3.ProgrammingError) as exc:
            if not _is_binding(exc):
                raise
            raise binding_error(exc, sql, parameters) from None

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> sqlite3.Cursor:
        if self.echo is not None:
            seq_of_parameters = list(seq_of_parameters)
            self.echo(sql, seq_of_parameters, True)
        try:
            return super().executemany(sql, seq_of_parameters)
        except (OverflowError, UnicodeEncodeError, sqlite3.ProgrammingError) as exc:
            if not _is_binding(exc):
                raise
            rows = seq_of_parameters if isinstance(seq_of_parameters, (list, tuple)) else []
            for row in rows:
                error = binding_error(exc, sql, row)
                if error.field is not None:
                    raise error from None
            raise binding_error(exc, sql, ()) from None


def _create_private(path: Path) -> None:
    """Create a new database file with mode 0600 before SQLite opens it (SQLite gives
    the -wal and -shm files the main file's mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise path_error(path, exc) from None
        raise DatabaseError(f"{path}: cannot create the database file: {exc.strerror}") from None
    os.close(fd)


def check_busy_timeout(busy_timeout: Any) -> None:
    """The busy_timeout check of both engines: a finite number of seconds >= 0."""
    if (isinstance(busy_timeout, bool) or not isinstance(busy_timeout, (int, float))
            or not math.isfinite(busy_timeout) or busy_timeout < 0):
        raise ValidationError(f"busy_timeout: {busy_timeout!r} must be a number of seconds >= 0",
                              field="busy_timeout", value=busy_timeout)


def connect(path: str, *, readonly: bool = False, durability: str = "full",
            busy_timeout: float = 5.0) -> Connection:
    """Open ``path`` with our pragmas and functions; ``":memory:"`` works too.

    The journal mode is left alone: ``Database.use_wal()`` switches to WAL once the
    caller has checked that the file is ours (switching writes to the file).
    """
    check_sqlite_version()
    if durability not in DURABILITY:
        raise ValidationError(f"durability: {durability!r} is not one of full, normal",
                              field="durability", value=durability)
    check_busy_timeout(busy_timeout)
    memory = str(path) == ":memory:"
    try:
        return _connect(path, memory, readonly, durability, busy_timeout)
    except OSError as exc:  # a name too long for the file system, a folder we cannot read
        raise path_error(path, exc) from None


def _connect(path: str, memory: bool, readonly: bool, durability: str,
             busy_timeout: float) -> Connection:
    options: dict[str, Any] = dict(isolation_level=None, check_same_thread=False,
                                   timeout=busy_timeout, cached_statements=256)
    with translated(str(path)):
        if memory:
            conn = sqlite3.connect(":memory:", factory=Connection, **options)
        else:
            file = Path(path)
            if file.is_dir():
                raise DatabaseError(f"{path}: is a directory, not a database file")
            if readonly:
                if not file.exists():
                    raise DatabaseError(f"{path}: no such database file")
                real = file.resolve()
                if os.access(real, os.W_OK) and os.access(real.parent, os.W_OK):
                    # read-write but query_only: a read-only connection can never fold
                    # the WAL into the main file, so a reader that closes last would
                    # leave commits only in -wal (issue 14.6)
                    uri = f"file:{quote(str(real))}?mode=rw"
                else:
                    uri = f"file:{quote(str(real))}?mode=ro"
                    if not os.access(real.parent, os.W_OK) \
                            and not Path(f"{real}-wal").exists():
                        # SQLite cannot create the -shm file here; with no -wal every
                        # commit is in the main file, and no writer can start a WAL here
                        uri += "&immutable=1"
            else:
                _create_private(file)
                uri = f"file:{quote(str(file.resolve()))}?mode=rw"
            conn = sqlite3.connect(uri, uri=True, factory=Connection, **options)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            conn.execute(f"PRAGMA synchronous = {DURABILITY[durability]}")
            conn.execute("PRAGMA foreign_keys = ON")
            if readonly:
                conn.execute("PRAGMA query_only = ON")
            decimal_sql.register(conn)
        except BaseException:
            conn.close()
            raise
    return conn


def roll_back(conn: Any, depth: int) -> None:
    """Undo the transaction (depth 0) or its savepoint ``sp<depth>``: both engines."""
    if depth == 0:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    else:
        conn.execute(f"ROLLBACK TO sp{depth}")
        conn.execute(f"RELEASE sp{depth}")


class Database:
    """A connection shared by the threads of one bot, with nested transactions.

    Every use takes ``lock``; ``transaction()`` holds it from BEGIN to COMMIT, so a
    reader on another thread never sees half of a write made through this object.
    """

    clock = staticmethod(utc_now)  # ``db.clock = callable``: a fixed or simulated time

    def now(self) -> datetime:
        """The time the repositories stamp rows with (created_at, updated_at, ...): the
        wall clock unless ``clock`` is set (tests, the demo's simulated days)."""
        return self.clock()

    def __init__(self, path: str = ":memory:", *, readonly: bool = False,
                 durability: str = "full", busy_timeout: float = 5.0, echo: bool = False):
        self.path = str(path)
        self.readonly = readonly
        self.lock = threading.RLock()
        self.conn: Connection | None = connect(self.path, readonly=readonly, durability=durability,
                            busy_timeout=busy_timeout)
        if echo:
            self.conn.echo = _echoer(sql_logger())
        self.busy_timeout = busy_timeout
        self._quick_wait = False  # busy_timeout is QUICK_BUSY_MS (see _begin_immediate)
        self._wal = False  # use_wal() switched the file: the quick wait may stay set
        self._depth = 0
        self._undone = 0  # transactions (or savepoints) rolled back: see change_stamp
        self.engine = "sqlite"  # tradestore._core.pg.PgDatabase is the "postgresql" one

    def use_wal(self) -> None:
        """Switch the file to WAL (a no-op when it already is, for memory and read-only)."""
        if self.readonly or self.path == ":memory:":
            return
        deadline = time.monotonic() + self.busy_timeout
        with self.lock, translated(self.path):
            while True:
                try:
                    mode = self._connection().execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    break
                except sqlite3.OperationalError as exc:
                    # switching needs an exclusive lock, and SQLite does not wait for it
                    # while another process creates the store (its one long transaction)
                    if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY \
                            or time.monotonic() >= deadline:
                        raise
                    time.sleep(random.uniform(0.001, 0.01))
        if mode.lower() != "wal":
            raise DatabaseError(f"{self.path}: could not switch to WAL (journal mode {mode})")
        self._wal = True

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One atomic unit; nested calls become SAVEPOINTs of the outer one."""
        if self.readonly:
            raise ReadOnlyError(f"{self.path}: the store was opened read-only")
        with self.lock:
            conn = self._connection(writing=True)
            depth = self._depth
            with translated(self.path):
                if depth == 0:
                    self._begin_immediate(conn)
                else:
                    conn.execute(f"SAVEPOINT sp{depth}")
            self._depth += 1
            try:
                yield conn
            except sqlite3.Error as exc:
                self._depth = depth
                self._undo(depth)
                raise translate(exc, self.path) from exc
            except BaseException:
                self._depth = depth
                self._undo(depth)
                raise
            self._depth = depth
            try:
                conn.execute("COMMIT" if depth == 0 else f"RELEASE sp{depth}")
            except sqlite3.Error as exc:
                self._undo(depth)
                raise translate(exc, self.path) from exc

    def change_stamp(self, conn: Connection,
                     start: tuple[Any, ...] | None = None) -> tuple[Any, ...] | None:
        """Inside the outermost write transaction: a value that moves whenever the store
        changes, by another connection's commit (``PRAGMA data_version``), by any write
        of this one (``total_changes``, which a rollback never lowers) or by a rollback
        (counted here, a failed COMMIT included). A writer may keep what it read while
        the stamp it took at the end of its last transaction is the one it finds at the
        start of the next. None inside a nested transaction (the outer one may still
        roll back). ``start``: the stamp this transaction began with; no other commit
        can come while it holds the write lock, so data_version is not asked again.
        Not seen: pages replaced through this connection without SQL (the backup API
        into it, ``deserialize``); tradestore never does that to an open store."""
        if self._depth != 1:
            return None
        if start is not None:
            return start[0], start[1], conn.total_changes, self._undone
        return (conn, conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes,
                self._undone)

    def _begin_immediate(self, conn: Connection) -> None:
        """BEGIN IMMEDIATE, waiting up to busy_timeout for other writers.

        SQLite's own busy handler sleeps up to 100 ms between tries, so a waiting
        writer keeps losing the lock to writers that come back sooner. We retry with
        short jittered sleeps instead, so writers take turns. In a WAL file the quick
        wait stays set through the transaction (holding the write lock and a snapshot,
        no statement there waits; COMMIT takes no further lock) and until the next use
        outside one (``_connection``), so a bot that only writes sets it once; without
        WAL, COMMIT may wait for readers, so the whole wait is back before the block.
        """
        deadline = time.monotonic() + self.busy_timeout
        if not self._quick_wait:
            conn.execute(f"PRAGMA busy_timeout = {QUICK_BUSY_MS}")
            self._quick_wait = True
        delay = 0.001
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY \
                        or time.monotonic() >= deadline:
                    self._full_wait(conn)
                    raise
            time.sleep(random.uniform(0, delay))
            delay = min(delay * 2, 0.004)
        if not self._wal:
            self._full_wait(conn)

    def _full_wait(self, conn: Connection) -> None:
        """busy_timeout back to the store's whole wait (after the quick one)."""
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        self._quick_wait = False

    def _undo(self, depth: int) -> None:
        self._undone += 1
        if self.conn is None:  # closed inside the block: close() already rolled back
            return
        with contextlib.suppress(sqlite3.Error):
            roll_back(self.conn, depth)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        """The connection for a consistent read (one snapshot for the whole block); inside
        a transaction or an outer reading() it reads theirs (a second BEGIN would fail)."""
        with self.lock:
            conn = self._connection()
            with translated(self.path):
                if self._depth or conn.in_transaction:
                    yield conn
                    return
                conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("COMMIT")

    def query(self, sql: str, params: Any = ()) -> list[Any]:
        """All rows of one statement: a single statement reads one snapshot by itself,
        so no BEGIN/COMMIT around it."""
        with self.lock:
            try:  # (not ``translated``: a generator per call costs more than the read)
                return self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise translate(exc, self.path) from exc

    def query_one(self, sql: str, params: Any = ()) -> Any:
        with self.lock:
            try:
                cursor = self._connection().execute(sql, params)
                try:
                    return cursor.fetchone()
                finally:
                    cursor.close()  # ends the statement: no read snapshot is left open
            except sqlite3.Error as exc:
                raise translate(exc, self.path) from exc

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self.query_one(sql, params)
        return None if row is None else row[0]

    def _connection(self, writing: bool = False) -> Connection:
        """The open connection; outside a transaction it waits the whole busy_timeout
        again (a reader may meet a writer's exclusive moment, e.g. the last close).
        Callers hold ``lock``."""
        conn = self.require_open()
        if self._quick_wait and not writing and not self._depth:
            with translated(self.path):
                self._full_wait(conn)
        return conn

    def require_open(self) -> Connection:
        """The connection, untouched; StoreError once the store is closed."""
        if self.conn is None:
            raise StoreError(f"{self.path}: the store is closed")
        return self.conn

    def close(self) -> None:
        """Checkpoint the WAL into the main file, then close: the file alone is complete."""
        with self.lock:
            if self.conn is None:
                return
            conn, self.conn = self.conn, None
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if self.path != ":memory:":
                    # never wait for readers here: waiting would hold the write lock and
                    # stall every other writer; the last connection to close folds it in
                    # (readers too: theirs is a read-write connection in query_only mode)
                    conn.execute("PRAGMA busy_timeout = 0")
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass  # another process still reading: its last close checkpoints
            finally:
                conn.close()

    @property
    def closed(self) -> bool:
        return self.conn is None
