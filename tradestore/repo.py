"""``TradeRepo``: the facade a bot opens. One attribute per repository, plus the
calls a bot makes most, delegated to those repositories."""

from __future__ import annotations

import os
from pathlib import Path

from .db import Database
from .events import EventLog
from .errors import SchemaError
from .migrate import Migrator


class TradeRepo:
    """A bot's whole trading record in one SQLite file.

    ``TradeRepo("trades.db")`` opens (creating with mode 0600 if needed) and
    migrates to the newest schema; ``readonly=True`` never writes or migrates;
    ``migrate=False`` refuses a database that is behind. ``durability="full"``
    syncs every commit; ``"normal"`` may lose the last commits on power loss
    (never on a process crash). Use as a context manager or call ``close()``.
    """

    def __init__(self, path="trades.db", *, readonly=False, durability="full", busy_timeout=5.0,
                 migrate=True, _allow_behind=False):
        self.db = Database(path, readonly=readonly, durability=durability,
                           busy_timeout=busy_timeout)
        try:
            self.migrator = Migrator(self.db)
            version = self.migrator.check()
            if version < self.migrator.head and not _allow_behind:
                if readonly or not migrate:
                    raise SchemaError(
                        f"{self.db.path}: schema version {version} is behind this tradestore "
                        f"({self.migrator.head}); run 'tradestore migrate'")
                self.migrator.migrate()
        except BaseException:
            self.db.close()
            raise
        self._attach_repositories()

    @classmethod
    def inspect(cls, path, **options) -> "TradeRepo":
        """Open read-only without requiring the newest schema (status, check)."""
        return cls(path, readonly=True, _allow_behind=True, **options)

    def _attach_repositories(self) -> None:
        """One attribute per aggregate; each shares this store's Database."""
        db = self.db
        self.events = EventLog(db)

    # ------------------------------------------------------------ the store
    @property
    def path(self) -> str:
        return self.db.path

    def transaction(self):
        """Group several calls into one atomic unit: ``with repo.transaction(): ...``."""
        return self.db.transaction()

    def migrate(self, target: int | None = None) -> list[int]:
        return self.migrator.migrate(target)

    @property
    def current_version(self) -> int:
        return self.migrator.current_version

    @property
    def pending(self):
        return self.migrator.pending

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self) -> str:
        return f"TradeRepo({self.db.path!r})"

    # ------------------------------------------------------------ inspection
    def table_counts(self) -> dict[str, int]:
        names = [r[0] for r in self.db.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name")]
        return {name: self.db.scalar(f'SELECT count(*) FROM "{name}"') for name in names}

    def status(self) -> dict:
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
            "journal_mode": self.db.scalar("PRAGMA journal_mode"),
            "size_bytes": size,
            "tables": self.table_counts(),
        }

    def check(self) -> list[str]:
        """Problems found by integrity_check, foreign_key_check and the stores' own checks."""
        problems = [row[0] for row in self.db.query("PRAGMA integrity_check") if row[0] != "ok"]
        problems += [f"foreign key: table {r[0]} rowid {r[1]} -> {r[2]}"
                     for r in self.db.query("PRAGMA foreign_key_check")]
        for check in self._checks():
            problems += check()
        return problems

    def _checks(self):
        """Extra checks from repositories (state checksums, ...)."""
        return []
