"""Crash safety: a real writer process is killed with SIGKILL at random moments.

Each round starts ``reliability_worker.py writer`` on the same file, lets it write
for a random 50-400 ms and kills it with ``kill -9``. After every kill the store must
reopen, pass integrity_check, hold every acknowledged write, hold no part of a bulk
that was not acknowledged unless it holds all of it, keep positions equal to the
replay of its fills, and keep every bot state version verifying. The counts go to
stdout (``pytest -s``) and to ``$TMPDIR/tradestore-reliability/crash.json``.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

import reliability_worker as worker
from tradestore import TradeRepo
from tradestore._core.codec import ts_in
from tradestore.state.states import StateCorruptionWarning

WORKER = Path(worker.__file__)
ROUNDS = int(os.environ.get("TRADESTORE_CRASH_ROUNDS", "30"))
BULK_ID = re.compile(r"^(r\d+)-b(\d+)-(\d+)$")
REPORT_DIR = Path(tempfile.gettempdir()) / "tradestore-reliability"


class Ledger:
    """Everything the killed writers acknowledged, over all rounds."""

    def __init__(self):
        self.trades: dict[str, int] = {}          # external id -> trade id
        self.bulks: dict[tuple[str, int], list[int]] = {}
        self.orders: dict[int, str] = {}
        self.order_fills: dict[int, int] = {}     # trade id -> order id
        self.cancelled: set[int] = set()
        self.states: dict[int, tuple] = {}  # version -> ("state", tag, n) | ("rollback", from)
        self.snaps: dict[int, tuple[str, str]] = {}
        self.acks = Counter()

    def take(self, tag: str, lines: list[str]) -> None:
        for line in lines:
            parts = line.split()
            if not parts or parts[0] != "ack":
                continue
            kind = parts[1]
            self.acks[kind] += 1
            if kind == "trade":
                self.trades[parts[3]] = int(parts[2])
            elif kind == "bulk":
                ids = [int(i) for i in parts[3].split(",")]
                self.bulks[(tag, int(parts[2]))] = ids
            elif kind == "order":
                self.orders[int(parts[2])] = parts[3]
            elif kind == "fill":
                self.order_fills[int(parts[3])] = int(parts[2])
                self.trades[parts[4]] = int(parts[3])
            elif kind == "cancel":
                self.cancelled.add(int(parts[2]))
            elif kind == "dup":
                assert self.trades.get(parts[3], int(parts[2])) == int(parts[2])
            elif kind == "state":
                self.states[int(parts[2])] = ("state", tag, int(parts[3]))
            elif kind == "rollback":
                self.states[int(parts[3])] = ("rollback", int(parts[2]))
            elif kind == "snap":
                self.snaps[int(parts[2])] = (parts[3], parts[4])

    def state_content(self, version: int) -> tuple[str, int]:
        entry = self.states[version]
        while entry[0] == "rollback":
            entry = self.states[entry[1]]
        return entry[1], entry[2]


def run_round(db: Path, number: int, rng: random.Random) -> tuple[list[str], str, bool]:
    """Start a writer, kill -9 it after a random 50-400 ms; (stdout lines, stderr, ready)."""
    durability = "normal" if number % 2 else "full"
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "writer", str(db), "--tag", f"r{number}",
         "--seed", str(rng.randrange(2**32)), "--slot", str(number), "--durability", durability],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = []
    # Most rounds count from the moment the store is open, so the kill lands among
    # writes; every fourth counts from the start and may land in start-up or recovery.
    if number % 4:
        line = proc.stdout.readline()
        first.append(line)
    time.sleep(rng.uniform(0.05, 0.40))
    os.kill(proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, err)
    lines = [ln.strip() for ln in "".join(first + [out]).splitlines() if ln.strip()]
    return lines, err, "ready" in lines


def check_after_kill(db: Path, ledger: Ledger) -> dict:
    """Every promise of the store after a crash; returns a few counts."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", StateCorruptionWarning)
        with TradeRepo(db) as repo:  # reopens (recovering the WAL) without error
            assert repo.db.scalar("PRAGMA integrity_check") == "ok"
            assert repo.check() == []
            stored = {ext: (tid, order_id) for tid, ext, order_id in repo.db.query(
                "SELECT id, external_id, order_id FROM trades WHERE exchange = ?",
                (worker.EXCHANGE,))}
            # every acknowledged fill is there under its id
            for ext, trade_id in ledger.trades.items():
                assert stored.get(ext, (None,))[0] == trade_id, f"acknowledged fill {ext} lost"
            for trade_id, order_id in ledger.order_fills.items():
                assert repo.get_trade(trade_id).order_id == order_id
            # a bulk is all there or not at all, acknowledged or not
            groups: dict[tuple[str, int], dict[int, int]] = {}
            for ext, (trade_id, _) in stored.items():
                match = BULK_ID.match(ext)
                if match:
                    key = (match.group(1), int(match.group(2)))
                    groups.setdefault(key, {})[int(match.group(3))] = trade_id
            for key, members in groups.items():
                assert len(members) == worker.BULK_SIZE, f"bulk {key} is partly stored"
            for key, ids in ledger.bulks.items():
                assert key in groups, f"acknowledged bulk {key} lost"
                assert [groups[key][i] for i in range(worker.BULK_SIZE)] == ids
            # orders, cancels, states, snapshots
            for order_id, ext in ledger.orders.items():
                assert repo.get_order(order_id).external_id == ext
            for order_id in ledger.cancelled:
                assert repo.get_order(order_id).status == "CANCELLED"
            assert repo.verify_bot_states() == []
            versions = [s.version for s in repo.list_bot_states(worker.STATE_BOT)]
            assert versions == list(range(1, len(versions) + 1))
            for version in ledger.states:
                state = repo.load_bot_state(version, bot=worker.STATE_BOT)
                tag, n = ledger.state_content(version)
                assert (state.configuration["writer"], state.extra["n"]) == (tag, n)
                assert state.positions == {"BTC/USDT": Decimal(n).scaleb(-3)}
            if versions:
                assert repo.load_bot_state(bot=worker.STATE_BOT).version == versions[-1]
            snaps = {s.id: (ts_in(s.timestamp), s.total_value)
                     for s in repo.get_portfolio_snapshots(days=None)}
            for snap_id, (moment, value) in ledger.snaps.items():
                assert snaps.get(snap_id) == (moment, Decimal(value)), f"snapshot {snap_id} lost"
            # positions are exactly the replay of the fills; orders match their fills
            assert worker.snapshot_problems(repo) == []
            return {"fills": len(stored), "bulks_stored": len(groups),
                    "positions": repo.db.scalar("SELECT count(*) FROM positions")}


