"""Test-only helpers: the ``*.answers`` files of tests/submissions/ and notebooks built from them.

A ``wrong_*.answers``, ``right_*.answers`` or ``tamper_*.answers`` file holds code for some
questions of a set; ``### qN: description`` starts each question's section (exercises/README.md).
"""

from __future__ import annotations

import copy
import re

from rnncourse.grading import answer_cells


def parse_answers(text: str) -> dict[str, str]:
    """Parse an ``*.answers`` file: a ``### qN: description`` line starts each question's code."""
    answers: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        header = re.match(r"###\s*(\w+)\s*:", line)
        if header:
            current = header.group(1)
            if current in answers:
                raise ValueError(f"question {current} appears twice")
            answers[current] = ""
        elif current is not None:
            answers[current] += line + "\n"
    return answers


def replace_answers(nb: dict, answers: dict[str, str]) -> dict:
    """A copy of ``nb`` whose answer cells for each question in ``answers`` hold that code.

    The code goes into the question's first answer cell; its other answer cells are emptied.
    """
    nb = copy.deepcopy(nb)
    cells = answer_cells(nb)
    for question, code in answers.items():
        if not cells.get(question):
            raise ValueError(
                f"question {question}: no answer cell in the notebook "
                f"(questions: {', '.join(cells) or 'none'})"
            )
        first, *rest = cells[question]
        nb["cells"][first]["source"] = code
        for i in rest:
            nb["cells"][i]["source"] = ""
    return nb
