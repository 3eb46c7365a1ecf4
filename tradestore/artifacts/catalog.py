"""ML artifacts: versioned files with a verified checksum, and training metrics.

Files live under ``base_path`` as ``<name>/<version>_<token>.<ext>``; the catalog
(size, SHA-256, metadata) lives in a store. A save writes a temporary file, fsyncs
it, renames it to a name no other save uses, fsyncs the folder, and only then
commits the catalog row; an overwritten or deleted artifact loses its row first
and its file after. So a kill at any moment leaves the old catalog or the new one,
each row naming a complete file; at worst a file without a row (an orphan) is
left, which ``verify()`` reports and ``verify(repair=True)`` removes.

Every load reads the whole file, checks its size and SHA-256 against the catalog,
and only then unpickles those same bytes: a changed file is never unpickled.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import numbers
import os
import pickle
import re
import secrets
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping, Sequence

from tradestore._core.codec import (is_int, json_object_in, json_out, optional_int,
                                    optional_utc, show, to_choice, to_int, to_path, to_text,
                                    to_utc, ts_in, ts_out)
from tradestore._core.files import fsync_dir
from tradestore._core.hints import Days, JSONObject, Moment, PathLike
from tradestore._core.pg import per_engine
from tradestore.artifacts.backup import ArtifactRestore, backup, restore
from tradestore.errors import (ArtifactIntegrityError, ConflictError, DiskFullError, NotFoundError,
                               ReadOnlyError, StoreError, ValidationError)
from tradestore.repo import TradeRepo

try:  # advisory locks tell repair which files a live save still owns (POSIX)
    import fcntl
except ImportError:  # pragma: no cover - Windows: repair cannot see live saves
    fcntl = None  # type: ignore[assignment]  # no fcntl on Windows: callers test for None

CATALOG_NAME = "catalog.db"
# In base_path: the store_id of every catalog that has saved into the folder, one a line.
# repair removes orphans only in a folder no other store uses (its orphans may be theirs).
STORES_NAME = ".tradestore-stores"
MAX_NAME, MAX_VERSION = 128, 64
MATCH_NOTHING = ".^"  # a regex no text matches: a character before the start
CHUNK = 1 << 20
KINDS = ("model", "dataset", "file")
SERIALIZERS = {"PICKLE": "pkl", "BYTES": "bin"}
_WORD = r"[A-Za-z0-9][A-Za-z0-9._+=@-]*"
_WORD_RE = re.compile(_WORD)
_OUR_FILE = re.compile(rf"(\.tmp-)?({_WORD})_[0-9a-f]{{16}}\.[A-Za-z0-9]{{1,16}}")
_NUMERIC = re.compile(r"[vV]?([0-9]{1,18}(?:\.[0-9]{1,18})*)")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

COLUMNS = ("id, name, version, kind, serializer, relpath, size, sha256, metadata, created_at, "
           "updated_at")
SELECT_ALL = f"SELECT {COLUMNS} FROM artifacts ORDER BY name, id"
SELECT_GLOB = f"SELECT {COLUMNS} FROM artifacts WHERE name GLOB :glob ORDER BY name, id"
# PostgreSQL has no GLOB: the same match as a regular expression (glob_regex)
SELECT_GLOB = per_engine(SELECT_GLOB, f"SELECT {COLUMNS} FROM artifacts WHERE name ~ :regex "
                                      "ORDER BY name, id")
SELECT_NAME = f"SELECT {COLUMNS} FROM artifacts WHERE name = ?"
SELECT_SLOT = f"SELECT {COLUMNS} FROM artifacts WHERE name = ? AND version = ?"
SELECT_BY_ID = f"SELECT {COLUMNS} FROM artifacts WHERE id = ?"
SELECT_KIND = "SELECT kind FROM artifacts WHERE name = ? LIMIT 1"
SELECT_RELPATH = "SELECT 1 FROM artifacts WHERE relpath = ?"
INSERT_ARTIFACT = """
INSERT INTO artifacts (name, version, kind, serializer, relpath, size, sha256, metadata,
                       created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
UPDATE_ARTIFACT = """
UPDATE artifacts SET serializer = ?, relpath = ?, size = ?, sha256 = ?, metadata = ?, updated_at = ?
WHERE id = ?
"""
DELETE_ARTIFACT = "DELETE FROM artifacts WHERE id = ?"

INSERT_METRIC = """
INSERT INTO metrics (experiment_id, metric_name, value, step, timestamp, created_at)
VALUES (?, ?, ?, ?, ?, ?)
"""
METRIC_HISTORY = """
SELECT timestamp, value, step FROM metrics WHERE experiment_id = ? AND metric_name = ?
ORDER BY timestamp, step, id
"""
LIST_EXPERIMENTS = """
SELECT experiment_id FROM metrics GROUP BY experiment_id ORDER BY min(timestamp), experiment_id
"""
# The best value comes from the (metric_name, value) index; ties go to the earliest point.
BEST_RUN = {
    "MIN": """SELECT experiment_id, value, step, timestamp FROM metrics
              WHERE metric_name = :name
                AND value = (SELECT min(value) FROM metrics WHERE metric_name = :name)
              ORDER BY timestamp, id LIMIT 1""",
    "MAX": """SELECT experiment_id, value, step, timestamp FROM metrics
              WHERE metric_name = :name
                AND value = (SELECT max(value) FROM metrics WHERE metric_name = :name)
              ORDER BY timestamp, id LIMIT 1""",
}


@dataclass(frozen=True)
class ArtifactInfo:
    """One cataloged artifact.

    Attributes:
      id: the catalog id (text), stable across overwrites of the same name and version.
      name, version: what it was saved as.
      kind: "model", "dataset" or "file".
      serializer: "pickle" or "bytes" (stored as given).
      size: bytes on disk when saved.
      sha256: hex SHA-256 of the file when saved.
      created_at: first save of this name and version (aware UTC).
      updated_at: the save that wrote the current file (equals created_at unless overwritten).
      metadata: the caller's JSON object.
      path: absolute path of the file (not verified; load_* verifies).
    """

    id: str
    name: str
    version: str
    kind: str
    serializer: str
    size: int
    sha256: str
    created_at: datetime
    updated_at: datetime
    metadata: dict
    path: Path

    @classmethod
    def from_row(cls, row: Sequence[Any], base_path: Path) -> ArtifactInfo:
        """The record of one catalog row (stored text decoded); its file is under
        ``base_path``, the artifacts folder."""
        return cls(str(row[0]), row[1], row[2], row[3], row[4], row[6], row[7],
                   ts_out(row[9]), ts_out(row[10]), json_out(row[8]), base_path / row[5])


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify()`` found.

    Attributes:
      checked: catalog rows whose file was rehashed.
      missing: rows whose file is gone (or not a regular file).
      changed: rows whose file has another size or SHA-256.
      orphans: relative paths of files we wrote that no row names (interrupted saves,
        leftovers of overwrite/cleanup); repair removes them.
      removed: the orphans that repair removed.
      foreign: files under base_path that tradestore did not write; never touched.
      shared_with: ids of the other stores that save into base_path (STORES_NAME): their
        files show as orphans here, and repair is refused.
    """

    checked: int
    missing: tuple
    changed: tuple
    orphans: tuple
    removed: tuple
    foreign: tuple
    shared_with: tuple = ()

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or set(self.orphans) - set(self.removed))


class MetricPoint(tuple):
    """One point of a metric history: unpacks as ``(timestamp, value)``; ``.step`` too."""

    step: int | None

    def __new__(cls, timestamp, value, step=None):
        point = super().__new__(cls, (timestamp, value))
        point.step = step
        return point

    timestamp = property(lambda self: self[0])
    value = property(lambda self: self[1])

    def __repr__(self) -> str:
        return f"MetricPoint({self[0].isoformat()}, {show(self[1])}, step={show(self.step)})"


def version_key(version: str) -> tuple:
    """Sort key: numeric-looking versions ("1.10.0", "v2") by their numbers, after
    every other version; trailing zeros do not count ("1.2" == "1.2.0")."""
    match = _NUMERIC.fullmatch(version)
    if not match:
        return (0, ())
    parts = [int(p) for p in match.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return (1, tuple(parts))


def check_word(value: str | int, field: str, max_length: int) -> str:
    """A name or version that is safe as one file-name component, or ValidationError."""
    if is_int(value):
        value = str(value)
    if (not isinstance(value, str) or not 1 <= len(value) <= max_length
            or not _WORD_RE.fullmatch(value) or ".." in value):
        raise ValidationError(
            f"{field}: {show(value)} is not allowed (1-{max_length} characters: letters, digits and "
            "'._+=@-', starting with a letter or digit, no '..')", field=field, value=value)
    return value


def glob_regex(pattern: str) -> str:
    """SQLite's GLOB ``pattern`` as a regular expression that PostgreSQL's ``~`` (and
    Python's ``re``) match the same way: ``*`` any text, ``?`` one character, ``[...]`` a
    set (``^`` first negates it, ``]`` first is itself, ``a-z`` a range of code points),
    anything else itself, case kept; an unclosed ``[`` matches nothing, as in SQLite."""
    parts, i = ["^"], 0
    while i < len(pattern):
        char, i = pattern[i], i + 1
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        elif char == "[":
            found = _glob_set(pattern, i)
            if found is None:
                return MATCH_NOTHING
            piece, i = found
            parts.append(piece)
        else:
            parts.append(_regex_char(char))
    return "".join(parts) + "$"


def _glob_set(pattern: str, i: int) -> tuple[str, int] | None:
    """The set whose "[" is just before ``pattern[i]`` as a regex class, and the index after
    its "]" (None when it is not closed); items read as SQLite's patternCompare does."""
    negate = pattern.startswith("^", i)
    i += negate
    items, prior = [], None  # prior: the last single item, which a "-" makes a range start
    if pattern.startswith("]", i):
        items.append(_regex_char("]"))
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        char = pattern[i]
        if char == "-" and prior is not None and i + 1 < len(pattern) and pattern[i + 1] != "]":
            if prior <= pattern[i + 1]:  # a reversed range is empty (its start still counts)
                items[-1] = f"{items[-1]}-{_regex_char(pattern[i + 1])}"
            prior, i = None, i + 2
        else:
            items.append(_regex_char(char))
            prior, i = char, i + 1
    if i >= len(pattern):
        return None
    return f"[{'^' if negate else ''}{''.join(items)}]", i + 1


def _regex_char(char: str) -> str:
    """``char`` itself in a regex: ASCII letters and digits as they are, any other by its
    code point (\\U, read alike by PostgreSQL and Python, in a class or out of one)."""
    return char if char.isascii() and char.isalnum() else f"\\U{ord(char):08x}"


@contextlib.contextmanager
def _os_errors(what):
    """OSError -> our error, naming the file."""
    try:
        yield
    except OSError as exc:
        text = f"{what}: {exc.strerror or exc}"
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            raise DiskFullError(text) from exc
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise ReadOnlyError(text) from exc
        raise StoreError(text) from exc


def _try_lock(fd) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _write_all(fd, chunks) -> tuple[int, str]:
    size, digest = 0, hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]
    return size, digest.hexdigest()


def _buffer_chunks(data):
    view = memoryview(data).cast("B")
    for start in range(0, len(view), CHUNK):
        yield view[start:start + CHUNK]


def _file_chunks(path: Path):
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


class ArtifactManager:
    """``ArtifactManager("artifacts/")``: versioned models, datasets and files with
    verified checksums, plus training metrics.

    The catalog lives in ``repo``'s database when given (one ``base_path`` per
    catalog), otherwise in a store at ``base_path/catalog.db`` that this manager
    opens, migrates and closes (``close()`` or ``with``).
    """

    def __init__(self, base_path: PathLike = "artifacts/", *,
                 repo: TradeRepo | None = None) -> None:
        self.base_path = to_path(base_path, "base_path").absolute()
        self._owns_repo = repo is None
        if repo is None:
            self._make_dir(self.base_path)
            repo = TradeRepo(self.base_path / CATALOG_NAME)
        self.repo = repo
        self.db = repo.db
        self._claimed = False  # this store's id is in the folder's STORES_NAME

    def close(self) -> None:
        if self._owns_repo:
            self.repo.close()

    def __enter__(self) -> ArtifactManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ArtifactManager({str(self.base_path)!r}, catalog={show(self.db.path)})"

    # ------------------------------------------------------------ saving
    def save_model(self, model: Any, name: str, version: str | int, metadata: JSONObject | None = None,
                   *, serializer: str = "pickle", overwrite: bool = False) -> str:
        """Pickle ``model`` (or store bytes as given: ``serializer="bytes"``); returns the id."""
        serializer = to_choice(serializer, "serializer", SERIALIZERS)
        if serializer == "PICKLE":
            try:
                data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                raise ValidationError(f"model: a {type(model).__name__} cannot be pickled "
                                      f"({exc})", field="model", value=type(model).__name__) from exc
        else:
            data = self._bytes_of(model, "model")
        return self._save("model", serializer.lower(), name, version, metadata, overwrite,
                          _buffer_chunks(data), SERIALIZERS[serializer])

    def save_dataset(self, data: bytes | bytearray | memoryview | PathLike, name: str,
                     version: str | int, metadata: JSONObject | None = None, *,
                     overwrite: bool = False) -> str:
        """Store bytes, or copy the file at a path (str or PathLike), as a dataset."""
        if isinstance(data, (str, os.PathLike)):
            return self._save_path("dataset", name, version, data, metadata, overwrite)
        return self._save("dataset", "bytes", name, version, metadata, overwrite,
                          _buffer_chunks(self._bytes_of(data, "data")), "bin")

    def save_file(self, name: str, version: str | int, path: PathLike,
                  metadata: JSONObject | None = None, *, overwrite: bool = False) -> str:
        """Copy any file into the store (its suffix is kept when it is a plain word)."""
        return self._save_path("file", name, version, path, metadata, overwrite)

    def _save_path(self, kind, name, version, path, metadata, overwrite) -> str:
        if not isinstance(path, (str, os.PathLike)):
            raise ValidationError(f"path: {show(path)} must be a file path", field="path", value=path)
        source = Path(path)
        if not source.is_file():
            raise ValidationError(f"path: {str(source)!r} is not a readable regular file",
                                  field="path", value=str(source))
        suffix = source.suffix[1:]
        ext = suffix if re.fullmatch(r"[A-Za-z0-9]{1,16}", suffix) else "bin"
        return self._save(kind, "bytes", name, version, metadata, overwrite,
                          _file_chunks(source), ext)

    @staticmethod
    def _bytes_of(data, field):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValidationError(f"{field}: a {type(data).__name__} is not bytes (the 'bytes' "
                                  "serializer stores bytes, bytearray or memoryview as given)",
                                  field=field, value=type(data).__name__)
        return data

    def _save(self, kind, serializer, name, version, metadata, overwrite, chunks, ext) -> str:
        name = check_word(name, "name", MAX_NAME)
        version = check_word(version, "version", MAX_VERSION)
        meta = json_object_in({} if metadata is None else metadata, "metadata")
        if self.db.readonly:
            raise ReadOnlyError(f"{self.db.path}: the catalog was opened read-only")
        with self.db.reading() as conn:  # fail early, before writing the file
            self._claim(conn, kind, name, version, overwrite)
        folder = self.base_path / name
        self._make_dir(self.base_path)
        self._make_dir(folder)
        filename = f"{version}_{secrets.token_hex(8)}.{ext}"
        temp, final = folder / f".tmp-{filename}", folder / filename
        with _os_errors(temp):
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
        try:  # the lock, held until the row is committed, keeps repair off this file
            _try_lock(fd)
            with _os_errors(temp):
                size, sha = _write_all(fd, chunks)
                os.fsync(fd)
                os.rename(temp, final)
            fsync_dir(folder)
            try:
                with self.db.lock:
                    nested = self.db.conn.in_transaction
                    with self.db.transaction() as conn:
                        row = self._claim(conn, kind, name, version, overwrite)
                        now = ts_in(self.db.now())
                        relpath = f"{name}/{filename}"
                        if row is None:
                            artifact_id = conn.execute(INSERT_ARTIFACT, (
                                name, version, kind, serializer, relpath, size, sha, meta,
                                now, now)).lastrowid
                        else:
                            artifact_id = row[0]
                            conn.execute(UPDATE_ARTIFACT, (serializer, relpath, size, sha, meta,
                                                           now, artifact_id))
            except BaseException:
                with contextlib.suppress(OSError):
                    final.unlink()
                raise
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        finally:
            os.close(fd)
        if row is not None and not nested:  # inside a caller's transaction: left as an orphan
            self._unlink(row[5])
        return str(artifact_id)

    @staticmethod
    def _claim(conn, kind, name, version, overwrite):
        """The existing row for (name, version) if it may be replaced; raises otherwise."""
        stored_kind = conn.execute(SELECT_KIND, (name,)).fetchone()
        if stored_kind and stored_kind[0] != kind:
            raise ConflictError(f"name {show(name)} holds {stored_kind[0]} artifacts; save the "
                                f"{kind} under another name")
        row = conn.execute(SELECT_SLOT, (name, version)).fetchone()
        if row is not None and not overwrite:
            raise ConflictError(f"{name} {version} already exists (pass overwrite=True to "
                                "replace it)")
        return row

    def _make_dir(self, path: Path) -> None:
        with _os_errors(path):
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                path.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    os.mkdir(path, 0o700)
                fsync_dir(path.parent)
                mode = stat.S_IFDIR
            if path != self.base_path and not stat.S_ISDIR(mode):
                raise ArtifactIntegrityError(f"{path}: is not a folder (a symlink or file "
                                             "was put where tradestore keeps artifacts)")
        if path.parent == self.base_path:  # a file is about to be written: the folder is ours too
            self._claim_folder()

    def _stores(self) -> list[str] | None:
        """The store ids in the folder's STORES_NAME (None when it has none)."""
        try:
            with open(self.base_path / STORES_NAME, encoding="utf-8") as handle:
                return [line.strip() for line in handle if line.strip()]
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ArtifactIntegrityError(f"{self.base_path / STORES_NAME}: cannot be read "
                                         f"({exc})") from None

    def _claim_folder(self) -> None:
        """Add this store's id to STORES_NAME once (an append of one line: two stores
        claiming at once both stay listed)."""
        store_id = self.repo.store_id
        if self._claimed or store_id is None or store_id in (self._stores() or []):
            self._claimed = True
            return
        path = self.base_path / STORES_NAME
        with _os_errors(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NOFOLLOW | _CLOEXEC,
                         0o600)
            try:
                os.write(fd, f"{store_id}\n".encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        self._claimed = True

    def _check_repair(self, ours: list[str], cataloged: set[str]) -> None:
        """Refuse repair where an orphan may be another store's file: the folder lists
        another store, or (a folder from before STORES_NAME) holds our kind of files but
        none of this catalog's."""
        mine = self.repo.store_id
        stores = self._stores()
        if stores is None:
            if ours and not cataloged & set(ours):
                raise ConflictError(
                    f"{self.base_path}: repair refused: none of its files is in this catalog "
                    f"(store {mine}) and the folder does not say which store wrote them "
                    f"({STORES_NAME} is missing); they may be another store's. Give each store "
                    "its own artifacts folder (--base-path)")
            self._claim_folder()
            return
        others = [s for s in stores if s != mine]
        if others:
            raise ConflictError(
                f"{self.base_path}: repair refused: the folder is used by store "
                f"{', '.join(others)} as well as this catalog's store {mine} "
                f"({STORES_NAME}), so an orphan there may be the other store's file. "
                "Give each store its own artifacts folder (--base-path)")

    def _unlink(self, relpath: str) -> None:
        path = self.base_path / relpath
        with _os_errors(path), contextlib.suppress(FileNotFoundError):
            path.unlink()
            fsync_dir(path.parent)

    # ------------------------------------------------------------ backups (issue 20.6)
    def backup(self, dest: PathLike, *, keep: int | None = None) -> Path:
        """Copy the catalog and every artifact file, each verified by SHA-256, into a new
        folder ``dest/artifacts-<UTC stamp>/``; ``keep=N`` then deletes all but the newest
        N backups of this catalog in ``dest``. Returns the folder (tradestore.artifacts.backup)."""
        return backup(self, dest, keep=keep)

    def restore(self, backup_folder: PathLike, *, overwrite: bool = False) -> ArtifactRestore:
        """Verify a backup, put back its files that are missing or damaged here (verified
        after writing), then their catalog rows; returns an ArtifactRestore."""
        return restore(self, backup_folder, overwrite=overwrite)

    # ------------------------------------------------------------ loading
    def load_model(self, name: str, version: str | int | None = None) -> tuple[object, dict]:
        """(model, metadata) of a version (default: the latest), verified before unpickling."""
        info, data = self._load(name, version, "model")
        if info.serializer != "pickle":
            return data, info.metadata
        try:
            return pickle.loads(data), info.metadata
        except Exception as exc:
            raise StoreError(f"{info.name} {info.version}: the file is intact but could not "
                             f"be unpickled here: {show(exc)}") from exc

    def load_dataset(self, name: str, version: str | int | None = None) -> tuple[bytes, dict]:
        info, data = self._load(name, version, "dataset")
        return data, info.metadata

    def load_file(self, name: str, version: str | int | None = None) -> tuple[bytes, dict]:
        info, data = self._load(name, version, "file")
        return data, info.metadata

    def get_artifact(self, name: str, version: str | int | None = None) -> ArtifactInfo:
        """The catalog entry of a version (default: the latest); NotFoundError if none."""
        name = check_word(name, "name", MAX_NAME)
        if version is None:
            rows = self.db.query(SELECT_NAME, (name,))
            if not rows:
                raise NotFoundError(f"no artifact named {show(name)}")
            return ArtifactInfo.from_row(max(rows, key=self._order), self.base_path)
        version = check_word(version, "version", MAX_VERSION)
        row = self.db.query_one(SELECT_SLOT, (name, version))
        if row is None:
            raise NotFoundError(f"no artifact {show(name)} version {show(version)}")
        return ArtifactInfo.from_row(row, self.base_path)

    def _load(self, name, version, kind):
        for _ in range(3):  # a concurrent overwrite may move the file once we read the row
            info = self.get_artifact(name, version)
            if info.kind != kind:
                raise NotFoundError(f"{info.name} {info.version} is a {info.kind}, not a {kind} "
                                    f"(use load_{info.kind})")
            try:
                return info, self._read_verified(info)
            except FileNotFoundError:
                again = self.get_artifact(name, info.version)
                if (again.path, again.sha256) == (info.path, info.sha256):
                    raise ArtifactIntegrityError(f"{info.name} {info.version}: file {info.path} "
                                                 "is missing") from None
        raise ArtifactIntegrityError(f"{name} {version}: the file kept changing while loading")

    def _read_verified(self, info: ArtifactInfo) -> bytes:
        """The file's bytes, if they have the cataloged size and SHA-256."""
        label = f"{info.name} {info.version} ({info.path})"
        if not os.path.realpath(info.path).startswith(os.path.realpath(self.base_path) + os.sep):
            raise ArtifactIntegrityError(f"{label}: resolves outside {self.base_path}")
        try:
            fd = os.open(info.path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise ArtifactIntegrityError(f"{label}: cannot be opened as a regular file "
                                         f"({exc.strerror})") from None
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ArtifactIntegrityError(f"{label}: is not a regular file")
            data = handle.read(info.size + 1)
        if len(data) != info.size:
            raise ArtifactIntegrityError(f"{label}: size {len(data)} differs from the catalog's "
                                         f"{info.size}; refusing to load it")
        digest = hashlib.sha256(data).hexdigest()
        if digest != info.sha256:
            raise ArtifactIntegrityError(f"{label}: SHA-256 {digest} differs from the catalog's "
                                         f"{info.sha256}; refusing to load it")
        return data

    # ------------------------------------------------------------ catalog
    def list_artifacts(self, name_pattern: str | None = None) -> list[ArtifactInfo]:
        """Every artifact (or those whose name matches a glob), by name then version order."""
        if name_pattern is None:
            rows = self.db.query(SELECT_ALL)
        else:
            pattern = to_text(name_pattern, "name_pattern")
            rows = self.db.query(SELECT_GLOB, {"glob": pattern, "regex": glob_regex(pattern)})
        rows.sort(key=lambda r: (r[1], self._order(r)))
        return [ArtifactInfo.from_row(r, self.base_path) for r in rows]

    def delete_artifact(self, name: str, version: str | int) -> None:
        """Forget one version and remove its file (row first, then file)."""
        info = self.get_artifact(name, check_word(version, "version", MAX_VERSION))
        self._delete([info])

    def cleanup_old_artifacts(self, retention_days: Days = 30, *, keep_latest: int = 1,
                              now: Moment | None = None, dry_run: bool = False) -> int:
        """Delete versions saved more than ``retention_days`` ago, except the newest
        ``keep_latest`` of each name (in version order); returns how many (would) go."""
        if (isinstance(retention_days, bool) or not isinstance(retention_days, (int, float))
                or not math.isfinite(retention_days) or retention_days < 0):
            raise ValidationError(f"retention_days: {show(retention_days)} must be a number >= 0",
                                  field="retention_days", value=retention_days)
        keep_latest = to_int(keep_latest, "keep_latest", allowed="an integer >= 0")
        cutoff = ts_in((optional_utc(now, "now") or self.db.now()) - timedelta(days=retention_days))
        by_name: dict[str, list] = {}
        for row in self.db.query(SELECT_ALL):
            by_name.setdefault(row[1], []).append(row)
        doomed = []
        for rows in by_name.values():
            rows.sort(key=self._order, reverse=True)
            doomed += [ArtifactInfo.from_row(r, self.base_path) for r in rows[keep_latest:]
                       if r[10] < cutoff]
        if not dry_run:
            self._delete(doomed)
        return len(doomed)

    def _delete(self, infos) -> None:
        with self.db.lock:
            nested = self.db.conn.in_transaction
            with self.db.transaction() as conn:
                for info in infos:
                    conn.execute(DELETE_ARTIFACT, (int(info.id),))
        if not nested:  # inside a caller's transaction the files stay, as orphans
            for info in infos:
                self._unlink(info.path.relative_to(self.base_path).as_posix())

    @staticmethod
    def _order(row) -> tuple:
        return version_key(row[2]) + (row[10], row[0])

    # ------------------------------------------------------------ verify
    def verify(self, *, repair: bool = False) -> VerifyReport:
        """Rehash every cataloged file; find orphans. ``repair=True`` removes orphans
        (never a cataloged file, never a file a live save holds, never a foreign file);
        missing and changed files stay reported until someone deletes or re-saves them."""
        ours, foreign = self._scan()
        missing: list[ArtifactInfo] = []
        changed: list[ArtifactInfo] = []
        rows = self.db.query(SELECT_ALL)
        for row in rows:
            problem = self._problem(ArtifactInfo.from_row(row, self.base_path))
            if problem:  # a concurrent overwrite or delete is not a problem: look again
                again = self.db.query_one(SELECT_BY_ID, (row[0],))
                now = None if again is None else ArtifactInfo.from_row(again, self.base_path)
                if now is None or (again != row and not self._problem(now)):
                    continue
                (missing if problem == "missing" else changed).append(now)
        cataloged = {row[5] for row in rows}
        if repair:
            self._check_repair(ours, cataloged)
        orphans = [p for p in ours if p not in cataloged and not self._busy(p)]
        removed = self._remove_orphans(orphans) if repair and orphans else []
        mine = self.repo.store_id
        others = tuple(s for s in self._stores() or () if s != mine)
        return VerifyReport(len(rows), tuple(missing), tuple(changed), tuple(orphans),
                            tuple(removed), tuple(foreign), others)

    def _problem(self, info: ArtifactInfo) -> str | None:
        """None if the file has the cataloged size and SHA-256; else "missing" or "changed"."""
        if not os.path.realpath(info.path).startswith(os.path.realpath(self.base_path) + os.sep):
            return "changed"
        try:
            fd = os.open(info.path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        except FileNotFoundError:
            return "missing"
        except OSError:
            return "changed"  # e.g. a symlink put in its place
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return "changed"
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return None if (size, digest.hexdigest()) == (info.size, info.sha256) else "changed"

    def _scan(self) -> tuple[list[str], list[str]]:
        """(our files, foreign files) under base_path as relative posix paths."""
        ours: list[str] = []
        foreign: list[str] = []
        skip = {os.path.realpath(self.db.path) + s for s in ("", "-wal", "-shm", "-journal")}
        skip.add(os.path.realpath(self.base_path / STORES_NAME))
        for root, dirs, files in os.walk(self.base_path):
            rel_root = Path(root).relative_to(self.base_path)
            for entry in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                full = os.path.join(root, entry)
                if os.path.realpath(full) in skip and not os.path.islink(full):
                    continue
                rel = (rel_root / entry).as_posix()
                mine = (len(rel_root.parts) == 1 and _WORD_RE.fullmatch(rel_root.parts[0])
                        and _OUR_FILE.fullmatch(entry) and not os.path.islink(full))
                (ours if mine else foreign).append(rel)
        return sorted(ours), sorted(foreign)

    def _busy(self, relpath: str) -> bool:
        """True while a live save holds the file's lock."""
        try:
            fd = os.open(self.base_path / relpath, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        except OSError:
            return False
        try:
            return not _try_lock(fd)
        finally:
            os.close(fd)

    def _remove_orphans(self, candidates) -> list:
        removed = []
        with self.db.transaction() as conn:  # no save is between its rename and its commit
            for relpath in candidates:
                path = self.base_path / relpath
                try:
                    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
                except FileNotFoundError:
                    continue
                try:
                    if not _try_lock(fd) or conn.execute(SELECT_RELPATH, (relpath,)).fetchone():
                        continue
                    with _os_errors(path):
                        path.unlink()
                    removed.append(relpath)
                finally:
                    os.close(fd)
        for folder in {(self.base_path / r).parent for r in removed}:
            fsync_dir(folder)
        return removed

    # ------------------------------------------------------------ metrics
    def save_metrics(self, experiment_id: str, metrics: Mapping[str, float], *, step: int | None = None,
                     timestamp: Moment | None = None) -> int:
        """Record ``{metric_name: value}`` for an experiment at one point; returns the count."""
        experiment_id = to_text(experiment_id, "experiment_id")
        if not isinstance(metrics, dict) or not metrics:
            raise ValidationError(f"metrics: {show(metrics)} must be a non-empty dict of name -> "
                                  "number", field="metrics", value=metrics)
        step = optional_int(step, "step", allowed="an integer >= 0 or None")
        moment = ts_in(to_utc(timestamp, "timestamp") if timestamp is not None else self.db.now())
        now = ts_in(self.db.now())
        rows = [(experiment_id, to_text(name, "metric_name"), self._metric(value, name), step,
                 moment, now) for name, value in metrics.items()]
        with self.db.transaction() as conn:
            conn.executemany(INSERT_METRIC, rows)
        return len(rows)

    @staticmethod
    def _metric(value, name) -> float:
        field = f"metrics[{show(name)}]"
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, Decimal)):
            raise ValidationError(f"{field}: {show(value)} is not a real number", field=field,
                                  value=value)
        try:
            number = float(value)
        except (OverflowError, ValueError):
            number = math.inf
        if not math.isfinite(number):
            raise ValidationError(f"{field}: {show(value)} is not a finite number (NaN and "
                                  "infinities cannot be stored)", field=field, value=value)
        return number

    def get_metric_history(self, experiment_id: str, metric_name: str) -> list[MetricPoint]:
        """``[(timestamp, value), ...]`` oldest first (then by step); each has ``.step``."""
        rows = self.db.query(METRIC_HISTORY, (to_text(experiment_id, "experiment_id"),
                                              to_text(metric_name, "metric_name")))
        return [MetricPoint(ts_out(ts), value, step) for ts, value, step in rows]

    def list_experiments(self) -> list[str]:
        """Experiment ids, by when their first metric was recorded."""
        return [row[0] for row in self.db.query(LIST_EXPERIMENTS)]

    def best_run(self, metric_name: str, mode: str = "min") -> dict | None:
        """The point with the lowest (``"min"``) or highest (``"max"``) value of a metric
        over all experiments, earliest first on ties; None if the metric was never saved."""
        sql = BEST_RUN[to_choice(mode, "mode", BEST_RUN)]
        name = to_text(metric_name, "metric_name")
        row = self.db.query_one(sql, {"name": name})
        if row is None:
            return None
        return {"experiment_id": row[0], "metric_name": name, "value": row[1], "step": row[2],
                "timestamp": ts_out(row[3])}
