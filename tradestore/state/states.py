"""Bot state snapshots: every version kept, each with a SHA-256 of its stored bytes.

A bot must restart where it stopped even when the newest row was damaged by a
disk fault or a hand edit. So a state is stored as canonical tagged JSON (sorted
keys, compact; Decimal, datetime and date tagged so they come back typed) with
the SHA-256 of exactly those UTF-8 bytes, and ``load`` verifies it. When the
newest version fails, ``load`` returns the newest version that verifies, emits a
``StateCorruptionWarning`` through the ``warnings`` module (so a bot can turn it
into an error with a warnings filter, and tests can catch it), and records a
``state_corruption`` event of severity error in the event log (skipped, with a
note in the warning, when the store cannot be written).
"""

from __future__ import annotations

import builtins
import datetime as _dt
import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain, compress, repeat
from operator import eq, is_, not_
from typing import Any

from tradestore._core.codec import (_TAGS, MAX_JSON_INT, MIN_JSON_INT, canonical_json, from_tagged,
                                    plain_length, show, to_limit, to_tagged, to_text, ts_in,
                                    ts_out)
from tradestore._core.events import EventLog
from tradestore._core.hints import Engine
from tradestore._core.pg import per_engine
from tradestore.errors import NotFoundError, StateCorruptionError, StoreError, ValidationError

FIELDS = ("positions", "balances", "configuration", "extra")
MAPPING_FIELDS = ("positions", "balances", "configuration")

