"""The bulk fast path stores exactly what the full conversion stores, and refuses nothing
the full conversion would accept (tradestore/fastpath.py, PortfolioStore.save_many)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from conftest import examples

from tradestore import TradeRepo, ValidationError
from tradestore._core.codec import dec_in, to_decimal, to_text, to_utc, ts_in
from tradestore._core.fastpath import money_text, name_text, timestamp_text

UTC = dt.timezone.utc
PLUS_2 = dt.timezone(dt.timedelta(hours=2))


def full_money(value):
    return dec_in(to_decimal(value, "total_value"))


# ------------------------------------------------------------------ hand-worked

@pytest.mark.parametrize("value, text", [
    (Decimal("123.4500"), "123.4500"),      # digits kept
    (Decimal("1E+2"), "100"),                # plain notation, as dec_in writes it
    (Decimal("-7.5"), "-7.5"),
    (Decimal("0.00"), "0.00"),
    (12, "12"), (-3, "-3"),
    (0.1, "0.1"),                            # a float through its shortest repr
    (1e-7, "0.0000001"),
])
def test_money_text_by_hand(value, text):
    assert money_text(value) == text == full_money(value)


@pytest.mark.parametrize("value", [
    Decimal("-0.00"),        # to_decimal makes a negative zero positive: the full path decides
    Decimal("NaN"), Decimal("Infinity"), float("nan"), float("inf"), -0.0,
    Decimal("1E+999999"),    # the plain form would be a million characters
    Decimal("1" * 39),       # 39 digits: the full path refuses it
    10 ** 40, True, "1.5", None, [1],
])
def test_money_text_leaves_the_rest_to_the_full_path(value):
    assert money_text(value) is None


@pytest.mark.parametrize("value, text", [
    (dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "2025-01-02T03:04:05.000000Z"),
    (dt.datetime(2025, 1, 2, 3, 4, 5, 60, tzinfo=UTC), "2025-01-02T03:04:05.000060Z"),
    (dt.datetime(1900, 1, 1), "1900-01-01T00:00:00.000000Z"),              # naive is UTC
    (dt.datetime(9998, 12, 31, 23, 59, 59, 999999), "9998-12-31T23:59:59.999999Z"),
])
def test_timestamp_text_by_hand(value, text):
    assert timestamp_text(value) == text == ts_in(to_utc(value, "timestamp"))


@pytest.mark.parametrize("value", [
    dt.datetime(2025, 1, 2, 5, 4, 5, tzinfo=PLUS_2),  # another zone: converted by the full path
    dt.datetime(1899, 12, 31, 23, 59, 59), dt.datetime(9999, 1, 1),  # outside the range
    "2025-01-02T03:04:05Z", dt.date(2025, 1, 2), None,
])
def test_timestamp_text_leaves_the_rest_to_the_full_path(value):
    assert timestamp_text(value) is None


@pytest.mark.parametrize("value, fast", [("main", True), (" a b ", True), ("x" * 200, True),
                                         ("x" * 201, False), ("", False), ("  ", False),
                                         ("café", False), (7, False)])
def test_name_text_by_hand(value, fast):
    assert (name_text(value) == value) is fast
    if fast:
        assert to_text(value, "account") == value


# ------------------------------------------------------------------ properties

any_decimals = st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(int(c) for c in str(digits)), exponent)),
    st.integers(0, 1), st.integers(0, 10 ** 45), st.integers(-80, 40))
money_inputs = st.one_of(any_decimals, st.integers(-10 ** 40, 10 ** 40),
                         st.floats(allow_nan=True, allow_infinity=True))


@given(value=money_inputs)
def test_property_money_text_is_the_full_conversion_or_none(value):
    try:
        full = full_money(value)
    except ValidationError:
        full = None
    fast = money_text(value)
    assert fast is None or fast == full


moments = st.one_of(st.datetimes(), st.datetimes(timezones=st.sampled_from([UTC, PLUS_2])))


@given(value=moments)
def test_property_timestamp_text_is_the_full_conversion_or_none(value):
    try:
        full = ts_in(to_utc(value, "timestamp"))
    except ValidationError:
        full = None
    fast = timestamp_text(value)
    assert fast is None or fast == full
    if value.tzinfo in (None, UTC) and full is not None:
        assert fast == full  # the common case is always taken


snapshot = st.fixed_dictionaries(
    {"total_value": money_inputs, "timestamp": moments},
    optional={"cash": st.one_of(st.none(), money_inputs),
              "account": st.sampled_from(["default", "main", " b "]),
              "positions": st.one_of(st.none(), st.dictionaries(st.text(max_size=3),
                                                                st.integers(), max_size=2)),
              "balances": st.none()})

COLUMNS = "account, timestamp, total_value, cash, positions, balances"


def stored(repo):
    return repo.db.query(f"SELECT {COLUMNS} FROM portfolio_snapshots ORDER BY account, timestamp")


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=examples(60, 15), deadline=None)
@given(items=st.lists(snapshot, max_size=8))
def test_property_save_many_stores_what_save_stores(items):
    """Bulk (fast path) and one save() per item (full path) leave the same rows, or both
    refuse the batch with the same message, leaving the bulk store empty."""
    with TradeRepo(":memory:") as bulk, TradeRepo(":memory:") as single:
        error = None
        try:
            with single.transaction():
                for item in items:
                    single.portfolio.save(**item)
        except ValidationError as exc:
            error = str(exc)
        if error is None:
            assert bulk.portfolio.save_many(items) == len(items)
            assert stored(bulk) == stored(single)
        else:
            with pytest.raises(ValidationError) as caught:
                bulk.portfolio.save_many(items)
            assert str(caught.value) == error
            assert stored(bulk) == []


# ------------------------------------------------------------------ the store, for real

def test_save_many_by_hand_on_a_file(tmp_path):
    path = tmp_path / "t.db"
    with TradeRepo(path) as repo:
        assert repo.portfolio.save_many([
            {"total_value": Decimal("1E+2"), "cash": Decimal("-0.00"),
             "timestamp": dt.datetime(2025, 1, 1)},
            {"total_value": 0.1, "timestamp": dt.datetime(2025, 1, 1, 2, 30, tzinfo=PLUS_2),
             "positions": {"BTC": Decimal("0.5")}},
            {"total_value": "007.50", "timestamp": "2025-01-01T01:00:00Z"},
        ]) == 3
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(f"SELECT {COLUMNS} FROM portfolio_snapshots "
                            "ORDER BY timestamp").fetchall()
    finally:
        conn.close()
    # 02:30 at +02:00 is 00:30 UTC; -0.00 is stored as 0.00; "007.50" as 7.50
    assert rows == [
        ("default", "2025-01-01T00:00:00.000000Z", "100", "0.00", None, None),
        ("default", "2025-01-01T00:30:00.000000Z", "0.1", None, '{"BTC":"0.5"}', None),
        ("default", "2025-01-01T01:00:00.000000Z", "7.50", None, None, None),
    ]


def test_save_many_bad_item_names_the_field_and_stores_nothing(memory_repo):
    good = {"total_value": Decimal("1"), "timestamp": dt.datetime(2025, 1, 1, tzinfo=UTC)}
    for bad, field in [({"cash": Decimal("NaN")}, "cash"),
                       ({"timestamp": dt.datetime(1800, 1, 1)}, "timestamp"),
                       ({"account": ""}, "account"),
                       ({"positions": [1]}, "positions"),
                       ({"total_value": Decimal("1" * 39)}, "total_value")]:
        with pytest.raises(ValidationError) as caught:
            memory_repo.portfolio.save_many([good, {**good, **bad}])
        assert caught.value.field == field
        assert str(caught.value).startswith(field)
    assert memory_repo.db.scalar("SELECT count(*) FROM portfolio_snapshots") == 0
