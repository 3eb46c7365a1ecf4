"""``tradestore bench``: each hot operation against a raw-sqlite3 floor, same run.

A bench module exposes ``benches(ctx)`` yielding ``Result`` rows. The floor is the
same work done with plain ``sqlite3`` on an equivalent table; the ratio is ours
divided by the floor. This is a benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import importlib
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, IO, Iterable, Iterator

from tradestore._core.hints import PathLike
from tradestore.repo import TradeRepo

BENCH_MODULES = ["core", "trades", "bookkeeping", "artifacts", "states", "marketdata", "analytics",
                 "scale", "ops"]


@dataclass
class Result:
    """One printed row.

    Attributes:
      name: the operation.
      ours: seconds taken through tradestore.
      floor: seconds taken by raw sqlite3 (or plain Python) doing the same work.
      note: units or targets worth printing beside it.
    """

    name: str
    ours: float
    floor: float
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.floor if self.floor else float("inf")


@dataclass
class Context:
    """What a bench gets: a scratch folder and the requested scale."""

    workdir: Path
    rows: int

    def path(self, name: str) -> Path:
        return self.workdir / name


def timed(fn: Callable[..., Any], *args: Any, repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls (seconds) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


# The indexes bulk_load drops and then makes again from their own SQL.
TABLE_INDEXES = """
SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name = ?
"""


@contextmanager
def bulk_load(path: PathLike, tables: Iterable[str]) -> Iterator[sqlite3.Connection]:
    """A raw connection on a new store of our schema for filling ``tables`` fast, in one
    transaction. The bench's rows are valid by construction, so CHECKs are skipped, and
    the tables' indexes are dropped and made again at the end from their own SQL (one
    sort instead of a b-tree insert per row): the file ends with exactly the schema
    TradeRepo made (tests/test_bench_build.py: same schema, every row passes every CHECK)."""
    TradeRepo(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("synchronous = OFF", "ignore_check_constraints = ON",
                       "cache_size = -262144", "temp_store = MEMORY"):  # sorts in memory
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN")
        indexes = [row for table in tables for row in conn.execute(TABLE_INDEXES, (table,))]
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        yield conn
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def timed_pair(ours: Callable[[], Any], floor: Callable[[], Any],
               repeat: int = 1) -> tuple[float, Any, float, Any]:
    """(ours' best, its result, floor's best, its result): the two called in turn
    ``repeat`` times, so a burst of load on a shared machine hits both alike."""
    best_ours = best_floor = float("inf")
    got_ours = got_floor = None
    for _ in range(repeat):
        seconds, got_ours = timed(ours)
        best_ours = min(best_ours, seconds)
        seconds, got_floor = timed(floor)
        best_floor = min(best_floor, seconds)
    return best_ours, got_ours, best_floor, got_floor


def peak_memory(fn: Callable[[], object]) -> tuple[int, object]:
    """(peak bytes traced while ``fn()`` ran, its result); tracemalloc slows the call,
    so this is a separate, untimed call."""
    tracemalloc.start()
    try:
        result = fn()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def run(rows: int = 100_000, only: str | None = None, out: IO[str] | None = None,
        peers: bool = False) -> list[Result]:
    """Run the bench modules (those whose name has ``only``), then with ``peers`` the
    peer comparison (tradestore.benchmarks.peers: ratios ours / peer). A module may
    yield a str: one line printed as it is (e.g. which peer to install)."""
    out = out or sys.stdout
    results = []
    out.write(f"{'operation':<46} {'ours':>9} {'floor':>9} {'ratio':>6}  note\n")
    names = [name for name in BENCH_MODULES if not only or only in name]
    peers = peers or bool(only and only in "peers")   # --only peers: just the peers
    with tempfile.TemporaryDirectory(prefix="tradestore-bench-") as tmp:
        ctx = Context(Path(tmp), rows)
        for name in names + (["peers"] if peers else []):
            module = importlib.import_module(f"{__name__}.{name}")
            for result in module.benches(ctx):
                if isinstance(result, str):
                    out.write(result + "\n")
                    out.flush()
                    continue
                results.append(result)
                out.write(f"{result.name:<46} {_fmt(result.ours):>9} {_fmt(result.floor):>9} "
                          f"{result.ratio:>5.2f}x  {result.note}\n")
                out.flush()
    return results


def _fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f}ms"
    return f"{seconds:.2f}s"
