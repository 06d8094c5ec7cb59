"""Execute a notebook in place with the course settings and record how long it took.

Usage: python tools/execute_notebook.py chapters/NAME.ipynb [...]

Run through ``make refresh NB=...`` so the environment variables in the Makefile apply
(no progress bars in stored outputs). The wall-clock seconds from the start of the kernel
to the end of the last cell (what a reader waits for, running every cell in a fresh kernel)
are written to the notebook's metadata under ``rnncourse.execution_seconds`` and printed.
The kernel's shutdown afterwards is timed and printed separately, not stored: with PyTorch
loaded, Python's teardown of its modules takes seconds (more once ``torch.optim`` has
imported ``torch._dynamo``), and no reader waits for it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

TIMEOUT_PER_CELL = 600


def execute(path: Path) -> tuple[float, float]:
    """Execute the notebook at ``path`` in place and store its run time.

    Returns (seconds from the kernel's start to the end of the last cell, seconds of the
    kernel's shutdown after it).
    """
    nb = nbformat.read(path, as_version=4)
    last_cell_done: list[float] = []
    client = NotebookClient(
        nb,
        timeout=TIMEOUT_PER_CELL,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
        on_cell_complete=lambda **_: last_cell_done.append(time.perf_counter()),
    )
    start = time.perf_counter()
    client.execute()
    end = time.perf_counter()
    seconds = (last_cell_done[-1] if last_cell_done else end) - start
    nb.metadata.setdefault("rnncourse", {})["execution_seconds"] = round(seconds, 1)
    nbformat.write(nb, path)
    return seconds, end - start - seconds


def main(argv: list[str]) -> int:
    """Execute each notebook named in ``argv``; print the usage if there is none."""
    if not argv:
        print(__doc__)
        return 2
    for name in argv:
        seconds, shutdown = execute(Path(name))
        print(f"{name}: executed in {seconds:.1f} s (then {shutdown:.1f} s of kernel shutdown, "
              "not counted)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
