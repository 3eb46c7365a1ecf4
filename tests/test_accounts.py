"""Accounts, cash movements, derived balances, require(); instruments."""

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


def test_default_account_always_exists(repo):
    default = repo.accounts.get("default")
    assert (default.name, default.base_currency, default.initial_cash) == ("default", "USD", 0)
    assert [a.name for a in repo.accounts.list()] == ["default"]
    assert repo.accounts.balance("default") == 0
    with pytest.raises(ConflictError):
        repo.accounts.create("default")


def test_default_account_survives_down_and_up(file_repo):
    file_repo.migrate(3)
    assert "accounts" not in file_repo.table_counts()
    file_repo.migrate()
    assert [a.name for a in file_repo.accounts.list()] == ["default"]


def test_create_get_list(repo):
    acc = repo.accounts.create("binance", base_currency="usdt", initial_cash="1000.50",
                               strategy="grid")
    assert (acc.name, acc.base_currency, acc.initial_cash, acc.strategy) == (
        "binance", "USDT", Decimal("1000.50"), "grid")
    assert str(acc.initial_cash) == "1000.50"
    assert repo.accounts.get("binance") == acc
    repo.accounts.create("alpaca", initial_cash=0.1)
    assert repo.accounts.get("alpaca").initial_cash == Decimal("0.1")
    assert [a.name for a in repo.accounts.list()] == ["default", "alpaca", "binance"]
    with pytest.raises(ConflictError):
        repo.accounts.create("binance")
    with pytest.raises(NotFoundError):
        repo.accounts.get("kraken")


@pytest.mark.parametrize("kwargs, field", [
    ({"initial_cash": -1}, "initial_cash"), ({"initial_cash": "abc"}, "initial_cash"),
    ({"initial_cash": float("inf")}, "initial_cash"), ({"base_currency": "US DOLLAR"},
                                                        "base_currency"),
    ({"base_currency": "$"}, "base_currency"), ({"strategy": 5}, "strategy")])
def test_bad_account_input_writes_nothing(repo, kwargs, field):
    with pytest.raises(ValidationError) as err:
        repo.accounts.create("x", **kwargs)
    assert err.value.field == field
    assert [a.name for a in repo.accounts.list()] == ["default"]


def test_balance_is_initial_plus_deposits_minus_withdrawals(repo):
    repo.accounts.create("a", initial_cash="100.00")
    repo.accounts.deposit("a", "50.005", note="top up")
    repo.accounts.withdraw("a", 30)
    repo.accounts.deposit("a", 0.1)
    assert repo.accounts.balance("a") == Decimal("120.105")
    moves = repo.accounts.movements("a")
    assert [(m.kind, m.amount, m.note) for m in moves] == [
        ("deposit", Decimal("50.005"), "top up"), ("withdraw", Decimal("30"), None),
        ("deposit", Decimal("0.1"), None)]
    assert repo.accounts.balance("default") == 0  # other accounts untouched


def test_balance_at_a_time(repo):
    repo.accounts.deposit("default", 10, timestamp=dt.datetime(2026, 1, 1, tzinfo=UTC))
    repo.accounts.deposit("default", 5, timestamp="2026-02-01T00:00:00")
    assert repo.accounts.balance("default", at="2025-12-31") == 0
    assert repo.accounts.balance("default", at=dt.datetime(2026, 1, 15)) == 10
    assert repo.accounts.balance("default") == 15


def test_overdraft_is_a_conflict_unless_allowed(repo):
    repo.accounts.deposit("default", "10")
    with pytest.raises(ConflictError) as err:
        repo.accounts.withdraw("default", "10.01")
    assert "10" in str(err.value)
    assert repo.accounts.balance("default") == 10
    assert len(repo.accounts.movements("default")) == 1
    repo.accounts.withdraw("default", "10")  # exactly the balance is fine
    assert repo.accounts.balance("default") == 0
    repo.accounts.withdraw("default", "2.5", allow_overdraft=True)
    assert repo.accounts.balance("default") == Decimal("-2.5")


