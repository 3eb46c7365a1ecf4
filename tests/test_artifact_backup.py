"""Backups of ML artifacts (issue 20.6): catalog and files copied and verified by
SHA-256; restore verifies first and puts back what is missing; --keep N per catalog."""

from __future__ import annotations

import hashlib
import json
import pickle

import pytest
from hypothesis import given, settings, strategies as st
from conftest import examples

from tradestore import TradeRepo
from tradestore.artifacts.backup import list_artifact_backups, verify_backup
from tradestore.artifacts.catalog import ArtifactManager
from tradestore.errors import ArtifactIntegrityError, ConflictError, ValidationError

from conftest import run_tradestore


@pytest.fixture
def manager(tmp_path):
    with ArtifactManager(tmp_path / "artifacts") as m:
        yield m


def test_backup_copies_catalog_and_files_verified(manager, tmp_path):
    manager.save_model({"w": [1, 2, 3]}, "lstm", "1")
    manager.save_dataset(b"abc", "prices", "2024")
    manager.save_metrics("run1", {"loss": 0.5}, step=1)
    folder = manager.backup(tmp_path / "backups")
    assert folder.parent == tmp_path / "backups" and folder.name.startswith("artifacts-")
    manifest = json.loads((folder / "manifest.json").read_text())
    by_name = {e["name"]: e for e in manifest["artifacts"]}
    # the SHA-256 of b"abc" worked out independently of tradestore
    assert by_name["prices"]["sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert by_name["prices"]["size"] == 3
    assert (folder / "files" / by_name["prices"]["relpath"]).read_bytes() == b"abc"
    assert by_name["lstm"]["size"] == len(pickle.dumps({"w": [1, 2, 3]},
                                                       protocol=pickle.HIGHEST_PROTOCOL))
    assert manifest["store_id"] == manager.repo.store_id
    with TradeRepo(folder / "catalog.db", readonly=True) as copy:  # a real, openable store
        assert copy.db.scalar("SELECT count(*) FROM artifacts") == 2
        assert copy.db.scalar("SELECT count(*) FROM metrics") == 1
    assert verify_backup(folder) == []
    assert oct((folder / "files").stat().st_mode & 0o777) == "0o700"


def test_backup_refuses_a_damaged_artifact_and_keeps_nothing(manager, tmp_path):
    manager.save_dataset(b"good bytes", "d", "1")
    path = manager.get_artifact("d").path
    path.write_bytes(b"evil bytes")  # same size, other content
    with pytest.raises(ArtifactIntegrityError) as info:
        manager.backup(tmp_path / "backups")
    assert "d 1" in str(info.value)
    assert list((tmp_path / "backups").iterdir()) == []  # no half backup left behind


def test_restore_puts_back_a_deleted_artifact(manager, tmp_path):
    manager.save_dataset(b"x" * 5000, "big", "1", {"source": "exchange"})
    manager.save_metrics("exp", {"acc": 0.9}, step=1)
    folder = manager.backup(tmp_path / "b")
    manager.delete_artifact("big", "1")
    with manager.db.transaction() as conn:
        conn.execute("DELETE FROM metrics")
    result = manager.restore(folder)
    assert result.restored == ("big 1",) and result.unchanged == () and result.metrics == 1
    data, meta = manager.load_dataset("big", "1")  # load verifies the checksum
    assert data == b"x" * 5000 and meta == {"source": "exchange"}
    assert manager.verify().ok
    again = manager.restore(folder)  # idempotent
    assert again.restored == () and again.unchanged == ("big 1",) and again.metrics == 0


def test_restore_repairs_a_damaged_file(manager, tmp_path):
    manager.save_dataset(b"original", "d", "1")
    folder = manager.backup(tmp_path / "b")
    manager.get_artifact("d").path.write_bytes(b"corrupt!")
    assert not manager.verify().ok
    assert manager.restore(folder).restored == ("d 1",)
    assert manager.load_dataset("d")[0] == b"original" and manager.verify().ok


def test_restore_verifies_the_backup_first(manager, tmp_path):
    manager.save_dataset(b"one", "d", "1")
    folder = manager.backup(tmp_path / "b")
    manager.delete_artifact("d", "1")
    copy = next((folder / "files").rglob("*.bin"))
    copy.write_bytes(b"two")
    with pytest.raises(ArtifactIntegrityError) as info:
        manager.restore(folder)
    assert "nothing was restored" in str(info.value)
    assert manager.list_artifacts() == []


def test_restore_conflict_and_overwrite(manager, tmp_path):
    manager.save_dataset(b"v-old", "d", "1")
    folder = manager.backup(tmp_path / "b")
    manager.save_dataset(b"v-new!", "d", "1", overwrite=True)
    with pytest.raises(ConflictError):
        manager.restore(folder)
    assert manager.load_dataset("d")[0] == b"v-new!"
    assert manager.restore(folder, overwrite=True).restored == ("d 1",)
    assert manager.load_dataset("d")[0] == b"v-old"
    report = manager.verify()
    assert report.ok and report.orphans == ()  # the replaced file was removed


def test_restore_into_an_empty_folder(manager, tmp_path):
    manager.save_model([1, 2], "m", "3")
    folder = manager.backup(tmp_path / "b")
    with ArtifactManager(tmp_path / "elsewhere") as fresh:
        assert fresh.restore(folder).restored == ("m 3",)
        assert fresh.load_model("m")[0] == [1, 2]


def test_keep_prunes_only_this_catalogs_backups(manager, tmp_path):
    manager.save_dataset(b"1", "d", "1")
    dest = tmp_path / "b"
    with ArtifactManager(tmp_path / "other") as other:
        other.save_dataset(b"2", "e", "1")
        foreign = other.backup(dest)
    made = [manager.backup(dest) for _ in range(3)]
    assert len(list_artifact_backups(dest, manager.repo.store_id)) == 3
    kept = manager.backup(dest, keep=2)
    assert list_artifact_backups(dest, manager.repo.store_id) == [made[-1], kept]
    assert foreign.exists()
    with pytest.raises(ValidationError):
        manager.backup(dest, keep=0)


def test_backup_with_the_trading_store_as_catalog(tmp_path):
    with TradeRepo(tmp_path / "trades.db") as repo:
        manager = ArtifactManager(tmp_path / "artifacts", repo=repo)
        manager.save_file("cfg", "1", _write(tmp_path / "c.json", b"{}"))
        folder = manager.backup(tmp_path / "b")
        assert verify_backup(folder) == []


def _write(path, data):
    path.write_bytes(data)
    return path


def test_cli_backup_and_restore(tmp_path):
    db = tmp_path / "trades.db"
    with TradeRepo(db) as repo:
        ArtifactManager(tmp_path / "artifacts", repo=repo).save_dataset(b"payload", "d", "1")
    done = run_tradestore("--db", db, "artifacts", "backup", tmp_path / "bk", "--keep", "1")
    assert done.returncode == 0, done.stderr
    assert "backed up 1 artifact(s)" in done.stdout
    folder, = list_artifact_backups(tmp_path / "bk")
    for f in (tmp_path / "artifacts").rglob("*.bin"):
        f.unlink()
    done = run_tradestore("--db", db, "artifacts", "restore", folder)
    assert done.returncode == 0, done.stderr
    assert "restored: d 1" in done.stdout
    done = run_tradestore("--db", db, "artifacts", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    bad = run_tradestore("--db", db, "artifacts", "restore", tmp_path / "nope")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "nope" in bad.stderr


@settings(max_examples=examples(10, 5), deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.binary(max_size=300),
                       min_size=1, max_size=4))
def test_backup_then_restore_gives_every_byte_back(tmp_path_factory, contents):
    root = tmp_path_factory.mktemp("prop")
    with ArtifactManager(root / "a") as m:
        for name, data in contents.items():
            m.save_dataset(data, name, "1")
        folder = m.backup(root / "b")
        for name in contents:
            m.delete_artifact(name, "1")
        assert sorted(m.restore(folder).restored) == sorted(f"{n} 1" for n in contents)
        for name, data in contents.items():
            assert m.load_dataset(name)[0] == data
