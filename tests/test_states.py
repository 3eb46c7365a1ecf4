"""Bot state snapshots: typed round trips, checksums, corruption found for real."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import sqlite3
import warnings
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradestore import (BotState, NotFoundError, ReadOnlyError, StateCorruptionError,
                        StateCorruptionWarning, TradeRepo, ValidationError)
from tradestore._core.codec import canonical_json, to_tagged
from tradestore._core.db import Database
from tradestore._core.migrate import Migrator, load_migrations
from tradestore.state.states import (MAX_VERSION, SELECT_NEWEST_FIRST, SELECT_NEWEST_UP_TO,
                                     _fast_encode, decode_payload, encode_state, state_content)

from conftest import file_rows, on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


UTC = dt.timezone.utc


def sample_state(tag="A") -> BotState:
    return BotState(
        positions={"BTC": {"quantity": Decimal("0.50000000"), "avg_price": Decimal("42000.10"),
                           "opened": dt.datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC),
                           "levels": (Decimal("41000"), Decimal("43000.5"))}},
        balances={"USDT": Decimal("1000.00"), "BTC": Decimal("0.5")},
        configuration={"risk": Decimal("0.02"), "symbols": ["BTC/USDT"], "live": False},
        extra={"tag": tag, "day": dt.date(2026, 3, 1), "n": 7, "ratio": 0.25, "none": None})


def raw_rows(path):
    return file_rows(path, "SELECT bot, version, payload, sha256, size FROM bot_states "
                           "ORDER BY bot, version")


def raw_execute(path, sql, params=()):
    """A second, plain sqlite3 connection: what a hand edit in the shell does."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


# ------------------------------------------------------------------ round trips

def test_round_trip_keeps_types_and_digits(repo):
    state = sample_state()
    assert repo.save_bot_state(state) == 1
    got = repo.load_bot_state()
    assert got.version == 1 and got.bot == "default"
    assert got.saved_at.tzinfo is not None
    qty = got.positions["BTC"]["quantity"]
    assert isinstance(qty, Decimal) and str(qty) == "0.50000000"
    assert got.positions["BTC"]["opened"] == dt.datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)
    assert got.positions["BTC"]["levels"] == [Decimal("41000"), Decimal("43000.5")]
    assert str(got.balances["USDT"]) == "1000.00"
    day = got.extra["day"]
    assert type(day) is dt.date and day == dt.date(2026, 3, 1)
    assert got.configuration == {"risk": Decimal("0.02"), "symbols": ["BTC/USDT"], "live": False}


def test_tag_lookalike_user_data_is_escaped(repo):
    tricky = {"$decimal": "not a number", "inner": {"$date": "2026-01-01"},
              "list": [{"$escaped": {"x": 1}}, "$decimal", '{"$decimal":"1"}']}
    repo.save_bot_state(BotState(extra=tricky))
    assert repo.load_bot_state().extra == tricky


def test_versions_increase_per_bot(repo):
    assert [repo.save_bot_state({"extra": i}) for i in range(3)] == [1, 2, 3]
    assert repo.save_bot_state({"extra": "b"}, bot="other") == 1
    assert repo.load_bot_state().extra == 2
    assert repo.load_bot_state(bot="other").extra == "b"
    assert repo.load_bot_state(1).extra == 0


def test_nothing_saved_is_none_and_missing_version_is_not_found(repo):
    assert repo.load_bot_state() is None
    repo.save_bot_state(BotState())
    with pytest.raises(NotFoundError, match="version 5"):
        repo.load_bot_state(5)
    with pytest.raises(ValidationError):
        repo.load_bot_state(0)


def test_mapping_is_accepted_and_unknown_keys_go_to_extra(repo):
    repo.save_bot_state({"positions": {"ETH": Decimal("2")}, "cash": Decimal("10.5"), "step": 3})
    got = repo.load_bot_state()
    assert got.positions == {"ETH": Decimal("2")}
    assert got.extra == {"cash": Decimal("10.5"), "step": 3}
    assert got.balances == {} and got.configuration == {}
    with pytest.raises(ValidationError, match="extra"):
        repo.save_bot_state({"extra": 1, "cash": 2})
    with pytest.raises(ValidationError, match="positions"):
        repo.save_bot_state({"positions": [1, 2]})
    with pytest.raises(ValidationError):
        repo.save_bot_state(["not", "a", "mapping"])


