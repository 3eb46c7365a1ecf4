"""Candles: validation, bulk writes, range reads on the primary key, gaps, CSV."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from tradestore import OHLCVBar, TradeRepo, ValidationError
from tradestore.market.candles import SELECT_GAPS, SELECT_LATEST, SELECT_RANGE, TIMEFRAMES, align

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


UTC = dt.timezone.utc
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def minute(k: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=k)


def bar(k=0, *, symbol="BTC/USDT", timeframe="1m", exchange="", o="100", h="101", low="99",
        c="100.5", v="2", **extra):
    return OHLCVBar(symbol, timeframe, minute(k), o, h, low, c, v, exchange=exchange, **extra)


def stored(repo, symbol="BTC/USDT", timeframe="1m", exchange=""):
    return repo.candles.get_range(symbol, timeframe, None, None, exchange=exchange)


# ------------------------------------------------------------------ the bar

def test_bar_keeps_digits_and_takes_floats_through_their_repr():
    b = OHLCVBar("ETH", "5m", "2024-01-01T00:05:00+01:00", "1.10", 1.2, 0.1, Decimal("1.1000"),
                 0, quote_volume="12.50", trades_count=7)
    assert b.timestamp == dt.datetime(2023, 12, 31, 23, 5, tzinfo=UTC)  # offset taken to UTC
    assert str(b.open) == "1.10" and str(b.close) == "1.1000" and b.low == Decimal("0.1")
    assert b.exchange == "" and b.trades_count == 7


@pytest.mark.parametrize("field, value", [
    ("h", "99.5"),        # high below close
    ("low", "100.2"),     # low above open
    ("h", "98"),          # high below low
    ("v", "-1"),          # negative volume
    ("o", "NaN"), ("c", float("inf")), ("o", "abc"), ("v", None), ("o", True),
])
def test_bad_prices_and_volumes_are_rejected(field, value):
    with pytest.raises(ValidationError):
        bar(**{field: value})


@pytest.mark.parametrize("timeframe, moment", [
    ("1m", T0 + dt.timedelta(seconds=30)),
    ("1m", T0 + dt.timedelta(microseconds=1)),
    ("5m", minute(3)),
    ("15m", minute(20)),
    ("1h", minute(30)),
    ("4h", minute(60)),
    ("1d", minute(240)),
    ("1w", T0 + dt.timedelta(days=1)),     # a Tuesday
    ("1w", T0 - dt.timedelta(days=3)),     # 1w is not aligned to the epoch (a Thursday)
])
def test_misaligned_open_times_are_rejected(timeframe, moment):
    with pytest.raises(ValidationError, match="not a .* candle open time"):
        OHLCVBar("BTC", timeframe, moment, 1, 1, 1, 1, 1)


@pytest.mark.parametrize("timeframe, moment", [
    ("5m", minute(5)), ("15m", minute(45)), ("1h", minute(60)), ("4h", minute(240)),
    ("1d", T0 + dt.timedelta(days=1)), ("1w", T0 + dt.timedelta(days=7)),
    ("1w", dt.datetime(1970, 1, 5, tzinfo=UTC)), ("1w", dt.datetime(1969, 12, 29, tzinfo=UTC)),
])
def test_aligned_open_times_are_accepted(timeframe, moment):
    assert OHLCVBar("BTC", timeframe, moment, 1, 1, 1, 1, 1).timestamp == moment


def test_unknown_timeframe_is_rejected():
    for timeframe in ("1mo", "1y", "2m", "1H", "", None, ["1m"]):  # 1M is a month (20.7)
        with pytest.raises(ValidationError, match="timeframe"):
            OHLCVBar("BTC", timeframe, T0, 1, 1, 1, 1, 1)


def test_align_gives_the_open_time_of_the_containing_candle():
    moment = dt.datetime(2024, 1, 3, 13, 47, 12, tzinfo=UTC)  # a Wednesday
    assert align(moment, "15m") == dt.datetime(2024, 1, 3, 13, 45, tzinfo=UTC)
    assert align(moment, "4h") == dt.datetime(2024, 1, 3, 12, 0, tzinfo=UTC)
    assert align(moment, "1w") == dt.datetime(2024, 1, 1, tzinfo=UTC)


# ------------------------------------------------------------------ storage

def test_candles_is_a_strict_without_rowid_table(sqlite_repo):
    info = sqlite_repo.db.query_one("SELECT wr, strict FROM pragma_table_list WHERE name = 'candles'")
    assert tuple(info) == (1, 1)


def test_insert_many_skips_stored_keys_and_counts_only_new_bars(repo):
    assert repo.candles.insert_many([bar(0), bar(1), bar(2)]) == 3
    changed = bar(1, c="100.75")
    assert repo.candles.insert_many([changed, bar(3)]) == 1
    assert [b.close for b in stored(repo)] == [Decimal("100.5")] * 4  # kept as it was
    assert repo.candles.insert_many([]) == 0


def test_upsert_many_replaces_on_the_key(repo):
    repo.candles.insert_many([bar(0, quote_volume="5", trades_count=3), bar(1)])
    assert repo.candles.upsert_many([bar(0, c="100.25"), bar(2)]) == 2
    first, second, third = stored(repo)
    assert (first.close, first.quote_volume, first.trades_count) == (Decimal("100.25"), None, None)
    assert second.close == Decimal("100.5") and third.timestamp == minute(2)


def test_money_is_stored_as_plain_text_with_its_digits(repo):
    repo.candles.insert_many([bar(0, o="1E+2", h="100.10", low="0.00000010", c="100", v="0")])
    row = repo.db.query_one("SELECT open, high, low, close, volume, timestamp FROM candles")
    assert tuple(row) == ("100", "100.10", "0.00000010", "100", "0",
                          "2024-01-01T00:00:00.000000Z")
    assert str(stored(repo)[0].high) == "100.10"


def test_a_bad_item_leaves_the_store_unchanged(repo):
    repo.candles.insert_many([bar(0)])
    good = dict(symbol="BTC/USDT", timeframe="1m", timestamp=minute(2), open=1, high=2, low=1,
                close=1, volume=1)
    for bad in ({**good, "high": 0}, "not a bar", {**good, "colour": "red"}):
        with pytest.raises(ValidationError):
            repo.candles.insert_many([bar(1), good, bad])
        with pytest.raises(ValidationError):
            repo.candles.upsert_many([bar(0, c="100.7"), bad])
    assert [(b.timestamp, b.close) for b in stored(repo)] == [(minute(0), Decimal("100.5"))]


def test_dict_items_are_accepted(repo):
    assert repo.candles.insert_many([dict(symbol="X", timeframe="1h", timestamp=T0, open=1,
                                          high=1, low=1, close=1, volume=0)]) == 1


def test_get_range_is_half_open_oldest_first_and_per_series(repo):
    repo.candles.insert_many([bar(k) for k in (4, 0, 3, 1, 2)])
    repo.candles.insert_many([bar(1, exchange="kraken"), bar(1, symbol="ETH"),
                              bar(0, timeframe="5m")])
    got = repo.candles.get_range("BTC/USDT", "1m", minute(1), minute(4))
    assert [b.timestamp for b in got] == [minute(1), minute(2), minute(3)]
    assert all(b.exchange == "" and b.symbol == "BTC/USDT" and b.timeframe == "1m" for b in got)
    assert got[0] == bar(1)
    assert [b.timestamp for b in repo.candles.get_range("BTC/USDT", "1m", minute(1), None,
                                                        exchange="kraken")] == [minute(1)]
    assert repo.candles.get_range("BTC/USDT", "1m", minute(4), minute(4)) == []


def test_get_latest_returns_the_newest_bars_newest_last(repo):
    repo.candles.insert_many([bar(k) for k in range(10)])
    assert [b.timestamp for b in repo.candles.get_latest("BTC/USDT", "1m", 3)] == \
        [minute(7), minute(8), minute(9)]
    assert len(repo.candles.get_latest("BTC/USDT", "1m")) == 10
    assert repo.candles.get_latest("NONE", "1m") == []
    with pytest.raises(ValidationError):
        repo.candles.get_latest("BTC/USDT", "1m", 0)


def test_delete_range_and_symbols(repo):
    repo.candles.insert_many([bar(k) for k in range(5)] + [bar(0, symbol="ETH", exchange="b"),
                                                          bar(0, symbol="ADA", exchange="a")])
    assert repo.candles.symbols() == ["ADA", "BTC/USDT", "ETH"]
    assert repo.candles.symbols(exchange="b") == ["ETH"]
    assert repo.candles.symbols(exchange="zzz") == []
    assert repo.candles.delete_range("BTC/USDT", "1m", minute(1), minute(3)) == 2
    assert [b.timestamp for b in stored(repo)] == [minute(0), minute(3), minute(4)]
    assert repo.candles.delete_range("BTC/USDT", "1m") == 3
    assert repo.candles.symbols() == ["ADA", "ETH"]


def _plan(repo, sql, params):
    return [row[3] for row in repo.db.query("EXPLAIN QUERY PLAN " + sql, params)]


def test_get_range_and_get_latest_are_one_walk_of_the_primary_key(sqlite_repo):
    sqlite_repo.candles.insert_many([bar(k) for k in range(50)])
    sqlite_repo.db.conn.execute("ANALYZE")
    for sql, params in ((SELECT_RANGE, ("", "BTC/USDT", "1m", "a", "b")),
                        (SELECT_LATEST, ("", "BTC/USDT", "1m", 10))):
        plan = _plan(sqlite_repo, sql, params)
        assert len(plan) == 1 and plan[0].startswith("SEARCH candles USING PRIMARY KEY"), plan
        assert "timeframe=?" in plan[0]
        assert not any("TEMP B-TREE" in step for step in plan)


def test_gap_query_reads_the_primary_key_only(sqlite_repo):
    params = dict(exchange="", symbol="S", timeframe="1m", step=60, lo=0, hi=600,
                  start="", end="z")
    plan = _plan(sqlite_repo, SELECT_GAPS, params)
    reads = [step for step in plan if "candles" in step]
    assert reads and all(step.startswith("SEARCH candles USING PRIMARY KEY") for step in reads)
    assert not any("TEMP B-TREE" in step for step in plan)


def test_symbols_seeks_the_primary_key_instead_of_scanning(sqlite_repo):
    from tradestore.market.candles import NEXT_SERIES, NEXT_SYMBOL
    for sql, params in ((NEXT_SYMBOL, ("", "")), (NEXT_SERIES, ("", ""))):
        plan = _plan(sqlite_repo, sql, params)
        assert plan == [plan[0]] and "USING PRIMARY KEY" in plan[0], plan
        assert plan[0].startswith("SEARCH"), plan


def test_gap_query_for_sqlite_before_3_38_gives_the_same_gaps(sqlite_repo):
    from tradestore.market.candles import _FIRST, _GAPS
    old = _GAPS.format(epoch="CAST(strftime('%s', timestamp) AS INTEGER)",
                       first=f"CAST(strftime('%s', {_FIRST}) AS INTEGER)")
    sqlite_repo.candles.insert_many([bar(k) for k in (0, 1, 4, 9)])
    params = dict(exchange="", symbol="BTC/USDT", timeframe="1m", step=60,
                  lo=int(minute(-3).timestamp()), hi=int(minute(12).timestamp()),
                  start="2023-12-31T23:57:00.000000Z", end="2024-01-01T00:12:00.000000Z")
    expected = sorted(sqlite_repo.db.query(SELECT_GAPS, params))
    assert len(expected) == 4 and sorted(sqlite_repo.db.query(old, params)) == expected


def test_the_schema_refuses_what_python_would(db_path):
    TradeRepo(db_path).close()
    conn = sqlite3.connect(db_path)
    insert = "INSERT INTO candles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    good = ["", "BTC", "5m", "2024-01-01T00:05:00.000000Z", "1", "2", "0.5", "1.5", "3", None,
            None]
    conn.execute(insert, good)
    bad_changes = [
        (2, "2m"), (3, "2024-01-01T00:07:00.000000Z"), (3, "2024-01-01T00:05:30.000000Z"),
        (3, "2024-01-01 00:05:00"), (4, 1e20), (4, "1e3"), (4, "1.2.3"), (4, "1-2"),
        (5, "0.4"), (6, "1.6"), (8, "-3"), (10, -1),
    ]
    for index, value in bad_changes:
        row = list(good)
        row[3] = "2024-01-01T00:10:00.000000Z" if index != 3 else value
        row[index] = value
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(insert, row)
    week = ["", "BTC", "1w", "2024-01-08T00:00:00.000000Z", *good[4:]]
    conn.execute(insert, week)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(insert, [*week[:3], "2024-01-11T00:00:00.000000Z", *week[4:]])
    conn.close()


def test_the_sqlite3_shell_can_read_and_is_refused_bad_rows(db_path, sqlite3_bin):
    with TradeRepo(db_path) as repo:
        repo.candles.insert_many([bar(0), bar(2)])
    out = subprocess.run([sqlite3_bin, str(db_path), "SELECT count(*), max(close) FROM candles"],
                         capture_output=True, text=True)
    assert out.stdout.strip() == "2|100.5"
    bad = ("INSERT INTO candles VALUES ('', 'BTC/USDT', '1m', '2024-01-01T00:03:00.000000Z', "
           "1e300, '101', '99', '100', '1', NULL, NULL)")  # a float: stored as '1.0e+300'"
    out = subprocess.run([sqlite3_bin, str(db_path), bad], capture_output=True, text=True)
    assert out.returncode != 0 and "CHECK constraint failed" in out.stderr


# ------------------------------------------------------------------ gaps

def test_gaps_of_a_hand_made_series(repo):
    # Present: 0 1 2 . . 5 . 7 8 . . . 12
    repo.candles.insert_many([bar(k) for k in (0, 1, 2, 5, 7, 8, 12)])
    gaps = repo.candles.get_gaps("BTC/USDT", "1m")
    assert gaps == [(minute(3), minute(5)), (minute(6), minute(7)), (minute(9), minute(12))]
    # Bounds add the stretches before the first and after the last bar; a bound between
    # open times counts from the next open time.
    gaps = repo.candles.get_gaps("BTC/USDT", "1m", start=minute(-2), end=minute(15))
    assert gaps == [(minute(-2), minute(0)), (minute(3), minute(5)), (minute(6), minute(7)),
                    (minute(9), minute(12)), (minute(13), minute(15))]
    gaps = repo.candles.get_gaps("BTC/USDT", "1m", start=minute(5) + dt.timedelta(seconds=1),
                                 end=minute(10) + dt.timedelta(seconds=1))
    assert gaps == [(minute(6), minute(7)), (minute(9), minute(11))]
    assert repo.candles.get_gaps("BTC/USDT", "1m", start=minute(7), end=minute(9)) == []
    assert repo.candles.get_gaps("BTC/USDT", "1m", start=minute(100), end=minute(103)) == \
        [(minute(100), minute(103))]
    assert repo.candles.get_gaps("BTC/USDT", "1m", start=minute(9), end=minute(9)) == []
    assert repo.candles.get_gaps("NONE", "1m") == []


def test_gaps_of_weekly_and_hourly_series(repo):
    weeks = [T0 + dt.timedelta(weeks=w) for w in (0, 1, 4)]
    repo.candles.insert_many([OHLCVBar("X", "1w", t, 1, 1, 1, 1, 1) for t in weeks])
    expected = [(T0 + dt.timedelta(weeks=2), weeks[-1])]
    assert repo.candles.get_gaps("X", "1w") == expected
    assert repo.candles.get_gaps("X", "1w", end=weeks[-1] + dt.timedelta(days=1)) == expected
    assert repo.candles.get_gaps("X", "1w", end=weeks[-1] + dt.timedelta(days=8)) == \
        expected + [(weeks[-1] + dt.timedelta(weeks=1), weeks[-1] + dt.timedelta(weeks=2))]
    hours = [T0 + dt.timedelta(hours=h) for h in (0, 3)]
    repo.candles.insert_many([OHLCVBar("X", "1h", t, 1, 1, 1, 1, 1) for t in hours])
    assert repo.candles.get_gaps("X", "1h") == [(T0 + dt.timedelta(hours=1), hours[1])]


@given(present=st.sets(st.integers(0, 59), max_size=60),
       start=st.one_of(st.none(), st.integers(-5 * 60, 65 * 60)),
       end=st.one_of(st.none(), st.integers(-5 * 60, 65 * 60)),
       timeframe=st.sampled_from(["1m", "5m", "1w"]))
def test_gaps_and_bars_tile_the_requested_range(present, start, end, timeframe):
    """Property: the gaps and the stored bars cover the range exactly once, gaps are maximal."""
    step = dt.timedelta(seconds=TIMEFRAMES[timeframe])
    # start/end in sixtieths of a step, so they also fall between open times
    first = None if start is None else T0 + start * step / 60
    last = None if end is None else T0 + end * step / 60
    with TradeRepo(":memory:") as repo:
        repo.candles.insert_many([OHLCVBar("S", timeframe, T0 + k * step, 1, 1, 1, 1, 1)
                                  for k in present])
        gaps = repo.candles.get_gaps("S", timeframe, start=first, end=last)
        bars = [b.timestamp for b in repo.candles.get_range("S", timeframe, first, last)]

    def ceil(moment):
        opened = align(moment, timeframe)
        return opened if opened == moment else opened + step
    lo, hi = (None if first is None else ceil(first)), (None if last is None else ceil(last))
    if not bars:  # nothing stored in range: the whole bounded range is one gap
        assert gaps == ([(lo, hi)] if lo is not None and hi is not None and hi > lo else [])
        return
    lo = bars[0] if lo is None else lo
    hi = bars[-1] + step if hi is None else hi
    pieces = sorted([(a, b, "gap") for a, b in gaps] + [(t, t + step, "bar") for t in bars])
    assert pieces[0][0] == lo and pieces[-1][1] == hi
    for (a, b, kind), (c, _, next_kind) in zip(pieces, pieces[1:]):
        assert a < b and b == c  # no hole, no overlap
        assert not (kind == next_kind == "gap")  # gaps are maximal
    for a, b in gaps:
        assert a < b and align(a, timeframe) == a and align(b, timeframe) == b


# ------------------------------------------------------------------ CSV and CLI

CSV_TEXT = """\
Timestamp,Open,High,Low,Close,Volume,Quote_Volume,trades_count,ignored
2024-01-01T00:00:00Z,100,101,99,100.5,2,200.10,5,x
1704067260000,100.5,102,100,101,3,,,y
2024-01-01 00:05,101,101,101,101,0,0,0,z
"""


def test_csv_import_reads_iso_and_epoch_ms_and_optional_columns(cli, db_path, tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text(CSV_TEXT)
    result = cli("--db", db_path, "candles", "import", path, "--symbol", "BTC/USDT",
                 "--timeframe", "1m", "--exchange", "binance")
    assert result.code == 0, result
    assert "3 inserted" in result.out and result.err == ""  # no progress: not a terminal
    with TradeRepo(db_path) as repo:
        bars = stored(repo, exchange="binance")
    assert [b.timestamp for b in bars] == [minute(0), minute(1), minute(5)]
    assert (bars[0].quote_volume, bars[0].trades_count) == (Decimal("200.10"), 5)
    assert (bars[1].quote_volume, bars[1].trades_count) == (None, None)
    again = cli("--db", db_path, "candles", "import", path, "--symbol", "BTC/USDT",
                "--timeframe", "1m", "--exchange", "binance")
    assert "0 inserted, 3 already stored" in again.out


@pytest.mark.parametrize("line, message", [
    ("2024-01-01T00:06:00Z,1,0.5,0.9,1,1,,,", "high"),
    ("2024-01-01T00:06:30Z,1,1,1,1,1,,,", "candle open time"),
    ("yesterday,1,1,1,1,1,,,", "timestamp"),
    ("2024-01-01T00:06:00Z,1,1,1,1,-1,,,", "volume"),
    ("2024-01-01T00:06:00Z,1,1,1,1,1,,2.5,", "trades_count"),
    ("2024-01-01T00:06:00Z,1,1,1", "fields"),
])
def test_csv_import_is_all_or_nothing_and_names_the_bad_line(cli, db_path, tmp_path, line,
                                                             message):
    path = tmp_path / "bad.csv"
    path.write_text(CSV_TEXT + "2024-01-01T00:10:00Z,1,1,1,1,1,,,\n" + line + "\n")
    TradeRepo(db_path).close()
    result = cli("--db", db_path, "candles", "import", path, "--symbol", "S", "--timeframe", "1m")
    assert result.code == 1
    assert "bad.csv line 6:" in result.err and message in result.err, result.err
    with TradeRepo(db_path) as repo:
        assert repo.candles.symbols() == []


def test_csv_import_shows_progress_only_on_a_terminal(cli, db_path, tmp_path, monkeypatch):
    import sys
    import tradestore.market.candles
    path = tmp_path / "bars.csv"
    path.write_text(CSV_TEXT)
    monkeypatch.setattr(tradestore.market.candles, "PROGRESS_EVERY", 2)
    quiet = cli("--db", db_path, "candles", "import", path, "--symbol", "A", "--timeframe", "1m")
    assert quiet.code == 0 and quiet.err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    shown = cli("--db", db_path, "candles", "import", path, "--symbol", "B", "--timeframe", "1m")
    assert shown.code == 0 and shown.err == f"\r{path}: 2 rows read\n", shown


def test_csv_import_refuses_a_header_without_the_columns(cli, db_path, tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("time,open,high,low,close\n2024-01-01T00:00:00Z,1,1,1,1\n")
    result = cli("--db", db_path, "candles", "import", path, "--symbol", "S", "--timeframe", "1m")
    assert result.code == 1 and "lacks timestamp, volume" in result.err
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = cli("--db", db_path, "candles", "import", empty, "--symbol", "S", "--timeframe", "1m")
    assert result.code == 1 and "empty" in result.err


def test_csv_export_round_trips_through_import(cli, db_path, tmp_path):
    with TradeRepo(db_path) as repo:
        repo.candles.insert_many([bar(k, o="1.10", h="2.000", low="0.5", c="1", v="3.0",
                                      quote_volume="4.25", trades_count=k) for k in range(4)])
    out = tmp_path / "out.csv"
    result = cli("--db", db_path, "candles", "export", "--symbol", "BTC/USDT", "--timeframe",
                 "1m", "--start", minute(1).isoformat(), "--out", out)
    assert result.code == 0 and "3 candles written" in result.err
    to_stdout = cli("--db", db_path, "candles", "export", "--symbol", "BTC/USDT",
                    "--timeframe", "1m", "--start", minute(1).isoformat())
    assert to_stdout.out == out.read_text()
    assert to_stdout.out.splitlines()[1] == \
        "2024-01-01T00:01:00.000000Z,1.10,2.000,0.5,1,3.0,4.25,1"
    copy = tmp_path / "copy.db"
    result = cli("--db", copy, "candles", "import", out, "--symbol", "BTC/USDT",
                 "--timeframe", "1m")
    assert result.code == 0, result
    with TradeRepo(db_path) as a, TradeRepo(copy) as b:
        assert stored(a)[1:] == stored(b)
        assert [str(x.open) for x in stored(b)] == ["1.10"] * 3


def test_csv_import_replace_overwrites(cli, db_path, tmp_path):
    with TradeRepo(db_path) as repo:
        repo.candles.insert_many([bar(0)])
    path = tmp_path / "bars.csv"
    path.write_text("timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,3,1,2,9\n")
    result = cli("--db", db_path, "candles", "import", path, "--symbol", "BTC/USDT",
                 "--timeframe", "1m", "--replace")
    assert result.code == 0 and "1 written" in result.out
    with TradeRepo(db_path) as repo:
        assert stored(repo)[0].close == Decimal("2")


def test_gaps_command_lists_missing_candles(cli, db_path):
    with TradeRepo(db_path) as repo:
        repo.candles.insert_many([bar(k, timeframe="5m") for k in (0, 5, 20)])
    result = cli("--db", db_path, "candles", "gaps", "--symbol", "BTC/USDT", "--timeframe", "5m",
                 "--end", minute(40).isoformat())
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[1].split() == ["2024-01-01", "00:10", "2024-01-01", "00:20", "2"]
    assert lines[2].split() == ["2024-01-01", "00:25", "2024-01-01", "00:40", "3"]
    assert lines[-1] == "2 gaps, 5 candles missing"
    assert all(len(line) <= 80 for line in lines)
    as_json = cli("--db", db_path, "candles", "gaps", "--symbol", "BTC/USDT", "--timeframe",
                  "5m", "--format", "json")
    assert '"gap_start": "2024-01-01T00:10:00+00:00"' in as_json.out


def test_candles_commands_have_help(cli):
    for action in ("import", "export", "gaps"):
        result = cli("candles", action, "--help")
        assert result.code == 0 and "--symbol" in result.out and "--timeframe" in result.out
    assert cli("candles").code == 2


# ------------------------------------------------------------------ every ccxt timeframe (20.7)

CCXT_TIMEFRAMES = ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d",
                   "3d", "1w", "1M"]


def test_every_ccxt_timeframe_is_accepted():
    assert list(TIMEFRAMES) == CCXT_TIMEFRAMES


@pytest.mark.parametrize("timeframe, moment, opened", [
    # 2024-01-03 13:47: 3m -> 13:45 (827 min = 275 x 3 + 2), 30m -> 13:30, 2h -> 12:00,
    # 6h -> 12:00, 8h -> 08:00, 12h -> 12:00
    ("3m", dt.datetime(2024, 1, 3, 13, 47, tzinfo=UTC), dt.datetime(2024, 1, 3, 13, 45, tzinfo=UTC)),
    ("30m", dt.datetime(2024, 1, 3, 13, 47, tzinfo=UTC), dt.datetime(2024, 1, 3, 13, 30, tzinfo=UTC)),
    ("2h", dt.datetime(2024, 1, 3, 13, 47, tzinfo=UTC), dt.datetime(2024, 1, 3, 12, 0, tzinfo=UTC)),
    ("6h", dt.datetime(2024, 1, 3, 13, 47, tzinfo=UTC), dt.datetime(2024, 1, 3, 12, 0, tzinfo=UTC)),
    ("8h", dt.datetime(2024, 1, 3, 13, 47, tzinfo=UTC), dt.datetime(2024, 1, 3, 8, 0, tzinfo=UTC)),
    ("12h", dt.datetime(2024, 1, 3, 13, 47, tzinfo=UTC), dt.datetime(2024, 1, 3, 12, 0, tzinfo=UTC)),
    # 3d from the epoch: 2024-01-01 is day 19723 = 3 x 6574 + 1, so 3d candles open on
    # day 19722 (2023-12-31) and day 19725 (2024-01-03)
    ("3d", dt.datetime(2024, 1, 2, 5, tzinfo=UTC), dt.datetime(2023, 12, 31, tzinfo=UTC)),
    ("3d", dt.datetime(2024, 1, 3, tzinfo=UTC), dt.datetime(2024, 1, 3, tzinfo=UTC)),
    # a week opens on Monday: 2024-03-03 is a Sunday, its week opened on Monday 02-26
    ("1w", dt.datetime(2024, 3, 3, 23, 59, tzinfo=UTC), dt.datetime(2024, 2, 26, tzinfo=UTC)),
    # a month is the calendar month: 29 Feb 2024 belongs to the one opening on 1 Feb
    ("1M", dt.datetime(2024, 2, 29, 23, 59, tzinfo=UTC), dt.datetime(2024, 2, 1, tzinfo=UTC)),
    ("1M", dt.datetime(2024, 12, 31, 12, tzinfo=UTC), dt.datetime(2024, 12, 1, tzinfo=UTC)),
])
def test_align_for_the_new_timeframes(timeframe, moment, opened):
    assert align(moment, timeframe) == opened
    assert OHLCVBar("BTC", timeframe, opened, 1, 1, 1, 1, 1).timestamp == opened
    if moment != opened:
        with pytest.raises(ValidationError, match=timeframe):
            OHLCVBar("BTC", timeframe, moment, 1, 1, 1, 1, 1)


def test_month_and_week_refusals_say_the_rule():
    with pytest.raises(ValidationError, match="first day of a month, 00:00 UTC"):
        OHLCVBar("BTC", "1M", dt.datetime(2024, 2, 2, tzinfo=UTC), 1, 1, 1, 1, 1)
    with pytest.raises(ValidationError, match="Monday 00:00 UTC"):
        OHLCVBar("BTC", "1w", dt.datetime(2024, 1, 7, tzinfo=UTC), 1, 1, 1, 1, 1)


def month_bar(year, month, close=1):
    return OHLCVBar("BTC", "1M", dt.datetime(year, month, 1, tzinfo=UTC), close, close, close,
                    close, 1)


def test_monthly_gaps_count_calendar_months(repo):
    # Present: 2023-11, 2024-01, 2024-02, 2024-05. Missing between: 2023-12 and 2024-03..04.
    repo.candles.insert_many([month_bar(2023, 11), month_bar(2024, 1), month_bar(2024, 2),
                              month_bar(2024, 5)])
    assert repo.candles.get_gaps("BTC", "1M") == [
        (dt.datetime(2023, 12, 1, tzinfo=UTC), dt.datetime(2024, 1, 1, tzinfo=UTC)),
        (dt.datetime(2024, 3, 1, tzinfo=UTC), dt.datetime(2024, 5, 1, tzinfo=UTC))]
    # bounds between open times count from the next month; the range ends at 2024-08-01
    assert repo.candles.get_gaps("BTC", "1M", start="2023-10-15", end="2024-07-10") == [
        (dt.datetime(2023, 12, 1, tzinfo=UTC), dt.datetime(2024, 1, 1, tzinfo=UTC)),
        (dt.datetime(2024, 3, 1, tzinfo=UTC), dt.datetime(2024, 5, 1, tzinfo=UTC)),
        (dt.datetime(2024, 6, 1, tzinfo=UTC), dt.datetime(2024, 8, 1, tzinfo=UTC))]
    assert repo.candles.get_gaps("BTC", "1M", start="2025-01-01", end="2025-03-01") == [
        (dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 3, 1, tzinfo=UTC))]


def test_weekly_gaps_start_on_mondays(repo):
    mondays = [T0 + dt.timedelta(weeks=k) for k in (0, 1, 4)]  # 01-01, 01-08, 01-29
    repo.candles.insert_many([OHLCVBar("BTC", "1w", m, 1, 1, 1, 1, 1) for m in mondays])
    assert repo.candles.get_gaps("BTC", "1w", start="2023-12-27") == [  # a Wednesday
        (dt.datetime(2024, 1, 15, tzinfo=UTC), dt.datetime(2024, 1, 29, tzinfo=UTC))]


def test_the_schema_checks_the_new_timeframes(db_path):
    TradeRepo(db_path).close()
    conn = sqlite3.connect(db_path)
    insert = "INSERT INTO candles VALUES (?, ?, ?, ?, '1', '1', '1', '1', '1', NULL, NULL)"
    for timeframe, good, bad in [
            ("1M", "2024-02-01T00:00:00.000000Z", "2024-02-02T00:00:00.000000Z"),
            ("3d", "2024-01-03T00:00:00.000000Z", "2024-01-04T00:00:00.000000Z"),
            ("8h", "2024-01-03T16:00:00.000000Z", "2024-01-03T12:00:00.000000Z"),
            ("30m", "2024-01-03T16:30:00.000000Z", "2024-01-03T16:20:00.000000Z")]:
        conn.execute(insert, ("", "BTC", timeframe, good))
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(insert, ("", "BTC", timeframe, bad))
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(insert, ("", "BTC", "1y", "2024-01-01T00:00:00.000000Z"))
    conn.close()


@given(months=st.sets(st.integers(0, 40), max_size=25),
       start=st.one_of(st.none(), st.integers(-3, 45)), end=st.one_of(st.none(), st.integers(-3, 45)))
def test_monthly_gaps_and_bars_tile_the_range(months, start, end):
    """Property: for 1M, gaps and stored bars cover [first month, last month] exactly."""
    def month(k):  # the k-th month after 2022-01, mid-month when ``mid``
        return dt.datetime(2022 + k // 12, k % 12 + 1, 1, tzinfo=UTC)
    with TradeRepo(":memory:") as repo:
        repo.candles.insert_many([month_bar(month(k).year, month(k).month) for k in months])
        first = None if start is None else month(start) + dt.timedelta(days=3)
        last = None if end is None else month(end)
        gaps = repo.candles.get_gaps("BTC", "1M", start=first, end=last)
        bars = [b.timestamp for b in repo.candles.get_range("BTC", "1M", first, last)]
    lo = None if start is None else month(start + 1)  # a mid-month start counts from the next
    hi = None if end is None else month(end)
    if lo is not None and hi is not None and hi <= lo:
        assert gaps == []
        return
    if not bars:
        assert gaps == ([(lo, hi)] if lo is not None and hi is not None else [])
        return
    covered = sorted([(a, b) for a, b in gaps] + [(t, month_after(t)) for t in bars])
    assert covered[0][0] == (bars[0] if lo is None else lo)
    assert covered[-1][1] == (month_after(bars[-1]) if hi is None else hi)
    for (a, b), (c, _) in zip(covered, covered[1:]):
        assert a < b == c
    for (a, b), (c, d) in zip(gaps, gaps[1:]):
        assert b < c  # maximal: a bar lies between two gaps


def month_after(moment):
    return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)


def test_gaps_command_counts_calendar_months(cli, db_path):
    # Present: 2024-01 and 2024-05; missing: February, March, April (three months, whose
    # lengths 29 + 31 + 30 days no fixed step would divide)
    with TradeRepo(db_path) as repo:
        repo.candles.insert_many([month_bar(2024, 1), month_bar(2024, 5)])
    result = cli("--db", db_path, "candles", "gaps", "--symbol", "BTC", "--timeframe", "1M",
                 "--format", "json")
    assert result.code == 0, result.err
    assert '"missing": 3' in result.out and '"gap_start": "2024-02-01T00:00:00+00:00"' in result.out
    csv_out = cli("--db", db_path, "candles", "import", "/nonexistent.csv", "--symbol", "BTC",
                  "--timeframe", "1M")
    assert csv_out.code != 0 and "Traceback" not in csv_out.err
