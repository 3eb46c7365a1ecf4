"""``tradestore demo``: a simulated bot's last N days, written into a fresh database.

The newcomer's first command. It fills a store the way a running bot would, through
the public API (strategies, orders and their fills, positions, bot states, hourly
portfolio snapshots, events), so that every other command has something to show.

Deterministic for a seed: prices are integer random walks in Decimal (no floats),
and the clock ends at today's UTC midnight, so two builds on the same day are equal
row for row. The store's clock (``db.clock``) is set to the simulated time before
each call, so that every stamp the API writes (fills, positions, orders and their
status changes, bot states, snapshots, strategy configs, audit events) reads as one
story with the fills.

A demo database carries a ``store_meta`` row with key ``demo``. An existing file
without it is never overwritten; an existing demo database is replaced, atomically
(the new one is built beside it and renamed over it).
"""

from __future__ import annotations

import os
import random
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tradestore._core.codec import UTC, canonical_json, to_int, ts_in, utc_now
from tradestore._core.db import APPLICATION_ID
from tradestore._core.hints import Days, PathLike
from tradestore._core.migrate import read_meta, write_meta
from tradestore._core.files import refuse_store_target
from tradestore._core.money import exact
from tradestore.errors import ConflictError, StoreError
from tradestore.repo import TradeRepo
from tradestore.tools.futures_demo import run_futures_bot

DEMO_KEY = "demo"
EXCHANGE = "demo"
QUOTE = "USDT"
START_CASH = Decimal("10000")
TAKER_FEE, MAKER_FEE = Decimal("0.001"), Decimal("0.0002")
FEE_QUANTUM = Decimal("0.00000001")
MAX_DAYS = 3650
REGIME_CHANGE = 1 / 240  # about every ten days
DRIFT_DIV = 6  # a trend of up to a sixth of the hourly swing

@dataclass(frozen=True)
class Market:
    """A simulated symbol: opening price (its decimals are the tick), lot size, hourly
    swing in basis points, the strategy that trades it and one unit of exposure."""

    symbol: str
    price: Decimal
    lot: Decimal
    swing_bp: int
    strategy: str
    notional: Decimal

    @property
    def tick(self) -> Decimal:
        return Decimal(1).scaleb(int(self.price.as_tuple().exponent))  # prices are finite


MARKETS = (
    Market("BTC/USDT", Decimal("42150.00"), Decimal("0.00001"), 45, "momentum", Decimal("3000")),
    Market("ETH/USDT", Decimal("2285.40"), Decimal("0.0001"), 55, "momentum", Decimal("2500")),
    Market("SOL/USDT", Decimal("98.420"), Decimal("0.01"), 80, "mean_reversion", Decimal("2000")),
    Market("PEPE/USDT", Decimal("0.00000812"), Decimal("1000"), 120, "breakout", Decimal("1500")),
)
STRATEGIES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "momentum": ("trend", "Follows the last hours' move", {"lookback_hours": 24,
                                                           "threshold": "0.004"}),
    "mean_reversion": ("reversion", "Fades 12-hour moves over 1%", {"lookback_hours": 12,
                                                                     "threshold": "0.01"}),
    "breakout": ("breakout", "Trades new 24-hour highs and lows", {"window_hours": 24}),
}


@dataclass
class Working:
    """A resting limit order the simulated bot is watching."""

    order_id: int
    side: str
    remaining: Decimal
    limit: Decimal
    expires: int


# ------------------------------------------------------------------ the file