NEXT_VERSION = "SELECT coalesce(max(version), 0) + 1 FROM bot_states WHERE bot = ?"
INSERT_STATE = """
INSERT INTO bot_states (bot, version, saved_at, payload, sha256, size, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
# CAST AS BLOB: the checksum is over the stored bytes, even if they are no longer UTF-8.
SELECT_VERSION = """
SELECT version, saved_at, CAST(payload AS BLOB), sha256 FROM bot_states
WHERE bot = ? AND version = ?
"""
SELECT_NEWEST_FIRST = """
SELECT version, saved_at, CAST(payload AS BLOB), sha256 FROM bot_states
WHERE bot = ? ORDER BY version DESC
"""
# One row per query: a cursor over SELECT_NEWEST_FIRST would also fetch (and copy) the
# next, older payload before the newest one is even checked.
SELECT_NEWEST_UP_TO = """
SELECT version, saved_at, CAST(payload AS BLOB), sha256 FROM bot_states
WHERE bot = ? AND version <= ? ORDER BY version DESC LIMIT 1
"""
MAX_VERSION = 2 ** 63 - 1
SELECT_BOT_VERSIONS = """
SELECT bot, version, saved_at, size, sha256, CAST(payload AS BLOB) FROM bot_states
WHERE bot = ? ORDER BY version
"""
SELECT_ALL_VERSIONS = """
SELECT bot, version, saved_at, size, sha256, CAST(payload AS BLOB) FROM bot_states
ORDER BY bot, version
"""
DELETE_OLDER = """
DELETE FROM bot_states WHERE bot = ? AND version < ? AND version IS NOT ?
"""
TABLE_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bot_states'"
TABLE_EXISTS = per_engine(TABLE_EXISTS, "SELECT 1 FROM information_schema.tables "
                          "WHERE table_schema = current_schema() AND table_name = 'bot_states'")


class StateCorruptionWarning(UserWarning):
    """A bot state failed its checksum and an older version was loaded instead."""


@dataclass(frozen=True)
class BotState:
    """What a bot needs to restart where it stopped.

    Attributes:
      positions: a mapping, e.g. symbol -> what the bot holds.
      balances: a mapping, e.g. currency -> amount.
      configuration: a mapping of the settings the bot ran with.
      extra: anything JSON-like (dicts, lists, str, int, float, bool, None) plus
        Decimal, datetime and date; tuples come back as lists.
      version: the stored version (set when read back).
      saved_at: when that version was saved, UTC (set when read back).
      bot: the bot it belongs to (set when read back).
    """

    positions: dict = field(default_factory=dict)
    balances: dict = field(default_factory=dict)
    configuration: dict = field(default_factory=dict)
    extra: Any = None
    version: int | None = None
    saved_at: _dt.datetime | None = None
    bot: str | None = None

    def to_dict(self) -> dict:
        """The four content fields as a plain dict (what is stored)."""
        return {name: getattr(self, name) for name in FIELDS}


@dataclass(frozen=True)
class StateVersion:
    """One stored version as ``list_bot_states`` and ``verify_bot_states`` report it.

    Attributes:
      bot: the bot.
      version: the version number.
      saved_at: when it was saved (UTC).
      size: bytes of the stored payload.
      sha256: the checksum recorded when it was saved.
      ok: True when the stored bytes still match that checksum.
    """

    bot: str
    version: int
    saved_at: _dt.datetime
    size: int
    sha256: str
    ok: bool


# ------------------------------------------------------------------ encoding

def state_content(state: BotState | Mapping[str, Any]) -> dict:
    """The four stored fields of a BotState or a mapping.

    In a mapping, ``positions``/``balances``/``configuration``/``extra`` fill those
    fields and any other top-level key is kept under ``extra`` (a dict).
    """
    if isinstance(state, BotState):
        content = state.to_dict()
    elif isinstance(state, Mapping):
        content = {name: state.get(name) for name in FIELDS}
        others = {k: v for k, v in state.items() if k not in FIELDS}
        if others:
            if content["extra"] is not None:
                raise ValidationError(
                    f"state: keys {sorted(map(str, others))} are not BotState fields and 'extra' "
                    "is given too; put free-form data under 'extra'", field="state", value=state)
            content["extra"] = others
    else:
        raise ValidationError(f"state: {type(state).__name__} is not a BotState or a mapping",
                              field="state", value=state)
    for name in MAPPING_FIELDS:
        value = content[name]
        if value is None:
            content[name] = {}
        elif isinstance(value, Mapping):
            content[name] = dict(value)
        else:
            raise ValidationError(f"{name}: {type(value).__name__} must be a mapping (a dict)",
                                  field=name, value=value)
    return content


_LEAVES = frozenset({str, int, float, bool, type(None), Decimal, _dt.datetime, _dt.date})
_CONTAINERS = frozenset({dict, list, tuple})
_KNOWN = _LEAVES | _CONTAINERS
_TAG_KEYS = frozenset(_TAGS)


def _plain_shape(obj, max_depth=500) -> bool:
    """True when json.dumps with _tag writes exactly what to_tagged + canonical_json
    write: exact dict/list/tuple containers, str keys, known leaves, every int within
    64 bits, no one-key dict named like a tag (to_tagged escapes those). Decimals are
    checked by _tag, floats by json (allow_nan=False).

    Walks level by level with itertools so the per-item work runs in C; json.dumps
    would silently turn an int key into text, so keys must be checked here. Too
    deep (or circular) goes to the careful path, which reports it.
    """
    level = [obj]
    for _ in range(max_depth):
        if not level:
            return True
        is_dict = list(map(is_, map(type, level), repeat(dict)))
        dicts = list(compress(level, is_dict))
        try:
            "".join(chain.from_iterable(dicts))  # every key a str, else TypeError (fast, in C)
        except TypeError:
            return False
        singles = compress(dicts, map(eq, map(len, dicts), repeat(1)))
        if not _TAG_KEYS.isdisjoint(chain.from_iterable(singles)):
            return False
        values = list(chain.from_iterable(map(dict.values, dicts)))
        values.extend(chain.from_iterable(compress(level, map(not_, is_dict))))
        types = list(map(type, values))
        kinds = set(types)
        if not kinds <= _KNOWN:
            return False
        if int in kinds:
            ints = list(compress(values, map(is_, types, repeat(int))))
            if max(ints) > MAX_JSON_INT or min(ints) < MIN_JSON_INT:
                return False
        inner = kinds & _CONTAINERS
        if len(inner) == 1:  # the usual level: only dicts or only lists below it
            level = list(compress(values, map(is_, types, repeat(inner.pop()))))
        else:
            level = list(compress(values, map(_CONTAINERS.__contains__, types))) if inner else []
    return False


def _tag(obj) -> dict:
    """json's ``default`` hook: to_tagged's tag for a value _plain_shape let through.

    str() of a Decimal is its plain form unless the exponent is positive ('1E+5', kept
    so the exponent survives) or the number is tiny ('1E-7': plain when that is at
    most 100 characters, as to_tagged decides).
    """
    kind = type(obj)
    if kind is Decimal:
        if not obj.is_finite():
            raise ValueError("not finite")  # _fast_encode gives up: to_tagged names the path
        text = str(obj)
        if "E-" in text and plain_length(obj) <= 100:
            text = format(obj, "f")
        return {"$decimal": text}
    return {"$datetime" if kind is _dt.datetime else "$date": obj.isoformat()}


def _fast_encode(content: dict) -> str | None:
    """canonical_json(to_tagged(content)) in one C-driven pass, or None to take the slow path.

    The tags are made by json's ``default`` hook; a user dict that looks like a tag
    (which to_tagged would escape) was sent to the careful path by _plain_shape.
    """
    if not _plain_shape(content):
        return None
    try:
        # check_circular off: _plain_shape already refused cycles (and it is 10% faster)
        text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False, default=_tag, check_circular=False)
    except (ValueError, TypeError, RecursionError):
        return None
    return text


def encode_state(content: dict) -> bytes:
    """Canonical tagged JSON as UTF-8 bytes; ValidationError naming the path otherwise."""
    text = _fast_encode(content)
    if text is None:
        try:
            text = canonical_json(to_tagged(content))
        except RecursionError:
            raise ValidationError("state: nested too deeply or contains itself",
                                  field="state") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("state: contains text that is not valid Unicode (a lone surrogate)",
                              field="state") from None


def _untag(obj: dict, decimal=Decimal, moment=_dt.datetime.fromisoformat,
           day=_dt.date.fromisoformat):
    """json object_hook: a one-key tag dict becomes its value (hot: one call per object;
    a user's dict that looks like a tag was escaped, so it never reaches this path)."""
    if len(obj) == 1:
        text = obj.get("$decimal")
        if text is not None:
            return decimal(text)
        text = obj.get("$datetime")
        if text is not None:
            return moment(text)
        text = obj.get("$date")
        if text is not None:
            return day(text)
    return obj


def decode_payload(data: bytes) -> Any:
    """Inverse of encode_state. Tags are undone inside json.loads unless the text
    holds an escaped tag-like dict, which needs from_tagged's outside-in walk."""
    text = data.decode("utf-8")
    if '"$escaped"' in text:
        return from_tagged(json.loads(text))
    return json.loads(text, object_hook=_untag)


def _checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _to_version(value, name="version") -> int:
    try:
        return to_limit(value, name)  # the same rule: a whole number from 1 to 2**63-1
    except ValidationError:
        raise ValidationError(f"{name}: {show(value)} must be a whole number >= 1 (at most "
                              "2**63-1)", field=name, value=value) from None


# ------------------------------------------------------------------ the store

class BotStateStore:
    """``repo.states``: save, load (verified, with fallback), list, roll back, prune."""

    def __init__(self, db: Engine, events: EventLog) -> None:
        self.db = db
        self.events = events

    def save(self, state: BotState | Mapping[str, Any], *, bot: str = "default") -> int:
        """Store ``state`` as the bot's next version in one atomic write; returns it."""
        bot = to_text(bot, "bot")
        data = encode_state(state_content(state))
        digest, now = _checksum(data), ts_in(self.db.now())
        text = data.decode("utf-8")
        with self.db.transaction() as conn:
            version = conn.execute(NEXT_VERSION, (bot,)).fetchone()[0]
            conn.execute(INSERT_STATE, (bot, version, now, text, digest, len(data), now))
        return version

    def load(self, version: int | None = None, *, bot: str = "default",
             strict: bool = False) -> BotState | None:
        """The newest state that verifies (or exactly ``version``); None if none saved.

        A corrupt explicit version raises StateCorruptionError whatever ``strict`` says:
        a bot asking for version 3 must not silently get version 2.
        """
        bot = to_text(bot, "bot")
        if version is not None:
            version = _to_version(version)
            row = self.db.query_one(SELECT_VERSION, (bot, version))
            if row is None:
                raise NotFoundError(f"bot {show(bot)}: no saved state version {version}")
            state, problem = _verified(bot, row)
            if state is None:
                note = self._record_fault(bot, [(version, problem)], None)
                raise StateCorruptionError(
                    f"bot {show(bot)}: state version {version} is corrupt ({problem}){note}",
                    version=version, bot=bot)
            return state
        found, bad, newest = None, [], MAX_VERSION
        with self.db.reading() as conn:
            while True:
                row = conn.execute(SELECT_NEWEST_UP_TO, (bot, newest)).fetchone()
                if row is None:
                    break
                found, problem = _verified(bot, row)
                if found is not None:
                    break
                bad.append((row[0], problem))
                if strict:
                    break
                newest = row[0] - 1
        if not bad:
            return found
        note = self._record_fault(bot, bad, found)
        newest, problem = bad[0]
        if strict or found is None:
            why = "" if strict else "; no saved version verifies"
            raise StateCorruptionError(f"bot {show(bot)}: newest state version {newest} is corrupt "
                                       f"({problem}){why}{note}", version=newest, bot=bot)
        warnings.warn(f"bot {show(bot)}: state version(s) {', '.join(str(v) for v, _ in bad)} "
                      f"failed verification ({problem}); loaded version {found.version} "
                      f"instead{note}", StateCorruptionWarning, stacklevel=3)
        return found

    def _record_fault(self, bot, bad, found) -> str:
        """Log the fault as an error event; '' on success, else why it was not recorded."""
        if self.db.readonly:
            return " (not recorded: the store is open read-only)"
        versions = [v for v, _ in bad]
        loaded = None if found is None else found.version
        message = (f"bot {show(bot)}: state version(s) {', '.join(map(str, versions))} failed "
                   f"verification ({bad[0][1]})"
                   + ("" if loaded is None else f"; loaded version {loaded} instead"))
        try:
            self.events.log("state_corruption", message, severity="error",
                            details={"bot": bot, "bad_versions": versions,
                                     "loaded_version": loaded})
        except StoreError as exc:
            return f" (not recorded: {exc})"
        return ""

    def list(self, bot: str = "default") -> list[StateVersion]:
        """Every stored version of ``bot``, oldest first, each checked."""
        return self._scan(SELECT_BOT_VERSIONS, (to_text(bot, "bot"),))

    def verify(self) -> builtins.list[StateVersion]:
        """Every version, of every bot, whose bytes no longer match their checksum."""
        return [v for v in self._scan(SELECT_ALL_VERSIONS, ()) if not v.ok]

    def _scan(self, sql, params) -> builtins.list[StateVersion]:
        out = []
        with self.db.reading() as conn:
            for bot, version, saved_at, size, digest, data in conn.execute(sql, params):
                out.append(StateVersion(bot, version, ts_out(saved_at), size, digest,
                                        _checksum(data) == digest))
        return out

    def problems(self) -> builtins.list[str]:
        """For ``TradeRepo.check``: one line per corrupt version (none if the table is not
        there yet, i.e. a store opened for inspection at an older schema)."""
        if self.db.scalar(TABLE_EXISTS) is None:
            return []
        return [f"bot state {show(v.bot)} version {v.version}: stored bytes do not match their "
                f"SHA-256 (disk fault or hand edit)" for v in self.verify()]

    def rollback(self, version: int, *, bot: str = "default") -> int:
        """Save ``version`` again as the newest; history is never rewritten."""
        bot = to_text(bot, "bot")
        version = _to_version(version)
        with self.db.transaction() as conn:
            row = conn.execute(SELECT_VERSION, (bot, version)).fetchone()
            if row is None:
                raise NotFoundError(f"bot {show(bot)}: no saved state version {version}")
            state, problem = _verified(bot, row)
            if state is None:
                raise StateCorruptionError(f"bot {show(bot)}: cannot roll back to state version "
                                           f"{version}: it is corrupt ({problem})",
                                           version=version, bot=bot)
            data, digest, now = row[2], row[3], ts_in(self.db.now())
            new = conn.execute(NEXT_VERSION, (bot,)).fetchone()[0]
            conn.execute(INSERT_STATE, (bot, new, now, data.decode("utf-8"), digest, len(data), now))
            self.events.log("state_rollback", f"bot {show(bot)}: state version {version} saved "
                            f"again as version {new}", details={"bot": bot, "from_version": version,
                                                                "new_version": new})
        return new

    def prune(self, keep: int, *, bot: str = "default") -> int:
        """Delete all but the ``keep`` newest versions, never the newest one that verifies;
        returns how many were deleted."""
        bot = to_text(bot, "bot")
        keep = _to_version(keep, "keep")
        with self.db.transaction() as conn:
            versions = [r[0] for r in conn.execute(
                "SELECT version FROM bot_states WHERE bot = ? ORDER BY version DESC", (bot,))]
            if len(versions) <= keep:
                return 0
            newest_valid = None
            cursor = conn.execute(SELECT_NEWEST_FIRST, (bot,))
            try:
                for row in cursor:
                    if _checksum(row[2]) == row[3]:
                        newest_valid = row[0]
                        break
            finally:
                cursor.close()
            return conn.execute(DELETE_OLDER, (bot, versions[keep - 1], newest_valid)).rowcount


def _verified(bot, row) -> tuple[BotState | None, str | None]:
    """(state, None) when the row's bytes match its checksum and decode; else (None, why)."""
    version, saved_at, data, digest = row
    if _checksum(data) != digest:
        return None, "checksum mismatch"
    try:
        content = decode_payload(data)
    except (ValueError, ArithmeticError, TypeError, AttributeError, RecursionError):
        # AttributeError: a hand-written {"$escaped": 5} has no .items()
        return None, "checksum matches but the payload does not decode"
    if not isinstance(content, dict):
        return None, "checksum matches but the payload is not a JSON object"
    return BotState(positions=content.get("positions") or {},
                    balances=content.get("balances") or {},
                    configuration=content.get("configuration") or {},
                    extra=content.get("extra"), version=version, saved_at=ts_out(saved_at),
                    bot=bot), None
