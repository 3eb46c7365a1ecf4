"""Replaying fills into positions: late fills, voids, the derived-data check and rebuild.

Positions are derived from the fills of their key (account, exchange, symbol) in
(timestamp, id) order. The common case (a fill newer than everything of its key)
is applied incrementally by ``TradeStore``; everything else goes through a *plan*
here: the fills of a key from the start of the round trip in effect at some point,
replayed from nothing into new round-trip states, then written over the old ones
(ids reused in time order, so unaffected round trips keep theirs).

Within a key, position ids grow with time; every write here keeps that so.

Each table is read and written through its owner's functions (``trades``, ``funding``,
``positions``, ``orders``); the pure accounting of one fill is ``accounting``. The
writers below this module (``TradeStore``, ``FundingStore``) receive a ``Ledger``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from tradestore._core.codec import ts_in
from tradestore._core.hints import Connection
from tradestore.errors import StoreError
from tradestore.record.accounting import apply_trade
from tradestore.record.fees import Currencies, currencies_of
from tradestore.record.funding import (detach_payments, key_payments_after, newest_payment,
                                       payment_keys, set_payment_positions)
from tradestore.record.orders import OrderStore
from tradestore.record.positions import PositionStore, apply_funding, check_pnl
from tradestore.record.trades import (Fill, crossed_from, detach_fills, fill_keys, first_fill_of,
                                      key_fills_from, last_fill_before, newest_fill,
                                      order_totals, set_fill_results)


class Ledger:
    """The replay as the record's writers receive it (``KeyReplay``, _core/hints.py):
    ``TradeStore`` and ``FundingStore`` sit below this module, which reads and writes
    their tables through their functions, so they are given it rather than import it.
    Holds nothing: the order rules and the replay are this module's functions."""

    @staticmethod
    def newest_applied(conn: Connection, key: tuple[str, str, str]) -> str | None:
        """The stored time of the key's newest fill or payment (None: it has neither). A
        new fill earlier than that is late (one at the same time applies after them: its
        id is higher, and a payment at t applies before the fills at t)."""
        fill, payment = newest_fill(conn, key), newest_payment(conn, key)
        return payment if fill is None or (payment is not None and payment > fill) else fill

    @staticmethod
    def payment_is_late(conn: Connection, key: tuple[str, str, str], stamp: str) -> bool:
        """A new payment at ``stamp`` comes before a stored fill of its key (a fill at
        the same time applies after it)."""
        newest = newest_fill(conn, key)
        return newest is not None and stamp <= newest

    @staticmethod
    def replay(conn: Connection, key: tuple[str, str, str], point: tuple[Any, int],
               now: str) -> None:
        replay_key(conn, key, point, now)


@dataclass
class Plan:
    """A key's round trips from ``start`` (a position id; 0 = the whole key): as
    stored (``old``) and as replayed from the fills (``new``), each fill's stored and
    replayed results, and the funding payments replayed with them."""

    key: tuple
    start: int
    old: list
    new: list = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)  # as stored
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
        before = last_fill_before(conn, key, point)
        pid = None if before is None else (before[1] or before[0])
        while pid is not None:
            opener = crossed_from(conn, pid)
            if opener is None:
                break
            pid = opener
        row = None if pid is None else first_fill_of(conn, pid)
        if row is not None and pid is not None:  # (a row was read for a pid)
            start, first = pid, row
    plan = Plan(key, start, PositionStore.key_from(conn, key, start))
    plan.fills = key_fills_from(conn, key, first)
    plan.funding = key_payments_after(conn, key, first[0])
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

    for fill in plan.fills:
        fund(fill.stamp)
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
    stored = [old.id for old in plan.old]  # the key's round trips from plan.start on
    detach_fills(conn, stored)
    detach_payments(conn, stored)
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
    set_fill_results(conn, rows)
    set_payment_positions(conn, [(None if index is None else plan.new[index].id, fid)
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
    for fill in plan.fills:
        pnl, index, opened = plan.results[fill.id]
        if fill.stored_pnl != pnl:
            lines.append(f"trades id {fill.id} column pnl: stored {_show(fill.stored_pnl)}, "
                         f"replayed from fills {_show(pnl)}")
        expected = (plan.old[index].id if index < len(plan.old) else None,
                    None if opened is None else
                    (plan.old[opened].id if opened < len(plan.old) else None))
        if index < len(plan.old) and fill.position_id != expected[0]:
            lines.append(f"trades id {fill.id} column position_id: stored "
                         f"{_show(fill.position_id)}, replayed from fills {expected[0]}")
        stored_opened = fill.opened_position_id
        if (opened is None and stored_opened is not None) or \
                (opened is not None and expected[1] is not None and stored_opened != expected[1]):
            lines.append(f"trades id {fill.id} column opened_position_id: stored "
                         f"{_show(stored_opened)}, replayed from fills {_show(expected[1])}")
    for fid, _amount, _ts, stored in plan.funding:
        index = plan.funded[fid]
        position = None if index is None else \
            (plan.old[index].id if index < len(plan.old) else "a missing round trip")
        if stored != position:
            lines.append(f"funding_payments id {fid} column position_id: stored "
                         f"{_show(stored)}, replayed from fills {_show(position)}")
    return lines


def _order_problems(conn: Connection) -> list[tuple[str, int, Decimal, Decimal | None]]:
    out = []
    for order_id, stored_filled, stored_avg in OrderStore.fill_totals(conn):
        filled, avg = order_totals(conn, order_id)
        if Decimal(stored_filled) != filled:
            out.append((f"orders id {order_id} column filled_quantity: stored {stored_filled}, "
                        f"replayed from fills {_show(filled)}", order_id, filled, avg))
        elif (None if stored_avg is None else Decimal(stored_avg)) != avg:
            out.append((f"orders id {order_id} column avg_fill_price: stored "
                        f"{_show(stored_avg)}, replayed from fills {_show(avg)}",
                        order_id, filled, avg))
    return out


def all_keys(conn: Connection) -> list[tuple[str, str, str]]:
    """Every key with a live fill, a round trip or a funding payment, sorted."""
    return sorted(set(fill_keys(conn)) | set(PositionStore.keys(conn)) | set(payment_keys(conn)))


def derived_problems(conn: Connection) -> list[str]:
    """Positions, fill pnl and order fill totals replayed from the fills and compared
    with what is stored; one line per disagreement (empty when consistent)."""
    lines = []
    for key in all_keys(conn):
        try:
            lines += plan_problems(plan_key(conn, key))
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
    for key in all_keys(conn):
        try:
            plan = plan_key(conn, key)  # reads only: a failure leaves the key as it is
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
        OrderStore.set_fill_totals(conn, order_id, filled, avg, now)
        changes.append(line)
    return changes
