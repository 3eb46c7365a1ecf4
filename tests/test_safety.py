"""Issue 14: nothing can destroy the record (points 1, 4, 5, 7)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid

import pytest

from tradestore import ConflictError, MigrationError, TradeData, TradeRepo
from tradestore._core.db import Database
from tradestore._core.files import atomic_file, refuse_store_target
from tradestore._core.migrate import Migrator, load_migrations
from tradestore.analytics.html import write_html
from tradestore.ops.backup import backup_store_id, list_backups, prune_backups
from tradestore.ops.export import export

from conftest import run_tradestore


def fills(path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM trades").fetchone()[0]
    finally:
        conn.close()


def store_with_fills(path, n=3) -> None:
    with TradeRepo(path) as repo:
        for i in range(n):
            repo.save_trade(TradeData("BTC/USDT", "BUY", 1, 100 + i))


def leftovers(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------ 1. no command writes over a store

@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal"])
@pytest.mark.parametrize("command", [["export", "trades"],
                                     ["candles", "export", "--symbol", "BTC/USDT",
                                      "--timeframe", "1h"]])
def test_cli_export_refuses_the_live_store_and_its_journals(tmp_path, suffix, command):
    live = tmp_path / "live.db"
    store_with_fills(live)
    with TradeRepo(live) as bot:  # the bot keeps the store open (its -wal and -shm exist)
        bot.save_trade(TradeData("ETH/USDT", "BUY", 2, 50))
        target = f"{live}{suffix}"
        before = open(target, "rb").read() if os.path.exists(target) else None
        result = run_tradestore("--db", live, *command, "--out", target)
        assert result.returncode == 1, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and target in lines[0] and "Traceback" not in result.stderr
        after = open(target, "rb").read() if os.path.exists(target) else None
        # SQLite itself may move pages from -wal to the file or mark -shm when the export's
        # reader closes; what matters is that no export text was written there
        assert (after is None) == (before is None)
        assert after is None or not after.startswith(b"id,")
        if suffix == "":
            assert after.startswith(b"SQLite format 3\x00")
        bot.save_trade(TradeData("ETH/USDT", "SELL", 2, 51))  # the bot goes on writing
    assert fills(live) == 5 and not leftovers(tmp_path)


def test_every_writer_refuses_any_sqlite_file(tmp_path, file_repo, cli):
    file_repo.save_trade(TradeData("BTC/USDT", "BUY", 1, 100))
    other = tmp_path / "other.db"
    store_with_fills(other, 2)
    before = other.read_bytes()
    with pytest.raises(ConflictError, match="other.db"):
        export(file_repo, "trades", other)
    with pytest.raises(ConflictError, match="other.db"):
        write_html(file_repo, other)
    with pytest.raises(ConflictError, match="other.db"):
        file_repo.backup(other, overwrite=True)  # another store's file, not a backup of ours
    with pytest.raises(ConflictError, match="other.db"):
        with atomic_file(other) as f:
            f.write("never")
    for argv in (["export", "trades", "--out", other], ["report", "--html", other],
                 ["candles", "export", "--symbol", "BTC/USDT", "--timeframe", "1h",
                  "--out", other]):
        result = cli("--db", file_repo.path, *argv)
        assert result.code == 1 and str(other) in result.err and result.err.count("\n") == 1
    assert other.read_bytes() == before and not leftovers(tmp_path)
    assert fills(other) == 2


def test_the_guard_is_checked_again_just_before_the_rename(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(ConflictError):
        with atomic_file(target) as f:
            f.write("a,b\n")
            store_with_fills(target, 1)  # a database appeared at the target meanwhile
    assert fills(target) == 1 and not leftovers(tmp_path)


def test_guard_allows_plain_files_and_new_names(tmp_path):
    plain = tmp_path / "old.csv"
    plain.write_text("x\n")
    refuse_store_target(plain)
    refuse_store_target(tmp_path / "new.csv")
    refuse_store_target(tmp_path / "notes-wal")  # no database "notes" beside it
    with atomic_file(plain) as f:
        f.write("y\n")
    assert plain.read_text() == "y\n"


def test_demo_refuses_the_journal_of_a_store(tmp_path):
    live = tmp_path / "live.db"
    store_with_fills(live)
    result = run_tradestore("demo", "--db", f"{live}-journal", "--days", "2")
    assert result.returncode == 1 and "live.db-journal" in result.stderr
    assert "Traceback" not in result.stderr and not os.path.exists(f"{live}-journal")


# ------------------------------------------------------------ 4. backups belong to their store

def test_each_store_has_a_stable_identity(tmp_path):
    path = tmp_path / "trades.db"
    with TradeRepo(path) as repo:
        first = repo.store_id
    assert uuid.UUID(first).version == 4
    with TradeRepo(path) as repo, TradeRepo.inspect(path) as reader:
        assert repo.store_id == first == reader.store_id
        backup = repo.backup(tmp_path / "b.db")
    assert backup_store_id(backup) == first
    with TradeRepo(tmp_path / "other.db") as other:
        assert other.store_id != first


def test_an_existing_store_without_identity_gets_one_when_opened(tmp_path):
    path = tmp_path / "old.db"
    store_with_fills(path, 1)
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM store_meta WHERE key = 'store_id'")  # as stores were before
    conn.commit()
    conn.close()
    with TradeRepo.inspect(path) as reader:
        assert reader.store_id is None
    with TradeRepo(path) as repo:
        assert uuid.UUID(repo.store_id)


def test_keep_prunes_only_this_stores_backups(tmp_path):
    """Two bots, each with its own trades.db, back up into one folder."""
    shared = tmp_path / "backups"
    for bot in ("a", "b"):
        (tmp_path / bot).mkdir()
        store_with_fills(tmp_path / bot / "trades.db", 1)
    for _ in range(3):
        for bot in ("a", "b"):
            result = run_tradestore("--db", tmp_path / bot / "trades.db", "backup", shared)
            assert result.returncode == 0, result
    assert len(list_backups(shared)) == 6
    with TradeRepo(tmp_path / "b" / "trades.db") as b:
        b_id = b.store_id
    result = run_tradestore("--db", tmp_path / "a" / "trades.db", "backup", shared, "--keep", "1")
    assert result.returncode == 0, result
    assert result.stdout.count("removed old backup") == 3
    left = list_backups(shared)
    assert [backup_store_id(p) == b_id for p in left].count(True) == 3  # b's untouched
    assert len(left) == 4
    # a backup without an identity (older tradestore) is never pruned by anyone
    assert prune_backups(shared, 1, store_id=str(uuid.uuid4())) == []


# ------------------------------------------------------------ 5. downgrades never lose data silently

def test_downgrade_that_drops_rows_refuses_then_force_backs_up_first(tmp_path):
    path = tmp_path / "trades.db"
    store_with_fills(path, 3)
    with TradeRepo(path) as repo:
        head = repo.current_version
        repo.save_portfolio_snapshot(1000)
    result = run_tradestore("--db", path, "migrate", "--to", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "trades (3 rows)" in result.stderr and "portfolio_snapshots (1 rows)" in result.stderr
    with TradeRepo.inspect(path) as repo:
        assert repo.current_version == head and len(repo.get_trade_history(days=None)) == 3
    result = run_tradestore("--db", path, "migrate", "--to", "1", "--force")
    assert result.returncode == 0, result
    line = next(l for l in result.stdout.splitlines() if l.startswith("backup before going down"))
    saved = line.split(": ", 1)[1]
    assert os.path.dirname(saved) == str(tmp_path)
    assert fills(saved) == 3
    with TradeRepo.inspect(saved) as copy:
        assert copy.check() == []
    with TradeRepo.inspect(path) as repo:
        assert repo.current_version == 1


def test_downgrade_of_an_empty_store_needs_no_force(tmp_path):
    with TradeRepo(tmp_path / "t.db") as repo:
        assert repo.migrate(1) == list(range(repo.migrator.head - 1, 0, -1))
        assert repo.last_backup is None


def test_downgrade_dry_run_changes_nothing(memory_repo):
    memory_repo.save_trade(TradeData("BTC/USDT", "BUY", 1, 100))
    head = memory_repo.current_version
    losses = memory_repo.migrator.downgrade_losses(1)
    assert losses["trades"] == 1 and "store_meta" not in losses
    assert memory_repo.current_version == head and memory_repo.check() == []
    assert len(memory_repo.get_trade_history(days=None)) == 1


# ------------------------------------------------------------ 7. a new store in one step

def synthetic_with_bad_last(db):
    files = [("0001_a.sql", "-- migrate:up\nCREATE TABLE a (x);\n-- migrate:down\nDROP TABLE a;\n"),
             ("0002_b.sql", "-- migrate:up\nCREATE TABLE b (y);\n-- migrate:down\nDROP TABLE b;\n"),
             ("0003_c.sql", "-- migrate:up\nCREATE TABLE c (;\n-- migrate:down\nDROP TABLE c;\n")]
    return Migrator(db, load_migrations(files=files))


def test_a_new_store_is_created_in_one_transaction(tmp_path):
    db = Database(tmp_path / "new.db")
    with pytest.raises(MigrationError, match="0003_c.sql"):
        synthetic_with_bad_last(db).migrate()
    # all or nothing: no half-built store at version 2 for another process to see
    assert db.scalar("PRAGMA user_version") == 0
    assert db.query("SELECT name FROM sqlite_master") == []
    db.close()


def test_creation_commits_once_and_logs_no_migration(tmp_path):
    db = Database(tmp_path / "new.db")
    writes = []
    db.conn.set_trace_callback(lambda sql: writes.append(sql) if sql.startswith("BEGIN I") else None)
    migrator = Migrator(db)
    assert migrator.migrate() == list(range(1, migrator.head + 1))
    assert writes == ["BEGIN IMMEDIATE"] and migrator.current_version == migrator.head
    db.close()
    with TradeRepo(tmp_path / "new.db") as repo:
        assert repo.events.recent(event_type="migration") == []
        assert repo.store_id is not None


# ------------------------------------------------------------ 6. one file is the whole store

def test_after_every_repo_closes_the_main_file_holds_every_commit(tmp_path):
    """Exactly the issue's scenario: a reader mid-read while the writer closes."""
    path = tmp_path / "trades.db"
    TradeRepo(path).close()
    reader = TradeRepo(path, readonly=True)
    with reader.db.reading() as conn:  # the reader holds a read snapshot
        assert conn.execute("SELECT count(*) FROM trades").fetchone()[0] == 0
        with TradeRepo(path) as writer:
            writer.save_trades([TradeData("BTC/USDT", "BUY", 1, 100 + i) for i in range(500)])
    reader.close()
    copy = tmp_path / "copy.db"
    shutil.copyfile(path, copy)  # the main file alone, no -wal
    assert fills(copy) == 500


