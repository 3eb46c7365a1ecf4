"""tradestore: a trading bot's whole record in one SQLite file, exact to the last digit."""

from tradestore._core.events import Event, EventLogHandler
from tradestore.aio import AsyncTradeRepo
from tradestore.analytics.metrics import GroupPerformance, PerformanceMetrics, TradeStatistics
from tradestore.artifacts.catalog import ArtifactInfo, ArtifactManager
from tradestore.books.accounts import Account, CashMovement
from tradestore.books.instruments import Instrument
from tradestore.books.settings import Setting
from tradestore.books.strategies import Strategy, StrategyConfig, StrategyPerformance
from tradestore.errors import (ArtifactIntegrityError, ConflictError, DatabaseBusyError,
                               DatabaseError, DiskFullError, MigrationError, NotFoundError,
                               ReadOnlyError, SchemaError, StateCorruptionError, StoreError,
                               ValidationError)
from tradestore.market.candles import OHLCVBar
from tradestore.market.indicators import IndicatorPoint
from tradestore.market.news import NewsSentiment
from tradestore.market.signals import TradingSignal
from tradestore.ops.backup import BackupInfo, RestoreResult
from tradestore.ops.imports import ImportResult
from tradestore.record.funding import FundingPayment
from tradestore.record.orders import Order, StatusChange
from tradestore.record.positions import Position
from tradestore.record.trades import TradeData
from tradestore.repo import TradeRepo
from tradestore.state.portfolio import PortfolioSnapshot
from tradestore.state.states import BotState, StateCorruptionWarning, StateVersion

__version__ = "0.1.0"

__all__ = [
    "TradeRepo", "TradeData", "Position", "Order", "StatusChange", "FundingPayment",
    "TradeStatistics", "PerformanceMetrics", "GroupPerformance",
    "Strategy", "StrategyConfig", "StrategyPerformance", "Setting", "Account", "CashMovement",
    "Instrument", "Event", "EventLogHandler",
    "BotState", "StateVersion", "StateCorruptionWarning", "PortfolioSnapshot",
    "StoreError", "ValidationError", "SchemaError", "MigrationError", "NotFoundError",
    "ConflictError", "StateCorruptionError", "ArtifactIntegrityError", "DatabaseBusyError",
    "DiskFullError", "DatabaseError", "ReadOnlyError",
    "ArtifactManager", "ArtifactInfo",
    "OHLCVBar", "IndicatorPoint", "TradingSignal", "NewsSentiment",
    "AsyncTradeRepo", "BackupInfo", "RestoreResult", "ImportResult",
    "__version__",
]
