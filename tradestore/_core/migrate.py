"""Numbered ``schema/NNNN_name.sql`` files applied through ``PRAGMA user_version``.

Each file has a ``-- migrate:up`` and a ``-- migrate:down`` block. One file runs in
one transaction together with its ``user_version`` bump, so a failure leaves the
database exactly at the previous version. Refusals (newer database, foreign
file, unversioned file with tables, a broken schema folder) happen before
anything is written.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import sqlite3
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from tradestore._core.codec import to_path, ts_in, ts_out, utc_now
from tradestore._core.db import APPLICATION_ID, Database, translate
from tradestore.errors import MigrationError, SchemaError

STORE_ID_KEY = "store_id"
SELECT_STORE_ID = "SELECT value FROM store_meta WHERE key = 'store_id'"
INSERT_STORE_ID = ("INSERT OR IGNORE INTO store_meta (key, value, updated_at) "
                   "VALUES ('store_id', ?, ?)")
# not the record: the store's own facts (its identity) and its log of its own schema
# changes are not counted as data a downgrade loses
NOT_RECORD_TABLES = frozenset({"store_meta", "schema_history"})
NOT_RECORD_ROWS = {"events": "event_type = 'migration'"}


OURS, EXTRA = "tradestore", "extra"  # the two version sequences of a store
# The log of applied migrations (Alembic's history). Kept by the migrator, not by a
# numbered file: it records every step from 0001 on, ours and the user's extra ones,
# and must exist at every version above 0 (it is dropped with the rest at version 0).
CREATE_HISTORY = """
CREATE TABLE IF NOT EXISTS schema_history (
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL CHECK (namespace IN ('tradestore', 'extra')),
    version INTEGER NOT NULL CHECK (version >= 1),
    filename TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('up', 'down')),
    applied_at TEXT CHECK (applied_at IS NULL OR (length(applied_at) = 27
        AND applied_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T*Z')),
    checksum TEXT CHECK (checksum IS NULL OR length(checksum) = 64)
) STRICT
"""
HISTORY_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_history'"
INSERT_HISTORY = ("INSERT INTO schema_history (namespace, version, filename, direction, "
                  "applied_at, checksum) VALUES (?, ?, ?, ?, ?, ?)")
SELECT_HISTORY = ("SELECT version, filename, direction, applied_at, checksum FROM schema_history "
                  "WHERE namespace = ? ORDER BY id")
LAST_STEP = ("SELECT version, direction FROM schema_history WHERE namespace = ? "
             "ORDER BY id DESC LIMIT 1")
HAS_STEPS = "SELECT 1 FROM schema_history WHERE namespace = ? LIMIT 1"
DROP_HISTORY = "DROP TABLE IF EXISTS schema_history"
RELATIVE = re.compile(r"^[+-]\d+$")


@dataclass(frozen=True)
class HistoryEntry:
    """One schema file as ``migrate history`` shows it.

    Attributes:
      version: its number.
      filename: the file's name.
      applied: whether the store is at this version or above.
      applied_at: when its up block last ran (None: not applied, or applied before
        the store kept a log).
      changed: the file differs from the one that was applied (checksums differ).
    """

    version: int
    filename: str
    applied: bool
    applied_at: _dt.datetime | None
    changed: bool = False


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
    checksum: str = field(default="", compare=False)  # SHA-256 of the file's text


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


def parse_migration(filename: str, text: str, folder: str = "schema") -> Migration:
    match = FILE_PATTERN.match(filename)
    if not match:
        raise MigrationError(f"{folder}/{filename}: name must look like 0001_name.sql")
    up = UP_MARK.search(text)
    down = DOWN_MARK.search(text)
    if not up or not down or down.start() < up.end():
        raise MigrationError(f"{folder}/{filename}: needs a '-- migrate:up' block followed by "
                             "a '-- migrate:down' block")
    migration = Migration(int(match.group(1)), filename, text[up.end():down.start()].strip(),
                          text[down.end():].strip(),
                          hashlib.sha256(text.encode("utf-8")).hexdigest())
    for block in (migration.up, migration.down):
        try:
            split_statements(block)
        except MigrationError as exc:
            raise MigrationError(f"{folder}/{filename}: {exc}") from None
    return migration


def load_extra_migrations(folder) -> list[Migration]:
    """A user's own migrations: ``NNNN_name.sql`` files in ``folder`` (same format as
    ours), checked like ours."""
    path = to_path(folder, "extra_migrations")
    if not path.is_dir():
        raise MigrationError(f"extra_migrations: {str(path)!r} is not a folder of "
                             "NNNN_name.sql files")
    try:
        files = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(path.glob("*.sql"))]
    except (OSError, UnicodeDecodeError) as exc:
        raise MigrationError(f"{path}: cannot read the migrations: {exc}") from None
    return load_migrations(files, folder=str(path))


def load_migrations(files=None, folder: str = "schema") -> list[Migration]:
    """All migrations, checked: numbered 1..N with no gap and no duplicate."""
    files = _schema_files() if files is None else files
    migrations = sorted((parse_migration(name, text, folder) for name, text in files
                         if name.endswith(".sql")), key=lambda m: m.version)
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            same = [m.filename for m in migrations if m.version == migration.version]
            problem = (f"duplicate number {migration.version:04d} ({', '.join(same)})"
                       if len(same) > 1 else f"{expected:04d} is missing before {migration.filename}")
            raise MigrationError(f"{folder}/: {problem}")
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
    """Moves a ``Database`` between schema versions.

    ``namespace`` "tradestore" is our sequence (its version in ``PRAGMA user_version``);
    "extra" is a user's own sequence (``TradeRepo(extra_migrations=...)``), applied
    after ours, its version kept in ``schema_history``. Same guarantees for both."""

    def __init__(self, db: Database, migrations: list[Migration] | None = None,
                 namespace: str = OURS):
        self.db = db
        self.migrations = load_migrations() if migrations is None else migrations
        self.namespace = namespace

    @property
    def head(self) -> int:
        return len(self.migrations)

    @property
    def current_version(self) -> int:
        with self.db.reading() as conn:
            return self._version_in(conn)

    def _version_in(self, conn) -> int:
        if self.namespace == OURS:
            return conn.execute("PRAGMA user_version").fetchone()[0]
        if conn.execute(HISTORY_EXISTS).fetchone() is None:
            return 0
        row = conn.execute(LAST_STEP, (self.namespace,)).fetchone()
        return 0 if row is None else row[0] - (row[1] == "down")

    @property
    def pending(self) -> list[Migration]:
        return self.migrations[self.current_version:]

    def check(self) -> int:
        """Refuse a database we must not touch; returns its version."""
        path = self.db.path
        if self.namespace != OURS:
            version = self.current_version
            if version > self.head:
                raise SchemaError(f"{path}: its extra migrations are at version {version}, "
                                  f"newer than the {self.head} in the folder given")
            return version
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

    def resolve(self, target) -> int:
        """An absolute version for ``target``: None or "head" (the newest), a version
        number (int or digits), or a step relative to the current version as a string
        "-N" (down N) or "+N" (up N), as Alembic's ``downgrade -1``."""
        if isinstance(target, str):
            text = target.strip()
            if text.lower() == "head":
                return self.head
            if RELATIVE.match(text):
                current = self.current_version
                absolute = current + int(text)
                if not 0 <= absolute <= self.head:
                    raise MigrationError(
                        f"target: {target!r} from version {current} is {absolute}, not a "
                        f"version between 0 and {self.head}")
                return absolute
            if text.isascii() and text.isdigit():
                return self._target(int(text))
            raise MigrationError(f"target: {target!r} is not a version (0 to {self.head}), "
                                 "'head', or a relative step such as '-1' or '+2'")
        return self._target(target)

    def plan(self, target=None) -> list[tuple[Migration, bool]]:
        """The steps ``migrate(target)`` would run: (migration, up?) in order."""
        target = self._target(target)
        current = self.current_version
        if target >= current:
            return [(m, True) for m in self.migrations[current:target]]
        return [(self.migrations[v - 1], False) for v in range(current, target, -1)]

    def sql(self, target=None) -> str:
        """The SQL ``migrate(target)`` would run, as a script (nothing is run)."""
        current, steps = self.current_version, self.plan(target)
        if not steps:
            return f"-- {self._label()} is at version {current}: nothing to do\n"
        ours = self.namespace == OURS
        created = ours and current == 0
        out = [f"-- {self._label()}: version {current} -> {self._target(target)}"
               + (" (a new store: one transaction)" if created else " (one transaction per file)")]
        if created:
            out.append("BEGIN IMMEDIATE;")
        for migration, up in steps:
            end = migration.version if up else migration.version - 1
            out.append(f"\n-- {migration.filename} ({'up' if up else 'down'}): "
                       f"version {end - 1 if up else end + 1} -> {end}")
            if not created:
                out.append("BEGIN IMMEDIATE;")
            out += [statement if statement.rstrip().endswith(";") else statement + ";"
                    for statement in split_statements(migration.up if up else migration.down)]
            if ours:
                out.append(f"PRAGMA user_version = {end};")
                out.append(f"PRAGMA application_id = {APPLICATION_ID if end else 0};")
            if ours and end == 0:
                out.append(DROP_HISTORY + ";")
            elif not created:
                out.append(f"-- and a row in schema_history: {migration.filename}, "
                           f"{'up' if up else 'down'}, now, sha256 {migration.checksum[:12]}")
            if not created:
                out.append("COMMIT;")
        if created:
            out.append("-- and one row per file in schema_history, and the store's identity")
            out.append("COMMIT;")
        return "\n".join(out) + "\n"

    def _label(self) -> str:
        return "schema" if self.namespace == OURS else "extra migrations"

    def migrate(self, target: int | None = None) -> list[int]:
        """Go up or down to ``target`` (default: the newest); returns the versions passed.

        A new file (version 0) gets every step up to ``target`` in one transaction,
        so no other process ever sees a half-built store; an existing store moves one
        file per transaction."""
        self.check()
        target = self._target(target)
        if self.namespace == OURS and self.current_version == 0 and target > 0:
            return self._create(target)
        if self.namespace == OURS and target == 0 and self.current_version > 0:
            extra = Migrator(self.db, [], namespace=EXTRA).current_version
            if extra:  # version 0 is an empty file: their tables would be left behind
                raise MigrationError(
                    f"{self.db.path}: extra migrations are at version {extra}; take them "
                    "down first (migrate --extra FOLDER --to 0), then ours to 0")
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
            conn.execute(CREATE_HISTORY)
            now = ts_in(utc_now())
            for migration in self.migrations[:target]:
                self._log(conn, migration, True, now)
            add_store_id(conn)
        return list(range(1, target + 1))

    def _log(self, conn, migration: Migration, up: bool, when: str | None) -> None:
        conn.execute(INSERT_HISTORY, (self.namespace, migration.version, migration.filename,
                                      "up" if up else "down", when, migration.checksum or None))

    def ensure_history(self, conn=None) -> bool:
        """Give a store made before the log its ``schema_history``: one row per applied
        version of ours, with ``applied_at`` NULL (when is not known). True if written."""
        if self.namespace != OURS:
            return False
        if conn is None:
            with self.db.reading() as reading:
                if self._version_in(reading) == 0 or (
                        reading.execute(HISTORY_EXISTS).fetchone()
                        and reading.execute(HAS_STEPS, (OURS,)).fetchone()):
                    return False
            with self.db.transaction() as conn:
                return self.ensure_history(conn)
        version = self._version_in(conn)
        if version == 0:
            return False
        conn.execute(CREATE_HISTORY)
        if conn.execute(HAS_STEPS, (OURS,)).fetchone():
            return False
        for migration in self.migrations[:version]:
            conn.execute(INSERT_HISTORY, (OURS, migration.version, migration.filename, "up",
                                          None, None))
        return True

    def _run(self, conn, migration: Migration, *, up: bool) -> None:
        where = f"{'schema' if self.namespace == OURS else 'extra'}/{migration.filename} " \
                f"({'up' if up else 'down'})"
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

    def history(self) -> list[HistoryEntry]:
        """Every file of this sequence: applied or not, when its up block last ran, and
        whether the file changed since (Alembic's ``history``)."""
        with self.db.reading() as conn:
            current = self._version_in(conn)
            rows = (conn.execute(SELECT_HISTORY, (self.namespace,)).fetchall()
                    if conn.execute(HISTORY_EXISTS).fetchone() else [])
        last_up = {}
        for version, _filename, direction, applied_at, checksum in rows:
            if direction == "up":
                last_up[version] = (applied_at, checksum)
        entries = []
        for migration in self.migrations:
            applied = migration.version <= current
            when, checksum = last_up.get(migration.version, (None, None)) if applied \
                else (None, None)
            entries.append(HistoryEntry(migration.version, migration.filename, applied,
                                        ts_out(when) if when else None,
                                        bool(checksum and migration.checksum
                                             and checksum != migration.checksum)))
        return entries

    def log(self) -> list[tuple]:
        """Every step the log holds, oldest first: (version, filename, direction,
        applied_at or None, checksum or None)."""
        with self.db.reading() as conn:
            if not conn.execute(HISTORY_EXISTS).fetchone():
                return []
            return [(v, f, d, ts_out(a) if a else None, c)
                    for v, f, d, a, c in conn.execute(SELECT_HISTORY, (self.namespace,))]

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
        seeded = self._seeded_rows(current) if self.namespace == OURS else {}
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
        """Run one block, bump the version and log the step in one transaction; False
        if another process got there first."""
        start, end = (migration.version - 1, migration.version) if up else \
            (migration.version, migration.version - 1)
        ours = self.namespace == OURS
        with self.db.transaction() as conn:
            if self._version_in(conn) != start:
                return False
            if ours:
                self.ensure_history(conn)  # a store from before the log: its rows first
            else:
                conn.execute(CREATE_HISTORY)
            self._run(conn, migration, up=up)
            if ours:
                conn.execute(f"PRAGMA user_version = {end}")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID if end else 0}")
            if ours and end == 0:
                conn.execute(DROP_HISTORY)  # version 0 is an empty file
            else:
                self._log(conn, migration, up, ts_in(utc_now()))
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


SELECT_META = "SELECT value FROM store_meta WHERE key = ?"
WRITE_META = """
INSERT INTO store_meta (key, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
"""


def write_meta(conn, key: str, value: str, now: str) -> None:
    """One fact about the store under ``key`` (e.g. the demo's marker), replacing it."""
    conn.execute(WRITE_META, (key, value, now))


def read_meta(conn, key: str) -> str | None:
    """The fact stored under ``key``, or None."""
    row = conn.execute(SELECT_META, (key,)).fetchone()
    return None if row is None else row[0]
