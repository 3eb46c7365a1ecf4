"""Numbered ``schema/NNNN_name.sql`` files applied through ``PRAGMA user_version``.

Each file has a ``-- migrate:up`` and a ``-- migrate:down`` block. One file runs in
one transaction together with its ``user_version`` bump, so a failure leaves the
database exactly at the previous version. Refusals (newer database, foreign
file, unversioned file with tables, a broken schema folder) happen before
anything is written.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .codec import ts_in, utc_now
from .db import APPLICATION_ID, Database, translate
from .errors import MigrationError, SchemaError

STORE_ID_KEY = "store_id"
SELECT_STORE_ID = "SELECT value FROM store_meta WHERE key = 'store_id'"
INSERT_STORE_ID = ("INSERT OR IGNORE INTO store_meta (key, value, updated_at) "
                   "VALUES ('store_id', ?, ?)")
# not the record: the store's own facts (its identity) and its log of its own schema
# changes are not counted as data a downgrade loses
NOT_RECORD_TABLES = frozenset({"store_meta"})
NOT_RECORD_ROWS = {"events": "event_type = 'migration'"}


class _Rollback(Exception):
    """Raised inside a transaction to undo a dry run."""

FILE_PATTERN = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
UP_MARK = re.compile(r"^--\s*migrate:up\s*$", re.M)
DOWN_MARK = re.compile(r"^--\s*migrate:down\s*$", re.M)


@dataclass(frozen=True)
class Migration:
    """One schema file.

    Attributes:
      version: its number (1 for 0001_...).
      filename: the file's name, for messages.
      up, down: the SQL of each block.
    """

    version: int
    filename: str
    up: str
    down: str


def _schema_files() -> list[tuple[str, str]]:
    """(filename, text) of the schema files, from the installed package or the checkout."""
    try:
        folder = resources.files("tradestore.schema")
        items = [(f.name, f.read_text(encoding="utf-8")) for f in folder.iterdir()
                 if f.name.endswith(".sql")]
        if items:
            return items
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    checkout = Path(__file__).resolve().parent.parent / "schema"
    return [(p.name, p.read_text(encoding="utf-8")) for p in checkout.glob("*.sql")]


def parse_migration(filename: str, text: str) -> Migration:
    match = FILE_PATTERN.match(filename)
    if not match:
        raise MigrationError(f"schema/{filename}: name must look like 0001_name.sql")
    up = UP_MARK.search(text)
    down = DOWN_MARK.search(text)
    if not up or not down or down.start() < up.end():
        raise MigrationError(f"schema/{filename}: needs a '-- migrate:up' block followed by "
                             "a '-- migrate:down' block")
    migration = Migration(int(match.group(1)), filename, text[up.end():down.start()].strip(),
                          text[down.end():].strip())
    for block in (migration.up, migration.down):
        try:
            split_statements(block)
        except MigrationError as exc:
            raise MigrationError(f"schema/{filename}: {exc}") from None
    return migration


def load_migrations(files=None) -> list[Migration]:
    """All migrations, checked: numbered 1..N with no gap and no duplicate."""
    files = _schema_files() if files is None else files
    migrations = sorted((parse_migration(name, text) for name, text in files
                         if name.endswith(".sql")), key=lambda m: m.version)
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            same = [m.filename for m in migrations if m.version == migration.version]
            problem = (f"duplicate number {migration.version:04d} ({', '.join(same)})"
                       if len(same) > 1 else f"{expected:04d} is missing before {migration.filename}")
            raise MigrationError(f"schema/: {problem}")
    return migrations


def _without_leading_comments(text: str) -> str:
    """A statement without the comment lines before it (error messages show the SQL)."""
    text = text.strip()
    while text.startswith("--"):
        newline = text.find("\n")
        text = "" if newline < 0 else text[newline + 1:].strip()
    return text


def split_statements(sql: str) -> list[str]:
    """Complete statements of a script, triggers (BEGIN ... END;) kept whole."""
    statements, current = [], ""
    for piece in sql.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            text = _without_leading_comments(current)
            if re.sub(r"--[^\n]*", "", text).strip(" ;\n\t"):
                statements.append(text)
            current = ""
    if re.sub(r"--[^\n]*", "", current).strip(" ;\n\t"):
        raise MigrationError(f"unterminated statement: {current.strip()[:80]}")
    return statements


class Migrator:
    """Moves a ``Database`` between schema versions."""

    def __init__(self, db: Database, migrations: list[Migration] | None = None):
        self.db = db
        self.migrations = load_migrations() if migrations is None else migrations

    @property
    def head(self) -> int:
        return len(self.migrations)

    @property
    def current_version(self) -> int:
        return self.db.scalar("PRAGMA user_version")

    @property
    def pending(self) -> list[Migration]:
        return self.migrations[self.current_version:]

    def check(self) -> int:
        """Refuse a database we must not touch; returns its version."""
        path = self.db.path
        with self.db.reading() as conn:  # one snapshot: another process may be migrating
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT name FROM sqlite_master "
                                  "WHERE name NOT LIKE 'sqlite_%'").fetchall()
        if app_id not in (0, APPLICATION_ID):
            raise SchemaError(f"{path}: belongs to another application "
                              f"(application_id {app_id:#x}); tradestore will not touch it")
        if version > self.head:
            raise SchemaError(f"{path}: schema version {version} is newer than this tradestore "
                              f"knows ({self.head}); upgrade tradestore")
        if version == 0:
            if tables:
                raise SchemaError(f"{path}: has tables ({', '.join(t[0] for t in tables[:5])}) "
                                  "but no tradestore schema version; refusing to adopt it")
        elif app_id != APPLICATION_ID:
            raise SchemaError(f"{path}: has a schema version but not tradestore's application_id")
        return version

    def _target(self, target) -> int:
        target = self.head if target is None else target
        if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target <= self.head:
            raise MigrationError(f"target: {target!r} is not a version between 0 and {self.head}")
        return target

    def migrate(self, target: int | None = None) -> list[int]:
        """Go up or down to ``target`` (default: the newest); returns the versions passed.

        A new file (version 0) gets every step up to ``target`` in one transaction,
        so no other process ever sees a half-built store; an existing store moves one
        file per transaction."""
        self.check()
        target = self._target(target)
        if self.current_version == 0 and target > 0:
            return self._create(target)
        passed = []
        while True:
            version = self.current_version
            if version == target:
                return passed
            step = self.migrations[version] if version < target else self.migrations[version - 1]
            if self._apply(step, up=version < target):
                passed.append(step.version if version < target else step.version - 1)

    def _create(self, target: int) -> list[int]:
        """Version 0 -> ``target`` and the store's identity in one transaction; [] if
        another process created the store first."""
        with self.db.transaction() as conn:
            if conn.execute("PRAGMA user_version").fetchone()[0] != 0:
                return []
            for migration in self.migrations[:target]:
                self._run(conn, migration, up=True)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            add_store_id(conn)
        return list(range(1, target + 1))

    def _run(self, conn, migration: Migration, *, up: bool) -> None:
        where = f"schema/{migration.filename} ({'up' if up else 'down'})"
        for statement in split_statements(migration.up if up else migration.down):
            try:
                conn.execute(statement)
            except sqlite3.Error as exc:  # raised inside: the transaction rolls back
                raise MigrationError(f"{where} failed in statement: {statement[:200]}: "
                                     f"{translate(exc, self.db.path)}") from exc
        problems = conn.execute("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise MigrationError(f"{where} leaves foreign key violations, "
                                 f"e.g. {tuple(problems[0])}")

    def downgrade_losses(self, target: int) -> dict[str, int]:
        """Rows that going down to ``target`` would drop, per table ({} when none).

        Found by a dry run: the down steps run in one transaction that is rolled
        back, and each table's row count is compared before and after. A table holding
        no more rows than a new store has (rows the migrations seed, such as the default
        account) holds no record and is not counted."""
        target = self._target(target)
        current = self.current_version
        if target >= current:
            return {}
        seeded = self._seeded_rows(current)
        losses: dict[str, int] = {}
        try:
            with self.db.transaction() as conn:
                before = _row_counts(conn)
                for version in range(current, target, -1):
                    self._run(conn, self.migrations[version - 1], up=False)
                after = _row_counts(conn)
                losses = {name: count - after.get(name, 0) for name, count in before.items()
                          if count > after.get(name, 0) and count > seeded.get(name, 0)
                          and name not in NOT_RECORD_TABLES}
                raise _Rollback
        except _Rollback:
            pass
        return losses

    def _seeded_rows(self, version: int) -> dict[str, int]:
        """Rows per table of a new store at ``version`` (what the migrations insert)."""
        scratch = Database(":memory:")
        try:
            with scratch.transaction() as conn:
                for migration in self.migrations[:version]:
                    for statement in split_statements(migration.up):
                        conn.execute(statement)
                return _row_counts(conn)
        finally:
            scratch.close()

    def _apply(self, migration: Migration, *, up: bool) -> bool:
        """Run one block and bump user_version in one transaction; False if another
        process got there first."""
        start, end = (migration.version - 1, migration.version) if up else \
            (migration.version, migration.version - 1)
        with self.db.transaction() as conn:
            if conn.execute("PRAGMA user_version").fetchone()[0] != start:
                return False
            self._run(conn, migration, up=up)
            conn.execute(f"PRAGMA user_version = {end}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID if end else 0}")
        return True


def _row_counts(conn) -> dict[str, int]:
    """Rows per table that belong to the record (see NOT_RECORD_ROWS)."""
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    counts = {}
    for name in names:
        where = f" WHERE NOT ({NOT_RECORD_ROWS[name]})" if name in NOT_RECORD_ROWS else ""
        counts[name] = conn.execute('SELECT count(*) FROM "{}"{}'.format(
            name.replace('"', '""'), where)).fetchone()[0]
    return counts


def add_store_id(conn) -> None:
    """Give the store its identity (a random UUID) unless it has one (or has no
    store_meta table: a schema of someone else's migrations)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'store_meta'").fetchone():
        conn.execute(INSERT_STORE_ID, (str(uuid.uuid4()), ts_in(utc_now())))


def read_store_id(conn) -> str | None:
    """The store's identity, or None (no store_meta yet, or made before identities)."""
    try:
        row = conn.execute(SELECT_STORE_ID).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else row[0]
