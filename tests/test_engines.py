"""One API, two engines (issue 19): which engine a location names, masked passwords, the
driver as an optional dependency, the SQL translation, and a recorded bot replayed on
SQLite and PostgreSQL returning equal values, digit for digit."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tradestore import StoreError, TradeRepo, ValidationError
from tradestore._core.pg import PER_ENGINE, translate_sql
from tradestore._core.url import POSTGRESQL, SQLITE, mask_url, parse_target
from tradestore.analytics.html import render_html
from tradestore.tools.demo import Simulation
from tradestore.tools.futures_demo import run_futures_bot

ROOT = Path(__file__).resolve().parent.parent
END = datetime(2026, 3, 1, tzinfo=timezone.utc)


# ------------------------------------------------------------------ engine selection

@pytest.mark.parametrize("given, engine, location", [
    ("trades.db", SQLITE, "trades.db"),
    ("sqlite:///trades.db", SQLITE, "trades.db"),             # relative: three slashes
    ("sqlite:////var/lib/bot.db", SQLITE, "/var/lib/bot.db"),  # absolute: four
    ("sqlite:///:memory:", SQLITE, ":memory:"),
    (":memory:", SQLITE, ":memory:"),
    ("sqlite:///my%20bot.db", SQLITE, "my bot.db"),
    ("postgresql://bot@db.example/fleet", POSTGRESQL, "postgresql://bot@db.example/fleet"),
    ("postgres://bot@db.example/fleet", POSTGRESQL, "postgres://bot@db.example/fleet"),
    ("C:/bots/trades.db", SQLITE, "C:/bots/trades.db"),        # not a scheme: no "://"
])
def test_a_location_names_its_engine(given, engine, location):
    target = parse_target(given)
    assert (target.engine, target.location) == (engine, location)


@pytest.mark.parametrize("given", ["mysql://u:pw@h/db", "sqlite://trades.db", "sqlite:///"])
def test_an_unknown_url_is_refused_with_the_password_masked(given):
    with pytest.raises(ValidationError, match="^url: ") as info:
        parse_target(given)
    assert "pw" not in str(info.value)


@pytest.mark.parametrize("url, shown", [
    ("postgresql://bot:s3cret@h:5432/db", "postgresql://bot:******@h:5432/db"),
    ("postgresql://bot:s3cret@h/db?sslmode=require", "postgresql://bot:******@h/db?sslmode=require"),
    ("postgresql://h/db?user=bot&password=s3cret", "postgresql://h/db?user=bot&password=******"),
    ("postgresql://bot@h/db", "postgresql://bot@h/db"),
    ("postgresql://bot:@h/db", "postgresql://bot:******@h/db"),
])
def test_passwords_are_masked(url, shown):
    assert mask_url(url) == shown
    assert parse_target(url).shown == shown and "s3cret" not in repr(parse_target(url))


def test_no_location_reads_database_url_then_trades_db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from_env.db")
    with TradeRepo() as repo:
        assert repo.path == "from_env.db"
    monkeypatch.delenv("DATABASE_URL")
    with TradeRepo(None) as repo:
        assert repo.path == "trades.db"
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["from_env.db", "trades.db"]


def test_the_driver_is_optional_and_its_absence_says_what_to_install(tmp_path):
    """A SQLite user never imports psycopg; a postgresql:// store without it names the
    extra to install (run where psycopg cannot be imported)."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['psycopg'] = None\n")
    script = (
        "import sys\n"
        "from tradestore import TradeRepo, StoreError\n"
        "TradeRepo(':memory:').close()\n"
        "assert 'psycopg' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "try:\n"
        "    TradeRepo('postgresql://bot:s3cret@127.0.0.1:1/db')\n"
        "except StoreError as exc:\n"
        "    print(exc)\n")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pip install 'tradestore[postgres]'" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr


@pytest.mark.parametrize("url", ["postgresql://bot:s3cret@127.0.0.1:notaport/db",
                                 "postgresql://bot:s3cret@127.0.0.1:1/db",
                                 "postgresql://127.0.0.1:1/db?password=s3cret&connect_timeout=2"])
