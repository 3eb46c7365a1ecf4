"""Many writers on one PostgreSQL store (issue 19.4): real processes writing fills for the
same (account, exchange, symbol) at once lose no update: exact counts, and positions and
fill pnl equal to a replay of the same fills on SQLite. A writer that cannot get the
write lock within busy_timeout gets DatabaseBusyError, and nothing it wrote stays."""

from __future__ import annotations

import dataclasses
import random
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tradestore import DatabaseBusyError, TradeData, TradeRepo

pytest.importorskip("psycopg", reason="pip install 'tradestore[postgres]'")

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
WORKERS, FILLS = 4, 30
WORKER = """
import sys
from tests.test_pg_concurrency import fills_of
from tradestore import TradeRepo
url, worker = sys.argv[1], int(sys.argv[2])
with TradeRepo(url, busy_timeout=60) as repo:
    for fill in fills_of(worker):
        repo.save_trade(fill)
"""


def fills_of(worker: int) -> list[TradeData]:
    """Worker ``worker``'s fills: its times interleave with the others' (fill j of worker
    i at T0 + j*WORKERS + i seconds), so most saves land before a fill of another worker
    that is already stored: late fills, replayed under the lock."""
    rng = random.Random(worker)
    out = []
    for j in range(FILLS):
        moment = T0 + timedelta(seconds=j * WORKERS + worker)
        out.append(TradeData("BTC/USDT", rng.choice(["BUY", "SELL"]),
                             f"{rng.randint(1, 40)}.{rng.randint(0, 99):02d}",
                             f"{rng.randint(900, 1100)}.{rng.randint(0, 9)}",
                             fees="0.01", timestamp=moment, exchange="x",
                             external_id=f"w{worker}-{j}"))
    return out


def shape(position) -> dict:
    """A position's figures without what depends on the order of saving (ids)."""
    fields = dataclasses.asdict(position)
    return {k: (str(v) if hasattr(v, "quantize") else v) for k, v in fields.items()
            if k not in ("id", "closed_by")}


@pytest.mark.slow
def test_concurrent_writers_of_one_key_equal_a_replay(pg_url):
    TradeRepo(pg_url).close()
    writers = [subprocess.Popen([sys.executable, "-c", WORKER, pg_url, str(i)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(WORKERS)]
    errors = [w.communicate(timeout=600)[1] for w in writers]
    assert [w.returncode for w in writers] == [0] * WORKERS, errors
    fills = sorted((f for i in range(WORKERS) for f in fills_of(i)), key=lambda f: f.timestamp)
    with TradeRepo(pg_url) as server, TradeRepo(":memory:") as replay:
        for fill in fills:
            replay.save_trade(fill)
        stored = server.get_trade_history(days=None)
        assert len(stored) == WORKERS * FILLS
        assert server.db.scalar("SELECT count(*) FROM trades") == WORKERS * FILLS
        assert server.derived_problems() == []
        pnl = {t.external_id: t.pnl for t in stored}
        assert pnl == {t.external_id: t.pnl for t in replay.get_trade_history(days=None)}
        assert [shape(p) for p in server.get_closed_positions()] == \
            [shape(p) for p in replay.get_closed_positions()]
        assert [shape(p) for p in server.get_open_positions()] == \
            [shape(p) for p in replay.get_open_positions()]
        assert len(server.get_closed_positions()) > 3  # the key went through round trips


def test_a_writer_waiting_past_busy_timeout_is_busy(pg_url):
    fill = {"symbol": "ETH/USDT", "side": "BUY", "quantity": "1", "price": "10"}
    with TradeRepo(pg_url) as holder, TradeRepo(pg_url, busy_timeout=0.3) as waiter:
        held, release = threading.Event(), threading.Event()

        def hold():
            with holder.transaction():
                holder.save_trade(fill)
                held.set()
                release.wait(30)
        thread = threading.Thread(target=hold)
        thread.start()
        try:
            assert held.wait(30)
            started = time.monotonic()
            with pytest.raises(DatabaseBusyError, match="busy"):
                waiter.save_trade(dict(fill, symbol="SOL/USDT"))
            assert 0.25 <= time.monotonic() - started < 10
        finally:
            release.set()
            thread.join()
        # the holder's fill is in, the busy writer's is not; the waiter works again
        assert [t.symbol for t in waiter.get_trade_history(days=None)] == ["ETH/USDT"]
        waiter.save_trade(dict(fill, symbol="SOL/USDT"))
        assert len(holder.get_trade_history(days=None)) == 2
