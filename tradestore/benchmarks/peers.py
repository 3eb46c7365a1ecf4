"""``tradestore bench --peers``: ours against what a user would pick instead (issue 16.6).

Each row is ours / peer, measured in the same run on the same machine, the peer named
in the row. The peers are optional (``pip install 'tradestore[bench]'``); a missing
one prints one line saying what to install, never an error.

- SQLAlchemy ORM, the seeds' approach: a declarative ``Trade`` model with Numeric
  columns, ``session.add_all`` + commit; history as ORM objects; statistics by loading
  the closed ``Position`` objects and summing their Decimals in Python.
- SQLAlchemy Core: one ``insert()`` executemany; history as Core rows; statistics as
  SQL aggregates (``count``/``sum``/``min``/``max``, floats on SQLite: inexact).
- pandas: ``read_sql`` of the closed positions, then the same statistics vectorised
  (float64: inexact).

Every peer file gets the same pragmas as ours (WAL, synchronous=FULL), the same rows
and an index on each column its query filters on (symbol + timestamp, timestamp,
strategy + timestamp, account + timestamp for fills; closed_at for positions).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from tradestore.benchmarks import Context, Result, timed
from tradestore.benchmarks import analytics as analytics_bench
from tradestore.benchmarks import trades as trades_bench
from tradestore.repo import TradeRepo

INSTALL = "pip install 'sqlalchemy>=2' 'pandas>=2'  (or: pip install 'tradestore[bench]')"
HISTORY_DAYS = 30


def _peer_modules() -> tuple[Any, Any]:
    """(sqlalchemy or None, pandas or None): each optional; a SQLAlchemy before 2 counts
    as absent."""
    orm: Any = None
    frames: Any = None
    try:
        import sqlalchemy
        import sqlalchemy.orm
        if int(sqlalchemy.__version__.split(".")[0]) >= 2:
            orm = sqlalchemy
    except ImportError:
        pass
    try:
        import pandas
        frames = pandas
    except ImportError:
        pass
    return orm, frames


def benches(ctx: Context) -> Iterator[Result | str]:
    sqlalchemy, pandas = _peer_modules()
    if sqlalchemy is None:
        yield f"peers: SQLAlchemy 2 is not installed; for its rows: {INSTALL}"
    if pandas is None:
        yield f"peers: pandas is not installed; for its row: {INSTALL}"
    if sqlalchemy is None and pandas is None:
        return
    yield "peers: in these rows the floor column is the peer named; ratio = ours / peer"
    models = _models(sqlalchemy) if sqlalchemy else None
    if models:
        sqlalchemy.orm.configure_mappers()   # one-time set-up, not part of any timing
        yield from _guarded("bulk insert", _bulk(ctx, sqlalchemy, models))
        yield from _guarded("history", _history(ctx, sqlalchemy, models))
    yield from _guarded("statistics", _statistics(ctx, sqlalchemy, models, pandas))


def _guarded(what: str, rows):
    """The rows of one peer comparison; a peer that fails (another major version, say)
    prints one line instead of stopping the bench."""
    try:
        yield from rows
    except Exception as exc:  # a peer's own error: reported, not raised
        yield f"peers: the {what} comparison failed in the peer: {type(exc).__name__}: {exc}"


# ------------------------------------------------------------------ the peer's schema
def _models(sa):
    """The seeds' declarative models: Numeric money, DateTime times, indexed columns."""
    from sqlalchemy.orm import DeclarativeBase, mapped_column

    class Base(DeclarativeBase):
        pass

    money = sa.Numeric(28, 10)

    class Trade(Base):
        __tablename__ = "trades"
        __table_args__ = (sa.Index("trades_by_symbol_time", "symbol", "timestamp"),
                          sa.Index("trades_by_time", "timestamp"),
                          sa.Index("trades_by_strategy_time", "strategy", "timestamp"),
                          sa.Index("trades_by_account_time", "account", "timestamp"))
        id = mapped_column(sa.Integer, primary_key=True)
        account = mapped_column(sa.String(64))
        symbol = mapped_column(sa.String(32))
        side = mapped_column(sa.String(4))
        quantity = mapped_column(money, nullable=False)
        price = mapped_column(money, nullable=False)
        fees = mapped_column(money, nullable=False)
        timestamp = mapped_column(sa.DateTime)
        exchange = mapped_column(sa.String(32))
        external_id = mapped_column(sa.String(64))
        strategy = mapped_column(sa.String(64))

    class Position(Base):
        __tablename__ = "positions"
        __table_args__ = (sa.Index("positions_by_closed", "closed_at"),)
        id = mapped_column(sa.Integer, primary_key=True)
        account = mapped_column(sa.String(64))
        symbol = mapped_column(sa.String(32))
        realized_pnl = mapped_column(money, nullable=False)
        fees = mapped_column(money, nullable=False)
        opened_at = mapped_column(sa.DateTime)
        closed_at = mapped_column(sa.DateTime)
        strategy = mapped_column(sa.String(64))

    return Base, Trade, Position


def _engine(sa, path):
    """A file engine with our pragmas: WAL and synchronous=FULL on every connection."""
    engine = sa.create_engine(f"sqlite:///{path}")

    @sa.event.listens_for(engine, "connect")
    def pragmas(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA journal_mode = WAL")
        dbapi_conn.execute("PRAGMA synchronous = FULL")
    return engine


def _naive(moment: Any) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _trade_dict(i: int, t) -> dict:
    return dict(id=i, account=t.account, symbol=t.symbol, side=t.side, quantity=t.quantity,
                price=t.price, fees=t.fees, timestamp=_naive(t.timestamp), exchange=t.exchange,
                external_id=t.external_id, strategy=t.strategy)


# ------------------------------------------------------------------ bulk insert
def _bulk(ctx, sa, models):
    """Ours and each peer save the same fills into new files, taking turns, best of
    three each (trades_bench.bulk_rounds)."""
    from sqlalchemy.orm import Session
    Base, Trade, _ = models
    n = ctx.rows
    fills = trades_bench.make_fills(n)
    rows = [_trade_dict(i + 1, t) for i, t in enumerate(fills)]

    def peer(insert):
        def run(path):
            engine = _engine(sa, path)
            Base.metadata.create_all(engine)
            try:
                return timed(insert, engine)[0]
            finally:
                engine.dispose()
        return run

    def orm(engine):
        with Session(engine) as session:
            session.add_all(Trade(**_trade_dict(i + 1, t)) for i, t in enumerate(fills))
            session.commit()

    def core(engine):
        with engine.begin() as conn:
            conn.execute(sa.insert(Trade.__table__), rows)
    best = trades_bench.bulk_rounds(ctx, "peer-bulk", {"ours": trades_bench.ours_bulk(fills),
                                                 "orm": peer(orm), "core": peer(core)})
    yield Result(f"save_trades bulk, {n:,} fills vs ORM add_all", best["ours"], best["orm"],
                 "peer: SQLAlchemy ORM, Numeric columns; target <= 0.25x (ours >= 4x faster)")
    yield Result(f"save_trades bulk, {n:,} fills vs Core insert", best["ours"], best["core"],
                 "peer: SQLAlchemy Core executemany (11 columns, 4 indexes, no CHECKs, no "
                 "positions, inexact); target <= 1.5x")


# ------------------------------------------------------------------ 30-day history
def _history(ctx, sa, models):
    from sqlalchemy.orm import Session
    Base, Trade, _ = models
    big = ctx.rows * 10
    path = ctx.path("peer-ours-history.db")
    raw = trades_bench.floor_connection(path)
    peer_path = ctx.path("peer-history.db")
    engine = _engine(sa, peer_path)
    Base.metadata.create_all(engine)
    engine.dispose()
    peer = sqlite3.connect(peer_path, isolation_level=None)
    for conn in (raw, peer):
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
    chunk = 100_000
    for start in range(0, big, chunk):   # the same fills in both files, written raw
        fills = trades_bench.make_fills(min(chunk, big - start), first=start, total=big)
        raw.executemany(trades_bench.INSERT_TRADE, trades_bench.raw_rows(fills, start + 1))
        peer.executemany(
            "INSERT INTO trades VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(start + i + 1, t.account, t.symbol, t.side, float(t.quantity), float(t.price),
              float(t.fees), str(_naive(t.timestamp)), t.exchange, t.external_id, t.strategy)
             for i, t in enumerate(fills)])
    for conn in (raw, peer):
        conn.execute("COMMIT")
        conn.close()
    symbol = trades_bench.SYMBOLS[3]
    repo = TradeRepo(path, readonly=True)
    ours, got = timed(lambda: repo.get_trade_history(symbol, days=HISTORY_DAYS), repeat=3)
    repo.close()
    engine = _engine(sa, peer_path)
    since = _naive(datetime.now(timezone.utc) - timedelta(days=HISTORY_DAYS))
    where = (Trade.symbol == symbol, Trade.timestamp >= since)

    def orm():
        with Session(engine) as session:
            return session.scalars(sa.select(Trade).where(*where)
                                   .order_by(Trade.timestamp, Trade.id)).all()

    def core():
        with engine.connect() as conn:
            return conn.execute(sa.select(Trade.__table__).where(*where)
                                .order_by(Trade.timestamp, Trade.id)).all()
    peer_time, peer_rows = timed(orm, repeat=3)
    assert len(peer_rows) == len(got)
    yield Result(f"get_trade_history(symbol, 30d), {big:,} vs ORM", ours, peer_time,
                 f"{len(got):,} rows; peer: SQLAlchemy ORM objects")
    peer_time, peer_rows = timed(core, repeat=3)
    assert len(peer_rows) == len(got)
    yield Result(f"get_trade_history(symbol, 30d), {big:,} vs Core", ours, peer_time,
                 f"{len(got):,} rows; peer: SQLAlchemy Core rows")
    engine.dispose()


# ------------------------------------------------------------------ statistics
POSITIONS_SQL = """
SELECT id, account, symbol, realized_pnl, fees, opened_at, closed_at, strategy
FROM positions WHERE closed_at IS NOT NULL
"""
PANDAS_SQL = """
SELECT realized_pnl, fees, opened_at, closed_at FROM positions WHERE closed_at IS NOT NULL
"""


def _peer_time(text: str) -> str:
    """Our stored time as SQLAlchemy's SQLite DateTime text."""
    return text[:10] + " " + text[11:26]


def _orm_statistics(positions) -> tuple:
    """What a seed computes from loaded Position objects: exact Decimal sums."""
    n, wins, losses, _, _, net, fees, largest_win, largest_loss, held = analytics_bench.tally(
        ((p.realized_pnl, p.fees, p.closed_at - p.opened_at) for p in positions),
        holding=timedelta(0))
    return n, wins, losses, net, fees, largest_win, largest_loss, held


def _statistics(ctx, sa, models, pandas):
    trips = ctx.rows
    path = ctx.path("peer-ours-stats.db")
    analytics_bench.build(path, trips)
    repo = TradeRepo(path, readonly=True)
    ours, stats = timed(lambda: repo.get_statistics(days=None), repeat=3)
    repo.close()
    peer_path = ctx.path("peer-stats.db")
    if models:
        Base, _, Position = models
        engine = _engine(sa, peer_path)
        Base.metadata.create_all(engine)
        engine.dispose()
    else:
        with sqlite3.connect(peer_path) as conn:
            conn.execute("CREATE TABLE positions (id INTEGER PRIMARY KEY, account, symbol, "
                         "realized_pnl NUMERIC, fees NUMERIC, opened_at, closed_at, strategy)")
    source = sqlite3.connect(path)
    rows = [(i, a, s, float(pnl), float(fee), _peer_time(o), _peer_time(c), st)
            for i, a, s, pnl, fee, o, c, st in source.execute(POSITIONS_SQL)]
    source.close()
    with sqlite3.connect(peer_path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executemany("INSERT INTO positions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    if models:
        from sqlalchemy.orm import Session
        engine = _engine(sa, peer_path)

        def orm():
            with Session(engine) as session:
                return _orm_statistics(session.scalars(
                    sa.select(Position).where(Position.closed_at.is_not(None))).all())
        peer_time, plain = timed(orm, repeat=3)
        assert plain[0] == stats.total_trades
        yield Result(f"get_statistics(days=None), {trips:,} trips vs ORM", ours, peer_time,
                     "peer: SQLAlchemy ORM objects + Decimal sums in Python")
        p = Position

        def core():
            with engine.connect() as conn:
                return conn.execute(sa.select(
                    sa.func.count(), sa.func.sum(sa.case((p.realized_pnl > 0, 1), else_=0)),
                    sa.func.sum(sa.case((p.realized_pnl < 0, 1), else_=0)),
                    sa.func.sum(p.realized_pnl), sa.func.sum(p.fees),
                    sa.func.max(p.realized_pnl), sa.func.min(p.realized_pnl),
                    sa.func.avg(sa.func.julianday(p.closed_at) - sa.func.julianday(p.opened_at)))
                    .where(p.closed_at.is_not(None))).one()
        peer_time, plain = timed(core, repeat=3)
        assert plain[0] == stats.total_trades
        yield Result(f"get_statistics(days=None), {trips:,} trips vs Core", ours, peer_time,
                     "peer: SQLAlchemy Core SQL aggregates (floats: inexact)")
        engine.dispose()
    if pandas is not None:
        conn = sqlite3.connect(peer_path)

        def frame():
            df = pandas.read_sql(PANDAS_SQL, conn, parse_dates=["opened_at", "closed_at"])
            pnl = df["realized_pnl"].astype("float64")
            won, lost = pnl[pnl > 0], pnl[pnl < 0]
            return (len(df), len(won), len(lost), won.sum(), lost.sum(), pnl.sum(),
                    df["fees"].sum(), won.max(), lost.min(),
                    (df["closed_at"] - df["opened_at"]).mean())
        peer_time, plain = timed(frame, repeat=3)
        assert plain[0] == stats.total_trades
        yield Result(f"get_statistics(days=None), {trips:,} trips vs pandas", ours, peer_time,
                     "peer: pandas read_sql + vectorised sums (float64: inexact)")
        conn.close()
