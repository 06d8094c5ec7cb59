"""Build and grade the course's exercise sets (otter-grader): ``make exercises`` and ``make grade``.

Each set is an otter master notebook ``exercises/masters/<set>.ipynb`` (solutions, public and
hidden tests, points; see ``exercises/README.md``). :func:`build` runs ``otter assign`` on every
master into ``_build/exercises/<set>/`` (student notebook, autograder notebook, autograder zip)
and copies the student notebook, with deterministic cell ids, to ``exercises/<set>.ipynb``,
where learners open it and the book shows it.

:func:`grade` grades one submitted notebook with the hidden tests and returns a
:class:`Report` (per question: points, maximum, a one-line reason for a failure; the total).
It never writes to the submitted file: a copy is graded, by ``otter run`` in a separate worker
process, with two limits:

* ``cell_timeout``: a cell (or a ``grader.check`` cell running the hidden tests) that runs
  longer is interrupted; the checks turn the interrupt into a failure of that question only
  (:func:`rnncourse.checks.call`), and grading goes on;
* ``timeout``: the whole worker, kernel included, is killed after this many seconds, and every
  question scores 0 with the reason.

Command line (run from the repository root)::

    python -m rnncourse.grading build            # make exercises
    python -m rnncourse.grading check            # fail if a committed student notebook is stale
    python -m rnncourse.grading grade NB.ipynb   # make grade NB=...

The exit status of ``grade`` says whether grading ran (0) or could not (2: not a notebook, no
such set, the autograder could not be built), never the score.
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = [
    "GradingError",
    "QuestionResult",
    "Report",
    "answer_cells",
    "assign",
    "autograder_zip",
    "build",
    "find_masters",
    "format_report",
    "grade",
    "normalise_student",
    "parse_answers",
    "replace_answers",
    "stale_students",
]

DEFAULT_TIMEOUT = 300.0  # seconds for a whole notebook; the chapter-1 set grades in about 10
DEFAULT_CELL_TIMEOUT = 60.0  # seconds for one cell before it is interrupted
_REASON_CHARS = 160  # the table keeps one line per question


class GradingError(Exception):
    """Grading could not run (bad file, unknown set, build failure); the message says why."""


@dataclass(frozen=True)
class QuestionResult:
    """One row of the table: ``reason`` is empty when the question earned all its points."""

    name: str
    score: float
    possible: float
    reason: str = ""


@dataclass
class Report:
    """The grade of one notebook: one row per question, and notes about the run."""

    notebook: str
    exercise_set: str
    questions: list[QuestionResult]
    status: str = "graded"  # "graded", "timed out" or "crashed"
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(q.score for q in self.questions)

    @property
    def possible(self) -> float:
        return sum(q.possible for q in self.questions)

    def scores(self) -> dict[str, float]:
        """``{question: points}``, e.g. for tests."""
        return {q.name: q.score for q in self.questions}

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "total": self.total, "max": self.possible}, indent=1)


# ----------------------------------------------------------------------------- locations


def repo_root() -> Path:
    """The checkout this package lives in (it is installed editable), else the working directory."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "exercises").is_dir() else Path.cwd()


def find_masters(root: Path | None = None) -> list[Path]:
    """Every master notebook, ``exercises/masters/*.ipynb``, sorted."""
    root = repo_root() if root is None else Path(root)
    return sorted((root / "exercises" / "masters").glob("*.ipynb"))


def _build_dir(root: Path, set_name: str) -> Path:
    return root / "_build" / "exercises" / set_name


# ----------------------------------------------------------------------------- building


@dataclass(frozen=True)
class AssignOutput:
    student: Path  # the student notebook otter wrote
    autograder: Path  # the autograder notebook (the master with solutions, tests removed)
    zip: Path  # the autograder zip ``otter run`` grades with


def assign(master: Path, out_dir: Path) -> AssignOutput:
    """Run ``otter assign`` on ``master`` into a fresh ``out_dir``; raise GradingError on failure.

    Tests are not run here (``--no-run-tests``): the course's tests grade the reference
    solution themselves (tests/test_grading.py).
    """
    master, out_dir = Path(master).resolve(), Path(out_dir).resolve()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "otter", "assign", "--no-run-tests", str(master), str(out_dir)]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=master.parent)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise GradingError(f"otter assign failed for {master.name}:\n{tail}")
    zips = sorted((out_dir / "autograder").glob("*-autograder_*.zip"))
    student = out_dir / "student" / master.name
    if len(zips) != 1 or not student.is_file():
        raise GradingError(f"otter assign wrote no student notebook or autograder zip in {out_dir}")
    name = _read_json(student).get("metadata", {}).get("otter", {}).get("assignment_name")
    if name != master.stem:
        raise GradingError(f"{master.name}: the ASSIGNMENT CONFIG must say `name: {master.stem}` "
                           f"(the file name), got {name!r}")
    return AssignOutput(student, out_dir / "autograder" / master.name, zips[0])


