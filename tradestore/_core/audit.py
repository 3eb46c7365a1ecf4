"""The audit trail (issue 20.3): one event per change to the bot's configuration.

Every write method of settings, accounts and cash movements, instruments,
strategies (and their configs) and order status calls ``record`` with the
connection of its own transaction, so the change and its event commit or roll
back together. An audit event has event_type ``"audit"`` and details
``{"entity", "key", "action", "before", "after"}`` where before/after hold only
the fields that changed (``None`` for a create or a delete). Secret values are
masked: a secret setting's value, and any field whose name says secret
(``api_key``, ``password``, ``token``, ...) inside configs and metadata.

Voided fills (``trade_voided``) and schema changes (``migration``) keep their own
event types; ``repo.events.recent(event_type="audit")`` and ``tradestore events
--type audit`` include them (events.AUDIT_TYPES).
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from tradestore._core.codec import canonical_json, to_plain
from tradestore._core.events import AUDIT, write_event
from tradestore._core.hints import Connection

MASK = "******"
SECRET_NAME = re.compile(r"secret|passw|passphrase|token|api_?key|private_?key|credential",
                         re.IGNORECASE)


def mask(value: Any) -> Any:
    """``value`` with the values of secret-named keys replaced by MASK (recursively)."""
    if isinstance(value, dict):
        return {k: (MASK if v is not None and not isinstance(v, bool)
                    and SECRET_NAME.search(str(k)) else mask(v))  # a flag is not a secret
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v) for v in value]
    return value


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None,
            masked: Iterable[str] = ()) -> tuple[list[str], Any, Any]:
    """(changed field names, before, after) restricted to the fields that differ.

    Fields in ``masked`` show MASK on both sides (the change is still reported)."""
    b = to_plain(before) if before is not None else None
    a = to_plain(after) if after is not None else None
    if b is not None and a is not None:
        names = sorted(k for k in set(b) | set(a) if b.get(k) != a.get(k))
        b, a = {k: b.get(k) for k in names}, {k: a.get(k) for k in names}
    else:
        names = sorted((a if a is not None else b or {}).keys())
    for side in (b, a):
        if side is not None:
            for name in masked:
                if side.get(name) is not None:
                    side[name] = MASK
    return names, mask(b), mask(a)


def record(conn: Connection, entity: str, key: str | int, action: str,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None, *,
           masked: Iterable[str] = (), symbol: str | None = None, order_id: int | None = None,
           trade_id: int | None = None, now: str) -> int | None:
    """Write one audit event on ``conn`` (inside the caller's transaction), stamped
    ``now`` (the store's clock as stored text, ``ts_in(db.now())``).

    An update that changes nothing writes nothing and returns None; otherwise the
    event's id."""
    names, b, a = changes(before, after, masked)
    if before is not None and after is not None and not names:
        return None
    shown = f" ({', '.join(names)})" if before is not None and after is not None else ""
    message = f"{entity} {key}: {action}{shown}"
    details = {"entity": entity, "key": to_plain(key), "action": action, "before": b,
               "after": a}
    return write_event(conn, (now, "info", AUDIT, message, symbol, trade_id, order_id,
                              canonical_json(details, "details")))
