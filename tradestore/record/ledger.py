"""Replaying fills into positions: late fills, voids, the derived-data check and rebuild.

Positions are derived from the fills of their key (account, exchange, symbol) in
(timestamp, id) order. The common case (a fill newer than everything of its key)
is applied incrementally by ``TradeStore``; everything else goes through a *plan*
here: the fills of a key from the start of the round trip in effect at some point,
replayed from nothing into new round-trip states, then written over the old ones
(ids reused in time order, so unaffected round trips keep theirs).

Within a key, position ids grow with time; every write here keeps that so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Sequence

from tradestore._core.codec import dec_in, ts_in, ts_out
from tradestore._core.hints import Connection
from tradestore._core.money import ZERO, exact, ratio, tidy
from tradestore._core.pg import MAYBE_EMPTY_TIME, per_engine
from tradestore.errors import StoreError, ValidationError
from tradestore.record.fees import Currencies, currencies_of, fee_effect
from tradestore.record.positions import (FillEffect, PLAIN, PositionState, PositionStore, Terms,
                                         apply_fill, apply_funding, check_pnl)

FILL_COLUMNS = ("id, side, quantity, price, fees, fee_currency, fee_value, timestamp, pnl, "
                "pnl_given, strategy, position_id, opened_position_id, kind, liquidation, "
                "commission, commission_currency, leverage, margin, margin_mode, "
                "liquidation_price")
FUNDING_COLUMNS = "id, amount, timestamp, position_id"
NEWEST_FUNDING = ("SELECT timestamp FROM funding_payments WHERE account = ? AND exchange = ? "
                  "AND symbol = ? ORDER BY timestamp DESC, id DESC LIMIT 1")
# Funding at time t belongs to the position open just before t: fills at t come after it.
KEY_FUNDING_AFTER = (f"SELECT {FUNDING_COLUMNS} FROM funding_payments WHERE account = ? "
                     "AND exchange = ? AND symbol = ? AND timestamp > ? ORDER BY timestamp, id")
DETACH_FUNDING = """
UPDATE funding_payments SET position_id = NULL
WHERE position_id IN (SELECT id FROM positions WHERE account = :a AND exchange = :e
                      AND symbol = :s AND id >= :start)
"""
SET_FUNDING_POSITION = "UPDATE funding_payments SET position_id = ? WHERE id = ?"
NEWEST_FILL = ("SELECT timestamp FROM trades WHERE account = ? AND exchange = ? AND symbol = ? "
               "AND voided_at IS NULL ORDER BY timestamp DESC, id DESC LIMIT 1")
PREVIOUS_FILL = ("SELECT id, position_id, opened_position_id FROM trades WHERE account = ? "
                 "AND exchange = ? AND symbol = ? AND voided_at IS NULL "
                 "AND (timestamp, id) < (?, ?) ORDER BY timestamp DESC, id DESC LIMIT 1")
CROSSING_OPENER = ("SELECT position_id FROM trades WHERE opened_position_id = ? "
                   "AND voided_at IS NULL LIMIT 1")
FIRST_FILL_OF = ("SELECT timestamp, id FROM trades WHERE position_id = ? AND voided_at IS NULL "
                 "ORDER BY timestamp, id LIMIT 1")
KEY_FILLS_FROM = (f"SELECT {FILL_COLUMNS} FROM trades WHERE account = ? AND exchange = ? "
                  "AND symbol = ? AND voided_at IS NULL AND (timestamp, id) >= (?, ?) "
                  "ORDER BY timestamp, id")
# PostgreSQL: plan_key's "" (from the key's first fill) is no time there (MAYBE_EMPTY_TIME)
KEY_FILLS_FROM = per_engine(KEY_FILLS_FROM, KEY_FILLS_FROM.replace(
    "(timestamp, id) >= (?, ?)", f"(timestamp, id) >= ({MAYBE_EMPTY_TIME}, ?)"))
KEY_FUNDING_AFTER = per_engine(KEY_FUNDING_AFTER, KEY_FUNDING_AFTER.replace(
    "timestamp > ?", f"timestamp > {MAYBE_EMPTY_TIME}"))
DETACH_FILLS = """
UPDATE trades SET position_id = NULL, opened_position_id = NULL
WHERE position_id IN (SELECT id FROM positions WHERE account = :a AND exchange = :e
                      AND symbol = :s AND id >= :start)
   OR opened_position_id IN (SELECT id FROM positions WHERE account = :a AND exchange = :e
                             AND symbol = :s AND id >= :start)
