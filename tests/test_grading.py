"""The grader is honest, for every exercise set in exercises/masters/ (see exercises/README.md).

For each set: the committed student notebook is what `otter assign` makes now; the reference
earns full marks; the untouched student notebook earns zero; every wrong answer in
tests/submissions/<set>/wrong_*.answers loses its question's points, and every correct answer
written differently (right_*.answers) earns them; broken submissions (syntax error, an answer
that raises, sys.exit(), one that never returns, a notebook that outlives the timeout) are
graded with a clear report, never a grader traceback, and the submitted file is never modified;
and two kinds of answer generated from the reference for every question score 0 (issue 24):
one that changes the test's inputs in place and answers for the changed inputs, and, where a
question promises a dtype or a type, the right values in the wrong one.

A set's submissions are graded together, a few processes at a time, once per session.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import psutil
import pytest
from answer_files import parse_answers, replace_answers
from generated_submissions import (
    NOTHING_TO_CHANGE,
    WRONG_KINDS,
    answer_definitions,
    in_place_tamper,
    wrong_kind_answers,
)

from rnncourse.grading import answer_cells, find_masters, format_report, grade, normalise_student

ROOT = Path(__file__).resolve().parents[1]
SETS = [m.stem for m in find_masters(ROOT)]
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"

# Limits for the broken submissions. A call of learner code by the checks is stopped after
# CHECK_TIME_LIMIT s (the answer that never returns); a cell timeout would also interrupt a
# slow import on a loaded machine, so cells keep the default limit.
CHECK_TIME_LIMIT = 5.0
NOTEBOOK_TIMEOUT = 6.0  # for the notebook that ignores interrupts: it must be killed
PARALLEL = 3  # gradings at once: two hanging ones mostly sleep

# Every failure mode replaces or extends one question's reference answer cell. {fn} is the
# first function the answer defines, so the hidden tests call the broken version.
FAILURE_MODES = {
    "syntax error": "{code}\n\ndef broken(:\n    pass\n",
    "raises": (
        "{code}\n\ndef {fn}(*args, **kwargs):\n    raise RuntimeError('an answer that raises')\n"
    ),
    "sys.exit": (
        "{code}\n\nimport sys\n\ndef {fn}(*args, **kwargs):\n    sys.exit(3)\n\nsys.exit(0)\n"
    ),
    "never returns": (
        "{code}\n\nimport time\n\ndef {fn}(*args, **kwargs):\n"
        "    while True:\n        time.sleep(0.05)\n"
    ),
}
HANG_CELL = (  # a first cell that ignores the interrupt a cell timeout sends
    "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "while True:\n    time.sleep(0.05)\n"
)


def _write(nb: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _definitions(code: str) -> tuple[str, str]:
    """The imports and functions of an answer cell (not its demo lines), and its first function."""
    definitions, names = answer_definitions(code)
    return definitions, names[0]


def _variants(set_name: str, kind: str) -> dict[str, dict[str, str]]:
    """``{variant: {question: code}}`` from tests/submissions/<set>/<kind>_*.answers."""
    files = sorted((SUBMISSIONS / set_name).glob(f"{kind}_*.answers"))
    return {f.stem: parse_answers(f.read_text()) for f in files}


def _wrong_variants(set_name: str) -> dict[str, dict[str, str]]:
    return _variants(set_name, "wrong")


@cache
def _graded(set_name: str, work: Path, out) -> dict:
    """Build every submission of a set, grade them concurrently, return reports and file digests."""
    student = json.loads(out.student.read_text())
    reference = json.loads(out.autograder.read_text())
    questions = list(answer_cells(reference))
    subs: dict[str, tuple[Path, dict]] = {}  # name -> (notebook, grade() options)
    subs["reference"] = (_write(reference, work / "reference" / "submission.ipynb"), {})
    subs["stub"] = (_write(student, work / "stub" / "submission.ipynb"), {})
    for variant, answers in {**_wrong_variants(set_name), **_variants(set_name, "right")}.items():
        subs[variant] = (
            _write(replace_answers(student, answers), work / variant / "submission.ipynb"),
            {},
        )

    broken_answers, modes = {}, {}
    cells = answer_cells(reference)
    for i, mode in enumerate(FAILURE_MODES):
        q = questions[i % len(questions)]
        code, fn = _definitions("".join(reference["cells"][cells[q][0]]["source"]))
        broken_answers[q] = FAILURE_MODES[mode].format(code=broken_answers.get(q, code), fn=fn)
        modes.setdefault(q, []).append(mode)
    subs["broken"] = (
        _write(replace_answers(reference, broken_answers), work / "broken" / "submission.ipynb"),
        {"check_time_limit": CHECK_TIME_LIMIT},
    )
    hang = json.loads(json.dumps(reference))
    hang["cells"].insert(
        1,
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "hang",
            "metadata": {},
            "outputs": [],
            "source": HANG_CELL,
        },
    )
    subs["timeout"] = (
        _write(hang, work / "timeout" / "submission.ipynb"),
        {"timeout": NOTEBOOK_TIMEOUT},
    )
    subs["in_place_tamper"] = (
        _write(
            replace_answers(reference, in_place_tamper(reference)),
            work / "in_place_tamper" / "submission.ipynb",
        ),
        {},
    )
    kinds = wrong_kind_answers(set_name, reference)
    if kinds:
        subs["wrong_kinds"] = (
            _write(replace_answers(reference, kinds), work / "wrong_kinds" / "submission.ipynb"),
            {},
        )

    before = {name: _digest(path) for name, (path, _) in subs.items()}
    processes_before = {p.pid for p in psutil.Process().children(recursive=True)}
    start = time.perf_counter()

    def run(name):
        path, options = subs[name]
        return name, grade(path, autograder=out.zip, root=ROOT, **options)

    with ThreadPoolExecutor(PARALLEL) as pool:  # the slow ones first
        order = ["broken", "timeout"] + [n for n in subs if n not in ("broken", "timeout")]
        reports = dict(pool.map(run, order))
    seconds = time.perf_counter() - start
    after = {name: _digest(path) for name, (path, _) in subs.items()}
    left_behind = [
        p.pid for p in psutil.Process().children(recursive=True) if p.pid not in processes_before
    ]
    for name, report in reports.items():  # shown with -s, and in the output of a failing test
        sys.stdout.write(f"\n[{set_name} / {name}]\n{format_report(report)}\n")  # shown with -s
    sys.stdout.write(f"\n[{set_name}] {len(subs)} gradings in {seconds:.1f} s\n")
    return {
        "reports": reports,
        "before": before,
        "after": after,
        "modes": modes,
        "left_behind": left_behind,
        "questions": questions,
        "paths": {n: p for n, (p, _) in subs.items()},
    }


@pytest.fixture(scope="session")
def graded(assigned, tmp_path_factory):
    work = tmp_path_factory.mktemp("graded")
    return lambda set_name: _graded(set_name, work / set_name, assigned(set_name))


def test_sets_are_found():
    """The tests below run for every master; the chapter-1 set must be among them."""
    assert "01_sequences_are_not_iid" in SETS


@pytest.mark.parametrize("set_name", SETS)
def test_student_notebook_is_current(set_name, assigned):
    """exercises/<set>.ipynb is what `otter assign` generates from the master (cell ids aside)."""
    committed = ROOT / "exercises" / f"{set_name}.ipynb"
    assert committed.is_file(), f"{committed} is missing: run `make exercises`"
    fresh = normalise_student(json.loads(assigned(set_name).student.read_text()))
    assert normalise_student(json.loads(committed.read_text())) == fresh, (
        f"{committed.name} differs from what its master generates: run `make exercises`"
    )


@pytest.mark.parametrize("set_name", SETS)
def test_reference_earns_full_marks(set_name, graded):
    report = graded(set_name)["reports"]["reference"]
    assert report.status == "graded"
    assert report.possible > 0
    assert all(q.score == q.possible and not q.reason for q in report.questions), format_report(
        report
    )


@pytest.mark.parametrize("set_name", SETS)
def test_untouched_student_notebook_earns_zero(set_name, graded):
    report = graded(set_name)["reports"]["stub"]
    assert report.status == "graded"
    assert [q.name for q in report.questions] == graded(set_name)["questions"]
    for q in report.questions:
        assert q.score == 0, format_report(report)
        assert q.possible > 0, format_report(report)
        assert q.reason, format_report(report)


@pytest.mark.parametrize("set_name", SETS)
def test_every_question_has_two_wrong_answers(set_name, graded):
    covered = dict.fromkeys(graded(set_name)["questions"], 0)
    for answers in _wrong_variants(set_name).values():
        for q in answers:
            assert q in covered, f"unknown question {q} in tests/submissions/{set_name}"
            covered[q] += 1
    assert all(n >= 2 for n in covered.values()), f"wrong answers per question: {covered}"


@pytest.mark.parametrize("set_name", SETS)
def test_wrong_answers_lose_their_points(set_name, graded):
    """Each section of each wrong_*.answers file scores 0, judged on its value, not a NameError."""
    result = graded(set_name)
    for variant, answers in _wrong_variants(set_name).items():
        report = result["reports"][variant]
        rows = {q.name: q for q in report.questions}
        for q in answers:
            assert rows[q].score == 0, f"{variant} {q} earned points:\n{format_report(report)}"
            assert not any(
                s in rows[q].reason for s in ("is not defined", "still `...`", "not graded")
            ), f"{variant} {q} failed for the wrong reason: {rows[q].reason}"


@pytest.mark.parametrize("set_name", SETS)
def test_other_correct_answers_earn_full_marks(set_name, graded):
    """Each section of each right_*.answers file (a right answer, written otherwise) scores."""
    result = graded(set_name)
    for variant, answers in _variants(set_name, "right").items():
        report = result["reports"][variant]
        rows = {q.name: q for q in report.questions}
        for q in answers:
            assert rows[q].score == rows[q].possible, (
                f"{variant} {q} lost points:\n{format_report(report)}"
            )


@pytest.mark.parametrize("set_name", SETS)
def test_in_place_tamper_earns_zero(set_name, graded):
    """The in-place tamper (tests/generated_submissions.py) scores 0 on every question.

    Every answer changes the test's tensors and modules in place, then answers for the changed
    inputs: the learner's function works on copies, so none of it reaches the test's objects.
    """
    report = graded(set_name)["reports"]["in_place_tamper"]
    text = format_report(report)
    assert report.status == "graded", text
    for q in report.questions:
        if (
            set_name,
            q.name,
        ) in NOTHING_TO_CHANGE:  # no tensor argument: the tamper is the reference
            assert q.score == q.possible, text
        else:
            assert q.score == 0, f"the in-place tamper earned points on {q.name}:\n{text}"
            assert q.reason, f"the in-place tamper earned points on {q.name}:\n{text}"
            assert not any(
                s in q.reason for s in ("not graded", "could not be checked", "raised")
            ), text


def test_every_set_has_a_question_the_in_place_tamper_can_reach():
    """The list of questions with nothing to change stays short and names real questions."""
    assert {s for s, _ in NOTHING_TO_CHANGE} <= set(SETS)
    for set_name in SETS:
        assert sum(s == set_name for s, _ in NOTHING_TO_CHANGE) <= 1, set_name


@pytest.mark.parametrize("set_name", SETS)
def test_wrong_dtype_or_type_earns_zero(set_name, graded):
    """Where a question promises a dtype or a type, the right values in the wrong one score 0.

    The reason names what is wrong; the set's other questions keep their points.
    """
    promised = {q: phrase for (s, q), (_, _, phrase) in WRONG_KINDS.items() if s == set_name}
    assert promised, f"{set_name}: no question promises a dtype or a type (add it to WRONG_KINDS)"
    report = graded(set_name)["reports"]["wrong_kinds"]
    text = format_report(report)
    for q in report.questions:
        if q.name in promised:
            assert q.score == 0, f"{q.name}:\n{text}"
            assert promised[q.name] in q.reason, f"{q.name}:\n{text}"
        else:
            assert q.score == q.possible, text


@pytest.mark.parametrize("set_name", SETS)
def test_broken_submission_is_graded_cleanly(set_name, graded):
    """Syntax error, raise, sys.exit(), a hang: those questions score 0 with a reason."""
    result = graded(set_name)
    report = result["reports"]["broken"]
    assert report.status == "graded", format_report(report)
    text = format_report(report)
    assert "Traceback" not in text
    for q in report.questions:
        if q.name in result["modes"]:
            assert q.score == 0, text
            assert q.reason, text
        else:
            assert q.score == q.possible, text
    reasons = " | ".join(q.reason for q in report.questions)
    expected = {
        "syntax error": "is not defined",
        "raises": "raised RuntimeError",
        "sys.exit": "called sys.exit()",
        "never returns": f"ran longer than the {CHECK_TIME_LIMIT:g} s limit",
    }
    for mode, phrase in expected.items():
        assert phrase in reasons, f"no reason for {mode!r} in: {reasons}"
    assert any("SyntaxError" in note for note in report.notes), report.notes


@pytest.mark.parametrize("set_name", SETS)
def test_notebook_that_outlives_the_timeout_is_stopped(set_name, graded):
    result = graded(set_name)
    report = result["reports"]["timeout"]
    assert report.status == "timed out"
    assert report.seconds < NOTEBOOK_TIMEOUT + 15
    assert all(q.score == 0 and "limit" in q.reason for q in report.questions), format_report(
        report
    )
    assert not result["left_behind"], "grading left processes behind (a kernel or worker)"


@pytest.mark.parametrize("set_name", SETS)
def test_grading_never_modifies_the_submission(set_name, graded):
    result = graded(set_name)
    assert result["before"] == result["after"]
    for path in result["paths"].values():  # and writes nothing beside it
        assert sorted(p.name for p in path.parent.iterdir()) == ["submission.ipynb"]


# ----------------------------------------------------------------------------- fast checks


def test_files_that_are_not_exercise_notebooks_get_a_one_line_reason(tmp_path, capsys):
    from rnncourse.grading import GradingError, main

    cases = {
        "missing.ipynb": None,
        "empty.ipynb": "",
        "text.ipynb": "not json",
        "list.ipynb": "[1, 2]",
        "plain.ipynb": json.dumps(
            {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        ),
        "odd.ipynb": json.dumps({"cells": [], "metadata": {"otter": {"assignment_name": "../x"}}}),
        "other.ipynb": json.dumps(
            {"cells": [], "metadata": {"otter": {"assignment_name": "no_such_set"}}}
        ),
    }
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(GradingError) as info:
            grade(path, root=ROOT)
        message = str(info.value)
        assert "\n" not in message
        assert str(path) in message or "no exercise set named 'no_such_set'" in message
        assert main(["grade", str(path)]) == 2  # grading did not run
        err = capsys.readouterr().err
        assert err.startswith("grading could not run: ")
        assert "Traceback" not in err


def test_answers_files_are_parsed_into_sections():
    text = "# comment\n### q1: wrong axis\ndef f():\n    return 1\n### q2: off by one\nx = 2\n"
    assert parse_answers(text) == {"q1": "def f():\n    return 1\n", "q2": "x = 2\n"}
    with pytest.raises(ValueError, match="question q1 appears twice"):
        parse_answers("### q1: a\n### q1: b\n")


def test_replace_answers_needs_an_answer_cell():
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {"tags": ["otter_answer_cell"]},
                "source": "def f(): ...",
            },
            {"cell_type": "code", "metadata": {}, "source": 'grader.check("q1")'},
        ]
    }
    assert answer_cells(nb) == {"q1": [0]}
    assert (
        replace_answers(nb, {"q1": "def f(): return 1"})["cells"][0]["source"]
        == "def f(): return 1"
    )
    assert nb["cells"][0]["source"] == "def f(): ..."  # the input is not modified
    with pytest.raises(ValueError, match="question q2: no answer cell"):
        replace_answers(nb, {"q2": ""})


def test_report_table_lists_every_question_and_the_total():
    from rnncourse.grading import QuestionResult, Report

    report = Report(
        "nb.ipynb",
        "01_x",
        [QuestionResult("q1", 2, 2), QuestionResult("q2", 0, 3, "bad")],
        notes=["a cell raised SyntaxError"],
        seconds=1.5,
    )
    text = format_report(report)
    lines = text.splitlines()
    assert lines[2].split() == ["question", "points", "max", "reason"]
    assert lines[3].split() == ["q1", "2", "2"]
    assert lines[4].split() == ["q2", "0", "3", "bad"]
    assert lines[5].split() == ["total", "2", "5"]
    assert "  - a cell raised SyntaxError" in text