def test_stored_payload_is_canonical_and_checksum_is_of_its_bytes(file_repo):
    file_repo.save_bot_state(sample_state())
    [(bot, version, payload, digest, size)] = raw_rows(file_repo.path)
    assert payload == json.dumps(json.loads(payload), sort_keys=True, separators=(",", ":"),
                                 ensure_ascii=False)
    assert digest == hashlib.sha256(payload.encode("utf-8")).hexdigest()
    assert size == len(payload.encode("utf-8"))
    assert json.loads(payload)["positions"]["BTC"]["quantity"] == {"$decimal": "0.50000000"}


def test_fast_encoder_is_used_for_plain_states():
    content = state_content(sample_state())
    assert _fast_encode(content) == canonical_json(to_tagged(content))


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("state, path", [
    (lambda s: BotState(positions={"BTC": {"opened": s}}), "positions.BTC.opened"),
    (lambda s: BotState(extra={"seen": {object(), object()}}), "extra.seen"),
    (lambda s: BotState(extra=[1, {"x": float("nan")}]), "extra[1].x"),
    (lambda s: BotState(balances={"USD": Decimal("Infinity")}), "balances.USD"),
    (lambda s: BotState(configuration={"by_id": {1: "a"}}), "configuration.by_id"),
])
def test_non_serialisable_names_the_path_and_writes_nothing(repo, state, path):
    repo.save_bot_state(BotState(extra="before"))
    with socket.socket() as sock:
        with pytest.raises(ValidationError) as info:
            repo.save_bot_state(state(sock))
    assert info.value.field == path
    assert path in str(info.value)
    assert [v.version for v in repo.list_bot_states()] == [1]
    assert repo.load_bot_state().extra == "before"


def test_circular_state_is_a_validation_error(repo):
    loop = []
    loop.append(loop)
    with pytest.raises(ValidationError):
        repo.save_bot_state(BotState(extra=loop))
    assert repo.list_bot_states() == []


# ------------------------------------------------------------------ property

finite_decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda d: abs(d.adjusted()) < 40)
naive_or_aware = st.one_of(
    st.datetimes(),
    st.datetimes(timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=5, minutes=30))])))
keys = st.one_of(st.text(max_size=8), st.sampled_from(["$decimal", "$date", "$datetime",
                                                        "$escaped", "positions"]))
# integers within 64 bits: a larger one is refused (test_integers_past_64_bits_are_refused)
leaves = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 63, 2 ** 63 - 1), st.text(max_size=10),
                   st.floats(allow_nan=False, allow_infinity=False), finite_decimals,
                   naive_or_aware, st.dates())
values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(keys, inner, max_size=4)), max_leaves=20)
states = st.builds(BotState, positions=st.dictionaries(keys, values, max_size=3),
                   balances=st.dictionaries(st.text(max_size=5), finite_decimals, max_size=3),
                   configuration=st.dictionaries(keys, values, max_size=3), extra=values)


def strict(obj):
    """A comparable form that tells types apart (Decimal('1.10') != Decimal('1.1'),
    date != datetime, naive != aware, 1 != 1.0 != True); tuples are expected back as lists."""
    if isinstance(obj, (list, tuple)):
        return ("list", [strict(x) for x in obj])
    if isinstance(obj, dict):
        return ("dict", sorted((k, strict(v)) for k, v in obj.items()))
    if isinstance(obj, dt.datetime):
        return ("datetime", obj.isoformat())
    if isinstance(obj, float):
        return ("float", obj.hex())
    return (type(obj).__name__, str(obj))


@pytest.fixture(scope="module")
def shared_repo():
    with TradeRepo(":memory:") as store:
        yield store


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(state=states)
def test_property_round_trip_through_the_store(shared_repo, state):
    version = shared_repo.save_bot_state(state, bot="prop")
    got = shared_repo.load_bot_state(version, bot="prop")
    assert strict(got.to_dict()) == strict(state.to_dict())


@given(state=states)
def test_property_fast_and_careful_encoders_agree(state):
    content = state_content(state)
    fast = _fast_encode(content)
    careful = canonical_json(to_tagged(content))
    assert fast is None or fast == careful
    assert encode_state(content) == careful.encode("utf-8")


