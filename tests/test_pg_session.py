"""A PostgreSQL session's settings as on SQLite (issue 19): busy_timeout is checked by the
same rule with the same message, and busy_timeout=0 fails at once (lock_timeout = 0
would wait forever); a nested reading() stays inside the outer snapshot."""

from __future__ import annotations

import threading
import time

import pytest

from tradestore import DatabaseBusyError, TradeRepo, ValidationError
from tradestore._core.pg import LOCK_TIMEOUT_MAX_MS, lock_timeout_ms

FILL = {"symbol": "ETH/USDT", "side": "BUY", "quantity": "1", "price": "10"}


@pytest.mark.parametrize("seconds, ms", [(0, 1), (0.0004, 1), (0.001, 1), (0.3, 300), (5, 5000),
                                         (10 ** 9, LOCK_TIMEOUT_MAX_MS)])
def test_busy_timeout_as_lock_timeout_is_never_zero(seconds, ms):
    assert lock_timeout_ms(seconds) == ms


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "5", -1, -0.5, True, None])
def test_a_bad_busy_timeout_is_refused_as_on_sqlite(pg_url, value):
    with pytest.raises(ValidationError) as on_sqlite:
        TradeRepo(":memory:", busy_timeout=value)
    with pytest.raises(ValidationError) as on_server:
        TradeRepo(pg_url, busy_timeout=value)
    assert str(on_server.value) == str(on_sqlite.value)
    assert str(on_server.value).startswith(f"busy_timeout: {value!r} must be a number")
    assert on_server.value.field == "busy_timeout"


def test_busy_timeout_zero_is_busy_at_once(pg_url):
    """Two sessions: while one holds the write lock, the other's write with
    busy_timeout=0 is DatabaseBusyError at once, and nothing of it stays."""
    with TradeRepo(pg_url, busy_timeout=0) as holder, \
            TradeRepo(pg_url, busy_timeout=0) as waiter:
        outcome: list[object] = []

        def write():
            try:
                outcome.append(waiter.save_trade(dict(FILL, symbol="SOL/USDT")))
            except DatabaseBusyError as exc:
                outcome.append(exc)
        with holder.transaction():
            holder.save_trade(FILL)
            thread = threading.Thread(target=write)
            started = time.monotonic()
            thread.start()
            thread.join(10)  # a wait without limit ends when the holder commits below
            waited = time.monotonic() - started
        thread.join()
        assert len(outcome) == 1 and isinstance(outcome[0], DatabaseBusyError), outcome
        assert waited < 5
        assert [t.symbol for t in waiter.get_trade_history(days=None)] == ["ETH/USDT"]


def test_a_nested_reading_keeps_the_outer_snapshot(pg_url):
    """A fill committed by another session after the outer reading() began is seen
    neither inside nor after a nested reading(), only once the outer one has ended."""
    count = "SELECT count(*) FROM trades"
    with TradeRepo(pg_url) as reader, TradeRepo(pg_url) as writer:
        writer.save_trade(FILL)
        with reader.db.reading() as conn:
            assert conn.execute(count).fetchone()[0] == 1
            writer.save_trade(dict(FILL, symbol="SOL/USDT"))
            with reader.db.reading() as inner:
                assert inner.execute(count).fetchone()[0] == 1
            assert conn.execute(count).fetchone()[0] == 1  # still the outer snapshot
            assert conn.in_transaction
        assert not reader.db.conn.in_transaction
        with reader.db.reading() as conn:
            assert conn.execute(count).fetchone()[0] == 2
