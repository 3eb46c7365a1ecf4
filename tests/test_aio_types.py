"""AsyncTradeRepo is visible to type checkers and IDEs (issue 18.4).

At run time ``tradestore/aio.py`` makes one coroutine per public TradeRepo method
(``_add_methods``). For static tools the same methods are written out in a
``TYPE_CHECKING`` block of aio.py, generated here from TradeRepo's signatures; this test
fails while the two differ. After changing a public method of TradeRepo, rewrite the
block with ``python tests/test_aio_types.py``.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AIO = ROOT / "tradestore" / "aio.py"
BEGIN = "if TYPE_CHECKING:\n"
END = "else:\n    _Coroutines = object\n"
WIDTH = 100

if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))

from tradestore import AsyncTradeRepo, TradeRepo  # noqa: E402
from tradestore.aio import STREAMED, public_methods  # noqa: E402


def _default(value) -> str:
    text = repr(value)
    return f'"{value}"' if isinstance(value, str) and text == f"'{value}'" else text


def _param(p: inspect.Parameter) -> str:
    text = p.name if p.annotation is p.empty else f"{p.name}: {p.annotation}"
    if p.default is not p.empty:
        sign = " = " if p.annotation is not p.empty else "="
        text += sign + _default(p.default)
    return text


def _parts(signature: inspect.Signature) -> list[str]:
    """The parameters as written in a def: with ``*`` before the keyword-only ones."""
    parts, star = [], False
    for p in signature.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            star = True
            parts.append(f"*{p.name}")
            continue
        if p.kind is p.VAR_KEYWORD:
            parts.append(f"**{p.name}")
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            star = True
            parts.append("*")
        parts.append(_param(p))
    return parts


def _wrapped(head: str, pieces: list[str], tail: str) -> list[str]:
    """``head`` + pieces joined by ", " + ``tail``, continued under the first piece."""
    items = [p + ", " for p in pieces[:-1]] + [pieces[-1] + tail]
    lines, line = [], head
    for item in items:
        if len(line) + len(item.rstrip()) > WIDTH and line != head:
            lines.append(line.rstrip())
            line = " " * len(head)
        line += item
    return lines + [line]


def _definition(name: str, method) -> list[str]:
    """One method of the block, as _add_methods makes it (a coroutine or an iterator)."""
    signature = inspect.signature(method)
    returns = signature.return_annotation
    assert returns is not signature.empty, f"TradeRepo.{name} has no return annotation"
    if name in STREAMED:
        element = re.fullmatch(r"Iterator\[(.+)\]", returns)
        assert element, f"TradeRepo.{name} is streamed: annotate it -> Iterator[...]"
        return _wrapped(f"        def {name}(", _parts(signature),
                        f") -> WorkerIterator[{element.group(1)}]: ...")
    return _wrapped(f"        async def {name}(", _parts(signature), f") -> {returns}: ...")


def _names_used(annotations: list[str]) -> list[str]:
    found = set()
    for text in annotations:
        for node in ast.walk(ast.parse(text, mode="eval")):
            if isinstance(node, ast.Name):
                found.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                found.add(node.value.id)
    return sorted(found - set(vars(builtins)) - {"WorkerIterator"}, key=str.lower)


def _annotations() -> list[str]:
    found = []
    for method in public_methods().values():
        signature = inspect.signature(method)
        found += [p.annotation for p in signature.parameters.values()
                  if p.annotation is not p.empty]
        found.append(signature.return_annotation)
    return found


def render() -> str:
    """The TYPE_CHECKING block of aio.py for the TradeRepo of today."""
    methods = public_methods()
    lines = _wrapped("    from tradestore.repo import (", _names_used(_annotations()), ")")
    out = [BEGIN.rstrip("\n"), *lines, "", "    class _Coroutines:",
           '        """TradeRepo\'s public methods as AsyncTradeRepo has them."""', ""]
    for name, method in methods.items():
        out += _definition(name, method)
    return "\n".join(out) + "\n" + END


def current() -> str:
    text = AIO.read_text()
    start = text.index(BEGIN)
    return text[start:text.index(END, start) + len(END)]


def test_the_static_block_matches_trade_repo():
    assert current() == render(), \
        "aio.py's TYPE_CHECKING block is stale: run python tests/test_aio_types.py"


def test_every_method_of_the_block_exists_at_run_time():
    for name in public_methods():
        made = vars(AsyncTradeRepo)[name]
        assert inspect.signature(made) == inspect.signature(getattr(TradeRepo, name)), name
        if name in STREAMED:
            assert not inspect.iscoroutinefunction(made), name
        else:
            assert inspect.iscoroutinefunction(made), name


def test_the_constructor_takes_trade_repo_options_by_name():
    ours = inspect.signature(AsyncTradeRepo.__init__).parameters
    theirs = inspect.signature(TradeRepo.__init__).parameters
    options = {n: p.default for n, p in theirs.items()
               if p.kind is p.KEYWORD_ONLY and not n.startswith("_")}
    assert {n: p.default for n, p in ours.items() if p.kind is p.KEYWORD_ONLY} == options
    assert not any(p.kind is p.VAR_KEYWORD for p in ours.values())


@pytest.mark.parametrize("owner", [TradeRepo, AsyncTradeRepo])
def test_public_methods_hide_no_parameters(owner):
    """No ``**options`` / ``**filters`` on the facade: IDEs and help() show every name."""
    for name in vars(owner):
        value = getattr(owner, name)
        if name.startswith("_") or not callable(value) or name == "run":
            continue
        kinds = {p.kind for p in inspect.signature(value).parameters.values()}
        assert inspect.Parameter.VAR_KEYWORD not in kinds, f"{owner.__name__}.{name}"


def test_the_block_imports_names_that_repo_has():
    import tradestore.repo
    for name in _names_used(_annotations()):
        assert hasattr(tradestore.repo, name), name


if __name__ == "__main__":
    text = AIO.read_text()
    AIO.write_text(text.replace(current(), render()))
    print(f"rewrote the TYPE_CHECKING block of {AIO}")
