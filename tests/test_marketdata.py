"""Indicators (recomputing replaces), signals linked to orders, news sentiment."""

from __future__ import annotations

import datetime as dt
import statistics
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from tradestore import (IndicatorPoint, NewsSentiment, NotFoundError, TradeRepo, TradingSignal,
                        ValidationError)
from tradestore.market.indicators import SELECT_INDICATOR
from tradestore.market.news import AVERAGE_SENTIMENT, FIND_NEWS
from tradestore.market.signals import SIGNALS_FOR_ORDER

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


UTC = dt.timezone.utc
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)


def hour(k: int) -> dt.datetime:
    return T0 + dt.timedelta(hours=k)


def _plan(repo, sql, params):
    return [row[3] for row in repo.db.query("EXPLAIN QUERY PLAN " + sql, params)]


# ------------------------------------------------------------------ indicators

def test_single_output_indicator_round_trips_exactly(repo):
    assert repo.indicators.save_many("BTC", "1h", "rsi_14", [(hour(0), "55.10"), (hour(1), 0.1),
                                                             (hour(2), Decimal("60"))]) == 3
    points = repo.indicators.get("BTC", "1h", "rsi_14", hour(1), hour(3))
    assert points == [IndicatorPoint(hour(1), Decimal("0.1")), IndicatorPoint(hour(2), Decimal(60))]
    assert str(repo.indicators.get("BTC", "1h", "rsi_14")[0].value) == "55.10"
    assert repo.indicators.get("BTC", "1h", "rsi_14", exchange="other") == []
    assert repo.indicators.get("BTC", "4h", "rsi_14") == []


def test_multi_output_indicator_comes_back_as_a_dict(repo):
    macd = {"macd": "1.5", "signal": "1.25", "histogram": "0.25"}
    repo.indicators.save_many("BTC", "1h", "macd", [(hour(0), macd)])
    (point,) = repo.indicators.get("BTC", "1h", "macd")
    assert point.value == {k: Decimal(v) for k, v in macd.items()}


def test_recomputing_replaces_every_field_of_a_point(repo):
    repo.indicators.save_many("BTC", "1h", "bb", [(hour(0), {"upper": 3, "lower": 1, "mid": 2}),
                                                  (hour(1), {"upper": 4, "lower": 2, "mid": 3})])
    repo.indicators.save_many("BTC", "1h", "bb", [(hour(1), {"upper": 5, "lower": 1})])
    points = repo.indicators.get("BTC", "1h", "bb")
    assert [p.value for p in points] == [{"upper": 3, "lower": 1, "mid": 2},
                                         {"upper": 5, "lower": 1}]  # "mid" did not linger
    repo.indicators.save_many("BTC", "1h", "bb", [(hour(1), 7)])  # now single-output
    assert repo.indicators.get("BTC", "1h", "bb", hour(1))[0].value == Decimal(7)
    assert repo.db.scalar("SELECT count(*) FROM indicators") == 4


def test_within_one_call_the_last_point_for_a_time_wins(repo):
    assert repo.indicators.save_many("BTC", "1h", "ema", [(hour(0), 1), (hour(0), 2)]) == 1
    assert repo.indicators.get("BTC", "1h", "ema")[0].value == Decimal(2)


@pytest.mark.parametrize("points", [
    [(hour(0), 1), (hour(1), float("nan"))],
    [(hour(0), 1), (hour(1), {})],
    [(hour(0), 1), (hour(1), {"": 1})],
    [(hour(0), 1), (hour(1),)],
    [(hour(0), 1), ("not a time", 1)],
    [(hour(0), 1), (hour(1), None)],
])
def test_bad_points_leave_the_store_unchanged(repo, points):
    repo.indicators.save_many("BTC", "1h", "x", [(hour(0), 5)])
    with pytest.raises(ValidationError):
        repo.indicators.save_many("BTC", "1h", "x", points)
    assert repo.indicators.get("BTC", "1h", "x") == [IndicatorPoint(hour(0), Decimal(5))]


def test_indicator_delete_and_validation(repo):
    repo.indicators.save_many("BTC", "1h", "x", [(hour(k), k) for k in range(5)])
    assert repo.indicators.delete("BTC", "1h", "x", hour(1), hour(3)) == 2
    assert [p.timestamp for p in repo.indicators.get("BTC", "1h", "x")] == \
        [hour(0), hour(3), hour(4)]
    with pytest.raises(ValidationError, match="timeframe"):
        repo.indicators.save_many("BTC", "2H", "x", [(hour(0), 1)])  # 2h is a ccxt timeframe


