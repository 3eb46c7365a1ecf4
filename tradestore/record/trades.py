"""Fills (the ``trades`` table): saving them exactly once, and reading them back.

Saving fills is one transaction: validate, skip those whose (exchange, external_id)
is already stored, apply them to the positions of their key (account, exchange,
symbol) in (timestamp, id) order, store each with its realised pnl. A fill older
than the newest already applied to its key replays that key: the ledger
(tradestore.record.ledger), which the store receives as a ``KeyReplay``. The ledger's
reads and writes of this table are here too ("the ledger's reads and writes" below).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

from tradestore._core.codec import (dec_in, dec_out, json_object_in, json_out, show, to_choice,
                                    to_decimal, to_int, to_items, to_limit, to_text, to_utc,
                                    ts_in, ts_out, utc_now, window)
from tradestore._core.hints import Amount, Days, Engine, JSONObject, Moment
from tradestore._core.hints import AccountBook, Connection, InstrumentBook, KeyReplay
from tradestore._core.money import ZERO, exact, ratio, tidy
from tradestore._core.pg import MAYBE_EMPTY_TIME, per_engine
from tradestore._core.query import in_lists
from tradestore.errors import ConflictError, ValidationError
from tradestore.record.ccxt import fill_fields
from tradestore.record.fees import currencies_of
from tradestore.record.accounting import apply_trade, fill_costs
from tradestore.record.positions import PositionStore, check_pnl, insert_values, update_values

SIDES = ("BUY", "SELL")
KINDS = ("TRADE", "ADJUSTMENT")
TRADE_COLUMNS = ("id, symbol, side, quantity, price, timestamp, fees, fee_currency, exchange, "
                 "external_id, order_id, strategy, account, pnl, metadata, kind, fee_value, "
                 "voided_at, void_reason, liquidation, commission, commission_currency, "
                 "leverage, margin, margin_mode, liquidation_price")
MARGIN_MODES = ("isolated", "cross")
PLAIN_EXTRA = (0, "0", None, None, None, None, None)  # schema 11's columns of a spot fill
INSERT_TRADE = """
INSERT INTO trades (id, account, symbol, side, quantity, price, fees, fee_currency, exchange,
                    external_id, order_id, strategy, timestamp, pnl, pnl_given, position_id,
                    opened_position_id, metadata, created_at, kind, fee_value, liquidation,
                    commission, commission_currency, leverage, margin, margin_mode,
                    liquidation_price)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
SELECT_BY_EXTERNAL_ID = "SELECT id FROM trades WHERE exchange = ? AND external_id = ?"
# Ids of the rows a bulk save inserts itself (one executemany), ``:count`` of them, none
# below ``:floor``: on SQLite the first of a run of free ones (the transaction holds the
# write lock, so the run stays free); on PostgreSQL each drawn from the identity sequence, so that concurrent writers and later
# default ids never meet them (never max + 1 there).
RESERVE_IDS = "SELECT max(coalesce((SELECT max(id) FROM {table}), 0) + 1, :floor)"
RESERVE_IDS_PG = ("SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
                  "FROM generate_series(1, :count)")
RESERVE_TRADE_IDS = per_engine(RESERVE_IDS.format(table="trades"),
                               RESERVE_IDS_PG.format(table="trades"))
RESERVE_POSITION_IDS = per_engine(RESERVE_IDS.format(table="positions"),
                                  RESERVE_IDS_PG.format(table="positions"))
POSITION_ID_BLOCK = 256  # new round trips of one bulk take ids 1, 2, 4, ... at a time


def reserve_ids(conn: Connection, sql: str, count: int, floor: int = 0) -> list[int]:
    """``count`` fresh ids, increasing (RESERVE_IDS: every id, or the first of the run)."""
    ids = [row[0] for row in conn.execute(sql, {"count": count, "floor": floor})]
    return ids if len(ids) == count else list(range(ids[0], ids[0] + count))
SELECT_TRADE = f"SELECT {TRADE_COLUMNS} FROM trades WHERE id = ?"
# fills per account from a time on (":since" "0000" is the open start on both engines)
FILLS_PER_ACCOUNT = ("SELECT account, count(*) FROM trades WHERE voided_at IS NULL "
                     "AND timestamp >= :since GROUP BY account")
SELECT_FOR_VOID = ("SELECT account, exchange, symbol, timestamp, voided_at, order_id "
                   "FROM trades WHERE id = ?")
VOID_TRADE = """
UPDATE trades SET voided_at = ?, void_reason = ?, position_id = NULL, opened_position_id = NULL,
       pnl = CASE WHEN pnl_given = 1 THEN pnl END
WHERE id = ?
"""
ORDER_EXISTS = "SELECT 1 FROM orders WHERE id = ?"
PAGE_SIZE = 2000
# get_trade_history(order_by=...): the sort keys, each ending in (timestamp, id) so the
# order is total; pnl compares exactly (the decimal collation); fills without pnl
# (opening fills) sort as lowest: SQLite's NULL order, spelled out for PostgreSQL's (where
# NULL sorts highest).
ORDER_BY = {"time": "timestamp {d}, id {d}",
            "symbol": "symbol {d}, timestamp {d}, id {d}",
            "pnl": "pnl IS NOT NULL {d}, pnl COLLATE decimal {d}, timestamp {d}, id {d}"}


