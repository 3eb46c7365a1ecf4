"""tradestore: a trading bot's whole record in one SQLite file, exact to the last digit."""

from .accounts import Account, CashMovement
from .artifacts import ArtifactInfo, ArtifactManager
from .aio import AsyncTradeRepo
from .backup import BackupInfo, RestoreResult
from .candles import OHLCVBar
from .errors import (ArtifactIntegrityError, ConflictError, DatabaseBusyError, DatabaseError,
                     DiskFullError, MigrationError, NotFoundError, ReadOnlyError, SchemaError,
                     StateCorruptionError, StoreError, ValidationError)
from .analytics import GroupPerformance, PerformanceMetrics, TradeStatistics
from .orders import Order, StatusChange
from .portfolio import PortfolioSnapshot
from .positions import Position
from .funding import FundingPayment
from .events import Event, EventLogHandler
from .instruments import Instrument
from .marketdata import IndicatorPoint, NewsSentiment, TradingSignal
from .repo import TradeRepo
from .settings import Setting
from .states import BotState, StateCorruptionWarning, StateVersion
from .strategies import Strategy, StrategyConfig, StrategyPerformance
from .trades import TradeData
from .imports import ImportResult

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
