"""Fees in their currency (ARCHITECTURE.md, "Currencies and fees").

One rule, used by every path that makes a fill count (``TradeData`` saved directly,
CSV/JSON imports, ccxt ingest, replays):
  - a fee in the quote currency, or with no currency, counts as given;
  - a fee in the base currency changes the quantity held (BUY receives
    quantity - fee, SELL spends quantity + fee) and counts at the fill price, so
    entry value = price x held quantity and a round trip's pnl is its cash flow;
  - a fee in any other currency counts only through ``fee_value`` (its value in
    quote); without it the fee is reported as unvalued and left out of pnl;
  - when the quote is unknown (no "/" in the symbol and no instrument registered
    with currencies) the fee cannot be told apart and counts as given (or as its
    ``fee_value`` when one is given).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from tradestore._core.hints import Connection
from tradestore._core.money import ZERO, exact, tidy
from tradestore.errors import ValidationError

INSTRUMENT_CURRENCIES = ("SELECT base_currency, coalesce(quote_currency, currency), "
                         "settle_currency, contract_size, inverse, kind "
                         "FROM instruments WHERE symbol = ?")


@dataclass(frozen=True)
class Currencies:
    """What a symbol's amounts are in.

    Attributes:
      base: what is bought and sold (BTC of BTC/USDT), or None when unknown.
      quote: the currency of prices (USDT), or None when unknown.
      settle: the currency pnl is settled in (ccxt's BASE/QUOTE:SETTLE), else the quote.
      contract_size: the multiplier (1 unless an instrument says otherwise).
      inverse: priced in quote but settled in base (BTC/USD:BTC), or as registered.
      kind: spot, perpetual, future, option; None when unknown.
    """

    base: str | None
    quote: str | None
    settle: str | None
    contract_size: Decimal = Decimal(1)
    inverse: bool = False
    kind: str | None = None

    @property
    def known(self) -> bool:
        return self.quote is not None


UNKNOWN = Currencies(None, None, None)


# A save parses its fill's symbol (currencies_of) and the parse cost a microsecond; the
# answer depends on the text alone and Currencies is immutable, so it is cached.
@lru_cache(maxsize=4096)
def parse_symbol(symbol: str) -> Currencies | None:
    """Currencies spelt by ``BASE/QUOTE`` or ccxt's ``BASE/QUOTE:SETTLE`` (a derivative:
    inverse when it settles in its base, e.g. ``BTC/USD:BTC``; ``BTC/USDT:USDT-251226``
    is a dated future, ``BTC/USD:BTC-251226-60000-C`` an option); None for other symbols."""
    base, slash, rest = symbol.partition("/")
    if not slash or not base.strip() or not rest.strip():
        return None
    quote_part, colon, settle_part = rest.partition(":")
    quote, settle = quote_part.strip() or None, settle_part.strip() or None
    if quote is None:
        return None
    base = base.strip()
    if not colon or settle is None:
        return Currencies(base, quote, quote, kind="spot" if not colon else None)
    settle, *tail = settle.split("-")  # SETTLE-YYMMDD a future, -YYMMDD-STRIKE-C/P an option
    settle = settle.strip() or quote
    kind = "perpetual" if not tail else "future" if len(tail) == 1 else "option"
    return Currencies(base, quote, settle, inverse=settle.upper() == base.upper(), kind=kind)


def currencies_of(conn: Connection, symbol: str) -> Currencies:
    """From the symbol, else from the instrument registry (one indexed read), else unknown.
    A derivative symbol (with ':') or one without '/' also reads its registered contract
    terms (contract_size, inverse, kind, settle currency); a spot BASE/QUOTE does not."""
    parsed = parse_symbol(symbol)
    if parsed is not None and parsed.kind == "spot":
        return parsed
    row = conn.execute(INSTRUMENT_CURRENCIES, (symbol,)).fetchone()
    if row is None:
        return UNKNOWN if parsed is None else parsed
    base, quote, settle, size, inverse, kind = row
    size = Decimal(1) if size is None else Decimal(size)
    if parsed is not None:
        return Currencies(parsed.base, parsed.quote, parsed.settle, size,
                          bool(inverse) or parsed.inverse, kind or parsed.kind)
    if quote is None:
        return Currencies(None, None, None, size, bool(inverse), kind)
    return Currencies(base, quote, settle or (base if inverse and base else quote), size,
                      bool(inverse), kind)


@dataclass(frozen=True)
class FeeEffect:
    """What a fill's fee does to its position.

    Attributes:
      quantity: what the position receives (BUY) or gives up (SELL).
      fee: what counts against pnl, in the quote currency.
      unvalued: {currency: amount} left out of pnl, or None.
    """

    quantity: Decimal
    fee: Decimal
    unvalued: dict | None = None


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.upper() == b.upper()


def fee_effect(side: str, quantity: Decimal, price: Decimal, fees: Decimal,
               fee_currency: str | None, fee_value: Decimal | None,
               currencies: Currencies) -> FeeEffect:
    """The one fee rule (module docstring). Raises ValidationError for a fee that
    cannot be applied (a base fee not smaller than the quantity bought, a fee_value
    for a fee that is already in the quote or base currency)."""
    if fee_currency is None or not currencies.known:
        return FeeEffect(quantity, fees if fee_value is None else fee_value)
    # an inverse contract's amounts are in its settle (base) currency, not its quote
    is_quote = _same(fee_currency, currencies.settle) or \
        (not currencies.inverse and _same(fee_currency, currencies.quote))
    is_base = _same(fee_currency, currencies.base) and not is_quote
    if (is_quote or is_base) and fee_value is not None:
        raise ValidationError(
            f"fee_value: {fee_value} is only for a fee in a currency other than "
            f"{currencies.base}/{currencies.quote}; a {fee_currency} fee counts by itself",
            field="fee_value", value=fee_value)
    if is_quote:
        return FeeEffect(quantity, fees)
    if is_base:
        if fees.is_zero():
            return FeeEffect(quantity, ZERO)
        with exact():
            held = quantity - fees if side == "BUY" else quantity + fees
            value = fees * price
        if held <= 0:
            raise ValidationError(
                f"fees: a {fees} {fee_currency} fee is not smaller than the {quantity} "
                f"{fee_currency} bought; nothing would be held", field="fees", value=fees)
        return FeeEffect(tidy(held), tidy(value))
    if fee_value is not None:
        return FeeEffect(quantity, fee_value)
    if fees.is_zero():
        return FeeEffect(quantity, ZERO)
    return FeeEffect(quantity, ZERO, {fee_currency: fees})