@dataclass(frozen=True)
class TradeData:
    """One fill (execution). Constructing one validates it.

    Attributes:
      symbol: instrument, any non-empty text ("BTC/USDT", "AAPL").
      side: "BUY" or "SELL" ("buy"/"sell" accepted).
      quantity: > 0. price: > 0. fees: >= 0, default 0 (Decimal; int/str/float accepted).
      timestamp: when it executed; naive is taken as UTC. Default now: the wall clock
        when made, then the store's clock (``db.now()``) when saved.
      fee_currency: the currency of ``fees``, if known.
      exchange: default "". external_id: the exchange's trade id; with ``exchange``
        it makes a fill idempotent.
      order_id: the tradestore order it fills. strategy: free text.
      account: default "default".
      pnl: None means computed by the store; a given value is stored as given.
      metadata: a JSON object (dict).
      kind: "TRADE" (default) or "ADJUSTMENT" (a change made outside the bot: a manual
        sale, a transfer); both move the position, reports show which is which.
      fee_value: >= 0, the fee's value in the quote currency when ``fee_currency`` is a
        third currency (BNB on BTC/USDT); without it such a fee is reported as unvalued
        and left out of pnl (see tradestore.record.fees).
      liquidation: True for a liquidation (the exchange closed the position); the round
        trip it closes records closed_by="liquidation".
      commission: >= 0, a second cost beside ``fees`` (brokers charge both), in
        ``commission_currency`` (default: as ``fees`` without a currency, i.e. the
        settle currency); both count as costs through the one fee rule.
      leverage: > 0 or None; margin: >= 0, initial margin posted for what the fill opens
        or adds (default: its value / leverage when leverage is given); margin_mode:
        "isolated" or "cross"; liquidation_price: > 0, as the exchange gave it.
      voided_at, void_reason: set when read back for a fill voided with
        ``TradeRepo.void_trade`` (kept for the audit trail, applied to nothing).
      id: set when read back.
    """

    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    timestamp: datetime | None = None
    fees: Decimal = Decimal(0)
    fee_currency: str | None = None
    exchange: str = ""
    external_id: str | None = None
    order_id: int | None = None
    strategy: str | None = None
    account: str = "default"
    pnl: Decimal | None = None
    metadata: dict | None = None
    kind: str = "TRADE"
    fee_value: Decimal | None = None
    liquidation: bool = False
    commission: Decimal = Decimal(0)
    commission_currency: str | None = None
    leverage: Decimal | None = None
    margin: Decimal | None = None
    margin_mode: str | None = None
    liquidation_price: Decimal | None = None
    voided_at: datetime | None = None
    void_reason: str | None = None
    id: int | None = None

    if TYPE_CHECKING:  # what it is built from: __post_init__ converts and checks
        def __init__(self, symbol: str, side: str, quantity: Amount, price: Amount,
                     timestamp: Moment | None = None, fees: Amount = 0,
                     fee_currency: str | None = None, exchange: str = "",
                     external_id: str | None = None, order_id: int | None = None,
                     strategy: str | None = None, account: str = "default",
                     pnl: Amount | None = None, metadata: JSONObject | None = None,
                     kind: str = "TRADE", fee_value: Amount | None = None,
                     liquidation: bool = False, commission: Amount = 0,
                     commission_currency: str | None = None, leverage: Amount | None = None,
                     margin: Amount | None = None, margin_mode: str | None = None,
                     liquidation_price: Amount | None = None,
                     voided_at: Moment | None = None, void_reason: str | None = None,
                     id: int | None = None) -> None: ...

    def __post_init__(self) -> None:
        # frozen: the checked values go straight into __dict__ (as from_row does); the
        # optional fields are checked only when given (None is their common value)
        d = self.__dict__
        d["symbol"] = to_text(self.symbol, "symbol")
        d["side"] = to_choice(self.side, "side", SIDES)
        d["quantity"] = to_decimal(self.quantity, "quantity", positive=True)
        d["price"] = to_decimal(self.price, "price", positive=True)
        d["fees"] = to_decimal(self.fees, "fees", non_negative=True)
        if self.timestamp is None:  # "now": the store's clock when it is saved (save_many)
            d["_now"] = True
            d["timestamp"] = utc_now()
        else:
            d["timestamp"] = to_utc(self.timestamp, "timestamp")
        if self.fee_currency is not None:
            d["fee_currency"] = to_text(self.fee_currency, "fee_currency")
        d["exchange"] = to_text(self.exchange, "exchange", allow_empty=True)
        if self.external_id is not None:
            external = str(self.external_id) if isinstance(self.external_id, int) else self.external_id
            d["external_id"] = to_text(external, "external_id", max_length=500)
        if self.order_id is not None and (isinstance(self.order_id, bool)
                                          or not isinstance(self.order_id, int)):
            raise ValidationError(f"order_id: {self.order_id!r} must be an integer order id",
                                  field="order_id", value=self.order_id)
        if self.strategy is not None:
            d["strategy"] = to_text(self.strategy, "strategy")
        d["account"] = to_text(self.account, "account")
        if self.pnl is not None:
            d["pnl"] = to_decimal(self.pnl, "pnl")
        if self.metadata is not None:
            json_object_in(self.metadata, "metadata")
        d["kind"] = to_choice(self.kind, "kind", KINDS)
        if self.fee_value is not None:
            d["fee_value"] = to_decimal(self.fee_value, "fee_value", non_negative=True)
        if not isinstance(self.liquidation, bool):
            raise ValidationError(f"liquidation: {self.liquidation!r} must be True or False",
                                  field="liquidation", value=self.liquidation)
        d["commission"] = to_decimal(self.commission, "commission", non_negative=True)
        if self.commission_currency is not None:
            d["commission_currency"] = to_text(self.commission_currency, "commission_currency")
        if self.leverage is not None:
            d["leverage"] = to_decimal(self.leverage, "leverage", positive=True)
        if self.margin is not None:
            d["margin"] = to_decimal(self.margin, "margin", non_negative=True)
        if self.margin_mode is not None:
            d["margin_mode"] = _margin_mode(self.margin_mode)
        if self.liquidation_price is not None:
            d["liquidation_price"] = to_decimal(self.liquidation_price, "liquidation_price",
                                                positive=True)
        if self.voided_at is not None or self.void_reason is not None:
            raise ValidationError("voided_at: a fill is voided with TradeRepo.void_trade, "
                                  "not created void", field="voided_at", value=self.voided_at)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> TradeData:
        """Build from a stored row without validating again (it was validated going in).
        Hot (every fill read): a field whose column holds its default (None, a spot
        fill's contract columns) is left out of ``__dict__`` and read from the class; the
        time is ts_out's decoding, inlined."""
        d = {"id": row[0], "symbol": row[1], "side": row[2], "quantity": Decimal(row[3]),
             "price": Decimal(row[4]), "timestamp": datetime.fromisoformat(row[5]),
             "fees": Decimal(row[6]), "exchange": row[8], "account": row[12], "kind": row[15]}
        if row[7] is not None:
            d["fee_currency"] = row[7]
        if row[9] is not None:
            d["external_id"] = row[9]
        if row[10] is not None:
            d["order_id"] = row[10]
        if row[11] is not None:
            d["strategy"] = row[11]
        if row[13] is not None:
            d["pnl"] = Decimal(row[13])
        if row[14] is not None:
            d["metadata"] = json_out(row[14])
        if row[16] is not None:
            d["fee_value"] = Decimal(row[16])
        if row[17] is not None:
            d["voided_at"], d["void_reason"] = ts_out(row[17]), row[18]
        if row[19:26] != PLAIN_EXTRA:
            d.update(liquidation=bool(row[19]), commission=Decimal(row[20]),
                     commission_currency=row[21], leverage=dec_out(row[22]),
                     margin=dec_out(row[23]), margin_mode=row[24],
                     liquidation_price=dec_out(row[25]))
        trade = object.__new__(cls)
        object.__setattr__(trade, "__dict__", d)
        return trade

    @classmethod
    def from_fields(cls, values: Mapping[str, Any]) -> TradeData:
        """``TradeData(**values)``, the same fill or the same error, for the mappings of
        imports and save_many: it skips the dataclass ``__init__``, whose one setattr
        per field the checks then redo (an unknown or missing field goes through it)."""
        names = values.keys()
        if not (names <= FIELD_DEFAULTS.keys() and REQUIRED_FIELDS <= names):
            return cls(**values)  # an unknown or missing field: the constructor's own error
        trade = object.__new__(cls)
        object.__setattr__(trade, "__dict__", {**FIELD_DEFAULTS, **values})
        trade.__post_init__()
        return trade

    @classmethod
    def from_ccxt(cls, trade: Mapping, *, exchange: str,
                  fee_prices: Mapping | None = None) -> "TradeData":
        """A fill from a ccxt "unified trade" dict (see tradestore.record.ccxt)."""
        return cls(**fill_fields(trade, exchange=exchange, fee_prices=fee_prices))

    @property
    def value(self) -> Decimal:
        """price x quantity, exact."""
        with exact():
            return self.price * self.quantity


