"""A new SQLite store is made at once from the schema the files leave (issue 18.7): it
must be the store that running the files one by one makes, at every target version,
and walk down and up like one."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import time

import pytest

from tradestore import MigrationError
from tradestore._core import migrate as migrate_module
from tradestore._core.codec import ts_in
from tradestore._core.db import APPLICATION_ID, Database
from tradestore._core.migrate import Migrator, load_migrations

UTC = dt.timezone.utc
MIGRATIONS = load_migrations()
HEAD = len(MIGRATIONS)
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
CANONICAL = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def everything(path) -> dict:
    """All a store holds that is not the moment or the identity it was made with."""
    conn = sqlite3.connect(path)
    try:
        master = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                              "ORDER BY rowid").fetchall()
        tables = [name for kind, name, *_ in master if kind == "table"]
        out = {"master": master,
               "user_version": conn.execute("PRAGMA user_version").fetchone()[0],
               "application_id": conn.execute("PRAGMA application_id").fetchone()[0],
               "table_info": {t: conn.execute(f"PRAGMA table_xinfo('{t}')").fetchall()
                              for t in tables},
               "indexes": {t: [(i[1:], conn.execute(f"PRAGMA index_xinfo('{i[1]}')").fetchall())
                               for i in conn.execute(f"PRAGMA index_list('{t}')")]
                           for t in tables},
               "foreign_keys": {t: conn.execute(f"PRAGMA foreign_key_list('{t}')").fetchall()
                                for t in tables},
               "rows": {}}
        for table in tables:
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            if table == "schema_history":  # when each step ran: the moment of creation
                rows = [r[:5] + r[6:] for r in rows]
            elif table == "store_meta":  # the identity: each store its own
                rows = [(k, "<id>" if k == "store_id" else v, "<at>" if k == "store_id" else at)
                        for k, v, at in rows]
            out["rows"][table] = [tuple(_moment(v) for v in r) for r in rows]
        return out
    finally:
        conn.close()


def _moment(value):
    """A stored time masked, its precision kept: the files stamp milliseconds."""
    if not (isinstance(value, str) and CANONICAL.match(value)):
        return value
    return "<now, ms>" if value.endswith("000Z") else "<now>"


def file_by_file(monkeypatch, path, target=None):
    """A store made the old way: every file run in the creation transaction."""
    with monkeypatch.context() as patched:
        patched.setattr(migrate_module, "_head", lambda migrations: None)
        return at_once(path, target)


def at_once(path, target=None):
    """A store made as a new one is: the schema the files leave, at once."""
    db = Database(str(path))
    try:
        Migrator(db).migrate(target)
    finally:
        db.close()
    return path


def test_the_packaged_files_are_made_at_once():
    """Else every comparison below compares the slow path with itself."""
    head = migrate_module._head(tuple(MIGRATIONS))
    assert head is not None
    assert len(head.schema) == sum(1 for sql in head.schema if sql.startswith("CREATE "))
    assert [table for table, _insert, _rows in head.rows] == ["accounts"]


@pytest.mark.parametrize("target", [HEAD, 1, 4, 10, 11, 12])
def test_a_store_made_at_once_is_the_store_the_files_make(tmp_path, monkeypatch, target):
    slow = everything(file_by_file(monkeypatch, tmp_path / "slow.db", target))
    fast = everything(at_once(tmp_path / "fast.db", target))
    assert fast == slow
    assert fast["user_version"] == target and fast["application_id"] == APPLICATION_ID
    assert fast["rows"]["schema_history"] == [
        (i, "tradestore", m.version, m.filename, "up", m.checksum)
        for i, m in enumerate(MIGRATIONS[:target], start=1)]


def test_a_new_store_gets_its_own_identity_and_its_creation_time(tmp_path):
    migrate_module._head(tuple(MIGRATIONS))  # built (and its clock read) before
    time.sleep(0.002)
    start = dt.datetime.now(UTC)
    before = ts_in(start.replace(microsecond=start.microsecond // 1000 * 1000))  # ms, as stamped
    stores = [at_once(tmp_path / f"{n}.db") for n in "ab"]
    after = ts_in(dt.datetime.now(UTC))
    ids = []
    for path in stores:
        with sqlite3.connect(path) as conn:
            (created,), = conn.execute("SELECT created_at FROM accounts WHERE name = 'default'")
            (store_id, stamped), = conn.execute(
                "SELECT value, updated_at FROM store_meta WHERE key = 'store_id'")
            applied = {r[0] for r in conn.execute("SELECT applied_at FROM schema_history")}
        assert before <= created <= after  # not the moment the schema was built in memory
        assert before <= stamped <= after and len(applied) == 1 and before <= applied.pop() <= after
        assert UUID4.match(store_id)
        ids.append(store_id)
    assert ids[0] != ids[1]


def test_made_at_once_then_walked_to_zero_and_back_is_the_same_store(tmp_path, monkeypatch):
    expected = everything(file_by_file(monkeypatch, tmp_path / "slow.db"))
    path = at_once(tmp_path / "fast.db", 5)
    db = Database(str(path))
    try:
        migrator = Migrator(db)
        assert migrator.migrate() == list(range(6, HEAD + 1))
        assert migrator.migrate(0) == list(range(HEAD - 1, -1, -1))
        assert db.query("SELECT name FROM sqlite_master") == []
        assert migrator.migrate() == list(range(1, HEAD + 1))  # at once again
    finally:
        db.close()
    walked = everything(path)
    assert {t: r for t, r in walked["rows"].items() if r != expected["rows"][t]} == {}
    assert walked == expected


def test_cli_init_then_migrate_down_and_up(tmp_path, monkeypatch, cli):
    path = tmp_path / "cli.db"
    assert cli("--db", path, "init").code == 0
    expected = everything(file_by_file(monkeypatch, tmp_path / "slow.db"))
    assert everything(path) == expected
    for target, version in (("7", 7), ("head", HEAD)):
        result = cli("--db", path, "migrate", "--to", target)
        assert result.code == 0, result
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == version
    walked = everything(path)
    # the down and up steps rebuilt tables: the same objects, made in another order
    assert sorted(walked.pop("master")) == sorted(expected.pop("master"))
    history = walked["rows"].pop("schema_history")
    assert [r[2:5] for r in history] == [(v, m.filename, "up") for v, m in
                                         enumerate(MIGRATIONS, start=1)] + [
        (v + 1, MIGRATIONS[v].filename, "down") for v in range(HEAD - 1, 6, -1)] + [
        (v, MIGRATIONS[v - 1].filename, "up") for v in range(8, HEAD + 1)]
    expected["rows"].pop("schema_history")
    assert [e[4] for e in walked["rows"].pop("events")] == ["migration", "migration"]
    assert expected["rows"].pop("events") == []
    assert walked == expected


# ------------------------------------------------------------ files that cannot be made at once
ANALYZE = ("-- migrate:up\nCREATE TABLE a (x INTEGER);\nCREATE INDEX a_x ON a (x);\n"
           "INSERT INTO a VALUES (1), (2);\nANALYZE;\n-- migrate:down\nDROP TABLE a;\n")
BROKEN = "-- migrate:up\nCREATE TABLE b (y TEXT);\nINSERT INTO nowhere VALUES (1);\n" \
         "-- migrate:down\nDROP TABLE b;\n"


def test_files_leaving_sqlites_own_tables_are_run_one_by_one(tmp_path):
    files = load_migrations(files=[("0001_a.sql", ANALYZE)])
    assert migrate_module._head(tuple(files)) is None
    db = Database(str(tmp_path / "s.db"))
    try:
        assert Migrator(db, files).migrate() == [1]
        assert db.scalar("SELECT count(*) FROM sqlite_stat1") == 1
        assert db.query("SELECT x FROM a ORDER BY x") == [(1,), (2,)]
    finally:
        db.close()


def test_a_failing_file_is_reported_as_before_and_leaves_an_empty_file(tmp_path):
    files = load_migrations(files=[("0001_a.sql", ANALYZE.replace("ANALYZE;\n", "")),
                                   ("0002_b.sql", BROKEN)])
    assert migrate_module._head(tuple(files)) is None
    db = Database(str(tmp_path / "s.db"))
    try:
        with pytest.raises(MigrationError, match=r"schema/0002_b\.sql \(up\) failed in "
                                                 r"statement: INSERT INTO nowhere.*s\.db"):
            Migrator(db, files).migrate()
        assert db.scalar("PRAGMA user_version") == 0
        assert db.query("SELECT name FROM sqlite_master") == []
    finally:
        db.close()
