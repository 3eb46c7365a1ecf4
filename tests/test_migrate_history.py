"""Migrations as Alembic users run them (issue 20.1): the log of applied steps
(``migrate history``), ``migrate current``, relative targets, ``--dry-run`` and a
user's own ``extra_migrations``."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from conftest import run_tradestore
from tradestore import TradeRepo
from tradestore._core.db import Database
from tradestore._core.migrate import Migrator, load_migrations
from tradestore.errors import ConflictError, MigrationError, SchemaError, ValidationError

UTC = dt.timezone.utc
HEAD = len(load_migrations())


def schema_of(repo) -> list:
    return repo.db.query("SELECT type, name, sql FROM sqlite_master ORDER BY name")


def log_of(path) -> list:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT namespace, version, direction, applied_at IS NULL "
                            "FROM schema_history ORDER BY id").fetchall()


@pytest.fixture
def run(cli):
    """The CLI in-process (conftest's ``cli``): ``run(*argv)`` -> CliResult, which must
    succeed unless ``check=False``."""
    def call(*argv, check=True):
        result = cli(*argv)
        if check:
            assert result.code == 0, result
        return result
    return call


# ------------------------------------------------------------ the log
def test_a_new_store_logs_every_file_as_applied_now(tmp_path):
    before = dt.datetime.now(UTC)
    with TradeRepo(tmp_path / "s.db") as repo:
        after = dt.datetime.now(UTC)
        history = repo.migration_history()
    assert [e.version for e in history] == list(range(1, HEAD + 1))
    assert history[0].filename == "0001_initial.sql"
    assert all(e.applied and not e.changed for e in history)
    assert all(before <= e.applied_at <= after for e in history)
    assert log_of(tmp_path / "s.db") == [("tradestore", v, "up", 0) for v in range(1, HEAD + 1)]


def test_steps_down_and_up_are_logged_in_order(tmp_path):
    path = tmp_path / "s.db"
    with TradeRepo(path) as repo:
        assert repo.migrate("-2") == [HEAD - 1, HEAD - 2]
        history = repo.migration_history()
        assert [e.applied for e in history[-3:]] == [True, False, False]
        assert history[-1].applied_at is None  # not applied: no date shown
        assert repo.migrate("+1") == [HEAD - 1]
    steps = log_of(path)[HEAD:]
    assert steps == [("tradestore", HEAD, "down", 0), ("tradestore", HEAD - 1, "down", 0),
                     ("tradestore", HEAD - 1, "up", 0)]


def test_a_store_from_before_the_log_gets_undated_rows(tmp_path):
    path = tmp_path / "old.db"
    TradeRepo(path).close()
    with sqlite3.connect(path) as conn:  # as a store made by the previous release
        conn.execute("DROP TABLE schema_history")
    with TradeRepo.inspect(path) as repo:  # read-only: listed from the version alone
        assert [(e.applied, e.applied_at) for e in repo.migration_history()] == \
            [(True, None)] * HEAD
    with TradeRepo(path) as repo:  # opened for writing: the log is created
        repo.migrate("-1")
        repo.migrate("+1")
        history = repo.migration_history()
    assert [e.applied_at is None for e in history] == [True] * (HEAD - 1) + [False]
    assert log_of(path) == [("tradestore", v, "up", 1) for v in range(1, HEAD + 1)] + \
        [("tradestore", HEAD, "down", 0), ("tradestore", HEAD, "up", 0)]


def test_a_failing_step_leaves_no_log_row(tmp_path):
    files = [("0001_a.sql", "-- migrate:up\nCREATE TABLE a (x);\n-- migrate:down\nDROP TABLE a;\n"),
             ("0002_b.sql", "-- migrate:up\nCREATE TABLE b (y);\nINSERT INTO nowhere VALUES (1);\n"
                            "-- migrate:down\nDROP TABLE b;\n")]
    db = Database(tmp_path / "s.db")
    m = Migrator(db, load_migrations(files=files))
    m.migrate(1)
    with pytest.raises(MigrationError, match="0002_b.sql"):
        m.migrate()
    assert m.current_version == 1
    assert [(v, d) for v, _f, d, _a, _c in m.log()] == [(1, "up")]
    db.close()


def test_a_changed_file_is_flagged(tmp_path):
    path = tmp_path / "s.db"
    TradeRepo(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_history SET checksum = ? WHERE version = 2", ("0" * 64,))
    with TradeRepo.inspect(path) as repo:
        assert [e.version for e in repo.migration_history() if e.changed] == [2]


def test_going_to_zero_leaves_an_empty_file(tmp_path):
    with TradeRepo(tmp_path / "s.db") as repo:
        repo.migrate(0)
        assert repo.db.query("SELECT name FROM sqlite_master") == []
        assert repo.migrator.log() == []
        repo.migrate()
        assert len(repo.migrator.log()) == HEAD


# ------------------------------------------------------------ targets
@pytest.mark.parametrize("spec, expected", [("-1", HEAD - 1), ("-3", HEAD - 3), ("+0", HEAD),
                                            ("head", HEAD), (" HEAD ", HEAD), ("2", 2), (4, 4),
                                            (None, HEAD)])
def test_targets(tmp_path, spec, expected):
    with TradeRepo(tmp_path / "s.db") as repo:
        assert repo.migrator.resolve(spec) == expected


@pytest.mark.parametrize("spec", ["-99", f"+{1}", "x", "1.5", "", "-", "--1", "٣", -1, 1.0])
def test_bad_targets_change_nothing(tmp_path, spec):
    with TradeRepo(tmp_path / "s.db") as repo:
        before = schema_of(repo)
        with pytest.raises(MigrationError, match="target"):
            repo.migrate(spec)
        assert schema_of(repo) == before and repo.current_version == HEAD


def test_relative_up_from_below(tmp_path):
    with TradeRepo(tmp_path / "s.db") as repo:
        repo.migrate(3)
        assert repo.migrate("+2") == [4, 5]
        assert repo.migrator.resolve("-3") == 2


# ------------------------------------------------------------ dry run
def test_dry_run_prints_the_sql_and_changes_nothing(tmp_path):
    with TradeRepo(tmp_path / "s.db") as repo:
        schema, log = schema_of(repo), repo.migrator.log()
        top = repo.migrator.migrations[-1]
        text = repo.migration_sql("-1")
        assert f"-- {top.filename} (down): version {HEAD} -> {HEAD - 1}" in text
        assert f"PRAGMA user_version = {HEAD - 1};" in text
        assert text.count("BEGIN IMMEDIATE;") == 1 and text.count("COMMIT;") == 1
        assert schema_of(repo) == schema and repo.migrator.log() == log
        assert repo.migration_sql() == f"-- schema is at version {HEAD}: nothing to do\n"


def test_dry_run_of_a_new_store_is_one_transaction(tmp_path):
    with TradeRepo(tmp_path / "s.db") as repo:
        repo.migrate(0)
        text = repo.migration_sql()
        assert repo.current_version == 0
    assert text.count("BEGIN IMMEDIATE;") == 1 and text.count("COMMIT;") == 1
    assert "CREATE TABLE" in text and f"PRAGMA user_version = {HEAD};" in text


def test_cli_history_current_relative_and_dry_run(tmp_path, run):
    db = str(tmp_path / "c.db")
    assert run_tradestore("--db", db, "init").returncode == 0  # a real process once
    lines = run("--db", db, "migrate", "history").out.splitlines()
    assert len(lines) == HEAD and lines[0].split()[:3] == ["1", "0001_initial.sql", "applied"]
    assert run("--db", db, "migrate", "current").out == \
        f"schema version {HEAD} (newest {HEAD})\n"
    dry = run("--db", db, "migrate", "--to", "-1", "--dry-run").out
    assert "(down)" in dry
    assert run("--db", db, "migrate", "current").out.startswith(f"schema version {HEAD} ")
    assert run("--db", db, "migrate", "--to", "-1").out.endswith(
        f"schema version {HEAD} -> {HEAD - 1}\n")
    assert run("--db", db, "migrate", "history").out.splitlines()[-1].split()[-1] == "pending"
    bad = run("--db", db, "migrate", "--to", "-99", check=False)
    assert bad.code == 1 and "target: '-99'" in bad.err and "Traceback" not in bad.err


# ------------------------------------------------------------ extra migrations
NOTES = ("-- migrate:up\nCREATE TABLE my_notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL) "
         "STRICT;\n-- migrate:down\nDROP TABLE my_notes;\n")
INDEX = ("-- migrate:up\nCREATE INDEX my_notes_text ON my_notes (text);\n"
         "-- migrate:down\nDROP INDEX my_notes_text;\n")


@pytest.fixture
def extra(tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_notes.sql").write_text(NOTES)
    (folder / "0002_notes_index.sql").write_text(INDEX)
    return folder


def names(repo) -> set:
    return {r[0] for r in repo.db.query("SELECT name FROM sqlite_master")}


def test_extra_migrations_apply_after_ours_in_their_own_sequence(tmp_path, extra):
    path = tmp_path / "s.db"
    with TradeRepo(path, extra_migrations=extra) as repo:
        assert {"my_notes", "my_notes_text"} <= names(repo)
        assert repo.current_version == HEAD and repo.extra_migrator.current_version == 2
        assert [(e.filename, e.applied) for e in repo.migration_history(extra=True)] == \
            [("0001_notes.sql", True), ("0002_notes_index.sql", True)]
        repo.db.query("INSERT INTO my_notes (text) VALUES ('kept')")
    with TradeRepo(path, extra_migrations=extra) as repo:  # nothing runs twice
        assert repo.extra_migrator.current_version == 2
        assert repo.migrate("-1", extra=True) == [1]
        assert "my_notes_text" not in names(repo) and repo.current_version == HEAD
        with pytest.raises(ConflictError, match=r"my_notes \(1 rows\)"):
            repo.migrate(0, extra=True)
        assert repo.extra_migrator.current_version == 1
        assert repo.migrate(0, extra=True, force=True) == [0]
        assert repo.last_backup.exists() and "my_notes" not in names(repo)
    assert [r for r in log_of(path) if r[0] == "extra"] == [
        ("extra", 1, "up", 0), ("extra", 2, "up", 0), ("extra", 2, "down", 0),
        ("extra", 1, "down", 0)]


def test_extra_newer_than_the_folder_is_refused(tmp_path, extra):
    path = tmp_path / "s.db"
    TradeRepo(path, extra_migrations=extra).close()
    (extra / "0002_notes_index.sql").unlink()
    with pytest.raises(SchemaError, match="extra migrations are at version 2, newer than the 1"):
        TradeRepo(path, extra_migrations=extra)


def test_extra_behind_on_a_read_only_open_is_refused(tmp_path, extra):
    path = tmp_path / "s.db"
    TradeRepo(path).close()
    with pytest.raises(SchemaError, match="extra migrations at version 0, behind"):
        TradeRepo(path, readonly=True, extra_migrations=extra)


def test_a_failing_extra_file_rolls_back_alone(tmp_path, extra):
    (extra / "0003_bad.sql").write_text("-- migrate:up\nCREATE TABLE later (x);\n"
                                        "INSERT INTO missing VALUES (1);\n"
                                        "-- migrate:down\nDROP TABLE later;\n")
    path = tmp_path / "s.db"
    with pytest.raises(MigrationError, match="extra/0003_bad.sql"):
        TradeRepo(path, extra_migrations=extra)
    with TradeRepo.inspect(path) as repo:
        assert "my_notes_text" in names(repo) and "later" not in names(repo)
        assert repo.current_version == HEAD


def test_bad_extra_folder_is_our_error(tmp_path):
    bad_name = tmp_path / "f"
    bad_name.mkdir()
    (bad_name / "1_x.sql").write_text(NOTES)  # not NNNN_name.sql
    for folder, error, message in [(tmp_path / "nope", MigrationError, "is not a folder"),
                                   (bad_name, MigrationError, "1_x.sql: name must look like"),
                                   ("\ud800", ValidationError, "extra_migrations: '\\\\ud800'"),
                                   (5, ValidationError, "extra_migrations: 5 is not a file")]:
        with pytest.raises(error, match=message):
            TradeRepo(tmp_path / "s.db", extra_migrations=folder)
    assert not (tmp_path / "s.db").exists()  # refused before the file was touched


def test_cli_extra(tmp_path, extra, run):
    db = str(tmp_path / "c.db")
    assert run_tradestore("--db", db, "init").returncode == 0  # a real process once
    assert run("--db", db, "migrate", "--extra", str(extra), "current").out == \
        "extra version 0 (newest 2)\n"
    assert run("--db", db, "migrate", "--extra", str(extra)).out.endswith(
        "extra version 0 -> 2\n")
    lines = run("--db", db, "migrate", "--extra", str(extra), "history").out.splitlines()
    assert [line.split()[:3] for line in lines] == [["1", "0001_notes.sql", "applied"],
                                                    ["2", "0002_notes_index.sql", "applied"]]
    no = run("--db", db, "migrate", "--extra", str(tmp_path / "nope"), check=False)
    assert no.code == 1 and "is not a folder" in no.err


# ------------------------------------------------------------ property: the log is the version
from hypothesis import given, settings, strategies as st  # noqa: E402

SYNTHETIC = [(f"{n:04d}_t{n}.sql", f"-- migrate:up\nCREATE TABLE t{n} (x);\n"
                                   f"-- migrate:down\nDROP TABLE t{n};\n") for n in range(1, 6)]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=-6, max_value=6), max_size=8))
def test_any_walk_of_relative_steps_keeps_log_and_version_in_step(steps):
    """For ours (user_version) and an extra sequence (version read from the log alone),
    after any walk: the version is the clamped sum, history marks exactly 1..version
    applied, and the log's ups minus downs per file is 1 for applied files, 0 otherwise."""
    db = Database(":memory:")
    try:
        ours = Migrator(db, load_migrations(files=SYNTHETIC))
        ours.migrate(1)
        extra = Migrator(db, load_migrations(files=[(n, t.replace("TABLE t", "TABLE e"))
                                                    for n, t in SYNTHETIC]), namespace="extra")
        expected = {"ours": 1, "extra": 0}
        for step in steps:
            for name, m in (("ours", ours), ("extra", extra)):
                spec = f"{step:+d}"
                target = expected[name] + step
                if name == "ours" and target == 0 < expected["ours"] and expected["extra"]:
                    with pytest.raises(MigrationError, match="take them down first"):
                        m.migrate(m.resolve(spec))
                elif 0 <= target <= 5:
                    m.migrate(m.resolve(spec))
                    expected[name] = target
                else:
                    with pytest.raises(MigrationError):
                        m.resolve(spec)
                assert m.current_version == expected[name]
                assert [e.applied for e in m.history()] == [v <= expected[name]
                                                            for v in range(1, 6)]
                if name == "ours" and expected[name] == 0:
                    continue  # version 0: the log went with the rest
                net = {}
                for version, _f, direction, _a, _c in m.log():
                    net[version] = net.get(version, 0) + (1 if direction == "up" else -1)
                if name == "extra" or all(e.applied_at for e in m.history() if e.applied):
                    assert {v: c for v, c in net.items() if c} == \
                        {v: 1 for v in range(1, expected[name] + 1)}
    finally:
        db.close()