def _margin_mode(value) -> str:
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in MARGIN_MODES:
        raise ValidationError(f"margin_mode: {value!r} is not one of: isolated, cross",
                              field="margin_mode", value=value)
    return text


def _void_of(item: Any) -> tuple[int, str, str]:
    """One (trade id, voided_at, reason) of restore_voids, checked; voided_at as stored."""
    try:
        trade_id, voided_at, reason = item
    except (TypeError, ValueError):
        raise ValidationError(f"voids: {show(item)} is not (trade id, voided_at, reason)",
                              field="voids", value=item) from None
    return (to_int(trade_id, "trade_id", allowed="an integer fill id"),
            ts_in(to_utc(voided_at, "voided_at")), to_text(reason, "reason", max_length=1000))


@dataclass(frozen=True)
class SaveResult:
    """What a bulk save did, row by row (``TradeStore.save_report``,
    ``FundingStore.record_many``).

    Attributes:
      ids: each row's id, in the order given (what ``save_many`` returns): a duplicate
        has the id of the record it repeats.
      new: each row's flag: True when the row stored a new record, False for a
        duplicate (its (exchange, external_id) was stored already, or came earlier in
        the same call).
    """

    ids: list[int]
    new: list[bool]

    @property
    def inserted(self) -> int:
        """How many rows stored a new record."""
        return sum(self.new)

    @property
    def duplicates(self) -> list[int]:
        """The indexes (from 0) of the duplicate rows."""
        return [index for index, new in enumerate(self.new) if not new]


def _result(trade_id, t, pnl, position_id) -> list:
    """What applying a fill decided, with the checks that can still fail (its pnl and
    metadata as stored text): [id, fill, pnl, position id, opened id, metadata]."""
    pnl = pnl if t.pnl is None else t.pnl
    return [trade_id, t, None if pnl is None else check_pnl(t.symbol, pnl), position_id, None,
            None if t.metadata is None else json_object_in(t.metadata, "metadata")]


def _rows(results, now):
    """INSERT_TRADE's parameters, made one at a time as executemany takes them (a bulk's
    rows are never all in memory; nothing here can fail)."""
    for trade_id, t, pnl, position_id, opened_id, metadata in results:
        yield (trade_id, t.account, t.symbol, t.side, dec_in(t.quantity),
               dec_in(t.price), dec_in(t.fees), t.fee_currency, t.exchange,
               t.external_id, t.order_id, t.strategy, ts_in(t.timestamp), pnl,
               int(t.pnl is not None), position_id, opened_id, metadata, now, t.kind,
               dec_in(t.fee_value), int(t.liquidation), dec_in(t.commission),
               t.commission_currency, dec_in(t.leverage), dec_in(t.margin), t.margin_mode,
               dec_in(t.liquidation_price))


class _Batch:
    """One save_many's work in memory: what each fill got (``_result``), each key's
    [currencies, open round trip, its last new fill's time], the keys to replay, and the
    round trips to write (once each)."""

    def __init__(self, conn, now: str, ledger: KeyReplay, warm: _Warm):
        self.conn, self.now, self.ledger, self.warm = conn, now, ledger, warm
        self.results: list[Any] = []
        self.keys: dict[tuple[str, str, str], list[Any]] = {}
        self.late: dict[tuple[str, str, str], Any] = {}
        self.dirty: dict[Any, Any] = {}
        self.new_ids: set[int] = set()  # round trips this bulk creates
        self.free_ids: list[int] = []  # reserved for them, not given yet (reversed)

    def start_key(self, key, first, first_id) -> list:
        """A key's state (see the class); marks the key for replay when its earliest new
        fill is older than its newest stored fill or payment. What the last transaction
        left in ``warm`` is read instead of the store while it still holds."""
        stamp = ts_in(first.timestamp)
        known = self.warm.keys.get(key)
        conn = self.conn
        if known is None:
            currencies, newest = currencies_of(conn, key[2]), self.ledger.newest_applied(conn, key)
        else:
            currencies, position, newest = known
        if newest is not None and stamp < newest:
            self.late[key] = (stamp, first_id)
            return [currencies, None, None]
        if known is None:
            position = PositionStore.load_open(conn, *key)
        return [currencies, position, None]

    def create(self, position, check=True) -> None:
        """Give a new round trip the next id; ``check``: its figures must fit now (the
        error then names the fill's row), as they would when inserted one by one."""
        if check:
            insert_values(position, self.now)
        if not self.free_ids:
            floor = max(self.new_ids, default=0) + 1
            block = min(2 * len(self.new_ids) or 1, POSITION_ID_BLOCK)  # few gaps on PostgreSQL
            self.free_ids = reserve_ids(self.conn, RESERVE_POSITION_IDS, block, floor)[::-1]
        position.id = self.free_ids.pop()
        self.new_ids.add(position.id)

    def write_positions(self) -> None:
        """Stored round trips touched: updated first (one may close, freeing its key's
        open slot); then the new ones inserted in id order."""
        new = self.new_ids
        updates = [update_values(s, self.now) for i, s in self.dirty.items()
                   if i not in new]
        inserts = [insert_values(s, self.now) for i, s in
                   sorted(self.dirty.items()) if i in new]
        PositionStore.write_many(self.conn, updates, inserts)


