"""The package layout keeps its dependencies pointing one way (issue 18.1).

Layers, lowest first (docs/architecture.md): a module may import from its own layer
and the layers below, never above. No import cycles, and no import of our own modules
inside a function (the usual way to hide a cycle).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tradestore"

LAYERS = [
    ["errors"],
    ["_core"],
    ["record"],
    ["books"],
    ["state"],
    ["market"],
    ["analytics"],
    ["ops"],
    ["repo", "aio"],
    ["tools", "artifacts"],
    ["__init__"],
    ["cli", "benchmarks", "__main__"],
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))
            if "__pycache__" not in p.parts}


def our_imports(path: Path):
    """(module imported, line, inside a function?) for every import of tradestore code."""
    tree = ast.parse(path.read_text(), str(path))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[:len(package.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target == "tradestore" or target.startswith("tradestore."):
                    for alias in child.names:  # `from tradestore.x import module`
                        sub = f"{target}.{alias.name}"
                        found.append((sub if sub in MODULES else target, child.lineno, nested))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("tradestore"):
                        found.append((alias.name, child.lineno, nested))
            visit(child, nested)

    visit(tree, False)
    return found


MODULES = modules()


def layer(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else "__init__"
    return RANK[key]


def test_every_module_has_a_layer():
    unknown = [m for m in MODULES if layer_or_none(m) is None]
    assert not unknown, f"modules outside the layer list of this test: {unknown}"


def layer_or_none(module):
    try:
        return layer(module)
    except KeyError:
        return None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_and_none_hide_in_functions(module):
    for target, line, in_function in our_imports(MODULES[module]):
        where = f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}"
        assert not in_function, f"{where}: import of {target} inside a function"
        if target == "tradestore" or target.startswith("tradestore.__init__"):
            continue
        assert layer(target) <= layer(module), \
            f"{where}: {module} (layer {layer(module)}) imports {target} (layer {layer(target)})"


def test_no_import_cycles():
    graph = {m: {t for t, _, _ in our_imports(p) if t in MODULES and t != m}
             for m, p in MODULES.items()}
    state, stack = {}, []

    def walk(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node)


def test_the_layer_test_sees_a_violation(tmp_path):
    """The checker itself: an upward import and a hidden one are both found."""
    fake = PACKAGE / "_core" / "codec.py"
    imports = our_imports(fake)
    assert imports and all(not f for _, _, f in imports)
    assert layer("tradestore._core.codec") < layer("tradestore.record.trades")
    assert layer("tradestore.cli.ops") > layer("tradestore.repo")