# ------------------------------------------------------------------ corruption, for real

def three_versions(path):
    with TradeRepo(path) as repo:
        for tag in ("A", "B", "C-MARKER-7731"):
            repo.save_bot_state(sample_state(tag))


def corrupt_by_hand(path, version, bot="default"):
    raw_execute(path, "UPDATE bot_states SET payload = replace(payload, '42000.10', '42000.90') "
                      "WHERE bot = ? AND version = ?", (bot, version))


def test_hand_edit_falls_back_with_warning_and_event(db_path):
    three_versions(db_path)
    corrupt_by_hand(db_path, 3)
    with TradeRepo(db_path) as repo:
        with pytest.warns(StateCorruptionWarning, match=r"version\(s\) 3 .*loaded version 2"):
            got = repo.load_bot_state()
        assert got.version == 2 and got.extra["tag"] == "B"
        [event] = repo.events.recent(event_type="state_corruption")
        assert event.severity == "error"
        assert event.details == {"bot": "default", "bad_versions": [3], "loaded_version": 2}
        with pytest.raises(StateCorruptionError) as info:
            repo.load_bot_state(strict=True)
        assert info.value.version == 3 and info.value.bot == "default"
        with pytest.raises(StateCorruptionError, match="version 3"):
            repo.load_bot_state(3)
        assert [(v.version, v.ok) for v in repo.list_bot_states()] == [(1, True), (2, True),
                                                                      (3, False)]
        assert [(v.bot, v.version) for v in repo.verify_bot_states()] == [("default", 3)]
        assert repo.check() and "version 3" in repo.check()[0]


def test_check_and_verify_exit_codes(db_path, cli):
    three_versions(db_path)
    assert cli("--db", db_path, "check").code == 0
    assert cli("--db", db_path, "state", "verify").code == 0
    corrupt_by_hand(db_path, 2)
    result = cli("--db", db_path, "check")
    assert result.code == 1 and "version 2" in result.out
    result = cli("--db", db_path, "state", "verify")
    assert result.code == 1 and "version 2" in result.out and "version 3" not in result.out


def flip_in_file(path, marker: bytes, replacement: bytes):
    data = path.read_bytes()
    assert data.count(marker) == 1, "the marker must be in the main file exactly once"
    path.write_bytes(data.replace(marker, replacement))


@pytest.mark.parametrize("replacement", [b"C-MARKER-7732", b"C-MARKER-77\xff1"])
def test_disk_fault_in_the_file_is_found(db_path, replacement):
    three_versions(db_path)  # closed: the WAL is checkpointed into the main file
    flip_in_file(db_path, b"C-MARKER-7731", replacement)
    with TradeRepo(db_path) as repo:
        assert repo.db.scalar("PRAGMA integrity_check") == "ok"  # SQLite cannot see it
        with pytest.warns(StateCorruptionWarning):
            assert repo.load_bot_state().version == 2
        assert [v.version for v in repo.verify_bot_states()] == [3]


def test_every_version_corrupt_raises_even_without_strict(db_path):
    three_versions(db_path)
    raw_execute(db_path, "UPDATE bot_states SET payload = payload || ' '")
    with TradeRepo(db_path) as repo:
        with pytest.raises(StateCorruptionError, match="no saved version verifies"):
            repo.load_bot_state()


def test_read_only_store_warns_but_records_nothing(db_path):
    three_versions(db_path)
    corrupt_by_hand(db_path, 3)
    with TradeRepo(db_path, readonly=True) as repo:
        with pytest.warns(StateCorruptionWarning, match="not recorded"):
            assert repo.load_bot_state().version == 2
        assert repo.events.recent(event_type="state_corruption") == []
        with pytest.raises(ReadOnlyError):
            repo.save_bot_state(BotState())


# ------------------------------------------------------------------ rollback and prune