def test_a_reader_in_another_process_closing_last_folds_the_log_in(tmp_path):
    path = tmp_path / "trades.db"
    TradeRepo(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys\nfrom tradestore import TradeRepo\n"
         "r = TradeRepo.inspect(sys.argv[1])\n"
         "with r.db.reading() as c:\n"
         "    c.execute('SELECT count(*) FROM trades').fetchone()\n"
         "    print('reading', flush=True)\n"
         "    sys.stdin.readline()\n"
         "r.close()\n", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "reading"
        with TradeRepo(path) as writer:
            writer.save_trades([TradeData("ETH/USDT", "BUY", 1, 10 + i) for i in range(50)])
        assert os.path.getsize(f"{path}-wal") > 0  # the reader pinned the log
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=60) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
    copy = tmp_path / "copy.db"
    shutil.copyfile(path, copy)
    assert fills(copy) == 50


def test_a_reader_still_cannot_write(tmp_path):
    path = tmp_path / "trades.db"
    TradeRepo(path).close()
    with TradeRepo(path, readonly=True) as reader:
        with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
            reader.db.conn.execute("INSERT INTO store_meta VALUES ('x', 'y', 'z')")
        with pytest.raises(Exception, match="read-only"):
            reader.save_trade(TradeData("BTC/USDT", "BUY", 1, 100))


