"""Model-based testing: random sequences of operations against a plain-Python model.

A hypothesis ``RuleBasedStateMachine`` saves fills (some sent twice), bulks (with
duplicates and invalid rows), orders with fills and cancels, bot states and
rollbacks, portfolio snapshots, migrates down and back up, and closes and reopens
the file, records funding payments. After every step the store must agree with the
model: the positions
computed here from the model's fills with plain Decimal arithmetic (not
``positions.apply_fill``), each fill's pnl, the pnl sums of the statistics, the
orders' states, the bot state history and the equity curve.
"""

from __future__ import annotations

import datetime as _dt
import re
import shutil
import tempfile
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from conftest import examples

from tradestore import TradeRepo
from tradestore._core.codec import ts_out
from tradestore._core.migrate import load_migrations
from tradestore.errors import ConflictError, MigrationError, ValidationError

BASE = _dt.datetime(2024, 3, 1, tzinfo=_dt.timezone.utc)
WIDE = Context(prec=200, rounding=ROUND_HALF_EVEN)
QUANTUM = Decimal("1e-18")  # pro-rata shares are rounded to this; the last share takes the rest
EXCHANGE = "x"
# Tables the model keeps data in: migrating below the version that creates any of them
# would drop that data, so "migrate down and up" stops above it.
DATA_TABLES = ("trades", "orders", "order_status_history", "positions", "bot_states",
               "portfolio_snapshots", "events", "accounts")


def created_in() -> dict[str, int]:
    """{table: the schema version whose up block creates it}."""
    out = {}
    for migration in load_migrations():
        for name in re.findall(r"CREATE TABLE (\w+)", migration.up):
            out.setdefault(name, migration.version)
    return out


LOWEST_SAFE_VERSION = max(created_in()[t] for t in DATA_TABLES)


# ------------------------------------------------------------------ the model's accounting

