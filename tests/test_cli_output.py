"""Issue 14 point 9: the CLI shows the truth."""

from __future__ import annotations

import csv
import io
import os
import resource
import signal
import subprocess
import sys
from decimal import Decimal

import pytest

from tradestore import TradeData, TradeRepo
from tradestore.cli.common import clip_number, print_rows, printable
from tradestore.ops.imports import import_trades

from conftest import run_tradestore


def table(rows, columns, widths):
    out = io.StringIO()
    print_rows(rows, columns, "table", out=out, widths=widths)
    return out.getvalue().splitlines()


# ------------------------------------------------------------ numbers keep every integer digit

def test_a_large_quantity_prints_in_full_through_the_cli(tmp_path, cli):
    path = tmp_path / "trades.db"
    with TradeRepo(path) as repo:
        repo.save_trade(TradeData("BTC/USDT", "BUY", "12315270935", "0.000123456789012"))
    result = cli("--db", path, "trades", "--all")
    assert result.code == 0, result
    row = result.out.splitlines()[1]
    assert "12315270935" in row and "123152709~" not in row
    assert "0.0001234" in row  # decimals dropped only as far as needed, marked ~


def test_decimals_go_first_then_the_column_widens():
    rows = [{"q": Decimal("12315270935.123")}, {"q": Decimal("1.5")}, {"q": 7}]
    lines = table(rows, ["q"], {"q": 10})
    # widest integer part 11 digits + "~": the column widens to 12, never cuts a digit
    assert lines[1] == "12315270935~"
    assert lines[2].rstrip() == "1.5" and lines[3].rstrip() == "7"
    assert clip_number("123.456789", 7) == "123.45~"
    assert clip_number("-123.456789", 5) == "-123~"
    assert clip_number("-98765", 3) == "-98765"
    assert clip_number("1.25", 4) == "1.25"


def test_text_cells_are_still_clipped_with_a_mark():
    lines = table([{"s": "abcdefghijkl"}], ["s"], {"s": 5})
    assert lines[1] == "abcd~"


# ------------------------------------------------------------ control characters

def test_control_characters_in_names_are_escaped_on_the_terminal(tmp_path, cli):
    path = tmp_path / "trades.db"
    with TradeRepo(path) as repo:
        repo.save_trade(TradeData("BTC/USDT", "BUY", 1, 100, strategy="evil\x1b[2J\rname"))
        repo.events.log("note", "clear\x1b[2Jscreen\nnext")
    result = cli("--db", path, "trades", "--all", "--format", "table")
    assert "\x1b" not in result.out
    result = cli("--db", path, "events")
    assert "\x1b" not in result.out and "clear\\x1b[2Jscreen\\nnext" in result.out
    assert printable("a\tb\x7fc\x9bd") == "a\\tb\\x7fc\\x9bd"
    assert printable("naïve €") == "naïve €"  # printable non-ASCII stays as it is
    # a lone surrogate (a non-UTF-8 file name) can be printed by no terminal encoding
    assert printable("bad\udcffname\ud800") == "bad\\udcffname\\ud800"
    printable("bad\udcff").encode("utf-8")  # now encodes


# ------------------------------------------------------------ CSV with a bare carriage return

def test_csv_export_quotes_a_bare_carriage_return_and_reimports(tmp_path, cli):
    path = tmp_path / "trades.db"
    with TradeRepo(path) as repo:
        repo.save_trade(TradeData("BTC/USDT", "BUY", 1, 100, strategy="a\rb",
                                  external_id="x\r1", exchange="ex"))
        repo.save_trade(TradeData("BTC/USDT", "SELL", 1, 110, strategy="plain",
                                  external_id="x2", exchange="ex"))
    out = tmp_path / "t.csv"
    assert cli("--db", path, "export", "trades", "--out", out).code == 0
    with open(out, encoding="utf-8", newline="") as f:
        text = f.read()
    assert '"a\rb"' in text and '"x\r1"' in text
    assert [r[12] for r in csv.reader(io.StringIO(text, newline=""))][1:] == ["a\rb", "plain"]
    with TradeRepo(tmp_path / "again.db") as again:
        result = import_trades(again, out)
        assert result.inserted == 2
        assert [t.strategy for t in again.get_trade_history(days=None)] == ["a\rb", "plain"]


# ------------------------------------------------------------ secrets

def test_settings_get_of_a_secret_needs_reveal(tmp_path, cli):
    path = tmp_path / "trades.db"
    with TradeRepo(path) as repo:
        repo.settings.set("api_key", "s3cr3t", secret=True)
        repo.settings.set("pairs", 3, value_type="int")
    result = cli("--db", path, "settings", "get", "api_key")
    assert result.code == 0 and result.out == "******\n" and "s3cr3t" not in result.out
    assert "--reveal" in result.err
    result = cli("--db", path, "settings", "get", "api_key", "--reveal")
    assert result.code == 0 and result.out == "s3cr3t\n" and result.err == ""
    assert cli("--db", path, "settings", "get", "pairs").out == "3\n"