class _Warm:
    """What saves read and keep between transactions while nothing else wrote the
    store (``db.change_stamp`` unchanged since the last save ended): each key's
    currencies, open round trip and newest applied time, the accounts and symbols
    that passed the checks, and the next free fill id. A bot saving fill after fill then
    skips those reads; any other write (another process, another store of this repo, a
    rollback) clears it."""

    LIMIT = 1000  # keys kept at most (a bulk over more keeps none)

    def __init__(self) -> None:
        self.stamp: tuple[Any, ...] | None = None
        self.keys: dict[tuple[str, str, str], list[Any]] = {}
        self.accounts: set[str] = set()
        self.symbols: set[str] = set()
        self.next_id: int | None = None  # SQLite: max(id) + 1 (RESERVE_IDS), as kept

    def check(self, stamp: tuple[Any, ...] | None) -> _Warm:
        """Itself, emptied unless ``stamp`` (taken as a transaction starts) is the one
        the last save left; until ``keep`` it holds nothing (a failure leaves it so)."""
        if stamp is None or stamp != self.stamp:
            self.keys, self.accounts, self.symbols, self.next_id = {}, set(), set(), None
        self.stamp = None
        return self

    def keep(self, batch: _Batch, stamp: tuple[Any, ...] | None, last_id: int | None) -> None:
        """At the end of a save's transaction: the batch's keys (late ones were replayed:
        not kept) and the id after ``last_id`` (the highest it stored, if any), valid
        while the store's stamp is ``stamp`` (taken after the batch's last write)."""
        if stamp is None:
            return
        if last_id is not None:
            self.next_id = last_id + 1
        for key, (currencies, position, last) in batch.keys.items():
            if key in batch.late:  # (every other key applied a fill: ``last`` is set)
                self.keys.pop(key, None)
            else:
                self.keys[key] = [currencies, position, ts_in(last)]
        if len(self.keys) <= self.LIMIT:  # else left unstamped: the next save starts afresh
            self.stamp = stamp


FIELD_NAMES = {f.name for f in fields(TradeData)} - {"id", "voided_at", "void_reason"}
REQUIRED_FIELDS = {f.name for f in fields(TradeData) if f.default is MISSING}
# every field, with None for the required ones (from_fields checks they are given)
FIELD_DEFAULTS = {f.name: None if f.default is MISSING else f.default for f in fields(TradeData)}


def as_trade(value: TradeData | Mapping[str, Any], index: int | None = None) -> TradeData:
    """A TradeData from a TradeData or a mapping; errors name row ``index`` when given."""
    try:
        if isinstance(value, TradeData):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - FIELD_NAMES
            if unknown:
                raise ValidationError(f"unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
                                      f"allowed: {', '.join(sorted(FIELD_NAMES))}",
                                      field=sorted(map(str, unknown))[0], value=value)
            missing = sorted(REQUIRED_FIELDS - set(value))
            if missing:
                raise ValidationError(f"missing field(s) {', '.join(missing)}: a fill needs "
                                      "symbol, side, quantity and price", field=missing[0],
                                      value=value)
            return TradeData.from_fields(value)
        raise ValidationError(f"{value!r} is not a TradeData or a mapping", value=value)
    except ValidationError as exc:
        if index is None:
            raise
        raise exc.in_row(index) from None