def is_demo_database(path: PathLike) -> bool:
    """True when ``path`` is a tradestore database marked as a demo.

    Read as an immutable file: no lock, no -wal or -shm created beside someone's
    database, nothing written. Anything unreadable is "not a demo".
    """
    uri = f"file:{quote(str(Path(path).resolve()))}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                return False
            return read_meta(conn, DEMO_KEY) is not None
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def build_demo(path: PathLike = "demo.db", *, days: Days = 90, seed: int = 7,
               end: datetime | None = None, futures: bool = False) -> Path:
    """Simulate ``days`` of a bot into a fresh database at ``path``; returns the path.

    ``futures`` adds a perpetual-futures bot (tradestore.tools.futures_demo) on exchange
    demo-futures. ``end`` (default: today's UTC midnight) is where the simulated clock stops. An
    existing file is replaced only if it is a demo database (ConflictError otherwise);
    the build happens in a file beside it that is renamed over it when complete.
    """
    days = to_int(days, "days", lowest=1, highest=MAX_DAYS)
    # 64 bits: the seed is kept in the demo's store_meta row as JSON
    seed = to_int(seed, "seed", lowest=-2 ** 63, allowed="an integer (64-bit)")
    target = Path(path)
    if target.is_dir():
        raise ConflictError(f"{target}: is a directory; give a file name for the demo database")
    sidecars = [Path(f"{target}-wal"), Path(f"{target}-shm")]
    if target.exists() and not is_demo_database(target):
        raise ConflictError(f"{target}: exists and is not a tradestore demo database; refusing "
                            "to overwrite it (choose another path with --db)")
    if not target.exists():
        refuse_store_target(target)  # e.g. the -wal of someone's database
    if not target.exists() and sidecars[0].exists() and sidecars[0].stat().st_size:
        raise ConflictError(f"{target}: a leftover write-ahead log {sidecars[0].name} lies "
                            "beside it without its database; move it away first")
    if end is None:
        end = utc_now().replace(hour=0, minute=0, second=0, microsecond=0)
    end = end.astimezone(UTC) if end.tzinfo else end.replace(tzinfo=UTC)
    building = target.with_name(f".{target.name}.building-{os.getpid()}")
    _remove(building, Path(f"{building}-wal"), Path(f"{building}-shm"))
    try:
        with TradeRepo(building) as repo:
            Simulation(repo, days=days, seed=seed, end=end).run()
            if futures:
                run_futures_bot(repo, days=days, seed=seed, end=end)
        if Path(f"{building}-wal").exists() and Path(f"{building}-wal").stat().st_size:
            raise StoreError(f"{building}: the write-ahead log was not checkpointed")
        _remove(*sidecars)  # the old demo's log must never be replayed onto the new file
        os.replace(building, target)
    finally:
        _remove(building, Path(f"{building}-wal"), Path(f"{building}-shm"))
    return target


