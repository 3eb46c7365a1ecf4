"""Strategies: a registry with config history; performance over closed round trips.

A strategy's config is versioned (``strategy_configs``), so a result can be tied
to the parameters in force when it was produced (``config_at``). Performance is
computed from the record on every call, never kept as counters that can drift:
"trades", "win rate" and "net pnl" are those of the strategy's closed round trips
(the same rows as get_statistics and the report); only ``fills`` counts fills.
"""

from __future__ import annotations

import builtins
import datetime as _dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Sequence

from tradestore._core.audit import record
from tradestore._core.codec import (bounded, canonical_json, json_object_in, json_out,
                                    optional_text, optional_utc, to_flag, to_text, to_utc, ts_in,
                                    ts_out, window)
from tradestore._core.hints import Days, Engine, JSONObject, Moment
from tradestore._core.money import EXACT, ZERO, tidy
from tradestore.errors import ConflictError, NotFoundError, ValidationError
from tradestore.record.roundtrips import GROUP_COLUMN, ROUND_TRIPS_SQL, chunks, single, tally
from tradestore.record.trades import strategy_fill_counts, strategy_has_fills


@dataclass(frozen=True)
class Strategy:
    """A registered strategy.

    Attributes:
      id: stable row id.
      name: unique name; fills carry it in ``trades.strategy``.
      strategy_type, description: free text (or None).
      config: the current config (a dict; ``{}`` when none was given).
      config_version: version of that config (1 at creation).
      enabled: the bot may run it.
      active: False once deleted (soft delete; its fills keep the name).
      last_run_at: set by ``mark_run`` (or None).
      created_at, updated_at: aware UTC datetimes.
    """

    id: int
    name: str
    strategy_type: str | None
    description: str | None
    config: dict
    config_version: int
    enabled: bool
    active: bool
    last_run_at: _dt.datetime | None
    created_at: _dt.datetime
    updated_at: _dt.datetime

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Strategy:
        """The record of one row of this module's SELECTs (stored text decoded)."""
        return cls(row[0], row[1], row[2], row[3], json_out(row[4]), row[5], bool(row[6]),
                   bool(row[7]), ts_out(row[8]), ts_out(row[9]), ts_out(row[10]))


@dataclass(frozen=True)
class StrategyConfig:
    """One version of a strategy's config.

    Attributes:
      strategy: the strategy's name.
      version: 1, 2, ...; the highest is current.
      config: the config dict.
      created_at: from when it was in force (until the next version's created_at).
    """

    strategy: str
    version: int
    config: dict
    created_at: _dt.datetime

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> StrategyConfig:
        """The record of one row of CONFIG_HISTORY / CONFIG_AT (stored text decoded)."""
        return cls(row[0], row[1], json_out(row[2]), ts_out(row[3]))


@dataclass(frozen=True)
class StrategyPerformance:
    """A strategy's results over its closed round trips (a round trip belongs to the
    strategy of the fill that opened it; it counts in the window it closed in).

    Attributes:
      strategy: the name.
      fills: fills carrying the name in the window (voided fills never count).
      total_trades: closed round trips.
      wins, losses: round trips with pnl > 0 / pnl < 0 (break-even is neither).
      win_rate: wins / total_trades as a float, None when there are none.
      net_pnl: exact sum of the round trips' pnl (Decimal); ``total_pnl`` is an alias.
      fees: exact sum of the round trips' fees (Decimal).
      currency: their quote currency ("" without one), None without round trips.
    """

    strategy: str
    fills: int
    total_trades: int
    wins: int
    losses: int
    win_rate: float | None
    net_pnl: Decimal
    fees: Decimal
    currency: str | None = None

    @property
    def total_pnl(self) -> Decimal:
        """The old name of net_pnl (same value)."""
        return self.net_pnl


