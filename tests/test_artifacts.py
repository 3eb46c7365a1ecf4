"""ML artifacts: verified round trips, refusal of tampered files, version order,
retention, hostile names, permissions, crash safety, metrics, CLI."""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from conftest import examples

from tradestore import (ArtifactInfo, ArtifactIntegrityError, ArtifactManager, ConflictError,
                        NotFoundError, TradeRepo, ValidationError)
from tradestore.artifacts.catalog import (BEST_RUN, METRIC_HISTORY, SELECT_NAME, SELECT_RELPATH,
                                          SELECT_SLOT, STORES_NAME, version_key)

ROOT = Path(__file__).resolve().parent.parent


class TinyModel:
    """A small real model: a linear scorer with learned weights."""

    def __init__(self, weights, bias):
        self.weights = list(weights)
        self.bias = bias

    def predict(self, features):
        return sum(w * x for w, x in zip(self.weights, features)) + self.bias


def touch_marker(path):
    """What a hostile pickle runs on load: leaves a file behind as proof."""
    Path(path).write_text("unpickled")
    return TinyModel([0], 0)


class Booby:
    """Unpickling this calls touch_marker(path)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return touch_marker, (self.marker,)


@pytest.fixture
def manager(tmp_path):
    with ArtifactManager(tmp_path / "artifacts") as m:
        yield m


def files_under(folder: Path) -> set:
    """Files below ``folder``, the catalog's own -wal/-shm companions and the list of
    stores using the folder left out."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and not p.name.endswith(("-wal", "-shm")) and p.name != STORES_NAME}


# ---------------------------------------------------------------- round trips

def test_model_round_trip_with_metadata(manager):
    model = TinyModel([0.5, -1.25, 2.0], 0.1)
    artifact_id = manager.save_model(model, "scorer", "1.0.0", {"features": 3, "auc": 0.71})
    loaded, metadata = manager.load_model("scorer", "1.0.0")
    assert isinstance(loaded, TinyModel) and loaded is not model
    assert loaded.weights == model.weights and loaded.bias == model.bias
    assert loaded.predict([1, 2, 3]) == model.predict([1, 2, 3])
    assert metadata == {"features": 3, "auc": 0.71}
    info = manager.get_artifact("scorer")
    assert isinstance(info, ArtifactInfo) and info.id == artifact_id
    on_disk = info.path.read_bytes()
    assert info.size == len(on_disk) and info.sha256 == hashlib.sha256(on_disk).hexdigest()
    assert pickle.loads(on_disk).weights == model.weights
    assert info.path.parent.parent == manager.base_path and info.kind == "model"
    assert info.created_at.tzinfo is not None


@pytest.mark.parametrize("payload", [b"", b"\x00onnx\xff" * 1000, bytearray(b"abc"),
                                     memoryview(b"view")])
def test_bytes_round_trip_is_exact(manager, payload):
    manager.save_model(payload, "raw", "1", serializer="bytes")
    data, _ = manager.load_model("raw")
    assert data == bytes(payload) and isinstance(data, bytes)
    assert manager.get_artifact("raw", "1").serializer == "bytes"


def test_bytes_serializer_refuses_non_bytes(manager):
    with pytest.raises(ValidationError):
        manager.save_model({"a": 1}, "raw", "1", serializer="bytes")
    with pytest.raises(ValidationError):
        manager.save_model(b"x", "raw", "1", serializer="json")
    with pytest.raises(ValidationError):
        manager.save_model(lambda x: x, "raw", "1")  # a lambda cannot be pickled
    assert manager.list_artifacts() == [] and files_under(manager.base_path) == {"catalog.db"}


def test_datasets_and_files(manager, tmp_path):
    source = tmp_path / "weights.onnx"
    source.write_bytes(os.urandom(3000))
    manager.save_dataset(b"a,b\n1,2\n", "prices", "2024.1", {"rows": 1})
    manager.save_dataset(source, "prices", "2024.2")
    manager.save_file("onnx-export", "3", str(source))
    assert manager.load_dataset("prices", "2024.1") == (b"a,b\n1,2\n", {"rows": 1})
    assert manager.load_dataset("prices")[0] == source.read_bytes()
    assert manager.load_file("onnx-export")[0] == source.read_bytes()
    assert manager.get_artifact("onnx-export").path.suffix == ".onnx"
    with pytest.raises(NotFoundError):
        manager.load_model("prices")
    with pytest.raises(ConflictError):
        manager.save_model(TinyModel([1], 1), "prices", "9")
    with pytest.raises(ValidationError):
        manager.save_file("x", "1", tmp_path / "nope.bin")


