"""Imports keep every digit and never guess (issue 15.9), and validate once inside the
one transaction so a bad row anywhere leaves nothing (issue 16.4)."""

from __future__ import annotations

import json
from datetime import timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st
from conftest import examples

from tradestore import DatabaseError, TradeRepo, ValidationError
from tradestore.ops import imports
from tradestore.ops.imports import import_trades

UTC = timezone.utc
T = "2025-01-03T10:00:00Z"


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def nothing_stored(repo):
    return repo.get_trade_history(days=None) == [] and repo.get_open_positions() == []


# ------------------------------------------------------------------ every digit

@pytest.mark.parametrize("name, text", [
    ("t.json", '[{"symbol":"BTC/USDT","side":"BUY","quantity":0.000000000000000001,'
               '"price":61234.123456789012345,"fees":1E-8,"timestamp":"%s"}]' % T),
    ("t.jsonl", '{"symbol":"BTC/USDT","side":"BUY","quantity":0.000000000000000001,'
                '"price":61234.123456789012345,"fees":1E-8,"timestamp":"%s"}\n' % T),
])
def test_json_numbers_are_decimals_not_floats(tmp_path, memory_repo, name, text):
    import_trades(memory_repo, write(tmp_path / name, text))
    fill, = memory_repo.get_trade_history(days=None)
    # float('61234.123456789012345') would be 61234.12345678901: six digits lost
    assert fill.price == Decimal("61234.123456789012345")
    assert str(fill.price) == "61234.123456789012345"
    assert fill.quantity == Decimal("1E-18") and fill.fees == Decimal("0.00000001")
    # value = 61234.123456789012345 x 1E-18, exactly
    assert fill.value == Decimal("6.1234123456789012345E-14")


def test_json_metadata_numbers_keep_their_type_and_digits(tmp_path, memory_repo):
    text = ('{"symbol":"A/B","side":"BUY","quantity":"1","price":"2","timestamp":"%s",'
            '"metadata":{"ratio":0.25,"n":3,"px":61234.123456789012345}}\n' % T)
    import_trades(memory_repo, write(tmp_path / "m.jsonl", text))
    meta = memory_repo.get_trade_history(days=None)[0].metadata
    # 0.25 is exactly a float: it stays one; 61234.123456789012345 is not: kept as text
    assert meta == {"ratio": 0.25, "n": 3, "px": "61234.123456789012345"}


def test_csv_cells_keep_every_digit(tmp_path, memory_repo):
    path = write(tmp_path / "t.csv", "symbol,side,quantity,price,timestamp\n"
                 f"BTC/USDT,BUY,1.10,61234.123456789012345,{T}\n")
    import_trades(memory_repo, path)
    fill, = memory_repo.get_trade_history(days=None)
    assert (str(fill.quantity), str(fill.price)) == ("1.10", "61234.123456789012345")


# ------------------------------------------------------------------ never "now"

def test_a_csv_without_a_timestamp_column_is_refused(tmp_path, memory_repo):
    path = write(tmp_path / "t.csv", "symbol,side,quantity,price\nBTC/USDT,BUY,1,100\n")
    with pytest.raises(ValidationError, match=r"^line 1: timestamp: the header has no "
                                              r"timestamp column") as info:
        import_trades(memory_repo, path)
    assert info.value.field == "timestamp"
    assert nothing_stored(memory_repo)


@pytest.mark.parametrize("name, text, line", [
    ("t.csv", f"symbol,side,quantity,price,timestamp\nA/B,BUY,1,1,{T}\nA/B,BUY,1,1,\n", 3),
    ("t.jsonl", '{"symbol":"A/B","side":"BUY","quantity":"1","price":"1"}\n', 1),
    ("t.json", '[\n{"symbol":"A/B","side":"BUY","quantity":"1","price":"1","timestamp":"%s"},'
               '\n{"symbol":"A/B","side":"BUY","quantity":"1","price":"1"}]' % T, 3),
])
def test_a_row_without_its_timestamp_is_refused(tmp_path, memory_repo, name, text, line):
    with pytest.raises(ValidationError, match=rf"^line {line}: timestamp: missing"):
        import_trades(memory_repo, write(tmp_path / name, text))
    assert nothing_stored(memory_repo)


# ------------------------------------------------------------------ booleans

