"""Strategies: registry, config history, soft delete, performance over round trips."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from tradestore import ConflictError, NotFoundError, TradeRepo, ValidationError

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


UTC = dt.timezone.utc
INSERT_TRADE = """
INSERT INTO trades (account, symbol, side, quantity, price, fees, strategy, timestamp, pnl,
                    created_at)
VALUES ('default', 'BTC/USDT', ?, '1', '100', ?, ?, ?, ?, '2026-01-01T00:00:00.000000Z')
"""


def add_fill(repo, strategy, pnl=None, fees="0", ts="2026-01-02T00:00:00.000000Z", side="SELL"):
    """A fill written straight into trades (the trade-saving API is another issue's)."""
    with repo.transaction() as conn:
        conn.execute(INSERT_TRADE, (side, fees, strategy, ts, pnl))


def test_create_get_list(repo):
    s = repo.strategies.create("momo", strategy_type="momentum", description="fast",
                               config={"window": 20, "threshold": "0.5"})
    assert (s.name, s.strategy_type, s.description) == ("momo", "momentum", "fast")
    assert s.config == {"window": 20, "threshold": "0.5"} and s.config_version == 1
    assert s.enabled and s.active and s.last_run_at is None
    assert s.created_at.tzinfo is not None
    assert repo.strategies.get("momo") == s
    repo.strategies.create("alpha", enabled=False)
    assert [x.name for x in repo.strategies.list()] == ["alpha", "momo"]
    assert [x.name for x in repo.strategies.list(enabled=True)] == ["momo"]
    assert [x.name for x in repo.strategies.list(enabled=False)] == ["alpha"]
    assert repo.strategies.get("alpha").config == {}


def test_names_are_unique_even_after_delete(repo):
    repo.strategies.create("s")
    with pytest.raises(ConflictError):
        repo.strategies.create("s")
    repo.strategies.delete("s")
    with pytest.raises(ConflictError):
        repo.strategies.create("s")
    assert repo.db.scalar("SELECT count(*) FROM strategies") == 1


@pytest.mark.parametrize("kwargs, field", [
    ({"name": ""}, "name"), ({"name": 5}, "name"), ({"name": "x", "config": [1]}, "config"),
    ({"name": "x", "config": {"f": float("nan")}}, "config"),
    ({"name": "x", "enabled": "yes"}, "enabled"), ({"name": "x", "strategy_type": 3},
                                                   "strategy_type")])
def test_bad_input_names_field_and_writes_nothing(repo, kwargs, field):
    kwargs = dict(kwargs)
    name = kwargs.pop("name")
    with pytest.raises(ValidationError) as err:
        repo.strategies.create(name, **kwargs)
    assert err.value.field == field
    assert repo.db.scalar("SELECT count(*) FROM strategies") == 0
    assert repo.db.scalar("SELECT count(*) FROM strategy_configs") == 0


def test_missing_strategy_is_not_found(repo):
    for call in (lambda: repo.strategies.get("nope"),
                 lambda: repo.strategies.update_config("nope", {}),
                 lambda: repo.strategies.set_enabled("nope", True),
                 lambda: repo.strategies.delete("nope"),
                 lambda: repo.strategies.mark_run("nope"),
                 lambda: repo.strategies.config_history("nope"),
                 lambda: repo.strategies.performance("nope")):
        with pytest.raises(NotFoundError):
            call()


def test_update_config_keeps_history(repo):
    repo.strategies.create("s", config={"a": 1})
    s2 = repo.strategies.update_config("s", {"a": 2})
    assert s2.config == {"a": 2} and s2.config_version == 2
    same = repo.strategies.update_config("s", {"a": 2})  # unchanged: no new version
    assert same.config_version == 2
    repo.strategies.update_config("s", {"a": 3, "b": [1, 2]})
    history = repo.strategies.config_history("s")
    assert [(c.version, c.config) for c in history] == [
        (1, {"a": 1}), (2, {"a": 2}), (3, {"a": 3, "b": [1, 2]})]
    assert all(a.created_at <= b.created_at for a, b in zip(history, history[1:]))
    with pytest.raises(ValidationError):
        repo.strategies.update_config("s", None)
    assert repo.strategies.get("s").config_version == 3


def test_config_at_ties_a_time_to_the_parameters(repo):
    repo.strategies.create("s", config={"v": 1})
    with repo.transaction() as conn:  # spread the versions over known times
        conn.execute("UPDATE strategy_configs SET created_at = '2026-01-01T00:00:00.000000Z'")
    repo.strategies.update_config("s", {"v": 2})
    with repo.transaction() as conn:
        conn.execute("UPDATE strategy_configs SET created_at = '2026-02-01T00:00:00.000000Z' "
                     "WHERE version = 2")
    assert repo.strategies.config_at("s", "2025-12-31T00:00:00") is None
    assert repo.strategies.config_at("s", dt.datetime(2026, 1, 15)).config == {"v": 1}
    assert repo.strategies.config_at("s", "2026-02-01T00:00:00+00:00").version == 2
    assert repo.strategies.config_at("s", dt.datetime(2027, 1, 1, tzinfo=UTC)).config == {"v": 2}


def test_enable_activate_mark_run(repo):
    s = repo.strategies.create("s")
    off = repo.strategies.set_enabled("s", False)
    assert not off.enabled and off.updated_at >= s.updated_at
    with pytest.raises(ValidationError):
        repo.strategies.set_enabled("s", 1)
    gone = repo.strategies.delete("s")
    assert not gone.active
    assert [x.name for x in repo.strategies.list(active=True)] == []
    assert [x.name for x in repo.strategies.list(active=False)] == ["s"]
    assert repo.strategies.set_active("s", True).active
    when = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert repo.strategies.mark_run("s", at=when).last_run_at == when
    before = dt.datetime.now(UTC)
    assert repo.strategies.mark_run("s").last_run_at >= before


def trip(repo, strategy, buy, sell, fee="0", ts="2026-01-02T00:00:00", symbol="BTC/USDT"):
    """One closed round trip: BUY 1 at ``buy`` then SELL 1 at ``sell``, each paying ``fee``;
    its pnl is sell - buy - 2 fee. The SELL is an hour after ``ts``."""
    at = dt.datetime.fromisoformat(ts).replace(tzinfo=UTC)
    repo.save_trade(dict(symbol=symbol, side="BUY", quantity="1", price=buy, fees=fee,
                         strategy=strategy, timestamp=at))
    repo.save_trade(dict(symbol=symbol, side="SELL", quantity="1", price=sell, fees=fee,
                         strategy=strategy, timestamp=at + dt.timedelta(hours=1)))


def test_soft_delete_keeps_fills_and_their_performance(repo):
    repo.strategies.create("s")
    trip(repo, "s", "100", "106", fee="0.5")             # 106 - 100 - 1 = 5
    repo.strategies.delete("s")
    assert repo.db.scalar("SELECT count(*) FROM trades WHERE strategy = 's'") == 2
    assert repo.strategies.performance("s").net_pnl == Decimal("5")


def test_performance_is_over_round_trips(repo):
    repo.strategies.create("s")
    trip(repo, "s", "100", "112.70", "0.10", ts="2026-01-02T00:00:00")   # 12.70 - 0.20 = 12.50
    trip(repo, "s", "100", "97.85", "0.05", ts="2026-01-03T00:00:00")    # -2.15 - 0.10 = -2.25
    trip(repo, "s", "100", "100.02", "0.01", ts="2026-01-04T00:00:00")   # 0.02 - 0.02 = 0
    trip(repo, "s", "100", "100.001", ts="2026-01-05T00:00:00")          # 0.001
    trip(repo, "other", "100", "1100", "9", ts="2026-01-06T00:00:00")    # another strategy
    repo.save_trade(dict(symbol="BTC/USDT", side="BUY", quantity="1", price="100", fees="0.3",
                         strategy="s", timestamp="2026-01-07T00:00:00"))  # open: no round trip
    p = repo.strategies.performance("s")
    # 4 round trips (a break-even counts in the denominator only), 9 fills
    assert (p.fills, p.total_trades, p.wins, p.losses) == (9, 4, 2, 1)
    assert p.win_rate == 0.5
    assert p.net_pnl == p.total_pnl == Decimal("10.251") and isinstance(p.net_pnl, Decimal)
    assert p.fees == Decimal("0.32")                     # the round trips' fees only
    assert p.currency == "USDT"


def test_performance_of_a_strategy_without_round_trips(repo):
    repo.strategies.create("idle")
    p = repo.strategies.performance("idle")
    assert (p.total_trades, p.win_rate, p.net_pnl, p.fees) == (0, None, Decimal(0), Decimal(0))
    repo.save_trade(dict(symbol="BTC/USDT", side="BUY", quantity="1", price="100", fees="0.3",
                         strategy="idle", timestamp="2026-01-07T00:00:00"))
    p = repo.strategies.performance("idle")
    assert (p.fills, p.total_trades, p.win_rate, p.fees) == (1, 0, None, Decimal(0))


def test_performance_window_and_unregistered_names(repo):
    trip(repo, "ghost", "10", "11", ts="2026-01-01T00:00:00")
    trip(repo, "ghost", "10", "7", ts="2026-02-01T00:00:00")
    assert repo.strategies.performance("ghost").net_pnl == Decimal("-2")
    recent = repo.strategies.performance("ghost", since="2026-01-15", until="2026-03-01")
    assert (recent.total_trades, recent.net_pnl, recent.fills) == (1, Decimal("-3"), 2)
    # fills exist outside the window: still a known name, just nothing in range
    assert repo.strategies.performance("ghost", since="2027-01-01").total_trades == 0
    repo.strategies.create("registered")
    everything = repo.strategies.performance_all()
    assert list(everything) == ["ghost", "registered"]
    assert everything["registered"].total_trades == 0


def test_two_currencies_are_never_added(repo):
    trip(repo, "s", "100", "110", symbol="BTC/USDT")
    trip(repo, "s", "100", "90", symbol="BTC/EUR")
    with pytest.raises(ConflictError, match="EUR, USDT"):
        repo.strategies.performance("s")
    with pytest.raises(ConflictError, match="EUR, USDT"):
        repo.strategies.performance_all()
    assert repo.strategies.performance("s", currency="EUR").net_pnl == Decimal("-10")
    assert repo.strategies.performance_all(currency="USDT")["s"].net_pnl == Decimal("10")


def test_voided_fills_never_count(repo):
    trip(repo, "s", "100", "110")
    first = repo.db.scalar("SELECT min(id) FROM trades")
    repo.void_trade(first, "duplicate")
    p = repo.strategies.performance("s")
    assert (p.fills, p.total_trades) == (1, 0)


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]),
                          st.decimals(min_value=1, max_value=10**4, places=2),
                          st.decimals(min_value=1, max_value=10**4, places=2),
                          st.decimals(min_value=0, max_value=1, places=3)), max_size=12))