def test_conflict_and_overwrite(manager):
    first = manager.save_model(TinyModel([1], 0), "m", "1")
    old_path = manager.get_artifact("m", "1").path
    with pytest.raises(ConflictError):
        manager.save_model(TinyModel([2], 0), "m", "1")
    assert manager.load_model("m", "1")[0].weights == [1]
    assert manager.verify().ok and manager.verify().orphans == ()
    second = manager.save_model(TinyModel([2], 0), "m", "1", {"v": 2}, overwrite=True)
    assert second == first
    assert manager.load_model("m", "1") [0].weights == [2]
    assert not old_path.exists() and manager.verify().ok
    assert len(manager.list_artifacts()) == 1


def test_bad_metadata_writes_nothing(manager):
    for bad in (["list"], {"x": float("nan")}, {"x": object()}):
        with pytest.raises(ValidationError):
            manager.save_model(b"x", "m", "1", bad, serializer="bytes")
    assert manager.list_artifacts() == [] and files_under(manager.base_path) == {"catalog.db"}


def test_catalog_in_a_given_repo(tmp_path):
    with TradeRepo(tmp_path / "trades.db") as repo:
        manager = ArtifactManager(tmp_path / "arts", repo=repo)
        manager.save_model(TinyModel([3], 3), "m", "1")
        assert repo.db.scalar("SELECT count(*) FROM artifacts") == 1
        assert not (tmp_path / "arts" / "catalog.db").exists()
        manager.close()  # not ours to close
        assert repo.db.scalar("SELECT name FROM artifacts") == "m"
    with TradeRepo(tmp_path / "trades.db") as repo:
        assert ArtifactManager(tmp_path / "arts", repo=repo).load_model("m")[0].weights == [3]


def test_standalone_catalog_survives_reopen(tmp_path):
    with ArtifactManager(tmp_path / "a") as m:
        m.save_model(TinyModel([4], 0), "m", "1")
    with ArtifactManager(tmp_path / "a") as m:
        assert m.load_model("m")[0].weights == [4]
    assert (tmp_path / "a" / "catalog.db").is_file()


# ---------------------------------------------------------------- tampering

def test_evil_pickle_control_it_really_runs_code(tmp_path):
    """The booby trap works when unpickled: the refusals below are not vacuous."""
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(Booby(marker)))
    assert marker.read_text() == "unpickled"


@pytest.mark.parametrize("same_size", [True, False])
def test_tampered_file_is_never_unpickled(manager, tmp_path, same_size):
    manager.save_model(TinyModel([1.0] * 40, 0.0), "m", "1")
    path = manager.get_artifact("m", "1").path
    marker = tmp_path / "marker"
    evil = pickle.dumps(Booby(marker))
    if same_size:
        evil = evil + b"." * (path.stat().st_size - len(evil))  # pickle stops at its STOP opcode
        assert len(evil) == path.stat().st_size
    path.write_bytes(evil)
    with pytest.raises(ArtifactIntegrityError):
        manager.load_model("m")
    with pytest.raises(ArtifactIntegrityError):
        manager.load_model("m", "1")
    assert not marker.exists()
    report = manager.verify()
    assert [i.version for i in report.changed] == ["1"] and not report.ok


def test_one_flipped_bit_is_refused(manager):
    manager.save_model(os.urandom(5000), "m", "1", serializer="bytes")
    path = manager.get_artifact("m").path
    data = bytearray(path.read_bytes())
    data[2500] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="SHA-256"):
        manager.load_model("m")


def test_missing_file_and_symlink_are_refused(manager, tmp_path):
    manager.save_model(b"good", "m", "1", serializer="bytes")
    manager.save_model(b"also", "m", "2", serializer="bytes")
    one, two = manager.get_artifact("m", "1").path, manager.get_artifact("m", "2").path
    one.unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        manager.load_model("m", "1")
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"also")  # same bytes and checksum, but not our file
    two.unlink()
    two.symlink_to(outside)
    with pytest.raises(ArtifactIntegrityError):
        manager.load_model("m", "2")
    report = manager.verify()
    assert [i.version for i in report.missing] == ["1"]
    assert [i.version for i in report.changed] == ["2"]


