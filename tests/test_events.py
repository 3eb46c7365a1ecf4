"""The event log: log, recent (level and above), after, prune, the logging handler, CLI."""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
import threading
import time

import pytest

from tradestore import EventLogHandler, StoreError, TradeRepo, ValidationError
from tradestore._core.codec import EARLIEST_TEXT
from tradestore._core.events import (EVENT_COLUMNS, RECENT_ALL, RECENT_AT_LEVEL, RECENT_OF_TYPE,
                                     severity_for)

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


UTC = dt.timezone.utc
LEVELS = ["debug", "info", "warning", "error", "critical"]


def test_log_and_read_back(repo):
    event_id = repo.events.log("order.rejected", "insufficient balance", severity="WARNING",
                               symbol="BTC/USDT", trade_id=7, order_id=9,
                               details={"code": -2010, "price": "100.5"},
                               timestamp="2026-01-02T03:04:05.123456+00:00")
    [event] = repo.events.recent()
    assert event.id == event_id
    assert (event.event_type, event.message, event.severity, event.symbol, event.trade_id,
            event.order_id) == ("order.rejected", "insufficient balance", "warning", "BTC/USDT",
                                7, 9)
    assert event.details == {"code": -2010, "price": "100.5"}
    assert event.timestamp == dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


@pytest.mark.parametrize("kwargs, field", [
    ({"severity": "fatal"}, "severity"), ({"details": [1]}, "details"),
    ({"trade_id": "7"}, "trade_id"), ({"timestamp": "yesterday"}, "timestamp"),
    ({"symbol": 5}, "symbol")])
def test_bad_events_are_refused(repo, kwargs, field):
    with pytest.raises(ValidationError) as err:
        repo.events.log("x", "m", **kwargs)
    assert err.value.field == field
    assert repo.events.recent() == []
    with pytest.raises(ValidationError):
        repo.events.log("", "empty type")


def test_level_is_computed_from_the_severity(repo):
    """Schema 14: the writer stores severity only and the store computes level from it
    (logging's numbers, by hand: debug 10, info 20, warning 30, error 40, critical 50).
    The API has no way to write level (EventLog.log takes no such argument); SQL that
    names it is refused with our error naming the column, and nothing is stored."""
    for severity in LEVELS:
        repo.events.log("probe", severity, severity=severity.upper())
    assert repo.db.query("SELECT severity, level FROM events ORDER BY id") == [
        ("debug", 10), ("info", 20), ("warning", 30), ("error", 40), ("critical", 50)]
    with pytest.raises(StoreError, match='column "level"'):
        with repo.transaction() as conn:
            conn.execute("INSERT INTO events (timestamp, severity, level, event_type, message) "
                         "VALUES (?, 'info', 20, 'probe', 'x')", (EARLIEST_TEXT,))
    assert repo.db.scalar("SELECT count(*) FROM events") == 5


def test_down_to_13_and_up_again_keeps_every_event(repo):
    """14 -> 13 -> 14 keeps every event equal (13 stores level, filled from severity;
    14 computes it), the writer works at both versions, and ids go on where they were."""
    for severity in LEVELS:
        repo.events.log("probe", f"a {severity} line", severity=severity, symbol="BTC/USDT",
                        trade_id=7, order_id=9, details={"n": 1},
                        timestamp=dt.datetime(2026, 1, 1, tzinfo=UTC))
    repo.settings.set("risk", "0.5")  # an audit event: tradestore._core.audit writes it
    everything = f"SELECT {EVENT_COLUMNS}, level FROM events ORDER BY id"
    before = repo.db.query(everything)
    assert [r[2] for r in before] == [*LEVELS, "info"] and \
        [r[-1] for r in before] == [10, 20, 30, 40, 50, 20]
    assert repo.migrate(13) == [13]
    assert repo.db.query(everything)[:6] == before
    repo.events.log("probe", "logged at 13", severity="critical")
    assert repo.migrate(14) == [14]
    repo.events.log("probe", "logged at 14", severity="debug")
    after = repo.db.query(everything)
    assert after[:6] == before
    assert [(r[0], r[2], r[3], r[4], r[-1]) for r in after[6:]] == [
        (7, "info", "migration", "schema version 14 -> 13", 20),
        (8, "critical", "probe", "logged at 13", 50),
        (9, "info", "migration", "schema version 13 -> 14", 20),
        (10, "debug", "probe", "logged at 14", 10)]
    assert [e.message for e in repo.events.recent(severity="critical")] == \
        ["logged at 13", "a critical line"]  # read through events_by_level_time


