"""Faults: a full disk, read-only files and folders, foreign, truncated, newer and
corrupt files. Each is a clear StoreError (or a non-zero ``tradestore`` exit with
one line on stderr), never a traceback, and never a write to a file we must not
touch."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import traceback
from pathlib import Path

import pytest

import reliability_worker as worker
from conftest import run_tradestore
import tradestore._core.migrate as migrate_module
from tradestore import TradeRepo
from tradestore.tools.restore import restore
from tradestore._core.migrate import load_migrations
from tradestore.errors import DatabaseError, DiskFullError, ReadOnlyError, SchemaError, StoreError

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
NOBODY = 65534
FILL = dict(symbol="BTC/USDT", side="BUY", quantity="0.5", price="100", exchange="x")


def build_store(path: Path, steps: int = 200, seed: int = 1) -> Path:
    """A store with fills, orders, states and snapshots, closed (WAL folded in)."""
    with TradeRepo(path) as repo:
        writer = worker.Writer(repo, "f", random.Random(seed), lambda line: None)
        for _ in range(steps):
            writer.step()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def logical_dump(path: Path) -> dict:
    """Every row of every table, read with raw sqlite3 (or the error that stopped it)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {name: conn.execute(f'SELECT * FROM "{name}"').fetchall() for name in names}
    except sqlite3.Error as exc:
        return {"error": str(exc)}
    finally:
        conn.close()


def cli(*argv) -> subprocess.CompletedProcess:
    done = run_tradestore(*argv, env=ENV)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), (done.returncode, done.stderr)
    return done


def one_line_error(done: subprocess.CompletedProcess, *words) -> None:
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tradestore: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]


# ------------------------------------------------------------------ disk full

def fill_until_full(repo: TradeRepo, tag: str, limit: int = 500):
    """Save bulks of padded fills until one fails; returns (bulks saved, the error)."""
    for k in range(limit):
        items = [dict(FILL, external_id=f"{tag}-{k}-{i}", metadata={"pad": "x" * 300})
                 for i in range(20)]
        before = repo.db.scalar("SELECT count(*) FROM trades")
        try:
            repo.save_trades(items)
        except DiskFullError as exc:
            after = repo.db.scalar("SELECT count(*) FROM trades")
            assert after == before, "the failed bulk left rows behind"
            assert repo.db.scalar("SELECT count(*) FROM trades WHERE external_id GLOB ?",
                                  (f"{tag}-{k}-*",)) == 0
            return k, exc
    pytest.fail(f"{limit} bulks fit: the disk never filled up")


def assert_intact(repo: TradeRepo) -> None:
    assert repo.db.scalar("PRAGMA integrity_check") == "ok"
    assert repo.check() == []
    assert worker.snapshot_problems(repo) == []
    assert worker.report_problems(repo) == []  # reports still read, and agree with themselves
    assert repo.get_trade_history(days=None)


def test_disk_full_by_page_budget(db_path):
    build_store(db_path, steps=50)
    with TradeRepo(db_path) as repo:
        pages = repo.db.scalar("PRAGMA page_count")
        # the pragma is per connection: it must be set on the store's own one
        repo.db.conn.execute(f"PRAGMA max_page_count = {pages + 5}")
        saved, error = fill_until_full(repo, "full")
        assert "full" in str(error) and str(db_path) in str(error)
        assert_intact(repo)
        with pytest.raises(DiskFullError):  # still full: a clear error again, not a crash
            repo.save_trades([dict(FILL, external_id=f"again-{i}", metadata={"pad": "y" * 300})
                              for i in range(40)])
        state = repo.load_bot_state(bot=worker.STATE_BOT)
        repo.db.conn.execute("PRAGMA max_page_count = 1073741823")  # space returns
        trade_id = repo.save_trade(dict(FILL, external_id="after"))
        version = repo.save_bot_state({"extra": {"after": True}}, bot=worker.STATE_BOT)
        assert_intact(repo)
    with TradeRepo(db_path) as repo:
        assert repo.get_trade(trade_id).external_id == "after"
        assert repo.load_bot_state(bot=worker.STATE_BOT).version == version
        assert repo.load_bot_state(state.version, bot=worker.STATE_BOT) == state


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 2 MiB tmpfs (needs root, as in CI); skipped with the reason otherwise."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); "
                    "test_disk_full_by_page_budget covers a full disk with max_page_count")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)]).returncode:
            subprocess.run(["umount", "-l", str(mount)], check=True)