@pytest.mark.parametrize("amount", [0, -1, "0.000", "x", None, float("nan")])
def test_movement_amount_must_be_positive(repo, amount):
    with pytest.raises(ValidationError) as err:
        repo.accounts.deposit("default", amount)
    assert err.value.field == "amount"
    assert repo.accounts.movements("default") == []


def test_movements_of_unknown_accounts(repo):
    for call in (lambda: repo.accounts.deposit("nope", 1),
                 lambda: repo.accounts.withdraw("nope", 1),
                 lambda: repo.accounts.balance("nope"), lambda: repo.accounts.movements("nope")):
        with pytest.raises(NotFoundError):
            call()
    assert repo.db.scalar("SELECT count(*) FROM cash_movements") == 0


def test_require_accepts_anything_until_other_accounts_exist(repo):
    assert repo.accounts.require("default") == "default"
    assert repo.accounts.require("whatever") == "whatever"
    repo.accounts.create("binance")
    assert repo.accounts.require("binance") == "binance"
    assert repo.accounts.require("default") == "default"
    with pytest.raises(ValidationError) as err:
        repo.accounts.require("binanse")
    assert err.value.field == "account" and err.value.value == "binanse"
    assert "binance" in str(err.value)
    with pytest.raises(ValidationError) as err:
        repo.accounts.require("")
    assert err.value.field == "account"


def test_require_works_inside_a_transaction(repo):
    repo.accounts.create("b")
    with repo.transaction():
        assert repo.accounts.require("b") == "b"
        with pytest.raises(ValidationError):
            repo.accounts.require("c")


def test_require_and_balance_use_indexes(sqlite_repo):
    from tradestore.books.accounts import IS_KNOWN
    from tradestore.books.accounts import BALANCE
    for sql, params in ((IS_KNOWN, {"name": "x"}), (BALANCE, {"name": "x", "at": None})):
        plan = " | ".join(r[3] for r in sqlite_repo.db.query("EXPLAIN QUERY PLAN " + sql, params))
        assert "SCAN accounts " not in plan + " " and "SCAN cash_movements" not in plan, plan


def test_hand_edits_cannot_store_exponents_garbage_or_negative_amounts(sqlite_repo):
    for sql in ("UPDATE accounts SET initial_cash = '1e5'",
                "UPDATE accounts SET initial_cash = 'abc'",
                "UPDATE accounts SET initial_cash = '-1'",
                "INSERT INTO cash_movements (account, kind, amount, timestamp, created_at) VALUES "
                "('default', 'deposit', '0', '2026-01-01T00:00:00.000000Z', "
                "'2026-01-01T00:00:00.000000Z')",
                "INSERT INTO cash_movements (account, kind, amount, timestamp, created_at) VALUES "
                "('nobody', 'deposit', '1', '2026-01-01T00:00:00.000000Z', "
                "'2026-01-01T00:00:00.000000Z')"):
        with pytest.raises(sqlite3.IntegrityError):
            sqlite_repo.db.conn.execute(sql)


@given(st.decimals(min_value=0, max_value=10**9, places=2),
       st.lists(st.tuples(st.booleans(), st.decimals(min_value=Decimal("0.0001"),
                                                      max_value=10**6, places=4)), max_size=25))
def test_balance_is_exact_and_never_goes_negative_without_permission(initial, moves):
    with TradeRepo(":memory:") as repo:
        repo.accounts.create("a", initial_cash=initial)
        expected = initial
        for is_deposit, amount in moves:
            if is_deposit:
                repo.accounts.deposit("a", amount)
                expected += amount
            elif amount > expected:
                with pytest.raises(ConflictError):
                    repo.accounts.withdraw("a", amount)
            else:
                repo.accounts.withdraw("a", amount)
                expected -= amount
            assert repo.accounts.balance("a") == expected
        assert repo.accounts.balance("a") == expected  # also with no moves at all


# ------------------------------------------------------------------ instruments

