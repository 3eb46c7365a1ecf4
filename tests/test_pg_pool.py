"""``pool_size`` (issue 19.7): on PostgreSQL each thread gets its own server session from a
psycopg-pool while it reads or writes, so readers in different threads never wait for
each other nor for a writer; writers still serialise on the store's write lock, so four
threads writing fills for one key end equal to a replay. SQLite and bad sizes are refused,
and close() gives every session back to the server."""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import pytest

from tradestore import AsyncTradeRepo, DatabaseBusyError, StoreError, TradeRepo, ValidationError
from tradestore._core.pg import POOL_WAIT_MIN
from tests.test_pg_concurrency import FILLS, WORKERS, fills_of, shape

psycopg = pytest.importorskip("psycopg", reason="pip install 'tradestore[postgres]'")
pytest.importorskip("psycopg_pool", reason="pip install 'tradestore[postgres]'")

FILL = {"symbol": "ETH/USDT", "side": "BUY", "quantity": "1", "price": "10"}
PID = "SELECT pg_backend_pid()"
WAIT = 20  # seconds a test waits for another thread before it calls the wait a failure


def sessions(url: str) -> int:
    """Our sessions on ``url``'s database (application_name 'tradestore'), seen from
    another session."""
    with psycopg.connect(url, autocommit=True) as admin:
        return admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                             "current_database() AND application_name = 'tradestore'"
                             ).fetchone()[0]


