"""Portfolio snapshots: the equity curve, exact values, one point per timestamp."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradestore import PortfolioSnapshot, TradeRepo, ValidationError
from tradestore.state.portfolio import LATEST, VALUE_HISTORY

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


UTC = dt.timezone.utc
T0 = dt.datetime(2026, 1, 1, tzinfo=UTC)


def at(minutes) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def count(repo) -> int:
    return repo.db.scalar("SELECT count(*) FROM portfolio_snapshots")


def test_history_is_oldest_first_with_exact_digits(repo):
    for minute, value in ((2, "100.30"), (0, "100.10"), (1, "100.20")):
        repo.save_portfolio_snapshot(value, timestamp=at(minute))
    history = repo.get_portfolio_value_history(None)
    assert history == [(at(0), Decimal("100.10")), (at(1), Decimal("100.20")),
                       (at(2), Decimal("100.30"))]
    assert [str(v) for _, v in history] == ["100.10", "100.20", "100.30"]
    assert all(t.tzinfo is not None for t, _ in history)


def test_same_timestamp_replaces_and_keeps_the_id(repo):
    first = repo.save_portfolio_snapshot("1000", cash="10", timestamp=at(0))
    second = repo.save_portfolio_snapshot("1001.5", timestamp=at(0), positions={"BTC": "1"})
    assert first == second and count(repo) == 1
    snap = repo.latest_portfolio_snapshot()
    assert snap.total_value == Decimal("1001.5") and snap.cash is None
    assert snap.positions == {"BTC": "1"}
    assert snap.updated_at >= snap.created_at
    assert repo.save_portfolio_snapshot("5", timestamp=at(0), account="other") != first
    assert count(repo) == 2


def test_accounts_are_separate_curves(repo):
    repo.save_portfolio_snapshot("1", timestamp=at(0))
    repo.save_portfolio_snapshot("2", timestamp=at(1), account="margin")
    assert repo.get_portfolio_value_history(None) == [(at(0), Decimal("1"))]
    assert repo.get_portfolio_value_history(None, account="margin") == [(at(1), Decimal("2"))]
    assert repo.latest_portfolio_snapshot("nobody") is None


def test_window_filters(repo):
    now = dt.datetime.now(UTC).replace(microsecond=0)
    for days_ago in (40, 20, 5, 0):
        repo.save_portfolio_snapshot(str(100 - days_ago), timestamp=now - dt.timedelta(days=days_ago))
    assert [v for _, v in repo.get_portfolio_value_history()] == [Decimal(80), Decimal(95),
                                                                  Decimal(100)]
    assert len(repo.get_portfolio_value_history(days=10)) == 2
    assert len(repo.get_portfolio_value_history(days=None)) == 4
    since, until = now - dt.timedelta(days=20), now - dt.timedelta(days=5)
    # since inclusive, until exclusive
    assert [v for _, v in repo.get_portfolio_value_history(since=since, until=until)] == [Decimal(80)]
    assert len(repo.get_portfolio_value_history(days=16, until=until)) == 1
    snaps = repo.get_portfolio_snapshots(since=since, until=until + dt.timedelta(seconds=1))
    assert [s.total_value for s in snaps] == [Decimal(80), Decimal(95)]


def test_full_records(repo):
    repo.save_portfolio_snapshot(Decimal("1500.25"), cash=500, timestamp="2026-01-01T10:00:00",
                                 positions={"BTC": {"qty": Decimal("0.01"), "value": 1000.25}},
                                 balances={"USDT": Decimal("500.00")})
    [snap] = repo.get_portfolio_snapshots(None)
    assert isinstance(snap, PortfolioSnapshot)
    assert snap.timestamp == dt.datetime(2026, 1, 1, 10, tzinfo=UTC)  # naive taken as UTC
    assert snap.cash == Decimal("500") and snap.total_value == Decimal("1500.25")
    assert snap.positions == {"BTC": {"qty": "0.01", "value": 1000.25}}
    assert snap.balances == {"USDT": "500.00"}
    assert repo.latest_portfolio_snapshot() == snap


@pytest.mark.parametrize("kwargs, field", [
    ({"total_value": "abc"}, "total_value"),
    ({"total_value": float("nan")}, "total_value"),
    ({"total_value": None}, "total_value"),
    ({"total_value": 1, "cash": "1e999999"}, "cash"),
    ({"total_value": 1, "positions": ["BTC"]}, "positions"),
    ({"total_value": 1, "balances": {"USD": object()}}, "balances"),
    ({"total_value": 1, "timestamp": "not a time"}, "timestamp"),
    ({"total_value": 1, "account": ""}, "account"),
])
def test_bad_input_names_the_field_and_writes_nothing(repo, kwargs, field):
    kwargs = dict(kwargs)
    total = kwargs.pop("total_value")
    with pytest.raises(ValidationError) as info:
        repo.save_portfolio_snapshot(total, **kwargs)
    assert info.value.field == field
    assert count(repo) == 0


def test_save_many_is_all_or_nothing(repo):
    good = [{"total_value": i, "timestamp": at(i)} for i in range(5)]
    with pytest.raises(ValidationError):
        repo.portfolio.save_many(good + [{"total_value": "oops", "timestamp": at(9)}])
    with pytest.raises(ValidationError):
        repo.portfolio.save_many([{"value": 1}])
    assert count(repo) == 0
    assert repo.portfolio.save_many(good + [{"total_value": 99, "timestamp": at(2)}]) == 6
    values = [v for _, v in repo.get_portfolio_value_history(None)]
    assert values == [Decimal(0), Decimal(1), Decimal(99), Decimal(3), Decimal(4)]
    snap = repo.latest_portfolio_snapshot()
    assert repo.portfolio.save_many([snap]) == 1 and count(repo) == 5


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(points=st.lists(st.tuples(st.integers(0, 50),
                                 st.decimals(allow_nan=False, allow_infinity=False, places=4,
                                             min_value=-10**9, max_value=10**9)),
                       max_size=30),
       bulk=st.booleans())
def test_property_curve_is_last_write_per_timestamp(points, bulk):
    with TradeRepo(":memory:") as repo:
        if bulk:
            repo.portfolio.save_many({"total_value": v, "timestamp": at(m)} for m, v in points)
        else:
            for m, v in points:
                repo.save_portfolio_snapshot(v, timestamp=at(m))
        expected = {}
        for m, v in points:
            expected[at(m)] = v
        got = repo.get_portfolio_value_history(None)
        assert got == sorted(expected.items())
        assert [str(v) for _, v in got] == [str(expected[t]) for t, _ in got]


def test_hot_reads_use_the_index(sqlite_repo):
    for sql, params in ((VALUE_HISTORY, ("default", "0", "A")), (LATEST, ("default",))):
        plan = " ".join(str(r[-1]) for r in sqlite_repo.db.query("EXPLAIN QUERY PLAN " + sql, params))
        assert "USING INDEX portfolio_snapshots_by_account_time" in plan, plan
        assert "TEMP B-TREE" not in plan


@pytest.mark.parametrize("value", ["1.5e3", "12abc", "1.2.3", "--1", "1.", " 1", "NaN"])
def test_schema_refuses_exponents_and_garbage_from_the_shell(file_repo, value):
    conn = sqlite3.connect(file_repo.path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO portfolio_snapshots (account, timestamp, total_value, "
                         "created_at, updated_at) VALUES ('a', '2026-01-01T00:00:00.000000Z', ?, "
                         "'2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')", (value,))
    finally:
        conn.close()


def test_cli_equity_formats(db_path, cli):
    now = dt.datetime.now(UTC).replace(second=0, microsecond=0)
    with TradeRepo(db_path) as repo:
        repo.save_portfolio_snapshot("100.10", timestamp=now - dt.timedelta(days=60))
        repo.save_portfolio_snapshot("200.20", timestamp=now - dt.timedelta(days=1))
        repo.save_portfolio_snapshot("7", timestamp=now, account="side")
    table = cli("--db", db_path, "equity")
    assert table.code == 0 and "200.20" in table.out and "100.10" not in table.out
    assert all(len(line) <= 80 for line in table.out.splitlines())
    rows = list(csv.reader(io.StringIO(cli("--db", db_path, "equity", "--all",
                                           "--format", "csv").out)))
    assert rows[0] == ["timestamp", "total_value"] and [r[1] for r in rows[1:]] == ["100.10",
                                                                                    "200.20"]
    data = json.loads(cli("--db", db_path, "equity", "--days", "3", "--account", "side",
                          "--format", "json").out)
    assert data == [{"timestamp": now.isoformat(), "total_value": "7"}]
    assert cli("--db", db_path, "equity", "--all", "--days", "3").code == 2


def test_a_number_from_the_shell_is_stored_as_text(file_repo):
    """STRICT TEXT turns a bound REAL into its text; it can never be kept as a float."""
    file_repo.save_portfolio_snapshot("1", timestamp=at(0))
    conn = sqlite3.connect(file_repo.path)
    try:
        conn.execute("UPDATE portfolio_snapshots SET total_value = 2.5")
        conn.commit()
        assert conn.execute("SELECT typeof(total_value) FROM portfolio_snapshots").fetchone() == (
            "text",)
    finally:
        conn.close()
    assert file_repo.latest_portfolio_snapshot().total_value == Decimal("2.5")


def test_unknown_account_refused_once_accounts_exist(memory_repo):
    from tradestore import ValidationError
    memory_repo.save_portfolio_snapshot(100, account="anything")
    memory_repo.accounts.create("main")
    memory_repo.save_portfolio_snapshot(100, account="main")
    with pytest.raises(ValidationError, match="account"):
        memory_repo.portfolio.save_many([{"total_value": 1, "account": "typo"}])
    assert memory_repo.db.scalar("SELECT count(*) FROM portfolio_snapshots") == 2
