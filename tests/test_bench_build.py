"""The analytics/scale bench store (tradestore.benchmarks.analytics.build) skips the
CHECKs and rebuilds the indexes for speed: the file must still be exactly our schema,
and its rows must pass every CHECK. Timings are not asserted."""

from __future__ import annotations

import sqlite3

from tradestore.benchmarks import Context, analytics
from tradestore.repo import TradeRepo

SCHEMA = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"


def test_build_keeps_the_schema_and_every_check(tmp_path):
    built, fresh = tmp_path / "built.db", tmp_path / "fresh.db"
    analytics.build(built, 30, snapshots=300)
    TradeRepo(fresh).close()
    conn = sqlite3.connect(fresh, isolation_level=None)
    try:
        assert conn.execute(SCHEMA).fetchall() == \
            sqlite3.connect(built).execute(SCHEMA).fetchall()
        conn.execute("ATTACH ? AS built", (str(built),))
        conn.execute("BEGIN")
        for table in ("positions", "trades", "portfolio_snapshots"):
            # "WHERE 1": without a WHERE, SQLite copies pages of a table of the same
            # schema as they are (the transfer optimisation) and checks nothing
            conn.execute(f"INSERT INTO main.{table} SELECT * FROM built.{table} WHERE 1")
        conn.execute("COMMIT")
        counts = [conn.execute(f"SELECT count(*) FROM main.{t}").fetchone()[0]
                  for t in ("positions", "trades", "portfolio_snapshots")]
    finally:
        conn.close()
    assert counts == [30, 300, 300]


def test_store_is_built_once_per_run(tmp_path):
    ctx = Context(tmp_path, 100)
    path = analytics.store(ctx, 20, 200)
    before = path.stat().st_mtime_ns
    assert analytics.store(ctx, 20, 200) == path and path.stat().st_mtime_ns == before
    with TradeRepo(path, readonly=True) as repo:
        assert repo.get_statistics(days=None).total_trades == 20
