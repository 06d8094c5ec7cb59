"""The checks say what is wrong; each set's public checks work from the committed notebook."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import pytest
import torch

from rnncourse.grading import answer_cells, find_masters
from rnncourse.grading.checks import (
    CheckFailure,
    call,
    expect_close,
    expect_scalar,
    expect_tensor,
    expect_type,
    rel_error,
)

ROOT = Path(__file__).resolve().parents[1]
SETS = [m.stem for m in find_masters(ROOT)]


def _fails(fn, *args, **kwargs) -> str:
    with pytest.raises(CheckFailure) as info:
        fn(*args, **kwargs)
    return str(info.value)


# ----------------------------------------------------------------------------- messages


def test_check_failure_is_an_assertion_error():
    """otter and pytest both treat a failed check as a failed assertion."""
    assert issubclass(CheckFailure, AssertionError)


def test_type_is_checked_first():
    assert (
        _fails(expect_close, "q1: P", [[0.5]], torch.ones(2, 2))
        == "q1: P must be a torch.Tensor, got list"
    )
    assert "got None (does the function end with `return ...`?)" in _fails(expect_tensor, "P", None)
    assert _fails(expect_tensor, "P", ...) == "P is still `...`: replace it with your code"
    import numpy as np

    assert (
        _fails(expect_close, "P", np.ones((2, 2)), torch.ones(2, 2))
        == "P must be a torch.Tensor, got ndarray"
    )


def test_shape_is_checked_before_values():
    msg = _fails(expect_close, "q5: h", torch.zeros(3, 2), torch.zeros(2, 3), where="with L = 3")
    assert msg == "q5: h has shape (3, 2), expected (2, 3) with L = 3"


def test_first_disagreeing_position_value_and_relative_error():
    expected = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    got = expected.clone()
    got[1, 0], got[1, 1] = 3.3, 5.0
    msg = _fails(expect_close, "q5: h", got, expected)
    assert msg == (
        "q5: h disagrees at [1, 0]: got 3.3, expected 3 (relative error 0.0476); "
        "2 of 4 entries disagree"
    )


def test_hidden_checks_never_show_the_expected_value():
    expected = torch.tensor([0.123456, 0.5])
    msg = _fails(expect_close, "q3: r", torch.tensor([0.123456, 0.75]), expected, hidden=True)
    assert msg == "q3: r disagrees at [1]: got 0.75 (relative error 0.2)"
    assert "0.5" not in msg
    msg = _fails(expect_scalar, "q2: bits", 3.0, 2.718281828, hidden=True)
    assert "2.718" not in msg
    assert msg.startswith("q2: bits is wrong: got 3 ")


def test_non_finite_values_are_named():
    msg = _fails(expect_close, "r", torch.tensor([1.0, float("nan")]), torch.tensor([1.0, 0.5]))
    assert msg == "r has a non-finite value nan at [1]"


def test_close_answers_pass_in_any_float_dtype():
    expected = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    expect_close("h", expected.float(), expected, rtol=1e-5, atol=1e-7)
    expect_close("h", expected + 1e-12, expected)
    expect_scalar("bits", torch.tensor(math.pi, dtype=torch.float32), math.pi, rtol=1e-5)
    expect_scalar("bits", torch.tensor([math.pi]), math.pi, rtol=1e-5)
    expect_scalar("bits", 2, 2.0)


def test_scalar_answers_must_be_one_number():
    assert (
        _fails(expect_scalar, "b", torch.ones(2), 1.0)
        == "b must be a single number, got a tensor of shape (2,)"
    )
    assert "got str" in _fails(expect_scalar, "b", "1.0", 1.0)
    assert "got bool" in _fails(expect_scalar, "b", True, 1.0)
    assert _fails(expect_scalar, "b", math.inf, 1.0) == "b is inf, expected a finite number"


def test_promised_dtype_is_checked_with_its_name():
    expected = torch.tensor([[1, 2], [3, 4]])
    msg = _fails(
        expect_close,
        "shift_targets",
        expected.float(),
        expected,
        dtype=torch.int64,
        where="on ids (2, 2)",
    )
    assert msg == "shift_targets has the wrong dtype on ids (2, 2): expected int64, got float32"
    states = torch.ones(2, 3)
    msg = _fails(expect_close, "c", states.double(), states, dtype=states.dtype)
    assert msg == "c has the wrong dtype: expected float32, got float64"
    expect_close("c", states.clone(), states, dtype=torch.float32)
    expect_close("c", states.double(), states)  # no dtype promised: values decide


def test_promised_types_are_checked_exactly():
    assert _fails(expect_type, "losses[0]", torch.tensor(1.0), float) == (
        "losses[0] must be a Python float, got Tensor"
    )
    assert (
        _fails(expect_type, "n", 3.0, int, where="for n = 3")
        == "n must be an int, got float for n = 3"
    )
    assert _fails(expect_type, "n", True, int) == "n must be an int, got bool"
    assert _fails(expect_type, "r", ["last"], str) == "r must be a string, got list"
    assert "must be a tuple or a list, got dict" in _fails(expect_type, "p", {}, (tuple, list))
    assert expect_type("p", (1, 2), (tuple, list)) == (1, 2)
    assert (
        _fails(expect_scalar, "shared", 12.0, 12, exact_type=int)
        == "shared must be an int, got float"
    )
    assert _fails(expect_scalar, "loss", torch.tensor(0.5), 0.5, exact_type=float) == (
        "loss must be a Python float, got Tensor"
    )
    expect_scalar("shared", 12, 12, exact_type=int)


def test_the_learners_function_gets_copies_of_the_arguments():
    """What the function changes in place never reaches the caller's objects, unless named."""
    x = torch.arange(4.0)
    model = torch.nn.Linear(2, 1)
    weights = model.weight.detach().clone()

    def vandal(x, model):
        x.zero_()
        with torch.no_grad():
            model.weight.zero_()
        return x.sum()

    assert call("f", vandal, x, model) == 0
    assert torch.equal(x, torch.arange(4.0))
    assert torch.equal(model.weight, weights)
    call("f", vandal, x, model, in_place=[model])  # asked for: the model comes back changed
    assert torch.equal(x, torch.arange(4.0))
    assert not model.weight.any()


