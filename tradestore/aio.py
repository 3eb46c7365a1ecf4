"""``AsyncTradeRepo``: the whole ``TradeRepo`` API as coroutines for asyncio bots.

Every call runs on ONE dedicated worker thread, which creates the ``TradeRepo``
and is the only thread that ever uses it; calls run one after another in the
order they were made, and the event loop never blocks on the store (a SQLite file
or a PostgreSQL server: ``AsyncTradeRepo("postgresql://...")``).

Cancelling an ``await`` abandons the wait, not the work: a call once made runs to
completion (its transaction commits or rolls back) on the worker, so a cancelled
task never leaves a transaction half-open. ``close()`` runs after every call
already made and waits for them.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterable, Iterator, TypeVar

from tradestore._core.codec import show, to_path
from tradestore._core.hints import PathLike
from tradestore._core.url import SQLITE, parse_target
from tradestore.errors import StoreError, ValidationError
from tradestore.repo import TradeRepo

T = TypeVar("T")
PAGE = 500
# Not coroutines: grouping needs the worker (use ``run``), close/inspect are ours.
NOT_PROXIED = frozenset({"transaction", "close", "inspect"})
# Generator methods: async iterators whose pages are fetched on the worker.
STREAMED = frozenset({"iter_trades"})


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned call's outcome so asyncio does not report it as lost."""
    if not future.cancelled():
        future.exception()


