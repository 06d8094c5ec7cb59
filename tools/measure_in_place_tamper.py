"""How many questions of each set the in-place tamper of issue 24 reaches under a given grader.

Usage: PYTHONPATH=CHECKOUT python tools/measure_in_place_tamper.py [--root CHECKOUT] [--sets ...]

For every set of CHECKOUT (its masters, its grader: default this checkout), grades one notebook
in which every answer is the reference wrapped to change its tensor and module arguments in
place and then answer for the changed inputs (tests/generated_submissions.py). A question it
scores full marks on is *reached*: the grade was decided by what the learner's function did to
the test's inputs. Prints one line per set and a total. Run it on a copy of an older commit
(``git archive <commit> | tar -x -C DIR``) to measure "before"; CHECKOUT's ``_build/`` is written.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "tests"))  # the submission generators of this checkout's tests


def main() -> int:
    """Grade each set's in-place tamper notebook and print how many questions it reached."""
    from answer_files import replace_answers  # from this checkout's tests (on sys.path above)
    from generated_submissions import NOTHING_TO_CHANGE, in_place_tamper

    import rnncourse
    from rnncourse.grading import autograder_zip, grade

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--root", default=str(HERE), help="the checkout to measure (default: this one)"
    )
    parser.add_argument("--sets", nargs="*", help="only these sets")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    package = Path(rnncourse.__file__).resolve().parent
    if package.parent != root:
        parser.error(
            f"rnncourse is imported from {package}, not from {root}: set PYTHONPATH={root}"
        )
    sets = args.sets or sorted(m.stem for m in (root / "exercises" / "masters").glob("*.ipynb"))
    reached_total = questions_total = 0
    with tempfile.TemporaryDirectory(prefix="rnncourse-measure-") as tmp:
        for set_name in sets:
            zip_path = autograder_zip(set_name, root)
            reference_path = (
                root / "_build" / "exercises" / set_name / "autograder" / f"{set_name}.ipynb"
            )
            reference = json.loads(reference_path.read_text())
            notebook = Path(tmp) / f"{set_name}.ipynb"
            notebook.write_text(json.dumps(replace_answers(reference, in_place_tamper(reference))))
            start = time.perf_counter()
            report = grade(notebook, autograder=zip_path, root=root)
            seconds = time.perf_counter() - start
            reached = [q.name for q in report.questions if q.score == q.possible]
            honest = sorted(q for s, q in NOTHING_TO_CHANGE if s == set_name)
            attacked = [q for q in reached if q not in honest]
            reached_total += len(attacked)
            questions_total += len(report.questions) - len(honest)
            print(
                f"{set_name}: the in-place tamper reached {len(attacked)} of "
                f"{len(report.questions) - len(honest)} questions with tensor or module arguments "
                f"({', '.join(attacked) or 'none'}); "
                f"not attackable: {', '.join(honest) or 'none'}; "
                f"status {report.status}, {seconds:.1f} s"
            )
    print(f"total: {reached_total} of {questions_total} questions reached ({root})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