def share(total: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    if part == whole:
        return total
    return WIDE.divide(WIDE.multiply(total, part), whole).quantize(QUANTUM, context=WIDE)


def expected_positions(fills: list[dict], funding=(),
                       links: list | None = None) -> tuple[list[dict], list[tuple]]:
    """Average-cost round trips from the fills, in the order they were opened, and per
    fill (pnl, index of its position, index of the position it opened). ``cash`` is each
    round trip's own cash flow, for the no-residue identities. ``funding`` payments (in
    time order) count in the position of their key open at their time (issue 17.4);
    ``links`` receives each one's position index (None: nothing open)."""
    positions, per_fill, current = [], [], {}
    pending = list(funding)

    def fund(until):
        while pending and (until is None or pending[0]["ts"] < until):
            pay = pending.pop(0)
            index = current.get((pay["account"], pay["exchange"], pay["symbol"]))
            if index is not None:
                positions[index]["realized_pnl"] += pay["amount"]
                positions[index]["funding"] += pay["amount"]
                positions[index]["cash"] += pay["amount"]
            if links is not None:
                links.append(index)

    def open_(f, qty, fee):
        p = dict(account=f["account"], exchange=f["exchange"], symbol=f["symbol"],
                 side="LONG" if f["side"] == "BUY" else "SHORT", quantity=qty,
                 entry_value=f["price"] * qty, entry_fees=fee, max_quantity=qty,
                 realized_pnl=Decimal(0), fees=fee, trade_count=1, opened_at=f["ts"],
                 closed_at=None, funding=Decimal(0),
                 cash=(-1 if f["side"] == "BUY" else 1) * f["price"] * qty - fee)
        positions.append(p)
        current[(f["account"], f["exchange"], f["symbol"])] = len(positions) - 1
        return len(positions) - 1

    with localcontext(WIDE):
        for f in fills:
            fund(f["ts"])
            key = (f["account"], f["exchange"], f["symbol"])  # positions per venue (15.3)
            index = current.get(key)
            if index is None:
                per_fill.append((None, open_(f, f["quantity"], f["fees"]), None))
                continue
            p = positions[index]
            sign = -1 if f["side"] == "BUY" else 1
            if (p["side"] == "LONG") == (f["side"] == "BUY"):
                p["quantity"] += f["quantity"]
                p["entry_value"] += f["price"] * f["quantity"]
                p["entry_fees"] += f["fees"]
                p["fees"] += f["fees"]
                p["max_quantity"] = max(p["max_quantity"], p["quantity"])
                p["trade_count"] += 1
                p["cash"] += sign * f["price"] * f["quantity"] - f["fees"]
                per_fill.append((None, index, None))
                continue
            closing = min(f["quantity"], p["quantity"])
            rest = f["quantity"] - closing
            fee = f["fees"] if rest == 0 else share(f["fees"], closing, f["quantity"])
            value = share(p["entry_value"], closing, p["quantity"])
            held_fee = share(p["entry_fees"], closing, p["quantity"])
            gross = (f["price"] * closing - value if p["side"] == "LONG"
                     else value - f["price"] * closing)
            pnl = gross - held_fee - fee
            p["quantity"] -= closing
            p["entry_value"] -= value
            p["entry_fees"] -= held_fee
            p["realized_pnl"] += pnl
            p["fees"] += fee
            p["trade_count"] += 1
            p["cash"] += sign * f["price"] * closing - fee
            opened = None
            if p["quantity"] == 0:
                p["closed_at"] = f["ts"]
                del current[key]
                if rest > 0:
                    opened = open_(f, rest, f["fees"] - fee)
            per_fill.append((pnl, index, opened))
        fund(None)
    return positions, per_fill


# ------------------------------------------------------------------ strategies

symbols = st.sampled_from(["AAA", "BBB"])
accounts = st.sampled_from(["default", "alt"])
sides = st.sampled_from(["BUY", "SELL"])
quantities = st.integers(1, 3000).map(lambda n: Decimal(n).scaleb(-3))
prices = st.integers(1, 200_000).map(lambda n: Decimal(n).scaleb(-2))
fee_amounts = st.integers(0, 2000).map(lambda n: Decimal(n).scaleb(-4))
fill_specs = st.fixed_dictionaries(dict(symbol=symbols, side=sides, quantity=quantities,
                                        price=prices, fees=fee_amounts, account=accounts))
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
# states keep integers of 64 bits; a larger one is refused (issue 14.8)
ints64 = st.integers(-2 ** 63, 2 ** 63 - 1)
state_contents = st.fixed_dictionaries(dict(
    positions=st.dictionaries(symbols, quantities, max_size=2),
    balances=st.dictionaries(st.sampled_from(["USD", "BTC"]), prices, max_size=2),
    configuration=st.dictionaries(texts, ints64 | texts | st.booleans(), max_size=3),
    extra=st.none() | st.lists(ints64 | texts, max_size=3)))


class TradeStoreMachine(RuleBasedStateMachine):
    """The store under random operations, next to a model of what it must hold."""

    def __init__(self):
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="tradestore-model-"))
        self.path = self.folder / "trades.db"
        self.repo = TradeRepo(self.path)
        self.repo.accounts.create("alt")
        self.fills: list[dict] = []      # in id order: trade id = index + 1
        self.by_external: dict[tuple[str, str], int] = {}
        self.orders: dict[int, dict] = {}
        self.states: list[dict] = []     # version = index + 1
        self.snapshots: dict[_dt.datetime, Decimal] = {}
        self.rollbacks = 0
        self.voided: set[int] = set()    # trade ids voided (issue 15.7)
        self.funding: list[dict] = []    # funding payments: id = index + 1 (issue 17.4)
        self.clock = 0
        self.serial = 0
        self.walks = 0  # migrate_down_and_up calls: ~0.5 s each (the steps rebuild tables)

    def teardown(self):
        self.repo.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # ---- helpers
    def tick(self) -> _dt.datetime:
        self.clock += 1
        return BASE + _dt.timedelta(seconds=self.clock)

    def new_external_id(self) -> str:
        self.serial += 1
        return f"e{self.serial}"

    def model_save(self, spec: dict, ts, external_id=None, exchange=EXCHANGE,
                   order_id=None) -> int:
        """What saving one fill does to the model; returns the id the store must give."""
        key = (exchange, external_id)
        if external_id is not None and key in self.by_external:
            return self.by_external[key]
        self.fills.append(dict(spec, ts=ts, order_id=order_id, exchange=exchange))
        trade_id = len(self.fills)
        if external_id is not None:
            self.by_external[key] = trade_id
        return trade_id

    # ---- fills
    @rule(spec=fill_specs, with_external_id=st.booleans())
    def save_fill(self, spec, with_external_id):
        ts = self.tick()
        ext = self.new_external_id() if with_external_id else None
        got = self.repo.save_trade(dict(spec, timestamp=ts, external_id=ext, exchange=EXCHANGE))
        assert got == self.model_save(spec, ts, ext)

    @precondition(lambda self: self.by_external)
    @rule(data=st.data(), spec=fill_specs)
    def send_a_fill_again(self, data, spec):
        (exchange, ext), trade_id = data.draw(st.sampled_from(sorted(self.by_external.items())))
        if exchange != EXCHANGE:
            return  # an order's fill: sent again through record_fill below
        assert self.repo.save_trade(dict(spec, external_id=ext, exchange=exchange)) == trade_id

    @rule(data=st.data(), specs=st.lists(fill_specs, min_size=1, max_size=6),
          invalid_at=st.none() | st.integers(0, 5))
    def save_bulk(self, data, specs, invalid_at):
        known = sorted(e for x, e in self.by_external if x == EXCHANGE)
        rows, exts = [], []
        for spec in specs:  # a new id, one already stored, or one repeated in the bulk
            choice = data.draw(st.sampled_from(["new", "none", "stored", "repeat"]))
            if choice == "stored" and known:
                ext = data.draw(st.sampled_from(known))
            elif choice == "repeat" and exts and exts[-1] is not None:
                ext = exts[-1]
            elif choice == "none":
                ext = None
            else:
                ext = self.new_external_id()
            exts.append(ext)
            rows.append(dict(spec, external_id=ext, exchange=EXCHANGE))
        if invalid_at is not None and invalid_at < len(rows):
            rows[invalid_at] = dict(rows[invalid_at], quantity="0")
            with pytest.raises(ValidationError, match=f"row {invalid_at}: quantity"):
                self.repo.save_trades(rows)
            return  # all or nothing: the invariants check that nothing was saved
        stamps = [self.tick() for _ in rows]
        got = self.repo.save_trades([dict(r, timestamp=t) for r, t in zip(rows, stamps)])
        assert got == [self.model_save(spec, t, ext)
                       for spec, t, ext in zip(specs, stamps, exts)]

    @precondition(lambda self: len(self.voided) < len(self.fills))
    @rule(data=st.data())
    def void_a_fill(self, data):
        live = [i for i in range(1, len(self.fills) + 1) if i not in self.voided]
        trade_id = data.draw(st.sampled_from(live))
        assert self.repo.void_trade(trade_id, "model").voided_at is not None
        self.voided.add(trade_id)
        fill = self.fills[trade_id - 1]
        if fill["order_id"] is not None:  # the order's totals lose it, its status stays
            self.orders[fill["order_id"]]["filled"] -= fill["quantity"]
        with pytest.raises(ConflictError):
            self.repo.void_trade(trade_id, "again")

    @rule(symbol=symbols, account=accounts, cents=st.integers(-500, 500))
    def record_funding(self, symbol, account, cents):
        ts, amount, ext = self.tick(), Decimal(cents).scaleb(-2), self.new_external_id()
        got = self.repo.record_funding(symbol, amount, ts, exchange=EXCHANGE, account=account,
                                       external_id=ext)
        assert self.repo.record_funding(symbol, amount, ts, exchange=EXCHANGE,
                                        account=account, external_id=ext) == got
        self.funding.append(dict(symbol=symbol, account=account, exchange=EXCHANGE,
                                 amount=amount, ts=ts))
        assert got == len(self.funding)

    # ---- orders
    @rule(symbol=symbols, side=sides, quantity=st.integers(1, 5), price=prices)
    def create_order(self, symbol, side, quantity, price):
        order = self.repo.create_order(symbol, side, "LIMIT", quantity, price=price)
        assert order.id == len(self.orders) + 1 and order.status == "PENDING"
        self.orders[order.id] = dict(symbol=symbol, side=side, quantity=Decimal(quantity),
                                     filled=Decimal(0), status="PENDING", fills=[])

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), quantity=st.integers(1, 3), price=prices, fee=fee_amounts)
    def fill_order(self, data, quantity, price, fee):
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        order = self.orders[order_id]
        ts, ext = self.tick(), self.new_external_id()
        # a CANCELLED order takes late fills (issue 15.7); FILLED and overfills are refused
        if order["status"] == "FILLED" or order["filled"] + quantity > order["quantity"]:
            with pytest.raises(ConflictError):
                self.repo.record_fill(order_id, quantity, price, fees=fee, external_id=ext,
                                      timestamp=ts)
            return
        got = self.repo.record_fill(order_id, quantity, price, fees=fee, external_id=ext,
                                    timestamp=ts)
        spec = dict(symbol=order["symbol"], side=order["side"], quantity=Decimal(quantity),
                    price=price, fees=fee, account="default")
        assert got == self.model_save(spec, ts, ext, exchange="", order_id=order_id)
        order["filled"] += quantity
        if order["filled"] == order["quantity"]:
            order["status"] = "FILLED"
        elif order["status"] != "CANCELLED":  # a late fill leaves CANCELLED as it is
            order["status"] = "PARTIALLY_FILLED"
        order["fills"].append((ext, got))

    @precondition(lambda self: any(o["fills"] for o in self.orders.values()))
    @rule(data=st.data())
    def send_an_order_fill_again(self, data):
        order_id = data.draw(st.sampled_from(sorted(i for i, o in self.orders.items()
                                                    if o["fills"])))
        ext, trade_id = data.draw(st.sampled_from(self.orders[order_id]["fills"]))
        assert self.repo.record_fill(order_id, 1, 1, external_id=ext) == trade_id

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def cancel_order(self, data):
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        order = self.orders[order_id]
        if order["status"] == "FILLED":
            with pytest.raises(ConflictError):
                self.repo.cancel_order(order_id)
            return
        assert self.repo.cancel_order(order_id, "model").status == "CANCELLED"
        order["status"] = "CANCELLED"

    # ---- states and snapshots
    @rule(content=state_contents)
    def save_state(self, content):
        assert self.repo.save_bot_state(content) == len(self.states) + 1
        self.states.append(content)

    @precondition(lambda self: self.states)
    @rule(data=st.data())
    def roll_back_state(self, data):
        version = data.draw(st.integers(1, len(self.states)))
        assert self.repo.rollback_bot_state(version) == len(self.states) + 1
        self.states.append(self.states[version - 1])
        self.rollbacks += 1

    @rule(hour=st.integers(0, 5), value=st.integers(0, 10**9).map(lambda n: Decimal(n).scaleb(-2)))
    def save_snapshot(self, hour, value):
        moment = BASE + _dt.timedelta(hours=hour)
        self.repo.save_portfolio_snapshot(value, timestamp=moment)
        self.snapshots[moment] = value  # the same moment again replaces the point

    # ---- the store itself
    @precondition(lambda self: self.walks < examples(30, 1))  # the default run: one a sequence
    @rule(data=st.data())
    def migrate_down_and_up(self, data):
        self.walks += 1
        head = self.repo.migrator.head
        target = data.draw(st.integers(LOWEST_SAFE_VERSION, head - 1))
        venues = self.repo.db.scalar(
            "SELECT count(*) FROM (SELECT 1 FROM positions WHERE closed_at IS NULL "
            "GROUP BY account, symbol HAVING count(*) > 1)")
        # the dry run walks down step by step: a down step that cannot run (0008 with two
        # venues open) refuses before the rows the walk would drop are counted
        if target < 8 and venues:  # schema 7 keeps one open position per (account, symbol)
            with pytest.raises(MigrationError, match="positions_open"):
                self.repo.migrate(target)
            assert self.repo.current_version == head
            return
        if target < 11 and self.funding:  # going down would drop the funding payments
            with pytest.raises(ConflictError, match="funding_payments"):
                self.repo.migrate(target)
            assert self.repo.current_version == head
            return
        assert self.repo.migrate(target) == list(range(head - 1, target - 1, -1))
        if target < 8:  # schema 7 has no void columns: voided fills count again (documented
            for trade_id in self.voided:  # in docs/trading-record.md)
                fill = self.fills[trade_id - 1]
                if fill["order_id"] is not None:
                    self.orders[fill["order_id"]]["filled"] += fill["quantity"]
            self.voided.clear()
        assert self.repo.migrate() == list(range(target + 1, head + 1))

    @rule()
    def close_and_reopen(self):
        self.repo.close()
        self.repo = TradeRepo(self.path)

    # ---- agreement
    @invariant()
    def store_agrees_with_model(self):
        check_agreement(self)


