"""The docs stay true: their Python runs, the CLI reference is complete and current,
and every relative link leads somewhere.

Also home of ``cli_reference()``, the generator of docs/cli.md (docs/gen_cli.py calls it),
so that the test and the generator can never disagree about the format.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
FENCE = re.compile(r"^```(\S*)[ \t]*(.*)$")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HELP_WIDTH = "80"


# --- the CLI reference generator -------------------------------------------------------

def commands(parser: argparse.ArgumentParser, prefix: str = "tradestore"):
    """Every (command line, parser) under ``parser``, depth first, in declared order."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias of a command already listed
                    continue
                seen.add(id(sub))
                found.append((f"{prefix} {name}", sub))
                found.extend(commands(sub, f"{prefix} {name}"))
    return found


def cli_reference() -> str:
    """docs/cli.md: the ``--help`` of ``tradestore`` and of every command, 80 columns."""
    from tradestore.cli import build_parser
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH  # argparse wraps to $COLUMNS: fix it for a stable page
    try:
        parser = build_parser()
        parts = [
            "# CLI reference",
            "",
            "Generated from the argparse parser by `python docs/gen_cli.py`; do not edit by",
            "hand (tests/test_docs.py fails when this page and the commands disagree).",
            "Every command reads the database named by `--db PATH`, else `$TRADESTORE_DB`,",
            "else `./trades.db`; a `StoreError` prints one line on stderr and exits 1, a",
            "usage error exits 2. The guides: [index](index.md).",
            "",
            "## tradestore",
            "",
            "```text",
            parser.format_help().rstrip(),
            "```",
        ]
        for line, sub in commands(parser):
            parts += ["", f"## {line}", "", "```text", sub.format_help().rstrip(), "```"]
        return "\n".join(parts) + "\n"
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


# --- reading the pages -----------------------------------------------------------------

def python_blocks(path: pathlib.Path):
    """(line number, source) of every ```python block; ```python no-run is left out."""
    blocks, current, start, runnable = [], None, 0, False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = FENCE.match(line)
        if current is None and match and match.group(1):
            current, start = [], number
            runnable = match.group(1) == "python" and match.group(2) != "no-run"
        elif current is not None and line.startswith("```"):
            if runnable:
                blocks.append((start, "\n".join(current) + "\n"))
            current = None
        elif current is not None:
            current.append(line)
    assert current is None, f"{path.name}: the block opened on line {start} is never closed"
    return blocks


def _name(path):
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=_name)
def test_the_python_blocks_of_a_page_run(page, tmp_path, monkeypatch):
    """Every ```python block runs, in order, in one namespace, in a fresh folder."""
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for start, source in python_blocks(page):
        code = compile(source, f"{_name(page)}:{start}", "exec")
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                exec(code, namespace)
            except Exception as exc:
                pytest.fail(f"{_name(page)}, the block on line {start}: "
                            f"{type(exc).__name__}: {exc}")


def test_blocks_are_found_and_no_run_is_explained():
    """The runner sees the blocks it should; each ```python no-run says why on the page."""
    assert len(python_blocks(ROOT / "README.md")) >= 1
    for page in PAGES:
        text = page.read_text()
        for match in re.finditer(r"^```python no-run$", text, re.M):
            before = text[:match.start()].rsplit("\n\n", 2)[-2:]
            assert "network" in " ".join(before) or "exchange" in " ".join(before), \
                f"{_name(page)}: a python no-run block must say why (network/exchange) just above"


def test_every_command_is_in_the_cli_reference():
    from tradestore.cli import build_parser
    reference = (DOCS / "cli.md").read_text()
    missing = [line for line, _ in commands(build_parser())
               if f"\n## {line}\n" not in reference]
    assert not missing, f"docs/cli.md lacks {missing}: run `python docs/gen_cli.py`"


def test_the_cli_reference_is_current():
    assert (DOCS / "cli.md").read_text() == cli_reference(), \
        "docs/cli.md is out of date with the commands: run `python docs/gen_cli.py`"


def anchors(path: pathlib.Path) -> set[str]:
    """The heading anchors GitHub makes for a Markdown page (lower case, punctuation
    dropped, spaces to hyphens, a repeated heading numbered -1, -2, ...)."""
    found, seen, fenced = set(), {}, False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def test_every_relative_link_points_at_a_file_and_heading():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file) if file else page
            if not path.exists():
                broken.append(f"{_name(page)} -> {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{_name(page)} -> {target} (no such heading)")
    assert not broken, f"broken links: {broken}"


def test_the_readme_is_short_and_keeps_the_two_commands_ci_greps():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert re.search(r"^pip install \. && tradestore demo$", text, re.M)
    assert re.search(r"^pip install -e '\.\[test\]' && pytest$", text, re.M)


def test_the_generator_lists_nested_commands():
    """The walk the reference depends on finds a group and its subcommands."""
    from tradestore.cli import build_parser
    lines = [line for line, _ in commands(build_parser())]
    assert "tradestore settings" in lines and "tradestore settings set" in lines
    assert lines.index("tradestore settings") < lines.index("tradestore settings set")
