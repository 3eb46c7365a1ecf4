"""One definition per word, and the views equal to the library (issue 15.6, 15.8, 16.1).

"trades", "win rate" and "net pnl" are closed round trips everywhere: the statistics,
repo.strategies.performance, `tradestore strategies`, the report (text and JSON) and
the views of the sqlite3 shell give the same numbers on one store. Amounts of two quote
currencies are never added. On random stores (hypothesis) the views and the library
agree exactly; the expected values come from a plain-Python tally of the positions.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import examples

from tradestore import ConflictError, TradeRepo
from tradestore.analytics.report import collect, render_json, render_text

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


UTC = timezone.utc
NOW = datetime.now(UTC).replace(microsecond=0)


def trip(repo, symbol, buy, sell, *, strategy=None, fee="0", exchange="", at=None,
         fee_currency=None):
    """A round trip BUY 1 @ buy then SELL 1 @ sell, each with ``fee``: pnl = sell - buy
    - 2 fee (when the fee is in the quote currency)."""
    at = at or NOW - timedelta(days=2)
    repo.save_trades([
        dict(symbol=symbol, side="BUY", quantity="1", price=buy, fees=fee, strategy=strategy,
             exchange=exchange, timestamp=at, fee_currency=fee_currency),
        dict(symbol=symbol, side="SELL", quantity="1", price=sell, fees=fee,
             exchange=exchange, timestamp=at + timedelta(hours=1), fee_currency=fee_currency),
    ])


# ------------------------------------------------------------------ one store, one answer

@pytest.fixture
def one_currency(db_path):
    """alpha: +9.8, -4.2, 0 (break-even); beta: +20; (none): -1. All in USDT.

    By hand: alpha 3 trades, 1 win, win rate 1/3, net 9.8 - 4.2 + 0 = 5.6;
    beta 1 trade, 1 win, net 20; unnamed 1 trade, 0 wins, net -1.
    """
    with TradeRepo(db_path) as repo:
        repo.strategies.create("alpha")
        repo.strategies.create("beta")
        trip(repo, "BTC/USDT", "100", "110", strategy="alpha", fee="0.1",
             at=NOW - timedelta(days=3))                                  # 10 - 0.2 = 9.8
        trip(repo, "ETH/USDT", "50", "46", strategy="alpha", fee="0.1",
             at=NOW - timedelta(days=3, hours=-2))                        # -4 - 0.2 = -4.2
        trip(repo, "ETH/USDT", "50", "50.2", strategy="alpha", fee="0.1",
             at=NOW - timedelta(days=2))                                  # 0.2 - 0.2 = 0
        trip(repo, "BTC/USDT", "100", "120", strategy="beta", at=NOW - timedelta(days=2, hours=-3))
        trip(repo, "SOL/USDT", "10", "9", at=NOW - timedelta(days=1))   # no strategy: -1
        repo.save_trade(dict(symbol="BTC/USDT", side="BUY", quantity="1", price="100",
                             strategy="alpha", timestamp=NOW - timedelta(hours=5)))  # open
    return db_path


HAND = {"alpha": (3, 1 / 3, D("5.6")), "beta": (1, 1.0, D("20")), "": (1, 0.0, D("-1"))}


def test_every_surface_says_the_same_about_round_trips(one_currency, cli, sqlite3_bin):
    import subprocess
    path = one_currency
    with TradeRepo(path, readonly=True) as repo:
        perf = repo.strategies.performance_all()
        groups = {g.name: g for g in repo.get_strategy_performance()}
        stats = {name: repo.get_statistics(None, strategy=name) for name in HAND}
        everything = repo.get_statistics(None)
        report = collect(repo, None)
    for name, (trades, win_rate, net) in HAND.items():
        g, s = groups[name], stats[name]
        assert (g.trades, g.win_rate, g.net_pnl) == (trades, pytest.approx(win_rate), net)
        assert (s.total_trades, s.win_rate, s.net_pnl) == (g.trades, g.win_rate, g.net_pnl)
        if name:
            p = perf[name]
            assert (p.total_trades, p.win_rate, p.net_pnl) == (g.trades, g.win_rate, g.net_pnl)
    # fills are counted as fills: the 3 opening BUYs and the open BUY carry the name
    assert perf["alpha"].fills == 4
    # the account's statistics are the sum of the groups, and the report shows them
    assert everything.total_trades == 5 and everything.net_pnl == D("24.6")
    assert (report.metrics.total_trades, report.metrics.net_pnl) == (5, D("24.6"))
    # `tradestore strategies` (JSON: every digit)
    rows = json.loads(cli("--db", path, "strategies", "--format", "json").out)
    by_name = {r["name"]: r for r in rows}
    for name in ("alpha", "beta"):
        assert by_name[name]["trades"] == HAND[name][0]
        assert D(by_name[name]["total_pnl"]) == HAND[name][2]
        assert by_name[name]["win_rate"] == f"{HAND[name][1] * 100:.1f}%"
    # the report's JSON and text
    data = json.loads(cli("--db", path, "report", "--all", "--format", "json").out)
    table = {r["name"]: r for r in data["strategies"]}
    for name, (trades, win_rate, net) in HAND.items():
        assert (table[name]["trades"], D(table[name]["net_pnl"])) == (trades, net)
    assert data["metrics"]["total_trades"] == 5 and D(data["metrics"]["net_pnl"]) == D("24.6")
    text = cli("--db", path, "report", "--all").out
    assert "Closed round trips in USDT: 5 (2 won, 2 lost)" in text
    # the sqlite3 shell's view
    done = subprocess.run([sqlite3_bin, "-json", "-readonly", str(path),
                           "SELECT * FROM v_strategy_performance"],
                          capture_output=True, text=True, timeout=60)
    view = {r["strategy"]: r for r in json.loads(done.stdout)}
    for name, (trades, win_rate, net) in HAND.items():
        assert (view[name]["trades"], D(view[name]["net_pnl"])) == (trades, net)
        assert view[name]["win_rate"] == pytest.approx(win_rate)


# ------------------------------------------------------------------ two currencies

@pytest.fixture
def two_currencies(db_path):
    """USDT: +10 and -2 (BTC/USDT on binance); EUR: +5 with 0.01 + 0.01 BNB of fees
    given without a EUR value (XRP/EUR on kraken)."""
    with TradeRepo(db_path) as repo:
        trip(repo, "BTC/USDT", "100", "110", strategy="a", exchange="binance")
        trip(repo, "BTC/USDT", "100", "98", strategy="a", exchange="binance",
             at=NOW - timedelta(days=1))
        trip(repo, "XRP/EUR", "10", "15", strategy="a", exchange="kraken", fee="0.01",
             fee_currency="BNB")
    return db_path


def test_two_currencies_are_never_added(two_currencies, cli):
    with TradeRepo(two_currencies, readonly=True) as repo:
        with pytest.raises(ConflictError, match=r"EUR, USDT"):
            repo.get_statistics(None)
        with pytest.raises(ConflictError, match=r"EUR, USDT"):
            repo.calculate_performance_metrics(None)
        with pytest.raises(ConflictError, match=r"EUR, USDT"):
            repo.strategies.performance("a")
        by = repo.get_statistics_by_currency(None)
        assert list(by) == ["EUR", "USDT"]
        assert (by["USDT"].total_trades, by["USDT"].net_pnl, by["USDT"].win_rate) == \
            (2, D("8"), 0.5)
        assert (by["EUR"].net_pnl, by["EUR"].unvalued_fees) == (D("5"), {"BNB": D("0.02")})
        assert repo.get_statistics(None, currency="EUR") == by["EUR"]
        assert repo.get_statistics(None, exchange="binance") == by["USDT"]
        assert repo.get_statistics(None, exchange="kraken", currency="USDT").total_trades == 0
        # one row per (group, currency), never a sum across them
        rows = [(g.name, g.currency, g.net_pnl) for g in repo.get_strategy_performance()]
        assert rows == [("a", "EUR", D("5")), ("a", "USDT", D("8"))]
        assert [(g.name, g.net_pnl) for g in repo.analytics.by_group("exchange")] == \
            [("binance", D("8")), ("kraken", D("5"))]
        assert [(g.name, g.trades) for g in repo.analytics.by_group("currency")] == \
            [("EUR", 1), ("USDT", 2)]
        report = collect(repo, None)
    text = render_text(report)
    assert "Closed round trips in EUR: 1 (1 won, 0 lost)" in text
    assert "Closed round trips in USDT: 2 (1 won, 1 lost)" in text
    assert "unvalued fees (left out of pnl): 0.02 BNB" in text
    assert "a [EUR]" in text and "a [USDT]" in text
    data = json.loads(render_json(report))
    assert data["round_trips"]["USDT"]["net_pnl"] == "8"
    assert data["round_trips"]["EUR"]["unvalued_fees"] == {"BNB": "0.02"}
    assert data["metrics"]["total_trades"] == 0   # the curve alone: trips are per currency
    result = cli("--db", two_currencies, "report", "--all")
    assert result.code == 0 and "Closed round trips in EUR" in result.out


def test_round_trips_without_a_currency_are_one_unnamed_currency(memory_repo):
    trip(memory_repo, "BTC", "100", "101")          # no '/', no instrument: no currency
    trip(memory_repo, "ETH", "100", "97")
    stats = memory_repo.get_statistics(None)
    assert (stats.currency, stats.total_trades, stats.net_pnl) == ("", 2, D("-2"))
    trip(memory_repo, "BTC/USDT", "100", "103")
    with pytest.raises(ConflictError, match=r"\(no currency\), USDT"):
        memory_repo.get_statistics(None)
    assert memory_repo.get_statistics(None, currency="").net_pnl == D("-2")


# ------------------------------------------------------------------ views == library

SYMBOLS = ["BTC/USDT", "ETH/USDT", "XRP/EUR", "BTC"]
fill = st.tuples(st.sampled_from(SYMBOLS), st.sampled_from(["", "kraken"]),
                 st.sampled_from([None, "a", "b"]),
                 st.decimals(min_value=D("0.01"), max_value=D("1000"), places=2),
                 st.decimals(min_value=D("0.01"), max_value=D("1000"), places=2),
                 st.decimals(min_value=D(0), max_value=D("1"), places=3),
                 st.sampled_from(["default", "other"]))


def _view(repo, sql) -> list[dict]:
    with repo.db.reading() as conn:
        cursor = conn.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


@settings(max_examples=examples(25, 8), deadline=None)
@given(st.lists(fill, min_size=1, max_size=10))
def test_views_equal_the_library_on_random_stores(trips):
    with TradeRepo(":memory:") as repo:
        for i, (symbol, exchange, strategy, buy, sell, fee, account) in enumerate(trips):
            repo.save_trades([
                dict(symbol=symbol, side="BUY", quantity="1", price=buy, fees=fee,
                     strategy=strategy, exchange=exchange, account=account,
                     timestamp=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=2 * i)),
                dict(symbol=symbol, side="SELL", quantity="1", price=sell, fees=fee,
                     exchange=exchange, account=account,
                     timestamp=datetime(2024, 1, 1, 1, tzinfo=UTC) + timedelta(hours=2 * i))])
        # a plain-Python oracle from the hand definition: pnl = sell - buy - 2 fee
        oracle: dict = {}
        for symbol, exchange, strategy, buy, sell, fee, account in trips:
            key = (account, symbol.split("/")[1] if "/" in symbol else "")
            oracle.setdefault(key, []).append(sell - buy - 2 * fee)
        for row in _view(repo, "SELECT * FROM v_trade_stats"):
            api = repo.get_statistics(None, account=row["account"], currency=row["currency"])
            pnls = oracle.pop((row["account"], row["currency"]))
            assert row["total_trades"] == api.total_trades == len(pnls)
            assert row["winning_trades"] == api.winning_trades == sum(p > 0 for p in pnls)
            assert row["losing_trades"] == api.losing_trades == sum(p < 0 for p in pnls)
            assert D(row["net_pnl"]) == api.net_pnl == sum(pnls, D(0))
            assert D(row["gross_profit"]) == api.gross_profit
            assert D(row["gross_loss"]) == api.gross_loss
            assert D(row["total_fees"]) == api.total_fees
            assert (row["largest_win"] and D(row["largest_win"])) == api.largest_win
            assert (row["largest_loss"] and D(row["largest_loss"])) == api.largest_loss
            assert row["win_rate"] == api.win_rate
        assert oracle == {}
        for view, key in (("v_strategy_performance", "strategy"),
                          ("v_symbol_performance", "symbol"),
                          ("v_exchange_performance", "exchange")):
            rows = _view(repo, f"SELECT * FROM {view} ORDER BY {key}, currency")
            api = repo.analytics.by_group(key)
            assert [(r[key], r["currency"], r["trades"], r["wins"], D(r["net_pnl"]),
                     D(r["fees"]), D(r["gross_profit"]), D(r["gross_loss"])) for r in rows] == \
                [(g.name, g.currency, g.trades, g.wins, g.net_pnl, g.fees, g.gross_profit,
                  g.gross_loss) for g in api]


@pytest.mark.parametrize("call", [
    lambda r: r.get_statistics(None, currency=5),
    lambda r: r.get_statistics(None, exchange=["x"]),
    lambda r: r.get_statistics_by_currency(None, account=1),
    lambda r: r.get_strategy_performance(symbol=b"BTC"),
    lambda r: r.analytics.by_group("strategy", colour="red"),
    lambda r: r.analytics.by_group("colour"),
    lambda r: r.calculate_performance_metrics(None, currency=3),
    lambda r: r.calculate_performance_metrics(None, statistics="no"),
])
def test_bad_filters_are_validation_errors(memory_repo, call):
    from tradestore import ValidationError
    trip(memory_repo, "BTC/USDT", "1", "2")
    with pytest.raises(ValidationError):
        call(memory_repo)


def test_the_facade_names_its_filters(memory_repo):
    """TradeRepo spells out its filters (issue 18.4): an unknown one is refused by the
    call itself, naming it, before anything is read (and type checkers flag it)."""
    with pytest.raises(TypeError, match="colour"):
        memory_repo.get_strategy_performance(colour="red")


def test_a_voided_fill_counts_nowhere(one_currency, cli):
    """Void both fills of beta's only round trip (+20): they are in no round trip, no
    fill count, no statistic, no view and no report."""
    with TradeRepo(one_currency) as repo:
        trip_id = repo.db.scalar("SELECT id FROM positions WHERE strategy = 'beta'")
        fills = [r[0] for r in repo.db.query(
            "SELECT id FROM trades WHERE position_id = ? OR opened_position_id = ?",
            (trip_id, trip_id))]
        assert len(fills) == 2
        for fill_id in fills:
            repo.void_trade(fill_id, "sent twice by the exchange")
        beta = repo.strategies.performance("beta")
        assert (beta.fills, beta.total_trades, beta.net_pnl) == (0, 0, D(0))
        assert repo.get_statistics(None, strategy="beta").total_trades == 0
        assert repo.get_statistics(None).total_trades == 4
        assert repo.get_statistics(None).net_pnl == D("4.6")     # 24.6 - 20
        view = repo.db.query("SELECT count(*) FROM v_round_trips WHERE strategy = 'beta'")
        assert view[0][0] == 0
    data = json.loads(cli("--db", one_currency, "report", "--all", "--format", "json").out)
    assert data["metrics"]["total_trades"] == 4 and "beta" not in \
        {r["name"] for r in data["strategies"]}


def test_records_stay_hashable_and_comparable(two_currencies):
    with TradeRepo(two_currencies, readonly=True) as repo:
        eur = repo.get_statistics(None, currency="EUR")
        assert eur == repo.get_statistics(None, currency="EUR") and hash(eur) == hash(
            repo.get_statistics(None, currency="EUR"))
        metrics = repo.calculate_performance_metrics(None, statistics=False)
        assert metrics == repo.calculate_performance_metrics(None, statistics=False) and hash(
            metrics) == hash(repo.calculate_performance_metrics(None, statistics=False))
