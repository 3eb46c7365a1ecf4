"""ML artifacts: a durable, checksummed save and a verified load of a ~10 MB file
against plain write+fsync+sha256 / read+sha256; metric points against raw inserts."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from typing import Iterator

from tradestore.artifacts.catalog import ArtifactManager
from tradestore.benchmarks import Context, Result, timed

SIZE = 10 * 1024 * 1024
METRIC_NAMES = ("loss", "val_loss", "accuracy", "val_accuracy", "lr")


def benches(ctx: Context) -> Iterator[Result | str]:
    payload = os.urandom(SIZE)
    manager = ArtifactManager(ctx.path("artifacts"))
    try:
        yield from _files(ctx, manager, payload)
        yield from _metrics(ctx, manager)
    finally:
        manager.close()


def _files(ctx, manager, payload):
    versions = iter(range(1_000_000))
    floor_path = ctx.path("floor.bin")

    def save():
        manager.save_model(payload, "bench", f"1.{next(versions)}", serializer="bytes")

    def plain_save():
        fd = os.open(floor_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        hashlib.sha256(payload).hexdigest()

    yield Result("save_model 10 MB bytes (durable, sha256)", timed(save, repeat=3)[0],
                 timed(plain_save, repeat=3)[0], "floor: write+fsync+sha256")

    def load():
        return manager.load_model("bench")

    def plain_load():
        with open(floor_path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()

    yield Result("load_model 10 MB bytes (verified)", timed(load, repeat=3)[0],
                 timed(plain_load, repeat=3)[0], "floor: read+sha256")


def _metrics(ctx, manager):
    steps = max(50, min(ctx.rows // 100, 500))
    raw = sqlite3.connect(ctx.path("metrics-floor.db"), isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=FULL")
    raw.execute("CREATE TABLE metrics (id INTEGER PRIMARY KEY, experiment_id TEXT, "
                "metric_name TEXT, value REAL, step INTEGER, timestamp TEXT, created_at TEXT)")
    raw.execute("CREATE INDEX h ON metrics (experiment_id, metric_name, timestamp, step)")
    raw.execute("CREATE INDEX b ON metrics (metric_name, value, timestamp)")
    stamp = "2026-01-01T00:00:00.000000Z"

    def ours():
        for step in range(steps):
            manager.save_metrics("bench", {n: step / 7 for n in METRIC_NAMES}, step=step)

    def floor():
        for step in range(steps):
            raw.execute("BEGIN IMMEDIATE")
            raw.executemany("INSERT INTO metrics (experiment_id, metric_name, value, step, "
                            "timestamp, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                            [("bench", n, step / 7, step, stamp, stamp) for n in METRIC_NAMES])
            raw.execute("COMMIT")
    points = steps * len(METRIC_NAMES)
    yield Result(f"save_metrics, {steps} steps x {len(METRIC_NAMES)} metrics",
                 timed(ours)[0], timed(floor)[0], f"{points:,} points, one commit per step")

    many = {f"m{i}": i / 3 for i in range(min(ctx.rows, 20_000))}

    def ours_bulk():
        manager.save_metrics("bulk", many, step=0)

    def floor_bulk():
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany("INSERT INTO metrics (experiment_id, metric_name, value, step, "
                        "timestamp, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        [("bulk", k, v, 0, stamp, stamp) for k, v in many.items()])
        raw.execute("COMMIT")
    yield Result(f"save_metrics, one call of {len(many):,} metrics", timed(ours_bulk)[0],
                 timed(floor_bulk)[0], "one commit")

    def history():
        return manager.get_metric_history("bench", "loss")

    def floor_history():
        return raw.execute("SELECT timestamp, value, step FROM metrics WHERE experiment_id = ? "
                           "AND metric_name = ? ORDER BY timestamp, step, id",
                           ("bench", "loss")).fetchall()
    yield Result(f"get_metric_history ({steps} points)", timed(history, repeat=5)[0],
                 timed(floor_history, repeat=5)[0])
    raw.close()