def test_the_checker_sees_a_half_applied_fill(file_repo):
    """The replay check is not vacuous: a fill stored without its position update, or a
    position moved without its fill, is reported."""
    file_repo.save_trade(dict(symbol="BTC", side="BUY", quantity=2, price=100))
    assert worker.snapshot_problems(file_repo) == []
    with file_repo.transaction() as conn:  # a fill without its position update
        conn.execute("INSERT INTO trades (account, symbol, side, quantity, price, timestamp, "
                     "position_id, created_at) SELECT account, symbol, 'BUY', '1', '100', "
                     "timestamp, position_id, created_at FROM trades")
    assert any("position" in p for p in worker.snapshot_problems(file_repo))
    with file_repo.transaction() as conn:
        conn.execute("DELETE FROM trades WHERE id = 2")
        conn.execute("UPDATE positions SET quantity = '3'")
    assert worker.snapshot_problems(file_repo)


@pytest.mark.slow
def test_kill_9_at_random_moments(tmp_path):
    seed = int(os.environ.get("TRADESTORE_CRASH_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    db = tmp_path / "crash.db"
    ledger = Ledger()
    interrupted = before_ready = 0
    counts = {}
    started = time.monotonic()
    for number in range(ROUNDS):
        lines, err, ready = run_round(db, number, rng)
        assert "Traceback" not in err, f"round {number} (seed {seed}): {err}"
        ledger.take(f"r{number}", lines)
        before_ready += not ready
        steps = [ln for ln in lines if ln.startswith(("try", "ack"))]
        interrupted += bool(steps) and steps[-1].startswith("try")
        try:
            counts = check_after_kill(db, ledger)
        except AssertionError as exc:
            raise AssertionError(f"after kill {number + 1} (seed {seed}): {exc}") from None
    summary = {
        "seed": seed, "kills": ROUNDS, "kills_with_a_write_in_flight": interrupted,
        "kills_before_the_store_was_open": before_ready,
        "acknowledged_operations": sum(ledger.acks.values()),
        "acknowledged_by_kind": dict(sorted(ledger.acks.items())),
        "fills_stored": counts.get("fills", 0), "positions_stored": counts.get("positions", 0),
        "seconds": round(time.monotonic() - started, 1),
    }
    REPORT_DIR.mkdir(exist_ok=True)
    (REPORT_DIR / "crash.json").write_text(json.dumps(summary, indent=1) + "\n")
    print("\ncrash test:", json.dumps(summary))
    assert ROUNDS >= 25
    assert sum(ledger.acks.values()) > ROUNDS  # the kills did land among writes
    assert interrupted > 0