def test_performance_is_exact_and_matches_the_trips(rows):
    with TradeRepo(":memory:") as repo:
        for i, (strategy, buy, sell, fee) in enumerate(rows):
            trip(repo, strategy, buy, sell, fee, ts=f"2026-01-01T{i:02d}:00:00")
        for name in ("a", "b"):
            pnls = [sell - buy - 2 * fee for s, buy, sell, fee in rows if s == name]
            if not pnls:
                continue
            got = repo.strategies.performance(name)
            assert got.total_trades == len(pnls) and got.fills == 2 * len(pnls)
            assert got.wins == sum(1 for p in pnls if p > 0)
            assert got.losses == sum(1 for p in pnls if p < 0)
            assert got.net_pnl == sum(pnls, Decimal(0))
            assert got.fees == sum((2 * f for s, _, _, f in rows if s == name), Decimal(0))
            assert got.win_rate == got.wins / len(pnls)
            stats = repo.get_statistics(None, strategy=name)
            assert (stats.total_trades, stats.net_pnl, stats.win_rate) == \
                (got.total_trades, got.net_pnl, got.win_rate)


def test_performance_reads_the_indexes(sqlite_repo):
    from tradestore.record.trades import STRATEGY_FILL_COUNT as FILL_COUNT
    from tradestore.record.trades import STRATEGY_FILL_COUNTS as FILL_COUNTS
    for sql in (FILL_COUNT, FILL_COUNTS):
        plan = " | ".join(r[3] for r in sqlite_repo.db.query(
            "EXPLAIN QUERY PLAN " + sql, {"name": "s", "since": "0", "until": "9"}))
        assert "trades_by_strategy_time" in plan and "TEMP B-TREE" not in plan, plan


