"""`tradestore report`: the analytics API's figures on 80 columns, and lossless JSON."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tradestore import TradeRepo
from tradestore.tools.demo import build_demo

UTC = timezone.utc
NUMBER = r"(n/a|[+-]?[0-9][0-9,]*\.[0-9]+(?:e[+-][0-9]+)?%?)"
MONEY_LABELS = {"start value": "start_value", "end value": "end_value", "net pnl": "net_pnl",
                "expectancy": "expectancy", "gross profit": "gross_profit",
                "gross loss": "gross_loss", "best round trip": "largest_win",
                "worst round trip": "largest_loss", "average win": "avg_win",
                "average loss": "avg_loss", "total fees": "total_fees",
                "pnl (flows out)": "pnl", "net flows": "net_flows"}
PERCENT_LABELS = {"total return": "total_return", "CAGR": "cagr",
                  "volatility (ann.)": "volatility", "max drawdown": "max_drawdown",
                  "win rate": "win_rate", "money-weighted": "money_weighted_return"}
RATIO_LABELS = {"Sharpe ratio": "sharpe_ratio", "Sortino ratio": "sortino_ratio",
                "Calmar ratio": "calmar_ratio", "profit factor": "profit_factor"}


def figure(text: str, label: str) -> str:
    match = re.search(rf"(?m)(?:^  |   ){re.escape(label)} +{NUMBER}(?=\s|$)", text)
    assert match, f"{label!r} not found in:\n{text}"
    return match.group(1)


def places(shown: str) -> int:
    return len(shown.rstrip("%").split("e")[0].split(".")[1])


def assert_money(shown: str, value):
    if value is None:
        assert shown == "n/a"
        return
    number = Decimal(shown.replace(",", ""))
    assert abs(number - value) <= Decimal(1).scaleb(-places(shown)) / 2, (shown, value)


def assert_float(shown: str, value, scale=1.0):
    if value is None:
        assert shown == "n/a"
        return
    number = float(shown.rstrip("%"))
    if "e" in shown:
        assert number == pytest.approx(value * scale, rel=1e-3)
    else:
        assert abs(number - value * scale) <= 0.5 * 10 ** -places(shown) + 1e-9, (shown, value)


def assert_figures(text: str, metrics) -> None:
    for label, name in MONEY_LABELS.items():
        assert_money(figure(text, label), getattr(metrics, name))
    for label, name in PERCENT_LABELS.items():
        assert_float(figure(text, label), getattr(metrics, name), 100.0)
    for label, name in RATIO_LABELS.items():
        assert_float(figure(text, label), getattr(metrics, name))


def table_rows(text: str, title: str) -> dict[str, list[str]]:
    lines = text.split("\n")
    start = lines.index(title) + 2
    rows = {}
    for line in lines[start:]:
        if not line.startswith("  ") or line.strip() == "(no closed round trips)":
            break
        cells = line.split()
        rows[cells[0]] = cells[1:]
    return rows


def assert_table(text: str, title: str, groups) -> None:
    rows = table_rows(text, title)
    assert sorted(rows) == sorted(g.name or "(none)" for g in groups)
    for g in groups:
        trades, wins, win_rate, net, fees, factor = rows[g.name or "(none)"]
        assert (int(trades), int(wins)) == (g.trades, g.wins)
        assert_float(win_rate, g.win_rate, 100.0)
        assert_money(net, g.net_pnl)
        assert_money(fees, g.fees)
        assert_float(factor, g.profit_factor)


def fits(text: str) -> None:
    too_wide = [line for line in text.split("\n") if len(line) > 80]
    assert not too_wide, too_wide


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo") / "demo.db", days=60, seed=11)


def midnight_days_ago(days: int) -> datetime:
    moment = datetime.now(UTC) - timedelta(days=days)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


@pytest.fixture
def mixed_db(db_path):
    """Old round trips (before the last 30 days) and recent ones, a gap in the equity curve,
    two strategies, two symbols, a long and a short."""
    now = datetime.now(UTC).replace(microsecond=0)
    with TradeRepo(db_path) as repo:
        def trip(days_ago, symbol, open_side, qty, entry, exit_, strategy):
            t = now - timedelta(days=days_ago)
            close_side = "SELL" if open_side == "BUY" else "BUY"
            repo.save_trades([
                dict(symbol=symbol, side=open_side, quantity=qty, price=entry, fees="0.25",
                     timestamp=t, strategy=strategy),
                dict(symbol=symbol, side=close_side, quantity=qty, price=exit_, fees="0.3",
                     timestamp=t + timedelta(hours=5), strategy=strategy)])
        trip(80, "BTC/USDT", "BUY", "0.1", "40000", "41000.5", "alpha")
        trip(60, "ETH/USDT", "SELL", "2", "2500", "2400", "beta")
        trip(10, "BTC/USDT", "BUY", "0.05", "42000", "41500", "alpha")
        trip(5, "ETH/USDT", "SELL", "1.5", "2300", "2350.25", "beta")
        trip(3, "ETH/USDT", "BUY", "1", "2330", "2390.1", "beta")
        points, value = [], Decimal("10000")
        for day in range(90, -1, -1):
            if day in (40, 41, 42):  # a gap: those days carry the previous value
                continue
            value += Decimal(37 - day % 11 * 7) + Decimal("0.125")
            points.append({"timestamp": now - timedelta(days=day), "total_value": value})
        repo.portfolio.save_many(points)
    return db_path


def test_report_text_shows_the_apis_figures_on_80_columns(cli, demo_db):
    result = cli("--db", demo_db, "report", "--all")
    assert result.code == 0, result
    fits(result.out)
    with TradeRepo(demo_db, readonly=True) as repo:
        metrics = repo.calculate_performance_metrics(None)
        strategies = repo.get_strategy_performance(None, account="default")
        symbols = repo.get_symbol_performance(None, account="default")
    assert metrics.total_trades > 20 and len(strategies) == 3 and len(symbols) == 4
    assert_figures(result.out, metrics)
    assert metrics.currency == "USDT"   # one quote currency: its block is named
    assert f"Closed round trips in USDT: {metrics.total_trades} ({metrics.winning_trades} " \
           f"won, {metrics.losing_trades} lost)" in result.out
    assert f"{metrics.start} .. {metrics.end}" in result.out
    assert_table(result.out, "By strategy", strategies)
    assert_table(result.out, "By symbol", symbols)
    assert re.search(r"(?m)^Window: +all time$", result.out)


def test_report_days_window_matches_calculate_performance_metrics(cli, mixed_db):
    with TradeRepo(mixed_db, readonly=True) as repo:
        recent = repo.calculate_performance_metrics(30)
        everything = repo.calculate_performance_metrics(None)
        recent_groups = repo.get_strategy_performance(since=midnight_days_ago(30),
                                                      account="default")
        all_groups = repo.get_strategy_performance(None, account="default")
    assert (recent.total_trades, everything.total_trades) == (3, 5)
    default = cli("--db", mixed_db, "report")
    days = cli("--db", mixed_db, "report", "--days", "30")
    every = cli("--db", mixed_db, "report", "--all")
    assert default.code == days.code == every.code == 0
    assert default.out == days.out
    since = f"{midnight_days_ago(30):%Y-%m-%d}"
    assert re.search(rf"(?m)^Window: +last 30 days \(since {since}\)$", days.out)
    assert_figures(days.out, recent)
    assert_figures(every.out, everything)
    assert_table(days.out, "By strategy", recent_groups)
    assert_table(every.out, "By strategy", all_groups)
    assert figure(days.out, "start value") != figure(every.out, "start value")
    for text in (default.out, every.out):
        fits(text)


def test_report_json_is_lossless(cli, demo_db):
    result = cli("--db", demo_db, "report", "--all", "--format", "json")
    assert result.code == 0, result
    data = json.loads(result.out)
    with TradeRepo(demo_db, readonly=True) as repo:
        metrics = repo.calculate_performance_metrics(None)
        strategies = repo.get_strategy_performance(None, account="default")
        symbols = repo.get_symbol_performance(None, account="default")
    got = data["metrics"]
    for name, value in vars(metrics).items():
        if isinstance(value, Decimal):
            assert got[name] == format(value, "f") and Decimal(got[name]) == value, name
        elif isinstance(value, timedelta):
            assert timedelta(seconds=got[name]) == value, name
        elif hasattr(value, "isoformat"):
            assert got[name] == value.isoformat(), name
        else:
            assert got[name] == value, name  # floats, ints and None exactly
    assert data["account"] == "default" and data["days"] is None and data["since"] is None
    for rows, groups in ((data["strategies"], strategies), (data["symbols"], symbols)):
        assert [r["name"] for r in rows] == [g.name for g in groups]
        for row, group in zip(rows, groups):
            assert Decimal(row["net_pnl"]) == group.net_pnl
            assert row["net_pnl"] == format(group.net_pnl, "f")
            assert row["fees"] == format(group.fees, "f")
            assert (row["trades"], row["wins"], row["win_rate"], row["profit_factor"]) == \
                (group.trades, group.wins, group.win_rate, group.profit_factor)
    # the long digits survive: at least one stored amount has more than 2 decimals
    assert any(len(r["net_pnl"].split(".")[-1]) > 2 for r in data["strategies"])


def test_report_json_days_window(cli, mixed_db):
    data = json.loads(cli("--db", mixed_db, "report", "--days", "30", "--format", "json").out)
    assert data["days"] == 30
    assert data["since"] == midnight_days_ago(30).isoformat()
    assert data["metrics"]["total_trades"] == 3


def test_empty_store_prints_na_rather_than_failing(cli, db_path):
    assert cli("--db", db_path, "init").code == 0
    result = cli("--db", db_path, "report")
    assert result.code == 0, result
    fits(result.out)
    for label in list(MONEY_LABELS)[:2] + list(PERCENT_LABELS) + list(RATIO_LABELS):
        assert figure(result.out, label) == "n/a"
    assert "no portfolio snapshots in the window" in result.out
    assert result.out.count("(no closed round trips)") == 2
    data = json.loads(cli("--db", db_path, "report", "--format", "json").out)
    assert data["metrics"]["sharpe_ratio"] is None and data["metrics"]["total_trades"] == 0
    assert data["strategies"] == [] and data["symbols"] == []


def test_long_names_and_huge_amounts_still_fit_80_columns(cli, db_path):
    now = datetime.now(UTC)
    with TradeRepo(db_path) as repo:
        repo.save_trades([
            dict(symbol="A-VERY-LONG-SYMBOL-NAME/QUOTE", side="BUY", quantity="12345678901",
                 price="98765.4321", timestamp=now - timedelta(hours=3), fees="1234567.89",
                 strategy="a strategy with a rather long descriptive name"),
            dict(symbol="A-VERY-LONG-SYMBOL-NAME/QUOTE", side="SELL", quantity="12345678901",
                 price="198765.4321", timestamp=now - timedelta(hours=2), fees="0.000001234",
                 strategy="a strategy with a rather long descriptive name")])
        repo.portfolio.save_many([
            {"timestamp": now - timedelta(days=2), "total_value": "100000000000000"},
            {"timestamp": now - timedelta(days=1), "total_value": "123456789012345.5"}])
        metrics = repo.calculate_performance_metrics(30)
    result = cli("--db", db_path, "report")
    assert result.code == 0, result
    fits(result.out)
    assert_figures(result.out, metrics)
    with TradeRepo(db_path, readonly=True) as repo:
        (group,) = repo.get_strategy_performance(None)
    block = result.out.split("By strategy\n")[1]
    assert block.startswith("  a strategy with a rather long descriptive name\n")
    assert_money(re.search(r"net pnl +(\S+)", block).group(1), group.net_pnl)
    assert_money(re.search(r"fees +(\S+)", block).group(1), group.fees)


def test_a_long_name_in_a_table_is_clipped_and_marked(cli, db_path):
    name = "a strategy with a name much longer than any table column would give it"
    now = datetime.now(UTC)
    with TradeRepo(db_path) as repo:
        repo.save_trades([
            dict(symbol="BTC/USDT", side="SELL", quantity="1", price="100", strategy=name,
                 timestamp=now - timedelta(hours=3)),
            dict(symbol="BTC/USDT", side="BUY", quantity="1", price="90", strategy=name,
                 timestamp=now - timedelta(hours=2))])
    result = cli("--db", db_path, "report")
    fits(result.out)
    row = [line for line in result.out.split("\n") if line.startswith("  a strategy")]
    assert len(row) == 1 and "~ " in row[0] and row[0].split()[-3:] == ["10.00", "0.00", "n/a"]


def test_report_refuses_bad_arguments(cli, db_path):
    assert cli("--db", db_path, "init").code == 0
    assert cli("--db", db_path, "report", "--days", "-1").code == 2
    assert cli("--db", db_path, "report", "--days", "nan").code == 2
    assert cli("--db", db_path, "report", "--days", "3", "--all").code == 2
    missing = cli("--db", db_path.parent / "missing.db", "report")
    assert missing.code == 1 and "no such database" in missing.err
    assert not (db_path.parent / "missing.db").exists()


def test_report_of_another_account(cli, mixed_db):
    result = cli("--db", mixed_db, "report", "--account", "paper")
    assert result.code == 0, result
    assert "account 'paper'" in result.out.split("\n")[0]
    assert figure(result.out, "start value") == "n/a"
    assert "Closed round trips: 0" in result.out


def test_commands_have_help(cli):
    for command in ("report", "demo"):
        result = cli(command, "--help")
        assert result.code == 0 and "usage:" in result.out and len(result.out) > 200


def test_report_takes_deposits_out_of_the_return(cli, db_path):
    """1000 on Jan 1; +500 deposited Jan 2 10:00; 1600 at Jan 2 12:00.
    pnl = 1600 - 1000 - 500 = 100; Jan 2: (1600 - 1000 - 500) / (1000 + 500 * 2/26)."""
    with TradeRepo(db_path) as repo:
        repo.save_portfolio_snapshot("1000", timestamp=datetime(2024, 1, 1, 10, tzinfo=UTC))
        repo.accounts.deposit("default", "500", timestamp=datetime(2024, 1, 2, 10, tzinfo=UTC))
        repo.save_portfolio_snapshot("1600", timestamp=datetime(2024, 1, 2, 12, tzinfo=UTC))
    result = cli("--db", db_path, "report", "--all", "--no-chart")
    assert result.code == 0, result
    assert figure(result.out, "pnl (flows out)") == "100.00"
    assert figure(result.out, "net flows") == "500.00"
    r = 100 / (1000 + 500 * 2 / 26)
    assert figure(result.out, "total return") == f"+{r * 100:.2f}%"      # not +60 %


def test_monthly_returns_take_deposits_out(cli, db_path):
    """1000 on Jan 15; +1000 deposited Feb 10; 2000 on Feb 20; 2200 on Mar 20.
    By hand: January 0 %, February 0 % (the deposit is not a gain), March +10 %."""
    with TradeRepo(db_path) as repo:
        repo.save_portfolio_snapshot("1000", timestamp=datetime(2024, 1, 15, tzinfo=UTC))
        repo.accounts.deposit("default", "1000", timestamp=datetime(2024, 2, 10, tzinfo=UTC))
        repo.save_portfolio_snapshot("2000", timestamp=datetime(2024, 2, 20, tzinfo=UTC))
        repo.save_portfolio_snapshot("2200", timestamp=datetime(2024, 3, 20, tzinfo=UTC))
        growth = repo.analytics.growth_index(None)
    assert growth[0] == (datetime(2024, 1, 15).date(), 1.0)
    assert growth[-1][1] == pytest.approx(1.1)
    result = cli("--db", db_path, "report", "--all", "--no-chart")
    row = next(line for line in result.out.splitlines() if line.startswith("2024"))
    assert row.split() == ["2024", "0.0", "0.0", "10.0", "10.0"], row
