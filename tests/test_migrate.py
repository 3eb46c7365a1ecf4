"""The migrator: numbered SQL files, one transaction each, refusals before any write."""

from __future__ import annotations

import os
import sqlite3

import pytest

from tradestore import ConflictError, MigrationError, SchemaError, TradeRepo
from tradestore._core.db import APPLICATION_ID, Database
from tradestore._core.migrate import Migrator, load_migrations, parse_migration, split_statements

A = "-- migrate:up\nCREATE TABLE a (x INTEGER NOT NULL) STRICT;\n-- migrate:down\nDROP TABLE a;\n"
B = ("-- migrate:up\nCREATE TABLE b (y TEXT);\nCREATE INDEX b_y ON b (y);\n"
     "-- migrate:down\nDROP TABLE b;\n")
META = "INSERT INTO store_meta (key, value, updated_at) VALUES (?, ?, '2024-01-01T00:00:00.000000Z')"


def schema_of(conn_or_db):
    """Everything that defines the schema (rootpage aside), and the two header numbers."""
    q = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    if isinstance(conn_or_db, Database):
        rows = conn_or_db.query(q)
        version = conn_or_db.scalar("PRAGMA user_version")
        app = conn_or_db.scalar("PRAGMA application_id")
    else:
        rows = conn_or_db.execute(q).fetchall()
        version = conn_or_db.execute("PRAGMA user_version").fetchone()[0]
        app = conn_or_db.execute("PRAGMA application_id").fetchone()[0]
    return [tuple(r) for r in rows], version, app


def snapshot(path):
    return path.read_bytes(), os.stat(path).st_mtime_ns


# ------------------------------------------------------------ the schema folder

def test_real_schema_folder_is_contiguous_and_complete():
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].filename == "0001_initial.sql"
    for m in migrations:
        assert m.filename.startswith(f"{m.version:04d}_")
        split_statements(m.up), split_statements(m.down)  # every block parses


@pytest.mark.parametrize("files, problem", [
    ([("0001_a.sql", A), ("0003_c.sql", B)], "0002 is missing"),
    ([("0002_b.sql", B)], "0001 is missing"),
    ([("0001_a.sql", A), ("0001_b.sql", B)], "duplicate number 0001"),
    ([("0001_a.sql", A), ("0002_b.sql", B), ("0002_c.sql", B)], "duplicate number 0002"),
])
def test_gaps_and_duplicates_are_refused(files, problem):
    with pytest.raises(MigrationError, match=problem):
        load_migrations(files=files)


@pytest.mark.parametrize("name", ["1_a.sql", "00001_a.sql", "0001-a.sql", "0001_A.sql",
                                  "0001_.sql", "0001_a b.sql", "x0001_a.sql"])
def test_bad_file_names_are_refused(name):
    with pytest.raises(MigrationError, match="0001_name.sql"):
        load_migrations(files=[(name, A)])


@pytest.mark.parametrize("text", [
    "CREATE TABLE a (x);",
    "-- migrate:up\nCREATE TABLE a (x);\n",
    "-- migrate:down\nDROP TABLE a;\n",
    "-- migrate:down\nDROP TABLE a;\n-- migrate:up\nCREATE TABLE a (x);\n",
    "-- migrate:upp\nCREATE TABLE a (x);\n-- migrate:down\nDROP TABLE a;\n",
])
def test_missing_blocks_are_refused(text):
    with pytest.raises(MigrationError, match="0001_a.sql.*migrate:up"):
        parse_migration("0001_a.sql", text)


def test_non_sql_files_are_ignored():
    assert [m.version for m in load_migrations(files=[("0001_a.sql", A), ("README", "x"),
                                                      ("__init__.py", "")])] == [1]


def test_split_statements_keeps_triggers_and_strings_whole():
    sql = """
    CREATE TABLE t (x TEXT DEFAULT 'a;b');  -- a comment; with a semicolon
    CREATE TRIGGER t_guard BEFORE DELETE ON t BEGIN
        SELECT RAISE(ABORT, 'no; never');
    END;
    -- only a comment;
    INSERT INTO t VALUES ('x;y');
    """
    statements = split_statements(sql)
    assert len(statements) == 3
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    assert split_statements("CREATE TABLE t (x)") == ["CREATE TABLE t (x);"]  # last ; optional
    broken = "CREATE TRIGGER g AFTER INSERT ON t BEGIN SELECT 1;"  # no END
    with pytest.raises(MigrationError, match="unterminated"):
        split_statements(broken)
    with pytest.raises(MigrationError, match="0001_a.sql.*unterminated"):  # refused at load
        parse_migration("0001_a.sql", f"-- migrate:up\n{broken}\n-- migrate:down\n")


# ------------------------------------------------------------ applying

def synthetic(db, *extra):
    files = [("0001_a.sql", A), ("0002_b.sql", B)] + list(extra)
    return Migrator(db, load_migrations(files=files))


