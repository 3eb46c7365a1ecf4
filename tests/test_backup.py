"""Live backup while a real writer process keeps saving fills; verified restore."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tradestore import (DatabaseBusyError, DatabaseError, SchemaError, StoreError, TradeData,
                        TradeRepo)
from tradestore.ops.backup import list_backups, prune_backups
from tradestore.tools.restore import restore, verify_backup

WRITER = textwrap.dedent("""
    import os, sys
    from datetime import datetime, timedelta, timezone
    from tradestore import TradeRepo, TradeData
    path, stop = sys.argv[1], sys.argv[2]
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    with TradeRepo(path) as repo:
        i = 0
        while not os.path.exists(stop) and i < 20000:
            symbol = ("BTC/USDT", "ETH/USDT")[i % 2]
            side = "BUY" if (i // 2) % 3 != 2 else "SELL"
            repo.save_trade(TradeData(symbol, side, "0.5" if side == "BUY" else "1",
                                      f"{100 + i % 13}.25", fees="0.01", exchange="w",
                                      external_id=f"w{i}", timestamp=start + timedelta(seconds=i)))
            print(f"ack w{i}", flush=True)   # acknowledged: the commit returned
            i += 1
""")

HOLDER = textwrap.dedent("""
    import sys, time
    from tradestore import TradeRepo, TradeData
    with TradeRepo(sys.argv[1]) as repo:
        if sys.argv[2] == "write":
            with repo.transaction():
                repo.save_trade(TradeData("X/USDT", "BUY", 1, 1))
                print("ready", flush=True)
                time.sleep(30)
        else:
            print("ready", flush=True)
            time.sleep(30)
""")


def env():
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}


def start_script(tmp_path, source, *args):
    script = tmp_path / "script.py"
    script.write_text(source)
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], stdout=subprocess.PIPE,
                            text=True, env=env())


def replay_positions(fills):
    """Positions built from scratch from ``fills`` in a fresh store (what they must be)."""
    with TradeRepo(":memory:") as fresh:
        fresh.save_trades([dataclasses.replace(t, id=None, pnl=None) for t in fills])
        return summary(fresh)


def summary(repo):
    keep = ("account", "symbol", "side", "quantity", "entry_value", "entry_fees", "realized_pnl",
            "fees", "max_quantity", "trade_count", "opened_at", "closed_at")
    positions = repo.get_open_positions() + repo.get_closed_positions()
    return sorted(tuple(getattr(p, k) for k in keep) for p in positions)


def test_backups_of_a_live_writer_hold_a_prefix_of_its_acknowledged_fills(tmp_path):
    db = tmp_path / "trades.db"
    TradeRepo(db).close()
    stop = tmp_path / "stop"
    writer = start_script(tmp_path, WRITER, db, stop)
    acks = []
    reader = threading.Thread(target=lambda: acks.extend(line.split()[1] for line in writer.stdout),
                              daemon=True)
    reader.start()
    folder = tmp_path / "backups"
    folder.mkdir()
    taken = []
    try:
        deadline = time.monotonic() + 30
        while len(acks) < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert acks, "the writer never acknowledged a fill"
        with TradeRepo(db) as repo:
            for _ in range(5):
                acknowledged = len(acks)   # every one of these must be in the backup
                taken.append((repo.backup(folder), acknowledged))
                time.sleep(0.1)
    finally:
        stop.touch()
        writer.wait(timeout=60)
        reader.join(timeout=10)
    assert writer.returncode == 0
    assert len({path for path, _ in taken}) == 5
    counts = []
    for path, acknowledged in taken:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert not Path(f"{path}-wal").exists() and not Path(f"{path}-journal").exists()
        assert path.read_bytes()[18:20] == b"\x01\x01"   # rollback journal: one complete file
        info = verify_backup(path)
        with TradeRepo.inspect(path) as copy:
            assert copy.check() == []
            fills = copy.get_trade_history(days=None)
            stored = summary(copy)
        names = [t.external_id for t in sorted(fills, key=lambda t: t.id)]
        assert names == [f"w{i}" for i in range(len(names))]      # a prefix, no gap
        assert len(names) >= acknowledged
        assert names == acks[:len(names)]
        assert info.tables["trades"] == len(names)
        assert stored == replay_positions(fills)                  # positions match fills
        counts.append(len(names))
    assert counts == sorted(counts) and counts[-1] > counts[0], counts
    with TradeRepo(db) as repo:   # each backup was recorded in the live store's event log
        assert len(repo.events.recent(event_type="backup")) == 5


def test_backup_of_memory_and_into_a_file_name(tmp_path, memory_repo):
    memory_repo.save_trade(TradeData("BTC/USDT", "BUY", "1.10", "100.00"))
    target = memory_repo.backup(tmp_path / "copy.db")
    assert target == (tmp_path / "copy.db").absolute()
    with TradeRepo.inspect(target) as copy:
        assert str(copy.get_trade_history(days=None)[0].quantity) == "1.10"
    with pytest.raises(StoreError, match="already exists"):
        memory_repo.backup(target)
    assert memory_repo.backup(target, overwrite=True) == target


def test_backup_never_overwrites_the_live_database(file_repo):
    file_repo.save_trade(TradeData("BTC/USDT", "BUY", 1, 100))
    with pytest.raises(StoreError, match="database itself"):
        file_repo.backup(file_repo.path, overwrite=True)
    assert len(file_repo.get_trade_history(days=None)) == 1 and file_repo.check() == []


def test_backup_of_a_readonly_store_and_no_temp_files_left(tmp_path, file_repo):
    file_repo.save_trade(TradeData("BTC/USDT", "BUY", 1, 100))
    out = tmp_path / "out"
    out.mkdir()
    with TradeRepo(file_repo.path, readonly=True) as ro:
        path = ro.backup(out)
    assert [p.name for p in out.iterdir()] == [path.name]
    assert path.name.startswith("trades-") and list_backups(out) == [path]
    made = file_repo.backup(f"{tmp_path}/new-folder/")   # a trailing slash means a folder
    assert made.parent == tmp_path / "new-folder" and made.name.startswith("trades-")
    assert stat.S_IMODE(made.parent.stat().st_mode) == 0o700


def test_names_in_the_same_second_do_not_collide_and_keep_prunes_the_oldest(tmp_path, file_repo):
    out = tmp_path / "b"
    out.mkdir()
    made = [file_repo.backup(out) for _ in range(4)]
    assert len(set(made)) == 4 and list_backups(out) == made
    (out / "other-20200101T000000Z.db").write_bytes(b"")    # another database's backup
    removed = prune_backups(out, 2)
    assert removed == made[:2] and list_backups(out) == made[2:]
    assert (out / "other-20200101T000000Z.db").exists()


# ------------------------------------------------------------------ verify

def make_backup(tmp_path, repo, name="b.db"):
    repo.save_trade(TradeData("BTC/USDT", "BUY", 1, 100, exchange="x", external_id="b1"))
    repo.save_bot_state({"balances": {"USDT": "1"}})
    return repo.backup(tmp_path / name)


def test_verify_refuses_damaged_foreign_and_newer_files(tmp_path, file_repo):
    good = make_backup(tmp_path, file_repo)
    assert verify_backup(good).schema_version == file_repo.current_version

    not_sqlite = tmp_path / "junk.db"
    not_sqlite.write_bytes(b"hello" * 100)
    with pytest.raises(DatabaseError, match="not a SQLite"):
        verify_backup(not_sqlite)

    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(SchemaError):
        verify_backup(foreign)

    newer = tmp_path / "newer.db"
    newer.write_bytes(good.read_bytes())
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(SchemaError, match="newer"):
        verify_backup(newer)

    tampered = tmp_path / "tampered.db"
    tampered.write_bytes(good.read_bytes())
    conn = sqlite3.connect(tampered)
    conn.execute("UPDATE bot_states SET payload = replace(payload, '1', '2')")
    conn.commit()
    conn.close()
    with pytest.raises(DatabaseError, match="bot state"):
        verify_backup(tampered)

    broken = tmp_path / "broken.db"
    data = bytearray(good.read_bytes())
    page = 4096
    for offset in range(page * 2, len(data) - 64, page):   # scribble over every page but 1-2
        data[offset + 20:offset + 60] = b"\xff" * 40
    broken.write_bytes(bytes(data))
    with pytest.raises(StoreError):
        verify_backup(broken)


# ------------------------------------------------------------------ restore

def test_restore_moves_the_old_database_aside_and_the_restored_one_opens(tmp_path):
    db = tmp_path / "trades.db"
    with TradeRepo(db) as repo:
        backup = make_backup(tmp_path, repo)
        repo.save_trade(TradeData("ETH/USDT", "BUY", 2, 50, exchange="x", external_id="later"))
    result = restore(backup, db)
    assert result.previous is not None and result.previous.name.startswith(
        "trades.db.before-restore-")
    with TradeRepo(result.previous) as old:   # never deleted: the later fill is still there
        assert {t.external_id for t in old.get_trade_history(days=None)} == {"b1", "later"}
    with TradeRepo(db) as restored:
        assert [t.external_id for t in restored.get_trade_history(days=None)] == ["b1"]
        assert restored.load_bot_state().balances == {"USDT": "1"}
        assert restored.check() == []
        assert restored.events.recent(event_type="restore")[0].details["backup"] == str(
            backup.absolute())
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".*tmp"))


def test_restore_to_a_missing_database_and_an_older_schema_migrates(tmp_path):
    source = tmp_path / "src.db"
    with TradeRepo(source) as repo:
        repo.save_trade(TradeData("BTC/USDT", "BUY", 1, 100))
        backup = repo.backup(tmp_path / "b.db")
    conn = sqlite3.connect(backup)   # make the backup look like schema version 2 (behind)
    head = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    with TradeRepo(backup, migrate=False) as repo:
        repo.migrate(2)
    result = restore(backup, tmp_path / "new.db")
    assert result.previous is None and result.schema_version == head
    with TradeRepo(tmp_path / "new.db") as repo:
        assert len(repo.get_trade_history(days=None)) == 1


@pytest.mark.parametrize("mode", ["write", "idle"])
def test_restore_refuses_while_another_process_holds_the_database(tmp_path, mode):
    db = tmp_path / "trades.db"
    with TradeRepo(db) as repo:
        backup = make_backup(tmp_path, repo)
        repo.save_trade(TradeData("ETH/USDT", "BUY", 2, 50))
    before = db.read_bytes()
    holder = start_script(tmp_path, HOLDER, db, mode)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(DatabaseBusyError, match="writing" if mode == "write" else "open"):
            restore(backup, db, lock_timeout=0.2)
    finally:
        holder.kill()
        holder.wait()
    assert not list(tmp_path.glob("trades.db.before-restore-*"))
    assert not list(tmp_path.glob(".*tmp"))
    assert db.read_bytes()[:100] == before[:100]
    with TradeRepo(db) as repo:
        assert len(repo.get_trade_history(days=None)) == 2


def test_restore_refuses_a_store_open_in_this_process(tmp_path, file_repo):
    backup = make_backup(tmp_path, file_repo)
    with pytest.raises(DatabaseBusyError):
        restore(backup, file_repo.path, lock_timeout=0.1)


def test_restore_refuses_a_bad_backup_and_changes_nothing(tmp_path):
    db = tmp_path / "trades.db"
    with TradeRepo(db) as repo:
        repo.save_trade(TradeData("ETH/USDT", "BUY", 2, 50))
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 50)
    with pytest.raises(DatabaseError):
        restore(bad, db)
    assert not list(tmp_path.glob("trades.db.before-restore-*"))
    with TradeRepo(db) as repo:
        assert len(repo.get_trade_history(days=None)) == 1


def test_restore_over_a_damaged_database_keeps_it_aside(tmp_path):
    db = tmp_path / "trades.db"
    with TradeRepo(tmp_path / "src.db") as repo:
        backup = make_backup(tmp_path, repo)
    db.write_bytes(b"garbage that used to be a database" * 100)
    result = restore(backup, db)
    assert result.previous.read_bytes().startswith(b"garbage")
    with TradeRepo(db) as repo:
        assert len(repo.get_trade_history(days=None)) == 1


# ------------------------------------------------------------------ CLI

def test_cli_backup_keep_and_restore(tmp_path, cli):
    db = tmp_path / "trades.db"
    with TradeRepo(db) as repo:
        repo.save_trade(TradeData("BTC/USDT", "BUY", 1, 100, exchange="x", external_id="one"))
    for _ in range(3):
        result = cli("--db", db, "backup", "--keep", "2")
        assert result.code == 0, result
    folder = tmp_path / "backups"       # default: beside the database
    kept = list_backups(folder)
    assert len(kept) == 2 and all(p.name.startswith("trades-") for p in kept)
    assert "check ok" in result.out and "removed old backup" in result.out
    with TradeRepo(db) as repo:
        repo.save_trade(TradeData("BTC/USDT", "BUY", 1, 100, exchange="x", external_id="two"))
    result = cli("restore", kept[-1], "--db", db)
    assert result.code == 0, result
    assert "previous database kept as" in result.out
    assert cli("--db", db, "check").code == 0
    with TradeRepo(db) as repo:
        assert [t.external_id for t in repo.get_trade_history(days=None)] == ["one"]
    other = tmp_path / "elsewhere"
    assert cli("--db", db, "backup", other).code == 0 and len(list_backups(other)) == 1


def test_cli_restore_error_is_one_line(tmp_path, cli):
    db = tmp_path / "trades.db"
    TradeRepo(db).close()
    (tmp_path / "bad.db").write_bytes(b"x" * 200)
    result = cli("--db", db, "restore", tmp_path / "bad.db")
    assert result.code == 1 and result.err.count("\n") == 1 and "not a SQLite" in result.err
