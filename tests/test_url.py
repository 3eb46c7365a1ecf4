"""A URL's password is masked whole (issue 19): it may hold an unencoded "#", "?", "/"
or "@", so the mask runs from the user's ":" to the last "@"; password=... in a query
string and in key=value connection strings too."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import run_tradestore
from tradestore._core.url import mask_url, parse_target, password_of


@pytest.mark.parametrize("url, shown", [
    ("postgresql://bob:hunter2#x@127.0.0.1:9/db", "postgresql://bob:******@127.0.0.1:9/db"),
    ("postgresql://bob:hun?ter2@h/db", "postgresql://bob:******@h/db"),
    ("postgresql://bob:hun/ter2@h/db", "postgresql://bob:******@h/db"),
    ("postgresql://bob:hun@ter2@h:5432/db", "postgresql://bob:******@h:5432/db"),
    ("postgresql://bob:hun%40ter2@h/db", "postgresql://bob:******@h/db"),
    ("postgresql://bob:hun:ter2@h/db?sslmode=require", "postgresql://bob:******@h/db?sslmode=require"),
    ("postgres://bob:hunter2@h1:5432,h2:5433/db", "postgres://bob:******@h1:5432,h2:5433/db"),
    ("postgresql://bob@corp:hunter2@h/db", "postgresql://bob@corp:******@h/db"),  # user@server
    ("postgresql://h/db?password=hunter2", "postgresql://h/db?password=******"),
    ("postgresql://h/db?user=bob&password=hun#ter2&sslmode=require",
     "postgresql://h/db?user=bob&password=******&sslmode=require"),
    ("postgresql://h/db?PASSWORD=hunter2", "postgresql://h/db?PASSWORD=******"),
    ("postgresql://h/db?sslpassword=hunter2", "postgresql://h/db?sslpassword=******"),
    ("host=h password=hunter2 dbname=db", "host=h password=****** dbname=db"),
    ("host=h password = 'hun ter2' dbname=db", "host=h password = ****** dbname=db"),
    ("host=h password='hun\\' ter2' dbname=db", "host=h password=****** dbname=db"),
    ("postgresql://bob@h:5432/db", "postgresql://bob@h:5432/db"),  # no password: unchanged
    ("postgresql://h/db?application_name=bot", "postgresql://h/db?application_name=bot"),
])
def test_every_part_of_a_password_is_masked(url, shown):
    assert mask_url(url) == shown
    assert "hun" not in mask_url(url) and "ter2" not in mask_url(url)


def test_a_query_value_holding_an_at_sign_masks_more_never_less():
    """The last "@" may be a query value's: then host and path are masked as well (an
    unencoded "@" in the password cannot be told apart), and the password still is."""
    assert mask_url("postgresql://bob:hunter2@h/db?application_name=a@b") == \
        "postgresql://bob:******@b"


@given(password=st.text(min_size=1, max_size=30))
def test_any_password_in_the_netloc_is_masked_whole(password):
    url = f"postgresql://bob:{password}@db-host:5432/fleet?sslmode=require"
    assert mask_url(url) == "postgresql://bob:******@db-host:5432/fleet?sslmode=require"
    assert parse_target(url).shown == mask_url(url)


@given(password=st.text(st.characters(blacklist_characters="&",
                                      blacklist_categories=("Zs", "Zl", "Zp", "Cc")),
                        min_size=1, max_size=30))
def test_any_password_in_a_query_string_is_masked_whole(password):
    url = f"postgresql://db-host/fleet?password={password}&sslmode=require"
    assert mask_url(url) == "postgresql://db-host/fleet?password=******&sslmode=require"


@pytest.mark.parametrize("url", ["postgresql://bob:hunter2#x@127.0.0.1:9/db",
                                 "postgresql://bob:hunter2?x@127.0.0.1:9/db",
                                 "postgresql://127.0.0.1:9/db?password=hunter2"])
def test_status_never_prints_the_password(url):
    """The real CLI on a server that refuses the connection (port 9 on 127.0.0.1)."""
    pytest.importorskip("psycopg", reason="pip install 'tradestore[postgres]'")
    done = run_tradestore("--db", url, "status", timeout=60)
    assert done.returncode != 0
    assert "hunter2" not in done.stdout + done.stderr and "******" in done.stderr


@pytest.mark.parametrize("url, secret", [
    ("postgresql://bob:hun@ter2@127.0.0.1:9/db", "hun@ter2"),
    ("postgresql://bob:a#b?c/d@h/db", "a#b?c/d"),
    ("postgresql://h/db?password=s3cret&sslmode=disable", "s3cret"),
    ("postgresql://bob@h/db", None),
])
def test_the_password_a_driver_message_is_scrubbed_of_is_the_one_masked(url, secret):
    """pg.py scrubs driver messages of password_of(url): the same span mask_url hides."""
    assert password_of(url) == secret
    if secret:
        assert secret not in mask_url(url)


def test_a_driver_error_never_quotes_a_password_with_an_at_sign():
    run = subprocess.run([sys.executable, "-m", "tradestore", "--db",
                          "postgresql://bob:hun@ter2@127.0.0.1:9/db", "status"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "ter2" not in run.stderr and "hun@" not in run.stderr, run.stderr