def test_catalog_pointing_at_another_version_is_refused(manager):
    manager.save_model(TinyModel([1], 0), "m", "1")
    manager.save_model(TinyModel([2], 0), "m", "2")
    other = manager.get_artifact("m", "2").path.relative_to(manager.base_path).as_posix()
    with manager.repo.transaction() as conn:
        conn.execute("UPDATE artifacts SET relpath = 'm/x_0000000000000000.pkl' "
                     "WHERE version = '2'")
        conn.execute("UPDATE artifacts SET relpath = ? WHERE version = '1'", (other,))
    with pytest.raises(ArtifactIntegrityError):
        manager.load_model("m", "1")


def test_schema_refuses_paths_outside_the_folder(manager):
    manager.save_model(b"x", "m", "1", serializer="bytes")
    conn = sqlite3.connect(manager.db.path)
    try:
        for relpath in ("../../etc/passwd", "/etc/passwd", "other/1_x.bin", "m/../../x",
                        "m/a/b.bin", "m/a\nb"):
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute("UPDATE artifacts SET relpath = ?", (relpath,))
        for column, value in (("name", "../x"), ("version", "a/b"), ("sha256", "XYZ"),
                              ("size", -1), ("metadata", "[1]"), ("kind", "exe")):
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute(f"UPDATE artifacts SET {column} = ?", (value,))
    finally:
        conn.close()


# ---------------------------------------------------------------- versions

def test_latest_is_numeric_then_save_time(manager):
    for version in ["1.9.0", "1.10.0", "1.2", "v1.9.5", "0.99"]:
        manager.save_model(version.encode(), "m", version, serializer="bytes")
    assert manager.load_model("m")[0] == b"1.10.0"
    assert [a.version for a in manager.list_artifacts("m")] == \
        ["0.99", "1.2", "1.9.0", "v1.9.5", "1.10.0"]
    manager.save_model(b"exp", "m", "experimental", serializer="bytes")
    assert manager.load_model("m")[0] == b"1.10.0"  # numbered versions rank above others
    manager.save_model(b"same", "m", "1.10", serializer="bytes")  # equal number: newer save wins
    assert manager.load_model("m")[0] == b"same"


def test_non_numeric_versions_go_by_save_time(manager):
    for version in ["zeta", "alpha", "mid"]:
        manager.save_model(version.encode(), "m", version, serializer="bytes")
    assert manager.load_model("m")[0] == b"mid"
    assert manager.load_model("m", "zeta")[0] == b"zeta"
    with pytest.raises(NotFoundError):
        manager.load_model("m", "nope")
    with pytest.raises(NotFoundError):
        manager.load_model("other")


def test_version_key():
    assert version_key("1.10.0") > version_key("1.9.1") > version_key("1.9")
    assert version_key("1.2") == version_key("1.2.0") == version_key("v1.2")
    assert version_key("2") > version_key("1.99.99") > version_key("main")
    assert version_key("1.2-rc1") == version_key("abc")


@settings(max_examples=examples(15, 5))
@given(st.lists(st.lists(st.integers(0, 30), min_size=1, max_size=3).map(tuple),
                min_size=1, max_size=6, unique=True), st.randoms())
def test_latest_is_the_numeric_maximum(versions, rnd):
    rnd.shuffle(versions)
    with tempfile.TemporaryDirectory() as tmp, TradeRepo(":memory:") as repo:
        manager = ArtifactManager(tmp, repo=repo)
        texts = [".".join(map(str, v)) for v in versions]
        for text in texts:
            manager.save_model(text.encode(), "m", text, serializer="bytes")

        def numeric(v):
            v = list(v)
            while len(v) > 1 and v[-1] == 0:
                v.pop()
            return tuple(v)
        best = max(numeric(v) for v in versions)
        saved_last = [t for t, v in zip(texts, versions) if numeric(v) == best][-1]
        assert manager.load_model("m")[0] == saved_last.encode()


# ---------------------------------------------------------------- retention

