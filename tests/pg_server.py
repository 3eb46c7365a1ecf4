"""A throwaway PostgreSQL server for one test session.

``initdb`` into a fresh temp dir, listening on 127.0.0.1 only at a random free port,
trust authentication for 127.0.0.1 only (no unix-socket login), fsync on (durability is
what the tests check), small shared_buffers, C locale (text sorts bytewise, as SQLite's
does) and UTC sessions. Stopped with ``pg_ctl stop -m fast`` and removed at the end.
Run as root, the server runs as the ``postgres`` OS user (initdb refuses root).

Register the fixture in tests/conftest.py with ``from tests.pg_server import pg_server``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PG_VERSION = "15"
# TRADESTORE_PG_BIN: a folder holding initdb and pg_ctl, to test against another build
BIN_DIR = Path(os.environ.get("TRADESTORE_PG_BIN", f"/usr/lib/postgresql/{PG_VERSION}/bin"))
SUPERUSER = "postgres"
HOW_TO_GET = (f"PostgreSQL {PG_VERSION} server binaries not found in {BIN_DIR} "
              "(install them with `apt-get install postgresql` on Debian/Ubuntu, or set "
              "TRADESTORE_PG_BIN to a folder holding initdb and pg_ctl)")
SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
fsync = on
synchronous_commit = on
shared_buffers = 16MB
max_connections = 60
timezone = 'UTC'
log_timezone = 'UTC'
"""
# trust over TCP from 127.0.0.1 only; no "local" line, so the unix socket refuses logins
HBA = "host all all 127.0.0.1/32 trust\n"
START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections


class PgServerError(RuntimeError):
    """The throwaway server could not be set up (the message says which step)."""


def binaries_present() -> bool:
    return all((BIN_DIR / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))


def _as_server_user(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: as root, run them as ``postgres``."""
    if os.geteuid() == 0:
        return ["runuser", "-u", SUPERUSER, "--", *argv]
    return argv


def _run(argv: list[str], step: str) -> None:
    done = subprocess.run(_as_server_user(argv), capture_output=True, text=True)
    if done.returncode != 0:
        raise PgServerError(f"{step} failed ({done.returncode}): "
                            f"{(done.stderr or done.stdout).strip()[-2000:]}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """A running throwaway server.

    Attributes:
      root: the temp dir (data directory ``root/data``, socket dir ``root/socket``).
      port: its TCP port on 127.0.0.1.
    """

    root: Path
    port: int
    databases: list[str] = field(default_factory=list)
    running: bool = True

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """A new empty database (UTF8, C collation); returns its URL."""
        _run([str(BIN_DIR / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
              "-U", SUPERUSER, name], f"createdb {name}")
        self.databases.append(name)
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder; safe to call twice."""
        if self.running:
            self.running = False
            _run([str(BIN_DIR / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast",
                  "-w"], "pg_ctl stop")
        shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> Server:
    """initdb a fresh cluster in a temp dir and start it; the caller stops it."""
    if not binaries_present():
        raise PgServerError(HOW_TO_GET)
    root = Path(tempfile.mkdtemp(prefix="tradestore-pg-"))
    try:
        (root / "socket").mkdir()
        if os.geteuid() == 0:
            shutil.chown(root, SUPERUSER, SUPERUSER)
            shutil.chown(root / "socket", SUPERUSER, SUPERUSER)
        data = root / "data"
        _run([str(BIN_DIR / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
              "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"], "initdb")
        (data / "pg_hba.conf").write_text(HBA)  # written by us as root: still readable
        for attempt in range(3):  # the port may be taken between probe and bind
            port = _free_port()
            with open(data / "postgresql.conf", "a") as conf:
                conf.write(SETTINGS.format(port=port, socket_dir=root / "socket"))
            try:
                _run([str(BIN_DIR / "pg_ctl"), "start", "-D", str(data), "-w",
                      "-t", str(START_TIMEOUT), "-l", str(root / "server.log")], "pg_ctl start")
                return Server(root, port)
            except PgServerError:
                if attempt == 2:
                    log = (root / "server.log")
                    raise PgServerError(f"the server did not start; its log: "
                                        f"{log.read_text()[-2000:] if log.exists() else '-'}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    raise AssertionError("unreachable")


_shared: Server | None = None


def shared_server() -> Server:
    """One server per test process however many places register the fixture."""
    global _shared
    if _shared is None or not _shared.running:
        _shared = start_server()
        atexit.register(_shared.stop)  # a session killed before teardown still cleans up
    return _shared


def require_binaries() -> None:
    """Missing binaries: a skip that says how to get them, or a failure in CI (env
    ``CI`` set), where the PostgreSQL leg must run."""
    if not binaries_present():
        if os.environ.get("CI"):
            pytest.fail(HOW_TO_GET, pytrace=False)
        pytest.skip(HOW_TO_GET)


@pytest.fixture(scope="session")
def pg_server():
    """The session's throwaway server (see require_binaries when there is none)."""
    require_binaries()
    server = shared_server()
    yield server
    server.stop()