def test_disk_full_on_a_real_filesystem(small_tmpfs):
    path = small_tmpfs / "trades.db"
    repo = TradeRepo(path)
    try:
        repo.save_trade(dict(FILL, external_id="first"))
        stat = os.statvfs(small_tmpfs)
        ballast = small_tmpfs / "ballast"
        ballast.write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - 96 * 1024))
        saved, error = fill_until_full(repo, "tmpfs")
        assert "full" in str(error)
        assert_intact(repo)
        count = repo.db.scalar("SELECT count(*) FROM trades")
        repo.close()  # closing on a full disk: the checkpoint may fail, nothing is lost
        ballast.unlink()  # space returns
        repo = TradeRepo(path)
        assert repo.db.scalar("SELECT count(*) FROM trades") == count
        assert_intact(repo)
        repo.save_trades([dict(FILL, external_id=f"later-{i}") for i in range(20)])
        assert repo.db.scalar("SELECT count(*) FROM trades") == count + 20
    finally:
        repo.close()


def test_backup_and_restore_into_a_full_disk_leave_no_partial_file(small_tmpfs, tmp_path):
    """A backup or restore that runs out of space fails with our error, and the
    temp copy it was writing is gone: the folder holds only what was there."""
    source = tmp_path / "big.db"
    with TradeRepo(source) as repo:
        repo.save_trades([dict(FILL, external_id=f"x{i}", strategy="s" * 150)
                          for i in range(12_000)])
        assert source.stat().st_size > 2 * 1024 * 1024  # more than the tmpfs holds
        with pytest.raises(StoreError) as backup_error:
            repo.backup(small_tmpfs / "copy.db")
        kept = tmp_path / "kept.db"
        repo.backup(kept)
    assert "full" in str(backup_error.value) or "space" in str(backup_error.value)
    assert sorted(p.name for p in small_tmpfs.iterdir()) == []
    target = small_tmpfs / "trades.db"
    TradeRepo(target).close()
    before = target.read_bytes()
    with pytest.raises(DatabaseError, match="restore failed"):
        restore(kept, target)
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["trades.db"]
    assert target.read_bytes() == before


# ------------------------------------------------------------------ read-only

def run_unprivileged(fn) -> dict:
    """``fn()`` where file permissions apply: as root (CI) in a forked child that drops
    to user nobody, since root ignores a file's mode bits."""
    if os.geteuid() != 0:
        return fn()
    # The schema files are read on every open; CI's checkout may be in a folder only
    # root can read, so the child is handed the migrations read here.
    migrations = load_migrations()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read)
            migrate_module.load_migrations = lambda files=None, **_: migrations
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            data = json.dumps(fn())
        except BaseException:  # noqa: B036 - reported to the parent
            data = json.dumps({"crash": traceback.format_exc()})
        with os.fdopen(write, "w") as pipe:
            pipe.write(data)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def probe(path: Path) -> dict:
    """Open for writing and write, then open read-only and read; what happened."""
    out = {}
    try:
        with TradeRepo(path) as repo:
            out["fills_read"] = len(repo.get_trade_history(days=None))
            try:
                repo.save_trade(dict(FILL, external_id="probe"))
                out["write"] = "ok"
            except StoreError as exc:
                out["write"] = [type(exc).__name__, str(exc)]
    except StoreError as exc:
        out["write"] = [type(exc).__name__, str(exc)]
    except Exception as exc:  # anything not ours is a failure
        out["raw"] = f"{type(exc).__name__}: {exc}"
    try:
        with TradeRepo(path, readonly=True) as repo:
            out["readonly_fills_read"] = len(repo.get_trade_history(days=None))
    except StoreError as exc:
        out["readonly"] = [type(exc).__name__, str(exc)]
    except Exception as exc:
        out["raw"] = f"{type(exc).__name__}: {exc}"
    return out


