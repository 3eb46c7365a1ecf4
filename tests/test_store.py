"""Opening a store: pragmas, file mode, clean close, read-only, threads and processes."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import tradestore
from tradestore import (DatabaseBusyError, DatabaseError, DiskFullError, ReadOnlyError,
                        SchemaError, StoreError, TradeData, TradeRepo, ValidationError)
from tradestore._core.db import MIN_SQLITE_VERSION, Database, check_sqlite_version

META = "INSERT INTO store_meta (key, value, updated_at) VALUES (?, ?, '2024-01-01T00:00:00.000000Z')"


def snapshot(path):
    """Bytes and mtime of a file: 'nothing was written' means both are unchanged."""
    return path.read_bytes(), os.stat(path).st_mtime_ns


def count(repo, table="events"):
    # store_meta also holds the store's identity (issue 14.4): count the test's own rows
    where = " WHERE key != 'store_id'" if table == "store_meta" else ""
    return repo.db.scalar(f"SELECT count(*) FROM {table}{where}")


# ------------------------------------------------------------ opening

def test_open_close_and_context_manager(db_path):
    repo = TradeRepo(db_path)
    assert repo.path == str(db_path) and not repo.db.closed
    repo.events.log("boot", "first")
    repo.close()
    repo.close()  # closing twice is harmless
    assert repo.db.closed
    with pytest.raises(StoreError, match="closed"):
        repo.events.log("boot", "after close")
    with TradeRepo(db_path) as again:
        assert count(again) == 1
    assert again.db.closed


def test_context_manager_closes_on_error(db_path):
    with pytest.raises(RuntimeError):
        with TradeRepo(db_path) as repo:
            raise RuntimeError("bot crashed")
    assert repo.db.closed


def test_memory_store_is_private_and_complete():
    with TradeRepo(":memory:") as a, TradeRepo(":memory:") as b:
        a.events.log("x", "only in a")
        assert count(a) == 1 and count(b) == 0
        assert a.current_version == a.migrator.head
        assert a.db.scalar("PRAGMA foreign_keys") == 1


def test_file_store_pragmas(db_path):
    with TradeRepo(db_path, busy_timeout=2.5) as repo:
        assert repo.db.scalar("PRAGMA journal_mode") == "wal"
        assert repo.db.scalar("PRAGMA synchronous") == 2         # FULL
        assert repo.db.scalar("PRAGMA foreign_keys") == 1
        assert repo.db.scalar("PRAGMA busy_timeout") == 2500
        assert repo.db.scalar("PRAGMA application_id") == 0x54524453
    header = db_path.read_bytes()[:20]
    assert header.startswith(b"SQLite format 3\x00") and header[18:20] == b"\x02\x02"  # WAL


def test_a_read_after_a_write_waits_the_whole_busy_timeout(db_path):
    """BEGIN IMMEDIATE waits in short tries of its own (2 ms each); that quick wait stays
    set through the transaction and the writes after it (a bot that only writes sets
    it once), and every use outside a transaction waits busy_timeout again."""
    with TradeRepo(db_path, busy_timeout=5) as repo:
        fill = dict(symbol="BTC/USDT", side="buy", quantity="1", price="10")
        with repo.db.transaction() as conn:
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2
        repo.save_trade(TradeData(**fill))
        repo.save_trade(TradeData(**fill))
        assert repo.db.scalar("PRAGMA busy_timeout") == 5000
        with repo.db.reading() as conn:
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert len(repo.get_trade_history()) == 2


def test_without_wal_commit_waits_the_whole_busy_timeout(tmp_path):
    """Only a WAL file keeps the quick wait through the transaction: in a rollback
    journal COMMIT waits for readers to finish, so it needs the whole busy_timeout."""
    db = Database(str(tmp_path / "plain.db"), busy_timeout=5)  # no use_wal()
    with db.transaction() as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    reader = sqlite3.connect(tmp_path / "plain.db", isolation_level=None,
                             check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM t").fetchall()  # a SHARED lock until its COMMIT
    release = threading.Timer(0.3, reader.execute, ("COMMIT",))
    release.start()
    try:
        with db.transaction() as conn:
            conn.execute("INSERT INTO t VALUES (1)")
    finally:
        release.join()
        reader.close()
    assert db.query("SELECT x FROM t") == [(1,)]
    db.close()


def test_durability_normal(db_path):
    with TradeRepo(db_path, durability="normal") as repo:
        assert repo.db.scalar("PRAGMA synchronous") == 1         # NORMAL
        assert repo.db.scalar("PRAGMA journal_mode") == "wal"


@pytest.mark.parametrize("options", [
    {"durability": "fast"}, {"durability": None}, {"busy_timeout": -1},
    {"busy_timeout": float("nan")}, {"busy_timeout": float("inf")}, {"busy_timeout": "5"},
    {"busy_timeout": True},
])
def test_bad_options_are_refused(db_path, options):
    with pytest.raises(ValidationError):
        TradeRepo(db_path, **options)


def test_new_file_is_private(tmp_path):
    old = os.umask(0)  # even with a permissive umask
    try:
        path = tmp_path / "private.db"
        with TradeRepo(path) as repo:
            repo.events.log("x", "y")
            modes = {p.name: stat.S_IMODE(os.stat(p).st_mode)
                     for p in tmp_path.iterdir() if p.name.startswith("private.db")}
    finally:
        os.umask(old)
    assert modes["private.db"] == 0o600
    assert {"private.db-wal", "private.db-shm"} <= set(modes)
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes


def test_existing_file_mode_is_left_alone(tmp_path):
    path = tmp_path / "shared.db"
    TradeRepo(path).close()
    os.chmod(path, 0o640)
    TradeRepo(path).close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


@pytest.mark.parametrize("make", ["directory", "missing_parent", "garbage"])
def test_unusable_paths_raise_store_errors(tmp_path, make):
    if make == "directory":
        path = tmp_path
    elif make == "missing_parent":
        path = tmp_path / "nope" / "trades.db"
    else:
        path = tmp_path / "notes.db"
        path.write_bytes(b"these are my notes, not a database\n" * 200)
    before = path.read_bytes() if make == "garbage" else None
    with pytest.raises(DatabaseError):
        TradeRepo(path)
    if before is not None:
        assert path.read_bytes() == before


def test_sqlite_version_is_checked():
    with pytest.raises(StoreError, match="3.30.0 is too old.*3.37"):
        check_sqlite_version((3, 30, 0))
    check_sqlite_version(MIN_SQLITE_VERSION)
    check_sqlite_version(sqlite3.sqlite_version_info)  # this machine's library is enough


# ------------------------------------------------------------ a clean close

def test_close_checkpoints_so_the_main_file_alone_is_a_backup(tmp_path):
    path = tmp_path / "live" / "trades.db"
    path.parent.mkdir()
    # another connection stays open (a dashboard, another bot): SQLite would then keep
    # the WAL, so only our checkpoint at close puts everything into trades.db
    watcher = TradeRepo(path)
    repo = TradeRepo(path)
    for i in range(50):
        repo.events.log("tick", f"event {i}")

    early = tmp_path / "early" / "trades.db"
    early.parent.mkdir()
    shutil.copyfile(path, early)  # before close the rows are in the WAL only
    conn = sqlite3.connect(early)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    early_rows = conn.execute("SELECT count(*) FROM events").fetchone()[0] \
        if "events" in tables else 0
    conn.close()
    assert early_rows < 50  # so the copy below is complete only thanks to close()

    repo.close()
    assert os.path.getsize(str(path) + "-wal") == 0  # TRUNCATE checkpoint
    copy = tmp_path / "copy" / "trades.db"
    copy.parent.mkdir()
    shutil.copyfile(path, copy)  # the main file only
    assert sorted(p.name for p in copy.parent.iterdir()) == ["trades.db"]
    with TradeRepo(copy, readonly=True) as restored:
        assert count(restored) == 50
        assert restored.db.scalar("SELECT message FROM events ORDER BY id DESC LIMIT 1") == \
            "event 49"
        assert restored.check() == []
    watcher.close()


def test_close_rolls_back_an_unfinished_transaction(db_path):
    repo = TradeRepo(db_path)
    with pytest.raises(StoreError, match="closed"):
        with repo.transaction() as conn:
            conn.execute(META, ("half", "written"))
            repo.close()  # the block cannot commit any more
    with TradeRepo(db_path) as again:
        assert count(again, "store_meta") == 0


# ------------------------------------------------------------ read-only

def test_readonly_never_writes(db_path):
    with TradeRepo(db_path) as repo:
        repo.events.log("x", "before")
    before = snapshot(db_path)
    time.sleep(0.01)
    with TradeRepo(db_path, readonly=True) as ro:
        assert count(ro) == 1
        with pytest.raises(ReadOnlyError):
            ro.events.log("x", "write")
        with pytest.raises(ReadOnlyError):
            with ro.transaction() as conn:
                conn.execute(META, ("k", "v"))
        with pytest.raises(ReadOnlyError):
            ro.migrate(1)
        assert ro.current_version == ro.migrator.head
    assert snapshot(db_path) == before


def test_readonly_never_migrates_a_behind_store(db_path):
    with TradeRepo(db_path) as repo:
        repo.migrate(1)
    before = snapshot(db_path)
    with pytest.raises(SchemaError, match="behind"):
        TradeRepo(db_path, readonly=True)
    with TradeRepo.inspect(db_path) as ro:  # what status/check use
        assert ro.current_version == 1
        assert len(ro.pending) == ro.migrator.head - 1
    assert snapshot(db_path) == before


def test_readonly_needs_an_existing_file(tmp_path):
    with pytest.raises(DatabaseError, match="no such"):
        TradeRepo(tmp_path / "absent.db", readonly=True)
    assert not (tmp_path / "absent.db").exists()


def test_migrate_false_never_creates_a_file(tmp_path):
    with pytest.raises(DatabaseError, match="no such"):
        TradeRepo(tmp_path / "absent.db", migrate=False)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------ transactions

def test_nested_transactions_use_savepoints(repo):
    with repo.transaction() as conn:
        conn.execute(META, ("outer-1", "kept"))
        with pytest.raises(ValueError):
            with repo.transaction() as inner:
                inner.execute(META, ("inner", "undone"))
                raise ValueError("inner failure")
        with repo.transaction() as inner:
            inner.execute(META, ("inner-ok", "kept"))
            with pytest.raises(KeyError):
                with repo.transaction() as deepest:
                    deepest.execute(META, ("deepest", "undone"))
                    raise KeyError("deepest failure")
        conn.execute(META, ("outer-2", "kept"))
    keys = [r[0] for r in repo.db.query(
        "SELECT key FROM store_meta WHERE key != 'store_id' ORDER BY key")]
    assert keys == ["inner-ok", "outer-1", "outer-2"]


def test_outer_failure_rolls_back_everything(repo):
    with pytest.raises(RuntimeError):
        with repo.transaction() as conn:
            conn.execute(META, ("outer", "x"))
            with repo.transaction() as inner:
                inner.execute(META, ("inner", "committed to the savepoint only"))
            repo.events.log("x", "also inside")
            raise RuntimeError("outer failure")
    assert count(repo, "store_meta") == 0 and count(repo) == 0
    assert not repo.db.conn.in_transaction


def test_sqlite_errors_inside_a_transaction_become_store_errors(repo):
    with pytest.raises(ValidationError, match="UNIQUE|constraint"):
        with repo.transaction() as conn:
            conn.execute(META, ("same", "1"))
            conn.execute(META, ("same", "2"))
    with pytest.raises(StoreError, match="no such table"):
        with repo.transaction() as conn:
            conn.execute("INSERT INTO no_such_table VALUES (1)")
    assert count(repo, "store_meta") == 0
    assert not repo.db.conn.in_transaction


def test_a_full_disk_is_a_clear_error_and_nothing_is_written(db_path):
    with TradeRepo(db_path) as repo:
        repo.db.conn.execute(f"PRAGMA max_page_count = {repo.db.scalar('PRAGMA page_count') + 3}")
        with pytest.raises(DiskFullError, match="full"):
            with repo.transaction():
                for i in range(500):
                    repo.events.log("x", "y" * 1000)
        assert count(repo) == 0 and not repo.db.conn.in_transaction


def test_constraint_text_never_decides_the_error_type(repo):
    with repo.transaction() as conn:
        conn.execute("CREATE TABLE probe (state TEXT CHECK (state IN ('busy', 'full', 'locked')))")
    with pytest.raises(ValidationError, match="CHECK constraint failed"):
        with repo.transaction() as conn:
            conn.execute("INSERT INTO probe VALUES ('readonly')")


def test_transaction_sees_its_own_writes_and_others_see_them_after_commit(db_path):
    with TradeRepo(db_path) as writer, TradeRepo(db_path) as reader:
        with writer.transaction() as conn:
            conn.execute(META, ("k", "v"))
            assert writer.db.scalar("SELECT value FROM store_meta WHERE key = 'k'") == "v"
            assert reader.db.scalar("SELECT count(*) FROM store_meta WHERE key = 'k'") == 0
        assert reader.db.scalar("SELECT value FROM store_meta WHERE key = 'k'") == "v"


# ------------------------------------------------------------ threads

def test_one_store_shared_by_eight_threads(db_path):
    threads_n, per_thread = 8, 40
    errors, seen = [], []
    with TradeRepo(db_path) as repo:
        start = threading.Barrier(threads_n + 1)

        def work(n):
            try:
                start.wait()
                for i in range(per_thread):
                    repo.events.log("tick", f"thread {n} event {i}", symbol=f"T{n}")
                    if i % 4 == 0:
                        with repo.transaction() as conn:  # a multi-statement unit
                            conn.execute(META, (f"t{n}-{i}-a", "1"))
                            conn.execute(META, (f"t{n}-{i}-b", "2"))
                    seen.append(repo.db.scalar("SELECT count(*) FROM events"))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
        for w in workers:
            w.start()
        start.wait()
        for w in workers:
            w.join(60)
        assert not errors, errors
        assert count(repo) == threads_n * per_thread
        assert count(repo, "store_meta") == threads_n * (per_thread // 4) * 2
        per_symbol = dict(repo.db.query("SELECT symbol, count(*) FROM events GROUP BY symbol"))
        assert per_symbol == {f"T{n}": per_thread for n in range(threads_n)}
        # pairs written in one transaction are never seen half-done
        assert repo.db.scalar("SELECT count(*) FROM store_meta WHERE key LIKE '%-a'") == \
            repo.db.scalar("SELECT count(*) FROM store_meta WHERE key LIKE '%-b'")
    assert len(seen) == threads_n * per_thread and max(seen) == threads_n * per_thread


def test_a_thread_reading_never_sees_half_a_transaction(memory_repo):
    stop = threading.Event()
    torn = []

    def reader():
        while not stop.is_set():
            with memory_repo.db.reading() as conn:
                a = conn.execute("SELECT count(*) FROM store_meta WHERE key LIKE 'a%'").fetchone()[0]
                b = conn.execute("SELECT count(*) FROM store_meta WHERE key LIKE 'b%'").fetchone()[0]
            if a != b:
                torn.append((a, b))

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(200):
            with memory_repo.transaction() as conn:
                conn.execute(META, (f"a{i}", "1"))
                conn.execute(META, (f"b{i}", "1"))
    finally:
        stop.set()
        t.join()
    assert torn == []


# ------------------------------------------------------------ processes

WRITER = textwrap.dedent("""
    import sys, time
    from tradestore import TradeRepo
    path, name, n, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    while time.time() < start:
        time.sleep(0.001)
    with TradeRepo(path, busy_timeout=30) as repo:
        for i in range(n):
            repo.events.log("tick", f"{name} {i}", symbol=name)
            if i % 5 == 0:
                with repo.transaction() as conn:
                    conn.execute("INSERT INTO store_meta (key, value, updated_at) VALUES "
                                 "(?, '1', '2024-01-01T00:00:00.000000Z')", (f"{name}-{i}",))
    print("done", name)