def test_rollback_saves_a_copy_as_newest(file_repo):
    for tag in "ABC":
        file_repo.save_bot_state(sample_state(tag))
    assert file_repo.rollback_bot_state(1) == 4
    assert file_repo.load_bot_state().extra["tag"] == "A"
    rows = raw_rows(file_repo.path)
    assert [r[1] for r in rows] == [1, 2, 3, 4]
    assert rows[3][2:] == rows[0][2:]
    assert file_repo.events.recent(event_type="state_rollback")[0].details["from_version"] == 1
    with pytest.raises(NotFoundError):
        file_repo.rollback_bot_state(9)


def test_rollback_refuses_a_corrupt_version(file_repo):
    file_repo.save_bot_state(sample_state())
    corrupt_by_hand(file_repo.path, 1)
    with pytest.raises(StateCorruptionError):
        file_repo.rollback_bot_state(1)
    assert len(raw_rows(file_repo.path)) == 1


def test_prune_keeps_newest_and_versions_are_not_reused(repo):
    for i in range(5):
        repo.save_bot_state({"extra": i})
    repo.save_bot_state({"extra": "other"}, bot="b")
    assert repo.prune_bot_states(2) == 3
    assert [v.version for v in repo.list_bot_states()] == [4, 5]
    assert [v.version for v in repo.list_bot_states("b")] == [1]
    assert repo.prune_bot_states(2) == 0
    assert repo.save_bot_state({"extra": 5}) == 6
    with pytest.raises(ValidationError):
        repo.prune_bot_states(0)


def test_prune_never_deletes_the_newest_valid_version(file_repo):
    for i in range(5):
        file_repo.save_bot_state(sample_state(str(i)))
    corrupt_by_hand(file_repo.path, 4)
    corrupt_by_hand(file_repo.path, 5)
    assert file_repo.prune_bot_states(2) == 2
    assert [v.version for v in file_repo.list_bot_states()] == [3, 4, 5]
    with pytest.warns(StateCorruptionWarning):
        assert file_repo.load_bot_state().version == 3


# ------------------------------------------------------------------ store plumbing

def test_concurrent_writers_get_distinct_versions(db_path):
    with TradeRepo(db_path) as one, TradeRepo(db_path) as two:
        versions = [store.save_bot_state({"extra": i}) for i in range(6)
                    for store in ((one, two)[i % 2],)]
    assert versions == [1, 2, 3, 4, 5, 6]


def test_newest_first_read_uses_the_index(sqlite_repo):
    plan = " ".join(str(r[-1]) for r in sqlite_repo.db.query("EXPLAIN QUERY PLAN " + SELECT_NEWEST_FIRST,
                                                      ("default",)))
    assert "USING INDEX bot_states_by_bot_version" in plan


def test_newest_version_lookup_is_one_index_seek(sqlite_repo):
    """load reads one row per query, newest first, each a seek on (bot, version)."""
    plan = " ".join(str(r[-1]) for r in sqlite_repo.db.query(
        "EXPLAIN QUERY PLAN " + SELECT_NEWEST_UP_TO, ("default", MAX_VERSION)))
    assert "USING INDEX bot_states_by_bot_version (bot=? AND version<?)" in plan
    assert "TEMP B-TREE" not in plan


def test_migration_up_and_down_in_isolation(tmp_path):
    db = Database(tmp_path / "m.db")
    try:
        migrator = Migrator(db, load_migrations()[:3])
        migrator.migrate()
        tables = {r[0] for r in db.query("SELECT name FROM sqlite_master")}
        assert {"bot_states", "portfolio_snapshots"} <= tables
        migrator.migrate(2)
        left = {r[0] for r in db.query("SELECT name FROM sqlite_master")}
        assert left == tables - {"bot_states", "portfolio_snapshots", "bot_states_by_bot_version",
                                 "portfolio_snapshots_by_account_time"}
    finally:
        db.close()


def test_check_on_an_older_schema_does_not_fail(tmp_path):
    path = tmp_path / "old.db"
    db = Database(path)
    Migrator(db, load_migrations()[:2]).migrate()
    db.close()
    with TradeRepo.inspect(path) as repo:
        assert repo.states.problems() == []


def test_schema_refuses_a_bad_hand_insert(file_repo):
    with pytest.raises(sqlite3.IntegrityError):
        raw_execute(file_repo.path, "INSERT INTO bot_states (bot, version, saved_at, payload, "
                    "sha256, size, created_at) VALUES ('x', 1, 'yesterday', '{}', 'abc', 2, "
                    "'2026-01-01T00:00:00.000000Z')")