@pytest.fixture
def shared_dir():
    """A folder user nobody can reach (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="tradestore-ro-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def _owned_by_nobody(folder: Path) -> None:
    """The folder and everything in it (-wal/-shm included) belong to the probing user."""
    if os.geteuid() == 0:
        for path in [folder, *folder.iterdir()]:
            os.chown(path, NOBODY, NOBODY)


def test_read_only_file(shared_dir):
    path = build_store(shared_dir / "trades.db", steps=30)
    with TradeRepo(path) as repo:  # a writer's close leaves no -wal/-shm behind
        fills = len(repo.get_trade_history(days=None))
    assert sorted(p.name for p in shared_dir.iterdir()) == ["trades.db"]
    _owned_by_nobody(shared_dir)
    path.chmod(0o444)
    before = digest(path)
    out = run_unprivileged(lambda: probe(path))
    assert "raw" not in out and "crash" not in out, out
    assert out["write"][0] == ReadOnlyError.__name__ and str(path) in out["write"][1], out
    assert out["readonly_fills_read"] == fills  # a read-only file can still be read
    assert digest(path) == before


def test_read_only_directory(shared_dir):
    path = build_store(shared_dir / "trades.db", steps=30)
    assert sorted(p.name for p in shared_dir.iterdir()) == ["trades.db"]
    _owned_by_nobody(shared_dir)
    shared_dir.chmod(0o555)
    before = digest(path)
    out = run_unprivileged(lambda: probe(path))
    assert "raw" not in out and "crash" not in out, out
    assert out["write"][0] in (ReadOnlyError.__name__, DatabaseError.__name__), out
    assert str(path) in out["write"][1]
    assert digest(path) == before
    assert sorted(p.name for p in shared_dir.iterdir()) == ["trades.db"]
    # and a new store cannot be made there: a clear error, no file
    new = shared_dir / "new.db"
    made = run_unprivileged(lambda: probe(new))
    assert made["write"][0] == DatabaseError.__name__ and "cannot create" in made["write"][1]
    assert not new.exists()


def test_a_store_in_a_read_only_directory_can_still_be_read(shared_dir):
    path = build_store(shared_dir / "trades.db", steps=30)
    with TradeRepo(path) as repo:  # a writer's close leaves no -wal/-shm behind
        fills = len(repo.get_trade_history(days=None))
    assert sorted(p.name for p in shared_dir.iterdir()) == ["trades.db"]
    _owned_by_nobody(shared_dir)
    shared_dir.chmod(0o555)
    out = run_unprivileged(lambda: probe(path))
    assert out.get("readonly_fills_read") == fills, out


# ------------------------------------------------------------------ foreign files

@pytest.mark.parametrize("content", [b"these are my notes, not a database\n" * 200,
                                     bytes(random.Random(7).randrange(256) for _ in range(8192))],
                         ids=["text", "random-bytes"])
def test_a_file_that_is_not_sqlite(tmp_path, content):
    path = tmp_path / "notes.db"
    path.write_bytes(content)
    for options in ({}, {"readonly": True}):
        with pytest.raises(DatabaseError, match="not a usable tradestore database"):
            TradeRepo(path, **options)
    one_line_error(cli("--db", path, "status"), str(path))
    one_line_error(cli("--db", path, "check"), str(path))
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_truncated_files(tmp_path):
    """Cut anywhere (inside the header, page 1, the middle, the last page): the store
    refuses to open or check reports it; the file is never written."""
    base = build_store(tmp_path / "base.db", steps=150)
    size = base.stat().st_size
    page = 4096
    for cut in (60, 100, 2000, page, 3 * page, size // 2, size - page, size - 1000):
        path = tmp_path / f"cut-{cut}.db"
        shutil.copy(base, path)
        os.truncate(path, cut)
        before = digest(path)
        try:
            with TradeRepo(path) as repo:
                problems = repo.check()
        except DatabaseError as exc:
            assert str(path) in str(exc)
        else:
            assert problems, f"cut at {cut}: check found nothing"
        done = cli("--db", path, "check")
        assert done.returncode == 1, (cut, done.stdout, done.stderr)
        assert digest(path) == before, f"cut at {cut}: the file was written"


def test_a_database_from_a_newer_version(tmp_path):
    path = build_store(tmp_path / "newer.db", steps=10)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    before = digest(path)
    for options in ({}, {"readonly": True}, {"migrate": False}):
        with pytest.raises(SchemaError, match="version 999 is newer"):
            TradeRepo(path, **options)
    one_line_error(cli("--db", path, "status"), "999", "upgrade tradestore")
    one_line_error(cli("--db", path, "trades"), "999")
    assert digest(path) == before


# ------------------------------------------------------------------ corruption

def corrupt(path: Path, rng: random.Random, *, headers: bool) -> list[int]:
    """Overwrite random bytes in three random pages after the first; with ``headers``,
    the page's b-tree header is hit too. Returns the pages."""
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    count = len(data) // page_size
    pages = rng.sample(range(2, count + 1), 3)
    for number in pages:
        start = (number - 1) * page_size
        if headers:
            data[start:start + 8] = rng.randbytes(8)
        size = rng.randint(1, 64)
        at = start + rng.randrange(page_size - size)
        data[at:at + size] = rng.randbytes(size)
    path.write_bytes(bytes(data))
    return pages


