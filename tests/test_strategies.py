"""Strategies: registry, config history, soft delete, performance read from the fills."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from tradestore import ConflictError, NotFoundError, TradeRepo, ValidationError

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


def test_soft_delete_keeps_fills_and_their_performance(repo):
    repo.strategies.create("s")
    add_fill(repo, "s", pnl="5", fees="1")
    repo.strategies.delete("s")
    assert repo.db.scalar("SELECT count(*) FROM trades WHERE strategy = 's'") == 1
    assert repo.strategies.performance("s").total_pnl == Decimal("5")


def test_performance_definition(repo):
    repo.strategies.create("s")
    add_fill(repo, "s", side="BUY", fees="0.10")          # opens: pnl NULL
    add_fill(repo, "s", pnl="12.50", fees="0.10")         # win
    add_fill(repo, "s", pnl="-2.25", fees="0.05")         # loss
    add_fill(repo, "s", pnl="0.00", fees="0.01")          # break-even: neither
    add_fill(repo, "s", pnl="0.001", fees="0")            # win
    add_fill(repo, "other", pnl="1000", fees="9")         # another strategy
    p = repo.strategies.performance("s")
    assert (p.fills, p.total_trades, p.wins, p.losses) == (5, 4, 2, 1)
    assert p.win_rate == 0.5
    assert p.total_pnl == Decimal("10.251") and isinstance(p.total_pnl, Decimal)
    assert p.fees == Decimal("0.26")


def test_performance_of_a_strategy_without_closing_fills(repo):
    repo.strategies.create("idle")
    p = repo.strategies.performance("idle")
    assert (p.total_trades, p.win_rate, p.total_pnl, p.fees) == (0, None, Decimal(0), Decimal(0))
    add_fill(repo, "idle", side="BUY", fees="0.3")
    p = repo.strategies.performance("idle")
    assert (p.fills, p.total_trades, p.win_rate, p.fees) == (1, 0, None, Decimal("0.3"))


def test_performance_window_and_unregistered_names(repo):
    add_fill(repo, "ghost", pnl="1", ts="2026-01-01T00:00:00.000000Z")
    add_fill(repo, "ghost", pnl="-3", ts="2026-02-01T00:00:00.000000Z")
    assert repo.strategies.performance("ghost").total_pnl == Decimal("-2")
    recent = repo.strategies.performance("ghost", since="2026-01-15", until="2026-03-01")
    assert (recent.total_trades, recent.total_pnl) == (1, Decimal("-3"))
    # fills exist outside the window: still a known name, just nothing in range
    assert repo.strategies.performance("ghost", since="2027-01-01").total_trades == 0
    repo.strategies.create("registered")
    everything = repo.strategies.performance_all()
    assert list(everything) == ["ghost", "registered"]
    assert everything["registered"].total_trades == 0


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]),
                          st.one_of(st.none(), st.decimals(min_value=-10**6, max_value=10**6,
                                                           places=4)),
                          st.decimals(min_value=0, max_value=100, places=3)), max_size=30))
def test_performance_is_exact_and_matches_the_rows(rows):
    with TradeRepo(":memory:") as repo:
        for strategy, pnl, fee in rows:
            add_fill(repo, strategy, None if pnl is None else format(pnl, "f"), format(fee, "f"))
        for name in ("a", "b"):
            mine = [(p, f) for s, p, f in rows if s == name]
            if not mine:
                continue
            closed = [p for p, _ in mine if p is not None]
            got = repo.strategies.performance(name)
            assert got.total_trades == len(closed)
            assert got.wins == sum(1 for p in closed if p > 0)
            assert got.losses == sum(1 for p in closed if p < 0)
            assert got.total_pnl == sum(closed, Decimal(0))
            assert got.fees == sum((f for _, f in mine), Decimal(0))
            assert got.win_rate == (got.wins / len(closed) if closed else None)


def test_performance_reads_the_strategy_index(repo):
    from tradestore.strategies import PERFORMANCE
    plan = " | ".join(r[3] for r in repo.db.query(
        "EXPLAIN QUERY PLAN " + PERFORMANCE, {"name": "s", "since": None, "until": None}))
    assert "trades_by_strategy_time" in plan and "SCAN trades" not in plan


def test_hand_edit_cannot_break_config_json(repo):
    repo.strategies.create("s")
    with pytest.raises(sqlite3.IntegrityError):
        repo.db.conn.execute("UPDATE strategy_configs SET config = '[1,2]'")
    assert repo.strategies.get("s").config == {}


# ------------------------------------------------------------------ CLI

def test_cli_lists_strategies_with_performance(cli, file_repo, db_path):
    file_repo.strategies.create("trend", config={"k": 1})
    file_repo.strategies.create("old")
    file_repo.strategies.delete("old")
    add_fill(file_repo, "trend", pnl="3.5", fees="0.5")
    add_fill(file_repo, "trend", pnl="-1", fees="0.5")
    add_fill(file_repo, "manual", pnl="2")
    file_repo.close()
    result = cli("--db", db_path, "strategies")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    trend = next(line for line in lines if line.startswith("trend"))
    assert trend.split() == ["trend", "enabled", "2", "50.0%", "2.5", "1.0"]
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