""")


def _spawn_writers(path, processes, per_process):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(tradestore.__file__)), os.environ.get("PYTHONPATH", "")]))
    start = time.time() + 1.0  # all start writing at the same moment
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"p{n}",
                               str(per_process), str(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for n in range(processes)]
    results = [p.communicate(timeout=120) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, results)]


def test_several_processes_on_one_file(tmp_path):
    """Fresh file: the processes race to create and migrate it, then write at once."""
    path = tmp_path / "shared.db"
    processes, per_process = 4, 30
    results = _spawn_writers(path, processes, per_process)
    for code, out, err in results:
        assert code == 0 and "locked" not in err and "busy" not in err, err
        assert out.startswith("done")
    with TradeRepo(path, readonly=True) as repo:
        assert count(repo) == processes * per_process
        assert dict(repo.db.query("SELECT symbol, count(*) FROM events GROUP BY symbol")) == \
            {f"p{n}": per_process for n in range(processes)}
        assert count(repo, "store_meta") == processes * (per_process // 5)
        assert repo.current_version == repo.migrator.head
        assert repo.check() == []


HOLDER = textwrap.dedent("""
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN " + sys.argv[2])
    conn.execute("INSERT INTO store_meta (key, value, updated_at) "
                 "VALUES ('holder', '1', '2024-01-01T00:00:00.000000Z')")
    print("holding", flush=True)
    time.sleep(float(sys.argv[3]))
    conn.execute("COMMIT")