def test_recent_newest_first_with_limit(repo):
    for i in range(10):
        repo.events.log("tick", f"m{i}", timestamp=dt.datetime(2026, 1, 1, 0, i, tzinfo=UTC))
    got = repo.events.recent(limit=3)
    assert [e.message for e in got] == ["m9", "m8", "m7"]
    for bad in (0, -1, "3", True):
        with pytest.raises(ValidationError):
            repo.events.recent(limit=bad)


def test_severity_means_this_level_and_above(repo):
    for i, level in enumerate(LEVELS * 3):
        repo.events.log("t", level, severity=level,
                        timestamp=dt.datetime(2026, 1, 1, 0, 0, i, tzinfo=UTC))
    for i, level in enumerate(LEVELS):
        got = repo.events.recent(severity=level)
        assert sorted({e.severity for e in got}, key=LEVELS.index) == LEVELS[i:]
        assert len(got) == 3 * (5 - i)
    assert [e.severity for e in repo.events.recent(limit=4, severity="error")] == [
        "critical", "error", "critical", "error"]


def test_filters_by_type_and_since(repo):
    repo.events.log("a", "old", timestamp="2026-01-01T00:00:00")
    repo.events.log("b", "old b", severity="error", timestamp="2026-01-01T00:00:00")
    repo.events.log("a", "new", severity="error", timestamp="2026-03-01T00:00:00")
    assert [e.message for e in repo.events.recent(event_type="a")] == ["new", "old"]
    assert [e.message for e in repo.events.recent(since="2026-02-01")] == ["new"]
    assert [e.message for e in repo.events.recent(event_type="a", severity="error")] == ["new"]
    assert [e.message for e in repo.events.recent(severity="error", since="2026-02-01")] == ["new"]
    with pytest.raises(ValidationError):
        repo.events.recent(severity="loud")


