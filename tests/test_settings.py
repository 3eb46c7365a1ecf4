"""Typed settings: inference, parsing, round trips, secrets never printed."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import stat
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from tradestore import NotFoundError, TradeRepo, ValidationError
from tradestore.books.settings import MASK

from conftest import run_tradestore
from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


SECRET = "sk-live-9f8e7d6c5b4a-DO-NOT-PRINT"


@pytest.mark.parametrize("value, value_type", [
    (True, "bool"), (False, "bool"), (0, "int"), (-12, "int"), (1.5, "float"),
    (Decimal("1.10"), "decimal"), ("text", "str"), ({"a": [1, 2]}, "json"), ([1, "x"], "json")])
def test_type_is_inferred_bool_before_int(repo, value, value_type):
    setting = repo.settings.set("k", value)
    assert setting.value_type == value_type
    got = repo.settings.get("k")
    assert got == value and type(got) is type(value)


def test_decimal_keeps_its_digits(repo):
    repo.settings.set("risk", Decimal("0.0100"))
    assert str(repo.settings.get("risk")) == "0.0100"
    assert repo.db.scalar("SELECT value FROM settings WHERE key = 'risk'") == "0.0100"


@pytest.mark.parametrize("text, value_type, expected", [
    ("42", "int", 42), (" -7 ", "int", -7), ("2.5", "float", 2.5), ("1e3", "float", 1000.0),
    ("yes", "bool", True), ("OFF", "bool", False), ("0", "bool", False),
    ("1.10", "decimal", Decimal("1.10")), ('{"a": 1}', "json", {"a": 1}),
    ("[1, 2]", "json", [1, 2]), ("hello", "str", "hello"), (3, "decimal", Decimal(3)),
    (3, "float", 3.0)])
def test_text_is_parsed_as_the_declared_type(repo, text, value_type, expected):
    repo.settings.set("k", text, value_type=value_type)
    got = repo.settings.get_typed("k")
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value, value_type", [
    ("abc", "int"), ("1.5", "int"), (True, "int"), (1.0, "int"), ("maybe", "bool"),
    (2, "bool"), ("x", "float"), ("nan", "float"), (float("inf"), "float"), ("1.2.3", "decimal"),
    ("NaN", "decimal"), ("{bad", "json"), ("abc", "json"), (5, "str"), ("1", "money"),
    ({"f": float("nan")}, "json")])
def test_a_value_that_does_not_parse_is_refused_and_nothing_changes(repo, value, value_type):
    repo.settings.set("k", "before")
    with pytest.raises(ValidationError):
        repo.settings.set("k", value, value_type=value_type)
    assert repo.settings.get("k") == "before"
    assert repo.settings.setting("k").value_type == "str"


@pytest.mark.parametrize("value", [None, object(), b"bytes", {1, 2}])
def test_values_without_a_type_are_refused(repo, value):
    with pytest.raises(ValidationError) as err:
        repo.settings.set("k", value)
    assert err.value.field == "value"
    assert repo.settings.all() == []


@pytest.mark.parametrize("key", ["", "has space", "x" * 201, 5, None, "tab\t"])
def test_bad_keys(repo, key):
    with pytest.raises(ValidationError) as err:
        repo.settings.set(key, 1)
    assert err.value.field == "key"


def test_get_default_delete_all(repo):
    with pytest.raises(NotFoundError):
        repo.settings.get("missing")
    assert repo.settings.get("missing", None) is None
    assert repo.settings.get("missing", 7) == 7
    assert repo.settings.get_typed("missing", default="d") == "d"
    repo.settings.set("b", 1, description="second")
    repo.settings.set("a", "x")
    assert [s.key for s in repo.settings.all()] == ["a", "b"]
    repo.settings.delete("a")
    with pytest.raises(NotFoundError):
        repo.settings.delete("a")
    assert [s.key for s in repo.settings.all()] == ["b"]


def test_get_typed_insists_on_a_type(repo):
    repo.settings.set("n", 3)
    assert repo.settings.get_typed("n", "int") == 3
    with pytest.raises(ValidationError):
        repo.settings.get_typed("n", "str")


def test_update_keeps_description_secret_and_created_at(repo):
    first = repo.settings.set("api", "old", secret=True, description="exchange key")
    second = repo.settings.set("api", "new")
    assert second.secret and second.description == "exchange key"
    assert second.created_at == first.created_at and second.updated_at >= first.updated_at
    assert second.id == first.id
    assert repo.settings.set("api", "new", secret=False).secret is False


def test_secret_is_masked_in_repr_and_str(repo):
    setting = repo.settings.set("api_key", SECRET, secret=True)
    assert setting.value == SECRET  # Python can read it
    assert SECRET not in repr(setting) and SECRET not in str(setting)
    assert MASK in repr(setting) and setting.display_value == MASK
    assert SECRET not in repr(repo.settings.all())
    assert "plain" in repr(repo.settings.set("open", "plain"))


def test_hand_edits_that_the_library_could_not_read_are_refused(sqlite_repo):
    sqlite_repo.settings.set("n", 1)
    sqlite_repo.settings.set("flag", True)
    for sql in ("UPDATE settings SET value = '1.5' WHERE key = 'n'",
                "UPDATE settings SET value = 'yes' WHERE key = 'flag'",
                "UPDATE settings SET value_type = 'json', value = '{' WHERE key = 'n'",
                "UPDATE settings SET value_type = 'money' WHERE key = 'n'"):
        with pytest.raises(sqlite3.IntegrityError):
            sqlite_repo.db.conn.execute(sql)
    assert sqlite_repo.settings.get("n") == 1 and sqlite_repo.settings.get("flag") is True


def test_lookup_uses_the_key_index(sqlite_repo):
    from tradestore.books.settings import GET_SETTING
    plan = " ".join(r[3] for r in sqlite_repo.db.query("EXPLAIN QUERY PLAN " + GET_SETTING, ("k",)))
    assert "SEARCH settings USING INDEX" in plan


# ------------------------------------------------------------------ round trip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 63 - 1) | st.text(max_size=10)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=4),
    max_leaves=12)
typed_values = st.one_of(
    st.tuples(st.just("str"), st.text()),
    st.tuples(st.just("int"), st.integers(-2 ** 63, 2 ** 63 - 1)),  # larger: refused below
    st.tuples(st.just("float"), st.floats(allow_nan=False, allow_infinity=False)),
    st.tuples(st.just("bool"), st.booleans()),
    st.tuples(st.just("decimal"), st.decimals(allow_nan=False, allow_infinity=False,
                                              min_value=Decimal("-1e20"),
                                              max_value=Decimal("1e20"), places=12)),
    st.tuples(st.just("json"), st.dictionaries(st.text(max_size=5), json_values, max_size=4)
              | st.lists(json_values, max_size=4)))


@pytest.fixture(scope="module")
def shared_repo(tmp_path_factory):
    with TradeRepo(tmp_path_factory.mktemp("settings") / "trades.db") as repo:
        yield repo


@given(typed_values, st.booleans())
def test_typed_round_trip(shared_repo, typed, explicit):
    value_type, value = typed
    setting = shared_repo.settings.set("k", value, value_type=value_type if explicit else None)
    assert setting.value_type == value_type
    for got in (shared_repo.settings.get("k"), shared_repo.settings.get_typed("k", value_type),
                shared_repo.settings.setting("k").value):
        assert type(got) is type(value)
        assert got == value
        if value_type == "float":
            assert math.copysign(1, got) == math.copysign(1, value)
        if value_type == "decimal":
            assert format(got, "f") == format(value, "f") or got.is_zero()


@given(st.sampled_from(["int", "float", "decimal", "bool"]), st.integers(-10**12, 10**12))
def test_text_from_the_cli_reads_back_as_the_type(shared_repo, value_type, number):
    text = str(number % 2 if value_type == "bool" else number)
    shared_repo.settings.set("k", text, value_type=value_type)
    expected = {"int": int, "float": float, "decimal": Decimal,
                "bool": lambda t: t == "1"}[value_type](text)
    assert shared_repo.settings.get("k") == expected


# ------------------------------------------------------------------ CLI and secrets

def test_cli_set_get_list_delete(cli, file_repo, db_path):
    file_repo.close()
    assert cli("--db", db_path, "settings", "set", "max_positions", "5", "--type", "int").code == 0
    assert cli("--db", db_path, "settings", "get", "max_positions").out == "5\n"
    # without --type an existing key keeps its type
    assert cli("--db", db_path, "settings", "set", "max_positions", "6").out.endswith("(int)\n")
    bad = cli("--db", db_path, "settings", "set", "max_positions", "six")
    assert bad.code == 1 and "int" in bad.err and "Traceback" not in bad.err
    assert cli("--db", db_path, "settings", "set", "note", "hi there").code == 0
    table = cli("--db", db_path, "settings")
    assert table.code == 0 and all(len(line) <= 80 for line in table.out.splitlines())
    data = json.loads(cli("--db", db_path, "settings", "list", "--format", "json").out)
    assert {d["key"]: (d["type"], d["value"]) for d in data} == {
        "max_positions": ("int", 6), "note": ("str", "hi there")}
    assert cli("--db", db_path, "settings", "delete", "note").code == 0
    missing = cli("--db", db_path, "settings", "get", "note")
    assert missing.code == 1 and "note" in missing.err


def test_no_cli_output_ever_contains_a_secret(cli, file_repo, db_path, monkeypatch):
    import io
    file_repo.settings.set("exchange_api_key", SECRET, secret=True, description="live key")
    file_repo.settings.set("exchange_api_secret", Decimal("123456789.987654321"), secret=True)
    file_repo.settings.set("plain", "visible")
    file_repo.close()
    runs = [("settings",), ("settings", "list"), ("settings", "--format", "json"),
            ("settings", "list", "--format", "csv"), ("settings", "list", "--format", "json"),
            ("settings", "get", "exchange_api_key"), ("settings", "get", "exchange_api_secret"),
            ("settings", "set", "exchange_api_key", SECRET + "-rotated"),
            ("settings", "set", "exchange_api_key", "--secret", SECRET),
            ("strategies",), ("accounts",), ("events",), ("events", "--format", "json"),
            ("status",), ("check",)]
    outputs = []
    for argv in runs:
        result = cli("--db", db_path, *argv)
        assert result.code == 0, (argv, result)
        outputs.append(result.out + result.err)
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    piped = cli("--db", db_path, "settings", "set", "stdin_key", "-", "--secret")
    assert piped.code == 0
    outputs.append(piped.out + piped.err)
    everything = "\n".join(outputs)
    assert "visible" in everything  # the grep would find a value that is printed
    for secret in (SECRET, "123456789.987654321", "987654321"):
        assert secret not in everything
    assert everything.count(MASK) >= 8
    with TradeRepo(db_path) as repo:  # and the values are really stored
        assert repo.settings.get("exchange_api_key") == SECRET
        assert repo.settings.get("stdin_key") == SECRET
        assert repo.settings.setting("stdin_key").secret


def test_secret_not_printed_by_a_real_subprocess(file_repo, db_path):
    file_repo.settings.set("api_key", SECRET, secret=True)
    file_repo.close()
    for argv in (("settings",), ("settings", "get", "api_key"),
                 ("settings", "list", "--format", "csv")):
        done = run_tradestore("--db", db_path, *argv)
        assert done.returncode == 0, done.stderr
        assert SECRET not in done.stdout + done.stderr and MASK in done.stdout


def test_the_file_holding_secrets_is_private(file_repo, db_path):
    file_repo.settings.set("api_key", SECRET, secret=True)
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600


@pytest.mark.parametrize("value, value_type", [
    (2 ** 63, None), (-2 ** 63 - 1, "int"), ("9" * 30, "int"), ({"n": 2 ** 63}, None),
    ('{"n": 99999999999999999999}', "json"), ([1, 10 ** 400], None),
])
def test_integers_past_64_bits_are_refused(repo, value, value_type):
    with pytest.raises(ValidationError, match="64-bit"):
        repo.settings.set("big", value, value_type=value_type)
    assert repo.settings.get("big", None) is None
    repo.settings.set("edge", 2 ** 63 - 1)  # the edges are kept exactly
    repo.settings.set("low", -2 ** 63)
    assert (repo.settings.get("edge"), repo.settings.get("low")) == (2 ** 63 - 1, -2 ** 63)


def test_numpy_and_unicode_values(repo):
    import numpy as np  # a test dependency: pandas users pass numpy scalars
    assert repo.settings.set("n", np.int64(5)).value == 5
    assert repo.settings.set("x", np.float64(0.1)).value == 0.1
    assert repo.settings.get("x") == 0.1 and repo.settings.setting("x").value_type == "float"
    with pytest.raises(ValidationError, match="lone surrogate"):
        repo.settings.set("s", "a\ud800")
    with pytest.raises(ValidationError, match="lone surrogate"):
        repo.settings.set("j", {"k": "\ud800"})


# ------------------------------------------------------------------ the seeds' words (20.7)

@pytest.mark.parametrize("word, text, stored_type, value", [
    ("string", "hello", "str", "hello"),
    ("STRING", "hello", "str", "hello"),
    ("integer", "42", "int", 42),
    ("boolean", "yes", "bool", True),
    ("number", "0.25", "float", 0.25),
    ("float", "2.5", "float", 2.5),
    ("json", '{"a": [1, 2]}', "json", {"a": [1, 2]}),
])
def test_value_type_spellings_of_the_seeds(repo, word, text, stored_type, value):
    setting = repo.settings.set("k", text, value_type=word)
    assert setting.value_type == stored_type and setting.value == value
    assert repo.settings.get_typed("k", word) == value
    assert repo.db.scalar("SELECT value_type FROM settings WHERE key = 'k'") == stored_type


def test_unknown_value_type_names_both_spellings(repo):
    with pytest.raises(ValidationError) as info:
        repo.settings.set("k", "1", value_type="str1ng")
    assert info.value.field == "value_type"
    assert "'str1ng'" in str(info.value) and "string" in str(info.value) and "decimal" in str(info.value)
    with pytest.raises(ValidationError):
        repo.settings.set("k", "1", value_type=3)
    assert repo.settings.all() == []