# ---- generated from TradeRepo's public methods by tests/test_aio_types.py (run it as a
# script to rewrite this block): what _add_methods() makes at import, for type checkers
# and IDEs. Edit repo.py, then regenerate; the test fails while the two differ.
if TYPE_CHECKING:
    from tradestore.repo import (Amount, Any, BackupCheck, BotState, datetime, Days, Decimal,
                                 FillOrder, GroupPerformance, HistoryEntry, Iterable, Iterator,
                                 JSONObject, Mapping, MarkedPosition, Marks, Moment, Order, Path,
                                 PathLike, PerformanceMetrics, PortfolioSnapshot, Position,
                                 RoundTripFill, StateVersion, TradeData, TradeStatistics)

    class _Coroutines:
        """TradeRepo's public methods as AsyncTradeRepo has them."""

        async def migrate(self, target: int | str | None = None, *, force: bool = False,
                          extra: bool = False) -> list[int]: ...
        async def migration_sql(self, target: int | str | None = None, *,
                                extra: bool = False) -> str: ...
        async def migration_history(self, *, extra: bool = False) -> list[HistoryEntry]: ...
        async def table_counts(self) -> dict[str, int]: ...
        async def status(self) -> dict[str, Any]: ...
        async def check(self) -> list[str]: ...
        async def save_trade(self, trade: TradeData | Mapping[str, Any]) -> int: ...
        async def save_trades(self,
                              trades: Iterable[TradeData | Mapping[str, Any]]) -> list[int]: ...
        async def get_trade(self, trade_id: int) -> TradeData | None: ...
        async def get_trade_history(self, symbol: str | None = None, days: Days = 30, *,
                                    since: Moment | None = None, until: Moment | None = None,
                                    strategy: str | None = None, account: str | None = None,
                                    exchange: str | None = None, limit: int | None = None,
                                    offset: int = 0, newest_first: bool = False,
                                    include_void: bool = False, side: str | None = None,
                                    order_by: FillOrder = "time") -> list[TradeData]: ...
        def iter_trades(self, symbol: str | None = None, days: Days = 30, *,
                        since: Moment | None = None, until: Moment | None = None,
                        strategy: str | None = None, account: str | None = None,
                        exchange: str | None = None, limit: int | None = None, offset: int = 0,
                        newest_first: bool = False, include_void: bool = False,
                        side: str | None = None,
                        order_by: FillOrder = "time") -> WorkerIterator[TradeData]: ...
        async def get_position(self, symbol: str, account: str = "default",
                               exchange: str | None = None) -> Position | None: ...
        async def get_open_positions(self, account: str | None = None,
                                     exchange: str | None = None) -> list[Position]: ...
        async def void_trade(self, trade_id: int, reason: str) -> TradeData: ...
        async def derived_problems(self) -> list[str]: ...
        async def rebuild(self) -> list[str]: ...
        async def get_closed_positions(self, symbol: str | None = None, days: Days = None, *,
                                       account: str | None = None, exchange: str | None = None,
                                       since: Moment | None = None, until: Moment | None = None,
                                       limit: int | None = None) -> list[Position]: ...
        async def record_funding(self, symbol: str, amount: Amount, timestamp: Moment | None = None,
                                 *, exchange: str = "", account: str = "default",
                                 external_id: str | None = None, currency: str | None = None,
                                 metadata: JSONObject | None = None) -> int: ...
        async def save_ccxt_funding(self, entries: Iterable[Mapping[str, Any]], *, exchange: str,
                                    account: str = "default") -> list[int]: ...
        async def get_round_trip_fills(self, position_id: int) -> list[RoundTripFill]: ...
        async def mark_to_market(self, marks: Marks, *, account: str | None = None,
                                 exchange: str | None = None) -> list[MarkedPosition]: ...
        async def portfolio_value(self, account: str = "default",
                                  marks: Marks | None = None) -> dict[str, Decimal]: ...
        async def create_order(self, symbol: str, side: str, order_type: str, quantity: Amount, *,
                               price: Amount | None = None, stop_price: Amount | None = None,
                               external_id: str | None = None, exchange: str = "",
                               strategy: str | None = None, account: str = "default",
                               metadata: JSONObject | None = None,
                               status: str = "PENDING") -> Order: ...
        async def record_fill(self, order_id: int, quantity: Amount, price: Amount, *,
                              fees: Amount = 0, external_id: str | None = None,
                              timestamp: Moment | None = None, fee_currency: str | None = None,
                              metadata: JSONObject | None = None,
                              pnl: Amount | None = None) -> int: ...
        async def get_order(self, order_id: int) -> Order: ...
        async def get_order_by_external_id(self, exchange: str,
                                           external_id: str) -> Order | None: ...
        async def get_open_orders(self, symbol: str | None = None) -> list[Order]: ...
        async def get_recent_orders(self, limit: int = 50) -> list[Order]: ...
        async def update_order_status(self, order_id: int, status: str,
                                      reason: str | None = None) -> Order: ...
        async def cancel_order(self, order_id: int, reason: str | None = None) -> Order: ...
        async def save_bot_state(self, state: BotState | Mapping[str, Any], *,
                                 bot: str = "default") -> int: ...
        async def load_bot_state(self, version: int | None = None, *, bot: str = "default",
                                 strict: bool = False) -> BotState | None: ...
        async def list_bot_states(self, bot: str = "default") -> list[StateVersion]: ...
        async def rollback_bot_state(self, version: int, *, bot: str = "default") -> int: ...
        async def prune_bot_states(self, keep: int, *, bot: str = "default") -> int: ...
        async def verify_bot_states(self) -> list[StateVersion]: ...
        async def save_portfolio_snapshot(self, total_value: Amount | None = None, *,
                                          cash: Amount | None = None,
                                          positions: JSONObject | None = None,
                                          balances: JSONObject | None = None,
                                          timestamp: Moment | None = None, account: str = "default",
                                          marks: Marks | None = None) -> int: ...
        async def get_portfolio_value_history(self, days: Days = 30, *, account: str = "default",
                                              since: Moment | None = None,
                                              until: Moment | None = None) -> list[tuple[datetime, Decimal]]: ...
        async def get_portfolio_snapshots(self, days: Days = 30, *, account: str = "default",
                                          since: Moment | None = None,
                                          until: Moment | None = None) -> list[PortfolioSnapshot]: ...
        async def latest_portfolio_snapshot(self,
                                            account: str = "default") -> PortfolioSnapshot | None: ...
        async def get_statistics(self, days: Days = 30, *, account: str | None = None,
                                 strategy: str | None = None, symbol: str | None = None,
                                 exchange: str | None = None, currency: str | None = None,
                                 since: Moment | None = None,
                                 until: Moment | None = None) -> TradeStatistics: ...
        async def get_statistics_by_currency(self, days: Days = 30, *, account: str | None = None,
                                             strategy: str | None = None, symbol: str | None = None,
                                             exchange: str | None = None,
                                             currency: str | None = None,
                                             since: Moment | None = None,
                                             until: Moment | None = None) -> dict[str, TradeStatistics]: ...
        async def calculate_performance_metrics(self, days: Days = 30, *, account: str = "default",
                                                periods_per_year: int = 365,
                                                risk_free_rate: float = 0,
                                                since: Moment | None = None,
                                                until: Moment | None = None,
                                                flows: Iterable[tuple[Moment, Amount]] | None = None,
                                                currency: str | None = None,
                                                statistics: bool = True,
                                                benchmark: str | Iterable[tuple[Moment, Amount]] | None = None,
                                                benchmark_exchange: str = "") -> PerformanceMetrics: ...
        async def get_strategy_performance(self, days: Days = None, *, account: str | None = None,
                                           strategy: str | None = None, symbol: str | None = None,
                                           exchange: str | None = None, currency: str | None = None,
                                           since: Moment | None = None,
                                           until: Moment | None = None) -> list[GroupPerformance]: ...
        async def get_symbol_performance(self, days: Days = None, *, account: str | None = None,
                                         strategy: str | None = None, symbol: str | None = None,
                                         exchange: str | None = None, currency: str | None = None,
                                         since: Moment | None = None,
                                         until: Moment | None = None) -> list[GroupPerformance]: ...
        async def backup(self, dest: PathLike, *, overwrite: bool = False,
                         verify: BackupCheck = "quick") -> Path: ...
        async def save_ccxt_trades(self, trades: Iterable[Mapping[str, Any]], *, exchange: str,
                                   fee_prices: Mapping[str, Amount] | None = None) -> list[int]: ...