SELECT_STRATEGY = """
SELECT s.id, s.name, s.strategy_type, s.description, c.config, c.version, s.enabled,
       s.is_active, s.last_run_at, s.created_at, s.updated_at
FROM strategies AS s
JOIN strategy_configs AS c ON c.strategy_id = s.id
 AND c.version = (SELECT max(version) FROM strategy_configs WHERE strategy_id = s.id)
"""
GET_STRATEGY = SELECT_STRATEGY + " WHERE s.name = ?"
LIST_STRATEGIES = SELECT_STRATEGY + """
WHERE (:active IS NULL OR s.is_active = :active) AND (:enabled IS NULL OR s.enabled = :enabled)
ORDER BY s.name
"""
INSERT_STRATEGY = """
INSERT INTO strategies (name, strategy_type, description, enabled, is_active, created_at,
                        updated_at)
VALUES (?, ?, ?, ?, 1, ?, ?)
"""
INSERT_CONFIG = """
INSERT INTO strategy_configs (strategy_id, version, config, created_at) VALUES (?, ?, ?, ?)
"""
CURRENT_CONFIG = """
SELECT s.id, c.version, c.config FROM strategies AS s
JOIN strategy_configs AS c ON c.strategy_id = s.id
WHERE s.name = ? ORDER BY c.version DESC LIMIT 1
"""
CONFIG_HISTORY = """
SELECT s.name, c.version, c.config, c.created_at FROM strategy_configs AS c
JOIN strategies AS s ON s.id = c.strategy_id WHERE s.name = ? ORDER BY c.version
"""
CONFIG_AT = """
SELECT s.name, c.version, c.config, c.created_at FROM strategy_configs AS c
JOIN strategies AS s ON s.id = c.strategy_id
WHERE s.name = ? AND c.created_at <= ? ORDER BY c.created_at DESC, c.version DESC LIMIT 1
"""
TOUCH = "UPDATE strategies SET updated_at = ? WHERE id = ?"
SET_ENABLED = "UPDATE strategies SET enabled = ?, updated_at = ? WHERE name = ?"
SET_ACTIVE = "UPDATE strategies SET is_active = ?, updated_at = ? WHERE name = ?"
MARK_RUN = "UPDATE strategies SET last_run_at = ?, updated_at = ? WHERE name = ?"



def _optional_flag(value, field: str):
    return None if value is None else int(to_flag(value, field))


def _audit_fields(strategy: Strategy) -> dict:
    """What the audit trail shows of a strategy (its config is masked where secret)."""
    return {"strategy_type": strategy.strategy_type, "description": strategy.description,
            "enabled": strategy.enabled, "active": strategy.active,
            "config_version": strategy.config_version, "config": strategy.config}


def _performance(name, fills, tallies: dict) -> StrategyPerformance:
    """One strategy's figures from its {currency: Tally}; ConflictError when several."""
    currency, t = single(tallies, f"strategy {name!r}")
    if t is None:
        return StrategyPerformance(name, fills, 0, 0, 0, None, ZERO, ZERO)
    return StrategyPerformance(name, fills, t.count, t.wins, t.losses, t.wins / t.count,
                               tidy(EXACT.add(t.gross_profit, t.gross_loss)), tidy(t.fees),
                               currency)


def _bounds(days, since, until) -> dict:
    start, end = bounded(*window(days, since, until))
    return {"since": start, "until": end}


