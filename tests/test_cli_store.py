"""The store commands: init, migrate, status, check, --version, and their errors."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap

import pytest

import tradestore
from tradestore import TradeRepo
from tradestore.cli import build_parser

PACKAGE_ROOT = os.path.dirname(os.path.dirname(tradestore.__file__))


def tradestore_process(*argv, cwd=None, env=None, timeout=60):
    """``python -m tradestore ...`` as a real process (what a user's shell runs)."""
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT,
                                                           full_env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "tradestore", *map(str, argv)],
                          capture_output=True, text=True, cwd=cwd, env=full_env, timeout=timeout)


def assert_one_line_error(result, *words):
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tradestore: "), result.stderr
    for word in words:
        assert word.lower() in lines[0].lower(), (word, lines[0])


@pytest.fixture
def head():
    with TradeRepo(":memory:") as repo:
        return repo.migrator.head


@pytest.fixture
def store(db_path):
    with TradeRepo(db_path) as repo:
        for i in range(3):
            repo.events.log("tick", f"event {i}")
    return db_path


# ------------------------------------------------------------ the commands

def test_init_creates_a_private_store_at_head(cli, db_path, head):
    result = cli("--db", db_path, "init")
    assert result.code == 0, result
    assert f"schema version {head}" in result.out and str(db_path) in result.out
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    with TradeRepo(db_path, readonly=True) as repo:
        assert repo.current_version == head
    assert cli("--db", db_path, "init").code == 0  # again: nothing to do, no error


def test_migrate_down_and_up(cli, store, head):
    result = cli("--db", store, "migrate", "--to", 1)
    assert result.code == 0 and f"{head} -> 1" in result.out, result
    status = json.loads(cli("--db", store, "status", "--format", "json").out)
    assert status["schema_version"] == 1 and status["head_version"] == head
    assert len(status["pending"]) == head - 1 and status["pending"][0].startswith("0002_")
    assert status["tables"]["events"] == 3 + 1  # data kept across the walk, plus the migration logged
    result = cli("--db", store, "migrate")
    assert result.code == 0 and f"1 -> {head}" in result.out
    assert json.loads(cli("--db", store, "status", "--format", "json").out)["pending"] == []


def test_migrate_to_a_version_that_does_not_exist(cli, store, head):
    result = cli("--db", store, "migrate", "--to", head + 1)
    assert result.code == 1 and "target" in result.err and result.out == ""


def test_status_text(cli, store, head):
    result = cli("--db", store, "status")
    assert result.code == 0, result
    lines = dict(line.split(":", 1) for line in result.out.splitlines()
                 if ":" in line and not line.startswith("  "))
    assert lines["path"].strip() == str(store)
    assert lines["schema version"].strip() == f"{head} (newest {head})"
    assert lines["pending"].strip() == "none"
    assert lines["journal mode"].strip() == "wal"
    size = os.path.getsize(store) + (os.path.getsize(f"{store}-wal")
                                      if os.path.exists(f"{store}-wal") else 0)
    assert lines["file size"].strip() == f"{size:,} bytes"
    counts = {line.split()[0]: int(line.split()[1].replace(",", ""))
              for line in result.out.splitlines() if line.startswith("  ")}
    assert counts["events"] == 3 and counts["store_meta"] == 1  # its identity (issue 14.4)
    with TradeRepo(store, readonly=True) as repo:
        assert counts == repo.table_counts()
    assert max(len(line) for line in result.out.splitlines()) <= 80


def test_status_shows_pending_migrations(cli, store):
    cli("--db", store, "migrate", "--to", 1)
    out = cli("--db", store, "status").out
    assert "schema version:  1 (" in out and "0002_" in out


def test_status_json(cli, store, head):
    result = cli("--db", store, "status", "--format", "json")
    assert result.code == 0
    info = json.loads(result.out)
    assert info["path"] == str(store) and info["schema_version"] == head
    assert info["journal_mode"] == "wal" and info["size_bytes"] >= os.path.getsize(store) > 0
    assert info["tables"]["events"] == 3 and info["pending"] == []


def test_status_never_writes(cli, store):
    before = store.read_bytes()
    assert cli("--db", store, "status").code == 0
    assert cli("--db", store, "check").code == 0
    assert store.read_bytes() == before


def test_check_passes_on_a_good_store(cli, store):
    result = cli("--db", store, "check")
    assert result.code == 0 and result.out.strip() == "ok"


def test_check_fails_on_a_corrupted_copy(cli, tmp_path):
    path = tmp_path / "good.db"
    with TradeRepo(path) as repo:
        with repo.transaction():
            for i in range(3000):
                repo.events.log("tick", f"event {i} " + "x" * 100)
        root = repo.db.scalar("SELECT rootpage FROM sqlite_master WHERE name = 'events'")
        page_size = repo.db.scalar("PRAGMA page_size")
    assert cli("--db", path, "check").code == 0
    damaged = tmp_path / "damaged.db"
    data = bytearray(path.read_bytes())
    offset = (root - 1) * page_size
    data[offset:offset + page_size] = bytes((i * 37 + 11) % 256 for i in range(page_size))
    damaged.write_bytes(bytes(data))
    result = cli("--db", damaged, "check")
    assert result.code != 0, result
    assert "problem" in result.out or "malformed" in result.err
    assert "Traceback" not in result.err