def test_a_server_that_cannot_be_reached_is_a_store_error_without_the_password(url):
    pytest.importorskip("psycopg", reason="pip install 'tradestore[postgres]'")
    with pytest.raises(StoreError) as info:
        TradeRepo(url)
    assert "s3cret" not in str(info.value) and "******" in str(info.value)


def test_a_sqlite_store_does_not_load_the_driver():
    done = subprocess.run([sys.executable, "-c", "import sys, tradestore\n"
                           "tradestore.TradeRepo(':memory:').close()\n"
                           "print('psycopg' in sys.modules)"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


# ------------------------------------------------------------------ translation

@pytest.mark.parametrize("sqlite, postgresql", [
    ("SELECT a FROM t WHERE x = ? AND y = ?", "SELECT a FROM t WHERE x = %s AND y = %s"),
    ("SELECT a FROM t WHERE x = :x", "SELECT a FROM t WHERE x = %(x)s"),
    # a NULL test types its parameter as text, a named one through a copy of it
    ("WHERE (:a IS NULL OR a = :a)", "WHERE (CAST(%(a__null)s AS text) IS NULL OR a = %(a)s)"),
    ("WHERE ? IS NOT NULL", "WHERE CAST(%s AS text) IS NOT NULL"),
    # literals, quoted names, comments and casts are left alone; % is doubled
    ("SELECT 'a:b ? 5%', \"c?\" -- d ?\n, e::text", "SELECT 'a:b ? 5%%', \"c?\" -- d ?\n, e::text"),
    ("WHERE name LIKE ? || '%'", "WHERE name LIKE %s || '%%'"),
    ("ORDER BY pnl COLLATE decimal DESC", "ORDER BY pnl DESC"),
    ("FROM trades INDEXED BY trades_by_time WHERE", "FROM trades WHERE"),
    # SQLite's IS / IS NOT of a value: NULL-safe equality
    ("WHERE v IS NOT ? AND w IS :w", "WHERE v IS DISTINCT FROM %s AND w IS NOT DISTINCT FROM %(w)s"),
    ("LIMIT -1 OFFSET ?", "LIMIT ALL OFFSET %s"),
    # SQLite: a negative limit is no limit; PostgreSQL: NULL is
    ("LIMIT ? OFFSET ?", "LIMIT nullif(greatest(%s, -1), -1) OFFSET %s"),
    ("LIMIT :n", "LIMIT nullif(greatest(%(n)s, -1), -1)"),
    # a text column's stored bytes (bot states' checksums are over them)
    ("SELECT CAST(payload AS BLOB) FROM s", "SELECT convert_to(payload, 'UTF8') FROM s"),
])
def test_sql_is_translated_mechanically(sqlite, postgresql):
    assert translate_sql(sqlite)[0] == postgresql


def test_a_bool_binds_as_sqlite_binds_it(store):
    """Flags are integers on both engines; a Python bool binds as 1 or 0 on both."""
    assert store.db.query_one("SELECT ? + 0, ? + 0", (True, False)) == (1, 0)


def test_a_nul_in_text_is_named_on_postgresql_and_kept_on_sqlite(store):
    """SQLite keeps a NUL inside text; PostgreSQL cannot: a ValidationError naming the
    parameter, nothing written."""
    fill = {"symbol": "BTC/USDT", "side": "BUY", "quantity": "1", "price": "1",
            "strategy": "a\x00b"}
    if store.db.engine == "sqlite":
        assert store.get_trade(store.save_trade(fill)).strategy == "a\x00b"
        return
    with pytest.raises(ValidationError, match="holds a NUL character") as info:
        store.save_trade(fill)
    assert info.value.value == "a\x00b" and store.get_trade_history(days=None) == []


def test_every_per_engine_statement_differs_from_its_sqlite_form():
    """A per_engine pair whose replace() matched nothing would silently share SQLite's."""
    assert len(PER_ENGINE) >= 3
    for sqlite_sql, pg_sql in PER_ENGINE.items():
        assert sqlite_sql != pg_sql, sqlite_sql


# ------------------------------------------------------------------ both engines, one bot

def run_bot(repo):
    """Ten simulated days of the demo's spot bot and two of its futures bot."""
    Simulation(repo, days=10, seed=11, end=END).run()
    run_futures_bot(repo, days=3, seed=11, end=END)


def values(obj):
    """A returned value as plain data, for comparing whole results."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: values(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: values(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [values(v) for v in obj]
    if hasattr(obj, "as_tuple") and hasattr(obj, "quantize"):  # Decimal: the same digits
        return ("Decimal", str(obj))
    return obj


def trips(positions) -> list:
    """Round trips without their ids: PostgreSQL draws new round trips' ids from the
    identity sequence in blocks (record/trades.py RESERVE_POSITION_IDS), so they may
    differ from SQLite's next-free ids; every figure must not."""
    return [dataclasses.replace(p, id=None) for p in positions]


def answers(repo) -> dict:
    """Everything a bot or a dashboard asks of the recorded bot."""
    closed = repo.get_closed_positions(days=None)
    return {
        "history": repo.get_trade_history(days=None),
        "history_newest_pnl": repo.get_trade_history(days=None, order_by="pnl",
                                                     newest_first=True, limit=25),
        "history_window": repo.get_trade_history("BTC/USDT", days=3, until=END),
        "open": trips(repo.get_open_positions()),
        "closed": trips(closed),
        "round_trip_fills": [repo.get_round_trip_fills(p.id) for p in closed[:20]],
        "orders": repo.get_recent_orders(limit=1000),
        "open_orders": repo.get_open_orders(),
        "statistics": repo.get_statistics_by_currency(days=None),
        "statistics_30": repo.get_statistics_by_currency(days=30, until=END),
        "metrics": repo.calculate_performance_metrics(days=None, until=END, currency="USDT"),
        "metrics_7": repo.calculate_performance_metrics(days=7, until=END, currency="USDT"),
        "metrics_btc": repo.calculate_performance_metrics(days=None, until=END,
                                                          currency="BTC"),
        "strategies": repo.get_strategy_performance(days=None),
        "symbols": repo.get_symbol_performance(days=None),
        "equity": repo.get_portfolio_value_history(days=None, until=END),
        "state": repo.load_bot_state(),
        "states": repo.list_bot_states(),
        # the default account is made with the store (its created_at is that moment)
        "accounts": [dataclasses.replace(a, created_at=None) for a in repo.accounts.list()],
        "account_summary": [{k: v for k, v in a.items() if k != "created_at"}
                            for a in repo.accounts.summary()],
        # the page without the round trips' ids (see trips)
        "html": re.sub(r'<tr><td class="num">\d+</td>', "<tr><td>#</td>", render_html(
            repo, now=END, days=None, account="default", source="the bot")),
        "derived_problems": repo.derived_problems(),
        "check": repo.check(),
    }


def test_a_recorded_bot_answers_the_same_on_both_engines(pg_url):
    with TradeRepo(":memory:") as lite, TradeRepo(pg_url) as server:
        run_bot(lite)
        run_bot(server)
        expected, got = values(answers(lite)), values(answers(server))
    assert len(expected["history"]) > 50 and expected["closed"]  # the bot traded
    assert expected["derived_problems"] == [] and expected["check"] == []
    for name in expected:
        assert got[name] == expected[name], name


# ------------------------------------------------------------------ errors on a server

def test_errors_and_repr_never_show_the_password(pg_server, pg_url):
    url = pg_url.replace("postgres@", "postgres:s3cret@")  # trust: the password is not checked
    with TradeRepo(url) as repo:
        assert "s3cret" not in repr(repo) + repo.path + str(repo.status()["path"])
        assert "******" in repo.path
    wrong = f"postgresql://postgres:s3cret@127.0.0.1:{pg_server.port}/no_such_database"
    with pytest.raises(StoreError) as info:
        TradeRepo(wrong)
    assert "s3cret" not in str(info.value) and "no_such_database" in str(info.value)
