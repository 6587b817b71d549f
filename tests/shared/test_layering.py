"""The layers import downwards: nothing under ``shared/`` imports a function, a dev tool or a test.

``functions/`` builds on ``shared/``; an import the other way would make a Lambda import other
functions' modules (or what never ships) at its cold start. Read from the source with ``ast``,
so that an import inside a function body counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
_UPPER_LAYERS = ("functions", "devtools", "tests")


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(SHARED.rglob("*.py")), ids=lambda p: p.name)
def test_shared_imports_no_function_dev_tool_or_test(path: Path) -> None:
    upward = sorted(name for name in _imported(path) if name.split(".")[0] in _UPPER_LAYERS)
    assert not upward, f"{path.relative_to(SHARED.parent)} imports {upward}"


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "late.py"
    module.write_text(
        "def f():\n    from functions import all_routes\n    import functions.health\n"
    )
    assert _imported(module) == {"functions", "functions.health"}
