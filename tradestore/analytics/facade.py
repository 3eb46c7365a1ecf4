"""What the reports use of a ``TradeRepo``: the facade sits above the analytics, so they
name it by this protocol (issue 18.4). The calls are TradeRepo's, with the parameters the
reports pass, so that mypy checks each call against the real signatures."""

from __future__ import annotations

from typing import Iterable, Protocol

from tradestore._core.hints import Amount, Days, Facade, Moment
from tradestore.analytics.metrics import (Analytics, GroupPerformance, PerformanceMetrics,
                                          TradeStatistics)
from tradestore.books.accounts import AccountStore
from tradestore.record.trades import TradeStore


class AnalyticsFacade(Facade, Protocol):
    """The text report (``report.collect``), the HTML report and the per-account lines."""

    @property
    def analytics(self) -> Analytics: ...

    @property
    def trades(self) -> TradeStore: ...

    @property
    def accounts(self) -> AccountStore: ...

    def get_statistics_by_currency(self, days: Days = ..., *, account: str | None = ...,
                                   since: Moment | None = ...) -> dict[str, TradeStatistics]: ...

    def calculate_performance_metrics(
            self, days: Days = ..., *, account: str = ..., periods_per_year: int = ...,
            risk_free_rate: float = ..., since: Moment | None = ..., currency: str | None = ...,
            statistics: bool = ..., benchmark: str | Iterable[tuple[Moment, Amount]] | None = ...,
            benchmark_exchange: str = ...) -> PerformanceMetrics: ...

    def get_strategy_performance(self, days: Days = ..., *, account: str | None = ...,
                                 since: Moment | None = ...) -> list[GroupPerformance]: ...

    def get_symbol_performance(self, days: Days = ..., *, account: str | None = ...,
                               since: Moment | None = ...) -> list[GroupPerformance]: ...
