"""A bulk save says which rows were new (SaveResult), and a bad row's ValidationError
says which row (index) and field (issue 18.2). Both engines (conftest.store)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradestore import ConflictError, TradeData, TradeRepo, ValidationError
from tradestore.ops.imports import import_trades
from tradestore.record.trades import SaveResult

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def fill(external_id=None, *, exchange="x", minutes=0, **kw):
    return TradeData("BTC/USDT", kw.pop("side", "BUY"), kw.pop("qty", "1"), kw.pop("price", "100"),
                     timestamp=T0 + timedelta(minutes=minutes), exchange=exchange,
                     external_id=external_id, **kw)


def stored_id(repo, exchange, external_id):
    return repo.db.scalar("SELECT id FROM trades WHERE exchange = ? AND external_id = ?",
                          (exchange, external_id))


def count(repo, table="trades"):
    return repo.db.scalar(f"SELECT count(*) FROM {table}")


def test_rows_are_new_or_duplicates_of_a_stored_fill_or_of_an_earlier_row(store):
    first = store.trades.save_report([fill("a"), fill("b"), fill("a"), fill()])
    a, b = stored_id(store, "x", "a"), stored_id(store, "x", "b")
    assert first.new == [True, True, False, True]
    assert first.ids[:3] == [a, b, a]
    assert (first.inserted, first.duplicates) == (3, [2])
    # "b" is stored; "c" twice in the batch; "a" on another exchange is another fill
    second = store.trades.save_report([fill("b", minutes=1), fill("c", minutes=2),
                                       fill("c", minutes=3), fill("a", exchange="y")])
    c, other_a = stored_id(store, "x", "c"), stored_id(store, "y", "a")
    assert second.ids == [b, c, c, other_a]
    assert second.new == [False, True, False, True]
    assert (second.inserted, second.duplicates) == (2, [0, 2])
    assert count(store) == 5  # 3 + 2: the report's count is what was stored


def test_save_many_still_returns_the_ids_alone(store):
    ids = store.save_trades([fill("a"), fill("a"), {"symbol": "BTC/USDT", "side": "SELL",
                                                    "quantity": "1", "price": "110",
                                                    "timestamp": T0 + timedelta(hours=1)}])
    assert type(ids) is list
    assert ids == [stored_id(store, "x", "a"), stored_id(store, "x", "a"),
                   store.db.scalar("SELECT id FROM trades WHERE side = 'SELL'")]
    assert store.trades.save_many([]) == []
    assert store.trades.save_report([]) == SaveResult([], [])


def test_a_report_of_only_duplicates_stores_nothing(store):
    store.save_trades([fill("a"), fill("b")])
    report = store.trades.save_report([fill("b"), fill("a"), fill("b")])
    assert report.new == [False, False, False]
    assert (report.inserted, report.duplicates) == (0, [0, 1, 2])
    assert count(store) == 2


BAD_QUANTITY = {"symbol": "BTC/USDT", "side": "BUY", "quantity": "-1", "price": "100"}


@pytest.mark.parametrize("rows, index, field, message", [
    # a mapping that is no fill (built before the transaction)
    ([fill("a"), fill("b"), BAD_QUANTITY], 2, "quantity",
     "row 2: quantity: '-1' must be greater than 0"),
    ([fill("a"), {"symbol": "BTC/USDT", "side": "BUY", "price": "1"}], 1, "quantity",
     "row 1: missing field(s) quantity: a fill needs symbol, side, quantity and price"),
    # checks inside the transaction: the order, then the accounting
    ([fill("a"), fill("b", order_id=77)], 1, "order_id",
     "row 1: order_id: 77 is not a stored order"),
    ([fill("a"), fill("b", fees="1", fee_currency="BTC")], 1, "fees",
     "row 1: fees: a 1 BTC fee is not smaller than the 1 BTC bought; nothing would be held"),
])
def test_a_bad_row_names_its_index_and_field(store, rows, index, field, message):
    with pytest.raises(ValidationError) as caught:
        store.trades.save_report(rows)
    error = caught.value
    assert (str(error), error.index, error.field) == (message, index, field)
    assert error.detail == message[len(f"row {index}: "):]
    assert count(store) == 0  # all or nothing
    with pytest.raises(ValidationError) as again:  # save_many: the same error
        store.save_trades(rows)
    assert (str(again.value), again.value.index) == (message, index)


def test_an_unknown_account_names_its_row(store):
    store.accounts.create("main")  # now unknown names are refused
    with pytest.raises(ValidationError) as caught:
        store.save_trades([fill("a", account="main"), fill("b", account="main"),
                           fill("c", account="ghost")])
    error = caught.value
    assert (error.index, error.field) == (2, "account")
    assert str(error) == "row 2: " + error.detail
    assert error.detail.startswith("account: 'ghost' is not a known account")


def test_a_deactivated_account_names_its_row_in_a_save_an_import_and_funding(store, tmp_path):
    """Not only a ValidationError: a ConflictError of one row (a deactivated account or
    instrument) says which row too, and an import names the file's line."""
    store.accounts.create("main")
    store.accounts.create("old")
    store.accounts.deactivate("old")
    with pytest.raises(ConflictError) as caught:
        store.save_trades([fill("a", account="main"), fill("b", account="old")])
    assert (caught.value.index, str(caught.value)) == (1, "row 1: " + caught.value.detail)
    assert caught.value.detail.startswith("account: 'old' is deactivated")
    with pytest.raises(ConflictError) as caught:
        store.funding.record_many([payment("p", account="main"), payment("q", account="old")])
    assert caught.value.index == 1 and str(caught.value).startswith("row 1: account: 'old'")
    path = tmp_path / "t.csv"
    path.write_text("symbol,side,quantity,price,timestamp,exchange,external_id,account\n"
                    "BTC/USDT,BUY,1,1,2025-01-01T00:00:00Z,x,a,main\n"
                    "BTC/USDT,BUY,1,1,2025-01-01T00:00:01Z,x,b,main\n"
                    "BTC/USDT,BUY,1,1,2025-01-01T00:00:02Z,x,c,old\n")
    with pytest.raises(ConflictError, match=r"^line 4: account: 'old' is deactivated.*; "
                                            r"nothing was imported$"):
        import_trades(store, path)
    assert count(store) == 0 and count(store, "funding_payments") == 0


