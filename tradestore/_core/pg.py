"""A PostgreSQL store behind the interface the repositories use on ``Database``.

The repositories keep their SQL as written for SQLite; ``translate_sql`` rewrites it
mechanically once per statement (``?`` -> ``%s``, ``:name`` -> ``%(name)s``, ``%`` ->
``%%``, ``COLLATE decimal`` dropped because NUMERIC compares numerically, ``LIMIT -1``
-> ``LIMIT ALL``). Values come back as SQLite gives them, so ``codec`` works
unchanged: NUMERIC as the text of its digits (``1.10`` stays ``1.10``) and
timestamptz as our ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` text (sessions run in UTC).

Writers: every write transaction takes one advisory lock (``WRITE_LOCK``) first, as
SQLite's BEGIN IMMEDIATE takes its write lock, so the read-modify-writes of a fill
(position, order totals, duplicate checks) never interleave; a wait past
``busy_timeout`` (``lock_timeout``) is ``DatabaseBusyError``.

Sessions: one, shared by a store's threads under an RLock; or with ``pool_size`` one per
thread from a psycopg-pool, held for a transaction, a reading() or one statement (the
block of ``db.lock``) and given back after, so that readers never wait for each other.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import re
import threading
import time
import types
from typing import Any, Iterator

from tradestore._core.codec import show, utc_now
from tradestore._core.db import (APPLICATION_ID, DURABILITY, _echoer, binding_error,
                                 check_busy_timeout, roll_back, sql_logger)
from tradestore._core.url import password_of
from tradestore.errors import (DatabaseBusyError, DatabaseError, DiskFullError, ReadOnlyError,
                               StoreError, ValidationError)

INSTALL_HINT = "pip install 'tradestore[postgres]'"
WRITE_LOCK = APPLICATION_ID  # pg_advisory_xact_lock key every write transaction takes
ENGINE = "postgresql"
LOCK_TIMEOUT_MAX_MS = 2 ** 31 - 1  # lock_timeout is an int32 of milliseconds
_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|::"""
                     r"""|\bIS\s+(?:NOT\s+)?(?:\?|:[A-Za-z_]\w*)"""
                     r"""|(?:\?|(?<!:):[A-Za-z_]\w*)(?:\s+IS\s+(?:NOT\s+)?NULL\b)?|%"""
                     r"""|\s+COLLATE\s+decimal\b|\bLIMIT\s+(?:-1\b|\?|:[A-Za-z_]\w*)"""
                     r"""|\bCAST\(\s*\w+\s+AS\s+BLOB\s*\)|\s+INDEXED\s+BY\s+\w+""", re.I)
NULL_TEST = "__null"  # suffix of the extra parameter a ":name IS NULL" test reads
# SQLite statement -> its PostgreSQL form, for the few that no mechanical rewrite can
# share; registered beside the SQLite constant by the module that owns it (per_engine)
PER_ENGINE: dict[str, str] = {}


# A time parameter that may be "" ("before every time": SQLite compares text), as a
# PostgreSQL time: "" is -infinity there. For the per-engine forms of such statements.
MAYBE_EMPTY_TIME = "coalesce(CAST(nullif(?, '') AS timestamptz), '-infinity')"


def per_engine(sqlite_sql: str, postgresql_sql: str) -> str:
    """Register the PostgreSQL form of a statement; returns the SQLite one, so the owner
    writes ``QUERY = per_engine(QUERY, QUERY_PG)`` beside the two constants."""
    PER_ENGINE[sqlite_sql] = postgresql_sql
    translate_sql.cache_clear()
    return sqlite_sql