def check_agreement(m: TradeStoreMachine) -> None:
    repo = m.repo
    trades = repo.db.query("SELECT id, account, symbol, side, quantity, price, fees, timestamp, "
                           "pnl, position_id, opened_position_id, order_id FROM trades ORDER BY id")
    assert [(r[1], r[2], r[3], Decimal(r[4]), Decimal(r[5]), Decimal(r[6]), ts_out(r[7]), r[11])
            for r in trades] == \
        [(f["account"], f["symbol"], f["side"], f["quantity"], f["price"], f["fees"], f["ts"],
          f["order_id"]) for f in m.fills]
    live = [i for i in range(1, len(m.fills) + 1) if i not in m.voided]
    links: list = []
    positions, per_fill = expected_positions([m.fills[i - 1] for i in live], m.funding, links)
    stored = repo.db.query("SELECT id, account, symbol, side, quantity, entry_value, entry_fees, "
                           "max_quantity, realized_pnl, fees, trade_count, opened_at, closed_at, "
                           "exchange, funding FROM positions ORDER BY id")
    assert len(stored) == len(positions)
    # a void replays its key, reusing that key's ids in time order: compare per key
    by_key = sorted(range(len(positions)), key=lambda i: (
        positions[i]["account"], positions[i]["exchange"], positions[i]["symbol"], i))
    stored = sorted(stored, key=lambda r: (r[1], r[13], r[2], r[0]))
    ids = {}
    for index, row in zip(by_key, stored):
        want, ids[index] = positions[index], row[0]
        got = dict(account=row[1], symbol=row[2], side=row[3], quantity=Decimal(row[4]),
                   entry_value=Decimal(row[5]), entry_fees=Decimal(row[6]),
                   max_quantity=Decimal(row[7]), realized_pnl=Decimal(row[8]),
                   fees=Decimal(row[9]), trade_count=row[10], opened_at=ts_out(row[11]),
                   closed_at=ts_out(row[12]), exchange=row[13], funding=Decimal(row[14]))
        assert got == {k: v for k, v in want.items() if k != "cash"}, f"position {row[0]}"
        # no rounding residue: a round trip's pnl is its cash flow, held value accounted
        with localcontext(WIDE):
            held = got["entry_value"] if got["side"] == "LONG" else -got["entry_value"]
            assert got["realized_pnl"] - held - got["entry_fees"] == want["cash"]
    for row in trades:
        if row[0] in m.voided:  # kept for the audit trail, applied to nothing
            assert (row[8], row[9], row[10]) == (None, None, None), f"voided fill {row[0]}"
    for (pnl, index, opened), row in zip(per_fill, [r for r in trades if r[0] not in m.voided]):
        assert (None if row[8] is None else Decimal(row[8])) == pnl, f"fill {row[0]} pnl"
        assert (row[9], row[10]) == (ids[index], None if opened is None else ids[opened])
    stored_links = [r[0] for r in repo.db.query(
        "SELECT position_id FROM funding_payments ORDER BY id")]
    assert stored_links == [None if i is None else ids[i] for i in links]
    # the open positions a bot asks for, and the statistics over closed round trips
    assert {(p.account, p.exchange, p.symbol): p.quantity for p in repo.get_open_positions()} == \
        {(p["account"], p["exchange"], p["symbol"]): p["quantity"]
         for p in positions if p["closed_at"] is None}
    closed = [p for p in positions if p["closed_at"] is not None]
    stats = repo.get_statistics(days=None)
    assert stats.total_trades == len(closed)
    assert stats.winning_trades == sum(p["realized_pnl"] > 0 for p in closed)
    assert stats.losing_trades == sum(p["realized_pnl"] < 0 for p in closed)
    assert stats.net_pnl == sum((p["realized_pnl"] for p in closed), Decimal(0))
    assert stats.total_fees == sum((p["fees"] for p in closed), Decimal(0))
    # orders
    for order_id, want in m.orders.items():
        order = repo.get_order(order_id)
        assert (order.status, order.filled_quantity) == (want["status"], want["filled"])
    assert len(repo.get_recent_orders(limit=1000)) == len(m.orders)
    # bot states: every version, the newest loaded, each verifying
    listed = repo.list_bot_states()
    assert [(v.version, v.ok) for v in listed] == [(i + 1, True) for i in range(len(m.states))]
    latest = repo.load_bot_state()
    if m.states:
        assert latest.version == len(m.states)
        assert latest.to_dict() == normal_state(m.states[-1])
    else:
        assert latest is None
    assert repo.db.scalar("SELECT count(*) FROM events WHERE event_type = 'state_rollback'") \
        == m.rollbacks
    # the equity curve
    assert repo.get_portfolio_value_history(days=None) == sorted(m.snapshots.items())
    assert repo.current_version == repo.migrator.head


