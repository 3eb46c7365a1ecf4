"""Operations on a server store through the CLI (issue 19.1, 19.6): --db takes a path,
sqlite:/// or postgresql:// (then $TRADESTORE_DB, $DATABASE_URL, ./trades.db); status,
check, export and import on PostgreSQL; what stays SQLite's is refused naming what to
use; a password is never printed. Real subprocesses, the session's throwaway server."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from tests.conftest import run_tradestore
from tradestore import TradeRepo
from tradestore._core.migrate import load_migrations

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
SECRET = "s3cr3t-pw"


def env(**values):
    """The environment of a subprocess with these variables (None: unset)."""
    out = {k: v for k, v in os.environ.items()
           if k not in ("TRADESTORE_DB", "DATABASE_URL", *values)}
    out.update({k: v for k, v in values.items() if v is not None})
    return out


def with_password(url):
    # the throwaway server trusts 127.0.0.1: a password in the URL is accepted unread
    return url.replace("postgres@", f"postgres:{SECRET}@", 1)


def seed(repo):
    order = repo.create_order("BTC/USDT", "BUY", "limit", "0.5", price="43000.10")
    repo.record_fill(order.id, "0.5", "43000.10", fees="0.02", timestamp=T0, external_id="f1")
    repo.save_trade({"symbol": "BTC/USDT", "side": "SELL", "quantity": "0.5",
                     "price": "43100.00", "fees": "0.03", "external_id": "f2",
                     "timestamp": T0.replace(hour=10)})


# ---------------------------------------------------------------- which store (SQLite)
def test_db_default_order(tmp_path):
    """--db, else $TRADESTORE_DB, else $DATABASE_URL (a URL), else ./trades.db."""
    done = run_tradestore("init", cwd=tmp_path, env=env(DATABASE_URL="sqlite:///from_url.db"))
    assert done.returncode == 0, done.stderr
    assert "from_url.db: ready" in done.stdout and (tmp_path / "from_url.db").exists()
    done = run_tradestore("init", cwd=tmp_path, env=env(TRADESTORE_DB="mine.db",
                                                        DATABASE_URL="sqlite:///from_url.db"))
    assert "mine.db: ready" in done.stdout
    done = run_tradestore("--db", "sqlite:///given.db", "init", cwd=tmp_path,
                          env=env(TRADESTORE_DB="mine.db"))
    assert "given.db: ready" in done.stdout and (tmp_path / "given.db").exists()
    done = run_tradestore("init", cwd=tmp_path, env=env())
    assert "trades.db: ready" in done.stdout
    status = run_tradestore("--db", f"sqlite:///{tmp_path / 'given.db'}", "status")
    assert "engine:          sqlite" in status.stdout


def test_unknown_scheme_is_one_line_masked(tmp_path):
    done = run_tradestore("--db", f"mysql://bot:{SECRET}@host/db", "status", cwd=tmp_path)
    assert done.returncode == 1 and "unknown scheme 'mysql'" in done.stderr
    assert SECRET not in done.stderr and "******" in done.stderr


def test_unreachable_server_is_one_line_masked(tmp_path):
    pytest.importorskip("psycopg", reason="pip install 'tradestore[postgres]'")
    done = run_tradestore("--db", f"postgresql://bot:{SECRET}@127.0.0.1:1/db", "status",
                          cwd=tmp_path)
    assert done.returncode == 1 and "cannot use the database server" in done.stderr
    assert SECRET not in done.stderr and len(done.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- on PostgreSQL
def test_init_and_status_on_postgresql(pg_server):
    pytest.importorskip("psycopg", reason="pip install 'tradestore[postgres]'")
    url = with_password(pg_server.create_database("ops_init"))
    done = run_tradestore("--db", url, "init")
    assert done.returncode == 0, done.stderr
    head = load_migrations()[-1].version
    assert f"ready at schema version {head}" in done.stdout and SECRET not in done.stdout
    status = run_tradestore("--db", url, "status")
    assert status.returncode == 0, status.stderr
    assert "engine:          postgresql" in status.stdout
    assert "journal mode:    -" in status.stdout and "file size:       -" in status.stdout
    assert SECRET not in status.stdout and "postgres:******@127.0.0.1" in status.stdout
    info = json.loads(run_tradestore("--db", url, "status", "--format", "json").stdout)
    assert info["engine"] == "postgresql" and info["tables"]["accounts"] == 1
    assert info["schema_version"] == info["head_version"] == head


def test_check_on_postgresql_finds_derived_damage(pg_url):
    import psycopg  # noqa: PLC0415
    with TradeRepo(pg_url) as repo:
        seed(repo)
    done = run_tradestore("--db", pg_url, "check")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "skipped on postgresql: integrity_check, stored values that do not decode and "
        "foreign_key_check (SQLite's file-level checks; the server enforces types, CHECKs "
        "and foreign keys on every write)", "ok"]
    with psycopg.connect(pg_url, autocommit=True) as conn:  # a hand edit of a derived figure
        conn.execute("UPDATE positions SET realized_pnl = 1000")
    done = run_tradestore("--db", pg_url, "check")
    assert done.returncode == 1
    assert "realized_pnl" in done.stdout and "problem(s) found" in done.stdout


def test_export_import_on_postgresql(pg_url, pg_server, tmp_path):
    with TradeRepo(pg_url) as repo:
        seed(repo)
        fills = [(t.symbol, t.side, t.quantity, t.price, t.fees, t.timestamp, t.external_id)
                 for t in repo.get_trade_history(days=None)]
    out = tmp_path / "fills.jsonl"
    done = run_tradestore("--db", pg_url, "export", "trades", "--format", "jsonl", "--out", out)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["quantity"], r["price"], r["fees"]) for r in rows] == [
        ("0.5", "43000.10", "0.02"), ("0.5", "43100.00", "0.03")]  # every digit kept
    other = pg_server.create_database("ops_import")
    done = run_tradestore("--db", other, "import", "trades", out, "--ignore-order-ids")
    assert done.returncode == 0, done.stderr
    assert "read 2, inserted 2, duplicate 0" in done.stdout
    again = run_tradestore("--db", other, "import", "trades", out, "--ignore-order-ids")
    assert "inserted 0, duplicate 2" in again.stdout
    with TradeRepo(other) as repo, TradeRepo(pg_url) as first:
        assert [(t.symbol, t.side, t.quantity, t.price, t.fees, t.timestamp, t.external_id)
                for t in repo.get_trade_history(days=None)] == fills
        assert repo.get_closed_positions(days=None)[0].realized_pnl == \
            first.get_closed_positions(days=None)[0].realized_pnl


def test_file_commands_refuse_a_server_store(pg_url, tmp_path):
    url = with_password(pg_url)
    backup = run_tradestore("--db", url, "backup", tmp_path / "b")
    assert backup.returncode == 1
    assert "backup works on a SQLite file; for a PostgreSQL store use pg_dump, or " \
           "'tradestore copy URL snapshot.db'" in backup.stderr
    restore = run_tradestore("restore", tmp_path / "x.db", "--db", url)
    assert restore.returncode == 1 and "restore works on a SQLite file" in restore.stderr
    assert SECRET not in backup.stderr + restore.stderr
    assert not (tmp_path / "b").exists()


# ---------------------------------------------------------------- AsyncTradeRepo
def test_async_repo_on_postgresql(pg_url):
    from tradestore import AsyncTradeRepo  # noqa: PLC0415

    async def bot():
        async with AsyncTradeRepo(with_password(pg_url)) as repo:
            assert SECRET not in repr(repo) and "******" in repr(repo)
            await asyncio.gather(*(repo.save_trade(
                {"symbol": "BTC/USDT", "side": side, "quantity": "0.5", "price": price,
                 "fees": "0.01", "timestamp": T0.replace(hour=h)})
                for h, (side, price) in enumerate([("BUY", "100.10"), ("SELL", "101.00")])))
            stats = await repo.get_statistics(days=None)
            fills = [t.price async for t in repo.iter_trades(days=None)]
            position = (await repo.get_closed_positions(days=None))[0]
        return stats, fills, position
    stats, fills, position = asyncio.run(bot())
    # 0.5 x (101.00 - 100.10) - 0.01 - 0.01 = 0.43
    assert stats.total_trades == 1 and stats.net_pnl == Decimal("0.43")
    assert fills == [Decimal("100.10"), Decimal("101.00")]
    assert position.realized_pnl == Decimal("0.43")


def test_async_repo_reads_database_url(tmp_path, monkeypatch):
    from tradestore import AsyncTradeRepo  # noqa: PLC0415
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from_env.db")

    async def open_and_close():
        async with AsyncTradeRepo() as repo:
            return repo.path, await repo.status()
    path, status = asyncio.run(open_and_close())
    assert path == "from_env.db" == status["path"] and (tmp_path / "from_env.db").exists()


# ---------------------------------------------------------------- bench --db
def test_bench_on_postgresql(pg_url):
    import psycopg  # noqa: PLC0415
    with TradeRepo(pg_url) as repo:
        seed(repo)
        before = repo.table_counts()
    done = run_tradestore("bench", "--db", with_password(pg_url), "--rows", "100", timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert SECRET not in done.stdout and lines[0].startswith("PostgreSQL: postgresql://")
    assert [line.split("  ")[0] for line in lines[2:]] == [
        "save_trades bulk, 100 fills", "save_trade durable, one fill (x200)",
        "get_trade_history(symbol, 30d), 1,000 fills", "get_statistics(days=None), 100 trips"]
    with TradeRepo(pg_url) as repo:  # the database the URL names is untouched
        assert repo.table_counts() == before
    with psycopg.connect(pg_url) as conn:  # the scratch databases are gone
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE "
                            "'tradestore_bench_%'").fetchone()[0] == 0


def test_bench_db_takes_a_server_url(tmp_path):
    done = run_tradestore("bench", "--db", tmp_path / "x.db", "--rows", "100")
    assert done.returncode == 1 and "bench --db takes a postgresql:// URL" in done.stderr
    assert not (tmp_path / "x.db").exists()


def test_demo_writes_a_file_only(tmp_path):
    done = run_tradestore("--db", f"postgresql://bot:{SECRET}@127.0.0.1:1/db", "demo",
                          "--days", "2", cwd=tmp_path)
    assert done.returncode == 1 and "demo works on a SQLite file" in done.stderr
    assert "tradestore copy demo.db URL" in done.stderr and SECRET not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_artifacts_of_a_server_store_live_in_the_working_folder(pg_url, tmp_path, monkeypatch):
    """No folder beside a server store: ./artifacts, never a path made of the URL (which
    held the password)."""
    from tradestore.cli import build_parser  # noqa: PLC0415
    from tradestore.cli.artifacts import _open  # noqa: PLC0415
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["--db", with_password(pg_url), "artifacts", "list"])
    manager, repo = _open(args, write=False)
    with repo:
        assert manager.base_path == tmp_path / "artifacts"
    done = run_tradestore("--db", with_password(pg_url), "artifacts", "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