def test_recent_matches_a_plain_query_for_every_filter(memory_repo):
    repo = memory_repo
    for i in range(300):
        repo.events.log(f"t{i % 3}", f"m{i}", severity=LEVELS[(i * 7) % 5],
                        timestamp=dt.datetime(2026, 1, 1, 0, i // 60, i % 60, tzinfo=UTC))
    for severity in [None] + LEVELS:
        for event_type in (None, "t1"):
            for since in (None, "2026-01-01T00:03:00"):
                got = [e.id for e in repo.events.recent(9, severity, event_type, since)]
                expected = [r[0] for r in repo.db.query(
                    "SELECT id FROM events WHERE level >= ? AND (? IS NULL OR event_type = ?) "
                    "AND timestamp >= ? ORDER BY timestamp DESC, id DESC LIMIT 9",
                    ({None: 0}.get(severity, 10 * (LEVELS.index(severity or "debug") + 1)),
                     event_type, event_type, since and since + ".000000Z" or EARLIEST_TEXT))]
                assert got == expected, (severity, event_type, since)


def test_recent_reads_indexes(sqlite_repo):
    params = {"limit": 10, "level": 30, "event_type": "x", "since": ""}
    for sql in (RECENT_ALL, RECENT_AT_LEVEL, RECENT_OF_TYPE):
        plan = [r[3] for r in sqlite_repo.db.query("EXPLAIN QUERY PLAN " + sql, params)]
        touching = [p for p in plan if " events" in p]
        assert touching and all("USING INDEX" in p for p in touching), plan


def test_after_returns_new_events_in_order(repo):
    first = repo.events.log("a", "1")
    repo.events.log("a", "2", severity="debug")
    repo.events.log("b", "3", severity="error")
    assert [e.message for e in repo.events.after(first)] == ["2", "3"]
    assert [e.message for e in repo.events.after(first, severity="info")] == ["3"]
    assert [e.message for e in repo.events.after(0, event_type="a")] == ["1", "2"]


def test_prune_deletes_only_older_events(repo):
    now = dt.datetime.now(UTC)
    for days in (100, 40, 29, 1):
        repo.events.log("t", f"{days}d", timestamp=now - dt.timedelta(days=days))
    assert repo.events.prune(30) == 2
    assert sorted(e.message for e in repo.events.recent()) == ["1d", "29d"]
    assert repo.events.prune(30) == 0
    for bad in (-1, None, "30"):
        with pytest.raises(ValidationError):
            repo.events.prune(bad)
    assert len(repo.events.recent()) == 2
    assert repo.events.prune(0) == 2


# ------------------------------------------------------------------ logging handler

@pytest.fixture
def logger():
    log = logging.getLogger(f"tradestore-test-{time.monotonic_ns()}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)


def test_handler_maps_levels_links_and_exceptions(repo, logger):
    logger.addHandler(EventLogHandler(repo))
    logger.debug("d")
    logger.info("filled %s at %s", "BTC", "100.5", extra={"symbol": "BTC/USDT", "order_id": 4})
    logger.warning("w", extra={"event_type": "risk.limit"})
    try:
        1 / 0
    except ZeroDivisionError:
        logger.exception("boom")
    logger.log(60, "beyond critical")
    events = repo.events.recent()[::-1]
    assert [e.severity for e in events] == ["debug", "info", "warning", "error", "critical"]
    assert events[1].message == "filled BTC at 100.5"
    assert (events[1].symbol, events[1].order_id) == ("BTC/USDT", 4)
    assert events[0].event_type == logger.name and events[2].event_type == "risk.limit"
    assert "ZeroDivisionError" in events[3].message and "Traceback" in events[3].message
    assert events[1].details["logger"] == logger.name
    assert events[1].details["function"] == "test_handler_maps_levels_links_and_exceptions"


def test_severity_for_custom_levels():
    assert [severity_for(n) for n in (0, 5, 10, 15, 20, 25, 30, 45, 50, 99)] == [
        "debug", "debug", "debug", "debug", "info", "info", "warning", "error", "critical",
        "critical"]


def test_handler_level_and_fixed_event_type(repo, logger):
    logger.addHandler(EventLogHandler(repo, logging.WARNING, event_type="bot"))
    logger.info("dropped")
    logger.error("kept")
    [event] = repo.events.recent()
    assert (event.message, event.event_type) == ("kept", "bot")


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_handler_under_many_threads_keeps_every_record(kind, tmp_path, logger):
    threads, per_thread = 12, 40
    path = ":memory:" if kind == "memory" else tmp_path / "trades.db"
    with TradeRepo(path, durability="normal") as repo:
        logger.addHandler(EventLogHandler(repo))
        start = threading.Barrier(threads)
        errors = []

        def work(n):
            try:
                start.wait()
                for i in range(per_thread):
                    logger.info("t%d-%d", n, i, extra={"symbol": f"S{n}"})
                    if i % 10 == 0:  # readers interleave with writers
                        repo.events.recent(5)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
        pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(60)
        assert not errors
        assert repo.db.scalar("SELECT count(*) FROM events") == threads * per_thread
        assert repo.db.scalar("SELECT count(DISTINCT message) FROM events") == threads * per_thread
        for n in range(threads):
            assert repo.db.scalar("SELECT count(*) FROM events WHERE symbol = ?",
                                  (f"S{n}",)) == per_thread
        assert repo.check() == []


def test_a_failing_emit_never_raises_into_the_bot(tmp_path, logger, capsys):
    repo = TradeRepo(tmp_path / "trades.db")
    handler = EventLogHandler(repo)
    logger.addHandler(handler)
    logger.info("stored")
    repo.close()
    logger.error("store is closed now")  # must not raise
    logger.info("x", extra={"trade_id": "not-an-id"})
    assert "Logging error" in capsys.readouterr().err
    with TradeRepo(tmp_path / "trades.db") as again:
        assert [e.message for e in again.events.recent()] == ["stored"]


def test_a_bad_record_is_dropped_and_the_next_one_stored(repo, logger, capsys):
    logger.addHandler(EventLogHandler(repo))
    logger.info("bad link", extra={"trade_id": "seven"})
    logger.info("good")
    assert [e.message for e in repo.events.recent()] == ["good"]
    assert "Logging error" in capsys.readouterr().err


def test_logging_from_inside_the_handler_does_not_recurse(repo, logger):
    class Noisy(EventLogHandler):
        def format(self, record):
            logger.warning("logged while formatting")  # same thread, same handler
            return super().format(record)
    logger.addHandler(Noisy(repo))
    logger.info("outer")
    assert [e.message for e in repo.events.recent()] == ["outer"]


# ------------------------------------------------------------------ CLI

def _fill(path, n=3):
    with TradeRepo(path) as repo:
        for i in range(n):
            repo.events.log("bot.tick", f"message {i} " + "x" * 100, severity=LEVELS[i % 5],
                            timestamp=dt.datetime(2026, 1, 1, 0, 0, i, tzinfo=UTC))


def test_cli_events_table_json_filters(cli, db_path):
    _fill(db_path, 5)
    result = cli("--db", db_path, "events")
    assert result.code == 0
    lines = result.out.splitlines()
    assert len(lines) == 6 and all(len(line) <= 80 for line in lines)
    assert lines[1].startswith("2026-01-01 00:00:00  debug") and "message 4" in lines[5]
    limited = cli("--db", db_path, "events", "--severity", "ERROR", "--limit", "1")
    assert limited.out.splitlines()[1:] == [lines[5]]
    data = [json.loads(line) for line in
            cli("--db", db_path, "events", "--format", "json").out.splitlines()]
    assert [d["severity"] for d in data] == LEVELS
    assert data[0]["message"].startswith("message 0 xxx") and len(data[0]["message"]) == 110
    csv_out = cli("--db", db_path, "events", "--format", "csv", "--severity", "warning").out
    assert len(csv_out.splitlines()) == 4
    assert cli("--db", db_path, "events", "--limit", "0").code == 1


def test_cli_events_empty(cli, db_path):
    TradeRepo(db_path).close()
    assert cli("--db", db_path, "events").out.splitlines()[-1] == "(none)"


def test_cli_events_follow_prints_new_events_then_stops(db_path):
    _fill(db_path, 2)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradestore", "--db", str(db_path), "events", "--follow",
         "--interval", "0.1", "--follow-seconds", "3", "--severity", "info", "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # the existing info event: the follower is running
        assert first, proc.stderr.read()
        assert json.loads(first)["message"].startswith("message 1")
        with TradeRepo(db_path) as repo:
            repo.events.log("late", "filtered out", severity="debug")
            repo.events.log("late", "arrived later", severity="error")
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    later = [json.loads(line) for line in out.splitlines()]
    assert [e["message"] for e in later] == ["arrived later"]


def test_last_id_is_where_following_starts(memory_repo):
    """``events --follow`` on an empty log starts after id 0; then after the newest."""
    events = memory_repo.events
    assert events.last_id() == 0 and events.after(events.last_id()) == []
    first = events.log("a", "one")
    second = events.log("b", "two")
    assert events.last_id() == second == first + 1
    assert [e.id for e in events.after(events.last_id())] == []
    assert [e.message for e in events.after(first)] == ["two"]
