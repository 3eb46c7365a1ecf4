"""Exact values: Decimal and time in and out of SQLite text, tagged JSON.

The promise: every value comes back exactly as written, money never touches a
float, and a malformed value is refused with an error naming the field.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from tradestore import TradeRepo, ValidationError
from tradestore._core import codec
from tradestore._core.codec import (MAX_PLAIN_LENGTH, MAX_SIGNIFICANT_DIGITS, TIMESTAMP_WIDTH, UTC,
                                    canonical_json, dec_in, dec_out, from_tagged, json_object_in,
                                    plain_length, to_decimal, to_items, to_tagged, to_utc, ts_in,
                                    ts_out)
from tradestore._core.scan import check_expressions

# The money CHECK every schema file uses (see the brief / ARCHITECTURE.md).
MONEY_TABLE = """
CREATE TABLE money_probe (
    id INTEGER PRIMARY KEY,
    amount TEXT NOT NULL CHECK (typeof(amount) = 'text' AND amount GLOB '*[0-9]*'
        AND amount NOT GLOB '*[^0-9.-]*' AND amount NOT GLOB '?*-*' AND amount NOT GLOB '*.*.*'
        AND amount GLOB '*[0-9]' AND length(amount) <= 65)
) STRICT
"""


def decimals(max_digits=MAX_SIGNIFICANT_DIGITS, min_exp=-70, max_exp=70):
    """Random digit strings with random exponents (some beyond the limits)."""
    return st.builds(
        lambda sign, digits, exp: Decimal((sign, tuple(digits), exp)),
        st.integers(0, 1), st.lists(st.integers(0, 9), min_size=1, max_size=max_digits),
        st.integers(min_exp, max_exp))


def within_limits(d: Decimal) -> bool:
    """The limits, counted on the plain text that is stored."""
    plain = format(d, "f")
    return len(plain.lstrip("-0.").replace(".", "")) <= MAX_SIGNIFICANT_DIGITS and \
        len(plain) <= MAX_PLAIN_LENGTH


@pytest.fixture
def probe(tmp_path):
    """A real file store with a money column using the schema's CHECK pattern."""
    with TradeRepo(tmp_path / "codec.db") as repo:
        with repo.transaction() as conn:
            conn.execute(MONEY_TABLE)
        yield repo


def store_and_load(repo, text):
    with repo.transaction() as conn:
        row_id = conn.execute("INSERT INTO money_probe (amount) VALUES (?)", (text,)).lastrowid
    return repo.db.query_one("SELECT amount, typeof(amount) FROM money_probe WHERE id = ?",
                             (row_id,))


# ------------------------------------------------------------ accepted input

@pytest.mark.parametrize("value, expected", [
    (Decimal("1.10"), "1.10"),
    (Decimal("0.00000812"), "0.00000812"),
    (Decimal("-12.500"), "-12.500"),
    (42, "42"),
    (-7, "-7"),
    (10**37, "1" + "0" * 37),
    ("1.10", "1.10"),
    ("  0.00000812\n", "0.00000812"),
    ("1e-3", "0.001"),
    ("2.5E+3", "2.5E+3"),          # as a Decimal; stored as 2500 (below)
    (0.1, "0.1"),                  # shortest repr, not 0.1000000000000000055511...
    (1 / 3, "0.3333333333333333"),
    (1e-7, "1E-7"),
    (100.0, "100.0"),
    (-0.0, "0.0"),
    (Decimal("-0.00"), "0.00"),    # negative zero is stored as zero
])
def test_accepts_decimal_int_str_float(value, expected):
    number = to_decimal(value, "price")
    assert isinstance(number, Decimal)
    assert str(number) == expected
    assert number == Decimal(expected)


def test_float_goes_through_shortest_repr():
    assert to_decimal(0.1, "price") == Decimal("0.1")
    assert to_decimal(0.1, "price") != Decimal(0.1)  # not the binary expansion
    assert to_decimal(0.1 + 0.2, "price") == Decimal("0.30000000000000004")


