"""ccxt "unified trade" dicts -> fills. ccxt itself is not needed.

Mapping (https://docs.ccxt.com/#/?id=trade-structure):
  id -> external_id; order -> metadata["order_external_id"] (and order_id when an
  order with that (exchange, external_id) is stored, see ``link_orders``);
  amount -> quantity; price; side; symbol; timestamp (ms since the epoch, int,
  float or text) or else datetime (ISO-8601) -> timestamp. Numbers may be floats
  (taken through their shortest repr), ints, text or Decimal.

Fees: the ``fees`` list (or the single ``fee`` when there is no list) is summed per
currency. A fill with one fee currency (the usual case) keeps it as given
(``fees``, ``fee_currency``) and the store applies the one fee rule of
tradestore.record.fees: a quote fee counts, a base fee changes the quantity held, any
other currency counts only through ``fee_value``, which is set here when
``fee_prices`` gives that currency's price in the quote currency (otherwise the
position reports it in ``unvalued_fees``). Fees in several currencies at once
(rare) are valued into one quote fee: quote as is, base at the fill's price (the
held quantity is then not adjusted), others through ``fee_prices``; those that
cannot be valued are listed in metadata["unvalued_fees"]. A net rebate (negative
total) stores fees 0 and metadata["fee_rebate"]. Every fee entry, as given, is kept
in metadata["fees"]; takerOrMaker, type, cost and info in metadata under those names.

Orders: ``save_ccxt_trades`` (tradestore.ops.ccxt_fills) links a fill to the stored order of the same exchange
whose external id is the trade's ``order``; the order's filled quantity, average
price and status are then updated exactly as ``record_fill`` does.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from decimal import Decimal

from tradestore._core.codec import UTC, dec_in, is_int, show, to_decimal, to_text, to_utc
from tradestore._core.money import exact, tidy
from tradestore.errors import ValidationError
from tradestore.record.fees import parse_symbol

EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)
KEPT = ("takerOrMaker", "type", "cost", "info")


def fill_fields(d: Mapping, *, exchange: str, fee_prices: Mapping | None = None) -> dict:
    """One ccxt unified trade -> the TradeData fields (validated; errors name the ccxt
    field). ``TradeData.from_ccxt`` builds the fill from them."""
    if not isinstance(d, Mapping):
        raise ValidationError(f"{show(d)} is not a ccxt trade (a dict)", value=d)
    if fee_prices is not None and not isinstance(fee_prices, Mapping):
        raise ValidationError(f"fee_prices: {show(fee_prices)} must be a mapping "
                              "{currency: price in the quote currency} or None",
                              field="fee_prices", value=fee_prices)
    exchange = to_text(exchange, "exchange")
    symbol = to_text(d.get("symbol"), "symbol")
    price = to_decimal(d.get("price"), "price", positive=True)
    metadata = {}
    for key in KEPT:
        value = d.get(key)
        if value is not None:
            metadata[key] = dec_in(to_decimal(value, key)) if key == "cost" else value
    order = _optional_id(d.get("order"), "order")
    if order is not None:
        metadata["order_external_id"] = order
    fees, fee_currency, fee_value = _fees(d, symbol, price, fee_prices, metadata)
    return dict(symbol=symbol, side=d.get("side"),
                quantity=to_decimal(d.get("amount"), "amount", positive=True), price=price,
                timestamp=_timestamp(d), fees=fees, fee_currency=fee_currency,
                fee_value=fee_value,
                exchange=exchange, external_id=_optional_id(d.get("id"), "id"),
                metadata=metadata, liquidation=_flag(d.get("liquidation"), "liquidation"))


def _flag(value, field) -> bool:
    """A liquidation trade: ``liquidation: true`` on the trade (as ccxt's liquidation
    structures and some exchanges' ``info`` give it)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValidationError(f"{field}: {value!r} must be true or false", field=field, value=value)


def _optional_id(value, field):
    if value is None or value == "":
        return None
    if not (isinstance(value, str) or is_int(value)):
        raise ValidationError(f"{field}: {value!r} must be text or an integer id", field=field,
                              value=value)
    return str(value)


def _timestamp(d: Mapping) -> _dt.datetime:
    value = d.get("timestamp")
    if value is not None:
        ms = to_decimal(value, "timestamp")
        try:
            return EPOCH + _dt.timedelta(microseconds=int((ms * 1000).to_integral_value()))
        except (OverflowError, ValueError):
            raise ValidationError(f"timestamp: {value!r} ms is out of range", field="timestamp",
                                  value=value) from None
    if d.get("datetime") is not None:
        return to_utc(d["datetime"], "datetime")
    raise ValidationError("timestamp: missing (a ccxt trade needs timestamp or datetime)",
                          field="timestamp", value=None)


def _fee_entries(d: Mapping) -> list[Mapping]:
    entries = d.get("fees")
    if not entries:
        entries = [d["fee"]] if d.get("fee") is not None else []
    if not isinstance(entries, (list, tuple)) or not all(isinstance(e, Mapping) for e in entries):
        raise ValidationError(f"fees: {entries!r} must be a list of {{cost, currency, rate}}",
                              field="fees", value=entries)
    return list(entries)


def _fees(d, symbol, price, fee_prices, metadata):
    """(fees, fee_currency, fee_value) by the rules in the module docstring."""
    totals: dict[str, Decimal] = {}
    kept = []
    for entry in _fee_entries(d):
        cost, currency, rate = entry.get("cost"), entry.get("currency"), entry.get("rate")
        kept.append({"cost": None if cost is None else dec_in(to_decimal(cost, "fee.cost")),
                     "currency": currency,
                     "rate": None if rate is None else dec_in(to_decimal(rate, "fee.rate"))})
        if cost is None:
            continue
        amount = to_decimal(cost, "fee.cost")
        if amount.is_zero():
            continue
        key = "" if currency is None else to_text(currency, "fee.currency")
        with exact():
            totals[key] = totals.get(key, Decimal(0)) + amount
    if kept:
        metadata["fees"] = kept
    parsed = parse_symbol(symbol)
    prices = dict(fee_prices or {})
    if not totals:
        return Decimal(0), None, None
    if len(totals) == 1:
        (currency, amount), = totals.items()
        fees, currency = _non_negative(amount, currency or None, metadata)
        third = (parsed is not None and currency is not None
                 and currency.upper() not in {(parsed.base or "").upper(),
                                              (parsed.quote or "").upper(),
                                              (parsed.settle or "").upper()})
        if third and currency in prices and fees > 0:
            with exact():
                value = tidy(fees * to_decimal(prices[currency], f"fee_prices[{currency}]",
                                               positive=True))
            return fees, currency, value
        return fees, currency, None
    if parsed is None:
        metadata["unvalued_fees"] = {c: dec_in(a) for c, a in totals.items()}
        return Decimal(0), None, None
    valued, unvalued, priced = Decimal(0), {}, False
    for currency, amount in totals.items():
        with exact():
            if currency in (parsed.quote, parsed.settle):
                valued += amount
            elif currency == parsed.base:
                valued += amount * price
            elif currency in prices:
                valued += amount * to_decimal(prices[currency], f"fee_prices[{currency}]",
                                              positive=True)
            else:
                unvalued[currency] = dec_in(amount)
                continue
        priced = True
    if unvalued:
        metadata["unvalued_fees"] = unvalued
    if not priced:
        return Decimal(0), None, None
    fees, currency = _non_negative(valued, parsed.quote, metadata)
    return fees, currency, None


def _non_negative(amount: Decimal, currency, metadata) -> tuple[Decimal, str | None]:
    if amount < 0:  # a maker rebate: the schema keeps fees >= 0
        metadata["fee_rebate"] = dec_in(-amount)
        return Decimal(0), currency
    return amount, currency