def normalise_student(nb: dict) -> dict:
    """A copy of a student notebook with otter's random cell ids replaced by content hashes.

    The ids are the only part of ``otter assign``'s student output that changes from run to run,
    so after this the committed notebook is a pure function of its master.
    """
    nb = copy.deepcopy(nb)
    seen: dict[str, int] = {}
    for cell in nb["cells"]:
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        digest = hashlib.sha1(f"{cell['cell_type']}\n{source}".encode()).hexdigest()[:10]
        seen[digest] = seen.get(digest, 0) + 1
        cell["id"] = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
    return nb


def _write_notebook(nb: dict, path: Path) -> None:
    import nbformat

    nbformat.write(nbformat.from_dict(nb), str(path))


def _read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def build(root: Path | None = None, masters: list[Path] | None = None) -> list[Path]:
    """``make exercises``: assign every master and copy its student notebook to ``exercises/``.

    Returns the student notebooks written.
    """
    root = repo_root() if root is None else Path(root)
    written = []
    for master in find_masters(root) if masters is None else masters:
        out = assign(master, _build_dir(root, master.stem))
        target = root / "exercises" / master.name
        _write_notebook(normalise_student(_read_json(out.student)), target)
        written.append(target)
    return written


def stale_students(root: Path | None = None, build_root: Path | None = None) -> list[str]:
    """Names of committed student notebooks that differ from what their master generates now.

    Assigns into ``build_root`` (default: the usual build directory) and compares the
    normalised notebooks as JSON, so only cell ids (random in otter's output) are ignored.
    """
    root = repo_root() if root is None else Path(root)
    stale = []
    for master in find_masters(root):
        out_root = _build_dir(root, master.stem) if build_root is None else Path(build_root) / master.stem
        out = assign(master, out_root)
        committed = root / "exercises" / master.name
        fresh = normalise_student(_read_json(out.student))
        if not committed.is_file() or normalise_student(_read_json(committed)) != fresh:
            stale.append(master.name)
    return stale


def autograder_zip(set_name: str, root: Path | None = None) -> Path:
    """The set's autograder zip, built first if it is missing or older than its master."""
    root = repo_root() if root is None else Path(root)
    master = root / "exercises" / "masters" / f"{set_name}.ipynb"
    if not master.is_file():
        known = ", ".join(m.stem for m in find_masters(root)) or "none"
        raise GradingError(f"no exercise set named {set_name!r} (known sets: {known})")
    zips = sorted((_build_dir(root, set_name) / "autograder").glob("*-autograder_*.zip"))
    if len(zips) == 1 and zips[0].stat().st_mtime >= master.stat().st_mtime:
        return zips[0]
    return assign(master, _build_dir(root, set_name)).zip


# ----------------------------------------------------------------------------- submissions


def _source(cell: dict) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def answer_cells(nb: dict) -> dict[str, list[int]]:
    """``{question: [cell indices]}``: the answer cells (student or solution) before each check.

    otter tags answer cells ``otter_answer_cell`` in the student notebook and
    ``otter_assign_solution_cell`` in the autograder notebook; a question's answer cells are
    those before its ``grader.check("qN")`` cell and after the previous check.
    """
    tags = {"otter_answer_cell", "otter_assign_solution_cell"}
    found: dict[str, list[int]] = {}
    pending: list[int] = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        check = re.fullmatch(r"\s*grader\.check\(\s*[\"'](\w+)[\"']\s*\)\s*", _source(cell))
        if check:
            found[check.group(1)] = pending
            pending = []
        elif tags & set(cell.get("metadata", {}).get("tags", [])):
            pending.append(i)
    return found


def parse_answers(text: str) -> dict[str, str]:
    """Parse a ``wrong_*.answers`` file: ``### qN: description`` lines start each question's code."""
    answers: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        header = re.match(r"###\s*(\w+)\s*:", line)
        if header:
            current = header.group(1)
            if current in answers:
                raise ValueError(f"question {current} appears twice")
            answers[current] = ""
        elif current is not None:
            answers[current] += line + "\n"
    return answers


