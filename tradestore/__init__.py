"""tradestore: a trading bot's whole record in one SQLite file, exact to the last digit."""

from .errors import (ArtifactIntegrityError, ConflictError, DatabaseBusyError, DatabaseError,
                     DiskFullError, MigrationError, NotFoundError, ReadOnlyError, SchemaError,
                     StateCorruptionError, StoreError, ValidationError)
from .repo import TradeRepo

__version__ = "0.1.0"

__all__ = [
    "TradeRepo",
    "StoreError", "ValidationError", "SchemaError", "MigrationError", "NotFoundError",
    "ConflictError", "StateCorruptionError", "ArtifactIntegrityError", "DatabaseBusyError",
    "DiskFullError", "DatabaseError", "ReadOnlyError",
    "__version__",
]