else:
    _Coroutines = object
# ---- end of the generated block


class AsyncTradeRepo(_Coroutines):
    """``async with AsyncTradeRepo("trades.db") as repo: await repo.save_trade(t)``.

    Takes the same arguments as ``TradeRepo``. ``await repo.run(fn, *args)`` runs
    ``fn(trade_repo, *args)`` on the worker: several calls in one transaction
    (``lambda r: ...`` using ``with r.transaction():``) or anything not wrapped.
    ``repo.iter_trades(...)`` is an async iterator (pages fetched on the worker).
    ``repo.trades``, ``repo.orders``, ... are proxies whose methods are coroutines.
    """

    def __init__(self, path: PathLike | None = None, *, readonly: bool = False,
                 durability: str = "full", busy_timeout: float = 5.0, migrate: bool = True,
                 echo: bool | None = None, extra_migrations: PathLike | None = None,
                 pool_size: int | None = None):
        # a path, sqlite:///path or postgresql://... as TradeRepo takes it; None reads
        # $DATABASE_URL, then trades.db
        target = parse_target(path)
        if target.engine == SQLITE:
            to_path(target.location, "path")  # refuses bytes, "", NUL and lone surrogates
        self._location = path
        self.path = target.shown  # what messages and repr print: a password masked
        self._options: dict[str, Any] = dict(
            readonly=readonly, durability=durability, busy_timeout=busy_timeout,
            migrate=migrate, echo=echo, extra_migrations=extra_migrations, pool_size=pool_size)
        self._executor: ThreadPoolExecutor | None = None
        self._repo: TradeRepo | None = None
        self._closing = False

    # ------------------------------------------------------------ life cycle
    async def open(self) -> AsyncTradeRepo:
        """Open (and migrate) the store on the worker thread; ``async with`` calls it."""
        if self._repo is not None:
            return self
        if self._closing:
            raise StoreError(f"{self.path}: the store is closed")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tradestore-aio")
        try:
            self._repo = await self._submit(functools.partial(
                TradeRepo, self._location, **self._options))
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        return self

    async def close(self) -> None:
        """Close after every call already made has finished (they are waited for)."""
        executor, repo = self._executor, self._repo
        if executor is None or self._closing:
            return
        self._closing = True
        finished = False
        try:
            if repo is not None:
                await self._submit(repo.close, _allow_closing=True)
            finished = True
        finally:
            self._repo = None
            self._executor = None
            executor.shutdown(wait=finished)  # queued calls still run if we were cancelled

    async def __aenter__(self) -> AsyncTradeRepo:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __await__(self) -> Any:
        return self.open().__await__()

    @property
    def closed(self) -> bool:
        return self._repo is None

    def __repr__(self) -> str:
        return f"AsyncTradeRepo({show(self.path)})"

    # ------------------------------------------------------------ running on the worker
    async def _submit(self, fn: Callable[..., T], *args: Any, _allow_closing: bool = False,
                      **kwargs: Any) -> T:
        executor = self._executor
        if executor is None or (self._closing and not _allow_closing):
            raise StoreError(f"{self.path}: the store is closed (or not opened: use "
                             "'async with AsyncTradeRepo(...)' or 'await repo.open()')")
        try:
            work = executor.submit(fn, *args, **kwargs)
        except RuntimeError:
            raise StoreError(f"{self.path}: the store is closed") from None
        result = asyncio.wrap_future(work)
        try:
            return await asyncio.shield(result)
        except asyncio.CancelledError:
            result.add_done_callback(_consume)  # the call still runs to completion
            raise

    def _trade_repo(self) -> TradeRepo:
        if self._repo is None:
            raise StoreError(f"{self.path}: the store is closed (or not opened)")
        return self._repo

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(trade_repo, *args, **kwargs)`` on the worker thread; returns its result."""
        if not callable(fn):
            raise ValidationError(f"fn: {show(fn)} is not callable (give a function taking the "
                                  "TradeRepo)", field="fn", value=fn)
        repo = self._trade_repo()
        return await self._submit(fn, repo, *args, **kwargs)

    async def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        repo = self._trade_repo()
        return await self._submit(getattr(repo, name), *args, **kwargs)

    def __getattr__(self, name: str) -> RepositoryProxy:
        """``repo.trades``, ``repo.orders``, ...: a proxy of that repository."""
        if name.startswith("_"):
            raise AttributeError(name)
        repo = self.__dict__.get("_repo")
        target = getattr(repo, name, None) if repo is not None else None
        if target is None or callable(target) or not hasattr(target, "db"):
            raise AttributeError(f"{type(self).__name__!r} has no attribute {show(name)}"
                                 + ("" if repo is not None else " (open the store first)"))
        return RepositoryProxy(self, name)


class RepositoryProxy:
    """``repo.trades`` of an AsyncTradeRepo: each method a coroutine on the worker;
    generator methods (``iterate``) become async iterators."""

    def __init__(self, owner: AsyncTradeRepo, attribute: str):
        self._owner, self._attribute = owner, attribute

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        target = getattr(self._owner._trade_repo(), self._attribute)
        method = getattr(type(target), name, None)
        if not callable(method):
            raise AttributeError(f"repo.{self._attribute} has no method {show(name)}")
        attribute = self._attribute
        if inspect.isgeneratorfunction(method):
            def iterate(*args: Any, **kwargs: Any) -> WorkerIterator[Any]:
                return WorkerIterator(self._owner, lambda repo: getattr(
                    getattr(repo, attribute), name)(*args, **kwargs))
            return iterate

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._owner.run(lambda repo: getattr(getattr(repo, attribute), name)(
                *args, **kwargs))
        call.__name__ = name
        call.__doc__ = method.__doc__
        return call


class WorkerIterator(Generic[T]):
    """An async iterator over a generator that lives and advances on the worker thread."""

    def __init__(self, owner: AsyncTradeRepo, make: Callable[[TradeRepo], Iterable[T]]):
        self._owner, self._make = owner, make
        self._generator: Iterator[T] | None = None
        self._page: list[T] = []
        self._done = False

    def __aiter__(self) -> WorkerIterator[T]:
        return self

    def _next_page(self, repo: TradeRepo) -> list[T]:
        if self._generator is None:
            self._generator = iter(self._make(repo))
        page = list(islice(self._generator, PAGE))
        if len(page) < PAGE:
            self._generator = None
        return page

    async def __anext__(self) -> T:
        if not self._page:
            if self._done:
                raise StopAsyncIteration
            self._page = await self._owner.run(self._next_page)
            self._page.reverse()
            if not self._page:
                self._done = True
                raise StopAsyncIteration
            self._done = self._generator is None
        return self._page.pop()

    async def aclose(self) -> None:
        if self._generator is not None:
            close = getattr(self._generator, "close", None)  # a generator's: runs its finally
            self._generator = None
            if close is not None:
                await self._owner.run(lambda repo: close())
        self._done = True


def _coroutine_for(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    async def coroutine(self: AsyncTradeRepo, *args: Any, **kwargs: Any) -> Any:
        return await self._call(name, args, kwargs)

    def iterator(self: AsyncTradeRepo, *args: Any, **kwargs: Any) -> WorkerIterator[Any]:
        return WorkerIterator(self, lambda repo: getattr(repo, name)(*args, **kwargs))

    call: Callable[..., Any] = iterator if name in STREAMED else coroutine
    call.__name__ = name
    call.__qualname__ = f"AsyncTradeRepo.{name}"
    call.__doc__ = method.__doc__
    call.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]  # for help()
    return call


def public_methods() -> dict[str, Callable[..., Any]]:
    """TradeRepo's public methods that AsyncTradeRepo mirrors (coroutines, or async
    iterators for STREAMED), in definition order."""
    return {name: value for name, value in vars(TradeRepo).items()
            if not name.startswith("_") and name not in NOT_PROXIED and callable(value)
            and not isinstance(value, (staticmethod, classmethod, property))}


def _add_methods() -> None:
    """One coroutine per public TradeRepo method (including ones added later to repo.py)."""
    for name, value in public_methods().items():
        if name not in vars(AsyncTradeRepo):
            setattr(AsyncTradeRepo, name, _coroutine_for(name, value))


_add_methods()
