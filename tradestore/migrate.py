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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .db import APPLICATION_ID, Database, translate
from .errors import MigrationError, SchemaError

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

    def migrate(self, target: int | None = None) -> list[int]:
        """Go up or down to ``target`` (default: the newest); returns the versions passed."""
        self.check()
        target = self.head if target is None else target
        if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target <= self.head:
            raise MigrationError(f"target: {target!r} is not a version between 0 and {self.head}")
        passed = []
        while True:
            version = self.current_version
            if version == target:
                return passed
            step = self.migrations[version] if version < target else self.migrations[version - 1]
            if self._apply(step, up=version < target):
                passed.append(step.version if version < target else step.version - 1)

    def _apply(self, migration: Migration, *, up: bool) -> bool:
        """Run one block and bump user_version in one transaction; False if another
        process got there first."""
        start, end = (migration.version - 1, migration.version) if up else \
            (migration.version, migration.version - 1)
        where = f"schema/{migration.filename} ({'up' if up else 'down'})"
        with self.db.transaction() as conn:
            if conn.execute("PRAGMA user_version").fetchone()[0] != start:
                return False
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
            conn.execute(f"PRAGMA user_version = {end}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID if end else 0}")
        return True