# ------------------------------------------------------------ errors name the right file

def _small_files():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_a_backup_that_cannot_be_written_names_the_destination(tmp_path):
    """No file may grow past 200 kB in the backup process: the copy cannot be written."""
    path = tmp_path / "trades.db"
    with TradeRepo(path) as repo:
        repo.save_trades([TradeData("BTC/USDT", "BUY", 1, 100 + i, strategy="s" * 150)
                          for i in range(3000)])
    assert path.stat().st_size > 1_000_000
    dest = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "tradestore", "--db", str(path), "backup",
                             str(dest)], capture_output=True, text=True, preexec_fn=_small_files,
                            timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and f"backup destination {dest}" in line, line
    assert os.listdir(dest) == []  # no partial copy left


def test_init_on_a_read_only_file_fails(tmp_path, cli):
    path = tmp_path / "trades.db"
    assert cli("--db", path, "init").code == 0
    os.chmod(path, 0o444)
    try:
        result = cli("--db", path, "init")
    finally:
        os.chmod(path, 0o600)
    assert result.code == 1 and "read-only" in result.err and str(path) in result.err


def test_empty_db_name_is_an_error(tmp_path):
    result = run_tradestore("--db", "", "status", cwd=tmp_path)
    assert result.returncode == 1 and "--db" in result.stderr and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("argv, word", [
    (["--rows", "0"], "--rows"), (["--rows", "-5"], "--rows"), (["--rows", "99999999999"], "--rows"),
    (["--rows", "1000", "--only", "nosuchbench"], "--only"), (["--rows", "1000", "--only", ""], "--only"),
])
def test_bench_refuses_bad_rows_and_only(cli, argv, word):
    result = cli("bench", *argv)
    assert result.code == 1 and word in result.err and result.out == ""


# ------------------------------------------------------------ import creates, reads refuse

def test_import_into_a_new_file_creates_it_while_reads_refuse(tmp_path, cli):
    source = tmp_path / "old.db"
    with TradeRepo(source) as repo:
        repo.save_trade(TradeData("BTC/USDT", "BUY", "1.10", 100, exchange="ex", external_id="1"))
    exported = tmp_path / "fills.csv"
    assert cli("--db", source, "export", "trades", "--out", exported).code == 0
    new = tmp_path / "new.db"
    for argv in (["trades"], ["status"], ["check"], ["export", "trades"]):
        result = cli("--db", new, *argv)
        assert result.code == 1 and "no such database" in result.err and not new.exists()
    result = cli("--db", new, "import", "trades", exported)
    assert result.code == 0, result
    with TradeRepo.inspect(new) as repo:
        assert [str(t.quantity) for t in repo.get_trade_history(days=None)] == ["1.10"]


# ------------------------------------------------------------ properties

from hypothesis import given, strategies as st  # noqa: E402

from tradestore.cli.common import number_min_width  # noqa: E402
from tradestore.ops.export import csv_writer  # noqa: E402

@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**20, max_value=10**20),
       st.integers(1, 30))
def test_clipping_a_number_never_drops_an_integer_digit(number, size):
    text = format(number, "f")
    shown = clip_number(text, max(size, number_min_width(text)))
    whole = text.split(".")[0]
    assert shown.startswith(whole)                       # every integer digit, in place
    assert text.startswith(shown.rstrip("~"))            # only trailing decimals dropped
    assert shown.endswith("~") == (shown != text)        # a dropped decimal is marked
    assert len(shown) <= max(size, number_min_width(text))


@given(st.lists(st.lists(st.text(alphabet=st.sampled_from('ab,"\r\n \t'), max_size=6),
                         min_size=1, max_size=4), min_size=1, max_size=5))
def test_every_csv_row_reads_back_exactly(rows):
    out = io.StringIO()
    writer = csv_writer(out)
    for row in rows:
        writer.writerow(row)
    assert list(csv.reader(io.StringIO(out.getvalue(), newline=""))) == rows


def test_an_export_that_cannot_be_written_names_the_out_file(tmp_path):
    path = tmp_path / "trades.db"
    with TradeRepo(path) as repo:
        repo.save_trades([TradeData("BTC/USDT", "BUY", 1, 100 + i, strategy="s" * 150)
                          for i in range(3000)])
    out = tmp_path / "fills.csv"
    result = subprocess.run([sys.executable, "-m", "tradestore", "--db", str(path), "export",
                             "trades", "--out", str(out)], capture_output=True, text=True,
                            preexec_fn=_small_files, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith(f"tradestore: {out}: cannot write")
    assert not out.exists() and [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []
