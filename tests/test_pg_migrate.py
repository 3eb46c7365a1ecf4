"""Migrations on PostgreSQL (issue 19.3): schema/postgres/ applied one transaction per
file, the version in a table the migrator keeps, racing processes migrating once,
newer and foreign databases refused before anything is written, ``migrate --to N``
both ways, and a failing file leaving the previous version whole."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tradestore import ConflictError, MigrationError, ReadOnlyError, SchemaError, TradeRepo
from tradestore._core.db import APPLICATION_ID
from tradestore._core.migrate import load_migrations

psycopg = pytest.importorskip("psycopg", reason="pip install 'tradestore[postgres]'")

ROOT = Path(__file__).resolve().parent.parent
HEAD = len(load_migrations(engine="postgresql"))
TABLES = ("SELECT table_name FROM information_schema.tables "
          "WHERE table_schema = 'public' ORDER BY 1")


@pytest.fixture
def empty_url(pg_server):
    return pg_server.create_database(f"m_{uuid.uuid4().hex[:12]}")


def sql(url, statement, params=()):
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else None


def test_the_postgres_folder_has_the_sqlite_numbers():
    assert HEAD == len(load_migrations()) == 14
    assert [m.filename for m in load_migrations(engine="postgresql")] == \
        [m.filename for m in load_migrations()]


def test_a_new_database_is_created_at_the_head_with_its_log(empty_url):
    with TradeRepo(empty_url) as repo:
        assert repo.current_version == HEAD and repo.pending == []
        assert [e.applied for e in repo.migration_history()] == [True] * HEAD
        store_id = repo.store_id
    assert sql(empty_url, "SELECT application_id, version FROM tradestore_version") == \
        [(APPLICATION_ID, HEAD)]
    # one 'up' row per file, all written by the one creating transaction
    assert sql(empty_url, "SELECT count(*), count(DISTINCT applied_at) FROM schema_history "
                          "WHERE direction = 'up'") == [(HEAD, 1)]
    with TradeRepo(empty_url) as again:  # opening again changes nothing
        assert again.store_id == store_id and again.current_version == HEAD


def test_migrate_to_n_both_ways(empty_url):
    with TradeRepo(empty_url) as repo:
        head_tables = sql(empty_url, TABLES)
        assert repo.migrate(5) == [13, 12, 11, 10, 9, 8, 7, 6, 5]  # the versions passed, going down
        assert repo.current_version == 5
        assert ("funding_payments",) not in sql(empty_url, TABLES)  # 0011's table is gone
        assert repo.migrate("+2") == [6, 7] and repo.current_version == 7
        assert repo.migrate() == [8, 9, 10, 11, 12, 13, 14]
        assert sql(empty_url, TABLES) == head_tables
        steps = [(v, d) for v, _, d, _, _ in repo.migrator.log()]
    assert steps[HEAD:HEAD + 9] == [(v, "down") for v in range(14, 5, -1)]
    assert steps[-9:] == [(v, "up") for v in range(6, 15)]


def test_the_dry_run_shows_postgresql_sql(empty_url):
    with TradeRepo(empty_url) as repo:
        script = repo.migration_sql(10)
    assert script.startswith(f"-- schema: version {HEAD} -> 10 (one transaction per file)")
    assert "BEGIN;" in script and "IMMEDIATE" not in script and "PRAGMA" not in script
    assert "-- and tradestore_version set to 10" in script
    assert sql(empty_url, "SELECT version FROM tradestore_version") == [(HEAD,)]  # ran nothing


def test_going_to_zero_leaves_an_empty_database(empty_url):
    with TradeRepo(empty_url) as repo:
        repo.migrate(0)
        assert repo.current_version == 0
    assert sql(empty_url, TABLES) == []
    with TradeRepo(empty_url) as repo:  # and it can be created again
        assert repo.current_version == HEAD


def test_a_downgrade_that_drops_rows_is_refused_even_with_force(empty_url):
    with TradeRepo(empty_url) as repo:
        repo.save_trade({"symbol": "BTC/USDT", "side": "BUY", "quantity": "1", "price": "10"})
        with pytest.raises(ConflictError, match="would drop .*trades"):
            repo.migrate(1)
        with pytest.raises(ConflictError, match="pg_dump"):  # no file to back up beside
            repo.migrate(1, force=True)
        assert repo.current_version == HEAD and len(repo.get_trade_history(days=None)) == 1


def test_a_newer_database_is_refused_before_anything_is_written(empty_url):
    TradeRepo(empty_url).close()
    sql(empty_url, "UPDATE tradestore_version SET version = 99")
    before = sql(empty_url, "SELECT count(*) FROM schema_history")
    with pytest.raises(SchemaError, match="schema version 99 is newer"):
        TradeRepo(empty_url)
    assert sql(empty_url, "SELECT count(*) FROM schema_history") == before


def test_a_foreign_database_is_refused_untouched(empty_url):
    sql(empty_url, "CREATE TABLE customers (id int)")
    with pytest.raises(SchemaError, match="has tables .*customers.* no tradestore"):
        TradeRepo(empty_url)
    assert sql(empty_url, TABLES) == [("customers",)]


def test_a_version_table_of_another_application_is_refused(empty_url):
    TradeRepo(empty_url).close()
    sql(empty_url, "UPDATE tradestore_version SET application_id = 7")
    with pytest.raises(SchemaError, match="application_id"):
        TradeRepo(empty_url)


def test_a_failing_file_leaves_the_previous_version(empty_url, tmp_path):
    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / "0001_notes.sql").write_text(
        "-- migrate:up\nCREATE TABLE notes (id int);\n-- migrate:down\nDROP TABLE notes;\n")
    (folder / "0002_broken.sql").write_text(
        "-- migrate:up\nCREATE TABLE tags (id int);\nALTER TABLE nowhere ADD x int;\n"
        "-- migrate:down\nDROP TABLE tags;\n")
    with pytest.raises(MigrationError, match="0002_broken.sql .up. failed.*nowhere"):
        TradeRepo(empty_url, extra_migrations=folder)
    tables = [t for (t,) in sql(empty_url, TABLES)]
    assert "notes" in tables and "tags" not in tables  # 0001 whole, 0002 rolled back whole
    with TradeRepo(empty_url) as repo:
        assert repo.current_version == HEAD


def test_readonly_never_writes(empty_url):
    TradeRepo(empty_url).close()
    with TradeRepo(empty_url, readonly=True) as repo:
        assert repo.current_version == HEAD
        with pytest.raises(ReadOnlyError):
            repo.save_trade({"symbol": "X", "side": "BUY", "quantity": "1", "price": "1"})


RACER = """
import sys
from tradestore import TradeRepo
with TradeRepo(sys.argv[1]) as repo:
    print(repo.current_version, repo.store_id)
"""


def test_racing_processes_migrate_once(empty_url):
    """Six processes open the same empty database at once: one creates the store (the
    writers' advisory lock), the others wait and find it made."""
    racers = [subprocess.Popen([sys.executable, "-c", RACER, empty_url], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(6)]
    outputs = [r.communicate(timeout=120) for r in racers]
    assert [r.returncode for r in racers] == [0] * 6, [err for _, err in outputs]
    assert len({out for out, _ in outputs}) == 1  # same version, same store_id everywhere
    assert sql(empty_url, "SELECT count(*) FROM schema_history") == [(HEAD,)]
    assert sql(empty_url, "SELECT count(*) FROM store_meta WHERE key = 'store_id'") == [(1,)]


USERS_OBJECTS = ("SELECT indexname, indexdef FROM pg_indexes WHERE indexname = 'my_events_by_symbol' "
                 "UNION ALL SELECT tgname, pg_get_triggerdef(t.oid) FROM pg_trigger AS t "
                 "WHERE tgname = 'my_events_alert' ORDER BY 1")


def test_a_users_index_and_trigger_on_a_rebuilt_table_survive_both_ways(empty_url):
    """Schema 14 makes events again (level generated): on PostgreSQL too, a user's own
    index and trigger on the table are made again after the step, up and down, and the
    trigger still fires on the new table."""
    with TradeRepo(empty_url) as repo:
        repo.migrate(13)
        sql(empty_url, "CREATE TABLE my_alerts (event_id bigint, level integer)")
        sql(empty_url, "CREATE FUNCTION my_alert() RETURNS trigger LANGUAGE plpgsql AS $$ "
                       "BEGIN IF NEW.level >= 40 THEN INSERT INTO my_alerts VALUES "
                       "(NEW.id, NEW.level); END IF; RETURN NEW; END $$")
        sql(empty_url, "CREATE INDEX my_events_by_symbol ON events (symbol, timestamp)")
        sql(empty_url, "CREATE TRIGGER my_events_alert AFTER INSERT ON events FOR EACH ROW "
                       "EXECUTE FUNCTION my_alert()")
        before = sql(empty_url, USERS_OBJECTS)
        assert [name for name, _ in before] == ["my_events_alert", "my_events_by_symbol"]
        alerts = [(repo.events.log("x", "at 13", severity="error"), 40)]
        for target, severity, level in ((14, "critical", 50), (13, "error", 40),
                                        (14, "error", 40)):
            repo.migrate(target)
            assert sql(empty_url, USERS_OBJECTS) == before
            repo.events.log("x", "a warning", severity="warning")  # below 40: no alert
            alerts.append((repo.events.log("x", f"at {target}", severity=severity), level))
            assert sql(empty_url, "SELECT event_id, level FROM my_alerts ORDER BY event_id") \
                == alerts