""")


def hold_lock(path, mode="IMMEDIATE", seconds=0.5):
    """Another process holding a write transaction on ``path`` for ``seconds``."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), mode, str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_a_writer_waits_for_another_process_within_busy_timeout(db_path):
    TradeRepo(db_path).close()
    with TradeRepo(db_path, busy_timeout=20) as repo:
        holder = hold_lock(db_path, seconds=0.5)
        started = time.monotonic()
        repo.events.log("x", "waited")  # queues behind the holder, does not fail
        waited = time.monotonic() - started
        assert holder.wait(20) == 0
        assert waited > 0.2
        assert count(repo) == 1 and count(repo, "store_meta") == 1


def test_busy_past_the_timeout_is_a_clear_error(db_path):
    TradeRepo(db_path).close()
    holder = hold_lock(db_path, mode="EXCLUSIVE", seconds=3)
    try:
        with TradeRepo(db_path, busy_timeout=0.2) as repo:
            # the holder keeps the lock 3 s: had the 0.2 s timeout been ignored, the write
            # would have waited and succeeded instead of raising
            with pytest.raises(DatabaseBusyError, match="busy"):
                repo.events.log("x", "cannot")
            assert not repo.db.conn.in_transaction
            assert count(repo) == 0
    finally:
        holder.kill()
        holder.wait()
    with TradeRepo(db_path) as repo:
        assert count(repo) == 0 and count(repo, "store_meta") == 0  # the holder never committed
