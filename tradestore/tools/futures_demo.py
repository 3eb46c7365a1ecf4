"""A simulated perpetual-futures bot (issue 17, "Done when"): ``tradestore demo
--futures`` and tests/test_futures.py run it.

Two perpetuals on one venue: ``BTC/USDT:USDT`` (linear, 0.001 BTC a contract) and
``BTC/USD:BTC`` (inverse, 100 USD a contract), leverage 3-20, funding every 8 hours
on whatever is open, round trips of a few hours to a few days with adds and partial
exits, and one liquidation at the liquidation price the "exchange" gave. Prices are
integer random walks in Decimal, deterministic for a seed.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tradestore._core.money import exact
from tradestore.record.trades import TradeData
from tradestore.repo import TradeRepo

EXCHANGE = "demo-futures"
STRATEGY = "perp-swing"
LINEAR, INVERSE = "BTC/USDT:USDT", "BTC/USD:BTC"
SIZES = {LINEAR: Decimal("0.001"), INVERSE: Decimal(100)}
FEE_RATE = Decimal("0.0005")
Q8 = Decimal("0.00000001")


def _value(symbol: str, qty: Decimal, price: Decimal) -> Decimal:
    """Notional in the settle currency, rounded to 8 places (fees and funding)."""
    with exact():
        units = qty * SIZES[symbol]
    if symbol == INVERSE:
        return (units / price).quantize(Q8)
    with exact():
        return (units * price).quantize(Q8)


def run_futures_bot(repo: TradeRepo, *, days: int = 30, seed: int = 7, end: datetime,
                    account: str = "default", close_all: bool = False) -> dict:
    """Simulate ``days`` hours-by-hour up to ``end``; returns what it did (counts)."""
    rng = random.Random(seed)
    for symbol, size in SIZES.items():
        repo.instruments.upsert(symbol, kind="perpetual", contract_size=size,
                                exchange=EXCHANGE)
    start = end - timedelta(days=days)
    price = {LINEAR: Decimal(30000), INVERSE: Decimal(30000)}
    # symbol -> [side, qty, leverage, liq price, until]
    open_: dict[str, list[Any] | None] = {LINEAR: None, INVERSE: None}
    fills: list[TradeData] = []
    funding, liquidated = 0, False
    liquidate_at = rng.randrange(days * 24 // 3, days * 24 * 2 // 3)
    for hour in range(days * 24):
        now = start + timedelta(hours=hour)
        if hour % 8 == 0 and fills:  # fills before the funding that follows them
            repo.save_trades(fills)
            fills = []
        for symbol in (LINEAR, INVERSE):
            price[symbol] = max(Decimal(1000), price[symbol] + rng.randint(-300, 300))
            p, state = price[symbol], open_[symbol]
            if hour % 8 == 0 and state is not None:  # funding: longs pay a positive rate
                rate = Decimal(rng.randint(-3, 10)) / Decimal(10000)
                amount = _value(symbol, state[1], p) * rate
                amount = (-amount if state[0] == "BUY" else amount).quantize(Q8)
                if amount:
                    repo.record_funding(symbol, amount, now, exchange=EXCHANGE, account=account,
                                        external_id=f"{symbol}-{hour}")
                    funding += 1
            t = now + timedelta(minutes=30)
            if state is None:
                if rng.random() < 0.3:
                    side = rng.choice(["BUY", "SELL"])
                    qty = Decimal(rng.randint(1, 20))
                    leverage = Decimal(rng.choice([3, 5, 10, 20]))
                    sign = -1 if side == "BUY" else 1
                    liq = (p * (1 + sign / leverage * Decimal("0.9"))).quantize(Decimal(1))
                    fills.append(TradeData(symbol, side, qty, p, timestamp=t, exchange=EXCHANGE,
                                           account=account, strategy=STRATEGY, leverage=leverage,
                                           margin_mode="isolated", liquidation_price=liq,
                                           fees=_value(symbol, qty, p) * FEE_RATE,
                                           external_id=f"{symbol}-o{hour}"))
                    open_[symbol] = [side, qty, leverage, liq, hour + rng.randint(3, 72)]
                continue
            side, qty, leverage, liq, until = state
            close_side = "SELL" if side == "BUY" else "BUY"
            if not liquidated and hour >= liquidate_at:  # the exchange closes it at liq
                liquidated = True
                fills.append(TradeData(symbol, close_side, qty, liq, timestamp=t,
                                       exchange=EXCHANGE, account=account, strategy=STRATEGY, liquidation=True,
                                       fees=_value(symbol, qty, liq) * FEE_RATE,
                                       external_id=f"{symbol}-liq{hour}"))
                open_[symbol] = None
            elif hour >= until:
                fills.append(TradeData(symbol, close_side, qty, p, timestamp=t,
                                       exchange=EXCHANGE, account=account, strategy=STRATEGY,
                                       fees=_value(symbol, qty, p) * FEE_RATE,
                                       external_id=f"{symbol}-c{hour}"))
                open_[symbol] = None
            elif rng.random() < 0.05:
                add = Decimal(rng.randint(1, 5))
                fills.append(TradeData(symbol, side, add, p, timestamp=t, exchange=EXCHANGE,
                                       account=account, strategy=STRATEGY, leverage=leverage,
                                       fees=_value(symbol, add, p) * FEE_RATE,
                                       external_id=f"{symbol}-a{hour}"))
                state[1] += add
            elif rng.random() < 0.05 and qty > 1:
                part = Decimal(rng.randint(1, int(qty) - 1))
                fills.append(TradeData(symbol, close_side, part, p, timestamp=t,
                                       exchange=EXCHANGE, account=account, strategy=STRATEGY,
                                       fees=_value(symbol, part, p) * FEE_RATE,
                                       external_id=f"{symbol}-r{hour}"))
                state[1] -= part
    if close_all:  # flat at the end, so every round trip is closed
        for symbol, state in open_.items():
            if state is not None:
                p = price[symbol]
                fills.append(TradeData(symbol, "SELL" if state[0] == "BUY" else "BUY", state[1],
                                       p, timestamp=end - timedelta(minutes=1),
                                       exchange=EXCHANGE, account=account, strategy=STRATEGY,
                                       fees=_value(symbol, state[1], p) * FEE_RATE,
                                       external_id=f"{symbol}-end"))
    repo.save_trades(fills)
    return {"funding_payments": funding, "liquidated": liquidated}
