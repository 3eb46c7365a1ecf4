"""An account's money (issue 17.8; docs/futures.md "An account's money").

Cash per currency, derived from the record, never stored:

  cash[base currency]  = initial_cash + deposits - withdrawals
  + spot fills         : SELL +price x quantity, BUY -price x quantity in the quote
                         currency (the account's base currency when the symbol names
                         none); fees and commission - in their own currency (one in the
                         base currency of the symbol is taken from the quantity held,
                         not from cash)
  + derivative round trips (perpetual, future, option, inverse): realised pnl (it
                         includes funding and the costs of what was closed) minus the
                         opening costs still held, in the settle currency
  + funding payments attached to no position, in their currency

Margin posted is shown, not spent. Portfolio value = cash + each open position at
a mark price: spot at market value (quantity x mark, negative for a short),
derivatives at their unrealised pnl before the (already paid) opening costs.
Amounts of two currencies are never added.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from tradestore._core.codec import to_decimal, to_text
from tradestore._core.hints import AccountBook, Amount, Connection, Facade, Marks
from tradestore._core.money import ZERO, exact, tidy
from tradestore.errors import ConflictError, NotFoundError, ValidationError
from tradestore.record.fees import Currencies, currencies_of
from tradestore.record.funding import unattached_funding
from tradestore.record.positions import Position, PositionStore, cash_positions
from tradestore.record.trades import cash_fills

DERIVATIVE_KINDS = ("perpetual", "future", "option")


def is_derivative(currencies: Currencies) -> bool:
    return currencies.kind in DERIVATIVE_KINDS or currencies.inverse


def _add(book: dict, currency: str, amount: Decimal) -> None:
    with exact():
        book[currency] = tidy(book.get(currency, ZERO) + amount)


class BooksFacade(Facade, Protocol):
    """What mark_to_market and portfolio_value use of a TradeRepo."""

    @property
    def positions(self) -> PositionStore: ...

    @property
    def accounts(self) -> AccountBook: ...


def home_currency(accounts: AccountBook, conn: Connection, account: str) -> str:
    """The account's base currency; NotFoundError when there is no such account."""
    home = accounts.base_currency(conn, account)
    if home is None:
        raise NotFoundError(f"no account named {account!r}")
    return home


def cash_balances(accounts: AccountBook, conn: Connection, account: str) -> dict[str, Decimal]:
    """{currency: cash} of ``account`` (module docstring) on ``conn``, its funding read
    through ``accounts`` (the repository, tradestore.books.accounts); NotFoundError when
    unknown."""
    home = home_currency(accounts, conn, account)
    funding = accounts.funded(conn, account)
    assert funding is not None  # the account exists (accounts are never deleted)
    book: dict[str, Decimal] = {}
    _add(book, home, Decimal(funding[0]))
    terms: dict[str, Currencies] = {}
    for symbol, side, qty, price, fees, fee_cur, commission, com_cur in cash_fills(conn,
                                                                                account):
        c = terms.get(symbol) or terms.setdefault(symbol, currencies_of(conn, symbol))
        if is_derivative(c):
            continue
        quote = c.quote or home
        with exact():
            value = Decimal(price) * Decimal(qty)
        _add(book, quote, value if side == "SELL" else -value)
        for amount, currency in ((fees, fee_cur), (commission, com_cur)):
            amount = Decimal(amount)
            if amount.is_zero() or (currency and c.base and currency.upper() == c.base.upper()
                                    and not (c.quote and currency.upper() == c.quote.upper())):
                continue
            _add(book, currency.upper() if currency else quote, -amount)
    for symbol, currency, pnl, entry_fees, closed_at in cash_positions(conn, account):
        c = terms.get(symbol) or terms.setdefault(symbol, currencies_of(conn, symbol))
        if not is_derivative(c):
            continue
        with exact():
            _add(book, currency or home, Decimal(pnl) - Decimal(entry_fees))
    for currency, amount in unattached_funding(conn, account):
        _add(book, currency or home, Decimal(amount))
    return book


@dataclass(frozen=True)
class MarkedPosition:
    """An open position at a mark price.

    Attributes:
      position: the Position. mark_price: the price given.
      unrealized_pnl: what closing it at the mark without a fee would realise (its
        held opening costs included), in ``position.currency``.
      market_value: spot: quantity x mark (negative for a short); derivatives:
        unrealized_pnl + the held opening costs (already paid from cash).
      derivative: True for perpetual, future, option and inverse contracts.
    """

    position: Position
    mark_price: Decimal
    unrealized_pnl: Decimal
    market_value: Decimal
    derivative: bool


def _mark_of(marks: Marks, p: Position) -> Amount | None:
    for key in ((p.exchange, p.symbol), p.symbol):
        if key in marks:
            return marks[key]
    return None


def mark_to_market(repo: BooksFacade, marks: Marks, *, account: str | None = None,
                   exchange: str | None = None) -> list[MarkedPosition]:
    """Open positions (of ``account``/``exchange`` when given) at ``marks``: {symbol:
    price} or {(exchange, symbol): price}. A position without a mark is a
    ValidationError naming its symbol."""
    if not hasattr(marks, "items"):
        raise ValidationError(f"marks: {marks!r} must be a mapping of symbol to price",
                              field="marks", value=marks)
    out = []
    with repo.db.reading() as conn:
        for p in repo.positions.get_open_positions(account, exchange):
            mark = _mark_of(marks, p)
            if mark is None:
                raise ValidationError(f"marks: no mark price for {p.symbol!r} (exchange "
                                      f"{p.exchange!r}, account {p.account!r}), which is open",
                                      field="marks", value=p.symbol)
            mark = to_decimal(mark, f"marks[{p.symbol!r}]", positive=True)
            derivative = is_derivative(currencies_of(conn, p.symbol))
            upnl = p.unrealized_pnl(mark)
            with exact():
                if derivative:
                    value = tidy(upnl + p.entry_fees)
                else:
                    held = p.quantity * mark
                    value = tidy(held if p.side == "LONG" else -held)
            out.append(MarkedPosition(p, mark, upnl, value, derivative))
    return out


def portfolio_value(repo: BooksFacade, account: str, marks: Marks) -> dict[str, Decimal]:
    """{currency: cash + open positions at ``marks``}, exact (module docstring)."""
    account = to_text(account, "account")
    with repo.db.reading() as conn:
        book = cash_balances(repo.accounts, conn, account)
        home = home_currency(repo.accounts, conn, account)
    for marked in mark_to_market(repo, marks, account=account):
        _add(book, marked.position.currency or home, marked.market_value)
    return book


def single_value(book: dict[str, Decimal], account: str) -> tuple[str, Decimal]:
    """The one currency of a portfolio value; ConflictError naming them when several
    hold a non-zero amount (a snapshot's total_value is one number)."""
    held = {c: v for c, v in book.items() if v != 0} or book
    if len(held) > 1:
        raise ConflictError(
            f"account {account!r} holds {', '.join(sorted(held))}: a total value would add "
            "amounts of several currencies; pass total_value= (converted by you)")
    return next(iter(held.items()))