def test_limits_are_inclusive_at_38_digits_and_64_characters():
    assert to_decimal("9" * 38, "qty") == Decimal("9" * 38)
    assert to_decimal("-0." + "1" * 38, "qty") == Decimal("-0." + "1" * 38)
    assert dec_in(to_decimal(Decimal("1E+37"), "qty")) == "1" + "0" * 37
    assert len(dec_in(to_decimal(Decimal("1E-62"), "qty"))) == 64
    assert len(dec_in(to_decimal(Decimal("-1E-61"), "qty"))) == 64
    assert len(dec_in(to_decimal(Decimal("-1.5E-60"), "qty"))) == 64


def test_sign_limits():
    assert to_decimal("0", "qty", non_negative=True) == 0
    with pytest.raises(ValidationError, match="qty"):
        to_decimal("0", "qty", positive=True)
    with pytest.raises(ValidationError, match="qty"):
        to_decimal("-0.01", "qty", non_negative=True)
    assert to_decimal("0.01", "qty", positive=True) == Decimal("0.01")


# ------------------------------------------------------------ refused input

@pytest.mark.parametrize("value", [
    float("nan"), float("inf"), float("-inf"), "NaN", "sNaN", "Infinity", "-inf",
    Decimal("NaN"), Decimal("-Infinity"),
    True, False, None,
    "9" * 39,                                   # 39 significant digits
    10**38,                                     # 39 digits as an int
    Decimal("1." + "0" * 38),                   # trailing zeros are digits too
    Decimal("1E+38"),                           # stored as 39 digits
    Decimal("1E+64"),                           # plain form 65 characters
    Decimal("-1E+63"),
    Decimal("1E-63"),                           # 0.000...1, 65 characters
    "1e999999999",                              # must be refused without building it
    1e300,
    "", "abc", "1.2.3", "1,5", "0x10", "--1",
    [1], {"a": 1}, b"1", object(), 1j,
])
def test_refuses_with_validation_error_naming_the_field(value):
    with pytest.raises(ValidationError) as info:
        to_decimal(value, "entry_price")
    assert info.value.field == "entry_price"
    assert "entry_price" in str(info.value)


def test_huge_exponent_is_refused_quickly():
    # format(Decimal('1E+999999999'), 'f') would build a billion characters.
    with pytest.raises(ValidationError, match="38"):
        to_decimal(Decimal("1E+999999999"), "amount")
    with pytest.raises(ValidationError, match="64"):
        to_decimal(Decimal("1E-999999999"), "amount")


@given(decimals(max_digits=45, min_exp=-120, max_exp=120))
def test_plain_length_matches_format(number):
    assert plain_length(number) == len(format(number, "f"))


# ------------------------------------------------------------ through a real table

@pytest.mark.parametrize("given_value, stored", [
    (Decimal("1.10"), "1.10"),
    (Decimal("0.00000812"), "0.00000812"),
    ("2.5E+3", "2500"),
    (Decimal("1E-7"), "0.0000001"),
    (0.1, "0.1"),
    (-3, "-3"),
    (Decimal("123456789012345678901234567890.12345678"), "123456789012345678901234567890.12345678"),
])
def test_exact_round_trip_through_a_real_table(probe, given_value, stored):
    text = dec_in(to_decimal(given_value, "amount"))
    assert text == stored
    value, kind = store_and_load(probe, text)
    assert kind == "text"
    assert value == stored
    back = dec_out(value)
    assert back == to_decimal(given_value, "amount")
    assert format(back, "f") == stored  # same digits, '1.10' stays '1.10'