# ------------------------------------------------------------------ CLI

def test_cli_show_history_rollback(db_path, cli):
    three_versions(db_path)
    result = cli("--db", db_path, "state", "show")
    assert result.code == 0 and "version:   3" in result.out and "C-MARKER-7731" in result.out
    result = cli("--db", db_path, "state", "show", "--version", "1", "--format", "json")
    shown = json.loads(result.out)
    assert shown["version"] == 1 and shown["positions"]["BTC"]["quantity"] == "0.50000000"
    result = cli("--db", db_path, "state", "history")
    lines = result.out.splitlines()
    assert result.code == 0 and len(lines) == 4 and all(len(line) <= 80 for line in lines)
    result = cli("--db", db_path, "state", "rollback", "2")
    assert result.code == 0 and "version 4" in result.out
    history = json.loads(cli("--db", db_path, "state", "history", "--format", "json").out)
    assert [h["version"] for h in history] == [1, 2, 3, 4]
    assert history[3]["sha256"] == history[1]["sha256"]


def test_cli_show_reports_fallback_and_errors(db_path, cli):
    three_versions(db_path)
    corrupt_by_hand(db_path, 3)
    result = cli("--db", db_path, "state", "show")
    assert result.code == 0 and "version:   2" in result.out
    assert "warning" in result.err and "3" in result.err
    result = cli("--db", db_path, "state", "show", "--version", "9")
    assert result.code == 1 and "version 9" in result.err and "Traceback" not in result.err
    result = cli("--db", db_path, "state", "show", "--bot", "nobody")
    assert result.code == 1 and "no saved state" in result.err


def test_cli_commands_have_help(cli):
    for argv in (["state"], ["state", "show"], ["state", "history"], ["state", "verify"],
                 ["state", "rollback"], ["equity"]):
        result = cli(*argv, "--help")
        assert result.code == 0 and "usage" in result.out and len(result.out) > 80


def test_warning_can_be_made_an_error_by_a_filter(db_path):
    three_versions(db_path)
    corrupt_by_hand(db_path, 3)
    with TradeRepo(db_path) as repo, warnings.catch_warnings():
        warnings.simplefilter("error", StateCorruptionWarning)
        with pytest.raises(StateCorruptionWarning):
            repo.load_bot_state()


@pytest.mark.parametrize("number", [2 ** 63, -2 ** 63 - 1, 10 ** 400, 10 ** 5000],
                         ids=["2**63", "-2**63-1", "10**400", "10**5000"])
def test_integers_past_64_bits_are_refused(number):
    repo = TradeRepo(":memory:")
    with pytest.raises(ValidationError, match=r"extra\.deep\[1\].*64-bit range"):
        repo.save_bot_state({"extra": {"deep": [1, number]}})
    assert repo.list_bot_states() == []
    # the edges themselves are kept exactly
    version = repo.save_bot_state({"extra": {"deep": [2 ** 63 - 1, -2 ** 63]}})
    assert repo.load_bot_state(version).extra == {"deep": [2 ** 63 - 1, -2 ** 63]}


def test_numpy_scalars_are_stored_as_plain_numbers():
    import numpy as np  # a test dependency (setup.cfg [test])
    repo = TradeRepo(":memory:")
    version = repo.save_bot_state({"extra": {"n": np.int64(7), "x": np.float64(0.1),
                                             "f": np.float32(0.5)}})
    assert repo.load_bot_state(version).extra == {"n": 7, "x": 0.1, "f": 0.5}


# ------------------------------------------------------------------ the fast encoder's edges

