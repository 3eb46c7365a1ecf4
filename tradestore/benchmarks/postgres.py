"""``tradestore bench --db postgresql://...``: the trading rows on a server, each against
a raw psycopg floor on the same schema, in the same run.

Two scratch databases are created on the server named by the URL (``tradestore_bench_*``:
the role needs CREATEDB) and dropped at the end; the database the URL names is never
touched. Each gets our schema through TradeRepo. The floor's session is ours
(``tradestore._core.pg.connect``: UTC, NUMERIC read as its digits), so it reads and
writes the same values; it runs the statement alone, with none of our checks, locks
or position bookkeeping:

- bulk fills: ``save_trades`` (validation, the writers' lock, positions built) vs one
  executemany of the same rows in one transaction;
- durable single fill: ``save_trade`` x200 vs BEGIN, INSERT, COMMIT x200, both with
  ``synchronous_commit = on``;
- history: ``get_trade_history(symbol, 30d)`` on ``rows * 10`` fills (loaded with COPY)
  as TradeData vs the same SELECT as raw tuples;
- statistics: ``get_statistics(days=None)`` over ``rows`` closed round trips vs reading
  the same position columns and summing them with Decimal in plain Python.
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import IO, Any, Iterator
from urllib.parse import quote, urlencode

from tradestore._core.pg import connect, driver, translate_sql
from tradestore._core.url import POSTGRESQL, parse_target
from tradestore.benchmarks import Result, _fmt, timed, timed_pair
from tradestore.benchmarks.analytics import tally
from tradestore.benchmarks.trades import HISTORY_SQL, SYMBOLS, make_fills, raw_rows
from tradestore.errors import StoreError, ValidationError
from tradestore.record.trades import INSERT_TRADE
from tradestore.repo import TradeRepo

N_SINGLE = 200
SCRATCH = "tradestore_bench_"
# The floor runs PostgreSQL's own text through a plain psycopg cursor.
INSERT_TRADE_PG = translate_sql(INSERT_TRADE)[0]
HISTORY_PG = translate_sql(HISTORY_SQL)[0]
TRIPS_PG = ("SELECT realized_pnl, fees, "
            "(extract(epoch FROM closed_at - opened_at) * 1000000)::bigint "
            "FROM positions WHERE closed_at IS NOT NULL")
TRADE_COPY_COLUMNS = INSERT_TRADE.split("(", 1)[1].split(")", 1)[0].split()
COPY_TRADES = f"COPY trades ({' '.join(TRADE_COPY_COLUMNS)}) FROM STDIN"
INSERT_TRIP = """
INSERT INTO positions (id, account, symbol, side, quantity, entry_value, entry_fees,
                       max_quantity, realized_pnl, fees, trade_count, opened_at, closed_at,
                       created_at, updated_at, exchange, currency, strategy)
VALUES (?, 'default', ?, 'LONG', '0', '0', '0', '1', ?, ?, 2, ?, ?, ?, ?, 'bench', 'USDT', ?)
"""


def server_url(url: str) -> str:
    """``url`` itself if it names a PostgreSQL server, else a ValidationError."""
    target = parse_target(url)
    if target.engine != POSTGRESQL:
        raise ValidationError(f"--db: {target.shown!r}: bench --db takes a postgresql:// URL "
                              "(the SQLite bench runs on scratch files by itself)",
                              field="db", value=target.shown)
    return str(target.location)


def with_database(url: str, name: str) -> str:
    """``url`` naming database ``name`` instead: every other parameter kept, a dbname= in
    its query string dropped (it would win over the path). libpq parses ``url``, so a
    password holding "#", "?" or "@" stays whole; the result carries them as parameters."""
    params = driver().psycopg.conninfo.conninfo_to_dict(url)
    params.pop("dbname", None)
    query = f"?{urlencode(params, quote_via=quote)}" if params else ""
    return f"postgresql:///{quote(name, safe='')}{query}"


def check_database(url: str, name: str) -> None:
    """A StoreError unless ``url`` opens database ``name``: the bench writes nowhere else."""
    shown = parse_target(url).shown
    conn = connect(url, shown, readonly=True, durability="full", busy_timeout=30)
    try:
        current = conn.execute("SELECT current_database()").fetchone()[0]
    finally:
        conn.close()
    if current != name:
        raise StoreError(f"bench: {shown} opens database {current!r}, not the scratch "
                         f"database {name!r}: nothing was written")


@contextlib.contextmanager
def scratch_databases(url: str, count: int) -> Iterator[list[str]]:
    """``count`` new databases on ``url``'s server (their URLs), dropped at the end."""
    shown = parse_target(url).shown
    admin = connect(url, shown, readonly=False, durability="full", busy_timeout=30)
    names = [f"{SCRATCH}{uuid.uuid4().hex[:12]}" for _ in range(count)]
    made: list[str] = []
    try:
        for name in names:
            try:
                admin.execute(f'CREATE DATABASE "{name}"')
            except driver().Error as exc:
                raise StoreError(f"{shown}: bench needs a role that may CREATE DATABASE (it "
                                 f"makes and drops {SCRATCH}* databases and never touches this "
                                 f"one): {' '.join(str(exc).split())}") from None
            made.append(name)
        urls = [with_database(url, name) for name in names]
        for name, scratch in zip(names, urls):
            check_database(scratch, name)
        yield urls
    finally:
        for name in made:
            with contextlib.suppress(driver().Error):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def floor_session(url: str) -> tuple[Any, Any]:
    """(a session on ``url`` set up as ours: UTC, NUMERIC as text; a plain psycopg cursor
    on it, which runs PostgreSQL's text as given)."""
    conn = connect(url, parse_target(url).shown, readonly=False, durability="full",
                   busy_timeout=30)
    return conn, driver().psycopg.Cursor(conn)