def test_retention_keeps_the_newest(manager):
    for version in ["1.0", "1.1", "2.0"]:
        manager.save_model(version.encode(), "m", version, serializer="bytes")
    manager.save_model(b"only", "solo", "1", serializer="bytes")
    paths = {a.version: a.path for a in manager.list_artifacts("m")}
    now = datetime.now(timezone.utc)
    assert manager.cleanup_old_artifacts(30, keep_latest=1, now=now) == 0  # all recent
    assert manager.cleanup_old_artifacts(30, keep_latest=1, now=now + timedelta(days=31),
                                         dry_run=True) == 2
    assert len(manager.list_artifacts()) == 4
    assert manager.cleanup_old_artifacts(30, keep_latest=2, now=now + timedelta(days=31)) == 1
    assert [a.version for a in manager.list_artifacts("m")] == ["1.1", "2.0"]
    assert manager.cleanup_old_artifacts(30, now=now + timedelta(days=31)) == 1
    assert [a.version for a in manager.list_artifacts("m")] == ["2.0"]
    assert not paths["1.0"].exists() and not paths["1.1"].exists() and paths["2.0"].exists()
    assert manager.load_model("m")[0] == b"2.0" and manager.load_model("solo")[0] == b"only"
    assert manager.verify().ok
    assert manager.cleanup_old_artifacts(0, keep_latest=0, now=now + timedelta(days=1)) == 2
    assert manager.list_artifacts() == [] and files_under(manager.base_path) == {"catalog.db"}


def test_retention_keeps_newest_by_version_not_save_order(manager):
    manager.save_model(b"2", "m", "2.0", serializer="bytes")
    manager.save_model(b"1", "m", "1.0", serializer="bytes")
    later = datetime.now(timezone.utc) + timedelta(days=100)
    assert manager.cleanup_old_artifacts(30, now=later) == 1
    assert [a.version for a in manager.list_artifacts()] == ["2.0"]


@pytest.mark.parametrize("kwargs", [{"retention_days": -1}, {"retention_days": "30"},
                                    {"keep_latest": -1}, {"keep_latest": 1.5},
                                    {"retention_days": float("nan")}])
def test_retention_arguments_are_checked(manager, kwargs):
    with pytest.raises(ValidationError):
        manager.cleanup_old_artifacts(**kwargs)


# ---------------------------------------------------------------- hostile input

HOSTILE = ["", ".", "..", "../escape", "a/b", "a\\b", "/etc/passwd", "..\\..\\x", "a..b",
           "a\x00b", "a\nb", "tab\there", " lead", "-flag", ".hidden", "x" * 129, "é", "C:evil",
           "a b", None, 1.5, b"bytes"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_names_and_versions_are_refused(manager, tmp_path, hostile):
    before = files_under(tmp_path)
    with pytest.raises(ValidationError):
        manager.save_model(b"x", hostile, "1", serializer="bytes")
    with pytest.raises(ValidationError):
        manager.save_model(b"x", "ok", hostile, serializer="bytes")
    with pytest.raises(ValidationError):
        manager.load_model(hostile)
    assert files_under(tmp_path) == before and manager.list_artifacts() == []


@settings(max_examples=examples(40, 10))
@given(st.text(max_size=140), st.text(max_size=70))
def test_no_name_reaches_outside_the_folder(name, version):
    with tempfile.TemporaryDirectory() as tmp, TradeRepo(":memory:") as repo:
        base = Path(tmp) / "base"
        manager = ArtifactManager(base, repo=repo)
        try:
            manager.save_model(b"x", name, version, serializer="bytes")
        except ValidationError:
            assert {p.name for p in Path(tmp).iterdir()} <= {"base"}
            return
        path = manager.get_artifact(name, version).path
        assert path.resolve().parent.parent == base.resolve()
        assert {p.name for p in Path(tmp).iterdir()} == {"base"}


def test_permissions_do_not_depend_on_umask(tmp_path):
    old = os.umask(0)
    try:
        with ArtifactManager(tmp_path / "new" / "artifacts") as manager:
            manager.save_model(TinyModel([1], 1), "m", "1")
            info = manager.get_artifact("m")
            assert stat.S_IMODE(info.path.stat().st_mode) == 0o600
            assert stat.S_IMODE(info.path.parent.stat().st_mode) == 0o700
            assert stat.S_IMODE(manager.base_path.stat().st_mode) == 0o700
            assert stat.S_IMODE((manager.base_path / "catalog.db").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_symlinked_name_folder_is_refused(manager, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    manager.base_path.joinpath("m").symlink_to(outside)
    with pytest.raises(ArtifactIntegrityError):
        manager.save_model(b"x", "m", "1", serializer="bytes")
    assert list(outside.iterdir()) == []


# ---------------------------------------------------------------- verify

def test_verify_orphans_foreign_and_repair(manager):
    manager.save_model(b"keep", "m", "1", serializer="bytes")
    folder = manager.base_path / "m"
    (folder / "2_0123456789abcdef.bin").write_bytes(b"left by a crash")
    (folder / ".tmp-3_fedcba9876543210.bin").write_bytes(b"half")
    (manager.base_path / "README.txt").write_text("mine")
    report = manager.verify()
    assert report.orphans == ("m/.tmp-3_fedcba9876543210.bin", "m/2_0123456789abcdef.bin")
    assert report.foreign == ("README.txt",) and not report.ok and report.checked == 1
    repaired = manager.verify(repair=True)
    assert set(repaired.removed) == set(report.orphans) and repaired.ok
    kept = "m/" + manager.get_artifact("m").path.name
    assert files_under(manager.base_path) == {"catalog.db", "README.txt", kept}
    assert manager.verify().ok and manager.load_model("m")[0] == b"keep"


def test_repair_leaves_a_file_a_live_save_holds(manager):
    import fcntl
    manager.save_model(b"keep", "m", "1", serializer="bytes")
    live = manager.base_path / "m" / ".tmp-2_0123456789abcdef.bin"
    live.write_bytes(b"being written")
    fd = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        report = manager.verify(repair=True)
        assert live.exists() and report.orphans == () and report.ok
    finally:
        os.close(fd)
    assert manager.verify(repair=True).removed == ("m/.tmp-2_0123456789abcdef.bin",)


def test_rolled_back_caller_transaction_leaves_only_orphans(manager):
    manager.save_model(b"old", "m", "1", serializer="bytes")
    with pytest.raises(RuntimeError):
        with manager.repo.transaction():
            manager.save_model(b"new", "m", "1", serializer="bytes", overwrite=True)
            manager.save_model(b"two", "m", "2", serializer="bytes")
            manager.cleanup_old_artifacts(0, keep_latest=0)
            raise RuntimeError("caller gives up")
    assert manager.load_model("m") == (b"old", {})
    report = manager.verify()
    assert not report.missing and not report.changed and len(report.orphans) == 2
    assert manager.verify(repair=True).ok and manager.load_model("m") == (b"old", {})


def test_overwrite_and_delete_when_the_old_file_is_already_gone(manager):
    manager.save_model(b"a", "m", "1", serializer="bytes")
    manager.get_artifact("m").path.unlink()
    manager.save_model(b"b", "m", "1", serializer="bytes", overwrite=True)
    assert manager.load_model("m") == (b"b", {})
    manager.get_artifact("m").path.unlink()
    manager.delete_artifact("m", "1")
    assert manager.list_artifacts() == [] and manager.verify().ok


def test_delete_artifact(manager):
    manager.save_model(b"a", "m", "1", serializer="bytes")
    path = manager.get_artifact("m").path
    path.write_bytes(b"tampered")
    manager.delete_artifact("m", "1")
    assert not path.exists() and manager.list_artifacts() == [] and manager.verify().ok


# ---------------------------------------------------------------- crash safety

CHILD = r"""
import hashlib, os, sys
from tradestore import ArtifactManager
base, start = sys.argv[1], int(sys.argv[2])
manager = ArtifactManager(base)
print("ready", flush=True)
i = start
while True:
    data = os.urandom(6 << 20) + i.to_bytes(8, "big")
    manager.save_model(data, "big", f"1.{i}", {"i": i}, serializer="bytes")
    manager.save_model(data, "stable", "1.0", {"i": i}, serializer="bytes", overwrite=True)
    if i % 3 == 0:
        manager.cleanup_old_artifacts(0, keep_latest=2)
    print("saved", f"1.{i}", hashlib.sha256(data).hexdigest(), flush=True)
    i += 1
"""


@pytest.mark.parametrize("kills", [1, pytest.param(4, marks=pytest.mark.slow)])
def test_sigkill_during_large_saves_leaves_a_consistent_catalog(tmp_path, kills):
    base = tmp_path / "artifacts"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    rng = random.Random(8)
    start = 0
    for _ in range(kills):  # one kill in a plain run; four under --runslow (.ci/run)
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(base), str(start)],
                                 stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.8))
        child.send_signal(signal.SIGKILL)
        tail = child.communicate(timeout=30)[0]
        assert child.returncode == -signal.SIGKILL
        saved = [line.split() for line in tail.splitlines() if line.startswith("saved")]
        with ArtifactManager(base) as manager:
            report = manager.verify()
            assert report.missing == () and report.changed == ()
            for info in manager.list_artifacts():
                data, metadata = manager.load_model(info.name, info.version)
                assert hashlib.sha256(data).hexdigest() == info.sha256
                assert int.from_bytes(data[-8:], "big") == metadata["i"]
            versions = {a.version for a in manager.list_artifacts("big")}
            if saved:  # what the child reported as saved is there (cleanup keeps two)
                _, version, sha = saved[-1]
                assert manager.get_artifact("big", version).sha256 == sha
                stable = manager.get_artifact("stable")
                assert stable.metadata["i"] >= int(version.split(".")[1])
            repaired = manager.verify(repair=True)
            assert repaired.ok and manager.verify().orphans == ()
            start = max([int(v.split(".")[1]) for v in versions] + [start]) + 1
    assert not list(base.rglob(".tmp-*"))