class StrategyStore:
    """``repo.strategies``: register, configure and measure strategies."""

    def __init__(self, db: Engine):
        self.db = db

    def create(self, name: str, *, strategy_type: str | None = None, description: str | None = None,
               config: JSONObject | None = None, enabled: bool = True) -> Strategy:
        """Register ``name`` (unique, even among deleted ones) with config version 1."""
        name = to_text(name, "name")
        row = (name, optional_text(strategy_type, "strategy_type"),
               optional_text(description, "description", max_length=10_000),
               int(to_flag(enabled, "enabled")))
        config_text = json_object_in({} if config is None else config, "config")
        now = ts_in(self.db.now())
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM strategies WHERE name = ?", (name,)).fetchone():
                raise ConflictError(f"strategy {name!r} already exists (names are unique; "
                                    "a deleted one comes back with set_active)")
            strategy_id = conn.execute(INSERT_STRATEGY, row + (now, now)).lastrowid
            conn.execute(INSERT_CONFIG, (strategy_id, 1, config_text, now))
            strategy = Strategy.from_row(conn.execute(GET_STRATEGY, (name,)).fetchone())
            record(conn, "strategy", name, "create", None, _audit_fields(strategy), now=now)
            return strategy

    def get(self, name: str) -> Strategy:
        row = self.db.query_one(GET_STRATEGY, (to_text(name, "name"),))
        if row is None:
            raise NotFoundError(f"no strategy named {name!r}")
        return Strategy.from_row(row)

    def list(self, active: bool | None = None, enabled: bool | None = None) -> list[Strategy]:
        """All strategies by name; ``active``/``enabled`` filter when not None."""
        params = {"active": _optional_flag(active, "active"),
                  "enabled": _optional_flag(enabled, "enabled")}
        return [Strategy.from_row(r) for r in self.db.query(LIST_STRATEGIES, params)]

    def update_config(self, name: str, config: JSONObject) -> Strategy:
        """Make ``config`` current as a new version; the old ones stay as history.

        A config equal to the current one adds no version (a bot may call this at
        every start).
        """
        name = to_text(name, "name")
        text = json_object_in(config, "config")
        if text is None:
            raise ValidationError("config: None must be a JSON object (a dict)", field="config")
        with self.db.transaction() as conn:
            current = conn.execute(CURRENT_CONFIG, (name,)).fetchone()
            if current is None:
                raise NotFoundError(f"no strategy named {name!r}")
            strategy_id, version, old_text = current
            if canonical_json(json_out(old_text)) != text:
                now = ts_in(self.db.now())
                conn.execute(INSERT_CONFIG, (strategy_id, version + 1, text, now))
                conn.execute(TOUCH, (now, strategy_id))
                record(conn, "strategy_config", name, "update",
                       {"config_version": version, "config": json_out(old_text)},
                       {"config_version": version + 1, "config": json_out(text)}, now=now)
            return Strategy.from_row(conn.execute(GET_STRATEGY, (name,)).fetchone())

    def config_history(self, name: str) -> builtins.list[StrategyConfig]:
        """Every config version, oldest first."""
        name = self.get(name).name
        return [StrategyConfig.from_row(r) for r in self.db.query(CONFIG_HISTORY, (name,))]

    def config_at(self, name: str, when: Moment) -> StrategyConfig | None:
        """The config in force at ``when`` (None if before the strategy existed)."""
        name = self.get(name).name
        row = self.db.query_one(CONFIG_AT, (name, ts_in(to_utc(when, "when"))))
        return None if row is None else StrategyConfig.from_row(row)

    def set_enabled(self, name: str, enabled: bool) -> Strategy:
        return self._update(SET_ENABLED, int(to_flag(enabled, "enabled")), name,
                            "enable" if enabled else "disable")

    def set_active(self, name: str, active: bool) -> Strategy:
        return self._update(SET_ACTIVE, int(to_flag(active, "active")), name,
                            "activate" if active else "deactivate")

    def delete(self, name: str) -> Strategy:
        """Soft delete: the row stays (inactive) so fills keep a known strategy name."""
        return self.set_active(name, False)

    def mark_run(self, name: str, at: Moment | None = None) -> Strategy:
        """Record that the strategy ran (``last_run_at``, now by default)."""
        moment = optional_utc(at, "at") or self.db.now()
        return self._update(MARK_RUN, ts_in(moment), name)

    def _update(self, sql, value, name, action=None) -> Strategy:
        """One column change; ``action`` names it in the audit trail (None: not audited,
        as mark_run, which records a run rather than a change)."""
        name = to_text(name, "name")
        with self.db.transaction() as conn:
            before = conn.execute(GET_STRATEGY, (name,)).fetchone()
            now = ts_in(self.db.now())
            changed = conn.execute(sql, (value, now, name)).rowcount
            if not changed:
                raise NotFoundError(f"no strategy named {name!r}")
            after = Strategy.from_row(conn.execute(GET_STRATEGY, (name,)).fetchone())
            if action is not None:
                record(conn, "strategy", name, action, _audit_fields(Strategy.from_row(before)),
                       _audit_fields(after), now=now)
            return after

    # ------------------------------------------------------------ performance
    def performance(self, name: str, *, days: Days = None, since: Moment | None = None,
                    until: Moment | None = None,
                    currency: str | None = None) -> StrategyPerformance:
        """Results of ``name`` over its closed round trips (all time unless
        days/since/until); ``currency=`` when they are in several currencies.

        A name that is neither registered nor on any fill is a NotFoundError (a typo
        should not read as "no trades").
        """
        name = to_text(name, "name")
        bounds = _bounds(days, since, until)
        with self.db.reading() as conn:
            fills = strategy_fill_counts(conn, bounds, name)
            rows = chunks(conn.execute(ROUND_TRIPS_SQL, _trip_params(bounds, name, currency)))
            tallies = tally(rows)
            if (not fills and not tallies
                    and not strategy_has_fills(conn, name)
                    and not conn.execute("SELECT 1 FROM strategies WHERE name = ?",
                                         (name,)).fetchone()):
                raise NotFoundError(f"no strategy named {name!r} and no fills carry that name")
        return _performance(name, fills.get(name, 0), tallies)

    def performance_all(self, *, days: Days = None, since: Moment | None = None,
                        until: Moment | None = None,
                        currency: str | None = None) -> dict[str, StrategyPerformance]:
        """Results of every strategy, registered or only named on fills, by name (round
        trips without a strategy are not listed: the report shows them as "(none)")."""
        bounds = _bounds(days, since, until)
        with self.db.reading() as conn:
            fills = strategy_fill_counts(conn, bounds)
            rows = chunks(conn.execute(ROUND_TRIPS_SQL, _trip_params(bounds, None, currency)))
            grouped = tally(rows, GROUP_COLUMN["strategy"])
            names = [r[0] for r in conn.execute("SELECT name FROM strategies")]
        by_name: dict = {}
        for (name, cur), t in grouped.items():
            by_name.setdefault(name, {})[cur] = t
        by_name.pop("", None)
        every = set(names) | set(fills) | set(by_name)
        return {name: _performance(name, fills.get(name, 0), by_name.get(name, {}))
                for name in sorted(every)}


def _trip_params(bounds, name, currency) -> dict:
    return {"start": bounds["since"], "end": bounds["until"], "account": None,
            "strategy": name, "symbol": None, "exchange": None, "currency": currency}