"""
SET_FILL_RESULT = "UPDATE trades SET pnl = ?, position_id = ?, opened_position_id = ? WHERE id = ?"
ALL_KEYS = """
SELECT account, exchange, symbol FROM trades WHERE voided_at IS NULL
UNION SELECT account, exchange, symbol FROM positions
UNION SELECT account, exchange, symbol FROM funding_payments
ORDER BY 1, 2, 3
"""
ORDER_FILLS = "SELECT quantity, price FROM trades WHERE order_id = ? AND voided_at IS NULL"
ALL_ORDERS = "SELECT id, filled_quantity, avg_fill_price FROM orders ORDER BY id"
SET_ORDER_TOTALS = ("UPDATE orders SET filled_quantity = ?, avg_fill_price = ?, updated_at = ? "
                    "WHERE id = ?")


@dataclass(frozen=True)
class Fill:
    """What replay needs of one stored fill."""

    id: int
    side: str
    quantity: Decimal
    price: Decimal
    fees: Decimal
    fee_currency: str | None
    fee_value: Decimal | None
    timestamp: object
    pnl: Decimal | None  # given pnl (stored as given), else None
    strategy: str | None
    kind: str = "TRADE"
    liquidation: bool = False
    commission: Decimal = ZERO
    commission_currency: str | None = None
    leverage: Decimal | None = None
    margin: Decimal | None = None
    margin_mode: str | None = None
    liquidation_price: Decimal | None = None


def _dec(text):
    return None if text is None else Decimal(text)


def fill_from_row(row: Sequence[Any]) -> Fill:
    return Fill(row[0], row[1], Decimal(row[2]), Decimal(row[3]), Decimal(row[4]), row[5],
                _dec(row[6]), ts_out(row[7]),
                Decimal(row[8]) if row[9] and row[8] is not None else None, row[10],
                row[13], bool(row[14]), Decimal(row[15]), row[16], _dec(row[17]),
                _dec(row[18]), row[19], _dec(row[20]))


def _costs(fill, currencies: Currencies):
    """(held quantity, cost in settle currency, commission part, unvalued) of a fill:
    its fee and its commission, each through the fee rule in its own currency."""
    if fill.fee_currency is None and fill.fee_value is None:  # the common case, as given
        quantity, fee, unvalued = fill.quantity, fill.fees, None
    else:
        effect = fee_effect(fill.side, fill.quantity, fill.price, fill.fees, fill.fee_currency,
                            fill.fee_value, currencies)
        quantity, fee, unvalued = effect.quantity, effect.fee, effect.unvalued
    if not fill.commission:
        return quantity, fee, ZERO, unvalued
    paid = fee_effect(fill.side, fill.quantity, fill.price, fill.commission,
                      fill.commission_currency, None, currencies)
    with exact():
        quantity = tidy(quantity + paid.quantity - fill.quantity)
        total = tidy(fee + paid.fee)
    if quantity <= 0:
        raise ValidationError(f"commission: {fill.commission} {fill.commission_currency} with "
                              f"the fee leaves nothing of the {fill.quantity} bought",
                              field="commission", value=fill.commission)
    if paid.unvalued:
        unvalued = dict(unvalued or {})
        for currency, amount in paid.unvalued.items():
            with exact():
                unvalued[currency] = tidy(unvalued.get(currency, ZERO) + amount)
    return quantity, total, paid.fee, unvalued


def closed_by(fill: Fill) -> str:
    if fill.liquidation:
        return "liquidation"
    return "adjustment" if fill.kind == "ADJUSTMENT" else "trade"


def apply_trade(position: PositionState | None, key: tuple[str, str, str], fill: Fill,
                currencies: Currencies) -> FillEffect:
    """One fill through the fee rule and the position accounting (FillEffect)."""
    quantity, fee, commission, unvalued = _costs(fill, currencies)
    terms = PLAIN
    if (currencies.contract_size != 1 or currencies.inverse or commission or fill.liquidation
            or fill.kind != "TRADE" or fill.margin is not None or fill.leverage is not None
            or fill.margin_mode is not None or fill.liquidation_price is not None):
        terms = Terms(currencies.contract_size, currencies.inverse, commission, closed_by(fill),
                      fill.margin, fill.leverage, fill.margin_mode, fill.liquidation_price)
    return apply_fill(position, account=key[0], exchange=key[1], symbol=key[2], side=fill.side,
                      quantity=quantity, price=fill.price, fees=fee, timestamp=fill.timestamp,
                      given_pnl=fill.pnl, currency=currencies.settle, strategy=fill.strategy,
                      unvalued=unvalued, terms=terms)


@dataclass
class Plan:
    """A key's round trips from ``start`` (a position id; 0 = the whole key): as
    stored (``old``) and as replayed from the fills (``new``), each fill's stored and
    replayed results, and the funding payments replayed with them."""

    key: tuple
    start: int
    old: list
    new: list = field(default_factory=list)
    fills: list = field(default_factory=list)      # stored rows
    results: dict = field(default_factory=dict)    # fill id -> (pnl, new index, opened index)
    funding: list = field(default_factory=list)    # stored rows (id, amount, ts, position_id)
    funded: dict = field(default_factory=dict)     # funding id -> new index or None


def plan_key(conn: Connection, key: tuple, point: tuple | None = None,
             currencies: Currencies | None = None) -> Plan:
    """Replay ``key`` from the round trip in effect just before ``point``
    ((timestamp text, fill id)); None replays the whole key. Funding payments after
    the first replayed fill apply in time order, before fills of the same timestamp."""
    start, first = 0, ("", 0)
    if point is not None:
        prev = conn.execute(PREVIOUS_FILL, (*key, *point)).fetchone()
        pid = None if prev is None else (prev[2] or prev[1])
        while pid is not None:
            opener = conn.execute(CROSSING_OPENER, (pid,)).fetchone()
            if opener is None or opener[0] is None:
                break
            pid = opener[0]
        row = None if pid is None else conn.execute(FIRST_FILL_OF, (pid,)).fetchone()
        if row is not None and pid is not None:  # (a row was read for a pid)
            start, first = pid, (row[0], row[1])
    plan = Plan(key, start, PositionStore.key_from(conn, key, start))
    plan.fills = conn.execute(KEY_FILLS_FROM, (*key, *first)).fetchall()
    plan.funding = conn.execute(KEY_FUNDING_AFTER, (*key, first[0])).fetchall()
    currencies = currencies or currencies_of(conn, key[2])
    current, pending = None, 0

    def fund(until: str | None) -> None:
        nonlocal pending
        while pending < len(plan.funding) and (until is None
                                               or plan.funding[pending][2] <= until):
            fid, amount = plan.funding[pending][0], Decimal(plan.funding[pending][1])
            if current is not None:
                apply_funding(current, amount)
                plan.funded[fid] = len(plan.new) - 1
            else:
                plan.funded[fid] = None
            pending += 1

    for row in plan.fills:
        fund(row[7])
        fill = fill_from_row(row)
        effect = apply_trade(current, key, fill, currencies)
        if current is None:
            plan.new.append(effect.position)
        index, opened = len(plan.new) - 1, None
        if effect.opened is not None:
            plan.new.append(effect.opened)
            opened = len(plan.new) - 1
        current = effect.opened if effect.position.closed_at else effect.position
        plan.results[fill.id] = (effect.pnl, index, opened)
    fund(None)
    return plan


def write_plan(conn: Connection, plan: Plan, now: str, touch: bool = True) -> None:
    """Store the replayed round trips over the old ones (ids reused in order) and
    every replayed fill's pnl and round-trip links, and each funding payment's;
    ``now`` (the store's clock, stored text) stamps them (``touch=False``: inserts only)."""
    account, exchange, symbol = plan.key
    conn.execute(DETACH_FILLS, {"a": account, "e": exchange, "s": symbol, "start": plan.start})
    conn.execute(DETACH_FUNDING, {"a": account, "e": exchange, "s": symbol,
                                  "start": plan.start})
    PositionStore.park_open(conn, plan.key, plan.start)
    for index, state in enumerate(plan.new):
        if index < len(plan.old):
            state.id = plan.old[index].id
            PositionStore.rewrite(conn, state, now if touch else None)
        else:
            state.id = None
            PositionStore.insert(conn, state, now)
    for old in plan.old[len(plan.new):]:
        PositionStore.delete(conn, old.id)
    rows = []
    for fill_id, (pnl, index, opened) in plan.results.items():
        rows.append((check_pnl(plan.key[2], pnl), plan.new[index].id,
                     None if opened is None else plan.new[opened].id, fill_id))
    conn.executemany(SET_FILL_RESULT, rows)
    conn.executemany(SET_FUNDING_POSITION, [
        (None if index is None else plan.new[index].id, fid)
        for fid, index in plan.funded.items()])


def replay_key(conn: Connection, key: tuple, point: tuple | None, now: str) -> None:
    write_plan(conn, plan_key(conn, key, point), now)


# ------------------------------------------------------------------ check and rebuild

def _show(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{c}: {format(a, 'f')}" for c, a in sorted(value.items())) + "}" \
            if value else "NULL"
    if hasattr(value, "tzinfo"):
        return ts_in(value)
    return str(value)


COMPARED = ("side", "quantity", "entry_value", "entry_fees", "max_quantity", "realized_pnl",
            "fees", "trade_count", "opened_at", "closed_at", "currency", "strategy",
            "unvalued_fees", "entered_quantity", "entered_value", "exited_quantity",
            "exit_value", "funding", "commission", "closed_by", "contract_size", "inverse",
            "leverage", "margin", "margin_mode", "liquidation_price")
# compared besides: trading_pnl (stored for the views, derived from the others)


# Columns schema 11 added: the replay after that migration fills them in (not logged).
FILLED_IN_11 = tuple(f"column {c}:" for c in
                     (*COMPARED[COMPARED.index("entered_quantity"):], "trading_pnl"))


def _differs(a, b) -> bool:
    if isinstance(a, dict) or isinstance(b, dict):
        return (a or {}) != (b or {})
    return a != b


def plan_problems(plan: Plan) -> list[str]:
    """One line per stored value that the replay disagrees with."""
    lines = []
    where = f"account {plan.key[0]!r} exchange {plan.key[1]!r} symbol {plan.key[2]!r}"
    for old, new in zip(plan.old, plan.new):
        for column in COMPARED:
            stored, replayed = getattr(old, column), getattr(new, column)
            if _differs(stored, replayed):
                lines.append(f"positions id {old.id} column {column}: stored {_show(stored)}, "
                             f"replayed from fills {_show(replayed)}")
        if old.stored_trading_pnl != new.trading_pnl:
            lines.append(f"positions id {old.id} column trading_pnl: stored "
                         f"{_show(old.stored_trading_pnl)}, replayed from fills "
                         f"{_show(new.trading_pnl)}")
    for old in plan.old[len(plan.new):]:
        lines.append(f"positions id {old.id}: no fill of {where} makes this round trip "
                     f"(stored realized_pnl {_show(old.realized_pnl)})")
    for new in plan.new[len(plan.old):]:
        lines.append(f"positions: missing the round trip of {where} opened at "
                     f"{_show(new.opened_at)} that the fills make")
    for row in plan.fills:
        pnl, index, opened = plan.results[row[0]]
        stored = None if row[8] is None else Decimal(row[8])
        if stored != pnl:
            lines.append(f"trades id {row[0]} column pnl: stored {_show(stored)}, "
                         f"replayed from fills {_show(pnl)}")
        expected = (plan.old[index].id if index < len(plan.old) else None,
                    None if opened is None else
                    (plan.old[opened].id if opened < len(plan.old) else None))
        if index < len(plan.old) and row[11] != expected[0]:
            lines.append(f"trades id {row[0]} column position_id: stored {_show(row[11])}, "
                         f"replayed from fills {expected[0]}")
        if (opened is None and row[12] is not None) or \
                (opened is not None and expected[1] is not None and row[12] != expected[1]):
            lines.append(f"trades id {row[0]} column opened_position_id: stored "
                         f"{_show(row[12])}, replayed from fills {_show(expected[1])}")
    for fid, _amount, _ts, stored in plan.funding:
        index = plan.funded[fid]
        position = None if index is None else \
            (plan.old[index].id if index < len(plan.old) else "a missing round trip")
        if stored != position:
            lines.append(f"funding_payments id {fid} column position_id: stored "
                         f"{_show(stored)}, replayed from fills {_show(position)}")
    return lines


def order_totals(conn: Connection, order_id: int) -> tuple[Decimal, Decimal | None]:
    """(filled quantity, value-weighted average price) of an order's non-void fills."""
    filled, notional = ZERO, ZERO
    with exact():
        for quantity, price in conn.execute(ORDER_FILLS, (order_id,)):
            q = Decimal(quantity)
            filled += q
            notional += q * Decimal(price)
    return tidy(filled), ratio(notional, filled)


def _order_problems(conn) -> list[tuple[str, int, Decimal, Decimal | None]]:
    out = []
    for order_id, stored_filled, stored_avg in conn.execute(ALL_ORDERS).fetchall():
        filled, avg = order_totals(conn, order_id)
        if Decimal(stored_filled) != filled:
            out.append((f"orders id {order_id} column filled_quantity: stored {stored_filled}, "
                        f"replayed from fills {_show(filled)}", order_id, filled, avg))
        elif (None if stored_avg is None else Decimal(stored_avg)) != avg:
            out.append((f"orders id {order_id} column avg_fill_price: stored "
                        f"{_show(stored_avg)}, replayed from fills {_show(avg)}",
                        order_id, filled, avg))
    return out


def derived_problems(conn: Connection) -> list[str]:
    """Positions, fill pnl and order fill totals replayed from the fills and compared
    with what is stored; one line per disagreement (empty when consistent)."""
    lines = []
    for key in conn.execute(ALL_KEYS).fetchall():
        try:
            lines += plan_problems(plan_key(conn, tuple(key)))
        except (StoreError, InvalidOperation, ValueError, TypeError) as exc:
            lines.append(f"positions of account {key[0]!r} exchange {key[1]!r} symbol "
                         f"{key[2]!r}: cannot be replayed from the fills ({exc})")
    try:
        lines += [line for line, *_ in _order_problems(conn)]
    except (InvalidOperation, ValueError, TypeError) as exc:
        lines.append(f"orders: fill totals cannot be recomputed ({exc})")
    return lines


def rebuild(conn: Connection, now: str) -> list[str]:
    """Recompute every key's positions and fill pnl and every order's fill totals from
    the fills, inside the caller's transaction; returns what changed."""
    changes = []
    for key in conn.execute(ALL_KEYS).fetchall():
        try:
            plan = plan_key(conn, tuple(key))  # reads only: a failure leaves the key as it is
        except (StoreError, InvalidOperation, ValueError, TypeError) as exc:
            changes.append(f"positions of account {key[0]!r} exchange {key[1]!r} symbol "
                           f"{key[2]!r}: cannot be replayed from the fills ({exc}); left as "
                           "stored")
            continue
        problems = plan_problems(plan)
        if problems:
            write_plan(conn, plan, now, touch=not all(any(f in line for f in FILLED_IN_11)
                                                 for line in problems))
            changes += problems
    for line, order_id, filled, avg in _order_problems(conn):
        conn.execute(SET_ORDER_TOTALS, (dec_in(filled), dec_in(avg), now, order_id))
        changes.append(line)
    return changes
