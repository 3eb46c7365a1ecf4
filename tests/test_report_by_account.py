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


def test_fills_by_fill_time_round_trips_by_close_time(store):
    """docs/metrics.md (report --by-account), by hand; window from 2024-05-03 00:00 UTC.
    A: BUY 1 BTC @100 fee 1 on 05-02 23:00 (before), SELL @120 fee 1 on 05-03 01:00:
       one fill in the window, the round trip closed in it: 120 - 100 - 2 = +18.
    B: BUY 2 ETH @50 on 05-08, an ADJUSTMENT SELL 2 @40 an hour later: two fills, a
       round trip of 80 - 100 = -20 (an adjustment moves the position like any fill).
    C: BUY 1 SOL @10, voided: no fill, no cash.  D: BUY 1 XRP @1, still open: a fill."""
    store.accounts.create("bot-w")
    start = datetime(2024, 5, 3, tzinfo=timezone.utc)
    store.save_trades(
        [dict(f, timestamp=start + timedelta(hours=h)) for f, h in
         zip(trip("BTC/USDT", "1", "100", "120", "1", start, "bot-w"), (-1, 1))]
        + trip("ETH/USDT", "2", "50", "40", "0", NOW - 2 * DAY, "bot-w"))
    adjusted = store.get_trade_history(days=None, account="bot-w", symbol="ETH/USDT")[-1]
    store.void_trade(adjusted.id, "booked as an adjustment instead")
    store.save_trade({"symbol": "ETH/USDT", "side": "SELL", "quantity": "2", "price": "40",
                      "timestamp": adjusted.timestamp, "account": "bot-w",
                      "kind": "ADJUSTMENT"})
    voided = store.save_trade({"symbol": "SOL/USDT", "side": "BUY", "quantity": "1",
                               "price": "10", "timestamp": NOW - DAY, "account": "bot-w"})
    store.void_trade(voided, "entered twice")
    store.save_trade({"symbol": "XRP/USDT", "side": "BUY", "quantity": "1", "price": "1",
                      "timestamp": NOW - DAY, "account": "bot-w"})
    lines, grand = by_account(store, 7, now=NOW)
    line = next(line for line in lines if line.account == "bot-w")
    # fills: A's SELL, B's BUY and adjustment, D = 4 (A's BUY, B's voided SELL, C left out)
    # cash USDT: -100 - 1 + 120 - 1 - 100 + 80 - 1 = -3
    assert line == AccountLine("bot-w", 4, 2, 1, 0.5, {"USDT": Decimal("-2")},
                               {"USDT": Decimal("2")},
                               {"USD": Decimal("0"), "USDT": Decimal("-3")})
    assert grand.fills == 4 and grand.round_trips == 2


def test_by_account_reads_inside_one_snapshot(tmp_path):
    """A fill committed by another connection while an outer reading() is open is not
    seen by by_account inside it (its own reads nest in the outer snapshot), only after."""
    path = tmp_path / "fleet.db"
    with TradeRepo(path) as reader, TradeRepo(path) as writer:
        fleet(writer)
        with reader.db.reading():
            before = by_account(reader, None)
            writer.save_trades(trip("SOL/USDT", "1", "10", "12", "0", NOW, "idle"))
            assert by_account(reader, None) == before
        lines, grand = by_account(reader, None)
        assert (grand.fills, grand.round_trips) == (before[1].fills + 2, 5)


def test_names_are_escaped_for_the_terminal(tmp_path):
    """Account and currency names (and the database's) may hold any text: a control
    character is shown escaped, as everywhere in the CLI, never sent to the terminal."""
    path = tmp_path / "fleet\n.db"
    name = "evil\x1b[2J\nbot"
    with TradeRepo(path) as repo:
        repo.accounts.create(name)
        repo.save_trades(trip("BTC/U\x1bSD", "1", "10", "12", "0", NOW - DAY, name))  # +2
    done = run_tradestore("--db", path, "report", "--by-account", "--all")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and f"Accounts of {tmp_path}/fleet\\n.db" in done.stdout
    row = next(line for line in done.stdout.splitlines() if line.startswith("evil"))
    # net pnl 12 - 10 = 2, fees 0, cash: the quote -10 + 12 = 2 ("U\x1bSD" sorts first), USD 0
    assert row.split() == ["evil\\x1b[2J\\nbot", "2", "1", "100.00%", "2.00", "U\\x1bSD",
                           "0.00", "U\\x1bSD", "2.00", "U\\x1bSD,", "0.00", "USD"]
