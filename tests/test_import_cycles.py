"""``scripts/check_import_cycles.py``: the package has no import cycle, and the check finds the ones it must."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "check_import_cycles.py"


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_import_cycles", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_airflow_zaloni_has_no_import_cycle_but_the_expected_ones() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(REPO / "airflow_zaloni")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_a_cycle_through_an_import_inside_a_function_is_found_with_its_path(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "a.py": "from pkg.b import helper\n",
            "b.py": "def helper():\n    from pkg import c\n    return c\n",
            "c.py": "from pkg import a\n",
            "d.py": "import pkg.a\n",  # depends on the cycle without being part of it
        },
    )
    (problem,) = _checker().check(root, [])
    assert "import cycle among 3 modules: pkg.a, pkg.b, pkg.c" in problem
    assert "pkg.a -> pkg.b -> pkg.c -> pkg.a" in problem


def test_relative_imports_and_package_inits_count(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "sub/__init__.py": "from .x import X\n",
            "sub/x.py": "from ..y import Y\nX = 1\n",
            "y.py": "from pkg.sub import X\nY = 2\n",
        },
    )
    (problem,) = _checker().check(root, [])
    assert "pkg.sub, pkg.sub.x, pkg.y" in problem


def test_typing_only_imports_do_not_make_a_cycle(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "a.py": "from pkg.b import B\n",
            "b.py": """\
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from pkg.a import A
                else:
                    import json
                B = 1
            """,
        },
    )
    assert _checker().check(root, []) == []


def test_an_expected_cycle_passes_until_it_is_gone_then_its_entry_must_go(tmp_path: Path) -> None:
    checker = _checker()
    expected = [frozenset({"pkg.a", "pkg.b"})]
    root = _package(tmp_path, {"a.py": "import pkg.b\n", "b.py": "def f():\n    import pkg.a\n"})
    assert checker.check(root, expected) == []
    (root / "b.py").write_text("def f():\n    return 1\n")
    (problem,) = checker.check(root, expected)
    assert "lists a cycle that is gone (pkg.a, pkg.b): remove the entry" in problem


@pytest.mark.parametrize("broken", [False, True])
def test_the_command_exits_1_on_a_cycle(tmp_path: Path, broken: bool) -> None:
    root = _package(tmp_path, {"a.py": "import pkg.b\n", "b.py": "import pkg.a\n" if broken else ""})
    done = subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, check=False)
    assert done.returncode == (1 if broken else 0)
    assert ("import cycle among 2 modules: pkg.a, pkg.b" in done.stderr) is broken
