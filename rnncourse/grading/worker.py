"""The grading process: run a submission in a learner process, then the hidden tests against it.

:func:`grade <rnncourse.grading.grade>` starts this process (``python -m rnncourse.grading
_worker ...``); it reads the hidden tests from the zip into memory and deletes the zip, starts
the learner process (:mod:`rnncourse.grading.learner`), runs the notebook's cells there, then
each question's test cases here, and writes the results after every question (JSON), so a
worker that is killed still reports the questions it graded.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import time
from pathlib import Path

from rnncourse.grading.confinement import default_confinement
from rnncourse.grading.hidden_tests import Question, case_points, load_tests
from rnncourse.grading.learner import LearnerProcess
from rnncourse.grading.report import one_line, write_atomic
from rnncourse.grading.stops import LearnerDied, OutOfTime
from rnncourse.grading.submission import answer_cells, cell_source

__all__ = ["grade_question", "run_worker"]

# Cells otter adds to the student notebook; they run the public tests in the notebook, which
# grading does not need (the hidden tests run here), so they are skipped.
_OTTER_CELL = re.compile(
    r"\s*(?:# Initialize Otter\s*\n\s*import otter\s*\n\s*grader = otter\.Notebook\([^)]*\)"
    r"|grader\.check\(\s*[\"']\w+[\"']\s*\)|grader\.check_all\(\)|grader\.export\([^)]*\))\s*"
)


def grade_question(question: Question, learner: LearnerProcess) -> tuple[float, str]:
    """Run every test case of one question against the learner process: (score, reason)."""
    from rnncourse.grading.checks import CheckFailure  # imports torch, which the tests need anyway

    passed, reasons = [], []
    for case in question.cases:
        try:
            params = inspect.signature(case.fn).parameters
            case.fn(**{p: learner.lookup(p) for p in params})
        except (LearnerDied, OutOfTime):
            raise
        except CheckFailure as e:
            passed.append(False)
            reasons.append(str(e))
        except AssertionError as e:
            passed.append(False)
            reasons.append(str(e) or "a check failed")
        except Exception as e:  # noqa: BLE001 - the test could not use what the answer gave
            passed.append(False)
            reasons.append(f"the answer could not be checked ({type(e).__name__}: {e})")
        else:
            passed.append(True)
    reason = one_line(reasons[0].strip().splitlines()[0]) if reasons else ""
    if question.all_or_nothing:
        return (question.points if all(passed) else 0.0), reason
    return sum(p for p, ok in zip(case_points(question), passed, strict=True) if ok), reason


def run_worker(
    zip_path: str,
    submission: str,
    out: str,
    cell_timeout: float,
    timeout: float,
    memory_mb: float,
    check_time_limit: float,
    learner_dir: str,
    confine: bool = True,
) -> int:
    """Run the submission in a learner process, then the hidden tests here; write ``out`` (JSON).

    The results are written after every question, so a worker that is killed still reports
    the questions it graded.
    """
    deadline = time.monotonic() + timeout

    summary: dict = {
        "questions": [],
        "notes": [],
        "status": "graded",
        "pending": "",
        "finished": False,
    }
    out_path = Path(out)

    def save() -> None:
        write_atomic(out_path, json.dumps(summary))

    nb = json.loads(Path(submission).read_text(encoding="utf-8"))
    questions = load_tests(zip_path)
    Path(
        zip_path
    ).unlink()  # the tests are in memory: no copy stays on disk while learner code runs
    cells = [
        (i, cell_source(c))
        for i, c in enumerate(nb["cells"])
        if isinstance(c, dict)
        and c.get("cell_type") == "code"
        and not _OTTER_CELL.fullmatch(cell_source(c))
    ]
    answers = answer_cells(nb)
    workdir = learner_dir
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNNCOURSE_CHECK")}
    env.update(
        HOME=workdir,
        TMPDIR=workdir,
        IPYTHONDIR=str(Path(workdir) / ".ipython"),
        MPLCONFIGDIR=str(Path(workdir) / ".matplotlib"),
        MPLBACKEND="Agg",
    )
    package_dir = str(Path(__file__).resolve().parents[1])  # the rnncourse package
    confinement = default_confinement(workdir, package_dir) if confine else None
    try:  # matplotlib's font list, so the learner process does not rebuild it (1 s of CPU)
        import matplotlib as mpl

        Path(env["MPLCONFIGDIR"]).mkdir(parents=True, exist_ok=True)
        for cached in Path(mpl.get_cachedir()).glob("fontlist-*.json"):
            shutil.copyfile(cached, Path(env["MPLCONFIGDIR"]) / cached.name)
    except (ImportError, OSError):
        pass
    log_path = str(Path(out).parent / "learner.log")

    def new_learner() -> LearnerProcess:
        learner = LearnerProcess(
            workdir,
            memory_mb=memory_mb,
            time_limit=check_time_limit,
            deadline=deadline,
            env=env,
            log_path=log_path,
            confinement=confinement,
        )
        learner.start()
        return learner

    def run_cells(
        learner: LearnerProcess, upto: int, notes: list[str] | None
    ) -> tuple[int, int, str] | None:
        """Run code cells [0, upto); (position, cell index, reason) where it died, or None."""
        for k, (index, source) in enumerate(cells[:upto]):
            try:
                error = learner.run_cell(source, cell_timeout)
            except LearnerDied as e:
                return k, index, str(e)
            if error is not None and notes is not None:
                lines = (line for line in source.splitlines() if line.strip())
                first = next(lines, "").strip()[:50]
                if error[0] == "KeyboardInterrupt":
                    notes.append(
                        f"cell {index} ran longer than {cell_timeout:g} s and was interrupted "
                        f"(cell starting {first!r})"
                    )
                else:
                    message = one_line(error[1])
                    notes.append(
                        f"a cell raised {error[0]}{': ' + message if message else ''} "
                        f"(cell {index}, starting {first!r})"
                    )
        return None

    learner = None
    stop = None
    try:
        try:
            learner = new_learner()
        except LearnerDied as e:
            summary.update(
                status="crashed", pending=f"not graded: the notebook's process did not start ({e})"
            )
            return 0
        stop = run_cells(learner, len(cells), summary["notes"])
        if stop is not None:
            k, index, why = stop
            summary["status"] = "partly graded"
            summary["notes"].insert(
                0,
                f"grading went as far as cell {index}: {why}; the cells before it "
                "were run again in a new process and the questions they answer graded",
            )
            learner.stop()
            try:
                learner = new_learner()
                again = run_cells(learner, k, None)
            except LearnerDied as e:
                again = (k, index, str(e))
            if again is not None:
                summary["pending"] = f"not graded: the notebook's process died again ({again[2]})"
                return 0
        for question in questions:
            first_cell = min(answers.get(question.name) or [-1])
            if stop is not None and first_cell >= stop[1]:
                why = f"{stop[2]} in cell {stop[1]}"
                score, reason = 0.0, f"not graded: the notebook never got to this answer ({why})"
            else:
                try:
                    score, reason = grade_question(question, learner)
                except LearnerDied as e:
                    summary["questions"].append(
                        {
                            "name": question.name,
                            "score": 0.0,
                            "possible": question.points,
                            "reason": f"the notebook's process died during these tests: {e}",
                        }
                    )
                    summary["status"] = "partly graded"
                    summary["pending"] = (
                        "not graded: the notebook's process died during an earlier question"
                    )
                    summary["notes"].insert(
                        0, f"the notebook's process died during the tests of {question.name}: {e}"
                    )
                    save()
                    return 0
            summary["questions"].append(
                {
                    "name": question.name,
                    "score": score,
                    "possible": question.points,
                    "reason": reason,
                }
            )
            save()
    except OutOfTime:
        summary["status"] = "timed out"
        summary["pending"] = f"not graded: the notebook ran longer than the {timeout:g} s limit"
        summary["notes"].insert(0, f"stopped after the {timeout:g} s limit for the whole notebook")
    finally:
        if learner is not None:
            learner.stop()
        summary["finished"] = True
        save()
    return 0
