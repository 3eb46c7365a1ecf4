"""Each table has one owner (issue 18.2): only the module that owns a table names it in
SQL, except the readers docs/architecture.md lists with their reason. A new statement on a
table outside its owner fails here, naming the module and the table; it should call the
owner's function instead (or, for a real exception, join the list below and the docs).

The CLI and the benchmarks are left out (the benchmarks' floors write their own scratch
stores directly), and so are the generic walks over every table (`_core/scan.py`,
`ops/export.py`, `ops/copy.py`), which name no table in their SQL text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tradestore"
SKIPPED = ("cli/", "benchmarks/")

OWNER = {
    "trades": "record/trades.py",
    "positions": "record/positions.py",
    "funding_payments": "record/funding.py",
    "orders": "record/orders.py",
    "order_status_history": "record/orders.py",
    "accounts": "books/accounts.py",
    "cash_movements": "books/accounts.py",
    "instruments": "books/instruments.py",
    "settings": "books/settings.py",
    "strategies": "books/strategies.py",
    "strategy_configs": "books/strategies.py",
    "bot_states": "state/states.py",
    "portfolio_snapshots": "state/portfolio.py",
    "candles": "market/candles.py",
    "indicators": "market/indicators.py",
    "signals": "market/signals.py",
    "signal_orders": "market/signals.py",
    "news": "market/news.py",
    "events": "_core/events.py",
    "artifacts": "artifacts/catalog.py",
    "metrics": "artifacts/catalog.py",
    "store_meta": "_core/migrate.py",
    "schema_history": "_core/migrate.py",
    "tradestore_version": "_core/migrate.py",
}

# (table, module): why it may name the table; each is in docs/architecture.md's table
OTHER_READERS = {
    ("positions", "record/roundtrips.py"): "the closed round trips read at the floor",
    ("orders", "record/trades.py"): "a fill's order exists: the orders store is built on "
                                    "the trades store, so it cannot be given to it",
    ("instruments", "record/fees.py"): "a symbol's currencies: the record sits below books",
    ("portfolio_snapshots", "analytics/metrics.py"): "the equity window at the floor",
    ("portfolio_snapshots", "analytics/html.py"): "the equity window at the floor",
    ("artifacts", "artifacts/backup.py"): "a restore puts the catalog rows back",
    ("metrics", "artifacts/backup.py"): "a restore puts the metric rows back",
}

NAMED = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+\"?(\w+)\"?")  # our SQL is upper case


def sql_names() -> dict[tuple[str, str], int]:
    """{(table, module): times} for every table our modules name in SQL text."""
    found: dict[tuple[str, str], int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        if module.startswith(SKIPPED):
            continue
        for name in NAMED.findall(path.read_text(encoding="utf-8")):
            if name in OWNER:
                found[(name, module)] = found.get((name, module), 0) + 1
    return found


def test_only_the_owner_and_the_listed_readers_name_a_table():
    strays = sorted(f"{module} names {table} (owner: {OWNER[table]})"
                    for table, module in sql_names()
                    if module != OWNER[table] and (table, module) not in OTHER_READERS)
    assert strays == []


@pytest.mark.parametrize("table", sorted(OWNER))
def test_every_owner_names_its_table(table):
    """The map is current: each owner really holds its table's SQL."""
    assert (table, OWNER[table]) in sql_names()


def test_every_listed_reader_still_reads():
    """An exception that is gone leaves the list (and the docs)."""
    assert set(OTHER_READERS) <= set(sql_names())
