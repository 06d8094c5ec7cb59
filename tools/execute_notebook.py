"""Execute a notebook in place with the course settings and record how long it took.

Usage: python tools/execute_notebook.py chapters/NAME.ipynb [...]

Run through ``make refresh NB=...`` so the environment variables in the Makefile apply
(no progress bars in stored outputs). The wall-clock seconds are written to the
notebook's metadata under ``rnncourse.execution_seconds`` and printed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

TIMEOUT_PER_CELL = 600


def execute(path: Path) -> float:
    """Execute the notebook at ``path`` in place, store its run time; return the seconds."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=TIMEOUT_PER_CELL,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nb.metadata.setdefault("rnncourse", {})["execution_seconds"] = round(seconds, 1)
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str]) -> int:
    """Execute each notebook named in ``argv``; print the usage if there is none."""
    if not argv:
        print(__doc__)
        return 2
    for name in argv:
        seconds = execute(Path(name))
        print(f"{name}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
