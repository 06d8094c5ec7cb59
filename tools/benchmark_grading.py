"""Benchmark batch grading: 40 generated submissions of the chapter-1 set, graded in one batch.

Usage: python tools/benchmark_grading.py [--jobs N] [--keep DIR]

The mix (a class as it comes in): 12 correct (the reference, and the reference with the
`right_1` answers), 12 partly correct (one `wrong_*` section each), 8 broken (the untouched
stub, a syntax error, an empty file, not JSON, a list, a notebook of another set, a plain
notebook, a text file) and 8 tampering or crashing (the four `tamper_*` files, tampering outside
the answer cells, 100 GB allocations with an os._exit, a segfault). Prints the seconds and
submissions per minute; not a test (the figure depends on the machine and its load).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' helpers and the notebooks they build


SET = "01_sequences_are_not_iid"


def submissions(folder: Path) -> None:
    """Write the 40 submissions into ``folder``."""
    from answer_files import parse_answers, replace_answers  # from tests/, on sys.path above

    from rnncourse.grading import autograder_zip
    from rnncourse.grading.building import build_dir

    autograder_zip(SET, ROOT)  # builds the set if it is not built
    student = json.loads((ROOT / "exercises" / f"{SET}.ipynb").read_text())
    reference = json.loads((build_dir(ROOT, SET) / "autograder" / f"{SET}.ipynb").read_text())
    subs = ROOT / "tests" / "submissions" / SET

    def write(name: str, nb: dict) -> None:
        (folder / name).write_text(json.dumps(nb))

    def answers(name: str) -> dict[str, str]:
        return parse_answers((subs / name).read_text())

    for i in range(6):
        write(f"correct_{i:02d}.ipynb", reference)
        write(
            f"correct_right_{i:02d}.ipynb", replace_answers(reference, answers("right_1.answers"))
        )
    n = 0
    for wrong in ("wrong_1.answers", "wrong_2.answers"):
        for q, code in answers(wrong).items():
            write(f"partly_{n:02d}.ipynb", replace_answers(reference, {q: code}))
            n += 1
    for q, code in list(answers("wrong_1.answers").items())[:2]:
        write(f"partly_{n:02d}.ipynb", replace_answers(reference, {q: code}))
        n += 1
    write("broken_stub.ipynb", student)
    write(
        "broken_syntax.ipynb",
        replace_answers(reference, {"q2": "def bits_per_char(P, ids):\n    return (\n"}),
    )
    (folder / "broken_empty.ipynb").write_text("")
    (folder / "broken_not_json.ipynb").write_text("{ not json")
    (folder / "broken_list.ipynb").write_text("[1, 2, 3]")
    other = json.loads(json.dumps(student))
    other["metadata"]["otter"]["assignment_name"] = "02_weight_sharing"
    write("broken_other_set.ipynb", other)
    write("broken_plain.ipynb", {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    (folder / "broken_notes.txt").write_text("my answers are in the email")
    for f in sorted(subs.glob("tamper_*.answers")):
        write(f"{f.stem}.ipynb", replace_answers(reference, parse_answers(f.read_text())))
    from test_tamper_and_isolation import (  # the notebooks the tests build
        NOTEBOOK_FIRST_CELL,
        NOTEBOOK_LAST_CELL,
        RESOURCES,
        SEGFAULT,
        _code_cell,
    )

    outside = json.loads(json.dumps(student))
    outside["cells"].insert(0, _code_cell(NOTEBOOK_FIRST_CELL))
    outside["cells"].append(_code_cell(NOTEBOOK_LAST_CELL))
    write("tamper_outside_answers.ipynb", outside)
    write("crash_memory_and_exit.ipynb", replace_answers(reference, RESOURCES))
    write("crash_segfault.ipynb", replace_answers(reference, SEGFAULT))
    write("crash_memory_only.ipynb", replace_answers(reference, {"q2": RESOURCES["q2"]}))


def main() -> int:
    """Grade the generated class in one batch and print the throughput."""
    from rnncourse.grading import batch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument(
        "--keep", help="write submissions and results here instead of a temporary folder"
    )
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="rnncourse-bench-"))
    folder, out = work / "submissions", work / "results"
    shutil.rmtree(work / "results", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    submissions(folder)
    count = len(list(folder.iterdir()))
    start = time.perf_counter()
    rows = batch(folder, SET, out, jobs=args.jobs, force=True, progress=True)
    seconds = time.perf_counter() - start
    statuses = {}
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    print(
        f"{count} submissions, jobs={args.jobs or os.cpu_count()}: {seconds:.1f} s, "
        f"{60 * count / seconds:.1f} submissions per minute; statuses {statuses}"
    )
    print(f"CSV: {out / 'grades.csv'}")
    if not args.keep:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