def _remove(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


# ------------------------------------------------------------------ the bot

class Simulation:
    """One simulated bot: hourly prices, decisions, orders, fills, snapshots."""

    def __init__(self, repo: TradeRepo, *, days: int, seed: int, end: datetime):
        self.repo, self.days, self.seed, self.end = repo, days, seed, end
        self.start = end - timedelta(days=days)
        self.hours = days * 24
        self.rng = random.Random(seed)
        self.prices = {m.symbol: m.price for m in MARKETS}
        self.history: dict[str, list[Decimal]] = {m.symbol: [] for m in MARKETS}
        self.position = {m.symbol: Decimal(0) for m in MARKETS}
        self.working: dict[str, Working] = {}
        self.next_decision = {m.symbol: self.rng.randint(24, 48) for m in MARKETS}
        self.cash = START_CASH
        self.config = {name: dict(spec[2]) for name, spec in STRATEGIES.items()}
        self.snapshots: list[dict[str, Any]] = []
        self.orders_made, self.fills_made = 0, 0
        self.peak, self.drawdown_armed = START_CASH, True
        self.drift = {m.symbol: 0 for m in MARKETS}

    def at(self, hour: int, minute: int = 0) -> datetime:
        return self.start + timedelta(hours=hour, minutes=minute,
                                      seconds=self.rng.randint(0, 59) if minute else 0)

    def set_clock(self, moment: datetime) -> None:
        """The time the store stamps the next calls' rows with (created_at, ...)."""
        self.repo.db.clock = lambda: moment

    def run(self) -> None:
        wall_clock = self.repo.db.clock
        try:
            self._run()
        finally:
            self.repo.db.clock = wall_clock

    def _run(self) -> None:
        with self.repo.transaction() as conn:
            self.setup()
            for hour in range(self.hours + 1):
                if hour:
                    self.walk(hour)
                self.snapshot(hour)
                if hour == self.hours:
                    break
                for k, market in enumerate(MARKETS):
                    self.work_order(market, hour, self.at(hour, 3 + 7 * k))
                    if hour >= self.next_decision[market.symbol] \
                            and market.symbol not in self.working:
                        self.decide(market, hour, self.at(hour, 5 + 7 * k))
                if hour == self.hours // 2:
                    self.retune(self.at(hour, 40))
                if hour and hour % (24 * 30) == 0:
                    self.save_state(hour, self.at(hour, 50))
                if hour == self.hours - 1:
                    self.finish(hour)
            self.repo.portfolio.save_many(self.snapshots)
            write_meta(conn, DEMO_KEY, canonical_json({
                "seed": self.seed, "days": self.days, "start": ts_in(self.start),
                "end": ts_in(self.end)}), ts_in(self.repo.db.now()))

    # ---------------------------------------------------------------- setup and prices
    def setup(self) -> None:
        repo, start = self.repo, self.start
        self.set_clock(start)
        repo.accounts.deposit("default", START_CASH, timestamp=start, note="demo capital")
        for m in MARKETS:
            repo.instruments.upsert(m.symbol, asset_class="crypto", exchange=EXCHANGE,
                                    tick_size=m.tick, lot_size=m.lot, currency=QUOTE)
        for name, (kind, description, config) in STRATEGIES.items():
            repo.strategies.create(name, strategy_type=kind, description=description,
                                   config=config)
        repo.events.log("bot.started", f"demo bot started with {START_CASH} {QUOTE}",
                        timestamp=start, details={"seed": self.seed, "days": self.days,
                                                  "symbols": [m.symbol for m in MARKETS]})
        for m in MARKETS:
            self.history[m.symbol].append(m.price)
        self.save_state(0, start)

    def walk(self, hour: int) -> None:
        """One hour of every market: two uniform draws plus a trend that changes every
        five days or so (basis points)."""
        for m in MARKETS:
            if self.rng.random() < REGIME_CHANGE:  # a new trend, more often back toward the open
                toward_open = 1 if self.prices[m.symbol] < m.price else -1
                sign = toward_open if self.rng.random() < 0.7 else -toward_open
                self.drift[m.symbol] = sign * self.rng.randint(0, m.swing_bp // DRIFT_DIV)
            step = self.rng.randint(-m.swing_bp, m.swing_bp) + \
                self.rng.randint(-m.swing_bp, m.swing_bp) + self.drift[m.symbol]
            price = (self.prices[m.symbol] * (10000 + step) / 10000).quantize(
                m.tick, ROUND_HALF_EVEN)
            self.prices[m.symbol] = max(price, m.tick * 50)
            self.history[m.symbol].append(self.prices[m.symbol])

    # ---------------------------------------------------------------- decisions
    def signal(self, m: Market, hour: int) -> int | None:
        """-1 short, 0 flat, 1 long, None keep what is held."""
        prices = self.history[m.symbol]
        config = self.config[m.strategy]
        if m.strategy == "breakout":
            window = prices[max(0, hour - config["window_hours"]):hour]
            if prices[hour] > max(window):
                return 1
            return -1 if prices[hour] < min(window) else None
        look = config["lookback_hours"]
        change = prices[hour] / prices[max(0, hour - look)] - 1
        if abs(change) < Decimal(config["threshold"]):
            return 0
        direction = 1 if change > 0 else -1
        return direction if m.strategy == "momentum" else -direction

    def decide(self, m: Market, hour: int, moment: datetime) -> None:
        self.next_decision[m.symbol] = hour + self.rng.randint(6, 30)
        signal = self.signal(m, hour)
        held = self.position[m.symbol]
        if signal is None or self.rng.random() < 0.12:
            return
        price = self.prices[m.symbol]
        unit = (m.notional / price).quantize(m.lot, ROUND_DOWN)
        if signal and held and (held > 0) == (signal > 0):
            if abs(held) >= unit * 2 or self.rng.random() > 0.3:
                return
            target = held + signal * (unit / 2).quantize(m.lot, ROUND_DOWN)  # scale in
        else:
            target = signal * unit
        delta = target - held
        if abs(delta) < m.lot:
            return
        self.place(m, hour, moment, "BUY" if delta > 0 else "SELL", abs(delta))

    def place(self, m: Market, hour: int, moment: datetime, side: str, qty: Decimal) -> None:
        roll, price = self.rng.random(), self.prices[m.symbol]
        self.orders_made += 1
        ids: dict[str, Any] = {"exchange": EXCHANGE, "external_id": f"O{self.orders_made:06d}",
                               "strategy": m.strategy}
        self.set_clock(moment)
        if roll < 0.015:
            order = self.repo.create_order(m.symbol, side, "MARKET", qty, **ids)
            self.repo.update_order_status(order.id, "REJECTED", "insufficient margin")
            self.repo.events.log("order.rejected", f"{side} {qty} {m.symbol} rejected: "
                                 "insufficient margin", severity="warning", symbol=m.symbol,
                                 order_id=order.id, timestamp=moment)
        elif roll < 0.55:
            order = self.repo.create_order(m.symbol, side, "MARKET", qty, **ids)
            slip = Decimal(self.rng.randint(0, 6)) / 10000
            fill_price = (price * (1 + slip if side == "BUY" else 1 - slip)).quantize(m.tick)
            parts = [qty]
            if self.rng.random() < 0.3 and qty >= m.lot * 2:
                first = (qty * Decimal(self.rng.randint(30, 70)) / 100).quantize(m.lot, ROUND_DOWN)
                parts = [first, qty - first]
            for n, part in enumerate(parts):
                self.fill(order.id, m, side, part, fill_price, TAKER_FEE,
                          moment + timedelta(seconds=n + 1))
        else:
            offset = Decimal(self.rng.randint(5, 40)) / 10000
            limit = (price * (1 - offset if side == "BUY" else 1 + offset)).quantize(m.tick)
            order = self.repo.create_order(m.symbol, side, "LIMIT", qty, price=limit,
                                           status="OPEN", **ids)
            self.working[m.symbol] = Working(order.id, side, qty, limit,
                                             hour + self.rng.randint(3, 12))

    def work_order(self, m: Market, hour: int, moment: datetime) -> None:
        """A resting limit order fills (maybe in part) when the price reaches it."""
        w = self.working.get(m.symbol)
        if w is None:
            return
        price = self.prices[m.symbol]
        touched = price <= w.limit if w.side == "BUY" else price >= w.limit
        if touched:
            part = w.remaining
            if self.rng.random() < 0.4 and w.remaining >= m.lot * 2:
                part = (w.remaining / 2).quantize(m.lot, ROUND_DOWN)
            self.fill(w.order_id, m, w.side, part, w.limit, MAKER_FEE, moment)
            w.remaining -= part
            if not w.remaining:
                del self.working[m.symbol]
        elif hour >= w.expires:
            self.set_clock(moment)
            self.repo.cancel_order(w.order_id, "not filled in time")
            del self.working[m.symbol]

    def fill(self, order_id: int, m: Market, side: str, qty: Decimal, price: Decimal,
             fee_rate: Decimal, moment: datetime) -> None:
        fee = (price * qty * fee_rate).quantize(FEE_QUANTUM, ROUND_HALF_EVEN)
        self.fills_made += 1
        self.set_clock(moment)
        self.repo.record_fill(order_id, qty, price, fees=fee, fee_currency=QUOTE,
                              external_id=f"T{self.fills_made:07d}", timestamp=moment)
        with exact():
            signed = qty if side == "BUY" else -qty
            self.position[m.symbol] += signed
            self.cash -= signed * price + fee

    # ---------------------------------------------------------------- bookkeeping
    def snapshot(self, hour: int) -> None:
        moment = self.at(hour)
        with exact():
            held = {s: q for s, q in self.position.items() if q}
            total = self.cash + sum((q * self.prices[s] for s, q in held.items()), Decimal(0))
        self.snapshots.append({
            "timestamp": moment, "total_value": total, "cash": self.cash,
            "positions": {s: {"quantity": q, "price": self.prices[s]} for s, q in held.items()},
            "balances": {QUOTE: self.cash}})
        if total >= self.peak:
            self.peak, self.drawdown_armed = total, True
        elif self.drawdown_armed and total < self.peak * Decimal("0.95"):
            self.drawdown_armed = False
            self.repo.events.log("risk.drawdown", f"equity {total.quantize(Decimal('0.01'))} is "
                                 "more than 5% below its peak", severity="warning",
                                 timestamp=moment, details={"peak": self.peak, "equity": total})

    def retune(self, moment: datetime) -> None:
        """Halfway through, the momentum strategy gets a shorter lookback (config v2)."""
        self.config["momentum"] = {"lookback_hours": 12, "threshold": "0.005"}
        self.set_clock(moment)
        self.repo.strategies.update_config("momentum", self.config["momentum"])
        self.repo.events.log("strategy.config_changed", "momentum: lookback 24h -> 12h",
                             timestamp=moment, details=self.config["momentum"])

    def save_state(self, hour: int, moment: datetime) -> None:
        self.set_clock(moment)
        self.repo.save_bot_state({
            "positions": {s: {"quantity": q, "side": "LONG" if q > 0 else "SHORT"}
                          for s, q in self.position.items() if q},
            "balances": {QUOTE: self.cash},
            "configuration": {"seed": self.seed, "strategies": self.config,
                              "markets": {m.symbol: m.strategy for m in MARKETS}},
            "extra": {"simulated_at": moment, "hour": hour,
                      "working_orders": sorted(w.order_id for w in self.working.values()),
                      "last_prices": dict(self.prices)}})

    def finish(self, hour: int) -> None:
        """The last hour: a partly filled order and a resting one stay working, so that
        ``tradestore orders --open`` has something to show; then a final state."""
        for m, fraction in ((MARKETS[0], Decimal("0.4")), (MARKETS[1], None)):
            moment = self.at(hour, 55)
            self.set_clock(moment)
            if m.symbol in self.working:
                self.repo.cancel_order(self.working.pop(m.symbol).order_id, "replaced")
            price, unit = self.prices[m.symbol], (m.notional / self.prices[m.symbol] / 2)
            qty = unit.quantize(m.lot, ROUND_DOWN)
            side = "SELL" if self.position[m.symbol] > 0 else "BUY"
            limit = price if fraction else (price * Decimal("0.98" if side == "BUY" else "1.02")
                                            ).quantize(m.tick)
            self.orders_made += 1
            order = self.repo.create_order(m.symbol, side, "LIMIT", qty, price=limit,
                                           status="OPEN", exchange=EXCHANGE,
                                           external_id=f"O{self.orders_made:06d}",
                                           strategy=m.strategy)
            if fraction:
                self.fill(order.id, m, side, (qty * fraction).quantize(m.lot, ROUND_DOWN), limit,
                          MAKER_FEE, moment + timedelta(seconds=2))
            self.working[m.symbol] = Working(order.id, side, qty, limit, self.hours + 12)
        self.save_state(self.hours, self.at(hour, 59))
