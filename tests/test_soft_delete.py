"""Soft deletes (issue 20.4, the seeds' is_active): accounts and instruments can be
deactivated and reactivated; inactive ones are hidden from lists and refuse new fills,
orders (and, for accounts, portfolio snapshots) with a ConflictError naming them."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings, strategies as st
from conftest import examples

from tradestore import TradeRepo
from tradestore.errors import ConflictError, NotFoundError, ValidationError

from conftest import run_tradestore
from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


def fill(symbol="BTC/USDT", account="default", **extra):
    return {"symbol": symbol, "side": "BUY", "quantity": "1", "price": "100",
            "timestamp": "2024-01-01T00:00:00Z", "account": account, **extra}


def counts(repo):
    return {t: repo.db.scalar(f"SELECT count(*) FROM {t}")
            for t in ("trades", "orders", "positions", "portfolio_snapshots")}


def test_account_deactivate_hides_and_refuses(repo):
    repo.accounts.create("spot", initial_cash="100")
    repo.save_trade(fill(account="spot"))
    account = repo.accounts.deactivate("spot")
    assert account.active is False
    assert [a.name for a in repo.accounts.list()] == ["default"]
    assert [(a.name, a.active) for a in repo.accounts.list(include_inactive=True)] == [
        ("default", True), ("spot", False)]
    assert [r["name"] for r in repo.accounts.summary()] == ["default"]
    before = counts(repo)
    for attempt in (lambda: repo.save_trade(fill(account="spot")),
                    lambda: repo.save_trades([fill(), fill(account="spot")]),
                    lambda: repo.create_order("BTC/USDT", "BUY", "MARKET", 1, account="spot"),
                    lambda: repo.save_portfolio_snapshot(100, account="spot")):
        with pytest.raises(ConflictError) as info:
            attempt()
        assert "'spot' is deactivated" in str(info.value)
    assert counts(repo) == before  # nothing written, not even the good fill of the batch
    # its record stays readable
    assert repo.accounts.get("spot").active is False
    assert repo.accounts.balance("spot") == 100
    assert len(repo.get_trade_history(days=None, account="spot")) == 1
    repo.accounts.activate("spot")
    repo.save_trade(fill(account="spot", price="101"))
    assert repo.get_position("BTC/USDT", account="spot").quantity == 2


def test_default_account_cannot_be_deactivated(repo):
    with pytest.raises(ConflictError, match="default"):
        repo.accounts.deactivate("default")
    with pytest.raises(NotFoundError):
        repo.accounts.deactivate("nobody")
    with pytest.raises(ValidationError):
        repo.accounts.list(include_inactive="yes")


def test_instrument_deactivate_hides_and_refuses(repo):
    repo.instruments.upsert("ETH/USDT", asset_class="crypto")
    repo.instruments.upsert("BTC/USDT", asset_class="crypto")
    order = repo.create_order("ETH/USDT", "BUY", "LIMIT", 2, price=10)
    repo.instruments.deactivate("ETH/USDT")
    assert [i.symbol for i in repo.instruments.list()] == ["BTC/USDT"]
    assert [(i.symbol, i.active) for i in repo.instruments.list(include_inactive=True)] == [
        ("BTC/USDT", True), ("ETH/USDT", False)]
    assert repo.instruments.get("ETH/USDT").active is False
    before = counts(repo)
    for attempt in (lambda: repo.save_trade(fill("ETH/USDT")),
                    lambda: repo.record_fill(order.id, 1, 10),
                    lambda: repo.create_order("ETH/USDT", "SELL", "MARKET", 1)):
        with pytest.raises(ConflictError) as info:
            attempt()
        assert "instrument 'ETH/USDT' is deactivated" in str(info.value)
    with pytest.raises(ConflictError, match="row 1: symbol"):
        repo.save_trades([fill(), fill("ETH/USDT")])
    assert counts(repo) == before
    repo.save_trade(fill("SOL/USDT"))  # an unregistered symbol is not checked
    repo.instruments.activate("ETH/USDT")
    repo.record_fill(order.id, 1, 10)
    assert repo.get_order(order.id).status == "PARTIALLY_FILLED"


def test_soft_deletes_are_audited(repo):
    repo.accounts.create("a")
    repo.instruments.upsert("X/Y")
    repo.accounts.deactivate("a")
    repo.accounts.activate("a")
    repo.instruments.deactivate("X/Y")
    moves = [(e.details["entity"], e.details["action"], e.details["before"], e.details["after"])
             for e in repo.events.recent(event_type="audit")[::-1]
             if e.details["action"] in ("activate", "deactivate")]
    assert moves == [("account", "deactivate", {"active": True}, {"active": False}),
                     ("account", "activate", {"active": False}, {"active": True}),
                     ("instrument", "deactivate", {"active": True}, {"active": False})]


def test_the_schema_keeps_the_flag_honest(db_path):
    with TradeRepo(db_path) as repo:
        repo.accounts.create("a")
    conn = sqlite3.connect(db_path)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE accounts SET is_active = 2 WHERE name = 'a'")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO instruments (symbol, created_at, updated_at, is_active) "
                     "VALUES ('Z', '2024-01-01T00:00:00.000000Z', '2024-01-01T00:00:00.000000Z', "
                     "'yes')")
    conn.close()


def test_migration_down_and_up_keeps_the_rows(db_path):
    with TradeRepo(db_path) as repo:
        repo.accounts.create("a")
        repo.instruments.upsert("X/Y")
        repo.accounts.deactivate("a")
        repo.migrate(11, force=True)  # below 0012, which added is_active
        assert "is_active" not in [r[1] for r in repo.db.query("PRAGMA table_info(accounts)")]
        repo.migrate()
        # the flag is not kept below 12: back up, every account is active again
        assert [a.name for a in repo.accounts.list()] == ["default", "a"]
        assert repo.instruments.get("X/Y").active is True


def test_cli_deactivate_and_activate(tmp_path):
    db = tmp_path / "t.db"
    with TradeRepo(db) as repo:
        repo.accounts.create("spot")
        repo.instruments.upsert("ETH/USDT")
    done = run_tradestore("--db", db, "accounts", "deactivate", "spot")
    assert done.returncode == 0 and "deactivated spot" in done.stdout, done.stderr
    assert "spot" not in run_tradestore("--db", db, "accounts").stdout
    listed = run_tradestore("--db", db, "accounts", "--all", "--format", "csv").stdout
    assert "spot" in listed and "False" in listed
    done = run_tradestore("--db", db, "instruments", "deactivate", "ETH/USDT")
    assert done.returncode == 0, done.stderr
    assert "ETH/USDT" not in run_tradestore("--db", db, "instruments").stdout
    assert "ETH/USDT" in run_tradestore("--db", db, "instruments", "--all").stdout
    done = run_tradestore("--db", db, "instruments", "activate", "ETH/USDT")
    assert done.returncode == 0 and "ETH/USDT" in run_tradestore("--db", db, "instruments").stdout
    bad = run_tradestore("--db", db, "accounts", "activate", "nobody")
    assert bad.returncode != 0 and "nobody" in bad.stderr and "Traceback" not in bad.stderr
    audit = run_tradestore("--db", db, "events", "--type", "audit").stdout
    assert "account spot: deactivate" in audit


@settings(max_examples=examples(30, 8))
@given(st.lists(st.tuples(st.sampled_from(["deactivate", "activate", "fill"]),
                          st.sampled_from(["A/X", "B/X"])), max_size=15))
def test_a_fill_is_stored_exactly_when_its_instrument_is_active(steps):
    """Property: after any sequence, the fills stored are those made while active."""
    with TradeRepo(":memory:") as repo:
        for symbol in ("A/X", "B/X"):
            repo.instruments.upsert(symbol)
        active, expected = {"A/X": True, "B/X": True}, {"A/X": 0, "B/X": 0}
        for action, symbol in steps:
            if action == "fill":
                try:
                    repo.save_trade(fill(symbol))
                    expected[symbol] += 1
                    assert active[symbol]
                except ConflictError:
                    assert not active[symbol]
            else:
                getattr(repo.instruments, action)(symbol)
                active[symbol] = action == "activate"
        for symbol, n in expected.items():
            assert len(repo.get_trade_history(symbol, days=None)) == n
        assert {i.symbol for i in repo.instruments.list()} == {s for s, a in active.items() if a}
