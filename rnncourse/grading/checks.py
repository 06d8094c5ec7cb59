"""Checks for graded exercises: say what is wrong with an answer, never just ``AssertionError``.

The learner-facing part of the grader: the public tests in a student notebook and the hidden
tests import these (``from rnncourse.grading.checks import call, expect_close``).

Used by the public and hidden tests of the exercise sets in ``exercises/`` (otter-grader,
see ``exercises/README.md``). Each check fails with :class:`CheckFailure`, a one-line message
that names the question and the quantity, then the first thing that is wrong, in this order:

1. the type (a real ``torch.Tensor``, or a number for a scalar answer);
2. the shape;
3. non-finite entries;
4. the first position that disagrees, the value there and the relative error,
   CS231n style: ``|got - expected| / max(|got| + |expected|, 1e-12)``.

Hidden checks (``hidden=True``) never show the expected value of a hidden case: only the
position, the learner's own value and the relative error.

Learners' functions are called through :func:`call`, which turns anything the function
raises (including ``SystemExit`` and ``KeyboardInterrupt`` from a grading timeout) into a
failed check for that question only, so one broken answer cannot stop the grading of the
others.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import weakref
from typing import Any

import torch

from rnncourse.grading.learner import is_remote
from rnncourse.grading.stops import LearnerDied, OutOfTime, TimeLimitExceeded

__all__ = ["CheckFailure", "call", "expect_close", "expect_scalar", "expect_tensor", "rel_error"]

_TINY = 1e-12  # floor of the relative-error denominator, so 0 vs 0 counts as agreement
_INTERRUPTED: weakref.WeakSet = weakref.WeakSet()  # learner functions stopped by a time limit
TIME_LIMIT_VARIABLE = "RNNCOURSE_CHECK_TIME_LIMIT"  # seconds per call of learner code; 0: none
DEFAULT_TIME_LIMIT = 30.0


def _raise_time_limit(signum, frame):
    raise TimeLimitExceeded


def _time_limit() -> float:
    try:
        return float(os.environ.get(TIME_LIMIT_VARIABLE, DEFAULT_TIME_LIMIT))
    except ValueError:
        return DEFAULT_TIME_LIMIT


class CheckFailure(AssertionError):
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
        raise CheckFailure(f"{name} must be a torch.Tensor, got None{at} "
                           "(does the function end with `return ...`?)")
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
) -> None:
    """Fail unless ``got`` is a tensor of ``expected``'s shape with |got - expected| <= atol + rtol |expected|.

    The message gives the first disagreeing position (row-major order), the value there and the
    relative error; with ``hidden=True`` it leaves out the expected value. ``where`` describes
    the case (e.g. ``"for a sequence of length 1"``).

    Example:
        >>> expect_close("q3: r", torch.tensor([1.0, 0.5]), torch.tensor([1.0, 0.25]))
        Traceback (most recent call last):
        ...
        rnncourse.grading.checks.CheckFailure: q3: r disagrees at [1]: got 0.5, expected 0.25 (relative error 0.333)
    """
    got = expect_tensor(name, got, tuple(expected.shape), where=where)
    at = f" {where}" if where else ""
    if got.is_complex() or got.dtype == torch.bool:
        raise CheckFailure(f"{name} must hold real numbers, got dtype {got.dtype}{at}")
    a = got.detach().to("cpu", torch.float64)
    b = expected.detach().to("cpu", torch.float64)
    finite = torch.isfinite(b)
    bad_nonfinite = ~torch.isfinite(a) & finite
    if bad_nonfinite.any():
        index = tuple(int(i) for i in bad_nonfinite.nonzero()[0])
        raise CheckFailure(f"{name} has a non-finite value {_fmt(float(a[index]))} at "
                           f"{_position(index)}{at}")
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
    raise CheckFailure(f"{name} disagrees at {_position(index)}{at}: {value} "
                       f"(relative error {err:.3g}){more}")


def expect_scalar(
    name: str,
    got: Any,
    expected: float,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    hidden: bool = False,
    where: str = "",
) -> None:
    """Fail unless ``got`` is a real number (a Python number or a one-element tensor) close to ``expected``.

    Example:
        >>> expect_scalar("q2: bits", 2.0, 1.0, hidden=True)
        Traceback (most recent call last):
        ...
        rnncourse.grading.checks.CheckFailure: q2: bits is wrong: got 2 (relative error 0.333)
    """
    at = f" {where}" if where else ""
    if isinstance(got, torch.Tensor):
        expect_tensor(name, got, where=where)  # a real tensor, not a subclass
        if got.numel() != 1:
            raise CheckFailure(f"{name} must be a single number, got a tensor of shape "
                               f"{tuple(got.shape)}{at}")
        if got.is_complex() or got.dtype == torch.bool:
            raise CheckFailure(f"{name} must be a real number, got dtype {got.dtype}{at}")
        value = float(got.detach().reshape(()))
    elif isinstance(got, (int, float)) and not isinstance(got, bool):
        value = float(got)
    else:
        what = "None (does the function end with `return ...`?)" if got is None else _type_name(got)
        raise CheckFailure(f"{name} must be a number (float or one-element torch.Tensor), got {what}{at}")
    if math.isfinite(expected) and not math.isfinite(value):
        raise CheckFailure(f"{name} is {value}, expected a finite number{at}")
    if abs(value - expected) <= atol + rtol * abs(expected) or value == expected:
        return
    err = abs(value - expected) / max(abs(value) + abs(expected), _TINY)
    shown = f"got {_fmt(value)}" + ("" if hidden else f", expected {_fmt(expected)}")
    raise CheckFailure(f"{name} is wrong{at}: {shown} (relative error {err:.3g})")


def _type_name(value: Any) -> str:
    """The type's name; for an object that stayed in the learner's process, its type there."""
    return value.remote_type if is_remote(value) else type(value).__name__


def _was_interrupted(fn: Any) -> bool:
    try:
        return fn in _INTERRUPTED
    except TypeError:
        return False


_GRADING_STOPS = (LearnerDied, OutOfTime)  # not the learner's failure: the grader handles them


def call(name: str, fn: Any, *args: Any, where: str = "", **kwargs: Any) -> Any:
    """Call the learner's ``fn(*args, **kwargs)``; anything it raises becomes a :class:`CheckFailure`.

    ``BaseException`` is caught on purpose: ``sys.exit()`` in an answer, or the interrupt a
    grading timeout sends, fails this question and leaves the others to be graded. A call that
    runs longer than ``RNNCOURSE_CHECK_TIME_LIMIT`` seconds (default 30; 0 for none) is stopped
    by an alarm (POSIX, main thread) and fails; a function stopped once fails at once after.

    Example:
        >>> call("q1: bigram_table", lambda ids: ids[5], [1, 2], where="on a sequence of length 2")
        Traceback (most recent call last):
        ...
        rnncourse.grading.checks.CheckFailure: q1: bigram_table raised IndexError on a sequence of length 2: list index out of range
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
    alarm = (limit > 0 and hasattr(signal, "setitimer") and not is_remote(fn)  # remote: limited there
             and threading.current_thread() is threading.main_thread())
    if alarm:  # the kernel runs cells in its main thread, where signals arrive
        previous = signal.signal(signal.SIGALRM, _raise_time_limit)
        signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return fn(*args, **kwargs)
    except _GRADING_STOPS:  # the learner's process died or time is up: the grader handles it
        raise
    except (KeyboardInterrupt, TimeLimitExceeded) as e:
        try:
            _INTERRUPTED.add(fn)
        except TypeError:  # not weak-referenceable or not hashable: nothing to remember
            pass
        if isinstance(e, TimeLimitExceeded):
            raise CheckFailure(f"{name} ran longer than the {limit:g} s limit{at}") from None
        raise CheckFailure(f"{name} was interrupted{at}: it ran longer than the time limit") from None
    except SystemExit:
        raise CheckFailure(f"{name} called sys.exit(){at}; return a value instead") from None
    except BaseException as e:  # noqa: BLE001 - any failure of learner code is a failed check
        message = str(e).strip().splitlines()[0] if str(e).strip() else ""
        detail = f": {message}" if message else ""
        kind = getattr(e, "remote_type", type(e).__name__)
        if kind is None:  # not an exception of the learner's code: what the grader made of its answer
            raise CheckFailure(f"{name} {message}{at}") from None
        raise CheckFailure(f"{name} raised {kind}{at}{detail}") from None
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)