def test_a_single_save_has_no_index():
    with TradeRepo(":memory:") as repo:
        with pytest.raises(ValidationError) as caught:
            repo.save_trade(BAD_QUANTITY)
        error = caught.value
        assert str(error) == "quantity: '-1' must be greater than 0"
        assert (error.index, error.field, error.detail) == (None, "quantity", str(error))
        with pytest.raises(ValidationError) as caught:
            repo.save_trade(fill("a", order_id=5))
        assert (str(caught.value), caught.value.index) == ("order_id: 5 is not a stored order",
                                                           None)


HUGE = "12345678901234567890123456789012345678"  # 38 digits: price x quantity has 75


def test_an_error_of_no_one_row_has_no_index(tmp_path):
    with TradeRepo(":memory:") as repo:
        with pytest.raises(ValidationError) as caught:
            repo.trades.save_report(5)
        assert (caught.value.index, caught.value.field) == (None, "trades")
        # the round trip's entry value is too long only once both fills are in it: the
        # error is the batch's (written after every row passed), not one row's
        with pytest.raises(ValidationError) as caught:
            repo.trades.save_report([fill("a"), fill("b", qty=HUGE, price=HUGE)])
        error = caught.value
        assert error.index is None
        assert str(error).startswith("entry value: the entry value (price x quantity) on "
                                     "BTC/USDT would be 1.524158e+74, longer than the 65")
        assert error.detail == str(error)
        # an import then names the chunk's lines, as before
        path = tmp_path / "t.csv"
        path.write_text("symbol,side,quantity,price,timestamp,exchange,external_id\n"
                        "BTC/USDT,BUY,1,1,2025-01-01T00:00:00Z,x,a\n"
                        f"BTC/USDT,BUY,{HUGE},{HUGE},2025-01-01T00:00:01Z,x,b\n")
        with pytest.raises(ValidationError, match=r"^lines 2-3: entry value: .*; nothing was "
                                                  r"imported$"):
            import_trades(repo, path)
        assert count(repo) == 0


# ------------------------------------------------------------------ funding payments

def payment(external_id=None, amount="-1.5", minutes=0, **kw):
    return {"symbol": "BTC/USDT:USDT", "amount": amount, "exchange": "x",
            "timestamp": T0 + timedelta(minutes=minutes), "external_id": external_id, **kw}