def test_indicator_read_walks_the_primary_key(sqlite_repo):
    plan = _plan(sqlite_repo, SELECT_INDICATOR, ("", "BTC", "1h", "x", "{}", "a", "b"))
    assert len(plan) == 1 and plan[0].startswith("SEARCH indicators USING PRIMARY KEY"), plan
    assert "parameters=?" in plan[0] and "timestamp>?" in plan[0], plan


# ------------------------------------------------------------------ signals

def test_record_and_get_a_signal(repo):
    sid = repo.signals.record("BTC", "buy", strength=0.8, strategy="trend", price="42000.10",
                              timestamp=hour(1), reason="crossed", metadata={"fast": 9})
    sig = repo.signals.get(sid)
    assert isinstance(sig, TradingSignal)
    assert (sig.id, sig.symbol, sig.action, sig.strength, sig.strategy, str(sig.price),
            sig.timestamp, sig.reason, sig.metadata) == \
        (sid, "BTC", "BUY", 0.8, "trend", "42000.10", hour(1), "crossed", {"fast": 9})
    bare = repo.signals.get(repo.signals.record("ETH", "HOLD"))
    assert bare.strength is None and bare.price is None and bare.timestamp.tzinfo is not None
    with pytest.raises(NotFoundError):
        repo.signals.get(sid + 100)


@pytest.mark.parametrize("kwargs", [
    dict(action="SHORT"), dict(strength=float("nan")), dict(strength="high"),
    dict(price="abc"), dict(metadata=[1]), dict(timestamp="soon"), dict(symbol=""),
])
def test_bad_signals_are_rejected(repo, kwargs):
    args = dict(symbol="BTC", action="BUY") | kwargs
    with pytest.raises(ValidationError):
        repo.signals.record(args.pop("symbol"), args.pop("action"), **args)
    assert repo.signals.recent() == []


def test_recent_signals_newest_first_with_filters(repo):
    for k, (symbol, action, strategy) in enumerate([("BTC", "BUY", "a"), ("ETH", "SELL", "a"),
                                                    ("BTC", "HOLD", "b"), ("BTC", "SELL", None)]):
        repo.signals.record(symbol, action, strategy=strategy, timestamp=hour(k))
    assert [s.timestamp for s in repo.signals.recent()] == [hour(3), hour(2), hour(1), hour(0)]
    assert [s.action for s in repo.signals.recent("BTC")] == ["SELL", "HOLD", "BUY"]
    assert [s.symbol for s in repo.signals.recent(strategy="a")] == ["ETH", "BTC"]
    assert [s.timestamp for s in repo.signals.recent(action="sell")] == [hour(3), hour(1)]
    assert [s.timestamp for s in repo.signals.recent(since=hour(1), until=hour(3))] == \
        [hour(2), hour(1)]
    assert len(repo.signals.recent(limit=2)) == 2


def test_which_signal_caused_this_order(repo):
    order = repo.create_order("BTC", "BUY", "MARKET", "0.5")
    other = repo.create_order("BTC", "SELL", "MARKET", "0.5")
    first = repo.signals.record("BTC", "BUY", timestamp=hour(0))
    second = repo.signals.record("BTC", "BUY", timestamp=hour(1))
    assert repo.signals.link_order(second, order.id) is True
    assert repo.signals.link_order(first, order.id) is True
    assert repo.signals.link_order(first, order.id) is False  # already linked
    assert [s.id for s in repo.signals.for_order(order.id)] == [first, second]
    assert repo.signals.for_order(other.id) == []
    assert repo.signals.orders_for(first) == [order.id]


def test_linking_an_unknown_order_or_signal_is_not_found(repo):
    order = repo.create_order("BTC", "BUY", "MARKET", "1")
    sid = repo.signals.record("BTC", "BUY")
    with pytest.raises(NotFoundError, match="order"):
        repo.signals.link_order(sid, order.id + 1000)
    with pytest.raises(NotFoundError, match="signal"):
        repo.signals.link_order(sid + 1000, order.id)
    with pytest.raises(ValidationError):
        repo.signals.link_order(sid, "1")
    assert repo.db.scalar("SELECT count(*) FROM signal_orders") == 0


