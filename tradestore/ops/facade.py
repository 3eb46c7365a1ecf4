"""What backup, import and the ccxt ingest use of a ``TradeRepo``: the facade sits above
the operations, so they name it by this protocol (issue 18.4). The calls are TradeRepo's,
with the parameters passed here, so that mypy checks each call against the real
signatures."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Protocol

from tradestore._core.events import EventLog
from tradestore._core.hints import Facade
from tradestore.books.instruments import InstrumentStore
from tradestore.record.funding import FundingStore
from tradestore.record.orders import OrderStore
from tradestore.record.trades import TradeData, TradeStore


class OpsFacade(Facade, Protocol):
    """``ops.backup`` (events), ``ops.imports`` and ``ops.ccxt_fills``."""

    @property
    def events(self) -> EventLog: ...

    @property
    def trades(self) -> TradeStore: ...

    @property
    def funding(self) -> FundingStore: ...

    @property
    def orders(self) -> OrderStore: ...

    @property
    def instruments(self) -> InstrumentStore: ...

    def save_trades(self, trades: Iterable[TradeData | Mapping[str, Any]]) -> list[int]: ...

    def rebuild(self) -> list[str]: ...
