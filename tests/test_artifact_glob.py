"""``list_artifacts(GLOB)`` on both engines (issue 19): PostgreSQL has no GLOB, so the
pattern goes there as a regular expression (``glob_regex``) that matches exactly the
names SQLite's GLOB matches: case kept, ``*``, ``?``, sets with ``^``, ranges, and a
leading ``]``; every other character (``.``, ``%``, ``_``) is itself."""

from __future__ import annotations

import re
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import examples
from tradestore.artifacts.catalog import MATCH_NOTHING, ArtifactManager, glob_regex

NAMES = ["BTC-lstm", "btc-gru", "btc-lstm", "btc-lstm2", "btc_lstm", "eth-lstm"]


@pytest.mark.parametrize("pattern, names", [
    ("btc-*", ["btc-gru", "btc-lstm", "btc-lstm2"]),       # case kept: not BTC-lstm
    ("B*", ["BTC-lstm"]),
    ("*-lstm", ["BTC-lstm", "btc-lstm", "eth-lstm"]),
    ("???-lstm", ["BTC-lstm", "btc-lstm", "eth-lstm"]),
    ("[be]*-lstm", ["btc-lstm", "eth-lstm"]),
    ("[^b]*", ["BTC-lstm", "eth-lstm"]),
    ("[a-c]tc?*", ["btc-gru", "btc-lstm", "btc-lstm2", "btc_lstm"]),
    ("*[0-9]", ["btc-lstm2"]),
    ("btc-lstm", ["btc-lstm"]),
    ("btc.lstm", []),            # "." is itself, not any character
    ("btc%", []),                # LIKE's wildcards are themselves
    ("btc_lstm", ["btc_lstm"]),
    ("btc-lstm[", []),           # an unclosed set matches nothing
    ("*", NAMES),
])
def test_list_by_glob_on_both_engines(store, tmp_path, pattern, names):
    with ArtifactManager(tmp_path / "artifacts", repo=store) as manager:
        for name in NAMES:
            manager.save_dataset(b"x", name, "1")
        assert [a.name for a in manager.list_artifacts(pattern)] == names


@pytest.mark.parametrize("pattern, regex", [
    ("btc-*", r"^btc\U0000002d.*$"),
    ("a?[^b-d]", r"^a.[^b-d]$"),
    ("[]x]", r"^[\U0000005dx]$"),         # "]" first in a set is itself
    ("[-a]", r"^[\U0000002da]$"),          # so is "-" first or last
    ("[a-]", r"^[a\U0000002d]$"),
    ("[z-a]", r"^[z]$"),                   # a reversed range is empty; its start counts
    ("[a-c-e]", r"^[a-c\U0000002de]$"),   # after a range, "-" is itself
    ("[]a-c]?", r"^[\U0000005da-c].$"),
    ("é*", r"^\U000000e9.*$"),
    ("[", MATCH_NOTHING), ("x[^]", MATCH_NOTHING),
])
def test_glob_regex_by_hand(pattern, regex):
    assert glob_regex(pattern) == regex


ALPHABET = "ab-]^[*?.%\\é"


def sqlite_glob(name: str, pattern: str) -> bool:
    with sqlite3.connect(":memory:") as conn:
        return bool(conn.execute("SELECT ? GLOB ?", (name, pattern)).fetchone()[0])


@settings(max_examples=examples(600, 200))
@given(name=st.text(ALPHABET, max_size=6), pattern=st.text(ALPHABET, max_size=6))
def test_glob_regex_matches_what_sqlite_glob_matches(name, pattern):
    assert bool(re.fullmatch(glob_regex(pattern), name, re.S)) == sqlite_glob(name, pattern)


@settings(max_examples=examples(300, 100))
@given(name=st.text(ALPHABET, max_size=6), pattern=st.text(ALPHABET, max_size=6))
def test_postgresql_matches_what_sqlite_glob_matches(pg_server, name, pattern):
    psycopg = pytest.importorskip("psycopg", reason="pip install 'tradestore[postgres]'")
    with psycopg.connect(pg_server.url()) as conn:
        found = conn.execute("SELECT %s ~ %s", (name, glob_regex(pattern))).fetchone()[0]
    assert found == sqlite_glob(name, pattern)