def test_numeric_affinity_would_have_lost_the_digits():
    """Why money is TEXT: a NUMERIC column silently turns '1.10' into 1.1."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE bad (amount DECIMAL(18, 8))")
    conn.execute("INSERT INTO bad VALUES ('1.10')")
    assert conn.execute("SELECT amount, typeof(amount) FROM bad").fetchone() == (1.1, "real")


@pytest.mark.parametrize("garbage", [
    "1.5e3", "abc", "1.", "", "1..2", "--1", "1-2", "1.2.3", " 1", "1 ", "+1", "0x1F", "Inf",
    "1" * 66,
])
def test_money_check_rejects_text_the_codec_never_writes(probe, garbage):
    with pytest.raises(ValidationError):
        store_and_load(probe, garbage)
    assert probe.db.scalar("SELECT count(*) FROM money_probe") == 0


@given(decimals())
def test_decimal_round_trip_property(number):
    if not within_limits(number):
        with pytest.raises(ValidationError):
            to_decimal(number, "amount")
        return
    accepted = to_decimal(number, "amount")
    text = dec_in(accepted)
    assert len(text) <= MAX_PLAIN_LENGTH
    back = dec_out(text)
    assert back == number
    assert dec_in(back) == text
    if number.as_tuple().exponent <= 0 and not number.is_zero():
        # digits and scale survive exactly (trailing zeros kept)
        assert back.as_tuple() == number.as_tuple()
    # text -> Decimal -> text is also exact for strings and floats
    assert to_decimal(text, "amount") == number
    assert dec_in(to_decimal(text, "amount")) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_property(value):
    shortest = Decimal(repr(value))
    if not within_limits(shortest):
        with pytest.raises(ValidationError):
            to_decimal(value, "price")
        return
    number = to_decimal(value, "price")
    assert number == shortest
    assert float(number) == value  # the shortest repr names the same float


@given(st.lists(decimals(max_digits=20, min_exp=-20, max_exp=10), min_size=1, max_size=20))
def test_real_table_keeps_every_digit(values):
    conn = sqlite3.connect(":memory:")
    conn.execute(MONEY_TABLE)
    texts = [dec_in(to_decimal(v, "amount")) for v in values]
    conn.executemany("INSERT INTO money_probe (amount) VALUES (?)", [(t,) for t in texts])
    rows = conn.execute("SELECT amount, typeof(amount) FROM money_probe ORDER BY id").fetchall()
    assert [r[0] for r in rows] == texts
    assert {r[1] for r in rows} == {"text"}


# ------------------------------------------------------------ time

OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)))
# the supported range (docs/input.md), a day inside each end so that any offset stays inside
MOMENTS = st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(9998, 12, 30))
AWARE = st.builds(lambda moment, tz: moment.replace(tzinfo=tz), MOMENTS, OFFSETS)
PATTERN = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@given(AWARE)
def test_aware_datetime_round_trip(moment):
    text = ts_in(to_utc(moment, "timestamp"))
    assert len(text) == TIMESTAMP_WIDTH and PATTERN.match(text)
    back = ts_out(text)
    assert back == moment
    assert back.tzinfo is not None and back.utcoffset() == dt.timedelta(0)
    assert back.microsecond == moment.microsecond


@given(MOMENTS)
def test_naive_datetime_is_taken_as_utc(moment):
    text = ts_in(to_utc(moment, "timestamp"))
    assert PATTERN.match(text)
    assert ts_out(text) == moment.replace(tzinfo=UTC)
    assert text == (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
                    f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z")


@given(st.lists(AWARE, min_size=2, max_size=30))
def test_text_order_is_time_order(moments):
    texts = [ts_in(to_utc(m, "t")) for m in moments]
    assert sorted(texts) == [ts_in(to_utc(m, "t")) for m in sorted(moments)]
    for a, b in zip(moments, moments[1:]):
        ta, tb = ts_in(to_utc(a, "t")), ts_in(to_utc(b, "t"))
        assert (ta < tb) == (a < b) and (ta == tb) == (a == b)


@given(st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2200, 1, 1)))
def test_sqlite_date_functions_read_the_stored_text(moment):
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # SQLite keeps ms
    text = ts_in(to_utc(moment, "t"))
    conn = sqlite3.connect(":memory:")
    assert conn.execute("SELECT datetime(?)", (text,)).fetchone()[0] == \
        moment.strftime("%Y-%m-%d %H:%M:%S")
    assert conn.execute("SELECT strftime('%f', ?)", (text,)).fetchone()[0] == \
        f"{moment.second:02d}.{moment.microsecond // 1000:03d}"


def test_time_inputs():
    moment = dt.datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    assert to_utc("2024-03-01T14:30:00+02:00", "t") == moment
    assert to_utc("2024-03-01 12:30", "t") == moment
    assert to_utc("2024-03-01T12:30:00Z", "t") == moment
    assert to_utc(dt.date(2024, 3, 1), "t") == dt.datetime(2024, 3, 1, tzinfo=UTC)
    assert ts_in(moment) == "2024-03-01T12:30:00.000000Z"
    assert ts_in(dt.datetime(5, 1, 1, tzinfo=UTC)) == "0005-01-01T00:00:00.000000Z"


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", 1700000000, 1.5, None, b"2024",
                                   dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))])
def test_bad_times_are_refused_naming_the_field(value):
    with pytest.raises(ValidationError) as info:
        to_utc(value, "filled_at")
    assert info.value.field == "filled_at" and "filled_at" in str(info.value)


@pytest.mark.parametrize("garbage", [
    "2024-01-01 00:00:00", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000000+00:00",
    "2024-01-01T00:00:00.000Z", "1700000000", "", "2024-1-01T00:00:00.000000Z",
])
def test_timestamp_check_rejects_malformed_text(memory_repo, garbage):
    """The events table's timestamp CHECK refuses what ts_in never writes."""
    with pytest.raises(ValidationError):
        with memory_repo.transaction() as conn:
            conn.execute("INSERT INTO events (timestamp, severity, event_type, message) "
                         "VALUES (?, 'info', 'probe', 'x')", (garbage,))
    assert memory_repo.db.scalar("SELECT count(*) FROM events") == 0