def test_for_order_uses_the_link_index(sqlite_repo):
    plan = _plan(sqlite_repo, SIGNALS_FOR_ORDER, (1,))
    assert any("signal_orders_by_order" in step for step in plan), plan
    assert not any(step.startswith("SCAN") for step in plan if "TEMP" not in step), plan


# ------------------------------------------------------------------ news

def news(repo, headline="BTC rallies", **kwargs):
    args = dict(source="wire", published_at=hour(0), sentiment_score=0.5) | kwargs
    return repo.news.save(kwargs.pop("symbol", "BTC"), headline,
                          **{k: v for k, v in args.items() if k != "symbol"})


def test_save_and_get_news(repo):
    nid = news(repo, url="https://x/1", sentiment_label="positive", metadata={"model": "finbert"})
    item = repo.news.get(nid)
    assert isinstance(item, NewsSentiment)
    assert (item.symbol, item.headline, item.source, item.url, item.published_at,
            item.sentiment_score, item.sentiment_label, item.metadata) == \
        ("BTC", "BTC rallies", "wire", "https://x/1", hour(0), 0.5, "positive",
         {"model": "finbert"})


def test_news_is_deduplicated_on_source_and_url_or_headline(repo):
    by_url = news(repo, url="https://x/1")
    assert news(repo, "a new title for the same story", url="https://x/1",
                sentiment_score=-0.9) == by_url
    assert repo.news.get(by_url).sentiment_score == 0.5  # the first save is kept
    no_url = news(repo, "ETH slides")
    assert news(repo, "ETH slides", sentiment_score=0.1) == no_url
    assert news(repo, "ETH slides", source="other") != no_url
    assert news(repo, "ETH slides", url="https://x/2") != no_url  # a url makes it a new key
    assert repo.db.scalar("SELECT count(*) FROM news") == 4


@pytest.mark.parametrize("score", [1.01, -1.5, float("nan"), "0.5", None, True])
def test_sentiment_score_must_be_between_minus_one_and_one(repo, score):
    with pytest.raises(ValidationError):
        news(repo, sentiment_score=score)
    assert repo.news.recent() == []


def test_recent_news_and_average_sentiment(repo):
    scores = [0.5, -0.25, 1, 0.125]
    for k, score in enumerate(scores):
        news(repo, f"headline {k}", published_at=hour(k), sentiment_score=score)
    news(repo, "other coin", symbol="ETH", published_at=hour(9), sentiment_score=-1)
    assert [n.headline for n in repo.news.recent("BTC", limit=2)] == ["headline 3", "headline 2"]
    assert [n.symbol for n in repo.news.recent()][0] == "ETH"
    assert [n.published_at for n in repo.news.recent("BTC", hour(2))] == [hour(3), hour(2)]
    assert repo.news.average_sentiment("BTC") == pytest.approx(statistics.mean(scores))
    assert repo.news.average_sentiment("BTC", hour(1)) == pytest.approx(
        statistics.mean(scores[1:]))
    assert repo.news.average_sentiment("BTC", hour(1), until=hour(3)) == pytest.approx(0.375)
    assert repo.news.average_sentiment("BTC", hour(10)) is None
    assert repo.news.average_sentiment("NONE") is None


@given(st.lists(st.tuples(st.sampled_from(["A", "B"]), st.floats(-1, 1),
                          st.integers(0, 48)), max_size=25),
       st.integers(0, 48))
def test_average_sentiment_matches_the_mean_of_the_rows(rows, since):
    with TradeRepo(":memory:") as repo:
        for k, (symbol, score, h) in enumerate(rows):
            repo.news.save(symbol, f"h{k}", source="s", published_at=hour(h),
                           sentiment_score=score)
        expected = [score for symbol, score, h in rows if symbol == "A" and h >= since]
        got = repo.news.average_sentiment("A", hour(since))
    if expected:
        assert got == pytest.approx(statistics.fmean(expected), abs=1e-12)
    else:
        assert got is None


def test_news_queries_use_their_indexes(sqlite_repo):
    assert any("news_dedup" in step for step in _plan(sqlite_repo, FIND_NEWS, ("s", "u")))
    plan = _plan(sqlite_repo, AVERAGE_SENTIMENT, ("BTC", "a", "b"))
    assert any("news_by_symbol_time" in step for step in plan), plan