def test_version(cli):
    result = cli("--version")
    assert result.code == 0 and result.out.strip() == f"tradestore {tradestore.__version__}"


def test_no_command_prints_usage(cli):
    result = cli()
    assert result.code == 2 and "usage: tradestore" in result.out


def test_busy_timeout_must_be_seconds(cli, db_path):
    for bad in ("soon", "-1", "nan"):
        result = cli("--busy-timeout", bad, "--db", db_path, "init")
        assert result.code == 2 and "busy-timeout" in result.err
    assert not db_path.exists()


# ------------------------------------------------------------ which database

def test_db_from_environment(cli, tmp_path, monkeypatch):
    path = tmp_path / "from-env.db"
    monkeypatch.setenv("TRADESTORE_DB", str(path))
    assert cli("init").code == 0 and path.exists()
    assert json.loads(cli("status", "--format", "json").out)["path"] == str(path)
    other = tmp_path / "explicit.db"
    assert cli("--db", other, "init").code == 0 and other.exists()  # --db wins


def test_default_is_trades_db_in_the_current_directory(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("TRADESTORE_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli("init").code == 0
    assert (tmp_path / "trades.db").exists()
    assert json.loads(cli("status", "--format", "json").out)["path"] == "trades.db"


# ------------------------------------------------------------ errors: one line, no traceback

@pytest.mark.parametrize("command", [["status"], ["check"], ["migrate"], ["migrate", "--to", "1"]])
def test_missing_file(tmp_path, command):
    path = tmp_path / "absent.db"
    result = tradestore_process("--db", path, *command)
    assert_one_line_error(result, str(path), "no such database", "tradestore init")
    assert not path.exists()


@pytest.mark.parametrize("command", [["init"], ["status"], ["check"], ["migrate"]])
def test_not_a_sqlite_file(tmp_path, command):
    path = tmp_path / "notes.txt"
    path.write_text("shopping list: eggs, milk\n" * 100)
    before = path.read_bytes()
    result = tradestore_process("--db", path, *command)
    assert_one_line_error(result, str(path), "not a")
    assert path.read_bytes() == before


@pytest.mark.parametrize("command", [["init"], ["status"], ["check"], ["migrate"]])
def test_newer_schema(store, head, command):
    conn = sqlite3.connect(store)
    conn.execute(f"PRAGMA user_version = {head + 5}")
    conn.commit()
    conn.close()
    before = store.read_bytes()
    result = tradestore_process("--db", store, *command)
    assert_one_line_error(result, "newer", "upgrade tradestore")
    assert store.read_bytes() == before


@pytest.mark.parametrize("command", [["init"], ["status"], ["check"], ["migrate"]])
def test_directory_path(tmp_path, command):
    result = tradestore_process("--db", tmp_path, *command)
    assert_one_line_error(result, "directory")


def test_foreign_database(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    assert_one_line_error(tradestore_process("--db", path, "init"), "no tradestore schema")


HOLDER = textwrap.dedent("""
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("INSERT INTO store_meta (key, value, updated_at) "
                 "VALUES ('holder', '1', '2024-01-01T00:00:00.000000Z')")
    print("holding", flush=True)
    sys.stdin.read()  # until the test closes our stdin
    conn.execute("ROLLBACK")
""")


@pytest.mark.parametrize("command", [["init"], ["migrate"]])
def test_locked_database(cli, store, command):
    assert cli("--db", store, "migrate", "--to", 1).code == 0  # so there is work to do
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        result = tradestore_process("--db", store, "--busy-timeout", "0.2", *command)
        assert_one_line_error(result, "busy")
        # reading is never blocked by a writer in WAL mode
        status = tradestore_process("--db", store, "status", "--format", "json")
        assert status.returncode == 0 and json.loads(status.stdout)["schema_version"] == 1
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert json.loads(cli("--db", store, "status", "--format", "json").out)["schema_version"] == 1


# ------------------------------------------------------------ help

def _walk(parser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, child in action.choices.items():
                yield ("command", " ".join(path + (name,)), helps.get(name))
                yield from _walk(child, path + (name,))
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield ("option", " ".join(path) + " " + "/".join(action.option_strings or
                                                             [action.dest]), action.help)


def test_every_command_and_subcommand_has_help():
    found = list(_walk(build_parser()))
    commands = {name for kind, name, _ in found if kind == "command"}
    assert {"init", "migrate", "status", "check", "bench"} <= commands
    missing = [name for kind, name, text in found
               if kind == "command" and not (text and text.strip())]
    assert missing == [], f"commands without help text: {missing}"


def test_every_option_has_help():
    missing = [name for kind, name, text in _walk(build_parser())
               if kind == "option" and not (text and text.strip())]
    assert missing == [], f"options without help text: {missing}"


@pytest.mark.parametrize("command", ["init", "migrate", "status", "check"])
def test_help_runs(cli, command):
    result = cli(command, "--help")
    assert result.code == 0 and f"usage: tradestore {command}" in result.out
