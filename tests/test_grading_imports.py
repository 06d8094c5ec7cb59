"""The grader is its own subpackage, and it imports cheaply.

No torch or matplotlib on import, every module importable alone (no cycle), no private names
imported across modules, nothing loaded by path; the package's public names load on first use.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GRADING = ROOT / "rnncourse" / "grading"
MODULES = sorted(
    f"rnncourse.grading.{p.stem}"
    for p in GRADING.glob("*.py")
    if p.stem not in ("__init__", "__main__")
)
HEAVY = ("torch", "matplotlib", "numpy")


def _imported_after(statement: str) -> list[str]:
    """The heavy top-level modules a fresh interpreter has loaded after ``statement``."""
    listing = "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    code = f"import json, sys; {statement}; {listing}"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return [m for m in json.loads(done.stdout) if m in HEAVY]


def test_import_rnncourse_grading_imports_no_torch_or_matplotlib():
    assert _imported_after("import rnncourse.grading") == []
    assert (
        _imported_after("import rnncourse.grading.cli") == []
    )  # the command line, before it grades


def test_import_rnncourse_alone_is_lazy():
    assert _imported_after("import rnncourse") == []


@pytest.mark.parametrize("module", MODULES)
def test_each_grading_module_imports_alone(module):
    """In a fresh interpreter, so an import cycle between two modules would show here."""
    heavy = _imported_after(f"import {module}")
    if module != "rnncourse.grading.checks":  # the checks compare tensors: they need torch
        assert heavy == [], f"{module} imports {heavy}"


def test_no_private_names_are_imported_across_modules():
    offences = []
    for path in sorted([*GRADING.glob("*.py"), ROOT / "rnncourse" / "__init__.py"]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rnncourse"):
                offences += [
                    f"{path.name}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_")
                ]
    assert not offences


def test_nothing_is_loaded_by_path():
    users = [
        str(p.relative_to(ROOT))
        for folder in ("rnncourse", "tools", "tests")
        for p in sorted((ROOT / folder).rglob("*.py"))
        if p.name != Path(__file__).name and "spec_from_file_location" in p.read_text()
    ]
    assert not users


def test_public_names_of_rnncourse_load_on_first_use():
    code = (
        "import rnncourse, rnncourse.train, rnncourse.autocorrelation;"
        "from rnncourse import ElmanRNN, train;"
        "assert set(rnncourse.__all__) <= set(dir(rnncourse));"
        "assert callable(train) and not isinstance(train, type(rnncourse));"
        "assert not isinstance(rnncourse.autocorrelation, type(rnncourse));"
        "print(ElmanRNN.__module__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "rnncourse.elman"
    import rnncourse

    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        rnncourse.no_such_name  # noqa: B018 - the attribute access is the test
