"""Accounts and their cash movements; a balance is derived, never stored.

``balance = initial_cash + deposits - withdrawals``, summed exactly in SQL with
``decimal_sum``. It is the account's funding (cash put in and taken out), not its
trading result: realised pnl lives on the fills, account value over time in the
portfolio snapshots. The "default" account always exists (the migration inserts
it); once any other account exists, an unknown account name is refused.

Soft delete (issue 20.4, the seeds' ``is_active``): ``deactivate(name)`` hides an
account from ``list()``/``summary()`` (``include_inactive=True`` shows it) and makes
new fills, orders and portfolio snapshots on it a ConflictError naming it; its
record, balance and cash movements stay readable and ``activate(name)`` brings it
back. "default" cannot be deactivated (a bot that never set up accounts uses it).
"""

from __future__ import annotations

import builtins
import datetime as _dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Sequence

from tradestore._core.audit import record
from tradestore._core.codec import (dec_in, dec_out, optional_text, optional_utc, time_range,
                                    to_decimal, to_flag, to_text, ts_in, ts_out)
from tradestore._core.hints import Amount, Connection, Engine, Moment
from tradestore.books.balance import cash_balances
from tradestore.errors import ConflictError, NotFoundError, ValidationError

DEFAULT_ACCOUNT = "default"
CURRENCY_PATTERN = re.compile(r"[A-Z0-9]{2,12}")


@dataclass(frozen=True)
class Account:
    """An account that fills, positions and snapshots name in their ``account`` column.

    Attributes:
      id: stable row id.
      name: unique name ("default" always exists).
      base_currency: upper-case code such as USD or USDT.
      initial_cash: the cash it started with (Decimal, >= 0).
      strategy: the strategy trading it, or None (free text).
      created_at: aware UTC datetime.
      active: False once deactivated (soft delete; it refuses new fills).
    """

    id: int
    name: str
    base_currency: str
    initial_cash: Decimal
    strategy: str | None
    created_at: _dt.datetime
    active: bool = True

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Account:
        """The record of one row of this module's SELECTs (stored text decoded)."""
        return cls(row[0], row[1], row[2], dec_out(row[3]), row[4], ts_out(row[5]),
                   bool(row[6]))


@dataclass(frozen=True)
class CashMovement:
    """A deposit or a withdrawal.

    Attributes:
      id: stable row id.
      account: the account's name.
      kind: "deposit" or "withdraw".
      amount: positive Decimal.
      timestamp: when the cash moved (aware UTC).
      note: free text or None.
      created_at: when the row was written.
    """

    id: int
    account: str
    kind: str
    amount: Decimal
    timestamp: _dt.datetime
    note: str | None
    created_at: _dt.datetime

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> CashMovement:
        """The record of one row of this module's SELECTs (stored text decoded)."""
        return cls(row[0], row[1], row[2], dec_out(row[3]), ts_out(row[4]), row[5],
                   ts_out(row[6]))


ACCOUNT_COLUMNS = "id, name, base_currency, initial_cash, strategy, created_at, is_active"
GET_ACCOUNT = f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ?"
LIST_ACCOUNTS = f"""
SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE is_active = 1 OR :include_inactive = 1
ORDER BY name = 'default' DESC, name
"""
IS_ACTIVE = "SELECT is_active FROM accounts WHERE name = ?"
SET_ACTIVE = "UPDATE accounts SET is_active = ? WHERE name = ?"
INSERT_ACCOUNT = """
INSERT INTO accounts (name, base_currency, initial_cash, strategy, created_at)
VALUES (?, ?, ?, ?, ?)
"""
INSERT_MOVEMENT = """
INSERT INTO cash_movements (account, kind, amount, timestamp, note, created_at)
VALUES (?, ?, ?, ?, ?, ?)
"""
MOVEMENTS = """
SELECT id, account, kind, amount, timestamp, note, created_at FROM cash_movements
WHERE account = ? ORDER BY timestamp, id
"""
# External flows of the equity curve in (after, last], over cash_movements_by_account:
# deposits count positive, withdrawals negative (analytics.performance reads this).
FLOWS = """
SELECT timestamp, kind, amount FROM cash_movements
WHERE account = :account AND timestamp > :after AND timestamp <= :last ORDER BY timestamp, id
"""
# Exact: initial_cash + sum(deposits) - sum(withdrawals), optionally up to a time.
# Columns: balance, initial_cash, deposits, withdrawals.
BALANCE = """
SELECT decimal_sub(decimal_add(i, d), w), i, d, w FROM (
    SELECT a.initial_cash AS i,
           coalesce((SELECT decimal_sum(amount) FROM cash_movements
                     WHERE account = a.name AND kind = 'deposit'
                       AND (:at IS NULL OR timestamp <= :at)), '0') AS d,
           coalesce((SELECT decimal_sum(amount) FROM cash_movements
                     WHERE account = a.name AND kind = 'withdraw'
                       AND (:at IS NULL OR timestamp <= :at)), '0') AS w
    FROM accounts AS a WHERE a.name = :name) AS b
"""
BASE_CURRENCY = "SELECT base_currency FROM accounts WHERE name = ?"
# "Known" when the name exists, or when no account other than "default" does.
IS_KNOWN = """
SELECT EXISTS (SELECT 1 FROM accounts WHERE name = :name)
    OR NOT (EXISTS (SELECT 1 FROM accounts WHERE name < 'default')
            OR EXISTS (SELECT 1 FROM accounts WHERE name > 'default'))
"""