def test_funding_record_many_says_which_payments_were_new(store):
    store.save_trades([TradeData("BTC/USDT:USDT", "BUY", "1", "100", timestamp=T0,
                                 exchange="x")])
    first = store.funding.record_many([payment("f1", minutes=1), payment("f1", minutes=1),
                                       payment(minutes=2)])
    assert first.new == [True, False, True]
    assert first.ids[0] == first.ids[1] != first.ids[2]
    second = store.funding.record_many([payment("f1", minutes=1), payment("f2", "2", 3)])
    assert (second.new, second.ids[0]) == ([False, True], first.ids[0])
    # -1.5 (f1, once) - 1.5 (no id) + 2 (f2) counted in the open position
    assert store.get_position("BTC/USDT:USDT", exchange="x").funding == -1
    assert count(store, "funding_payments") == 3


@pytest.mark.parametrize("rows, index, field, message", [
    ([payment("f1"), payment("f2", amount="abc")], 1, "amount", None),
    ([payment("f1"), payment("f2", price="1")], 1, "price",
     "row 1: unknown field(s) price; allowed: account, amount, currency, exchange, "
     "external_id, metadata, symbol, timestamp"),
    ([payment("f1"), "f2"], 1, None, "row 1: 'f2' is not a mapping of record's arguments"),
])
def test_funding_record_many_names_the_bad_row(store, rows, index, field, message):
    with pytest.raises(ValidationError) as caught:
        store.funding.record_many(rows)
    error = caught.value
    assert (error.index, error.field) == (index, field)
    assert str(error) == f"row {index}: {error.detail}"
    if message is not None:
        assert str(error) == message
    assert count(store, "funding_payments") == 0


# ------------------------------------------------------------------ the flags, by property

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stored=st.lists(st.sampled_from("abcdef"), max_size=4),
       batch=st.lists(st.one_of(st.none(), st.sampled_from("abcdefgh")), min_size=1,
                      max_size=10))
def test_new_means_neither_stored_nor_earlier_in_the_batch(stored, batch):
    with TradeRepo(":memory:") as repo:
        repo.save_trades([fill(e, minutes=i) for i, e in enumerate(stored)])
        before = count(repo)
        report = repo.trades.save_report([fill(e, minutes=10 + i) for i, e in enumerate(batch)])
        seen = set(stored)
        for index, external_id in enumerate(batch):
            expected = external_id is None or external_id not in seen
            assert report.new[index] is expected
            if external_id is not None:
                assert report.ids[index] == stored_id(repo, "x", external_id)
                seen.add(external_id)
        assert count(repo) - before == report.inserted == len(report.ids) - len(report.duplicates)
        new_ids = [i for i, n in zip(report.ids, report.new) if n]
        assert len(set(new_ids)) == len(new_ids)  # a new row's id is its own


# ------------------------------------------------------------------ voids an import restores

def test_restore_voids_voids_stored_fills_with_their_own_time_and_reason(store):
    """restore_voids reads each fill's key from the store (it cannot be handed another
    fill's), keeps the given time and reason, and refuses an unknown or voided fill."""
    btc, eth = store.save_trades([fill("b"), TradeData("ETH/USDT", "BUY", "2", "10",
                                                        timestamp=T0, exchange="x")])
    store.trades.restore_voids([(btc, "2025-02-01T00:00:00Z", "wrong tick")])
    voided = store.trades.get(btc)
    assert (voided.voided_at, voided.void_reason) == (datetime(2025, 2, 1, tzinfo=timezone.utc),
                                                      "wrong tick")
    assert [p.symbol for p in store.get_open_positions()] == ["ETH/USDT"]  # BTC's is gone
    assert store.check() == []
    before = store.db.query("SELECT id, voided_at, void_reason FROM trades ORDER BY id")
    for bad, error, message in (
            ([(999, "2025-02-01T00:00:00Z", "x")], ValidationError, "trade_id: 999 is not a "
                                                                     "stored fill"),
            ([(eth, "2025-02-01T00:00:00Z", "x"), (btc, "2025-02-01T00:00:00Z", "again")],
             ConflictError, f"trade_id: fill {btc} was already voided"),
            ([(eth, "2025-02-01T00:00:00Z")], ValidationError, "voids: "),
            ([(eth, "yesterday", "x")], ValidationError, "voided_at: ")):
        with pytest.raises(error, match="^" + message):
            store.trades.restore_voids(bad)
    assert store.db.query("SELECT id, voided_at, void_reason FROM trades ORDER BY id") == before
