"""Orders: types, fills, overfills, transitions, history, lookups."""

from __future__ import annotations

from decimal import Decimal
from decimal import Decimal as D

import pytest

from tradestore import ConflictError, NotFoundError, ValidationError

from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


def snapshot(repo):
    return [repo.db.query(f"SELECT * FROM {table} ORDER BY id")
            for table in ("orders", "order_status_history", "trades", "positions")]


@pytest.mark.parametrize("order_type, kwargs, field", [
    ("LIMIT", {}, "price"),
    ("STOP", {}, "stop_price"),
    ("STOP_LIMIT", {"price": "1"}, "stop_price"),
    ("STOP_LIMIT", {"stop_price": "1"}, "price"),
    ("ICEBERG", {}, "order_type"),
    ("MARKET", {"price": "-1"}, "price"),
])
def test_order_type_requirements(repo, order_type, kwargs, field):
    with pytest.raises(ValidationError) as info:
        repo.create_order("BTC", "BUY", order_type, "1", **kwargs)
    assert info.value.field == field
    assert repo.db.scalar("SELECT count(*) FROM orders") == 0


def test_partial_then_full_fill_updates_order_and_position(repo):
    order = repo.create_order("BTC", "buy", "limit", "3", price="100", strategy="grid",
                              exchange="x", external_id="O1")
    assert (order.status, order.filled_quantity, order.avg_fill_price) == ("PENDING", 0, None)
    repo.record_fill(order.id, "1", "99", fees="0.1")
    partial = repo.get_order(order.id)
    assert partial.status == "PARTIALLY_FILLED" and partial.remaining_quantity == 2
    repo.record_fill(order.id, "2", "100.5", external_id="F2")
    done = repo.get_order(order.id)
    assert done.status == "FILLED" and done.filled_quantity == 3
    assert done.avg_fill_price == Decimal("100")           # (99 + 201) / 3
    fills = repo.get_trade_history(days=None)
    assert {f.order_id for f in fills} == {order.id} and {f.strategy for f in fills} == {"grid"}
    assert repo.get_position("BTC").quantity == 3
    assert [(h.from_status, h.to_status) for h in repo.orders.history(order.id)] == [
        (None, "PENDING"), ("PENDING", "PARTIALLY_FILLED"), ("PARTIALLY_FILLED", "FILLED")]
    assert repo.get_order_by_external_id("x", "O1").id == order.id


def test_overfill_and_terminal_fills_write_nothing(repo):
    order = repo.create_order("BTC", "SELL", "MARKET", "1")
    repo.record_fill(order.id, "0.4", "10")
    before = snapshot(repo)
    with pytest.raises(ConflictError, match="overfill"):
        repo.record_fill(order.id, "0.7", "10")
    assert snapshot(repo) == before
    # issue 15.7: a CANCELLED order takes late fills (see test_late_fill_*); a REJECTED
    # one never fills
    rejected = repo.create_order("BTC", "SELL", "MARKET", "1")
    repo.update_order_status(rejected.id, "REJECTED", "exchange said no")
    before = snapshot(repo)
    with pytest.raises(ConflictError, match="REJECTED"):
        repo.record_fill(rejected.id, "0.1", "10")
    assert snapshot(repo) == before


def test_fill_with_known_external_id_is_idempotent(repo):
    order = repo.create_order("BTC", "BUY", "MARKET", "2", exchange="x")
    first = repo.record_fill(order.id, "1", "10", external_id="E1")
    assert repo.record_fill(order.id, "1", "10", external_id="E1") == first
    assert repo.get_order(order.id).filled_quantity == 1


@pytest.mark.parametrize("path, target", [
    (["OPEN", "CANCELLED"], "OPEN"),
    (["REJECTED"], "OPEN"),
    (["EXPIRED"], "CANCELLED"),
    (["OPEN"], "PENDING"),
])
def test_illegal_transitions(repo, path, target):
    order = repo.create_order("BTC", "BUY", "MARKET", "1")
    for status in path:
        repo.update_order_status(order.id, status)
    before = snapshot(repo)
    with pytest.raises(ConflictError):
        repo.update_order_status(order.id, target)
    assert snapshot(repo) == before


def test_filled_cannot_reopen_and_fill_statuses_come_from_fills(repo):
    order = repo.create_order("BTC", "BUY", "MARKET", "1")
    with pytest.raises(ConflictError, match="record_fill"):
        repo.update_order_status(order.id, "FILLED")
    repo.record_fill(order.id, "1", "5")
    with pytest.raises(ConflictError):
        repo.update_order_status(order.id, "OPEN")


