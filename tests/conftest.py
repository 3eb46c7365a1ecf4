"""Fixtures: an in-memory store, a store in a real temp file, and a CLI runner."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid

import pytest
from hypothesis import HealthCheck, settings

from tests.pg_server import pg_server  # noqa: F401  (fixture: the session's server)
from tradestore import TradeRepo
from tradestore.cli import main as cli_main

# Hypothesis profiles. A plain ``pytest`` uses "fast": few examples per property, so the
# README's test command stays quick. "deep" draws the full counts; --runslow selects it and
# .ci/run's second leg reruns every property with it. HYPOTHESIS_PROFILE=NAME overrides both.
DEEP_EXAMPLES, FAST_EXAMPLES = 60, 15  # a quarter, like the examples(deep, fast) pairs
_QUIET = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=DEEP_EXAMPLES, **_QUIET)
settings.register_profile("ci", max_examples=DEEP_EXAMPLES, **_QUIET)  # the old name of deep
settings.register_profile("dev", max_examples=30, **_QUIET)
settings.register_profile("fast", max_examples=FAST_EXAMPLES, **_QUIET)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fast")
settings.load_profile(PROFILE)

SQLITE3_BIN = shutil.which("sqlite3")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run the tests marked slow (crash loops, soaks, timing) and "
                          "draw the deep hypothesis counts; .ci/run always does")
    parser.addoption("--postgres", action="store_true", default=False,
                     help="also run the PostgreSQL leg (every test on the throwaway server); "
                          ".ci/run always does")


def pytest_configure(config):
    """--runslow means the deep profile, unless HYPOTHESIS_PROFILE names another."""
    global PROFILE
    if config.getoption("--runslow") and "HYPOTHESIS_PROFILE" not in os.environ:
        PROFILE = "deep"
        settings.load_profile(PROFILE)


def examples(deep: int, fast: int) -> int:
    """A property's example count: ``deep`` under any profile but "fast", else ``fast``.

    For the properties that set their own ``max_examples`` (which a profile cannot
    change): ``@settings(max_examples=examples(60, 15))``; also the rounds of a loop in a
    test marked ``hypothesis`` or ``slow`` (the deep leg of .ci/run selects only those)."""
    return fast if PROFILE == "fast" else deep


def pytest_collection_modifyitems(config, items):
    """A plain ``pytest`` stays fast: slow tests run with --runslow, and the tests on the
    PostgreSQL server (marked ``postgres`` here: every test that needs ``pg_server``)
    with --postgres; .ci/run runs both legs."""
    slow = pytest.mark.skip(reason="slow: run with --runslow (.ci/run does)")
    server = pytest.mark.skip(reason="PostgreSQL leg: run with --postgres (.ci/run does)")
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "pg_server" in getattr(item, "fixturenames", ()) or "postgresql" in params.values():
            item.add_marker(pytest.mark.postgres)
            if not config.getoption("--postgres"):
                item.add_marker(server)
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(slow)


@pytest.fixture
def memory_repo():
    with TradeRepo(":memory:") as repo:
        yield repo


@pytest.fixture
def sqlite_repo():
    """SQLite only, where the test is about SQLite itself (its query plans, its types)."""
    with TradeRepo(":memory:") as repo:
        yield repo


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "trades.db"


@pytest.fixture(scope="session")
def store_template(tmp_path_factory):
    """A new store, migrated once per session: creating one runs every schema file, while
    opening a copy of one at the newest version runs none."""
    path = tmp_path_factory.mktemp("template") / "trades.db"
    TradeRepo(path).close()
    return path


def new_store_file(template, path):
    """The test's own copy of the template (``shutil.copy`` keeps its 0600 mode), with
    its own identity, as a new store has."""
    shutil.copy(template, path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE store_meta SET value = ? WHERE key = 'store_id'",
                     (str(uuid.uuid4()),))
    conn.close()
    return path


@pytest.fixture
def file_repo(db_path, store_template):
    with TradeRepo(new_store_file(store_template, db_path)) as repo:
        yield repo


@pytest.fixture(params=["memory", "file"])
def repo(request, tmp_path, store_template):
    """Both kinds of store: every behaviour must hold for each."""
    path = ":memory:" if request.param == "memory" else \
        new_store_file(store_template, tmp_path / "trades.db")
    with TradeRepo(path) as store:
        yield store


# ---------------------------------------------------------------- both engines
PG_TEMPLATE = "tradestore_template"


@pytest.fixture(scope="session")
def pg_template(pg_server):
    """A database migrated to the head once per session; each test's is a copy of it
    (CREATE DATABASE ... TEMPLATE copies files: far cheaper than migrating)."""
    pytest.importorskip("psycopg", reason="pip install 'tradestore[postgres]'")
    if PG_TEMPLATE not in pg_server.databases:
        TradeRepo(pg_server.create_database(PG_TEMPLATE)).close()
    return PG_TEMPLATE


@pytest.fixture
def pg_url(pg_server, pg_template):
    """A fresh migrated PostgreSQL database for one test (its own store_id), dropped after."""
    import psycopg  # noqa: PLC0415  (only the PostgreSQL leg needs the driver)
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    url = pg_server.url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE store_meta SET value = gen_random_uuid()::text "
                     "WHERE key = 'store_id'")
    yield url
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request):
    """One store per engine: a repository or analytics behaviour must hold on both
    (SQLite in memory; PostgreSQL a fresh database on the session's throwaway server)."""
    location = ":memory:" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    with TradeRepo(location) as repo:
        yield repo


class CliResult:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"CliResult(code={self.code}, out={self.out[:500]!r}, err={self.err[:500]!r})"


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process: cli("--db", path, "status") -> CliResult."""
    def run(*argv):
        capsys.readouterr()
        try:
            code = cli_main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)
    return run


def file_rows(path, sql, params=()):
    """The rows of ``sql`` read through a plain sqlite3 connection of its own, as a
    hand-made query in the shell would see them."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def run_tradestore(*argv, env=None, cwd=None, timeout=120):
    """Run ``python -m tradestore`` as a real subprocess."""
    return subprocess.run([sys.executable, "-m", "tradestore", *map(str, argv)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


@pytest.fixture
def sqlite3_bin():
    """The real sqlite3 shell; CI installs it, so its absence there is a failure."""
    if SQLITE3_BIN is None:
        if os.environ.get("CI"):
            pytest.fail("the sqlite3 shell must be installed in CI (apt-get install sqlite3)")
        pytest.skip("no sqlite3 shell on PATH (CI installs one)")
    return SQLITE3_BIN


# ------------------------------------------------- a test file on both engines
@pytest.fixture
def on_both_engines(store):
    """The store of a test file whose every behaviour holds on both engines
    (``store``: SQLite, PostgreSQL). A file opts in with one line that makes its
    ``repo`` and ``memory_repo`` this fixture (pytest names a fixture by the name it is
    bound to in the module)::

        repo = memory_repo = on_both_engines
    """
    return store