@functools.lru_cache(maxsize=2048)
def translate_sql(sql: str) -> tuple[str, tuple[str, ...]]:
    """Our SQLite statement as PostgreSQL runs it (see the module's docstring), and the
    names whose NULL test reads a copy of the parameter.

    ``? IS NULL`` / ``:x IS NULL`` cannot type their parameter on PostgreSQL, so the test
    reads ``CAST(... AS text)``; a named one reads a copy (``x__null``), so that the
    parameter itself still takes its type from where it is compared (a time, a number).
    """
    sql = PER_ENGINE.get(sql, sql)
    copies: list[str] = []

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        first = token[0]
        if first in "'\"":
            return token.replace("%", "%%")
        if token.startswith("--") or token == "::":
            return token
        if token[:2].upper() == "IS":  # SQLite's IS / IS NOT of a value
            *words, value = token.split()
            holder = "%s" if value == "?" else f"%({value[1:]})s"
            return f"IS {'' if len(words) == 2 else 'NOT '}DISTINCT FROM {holder}"
        if first in "?:":
            name, _, test = token.partition(" ")
            if first == "?":
                holder = "%s"
            elif test:
                copies.append(name[1:])
                holder = f"%({name[1:]}{NULL_TEST})s"
            else:
                holder = f"%({name[1:]})s"
            return f"CAST({holder} AS text) {test.strip()}" if test else holder
        if token == "%":
            return "%%"
        if token.upper().startswith("CAST"):  # a text column's stored bytes
            return f"convert_to({token[5:].split()[0]}, 'UTF8')"
        if token.upper().startswith("LIMIT"):  # SQLite: a negative limit is no limit
            value = token[5:].strip()
            if value == "-1":
                return "LIMIT ALL"
            holder = "%s" if value == "?" else f"%({value[1:]})s"
            return f"LIMIT nullif(greatest({holder}, -1), -1)"
        return ""  # COLLATE decimal, INDEXED BY (SQLite's planner hint)
    text = _TOKENS.sub(swap, sql)
    return text, tuple(dict.fromkeys(copies))


# The open ends of a time window some queries bind as text ("0000" sorts before every
# stored time on SQLite, "9999" after): timestamptz's infinities here. Only parameters
# with these names (a symbol "9999" stays a symbol).
OPEN_ENDS = {"0000": "-infinity", "9999": "infinity"}
TIME_PARAMS = frozenset({"start", "end", "since", "until", "after", "before"})


def _nul_error(params: Any) -> ValidationError | None:
    """PostgreSQL text cannot hold NUL (SQLite's can): the parameter that holds one."""
    items = (params.items() if isinstance(params, dict) else
             ((f"parameter {i}", v) for i, v in enumerate(params or (), start=1)))
    for name, value in items:
        if isinstance(value, str) and "\x00" in value:
            return ValidationError(f"{name}: {show(value)} holds a NUL character, which a "
                                   "PostgreSQL store cannot keep in text", field=name,
                                   value=value)
    return None


def _with_copies(params: Any, copies: tuple[str, ...]) -> Any:
    if not isinstance(params, dict):
        return params
    if any(name in TIME_PARAMS and value in OPEN_ENDS for name, value in params.items()):
        params = {name: OPEN_ENDS[value] if name in TIME_PARAMS and value in OPEN_ENDS
                  else value for name, value in params.items()}
    if not copies:
        return params
    return {**params, **{name + NULL_TEST: params.get(name) for name in copies}}


def _scrub(text: str, secret: str | None) -> str:
    """``text`` without the password, nor any piece of it: libpq ends a password at its
    first '@' and may then quote the rest as the host name."""
    if not secret:
        return text
    for piece in sorted({secret, *secret.split("@")}, key=len, reverse=True):
        if len(piece) >= 2:
            text = text.replace(piece, "******")
    return text


