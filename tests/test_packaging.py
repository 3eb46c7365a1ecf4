"""Packaging: zero dependencies, schema files shipped in the package, the entry points.

The slow part, a non-editable install into a fresh venv run from another
directory, is in .ci/run, not here.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

import tradestore
from tradestore._core.migrate import load_migrations

ROOT = Path(tradestore.__file__).resolve().parent.parent
CHECKOUT = (ROOT / "setup.cfg").exists()


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def setup_cfg() -> configparser.ConfigParser:
    if not CHECKOUT:
        pytest.skip("not running from a source checkout")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "setup.cfg")
    return parser


def test_schema_files_are_found_through_importlib_resources():
    """What an installed package uses: tradestore.schema must hold every .sql file."""
    if importlib.util.find_spec("tradestore.schema") is None:
        if in_ci():
            pytest.fail("tradestore.schema is not importable: is the package installed?")
        pytest.skip("package not installed (pip install -e '.[test]'); running from a checkout")
    shipped = sorted(f.name for f in resources.files("tradestore.schema").iterdir()
                     if f.name.endswith(".sql"))
    assert shipped[0] == "0001_initial.sql"
    assert shipped == [m.filename for m in load_migrations()]
    if CHECKOUT:
        assert shipped == sorted(p.name for p in (ROOT / "schema").glob("*.sql"))


def test_every_schema_file_is_loaded():
    if not CHECKOUT:
        pytest.skip("not running from a source checkout")
    on_disk = sorted(p.name for p in (ROOT / "schema").glob("*.sql"))
    assert [m.filename for m in load_migrations()] == on_disk
    assert (ROOT / "schema" / "__init__.py").exists()  # so it is a package to ship


def test_setup_cfg_declares_package_data_entry_point_and_no_dependencies():
    cfg = setup_cfg()
    assert not cfg.get("options", "install_requires", fallback="").strip()
    assert cfg.get("options", "python_requires").strip() == ">=3.11"
    packages = cfg.get("options", "packages").split()
    assert {"tradestore", "tradestore.cli", "tradestore.benchmarks", "tradestore.schema"} \
        <= set(packages)
    on_disk = {".".join(p.relative_to(ROOT).parts[:-1]) for p in
               (ROOT / "tradestore").rglob("__init__.py")}
    assert on_disk <= set(packages), f"packages not listed in setup.cfg: {on_disk - set(packages)}"
    assert "tradestore.schema = schema" in cfg.get("options", "package_dir")
    assert "*.sql" in cfg.get("options.package_data", "tradestore.schema")
    extras = cfg.get("options.extras_require", "test")
    assert "pytest" in extras and "hypothesis" in extras
    assert "tradestore = tradestore.cli:main" in cfg.get("options.entry_points", "console_scripts")


def test_pyproject_holds_only_the_build_system():
    if not CHECKOUT:
        pytest.skip("not running from a source checkout")
    text = (ROOT / "pyproject.toml").read_text()
    assert "[build-system]" in text and "setuptools" in text
    assert "dependencies" not in text


def test_imports_nothing_outside_the_standard_library():
    code = ("import sys, pkgutil, importlib, tradestore\n"
            "for m in pkgutil.walk_packages(tradestore.__path__, 'tradestore.'):\n"
            "    if not m.name.endswith('__main__'):\n"
            "        importlib.import_module(m.name)\n"
            "import tradestore.cli\n"
            "names = {n.split('.')[0] for n in sys.modules}\n"
            "print(sorted(n for n in names if n not in sys.stdlib_module_names "
            "and n not in ('tradestore', '__main__') and not n.startswith('_')))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"third-party imports: {result.stdout}"


def test_python_dash_m_and_version():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "tradestore", "--version"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == \
        f"tradestore {tradestore.__version__}"


def test_readme_shows_the_two_commands_ci_runs():
    readme = ROOT / "README.md"
    if not readme.exists():
        if in_ci():
            pytest.fail("README.md is missing")
        pytest.skip("README.md not written yet")
    text = readme.read_text()
    assert "pip install -e '.[test]'" in text and "pytest" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[test]'" in ci and "pytest" in ci