def test_an_existing_store_gets_its_identity_when_migrated(tmp_path):
    path = tmp_path / "old.db"
    with TradeRepo(path) as repo:
        repo.migrate(9)
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM store_meta WHERE key = 'store_id'")  # a store from before
    conn.commit()
    conn.close()
    db = Database(path)
    Migrator(db).migrate()  # schema/0010 alone, no TradeRepo
    found = db.scalar("SELECT value FROM store_meta WHERE key = 'store_id'")
    db.close()
    assert uuid.UUID(found).version == 4 and str(uuid.UUID(found)) == found


def test_a_read_only_folder_keeps_the_immutable_open(tmp_path):
    from test_check import read_only_folder
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "trades.db"
    store_with_fills(path, 4)
    with read_only_folder(folder):
        with TradeRepo(path, readonly=True) as reader:
            assert len(reader.get_trade_history(days=None)) == 4
            assert reader.check() == []
        assert sorted(os.listdir(folder)) == ["trades.db"]  # no -wal or -shm made


from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402
from conftest import examples  # noqa: E402


@hsettings(max_examples=examples(15, 5), deadline=None)
@given(owners=st.lists(st.sampled_from("abn"), min_size=1, max_size=8), keep=st.integers(1, 4))
def test_pruning_keeps_the_newest_of_ours_and_touches_nothing_else(tmp_path_factory, owners,
                                                                   keep):
    """Backups of store a, of store b (same name) and without identity (n), interleaved."""
    base = tmp_path_factory.mktemp("prune")
    ids = {}
    for name in "ab":
        (base / name).mkdir()
        with TradeRepo(base / name / "trades.db") as repo:
            ids[name] = repo.store_id
    folder = base / "backups"
    folder.mkdir()
    made = []
    for i, owner in enumerate(owners):
        target = folder / f"trades-20260101T0000{i:02d}Z.db"
        shutil.copyfile(base / ("a" if owner == "n" else owner) / "trades.db", target)
        if owner == "n":  # as taken by an older tradestore
            conn = sqlite3.connect(target)
            conn.execute("DELETE FROM store_meta WHERE key = 'store_id'")
            conn.commit()
            conn.close()
        made.append((owner, target))
    removed = prune_backups(folder, keep, store_id=ids["a"])
    ours = [t for o, t in made if o == "a"]
    assert removed == ours[:-keep]
    assert sorted(folder.iterdir()) == sorted(t for o, t in made if t not in removed)