# ------------------------------------------------------------ the real schema

TIMESTAMP_GLOB = ("'[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]"
                  ".[0-9][0-9][0-9][0-9][0-9][0-9]Z'")


def _typed_columns(repo):
    """(table, column, declared type, [check expressions], kind) for money and time columns."""
    tables = repo.db.query("SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                           "AND name NOT LIKE 'sqlite_%' ORDER BY name")
    for table, sql in tables:
        types = {r[1]: r[2] for r in repo.db.query(f'PRAGMA table_xinfo("{table}")')}
        by_column: dict[str, list[str]] = {}
        for column, expression in check_expressions(sql):  # the parser `check` uses
            if column is not None:  # a column's own CHECKs, not the table's
                by_column.setdefault(column, []).append(expression)
        for column, checks in by_column.items():
            compact = re.sub(r"\s+", "", " ".join(checks))
            if TIMESTAMP_GLOB in compact:
                kind = "time"
            elif "NOTGLOB'*[^0-9." in compact:
                kind = "money"
            else:
                continue
            yield table, column, types.get(column), checks, kind


def test_every_table_is_strict(memory_repo):
    tables = memory_repo.db.query("PRAGMA table_list")
    loose = [t[1] for t in tables if t[2] == "table" and not t[1].startswith("sqlite_")
             and t[0] == "main" and not t[5]]
    assert loose == [], f"tables without STRICT (affinity could turn '1.10' into 1.1): {loose}"


def test_schema_money_and_time_columns_refuse_garbage(memory_repo):
    """Every money/time column of the newest schema is TEXT and its CHECK refuses what
    the codec never writes (as the sqlite3 shell might)."""
    found = list(_typed_columns(memory_repo))
    names = {(table, column) for table, column, *_ in found}
    assert {("events", "timestamp"), ("store_meta", "updated_at")} <= names
    conn = memory_repo.db.conn
    good = {"money": ["7", "1.10", "0.00000812", "123456789.5"],
            "time": [ts_in(dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)),
                     "1999-01-01T00:00:00.000000Z"]}
    bad = {"money": ["1.5e3", "abc", "1.", "", "1..2", "1-2", "1 ", "NaN", "1" * 66],
           "time": ["2024-01-01 00:00:00", "2024-01-01T00:00:00Z", "1700000000", "",
                    "2024-01-01T00:00:00.000000+00:00"]}
    for table, column, declared, checks, kind in found:
        assert declared.upper() == "TEXT", f"{table}.{column} is {declared}, not TEXT"

        def verdicts(value):  # a CHECK refuses only on 0 (NULL passes)
            return [conn.execute(f'SELECT ({expr}) FROM (SELECT ? AS "{column}")',
                                 (value,)).fetchone()[0] for expr in checks]
        for value in bad[kind]:
            assert 0 in verdicts(value), f"{table}.{column} accepts {value!r}"
        for value in good[kind]:
            assert 0 not in verdicts(value), f"{table}.{column} refuses {value!r}"