@pytest.mark.parametrize("word, pnl_kept", [
    ("true", True), ("TRUE", True), ("1", True), ("yes", True), ("Yes", True), (" true ", True),
    ("false", False), ("False", False), ("0", False), ("no", False), ("NO", False),
])
def test_boolean_columns_accept_true_false_1_0_yes_no(tmp_path, memory_repo, word, pnl_kept):
    path = write(tmp_path / "t.csv", "symbol,side,quantity,price,timestamp,pnl,pnl_given\n"
                 f"A/B,BUY,1,100,{T},7.5,{word}\n")
    import_trades(memory_repo, path)
    fill, = memory_repo.get_trade_history(days=None)
    # a given pnl is stored as given; pnl_given false means "computed, compute it again":
    # an opening BUY realises nothing, so the store gives it no pnl
    assert fill.pnl == (Decimal("7.5") if pnl_kept else None)


@pytest.mark.parametrize("word", ["maybe", "2", "-1", "t", "y", "on", "off", "0.0", "truee"])
def test_other_boolean_words_are_refused_with_the_row(tmp_path, memory_repo, word):
    path = write(tmp_path / "t.csv", "symbol,side,quantity,price,timestamp,pnl,pnl_given\n"
                 f"A/B,BUY,1,100,{T},1,true\n"
                 f"A/B,BUY,1,100,{T},1,{word}\n")
    with pytest.raises(ValidationError, match=r"^line 3: pnl_given: .* is not a boolean "
                                              r"\(give true/false, 1/0 or yes/no\)") as info:
        import_trades(memory_repo, path)
    assert info.value.field == "pnl_given"
    assert nothing_stored(memory_repo)


def test_json_booleans(tmp_path, memory_repo):
    rows = [{"symbol": "A/B", "side": "BUY", "quantity": "1", "price": "1", "timestamp": T,
             "pnl": "3", "pnl_given": given} for given in (True, 1, "yes")]
    import_trades(memory_repo, write(tmp_path / "t.json", json.dumps(rows)))
    assert [f.pnl for f in memory_repo.get_trade_history(days=None)] == [Decimal(3)] * 3
    bad = write(tmp_path / "b.jsonl", json.dumps(dict(rows[0], pnl_given=0.5)) + "\n")
    with pytest.raises(ValidationError, match="^line 1: pnl_given: Decimal"):
        import_trades(memory_repo, bad)


# ------------------------------------------------------------------ hostile files

def test_a_file_that_is_not_utf8_is_refused(tmp_path, memory_repo):
    path = write(tmp_path / "t.csv", f"symbol,side,quantity,price,timestamp\n"
                 f"A/B,BUY,1,100,{T}\nCAFÉ/EUR,BUY,1,100,{T}\n", encoding="latin-1")
    with pytest.raises(ValidationError, match=r"not UTF-8 text .*save the file as UTF-8"):
        import_trades(memory_repo, path)
    assert nothing_stored(memory_repo)


@pytest.mark.parametrize("text, why", [
    ('[{"symbol":"A/B","side":"BUY","quantity":%s,"price":"1","timestamp":"%s"}]'
     % ("9" * 5000, T), "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('[{"symbol":"A/B","side":"BUY","quantity":NaN,"price":"1","timestamp":"%s"}]' % T,
     "quantity"),
    ('[{"symbol":"A/B","side":"BUY","quantity":"1","price":"1","timestamp":"%s",'
     '"order_id":%s}]' % (T, "9" * 30), "order_id"),
    ('[{"symbol":"A/B","side":"BUY","quantity":"1","price":"1","timestamp":"%s",'
     '"metadata":{"n":%s}}]' % (T, "9" * 30), "64-bit"),
    ('[{"symbol":"A/B\\ud800","side":"BUY","quantity":"1","price":"1","timestamp":"%s"}]'
     % T, "lone surrogate"),
    ('[{"symbol":"A/B","side":"BUY","quantity":"1","price":"1","timestamp":"0001-01-01"}]',
     "out of range"),
])
def test_hostile_json_is_our_error_naming_the_line(tmp_path, memory_repo, text, why):
    with pytest.raises(ValidationError, match=rf"^line 1: .*{why}"):
        import_trades(memory_repo, write(tmp_path / "t.json", text))
    assert nothing_stored(memory_repo)


def test_hostile_csv(tmp_path, memory_repo):
    cases = [("symbol,symbol,side,quantity,price,timestamp\n", "named twice"),
             ("symbol,side,quantity,price,timestamp,colour\n", "'colour': unknown column"),
             ("symbol,side,quantity,price,timestamp\nA/B,BUY,1,100,%s\n" % T
              + 'A/B,BUY,1,"' + "x" * 200_000 + '",%s\n' % T, "not valid CSV")]
    for text, why in cases:
        with pytest.raises(ValidationError, match=why):
            import_trades(memory_repo, write(tmp_path / "t.csv", text))
    assert nothing_stored(memory_repo)


@pytest.mark.parametrize("source", [None, 5, b"t.csv", "no-such-file.csv", ""])
def test_a_source_that_is_not_a_file_is_our_error(memory_repo, source):
    with pytest.raises((ValidationError, DatabaseError), match="source|no such file"):
        import_trades(memory_repo, source)