# ---------------------------------------------------------------- metrics

def test_metric_history_oldest_first_with_steps(manager):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    manager.save_metrics("exp-b", {"loss": 0.9}, step=0, timestamp=t0 + timedelta(hours=1))
    manager.save_metrics("exp-a", {"loss": 0.5, "acc": 0.6}, step=2,
                         timestamp=t0 + timedelta(minutes=2))
    manager.save_metrics("exp-a", {"loss": 0.8, "acc": 0.5}, step=1,
                         timestamp=t0 + timedelta(minutes=1))
    assert manager.save_metrics("exp-a", {"loss": Decimal("0.25")}, step=3,
                                timestamp="2026-01-01T00:03:00+00:00") == 1
    history = manager.get_metric_history("exp-a", "loss")
    assert history == [(t0 + timedelta(minutes=1), 0.8), (t0 + timedelta(minutes=2), 0.5),
                       (t0 + timedelta(minutes=3), 0.25)]
    assert [p.step for p in history] == [1, 2, 3]
    when, value = history[0]
    assert when.tzinfo is not None and isinstance(value, float)
    assert manager.list_experiments() == ["exp-a", "exp-b"]
    assert manager.get_metric_history("exp-a", "nothing") == []


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), Decimal("NaN"),
                                 10 ** 400, True, "0.5", None])
def test_bad_metric_values_write_nothing(manager, bad):
    with pytest.raises(ValidationError):
        manager.save_metrics("exp", {"ok": 1.0, "bad": bad})
    assert manager.db.scalar("SELECT count(*) FROM metrics") == 0


@pytest.mark.parametrize("kwargs", [{"step": -1}, {"step": 1.5}, {"timestamp": "yesterday"},
                                    {"metrics": {}}, {"metrics": [("a", 1)]},
                                    {"experiment_id": ""}])
def test_bad_metric_arguments(manager, kwargs):
    args = {"experiment_id": "exp", "metrics": {"a": 1.0}, **kwargs}
    with pytest.raises(ValidationError):
        manager.save_metrics(args.pop("experiment_id"), args.pop("metrics"), **args)
    assert manager.db.scalar("SELECT count(*) FROM metrics") == 0


def test_schema_refuses_non_finite_metrics(manager):
    conn = sqlite3.connect(manager.db.path)
    try:
        for value in (float("inf"), float("nan"), "abc"):
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute("INSERT INTO metrics (experiment_id, metric_name, value, timestamp, "
                             "created_at) VALUES ('e', 'm', ?, '2026-01-01T00:00:00.000000Z', "
                             "'2026-01-01T00:00:00.000000Z')", (value,))
    finally:
        conn.close()


def test_best_run(manager):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    manager.save_metrics("a", {"val_loss": 0.40, "acc": 0.70}, step=1, timestamp=t0)
    manager.save_metrics("b", {"val_loss": 0.30, "acc": 0.90}, step=5, timestamp=t0 + timedelta(1))
    manager.save_metrics("c", {"val_loss": 0.30, "acc": 0.90}, step=2, timestamp=t0 + timedelta(2))
    manager.save_metrics("a", {"val_loss": 0.35}, step=2, timestamp=t0 + timedelta(3))
    best = manager.best_run("val_loss")
    assert (best["experiment_id"], best["value"], best["step"]) == ("b", 0.30, 5)
    assert best["timestamp"] == t0 + timedelta(1)
    assert manager.best_run("acc", mode="max")["experiment_id"] == "b"
    assert manager.best_run("acc", mode="MIN")["value"] == 0.70
    assert manager.best_run("unknown") is None
    with pytest.raises(ValidationError):
        manager.best_run("acc", mode="median")


@settings(max_examples=examples(25, 8))
@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(allow_nan=False,
                                                              allow_infinity=False)),
                min_size=1, max_size=20))
