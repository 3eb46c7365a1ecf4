"""Saves keep what they read between transactions (record/trades._Warm) only while
nothing else changed the store: another connection or process, another store of the
same repo, a rolled-back outer transaction. Each test would fail if a stale open round
trip, newest time, currency or account check were used."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from tests.conftest import examples
from tradestore import TradeData, TradeRepo
from tradestore.errors import ConflictError, StoreError
from tradestore.record.trades import _Warm

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


class _Cold(_Warm):
    """Never keeps anything: every save reads the store (the behaviour to match)."""

    def check(self, stamp):
        return super().check(None)


def fill(side, quantity, price, minutes, symbol="BTC/USDT", **extra):
    return TradeData(symbol, side, quantity, price, timestamp=T0 + timedelta(minutes=minutes),
                     exchange="x", **extra)


def test_a_fill_saved_by_another_process_is_seen_by_the_next_save(tmp_path):
    path = tmp_path / "bot.db"
    bot = TradeRepo(path)
    bot.save_trade(fill("BUY", 1, 100, 0))   # the bot now holds the key's open round trip
    script = ("import sys\nfrom datetime import datetime, timezone\n"
              "from tradestore import TradeRepo, TradeData\n"
              "r = TradeRepo(sys.argv[1])\n"
              "r.save_trade(TradeData('BTC/USDT', 'BUY', 2, 101, exchange='x', "
              "timestamp=datetime(2026, 1, 5, 12, 1, tzinfo=timezone.utc)))\nr.close()\n")
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=60)
    bot.save_trade(fill("SELL", 3, 102, 2))
    # by hand: entry 1 x 100 + 2 x 101 = 302, exit 3 x 102 = 306: one round trip, pnl 4
    [trip] = bot.get_closed_positions()
    assert (trip.quantity, trip.realized_pnl, trip.trade_count) == (0, Decimal("4"), 3)
    assert bot.get_open_positions() == []
    assert bot.rebuild() == []
    bot.close()


def test_a_rolled_back_outer_transaction_leaves_nothing_behind(tmp_path):
    repo = TradeRepo(tmp_path / "s.db")
    repo.save_trade(fill("BUY", 1, 100, 0))
    with pytest.raises(RuntimeError):
        with repo.transaction():
            repo.save_trade(fill("BUY", 5, 100, 1))   # its commit is the outer one's
            raise RuntimeError("the outer block fails")
    repo.save_trade(fill("SELL", 1, 110, 2))   # closes the 1 bought: +10
    [trip] = repo.get_closed_positions()
    assert (trip.realized_pnl, trip.trade_count) == (Decimal("10"), 2)
    assert repo.get_open_positions() == []
    repo.close()


def test_a_failed_commit_leaves_nothing_kept(tmp_path):
    """A user's trigger with a deferred foreign key makes one save's COMMIT fail, after
    the save kept its round trip: the next save must read the store again."""
    path = tmp_path / "s.db"
    TradeRepo(path).close()
    user = sqlite3.connect(path)
    user.executescript("""
        CREATE TABLE audit_parent (id INTEGER PRIMARY KEY);
        CREATE TABLE audit_child (parent INTEGER REFERENCES audit_parent (id)
                                  DEFERRABLE INITIALLY DEFERRED);
        CREATE TRIGGER poisoned_fill AFTER INSERT ON trades WHEN NEW.external_id = 'poison'
        BEGIN INSERT INTO audit_child VALUES (999); END;""")
    user.close()
    repo = TradeRepo(path)
    repo.save_trade(fill("BUY", 1, 100, 0))
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        repo.save_trade(fill("BUY", 5, 100, 1, external_id="poison"))   # fails at COMMIT
    repo.save_trade(fill("SELL", 1, 104, 2))   # closes the 1 bought: +4
    [trip] = repo.get_closed_positions()
    assert (trip.realized_pnl, trip.trade_count) == (Decimal("4"), 2)
    assert repo.get_open_positions() == []
    assert len(repo.get_trade_history(days=None)) == 2
    repo.close()


def test_another_connection_deactivating_the_account_stops_the_next_fill(tmp_path):
    path = tmp_path / "s.db"
    bot, admin = TradeRepo(path), TradeRepo(path)
    bot.accounts.create("main")
    bot.save_trade(fill("BUY", 1, 100, 0, account="main"))   # "main" passed the check
    admin.accounts.deactivate("main")
    with pytest.raises(ConflictError, match="deactivated"):
        bot.save_trade(fill("BUY", 1, 100, 1, account="main"))
    assert len(bot.get_trade_history(days=None, account="main")) == 1
    bot.close()
    admin.close()


def test_a_payment_from_the_same_repo_makes_an_earlier_fill_late(tmp_path):
    repo = TradeRepo(tmp_path / "s.db")
    perp = "BTC/USDT:USDT"
    repo.save_trade(fill("BUY", 2, 100, 0, symbol=perp))
    repo.record_funding(perp, "-1.5", T0 + timedelta(minutes=10), exchange="x")
    # before the payment: replayed, so the payment stays in the round trip it fell in
    repo.save_trade(fill("SELL", 2, 103, 5, symbol=perp))
    repo.save_trade(fill("BUY", 1, 100, 20, symbol=perp))
    closed = repo.get_closed_positions()
    # by hand: (103 - 100) x 2 = 6 from prices; the payment at minute 10 comes after the
    # close at minute 5, so it falls to no round trip of this key's first one
    assert [p.realized_pnl for p in closed] == [Decimal("6")]
    assert repo.rebuild() == []
    repo.close()


KEYS = ["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT"]
STEP = st.one_of(
    st.tuples(st.just("save"), st.sampled_from("AB"), st.sampled_from(KEYS),
              st.sampled_from(["BUY", "SELL"]), st.sampled_from([1, 2, 3]),
              st.sampled_from(["100", "101.5", "99"]), st.sampled_from([-30, 0, 1, 5]),
              st.one_of(st.none(), st.integers(0, 12))),
    st.tuples(st.just("fund"), st.sampled_from("AB"), st.sampled_from([-20, 0, 3]),
              st.sampled_from(["-0.75", "1.25"])),
    st.tuples(st.just("void"), st.sampled_from("AB"), st.integers(0, 40)),
    st.tuples(st.just("terms"), st.sampled_from("AB"), st.sampled_from(["1", "10"])),
    st.tuples(st.just("symbol"), st.sampled_from("AB"), st.booleans()),
    st.tuples(st.just("rollback"), st.sampled_from(KEYS), st.sampled_from([1, 2])),
    st.tuples(st.just("savepoint"), st.sampled_from(KEYS), st.sampled_from(["BUY", "SELL"])),
    st.tuples(st.just("bulk"), st.sampled_from("AB"), st.lists(st.tuples(
        st.sampled_from(KEYS), st.sampled_from(["BUY", "SELL"]), st.sampled_from([1, 2]),
        st.sampled_from([-40, 0, 2]), st.one_of(st.none(), st.integers(0, 12))),
        min_size=1, max_size=6)),
)


def _play(path, steps, warm):
    """Run ``steps`` on a new store through two repos on it (A: the bot, B: another
    connection); returns each step's outcome and the stored fills and round trips."""
    a, b = TradeRepo(path), TradeRepo(path)
    if not warm:
        a.trades._warm, b.trades._warm = _Cold(), _Cold()
    else:
        a.trades._warm.LIMIT = 2   # A's kept keys overflow (3 symbols): starts afresh
    clock, outcomes = 0, []
    for step in steps:
        kind, who = step[0], step[1]
        repo = a if who == "A" else b
        try:
            if kind == "save":
                _, _, symbol, side, quantity, price, delta, ext = step
                clock += max(delta, 0)
                outcomes.append(repo.save_trade(fill(
                    side, quantity, price, clock + min(delta, 0), symbol=symbol,
                    external_id=None if ext is None else f"e{ext}")))
            elif kind == "fund":
                _, _, delta, amount = step
                outcomes.append(repo.record_funding("BTC/USDT:USDT", amount,
                                                    T0 + timedelta(minutes=clock + delta),
                                                    exchange="x"))
            elif kind == "void":
                ids = [t.id for t in repo.get_trade_history(days=None)]
                if ids:
                    outcomes.append(repo.void_trade(ids[step[2] % len(ids)], "test").id)
            elif kind == "terms":
                repo.instruments.upsert("BTC/USDT:USDT", contract_size=step[2])
                repo.rebuild()   # as the docs ask after changing the terms of a traded symbol
            elif kind == "symbol":
                repo.instruments.upsert("ETH/USDT")
                (repo.instruments.activate if step[2] else repo.instruments.deactivate)(
                    "ETH/USDT")
            elif kind == "bulk":   # several keys, late and duplicate rows mixed
                rows = []
                for symbol, side, quantity, delta, ext in step[2]:
                    clock += max(delta, 0)
                    rows.append(fill(side, quantity, "100.5", clock + min(delta, 0),
                                     symbol=symbol,
                                     external_id=None if ext is None else f"e{ext}"))
                outcomes.append(repo.save_trades(rows))
            elif kind == "savepoint":   # a save rolled back inside an outer block that commits
                with a.transaction():
                    clock += 1
                    a.save_trade(fill(step[2], 1, "101", clock, symbol=step[1]))
                    try:
                        with a.transaction():
                            a.save_trade(fill("BUY", 3, "99", clock, symbol=step[1]))
                            raise KeyError("inner")
                    except KeyError:
                        pass
            elif kind == "rollback":
                with a.transaction():
                    clock += 1
                    a.save_trade(fill("BUY", step[2], "100", clock, symbol=step[1]))
                    raise KeyError("roll back")
        except (StoreError, KeyError) as exc:
            outcomes.append(type(exc).__name__)
    fills = a.db.query("SELECT id, symbol, side, quantity, pnl, position_id, "
                       "opened_position_id, voided_at IS NOT NULL FROM trades ORDER BY id")
    trips = a.db.query("SELECT id, symbol, side, quantity, entry_value, entry_fees, "
                       "realized_pnl, fees, trade_count, opened_at, closed_at, funding, "
                       "contract_size, max_quantity FROM positions ORDER BY id")
    problems = a.check()
    a.close()
    b.close()
    return outcomes, fills, trips, problems


@settings(max_examples=examples(60, 15), deadline=None)
@given(st.lists(STEP, min_size=1, max_size=30))
def test_kept_reads_save_exactly_what_fresh_reads_save(tmp_path_factory, steps):
    folder = tmp_path_factory.mktemp("warm")
    warm = _play(folder / "warm.db", steps, warm=True)
    cold = _play(folder / "cold.db", steps, warm=False)
    assert warm == cold
    assert warm[3] == []