def _audit_fields(account: Account) -> dict:
    """What the audit trail shows of an account."""
    return {"base_currency": account.base_currency, "initial_cash": account.initial_cash,
            "strategy": account.strategy}


def signed_flow(kind: str, amount: str) -> Decimal:
    """A cash movement as an external flow: a deposit adds, a withdrawal takes away."""
    return Decimal(amount) if kind == "deposit" else -Decimal(amount)


def check_currency(value: str, field: str) -> str:
    text = to_text(value, field, max_length=12).strip().upper()
    if not CURRENCY_PATTERN.fullmatch(text):
        raise ValidationError(f"{field}: {value!r} must be a currency code of 2-12 letters or "
                              "digits (USD, EUR, USDT)", field=field, value=value)
    return text


class AccountStore:
    """``repo.accounts``: trading accounts, deposits, withdrawals, balances."""

    def __init__(self, db: Engine):
        self.db = db

    def create(self, name: str, *, base_currency: str = "USD", initial_cash: Amount = 0,
               strategy: str | None = None) -> Account:
        """Add an account; a name that exists (including "default") is a ConflictError."""
        row = (to_text(name, "name"), check_currency(base_currency, "base_currency"),
               dec_in(to_decimal(initial_cash, "initial_cash", non_negative=True)),
               optional_text(strategy, "strategy"), ts_in(self.db.now()))
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM accounts WHERE name = ?", (row[0],)).fetchone():
                raise ConflictError(f"account {row[0]!r} already exists")
            conn.execute(INSERT_ACCOUNT, row)
            account = Account.from_row(conn.execute(GET_ACCOUNT, (row[0],)).fetchone())
            record(conn, "account", account.name, "create", None, _audit_fields(account),
                   now=row[-1])
            return account

    def get(self, name: str) -> Account:
        row = self.db.query_one(GET_ACCOUNT, (to_text(name, "name"),))
        if row is None:
            raise NotFoundError(f"no account named {name!r}")
        return Account.from_row(row)

    def list(self, *, include_inactive: bool = False) -> list[Account]:
        """"default" first, then by name; deactivated ones only with include_inactive."""
        params = {"include_inactive": int(to_flag(include_inactive, "include_inactive"))}
        return [Account.from_row(r) for r in self.db.query(LIST_ACCOUNTS, params)]

    def deactivate(self, name: str) -> Account:
        """Soft delete: hidden from lists, refuses new fills, orders and snapshots."""
        return self._set_active(name, False)

    def activate(self, name: str) -> Account:
        """Undo ``deactivate``."""
        return self._set_active(name, True)

    def _set_active(self, name, active: bool) -> Account:
        name = to_text(name, "name")
        if name == DEFAULT_ACCOUNT and not active:
            raise ConflictError("account 'default' cannot be deactivated (fills without an "
                                "account use it)")
        with self.db.transaction() as conn:
            row = conn.execute(GET_ACCOUNT, (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"no account named {name!r}")
            conn.execute(SET_ACTIVE, (int(active), name))
            record(conn, "account", name, "activate" if active else "deactivate",
                   {"active": bool(row[6])}, {"active": active}, now=ts_in(self.db.now()))
            return Account.from_row(conn.execute(GET_ACCOUNT, (name,)).fetchone())

    # reads on the caller's connection, for tradestore.books.balance
    @staticmethod
    def base_currency(conn: Connection, name: str) -> str | None:
        """The account's base currency; None when there is no such account."""
        row = conn.execute(BASE_CURRENCY, (name,)).fetchone()
        return None if row is None else row[0]

    @staticmethod
    def funded(conn: Connection, name: str, at: str | None = None) -> tuple | None:
        """(balance, initial_cash, deposits, withdrawals) as stored text, counting cash
        movements up to ``at`` (stored text; None: all); None when there is no such
        account."""
        return conn.execute(BALANCE, {"name": name, "at": at}).fetchone()

    def require(self, name: str) -> str:
        """``name`` if fills may use it, else ValidationError naming the field ``account``.

        While "default" is the only account any name is accepted (a bot that never
        set up accounts is not bothered); once another account exists, only known
        names are.
        """
        name = to_text(name, "account")
        active = self.db.scalar(IS_ACTIVE, (name,))
        if active == 0:
            raise ConflictError(f"account: {name!r} is deactivated; it takes no new fills, "
                                f"orders or snapshots (repo.accounts.activate({name!r}) "
                                "brings it back)")
        if active is None and not self.db.scalar(IS_KNOWN, {"name": name}):
            known = [r[0] for r in self.db.query("SELECT name FROM accounts ORDER BY name")]
            shown = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
            raise ValidationError(f"account: {name!r} is not a known account ({shown}); "
                                  "create it with repo.accounts.create", field="account",
                                  value=name)
        return name

    def deposit(self, name: str, amount: Amount, *, note: str | None = None,
                timestamp: Moment | None = None) -> CashMovement:
        return self._move(name, "deposit", amount, note, timestamp, allow_overdraft=True)

    def withdraw(self, name: str, amount: Amount, *, note: str | None = None,
                 timestamp: Moment | None = None, allow_overdraft: bool = False) -> CashMovement:
        """Take cash out; more than the balance is a ConflictError unless
        ``allow_overdraft=True`` (the balance ignores trading pnl, so a bot that
        withdraws profits says so)."""
        return self._move(name, "withdraw", amount, note, timestamp, allow_overdraft)

    def _move(self, name, kind, amount, note, timestamp, allow_overdraft) -> CashMovement:
        name = to_text(name, "name")
        value = to_decimal(amount, "amount", positive=True)
        moment = optional_utc(timestamp, "timestamp") or self.db.now()
        note = optional_text(note, "note", max_length=10_000)
        to_flag(allow_overdraft, "allow_overdraft")
        with self.db.transaction() as conn:
            balance = self.funded(conn, name)
            if balance is None:
                raise NotFoundError(f"no account named {name!r}")
            if not allow_overdraft and value > Decimal(balance[0]):
                raise ConflictError(f"withdraw {value} from {name!r}: the balance is only "
                                    f"{balance[0]} (pass allow_overdraft=True to go below zero)")
            stamp = ts_in(self.db.now())
            row_id = conn.execute(INSERT_MOVEMENT, (name, kind, dec_in(value), ts_in(moment),
                                                    note, stamp)).lastrowid
            movement = CashMovement.from_row(conn.execute(
                "SELECT id, account, kind, amount, timestamp, note, created_at "
                "FROM cash_movements WHERE id = ?", (row_id,)).fetchone())
            record(conn, "cash_movement", name, kind, None,
                   {"id": row_id, "amount": value, "timestamp": moment, "note": note},
                   now=stamp)
            return movement

    def movements(self, name: str) -> builtins.list[CashMovement]:
        """Deposits and withdrawals of ``name``, oldest first."""
        name = self.get(name).name
        return [CashMovement.from_row(r) for r in self.db.query(MOVEMENTS, (name,))]

    def flows(self, name: str, *, since: Moment | None = None,
              until: Moment | None = None) -> builtins.list[tuple[_dt.datetime, Decimal]]:
        """The account's external flows (since < t <= until): [(timestamp, amount)],
        deposits positive and withdrawals negative, oldest first. These are what
        calculate_performance_metrics takes out of the returns."""
        name = self.get(name).name
        after, last = time_range(since, until, ("since", "until"))
        rows = self.db.query(FLOWS, {"account": name, "after": after, "last": last})
        return [(ts_out(t), signed_flow(kind, amount)) for t, kind, amount in rows]

    def balance(self, name: str, at: Moment | None = None, *,
                currency: str | None = None) -> Decimal:
        """Cash in ``currency`` (default: the account's base currency), exact: initial_cash
        + deposits - withdrawals, and the record's trading (``balances``). With ``at``:
        initial_cash + deposits - withdrawals up to ``at`` only (the funding of the
        account then; fills are not time-sliced)."""
        if at is None:
            book = self.balances(name)
            code = (self.get(name).base_currency if currency is None
                    else check_currency(currency, "currency"))
            return book.get(code, Decimal(0))
        params = {"name": to_text(name, "name"), "at": ts_in(optional_utc(at, "at"))}
        row = self.db.query_one(BALANCE, params)
        if row is None:
            raise NotFoundError(f"no account named {name!r}")
        return dec_out(row[0])

    def balances(self, name: str) -> dict[str, Decimal]:
        """Cash per currency: funding, fills, costs, realised derivative pnl and funding
        payments (tradestore.books.balance; docs/futures.md)."""
        with self.db.reading() as conn:
            return cash_balances(self, conn, to_text(name, "name"))

    def summary(self, *, include_inactive: bool = False) -> builtins.list[dict]:
        """Each account with its deposits, withdrawals and balance (what the CLI prints)."""
        out = []
        params = {"include_inactive": int(to_flag(include_inactive, "include_inactive"))}
        with self.db.reading() as conn:
            for row in conn.execute(LIST_ACCOUNTS, params).fetchall():
                account = Account.from_row(row)
                balance, _, deposits, withdrawals = conn.execute(
                    BALANCE, {"name": account.name, "at": None}).fetchone()
                out.append({"name": account.name, "currency": account.base_currency,
                            "initial_cash": account.initial_cash,
                            "deposits": dec_out(deposits), "withdrawals": dec_out(withdrawals),
                            "balance": dec_out(balance), "strategy": account.strategy,
                            "created_at": account.created_at, "active": account.active})
        return out
