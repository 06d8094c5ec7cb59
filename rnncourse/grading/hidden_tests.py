"""The hidden tests of an autograder zip: which questions, how many points, and the test cases.

:func:`questions_in_zip` reads names and points without running anything (the grading command
needs them for the table). :func:`load_tests` executes the test files, in the grading process
only, with otter's ``test_case`` decorator replaced by one that records each case.
"""

from __future__ import annotations

import ast
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HiddenCase", "Question", "case_points", "load_tests", "natural_key", "questions_in_zip"]


def questions_in_zip(zip_path: Path) -> list[tuple[str, float]]:
    """(name, points) of every question in an autograder zip, read without running the tests."""
    questions = []
    with zipfile.ZipFile(zip_path) as z:
        for name in sorted(n for n in z.namelist() if re.fullmatch(r"tests/[^/]+\.py", n)):
            text = z.read(name).decode("utf-8")
            points = re.search(r"^points = (.+)$", text, flags=re.MULTILINE)
            value = ast.literal_eval(points.group(1)) if points else 1
            total = sum(value) if isinstance(value, list) else (1 if value is None else value)
            questions.append((Path(name).stem, float(total)))
    return sorted(questions, key=lambda q: natural_key(q[0]))


def natural_key(name: str) -> list:
    """Sort key that puts q2 before q10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


@dataclass
class HiddenCase:
    """One test function of a question, with its points (None: a share of the rest)."""

    fn: object
    points: float | None
    hidden: bool


@dataclass
class Question:
    """One question: its name, points, whether it is all-or-nothing, and its test cases."""

    name: str
    points: float
    all_or_nothing: bool
    cases: list


def _recorder(cases: list[HiddenCase]) -> Callable[..., Callable]:
    """otter's ``test_case`` decorator, recording each case (its messages are otter's concern)."""

    def test_case(
        points: float | None = None, hidden: bool = False, **_messages: object
    ) -> Callable:
        def record(fn: Callable) -> Callable:
            cases.append(HiddenCase(fn, points, bool(hidden)))
            return fn

        return record

    return test_case


def load_tests(zip_path: str) -> list[Question]:
    """The questions of an autograder zip, with otter's ``test_case`` decorator replaced by ours.

    The test files are executed here, in the grading process, never in the learner's.
    """
    questions = []
    with zipfile.ZipFile(zip_path) as z:
        names = [n for n in z.namelist() if re.fullmatch(r"tests/[^/]+\.py", n)]
        for name in sorted(names, key=lambda n: natural_key(Path(n).stem)):
            tree = ast.parse(z.read(name).decode("utf-8"))
            tree.body = [
                node
                for node in tree.body
                if not (
                    isinstance(node, ast.ImportFrom) and (node.module or "").startswith("otter")
                )
            ]
            cases: list[HiddenCase] = []
            namespace = {
                "__name__": f"_hidden_tests_{Path(name).stem}",
                "test_case": _recorder(cases),
            }
            exec(compile(tree, f"<hidden tests {name}>", "exec"), namespace)  # noqa: S102 - our own tests
            value = namespace.get("points", 1)
            total = sum(value) if isinstance(value, list) else (1 if value is None else value)
            questions.append(
                Question(
                    str(namespace.get("name", Path(name).stem)),
                    float(total),
                    bool(namespace.get("all_or_nothing", False)),
                    cases,
                )
            )
    return questions


def case_points(question: Question) -> list[float]:
    """Points of each test case when a question is not all-or-nothing (otter's split)."""
    given = [c.points for c in question.cases]
    fixed = sum(p for p in given if p is not None)
    free = [p for p in given if p is None]
    share = (question.points - fixed) / len(free) if free else 0.0
    return [share if p is None else float(p) for p in given]
