"""Fixtures shared by the grading tests (test_grading.py, test_tamper_and_isolation.py)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from rnncourse.grading import assign

ROOT = Path(__file__).resolve().parents[1]


@cache
def _assigned(set_name: str, out_root: Path):
    return assign(ROOT / "exercises" / "masters" / f"{set_name}.ipynb", out_root / set_name)


@pytest.fixture(scope="session")
def assigned(tmp_path_factory):
    """``assigned(set)``: one `otter assign` output per set per session (student, solutions, zip).

    Returns:
        A function of the set's name.
    """
    out_root = tmp_path_factory.mktemp("assign")
    return lambda set_name: _assigned(set_name, out_root)
