"""The HTML report: self-contained, escaped, and showing the API's figures."""

from __future__ import annotations

import html
import os
import re
import stat
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from tradestore import TradeData, ValidationError
from tradestore.analytics import report as text_report
from tradestore.analytics.html import headline, render_html, write_html

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>"
NOW = datetime(2024, 4, 30, 12, tzinfo=UTC)
# Month-end values: Jan +10%, Feb -10%, Mar +10%, Apr +1% (1100 / 1089); max drawdown 10%.
SNAPSHOTS = [(T0, "1000"), (datetime(2024, 1, 31, 20, tzinfo=UTC), "1100"),
             (datetime(2024, 2, 29, 20, tzinfo=UTC), "990"),
             (datetime(2024, 3, 31, 20, tzinfo=UTC), "1089"),
             (datetime(2024, 4, 30, 20, tzinfo=UTC), "1100")]
# SOL round trips bought at 10, sold at 10 + d: near ties that only exact ordering separates.
SOL_DELTAS = ["1.004", "1.001", "1.0040001", "-0.003", "2", "-5", "0.5", "-0.5", "3", "-3",
              "0.25", "-0.25", "4", "-4", "0", "0.125", "-0.125", "6", "-6", "0.0625",
              "-0.0625", "7.5"]


def build(repo) -> dict:
    """Snapshots over four months and 24 round trips; returns {closed_at: expected pnl}."""
    expected = {}
    with repo.transaction():
        for moment, value in SNAPSHOTS:
            repo.save_portfolio_snapshot(value, timestamp=moment)
        repo.save_trade(TradeData("BTC/USDT", "BUY", 1, 100, timestamp=T0 + timedelta(days=1),
                                  fees=1, strategy=HOSTILE))
        closed = T0 + timedelta(days=2)
        repo.save_trade(TradeData("BTC/USDT", "SELL", 1, 150, timestamp=closed, fees=1))
        expected[closed] = Decimal(48)
        repo.save_trade(TradeData("ETH/USDT", "BUY", 2, 50, timestamp=T0 + timedelta(days=3),
                                  strategy="mean-rev"))
        closed = T0 + timedelta(days=4)
        repo.save_trade(TradeData("ETH/USDT", "SELL", 2, 40, timestamp=closed))
        expected[closed] = Decimal(-20)
        for i, delta in enumerate(SOL_DELTAS):
            opened = T0 + timedelta(days=10 + i)
            repo.save_trade(TradeData("SOL/USDT", "BUY", 1, 10, timestamp=opened, strategy="grid"))
            repo.save_trade(TradeData("SOL/USDT", "SELL", 1, Decimal(10) + Decimal(delta),
                                      timestamp=opened + timedelta(hours=1)))
            expected[opened + timedelta(hours=1)] = Decimal(delta)
    return expected


class Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def figures(page: str) -> dict[str, str]:
    return {key: html.unescape(value) for key, value in re.findall(
        r'id="fig-(\w+)"><dt>.*?</dt><dd>(.*?)</dd>', page)}


def section(page: str, element_id: str) -> str:
    match = re.search(rf'<div[^>]* id="{element_id}"[^>]*>(.*?)</div>', page, re.S)
    assert match, element_id
    return match.group(1)


