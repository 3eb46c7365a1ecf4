"""The bench stores (tradestore.benchmarks.bulk_load: analytics/scale and ops) skip the
CHECKs and rebuild the indexes for speed: each file must still be exactly our schema,
and its rows must pass every CHECK. Timings are not asserted."""

from __future__ import annotations

import sqlite3

import pytest

from tradestore.benchmarks import Context, analytics, ops
from tradestore.repo import TradeRepo

SCHEMA = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
TABLES = ("positions", "trades", "portfolio_snapshots")


@pytest.mark.parametrize("build, counts", [
    (lambda path: analytics.build(path, 30, snapshots=300), [30, 300, 300]),
    (lambda path: ops.build_store(path, 250), [0, 250, 0]),
])
def test_build_keeps_the_schema_and_every_check(tmp_path, build, counts):
    built, fresh = tmp_path / "built.db", tmp_path / "fresh.db"
    build(built)
    TradeRepo(fresh).close()
    conn = sqlite3.connect(fresh, isolation_level=None)
    try:
        assert conn.execute(SCHEMA).fetchall() == \
            sqlite3.connect(built).execute(SCHEMA).fetchall()
        conn.execute("ATTACH ? AS built", (str(built),))
        conn.execute("BEGIN")
        for table in TABLES:
            # "WHERE 1": without a WHERE, SQLite copies a table of the same schema as it
            # is (the transfer optimisation) and checks nothing
            conn.execute(f"INSERT INTO main.{table} SELECT * FROM built.{table} WHERE 1")
        conn.execute("COMMIT")
        got = [conn.execute(f"SELECT count(*) FROM main.{t}").fetchone()[0] for t in TABLES]
    finally:
        conn.close()
    assert got == counts


def test_store_is_built_once_per_run(tmp_path):
    ctx = Context(tmp_path, 100)
    path = analytics.store(ctx, 20, 200)
    before = path.stat().st_mtime_ns
    assert analytics.store(ctx, 20, 200) == path and path.stat().st_mtime_ns == before
    with TradeRepo(path, readonly=True) as repo:
        assert repo.get_statistics(days=None).total_trades == 20
