"""decimal_add/sub/mul/cmp/sum and decimal(): the sqlite3 shell's answers, exactly.

A view written once must give the same text in Python and in ``sqlite3 trades.db``.
The comparison runs thousands of generated inputs through the real shell in one
invocation, and the same SQL through our connection; then checks the arithmetic
itself against Python's Decimal.
"""

from __future__ import annotations

import json
import random
import subprocess
from decimal import Context, Decimal

import pytest
from hypothesis import given, strategies as st

from tradestore._core import decimal_sql
from tradestore._core.db import Database

EXACT = Context(prec=500)

EDGE_CASES = [
    # trailing zeros and scale
    ("1.10", "2.2"), ("1.10", "1.10"), ("2.200", "0.1"), ("1.50", "2.0"), ("100", "0.00"),
    # results that are zero, including negative zero
    ("1.5", "1.5"), ("-1.5", "-1.5"), ("-0", "0"), ("-0.00", "0.0"), ("0", "-0"),
    ("-7843", "0.0"), ("-0.5", "0"),
    # leading zeros, signs and spaces
    ("007.50", "0003"), ("+5", "-05.0"), ("  -.5", "0.5"), ("-00.00", "00"), (" 12 ", "1"),
    # exponents
    ("1.5e3", "2E-4"), ("-3.2e+2", "1e0"), ("1e", "2"), ("1E+", "e5"), ("922793.141978876000e-14", "3"),
    ("12345e-10", "1e10"), ("0.0001e4", "100e-2"),
    # NULLs and non-numbers
    (None, "1"), ("1", None), (None, None), ("", "1"), ("abc", "2"), (".", "-"), ("1.2.3", "1x5"),
    # integers and reals as SQLite stores them
    (5, "1.10"), (-12, 3), (0.1, "0.2"), (1e20, 1), (-0.0, "-7843"), (2.5e-10, 0.5),
    (650609815985631.5, 1),  # SQLite's printf rounds this 16th digit its own way
]


def _random_text(rng: random.Random) -> str:
    s = rng.choice(["", "", "", "-", "+", " ", " -"])
    s += "0" * rng.choice([0, 0, 0, 1, 3])
    s += "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 14)))
    if rng.random() < 0.6:
        s += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 12)))
        if rng.random() < 0.3:
            s += "0" * rng.randint(1, 4)
    if rng.random() < 0.2:
        s += rng.choice("eE") + rng.choice(["", "-", "+"]) + str(rng.randint(0, 30))
    return s


