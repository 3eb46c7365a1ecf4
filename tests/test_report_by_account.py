"""report --by-account: one line per account and the total per currency
(tradestore/analytics/fleet.py), worked out by hand, on both engines."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from tests.conftest import run_tradestore
from tradestore import TradeRepo
from tradestore.analytics.fleet import AccountLine, by_account, total, window_start
from tradestore.errors import ValidationError

NOW = datetime(2024, 5, 10, 15, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def trip(symbol, qty, buy, sell, fee, when, account):
    """A long round trip: BUY then SELL an hour later, each paying ``fee`` in the quote."""
    return [{"symbol": symbol, "side": side, "quantity": qty, "price": price, "fees": fee,
             "timestamp": when + timedelta(hours=h), "account": account}
            for side, price, h in (("BUY", buy, 0), ("SELL", sell, 1))]


def fleet(repo):
    """default (USD): two USDT round trips, +8 and -11.
    bot-e (EUR, 500 deposited): a EUR round trip of -14 and a USDT one of +10.
    idle (USD): nothing."""
    repo.accounts.create("bot-e", base_currency="EUR")
    repo.accounts.deposit("bot-e", "500", timestamp=NOW - 5 * DAY)
    repo.accounts.create("idle")
    t = NOW - 2 * DAY
    repo.save_trades(
        trip("BTC/USDT", "1", "100", "110", "1", t, "default")         # 110-100-2   = +8
        + trip("ETH/USDT", "2", "50", "45", "0.5", t, "default")       # 90-100-1    = -11
        + trip("BTC/EUR", "1", "200", "190", "2", t, "bot-e")          # 190-200-4   = -14
        + trip("ETH/USDT", "1", "50", "60", "0", t, "bot-e"))          # 60-50       = +10


def test_by_account_worked_by_hand(store):
    fleet(store)
    lines, grand = by_account(store, None)
    assert lines == [
        # cash USDT: -100-1+110-1 -100-0.5+90-0.5 = -3; USD: initial 0
        AccountLine("default", 4, 2, 1, 0.5, {"USDT": Decimal("-3")},
                    {"USDT": Decimal("3")}, {"USD": Decimal("0"), "USDT": Decimal("-3")}),
        # EUR: 500-200-2+190-2 = 486; USDT: -50+60 = 10
        AccountLine("bot-e", 4, 2, 1, 0.5, {"EUR": Decimal("-14"), "USDT": Decimal("10")},
                    {"EUR": Decimal("4"), "USDT": Decimal("0")},
                    {"EUR": Decimal("486"), "USDT": Decimal("10")}),
        AccountLine("idle", 0, 0, 0, None, {}, {}, {"USD": Decimal("0")}),
    ]
    # USDT -3 + 10 = 7 and EUR -14 stay apart; cash USD 0 + 0, USDT -3 + 10
    assert grand == AccountLine("total", 8, 4, 2, 0.5,
                                {"EUR": Decimal("-14"), "USDT": Decimal("7")},
                                {"EUR": Decimal("4"), "USDT": Decimal("3")},
                                {"EUR": Decimal("486"), "USD": Decimal("0"),
                                 "USDT": Decimal("7")})


def test_window_counts_fills_and_round_trips_from_midnight(store):
    fleet(store)
    old = NOW - 30 * DAY
    store.save_trades(trip("SOL/USDT", "1", "10", "12", "0", old, "idle"))  # +2, a month ago
    lines, grand = by_account(store, 7, now=NOW)
    idle = next(line for line in lines if line.account == "idle")
    assert (idle.fills, idle.round_trips, idle.net_pnl) == (0, 0, {})
    assert idle.balance == {"USD": Decimal("0"), "USDT": Decimal("2")}  # cash: whatever the window
    assert (grand.fills, grand.round_trips) == (8, 4)
    assert window_start(7, NOW) == datetime(2024, 5, 3, tzinfo=timezone.utc)
    assert by_account(store, None)[1].round_trips == 5


def test_bad_days_is_refused():
    with TradeRepo(":memory:") as repo, pytest.raises(ValidationError, match="days: -1"):
        by_account(repo, -1)


amounts = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=6,
                      allow_nan=False, allow_infinity=False)
books = st.dictionaries(st.sampled_from(["USD", "USDT", "EUR", ""]), amounts, max_size=3)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(books, books), max_size=5))
def test_total_adds_within_a_currency_only(parts):
    """Each currency's total is the exact sum of that currency's amounts; no currency
    appears that no account has."""
    lines = [AccountLine(f"a{i}", net_pnl=pnl, balance=cash) for i, (pnl, cash) in
             enumerate(parts)]
    grand = total(lines)
    for name in ("net_pnl", "balance"):
        books_ = [getattr(line, name) for line in lines]
        assert set(getattr(grand, name)) == {c for b in books_ for c in b}
        for currency, value in getattr(grand, name).items():
            assert value == sum((b[currency] for b in books_ if currency in b), Decimal(0))


def test_cli_report_by_account(tmp_path):
    path = tmp_path / "fleet.db"
    with TradeRepo(path) as repo:
        fleet(repo)
    done = run_tradestore("--db", path, "report", "--by-account", "--all")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[3].split() == ["account", "fills", "round", "trips", "win", "rate", "net",
                                "pnl", "fees", "balance"]
    assert lines[4].split() == ["default", "4", "2", "50.00%", "-3.00", "USDT", "3.00", "USDT",
                                "0.00", "USD,", "-3.00", "USDT"]
    assert lines[5].split() == ["bot-e", "4", "2", "50.00%", "-14.00", "EUR,", "10.00", "USDT",
                                "4.00", "EUR,", "0.00", "USDT", "486.00", "EUR,", "10.00",
                                "USDT"]
    assert lines[6].split() == ["idle", "0", "0", "n/a", "n/a", "n/a", "0.00", "USD"]
    assert lines[8].split()[:8] == ["total", "8", "4", "50.00%", "-14.00", "EUR,", "7.00",
                                    "USDT"]
    data = json.loads(run_tradestore("--db", path, "report", "--by-account", "--all",
                                     "--format", "json").stdout)
    assert data["total"]["net_pnl"] == {"EUR": "-14", "USDT": "7"}
    refused = run_tradestore("--db", path, "report", "--by-account", "--html", tmp_path / "x")
    assert refused.returncode == 1 and "--html: not with --by-account" in refused.stderr
