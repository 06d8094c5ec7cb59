"""The exceptions that stop grading a call, a question or a notebook.

They are ``BaseException`` subclasses, so neither a test's nor the learner's ``except
Exception`` can swallow them. They live apart from the modules that raise them so that the
checks (:mod:`rnncourse.grading.checks`) and the learner process
(:mod:`rnncourse.grading.learner`) can both name them without importing each other.
"""

from __future__ import annotations

__all__ = ["LearnerDied", "OutOfTime", "TimeLimitExceeded"]


class LearnerDied(BaseException):
    """The learner process died, was killed or stopped answering; the message says why."""


class OutOfTime(BaseException):
    """The whole notebook's time is up (raised in the grading process)."""


class TimeLimitExceeded(BaseException):
    """One call of learner code ran longer than its limit.

    Raised by the checks' alarm, or by the grading side when the learner process reports that
    its own alarm fired.
    """
