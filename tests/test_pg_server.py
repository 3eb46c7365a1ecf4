"""The throwaway PostgreSQL server: databases apart, exact NUMERIC, loopback only."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.pg_server import require_binaries, start_server

psycopg = pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]' psycopg-pool")

LOOPBACK_HEX = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it (little-endian)
LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def _listeners(port: int) -> list[tuple[str, str]]:
    """(file, local address) of every listening socket on ``port`` (IPv4 and IPv6)."""
    found = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(name)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == LISTEN and int(hex_port, 16) == port:
                found.append((name, address))
    return found


def test_two_databases_are_apart(pg_server):
    alpha = pg_server.create_database("alpha_db")
    beta = pg_server.create_database("beta_db")
    assert alpha.endswith("/alpha_db") and beta.endswith("/beta_db")
    with psycopg.connect(alpha, autocommit=True) as conn:
        conn.execute("CREATE TABLE only_in_alpha (x integer)")
    with psycopg.connect(beta) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("beta_db",)
        assert conn.execute("SELECT to_regclass('only_in_alpha')").fetchone() == (None,)


@pytest.mark.parametrize("text", ["1.10", "0.00000812"])
def test_numeric_round_trips_exactly(pg_server, text):
    """NUMERIC without a typmod keeps the digits given, trailing zero included."""
    url = pg_server.create_database(f"numeric_{text.replace('.', '_')}")
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE amounts (amount numeric NOT NULL)")
        conn.execute("INSERT INTO amounts VALUES (%s)", (Decimal(text),))
        conn.commit()
        (back,), = conn.execute("SELECT amount FROM amounts").fetchall()
        (as_text,), = conn.execute("SELECT amount::text FROM amounts").fetchall()
    assert isinstance(back, Decimal)
    assert str(back) == text and as_text == text
    assert back.as_tuple() == Decimal(text).as_tuple()


def test_listens_on_loopback_only(pg_server):
    with psycopg.connect(pg_server.url()) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW unix_socket_directories").fetchone() == (
            str(pg_server.root / "socket"),)
        assert conn.execute("SHOW fsync").fetchone() == ("on",)
        assert conn.execute("SHOW TimeZone").fetchone() == ("UTC",)
    listeners = _listeners(pg_server.port)
    assert listeners == [("/proc/net/tcp", LOOPBACK_HEX)], listeners


def test_unix_socket_refuses_logins(pg_server):
    """Trust is for 127.0.0.1 only: pg_hba.conf has no "local" line."""
    with pytest.raises(psycopg.OperationalError, match="pg_hba.conf"):
        psycopg.connect(host=str(pg_server.root / "socket"), port=pg_server.port,
                        user="postgres", dbname="postgres", connect_timeout=5)


def test_stop_removes_the_server_and_its_folder():
    require_binaries()
    server = start_server()
    url = server.create_database("gone")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    server.stop()
    assert not server.root.exists()
    assert _listeners(server.port) == []
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5)
    server.stop()  # twice is harmless
