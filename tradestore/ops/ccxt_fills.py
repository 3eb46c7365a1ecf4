"""Saving ccxt fills through the store: each linked to its stored order, in one
transaction (``TradeRepo.save_ccxt_trades``; the field mapping is
tradestore.record.ccxt)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Iterable

from tradestore._core.codec import to_items
from tradestore._core.hints import Amount
from tradestore.errors import ValidationError
from tradestore.ops.facade import OpsFacade
from tradestore.record.trades import TradeData


def link_orders(repo: OpsFacade, trades: list[TradeData]) -> list[TradeData]:
    """Set ``order_id`` of fills whose metadata["order_external_id"] names a stored
    order of the same exchange (one indexed lookup per distinct order); saving them
    then updates the order as ``record_fill`` does."""
    found: dict[tuple, int | None] = {}
    out = []
    for trade in trades:
        external = (trade.metadata or {}).get("order_external_id")
        if trade.order_id is None and external is not None:
            key = (trade.exchange, str(external))
            if key not in found:
                order = repo.orders.get_by_external_id(*key)
                found[key] = None if order is None else order.id
            if found[key] is not None:
                trade = replace(trade, order_id=found[key])
        out.append(trade)
    return out


def save_ccxt_trades(repo: OpsFacade, trades: Iterable[Mapping[str, Any]], *, exchange: str,
                     fee_prices: Mapping[str, Amount] | None = None) -> list[int]:
    """Map and save ccxt trades in one transaction (duplicates by id skipped); returns
    the fills' ids in the order given."""
    items = []
    for index, d in enumerate(to_items(trades, "trades", "ccxt trade dicts")):
        try:
            items.append(TradeData.from_ccxt(d, exchange=exchange, fee_prices=fee_prices))
        except ValidationError as exc:
            raise exc.in_row(index, "trade") from None
    with repo.transaction():
        return repo.save_trades(link_orders(repo, items))
