"""``AsyncTradeRepo``: the whole ``TradeRepo`` API as coroutines for asyncio bots.

Every call runs on ONE dedicated worker thread, which creates the ``TradeRepo``
and is the only thread that ever uses it; calls run one after another in the
order they were made, and the event loop never blocks on SQLite.

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

from tradestore._core.codec import show, to_path
from tradestore.errors import StoreError, ValidationError
from tradestore.repo import TradeRepo

PAGE = 500
# Not coroutines: grouping needs the worker (use ``run``), close/inspect are ours.
NOT_PROXIED = frozenset({"transaction", "close", "inspect", "iter_trades"})


def _consume(future) -> None:
    """Retrieve an abandoned call's outcome so asyncio does not report it as lost."""
    if not future.cancelled():
        future.exception()


class AsyncTradeRepo:
    """``async with AsyncTradeRepo("trades.db") as repo: await repo.save_trade(t)``.

    Takes the same arguments as ``TradeRepo``. ``await repo.run(fn, *args)`` runs
    ``fn(trade_repo, *args)`` on the worker: several calls in one transaction
    (``lambda r: ...`` using ``with r.transaction():``) or anything not wrapped.
    ``repo.iter_trades(...)`` is an async iterator (pages fetched on the worker).
    ``repo.trades``, ``repo.orders``, ... are proxies whose methods are coroutines.
    """

    def __init__(self, path="trades.db", **options):
        to_path(path, "path")  # refuses None, bytes, "", NUL and lone surrogates
        self.path = str(path)
        self._options = options
        self._executor: ThreadPoolExecutor | None = None
        self._repo: TradeRepo | None = None
        self._closing = False

    # ------------------------------------------------------------ life cycle
    async def open(self) -> "AsyncTradeRepo":
        """Open (and migrate) the store on the worker thread; ``async with`` calls it."""
        if self._repo is not None:
            return self
        if self._closing:
            raise StoreError(f"{self.path}: the store is closed")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tradestore-aio")
        try:
            self._repo = await self._submit(functools.partial(TradeRepo, self.path,
                                                              **self._options))
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

    async def __aenter__(self) -> "AsyncTradeRepo":
        return await self.open()

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    def __await__(self):
        return self.open().__await__()

    @property
    def closed(self) -> bool:
        return self._repo is None

    def __repr__(self) -> str:
        return f"AsyncTradeRepo({show(self.path)})"

    # ------------------------------------------------------------ running on the worker
    async def _submit(self, fn, *args, _allow_closing=False, **kwargs):
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

    async def run(self, fn, *args, **kwargs):
        """``fn(trade_repo, *args, **kwargs)`` on the worker thread; returns its result."""
        if not callable(fn):
            raise ValidationError(f"fn: {show(fn)} is not callable (give a function taking the "
                                  "TradeRepo)", field="fn", value=fn)
        repo = self._trade_repo()
        return await self._submit(fn, repo, *args, **kwargs)

    async def _call(self, name, args, kwargs):
        repo = self._trade_repo()
        return await self._submit(getattr(repo, name), *args, **kwargs)

    def iter_trades(self, symbol=None, days=30, **filters) -> "WorkerIterator":
        """``async for trade in repo.iter_trades(...)``: streamed, a page per worker call."""
        return WorkerIterator(self, lambda repo: repo.iter_trades(symbol, days, **filters))

    def __getattr__(self, name):
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

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        target = getattr(self._owner._trade_repo(), self._attribute)
        method = getattr(type(target), name, None)
        if not callable(method):
            raise AttributeError(f"repo.{self._attribute} has no method {show(name)}")
        attribute = self._attribute
        if inspect.isgeneratorfunction(method):
            def iterate(*args, **kwargs):
                return WorkerIterator(self._owner, lambda repo: getattr(
                    getattr(repo, attribute), name)(*args, **kwargs))
            return iterate

        async def call(*args, **kwargs):
            return await self._owner.run(lambda repo: getattr(getattr(repo, attribute), name)(
                *args, **kwargs))
        call.__name__ = name
        call.__doc__ = method.__doc__
        return call


class WorkerIterator:
    """An async iterator over a generator that lives and advances on the worker thread."""

    def __init__(self, owner: AsyncTradeRepo, make):
        self._owner, self._make = owner, make
        self._generator, self._page, self._done = None, [], False

    def __aiter__(self):
        return self

    def _next_page(self, repo):
        if self._generator is None:
            self._generator = iter(self._make(repo))
        page = list(islice(self._generator, PAGE))
        if len(page) < PAGE:
            self._generator = None
        return page

    async def __anext__(self):
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
            generator, self._generator = self._generator, None
            await self._owner.run(lambda repo: generator.close())
        self._done = True


def _coroutine_for(name: str, method):
    async def call(self, *args, **kwargs):
        return await self._call(name, args, kwargs)
    call.__name__ = name
    call.__qualname__ = f"AsyncTradeRepo.{name}"
    call.__doc__ = method.__doc__
    with_self = inspect.signature(method)
    call.__signature__ = with_self
    return call


def _add_methods() -> None:
    """One coroutine per public TradeRepo method (including ones added later to repo.py)."""
    for name, value in vars(TradeRepo).items():
        if name.startswith("_") or name in NOT_PROXIED or name in vars(AsyncTradeRepo):
            continue
        if isinstance(value, (staticmethod, classmethod, property)) or not callable(value):
            continue
        setattr(AsyncTradeRepo, name, _coroutine_for(name, value))


_add_methods()