def rows(fragment: str) -> list[list[str]]:
    return [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", fragment) if "<td" in row]


@pytest.fixture
def store(repo):
    return repo, build(repo)


def test_page_is_self_contained(store):
    repo, _ = store
    page = render_html(repo, now=NOW)
    assert "<script" not in page.lower()
    parser = Tags()
    parser.feed(page)
    names = {tag for tag, _ in parser.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "audio", "video",
                        "source", "base", "form", "image", "use", "foreignobject"}
    for tag, attrs in parser.tags:
        for name in attrs:
            assert name not in ("src", "href", "xlink:href", "srcset", "action", "poster")
            assert not name.startswith("on"), (tag, name)
    # "http" appears only as the SVG namespace name, never as something to fetch
    assert len(re.findall(r"(?:https?:)?//", page)) == page.count(
        'xmlns="http://www.w3.org/2000/svg"') == 2
    assert "url(" not in page and "@import" not in page and "@font-face" not in page
    assert "default-src 'none'" in page  # the browser is told to fetch nothing, run nothing


def test_headline_figures_are_the_api_values_formatted_as_the_text_report(store):
    repo, expected = store
    page = render_html(repo, now=NOW)
    shown = figures(page)
    m = repo.calculate_performance_metrics(None)
    assert shown == {key: text for key, _, text in headline(m)}
    # formatted as the text report formats them ...
    assert shown["total_return"] == text_report.pct(m.total_return, True)
    assert shown["sharpe_ratio"] == text_report.ratio(m.sharpe_ratio)
    assert shown["net_pnl"] == text_report.money(m.net_pnl)
    text = text_report.render_text(text_report.collect(repo, None))
    for key in ("start_value", "end_value", "total_return", "cagr", "sharpe_ratio",
                "sortino_ratio", "max_drawdown", "volatility", "win_rate", "profit_factor",
                "expectancy", "net_pnl", "total_fees"):
        assert shown[key] in text, key
    # ... and worked by hand from the store
    assert shown["start_value"] == "1,000.00" and shown["end_value"] == "1,100.00"
    assert shown["total_return"] == "+10.00%" and shown["max_drawdown"] == "10.00%"
    assert shown["total_trades"] == "24"
    assert shown["net_pnl"] == f"{sum(expected.values()):,.2f}" and shown["total_fees"] == "2.00"
    wins = sum(1 for pnl in expected.values() if pnl > 0)
    assert shown["win_rate"] == f"{wins / 24 * 100:.2f}%"
    # 121 daily returns: Jan 1 (from the first snapshot to the day's close) .. Apr 30
    assert shown["window"] == "2024-01-01 .. 2024-04-30 (121 days)"
    assert shown["net_flows"] == "0.00" and shown["pnl"] == "100.00"   # 1100 - 1000 - 0


def test_hostile_strategy_name_is_text(store):
    repo, _ = store
    page = render_html(repo, now=NOW)
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert escaped in section(page, "by-strategy") and escaped in section(page, "best-trips")
    assert HOSTILE not in page


def test_strategy_and_symbol_tables(store):
    repo, expected = store
    page = render_html(repo, now=NOW)
    by_strategy = {r[0]: r for r in rows(section(page, "by-strategy"))}
    assert set(by_strategy) == {HOSTILE, "mean-rev", "grid"}
    grid_pnl = sum(Decimal(d) for d in SOL_DELTAS)
    assert by_strategy[HOSTILE][1:3] == ["48.00", "1"]
    assert by_strategy["mean-rev"][1:4] == ["-20.00", "1", "0.00%"]
    assert by_strategy["grid"][1:3] == [f"{grid_pnl:,.2f}", "22"]
    by_symbol = {r[0]: r for r in rows(section(page, "by-symbol"))}
    assert list(by_symbol) == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    assert by_symbol["SOL/USDT"][1:3] == [f"{grid_pnl:,.2f}", "22"]
    for group in repo.get_symbol_performance(None):
        assert by_symbol[group.name][4] == text_report.ratio(group.profit_factor)
    assert 'title="-20"' in section(page, "by-symbol")  # the exact value on hover


def test_best_and_worst_round_trips_are_ordered_exactly(store):
    repo, expected = store
    page = render_html(repo, now=NOW)
    ids = {p.closed_at: p.id for p in repo.get_closed_positions()}
    by_pnl = sorted(expected, key=lambda closed: (expected[closed], closed))
    best = [str(ids[c]) for c in sorted(expected, key=lambda c: (-expected[c], c))[:10]]
    worst = [str(ids[c]) for c in by_pnl[:10]]
    assert [r[0] for r in rows(section(page, "best-trips"))] == best
    assert [r[0] for r in rows(section(page, "worst-trips"))] == worst
    # 1.0040001 > 1.004 > 1.001 although all show as 1.00
    assert [r[6] for r in rows(section(page, "best-trips"))][:3] == ["48.00", "7.50", "6.00"]
    positions = rows(section(page, "best-trips"))
    assert positions[0][1:4] == ["BTC/USDT", "LONG", HOSTILE]


def test_window_definitions_and_source(store):
    repo, _ = store
    page = render_html(repo, days=30, account="default", periods_per_year=252,
                       risk_free_rate=0.02, source="/data/bot one/trades.db", now=NOW)
    since = datetime(2024, 3, 31, tzinfo=UTC)
    m = repo.calculate_performance_metrics(None, since=since, periods_per_year=252,
                                           risk_free_rate=0.02)
    shown = figures(page)
    # the window starts where the money was: the last snapshot at or before Mar 31 00:00
    # is Feb 29's 990; 1100 / 990 - 1 = +11.11 %
    assert shown["start_value"] == "990.00" and shown["total_return"] == "+11.11%"
    assert shown["sharpe_ratio"] == text_report.ratio(m.sharpe_ratio)
    assert shown["total_trades"] == "0"  # every round trip closed in January/February
    assert "last 30 days (since 2024-03-31)" in page
    assert "252 periods per year" in page and "risk-free rate 2% per year" in page
    assert '<code id="source">/data/bot one/trades.db</code>' in page
    default_source = render_html(repo, now=NOW)
    assert f'<code id="source">{html.escape(str(repo.path))}</code>' in default_source


def test_monthly_heatmap_and_chart_are_drawn(store):
    repo, _ = store
    page = render_html(repo, now=NOW)
    heat = section(page, "monthly-heatmap")
    cells = re.findall(r'class="cell">(.*?)</text>', heat)
    assert cells == ["10.0%", "-10.0%", "10.0%", "1.0%", "10.0%"]  # Jan..Apr, then the year
    chart = section(page, "equity-chart")
    assert 'class="equity"' in chart and 'class="drawdown"' in chart
    assert "-10%" in chart or "-10.0%" in chart


def test_empty_store_renders_no_data(memory_repo):
    page = render_html(memory_repo, now=NOW)
    assert page.count(">no data</text>") == 2
    assert page.count("No closed round trips.") == 4
    assert figures(page)["total_return"] == "n/a"


def test_other_account_and_bad_days(store):
    repo, _ = store
    repo.save_portfolio_snapshot("50", timestamp=T0, account="other")
    repo.save_portfolio_snapshot("75", timestamp=T0 + timedelta(days=3), account="other")
    shown = figures(render_html(repo, account="other", now=NOW))
    assert shown["start_value"] == "50.00" and shown["total_return"] == "+50.00%"
    assert shown["total_trades"] == "0"
    for bad in (-1, True, "30"):
        with pytest.raises(ValidationError):
            render_html(repo, days=bad)


def test_write_html_is_atomic_and_readable(file_repo, tmp_path):
    build(file_repo)
    target = tmp_path / "out" / "report.html"
    target.parent.mkdir()
    target.write_text("old")
    written = write_html(file_repo, target, now=NOW)
    assert written == target
    assert target.read_text(encoding="utf-8") == render_html(file_repo, now=NOW)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    assert os.listdir(target.parent) == ["report.html"]  # no temp file left behind
    with pytest.raises(ValidationError):
        write_html(file_repo, target, days=-5)
    assert target.read_text(encoding="utf-8") == render_html(file_repo, now=NOW)
    assert os.listdir(target.parent) == ["report.html"]


def test_chart_query_uses_the_snapshot_index(memory_repo):
    from tradestore.analytics.html import CHART_COUNT_SQL, CHART_SQL
    params = {"account": "default", "start": "2024", "end": "2025"}
    for sql in (CHART_SQL, CHART_COUNT_SQL):
        plan = " ".join(r[3] for r in memory_repo.db.query("EXPLAIN QUERY PLAN " + sql, params))
        assert "portfolio_snapshots_by_account_time" in plan and "TEMP B-TREE" not in plan


def test_long_history_is_downsampled_with_its_spike(memory_repo):
    values = [(T0 + timedelta(minutes=i), str(10_000 + i % 97)) for i in range(30_000)]
    values[12_345] = (values[12_345][0], "25000")   # a one-minute spike
    with memory_repo.transaction():
        for moment, value in values:
            memory_repo.save_portfolio_snapshot(value, timestamp=moment)
    page = render_html(memory_repo, now=NOW)
    chart = section(page, "equity-chart")
    path = re.search(r'class="equity" d="([^"]+)"', chart).group(1)
    assert len(re.findall(r"[\d.]+,[\d.]+", path)) <= 2000
    ticks = [float(t.replace(",", "")) for t in re.findall(r'class="y-tick">([\d,.]+)<', chart)]
    assert max(ticks) >= 25_000 and min(ticks) <= 10_000   # the spike set the axis
    assert figures(page)["max_drawdown"] == text_report.pct(1 - 10_000 / 25_000)


def test_heatmap_months_match_the_daily_equity_series(memory_repo):
    """The page reads the daily closes in its one pass over the snapshots; a month with
    no snapshot at all carries the previous value (0.0%), as v_daily_equity does."""
    from tradestore.analytics.charts import monthly_returns, percent
    for moment, value in [(T0, "100"), (T0 + timedelta(days=20, hours=5), "120"),
                          (T0 + timedelta(days=20, hours=9), "110"),
                          (datetime(2024, 4, 2, tzinfo=UTC), "99"),      # February, March empty
                          (datetime(2024, 4, 30, 23, tzinfo=UTC), "121")]:
        memory_repo.save_portfolio_snapshot(value, timestamp=moment)
    cells = re.findall(r'class="cell">(.*?)</text>',
                       section(render_html(memory_repo, now=NOW), "monthly-heatmap"))
    months = monthly_returns(memory_repo.analytics.equity(None))
    assert cells[:-1] == [percent(r) + "%" for r in months.values()]
    assert cells == ["10.0%", "0.0%", "0.0%", "10.0%", "21.0%"]   # 110/100, 121/110


def test_a_withdrawal_is_no_drawdown_on_the_chart(memory_repo):
    """1000, withdraw 500, 500, then 450: the chart's drawdown is 0 until the fall of
    10 % (450 / 500), as max_drawdown; the equity line shows the values as they were."""
    from tradestore.analytics.html import chart_series
    t = datetime(2024, 1, 1, 12, tzinfo=UTC)
    memory_repo.save_portfolio_snapshot("1000", timestamp=t)
    memory_repo.accounts.withdraw("default", "500", timestamp=t + timedelta(hours=6),
                                  allow_overdraft=True)
    memory_repo.save_portfolio_snapshot("500", timestamp=t + timedelta(days=1))
    memory_repo.save_portfolio_snapshot("450", timestamp=t + timedelta(days=2))
    m = memory_repo.calculate_performance_metrics(None)
    assert m.max_drawdown == pytest.approx(0.1)
    equity, drawdown, _ = chart_series(memory_repo, m, "default")
    assert [v for _, v in equity] == [1000.0, 500.0, 450.0]
    assert [v for _, v in drawdown] == pytest.approx([0.0, 0.0, -0.1])