def test_lookups_and_errors(repo):
    a = repo.create_order("BTC", "BUY", "LIMIT", "1", price="1")
    b = repo.create_order("ETH", "BUY", "STOP", "1", stop_price="2", status="OPEN")
    c = repo.create_order("ETH", "SELL", "STOP_LIMIT", "1", price="3", stop_price="2")
    repo.cancel_order(c.id)
    assert [o.id for o in repo.get_open_orders()] == [a.id, b.id]
    assert [o.id for o in repo.get_open_orders("ETH")] == [b.id]
    assert [o.id for o in repo.get_recent_orders(2)] == [c.id, b.id]
    assert repo.get_order_by_external_id("", "nope") is None
    with pytest.raises(NotFoundError):
        repo.get_order(999)
    with pytest.raises(NotFoundError):
        repo.record_fill(999, "1", "1")
    with pytest.raises(ValidationError, match="status"):
        repo.update_order_status(a.id, "DONE")
    repo.create_order("X", "BUY", "MARKET", "1", exchange="e", external_id="dup")
    with pytest.raises(ConflictError):
        repo.create_order("X", "BUY", "MARKET", "1", exchange="e", external_id="dup")


def test_order_queries_use_indexes(sqlite_repo):
    from tradestore.record.orders import ORDER_COLUMNS
    rows = sqlite_repo.db.query(
        f"EXPLAIN QUERY PLAN SELECT {ORDER_COLUMNS} FROM orders WHERE exchange = ? "
        "AND external_id = ?", ("x", "1"))
    assert "orders_by_external_id" in " ".join(r[3] for r in rows)


# ------------------------------------------------------------------ late fills (issue 15.7)

def test_late_fill_after_cancel_is_recorded_and_noted(repo):
    order = repo.create_order("BTC", "BUY", "LIMIT", "2", price="10")
    repo.record_fill(order.id, "0.5", "10")
    repo.cancel_order(order.id, "user")
    trade_id = repo.record_fill(order.id, "0.5", "9")
    got = repo.get_order(order.id)
    # filled 0.5 + 0.5 = 1 of 2; average (0.5 x 10 + 0.5 x 9) / 1 = 9.5; still CANCELLED
    assert (got.status, got.filled_quantity, got.avg_fill_price) == ("CANCELLED", D(1), D("9.5"))
    last = repo.orders.history(order.id)[-1]
    assert (last.from_status, last.to_status) == ("CANCELLED", "CANCELLED")
    assert f"late fill after CANCELLED (trade {trade_id}: 0.5 @ 9); filled 1 of 2" == last.reason
    assert repo.get_position("BTC").quantity == 1


def test_late_fill_that_completes_an_expired_order_makes_it_filled(repo):
    order = repo.create_order("BTC", "SELL", "MARKET", "1")
    repo.update_order_status(order.id, "OPEN")
    repo.update_order_status(order.id, "EXPIRED", "end of day")
    repo.record_fill(order.id, "1", "10")
    assert repo.get_order(order.id).status == "FILLED"
    last = repo.orders.history(order.id)[-1]
    assert (last.from_status, last.to_status) == ("EXPIRED", "FILLED")
    assert last.reason.startswith("late fill after EXPIRED")


def test_a_fill_saved_with_an_order_id_updates_the_order(repo):
    order = repo.create_order("BTC", "BUY", "LIMIT", "2", price="10")
    repo.save_trade(dict(symbol="BTC", side="BUY", quantity="2", price="10", order_id=order.id))
    got = repo.get_order(order.id)
    assert (got.status, got.filled_quantity, got.avg_fill_price) == ("FILLED", D(2), D(10))
    assert repo.derived_problems() == []


def test_stored_ids_finds_which_orders_exist_across_chunks(repo):
    first = repo.orders.create("BTC/USDT", "BUY", "MARKET", 1).id
    second = repo.orders.create("ETH/USDT", "SELL", "MARKET", 2).id
    asked = [second + 1000, first, 0, *range(second + 1, second + 1200), second]
    assert repo.orders.stored_ids(asked) == {first, second}  # 1,203 ids: three chunks
    assert repo.orders.stored_ids([]) == set()
    with pytest.raises(ValidationError, match="^order_ids: ") as info:
        repo.orders.stored_ids([first, "two"])
    assert info.value.field == "order_ids"
