"""One fill through the fee rule and the position accounting: pure, no SQL.

Both writers of the record use it: ``TradeStore`` when it applies a new fill to its
key's open round trip, and the ledger (tradestore.record.ledger) when it replays a
key. It sits below both, so neither imports the other for it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from tradestore._core.money import ZERO, exact, tidy
from tradestore.errors import ValidationError
from tradestore.record.fees import Currencies, fee_effect
from tradestore.record.positions import (PLAIN, FillEffect, PositionState, Terms, add_unvalued,
                                         apply_fill)


class Execution(Protocol):
    """What the accounting reads of a fill: a ``TradeData`` being saved, or a stored
    fill's ``Fill`` being replayed (both in tradestore.record.trades)."""

    @property
    def side(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def fees(self) -> Decimal: ...
    @property
    def fee_currency(self) -> str | None: ...
    @property
    def fee_value(self) -> Decimal | None: ...
    @property
    def timestamp(self) -> Any: ...
    @property
    def pnl(self) -> Decimal | None: ...  # a given pnl (stored as given), else None
    @property
    def strategy(self) -> str | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def liquidation(self) -> bool: ...
    @property
    def commission(self) -> Decimal: ...
    @property
    def commission_currency(self) -> str | None: ...
    @property
    def leverage(self) -> Decimal | None: ...
    @property
    def margin(self) -> Decimal | None: ...
    @property
    def margin_mode(self) -> str | None: ...
    @property
    def liquidation_price(self) -> Decimal | None: ...


def fill_costs(fill: Execution,
               currencies: Currencies) -> tuple[Decimal, Decimal, Decimal, dict | None]:
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
        add_unvalued(unvalued, paid.unvalued)
    return quantity, total, paid.fee, unvalued


def closed_by(fill: Execution) -> str:
    if fill.liquidation:
        return "liquidation"
    return "adjustment" if fill.kind == "ADJUSTMENT" else "trade"


def apply_trade(position: PositionState | None, key: tuple[str, str, str], fill: Execution,
                currencies: Currencies) -> FillEffect:
    """One fill through the fee rule and the position accounting (FillEffect)."""
    quantity, fee, commission, unvalued = fill_costs(fill, currencies)
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