def test_instrument_upsert_get_list(repo):
    btc = repo.instruments.upsert("BTC/USDT", name="Bitcoin", asset_class="crypto",
                                  exchange="binance", tick_size="0.01", lot_size="0.00001",
                                  currency="usdt", metadata={"min_notional": "10"})
    assert (btc.tick_size, btc.lot_size, btc.currency) == (Decimal("0.01"), Decimal("0.00001"),
                                                            "USDT")
    assert btc.metadata == {"min_notional": "10"}
    updated = repo.instruments.upsert("BTC/USDT", tick_size="0.1")
    assert updated.id == btc.id and updated.tick_size == Decimal("0.1")
    assert updated.name == "Bitcoin" and updated.lot_size == Decimal("0.00001")  # kept
    assert updated.created_at == btc.created_at and updated.updated_at >= btc.updated_at
    repo.instruments.upsert("AAPL", asset_class="equity", exchange="nasdaq")
    assert [i.symbol for i in repo.instruments.list()] == ["AAPL", "BTC/USDT"]
    assert [i.symbol for i in repo.instruments.list(asset_class="crypto")] == ["BTC/USDT"]
    assert [i.symbol for i in repo.instruments.list(exchange="nasdaq")] == ["AAPL"]
    assert repo.instruments.get("AAPL").tick_size is None
    with pytest.raises(NotFoundError):
        repo.instruments.get("ETH/USDT")


@pytest.mark.parametrize("kwargs, field", [
    ({"tick_size": 0}, "tick_size"), ({"lot_size": "-1"}, "lot_size"),
    ({"metadata": "x"}, "metadata"), ({"currency": "us dollar"}, "currency")])
def test_bad_instrument_input_changes_nothing(repo, kwargs, field):
    repo.instruments.upsert("X", tick_size="1")
    with pytest.raises(ValidationError) as err:
        repo.instruments.upsert("X", **kwargs)
    assert err.value.field == field
    assert repo.instruments.get("X").tick_size == 1 and len(repo.instruments.list()) == 1


# ------------------------------------------------------------------ CLI

def test_cli_accounts(cli, file_repo, db_path):
    file_repo.accounts.create("binance", base_currency="USDT", initial_cash="1000")
    file_repo.accounts.deposit("binance", "250.25")
    file_repo.accounts.withdraw("binance", "100")
    file_repo.close()
    result = cli("--db", db_path, "accounts")
    assert result.code == 0
    lines = result.out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[1].split() == ["default", "USD", "0", "0", "0", "0"]
    assert lines[2].split() == ["binance", "USDT", "1000", "250.25", "100", "1150.25"]
    data = json.loads(cli("--db", db_path, "accounts", "--format", "json").out)
    assert [(d["name"], d["balance"]) for d in data] == [("default", "0"), ("binance", "1150.25")]


def test_cli_accounts_without_a_database(cli, tmp_path):
    result = cli("--db", tmp_path / "none.db", "accounts")
    assert result.code == 1 and "no such database" in result.err
    assert not (tmp_path / "none.db").exists()


def test_flows_are_signed_movements_in_the_window(repo):
    """The external flows of the equity curve: +deposits, -withdrawals, since < t <= until."""
    t = dt.datetime(2024, 1, 1, tzinfo=UTC)
    repo.accounts.deposit("default", "100", timestamp=t)
    repo.accounts.withdraw("default", "30.5", timestamp=t + dt.timedelta(days=1))
    repo.accounts.deposit("default", "7", timestamp=t + dt.timedelta(days=2))
    assert repo.accounts.flows("default") == [(t, Decimal("100")),
                                              (t + dt.timedelta(days=1), Decimal("-30.5")),
                                              (t + dt.timedelta(days=2), Decimal("7"))]
    # since is exclusive (a flow at the start value's time is already in it), until inclusive
    assert repo.accounts.flows("default", since=t, until=t + dt.timedelta(days=1)) == \
        [(t + dt.timedelta(days=1), Decimal("-30.5"))]
    # 100 - 30.5 + 7 = 76.5: the flows add up to the balance's movements
    assert sum(a for _, a in repo.accounts.flows("default")) == Decimal("76.5") == \
        repo.accounts.balance("default")
    with pytest.raises(NotFoundError):
        repo.accounts.flows("nope")
    with pytest.raises(ValidationError, match="since"):
        repo.accounts.flows("default", since="yesterday")