def translate(exc: Exception, shown: str, secret: str | None = None) -> StoreError:
    """Our error for a psycopg error, with the masked URL in the message."""
    text = _scrub(" ".join(str(exc).split()), secret)
    pg_errors = driver().errors
    if isinstance(exc, (pg_errors.IntegrityError, pg_errors.DataError)):
        return ValidationError(f"{shown}: rejected by the schema: {text}")
    if isinstance(exc, (pg_errors.LockNotAvailable, pg_errors.QueryCanceled,
                        pg_errors.SerializationFailure, pg_errors.DeadlockDetected)):
        return DatabaseBusyError(f"{shown}: database is busy (another process held it past "
                                 f"the busy timeout): {text}")
    if isinstance(exc, (pg_errors.DiskFull, pg_errors.OutOfMemory)):
        return DiskFullError(f"{shown}: the disk is full; nothing was written: {text}")
    if isinstance(exc, (pg_errors.ReadOnlySqlTransaction, pg_errors.InsufficientPrivilege)):
        return ReadOnlyError(f"{shown}: cannot write: {text}")
    if isinstance(exc, (pg_errors.UndefinedTable, pg_errors.UndefinedColumn,
                        pg_errors.UndefinedFunction)):
        return DatabaseError(f"{shown}: the schema is not what this code expects: {text}")
    if isinstance(exc, pg_errors.OperationalError):
        return DatabaseError(f"{shown}: cannot use the database server: {text}")
    return DatabaseError(f"{shown}: {text}")


_driver: Any = None
_driver_lock = threading.Lock()


def driver() -> Any:
    """psycopg and our classes on it, loaded at the first PostgreSQL store (a SQLite
    user never pays for importing the driver); a StoreError says what to install."""
    global _driver
    with _driver_lock:
        if _driver is None:
            try:
                psycopg = importlib.import_module("psycopg")
            except ImportError:
                raise StoreError("a postgresql:// store needs the psycopg driver: "
                                 f"{INSTALL_HINT}") from None
            _driver = _build(psycopg)
    return _driver


def driver_errors() -> tuple[type[Exception], ...]:
    """psycopg's base error once the driver is loaded (nothing to catch before)."""
    return () if _driver is None else (_driver.Error,)


def _build(psycopg: Any) -> Any:
    from_loader = importlib.import_module("psycopg.adapt").Loader
    idle = psycopg.pq.TransactionStatus.IDLE

    class NumericText(from_loader):  # type: ignore[misc,valid-type]
        """NUMERIC as the text of its digits, as SQLite stores money."""

        def load(self, data: Any) -> str:
            return bytes(data).decode()

    class UtcText(from_loader):  # type: ignore[misc,valid-type]
        """timestamptz (UTC session, ISO style) as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""

        def load(self, data: Any) -> str:
            text = bytes(data).decode()  # '2024-01-02 03:04:05.5+00'
            whole, _, fraction = text[11:-3].partition(".")
            return f"{text[:10]}T{whole}.{fraction.ljust(6, '0')}Z"

    class BoolAsInt(importlib.import_module("psycopg.adapt").Dumper):  # type: ignore[misc]
        """A Python bool as SQLite binds it: the integer 1 or 0 (our flags are integers)."""

        oid = psycopg.adapters.types["int2"].oid

        def dump(self, obj: Any) -> bytes:
            return b"1" if obj else b"0"

    class Cursor(psycopg.Cursor):  # type: ignore[misc]  # psycopg: the driver, loaded late
        """A psycopg cursor that takes our SQL and knows ``lastrowid``."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            echo = getattr(self.connection, "echo", None)
            if echo is not None:
                echo(query, params or ())
            if isinstance(query, str):
                sql, copies = translate_sql(query)
                params = _with_copies(params, copies)
            else:
                sql = query
            try:
                return super().execute(sql, params if params is not None else (), **kwargs)
            except (psycopg.DataError, psycopg.ProgrammingError, UnicodeEncodeError,
                    OverflowError) as exc:
                error = _nul_error(params) or binding_error(exc, query, params or ())
                if error.field is not None:
                    raise error from None
                raise

        @property
        def lastrowid(self) -> Any:
            """The id the last INSERT gave (identity columns draw from sequences)."""
            with self.connection.cursor() as cursor:
                return cursor.execute("SELECT lastval()").fetchone()[0]

    class Connection(psycopg.Connection):  # type: ignore[misc]  # psycopg: the driver, loaded late
        """psycopg's connection with what the repositories call on sqlite3's."""

        echo = None

        def executemany(self, query: str, params_seq: Any) -> Any:
            rows = list(params_seq)
            if self.echo is not None:
                self.echo(query, rows, True)
            sql, copies = translate_sql(query)
            cursor = self.cursor()
            try:
                cursor.executemany(sql, [_with_copies(row, copies) for row in rows])
            except psycopg.DataError:
                for row in rows:
                    error = _nul_error(row)
                    if error is not None:
                        raise error from None
                raise
            return cursor

        def run_script(self, script: str) -> None:
            """Several statements as written (migrations): no placeholders, no rewrite."""
            with psycopg.Cursor(self) as cursor:
                cursor.execute(script)

        @property
        def in_transaction(self) -> bool:
            return bool(self.info.transaction_status != idle)

    return types.SimpleNamespace(psycopg=psycopg, errors=psycopg.errors, Error=psycopg.Error,
                                 Connection=Connection, Cursor=Cursor, NumericText=NumericText,
                                 UtcText=UtcText, BoolAsInt=BoolAsInt, idle=idle)