def test_migration_down_removes_the_market_data_tables(db_path):
    with TradeRepo(db_path) as repo:
        repo.migrate(4)
        names = {r[0] for r in repo.db.query("SELECT name FROM sqlite_master")}
        assert not names & {"candles", "indicators", "signals", "signal_orders", "news"}
        repo.migrate()
        names = {r[0] for r in repo.db.query("SELECT name FROM sqlite_master")}
        assert {"candles", "indicators", "signals", "signal_orders", "news"} <= names


@pytest.mark.parametrize("call, index", [
    (lambda repo: repo.signals.recent("BTC"), "signals_by_symbol_time"),
    (lambda repo: repo.signals.recent(strategy="trend", since=T0), "signals_by_strategy_time"),
    (lambda repo: repo.signals.recent(), "signals_by_time"),
    (lambda repo: repo.news.recent("BTC", T0), "news_by_symbol_time"),
    (lambda repo: repo.news.recent(), "news_by_time"),
])
def test_recent_lists_walk_an_index_without_sorting(sqlite_repo, call, index):
    seen = []
    sqlite_repo.db.conn.set_trace_callback(seen.append)
    try:
        call(sqlite_repo)
    finally:
        sqlite_repo.db.conn.set_trace_callback(None)
    (sql,) = [s for s in seen if s.lstrip().startswith("SELECT")]
    plan = [row[3] for row in sqlite_repo.db.query("EXPLAIN QUERY PLAN " + sql)]
    assert len(plan) == 1 and index in plan[0] and "TEMP" not in plan[0], plan


# ------------------------------------------------------------------ indicator parameters (20.7)

def test_indicators_are_kept_and_read_by_their_parameters(repo):
    t = hour(0)
    repo.indicators.save_many("BTC", "1h", "rsi", [(t, "30.5")], parameters={"period": 14})
    repo.indicators.save_many("BTC", "1h", "rsi", [(t, "41")], parameters={"period": 21})
    repo.indicators.save_many("BTC", "1h", "rsi", [(t, "50")])  # no parameters: {}
    bands = {"period": 20, "std": "2"}
    repo.indicators.save_many("BTC", "1h", "bb", [(t, {"upper": 3, "lower": 1})],
                              parameters=bands)
    assert repo.indicators.get("BTC", "1h", "rsi", parameters={"period": 14})[0].value == \
        Decimal("30.5")
    assert repo.indicators.get("BTC", "1h", "rsi", parameters={"period": 21})[0].value == 41
    assert repo.indicators.get("BTC", "1h", "rsi")[0].value == 50
    assert repo.indicators.get("BTC", "1h", "rsi", parameters={"period": 7}) == []
    # key order does not matter: the same object is the same series
    assert repo.indicators.get("BTC", "1h", "bb", parameters={"std": "2", "period": 20})[0].value \
        == {"lower": 1, "upper": 3}
    assert repo.indicators.parameter_sets("BTC", "1h", "rsi") == [
        {"period": 14}, {"period": 21}, {}]
    # recomputing one parameter set replaces only that set
    repo.indicators.save_many("BTC", "1h", "rsi", [(t, "31")], parameters={"period": 14})
    assert repo.indicators.get("BTC", "1h", "rsi", parameters={"period": 21})[0].value == 41
    assert repo.indicators.delete("BTC", "1h", "rsi", parameters={"period": 14}) == 1
    assert repo.indicators.parameter_sets("BTC", "1h", "rsi") == [{"period": 21}, {}]


@pytest.mark.parametrize("bad", [[14], "period=14", 14, {"p": float("nan")}, {"p": 2**70}])
def test_bad_parameters_are_refused_by_name(repo, bad):
    with pytest.raises(ValidationError) as info:
        repo.indicators.save_many("BTC", "1h", "rsi", [(hour(0), 1)], parameters=bad)
    assert str(info.value.field).startswith("parameters")
    assert repo.db.scalar("SELECT count(*) FROM indicators") == 0


def test_indicators_take_every_ccxt_timeframe(repo):
    for timeframe in ("3m", "2h", "3d", "1M"):
        repo.indicators.save_many("BTC", timeframe, "ema", [(hour(0), 1)], parameters={"n": 9})
        assert repo.indicators.get("BTC", timeframe, "ema", parameters={"n": 9})[0].value == 1
