"""Read a submitted notebook: its cells' sources, its answer cells, the set it belongs to."""

from __future__ import annotations

import json
import re
from pathlib import Path

from rnncourse.grading.report import GradingError, one_line

__all__ = ["answer_cells", "cell_source", "exercise_set_of"]


def cell_source(cell: dict) -> str:
    """A cell's source as one string (notebooks store a string or a list of lines)."""
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def answer_cells(nb: dict) -> dict[str, list[int]]:
    """``{question: [cell indices]}``: the answer cells (student or solution) before each check.

    otter tags answer cells ``otter_answer_cell`` in the student notebook and
    ``otter_assign_solution_cell`` in the autograder notebook; a question's answer cells are
    those before its ``grader.check("qN")`` cell and after the previous check.
    """
    tags = {"otter_answer_cell", "otter_assign_solution_cell"}
    found: dict[str, list[int]] = {}
    pending: list[int] = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        check = re.fullmatch(r"\s*grader\.check\(\s*[\"'](\w+)[\"']\s*\)\s*", cell_source(cell))
        if check:
            found[check.group(1)] = pending
            pending = []
        elif tags & set(cell.get("metadata", {}).get("tags", [])):
            pending.append(i)
    return found


def exercise_set_of(notebook: Path, required: bool = True) -> str | None:
    """The exercise set a submission belongs to (otter writes it into the notebook metadata)."""
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GradingError(f"{notebook}: not a notebook (not valid JSON: {one_line(e)})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise GradingError(f"{notebook}: not a notebook (no list of cells)")
    bad = [
        i
        for i, c in enumerate(nb["cells"])
        if not isinstance(c, dict)
        or not isinstance(c.get("source", ""), (str, list))
        or not isinstance(c.get("cell_type"), str)
    ]
    if bad:
        raise GradingError(f"{notebook}: not a notebook (cell {bad[0]} is not a notebook cell)")
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    otter = meta.get("otter") if isinstance(meta.get("otter"), dict) else {}
    name = otter.get("assignment_name")
    if not name and not required:
        return None
    if name and not re.fullmatch(r"[\w.-]+", str(name)):
        raise GradingError(f"{notebook}: its exercise set name {name!r} is not a file name")
    if not name:
        raise GradingError(
            f"{notebook}: not an exercise notebook (no otter assignment name in its "
            "metadata); pass --set NAME"
        )
    return str(name)
