"""Positions by average cost: exact realised pnl, flips, round trips, replay."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradestore import TradeData, TradeRepo

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


WIDE = Context(prec=200)
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def fill(side, qty, price, fees="0", minutes=0, **kw):
    return TradeData("BTC/USDT", side, qty, price, fees=fees,
                     timestamp=T0 + timedelta(minutes=minutes), **kw)


def test_long_round_trip_worked_by_hand(memory_repo):
    memory_repo.save_trade(fill("BUY", "2", "100", "1"))
    memory_repo.save_trade(fill("BUY", "1", "130", "0.5", 1))
    pos = memory_repo.get_position("BTC/USDT")
    assert (pos.side, pos.quantity, pos.avg_entry_price) == ("LONG", Decimal(3), Decimal(110))
    assert pos.cost_basis == Decimal("331.5")
    # sell 1 of 3 at 120: value 120 vs entry share 110, fee share 0.5, own fee 0.2
    first = memory_repo.save_trade(fill("SELL", "1", "120", "0.2", 2))
    assert memory_repo.get_trade(first).pnl == Decimal("9.3")
    last = memory_repo.save_trade(fill("SELL", "2", "90", "0.3", 3))
    # remaining entry value 220, remaining entry fees 1.0: 180 - 220 - 1.0 - 0.3
    assert memory_repo.get_trade(last).pnl == Decimal("-41.3")
    assert memory_repo.get_position("BTC/USDT") is None
    closed, = memory_repo.get_closed_positions()
    cash_flow = Decimal(120 + 180) - Decimal(200 + 130) - Decimal("2.0")
    assert closed.realized_pnl == cash_flow == Decimal("-32.0")
    assert (closed.trade_count, closed.max_quantity, closed.fees) == (4, Decimal(3), Decimal("2.0"))


def test_short_round_trip_and_unrealized(memory_repo):
    memory_repo.save_trade(fill("SELL", "4", "50", "0.4"))
    pos = memory_repo.get_position("BTC/USDT")
    assert pos.side == "SHORT" and pos.quantity == 4
    assert pos.unrealized_pnl("45") == Decimal("19.6")   # 200 - 180 - 0.4
    memory_repo.save_trade(fill("BUY", "4", "40", "0.4", 1))
    closed, = memory_repo.get_closed_positions()
    assert closed.realized_pnl == Decimal(200 - 160) - Decimal("0.8")


def test_flip_closes_and_opens_with_fee_split(memory_repo):
    memory_repo.save_trade(fill("BUY", "1", "100", "1"))
    flip_id = memory_repo.save_trade(fill("SELL", "3", "110", "3", 1))
    # 1 of 3 closes (fee 1), 2 open a short (fee 2)
    assert memory_repo.get_trade(flip_id).pnl == Decimal(110 - 100 - 1 - 1)
    short = memory_repo.get_position("BTC/USDT")
    assert (short.side, short.quantity, short.entry_fees) == ("SHORT", Decimal(2), Decimal(2))
    assert short.avg_entry_price == Decimal(110)


def test_caller_given_pnl_is_stored_and_counted(memory_repo):
    memory_repo.save_trade(fill("BUY", "1", "100"))
    tid = memory_repo.save_trade(fill("SELL", "1", "105", pnl="4.99", minutes=1))
    assert memory_repo.get_trade(tid).pnl == Decimal("4.99")
    assert memory_repo.get_closed_positions()[0].realized_pnl == Decimal("4.99")


def test_positions_are_per_account_and_symbol(memory_repo):
    memory_repo.save_trade(TradeData("A", "BUY", 1, 10, account="main"))
    memory_repo.save_trade(TradeData("A", "SELL", 1, 10, account="other"))
    memory_repo.save_trade(TradeData("B", "BUY", 2, 10, account="main"))
    opened = {(p.account, p.symbol, p.side) for p in memory_repo.get_open_positions()}
    assert opened == {("main", "A", "LONG"), ("other", "A", "SHORT"), ("main", "B", "LONG")}
    assert [p.symbol for p in memory_repo.get_open_positions("main")] == ["A", "B"]


# ------------------------------------------------------------------ properties

def decimals(max_places=12, max_digits=9):
    return st.builds(lambda n, places: Decimal(n).scaleb(-places),
                     st.integers(1, 10 ** max_digits), st.integers(0, max_places))


fills_strategy = st.lists(
    st.tuples(st.sampled_from(["BUY", "SELL"]), decimals(), decimals(),
              st.one_of(st.just(Decimal(0)), decimals(max_digits=6))),
    min_size=1, max_size=25)


def fee_share(fee, part, whole):
    """The documented fee split of a fill crossing zero, computed independently."""
    if part == whole:
        return fee
    return WIDE.divide(WIDE.multiply(fee, part), whole).quantize(Decimal("1e-18"), ROUND_HALF_EVEN)


def expected_round_trips(fills):
    """Cash flow of each round trip, and the open quantity after each fill."""
    trips, legs, held, open_after = [], [], Decimal(0), []

    def close_trip():
        with localcontext(WIDE):
            cash = sum((p * q * (1 if s == "SELL" else -1) - f for s, q, p, f in legs), Decimal(0))
        trips.append(cash)
        legs.clear()

    for side, qty, price, fee in fills:
        signed = qty if side == "BUY" else -qty
        if held == 0 or (held > 0) == (signed > 0):
            legs.append((side, qty, price, fee))
            held += signed
        else:
            closing = min(qty, abs(held))
            closing_fee = fee_share(fee, closing, qty)
            legs.append((side, closing, price, closing_fee))
            held += closing if signed > 0 else -closing
            if held == 0:
                close_trip()
                if qty > closing:
                    legs.append((side, qty - closing, price, fee - closing_fee))
                    held = (qty - closing) * (1 if side == "BUY" else -1)
        open_after.append(abs(held))
    return trips, open_after


@given(fills_strategy)
def test_round_trip_pnl_is_exactly_its_cash_flow(fills):
    with TradeRepo(":memory:") as repo:
        trips, open_after = expected_round_trips(fills)
        for minute, (side, qty, price, fee) in enumerate(fills):
            repo.save_trade(fill(side, qty, price, fee, minute))
            position = repo.get_position("BTC/USDT")
            assert (position.quantity if position else Decimal(0)) == open_after[minute]
        closed = repo.get_closed_positions()
        assert [p.realized_pnl for p in closed] == trips
        for position in closed:
            pnls = [Decimal(r[0]) for r in repo.db.query(
                "SELECT pnl FROM trades WHERE position_id = ? AND pnl IS NOT NULL", (position.id,))]
            with localcontext(WIDE):
                assert sum(pnls, Decimal(0)) == position.realized_pnl
            assert position.entry_value == 0 and position.entry_fees == 0


@given(fills_strategy)
def test_replaying_the_same_fills_gives_identical_positions(fills):
    trades = [fill(side, qty, price, fee, minute)
              for minute, (side, qty, price, fee) in enumerate(fills)]
    snapshots = []
    for bulk in (False, True):
        with TradeRepo(":memory:") as repo:
            if bulk:
                repo.save_trades(trades)
            else:
                for trade in trades:
                    repo.save_trade(trade)
            snapshots.append(repo.db.query(
                "SELECT account, symbol, side, quantity, entry_value, entry_fees, max_quantity, "
                "realized_pnl, fees, trade_count, opened_at, closed_at FROM positions ORDER BY id"))
            snapshots.append(repo.db.query("SELECT pnl, position_id, opened_position_id "
                                           "FROM trades ORDER BY id"))
    assert snapshots[0] == snapshots[2] and snapshots[1] == snapshots[3]


def test_position_totals_survive_reopen(tmp_path):
    path = tmp_path / "t.db"
    with TradeRepo(path) as repo:
        repo.save_trade(fill("BUY", "0.00000812", "61234.123456789012", "0.000000000001"))
    with TradeRepo(path) as repo:
        pos = repo.get_position("BTC/USDT")
        assert str(pos.quantity) == "0.00000812"
        assert pos.entry_value == Decimal("0.00000812") * Decimal("61234.123456789012")


@pytest.mark.parametrize("mark", ["abc", "-1", None])
def test_unrealized_rejects_bad_mark(memory_repo, mark):
    memory_repo.save_trade(fill("BUY", "1", "1"))
    from tradestore import ValidationError
    with pytest.raises(ValidationError, match="mark_price"):
        memory_repo.get_position("BTC/USDT").unrealized_pnl(mark)


@pytest.mark.parametrize("bulk", [False, True])
def test_close_then_reopen_in_one_batch(memory_repo, bulk):
    trades = [fill("BUY", "1", "10"), fill("SELL", "1", "12", minutes=1),
              fill("BUY", "2", "11", minutes=2), fill("SELL", "3", "9", minutes=3),
              fill("BUY", "1", "8", minutes=4)]
    if bulk:
        memory_repo.save_trades(trades)
    else:
        for trade in trades:
            memory_repo.save_trade(trade)
    closed = memory_repo.get_closed_positions()
    assert [p.realized_pnl for p in closed] == [Decimal(2), Decimal(-4), Decimal(1)]
    assert memory_repo.get_position("BTC/USDT") is None
