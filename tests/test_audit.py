"""The audit trail (issue 20.3): every configuration change writes an event in the same
transaction, with before/after of the fields that changed and secrets masked."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from tradestore import TradeRepo
from tradestore._core.audit import MASK, changes, mask
from tradestore.errors import ConflictError, StoreError

from conftest import run_tradestore
from conftest import on_both_engines

repo = memory_repo = on_both_engines  # this file's stores: both engines


def audit(repo, entity=None):
    """Audit events oldest first (only change records, optionally of one entity)."""
    events = [e for e in repo.events.recent(limit=1000, event_type="audit")[::-1]
              if e.event_type == "audit"]
    return [e for e in events if entity is None or e.details["entity"] == entity]


def test_setting_create_update_delete(repo):
    repo.settings.set("risk.max", 2)
    repo.settings.set("risk.max", 3, description="per trade")
    repo.settings.set("risk.max", 3)  # no change: no event
    repo.settings.delete("risk.max")
    create, update, delete = audit(repo, "setting")
    assert create.details == {
        "entity": "setting", "key": "risk.max", "action": "create", "before": None,
        "after": {"value": "2", "value_type": "int", "description": None, "secret": False}}
    # only the two fields that changed, each side
    assert update.details["before"] == {"value": "2", "description": None}
    assert update.details["after"] == {"value": "3", "description": "per trade"}
    assert update.message == "setting risk.max: update (description, value)"
    assert delete.details["action"] == "delete" and delete.details["after"] is None
    assert delete.details["before"]["value"] == "3"


def test_secret_setting_is_masked_everywhere(repo):
    repo.settings.set("exchange.key", "abc123", secret=True)
    repo.settings.set("exchange.key", "xyz789")  # stays secret
    repo.settings.delete("exchange.key")
    create, update, delete = audit(repo, "setting")
    assert create.details["after"]["value"] == MASK
    # the change is reported, the values are not
    assert update.details["before"] == {"value": MASK} and update.details["after"] == {"value": MASK}
    assert delete.details["before"]["value"] == MASK
    text = repr([e for e in repo.events.recent(limit=100)])
    assert "abc123" not in text and "xyz789" not in text
    assert repo.db.scalar("SELECT count(*) FROM events WHERE details LIKE '%abc123%' "
                          "OR details LIKE '%xyz789%' OR message LIKE '%xyz789%'") == 0


def test_secret_named_config_fields_are_masked(repo):
    repo.strategies.create("grid", config={"levels": 5, "api_key": "K1",
                                           "auth": {"password": "P1"}})
    repo.strategies.update_config("grid", {"levels": 6, "api_key": "K2",
                                           "auth": {"password": "P1"}})
    create, update = audit(repo)
    assert create.details["after"]["config"] == {"levels": 5, "api_key": MASK,
                                                 "auth": {"password": MASK}}
    assert update.details["entity"] == "strategy_config"
    assert update.details["before"] == {"config_version": 1,
                                        "config": {"levels": 5, "api_key": MASK,
                                                   "auth": {"password": MASK}}}
    assert update.details["after"]["config_version"] == 2
    assert repo.db.scalar("SELECT count(*) FROM events WHERE details LIKE '%K2%'") == 0


def test_strategy_flags_and_mark_run(repo):
    repo.strategies.create("s1")
    repo.strategies.set_enabled("s1", False)
    repo.strategies.delete("s1")
    repo.strategies.mark_run("s1")  # a run, not a change: not audited
    actions = [(e.details["action"], e.details["before"], e.details["after"])
               for e in audit(repo, "strategy")]
    assert actions == [("create", None, actions[0][2]),
                       ("disable", {"enabled": True}, {"enabled": False}),
                       ("deactivate", {"active": True}, {"active": False})]


def test_accounts_and_cash_movements(repo):
    repo.accounts.create("main", base_currency="usdt", initial_cash="1000.50")
    repo.accounts.deposit("main", "250", note="top up")
    repo.accounts.withdraw("main", "100.25")
    create, deposit, withdraw = audit(repo)
    assert create.details["after"] == {"base_currency": "USDT", "initial_cash": "1000.50",
                                       "strategy": None}
    assert deposit.details["entity"] == "cash_movement" and deposit.details["key"] == "main"
    assert deposit.details["action"] == "deposit"
    assert deposit.details["after"]["amount"] == "250"
    assert deposit.details["after"]["note"] == "top up"
    assert withdraw.details["after"]["amount"] == "100.25"
    # the balance the events describe: 1000.50 + 250 - 100.25 = 1150.25
    assert repo.accounts.balance("main") == Decimal("1150.25")


def test_instrument_upsert_records_only_changes(repo):
    repo.instruments.upsert("BTC/USDT", tick_size="0.01", asset_class="crypto")
    repo.instruments.upsert("BTC/USDT", tick_size="0.1")
    repo.instruments.upsert("BTC/USDT", tick_size="0.1")  # same: nothing
    create, update = audit(repo, "instrument")
    assert create.details["after"]["tick_size"] == "0.01" and create.symbol == "BTC/USDT"
    assert update.details["before"] == {"tick_size": "0.01"}
    assert update.details["after"] == {"tick_size": "0.1"}


def test_order_status_changes_by_hand_and_by_fills(repo):
    order = repo.create_order("ETH/USDT", "BUY", "LIMIT", "2", price="100")
    repo.record_fill(order.id, "1", "100")        # PENDING -> PARTIALLY_FILLED
    repo.record_fill(order.id, "1", "100")        # -> FILLED
    other = repo.create_order("ETH/USDT", "SELL", "MARKET", "1")
    repo.cancel_order(other.id, "changed mind")   # PENDING -> CANCELLED
    moves = [(e.order_id, e.details["before"]["status"], e.details["after"]["status"])
             for e in audit(repo, "order")]
    assert moves == [(order.id, "PENDING", "PARTIALLY_FILLED"),
                     (order.id, "PARTIALLY_FILLED", "FILLED"),
                     (other.id, "PENDING", "CANCELLED")]
    assert audit(repo, "order")[-1].details["after"]["reason"] == "changed mind"


def test_change_and_event_roll_back_together(repo):
    repo.settings.set("a", 1)
    with pytest.raises(RuntimeError):
        with repo.transaction():
            repo.settings.set("a", 2)
            repo.accounts.create("x")
            raise RuntimeError("bot crashed")
    assert repo.settings.get("a") == 1
    assert [e.details["action"] for e in audit(repo)] == ["create"]
    # a refused change writes no event either
    repo.accounts.create("y")
    with pytest.raises(ConflictError):
        repo.accounts.withdraw("y", "5")
    assert [e.details["entity"] for e in audit(repo)] == ["setting", "account"]


def test_voided_fills_and_migrations_are_in_the_audit_view(tmp_path):
    path = tmp_path / "t.db"
    with TradeRepo(path) as repo:
        head = repo.current_version
        trade_id = repo.save_trade({"symbol": "BTC/USDT", "side": "BUY", "quantity": "1",
                                    "price": "10", "timestamp": "2024-01-01T00:00:00Z"})
        repo.void_trade(trade_id, "duplicate")
        repo.migrate(head - 1, force=True)
        repo.migrate()
        types = [e.event_type for e in repo.events.recent(event_type="audit")][::-1]
        assert types == ["trade_voided", "migration", "migration"]
        void = repo.events.recent(event_type="trade_voided")[0]
        assert void.details["before"] == {"voided_at": None, "void_reason": None}
        assert void.details["after"]["void_reason"] == "duplicate"
        # after(): the same family, in insertion order
        assert [e.event_type for e in repo.events.after(0, event_type="audit")] == types
        repo.settings.set("k", "v")
        assert [e.event_type for e in repo.events.recent(event_type="audit", limit=1)] == ["audit"]


def test_cli_events_type_audit(tmp_path):
    path = tmp_path / "t.db"
    with TradeRepo(path) as repo:
        repo.settings.set("exchange.secret", "hunter2", secret=True)
        repo.events.log("bot", "not an audit line")
    done = run_tradestore("--db", path, "events", "--type", "audit", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert "setting exchange.secret: create" in done.stdout
    assert "hunter2" not in done.stdout and "not an audit line" not in done.stdout


# ------------------------------------------------------------------ properties

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["a", "token", "Password", "x", "apiKey", "API_KEY"]), inner,
        max_size=3), max_leaves=10)


def _secret_leaves(value, under_secret=False):
    """Values under a secret-named key (that mask must hide)."""
    if isinstance(value, dict):
        for k, v in value.items():
            secret = any(w in k.lower() for w in ("token", "passw", "apikey", "api_key"))
            if secret and v is not None and not isinstance(v, bool):  # flags stay
                yield v
            else:
                yield from _secret_leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _secret_leaves(v)


@hsettings(max_examples=60)
@given(st.dictionaries(st.sampled_from(["a", "token", "x"]), json_values, max_size=3),
       st.dictionaries(st.sampled_from(["a", "token", "x"]), json_values, max_size=3))
def test_changes_report_exactly_the_differing_fields(before, after):
    names, b, a = changes(before, after)
    assert names == sorted(k for k in set(before) | set(after)
                           if before.get(k) != after.get(k))
    assert set(b) == set(a) == set(names)
    # nothing under a secret-named key survives masking
    masked = mask(after)
    assert "token" not in masked or masked["token"] in (MASK, None, True, False)
    for leaf in _secret_leaves(masked):
        assert leaf == MASK


def test_store_error_types_are_ours(repo):
    with pytest.raises(StoreError):
        repo.settings.set("k", "1", value_type="colour")
