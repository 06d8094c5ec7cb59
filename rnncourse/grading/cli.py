"""The grading command line: ``python -m rnncourse.grading build | check | grade | batch``.

Run from the repository root::

    python -m rnncourse.grading build            # make exercises
    python -m rnncourse.grading check            # fail if a committed student notebook is stale
    python -m rnncourse.grading grade NB.ipynb   # make grade NB=...
    python -m rnncourse.grading batch DIR --set NAME --out OUT   # make grade-batch ...

The exit status of ``grade`` says whether grading ran (0) or could not (2: not a notebook, no
such set, the autograder could not be built), never the score.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rnncourse.grading.batch_grading import batch
from rnncourse.grading.building import build, repo_root, stale_students
from rnncourse.grading.grade_notebook import (
    DEFAULT_CELL_TIMEOUT,
    DEFAULT_CHECK_TIME_LIMIT,
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    grade,
)
from rnncourse.grading.report import GradingError, format_report, one_line

__all__ = ["main"]


def _say(text: str, *, err: bool = False) -> None:
    """Print a line of the command's output (stderr for why it could not run)."""
    (sys.stderr if err else sys.stdout).write(text + "\n")


def _masters(names: list[str]) -> list[Path]:
    """The master notebooks of the sets ``names``; GradingError if one is missing."""
    masters = [repo_root() / "exercises" / "masters" / f"{name}.ipynb" for name in names]
    missing = [m.name for m in masters if not m.is_file()]
    if missing:
        raise GradingError(f"no master notebook {', '.join(missing)} in exercises/masters/")
    return masters


def _add_limits(p: argparse.ArgumentParser) -> None:
    """The limits every grading command takes."""
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds for a notebook")
    p.add_argument(
        "--cell-timeout", type=float, default=DEFAULT_CELL_TIMEOUT, help="seconds per cell"
    )
    p.add_argument(
        "--memory-mb",
        type=float,
        default=DEFAULT_MEMORY_MB,
        help="address-space limit of the notebook's process, MiB (0: none)",
    )
    p.add_argument(
        "--check-time-limit",
        type=float,
        default=None,
        help="seconds per call of learner code by the tests "
        f"(default {DEFAULT_CHECK_TIME_LIMIT:g})",
    )


def main(argv: list[str] | None = None) -> int:
    """Run one command (``argv`` as on the command line); return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m rnncourse.grading", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser(
        "build", help="otter assign every master; copy student notebooks to exercises/"
    )
    b.add_argument("--set", dest="sets", action="append", help="only this set (repeatable)")
    sub.add_parser("check", help="exit 1 if a committed student notebook differs from its master's")

    g = sub.add_parser("grade", help="grade one notebook with the hidden tests")
    g.add_argument("notebook")
    g.add_argument(
        "--set", dest="exercise_set", help="exercise set name (default: from the notebook)"
    )
    g.add_argument("--json", help="also write the report as JSON to this file")
    _add_limits(g)
    bt = sub.add_parser("batch", help="grade a folder of submissions: CSV and one report each")
    bt.add_argument("directory")
    bt.add_argument("--set", dest="exercise_set", required=True, help="exercise set name")
    bt.add_argument("--out", required=True, help="folder for grades.csv and reports/")
    bt.add_argument(
        "--jobs", type=int, default=None, help="notebooks at once (default: the number of cores)"
    )
    bt.add_argument("--force", action="store_true", help="regrade files that already have a report")
    _add_limits(bt)
    w = sub.add_parser("_worker")  # internal: runs inside the separate grading process
    w.add_argument("zip")
    w.add_argument("submission")
    w.add_argument("out")
    w.add_argument("learner_dir")
    w.add_argument("--no-confine", action="store_true")
    _add_limits(w)
    args = parser.parse_args(argv)

    if args.command == "_worker":
        from rnncourse.grading.worker import run_worker  # imports torch when it loads the tests

        return run_worker(
            args.zip,
            args.submission,
            args.out,
            args.cell_timeout,
            args.timeout,
            args.memory_mb,
            DEFAULT_CHECK_TIME_LIMIT if args.check_time_limit is None else args.check_time_limit,
            args.learner_dir,
            confine=not args.no_confine,
        )
    try:
        if args.command == "build":
            masters = _masters(args.sets) if args.sets else None
            for path in build(masters=masters):
                _say(f"wrote {path.relative_to(repo_root())}")
            return 0
        if args.command == "check":
            stale = stale_students()
            for name in stale:
                _say(
                    f"exercises/{name} differs from what its master generates: run `make exercises`"
                )
            return 1 if stale else 0
        options = {
            "timeout": args.timeout,
            "cell_timeout": args.cell_timeout,
            "memory_mb": args.memory_mb,
            "check_time_limit": args.check_time_limit,
        }
        if args.command == "batch":
            start = time.perf_counter()
            rows = batch(
                args.directory,
                args.exercise_set,
                args.out,
                jobs=args.jobs,
                force=args.force,
                **options,
            )
            seconds = time.perf_counter() - start
            not_graded = sum(r["status"] == "not graded" for r in rows)
            _say(
                f"{len(rows)} submissions ({not_graded} not graded: see the note column) in "
                f"{seconds:.1f} s; wrote {Path(args.out) / 'grades.csv'} and "
                f"{Path(args.out) / 'reports'}/"
            )
            return 0
        report = grade(args.notebook, exercise_set=args.exercise_set, **options)
    except GradingError as e:
        what = (
            "grading could not run"
            if args.command in ("grade", "batch")
            else f"{args.command} failed"
        )
        _say(f"{what}: {one_line(str(e))}", err=True)
        return 2
    _say(format_report(report))
    if args.json:
        Path(args.json).write_text(report.to_json())
    return 0