@pytest.fixture(scope="module")
def corruptible(tmp_path_factory) -> tuple[Path, dict]:
    path = build_store(tmp_path_factory.mktemp("corrupt") / "clean.db", steps=250)
    return path, logical_dump(path)


@pytest.mark.parametrize("seed", range(6))
def test_check_reports_damaged_pages(tmp_path, corruptible, seed):
    clean, _ = corruptible
    path = tmp_path / "copy.db"
    shutil.copy(clean, path)
    pages = corrupt(path, random.Random(seed), headers=True)
    done = cli("--db", path, "check")
    assert done.returncode == 1, f"pages {pages}: {done.stdout}"
    assert "problem" in done.stdout or done.stderr.startswith("tradestore: ")
    for command in (["status"], ["trades", "--all"], ["positions"], ["orders"]):
        cli("--db", path, *command)  # exit 0 or 1, never a traceback


@pytest.mark.parametrize("seed", range(6))
def test_random_damage_is_reported_or_harmless(tmp_path, corruptible, seed):
    """Bytes overwritten anywhere in a page: either check says so, or every row of every
    table reads back exactly as before (the bytes were unused space)."""
    clean, rows = corruptible
    path = tmp_path / "copy.db"
    shutil.copy(clean, path)
    pages = corrupt(path, random.Random(1000 + seed), headers=False)
    done = cli("--db", path, "check")
    if done.returncode == 0:
        assert logical_dump(path) == rows, f"pages {pages}: data changed and check said ok"


def test_a_damaged_bot_state_is_reported_by_check(tmp_path, corruptible):
    """A change that keeps the page well-formed (one letter of a state's payload) is
    caught by the state checksums."""
    clean, _ = corruptible
    path = tmp_path / "copy.db"
    shutil.copy(clean, path)
    data = bytearray(path.read_bytes())
    at = data.find(b'"writer":"f"')
    assert at > 0
    data[at + 10] = ord("g")
    path.write_bytes(bytes(data))
    done = cli("--db", path, "check")
    assert done.returncode == 1 and "SHA-256" in done.stdout
