"""tradestore bench --peers (issue 16.6) and the scale rows (16.7): the rows are there,
named, and a missing peer is one line, never an error. Timings are not asserted."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys

from tradestore import benchmarks
from tradestore.benchmarks import scale

HAVE_SQLALCHEMY = importlib.util.find_spec("sqlalchemy") is not None
HAVE_PANDAS = importlib.util.find_spec("pandas") is not None


def test_peer_rows_name_the_peer():
    out = io.StringIO()
    results = benchmarks.run(rows=200, only="peers", out=out)
    text = out.getvalue()
    names = [r.name for r in results]
    assert "floor column is the peer named; ratio = ours / peer" in text
    if HAVE_SQLALCHEMY:
        assert any(n.startswith("save_trades bulk, 200 fills vs ORM add_all") for n in names)
        assert any(n.startswith("save_trades bulk, 200 fills vs Core") for n in names)
        assert any("get_trade_history" in n and n.endswith("vs ORM") for n in names)
        assert any(n.startswith("get_statistics(days=None), 200 trips vs Core") for n in names)
    else:
        assert "SQLAlchemy 2 is not installed" in text and "pip install" in text
    if HAVE_PANDAS:
        assert any(n.endswith("vs pandas") for n in names)
    else:
        assert "pandas is not installed" in text
    assert all(r.ours > 0 and r.floor > 0 for r in results)
    assert "failed in the peer" not in text


def test_missing_peers_print_what_to_install(tmp_path):
    """A real process in which neither peer can be imported: two lines, exit 0."""
    code = ("import sys; sys.modules['sqlalchemy'] = None; sys.modules['pandas'] = None; "
            "from tradestore.cli import main; sys.exit(main(['bench', '--only', 'peers', "
            "'--rows', '100']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "peers: SQLAlchemy 2 is not installed; for its rows: pip install" in done.stdout
    assert "peers: pandas is not installed" in done.stdout
    assert "Traceback" not in done.stderr


def test_scale_rows_follow_rows(tmp_path):
    """--rows 1000 runs the 10k-fill size only (sizes go up to rows x 10 fills); each row
    prints a per-unit cost, and the streamed reads their peak memory."""
    ctx = benchmarks.Context(tmp_path, 1_000)
    rows = list(scale.benches(ctx))
    assert [r.name for r in rows] == ["scale: history(symbol, 30d), 10,000 fills",
                                      "scale: statistics, 10,000 fills",
                                      "scale: 30-day metrics, 10,000 fills",
                                      "scale: iter_trades(30d), 10,000 fills"]
    assert "us/row" in rows[0].note and "us/trip" in rows[1].note
    assert "us/row" in rows[2].note and "us/fill" in rows[3].note
    assert "peak" in rows[1].note and "peak" in rows[3].note
    assert scale.sizes(999) == [] and scale.sizes(100_000) == [10_000, 100_000, 1_000_000]