def test_best_run_matches_python(points):
    with TradeRepo(":memory:") as repo, tempfile.TemporaryDirectory() as tmp:
        manager = ArtifactManager(tmp, repo=repo)
        for step, (experiment, value) in enumerate(points):
            manager.save_metrics(experiment, {"m": value}, step=step)
        low = min(v for _, v in points)
        high = max(v for _, v in points)
        assert manager.best_run("m")["value"] == low
        assert manager.best_run("m", "max")["value"] == high
        first_low = next(e for e, v in points if v == low)
        assert manager.best_run("m")["experiment_id"] == first_low


@pytest.mark.parametrize("sql, params", [(METRIC_HISTORY, ("e", "m")),
                                         (BEST_RUN["MIN"], {"name": "m"}),
                                         (BEST_RUN["MAX"], {"name": "m"}),
                                         (SELECT_SLOT, ("m", "1")), (SELECT_NAME, ("m",)),
                                         (SELECT_RELPATH, ("m/1_0.bin",))])
def test_hot_queries_use_indexes(manager, sql, params):
    plan = " | ".join(r[3] for r in manager.db.query("EXPLAIN QUERY PLAN " + sql, params))
    assert "SCAN" not in plan and "USING" in plan and "TEMP B-TREE" not in plan


def test_migration_down_and_up(tmp_path):
    with TradeRepo(tmp_path / "t.db") as repo:
        ArtifactManager(tmp_path / "a", repo=repo).save_metrics("e", {"m": 1.0})
        with pytest.raises(ConflictError, match="metrics"):  # it would drop a metrics row
            repo.migrate(5)
        repo.migrate(5, force=True)  # first writes a verified backup beside the store
        names = {r[0] for r in repo.db.query("SELECT name FROM sqlite_master")}
        assert not names & {"artifacts", "metrics", "metrics_history", "metrics_best"}
        repo.migrate()
        assert ArtifactManager(tmp_path / "a", repo=repo).list_experiments() == []


# ---------------------------------------------------------------- CLI

@pytest.fixture
def cli_store(tmp_path):
    db = tmp_path / "trades.db"
    with TradeRepo(db) as repo:
        manager = ArtifactManager(tmp_path / "artifacts", repo=repo)
        manager.save_model(TinyModel([1], 0), "a-rather-long-model-name-for-width", "1.9.0")
        manager.save_model(TinyModel([2], 0), "a-rather-long-model-name-for-width", "1.10.0")
        manager.save_dataset(os.urandom(2_000_000), "prices", "2026.01.01")
    return db


def test_cli_list(cli, cli_store):
    result = cli("--db", cli_store, "artifacts", "list")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert len(lines) == 4 and all(len(line) <= 80 for line in lines)
    assert "1.9.0" in lines[1] and "1.10.0" in lines[2] and "1.9M" in lines[3]
    result = cli("--db", cli_store, "artifacts", "list", "--name", "pri*", "--format", "csv")
    assert result.out.splitlines()[1].split(",")[:4] == ["prices", "2026.01.01", "dataset",
                                                         "2000000"]


def test_cli_verify_and_repair(cli, cli_store, tmp_path):
    assert cli("--db", cli_store, "artifacts", "verify").code == 0
    (tmp_path / "artifacts" / "prices" / "x_0123456789abcdef.bin").write_bytes(b"orphan")
    result = cli("--db", cli_store, "artifacts", "verify")
    assert result.code == 1 and "orphan: prices/x_0123456789abcdef.bin" in result.out
    result = cli("--db", cli_store, "artifacts", "verify", "--repair")
    assert result.code == 0 and "removed: prices/" in result.out
    path = next((tmp_path / "artifacts" / "prices").iterdir())
    path.write_bytes(b"changed")
    result = cli("--db", cli_store, "artifacts", "verify", "--repair")
    assert result.code == 1 and "changed: prices 2026.01.01" in result.out


def test_repair_never_removes_another_stores_files(cli, tmp_path, monkeypatch):
    """Two stores in one folder share ./artifacts by default: b.db's repair used to
    remove a.db's model as an orphan of its own catalog."""
    monkeypatch.chdir(tmp_path)
    with TradeRepo("a.db") as a, TradeRepo("b.db") as b:
        a_id, b_id = a.store_id, b.store_id
        ArtifactManager("artifacts", repo=a).save_model(b"a's model", "m", "1",
                                                        serializer="bytes")
    before = files_under(tmp_path / "artifacts")
    assert (tmp_path / "artifacts" / STORES_NAME).read_text() == f"{a_id}\n"
    result = cli("--db", "b.db", "artifacts", "verify", "--repair")
    assert result.code == 1 and a_id in result.err and b_id in result.err
    assert "repair refused" in result.err and "--base-path" in result.err
    assert files_under(tmp_path / "artifacts") == before
    result = cli("--db", "b.db", "artifacts", "verify")  # reported, not removed
    assert result.code == 1 and "orphan: m/" in result.out
    assert f"note: store {a_id} saves into this folder too" in result.out
    assert files_under(tmp_path / "artifacts") == before
    with TradeRepo("a.db") as a:
        assert ArtifactManager("artifacts", repo=a).load_model("m") == (b"a's model", {})
    assert cli("--db", "a.db", "artifacts", "verify", "--repair").code == 0


