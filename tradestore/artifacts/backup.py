"""Backups of ML artifacts (issue 20.6): the catalog and every file, verified by checksum.

``ArtifactManager.backup(dest)`` writes one folder ``dest/artifacts-<UTC stamp>/``:

  catalog.db      a verified online backup of the catalog's store (for a manager opened
                  with a repo that is the whole trades database)
  files/<relpath> a copy of every cataloged file, hashed while read and again after
                  being written; a file whose SHA-256 or size differs from the catalog
                  stops the backup (ArtifactIntegrityError naming it)
  manifest.json   the catalog's identity and each file's relpath, size and SHA-256,
                  written last

The folder is built under a temporary name and renamed when complete, so a folder
named ``artifacts-*`` is always a whole backup. The files listed are those of the
catalog copy: the set is consistent with the catalog even while the bot saves.

``restore(backup)`` verifies every file of the backup against its manifest first,
then copies the missing files into ``base_path`` (each verified after the write),
and only then adds their catalog rows in one transaction (the save order: a crash
leaves at worst an orphan file). Artifacts already present with the same checksum
are left alone; present with another checksum is a ConflictError unless
``overwrite=True``. Training metrics of an experiment the live catalog does not have
are restored too. The trading record in the catalog copy is never restored from here
(``tradestore restore`` does that for the whole store).

``keep=N`` deletes all but the newest N backups of this catalog in ``dest`` (other
catalogs' backups there are never touched).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any  # manager: an ArtifactManager (catalog imports this module)

from tradestore._core.codec import optional_int, to_flag, to_path
from tradestore._core.files import fsync_dir, path_error
from tradestore._core.hints import PathLike
from tradestore.errors import ArtifactIntegrityError, ConflictError, StoreError, ValidationError
from tradestore.ops.backup import utc_stamp

CHUNK = 1 << 20
MANIFEST = "manifest.json"
CATALOG = "catalog.db"
FILES = "files"
FORMAT = "tradestore-artifacts-backup/1"
BACKUP_NAME = re.compile(r"artifacts-(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?")
ARTIFACT_ROWS = """
SELECT name, version, kind, serializer, relpath, size, sha256, metadata, created_at, updated_at
FROM artifacts ORDER BY name, id
"""
RESTORE_ARTIFACT = """
INSERT INTO artifacts (name, version, kind, serializer, relpath, size, sha256, metadata,
                       created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
UPDATE_RESTORED = """
UPDATE artifacts SET kind = ?, serializer = ?, relpath = ?, size = ?, sha256 = ?, metadata = ?,
                     created_at = ?, updated_at = ?
WHERE name = ? AND version = ?
"""
SLOT = "SELECT relpath, sha256 FROM artifacts WHERE name = ? AND version = ?"
METRIC_ROWS = ("SELECT experiment_id, metric_name, value, step, timestamp, created_at "
               "FROM metrics ORDER BY id")
HAS_EXPERIMENT = "SELECT 1 FROM metrics WHERE experiment_id = ? LIMIT 1"
RESTORE_METRIC = """
INSERT INTO metrics (experiment_id, metric_name, value, step, timestamp, created_at)
VALUES (?, ?, ?, ?, ?, ?)
"""


@dataclass(frozen=True)
class ArtifactRestore:
    """What ``restore`` did.

    Attributes:
      restored: "name version" of each artifact put back (file and catalog row).
      unchanged: those already present with the same checksum (left alone).
      metrics: metric points restored (experiments the live catalog did not have).
    """

    restored: tuple
    unchanged: tuple
    metrics: int


def _copy_hashed(source: Path, target: Path) -> tuple[int, str]:
    """Copy ``source`` to a new private file ``target`` (fsynced); (size, sha256) of the
    bytes read."""
    digest, size = hashlib.sha256(), 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(source, "rb") as src, os.fdopen(fd, "wb") as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size, digest.hexdigest()


def file_digest(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _check_copy(label: str, path: Path, size: int, sha: str, got: tuple[int, str]) -> None:
    if got != (size, sha):
        raise ArtifactIntegrityError(
            f"{label} ({path}): size {got[0]} / SHA-256 {got[1][:12]}... differs from the "
            f"catalog's {size} / {sha[:12]}...")


def _rows(catalog: Path, sql: str) -> list:
    """Rows of a catalog copy, read through an immutable read-only connection."""
    try:
        conn = sqlite3.connect(f"{catalog.absolute().as_uri()}?mode=ro", uri=True)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"{catalog}: cannot read the catalog copy: {exc}") from None


def _inside(root: Path, relpath: str) -> Path:
    """``root/relpath`` if it stays inside ``root`` (a manifest is data, not trusted)."""
    path = (root / relpath).resolve()
    if not str(path).startswith(str(root.resolve()) + os.sep):
        raise ArtifactIntegrityError(f"{relpath!r}: leads outside {root}")
    return path


def _private_dirs(root: Path, folder: Path) -> None:
    """Create ``folder`` and its missing parents below ``root``, each mode 0700."""
    parts = folder.relative_to(root).parts
    for depth in range(1, len(parts) + 1):
        path = root.joinpath(*parts[:depth])
        if not path.exists():
            path.mkdir(mode=0o700)


def backup(manager: Any, dest: PathLike, *, keep: int | None = None) -> Path:
    """The whole backup (see the module doc); returns the new backup folder."""
    keep = optional_int(keep, "keep", lowest=1, allowed="a whole number >= 1")
    dest_dir: Path = to_path(dest, "dest").absolute()
    try:
        dest_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise path_error(dest_dir, exc, "dest") from None
    if not dest_dir.is_dir():
        raise ValidationError(f"dest: {str(dest_dir)!r} is not a folder", field="dest",
                              value=str(dest_dir))
    stamp, n = utc_stamp(), 1
    final = dest_dir / f"artifacts-{stamp}"
    while final.exists():
        n += 1
        final = dest_dir / f"artifacts-{stamp}-{n}"
    work = dest_dir / f".{final.name}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    try:
        catalog = manager.repo.backup(work / CATALOG)
        entries = []
        for name, version, _, _, relpath, size, sha, *_ in _rows(catalog, ARTIFACT_ROWS):
            label = f"{name} {version}"
            source = _inside(manager.base_path, relpath)
            target = work / FILES / relpath
            _private_dirs(work, target.parent)
            try:
                _check_copy(label, source, size, sha, _copy_hashed(source, target))
            except FileNotFoundError:
                raise ArtifactIntegrityError(f"{label}: file {source} is missing (or was "
                                             "replaced during the backup: run it again)") from None
            _check_copy(f"{label} copy", target, size, sha, file_digest(target))
            entries.append({"name": name, "version": version, "relpath": relpath,
                            "size": size, "sha256": sha})
        for folder in sorted({p.parent for p in (work / FILES).rglob("*")}, reverse=True):
            fsync_dir(folder)
        manifest = {"format": FORMAT, "store_id": manager.repo.store_id,
                    "base_path": str(manager.base_path), "created": stamp,
                    "artifacts": entries}
        with open(work / MANIFEST, "w", encoding="utf-8") as out:
            json.dump(manifest, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        fsync_dir(work)
        os.rename(work, final)
        fsync_dir(dest_dir)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise StoreError(f"{dest_dir}: artifacts backup failed: {exc.strerror or exc}; "
                         "nothing was kept") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if keep is not None:
        prune(dest_dir, keep, manager.repo.store_id)
    return final


def read_manifest(folder: PathLike) -> dict:
    folder = to_path(folder, "backup")
    try:
        with open(Path(folder) / MANIFEST, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as exc:
        raise ArtifactIntegrityError(f"{folder}: not an artifacts backup (no readable "
                                     f"{MANIFEST}: {exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactIntegrityError(f"{folder}: {MANIFEST} is not a {FORMAT} manifest")
    return manifest


def verify_backup(folder: PathLike) -> list[str]:
    """Every problem of a backup folder, one line each (empty: every file verifies)."""
    folder = Path(to_path(folder, "backup"))
    manifest = read_manifest(folder)
    problems = []
    for entry in manifest["artifacts"]:
        label = f"{entry['name']} {entry['version']}"
        try:
            path = _inside(folder / FILES, entry["relpath"])
            _check_copy(label, path, entry["size"], entry["sha256"], file_digest(path))
        except FileNotFoundError:
            problems.append(f"{label}: {entry['relpath']} is missing from the backup")
        except ArtifactIntegrityError as exc:
            problems.append(str(exc))
    return problems


def restore(manager: Any, folder: PathLike, *, overwrite: bool = False) -> ArtifactRestore:
    """Put a backup's artifacts back (see the module doc)."""
    to_flag(overwrite, "overwrite")
    folder = Path(to_path(folder, "backup")).absolute()
    problems = verify_backup(folder)
    if problems:
        raise ArtifactIntegrityError(f"{folder}: the backup does not verify; nothing was "
                                     "restored: " + "; ".join(problems[:5]))
    listed = {e["relpath"]: e for e in read_manifest(folder)["artifacts"]}
    rows = [r for r in _rows(folder / CATALOG, ARTIFACT_ROWS) if r[4] in listed]
    todo, unchanged = [], []
    with manager.db.reading() as conn:
        for row in rows:
            live = conn.execute(SLOT, (row[0], row[1])).fetchone()
            present = live is not None and live[1] == row[6] and _intact(manager, live[0], row)
            if present:
                unchanged.append(f"{row[0]} {row[1]}")
            elif live is not None and live[1] != row[6] and not overwrite:
                raise ConflictError(f"{row[0]} {row[1]}: the catalog holds another version of "
                                    "it (a different checksum); pass overwrite=True / "
                                    "--overwrite to replace it with the backup's")
            else:
                todo.append((row, live))
    placed = []
    try:
        for row, _ in todo:
            target = _inside(manager.base_path, row[4])
            manager._make_dir(target.parent)
            temp = target.with_name(f".tmp-restore-{target.name}")
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            size, sha = _copy_hashed(folder / FILES / row[4], temp)
            _check_copy(f"{row[0]} {row[1]}", temp, row[5], row[6], (size, sha))
            os.replace(temp, target)
            fsync_dir(target.parent)
            _check_copy(f"{row[0]} {row[1]} restored", target, row[5], row[6],
                        file_digest(target))
            placed.append(target)
        metrics = 0
        with manager.db.transaction() as conn:
            for row, live in todo:
                if live is None:
                    conn.execute(RESTORE_ARTIFACT, row)
                else:
                    conn.execute(UPDATE_RESTORED, (*row[2:], row[0], row[1]))
            known: dict = {}
            for metric in _rows(folder / CATALOG, METRIC_ROWS):
                experiment = metric[0]
                if experiment not in known:
                    known[experiment] = conn.execute(HAS_EXPERIMENT, (experiment,)).fetchone()
                if not known[experiment]:
                    conn.execute(RESTORE_METRIC, metric)
                    metrics += 1
    except OSError as exc:
        raise StoreError(f"{manager.base_path}: restore failed: {exc.strerror or exc}; the "
                         "catalog was not changed") from None
    for _, live in todo:  # the replaced files (if any) are now orphans: remove them
        if live is not None and live[0] not in {r[4] for r, _ in todo}:
            manager._unlink(live[0])
    return ArtifactRestore(tuple(f"{r[0]} {r[1]}" for r, _ in todo), tuple(unchanged), metrics)


def _intact(manager, relpath: str, row) -> bool:
    try:
        return file_digest(_inside(manager.base_path, relpath)) == (row[5], row[6])
    except (OSError, ArtifactIntegrityError):
        return False


_ANY = object()


def list_artifact_backups(dest: PathLike, store_id: object = _ANY) -> list[Path]:
    """Complete backups in ``dest`` (of the catalog ``store_id`` when given), oldest first."""
    found = []
    for path in Path(dest).iterdir():
        match = BACKUP_NAME.fullmatch(path.name)
        if not match or not path.is_dir():
            continue
        if store_id is not _ANY:
            try:
                if read_manifest(path).get("store_id") != store_id:
                    continue
            except ArtifactIntegrityError:
                continue
        found.append((match["stamp"], int(match["n"] or 1), path))
    return [p for _, _, p in sorted(found)]


def prune(dest: PathLike, keep: int, store_id: str | None) -> list[Path]:
    """Delete all but the ``keep`` newest backups of catalog ``store_id`` in ``dest``."""
    ours = list_artifact_backups(dest, store_id)
    old = ours[:-keep]
    for path in old:
        shutil.rmtree(path)
    return old
