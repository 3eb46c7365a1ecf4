"""One error hierarchy, so a caller can catch ``StoreError`` and never see raw sqlite3."""

from __future__ import annotations

import copy
from typing import Any


class StoreError(Exception):
    """Base of every error tradestore raises on purpose.

    Attributes:
      index: the failing row's position (from 0) in a bulk call (``save_many``,
        ``record_many``, an import's chunk); None for a single call or an error of no
        one row.
      detail: the message without the "row N: " a bulk call puts before it (the
        message itself when it has none), for callers that name the row their own way
        (an import names the file's line).
    """

    index: int | None = None
    _detail: str | None = None  # set by in_row

    @property
    def detail(self) -> str:
        return self._detail if self._detail is not None else str(self)

    def in_row(self, index: int, label: str = "row") -> StoreError:
        """This error as row ``index``'s of a bulk call: "row N: " (``label``) before its
        message, its type and other attributes kept."""
        error = copy.copy(self)
        error.args = (f"{label} {index}: {self}",)
        error.index, error._detail = index, str(self)
        return error


class ValidationError(StoreError, ValueError):
    """A value given by the caller is not allowed; nothing was written.

    Attributes:
      field: the name (or path) of the offending field, when known.
      value: the offending value.
      index, detail: as StoreError's (the row of a bulk call).
    """

    def __init__(self, message: str, *, field: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class SchemaError(StoreError):
    """The database's schema is not one this code can use (newer, foreign, behind)."""


class MigrationError(StoreError):
    """A migration file failed or the schema folder is inconsistent."""


class NotFoundError(StoreError, LookupError):
    """The thing asked for does not exist."""


class ConflictError(StoreError):
    """The write contradicts what is stored (overfill, illegal transition, duplicate)."""


class StateCorruptionError(StoreError):
    """A stored bot state fails its checksum.

    Attributes:
      version: the version that failed.
      bot: the bot it belongs to.
    """

    def __init__(self, message: str, *, version: int | None = None,
                 bot: str | None = None) -> None:
        super().__init__(message)
        self.version = version
        self.bot = bot


class ArtifactIntegrityError(StoreError):
    """An artifact file does not match the checksum recorded in the catalog."""


class DatabaseBusyError(StoreError):
    """Another process held the database past the busy timeout."""


class DiskFullError(StoreError):
    """The disk (or the page budget) ran out; the database is unchanged."""


class DatabaseError(StoreError):
    """SQLite reported a problem with the file itself (not a database, corrupt, unreadable)."""


class ReadOnlyError(StoreError):
    """A write was attempted on a store opened read-only or a file that cannot be written."""