def replace_answers(nb: dict, answers: dict[str, str]) -> dict:
    """A copy of ``nb`` whose answer cells for each question in ``answers`` hold that code.

    The code goes into the question's first answer cell; its other answer cells are emptied.
    """
    nb = copy.deepcopy(nb)
    cells = answer_cells(nb)
    for question, code in answers.items():
        if not cells.get(question):
            raise ValueError(f"question {question}: no answer cell in the notebook "
                             f"(questions: {', '.join(cells) or 'none'})")
        first, *rest = cells[question]
        nb["cells"][first]["source"] = code
        for i in rest:
            nb["cells"][i]["source"] = ""
    return nb


# ----------------------------------------------------------------------------- grading


def _questions_in_zip(zip_path: Path) -> list[tuple[str, float]]:
    """(name, points) of every question in an autograder zip, read without running the tests."""
    questions = []
    with zipfile.ZipFile(zip_path) as z:
        for name in sorted(n for n in z.namelist() if re.fullmatch(r"tests/[^/]+\.py", n)):
            text = z.read(name).decode("utf-8")
            points = re.search(r"^points = (.+)$", text, flags=re.MULTILINE)
            value = ast.literal_eval(points.group(1)) if points else 1
            total = sum(value) if isinstance(value, list) else (1 if value is None else value)
            questions.append((Path(name).stem, float(total)))
    return sorted(questions, key=lambda q: _natural_key(q[0]))


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _set_of(notebook: Path) -> str:
    """The exercise set a submission belongs to (otter writes it into the notebook metadata)."""
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GradingError(f"{notebook}: not a notebook (not valid JSON: {e})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise GradingError(f"{notebook}: not a notebook (no list of cells)")
    name = nb.get("metadata", {}).get("otter", {}).get("assignment_name")
    if name and not re.fullmatch(r"[\w.-]+", str(name)):
        raise GradingError(f"{notebook}: its exercise set name {name!r} is not a file name")
    if not name:
        raise GradingError(f"{notebook}: not an exercise notebook (no otter assignment name in its "
                           "metadata); pass --set NAME")
    return str(name)


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill the worker and everything it started (the kernel runs in its own session)."""
    import psutil

    try:
        parent = psutil.Process(proc.pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        procs = []
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)
    proc.wait()


# The worker loads this file alone, not the rnncourse package (whose __init__ imports torch
# and matplotlib: 2 s of CPU the worker does not need; the kernel imports what the notebook uses).
_WORKER_BOOT = (
    "import importlib.util, sys; "
    "spec = importlib.util.spec_from_file_location('_rnncourse_grading_worker', sys.argv[1]); "
    "module = importlib.util.module_from_spec(spec); "
    "sys.modules[spec.name] = module; spec.loader.exec_module(module); "
    "sys.exit(module.main(sys.argv[2:]))"
)


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."


def grade(
    notebook: str | Path,
    *,
    exercise_set: str | None = None,
    autograder: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cell_timeout: float = DEFAULT_CELL_TIMEOUT,
    check_time_limit: float | None = None,
    root: Path | None = None,
) -> Report:
    """Grade ``notebook`` with the hidden tests of its set; never modifies ``notebook``.

    Raises GradingError if grading cannot run; a notebook that fails, raises, exits or hangs
    still gets a Report (its questions score 0 with the reason). ``check_time_limit`` bounds
    each call of learner code by the tests (default: ``rnncourse.checks.DEFAULT_TIME_LIMIT``).
    """
    start = time.perf_counter()
    notebook = Path(notebook)
    if not notebook.is_file():
        raise GradingError(f"{notebook}: no such file")
    set_name = exercise_set or _set_of(notebook)
    zip_path = Path(autograder) if autograder is not None else autograder_zip(set_name, root)
    questions = _questions_in_zip(zip_path)

    with tempfile.TemporaryDirectory(prefix="rnncourse-grade-") as tmp:
        submission = Path(tmp) / "submission" / f"{set_name}.ipynb"
        submission.parent.mkdir()
        shutil.copyfile(notebook, submission)  # otter sees a copy; the original is never opened for writing
        out = Path(tmp) / "results.json"
        cmd = [sys.executable, "-c", _WORKER_BOOT, str(Path(__file__).resolve()), "_worker",
               str(zip_path), str(submission), str(out), "--cell-timeout", str(cell_timeout)]
        env = {**os.environ, "RNNCOURSE_NO_PROGRESS": "1", "PYTHONWARNINGS": "ignore"}
        if check_time_limit is not None:  # read by rnncourse.checks.call in the kernel
            env["RNNCOURSE_CHECK_TIME_LIMIT"] = str(check_time_limit)
        log_path = Path(tmp) / "worker.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp, env=env)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_tree(proc)
                reason = f"not graded: the notebook ran longer than the {timeout:g} s limit"
                return Report(str(notebook), set_name,
                              [QuestionResult(n, 0.0, p, reason) for n, p in questions],
                              status="timed out", notes=[reason],
                              seconds=time.perf_counter() - start)
        if proc.returncode != 0 or not out.is_file():
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            reason = f"not graded: the grader stopped ({_one_line(tail[0])})"
            return Report(str(notebook), set_name,
                          [QuestionResult(n, 0.0, p, reason) for n, p in questions],
                          status="crashed", notes=[reason], seconds=time.perf_counter() - start)
        raw = json.loads(out.read_text())

    graded = {q["name"]: q for q in raw["questions"]}
    rows = []
    for name, possible in questions:
        got = graded.get(name)
        if got is None:
            reason = (f"not graded: grading stopped early ({raw['error']})" if raw.get("error")
                      else "not graded: the tests for this question did not run")
            rows.append(QuestionResult(name, 0.0, possible, _one_line(reason)))
        else:
            rows.append(QuestionResult(name, float(got["score"]), float(got["possible"]),
                                       _one_line(got["reason"])))
    status = "crashed" if raw.get("error") else "graded"
    notes = list(raw.get("cell_errors", []))
    if raw.get("error"):
        notes.insert(0, f"grading stopped early: {raw['error']}")
    return Report(str(notebook), set_name, rows, status=status, notes=notes,
                  seconds=time.perf_counter() - start)


def format_report(report: Report) -> str:
    """The per-question table and the total, as printed by ``make grade``."""
    width = max([len("question")] + [len(q.name) for q in report.questions])
    lines = [f"Grading {report.notebook} (exercise set {report.exercise_set})", ""]
    lines.append(f"{'question':<{width}}  {'points':>6}  {'max':>5}  reason")
    for q in report.questions:
        lines.append(f"{q.name:<{width}}  {q.score:>6g}  {q.possible:>5g}  {q.reason}")
    lines.append(f"{'total':<{width}}  {report.total:>6g}  {report.possible:>5g}")
    if report.notes:
        lines += ["", "Notes:"] + [f"  - {note}" for note in report.notes]
    lines.append("")
    lines.append(f"({report.status} in {report.seconds:.1f} s; public checks in the notebook are a "
                 "subset of these hidden tests)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the worker


def _failure_reason(message: str) -> str:
    """The last line of otter's failure message, without the checks' own exception name."""
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    if not lines:
        return "failed"
    last = lines[-1]
    for prefix in ("rnncourse.checks.CheckFailure: ", "CheckFailure: ", "AssertionError: "):
        if last.startswith(prefix):
            return last[len(prefix):]
    return last


def _cell_errors(executed: dict) -> list[str]:
    """One note per cell of the submission that raised: the error and the cell's first line."""
    notes = []
    for cell in executed.get("cells", []):
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            first = next((line for line in source.splitlines() if line.strip()), "")
            if "otter" in first or first.startswith("notebook_"):
                continue  # otter's own inserted cells report through the question rows
            evalue = _one_line(str(output.get("evalue", "")))
            notes.append(f"a cell raised {output.get('ename')}"
                         f"{': ' + evalue if evalue else ''} (cell starting {first.strip()[:50]!r})")
    return notes


_SLOW_OPTIONAL_MODULE = "rfc3987_syntax"


def _skip_slow_optional_import() -> None:
    """Make ``import rfc3987_syntax`` fail fast here and in the grading kernel.

    jsonschema (under nbformat, which otter imports in the worker and in the kernel) imports
    this optional IRI checker if it is installed, and it builds a grammar at import: about 2 s
    of CPU per process, a third of grading one notebook. jsonschema skips it on ImportError,
    and nothing in grading validates IRIs. The kernel inherits PYTHONPATH, so a one-line
    module placed first makes the import fail there too.
    """
    sys.modules.setdefault(_SLOW_OPTIONAL_MODULE, None)
    shim_dir = Path.cwd() / "shim"  # the worker runs in grade()'s temporary directory
    shim_dir.mkdir(exist_ok=True)
    (shim_dir / f"{_SLOW_OPTIONAL_MODULE}.py").write_text(
        'raise ImportError("skipped while grading: see rnncourse.grading")\n'
    )
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(shim_dir), os.environ.get("PYTHONPATH", "")) if p
    )