def test_up_down_pending_current_version(tmp_path):
    db = Database(tmp_path / "s.db")
    m = synthetic(db)
    assert m.current_version == 0 and [p.filename for p in m.pending] == ["0001_a.sql", "0002_b.sql"]
    assert m.migrate(1) == [1]
    assert m.current_version == 1 and [p.filename for p in m.pending] == ["0002_b.sql"]
    assert db.scalar("PRAGMA application_id") == APPLICATION_ID
    assert m.migrate() == [2] and m.pending == []
    # schema_history: the migrator's log of applied steps (issue 20.1)
    assert {r[0] for r in db.query("SELECT name FROM sqlite_master")} == {"a", "b", "b_y",
                                                                          "schema_history"}
    assert m.migrate(0) == [1, 0]
    assert db.query("SELECT name FROM sqlite_master") == []
    assert db.scalar("PRAGMA application_id") == 0 and m.current_version == 0
    assert m.migrate(0) == []
    db.close()


@pytest.mark.parametrize("target", [-1, 3, "2", 1.0, True])
def test_bad_targets_are_refused(tmp_path, target):
    db = Database(tmp_path / "s.db")
    with pytest.raises(MigrationError, match="target"):
        synthetic(db).migrate(target)
    assert db.scalar("PRAGMA user_version") == 0
    db.close()


@pytest.mark.parametrize("bad_sql, statement", [
    ("CREATE TABLE c (z INTEGER);\nINSERT INTO a VALUES (1);\nCREATE TABLE broken (;\n",
     "CREATE TABLE broken"),
    ("CREATE TABLE c (z INTEGER);\nINSERT INTO a VALUES ('not a number');\n",
     "INSERT INTO a VALUES ('not a number')"),
    ("CREATE TABLE c (z INTEGER);\nDROP TABLE no_such_table;\n", "DROP TABLE no_such_table"),
])
def test_a_failing_migration_leaves_the_previous_version_exactly(tmp_path, bad_sql, statement):
    db = Database(tmp_path / "s.db")
    m = synthetic(db, ("0003_bad.sql", f"-- migrate:up\n{bad_sql}-- migrate:down\nDROP TABLE c;\n"))
    m.migrate(2)
    with db.transaction() as conn:
        conn.execute("INSERT INTO a VALUES (41)")
    before = schema_of(db), db.query("SELECT * FROM a")
    with pytest.raises(MigrationError) as info:
        m.migrate()
    message = str(info.value)
    assert "0003_bad.sql" in message and statement in message and "(up)" in message
    assert (schema_of(db), db.query("SELECT * FROM a")) == before
    assert m.current_version == 2 and not db.conn.in_transaction
    db.close()


def test_a_failing_down_migration_leaves_the_version_too(tmp_path):
    db = Database(tmp_path / "s.db")
    bad_down = "-- migrate:up\nCREATE TABLE c (z);\n-- migrate:down\nDROP TABLE c;\nDROP TABLE zz;\n"
    m = synthetic(db, ("0003_c.sql", bad_down))
    m.migrate()
    before = schema_of(db)
    with pytest.raises(MigrationError, match=r"0003_c.sql \(down\).*DROP TABLE zz"):
        m.migrate(1)
    assert schema_of(db) == before and m.current_version == 3
    db.close()


def test_a_migration_leaving_foreign_key_violations_is_rolled_back(tmp_path):
    db = Database(tmp_path / "s.db")
    fk = ("-- migrate:up\nCREATE TABLE parent (id INTEGER PRIMARY KEY);\n"
          "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) "
          "DEFERRABLE INITIALLY DEFERRED);\n"
          "INSERT INTO child VALUES (999);\n"
          "-- migrate:down\nDROP TABLE child;\nDROP TABLE parent;\n")
    m = synthetic(db, ("0003_fk.sql", fk))
    m.migrate(2)
    before = schema_of(db)
    with pytest.raises(MigrationError, match="0003_fk.sql.*foreign key"):
        m.migrate()
    assert schema_of(db) == before
    db.close()


# ------------------------------------------------------------ refusals before writing

def test_newer_database_is_refused_before_anything_is_written(db_path):
    with TradeRepo(db_path) as repo:
        repo.events.log("x", "kept")
        head = repo.migrator.head
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {head + 1}")
    conn.commit()
    conn.close()
    before = snapshot(db_path)
    for options in ({}, {"readonly": True}, {"migrate": False}):
        with pytest.raises(SchemaError, match=f"version {head + 1} is newer"):
            TradeRepo(db_path, **options)
    with pytest.raises(SchemaError, match="newer"):
        TradeRepo.inspect(db_path)
    assert snapshot(db_path) == before


