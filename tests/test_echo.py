"""SQL echo (issue 20.2) and the binding layer that turns values SQLite cannot bind
into our error (issue 14.8): both live on tradestore._core.db.Connection."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st
from conftest import examples

from tradestore import TradeRepo, ValidationError
from tradestore._core.db import MASK, echo_setting

SQL = "tradestore.sql"


def test_echo_logs_each_statement_with_its_parameters(caplog):
    with TradeRepo(":memory:", echo=True) as repo:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger=SQL):
            repo.events.log("note", "hello echo")
    lines = [r.getMessage() for r in caplog.records if r.name == SQL]
    insert = [i for i, line in enumerate(lines)
              if line.startswith("INSERT INTO events") and "'hello echo'" in line]
    assert len(insert) == 1
    assert "BEGIN IMMEDIATE" in lines[:insert[0]] and lines[-1] == "COMMIT"


def test_echo_off_by_default_logs_nothing(caplog, monkeypatch):
    monkeypatch.delenv("TRADESTORE_SQL_ECHO", raising=False)
    monkeypatch.delenv("SQL_ECHO", raising=False)
    with caplog.at_level(logging.DEBUG, logger=SQL):
        with TradeRepo(":memory:") as repo:
            repo.events.log("note", "quiet")
    assert not [r for r in caplog.records if r.name == SQL]
    assert repo.db.conn is None  # closed; and while open its echo was None
    with TradeRepo(":memory:") as repo:
        assert repo.db.conn.echo is None


def test_secret_setting_value_never_reaches_the_log(caplog):
    with TradeRepo(":memory:", echo=True) as repo:
        with caplog.at_level(logging.INFO, logger=SQL):
            repo.settings.set("api_key", "hunter2-very-secret", secret=True)
            repo.settings.set("api_key", "rotated-secret-value")  # stays secret
            assert repo.settings.get("api_key") == "rotated-secret-value"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "hunter2" not in text and "rotated-secret" not in text
    assert MASK in text
    assert "api_key" in text  # the key itself is shown


def test_not_secret_setting_made_explicitly_is_shown(caplog):
    with TradeRepo(":memory:", echo=True) as repo:
        with caplog.at_level(logging.INFO, logger=SQL):
            repo.settings.set("max_positions", 5, secret=False)
    assert any("'max_positions'" in r.getMessage() and "'5'" in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize("name", ["TRADESTORE_SQL_ECHO", "SQL_ECHO"])
@pytest.mark.parametrize("raw, expected", [("1", True), ("true", True), ("TRUE", True),
                                           ("on", True), ("0", False), ("false", False),
                                           ("", False), ("no", False)])
def test_environment_switches_echo(monkeypatch, name, raw, expected):
    monkeypatch.delenv("TRADESTORE_SQL_ECHO", raising=False)
    monkeypatch.delenv("SQL_ECHO", raising=False)
    monkeypatch.setenv(name, raw)
    assert echo_setting() is expected
    assert echo_setting(False) is False  # an explicit argument wins


def test_environment_with_a_bad_word_is_refused(monkeypatch):
    monkeypatch.setenv("TRADESTORE_SQL_ECHO", "maybe")
    with pytest.raises(ValidationError, match="TRADESTORE_SQL_ECHO: 'maybe'"):
        TradeRepo(":memory:")
    with pytest.raises(ValidationError, match="echo: 'yes' must be True or False"):
        TradeRepo(":memory:", echo="yes")


def test_cli_echo_goes_to_stderr(tmp_path):
    db = tmp_path / "e.db"
    subprocess.run([sys.executable, "-m", "tradestore", "--db", str(db), "init"], check=True,
                   capture_output=True)
    run = subprocess.run([sys.executable, "-m", "tradestore", "--db", str(db), "--echo",
                          "settings", "set", "token", "abc-secret-123", "--secret"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "tradestore.sql: INSERT INTO settings" in run.stderr
    assert "abc-secret-123" not in run.stderr + run.stdout
    assert "tradestore.sql" not in run.stdout
    env_run = subprocess.run([sys.executable, "-m", "tradestore", "--db", str(db), "status"],
                             capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin", "SQL_ECHO": "true",
                                  "PYTHONPATH": ":".join(sys.path)})
    assert env_run.returncode == 0, env_run.stderr
    assert "tradestore.sql: PRAGMA user_version" in env_run.stderr


# ------------------------------------------------------------ the binding layer
def test_too_large_integer_names_parameter_and_value():
    with TradeRepo(":memory:") as repo:
        with pytest.raises(ValidationError) as info:
            repo.db.query("SELECT ?", (2 ** 63,))
    assert str(info.value) == ("parameter 1: 9223372036854775808 is too large: integers must "
                               "fit in 64 bits (-2**63 to 2**63-1)")
    assert info.value.field == "parameter 1" and info.value.value == 2 ** 63


def test_named_parameter_is_named():
    with TradeRepo(":memory:") as repo:
        with pytest.raises(ValidationError, match=r"^symbol: '\\ud800' is not valid text"):
            repo.db.query("SELECT :symbol", {"symbol": "\ud800"})


def test_executemany_names_the_bad_row_value_and_changes_nothing():
    with TradeRepo(":memory:") as repo:
        before = repo.table_counts()
        with pytest.raises(ValidationError, match="parameter 2: -9223372036854775809"):
            with repo.transaction() as conn:
                repo.events.log("note", "in the same transaction")
                conn.executemany("DELETE FROM events WHERE id = ? OR id = ?",
                                 [(1, 2), (3, -2 ** 63 - 1)])
        assert repo.table_counts() == before


def test_public_lookups_refuse_huge_ids_with_our_error():
    with TradeRepo(":memory:") as repo:
        for call in (lambda: repo.get_trade(10 ** 30), lambda: repo.get_order(2 ** 64),
                     lambda: repo.get_recent_orders(limit=10 ** 39),
                     lambda: repo.get_open_positions(account="\udcff")):
            with pytest.raises(ValidationError):
                call()


@settings(max_examples=examples(40, 10), deadline=None)
@given(st.one_of(st.integers(min_value=2 ** 63), st.integers(max_value=-2 ** 63 - 1)))
def test_any_integer_past_64_bits_is_our_error(value):
    with TradeRepo(":memory:") as repo:
        with pytest.raises(ValidationError) as info:
            repo.db.query("SELECT ?", (value,))
        assert info.value.value == value


@settings(max_examples=examples(40, 10), deadline=None)
@given(st.integers(min_value=-2 ** 63, max_value=2 ** 63 - 1))
def test_every_64_bit_integer_binds(value):
    with TradeRepo(":memory:") as repo:
        assert repo.db.scalar("SELECT ?", (value,)) == value


def test_repo_with_too_long_file_name(tmp_path):
    with pytest.raises(ValidationError, match="is too long for the file system"):
        TradeRepo(str(tmp_path / ("x" * 300)))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dest", [None, "a\x00b", "\ud800", "x" * 300, 5, b"x"])
def test_backup_destination_refused_with_our_error(tmp_path, dest, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with TradeRepo(tmp_path / "s.db") as repo:
        with pytest.raises(ValidationError, match="^dest: "):
            repo.backup(dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]


def test_executemany_echo_shows_the_first_rows_and_the_count(caplog):
    with TradeRepo(":memory:", echo=True) as repo:
        with caplog.at_level(logging.INFO, logger=SQL):
            with repo.transaction() as conn:
                conn.executemany("DELETE FROM events WHERE id = ?", ((i,) for i in range(25)))
    line = next(r.getMessage() for r in caplog.records if "executemany" in r.getMessage())
    assert line.startswith("DELETE FROM events WHERE id = ? [executemany, 25 rows] [(0,), ")
    assert "(19,)] and 5 more" in line and "(20,)" not in line