# ------------------------------------------------------------ JSON

def test_canonical_json_is_stable():
    a = {"b": [Decimal("1.10"), 2], "a": {"y": None, "x": "é"}}
    b = {"a": {"x": "é", "y": None}, "b": [Decimal("1.10"), 2]}
    assert canonical_json(a) == canonical_json(b) == '{"a":{"x":"é","y":null},"b":["1.10",2]}'


def test_json_object_in_refuses_non_objects_and_nan():
    assert json_object_in(None, "metadata") is None
    for bad in ([1, 2], "text", 3, {"x": float("nan")}, {"x": object()}):
        with pytest.raises(ValidationError) as info:
            json_object_in(bad, "metadata")
        assert info.value.field == "metadata"


def same(a, b) -> bool:
    """Equal and of the same types all the way down (Decimal digits included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, Decimal):
        return a.as_tuple() == b.as_tuple()
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, dt.datetime):
        return a == b and a.utcoffset() == b.utcoffset() and (a.tzinfo is None) == (b.tzinfo is None)
    return a == b


LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 63, 2 ** 63 - 1), st.text(max_size=10),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
    decimals(max_digits=40, min_exp=-80, max_exp=80),
    MOMENTS, AWARE, st.dates(),
)
KEYS = st.one_of(st.text(max_size=8), st.sampled_from(["$decimal", "$datetime", "$date",
                                                       "$escaped", "price"]))
STATES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=20)


@given(STATES)
def test_tagged_json_round_trip(state):
    text = canonical_json(to_tagged(state))
    back = from_tagged(json.loads(text))
    assert same(back, state), (state, text, back)
    assert canonical_json(to_tagged(back)) == text


def test_tagged_json_escapes_user_keys_that_look_like_tags():
    state = {"$decimal": "not a number"}
    assert same(from_tagged(json.loads(canonical_json(to_tagged(state)))), state)


@pytest.mark.parametrize("bad, path", [
    ({"a": {"b": float("nan")}}, "a.b"),
    ({"a": [1, Decimal("Infinity")]}, "a[1]"),
    ({"a": {1: 2}}, "a"),
    ({"a": {"s": {1, 2}}}, "a.s"),
])
def test_tagged_json_refuses_naming_the_path(bad, path):
    with pytest.raises(ValidationError) as info:
        to_tagged(bad)
    assert info.value.field == path


def test_tagged_decimal_keeps_digits_and_stays_small():
    assert to_tagged(Decimal("1.10")) == {"$decimal": "1.10"}
    assert to_tagged(Decimal("0.00000812")) == {"$decimal": "0.00000812"}
    huge = Decimal("1E+999999999")
    tagged = to_tagged(huge)  # must not build a billion-character string
    assert len(tagged["$decimal"]) < 40
    assert from_tagged(tagged).as_tuple() == huge.as_tuple()


def test_codec_imports_nothing_of_ours_but_errors():
    source = open(codec.__file__, encoding="utf-8").read()
    ours = set(re.findall(r"^\s*from \.(\w*) import", source, re.M))
    assert ours <= {"errors"}


# ------------------------------------------------------------ hostile input (issue 14.8)

import numpy as np  # a test dependency: pandas users pass numpy scalars on day one


@pytest.mark.parametrize("value, expected", [
    (np.float64(0.1), Decimal("0.1")),          # shortest repr, not 0.1000000000000000055...
    (np.float64(-2.5e-7), Decimal("-2.5E-7")),
    (np.float32(0.1), Decimal("0.1")),          # numpy's shortest repr of the float32
    (np.int64(42), Decimal(42)), (np.uint64(2 ** 64 - 1), Decimal(2 ** 64 - 1)),
    (np.int8(-3), Decimal(-3)),
])
def test_numpy_scalars_are_numbers(value, expected):
    assert to_decimal(value, "price") == expected


@pytest.mark.parametrize("value", [np.float64("nan"), np.float64("inf"), np.float32("-inf"),
                                   np.bool_(True), np.array([1.0]), np.datetime64("2024-01-01")])
def test_numpy_non_numbers_are_refused_naming_the_field(value):
    with pytest.raises(ValidationError, match="^price: ") as info:
        to_decimal(value, "price")
    assert info.value.field == "price"


@pytest.mark.parametrize("value", ["A\ud800", "\udfff", "BTC/\ud83d"])
def test_lone_surrogates_are_refused(value):
    with pytest.raises(ValidationError, match="symbol: .*not valid Unicode"):
        codec.to_text(value, "symbol")
    with pytest.raises(ValidationError, match="price: "):
        to_decimal(value, "price")


def test_text_that_encodes_is_kept():
    assert codec.to_text("BTC/€ 🚀", "symbol") == "BTC/€ 🚀"


@pytest.mark.parametrize("value", [2 ** 63, -2 ** 63 - 1, 10 ** 30], ids=str)
def test_json_integers_past_64_bits_are_refused(value):
    with pytest.raises(ValidationError, match=r"metadata\.a\[0\]: .*64-bit"):
        codec.json_object_in({"a": [value]}, "metadata")


def test_json_edges_and_numpy_values():
    assert codec.json_object_in({"a": [2 ** 63 - 1, -2 ** 63]}, "m") == \
        '{"a":[9223372036854775807,-9223372036854775808]}'
    # digits in text are not integers
    assert codec.json_object_in({"id": "1" * 40}, "m") == '{"id":"' + "1" * 40 + '"}'
    assert codec.json_object_in({"n": np.int64(3), "x": np.float64(0.25)}, "m") == \
        '{"n":3,"x":0.25}'
    with pytest.raises(ValidationError, match="^m: .*not JSON-serialisable"):
        codec.json_object_in({"n": 10 ** 5000}, "m")  # past Python's int-to-text limit
    deep = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ValidationError, match="nested too deeply"):
        codec.json_object_in({"d": deep}, "m")
    with pytest.raises(ValidationError, match="not valid Unicode"):
        codec.json_object_in({"k": "\ud800"}, "m")


@pytest.mark.parametrize("days", [float("nan"), float("inf"), -1, -0.5, 1e10, 3_000_001, True,
                                  "30", Decimal("NaN")], ids=repr)
def test_bad_days_are_refused(days):
    with pytest.raises(ValidationError, match="^days: .*number of days from 0 to 3,000,000"):
        codec.window(days, None, None)


def test_days_accept_numbers_and_a_long_window_is_all_time():
    until = dt.datetime(2024, 3, 31, tzinfo=UTC)
    assert codec.window(30, None, until) == ("2024-03-01T00:00:00.000000Z",
                                             "2024-03-31T00:00:00.000000Z")
    assert codec.window(np.int64(30), None, until)[0] == "2024-03-01T00:00:00.000000Z"
    assert codec.window(Decimal("0.5"), None, until)[0] == "2024-03-30T12:00:00.000000Z"
    # 3,000,000 days before 2024 is before 1900: the window starts where the range starts
    assert codec.window(3_000_000, None, until)[0] == "1900-01-01T00:00:00.000000Z"
    assert codec.window(None, None, until)[0] is None


@pytest.mark.parametrize("limit", [0, -1, 2 ** 63, 1.0, float("nan"), "5", True, None],
                         ids=repr)
def test_bad_limits_are_refused(limit):
    with pytest.raises(ValidationError, match="^limit: .*whole number from 1"):
        codec.to_limit(limit)


def test_limits_and_ids_accept_integers():
    assert codec.to_limit(np.int64(5)) == 5 and codec.to_limit(2 ** 63 - 1) == 2 ** 63 - 1
    assert codec.to_id(0, "id") == 0
    with pytest.raises(ValidationError, match="^trade_id: "):
        codec.to_id(2 ** 63, "trade_id")


@pytest.mark.parametrize("value", [
    dt.datetime(1899, 12, 31, 23, 59, 59, 999999), "1899-12-31T23:59:59",
    dt.datetime(9999, 12, 31), "9999-01-01T00:00:00Z", dt.datetime(9999, 1, 1),
    dt.datetime(1900, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),  # 1899 in UTC
    dt.datetime(9998, 12, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-2))),  # 9999 in UTC
])
def test_times_outside_the_supported_range_are_refused(value):
    with pytest.raises(ValidationError, match="^at: .*out of range .*1900-01-01.*9998-12-31"):
        to_utc(value, "at")


def test_the_ends_of_the_supported_range_are_accepted():
    assert ts_in(to_utc("1900-01-01T00:00:00Z", "t")) == "1900-01-01T00:00:00.000000Z"
    assert ts_in(to_utc("9998-12-31T23:59:59.999999", "t")) == "9998-12-31T23:59:59.999999Z"


# ------------------------------------------------ one vocabulary (issue 18.3)

def test_is_int_takes_integers_never_bools():
    np = pytest.importorskip("numpy")
    assert [codec.is_int(v) for v in (0, -5, 2 ** 70, np.int64(3))] == [True] * 4
    assert [codec.is_int(v) for v in (True, False, 1.0, "1", Decimal(1), None)] == [False] * 6


def test_to_int_bounds_and_wording():
    np = pytest.importorskip("numpy")
    assert codec.to_int(np.int64(7), "n") == 7 and type(codec.to_int(np.int64(7), "n")) is int
    assert codec.to_int(1, "keep", lowest=1) == 1
    with pytest.raises(ValidationError, match=r"^keep: 0 must be a whole number >= 1$"):
        codec.to_int(0, "keep", lowest=1, allowed="a whole number >= 1")
    with pytest.raises(ValidationError, match=r"^days: 11 must be a whole number from 1 to 10$"):
        codec.to_int(11, "days", lowest=1, highest=10)
    for bad in (True, 1.5, "3", None, 2 ** 63):
        with pytest.raises(ValidationError) as caught:
            codec.to_int(bad, "n")
        assert caught.value.field == "n"
    assert codec.optional_int(None, "n") is None and codec.optional_int(4, "n") == 4


def test_to_flag_takes_only_true_and_false():
    assert codec.to_flag(True, "f") is True and codec.to_flag(False, "f") is False
    for bad in (1, 0, "yes", None):
        with pytest.raises(ValidationError, match=r"^f: .* must be True or False$"):
            codec.to_flag(bad, "f")


def test_to_finite_float():
    assert codec.to_finite_float(Decimal("0.5"), "s") == 0.5 and codec.to_finite_float(2, "s") == 2.0
    for bad in (float("nan"), float("inf"), True, "0.5", None, Decimal("1e999")):
        with pytest.raises(ValidationError, match=r"^s: .* must be a finite number$"):
            codec.to_finite_float(bad, "s")


def test_time_range_fills_open_ends_so_that_every_stored_time_lies_inside():
    earliest, latest = codec.EARLIEST_TEXT, codec.LATEST_TEXT
    assert codec.time_range(None, None) == (earliest, latest)
    assert codec.time_range("2024-01-02T03:04:05+01:00", None) == (
        "2024-01-02T02:04:05.000000Z", latest)
    assert codec.bounded(None, "2024-01-01T00:00:00.000000Z") == (
        earliest, "2024-01-01T00:00:00.000000Z")
    low, high = codec.time_range(None, None)
    for moment in (codec.MIN_TIME, codec.MAX_TIME):
        assert low < ts_in(moment) < high
    with pytest.raises(ValidationError, match="^until: "):
        codec.time_range(None, "not a time", ("since", "until"))


@pytest.mark.parametrize("value", ["BTC/USDT", b"x", {"symbol": "X"}, None, 5])
def test_a_batch_that_is_not_a_list_is_refused_naming_what_was_given(value):
    with pytest.raises(ValidationError) as info:
        to_items(value, "trades", "fills")
    assert str(info.value) == f"trades: {value!r} is not a list (or iterable) of fills"
    assert info.value.field == "trades" and info.value.value == value
    assert list(to_items([1, 2], "trades", "fills")) == [1, 2]