def sessions_become(url: str, count: int) -> int:
    """The count once it is ``count`` (a closed session's backend leaves the view a
    moment after the socket closes), or the last count seen after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while (seen := sessions(url)) != count and time.monotonic() < deadline:
        time.sleep(0.05)
    return seen


def test_two_threads_read_at_once_each_on_its_own_session(pg_url):
    """Thread A holds a reading() open until thread B has done a whole reading() of its
    own: with one shared session B would wait for A, and A for B."""
    with TradeRepo(pg_url, pool_size=2) as repo:
        pids: dict[str, int] = {}
        a_reading, b_done = threading.Event(), threading.Event()

        def reader_a():
            with repo.db.reading() as conn:
                pids["a"] = conn.execute(PID).fetchone()[0]
                a_reading.set()
                pids["b_done_while_a_read"] = b_done.wait(WAIT)

        def reader_b():
            assert a_reading.wait(WAIT)
            with repo.db.reading() as conn:
                pids["b"] = conn.execute(PID).fetchone()[0]
            b_done.set()
        threads = [threading.Thread(target=reader_a), threading.Thread(target=reader_b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert pids["b_done_while_a_read"] is True
        assert pids["a"] != pids["b"]


def test_a_reading_is_not_blocked_by_another_threads_open_transaction(pg_url):
    """While a writer thread holds an open transaction with a fill in it, another
    thread's reads answer at once, without the uncommitted fill; after the commit they
    see it."""
    with TradeRepo(pg_url, pool_size=2) as repo:
        holding, release = threading.Event(), threading.Event()

        def writer():
            with repo.transaction():
                repo.save_trade(FILL)
                holding.set()
                release.wait(WAIT)
        thread = threading.Thread(target=writer)
        thread.start()
        try:
            assert holding.wait(WAIT)
            started = time.monotonic()
            assert repo.get_trade_history(days=None) == []
            with repo.db.reading() as conn:
                assert conn.execute("SELECT count(*) FROM trades").fetchone()[0] == 0
            assert time.monotonic() - started < WAIT / 2
            assert thread.is_alive()  # the transaction was still open while we read
        finally:
            release.set()
            thread.join()
        assert [t.symbol for t in repo.get_trade_history(days=None)] == ["ETH/USDT"]


@pytest.mark.slow
def test_four_threads_writing_one_key_equal_a_replay(pg_url):
    """Four threads of one pooled store save interleaved fills for the same (account,
    exchange, symbol): exact counts, and pnl and positions equal to a replay of the same
    fills in time order on SQLite."""
    with TradeRepo(pg_url, pool_size=WORKERS, busy_timeout=60) as repo:
        pids: set[int] = set()
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            try:
                for fill in fills_of(worker):
                    repo.save_trade(fill)
                with repo.db.reading() as conn:
                    pids.add(conn.execute(PID).fetchone()[0])
            except BaseException as exc:  # noqa: BLE001  (reported by the assert below)
                errors.append(exc)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(pids) > 1  # the threads did use several sessions
        fills = sorted((f for i in range(WORKERS) for f in fills_of(i)),
                       key=lambda f: f.timestamp)
        with TradeRepo(":memory:") as replay:
            for fill in fills:
                replay.save_trade(fill)
            stored = repo.get_trade_history(days=None)
            assert len(stored) == WORKERS * FILLS
            assert repo.db.scalar("SELECT count(*) FROM trades") == WORKERS * FILLS
            assert repo.derived_problems() == []
            assert {t.external_id: t.pnl for t in stored} == \
                {t.external_id: t.pnl for t in replay.get_trade_history(days=None)}
            assert [shape(p) for p in repo.get_closed_positions()] == \
                [shape(p) for p in replay.get_closed_positions()]
            assert [shape(p) for p in repo.get_open_positions()] == \
                [shape(p) for p in replay.get_open_positions()]


def test_a_thread_finding_every_session_taken_is_busy(pg_url):
    """pool_size=1: while one thread holds the session, another waits busy_timeout (at
    least POOL_WAIT_MIN, the time to open a session) and gets DatabaseBusyError; once
    the session is back it works."""
    with TradeRepo(pg_url, pool_size=1, busy_timeout=0) as repo:
        holding, release = threading.Event(), threading.Event()

        def holder():
            with repo.db.reading():
                holding.set()
                release.wait(WAIT)
        thread = threading.Thread(target=holder)
        thread.start()
        try:
            assert holding.wait(WAIT)
            started = time.monotonic()
            with pytest.raises(DatabaseBusyError, match="no session of the pool of 1 came "
                               f"free, or could be opened within {POOL_WAIT_MIN:g} s"):
                repo.get_trade_history(days=None)
            assert POOL_WAIT_MIN - 0.1 <= time.monotonic() - started < WAIT
        finally:
            release.set()
            thread.join()
        assert repo.get_trade_history(days=None) == []


def test_pool_size_on_sqlite_is_refused():
    with pytest.raises(ValidationError) as refused:
        TradeRepo(":memory:", pool_size=2)
    assert refused.value.field == "pool_size"
    assert str(refused.value).startswith("pool_size: 2 is for a PostgreSQL store only")


def test_async_repo_passes_pool_size_through(pg_url):
    async def main():
        with pytest.raises(ValidationError, match="pool_size: 2 is for a PostgreSQL"):
            async with AsyncTradeRepo(":memory:", pool_size=2):
                pass
        async with AsyncTradeRepo(pg_url, pool_size=2) as repo:
            await repo.save_trade(FILL)
            assert await repo.run(lambda r: r.db._pool.max_size) == 2
            return [t.symbol for t in await repo.get_trade_history(days=None)]
    assert asyncio.run(main()) == ["ETH/USDT"]


@pytest.mark.parametrize("value", [0, -1, True, 2.0, "2", 10 ** 6])
def test_a_bad_pool_size_is_refused_before_any_session(pg_url, value):
    before = sessions(pg_url)
    with pytest.raises(ValidationError) as refused:
        TradeRepo(pg_url, pool_size=value)
    assert refused.value.field == "pool_size"
    assert str(refused.value).startswith(f"pool_size: {value!r} must be a whole number "
                                         "from 1 to 10000")
    assert sessions(pg_url) == before


def test_without_psycopg_pool_the_error_says_what_to_install(pg_url, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg_pool", None)  # import fails as if missing
    with pytest.raises(StoreError, match=r"pool_size needs the psycopg-pool package: "
                                         r"pip install 'tradestore\[postgres\]'"):
        TradeRepo(pg_url, pool_size=2)


def test_a_bad_database_fails_at_open_as_without_a_pool(pg_server, pg_template):
    url = pg_server.url("no_such_database")
    with pytest.raises(StoreError) as plain:
        TradeRepo(url)
    with pytest.raises(StoreError) as pooled:
        TradeRepo(url, pool_size=2)
    assert type(pooled.value) is type(plain.value)
    assert str(pooled.value) == str(plain.value)


def test_close_gives_every_session_back(pg_url):
    """Three threads reading at once grow the pool to three sessions; close() ends them
    all, and the closed store refuses calls."""
    before = sessions(pg_url)
    repo = TradeRepo(pg_url, pool_size=3)
    inside, release = threading.Barrier(4), threading.Event()

    def reader():
        with repo.db.reading():
            inside.wait(WAIT)
            release.wait(WAIT)
    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    inside.wait(WAIT)  # all three hold a session now
    assert sessions(pg_url) == before + 3
    release.set()
    for thread in threads:
        thread.join()
    repo.close()
    assert sessions_become(pg_url, before) == before
    with pytest.raises(StoreError, match="the store is closed"):
        repo.get_trade_history(days=None)
    repo.close()  # twice is fine
