"""``TradeRepo``: the facade a bot opens. One attribute per repository, plus the
calls a bot makes most, delegated to those repositories."""

from __future__ import annotations

import functools
import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterable, Iterator, Literal, Mapping

from tradestore._core.codec import show, to_int, to_path, ts_in
from tradestore._core.db import APPLICATION_ID, Database, echo_setting
from tradestore._core.events import EventLog
from tradestore._core.files import SQLITE_MAGIC
from tradestore._core.hints import Amount, Days, Engine, JSONObject, Marks, Moment, PathLike
from tradestore._core.migrate import (EXTRA, HistoryEntry, Migration, Migrator, add_store_id,
                                      load_extra_migrations, read_store_id, table_names)
from tradestore._core.pg import POOL_SIZE_MAX, PgDatabase
from tradestore._core.scan import checked_connection, damaged_store_error, stored_problems
from tradestore._core.url import SQLITE, parse_target
from tradestore.analytics.metrics import (Analytics, GroupPerformance, PerformanceMetrics,
                                          TradeStatistics)
from tradestore.books.accounts import AccountStore
from tradestore.books.balance import (MarkedPosition, cash_balances, mark_to_market,
                                      portfolio_value, single_value)
from tradestore.books.instruments import InstrumentStore
from tradestore.books.settings import SettingStore
from tradestore.books.strategies import StrategyStore
from tradestore.errors import (ConflictError, DatabaseError, SchemaError, StoreError,
                               ValidationError)
from tradestore.market.candles import CandleStore
from tradestore.market.indicators import IndicatorStore
from tradestore.market.news import NewsStore
from tradestore.market.signals import SignalStore
from tradestore.ops.backup import BackupInfo, backup, backup_before_downgrade
from tradestore.ops.ccxt_fills import save_ccxt_trades
from tradestore.record.funding import FundingStore
from tradestore.record.ledger import FILLED_IN_11, Ledger, derived_problems, rebuild
from tradestore.record.orders import Order, OrderStore
from tradestore.record.positions import Position, PositionStore
from tradestore.record.trades import (RoundTripFill, TradeData, TradeStore, any_fill,
                                      round_trip_fills)
from tradestore.state.portfolio import PortfolioSnapshot, PortfolioStore
from tradestore.state.states import BotState, BotStateStore, StateVersion

REKEY_VERSION = 8  # schema/0008_record_keys.sql: positions per (account, exchange, symbol)
FUTURES_VERSION = 11  # schema/0011_futures.sql: round trips in full, funding (issue 17)
FillOrder = Literal["time", "symbol", "pnl"]  # get_trade_history's order_by
BackupCheck = Literal["quick", "full"]  # backup's verify: quick_check or integrity_check