def benches(url: str, rows: int) -> Iterator[Result]:
    with scratch_databases(url, 2) as (ours_url, floor_url):
        TradeRepo(floor_url).close()  # the floor's database: our schema, no TradeRepo after
        conn, raw = floor_session(floor_url)
        try:
            yield from _writes(ours_url, conn, raw, rows)
            # the reads: ours opens the floor's database, so both read the same rows
            yield from _history(floor_url, conn, raw, rows * 10)
            yield from _statistics(floor_url, conn, raw, rows)
        finally:
            conn.close()


def _writes(ours_url: str, conn: Any, raw: Any, n: int) -> Iterator[Result]:
    fills = make_fills(n)
    rows = raw_rows(fills)
    with TradeRepo(ours_url) as repo:
        ours = timed(repo.save_trades, fills)[0]

        def floor_bulk() -> None:
            raw.execute("BEGIN")
            raw.executemany(INSERT_TRADE_PG, rows)
            raw.execute("COMMIT")
        yield Result(f"save_trades bulk, {n:,} fills", ours, timed(floor_bulk)[0],
                     "ours also validates, locks and builds positions")
        singles = make_fills(N_SINGLE, first=n)
        single_rows = raw_rows(singles, n + 1)

        def ours_single() -> None:
            for trade in singles:
                repo.save_trade(trade)

        def floor_single() -> None:
            for row in single_rows:
                raw.execute("BEGIN")
                raw.execute(INSERT_TRADE_PG, row)
                raw.execute("COMMIT")
        yield Result(f"save_trade durable, one fill (x{N_SINGLE})", timed(ours_single)[0],
                     timed(floor_single)[0], "both synchronous_commit = on")


def _history(url: str, conn: Any, raw: Any, big: int) -> Iterator[Result]:
    """``big`` fills COPYed into the floor's (emptied) table, read by both."""
    raw.execute("TRUNCATE trades CASCADE")
    chunk = 100_000
    with conn.transaction(), raw.copy(COPY_TRADES) as copy:
        for start in range(0, big, chunk):
            for row in raw_rows(make_fills(min(chunk, big - start), first=start, total=big),
                                start + 1):
                copy.write_row(row)
    raw.execute("ANALYZE trades")
    symbol = SYMBOLS[3]
    since = (datetime.now(timezone.utc) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with TradeRepo(url, readonly=True) as repo:
        ours, got, floor, _ = timed_pair(
            lambda: repo.get_trade_history(symbol, days=30),
            lambda: raw.execute(HISTORY_PG, (symbol, since)).fetchall(), repeat=3)
    yield Result(f"get_trade_history(symbol, 30d), {big:,} fills", ours, floor,
                 f"{len(got):,} rows as TradeData vs raw tuples")


def _statistics(url: str, conn: Any, raw: Any, trips: int) -> Iterator[Result]:
    """``trips`` closed round trips (positions only: the statistics read nothing else)."""
    start = datetime(2023, 1, 2, tzinfo=timezone.utc)
    step = timedelta(days=365) / max(trips, 1)
    now = "2026-01-01T00:00:00.000000Z"

    def text(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows = [(i + 1, SYMBOLS[i % 10], f"{(i * 7919) % 2001 - 990}.{i % 100:02d}", "0.25",
             text(start + i * step), text(start + i * step + timedelta(minutes=5)), now, now,
             f"s{i % 4}") for i in range(trips)]
    raw.execute("TRUNCATE positions CASCADE")
    with conn.transaction():
        conn.executemany(INSERT_TRIP, rows)
    raw.execute("ANALYZE positions")
    with TradeRepo(url, readonly=True) as repo:
        ours, stats, floor, plain = timed_pair(
            lambda: repo.get_statistics(days=None), lambda: floor_statistics(raw), repeat=3)
    if (stats.total_trades, stats.net_pnl, stats.winning_trades, stats.total_fees) != plain:
        raise StoreError(f"bench: the statistics differ from the floor's: {stats} vs {plain}")
    yield Result(f"get_statistics(days=None), {trips:,} trips", ours, floor,
                 "floor: the same columns summed with Decimal in plain Python")


def floor_statistics(raw: Any) -> tuple[int, Decimal, int, Decimal]:
    """(round trips, net pnl, wins, fees) in plain Python from the raw columns, with the
    rest of what get_statistics figures (losses, gross profit and loss, the largest win
    and loss, the mean holding time) worked out too, as the SQLite floor does."""
    n, wins, _, _, _, net, fees, *_ = tally(raw.execute(TRIPS_PG).fetchall())
    return n, net, wins, fees


def run(url: str, rows: int = 100_000, out: IO[str] | None = None) -> list[Result]:
    """Print and return the PostgreSQL rows (the same columns as ``benchmarks.run``)."""
    out = out or sys.stdout
    url = server_url(url)
    out.write(f"PostgreSQL: {parse_target(url).shown}\n")
    out.write(f"{'operation':<46} {'ours':>9} {'floor':>9} {'ratio':>6}  note\n")
    results = []
    for result in benches(url, rows):
        results.append(result)
        out.write(f"{result.name:<46} {_fmt(result.ours):>9} {_fmt(result.floor):>9} "
                  f"{result.ratio:>5.2f}x  {result.note}\n")
        out.flush()
    return results
