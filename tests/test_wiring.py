"""Repositories receive the repositories they need (issue 18.2): the trades and orders
stores get the accounts and instruments stores, funding and the portfolio the accounts
store, trades and funding the ledger (the replay of a key); each asks them once per name
per call, with the same errors as before."""

from __future__ import annotations

import pytest

from tradestore.books.accounts import AccountStore
from tradestore.books.instruments import InstrumentStore
from tradestore.errors import ConflictError, ValidationError
from tradestore.record.ledger import Ledger
from tradestore.record.orders import OrderStore
from tradestore.record.trades import TradeStore
from tradestore.state.portfolio import PortfolioStore


@pytest.fixture
def repo(store):
    """Both engines (conftest.store: SQLite, PostgreSQL)."""
    return store


def fill(symbol="BTC/USDT", account="default"):
    return {"symbol": symbol, "side": "BUY", "quantity": "1", "price": "100",
            "timestamp": "2024-01-01T00:00:00Z", "account": account}


class AskedAccounts(AccountStore):
    """The real accounts store, noting each name it is asked about."""

    def __init__(self, db):
        super().__init__(db)
        self.asked: list[str] = []

    def require(self, name):
        self.asked.append(name)
        return super().require(name)


class AskedInstruments(InstrumentStore):
    def __init__(self, db):
        super().__init__(db)
        self.asked: list[str] = []

    def require_active(self, symbol):
        self.asked.append(symbol)
        return super().require_active(symbol)


def test_the_facade_hands_over_the_repositories_themselves(repo):
    assert repo.trades.accounts is repo.accounts
    assert repo.trades.instruments is repo.instruments
    assert repo.orders.accounts is repo.accounts
    assert repo.orders.instruments is repo.instruments
    assert repo.funding.accounts is repo.accounts
    assert repo.portfolio.accounts is repo.accounts
    assert isinstance(repo.trades.ledger, Ledger) and repo.funding.ledger is repo.trades.ledger


def test_a_batch_asks_once_per_account_and_per_symbol(repo):
    repo.accounts.create("spot")
    accounts, instruments = AskedAccounts(repo.db), AskedInstruments(repo.db)
    trades = TradeStore(repo.db, repo.positions, Ledger(), accounts, instruments)
    trades.save_many([fill(), fill("ETH/USDT", "spot"), fill(), fill("ETH/USDT")])
    assert accounts.asked == ["default", "spot"]
    assert instruments.asked == ["BTC/USDT", "ETH/USDT"]
    trades.save(fill("SOL/USDT"))
    assert instruments.asked[-1] == "SOL/USDT"


def test_the_checks_refuse_as_before(repo):
    repo.accounts.create("spot")
    repo.instruments.upsert("ETH/USDT")
    repo.instruments.deactivate("ETH/USDT")
    trades = TradeStore(repo.db, repo.positions, Ledger(), repo.accounts, repo.instruments)
    with pytest.raises(ValidationError, match=r"^row 1: account: 'spott' is not a known "
                                              r"account \(default, spot\)") as info:
        trades.save_many([fill(), fill(account="spott")])
    assert (info.value.field, info.value.value) == ("account", "spott")
    with pytest.raises(ConflictError, match=r"^row 1: symbol: instrument 'ETH/USDT' is "
                                            "deactivated"):
        trades.save_many([fill(), fill("ETH/USDT")])
    with pytest.raises(ConflictError, match=r"^symbol: instrument 'ETH/USDT' is deactivated"):
        trades.save(fill("ETH/USDT"))  # a single fill's message names no row
    repo.accounts.deactivate("spot")  # a deactivated account names its row too
    with pytest.raises(ConflictError, match=r"^row 2: account: 'spot' is deactivated"):
        trades.save_many([fill(), fill(), fill(account="spot")])
    orders = OrderStore(repo.db, trades, repo.accounts, repo.instruments)
    with pytest.raises(ConflictError, match=r"^symbol: instrument 'ETH/USDT' is deactivated"):
        orders.create("ETH/USDT", "BUY", "MARKET", 1)
    with pytest.raises(ValidationError, match="'spott' is not a known account"):
        orders.create("BTC/USDT", "BUY", "MARKET", 1, account="spott")
    with pytest.raises(ValidationError, match="'spott' is not a known account"):
        PortfolioStore(repo.db, repo.accounts).save("100", account="spott")
    assert repo.db.scalar("SELECT count(*) FROM trades") == 0
    assert repo.db.scalar("SELECT count(*) FROM orders") == 0
    assert repo.db.scalar("SELECT count(*) FROM portfolio_snapshots") == 0


def test_stores_given_no_books_check_nothing(repo):
    """A store at an older schema (tests/test_migrations_data.py) is built without them."""
    repo.accounts.create("spot")
    repo.instruments.upsert("ETH/USDT")
    repo.instruments.deactivate("ETH/USDT")
    trades = TradeStore(repo.db, repo.positions, Ledger())
    assert len(trades.save_many([fill("ETH/USDT", "elsewhere")])) == 1
    OrderStore(repo.db, trades).create("ETH/USDT", "BUY", "MARKET", 1, account="elsewhere")
    PortfolioStore(repo.db).save("100", account="elsewhere")


def test_require_active_is_a_read_of_the_instruments(repo):
    assert repo.instruments.require_active("NOT/LISTED") == "NOT/LISTED"
    repo.instruments.upsert("ETH/USDT")
    assert repo.instruments.require_active("ETH/USDT") == "ETH/USDT"
    repo.instruments.deactivate("ETH/USDT")
    with pytest.raises(ConflictError, match=r"^symbol: instrument 'ETH/USDT' is "
                                            r"deactivated; it takes no new fills or orders "
                                            r"\(repo.instruments.activate\('ETH/USDT'\) brings "
                                            r"it back\)$"):
        repo.instruments.require_active("ETH/USDT")
    for bad in (None, 5, "", "x" * 201):
        with pytest.raises(ValidationError, match="^symbol: ") as info:
            repo.instruments.require_active(bad)
        assert info.value.field == "symbol"