# ------------------------------------------------------------------ one pass, one transaction

def test_the_file_is_read_once(tmp_path, memory_repo, monkeypatch):
    path = write(tmp_path / "t.csv", "symbol,side,quantity,price,timestamp\n"
                 + "".join(f"A/B,BUY,1,100,2025-01-0{1 + i % 9}\n" for i in range(30)))
    opened = []
    real_open = open

    def counting_open(file, *args, **kwargs):
        if str(file) == str(path):
            opened.append(file)
        return real_open(file, *args, **kwargs)
    monkeypatch.setattr("builtins.open", counting_open)
    monkeypatch.setattr(imports, "CHUNK", 7)
    assert import_trades(memory_repo, path).inserted == 30
    assert len(opened) == 1


@settings(max_examples=examples(15, 5), deadline=None)
@given(bad_at=st.integers(0, 59), chunk=st.integers(1, 25))
def test_a_bad_row_anywhere_leaves_nothing(tmp_path_factory, bad_at, chunk):
    """Chunks before the bad row were saved inside the transaction: all roll back."""
    imports.CHUNK, saved = chunk, imports.CHUNK
    try:
        rows = [f"A/B,{'BUY' if i % 3 else 'SELL'},1,{100 + i},2025-01-01T00:{i:02d}:00Z"
                for i in range(60)]
        rows[bad_at] = "A/B,BUY,1,-5,2025-01-01T00:00:00Z"
        path = tmp_path_factory.mktemp("imp") / "t.csv"
        write(path, "symbol,side,quantity,price,timestamp\n" + "\n".join(rows) + "\n")
        with TradeRepo(":memory:") as repo:
            repo.save_trade({"symbol": "C/D", "side": "BUY", "quantity": "1", "price": "1",
                             "timestamp": "2024-01-01"})
            before = list(repo.db.conn.iterdump())
            with pytest.raises(ValidationError, match=rf"^line {bad_at + 2}: price"):
                import_trades(repo, path)
            assert list(repo.db.conn.iterdump()) == before
            assert not repo.db.conn.in_transaction
    finally:
        imports.CHUNK = saved


# ------------------------------------------------------------------ property

# price x quantity must fit a stored amount (the positions refuse larger entry values)
exact_decimals = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1e9"),
                             allow_nan=False, allow_infinity=False, places=8)


@settings(max_examples=examples(30, 8), deadline=None)
@given(st.lists(st.tuples(exact_decimals, exact_decimals), min_size=1, max_size=8),
       st.sampled_from(["t.json", "t.jsonl", "t.csv"]))
def test_every_digit_survives_any_format(tmp_path_factory, pairs, name):
    """Quantities and prices written as JSON numbers (or CSV text) come back equal and
    with the same digits, whatever they are: never through a float."""
    rows = [{"symbol": "A/B", "side": "BUY", "timestamp": T, "q": format(q, "f"),
             "p": format(p, "f")} for q, p in pairs]
    if name == "t.csv":
        text = "symbol,side,quantity,price,timestamp\n" + "".join(
            f"A/B,BUY,{r['q']},{r['p']},{T}\n" for r in rows)
    else:  # the numbers unquoted: JSON numbers, as an exchange dump writes them
        items = ['{"symbol":"A/B","side":"BUY","quantity":%s,"price":%s,"timestamp":"%s"}'
                 % (r["q"], r["p"], T) for r in rows]
        text = ("[" + ",".join(items) + "]") if name == "t.json" else "\n".join(items)
    path = write(tmp_path_factory.mktemp("digits") / name, text)
    with TradeRepo(":memory:") as repo:
        import_trades(repo, path)
        got = [(format(f.quantity, "f"), format(f.price, "f"))
               for f in sorted(repo.get_trade_history(days=None), key=lambda f: f.id)]
    assert got == [(r["q"], r["p"]) for r in rows]


@pytest.mark.parametrize("options, field", [
    ({"fmt": "xml"}, "format"), ({"fmt": 5}, "format"), ({"exchange": 5}, "exchange"),
    ({"fmt": "ccxt"}, "exchange"), ({"progress": "yes"}, "progress"),
])
def test_bad_options_are_refused_naming_them(tmp_path, memory_repo, options, field):
    path = write(tmp_path / "t.csv", f"symbol,side,quantity,price,timestamp\nA/B,BUY,1,1,{T}\n")
    with pytest.raises(ValidationError, match=f"^{field}: ") as info:
        import_trades(memory_repo, path, **options)
    assert info.value.field == field
    assert nothing_stored(memory_repo)