class TradeRepo:
    """A bot's whole trading record in one SQLite file.

    ``TradeRepo("trades.db")`` opens (creating with mode 0600 if needed) and
    migrates to the newest schema; ``readonly=True`` never writes or migrates;
    ``migrate=False`` refuses a database that is behind. ``durability="full"``
    syncs every commit; ``"normal"`` may lose the last commits on power loss
    (never on a process crash). ``echo=True`` (or TRADESTORE_SQL_ECHO=1) logs every
    statement to the ``tradestore.sql`` logger; ``extra_migrations="folder"`` applies
    a user's own NNNN_name.sql files after ours. ``pool_size=N`` (PostgreSQL) gives
    each thread its own server session from a pool of at most N. Use as a context
    manager or call ``close()``.
    """

    last_backup: Path | None = None  # the backup written by the last forced downgrade

    def __init__(self, url_or_path: PathLike | None = None, *, readonly: bool = False,
                 durability: str = "full", busy_timeout: float = 5.0, migrate: bool = True,
                 echo: bool | None = None, extra_migrations: PathLike | None = None,
                 pool_size: int | None = None, _allow_behind: bool = False) -> None:
        # a path or sqlite:///path is SQLite, postgresql://... PostgreSQL; None reads
        # $DATABASE_URL, then trades.db (tradestore._core.url)
        target = parse_target(url_or_path)
        if target.engine == SQLITE:
            path = target.location
            to_path(path, "path")  # refuses bytes, "", NUL and lone surrogates
            if pool_size is not None:
                raise ValidationError(f"pool_size: {show(pool_size)} is for a PostgreSQL "
                                      "store only (a SQLite store has one connection)",
                                      field="pool_size", value=pool_size)
            if not (migrate or readonly or _allow_behind) and str(path) != ":memory:" \
                    and not Path(path).exists():
                raise DatabaseError(f"{path}: no such database file (migrate=False never "
                                    "creates one)")
        elif pool_size is not None:
            pool_size = to_int(pool_size, "pool_size", lowest=1, highest=POOL_SIZE_MAX)
        # a bad folder of extra migrations is refused before the store is touched
        extra = None if extra_migrations is None else load_extra_migrations(extra_migrations)
        # echo=None: TRADESTORE_SQL_ECHO / SQL_ECHO decide (tradestore._core.db.echo_setting)
        options: dict[str, Any] = dict(readonly=readonly, durability=durability,
                                       busy_timeout=busy_timeout, echo=echo_setting(echo))
        self.db: Engine = (Database(path, **options) if target.engine == SQLITE
                           else PgDatabase(target.location, shown=target.shown,
                                           pool_size=pool_size, **options))
        try:
            self.migrator = Migrator(self.db)
            version = self.migrator.check()  # refuses a foreign or newer file before any write
            if version < self.migrator.head and not _allow_behind:
                if readonly or not migrate:
                    raise SchemaError(
                        f"{self.db.path}: schema version {version} is behind this tradestore "
                        f"({self.migrator.head}); run 'tradestore migrate'")
            self.db.use_wal()
            applied = []
            if version < self.migrator.head and not _allow_behind:
                applied = self.migrator.migrate()
            self._ensure_store_id()
            if not readonly:
                self.migrator.ensure_history()  # a store from before the log gets one
            self.extra_migrator = self._open_extra(extra, readonly or not migrate,
                                                   _allow_behind)
        except BaseException:
            self.db.close()
            raise
        self._attach_repositories()
        self._record_migration(version, applied)
        self._rebuild_after_rekey(version)
        self._record_extra(self._extra_applied)

    _extra_applied: tuple[int, list[int]] = (0, [])

    def _open_extra(self, migrations: list[Migration] | None, no_migrate: bool,
                    allow_behind: bool) -> Migrator | None:
        """The user's own migrations (``extra_migrations=folder``), applied after ours
        in their own version sequence (refused like ours when newer, or behind on a
        store opened read-only or with migrate=False); None when not given."""
        if migrations is None:
            return None
        extra = Migrator(self.db, migrations, namespace=EXTRA)
        version = extra.check()  # refuses a store whose extra migrations are newer
        if version < extra.head and not allow_behind:
            if no_migrate:
                raise SchemaError(f"{self.db.path}: extra migrations at version {version}, "
                                  f"behind the folder's {extra.head}; run 'tradestore migrate "
                                  "--extra FOLDER'")
            self._extra_applied = (version, extra.migrate())
        return extra

    def _record_extra(self, applied: tuple[int, list[int]]) -> None:
        before, steps = applied
        if steps and self.extra_migrator is not None:
            after = self.extra_migrator.current_version
            self.events.log("migration", f"extra schema version {before} -> {after}",
                            details={"namespace": "extra", "from": before, "to": after,
                                     "steps": steps})

    def _record_migration(self, before: int, applied: list[int]) -> None:
        """The store logs its own schema changes in the event log (not the creation of a
        new store: its first event would otherwise be a migration)."""
        after = self.migrator.current_version
        if applied and before >= 1 and after >= 1:
            self.events.log("migration", f"schema version {before} -> {after}",
                            details={"from": before, "to": after, "steps": applied})

    def _ensure_store_id(self) -> None:
        """Stores made before identities existed get one when first opened for writing."""
        if self.db.readonly or self.migrator.current_version < 1 or self.store_id is not None:
            return
        with self.db.transaction() as conn:
            add_store_id(conn)

    @property
    def store_id(self) -> str | None:
        """This store's identity: a UUID made at creation, kept by its backups (None for
        an old store opened read-only)."""
        with self.db.lock:
            return read_store_id(self.db._connection())

    def _rebuild_after_rekey(self, before: int) -> None:
        """Schema 8 keys positions by (account, exchange, symbol): only a replay of the
        fills can split round trips whose fills came from two venues, so a store that
        crossed version 8 with fills is rebuilt at once (issue 15.3)."""
        # the replay needs schema 11's columns: a store walked to a version between is
        # rebuilt when it reaches 11
        crossed = before < FUTURES_VERSION <= self.migrator.current_version
        if crossed:
            with self.db.reading() as conn:
                crossed = any_fill(conn)
        if crossed:
            try:
                changes = self.rebuild()
            except StoreError as exc:  # the store stays usable; 'tradestore check' shows it
                self.events.log("rebuild", f"positions could not be replayed under the schema "
                                f"{REKEY_VERSION} key: {exc}", severity="error")
                return
            changes = [c for c in changes if not any(f in c for f in FILLED_IN_11)]
            if changes:  # schema 11's new figures are filled in, not news
                self.events.log("rebuild", f"positions replayed under the schema {REKEY_VERSION} "
                                f"key: {len(changes)} change(s)", details={"changes": changes[:100]})

    @classmethod
    def inspect(cls, path: PathLike, *, durability: str = "full", busy_timeout: float = 5.0,
                echo: bool | None = None,
                extra_migrations: PathLike | None = None) -> TradeRepo:
        """Open read-only without requiring the newest schema (status, check)."""
        return cls(path, readonly=True, durability=durability, busy_timeout=busy_timeout,
                   echo=echo, extra_migrations=extra_migrations, _allow_behind=True)

    @classmethod
    def verify_backup(cls, path: PathLike) -> BackupInfo:
        """Check a backup file: a SQLite file of ours (application_id), a schema version
        this tradestore knows, integrity_check, foreign keys and every bot state's
        checksum. Returns what it found or raises a StoreError saying what is wrong."""
        file: Path = to_path(path, "path")  # refuses None, bytes, "", NUL, lone surrogates
        if not file.is_file():
            raise DatabaseError(f"{file}: no such backup file")
        with open(file, "rb") as f:
            header = f.read(100)
        if not header.startswith(SQLITE_MAGIC):
            raise DatabaseError(f"{file}: not a SQLite database file")
        wal = Path(f"{file}-wal")
        if header[18:20] == b"\x02\x02" and wal.exists() and wal.stat().st_size > 0:
            raise DatabaseError(f"{file}: not a complete backup: part of it is still in {wal.name} "
                                "(take backups with 'tradestore backup')")
        try:
            repo = cls.inspect(file)
        except StoreError as exc:
            raise type(exc)(f"backup {exc}") from None
        with repo:
            app_id = repo.db.scalar("PRAGMA application_id")
            version = repo.current_version
            if app_id != APPLICATION_ID or version < 1:
                raise SchemaError(f"{file}: not a tradestore database (application_id {app_id:#x}, "
                                  f"schema version {version})")
            problems = repo.check()
            if problems:
                more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
                raise DatabaseError(f"{file}: the backup is damaged: {'; '.join(problems[:3])}{more}")
            return BackupInfo(file, file.stat().st_size, version, repo.migrator.head,
                              repo.table_counts())

    def _attach_repositories(self) -> None:
        """One attribute per aggregate; each shares this store's Database."""
        db = self.db
        self.events = EventLog(db)
        self.candles = CandleStore(db)
        self.indicators = IndicatorStore(db)
        self.news = NewsStore(db)
        self.strategies = StrategyStore(db)
        self.settings = SettingStore(db)
        self.accounts = AccountStore(db)
        self.instruments = InstrumentStore(db)
        self.positions = PositionStore(db)
        ledger = Ledger()  # the replay of a key, which fills and funding payments need
        self.trades = TradeStore(db, self.positions, ledger, self.accounts, self.instruments)
        self.orders = OrderStore(db, self.trades, self.accounts, self.instruments)
        self.signals = SignalStore(db, self.orders)
        self.funding = FundingStore(db, ledger, self.accounts)
        self.analytics = Analytics(db)
        self.states = BotStateStore(db, self.events)
        self.portfolio = PortfolioStore(db, self.accounts)

    # ------------------------------------------------------------ the store
    @property
    def path(self) -> str:
        return self.db.path

    def transaction(self) -> ContextManager[Any]:
        """Group several calls into one atomic unit: ``with repo.transaction(): ...``."""
        return self.db.transaction()

    def migrate(self, target: int | str | None = None, *, force: bool = False,
                extra: bool = False) -> list[int]:
        """Move the schema to ``target`` (default: the newest); returns the versions passed.

        ``target``: a version number, "head", or a step relative to the current version
        as "-1" (down one) or "+2" (up two). ``extra=True`` moves the user's own
        sequence (``extra_migrations``) instead of ours. Going down refuses
        (ConflictError naming tables and row counts) when it would drop rows, unless
        ``force``: then a verified backup is first written beside the store (its path
        in ``last_backup``)."""
        if extra:
            return self._migrate_extra(target, force)
        target = self.migrator.resolve(target)
        before = self.migrator.current_version
        self.last_backup = None
        if target != before:
            losses = self.migrator.downgrade_losses(target)
            if losses and not force:
                lost = ", ".join(f"{name} ({count:,} rows)" for name, count in sorted(losses.items()))
                raise ConflictError(
                    f"{self.db.path}: going down to schema version {target} would drop "
                    f"{lost}; nothing was changed (pass force=True / --force to back up "
                    "first and go anyway)")
            if losses:
                self._backup_before_downgrade(before, target)
        applied = self.migrator.migrate(target)
        self._record_migration(before, applied)
        self._rebuild_after_rekey(before)
        return applied

    def _migrate_extra(self, target: int | str | None, force: bool) -> list[int]:
        """``migrate(..., extra=True)``: the same refusals and backup for the user's
        sequence."""
        migrator = self._extra()
        target = migrator.resolve(target)
        before = migrator.current_version
        self.last_backup = None
        losses = migrator.downgrade_losses(target) if target < before else {}
        if losses and not force:
            lost = ", ".join(f"{name} ({count:,} rows)" for name, count in sorted(losses.items()))
            raise ConflictError(
                f"{self.db.path}: going down to extra version {target} would drop {lost}; "
                "nothing was changed (pass force=True / --force to back up first)")
        if losses:
            self._backup_before_downgrade(before, target)
        applied = migrator.migrate(target)
        self._record_extra((before, applied))
        return applied

    def _backup_before_downgrade(self, before: int, target: int) -> None:
        """A forced downgrade that drops rows first writes a verified backup beside a
        SQLite file; a server store has no file to copy, so it is refused there."""
        if self.db.engine != SQLITE:
            raise ConflictError(
                f"{self.db.path}: going down from {before} to {target} drops rows and a "
                "PostgreSQL store cannot be backed up beside itself; take a backup "
                "(pg_dump, or tradestore copy to a SQLite file), then drop the rows first")
        if self.db.path != ":memory:":
            self.last_backup = self.verify_backup(
                backup_before_downgrade(self, before, target)).path

    def _extra(self) -> Migrator:
        if self.extra_migrator is None:
            raise ConflictError(f"{self.db.path}: no extra migrations were given "
                                "(TradeRepo(..., extra_migrations=folder) / --extra FOLDER)")
        return self.extra_migrator

    def migration_sql(self, target: int | str | None = None, *, extra: bool = False) -> str:
        """The SQL ``migrate(target)`` would run, as a script; runs nothing (--dry-run)."""
        migrator = self._extra() if extra else self.migrator
        return migrator.sql(migrator.resolve(target))

    def migration_history(self, *, extra: bool = False) -> list[HistoryEntry]:
        """Every schema file with whether and when it was applied (HistoryEntry)."""
        return (self._extra() if extra else self.migrator).history()

    @property
    def current_version(self) -> int:
        return self.migrator.current_version

    @property
    def pending(self) -> list[Migration]:
        return self.migrator.pending

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> TradeRepo:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TradeRepo({self.db.path!r})"

    # ------------------------------------------------------------ inspection
    def table_counts(self) -> dict[str, int]:
        with self.db.reading() as conn:  # one snapshot for every count
            names = table_names(conn)
            return {name: conn.execute(
                        'SELECT count(*) FROM "{}"'.format(name.replace('"', '""'))).fetchone()[0]
                    for name in names}

    def status(self) -> dict[str, Any]:
        """What ``tradestore status`` prints."""
        size = None
        if self.db.path != ":memory:" and Path(self.db.path).exists():
            size = sum(os.path.getsize(p) for p in (self.db.path, self.db.path + "-wal")
                       if os.path.exists(p))
        return {
            "path": self.db.path,
            "schema_version": self.current_version,
            "head_version": self.migrator.head,
            "pending": [m.filename for m in self.pending],
            "journal_mode": (self.db.scalar("PRAGMA journal_mode")
                             if self.db.engine == SQLITE else None),  # a server keeps its own
            "size_bytes": size,
            "tables": self.table_counts(),
        }

    def check(self) -> list[str]:
        """Every problem, one line each: integrity_check with CHECK constraints enforced
        (tradestore._core.scan), stored values that do not decode, foreign keys, and the
        stores' own checks (``_checks``). On PostgreSQL the server enforces types,
        CHECKs and foreign keys on every write: only the stores' own checks run."""
        problems = []
        if self.db.engine == SQLITE:
            try:
                with checked_connection(self.db) as conn:
                    problems = stored_problems(conn, self.db.path)
                problems += [f"foreign key: table {r[0]} rowid {r[1]} -> {r[2]}"
                             for r in self.db.query("PRAGMA foreign_key_check")]
            except DatabaseError as exc:  # too damaged for the checks to finish
                return [str(exc)]
        for check in self._checks():
            try:
                problems += check()
            except (StoreError, ArithmeticError, ValueError, TypeError, LookupError) as exc:
                name = getattr(check, "__qualname__", repr(check))
                problems.append(f"{name} could not finish: {' '.join(str(exc).split())}")
        return problems

    def _checks(self) -> list[Callable[[], list[str]]]:
        """Extra checks from repositories (state checksums, ...)."""
        return [self.states.problems, self.derived_problems]

    # ------------------------------------------------------------ fills and positions
    def save_trade(self, trade: TradeData | Mapping[str, Any]) -> int:
        """Save one fill (TradeData or mapping); idempotent on (exchange, external_id)."""
        return self.trades.save(trade)

    def save_trades(self, trades: Iterable[TradeData | Mapping[str, Any]]) -> list[int]:
        """Save many fills in one transaction, all or nothing."""
        return self.trades.save_many(trades)

    def get_trade(self, trade_id: int) -> TradeData | None:
        return self.trades.get(trade_id)

    def get_trade_history(self, symbol: str | None = None, days: Days = 30, *,
                          since: Moment | None = None, until: Moment | None = None,
                          strategy: str | None = None, account: str | None = None,
                          exchange: str | None = None, limit: int | None = None,
                          offset: int = 0, newest_first: bool = False,
                          include_void: bool = False, side: str | None = None,
                          order_by: FillOrder = "time") -> list[TradeData]:
        """Fills oldest first; ``days=None`` all time; since/until override days.
        Voided fills only with ``include_void``; ``order_by`` "time", "symbol" or "pnl"."""
        return self.trades.history(symbol, days, since=since, until=until, strategy=strategy,
                                   account=account, exchange=exchange, limit=limit,
                                   offset=offset, newest_first=newest_first,
                                   include_void=include_void, side=side, order_by=order_by)

    def iter_trades(self, symbol: str | None = None, days: Days = 30, *,
                    since: Moment | None = None, until: Moment | None = None,
                    strategy: str | None = None, account: str | None = None,
                    exchange: str | None = None, limit: int | None = None, offset: int = 0,
                    newest_first: bool = False, include_void: bool = False,
                    side: str | None = None, order_by: FillOrder = "time") -> Iterator[TradeData]:
        """Like get_trade_history, streamed with constant memory (time order only)."""
        return self.trades.iterate(symbol, days, since=since, until=until, strategy=strategy,
                                   account=account, exchange=exchange, limit=limit,
                                   offset=offset, newest_first=newest_first,
                                   include_void=include_void, side=side, order_by=order_by)

    def get_position(self, symbol: str, account: str = "default",
                     exchange: str | None = None) -> Position | None:
        """The open position of ``symbol``; ConflictError naming the venues when several
        exchanges hold one and ``exchange`` is not given."""
        return self.positions.get_position(symbol, account, exchange)

    def get_open_positions(self, account: str | None = None,
                           exchange: str | None = None) -> list[Position]:
        return self.positions.get_open_positions(account, exchange)

    def void_trade(self, trade_id: int, reason: str) -> TradeData:
        """Void a fill (kept for the audit trail, applied to nothing): its key is replayed
        without it, its order's totals recomputed and an event logged; returns the fill."""
        with self.transaction():
            trade = self.trades.void(trade_id, reason)
            self.events.log("trade_voided", f"fill {trade_id} voided: {trade.void_reason}",
                            symbol=trade.symbol, trade_id=trade_id, order_id=trade.order_id,
                            details={"reason": trade.void_reason,  # audit trail shape
                                     "entity": "trade", "key": trade_id, "action": "void",
                                     "before": {"voided_at": None, "void_reason": None},
                                     "after": {"voided_at": trade.voided_at,
                                               "void_reason": trade.void_reason}})
        return trade

    def derived_problems(self) -> list[str]:
        """Positions, fill pnl and order fill totals replayed from the fills, compared
        with what is stored (issue 14.2); one line per disagreement."""
        if self.current_version < FUTURES_VERSION:
            return []  # a store behind schema 11 is replayed when it is migrated
        with self.db.reading() as conn:
            return derived_problems(conn)

    def rebuild(self) -> list[str]:
        """Recompute positions, fill pnl and order fill totals from the fills in one
        transaction (issue 14.3); returns one line per value changed."""
        with self.db.transaction() as conn:
            return rebuild(conn, ts_in(self.db.now()))

    def get_closed_positions(self, symbol: str | None = None, days: Days = None, *,
                             account: str | None = None, exchange: str | None = None,
                             since: Moment | None = None, until: Moment | None = None,
                             limit: int | None = None) -> list[Position]:
        """Closed round trips, oldest close first, filtered by close time."""
        return self.positions.get_closed_positions(symbol, days, account=account,
                                                   exchange=exchange, since=since,
                                                   until=until, limit=limit)

    # ------------------------------------------------------------ futures (issue 17)
    def record_funding(self, symbol: str, amount: Amount, timestamp: Moment | None = None, *,
                       exchange: str = "", account: str = "default",
                       external_id: str | None = None, currency: str | None = None,
                       metadata: JSONObject | None = None) -> int:
        """A funding payment (signed, settle currency) counted in the position of its key
        open at ``timestamp``; idempotent on (exchange, external_id) (tradestore.record.funding)."""
        return self.funding.record(symbol, amount, timestamp, exchange=exchange,
                                   account=account, external_id=external_id,
                                   currency=currency, metadata=metadata)

    def save_ccxt_funding(self, entries: Iterable[Mapping[str, Any]], *, exchange: str,
                          account: str = "default") -> list[int]:
        """ccxt ``fetchFundingHistory`` entries as funding payments, in one transaction."""
        return self.funding.record_ccxt(entries, exchange=exchange, account=account)

    def get_round_trip_fills(self, position_id: int) -> list[RoundTripFill]:
        """The fills of a round trip in time order, each with its derived action."""
        return round_trip_fills(self.db, position_id)

    def mark_to_market(self, marks: Marks, *, account: str | None = None,
                       exchange: str | None = None) -> list[MarkedPosition]:
        """Open positions at ``marks`` ({symbol: price}) with unrealised pnl."""
        return mark_to_market(self, marks, account=account, exchange=exchange)

    def portfolio_value(self, account: str = "default",
                        marks: Marks | None = None) -> dict[str, Decimal]:
        """{currency: cash + open positions at ``marks``}, exact (tradestore.books.balance)."""
        return portfolio_value(self, account, marks or {})

    # ------------------------------------------------------------ orders
    def create_order(self, symbol: str, side: str, order_type: str, quantity: Amount, *,
                     price: Amount | None = None, stop_price: Amount | None = None,
                     external_id: str | None = None, exchange: str = "",
                     strategy: str | None = None, account: str = "default",
                     metadata: JSONObject | None = None, status: str = "PENDING") -> Order:
        """A new order (PENDING unless ``status``); its fills come from ``record_fill``."""
        return self.orders.create(symbol, side, order_type, quantity, price=price,
                                  stop_price=stop_price, external_id=external_id,
                                  exchange=exchange, strategy=strategy, account=account,
                                  metadata=metadata, status=status)

    def record_fill(self, order_id: int, quantity: Amount, price: Amount, *, fees: Amount = 0,
                    external_id: str | None = None, timestamp: Moment | None = None,
                    fee_currency: str | None = None, metadata: JSONObject | None = None,
                    pnl: Amount | None = None) -> int:
        """Save a fill of the order and update the order, in one transaction."""
        return self.orders.record_fill(order_id, quantity, price, fees=fees,
                                       external_id=external_id, timestamp=timestamp,
                                       fee_currency=fee_currency, metadata=metadata, pnl=pnl)

    def get_order(self, order_id: int) -> Order:
        return self.orders.get(order_id)

    def get_order_by_external_id(self, exchange: str, external_id: str) -> Order | None:
        return self.orders.get_by_external_id(exchange, external_id)

    def get_open_orders(self, symbol: str | None = None) -> list[Order]:
        return self.orders.open_orders(symbol)

    def get_recent_orders(self, limit: int = 50) -> list[Order]:
        return self.orders.recent(limit)

    def update_order_status(self, order_id: int, status: str,
                            reason: str | None = None) -> Order:
        return self.orders.update_status(order_id, status, reason)

    def cancel_order(self, order_id: int, reason: str | None = None) -> Order:
        return self.orders.cancel(order_id, reason)

    # ------------------------------------------------------------ bot state
    def save_bot_state(self, state: BotState | Mapping[str, Any], *, bot: str = "default") -> int:
        """Save a BotState (or mapping) as the bot's next version; returns that version."""
        return self.states.save(state, bot=bot)

    def load_bot_state(self, version: int | None = None, *, bot: str = "default",
                       strict: bool = False) -> BotState | None:
        """The newest state that verifies (warns on fallback), or ``version``; None if none."""
        return self.states.load(version, bot=bot, strict=strict)

    def list_bot_states(self, bot: str = "default") -> list[StateVersion]:
        return self.states.list(bot)

    def rollback_bot_state(self, version: int, *, bot: str = "default") -> int:
        return self.states.rollback(version, bot=bot)

    def prune_bot_states(self, keep: int, *, bot: str = "default") -> int:
        return self.states.prune(keep, bot=bot)

    def verify_bot_states(self) -> list[StateVersion]:
        return self.states.verify()

    # ------------------------------------------------------------ portfolio
    def save_portfolio_snapshot(self, total_value: Amount | None = None, *,
                                cash: Amount | None = None, positions: JSONObject | None = None,
                                balances: JSONObject | None = None,
                                timestamp: Moment | None = None, account: str = "default",
                                marks: Marks | None = None) -> int:
        """One point of the equity curve. With ``marks`` ({symbol: price}; {} when
        nothing is open) and no ``total_value`` it is computed now: cash + open positions
        at the marks, in the account's one currency (tradestore.books.balance; ConflictError
        when it holds several). Without either, total_value is required."""
        if total_value is None and marks is not None:
            currency, total_value = single_value(portfolio_value(self, account, marks),
                                                 account)
            if cash is None:
                with self.db.reading() as conn:
                    cash = cash_balances(self.accounts, conn, account).get(currency, 0)
        return self.portfolio.save(total_value, cash=cash, positions=positions,
                                   balances=balances, timestamp=timestamp, account=account)

    def get_portfolio_value_history(self, days: Days = 30, *, account: str = "default",
                                    since: Moment | None = None,
                                    until: Moment | None = None) -> list[tuple[datetime, Decimal]]:
        """(timestamp, total_value) pairs oldest first; ``days=None`` for all time."""
        return self.portfolio.value_history(days, account=account, since=since, until=until)

    def get_portfolio_snapshots(self, days: Days = 30, *, account: str = "default",
                                since: Moment | None = None,
                                until: Moment | None = None) -> list[PortfolioSnapshot]:
        return self.portfolio.snapshots(days, account=account, since=since, until=until)

    def latest_portfolio_snapshot(self, account: str = "default") -> PortfolioSnapshot | None:
        return self.portfolio.latest(account)

    # ------------------------------------------------------------ analytics
    def get_statistics(self, days: Days = 30, *, account: str | None = None,
                       strategy: str | None = None, symbol: str | None = None,
                       exchange: str | None = None, currency: str | None = None,
                       since: Moment | None = None,
                       until: Moment | None = None) -> TradeStatistics:
        """TradeStatistics over closed round trips (account, strategy, symbol, exchange,
        currency, since, until); ConflictError when they span several currencies."""
        return self.analytics.statistics(days, account=account, strategy=strategy,
                                         symbol=symbol, exchange=exchange, currency=currency,
                                         since=since, until=until)

    def get_statistics_by_currency(self, days: Days = 30, *, account: str | None = None,
                                   strategy: str | None = None, symbol: str | None = None,
                                   exchange: str | None = None, currency: str | None = None,
                                   since: Moment | None = None,
                                   until: Moment | None = None) -> dict[str, TradeStatistics]:
        """{currency: TradeStatistics}, one per quote currency ("" = without one)."""
        return self.analytics.statistics_by_currency(
            days, account=account, strategy=strategy, symbol=symbol, exchange=exchange,
            currency=currency, since=since, until=until)

    def calculate_performance_metrics(
            self, days: Days = 30, *, account: str = "default", periods_per_year: int = 365,
            risk_free_rate: float = 0, since: Moment | None = None, until: Moment | None = None,
            flows: Iterable[tuple[Moment, Amount]] | None = None, currency: str | None = None,
            statistics: bool = True,
            benchmark: str | Iterable[tuple[Moment, Amount]] | None = None,
            benchmark_exchange: str = "") -> PerformanceMetrics:
        """PerformanceMetrics of one account's equity curve plus its trade statistics;
        ``benchmark="BTC/USDT"`` (stored candles) or ``[(time, value)]`` adds alpha, beta
        and the other comparison figures (Analytics.performance, docs/metrics.md)."""
        return self.analytics.performance(
            days, account=account, periods_per_year=periods_per_year,
            risk_free_rate=risk_free_rate, since=since, until=until, flows=flows,
            currency=currency, statistics=statistics, benchmark=benchmark,
            benchmark_exchange=benchmark_exchange)

    def get_strategy_performance(self, days: Days = None, *, account: str | None = None,
                                 strategy: str | None = None, symbol: str | None = None,
                                 exchange: str | None = None, currency: str | None = None,
                                 since: Moment | None = None,
                                 until: Moment | None = None) -> list[GroupPerformance]:
        """GroupPerformance per (strategy, currency) over closed round trips."""
        return self.analytics.by_group("strategy", days, account=account, strategy=strategy,
                                       symbol=symbol, exchange=exchange, currency=currency,
                                       since=since, until=until)

    def get_symbol_performance(self, days: Days = None, *, account: str | None = None,
                               strategy: str | None = None, symbol: str | None = None,
                               exchange: str | None = None, currency: str | None = None,
                               since: Moment | None = None,
                               until: Moment | None = None) -> list[GroupPerformance]:
        """GroupPerformance per (symbol, currency) over closed round trips."""
        return self.analytics.by_group("symbol", days, account=account, strategy=strategy,
                                       symbol=symbol, exchange=exchange, currency=currency,
                                       since=since, until=until)

    # ------------------------------------------------------------ operations (issue 9)
    def backup(self, dest: PathLike, *, overwrite: bool = False,
               verify: BackupCheck = "quick") -> Path:
        """A verified, consistent copy (mode 0600) at ``dest`` (a file, or a folder for
        a stamped name) while the store stays in use; returns its Path. ``verify``:
        "quick" (quick_check) or "full" (integrity_check); ``overwrite`` replaces only a
        file that is not a database, or an earlier backup of this same store."""
        return backup(self, dest, overwrite=overwrite, verify=verify)

    def save_ccxt_trades(self, trades: Iterable[Mapping[str, Any]], *, exchange: str,
                         fee_prices: Mapping[str, Amount] | None = None) -> list[int]:
        """Save ccxt "unified trade" dicts as fills in one transaction (tradestore.record.ccxt)."""
        return save_ccxt_trades(self, trades, exchange=exchange, fee_prices=fee_prices)


# a stored value that does not decode surfaces as DatabaseError naming its table, column
# and row (tradestore._core.scan), never as a raw InvalidOperation/ValueError (issue 14.2)
DECODE_ERRORS = (ArithmeticError, ValueError, TypeError, LookupError)
NOT_GUARDED = {"close", "transaction", "check", "inspect"}


def _damage_guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: TradeRepo, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except StoreError:
            raise
        except DECODE_ERRORS as exc:
            db = getattr(self, "db", None)
            error = None if db is None or db.closed else damaged_store_error(db, exc)
            if error is None:
                raise
            raise error from exc
    return call


for _name, _value in list(vars(TradeRepo).items()):
    if not _name.startswith("_") and _name not in NOT_GUARDED and callable(_value) \
            and not isinstance(_value, (classmethod, staticmethod, property)):
        setattr(TradeRepo, _name, _damage_guarded(_value))