def normal_state(content: dict) -> dict:
    return {k: (v if v is not None or k == "extra" else {}) for k, v in content.items()}


TradeStoreMachine.TestCase.settings = settings(
    max_examples=examples(50, 10), stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_store_against_model = TradeStoreMachine.TestCase


# ------------------------------------------------------------------ regressions and the model

def test_the_model_matches_the_documented_definitions():
    """A round trip with a partial close and a zero crossing, worked by hand."""
    fills = [dict(account="a", exchange="", symbol="S", side=s, quantity=Decimal(q), price=Decimal(p),
                  fees=Decimal(f), ts=BASE) for s, q, p, f in
             [("BUY", "3", "10", "0.3"), ("SELL", "1", "13", "0.1"), ("SELL", "4", "12", "0.4")]]
    positions, per_fill = expected_positions(fills)
    # sell 1 of 3: (13 - 10) - 0.1 (its share of the entry fees) - 0.1 (own fee) = 2.8
    # sell 4 crosses: closes 2 at 12: 24 - 20 - 0.2 - 0.2 = 3.6, opens a short of 2
    assert [x[0] for x in per_fill] == [None, Decimal("2.8"), Decimal("3.6")]
    assert positions[0]["realized_pnl"] == Decimal("6.4") == positions[0]["cash"]
    assert (positions[1]["side"], positions[1]["quantity"], positions[1]["entry_fees"]) == \
        ("SHORT", Decimal(2), Decimal("0.2"))
