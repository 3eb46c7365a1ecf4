"""``bench --db URL`` writes only into its scratch databases (issue 19.8), even when the
URL names its database with ``?dbname=`` (which wins over the path) or carries a password
that urlsplit would cut at "#" or "?"."""

from __future__ import annotations

import io

import pytest

from tradestore import StoreError, TradeRepo
from tradestore.benchmarks import postgres

psycopg = pytest.importorskip("psycopg", reason="pip install 'tradestore[postgres]'")
conninfo_to_dict = psycopg.conninfo.conninfo_to_dict


@pytest.mark.parametrize("url", [
    "postgresql://bob@h:5432/prod?dbname=prod2&sslmode=require",
    "postgresql://bob:hun#ter?2@h/prod?application_name=bot%201",
    "postgresql://bob@h1:5432,h2:5433/prod?target_session_attrs=read-write",
    "postgresql://bob@%2Fvar%2Frun%2Fpostgresql/prod",
    "postgresql://h/prod?dbname=postgresql%3A%2F%2Fother%2Fprod",  # a dbname that is a URL
])
def test_with_database_changes_the_database_only(url):
    expected = {key: value for key, value in conninfo_to_dict(url).items() if key != "dbname"}
    moved = postgres.with_database(url, "tradestore_bench_x")
    assert conninfo_to_dict(moved) == {**expected, "dbname": "tradestore_bench_x"}
    assert moved.startswith("postgresql://")


def seeded_name(pg_url):
    with TradeRepo(pg_url) as repo:
        repo.save_trade({"symbol": "BTC/USDT", "side": "BUY", "quantity": "0.5",
                         "price": "43000.10"})
        return pg_url.rsplit("/", 1)[1], repo.table_counts()


def test_bench_never_writes_into_the_database_a_dbname_parameter_names(pg_server, pg_url):
    """The URL's path names the server's "postgres" database and ?dbname= the store: the
    store keeps its rows, "postgres" gets no tables, the scratch databases are gone."""
    name, before = seeded_name(pg_url)
    url = f"{pg_server.url('postgres')}?dbname={name}"
    results = postgres.run(url, rows=20, out=io.StringIO())
    assert len(results) == 4
    with TradeRepo(pg_url) as repo:
        assert repo.table_counts() == before
    with psycopg.connect(pg_server.url("postgres")) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                            ).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE "
                            "'tradestore_bench_%'").fetchone()[0] == 0


def test_a_scratch_url_that_opens_another_database_is_refused(pg_url, monkeypatch):
    """The check before any write: were a scratch URL to open the named database (as the
    path-only rewrite did with ?dbname=), the bench stops with nothing written."""
    name, before = seeded_name(pg_url)
    monkeypatch.setattr(postgres, "with_database", lambda url, scratch: url)
    with pytest.raises(StoreError, match=f"opens database '{name}', not the scratch"):
        postgres.run(pg_url, rows=20, out=io.StringIO())
    with TradeRepo(pg_url) as repo:
        assert repo.table_counts() == before
