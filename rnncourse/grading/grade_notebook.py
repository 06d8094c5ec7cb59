"""Grade one submitted notebook with its set's hidden tests: ``make grade NB=...``.

:func:`grade` returns a :class:`~rnncourse.grading.report.Report` (per question: points,
maximum, a one-line reason for a failure; the total). It never writes to the submitted file or
its folder. A grading process (:mod:`rnncourse.grading.worker`) reads the hidden tests from the
zip and runs them; the notebook's cells run in a separate, confined learner process
(:mod:`rnncourse.grading.learner`: memory limit, Landlock, its own empty folder) whose functions
the tests call from outside, getting plain data back. Learner code never runs in the process
that judges it; see ``exercises/GRADING.md`` for the threat model. Limits: ``cell_timeout`` (a
cell is interrupted, then killed if it ignores the interrupt), ``check_time_limit`` (one call of
learner code by the tests), ``memory_mb`` (address space) and ``timeout`` (the whole notebook).
A notebook whose process dies or is killed is graded as far as it got.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rnncourse.grading.building import autograder_zip, repo_root, set_lock
from rnncourse.grading.hidden_tests import questions_in_zip
from rnncourse.grading.report import GradingError, QuestionResult, Report, one_line
from rnncourse.grading.submission import exercise_set_of

__all__ = [
    "DEFAULT_CELL_TIMEOUT",
    "DEFAULT_CHECK_TIME_LIMIT",
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT",
    "grade",
]

DEFAULT_TIMEOUT = 300.0  # seconds for a whole notebook; the chapter-1 set grades in about 10
DEFAULT_CELL_TIMEOUT = 60.0  # seconds for one cell before it is interrupted
# address space of the notebook's process, MiB (torch alone maps about 0.8 GB)
DEFAULT_MEMORY_MB = 4096.0
DEFAULT_CHECK_TIME_LIMIT = 30.0  # seconds per call of learner code by the tests
_WORKER_MARGIN = 60.0  # seconds the worker gets beyond the notebook's limit before it is killed


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill the worker and everything it started (the learner process runs in its own session)."""
    import psutil

    try:
        parent = psutil.Process(proc.pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        procs = []
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(procs, timeout=10)
    proc.wait()


def grade(
    notebook: str | Path,
    *,
    exercise_set: str | None = None,
    autograder: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cell_timeout: float = DEFAULT_CELL_TIMEOUT,
    check_time_limit: float | None = None,
    memory_mb: float = DEFAULT_MEMORY_MB,
    root: Path | None = None,
) -> Report:
    """Grade ``notebook`` with the hidden tests of its set; never writes to it or its folder.

    Raises GradingError (one line) if grading cannot run: no such file, not a notebook, a
    notebook of another set, unknown set. A notebook that fails, raises, exits, hangs,
    allocates without bound or kills its own process still gets a Report: graded as far as it
    got, each question it did not reach at 0 with the reason. ``check_time_limit`` bounds each
    call of learner code by the tests (default: ``DEFAULT_CHECK_TIME_LIMIT``);
    ``memory_mb`` the learner process's address space (0: no limit).
    """
    start = time.perf_counter()
    notebook = Path(notebook)
    if not notebook.is_file():
        raise GradingError(f"{notebook}: no such file")
    if notebook.stat().st_size == 0:
        raise GradingError(f"{notebook}: not a notebook (the file is empty)")
    named = exercise_set_of(notebook, required=exercise_set is None)
    if exercise_set is not None and named is not None and named != exercise_set:
        raise GradingError(
            f"{notebook}: a notebook for exercise set {named!r}, not {exercise_set!r}"
        )
    set_name = exercise_set or named

    with tempfile.TemporaryDirectory(prefix="rnncourse-grade-") as tmp_name:
        tmp = Path(tmp_name)
        zip_copy = tmp / "autograder.zip"
        if autograder is not None:
            shutil.copyfile(autograder, zip_copy)
        else:
            root_ = repo_root() if root is None else Path(root)
            with set_lock(root_, set_name):  # another `make grade` may be rebuilding it
                shutil.copyfile(autograder_zip(set_name, root_, locked=True), zip_copy)
        questions = questions_in_zip(zip_copy)
        submission = tmp / "submission.ipynb"
        shutil.copyfile(notebook, submission)  # the original is never opened for writing
        # The learner process works in its own empty folder, not beside the grader's files.
        learner_dir = tempfile.mkdtemp(prefix="rnncourse-learner-")
        out = tmp / "results.json"
        limit = DEFAULT_CHECK_TIME_LIMIT if check_time_limit is None else check_time_limit
        cmd = [
            sys.executable,
            "-P",
            "-m",
            "rnncourse.grading",
            "_worker",
            str(zip_copy),
            str(submission),
            str(out),
            "--cell-timeout",
            str(cell_timeout),
            learner_dir,
            "--timeout",
            str(timeout),
            "--memory-mb",
            str(memory_mb),
            "--check-time-limit",
            str(limit),
        ]
        env = {
            **os.environ,
            "RNNCOURSE_NO_PROGRESS": "1",
            "PYTHONWARNINGS": "ignore",
            "RNNCOURSE_CHECK_TIME_LIMIT": str(limit),
            "MPLBACKEND": "Agg",
        }
        log_path = tmp / "worker.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=tmp,
                env=env,
                stdin=subprocess.DEVNULL,
            )
            try:  # the worker keeps its own deadline; this is the backstop
                proc.wait(timeout=timeout + _WORKER_MARGIN)
            except subprocess.TimeoutExpired:
                _kill_tree(proc)
            finally:
                shutil.rmtree(learner_dir, ignore_errors=True)
        raw = {}
        if out.is_file():
            try:
                raw = json.loads(out.read_text())
            except json.JSONDecodeError:
                raw = {}
        if proc.returncode != 0 and not raw.get("finished"):
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raw.setdefault("notes", []).insert(0, f"the grader stopped: {one_line(tail[0])}")
            raw["status"] = "crashed" if proc.returncode > 0 else "timed out"
            raw.setdefault("pending", f"not graded: the grader stopped ({one_line(tail[0])})")

    graded = {q["name"]: q for q in raw.get("questions", [])}
    pending = raw.get("pending") or "not graded: the tests for this question did not run"
    rows = []
    for name, possible in questions:
        got = graded.get(name)
        if got is None:
            rows.append(QuestionResult(name, 0.0, possible, one_line(pending)))
        else:
            rows.append(
                QuestionResult(
                    name, float(got["score"]), float(got["possible"]), one_line(got["reason"])
                )
            )
    return Report(
        str(notebook),
        set_name,
        rows,
        status=raw.get("status", "crashed"),
        notes=list(raw.get("notes", [])),
        seconds=time.perf_counter() - start,
    )
