"""Checks for graded exercises: say what is wrong with an answer, never just ``AssertionError``.

The learner-facing part of the grader: the public tests in a student notebook and the hidden
tests import these (``from rnncourse.grading.checks import call, expect_close``).

Used by the public and hidden tests of the exercise sets in ``exercises/`` (otter-grader,
see ``exercises/README.md``). Each check fails with :class:`CheckFailure`, a one-line message
that names the question and the quantity, then the first thing that is wrong, in this order:

1. the type (a real ``torch.Tensor``, or a number for a scalar answer; an exact type such as
   a Python ``float`` or ``int`` where the question promises one: ``exact_type``);
2. the shape;
3. the dtype, where the question promises one (``dtype``): "expected float32, got float64";
4. non-finite entries;
5. the first position that disagrees, the value there and the relative error,
   CS231n style: ``|got - expected| / max(|got| + |expected|, 1e-12)``.

Hidden checks (``hidden=True``) never show the expected value of a hidden case: only the
position, the learner's own value and the relative error.

Learners' functions are called through :func:`call`, which turns anything the function
raises (including ``SystemExit`` and ``KeyboardInterrupt`` from a grading timeout) into a
failed check for that question only, so one broken answer cannot stop the grading of the
others. The function gets its own copies of the arguments: the test's objects stay as the test
made them, so an expected value computed after the call is still computed from inputs the
learner's code never touched. Only the arguments named in ``in_place`` (a question that asks
for in-place behaviour) come back changed, and the test then checks them.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import signal
import threading
import weakref
from typing import Any

import torch

from rnncourse.grading.learner import call_remote, is_remote
from rnncourse.grading.stops import LearnerDied, OutOfTime, TimeLimitExceeded

__all__ = [
    "CheckFailure",
    "call",
    "expect_close",
    "expect_scalar",
    "expect_tensor",
    "expect_type",
    "rel_error",
]

_TINY = 1e-12  # floor of the relative-error denominator, so 0 vs 0 counts as agreement
_INTERRUPTED: weakref.WeakSet = weakref.WeakSet()  # learner functions stopped by a time limit
TIME_LIMIT_VARIABLE = "RNNCOURSE_CHECK_TIME_LIMIT"  # seconds per call of learner code; 0: none
DEFAULT_TIME_LIMIT = 30.0


def _raise_time_limit(_signum: int, _frame: object) -> None:
    raise TimeLimitExceeded


def _time_limit() -> float:
    try:
        return float(os.environ.get(TIME_LIMIT_VARIABLE, DEFAULT_TIME_LIMIT))
    except ValueError:
        return DEFAULT_TIME_LIMIT


class CheckFailure(AssertionError):  # noqa: N818 - the name the exercise sets' tests use
    """A check failed; the message is one line meant for the learner."""


def rel_error(got: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """Elementwise |got - expected| / max(|got| + |expected|, 1e-12), in float64.

    Example:
        >>> rel_error(torch.tensor([1.0, 0.0]), torch.tensor([1.1, 0.0]))
        tensor([0.0476, 0.0000], dtype=torch.float64)
    """
    a, b = got.detach().double(), expected.detach().double()
    return (a - b).abs() / (a.abs() + b.abs()).clamp_min(_TINY)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _position(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def expect_tensor(
    name: str, got: Any, shape: tuple[int, ...] | None = None, *, where: str = ""
) -> torch.Tensor:
    """Fail unless ``got`` is a ``torch.Tensor`` (of ``shape``, if given); return it.

    Example:
        >>> expect_tensor("q1: P", [0.5, 0.5])
        Traceback (most recent call last):
        ...
        rnncourse.grading.checks.CheckFailure: q1: P must be a torch.Tensor, got list
    """
    at = f" {where}" if where else ""
    if got is None:
        raise CheckFailure(
            f"{name} must be a torch.Tensor, got None{at} "
            "(does the function end with `return ...`?)"
        )
    if got is Ellipsis:
        raise CheckFailure(f"{name} is still `...`: replace it with your code{at}")
    if type(got) not in (torch.Tensor, torch.nn.Parameter):  # a subclass may rig its comparisons
        raise CheckFailure(f"{name} must be a torch.Tensor, got {_type_name(got)}{at}")
    if shape is not None and tuple(got.shape) != tuple(shape):
        raise CheckFailure(f"{name} has shape {tuple(got.shape)}, expected {tuple(shape)}{at}")
    return got


def expect_close(
    name: str,
    got: Any,
    expected: torch.Tensor,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    hidden: bool = False,
    where: str = "",
    dtype: torch.dtype | None = None,
) -> None:
    """Fail unless ``got`` is a tensor of ``expected``'s shape and close to it.

    Close: |got - expected| <= atol + rtol |expected| everywhere.

    The message gives the first disagreeing position (row-major order), the value there and the
    relative error; with ``hidden=True`` it leaves out the expected value. ``where`` describes
    the case (e.g. ``"for a sequence of length 1"``). ``dtype``: the dtype the question
    promises (``dtype=targets.dtype`` for "the dtype of targets"); by default any dtype whose
    values are close passes, which suits a question that leaves the dtype free.

    Example:
        >>> r, expected = torch.tensor([1.0, 0.5]), torch.tensor([1.0, 0.25])
        >>> expect_close("q3: r", r, expected)  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        rnncourse.grading.checks.CheckFailure: q3: r disagrees at [1]: got 0.5, expected 0.25
            (relative error 0.333)
    """
    got = expect_tensor(name, got, tuple(expected.shape), where=where)
    at = f" {where}" if where else ""
    if dtype is not None and got.dtype != dtype:
        raise CheckFailure(
            f"{name} has the wrong dtype{at}: expected {_dtype_name(dtype)}, "
            f"got {_dtype_name(got.dtype)}"
        )
    if got.is_complex() or got.dtype == torch.bool:
        raise CheckFailure(f"{name} must hold real numbers, got dtype {got.dtype}{at}")
    a = got.detach().to("cpu", torch.float64)
    b = expected.detach().to("cpu", torch.float64)
    finite = torch.isfinite(b)
    bad_nonfinite = ~torch.isfinite(a) & finite
    if bad_nonfinite.any():
        index = tuple(int(i) for i in bad_nonfinite.nonzero()[0])
        raise CheckFailure(
            f"{name} has a non-finite value {_fmt(float(a[index]))} at {_position(index)}{at}"
        )
    close = (a - b).abs() <= atol + rtol * b.abs()
    close |= ~finite & (a == b)  # an expected inf must be matched exactly
    if bool(close.all()):
        return
    index = tuple(int(i) for i in (~close).nonzero()[0])
    err = float(rel_error(a[index], b[index]))
    value = f"got {_fmt(float(a[index]))}"
    if not hidden:
        value += f", expected {_fmt(float(b[index]))}"
    n_bad = int((~close).sum())
    more = f"; {n_bad} of {close.numel()} entries disagree" if n_bad > 1 else ""
    raise CheckFailure(
        f"{name} disagrees at {_position(index)}{at}: {value} (relative error {err:.3g}){more}"
    )


def expect_scalar(
    name: str,
    got: Any,
    expected: float,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    hidden: bool = False,
    where: str = "",
    exact_type: type | None = None,
) -> None:
    """Fail unless ``got`` is a real number (Python, or a one-element tensor) close to ``expected``.

    ``exact_type`` (``float`` or ``int``): the type the question promises ("as a Python float",
    "two ints"); a one-element tensor, or a float where an int is promised, then fails.

    Example:
        >>> expect_scalar("q2: bits", 2.0, 1.0, hidden=True)
        Traceback (most recent call last):
        ...
        rnncourse.grading.checks.CheckFailure: q2: bits is wrong: got 2 (relative error 0.333)
    """
    at = f" {where}" if where else ""
    if exact_type is not None:
        expect_type(name, got, exact_type, where=where)
    if isinstance(got, torch.Tensor):
        expect_tensor(name, got, where=where)  # a real tensor, not a subclass
        if got.numel() != 1:
            raise CheckFailure(
                f"{name} must be a single number, got a tensor of shape {tuple(got.shape)}{at}"
            )
        if got.is_complex() or got.dtype == torch.bool:
            raise CheckFailure(f"{name} must be a real number, got dtype {got.dtype}{at}")
        value = float(got.detach().reshape(()))
    elif isinstance(got, (int, float)) and not isinstance(got, bool):
        value = float(got)
    else:
        what = "None (does the function end with `return ...`?)" if got is None else _type_name(got)
        raise CheckFailure(
            f"{name} must be a number (float or one-element torch.Tensor), got {what}{at}"
        )
    if math.isfinite(expected) and not math.isfinite(value):
        raise CheckFailure(f"{name} is {value}, expected a finite number{at}")
    if abs(value - expected) <= atol + rtol * abs(expected) or value == expected:
        return
    err = abs(value - expected) / max(abs(value) + abs(expected), _TINY)
    shown = f"got {_fmt(value)}" + ("" if hidden else f", expected {_fmt(expected)}")
    raise CheckFailure(f"{name} is wrong{at}: {shown} (relative error {err:.3g})")


_ARTICLES = {
    float: "a Python float",
    int: "an int",
    str: "a string",
    bool: "a bool",
    list: "a list",
    tuple: "a tuple",
    dict: "a dict",
    torch.Tensor: "a torch.Tensor",
}


def expect_type(name: str, got: Any, expected: type | tuple[type, ...], *, where: str = "") -> Any:
    """Fail unless ``type(got)`` is ``expected`` (or one of them) exactly; return ``got``.

    For what a question promises: ``expect_type("losses[0]", v, float)`` fails on a tensor
    ("must be a Python float, got Tensor"), ``expect_type("n", v, int)`` on a float or a bool.

    Example:
        >>> expect_type("q1: counts[0]", 12.0, int)
        Traceback (most recent call last):
        ...
        rnncourse.grading.checks.CheckFailure: q1: counts[0] must be an int, got float
    """
    kinds = expected if isinstance(expected, tuple) else (expected,)
    if type(got) in kinds:
        return got
    at = f" {where}" if where else ""
    wanted = " or ".join(_ARTICLES.get(k, f"a {k.__name__}") for k in kinds)
    hint = " (does the function end with `return ...`?)" if got is None else ""
    raise CheckFailure(f"{name} must be {wanted}, got {_type_name(got)}{at}{hint}")


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _type_name(value: Any) -> str:
    """The type's name; for an object that stayed in the learner's process, its type there."""
    return value.remote_type if is_remote(value) else type(value).__name__


def _was_interrupted(fn: Any) -> bool:
    try:
        return fn in _INTERRUPTED
    except TypeError:
        return False


_GRADING_STOPS = (LearnerDied, OutOfTime)  # not the learner's failure: the grader handles them


def _private_copies(args: tuple, kwargs: dict, in_place: tuple) -> tuple[tuple, dict]:
    """Deep copies of the arguments, except the objects in ``in_place``, their tensors and items.

    All at once, so that an optimizer keeps pointing at its model's parameters.
    """
    memo: dict[int, Any] = {}

    def share(value: Any) -> None:
        memo[id(value)] = value
        if isinstance(value, torch.nn.Module):
            for tensor in [*value.parameters(), *value.buffers()]:
                memo[id(tensor)] = tensor
        elif isinstance(value, (list, tuple)):
            for item in value:
                share(item)
        elif isinstance(value, dict):
            for item in value.values():
                share(item)

    for value in in_place:
        share(value)
    try:
        return copy.deepcopy((args, kwargs), memo)
    except Exception:  # noqa: BLE001 - e.g. a non-leaf tensor: the local call gets the originals
        return args, kwargs


def call(
    name: str, fn: Any, *args: Any, where: str = "", in_place: tuple | list = (), **kwargs: Any
) -> Any:
    """Call the learner's ``fn(*args, **kwargs)``; what it raises becomes a :class:`CheckFailure`.

    ``fn`` works on copies of the arguments: what it changes in them in place never reaches the
    caller's objects, so a test may compute its expected value after the call from the same
    inputs. ``in_place``: the arguments (by identity, e.g. ``in_place=[model]``) whose in-place
    changes a question asks for; they come back changed, and the test must check them against a
    reference computed from a copy made *before* the call.

    ``BaseException`` is caught on purpose: ``sys.exit()`` in an answer, or the interrupt a
    grading timeout sends, fails this question and leaves the others to be graded. A call that
    runs longer than ``RNNCOURSE_CHECK_TIME_LIMIT`` seconds (default 30; 0 for none) is stopped
    by an alarm (POSIX, main thread) and fails; a function stopped once fails at once after.

    Example:
        >>> where = "on a sequence of length 2"
        >>> call("q1: f", lambda ids: ids[5], [1, 2], where=where)  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        rnncourse.grading.checks.CheckFailure: q1: f raised IndexError on a sequence of length 2:
            list index out of range
    """
    at = f" {where}" if where else ""
    if fn is None:
        raise CheckFailure(f"{name} is not defined: run the cell that defines it")
    if fn is Ellipsis:
        raise CheckFailure(f"{name} is still `...`: replace it with your code")
    if not callable(fn):
        raise CheckFailure(f"{name} must be a function, got {type(fn).__name__}")
    if _was_interrupted(fn):  # do not wait for the time limit twice
        raise CheckFailure(f"{name} was interrupted earlier: it ran longer than the time limit")
    limit = _time_limit()
    alarm = (
        limit > 0
        and hasattr(signal, "setitimer")
        and not is_remote(fn)  # remote: limited there
        and threading.current_thread() is threading.main_thread()
    )
    if alarm:  # the kernel runs cells in its main thread, where signals arrive
        previous = signal.signal(signal.SIGALRM, _raise_time_limit)
        signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        if is_remote(fn):  # runs in the learner process, on the copies pickling makes
            return call_remote(fn, args, kwargs, in_place=tuple(in_place))
        args, kwargs = _private_copies(args, kwargs, tuple(in_place))
        return fn(*args, **kwargs)
    except _GRADING_STOPS:  # the learner's process died or time is up: the grader handles it
        raise
    except (KeyboardInterrupt, TimeLimitExceeded) as e:
        with contextlib.suppress(TypeError):  # not weak-referenceable or hashable: not remembered
            _INTERRUPTED.add(fn)
        if isinstance(e, TimeLimitExceeded):
            raise CheckFailure(f"{name} ran longer than the {limit:g} s limit{at}") from None
        raise CheckFailure(
            f"{name} was interrupted{at}: it ran longer than the time limit"
        ) from None
    except SystemExit:
        raise CheckFailure(f"{name} called sys.exit(){at}; return a value instead") from None
    except BaseException as e:  # noqa: BLE001 - any failure of learner code is a failed check
        message = str(e).strip().splitlines()[0] if str(e).strip() else ""
        detail = f": {message}" if message else ""
        kind = getattr(e, "remote_type", type(e).__name__)
        if (
            kind is None
        ):  # not an exception of the learner's code: what the grader made of its answer
            raise CheckFailure(f"{name} {message}{at}") from None
        raise CheckFailure(f"{name} raised {kind}{at}{detail}") from None
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
