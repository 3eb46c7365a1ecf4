"""A user's own indexes and triggers survive our schema steps.

Schema 12, 13 and 14 make tables again (copy aside, drop, create, fill back): SQLite drops
every index and trigger on a dropped table, including ones an ``extra_migrations`` file
or a person in the shell made, while the extra sequence still says they are applied.
The migrator saves them before a step of ours and makes them again after it; one that
no longer fits (its column is gone) refuses the step, naming it, with nothing changed."""

from __future__ import annotations

import sqlite3

import pytest

from tradestore import TradeRepo
from tradestore._core.db import Database
from tradestore._core.migrate import EXTRA, Migrator, load_extra_migrations, load_migrations
from tradestore.errors import MigrationError

HEAD = len(load_migrations())
MINE = """-- migrate:up
CREATE INDEX my_trades_by_pnl ON trades (pnl);
CREATE TABLE my_fills (trade_id INTEGER, quantity TEXT);
CREATE TRIGGER my_trades_copy AFTER INSERT ON trades BEGIN
    INSERT INTO my_fills VALUES (new.id, new.quantity);
END;
-- migrate:down
DROP TRIGGER my_trades_copy;
DROP TABLE my_fills;
DROP INDEX my_trades_by_pnl;
"""
BY_HAND = "CREATE INDEX my_positions_by_fees ON positions (fees)"  # made in the shell


@pytest.fixture
def mig(tmp_path):
    folder = tmp_path / "mig"
    folder.mkdir()
    (folder / "0001_mine.sql").write_text(MINE)
    return folder


def users_objects(path) -> dict:
    with sqlite3.connect(path) as conn:
        return {name: sql for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE name LIKE 'my\\_%' ESCAPE '\\' "
            "AND type IN ('index', 'trigger')")}


def expected() -> dict:
    return {"my_trades_by_pnl": "CREATE INDEX my_trades_by_pnl ON trades (pnl)",
            "my_trades_copy": MINE[MINE.index("CREATE TRIGGER"):MINE.index("END;") + 3],
            "my_positions_by_fees": BY_HAND}


def trigger_fires(repo) -> None:
    trade_id = repo.save_trade({"symbol": "BTC/USDT", "side": "BUY", "quantity": "0.5",
                             "price": "100", "timestamp": "2024-01-02T00:00:00Z"})
    assert repo.db.query("SELECT trade_id, quantity FROM my_fills WHERE trade_id = ?",
                         (trade_id,)) == [(trade_id, "0.5")]


def test_upgrade_from_12_keeps_the_users_indexes_and_triggers(tmp_path, mig):
    path = tmp_path / "s.db"
    db = Database(path)
    try:
        Migrator(db).migrate(12)
        Migrator(db, load_extra_migrations(mig), namespace=EXTRA).migrate()
    finally:
        db.close()
    with sqlite3.connect(path) as conn:
        conn.execute(BY_HAND)
    assert users_objects(path) == expected()
    with TradeRepo(path, extra_migrations=mig) as repo:  # 12 -> 13 rebuilds both tables
        assert repo.current_version == HEAD and repo.extra_migrator.current_version == 1
        assert users_objects(path) == expected()
        trigger_fires(repo)
        plan = repo.db.query("EXPLAIN QUERY PLAN SELECT id FROM trades WHERE pnl = '1'")
        assert "my_trades_by_pnl" in str(plan)


def test_downgrade_to_12_keeps_them_and_up_again(tmp_path, mig):
    path = tmp_path / "s.db"
    with TradeRepo(path, extra_migrations=mig) as repo:
        repo.db.query(BY_HAND)
        assert repo.migrate(12) == list(range(HEAD - 1, 11, -1))
        assert users_objects(path) == expected()
        trigger_fires(repo)
    with TradeRepo(path, extra_migrations=mig) as repo:
        assert repo.current_version == HEAD
        assert users_objects(path) == expected()


def test_an_object_that_no_longer_fits_refuses_the_step_naming_it(tmp_path):
    path = tmp_path / "s.db"
    with TradeRepo(path) as repo:  # 12's down makes indicators again without parameters
        repo.db.query("CREATE INDEX my_by_parameters ON indicators (parameters)")
        before = repo.db.query("SELECT type, name, sql FROM sqlite_master ORDER BY name")
        with pytest.raises(MigrationError, match=(
                r"schema/0012_\w+\.sql \(down\) would drop your index my_by_parameters on "
                r"indicators: it cannot be made again .*no such column: parameters")):
            repo.migrate(11)
        assert repo.current_version in (HEAD, 12)
    with TradeRepo.inspect(path) as repo:
        after = repo.db.query("SELECT type, name, sql FROM sqlite_master ORDER BY name")
        assert ("index", "my_by_parameters",
                "CREATE INDEX my_by_parameters ON indicators (parameters)") in after
        if repo.current_version == HEAD:
            assert after == before


def test_the_users_own_sequence_is_left_to_its_files(tmp_path, mig):
    """An extra file that drops its own index keeps it dropped."""
    (mig / "0002_drop_it.sql").write_text("-- migrate:up\nDROP INDEX my_trades_by_pnl;\n"
                                          "-- migrate:down\n"
                                          "CREATE INDEX my_trades_by_pnl ON trades (pnl);\n")
    path = tmp_path / "s.db"
    with TradeRepo(path, extra_migrations=mig) as repo:
        assert repo.extra_migrator.current_version == 2
        assert "my_trades_by_pnl" not in users_objects(path)


EVENT_OBJECTS = {
    "my_events_by_level": "CREATE INDEX my_events_by_level ON events (level, event_type)",
    "my_events_alert": "CREATE TRIGGER my_events_alert AFTER INSERT ON events "
                       "WHEN new.level >= 40 BEGIN "
                       "INSERT INTO my_alerts VALUES (new.id, new.level); END",
}


def test_schema_14_keeps_the_users_index_and_trigger_on_events_both_ways(tmp_path):
    """Schema 14 makes events again (level generated from severity): a user's index on
    level and a trigger that reads it are made again after the step, up and down, and
    the trigger still sees the level of the row's severity."""
    path = tmp_path / "s.db"
    with TradeRepo(path) as repo:
        repo.migrate(13)
        repo.db.query("CREATE TABLE my_alerts (event_id INTEGER, level INTEGER)")
        for sql in EVENT_OBJECTS.values():
            repo.db.query(sql)
        alerts = [(repo.events.log("x", "at 13", severity="error"), 40)]
        for target, severity, level in ((14, "critical", 50), (13, "error", 40),
                                        (14, "error", 40)):
            repo.migrate(target)
            assert users_objects(path) == EVENT_OBJECTS
            repo.events.log("x", "a warning", severity="warning")  # below 40: no alert
            alerts.append((repo.events.log("x", f"at {target}", severity=severity), level))
            assert repo.db.query("SELECT event_id, level FROM my_alerts") == alerts
        plan = repo.db.query("EXPLAIN QUERY PLAN SELECT id FROM events "
                             "WHERE level = 40 AND event_type = 'x'")
        assert "my_events_by_level" in str(plan)
