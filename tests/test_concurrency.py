"""Concurrency: several processes, and several threads of one process, on one file.

Four writer processes and two reader processes share one store for ~8 seconds
while a backup is taken. No error reaches a caller (each worker's stderr stays
empty and it exits 0), every acknowledged write is stored exactly once, the row
counts are exact, and a reader never sees a fill without its position update (the
readers replay the fills of each snapshot and compare). Then eight threads sharing
one ``TradeRepo`` must give the same guarantees.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import reliability_worker as worker
from tradestore import TradeRepo

WORKER = Path(worker.__file__)
SECONDS = float(os.environ.get("TRADESTORE_CONCURRENCY_SECONDS", "8"))
WRITER_BUSY_TIMEOUT = 5  # the default: writers take turns and a closing store never stalls them
REPORT_DIR = Path(tempfile.gettempdir()) / "tradestore-reliability"


def tally(lines: list[str]) -> dict:
    """Acknowledged ids by kind, from writer ack lines."""
    acked = {"trades": set(), "orders": set(), "states": set(), "snaps": set(),
             "rollbacks": 0, "dups": 0, "cancels": 0, "ops": 0}
    for line in lines:
        parts = line.split()
        if not parts or parts[0] != "ack":
            continue
        acked["ops"] += 1
        kind = parts[1]
        if kind == "trade":
            acked["trades"].add(int(parts[2]))
        elif kind == "bulk":
            ids = [int(i) for i in parts[3].split(",")]
            assert len(ids) == len(set(ids)) == worker.BULK_SIZE
            acked["trades"].update(ids)
        elif kind == "fill":
            acked["trades"].add(int(parts[3]))
        elif kind == "order":
            acked["orders"].add(int(parts[2]))
        elif kind == "state":
            acked["states"].add(int(parts[2]))
        elif kind == "rollback":
            acked["states"].add(int(parts[3]))
            acked["rollbacks"] += 1
        elif kind == "snap":
            acked["snaps"].add(int(parts[2]))
        elif kind == "dup":
            acked["dups"] += 1
        elif kind == "cancel":
            acked["cancels"] += 1
    return acked


def acked_count(lines: list[str], kind: str) -> int:
    return sum(1 for line in lines if line.startswith(f"ack {kind} "))


def check_final(repo: TradeRepo, lines: list[str]) -> dict:
    """Exact counts and ids against what the writers were told, and the replay check."""
    acked = tally(lines)
    assert repo.db.scalar("PRAGMA integrity_check") == "ok"
    assert repo.check() == []
    ids = lambda sql: {r[0] for r in repo.db.query(sql)}  # noqa: E731
    assert ids("SELECT id FROM trades") == acked["trades"]
    assert ids("SELECT id FROM orders") == acked["orders"]
    assert ids("SELECT id FROM portfolio_snapshots") == acked["snaps"]
    # one bot state history written by every writer: versions 1..N, no gap, no repeat
    versions = [s.version for s in repo.list_bot_states(worker.STATE_BOT)]
    assert versions == sorted(acked["states"]) == list(range(1, len(versions) + 1))
    assert repo.verify_bot_states() == []
    assert repo.db.scalar("SELECT count(*) FROM events WHERE event_type = 'state_rollback'") \
        == acked["rollbacks"]
    assert repo.db.scalar("SELECT count(*) FROM orders WHERE status = 'CANCELLED'") \
        == acked["cancels"]
    # no fill stored twice, although some were sent twice
    assert repo.db.scalar("SELECT count(*) FROM (SELECT DISTINCT exchange, external_id "
                          "FROM trades)") == len(acked["trades"])
    assert worker.snapshot_problems(repo) == []
    return {"acknowledged_operations": acked["ops"], "fills": len(acked["trades"]),
            "orders": len(acked["orders"]), "states": len(versions),
            "snapshots": len(acked["snaps"]), "fills_sent_twice": acked["dups"]}


def take_backup(db: Path, dest: Path) -> str:
    """One backup while the writers run: repo.backup when the store has it."""
    if hasattr(TradeRepo, "backup"):
        with TradeRepo(db) as repo:
            repo.backup(dest)
        return "TradeRepo.backup"
    src, dst = sqlite3.connect(db), sqlite3.connect(dest)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return "sqlite3.Connection.backup (TradeRepo.backup not available)"


def write_report(name: str, summary: dict) -> None:
    REPORT_DIR.mkdir(exist_ok=True)
    (REPORT_DIR / f"{name}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\n{name}:", json.dumps(summary))


@pytest.mark.slow
def test_four_writer_and_two_reader_processes_with_a_backup(tmp_path):
    db = tmp_path / "shared.db"
    seed = random.randrange(2**32)
    start = lambda *args: subprocess.Popen(  # noqa: E731
        [sys.executable, str(WORKER), *map(str, args)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    # all six open a store that does not exist yet: they race to create and migrate it
    writers = [start("writer", db, "--tag", f"w{i}", "--slot", i, "--seed", seed + i,
                     "--seconds", SECONDS, "--durability", ("full", "normal")[i % 2],
                     "--busy-timeout", WRITER_BUSY_TIMEOUT)
               for i in range(4)]
    readers = [start("reader", db, "--seed", seed + 10 + i, "--seconds", SECONDS)
               for i in range(2)]
    time.sleep(SECONDS / 2)
    how = take_backup(db, tmp_path / "during.db")
    results = [(p, *p.communicate(timeout=SECONDS + 120)) for p in writers + readers]
    for proc, out, err in results:
        assert err == "" and proc.returncode == 0, f"exit {proc.returncode}: {err[-3000:]}"
    writer_lines = [ln for _, out, _ in results[:4] for ln in out.splitlines()]
    reader_lines = [ln for _, out, _ in results[4:] for ln in out.splitlines()]
    violations = [ln for ln in reader_lines if ln.startswith("violation")]
    assert violations == []
    reads = [ln.split() for ln in reader_lines if ln.startswith("reads ")]
    assert len(reads) == 2
    snapshots = sum(int(r[1]) for r in reads)
    reports = sum(int(r[2]) for r in reads)
    assert snapshots > 0 and reports > 0
    done = [ln.split() for ln in writer_lines if ln.startswith("done ")]
    assert len(done) == 4
    with TradeRepo(db) as repo:
        summary = check_final(repo, writer_lines)
    # the backup taken mid-run is a consistent store of its own
    with TradeRepo(tmp_path / "during.db") as copy:
        assert copy.check() == []
        assert worker.snapshot_problems(copy) == []
        backed_up = copy.db.scalar("SELECT count(*) FROM trades")
    assert 0 < backed_up <= summary["fills"]
    summary.update(seed=seed, seconds=SECONDS, writer_processes=4, reader_processes=2,
                   consistent_snapshots_checked=snapshots, reports_checked=reports,
                   backup=how, fills_in_backup=backed_up,
                   writer_busy_timeout=WRITER_BUSY_TIMEOUT,
                   longest_writer_call_seconds=max(float(d[2]) for d in done))
    write_report("concurrency", summary)


@pytest.mark.slow  # a soak: writes and reads for SECONDS / 2 (test_store.py keeps a quick one)
def test_eight_threads_share_one_repo(tmp_path):
    seed = random.randrange(2**32)
    seconds = SECONDS / 2
    lines: list[str] = []
    errors: list[BaseException] = []
    violations: list[str] = []
    reads = [0]
    with TradeRepo(tmp_path / "threads.db") as repo:
        deadline = time.monotonic() + seconds

        def guarded(body):
            def run():
                try:
                    body()
                except BaseException as exc:  # noqa: B036 - any error fails the test
                    errors.append(exc)
            return run

        def write(i):
            w = worker.Writer(repo, f"t{i}", random.Random(seed + i), lines.append, slot=i)
            while time.monotonic() < deadline:
                w.step()

        def read(i):
            rng = random.Random(seed + 100 + i)
            while time.monotonic() < deadline:
                check = worker.snapshot_problems if rng.random() < 0.5 else worker.report_problems
                violations.extend(check(repo))
                reads[0] += 1

        threads = [threading.Thread(target=guarded(lambda i=i: write(i))) for i in range(6)]
        threads += [threading.Thread(target=guarded(lambda i=i: read(i))) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + 120)
        assert not any(t.is_alive() for t in threads)
        assert errors == [], repr(errors[:3])
        assert violations == []
        assert reads[0] > 0
        summary = check_final(repo, lines)
    summary.update(seed=seed, seconds=seconds, writer_threads=6, reader_threads=2,
                   reads=reads[0])
    write_report("threads", summary)


def start_worker(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_a_waiting_writer_gets_its_turn_while_others_write_back_to_back(tmp_path):
    db = tmp_path / "busy.db"
    TradeRepo(db).close()
    hogs = [start_worker("hog", db, "--tag", i, "--busy-timeout", 30) for i in range(3)]
    try:
        for hog in hogs:
            assert hog.stdout.readline().strip() == "ready"
        with TradeRepo(db, busy_timeout=2.0) as repo:
            for i in range(40):
                started = time.monotonic()
                repo.save_trade(dict(symbol="BTC", side="BUY", quantity=1, price=100))
                waited = time.monotonic() - started
                # three writers holding the lock 20 ms each: a fair turn comes in ~60 ms
                assert waited < 0.5, f"write {i} waited {waited:.2f} s for the write lock"
                time.sleep(0.01)
    finally:
        for hog in hogs:
            hog.kill()
            hog.communicate()


@pytest.mark.slow
def test_closing_a_store_does_not_hold_up_other_writers(tmp_path):
    db = tmp_path / "close.db"
    TradeRepo(db).close()
    closing, writing = TradeRepo(db), TradeRepo(db)
    reader = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    threads = []
    try:
        closing.save_trade(dict(symbol="BTC", side="BUY", quantity=1, price=100))
        reader.execute("BEGIN")  # a long report: its snapshot predates the next fill
        reader.execute("SELECT count(*) FROM trades").fetchone()
        closing.save_trade(dict(symbol="BTC", side="BUY", quantity=1, price=100))
        threads = [threading.Thread(target=lambda: (time.sleep(2.0), reader.execute("COMMIT"))),
                   threading.Thread(target=closing.close)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        started = time.monotonic()
        writing.save_trade(dict(symbol="BTC", side="SELL", quantity=1, price=101))
        waited = time.monotonic() - started
        assert waited < 0.5, f"a writer waited {waited:.2f} s for another connection's close"
    finally:
        for t in threads:
            t.join()
        reader.close()
        writing.close()
        closing.close()