def _worker(zip_path: str, submission: str, out: str, cell_timeout: float) -> int:
    """Grade ``submission`` with ``otter run`` and write a small JSON summary to ``out``."""
    _skip_slow_optional_import()
    from nbconvert import preprocessors

    base = preprocessors.ExecutePreprocessor

    class _TimedExecutePreprocessor(base):  # otter builds this class by name at call time
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.timeout = int(max(1, cell_timeout))
            self.interrupt_on_timeout = True  # interrupt the cell, then go on with the next

    preprocessors.ExecutePreprocessor = _TimedExecutePreprocessor

    from otter.run import main as otter_run

    summary: dict = {"questions": [], "cell_errors": [], "error": ""}
    try:
        results = otter_run(submission, autograder=zip_path, output_dir=None, no_logo=True)
    except Exception as e:  # noqa: BLE001 - a dead kernel or broken file is reported, not raised
        summary["error"] = f"{type(e).__name__}: {_one_line(str(e)) or 'no message'}"
        if type(e).__name__ == "DeadKernelError":
            summary["error"] += " (the notebook called exit() or os._exit(), or crashed)"
        Path(out).write_text(json.dumps(summary))
        return 0
    if results.catastrophic_error is not None:
        e = results.catastrophic_error
        summary["error"] = f"{type(e).__name__}: {_one_line(str(e)) or 'no message'}"
    for name, test_file in results.results.items():
        failed = [r for r in test_file.test_case_results if not r.passed]
        reason = _failure_reason(failed[0].message) if failed else ""
        if failed and not reason:
            reason = "failed"
        summary["questions"].append(
            {"name": name, "score": test_file.score, "possible": test_file.possible, "reason": reason}
        )
    if results.notebook is not None:
        summary["cell_errors"] = _cell_errors(results.notebook)
    Path(out).write_text(json.dumps(summary))
    return 0


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rnncourse.grading", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="otter assign every master; copy student notebooks to exercises/")
    b.add_argument("--set", dest="sets", action="append", help="only this set (repeatable)")
    sub.add_parser("check", help="exit 1 if a committed student notebook differs from its master's")
    g = sub.add_parser("grade", help="grade one notebook with the hidden tests")
    g.add_argument("notebook")
    g.add_argument("--set", dest="exercise_set", help="exercise set name (default: from the notebook)")
    g.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds for the notebook")
    g.add_argument("--cell-timeout", type=float, default=DEFAULT_CELL_TIMEOUT, help="seconds per cell")
    g.add_argument("--json", help="also write the report as JSON to this file")
    w = sub.add_parser("_worker")  # internal: runs inside the separate grading process
    w.add_argument("zip")
    w.add_argument("submission")
    w.add_argument("out")
    w.add_argument("--cell-timeout", type=float, default=DEFAULT_CELL_TIMEOUT)
    args = parser.parse_args(argv)

    if args.command == "_worker":
        return _worker(args.zip, args.submission, args.out, args.cell_timeout)
    try:
        if args.command == "build":
            masters = None
            if args.sets:
                masters = [repo_root() / "exercises" / "masters" / f"{name}.ipynb" for name in args.sets]
                missing = [m.name for m in masters if not m.is_file()]
                if missing:
                    raise GradingError(f"no master notebook {', '.join(missing)} in exercises/masters/")
            for path in build(masters=masters):
                print(f"wrote {path.relative_to(repo_root())}")
            return 0
        if args.command == "check":
            stale = stale_students()
            for name in stale:
                print(f"exercises/{name} differs from what its master generates: run `make exercises`")
            return 1 if stale else 0
        report = grade(args.notebook, exercise_set=args.exercise_set, timeout=args.timeout,
                       cell_timeout=args.cell_timeout)
    except GradingError as e:
        what = "grading could not run" if args.command == "grade" else f"{args.command} failed"
        print(f"{what}: {e}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(report.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