class TradeStore:
    """``repo.trades``: the fills and, through them, the positions."""

    def __init__(self, db: Engine, positions: PositionStore, ledger: KeyReplay,
                 accounts: AccountBook | None = None,
                 instruments: InstrumentBook | None = None) -> None:
        self.db = db
        self.positions = positions
        self.ledger = ledger  # the replay of a key (record.ledger.Ledger), for late fills
        self.accounts = accounts  # repo.accounts: which names may take fills (None: any)
        self.instruments = instruments  # repo.instruments: deactivated symbols (None: any)
        # set by OrderStore: callable(conn, [(trade_id, TradeData)], voided=order_id)
        # that brings the orders of new (or voided) fills up to date
        self.order_hook: Callable[..., None] | None = None
        self._warm = _Warm()

    # ------------------------------------------------------------ writes
    def save(self, trade: TradeData | Mapping[str, Any]) -> int:
        """Save one fill; returns its id (the first one's id for a duplicate)."""
        return self.save_many([trade], _single=True)[0]

    def save_many(self, trades: Iterable[TradeData | Mapping[str, Any]], *,
                  _single: bool = False) -> list[int]:
        """Save fills in one transaction, all or nothing; duplicates return the first id.

        Ids follow the order given; positions take each key's fills in (timestamp, id)
        order. A key whose new fills are all at or after its newest stored fill is
        applied incrementally in memory (one read of its open position) and each round
        trip it touches is written once, before one executemany of the fills; otherwise
        the key is replayed from the round trip in effect before its earliest new fill.
        ``save_report`` saves the same way and also says which rows were new. A bad row
        is a ValidationError with its ``index`` (None for ``save``).
        """
        return self.save_report(trades, _single=_single).ids

    def save_report(self, trades: Iterable[TradeData | Mapping[str, Any]], *,
                    _single: bool = False) -> SaveResult:
        """``save_many`` that also says, row by row, which fills were new and which were
        duplicates (SaveResult), from the same transaction: no second query."""
        rows = to_items(trades, "trades", "TradeData or mappings", (Mapping, TradeData))
        items = [t if type(t) is TradeData else as_trade(t, None if _single else i)
                 for i, t in enumerate(rows)]
        if not items:
            return SaveResult([], [])
        if any("_now" in t.__dict__ for t in items):
            now = self.db.now()
            items = [replace(t, timestamp=now) if "_now" in t.__dict__ else t for t in items]
        ids: list[int] = []
        fresh = self._write(items, ids, _single)
        new = [False] * len(items)
        for index in fresh:
            new[index] = True
        return SaveResult(ids, new)

    def _write(self, items: list[TradeData], ids: list[int], _single: bool) -> list[int]:
        """save_report's transaction; appends each row's id to ``ids`` as the row passes
        its checks, and returns the indexes of the rows that stored a new fill."""
        with self.db.transaction() as conn:
            start = self.db.change_stamp(conn)
            warm = self._warm.check(start)
            known = self._known_external_ids(conn, items)
            if warm.next_id is None:
                free_ids = reserve_ids(conn, RESERVE_TRADE_IDS, len(items))[::-1]
            else:  # as RESERVE_IDS would give: max(id) + 1 and on, kept from the last save
                free_ids = list(range(warm.next_id + len(items) - 1, warm.next_id - 1, -1))
            next_id = free_ids.pop()
            fresh = []
            checked_accounts, checked_symbols = warm.accounts, warm.symbols
            checked_orders: set[int] = set()
            for index, t in enumerate(items):
                if t.external_id is not None:
                    key = (t.exchange, t.external_id)
                    if key in known:
                        ids.append(known[key])
                        continue
                    known[key] = next_id
                try:
                    self._check_row(conn, t, checked_accounts, checked_symbols, checked_orders)
                except (ValidationError, ConflictError) as exc:
                    raise exc if _single else exc.in_row(index) from None
                # (timestamp, id) first: sorted in time order, round trips are created in
                # time order too (ids are unique, so the sort never compares further)
                fresh.append((t.timestamp, next_id, index, t))
                ids.append(next_id)
                # None only after the last fill (nothing reads it then)
                next_id = free_ids.pop() if free_ids else None  # type: ignore[assignment]
            last_id = fresh[-1][1] if fresh else None  # ids follow the rows: the highest
            fresh.sort()
            batch = _Batch(conn, ts_in(self.db.now()), self.ledger, warm)
            for _, trade_id, index, t in fresh:
                self._apply(batch, trade_id, t, index, _single)
            batch.write_positions()
            conn.executemany(INSERT_TRADE, _rows(batch.results, batch.now))
            for late_key, point in batch.late.items():
                self.ledger.replay(conn, late_key, point, batch.now)
            if self.order_hook and checked_orders:
                self.order_hook(conn, [(trade_id, t) for _, trade_id, _, t in fresh
                                       if t.order_id is not None])
            # kept under the store's lock; a failed COMMIT counts as a rollback in the
            # stamp, so what was kept is never used
            warm.keep(batch, self.db.change_stamp(conn, start), last_id)
        return [index for _, _, index, _ in fresh]

    def _check_row(self, conn: Connection, t: TradeData, accounts: set[str],
                   symbols: set[str], orders: set[int]) -> None:
        """A fill's references: its account is known, its instrument not deactivated, its
        order stored; each name checked once per batch (the sets hold those passed)."""
        if self.accounts is not None and t.account not in accounts:
            self.accounts.require(t.account)
            accounts.add(t.account)
        if self.instruments is not None and t.symbol not in symbols:
            self.instruments.require_active(t.symbol)
            symbols.add(t.symbol)
        if t.order_id is not None and t.order_id not in orders:
            if conn.execute(ORDER_EXISTS, (t.order_id,)).fetchone() is None:
                raise ValidationError(f"order_id: {t.order_id} is not a stored order",
                                      field="order_id", value=t.order_id)
            orders.add(t.order_id)

    def _apply(self, batch: _Batch, trade_id: int, t: TradeData, index: int,
               single: bool) -> None:
        """Apply one fill to its key's open position (in memory), or keep it for the
        key's replay; what it got joins ``batch.results``."""
        key = (t.account, t.exchange, t.symbol)
        state = batch.keys.get(key)
        if state is None:  # the key's earliest new fill: incremental, or a replay?
            state = batch.keys[key] = batch.start_key(key, t, trade_id)
        currencies, position = state[0], state[1]
        try:
            if key in batch.late:  # validated now, applied by the replay
                fill_costs(t, currencies)
                batch.results.append(_result(trade_id, t, None, None))
                return
            effect = apply_trade(position, key, t, currencies)
            current = effect.position
            if current.id is None:
                batch.create(current)
            result = _result(trade_id, t, effect.pnl, current.id)
        except ValidationError as exc:
            if single:
                raise
            raise exc.in_row(index) from None
        batch.dirty[current.id] = current
        opened = effect.opened
        if opened is not None:
            batch.create(opened, check=False)
            batch.dirty[opened.id] = opened
            result[4] = opened.id
        state[1] = opened if current.closed_at else current
        state[2] = t.timestamp
        batch.results.append(result)

    def void(self, trade_id: int, reason: str) -> TradeData:
        """Void a fill: kept with voided_at/void_reason, applied to nothing; its key is
        replayed without it and its order's fill totals recomputed (one transaction)."""
        trade_id = to_int(trade_id, "trade_id", allowed="an integer fill id")
        reason = to_text(reason, "reason", max_length=1000)
        with self.db.transaction() as conn:
            self._void(conn, [(trade_id, None, reason)])
            return TradeData.from_row(conn.execute(SELECT_TRADE, (trade_id,)).fetchone())

    def restore_voids(self, voids: Iterable[tuple[int, Moment, str]]) -> None:
        """Void stored fills as they were voided elsewhere (an import of an export), in
        one transaction: each (trade id, voided_at, reason) keeps its time and reason;
        each key is replayed once, from its earliest voided fill."""
        checked = [_void_of(item) for item in to_items(
            voids, "voids", "(trade id, voided_at, reason) tuples", (tuple,))]
        with self.db.transaction() as conn:
            self._void(conn, checked)

    def _void(self, conn: Connection, voids: Sequence[tuple[int, str | None, str]]) -> None:
        """Void each (id, voided_at as stored text or None for now, reason): the stored
        fill's key replayed from the earliest one voided, its order's totals recomputed."""
        now = ts_in(self.db.now())
        points: dict[tuple[str, str, str], tuple[str, int]] = {}
        orders = set()
        for trade_id, voided_at, reason in voids:
            row = conn.execute(SELECT_FOR_VOID, (trade_id,)).fetchone()
            if row is None:
                raise ValidationError(f"trade_id: {trade_id} is not a stored fill",
                                      field="trade_id", value=trade_id)
            account, exchange, symbol, timestamp, already, order_id = row
            if already is not None:
                raise ConflictError(f"trade_id: fill {trade_id} was already voided at {already}")
            conn.execute(VOID_TRADE, (voided_at or now, reason, trade_id))
            key, point = (account, exchange, symbol), (timestamp, trade_id)
            points[key] = min(points.get(key, point), point)
            if order_id is not None:
                orders.add(order_id)
        for key, point in points.items():
            self.ledger.replay(conn, key, point, now)
        if self.order_hook:
            for order_id in sorted(orders):
                self.order_hook(conn, [], voided=order_id)

    @staticmethod
    def _known_external_ids(conn, items: list[TradeData]) -> dict:
        """{(exchange, external_id): id} of the batch's external ids already stored."""
        wanted: dict[str, set] = {}
        for t in items:
            if t.external_id is not None:
                wanted.setdefault(t.exchange, set()).add(t.external_id)
        known = {}
        for exchange, id_set in wanted.items():
            ids = list(id_set)
            if len(ids) == 1:
                row = conn.execute(SELECT_BY_EXTERNAL_ID, (exchange, ids[0])).fetchone()
                if row:
                    known[(exchange, ids[0])] = row[0]
                continue
            for chunk, marks in in_lists(ids):
                for external_id, trade_id in conn.execute(
                        f"SELECT external_id, id FROM trades WHERE exchange = ? "
                        f"AND external_id IN ({marks})", (exchange, *chunk)):
                    known[(exchange, external_id)] = trade_id
        return known

    # ------------------------------------------------------------ reads
    def count_by_account(self, since: datetime | None = None) -> dict[str, int]:
        """{account: fills saved at or after ``since``} (voided fills left out)."""
        start = "0000" if since is None else ts_in(to_utc(since, "since"))
        return dict(self.db.query(FILLS_PER_ACCOUNT, {"since": start}))

    def get(self, trade_id: int) -> TradeData | None:
        row = self.db.query_one(SELECT_TRADE, (trade_id,))
        return None if row is None else TradeData.from_row(row)

    def history(self, symbol: str | None = None, days: Days = 30, *, since: Moment | None = None,
                until: Moment | None = None, strategy: str | None = None,
                account: str | None = None, exchange: str | None = None, limit: int | None = None,
                offset: int = 0, newest_first: bool = False, include_void: bool = False,
                side: str | None = None, order_by: str = "time") -> list[TradeData]:
        """Fills in time order (oldest first unless ``newest_first``); ``days=None``: all time.
        Voided fills only with ``include_void=True``. ``side="BUY"``/``"SELL"`` filters;
        ``order_by`` is "time", "symbol" or "pnl" (then time; ``newest_first`` reverses)."""
        sql, params = self._select(symbol, days, since, until, strategy, account, exchange,
                                   newest_first, include_void=include_void, side=side,
                                   order_by=order_by)
        sql += " LIMIT ? OFFSET ?"
        params += [-1 if limit is None else to_limit(limit), to_limit(offset, "offset", lowest=0)]
        return [TradeData.from_row(r) for r in self.db.query(sql, params)]

    def iterate(self, symbol: str | None = None, days: Days = 30, *, since: Moment | None = None,
                until: Moment | None = None, strategy: str | None = None,
                account: str | None = None, exchange: str | None = None, limit: int | None = None,
                offset: int = 0, newest_first: bool = False, include_void: bool = False,
                side: str | None = None, order_by: str = "time") -> Iterator[TradeData]:
        """Like ``history`` but streamed a page at a time: constant memory on any size.
        Streams in time order only (the pages are keyed by (timestamp, id)); another
        ``order_by`` is a ValidationError pointing to ``history``."""
        if order_by != "time":
            raise ValidationError(f"order_by: {show(order_by)} is not available when streaming "
                                  "(iter_trades is in time order: 'time'); use "
                                  "get_trade_history for 'symbol' or 'pnl'",
                                  field="order_by", value=order_by)
        first, params = self._select(symbol, days, since, until, strategy, account, exchange,
                                     newest_first, include_void=include_void, side=side)
        after, _ = self._select(symbol, days, since, until, strategy, account, exchange,
                                newest_first, keyset=True, include_void=include_void, side=side)
        remaining = None if limit is None else to_limit(limit)
        last, skip = None, to_limit(offset, "offset", lowest=0)
        while remaining is None or remaining > 0:
            size = PAGE_SIZE if remaining is None else min(PAGE_SIZE, remaining + skip)
            if last is None:
                rows = self.db.query(first + " LIMIT ?", [*params, size])
            else:
                rows = self.db.query(after + " LIMIT ?", [*params, *last, size])
            if not rows:
                return
            last = (rows[-1][5], rows[-1][0])
            for row in rows:
                if skip:
                    skip -= 1
                    continue
                yield TradeData.from_row(row)
                if remaining is not None:
                    remaining -= 1
                    if remaining == 0:
                        return

    @staticmethod
    def _select(symbol, days, since, until, strategy, account, exchange, newest_first,
                keyset=False, include_void=False, side=None, order_by="time"):
        start, end = window(days, since, until)
        if not isinstance(order_by, str) or order_by not in ORDER_BY:
            raise ValidationError(f"order_by: {show(order_by)} is not one of "
                                  f"{', '.join(ORDER_BY)}", field="order_by", value=order_by)
        side = None if side is None else to_choice(side, "side", SIDES)
        clauses, params = ([] if include_void else ["voided_at IS NULL"]), []
        for column, value in (("symbol", symbol), ("strategy", strategy), ("account", account),
                              ("exchange", exchange), ("side", side)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if start is not None:
            clauses.append("timestamp >= ?")
            params.append(start)
        if end is not None:
            clauses.append("timestamp < ?")
            params.append(end)
        op = "<" if newest_first else ">"
        if keyset:
            clauses.append(f"(timestamp, id) {op} (?, ?)")
        direction = "DESC" if newest_first else "ASC"
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return (f"SELECT {TRADE_COLUMNS} FROM trades{where} "
                f"ORDER BY {ORDER_BY[order_by].format(d=direction)}", params)


ROUND_TRIP_FILLS = (f"SELECT {TRADE_COLUMNS}, position_id, opened_position_id FROM trades "
                    "WHERE (position_id = :p OR opened_position_id = :p) AND voided_at IS NULL "
                    "ORDER BY timestamp, id")


@dataclass(frozen=True)
class RoundTripFill:
    """A fill of one round trip with what it did there (docs/futures.md).

    Attributes:
      trade: the TradeData.
      effect: OPEN, ADD, REDUCE, CLOSE or FLIP (closes this round trip and opens the
        next: the fill that opened a round trip by crossing is OPEN in that one).
      action: ``effect``, except LIQUIDATION for a liquidation fill and ADJUSTMENT
        for an adjustment.
    """

    trade: TradeData
    effect: str
    action: str

    def __getattr__(self, name):
        return getattr(self.trade, name)


def round_trip_fills(db: Engine, position_id: int) -> list[RoundTripFill]:
    """The fills of a round trip in (timestamp, id) order with their derived action;
    a ValidationError for an unknown position id."""
    position_id = to_int(position_id, "position_id", allowed="an integer position id")
    with db.reading() as conn:
        head = PositionStore.load(conn, position_id)
        if head is None:
            raise ValidationError(f"position_id: {position_id} is not a stored round trip",
                                  field="position_id", value=position_id)
        rows = conn.execute(ROUND_TRIP_FILLS, {"p": position_id}).fetchall()
    side, closed = head.side, head.closed_at
    out = []
    for index, row in enumerate(rows):
        trade = TradeData.from_row(row)
        opens_side = (trade.side == "BUY") == (side == "LONG")
        if row[-1] == position_id or index == 0:
            effect = "OPEN"
        elif row[-1] is not None:
            effect = "FLIP"
        elif opens_side:
            effect = "ADD"
        else:
            effect = "CLOSE" if closed is not None and index == len(rows) - 1 else "REDUCE"
        action = "LIQUIDATION" if trade.liquidation else \
            "ADJUSTMENT" if trade.kind == "ADJUSTMENT" else effect
        out.append(RoundTripFill(trade, effect, action))
    return out


# ------------------------------------------------------------ reads for other owners
# (conn first, named for what they return; the SQL stays with the table's owner)
CASH_FILLS = ("SELECT symbol, side, quantity, price, fees, fee_currency, commission, "
              "commission_currency FROM trades WHERE account = ? AND voided_at IS NULL")
# Fills carrying a strategy name in a window, over trades_by_strategy_time.
STRATEGY_FILL_COUNT = """
SELECT max(strategy), count(*) FROM trades
WHERE strategy = :name AND timestamp >= :since AND timestamp < :until AND voided_at IS NULL
"""
STRATEGY_FILL_COUNTS = """
SELECT strategy, count(*) FROM trades INDEXED BY trades_by_strategy_time
WHERE strategy IS NOT NULL AND timestamp >= :since AND timestamp < :until
  AND voided_at IS NULL
GROUP BY strategy
"""
STRATEGY_HAS_FILLS = "SELECT EXISTS (SELECT 1 FROM trades WHERE strategy = ?)"
SYMBOL_HAS_FILLS = "SELECT 1 FROM trades WHERE symbol = ? LIMIT 1"
ANY_FILL = "SELECT 1 FROM trades LIMIT 1"


def cash_fills(conn: Connection, account: str) -> Any:
    """(symbol, side, quantity, price, fees, fee_currency, commission,
    commission_currency) of the account's live fills, for its cash (books/balance.py)."""
    return conn.execute(CASH_FILLS, (account,))


def fill_by_external_id(conn: Connection, exchange: str, external_id: str) -> int | None:
    """The id of the stored fill with this (exchange, external_id), on the caller's
    connection (an order's fill is idempotent on it too)."""
    row = conn.execute(SELECT_BY_EXTERNAL_ID, (exchange, external_id)).fetchone()
    return None if row is None else int(row[0])


def strategy_fill_counts(conn: Connection, bounds: Mapping[str, Any],
                         name: str | None = None) -> dict[str, int]:
    """{strategy: live fills in bounds (since, until)}; one strategy when ``name``."""
    if name is None:
        return dict(conn.execute(STRATEGY_FILL_COUNTS, bounds).fetchall())
    return dict(r for r in conn.execute(STRATEGY_FILL_COUNT, dict(bounds, name=name)) if r[1])


def strategy_has_fills(conn: Connection, name: str) -> bool:
    return bool(conn.execute(STRATEGY_HAS_FILLS, (name,)).fetchone()[0])


def symbol_has_fills(conn: Connection, symbol: str) -> bool:
    return conn.execute(SYMBOL_HAS_FILLS, (symbol,)).fetchone() is not None


def any_fill(conn: Connection) -> bool:
    return conn.execute(ANY_FILL).fetchone() is not None


# ------------------------------------------------------------ the ledger's reads and writes
# (record/ledger.py replays a key's fills into its round trips; conn first, inside the
# caller's transaction; the key is (account, exchange, symbol))
FILL_COLUMNS = ("id, side, quantity, price, fees, fee_currency, fee_value, timestamp, pnl, "
                "pnl_given, strategy, position_id, opened_position_id, kind, liquidation, "
                "commission, commission_currency, leverage, margin, margin_mode, "
                "liquidation_price")
NEWEST_FILL = ("SELECT timestamp FROM trades WHERE account = ? AND exchange = ? AND symbol = ? "
               "AND voided_at IS NULL ORDER BY timestamp DESC, id DESC LIMIT 1")
PREVIOUS_FILL = ("SELECT id, position_id, opened_position_id FROM trades WHERE account = ? "
                 "AND exchange = ? AND symbol = ? AND voided_at IS NULL "
                 "AND (timestamp, id) < (?, ?) ORDER BY timestamp DESC, id DESC LIMIT 1")
CROSSING_OPENER = ("SELECT position_id FROM trades WHERE opened_position_id = ? "
                   "AND voided_at IS NULL LIMIT 1")
FIRST_FILL_OF = ("SELECT timestamp, id FROM trades WHERE position_id = ? AND voided_at IS NULL "
                 "ORDER BY timestamp, id LIMIT 1")
KEY_FILLS_FROM = (f"SELECT {FILL_COLUMNS} FROM trades WHERE account = ? AND exchange = ? "
                  "AND symbol = ? AND voided_at IS NULL AND (timestamp, id) >= (?, ?) "
                  "ORDER BY timestamp, id")
# PostgreSQL: the "" of a whole-key replay (from the key's first fill) is no time there
KEY_FILLS_FROM = per_engine(KEY_FILLS_FROM, KEY_FILLS_FROM.replace(
    "(timestamp, id) >= (?, ?)", f"(timestamp, id) >= ({MAYBE_EMPTY_TIME}, ?)"))
DETACH_FILLS = ("UPDATE trades SET position_id = NULL, opened_position_id = NULL "
                "WHERE position_id = ? OR opened_position_id = ?")
SET_FILL_RESULT = "UPDATE trades SET pnl = ?, position_id = ?, opened_position_id = ? WHERE id = ?"
FILL_KEYS = "SELECT DISTINCT account, exchange, symbol FROM trades WHERE voided_at IS NULL"
ORDER_FILLS = "SELECT quantity, price FROM trades WHERE order_id = ? AND voided_at IS NULL"


@dataclass(frozen=True)
class Fill:
    """A stored fill as the ledger replays it: what the accounting reads
    (record.accounting.Execution) and what is stored of its result, which ``check``
    compares with the replay.

    Attributes:
      id. stamp: its timestamp as stored text (it sorts as time). pnl: a given pnl, else
      None. stored_pnl, position_id, opened_position_id: as stored. The others as
      TradeData's.
    """

    id: int
    side: str
    quantity: Decimal
    price: Decimal
    fees: Decimal
    fee_currency: str | None
    fee_value: Decimal | None
    timestamp: datetime
    stamp: str
    pnl: Decimal | None
    stored_pnl: Decimal | None
    strategy: str | None
    position_id: int | None
    opened_position_id: int | None
    kind: str = "TRADE"
    liquidation: bool = False
    commission: Decimal = ZERO
    commission_currency: str | None = None
    leverage: Decimal | None = None
    margin: Decimal | None = None
    margin_mode: str | None = None
    liquidation_price: Decimal | None = None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Fill:
        """The record of a row of FILL_COLUMNS (stored text decoded; filled in as
        TradeData.from_row is: a frozen dataclass's __init__ costs more per field)."""
        stored = dec_out(row[8])
        fill = object.__new__(cls)
        fill.__dict__.update(
            id=row[0], side=row[1], quantity=Decimal(row[2]), price=Decimal(row[3]),
            fees=Decimal(row[4]), fee_currency=row[5], fee_value=dec_out(row[6]),
            timestamp=ts_out(row[7]), stamp=row[7], pnl=stored if row[9] else None,
            stored_pnl=stored, strategy=row[10], position_id=row[11],
            opened_position_id=row[12], kind=row[13], liquidation=bool(row[14]),
            commission=Decimal(row[15]), commission_currency=row[16],
            leverage=dec_out(row[17]), margin=dec_out(row[18]), margin_mode=row[19],
            liquidation_price=dec_out(row[20]))
        return fill


def newest_fill(conn: Connection, key: tuple[str, str, str]) -> str | None:
    """The stored time of the key's newest live fill (None: it has none)."""
    row = conn.execute(NEWEST_FILL, key).fetchone()
    return None if row is None else row[0]


def last_fill_before(conn: Connection, key: tuple[str, str, str],
                     point: tuple[Any, int]) -> tuple[int | None, int | None] | None:
    """(position_id, opened_position_id) of the key's last live fill before ``point``
    (stored time, fill id) in (timestamp, id) order; None when there is none."""
    row = conn.execute(PREVIOUS_FILL, (*key, *point)).fetchone()
    return None if row is None else (row[1], row[2])


def crossed_from(conn: Connection, position_id: int) -> int | None:
    """The round trip whose closing fill opened ``position_id`` by crossing zero (None:
    it opened from flat)."""
    row = conn.execute(CROSSING_OPENER, (position_id,)).fetchone()
    return None if row is None else row[0]


def first_fill_of(conn: Connection, position_id: int) -> tuple[str, int] | None:
    """(stored time, id) of the round trip's first live fill."""
    row = conn.execute(FIRST_FILL_OF, (position_id,)).fetchone()
    return None if row is None else (row[0], row[1])


def key_fills_from(conn: Connection, key: tuple[str, str, str],
                   first: tuple[str, int]) -> list[Fill]:
    """The key's live fills from ``first`` (stored time, id; ("", 0): all) on, in
    (timestamp, id) order."""
    return [Fill.from_row(r) for r in conn.execute(KEY_FILLS_FROM, (*key, *first))]


def detach_fills(conn: Connection, position_ids: Iterable[int]) -> None:
    """Unlink the fills of these round trips, the ones they belong to or were opened by
    (a replay rewrites those round trips and links the fills again)."""
    conn.executemany(DETACH_FILLS, [(i, i) for i in position_ids])


def set_fill_results(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Each replayed fill's (pnl as stored text, position_id, opened_position_id, id)."""
    conn.executemany(SET_FILL_RESULT, rows)


def fill_keys(conn: Connection) -> list[tuple[str, str, str]]:
    """Every key with a live fill."""
    return [(r[0], r[1], r[2]) for r in conn.execute(FILL_KEYS)]


def order_totals(conn: Connection, order_id: int) -> tuple[Decimal, Decimal | None]:
    """(filled quantity, value-weighted average price) of an order's live fills."""
    filled, notional = ZERO, ZERO
    with exact():
        for quantity, price in conn.execute(ORDER_FILLS, (order_id,)):
            q = Decimal(quantity)
            filled += q
            notional += q * Decimal(price)
    return tidy(filled), ratio(notional, filled)
