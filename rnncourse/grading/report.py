"""What grading reports: one row per question (points, maximum, a one-line reason), the total.

:class:`Report` is what :func:`rnncourse.grading.grade` returns and ``make grade`` prints with
:func:`format_report`; :class:`GradingError` says why grading could not run at all.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["GradingError", "QuestionResult", "Report", "format_report", "one_line", "write_atomic"]

REASON_CHARS = 160  # the table keeps one line per question


class GradingError(Exception):
    """Grading could not run (bad file, unknown set, build failure); the message says why."""


@dataclass(frozen=True)
class QuestionResult:
    """One row of the table: ``reason`` is empty when the question earned all its points."""

    name: str
    score: float
    possible: float
    reason: str = ""


@dataclass
class Report:
    """The grade of one notebook: one row per question, and notes about the run."""

    notebook: str
    exercise_set: str
    questions: list[QuestionResult]
    status: str = "graded"  # "graded", "timed out" or "crashed"
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        """Points earned."""
        return sum(q.score for q in self.questions)

    @property
    def possible(self) -> float:
        """Points there were to earn."""
        return sum(q.possible for q in self.questions)

    def scores(self) -> dict[str, float]:
        """``{question: points}``, e.g. for tests."""
        return {q.name: q.score for q in self.questions}

    def to_json(self) -> str:
        """The report, its total and its maximum as JSON."""
        return json.dumps({**asdict(self), "total": self.total, "max": self.possible}, indent=1)


def format_report(report: Report, *, timing: bool = True) -> str:
    """The per-question table and the total, as printed by ``make grade``."""
    width = max([len("question")] + [len(q.name) for q in report.questions])
    lines = [f"Grading {report.notebook} (exercise set {report.exercise_set})", ""]
    lines.append(f"{'question':<{width}}  {'points':>6}  {'max':>5}  reason")
    lines += [
        f"{q.name:<{width}}  {q.score:>6g}  {q.possible:>5g}  {q.reason}" for q in report.questions
    ]
    lines.append(f"{'total':<{width}}  {report.total:>6g}  {report.possible:>5g}")
    if report.notes:
        lines += ["", "Notes:"] + [f"  - {note}" for note in report.notes]
    lines.append("")
    took = f" in {report.seconds:.1f} s" if timing else ""
    lines.append(
        f"({report.status}{took}; public checks in the notebook are a subset of these hidden tests)"
    )
    return "\n".join(lines)


def one_line(text: object) -> str:
    """``text`` on one line, cut to the table's width."""
    text = " ".join(str(text).split())
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 3] + "..."


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