def test_repair_refuses_a_folder_two_stores_save_into(tmp_path):
    folder = tmp_path / "artifacts"
    with TradeRepo(tmp_path / "a.db") as a, TradeRepo(tmp_path / "b.db") as b:
        one, two = ArtifactManager(folder, repo=a), ArtifactManager(folder, repo=b)
        one.save_model(b"a", "m", "1", serializer="bytes")
        two.save_model(b"b", "n", "1", serializer="bytes")
        two.save_model(b"b2", "n", "2", serializer="bytes")  # listed once
        assert (folder / STORES_NAME).read_text().split() == [a.store_id, b.store_id]
        before = files_under(folder)
        assert one.verify().shared_with == (b.store_id,)
        for manager, other in ((one, b.store_id), (two, a.store_id)):
            with pytest.raises(ConflictError, match=f"repair refused: .*{other}"):
                manager.verify(repair=True)
        assert files_under(folder) == before
        assert one.load_model("m") == (b"a", {}) and two.load_model("n") == (b"b2", {})


def test_repair_of_a_folder_without_the_list_of_stores(tmp_path):
    """A folder from before STORES_NAME: repair claims it only when some file there is
    in its catalog; otherwise its files may be another store's."""
    folder = tmp_path / "artifacts"
    with TradeRepo(tmp_path / "a.db") as a, TradeRepo(tmp_path / "b.db") as b:
        ArtifactManager(folder, repo=a).save_model(b"a", "m", "1", serializer="bytes")
        (folder / STORES_NAME).unlink()
        (folder / "m" / "2_0123456789abcdef.bin").write_bytes(b"a's orphan")
        with pytest.raises(ConflictError, match=f"none of its files is in this catalog "
                                                f"\\(store {b.store_id}\\)"):
            ArtifactManager(folder, repo=b).verify(repair=True)
        assert len(files_under(folder)) == 2 and not (folder / STORES_NAME).exists()
        report = ArtifactManager(folder, repo=a).verify(repair=True)
        assert report.removed == ("m/2_0123456789abcdef.bin",) and report.ok
        assert (folder / STORES_NAME).read_text() == f"{a.store_id}\n"


def test_cli_cleanup(cli, cli_store):
    result = cli("--db", cli_store, "artifacts", "cleanup", "--retention-days", "0",
                 "--dry-run")
    assert result.code == 0 and "would delete 1" in result.out
    assert cli("--db", cli_store, "artifacts", "cleanup", "--retention-days", "0").out \
        .strip() == "deleted 1 artifact(s)"
    listing = cli("--db", cli_store, "artifacts", "list", "--format", "json").out
    assert "1.9.0" not in listing and "1.10.0" in listing
    assert cli("--db", cli_store, "artifacts", "cleanup", "--keep-latest", "-1").code == 1


def test_cli_standalone_and_base_path(cli, tmp_path):
    with ArtifactManager(tmp_path / "models") as manager:
        manager.save_model(b"x", "m", "1", serializer="bytes")
    result = cli("artifacts", "list", "--standalone", "--base-path", tmp_path / "models")
    assert result.code == 0 and "m " in result.out.splitlines()[1]
    result = cli("artifacts", "verify", "--standalone", "--base-path", tmp_path / "nowhere")
    assert result.code == 1 and "no artifacts catalog" in result.err


def test_cli_help_texts(cli):
    for action in ("list", "verify", "cleanup"):
        result = cli("artifacts", action, "--help")
        assert result.code == 0 and "--base-path" in result.out
    assert cli("artifacts").code == 2


# ---------------------------------------------------------------- hostile input (issue 14.8)

@pytest.mark.parametrize("base_path", [None, 5, b"artifacts", "", "a\x00b", "\ud800"])
def test_a_base_path_that_is_not_a_folder_name_is_refused(base_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError, match="^base_path: .*(not a file name|not valid Unicode)"):
        ArtifactManager(base_path)
    assert list(tmp_path.iterdir()) == []
