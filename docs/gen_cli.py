"""Write docs/cli.md, the CLI reference, from the argparse parser of ``tradestore``.

Run ``python docs/gen_cli.py`` after adding or changing a command; tests/test_docs.py
fails until docs/cli.md equals what this script generates.
"""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from test_docs import cli_reference  # noqa: E402  (the generator lives beside its test)

if __name__ == "__main__":
    target = ROOT / "docs" / "cli.md"
    target.write_text(cli_reference())
    print(f"wrote {target}")
