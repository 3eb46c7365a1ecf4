"""Reads with optional filters, newest first: only the filters in use appear in the
WHERE clause, so each shape of the query reads its own index; and long IN (...) lists
cut to the engines' parameter limit."""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from tradestore._core.codec import to_limit
from tradestore._core.hints import Engine


def filtered(db: Engine, select: str, filters: dict[str, str], values: dict[str, Any],
             order: str, limit: int) -> list[Any]:
    """``select`` with the WHERE fragments (constants from ``filters``) of the ``values``
    that are not None, ordered by ``order``, at most ``limit`` rows."""
    used = [name for name, value in values.items() if value is not None]
    sql = select + (" WHERE " + " AND ".join(filters[name] for name in used) if used else "")
    return db.query(f"{sql} ORDER BY {order} LIMIT ?",
                    (*(values[name] for name in used), to_limit(limit)))


IN_LIST_SIZE = 500  # values per IN (...): under every engine's bound-parameter limit


def in_lists(values: Sequence[Any],
             size: int = IN_LIST_SIZE) -> Iterator[tuple[Sequence[Any], str]]:
    """``values`` in parts of at most ``size``, each with its ``?,?,...`` for an IN (...)."""
    for start in range(0, len(values), size):
        part = values[start:start + size]
        yield part, ",".join("?" * len(part))
