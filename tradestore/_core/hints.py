"""Names for what the public API accepts, so that signatures read as documentation.

These are what a caller may pass; the converters in ``codec`` still check every value
at run time (a hostile value is a ValidationError naming the field, whatever its type).
"""

from __future__ import annotations

import datetime as _dt
import os
from decimal import Decimal
from typing import Any, Callable, ContextManager, Iterable, Mapping, Protocol, TypeAlias

# money and quantities: a float is taken through its shortest repr (0.1 -> Decimal("0.1"))
Amount: TypeAlias = Decimal | int | float | str
# a moment: aware or naive (taken as UTC) datetime, a date (its midnight UTC), ISO-8601 text
Moment: TypeAlias = _dt.datetime | _dt.date | str
# a span of days back from now (or from ``until``), int or float; None means all time
Days: TypeAlias = float | None
# deposits and withdrawals recorded elsewhere: (time, signed amount) pairs
Flows: TypeAlias = Iterable[tuple[Moment, Amount]]
# a JSON object (metadata, details, configs): stored as canonical text
JSONObject: TypeAlias = Mapping[str, Any]
# a file system path
PathLike: TypeAlias = str | os.PathLike[str]
# marks for valuing open positions: {symbol: price} or {(exchange, symbol): price}
Marks: TypeAlias = Mapping[Any, Amount]  # keys: a symbol, or (exchange, symbol)


class Connection(Protocol):
    """What the repositories use of a connection: ``sqlite3.Connection``, or the
    PostgreSQL engine's (``tradestore._core.pg``), which takes the same SQL."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


class Engine(Protocol):
    """What the repositories use of a store's database: ``_core.db.Database`` (SQLite)
    or ``_core.pg.PgDatabase`` (PostgreSQL), which take the same SQL."""

    path: str
    readonly: bool
    busy_timeout: float
    engine: str
    clock: Callable[[], Any]  # what now() reads: set it for a fixed or simulated time
    conn: Any  # the open connection (None once closed); _connection() checks it

    @property
    def lock(self) -> ContextManager[Any]: ...

    @property
    def closed(self) -> bool: ...

    def now(self) -> Any: ...

    def transaction(self) -> ContextManager[Any]: ...

    def reading(self) -> ContextManager[Any]: ...

    def change_stamp(self, conn: Any,
                     start: tuple[Any, ...] | None = None) -> tuple[Any, ...] | None: ...

    def query(self, sql: str, params: Any = ...) -> list[Any]: ...

    def query_one(self, sql: str, params: Any = ...) -> Any: ...

    def scalar(self, sql: str, params: Any = ...) -> Any: ...

    def use_wal(self) -> None: ...

    def close(self) -> None: ...

    def _connection(self) -> Any: ...

    def require_open(self) -> Any: ...


# The repositories one layer asks of another above it: the record and the state sit below
# the books (tradestore.books), so they name what they use as protocols. The checks
# (require, require_active) take no connection: they read through the store's Engine,
# which inside the caller's transaction is that transaction's connection.


class AccountBook(Protocol):
    """What other layers ask of ``repo.accounts`` (``books.accounts.AccountStore``):
    fills, orders, funding and snapshots whether a name may take them; balances the
    account's currency and funding, on the caller's connection."""

    def require(self, name: str) -> str: ...

    def base_currency(self, conn: Connection, name: str) -> str | None: ...

    def funded(self, conn: Connection, name: str,
               at: str | None = None) -> tuple[Any, ...] | None: ...


class InstrumentBook(Protocol):
    """What fills and orders ask of ``repo.instruments``
    (``books.instruments.InstrumentStore``)."""

    def require_active(self, symbol: str) -> str: ...


class KeyReplay(Protocol):
    """What the record's writers (``TradeStore``, ``FundingStore``) receive of the ledger
    (``record.ledger.Ledger``), which sits above them: it reads and writes their tables
    through their own functions. The stored time of the newest fill or payment a key
    (account, exchange, symbol) applied (a new fill before it is late), whether a new
    payment at ``stamp`` (stored time) is late, and the replay of a key from ``point``
    (stored time, fill id) inside the caller's transaction."""

    def newest_applied(self, conn: Connection, key: tuple[str, str, str]) -> str | None: ...

    def payment_is_late(self, conn: Connection, key: tuple[str, str, str],
                        stamp: str) -> bool: ...

    def replay(self, conn: Connection, key: tuple[str, str, str], point: tuple[Any, int],
               now: str) -> None: ...


class Facade(Protocol):
    """What code below the facade (``books.balance``, ``analytics``, ``ops``) uses of a
    ``TradeRepo``, which sits above it and so is not imported there. Each layer's own
    protocol adds the repositories and calls it uses (``books.balance.BooksFacade``,
    ``analytics.facade.AnalyticsFacade``, ``ops.facade.OpsFacade``); members are
    read-only, so that TradeRepo's plain attributes satisfy them."""

    @property
    def db(self) -> Engine: ...

    @property
    def path(self) -> str: ...

    @property
    def store_id(self) -> str | None: ...

    def transaction(self) -> ContextManager[Any]: ...