def foreign_file(path, app_id=0, version=0, tables=True):
    """A database some other program made (rollback journal, as most are)."""
    conn = sqlite3.connect(path)
    if tables:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.execute(f"PRAGMA application_id = {app_id}")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("app_id, version, tables, problem", [
    (0x12345678, 0, True, "another application"),
    (0x12345678, 0, False, "another application"),
    (-5, 3, True, "another application"),
    (0, 0, True, "has tables.*notes.*no tradestore schema version"),
    (0, 2, True, "not tradestore's application_id"),
])
def test_foreign_files_are_refused_untouched(tmp_path, app_id, version, tables, problem):
    path = tmp_path / "other.db"
    foreign_file(path, app_id, version, tables)
    before = snapshot(path)
    with pytest.raises(SchemaError, match=problem):
        TradeRepo(path)
    assert snapshot(path) == before  # not even switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_behind_database_with_migrate_false_is_refused(db_path):
    with TradeRepo(db_path) as repo:
        repo.migrate(1)
        repo.events.log("x", "at version 1")
    before = snapshot(db_path)
    with pytest.raises(SchemaError, match="version 1 is behind.*tradestore migrate"):
        TradeRepo(db_path, migrate=False)
    assert snapshot(db_path) == before
    with TradeRepo(db_path) as repo:  # the default migrates to head, data kept
        assert repo.current_version == repo.migrator.head
        assert repo.db.scalar("SELECT count(*) FROM events WHERE event_type != 'migration'") == 1


# ------------------------------------------------------------ the real migrations

def test_walk_every_version_down_and_up_with_data(db_path):
    with TradeRepo(db_path) as repo:
        head = repo.migrator.head
        with repo.transaction() as conn:
            for i in range(5):
                conn.execute(META, (f"k{i}", str(i)))
        for i in range(7):
            repo.events.log("tick", f"event {i}", details={"i": i})
        counts = {"store_meta": 5, "events": 7}
        FILTERS = {"events": " WHERE event_type != 'migration'",  # the store logs each step
                   "store_meta": " WHERE key != 'store_id'"}  # the store's identity (issue 14.4)
        going_up = {head: schema_of(repo.db)}
        going_down = {}
        for version in range(head - 1, 0, -1):
            assert repo.migrate(version) == [version]
            going_down[version] = schema_of(repo.db)
            assert repo.check() == []
            assert {t: repo.db.scalar(f"SELECT count(*) FROM {t}" + FILTERS.get(t, "")) for t in counts} == counts
        for version in range(2, head + 1):
            assert repo.migrate(version) == [version]
            going_up[version] = schema_of(repo.db)
            assert repo.check() == []
            assert {t: repo.db.scalar(f"SELECT count(*) FROM {t}" + FILTERS.get(t, "")) for t in counts} == counts
        # each down block undoes exactly what its up block did
        for version in range(2, head):
            assert going_down[version] == going_up[version], f"version {version}"
        with pytest.raises(ConflictError, match=r"events \(\d+ rows\)"):  # issue 14.5
            repo.migrate(0)
        assert repo.current_version == head
        assert repo.migrate(0, force=True) == list(range(head - 1, -1, -1))
        assert repo.last_backup.exists()
        assert [r for r in repo.db.query("SELECT name FROM sqlite_master")
                if not r[0].startswith("sqlite_")] == []
        assert repo.db.scalar("PRAGMA application_id") == 0


def test_head_to_zero_to_head_equals_a_fresh_store(tmp_path):
    fresh = TradeRepo(tmp_path / "fresh.db")
    expected = schema_of(fresh.db)
    fresh.close()
    with TradeRepo(tmp_path / "walked.db") as repo:
        repo.migrate(0)
        assert repo.current_version == 0
        repo.migrate()
        assert schema_of(repo.db) == expected
        assert repo.check() == []


def test_version_zero_store_reopens_and_migrates(db_path):
    with TradeRepo(db_path) as repo:
        repo.migrate(0)
    with TradeRepo(db_path) as repo:  # empty and version 0: ours to set up again
        assert repo.current_version == repo.migrator.head


def test_trade_repo_migrate_and_pending(db_path):
    with TradeRepo(db_path) as repo:
        head = repo.migrator.head
        assert repo.pending == []
        repo.migrate(1)
        assert repo.current_version == 1
        assert [m.version for m in repo.pending] == list(range(2, head + 1))
        assert repo.migrate() == list(range(2, head + 1))


def test_each_upgrade_is_recorded_in_the_event_log(tmp_path):
    with TradeRepo(tmp_path / "t.db") as repo:
        assert repo.events.recent(event_type="migration") == []   # a new store is not an upgrade
        repo.migrate(2)
        repo.migrate()
        logged = [e.details for e in repo.events.recent(event_type="migration")]
    head = len(load_migrations())
    assert sorted(logged, key=lambda d: d["to"]) == [
        {"from": head, "to": 2, "steps": list(range(head - 1, 1, -1))},
        {"from": 2, "to": head, "steps": list(range(3, head + 1))}]
