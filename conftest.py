"""Which tests are slow, for every test directory: ``make unit`` leaves them out.

``make unit`` runs ``pytest -m "not slow" rnncourse tests``, the fast unit tests only (under
a minute); ``make test`` runs everything. A test is slow if it is marked
``@pytest.mark.slow`` or lives in one of the files below, listed with the reason. The list
is here, at the root, so that one place says what the fast selection leaves out.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterable

ROOT = Path(__file__).resolve().parent

SLOW_FILES = {
    "tests/test_grading.py": "builds exercise sets and grades notebooks with otter",
    "tests/test_tamper_and_isolation.py": "grades hostile submissions in confined processes",
    "tests/test_book_in_browser.py": "builds the book and opens every page in Chromium",
}


def pytest_configure() -> None:
    """A renamed or deleted slow file must leave the list too, or the selection lies."""
    stale = [name for name in SLOW_FILES if not (ROOT / name).is_file()]
    if stale:
        raise pytest.UsageError(f"conftest.py SLOW_FILES names missing files: {stale}")


def pytest_collection_modifyitems(items: Iterable[pytest.Item]) -> None:
    """Mark every test of a file in :data:`SLOW_FILES` as ``slow``."""
    slow = {ROOT / name for name in SLOW_FILES}
    for item in items:
        if item.path in slow:
            item.add_marker(pytest.mark.slow)