def test_in_place_arguments_share_their_tensors_with_the_other_copies():
    """An optimizer passed beside its model still steps the caller's model when it is named."""
    model = torch.nn.Linear(2, 1, bias=False)
    before = model.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)

    def step(model, optimizer):
        optimizer.zero_grad()
        model(torch.ones(1, 2)).sum().backward()
        optimizer.step()

    call("train", step, model, optimizer)
    assert torch.equal(model.weight, before)  # a copy was trained
    call("train", step, model, optimizer, in_place=[model])
    assert torch.allclose(model.weight, before - 0.5)


def test_rel_error_is_cs231n_style():
    err = rel_error(torch.tensor([1.0, 0.0, -1.0]), torch.tensor([3.0, 0.0, 1.0]))
    assert torch.allclose(err, torch.tensor([0.5, 0.0, 1.0], dtype=torch.float64))


def test_call_reports_what_the_learner_code_did():
    assert _fails(call, "f", None) == "f is not defined: run the cell that defines it"
    assert _fails(call, "f", ...) == "f is still `...`: replace it with your code"
    assert _fails(call, "f", 3) == "f must be a function, got int"

    def raises(x):
        raise ValueError("bad x\nsecond line")

    assert _fails(call, "f", raises, 1, where="on x = 1") == "f raised ValueError on x = 1: bad x"

    def exits():
        import sys

        sys.exit(1)

    assert _fails(call, "f", exits) == "f called sys.exit(); return a value instead"
    assert call("f", lambda x, y=0: x + y, 2, y=3) == 5


def test_interrupted_function_fails_fast_the_second_time():
    """A grading timeout interrupts a hanging answer once; later calls fail without waiting."""
    calls = []

    def hangs():
        calls.append(1)
        raise KeyboardInterrupt

    assert "was interrupted" in _fails(call, "f", hangs)
    assert (
        _fails(call, "f", hangs) == "f was interrupted earlier: it ran longer than the time limit"
    )
    assert len(calls) == 1


# ----------------------------------------------------------------------------- the learner's view


def _blocks(master: dict) -> tuple[list[str], list[str]]:
    """Setup code (outside question blocks) and solution code of a master notebook."""
    setup, solutions, block = [], [], None  # block: None, "question", "solution" or "tests"
    for cell in master["cells"]:
        source = "".join(cell["source"])
        first = source.strip().splitlines()[0].lower() if source.strip() else ""
        if cell["cell_type"] == "raw":
            words = first.split()
            if len(words) >= 3 and words[0] == "#" and words[1] in ("begin", "end"):
                kind = words[2]
                if kind == "question":
                    block = "question" if words[1] == "begin" else None
                elif kind in ("solution", "tests"):
                    block = kind if words[1] == "begin" else "question"
        elif cell["cell_type"] == "code" and block is None:
            setup.append(source)
        elif cell["cell_type"] == "code" and block == "solution":
            solutions.append(source)
    return setup, solutions


def _run(sources: list[str]) -> dict:
    env: dict = {"__name__": "__main__"}
    for source in sources:
        exec(compile(source, "<cell>", "exec"), env)  # noqa: S102 - the course's own notebooks
    return env


@pytest.mark.parametrize("set_name", SETS)
def test_public_checks_from_the_committed_student_notebook(set_name, monkeypatch, capsys):
    """As a learner sees it: the reference passes ("public checks passed"); the stub: why not."""
    import otter

    exercises = ROOT / "exercises"
    student = json.loads((exercises / f"{set_name}.ipynb").read_text())
    master = json.loads((exercises / "masters" / f"{set_name}.ipynb").read_text())
    setup, solutions = _blocks(master)
    questions = list(answer_cells(student))
    answers = [
        "".join(student["cells"][i]["source"]) for q in questions for i in answer_cells(student)[q]
    ]

    monkeypatch.chdir(
        exercises
    )  # Jupyter runs a notebook in its folder; otter reads the tests from it
    grader = otter.Notebook(f"{set_name}.ipynb")
    reference_env, stub_env = _run(setup + solutions), _run(setup + answers)
    for q in questions:
        passed = grader.check(q, global_env=reference_env)
        assert passed.passed_all, passed.summary()
        assert "public checks passed" in passed.summary()
        assert "correct" not in passed.summary().lower()
        failed = grader.check(q, global_env=stub_env)
        assert not failed.passed_all
        message = failed.summary()
        assert "got None" in message or "is still `...`" in message, message
        assert "Traceback" not in message


def test_a_call_that_runs_too_long_is_stopped(monkeypatch):
    """An answer that never returns fails after the time limit, even if it catches Exception."""
    import time

    monkeypatch.setenv("RNNCOURSE_CHECK_TIME_LIMIT", "0.2")

    def hangs():
        while True:
            with contextlib.suppress(Exception):  # a learner's broad except must not stop the limit
                time.sleep(0.01)

    start = time.perf_counter()
    assert (
        _fails(call, "f", hangs, where="on x = 1") == "f ran longer than the 0.2 s limit on x = 1"
    )
    assert time.perf_counter() - start < 5
    assert "interrupted earlier" in _fails(call, "f", hangs)
    assert call("f", lambda: 1) == 1
    time.sleep(0.3)  # no alarm is left armed after a call that returned