def test_hand_edit_cannot_break_config_json(sqlite_repo):
    sqlite_repo.strategies.create("s")
    with pytest.raises(sqlite3.IntegrityError):
        sqlite_repo.db.conn.execute("UPDATE strategy_configs SET config = '[1,2]'")
    assert sqlite_repo.strategies.get("s").config == {}


# ------------------------------------------------------------------ CLI

def test_cli_lists_strategies_with_performance(cli, file_repo, db_path):
    file_repo.strategies.create("trend", config={"k": 1})
    file_repo.strategies.create("old")
    file_repo.strategies.delete("old")
    trip(file_repo, "trend", "100", "104", "0.25", ts="2026-01-02T00:00:00")   # 3.5, fees 0.5
    trip(file_repo, "trend", "100", "99.5", "0.25", ts="2026-01-03T00:00:00")  # -1, fees 0.5
    trip(file_repo, "manual", "10", "12", ts="2026-01-04T00:00:00")            # 2
    file_repo.close()
    result = cli("--db", db_path, "strategies")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    trend = next(line for line in lines if line.startswith("trend"))
    assert trend.split() == ["trend", "enabled", "2", "50.0%", "2.5", "1"]
    assert any(line.startswith("manual") and "unregistered" in line for line in lines)
    assert not any(line.startswith("old") for line in lines)
    assert "old" in cli("--db", db_path, "strategies", "--all").out
    data = json.loads(cli("--db", db_path, "strategies", "--format", "json").out)
    assert {d["name"]: d["total_pnl"] for d in data} == {"manual": "2", "trend": "2.5"}


def test_cli_shows_one_strategy(cli, file_repo, db_path):
    file_repo.strategies.create("trend", config={"k": 1})
    file_repo.strategies.update_config("trend", {"k": 2})
    file_repo.close()
    result = cli("--db", db_path, "strategies", "trend")
    assert result.code == 0 and '{"k": 1}' in result.out and '{"k": 2}' in result.out
    missing = cli("--db", db_path, "strategies", "nope")
    assert missing.code == 1 and "nope" in missing.err and "Traceback" not in missing.err