def test_positive_exponent_and_tiny_decimals_survive_exactly(repo):
    """Decimal('1E+5') has exponent 5: it must come back as 1E+5, not 100000 (the fast
    encoder once wrote format(d, 'f')). 1.0E-60 is written plain (62 characters <= 100),
    1E-200 keeps its exponent (plain would be 202 characters), -0 keeps its sign."""
    balances = {"a": Decimal("1E+5"), "b": Decimal("1.0E-60"), "c": Decimal("1E-200"),
                "d": Decimal("-0"), "e": Decimal("0E-8"), "f": Decimal("1.50E+3")}
    content = state_content(BotState(balances=balances))
    text = _fast_encode(content)
    assert text is not None  # the fast path itself is under test here
    assert text == canonical_json(to_tagged(content))
    stored = json.loads(text)["balances"]
    assert stored == {"a": {"$decimal": "1E+5"},
                      "b": {"$decimal": "0." + "0" * 59 + "10"},
                      "c": {"$decimal": "1E-200"}, "d": {"$decimal": "-0"},
                      "e": {"$decimal": "0.00000000"}, "f": {"$decimal": "1.50E+3"}}
    version = repo.save_bot_state(BotState(balances=balances))
    got = repo.load_bot_state(version).balances
    assert {k: str(v) for k, v in got.items()} == {
        "a": "1E+5", "b": "1.0E-60", "c": "1E-200", "d": "-0", "e": "0E-8", "f": "1.50E+3"}


@pytest.mark.parametrize("number, fast", [(2 ** 63 - 1, True), (-2 ** 63, True),
                                          (2 ** 63, False), (-2 ** 63 - 1, False)])
def test_fast_encoder_takes_64_bit_ints_and_leaves_larger_ones_to_the_careful_path(number, fast):
    content = state_content(BotState(extra={"deep": [[{"n": number}]]}))
    text = _fast_encode(content)
    assert (text is not None) is fast
    if fast:
        assert text == '{"balances":{},"configuration":{},"extra":{"deep":[[{"n":%d}]]},' \
                       '"positions":{}}' % number


def test_fast_encoder_leaves_non_finite_decimals_to_the_careful_path(repo):
    content = state_content(BotState(extra=[Decimal("1"), [Decimal("NaN")]]))
    assert _fast_encode(content) is None
    with pytest.raises(ValidationError, match="finite"):
        repo.save_bot_state(BotState(extra=[Decimal("1"), [Decimal("NaN")]]))
    assert repo.list_bot_states() == []


any_decimals = st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(int(c) for c in str(digits)), exponent)),
    st.integers(0, 1), st.integers(0, 10 ** 40), st.integers(-130, 30))


@given(numbers=st.dictionaries(st.text(st.characters(blacklist_characters="$",
                                                     blacklist_categories=("Cs",)), max_size=4),
                               any_decimals, max_size=6),
       moments=st.lists(naive_or_aware, max_size=3),
       ints=st.lists(st.integers(-2 ** 64, 2 ** 64), max_size=3))
def test_property_fast_encoder_is_used_and_agrees_for_any_exponent(numbers, moments, ints):
    """No tag look-alikes or lone surrogates here, so whenever the careful encoder accepts
    the state the fast one must take it too and write the same text; an int past 64 bits
    goes to the careful path, which refuses it."""
    content = state_content(BotState(balances=numbers, extra={"m": moments, "i": ints}))
    try:
        careful = canonical_json(to_tagged(content))
    except ValidationError:
        careful = None
    fast = _fast_encode(content)
    assert fast == careful
    if fast is not None:
        assert strict(decode_payload(fast.encode("utf-8"))) == strict(content)


@pytest.mark.parametrize("inner", ['{"$escaped":5}', '{"$decimal":"not a number"}',
                                   '{"$datetime":7}'])
def test_hand_written_payload_with_a_matching_checksum_but_a_bad_tag_is_corrupt(db_path, inner):
    """Someone rewrote the payload and its checksum: it verifies but does not decode, so
    load falls back to the older version with a warning instead of raising a raw error."""
    with TradeRepo(db_path) as repo:
        repo.save_bot_state(sample_state("old"))
        repo.save_bot_state(sample_state("new"))
    payload = '{"balances":{},"configuration":{},"extra":null,"positions":{"x":%s}}' % inner
    raw_execute(db_path, "UPDATE bot_states SET payload = ?, sha256 = ? WHERE version = 2",
                (payload, hashlib.sha256(payload.encode("utf-8")).hexdigest()))
    with TradeRepo(db_path) as repo:
        with pytest.warns(StateCorruptionWarning, match="does not decode"):
            state = repo.load_bot_state()
        assert state.version == 1 and state.extra["tag"] == "old"
        with pytest.raises(StateCorruptionError, match="does not decode"):
            repo.load_bot_state(2)
