"""The per-fill hot paths of the position accounting (issue 16.5) give exactly what their
plain definitions give: the same Decimal values with the same exponents, the same texts.

Each test below keeps the plain definition it guards (as the code read before it was
written for speed) and compares the two on random input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradestore import TradeData, TradeRepo
from tradestore._core.codec import dec_in, dec_out, json_out, ts_in, ts_out
from tradestore._core.money import (EXACT, ONE, ROUNDING, SHARE_QUANTUM, ZERO, exact, ratio,
                                    share, tidy)
from tradestore.record.positions import (SELECT_OPEN, PositionState, average_price,
                                         unvalued_out)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def decimals(min_exp=-80, max_exp=40, max_digits=40):
    """Random digits with random exponents and signs (zeros with exponents included)."""
    return st.builds(lambda sign, digits, exp: Decimal((sign, tuple(digits), exp)),
                     st.integers(0, 1), st.lists(st.integers(0, 9), min_size=1,
                                                 max_size=max_digits),
                     st.integers(min_exp, max_exp))


def exactly(value):
    """A value compared with its exponent: Decimal('1.0') == Decimal('1') but not here."""
    return (type(value), str(value)) if isinstance(value, Decimal) else value


# ------------------------------------------------------------------ dec_in

@pytest.mark.parametrize("number, text", [
    (Decimal("1.10"), "1.10"),          # digits kept
    (Decimal("1E+3"), "1000"),           # str() would write 1E+3
    (Decimal("1E-7"), "0.0000001"),      # str() would write 1E-7
    (Decimal("0E-8"), "0.00000000"),     # str() would write 0E-8
    (Decimal("-0.00"), "-0.00"),
    (Decimal("123456.000001"), "123456.000001"),
    (None, None),
])
def test_dec_in_by_hand(number, text):
    assert dec_in(number) == text


@given(decimals() | st.sampled_from([Decimal("NaN"), Decimal("-Infinity"), Decimal("sNaN")]))
def test_property_dec_in_is_format_f(number):
    assert dec_in(number) == format(number, "f")


# ------------------------------------------------------------------ PositionState.from_row

def from_row_by_definition(row):
    """PositionState.from_row as it read before issue 16.5: every column decoded."""
    return PositionState(row[0], row[1], row[2], row[3], dec_out(row[4]), dec_out(row[5]),
                         dec_out(row[6]), dec_out(row[7]), dec_out(row[8]), dec_out(row[9]),
                         row[10], ts_out(row[11]), ts_out(row[12]), row[13], row[14], row[15],
                         {c: Decimal(a) for c, a in (json_out(row[16]) or {}).items()},
                         dec_out(row[17]), dec_out(row[18]), dec_out(row[19]), dec_out(row[20]),
                         dec_out(row[21]), dec_out(row[22]), row[23], dec_out(row[24]),
                         bool(row[25]), dec_out(row[26]), dec_out(row[27]), row[28],
                         dec_out(row[29]), dec_out(row[30]))


def fields_of(state):
    return [(name, exactly(value)) for name, value in vars(state).items()]


# stored texts as the money CHECK allows them: plain, digits kept, a sign where allowed
unsigned = decimals(min_exp=-30, max_exp=10, max_digits=30).map(lambda d: format(abs(d), "f"))
signed = decimals(min_exp=-30, max_exp=10, max_digits=30).map(lambda d: format(d, "f"))
stamp = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9998, 1, 1),
                     timezones=st.just(timezone.utc)).map(ts_in)
spot = st.just(("0", "0", None, "1", 0, None, "0", None, None))
contract = st.tuples(signed, signed, st.sampled_from([None, "trade", "liquidation"]),
                     unsigned.filter(lambda t: Decimal(t) > 0), st.sampled_from([0, 1]),
                     st.none() | unsigned, unsigned, st.sampled_from([None, "isolated", "cross"]),
                     st.none() | unsigned)
rows = st.builds(
    lambda head, figures, opened, closed, unvalued, entered, terms, pnl: (
        *head, *figures, 3, opened, closed, "", "USDT", None, unvalued, *entered, *terms, pnl),
    st.tuples(st.integers(1, 10**6), st.just("default"), st.just("BTC/USDT"),
              st.sampled_from(["LONG", "SHORT"])),
    st.tuples(unsigned, signed, signed, unsigned, signed, signed),
    stamp, st.none() | stamp,
    st.none() | st.just('{"BNB":"0.0100"}'),
    st.tuples(unsigned, unsigned, unsigned, unsigned),
    spot | contract | contract.map(lambda t: ("0", *t[1:])),
    signed)


@given(rows)
def test_property_from_row_is_the_plain_decoding(row):
    assert fields_of(PositionState.from_row(row)) == fields_of(from_row_by_definition(row))


def test_from_row_of_a_stored_spot_round_trip_by_hand():
    """Bought 2 at 100 (fee 1), 1 at 130 (fee 0.5): entry value 330, entry fees 1.5."""
    with TradeRepo(":memory:") as repo:
        repo.save_trade(TradeData("BTC/USDT", "BUY", "2", "100", fees="1", timestamp=T0))
        repo.save_trade(TradeData("BTC/USDT", "BUY", "1", "130", fees="0.5",
                                  timestamp=T0 + timedelta(minutes=1)))
        row = repo.db.query_one(SELECT_OPEN, ("default", "", "BTC/USDT"))
    state = PositionState.from_row(row)
    assert (state.quantity, state.entry_value, state.entry_fees) == (3, 330, Decimal("1.5"))
    assert (state.funding, state.commission, state.margin, state.contract_size) == (0, 0, 0, 1)
    assert (state.closed_by, state.leverage, state.inverse, state.unvalued_fees) == \
        (None, None, False, {})
    assert fields_of(state) == fields_of(from_row_by_definition(row))


def test_unvalued_out_by_hand():
    assert unvalued_out(None) == {}
    assert {c: str(a) for c, a in unvalued_out('{"BNB":"0.0100"}').items()} == {"BNB": "0.0100"}


# ------------------------------------------------------------------ average price, trading pnl

def average_price_by_definition(value, quantity, contract_size, inverse):
    with exact():
        units = quantity * contract_size
    return ratio(units, value) if inverse else ratio(value, units)


positive = decimals(min_exp=-20, max_exp=8, max_digits=25).map(abs)


@given(positive, positive, positive | st.sampled_from([Decimal(1), Decimal("1.0"),
                                                       Decimal("1.000")]), st.booleans())
def test_property_average_price_is_its_definition(value, quantity, contract_size, inverse):
    assert exactly(average_price(value, quantity, contract_size, inverse)) == \
        exactly(average_price_by_definition(value, quantity, contract_size, inverse))


def test_average_price_by_hand():
    # 330 over 3 units; a contract size written 1.0 gives the same text
    assert str(average_price(Decimal("330"), Decimal("3"), Decimal("1.0"), False)) == "110"
    # inverse: 2 contracts of 10 over a value of 0.0004 BTC is 50000
    assert str(average_price(Decimal("0.0004"), Decimal("2"), Decimal("10"), True)) == "50000"
    assert average_price(ZERO, ZERO, Decimal(1), False) is None


@given(decimals(-30, 10, 30), decimals(-30, 10, 30), decimals(-30, 10, 30))
def test_property_trading_pnl_is_its_definition(realized, funding, fees):
    state = PositionState(1, "a", "s", "LONG", ZERO, ZERO, ZERO, ZERO, realized, fees, 1, T0,
                          funding=funding)
    with exact():
        expected = tidy(realized - funding + fees)
    assert exactly(state.trading_pnl) == exactly(expected)


def test_trading_pnl_by_hand():
    # realized 9.3 after funding -0.5 and fees 1.7: from prices alone 9.3 + 0.5 + 1.7
    state = PositionState(1, "a", "s", "LONG", ZERO, ZERO, ZERO, ZERO, Decimal("9.3"),
                          Decimal("1.70"), 1, T0, funding=Decimal("-0.5"))
    assert str(state.trading_pnl) == "11.5"


# ------------------------------------------------------------------ money: tidy, share, ratio

def tidy_by_definition(value):
    text = str(value)
    if text[-1] != "0" and "E" not in text:
        return value
    if value.is_zero():
        return ZERO
    value = value.normalize(EXACT)
    return value.quantize(ONE, context=EXACT) if "E+" in str(value) else value


def share_by_definition(total, part, whole):
    if part == whole:
        return total
    quotient = ROUNDING.divide(ROUNDING.multiply(total, part), whole)
    return tidy_by_definition(quotient.quantize(SHARE_QUANTUM, context=ROUNDING))


def ratio_by_definition(numerator, denominator):
    if denominator == 0:
        return None
    return tidy_by_definition(ROUNDING.divide(numerator, denominator).quantize(
        SHARE_QUANTUM, context=ROUNDING))


@given(decimals(-60, 60, 60))
def test_property_tidy_is_its_definition(value):
    assert exactly(tidy(value)) == exactly(tidy_by_definition(value))


@given(decimals(-30, 10, 30), positive, positive.filter(bool))
def test_property_share_and_ratio_are_their_definitions(total, part, whole):
    assert exactly(share(total, part, whole)) == exactly(share_by_definition(total, part, whole))
    assert exactly(ratio(total, whole)) == exactly(ratio_by_definition(total, whole))


def test_money_by_hand():
    assert str(tidy(Decimal("2.500"))) == "2.5" and str(tidy(Decimal("1E+3"))) == "1000"
    assert tidy(Decimal("-0.00")) is ZERO
    # 10 x 1/3, to the share quantum: 3.333333333333333333 (eighteen 3s after the point)
    assert str(share(Decimal(10), Decimal(1), Decimal(3))) == "3." + "3" * 18
    assert str(ratio(Decimal("7.50"), Decimal("2.5"))) == "3"
