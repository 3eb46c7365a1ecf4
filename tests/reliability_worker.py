"""Child process for the reliability tests: a writer that reports every acknowledged
write, and a reader that checks the record's invariants on every read.

    python tests/reliability_worker.py writer DB --tag T [--seed S] [--slot N]
                                       [--seconds X] [--durability full|normal]
                                       [--busy-timeout SECONDS]
    python tests/reliability_worker.py reader DB [--seed S] [--seconds X]
    python tests/reliability_worker.py hog DB [--tag T] [--seconds X]

The writer prints ``try <kind>`` before each call and one ``ack ...`` line, flushed,
after each call returns (the write is then acknowledged to the bot):

    ack trade <id> <external_id>           one fill, save_trade
    ack bulk <k> <id,id,...>               save_trades of BULK_SIZE fills <tag>-b<k>-<i>
    ack order <order_id> <external_id>     create_order
    ack fill <order_id> <trade_id> <ext>   record_fill
    ack cancel <order_id>                  cancel_order
    ack dup <trade_id> <external_id>       a fill sent again: the first id came back
    ack state <version> <n>                save_bot_state({"writer": tag, "n": n, ...})
    ack rollback <from_version> <version>  rollback_bot_state
    ack snap <id> <timestamp> <value>      save_portfolio_snapshot

It prints ``done <operations> <longest call in seconds>`` and exits 0 after
``--seconds`` (runs until killed without it); any exception goes to
stderr with exit code 3. The reader prints ``violation ...`` lines and, at the end,
``reads <snapshots> <reports>``. A hog keeps the write lock busy back to back (the
starvation test). The checking functions are imported by the tests.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import random
import sys
import time
import traceback
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tradestore import TradeRepo  # noqa: E402
from tradestore._core.codec import ts_in, ts_out  # noqa: E402
from tradestore.record.positions import apply_fill  # noqa: E402

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
EXCHANGE = "sim"
BULK_SIZE = 20
SNAPSHOT_BASE = _dt.datetime(2024, 1, 1, tzinfo=_dt.timezone.utc)
STATE_BOT = "reliability"
HOG_WRITE = ("INSERT INTO store_meta (key, value, updated_at) VALUES (?, 'hog', ?) "
             "ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at")


def bulk_external_id(tag: str, k: int, i: int) -> str:
    return f"{tag}-b{k}-{i}"


# ------------------------------------------------------------------ the writer

class Writer:
    """One bot's write loop; ``ack(line)`` is called once a call has returned.

    ``step()`` makes one operation: a fill, a bulk of fills, an order with a fill (or a
    cancel), a bot state (or a rollback), a portfolio snapshot, or a fill sent again.
    """

    def __init__(self, repo: TradeRepo, tag: str, rng: random.Random, ack, *, slot: int = 0,
                 before=None):
        self.repo, self.tag, self.rng, self.ack = repo, tag, rng, ack
        self.before = before or (lambda kind: None)
        self.slot = slot
        self.n = 0
        self.acked_fills: list[tuple[int, str]] = []
        self.acked_states: list[int] = []
        self.open_orders: list[int] = []
        self.ops = 0

    def fill(self) -> dict:
        r = self.rng
        return dict(symbol=r.choice(SYMBOLS), side=r.choice(("BUY", "SELL")),
                    quantity=Decimal(r.randint(1, 2000)).scaleb(-3),
                    price=Decimal(r.randint(10_000, 20_000)).scaleb(-2),
                    fees=Decimal(r.randint(0, 500)).scaleb(-4), exchange=EXCHANGE)

    def step(self) -> None:
        self.n += 1
        x = self.rng.random()
        if x < 0.30:
            self.single()
        elif x < 0.50:
            self.bulk()
        elif x < 0.72:
            self.order()
        elif x < 0.84:
            self.state()
        elif x < 0.95:
            self.snapshot()
        else:
            self.resend()
        self.ops += 1

    def single(self) -> None:
        ext = f"{self.tag}-t{self.n}"
        self.before("trade")
        trade_id = self.repo.save_trade(dict(self.fill(), external_id=ext))
        self.ack(f"ack trade {trade_id} {ext}")
        self.acked_fills.append((trade_id, ext))

    def bulk(self) -> None:
        k = self.n
        items = [dict(self.fill(), external_id=bulk_external_id(self.tag, k, i))
                 for i in range(BULK_SIZE)]
        self.before("bulk")
        ids = self.repo.save_trades(items)
        self.ack(f"ack bulk {k} {','.join(map(str, ids))}")
        self.acked_fills.append((ids[0], items[0]["external_id"]))

    def order(self) -> None:
        r = self.rng
        if self.open_orders and r.random() < 0.5:
            order_id = self.open_orders.pop(r.randrange(len(self.open_orders)))
        else:
            ext = f"{self.tag}-o{self.n}"
            spec = self.fill()
            self.before("order")
            order = self.repo.create_order(spec["symbol"], spec["side"], "LIMIT",
                                           Decimal(r.randint(2, 6)), price=spec["price"],
                                           external_id=ext, exchange=EXCHANGE)
            self.ack(f"ack order {order.id} {ext}")
            order_id = order.id
        if r.random() < 0.15:
            self.before("cancel")
            self.repo.cancel_order(order_id, "reliability test")
            self.ack(f"ack cancel {order_id}")
            return
        ext = f"{self.tag}-o{order_id}-f{self.n}"
        self.before("fill")
        trade_id = self.repo.record_fill(order_id, 1, Decimal(r.randint(10_000, 20_000)).scaleb(-2),
                                         fees=Decimal(r.randint(0, 500)).scaleb(-4),
                                         external_id=ext)
        self.ack(f"ack fill {order_id} {trade_id} {ext}")
        self.acked_fills.append((trade_id, ext))
        if self.repo.get_order(order_id).status == "PARTIALLY_FILLED":
            self.open_orders.append(order_id)

    def state(self) -> None:
        if self.acked_states and self.rng.random() < 0.2:
            old = self.rng.choice(self.acked_states)
            self.before("rollback")
            version = self.repo.rollback_bot_state(old, bot=STATE_BOT)
            self.ack(f"ack rollback {old} {version}")
        else:
            state = {"positions": {"BTC/USDT": Decimal(self.n).scaleb(-3)},
                     "balances": {"USDT": Decimal(10_000 + self.n)},
                     "configuration": {"writer": self.tag},
                     "extra": {"n": self.n, "at": SNAPSHOT_BASE}}
            self.before("state")
            version = self.repo.save_bot_state(state, bot=STATE_BOT)
            self.ack(f"ack state {version} {self.n}")
        self.acked_states.append(version)

    def snapshot(self) -> None:
        moment = SNAPSHOT_BASE + _dt.timedelta(days=self.slot, seconds=self.n)
        value = Decimal(self.rng.randint(900_000, 1_100_000)).scaleb(-2)
        self.before("snap")
        snap_id = self.repo.save_portfolio_snapshot(value, cash=value, timestamp=moment)
        self.ack(f"ack snap {snap_id} {ts_in(moment)} {value}")

    def resend(self) -> None:
        if not self.acked_fills:
            return self.single()
        trade_id, ext = self.rng.choice(self.acked_fills)
        again = dict(self.fill(), external_id=ext)
        self.before("dup")
        got = self.repo.save_trade(again)
        if got != trade_id:
            raise AssertionError(f"fill {ext} sent again got id {got}, first was {trade_id}")
        self.ack(f"ack dup {got} {ext}")


# ------------------------------------------------------------------ checks

TRADE_ROWS = ("SELECT id, account, symbol, side, quantity, price, fees, timestamp, pnl, pnl_given, "
              "position_id, opened_position_id, order_id, exchange, external_id "
              "FROM trades WHERE voided_at IS NULL ORDER BY id")
POSITION_ROWS = ("SELECT id, account, symbol, side, quantity, entry_value, entry_fees, "
                 "max_quantity, realized_pnl, fees, trade_count, opened_at, closed_at, exchange "
                 "FROM positions ORDER BY id")
ORDER_ROWS = "SELECT id, quantity, filled_quantity, status FROM orders ORDER BY id"
FIELDS = ("account", "symbol", "side", "quantity", "entry_value", "entry_fees", "max_quantity",
          "realized_pnl", "fees", "trade_count", "opened_at", "closed_at")


def read_record(conn) -> tuple[list, list, list]:
    """Fills, positions and orders, read on ``conn`` (call inside one read transaction)."""
    return (conn.execute(TRADE_ROWS).fetchall(), conn.execute(POSITION_ROWS).fetchall(),
            conn.execute(ORDER_ROWS).fetchall())


def replay(trade_rows) -> tuple[list, list]:
    """Fold the fills, per (account, exchange, symbol) in (timestamp, id) order, through
    ``positions.apply_fill`` (issue 15: positions per venue, in time order).

    Returns the positions in the order they were opened and, per fill, (trade id,
    index of its position, index of the position it opened or None, its pnl).
    """
    current, created, links = {}, [], []
    for (trade_id, account, symbol, side, qty, price, fees, ts, pnl, given, *_rest) in \
            sorted(trade_rows, key=lambda r: (r[7], r[0])):
        key = (account, _rest[3], symbol)
        effect = apply_fill(current.get(key), account=account, symbol=symbol, exchange=key[1],
                            side=side, quantity=Decimal(qty), price=Decimal(price),
                            fees=Decimal(fees), timestamp=ts_out(ts),
                            given_pnl=Decimal(pnl) if given else None)
        position = effect.position
        if position.id is None:
            position.id = len(created)
            created.append(position)
        opened = effect.opened
        if opened is not None:
            opened.id = len(created)
            created.append(opened)
        current[key] = opened if position.closed_at is not None else position
        links.append((trade_id, position.id, None if opened is None else opened.id, effect.pnl))
    return created, links


def _value(name, raw):
    if raw is None:
        return None
    if name in ("opened_at", "closed_at"):
        return ts_out(raw)
    if name in ("account", "symbol", "side", "trade_count"):
        return raw
    return Decimal(raw)


def record_problems(trade_rows, position_rows, order_rows) -> list[str]:
    """Everything that would show a half-applied or lost write in one snapshot:
    the stored positions must be exactly the replay of the stored fills, each fill must
    point at its position and carry the pnl the replay gives, and each order's filled
    quantity must be the sum of its fills."""
    problems = []
    created, links = replay(trade_rows)
    if len(created) != len(position_rows):
        problems.append(f"{len(trade_rows)} fills replay to {len(created)} positions, "
                        f"{len(position_rows)} stored")
    ids = {}
    # round trips of one key are stored with ids growing in time; keys interleave freely
    by_key = sorted(range(len(created)), key=lambda i: (created[i].account, created[i].exchange,
                                                         created[i].symbol, i))
    stored = sorted(position_rows, key=lambda r: (r[1], r[13], r[2], r[0]))
    for index, row in zip(by_key, stored):
        expected = created[index]
        ids[index] = row[0]
        for name, raw in zip(FIELDS, row[1:]):
            want, got = getattr(expected, name), _value(name, raw)
            if want != got:
                problems.append(f"position {row[0]} {name}: stored {raw!r}, replay {want!r}")
                break
    by_id = {link[0]: link for link in links}
    for row in trade_rows:
        trade_id, pos_index, opened_index, pnl = by_id[row[0]]
        stored_pnl = None if row[8] is None else Decimal(row[8])
        if stored_pnl != pnl:
            problems.append(f"fill {trade_id} pnl: stored {row[8]!r}, replay {pnl!r}")
        if row[10] != ids.get(pos_index) or row[11] != ids.get(opened_index):
            problems.append(f"fill {trade_id} links positions {row[10]}/{row[11]}, replay "
                            f"{ids.get(pos_index)}/{ids.get(opened_index)}")
    keys = [(r[13], r[14]) for r in trade_rows if r[14] is not None]
    if len(keys) != len(set(keys)):
        problems.append("a fill is stored twice under one (exchange, external_id)")
    filled = {}
    for row in trade_rows:
        if row[12] is not None:
            filled[row[12]] = filled.get(row[12], Decimal(0)) + Decimal(row[4])
    for order_id, quantity, filled_quantity, status in order_rows:
        have = filled.get(order_id, Decimal(0))
        if Decimal(filled_quantity) != have:
            problems.append(f"order {order_id}: filled_quantity {filled_quantity}, its fills "
                            f"add up to {have}")
        if status == "FILLED" and have != Decimal(quantity):
            problems.append(f"order {order_id}: FILLED with {have} of {quantity}")
        if status == "PARTIALLY_FILLED" and not 0 < have < Decimal(quantity):
            problems.append(f"order {order_id}: PARTIALLY_FILLED with {have} of {quantity}")
    return problems[:20]


def snapshot_problems(repo: TradeRepo) -> list[str]:
    """``record_problems`` of one consistent read of ``repo``."""
    with repo.db.reading() as conn:
        rows = read_record(conn)
    return record_problems(*rows)


def _finite(value) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def report_problems(repo: TradeRepo) -> list[str]:
    """Invariants of the reports a bot reads (each report is its own snapshot)."""
    problems = []
    stats = repo.get_statistics(days=None)
    if stats.gross_profit + stats.gross_loss != stats.net_pnl:
        problems.append(f"statistics: gross profit {stats.gross_profit} + gross loss "
                        f"{stats.gross_loss} != net {stats.net_pnl}")
    if stats.winning_trades + stats.losing_trades > stats.total_trades or stats.total_fees < 0:
        problems.append(f"statistics: impossible counts or fees {stats}")
    metrics = repo.calculate_performance_metrics(days=None)
    bad = [k for k, v in vars(metrics).items() if not _finite(v)]
    if bad:
        problems.append(f"performance metrics not finite: {bad}")
    history = repo.get_trade_history(days=None)
    order = [(t.timestamp, t.id) for t in history]
    if order != sorted(order) or len({t.id for t in history}) != len(history):
        problems.append("trade history out of order or with a repeated id")
    keys = [(t.exchange, t.external_id) for t in history if t.external_id is not None]
    if len(keys) != len(set(keys)):
        problems.append("trade history holds a fill twice")
    for state in repo.list_bot_states(STATE_BOT):
        if not state.ok:
            problems.append(f"state version {state.version} fails its checksum")
    return problems


# ------------------------------------------------------------------ the modes

def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_writer(args) -> int:
    rng = random.Random(args.seed)
    worst = 0.0
    with TradeRepo(args.db, durability=args.durability, busy_timeout=args.busy_timeout) as repo:
        _say("ready")
        writer = Writer(repo, args.tag, rng, _say, slot=args.slot,
                        before=lambda kind: _say(f"try {kind}"))
        deadline = None if args.seconds is None else time.monotonic() + args.seconds
        while deadline is None or time.monotonic() < deadline:
            started = time.monotonic()
            writer.step()
            worst = max(worst, time.monotonic() - started)
    _say(f"done {writer.ops} {worst:.3f}")
    return 0


def run_reader(args) -> int:
    rng = random.Random(args.seed)
    snapshots = reports = 0
    with TradeRepo(args.db) as repo:
        _say("ready")
        deadline = time.monotonic() + (args.seconds or 5.0)
        while time.monotonic() < deadline:
            if rng.random() < 0.5:
                problems = snapshot_problems(repo)
                snapshots += 1
            else:
                problems = report_problems(repo)
                reports += 1
            for problem in problems:
                _say(f"violation {problem}")
    _say(f"reads {snapshots} {reports}")
    return 0


def run_hog(args) -> int:
    """Write back to back: hold the write lock 20 ms, let go for 2 ms, again."""
    with TradeRepo(args.db, busy_timeout=args.busy_timeout) as repo:
        _say("ready")
        deadline = None if args.seconds is None else time.monotonic() + args.seconds
        while deadline is None or time.monotonic() < deadline:
            with repo.transaction() as conn:
                now = ts_in(_dt.datetime.now(_dt.timezone.utc))
                conn.execute(HOG_WRITE, (f"hog-{args.tag}", now))
                time.sleep(0.020)
            time.sleep(0.002)
    return 0


MODES = {"writer": run_writer, "reader": run_reader, "hog": run_hog}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("db")
    parser.add_argument("--tag", default="w")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slot", type=int, default=0, help="day offset of snapshot times")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--durability", choices=("full", "normal"), default="full")
    parser.add_argument("--busy-timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    try:
        return MODES[args.mode](args)
    except BaseException:  # noqa: B036 - report anything, the parent judges
        traceback.print_exc()
        sys.stderr.flush()
        return 3


if __name__ == "__main__":
    sys.exit(main())
