"""AsyncTradeRepo: coroutines on one worker thread; the loop keeps ticking."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tradestore import AsyncTradeRepo, StoreError, TradeData, TradeRepo, ValidationError

START = datetime(2025, 1, 1, tzinfo=timezone.utc)


def fills(n, prefix="f", symbol="BTC/USDT"):
    return [TradeData(symbol, "BUY" if i % 4 < 2 else "SELL", "1", f"{100 + i % 7}.5",
                      fees="0.01", exchange="x", external_id=f"{prefix}{i}",
                      timestamp=START + timedelta(seconds=i)) for i in range(n)]


def test_every_public_method_is_a_coroutine():
    public = [n for n, v in vars(TradeRepo).items()
              if not n.startswith("_") and callable(v) and n not in ("transaction", "close")
              and not isinstance(v, (classmethod, staticmethod, property))]
    assert "save_trade" in public and "backup" in public and "save_ccxt_trades" in public
    for name in public:
        method = getattr(AsyncTradeRepo, name)
        assert asyncio.iscoroutinefunction(method) or name == "iter_trades", name


def test_save_and_read_back(db_path):
    async def main():
        async with AsyncTradeRepo(db_path) as repo:
            trade_id = await repo.save_trade(fills(1)[0])
            got = await repo.get_trade(trade_id)
            assert got.external_id == "f0" and got.price == Decimal("100.5")
            position = await repo.get_position("BTC/USDT")
            assert position.quantity == 1
            assert (await repo.trades.get(trade_id)).id == trade_id   # repository proxy
            version = await repo.save_bot_state({"balances": {"USDT": Decimal("10.50")}})
            state = await repo.load_bot_state()
            assert state.version == version and state.balances["USDT"] == Decimal("10.50")
            assert await repo.run(lambda r: r.current_version) >= 1
    asyncio.run(main())
    with TradeRepo(db_path) as repo:
        assert len(repo.get_trade_history(days=None)) == 1


def test_the_repo_is_used_only_on_one_worker_thread(memory_repo):
    seen = set()

    async def main():
        async with AsyncTradeRepo(":memory:") as repo:
            await repo.run(lambda r: seen.add(threading.get_ident()))
            await asyncio.gather(*(repo.run(lambda r: seen.add(threading.get_ident()))
                                   for _ in range(20)))
            await repo.save_trades(fills(10))
            await repo.run(lambda r: seen.add(threading.get_ident()))
    asyncio.run(main())
    assert len(seen) == 1 and threading.get_ident() not in seen


@pytest.mark.slow  # asserts timings: not in the default run
def test_event_loop_keeps_ticking_during_a_long_bulk_save(db_path):
    batch = fills(15_000)
    ticks = []

    async def ticker(stop):
        while not stop.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.005)

    async def main():
        async with AsyncTradeRepo(db_path) as repo:
            stop = asyncio.Event()
            task = asyncio.create_task(ticker(stop))
            await asyncio.sleep(0.02)
            started = time.perf_counter()
            ids = await repo.save_trades(batch)
            elapsed = time.perf_counter() - started
            stop.set()
            await task
            return ids, started, elapsed
    ids, started, elapsed = asyncio.run(main())
    assert len(ids) == 15_000
    during = [t for t in ticks if started <= t <= started + elapsed]
    gaps = [b - a for a, b in zip(during, during[1:])]
    assert elapsed > 0.2, "the save should take long enough to measure"
    # a blocked loop would tick zero times while the save runs
    assert len(during) >= 10, (len(during), elapsed)
    assert max(gaps) < max(0.5, elapsed / 4), max(gaps)


def test_many_concurrent_coroutines_produce_exactly_the_expected_rows(db_path):
    async def worker(repo, n):
        ids = []
        for t in fills(10, prefix=f"w{n}-", symbol=f"S{n % 5}/USDT"):
            ids.append(await repo.save_trade(t))
        return ids

    async def main():
        async with AsyncTradeRepo(db_path) as repo:
            results = await asyncio.gather(*(worker(repo, n) for n in range(50)))
            # the same fills again, concurrently: every one is a duplicate
            again = await asyncio.gather(*(worker(repo, n) for n in range(50)))
            return results, again
    results, again = asyncio.run(main())
    assert results == again
    with TradeRepo(db_path) as repo:
        stored = repo.get_trade_history(days=None)
        assert len(stored) == 500
        expected = {f"w{n}-{i}" for n in range(50) for i in range(10)}
        assert {t.external_id for t in stored} == expected
        assert sorted(i for ids in results for i in ids) == sorted(t.id for t in stored)
        # each symbol: 10 workers x (6 buys - 4 sells) of 1, whatever the interleaving
        for n in range(5):
            assert repo.get_position(f"S{n}/USDT").quantity == 20
        assert repo.check() == []


async def writer_busy(path, seconds=10.0):
    """Return once another connection holds the file's write lock (a write is running),
    seen from a raw connection that tries to take it without waiting."""
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
            except sqlite3.OperationalError:  # "database is locked": the writer is in
                return
            await asyncio.sleep(0.001)
        raise AssertionError("no write started")
    finally:
        probe.close()


def test_cancelled_await_lets_the_call_finish_and_leaves_no_transaction_open(db_path):
    batch = fills(10_000)

    async def main():
        repo = await AsyncTradeRepo(db_path)
        try:
            task = asyncio.create_task(repo.save_trades(batch))
            queued = asyncio.create_task(repo.save_trade(fills(1, prefix="q")[0]))
            await writer_busy(db_path)      # the bulk save is running on the worker
            task.cancel()
            queued.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            with pytest.raises(asyncio.CancelledError):
                await queued
            in_transaction = await repo.run(lambda r: r.db.conn.in_transaction)
            assert in_transaction is False
            # the store takes a write at once: nothing is left holding the lock
            await repo.save_trade(fills(1, prefix="after")[0])
        finally:
            await repo.close()
    asyncio.run(main())
    with TradeRepo(db_path) as repo:
        ids = {t.external_id for t in repo.get_trade_history(days=None)}
    assert len(ids) == 10_002 and {"q0", "after0"} <= ids


def test_close_waits_for_work_in_flight(db_path):
    async def main():
        repo = await AsyncTradeRepo(db_path)
        pending = asyncio.ensure_future(repo.save_trades(fills(5_000)))
        await asyncio.sleep(0)
        await repo.close()
        assert pending.done() and len(pending.result()) == 5_000
        with pytest.raises(StoreError, match="closed"):
            await repo.save_trade(fills(1)[0])
        await repo.close()   # twice is fine
    asyncio.run(main())


def test_iter_trades_is_an_async_iterator_in_order(db_path):
    async def main():
        async with AsyncTradeRepo(db_path) as repo:
            await repo.save_trades(fills(1_234))
            seen = [t.external_id async for t in repo.iter_trades(days=None)]
            streamed = [t.id async for t in repo.trades.iterate(days=None, limit=7)]
            return seen, streamed
    seen, streamed = asyncio.run(main())
    assert seen == [f"f{i}" for i in range(1_234)]
    assert streamed == list(range(1, 8))


def test_errors_come_back_as_store_errors(db_path):
    async def main():
        async with AsyncTradeRepo(db_path) as repo:
            with pytest.raises(StoreError):
                await repo.save_trade({"symbol": "X", "side": "HOLD", "quantity": 1, "price": 1})
            assert await repo.get_trade_history(days=None) == []
    asyncio.run(main())


def test_not_opened_store_refuses():
    async def main():
        repo = AsyncTradeRepo(":memory:")
        with pytest.raises(StoreError, match="not opened"):
            await repo.save_trade(fills(1)[0])
    asyncio.run(main())


# ------------------------------------------------------------ hostile input (issue 14.8)

# None is not here: as for TradeRepo it means $DATABASE_URL, then trades.db
# (tests/test_pg_ops.py::test_async_repo_reads_database_url)
@pytest.mark.parametrize("path", [5, b"trades.db", ["a.db"], "", "a\x00b", "\ud800.db"])
def test_a_path_that_is_not_a_file_name_is_refused(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError, match="^path: .*(not a file name|not valid Unicode)"):
        AsyncTradeRepo(path)
    assert list(tmp_path.iterdir()) == []  # no file named "None" or "5"


def test_run_refuses_what_is_not_callable(tmp_path):
    async def main():
        async with AsyncTradeRepo(tmp_path / "t.db") as repo:
            for fn in (5, None, "save_trade"):
                with pytest.raises(ValidationError, match="^fn: .* is not callable"):
                    await repo.run(fn)
            assert await repo.run(lambda r: r.current_version) >= 1
    asyncio.run(main())


def test_issue_20_calls_through_the_async_repo(db_path):
    """Soft deletes, the audit trail and history order/side through the worker."""
    from tradestore import ConflictError

    async def main():
        async with AsyncTradeRepo(db_path) as repo:
            await repo.instruments.upsert("ETH/USDT")
            await repo.instruments.deactivate("ETH/USDT")
            with pytest.raises(ConflictError):
                await repo.save_trade({"symbol": "ETH/USDT", "side": "BUY", "quantity": 1,
                                       "price": 1, "timestamp": "2024-01-01T00:00:00Z"})
            await repo.save_trades([
                {"symbol": "BTC/USDT", "side": "BUY", "quantity": 1, "price": 10,
                 "timestamp": "2024-01-01T00:00:00Z"},
                {"symbol": "BTC/USDT", "side": "SELL", "quantity": 1, "price": 12,
                 "timestamp": "2024-01-02T00:00:00Z"}])
            sells = await repo.get_trade_history(days=None, side="SELL", order_by="pnl")
            assert [t.pnl for t in sells] == [Decimal("2")]  # 12 - 10
            audit = await repo.events.recent(event_type="audit")
            assert [e.details["action"] for e in audit] == ["deactivate", "create"]
    asyncio.run(main())
