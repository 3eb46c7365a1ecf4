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
import shlex

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
            "Every command reads the store named by `--db PATH|URL` (a SQLite file,",
            "`sqlite:///path` or `postgresql://user@host/db`), else `$TRADESTORE_DB`, else",
            "`$DATABASE_URL`, else `./trades.db`; a `StoreError` prints one line on stderr",
            "and exits 1, a usage error exits 2. The guides: [index](index.md).",
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


def test_the_reader_runs_python_only_and_skips_no_run(tmp_path):
    """Worked by hand: of four fences, only the two plain ```python ones are code, in
    order, with the line their fence opens on; headings give GitHub's anchors."""
    page = tmp_path / "page.md"
    page.write_text("# A page: `x` (y)\n\n```python\na = 1\n```\n\n```sh\nrm -rf /\n```\n"
                    "## A page: `x` (y)\n```python no-run\nimport ccxt\n```\n"
                    "```python\nb = a + 1\n```\n")
    assert python_blocks(page) == [(3, "a = 1\n"), (14, "b = a + 1\n")]
    assert anchors(page) == {"a-page-x-y", "a-page-x-y-1"}
    page.write_text("```python\nnever closed\n")
    with pytest.raises(AssertionError, match="never closed"):
        python_blocks(page)


def test_every_command_is_in_the_cli_reference():
    from tradestore.cli import build_parser
    reference = (DOCS / "cli.md").read_text()
    missing = [line for line, _ in commands(build_parser())
               if f"\n## {line}\n" not in reference]
    assert not missing, f"docs/cli.md lacks {missing}: run `python docs/gen_cli.py`"


def command_lines(path: pathlib.Path):
    """(line number, argv) of each ``tradestore ...`` line inside the code blocks of a
    page (a comment after # dropped; global options before the command kept)."""
    found, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = re.search(r"(?:^|&& |\| )(tradestore(?: .*)?)$", line.split(" #")[0].strip())
        if fenced and match:
            found.append((number, shlex.split(match.group(1))[1:]))
    return found


def test_every_command_line_in_the_docs_exists():
    """A ``tradestore X`` shown in a page names a real command; a line without
    placeholders ([...], A|B, UPPER-CASE names, ...) parses with today's options."""
    from tradestore.cli import build_parser
    parser = build_parser()
    known = {line.split()[1] for line, _ in commands(parser)}
    bad, parsed = [], 0
    for page in PAGES:
        for number, argv in command_lines(page):
            words = iter(argv)
            command = next((w for w in words if not w.startswith("-")
                            and not _is_value_of_global(argv, w)), None)
            if command is None or command.startswith("[") or command.isupper():
                continue
            if command not in known:
                bad.append(f"{_name(page)}:{number}: no command {command!r}")
                continue
            shown = " ".join(argv)
            if re.search(r"[\[|]|\.\.\.|\b[A-Z]{2,}\b", shown):
                continue
            try:
                with contextlib.redirect_stderr(io.StringIO()) as err, \
                        contextlib.redirect_stdout(io.StringIO()):
                    parser.parse_args(argv)
                parsed += 1
            except SystemExit as exc:
                if exc.code:
                    bad.append(f"{_name(page)}:{number}: {shown}: "
                               f"{err.getvalue().strip().splitlines()[-1]}")
    assert not bad, "the docs show command lines that do not work:\n" + "\n".join(bad)
    assert parsed >= 20  # the check really ran over the pages' examples


def _is_value_of_global(argv, word):
    """True when ``word`` is the value of a global option (``--db PATH``)."""
    index = argv.index(word)
    return index > 0 and argv[index - 1] in ("--db", "--busy-timeout")


def _words(text: str) -> str:
    """The text without colour codes and with whitespace runs as one space: another
    Python's argparse may wrap or colour the same help differently."""
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", text).split())


def test_the_cli_reference_is_current():
    assert _words((DOCS / "cli.md").read_text()) == _words(cli_reference()), \
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


# --- code the docs name ------------------------------------------------------------------

PY_PATH = re.compile(r"(?<![\w/.-])tradestore/[\w/]+\.py\b")
DOTTED = re.compile(r"(?<![\w/.-])tradestore(?:\.[A-Za-z_]\w*)+")


def named_in_docs(pattern: re.Pattern) -> list[tuple[str, str]]:
    """(page:line, name) for every match of ``pattern`` in README.md and docs/*.md."""
    return [(f"{_name(page)}:{number}", match.group(0)) for page in PAGES
            for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
            for match in pattern.finditer(line)]


def resolves(dotted: str) -> bool:
    """A module (or package) of ours, or an attribute of one (``tradestore.x.y.function``)."""
    import importlib
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            found = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise  # a module of ours that fails to import is a failure, not a miss
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute, None)
            if found is None:
                return False
        return True
    return False


def test_every_module_path_and_dotted_name_in_the_docs_exists():
    """Paths like ``tradestore/record/trades.py`` and names like
    ``tradestore.record.fees.fee_effect`` follow the code when it moves."""
    from tradestore._core.db import SQL_LOGGER
    paths = named_in_docs(PY_PATH)
    dotted = named_in_docs(DOTTED)
    assert len(paths) > 20 and len(dotted) > 10  # the patterns still find what pages hold
    missing = [f"{where} {path}" for where, path in paths if not (ROOT / path).is_file()]
    missing += [f"{where} {name}" for where, name in dotted
                if name != SQL_LOGGER and not resolves(name)]  # a logger's name, not code
    assert not missing, f"code named in the docs that does not exist: {missing}"