def _random_value(rng: random.Random):
    r = rng.random()
    if r < 0.04:
        return None
    if r < 0.10:
        return rng.randint(-10**9, 10**9)
    if r < 0.14:
        return rng.uniform(-1, 1) * 10 ** rng.randint(-12, 20)
    return _random_text(rng)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A database of generated inputs, answered by the real shell in one run."""
    import shutil
    shell = shutil.which("sqlite3")
    if shell is None:
        return None
    rng = random.Random(20240601)
    pairs = EDGE_CASES + [(_random_value(rng), _random_value(rng)) for _ in range(4000)]
    folder = tmp_path_factory.mktemp("decimal")
    path = folder / "inputs.db"
    db = Database(path)
    with db.transaction() as conn:
        conn.execute("CREATE TABLE pairs (id INTEGER PRIMARY KEY, x ANY, y ANY)")
        conn.executemany("INSERT INTO pairs (x, y) VALUES (?, ?)", pairs)
        conn.execute("CREATE TABLE amounts (id INTEGER PRIMARY KEY, g INTEGER, x ANY)")
        groups = [(rng.randint(0, 40), _random_text(rng) if rng.random() > 0.1 else None)
                  for _ in range(3000)]
        groups += [(99, None), (99, None)]  # a group of NULLs only
        conn.executemany("INSERT INTO amounts (g, x) VALUES (?, ?)", groups)
    db.close()
    script = [".mode json"]
    for name, sql in QUERIES.items():
        script += [f".once {folder / name}.json", sql + ";"]
    run = subprocess.run([shell, str(path)], input="\n".join(script) + "\n",
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and not run.stderr, run.stderr
    answers = {}
    for name in QUERIES:
        text = (folder / f"{name}.json").read_text()
        answers[name] = [list(row.values()) for row in json.loads(text)] if text.strip() else []
    return path, answers


QUERIES = {
    "scalars": "SELECT id, decimal_add(x, y), decimal_sub(x, y), decimal_mul(x, y), "
               "decimal_cmp(x, y), decimal(x), decimal(y) FROM pairs ORDER BY id",
    "sums": "SELECT g, decimal_sum(x), count(x) FROM amounts GROUP BY g ORDER BY g",
    "total": "SELECT decimal_sum(x) FROM amounts",
    "empty": "SELECT decimal_sum(x) FROM amounts WHERE 0",
    "nested": "SELECT decimal_sum(decimal_mul(x, '1.5')), decimal_sum(decimal_sub(x, '0.10')) "
              "FROM amounts WHERE g < 10",
    "window": "SELECT id, decimal_sum(x) OVER (PARTITION BY g ORDER BY id "
              "ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) FROM amounts ORDER BY id",
    "running": "SELECT id, decimal_sum(x) OVER (ORDER BY id) FROM amounts WHERE g < 4 ORDER BY id",
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_same_answers_as_the_sqlite3_shell(sqlite3_bin, batch, name):
    path, answers = batch
    db = Database(path, readonly=True)  # our connection: functions registered at open
    try:
        ours = [list(row) for row in db.query(QUERIES[name])]
    finally:
        db.close()
    shell = answers[name]
    assert len(ours) == len(shell) and len(ours) > 0
    mismatches = [(o, s) for o, s in zip(ours, shell) if o != s]
    assert not mismatches, f"{len(mismatches)} differ, e.g. ours/shell: {mismatches[:5]}"


def test_the_batch_covers_the_interesting_cases(sqlite3_bin, batch):
    """Guard against a generator that silently stops producing the hard inputs."""
    _, answers = batch
    rows = answers["scalars"]
    results = [v for row in rows for v in row[1:4]]
    assert any(v is None for v in results)                          # NULL in, NULL out
    assert any(isinstance(v, str) and v.startswith("-0") and v.strip("-0.") == ""
               for v in results)                                    # a negative zero
    assert any(isinstance(v, str) and "." in v and v.endswith("0") for v in results)
    assert {row[4] for row in rows} >= {-1, 0, 1}
    assert answers["empty"] == [[None]]
    assert [99, "0", 0] in answers["sums"]                          # only NULLs: '0'


def test_registered_on_every_connection(repo):
    assert repo.db.scalar("SELECT decimal_add('1.10', '2')") == "3.10"
    assert repo.db.scalar("SELECT decimal_sub('1', '1.00')") == "0.00"
    assert repo.db.scalar("SELECT decimal_mul('1.50', '2.0')") == "3.0"
    assert repo.db.scalar("SELECT decimal_cmp('2', '10')") == -1
    assert repo.db.scalar("SELECT decimal('001.500')") == "1.500"
    assert repo.db.scalar(
        "SELECT decimal_sum(v) FROM (SELECT '0.1' AS v UNION ALL SELECT '0.2')") == "0.3"
    assert repo.db.scalar("SELECT decimal_sum(v) FROM (SELECT 1 AS v) WHERE 0") is None


def test_known_shell_quirks():
    """Documented: scale follows the inputs, and decimal_cmp ranks '1.0' above '1'."""
    assert decimal_sql.decimal_add("1.10", "1.10") == "2.20"
    assert decimal_sql.decimal_mul("1.10", "2") == "2.2"        # down to the smaller scale
    assert decimal_sql.decimal_mul("1.25", "0.5") == "0.625"
    assert decimal_sql.decimal_cmp("1.0", "1") == 1
    assert decimal_sql.decimal_cmp("1", "1") == 0
    assert decimal_sql.decimal_sub("1.5", "1.5") == "0.0"
    assert decimal_sql.decimal_add(None, "1") is None


# ------------------------------------------------------------ mathematics

def plain_numbers(max_digits=30):
    return st.builds(
        lambda sign, digits, exp: format(Decimal((sign, tuple(digits), exp)), "f"),
        st.integers(0, 1), st.lists(st.integers(0, 9), min_size=1, max_size=max_digits),
        st.integers(-25, 10))


def exact_sum(values) -> Decimal:
    total = Decimal(0)
    for v in values:
        total = EXACT.add(total, Decimal(v))
    return total


def scale(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


@given(plain_numbers(), plain_numbers())
def test_add_sub_mul_are_exact(a, b):
    x, y = Decimal(a), Decimal(b)
    total = decimal_sql.decimal_add(a, b)
    assert Decimal(total) == EXACT.add(x, y)
    assert scale(total) == max(scale(a), scale(b))          # keeps the larger scale
    difference = decimal_sql.decimal_sub(a, b)
    assert Decimal(difference) == EXACT.subtract(x, y)
    assert scale(difference) == max(scale(a), scale(b))
    product = decimal_sql.decimal_mul(a, b)
    assert Decimal(product) == EXACT.multiply(x, y)
    assert min(scale(a), scale(b)) <= scale(product) <= scale(a) + scale(b)
    if x != y:
        assert decimal_sql.decimal_cmp(a, b) == (1 if x > y else -1)
    assert decimal_sql.decimal_cmp(a, a) == 0


@given(st.lists(plain_numbers(20), max_size=30))
def test_sum_is_exact(values):
    aggregate = decimal_sql.DecimalSum()
    for v in values:
        aggregate.step(v)
    result = aggregate.value()
    if not values:
        assert result is None
        return
    assert Decimal(result) == exact_sum(values)
    assert scale(result) == max(scale(v) for v in values)


@given(st.lists(plain_numbers(15), min_size=1, max_size=12))
def test_sum_through_sql_matches_python(values):
    db = Database(":memory:")
    try:
        with db.transaction() as conn:
            conn.execute("CREATE TABLE t (x TEXT)")
            conn.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
        total = db.scalar("SELECT decimal_sum(x) FROM t")
        assert Decimal(total) == exact_sum(values)
    finally:
        db.close()