def lock_timeout_ms(busy_timeout: float) -> int:
    """busy_timeout as lock_timeout: at least 1 ms (0 there means wait forever, the
    opposite of SQLite's 0: fail at once), at most the setting's int32 limit."""
    return min(max(1, int(busy_timeout * 1000)), LOCK_TIMEOUT_MAX_MS)


SESSION_OPTIONS = dict(autocommit=True, application_name="tradestore")  # we send BEGIN
POOL_SIZE_MAX = 10_000  # a pool_size above any server's max_connections is a typo
POOL_WAIT_MIN = 5.0  # seconds a thread may wait for a pool's session: time to open one


def configure(conn: Any, *, readonly: bool, durability: str, busy_timeout: float,
              echo: Any = None) -> None:
    """Our loaders, dumper and settings (UTC, ISO dates, lock_timeout, durability) on a
    new session: the one of ``connect`` and each of a pool's."""
    pg = driver()
    conn.adapters.register_loader("numeric", pg.NumericText)
    conn.adapters.register_loader("timestamptz", pg.UtcText)
    conn.adapters.register_dumper(bool, pg.BoolAsInt)
    settings = ["SET TIME ZONE 'UTC'", "SET DateStyle = 'ISO, YMD'",
                f"SET lock_timeout = {lock_timeout_ms(busy_timeout)}",
                f"SET synchronous_commit = {'on' if durability == 'full' else 'off'}"]
    if readonly:
        settings.append("SET default_transaction_read_only = on")
    conn.run_script("; ".join(settings))
    if echo is not None:
        conn.echo = echo


def connect(url: str, shown: str, *, readonly: bool, durability: str,
            busy_timeout: float, echo: Any = None) -> Any:
    """A session on ``url``: autocommit (we send BEGIN ourselves), UTC, our loaders."""
    pg = driver()
    if durability not in DURABILITY:
        raise ValidationError(f"durability: {durability!r} is not one of full, normal",
                              field="durability", value=durability)
    check_busy_timeout(busy_timeout)
    secret = password_of(url)
    try:
        conn = pg.Connection.connect(url, cursor_factory=pg.Cursor, **SESSION_OPTIONS)
    except pg.Error as exc:
        raise translate(exc, shown, secret) from None
    except Exception as exc:  # a URL libpq cannot parse: its message may quote the URL
        raise ValidationError(f"url: {shown!r} is not a usable PostgreSQL URL: "
                              f"{_scrub(str(exc), secret)}", field="url", value=shown) from None
    try:
        configure(conn, readonly=readonly, durability=durability, busy_timeout=busy_timeout,
                  echo=echo)
    except pg.Error as exc:
        conn.close()
        raise translate(exc, shown, secret) from None
    return conn


def pool_module() -> Any:
    """psycopg-pool (``ConnectionPool``, its errors); a StoreError says what to install."""
    try:
        return importlib.import_module("psycopg_pool")
    except ImportError:
        raise StoreError("pool_size needs the psycopg-pool package: "
                         f"{INSTALL_HINT}") from None


class _Session(threading.local):
    """A thread's session of a pool: held from the outermost ``db.lock`` on, given back
    when it ends; ``depth`` counts its open transaction's levels."""

    conn: Any = None
    depth = 0
    holds = 0


class _PoolHold:
    """``db.lock`` of a pooled store: the calling thread's own session for the block
    (other threads use theirs), so readers never wait for each other; writers still
    serialise on the write lock every write transaction takes."""

    def __init__(self, db: PgDatabase, pool: Any, size: int) -> None:
        self.db, self.pool, self.size = db, pool, size
        self.wait = max(db.busy_timeout, POOL_WAIT_MIN)
        self.errors = pool_module()

    def __enter__(self) -> Any:
        session = self.db._local
        if session.holds == 0:
            if self.db.closed:
                raise StoreError(f"{self.db.path}: the store is closed")
            try:
                session.conn = self.pool.getconn(timeout=self.wait)
            except self.errors.PoolClosed:
                raise StoreError(f"{self.db.path}: the store is closed") from None
            except self.errors.PoolTimeout:
                raise DatabaseBusyError(
                    f"{self.db.path}: database is busy (no session of the pool of "
                    f"{self.size} came free, or could be opened within {self.wait:g} s)") from None
        session.holds += 1
        return session.conn

    def __exit__(self, *exc: Any) -> None:
        session = self.db._local
        session.holds -= 1
        if session.holds == 0:
            conn, session.conn = session.conn, None
            self.pool.putconn(conn)  # a closed pool closes it


class PgDatabase:
    """The PostgreSQL counterpart of ``Database``: one session shared by a bot's
    threads (or, with ``pool_size``, one per thread from a pool), nested transactions
    through SAVEPOINTs, our errors."""

    engine = ENGINE
    clock = staticmethod(utc_now)  # as Database.clock: a fixed or simulated time

    def now(self) -> Any:
        return self.clock()

    def __init__(self, url: str, *, shown: str, readonly: bool = False,
                 durability: str = "full", busy_timeout: float = 5.0,
                 echo: bool = False, pool_size: int | None = None) -> None:
        self.url = url
        self.path = shown  # what messages print: the URL with its password masked
        self.readonly = readonly
        self.busy_timeout = busy_timeout
        self._secret = password_of(url)
        self.pg = driver()
        self._pool: Any = None
        self._closed = False
        options: dict[str, Any] = dict(readonly=readonly, durability=durability,
                                       busy_timeout=busy_timeout,
                                       echo=_echoer(sql_logger()) if echo else None)
        # the session and transaction depth of the caller: the one shared session, or
        # (pool) the calling thread's while it holds ``lock``
        self._local: Any
        self.lock: Any
        if pool_size is None:
            self.lock = threading.RLock()
            self._local = types.SimpleNamespace(conn=connect(url, shown, **options), depth=0)
            return
        pool = pool_module()  # before connecting: a missing package is said first
        # one session first: a bad URL or password fails now with connect's message
        # (a pool only logs its failed attempts and times out later)
        connect(url, shown, **options).close()
        self._pool = pool.ConnectionPool(
            url, connection_class=self.pg.Connection, min_size=1, max_size=pool_size,
            kwargs=dict(cursor_factory=self.pg.Cursor, **SESSION_OPTIONS),
            configure=functools.partial(configure, **options), name="tradestore", open=True)
        self._local = _Session()
        self.lock = _PoolHold(self, self._pool, pool_size)

    @property
    def conn(self) -> Any:
        """The caller's session: the shared one (None once closed), or with a pool the
        one this thread holds inside ``lock`` (None outside)."""
        return self._local.conn

    @conn.setter
    def conn(self, value: Any) -> None:
        self._local.conn = value

    def __repr__(self) -> str:
        return f"PgDatabase({self.path!r})"

    def use_wal(self) -> None:
        """SQLite's journal switch; a server has its own write-ahead log."""

    @contextlib.contextmanager
    def translated(self) -> Iterator[None]:
        try:
            yield
        except self.pg.Error as exc:
            raise translate(exc, self.path, self._secret) from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """One atomic unit; nested calls become SAVEPOINTs of the outer one."""
        if self.readonly:
            raise ReadOnlyError(f"{self.path}: the store was opened read-only")
        with self.lock:
            conn = self._connection()
            session = self._local
            depth = session.depth
            with self.translated():
                if depth == 0:
                    self._begin_write(conn)
                else:
                    conn.execute(f"SAVEPOINT sp{depth}")
            session.depth += 1
            try:
                yield conn
            except BaseException as exc:
                session.depth = depth
                self._undo(depth)
                if isinstance(exc, self.pg.Error):
                    raise translate(exc, self.path, self._secret) from exc
                raise
            session.depth = depth
            try:
                conn.execute("COMMIT" if depth == 0 else f"RELEASE sp{depth}")
            except self.pg.Error as exc:
                self._undo(depth)
                raise translate(exc, self.path, self._secret) from exc

    @staticmethod
    def change_stamp(conn: Any, start: Any = None) -> None:
        """Always None: PostgreSQL has no cheap "nothing changed" signal, so a writer
        reads afresh in every transaction (``_core.db.Database.change_stamp``)."""
        return None

    def _begin_write(self, conn: Any) -> None:
        """BEGIN and the writers' lock; a deadlock or serialization failure at this
        point (nothing done yet) is retried until busy_timeout."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            conn.execute("BEGIN")
            try:
                conn.execute("SELECT pg_advisory_xact_lock(%s)" % WRITE_LOCK)
                return
            except (self.pg.errors.SerializationFailure, self.pg.errors.DeadlockDetected):
                conn.execute("ROLLBACK")
                if time.monotonic() >= deadline:
                    raise
            except BaseException:
                with contextlib.suppress(self.pg.Error):
                    conn.execute("ROLLBACK")
                raise

    def _undo(self, depth: int) -> None:
        if self.conn is None or self.conn.closed:
            return
        with contextlib.suppress(self.pg.Error):
            roll_back(self.conn, depth)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        """The connection for a consistent read (one snapshot for the whole block); inside
        a transaction or an outer reading() it reads theirs (a COMMIT here would end it)."""
        with self.lock:
            conn = self._connection()
            with self.translated():
                if self._local.depth or conn.in_transaction:
                    yield conn
                    return
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    yield conn
                finally:
                    with contextlib.suppress(self.pg.Error):
                        conn.execute("ROLLBACK" if conn.info.transaction_status
                                     == self.pg.psycopg.pq.TransactionStatus.INERROR
                                     else "COMMIT")

    def query(self, sql: str, params: Any = ()) -> list[Any]:
        with self.lock, self.translated():
            return self._connection().execute(sql, params).fetchall()  # type: ignore

    def query_one(self, sql: str, params: Any = ()) -> Any:
        with self.lock, self.translated():
            return self._connection().execute(sql, params).fetchone()

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self.query_one(sql, params)
        return None if row is None else row[0]

    def require_open(self) -> Any:
        """The connection (None between a pool's sessions); StoreError once closed."""
        if self._closed:
            raise StoreError(f"{self.path}: the store is closed")
        return self.conn

    def _connection(self) -> Any:
        self.require_open()
        if self.conn is None:  # a pool's session exists only inside db.lock
            raise StoreError(f"{self.path}: a pooled session is used outside db.lock")
        return self.conn

    def close(self) -> None:
        if self._pool is not None:  # sessions held by other threads close when given back
            self._closed = True
            self._pool.close()
            return
        with self.lock:
            if self._closed:
                return
            self._closed = True
            conn, self.conn = self.conn, None
            with contextlib.suppress(self.pg.Error):
                conn.close()

    @property
    def closed(self) -> bool:
        return self._closed
