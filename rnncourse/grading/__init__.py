"""The course's grader: build the exercise sets with otter-grader and grade submissions.

One module per idea:

* :mod:`~rnncourse.grading.building`: ``otter assign`` every master into a student notebook
  and an autograder zip (``make exercises``); the staleness check;
* :mod:`~rnncourse.grading.grade_notebook`: grade one notebook (``make grade``), in a separate
  grading process (:mod:`~rnncourse.grading.worker`) that reads the hidden tests
  (:mod:`~rnncourse.grading.hidden_tests`);
* :mod:`~rnncourse.grading.batch_grading`: grade a folder into a CSV (``make grade-batch``);
* :mod:`~rnncourse.grading.learner`: the learner process that runs the notebook's cells, and
  :mod:`~rnncourse.grading.confinement`, which confines it (Landlock);
* :mod:`~rnncourse.grading.wire`: the plain-data protocol between the two processes;
* :mod:`~rnncourse.grading.checks`: what the public and hidden tests call (``call``,
  ``expect_close``, ...), the only module learners' notebooks import;
* :mod:`~rnncourse.grading.report`, :mod:`~rnncourse.grading.submission`,
  :mod:`~rnncourse.grading.stops`, :mod:`~rnncourse.grading.cli`: the report table, reading a
  submitted notebook, the exceptions that stop grading, the command line.

Importing this package imports neither torch nor matplotlib: the grading process imports torch
when it loads the hidden tests. See ``exercises/README.md`` (writing a set) and
``exercises/GRADING.md`` (the threat model).
"""

from rnncourse.grading.batch_grading import batch
from rnncourse.grading.building import (
    AssignOutput,
    assign,
    autograder_zip,
    build,
    find_masters,
    normalise_student,
    stale_students,
)
from rnncourse.grading.cli import main
from rnncourse.grading.grade_notebook import grade
from rnncourse.grading.report import GradingError, QuestionResult, Report, format_report
from rnncourse.grading.submission import answer_cells

__all__ = [
    "AssignOutput",
    "GradingError",
    "QuestionResult",
    "Report",
    "answer_cells",
    "assign",
    "autograder_zip",
    "batch",
    "build",
    "find_masters",
    "format_report",
    "grade",
    "main",
    "normalise_student",
    "stale_students",
]
