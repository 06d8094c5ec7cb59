"""Build and grade the course's exercise sets (otter-grader): ``make exercises`` and ``make grade``.

Each set is an otter master notebook ``exercises/masters/<set>.ipynb`` (solutions, public and
hidden tests, points; see ``exercises/README.md``). :func:`build` runs ``otter assign`` on every
master into ``_build/exercises/<set>/`` (student notebook, autograder notebook, autograder zip)
and copies the student notebook, with deterministic cell ids, to ``exercises/<set>.ipynb``,
where learners open it and the book shows it.

:func:`grade` grades one submitted notebook with the hidden tests and returns a
:class:`Report` (per question: points, maximum, a one-line reason for a failure; the total).
It never writes to the submitted file or its folder. A grading process (``_worker``) reads
the hidden tests from the zip and runs them; the notebook's cells run in a separate, confined
learner process (:mod:`rnncourse.learner_process`: memory limit, Landlock, its own empty
folder) whose functions the tests call from outside, getting plain data back. Learner code
never runs in the process that judges it; see ``exercises/GRADING.md`` for the threat model.
Limits: ``cell_timeout`` (a cell is interrupted, then killed if it ignores the interrupt),
``check_time_limit`` (one call of learner code by the tests), ``memory_mb`` (address space)
and ``timeout`` (the whole notebook). A notebook whose process dies or is killed is graded
as far as it got. :func:`batch` grades a folder in parallel into a CSV and reports.

Command line (run from the repository root)::

    python -m rnncourse.grading build            # make exercises
    python -m rnncourse.grading check            # fail if a committed student notebook is stale
    python -m rnncourse.grading grade NB.ipynb   # make grade NB=...
    python -m rnncourse.grading batch DIR --set NAME --out OUT   # make grade-batch ...

The exit status of ``grade`` says whether grading ran (0) or could not (2: not a notebook, no
such set, the autograder could not be built), never the score.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import hashlib
import io
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
    "batch",
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
DEFAULT_MEMORY_MB = 4096.0  # address space of the notebook's process (torch alone maps about 0.8 GB)
DEFAULT_CHECK_TIME_LIMIT = 30.0  # seconds per call of learner code by the tests
_WORKER_MARGIN = 60.0  # seconds the worker gets beyond the notebook's limit before it is killed
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
    _add_course_package(zips[0], repo_root())
    return AssignOutput(student, out_dir / "autograder" / master.name, zips[0])


_CONTAINER_PACKAGES = ("torch", "numpy", "matplotlib", "ipywidgets", "tqdm", "otter-grader")


def _add_course_package(zip_path: Path, root: Path) -> None:
    """Make an autograder zip enough for a container (``otter grade``, Gradescope) on its own.

    otter writes an ``environment.yml`` with otter alone; the tests also import ``rnncourse``
    and torch. The zip gets the package's source (``rnncourse_src/``: pyproject.toml and
    ``rnncourse/``) and an ``environment.yml`` that installs it with the versions of
    ``requirements.lock`` (Python 3.11, torch from PyTorch's CPU index).
    """
    lock = {}
    lock_file = root / "requirements.lock"
    if lock_file.is_file():
        for line in lock_file.read_text().splitlines():
            match = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
            if match:
                lock[match.group(1).lower().replace("_", "-")] = match.group(0)
    pins = [lock.get(name, name) for name in _CONTAINER_PACKAGES]
    pins = [p.replace("otter-grader", "otter-grader[grading,plugins]", 1) if p.startswith("otter-grader")
            else p for p in pins]
    environment = "\n".join([
        "name: otter-env", "channels:", "  - conda-forge", "dependencies:", "  - python=3.11", "  - pip",
        "  - jupyter_server", "  - pip:", "      - --extra-index-url https://download.pytorch.org/whl/cpu",
        *[f"      - {p}" for p in pins], "      - /autograder/source/rnncourse_src", ""])
    package = root / "rnncourse"
    files = {"rnncourse_src/pyproject.toml": (root / "pyproject.toml").read_bytes()}
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".txt"):
            files[f"rnncourse_src/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    files["rnncourse_src/README.md"] = b"The course's helper package, for the grading container.\n"
    tmp = zip_path.with_name(zip_path.name + ".tmp")
    with zipfile.ZipFile(zip_path) as old, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            if item.filename != "environment.yml" and not item.filename.startswith("rnncourse_src/"):
                new.writestr(item, old.read(item.filename))
        new.writestr("environment.yml", environment)
        for name, data in files.items():
            new.writestr(name, data)
    os.replace(tmp, zip_path)


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
        with _set_lock(root, master.stem):
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


@contextlib.contextmanager
def _set_lock(root: Path, set_name: str):
    """Hold an exclusive lock on a set's build folder (two `make grade` runs may rebuild it at once)."""
    import fcntl

    if not re.fullmatch(r"[\w.-]+", set_name):
        raise GradingError(f"no exercise set named {set_name!r}")
    lock_path = root / "_build" / "exercises" / f".{set_name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def autograder_zip(set_name: str, root: Path | None = None, *, locked: bool = False) -> Path:
    """The set's autograder zip, built first if it is missing or older than its master.

    Rebuilding happens under the set's lock (``locked=True``: the caller holds it, and should
    copy the zip before releasing it).
    """
    root = repo_root() if root is None else Path(root)
    master = root / "exercises" / "masters" / f"{set_name}.ipynb"
    if not re.fullmatch(r"[\w.-]+", set_name) or not master.is_file():
        known = ", ".join(m.stem for m in find_masters(root)) or "none"
        raise GradingError(f"no exercise set named {set_name!r} (known sets: {known})")
    if not locked:
        with _set_lock(root, set_name):
            return autograder_zip(set_name, root, locked=True)
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


def _set_of(notebook: Path, required: bool = True) -> str | None:
    """The exercise set a submission belongs to (otter writes it into the notebook metadata)."""
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GradingError(f"{notebook}: not a notebook (not valid JSON: {_one_line(e)})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise GradingError(f"{notebook}: not a notebook (no list of cells)")
    bad = [i for i, c in enumerate(nb["cells"]) if not isinstance(c, dict)
           or not isinstance(c.get("source", ""), (str, list)) or not isinstance(c.get("cell_type"), str)]
    if bad:
        raise GradingError(f"{notebook}: not a notebook (cell {bad[0]} is not a notebook cell)")
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    otter = meta.get("otter") if isinstance(meta.get("otter"), dict) else {}
    name = otter.get("assignment_name")
    if not name and not required:
        return None
    if name and not re.fullmatch(r"[\w.-]+", str(name)):
        raise GradingError(f"{notebook}: its exercise set name {name!r} is not a file name")
    if not name:
        raise GradingError(f"{notebook}: not an exercise notebook (no otter assignment name in its "
                           "metadata); pass --set NAME")
    return str(name)


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill the worker and everything it started (the learner process runs in its own session)."""
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


# The worker loads this file alone first (the rnncourse package's __init__ imports matplotlib);
# it imports torch and rnncourse's checks when it loads the tests.
_WORKER_BOOT = (
    "import importlib.util, sys; "
    "spec = importlib.util.spec_from_file_location('_rnncourse_grading_worker', sys.argv[1]); "
    "module = importlib.util.module_from_spec(spec); "
    "sys.modules[spec.name] = module; spec.loader.exec_module(module); "
    "sys.exit(module.main(sys.argv[2:]))"
)


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def grade(
    notebook: str | Path,
    *,
    exercise_set: str | None = None,
    autograder: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cell_timeout: float = DEFAULT_CELL_TIMEOUT,
    check_time_limit: float | None = None,
    memory_mb: float = DEFAULT_MEMORY_MB,
    root: Path | None = None,
) -> Report:
    """Grade ``notebook`` with the hidden tests of its set; never writes to it or its folder.

    Raises GradingError (one line) if grading cannot run: no such file, not a notebook, a
    notebook of another set, unknown set. A notebook that fails, raises, exits, hangs,
    allocates without bound or kills its own process still gets a Report: graded as far as it
    got, each question it did not reach at 0 with the reason. ``check_time_limit`` bounds each
    call of learner code by the tests (default: ``rnncourse.checks.DEFAULT_TIME_LIMIT``);
    ``memory_mb`` the learner process's address space (0: no limit).
    """
    start = time.perf_counter()
    notebook = Path(notebook)
    if not notebook.is_file():
        raise GradingError(f"{notebook}: no such file")
    if notebook.stat().st_size == 0:
        raise GradingError(f"{notebook}: not a notebook (the file is empty)")
    named = _set_of(notebook, required=exercise_set is None)
    if exercise_set is not None and named is not None and named != exercise_set:
        raise GradingError(f"{notebook}: a notebook for exercise set {named!r}, not {exercise_set!r}")
    set_name = exercise_set or named

    with tempfile.TemporaryDirectory(prefix="rnncourse-grade-") as tmp:
        tmp = Path(tmp)
        zip_copy = tmp / "autograder.zip"
        if autograder is not None:
            shutil.copyfile(autograder, zip_copy)
        else:
            root_ = repo_root() if root is None else Path(root)
            with _set_lock(root_, set_name):  # another `make grade` may be rebuilding it
                shutil.copyfile(autograder_zip(set_name, root_, locked=True), zip_copy)
        questions = _questions_in_zip(zip_copy)
        submission = tmp / "submission.ipynb"
        shutil.copyfile(notebook, submission)  # the original is never opened for writing
        # The learner process works in its own empty folder, not beside the grader's files.
        learner_dir = tempfile.mkdtemp(prefix="rnncourse-learner-")
        out = tmp / "results.json"
        limit = DEFAULT_CHECK_TIME_LIMIT if check_time_limit is None else check_time_limit
        cmd = [sys.executable, "-c", _WORKER_BOOT, str(Path(__file__).resolve()), "_worker",
               str(zip_copy), str(submission), str(out), "--cell-timeout", str(cell_timeout),
               learner_dir, "--timeout", str(timeout), "--memory-mb", str(memory_mb),
               "--check-time-limit", str(limit)]
        env = {**os.environ, "RNNCOURSE_NO_PROGRESS": "1", "PYTHONWARNINGS": "ignore",
               "RNNCOURSE_CHECK_TIME_LIMIT": str(limit), "MPLBACKEND": "Agg"}
        log_path = tmp / "worker.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp, env=env,
                                    stdin=subprocess.DEVNULL)
            try:  # the worker keeps its own deadline; this is the backstop
                proc.wait(timeout=timeout + _WORKER_MARGIN)
            except subprocess.TimeoutExpired:
                _kill_tree(proc)
            finally:
                shutil.rmtree(learner_dir, ignore_errors=True)
        raw = {}
        if out.is_file():
            try:
                raw = json.loads(out.read_text())
            except json.JSONDecodeError:
                raw = {}
        if proc.returncode != 0 and not raw.get("finished"):
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raw.setdefault("notes", []).insert(0, f"the grader stopped: {_one_line(tail[0])}")
            raw["status"] = "crashed" if proc.returncode > 0 else "timed out"
            raw.setdefault("pending", f"not graded: the grader stopped ({_one_line(tail[0])})")

    graded = {q["name"]: q for q in raw.get("questions", [])}
    pending = raw.get("pending") or "not graded: the tests for this question did not run"
    rows = []
    for name, possible in questions:
        got = graded.get(name)
        if got is None:
            rows.append(QuestionResult(name, 0.0, possible, _one_line(pending)))
        else:
            rows.append(QuestionResult(name, float(got["score"]), float(got["possible"]),
                                       _one_line(got["reason"])))
    return Report(str(notebook), set_name, rows, status=raw.get("status", "crashed"),
                  notes=list(raw.get("notes", [])), seconds=time.perf_counter() - start)


def format_report(report: Report, *, timing: bool = True) -> str:
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
    took = f" in {report.seconds:.1f} s" if timing else ""
    lines.append(f"({report.status}{took}; public checks in the notebook are a subset of these hidden tests)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the worker

# Cells otter adds to the student notebook; they run the public tests in the notebook, which
# grading does not need (the hidden tests run here), so they are skipped.
_OTTER_CELL = re.compile(
    r"\s*(?:# Initialize Otter\s*\n\s*import otter\s*\n\s*grader = otter\.Notebook\([^)]*\)"
    r"|grader\.check\(\s*[\"']\w+[\"']\s*\)|grader\.check_all\(\)|grader\.export\([^)]*\))\s*"
)


@dataclass
class _TestCase:
    fn: object
    points: float | None
    hidden: bool


@dataclass
class _Question:
    name: str
    points: float
    all_or_nothing: bool
    cases: list


def _load_tests(zip_path: str) -> list[_Question]:
    """The questions of an autograder zip, with otter's ``test_case`` decorator replaced by ours.

    The test files are executed here, in the grading process, never in the learner's.
    """
    questions = []
    with zipfile.ZipFile(zip_path) as z:
        names = [n for n in z.namelist() if re.fullmatch(r"tests/[^/]+\.py", n)]
        for name in sorted(names, key=lambda n: _natural_key(Path(n).stem)):
            tree = ast.parse(z.read(name).decode("utf-8"))
            tree.body = [node for node in tree.body if not (
                isinstance(node, ast.ImportFrom) and (node.module or "").startswith("otter"))]
            cases: list[_TestCase] = []

            def test_case(points=None, hidden=False, success_message=None, failure_message=None,
                          _cases=cases):
                def record(fn):
                    _cases.append(_TestCase(fn, points, bool(hidden)))
                    return fn
                return record

            namespace = {"__name__": f"_hidden_tests_{Path(name).stem}", "test_case": test_case}
            exec(compile(tree, f"<hidden tests {name}>", "exec"), namespace)  # noqa: S102 - our own tests
            value = namespace.get("points", 1)
            total = sum(value) if isinstance(value, list) else (1 if value is None else value)
            questions.append(_Question(str(namespace.get("name", Path(name).stem)), float(total),
                                       bool(namespace.get("all_or_nothing", False)), cases))
    return questions


def _case_points(question: _Question) -> list[float]:
    """Points of each test case when a question is not all-or-nothing (otter's split)."""
    given = [c.points for c in question.cases]
    fixed = sum(p for p in given if p is not None)
    free = [p for p in given if p is None]
    share = (question.points - fixed) / len(free) if free else 0.0
    return [share if p is None else float(p) for p in given]


def _grade_question(question: _Question, learner) -> tuple[float, str]:
    """Run every test case of one question against the learner process: (score, reason)."""
    import inspect

    from rnncourse.checks import CheckFailure
    from rnncourse.learner_process import LearnerDied, _OutOfTime

    passed, reasons = [], []
    for case in question.cases:
        try:
            params = inspect.signature(case.fn).parameters
            case.fn(**{p: learner.lookup(p) for p in params})
        except (LearnerDied, _OutOfTime):
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
    reason = _one_line(reasons[0].strip().splitlines()[0]) if reasons else ""
    if question.all_or_nothing:
        return (question.points if all(passed) else 0.0), reason
    return sum(p for p, ok in zip(_case_points(question), passed) if ok), reason


def _worker(zip_path: str, submission: str, out: str, cell_timeout: float, timeout: float,
            memory_mb: float, check_time_limit: float, learner_dir: str, confine: bool = True) -> int:
    """Run the submission in a learner process, then the hidden tests here; write ``out`` (JSON).

    The results are written after every question, so a worker that is killed still reports
    the questions it graded.
    """
    deadline = time.monotonic() + timeout
    from rnncourse.learner_process import LearnerDied, LearnerProcess, _OutOfTime

    summary: dict = {"questions": [], "notes": [], "status": "graded", "pending": "", "finished": False}
    out_path = Path(out)

    def save():
        _write_atomic(out_path, json.dumps(summary))

    nb = json.loads(Path(submission).read_text(encoding="utf-8"))
    questions = _load_tests(zip_path)
    os.unlink(zip_path)  # the tests are in memory now; no copy stays on disk while learner code runs
    cells = [(i, _source(c)) for i, c in enumerate(nb["cells"])
             if isinstance(c, dict) and c.get("cell_type") == "code" and not _OTTER_CELL.fullmatch(_source(c))]
    answers = answer_cells(nb)
    workdir = learner_dir
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNNCOURSE_CHECK")}
    env.update(HOME=workdir, TMPDIR=workdir, IPYTHONDIR=os.path.join(workdir, ".ipython"),
               MPLCONFIGDIR=os.path.join(workdir, ".matplotlib"), MPLBACKEND="Agg")
    import rnncourse
    from rnncourse.learner_process import default_confinement

    confinement = default_confinement(workdir, str(Path(rnncourse.__file__).resolve().parent)) if confine else None
    try:  # matplotlib's font list, so the learner process does not rebuild it (1 s of CPU)
        import matplotlib

        os.makedirs(env["MPLCONFIGDIR"], exist_ok=True)
        for cached in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
            shutil.copyfile(cached, Path(env["MPLCONFIGDIR"]) / cached.name)
    except (ImportError, OSError):
        pass
    log_path = str(Path(out).parent / "learner.log")

    def new_learner():
        learner = LearnerProcess(workdir, memory_mb=memory_mb, time_limit=check_time_limit,
                                 deadline=deadline, env=env, log_path=log_path, confinement=confinement)
        learner.start()
        return learner

    def run_cells(learner, upto, notes):
        """Run code cells [0, upto); return (position, cell index, reason) where it died, or None."""
        for k, (index, source) in enumerate(cells[:upto]):
            try:
                error = learner.run_cell(source, cell_timeout)
            except LearnerDied as e:
                return k, index, str(e)
            if error is not None and notes is not None:
                first = next((line for line in source.splitlines() if line.strip()), "").strip()[:50]
                if error[0] == "KeyboardInterrupt":
                    notes.append(f"cell {index} ran longer than {cell_timeout:g} s and was interrupted "
                                 f"(cell starting {first!r})")
                else:
                    message = _one_line(error[1])
                    notes.append(f"a cell raised {error[0]}{': ' + message if message else ''} "
                                 f"(cell {index}, starting {first!r})")
        return None

    learner = None
    stop = None
    try:
        try:
            learner = new_learner()
        except LearnerDied as e:
            summary.update(status="crashed", pending=f"not graded: the notebook's process did not start ({e})")
            return 0
        stop = run_cells(learner, len(cells), summary["notes"])
        if stop is not None:
            k, index, why = stop
            summary["status"] = "partly graded"
            summary["notes"].insert(0, f"grading went as far as cell {index}: {why}; the cells before it "
                                    "were run again in a new process and the questions they answer graded")
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
                score, reason = 0.0, f"not graded: the notebook never got to this answer ({stop[2]} in cell {stop[1]})"
            else:
                try:
                    score, reason = _grade_question(question, learner)
                except LearnerDied as e:
                    summary["questions"].append({"name": question.name, "score": 0.0,
                                                 "possible": question.points,
                                                 "reason": f"the notebook's process died during these tests: {e}"})
                    summary["status"] = "partly graded"
                    summary["pending"] = "not graded: the notebook's process died during an earlier question"
                    summary["notes"].insert(0, f"the notebook's process died during the tests of "
                                            f"{question.name}: {e}")
                    save()
                    return 0
            summary["questions"].append({"name": question.name, "score": score,
                                         "possible": question.points, "reason": reason})
            save()
    except _OutOfTime:
        summary["status"] = "timed out"
        summary["pending"] = f"not graded: the notebook ran longer than the {timeout:g} s limit"
        summary["notes"].insert(0, f"stopped after the {timeout:g} s limit for the whole notebook")
    finally:
        if learner is not None:
            learner.stop()
        summary["finished"] = True
        save()
    return 0


# ----------------------------------------------------------------------------- batch grading


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def batch(
    directory: str | Path,
    exercise_set: str,
    out_dir: str | Path,
    *,
    jobs: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cell_timeout: float = DEFAULT_CELL_TIMEOUT,
    check_time_limit: float | None = None,
    memory_mb: float = DEFAULT_MEMORY_MB,
    force: bool = False,
    root: Path | None = None,
    autograder: Path | None = None,
    progress: bool | None = None,
) -> list[dict]:
    """Grade every file in ``directory`` for ``exercise_set``, ``jobs`` at a time; write the results.

    Writes ``out_dir/grades.csv`` (one row per file: status, one column per question, total,
    max, note) and ``out_dir/reports/<file>.txt`` and ``.json``. A file whose report is already
    there for the same bytes, autograder and limits is not graded again (``force`` regrades),
    so a rerun gives the same files. Never writes into ``directory``. Returns the CSV rows.
    """
    import csv
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from tqdm.auto import tqdm

    directory, out_dir = Path(directory), Path(out_dir)
    if not directory.is_dir():
        raise GradingError(f"{directory}: no such folder")
    if out_dir.resolve() == directory.resolve() or directory.resolve() in out_dir.resolve().parents:
        raise GradingError(f"{out_dir}: the results must go outside the folder of submissions")
    root = repo_root() if root is None else Path(root)
    files = sorted((p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")),
                   key=lambda p: p.name)
    reports_dir = out_dir / "reports"
    reports_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rnncourse-batch-") as tmp:
        zip_copy = Path(tmp) / "autograder.zip"
        if autograder is not None:
            shutil.copyfile(autograder, zip_copy)
        else:
            with _set_lock(root, exercise_set):
                shutil.copyfile(autograder_zip(exercise_set, root, locked=True), zip_copy)
        questions = _questions_in_zip(zip_copy)
        key = {"autograder": _sha256(zip_copy), "timeout": timeout, "cell_timeout": cell_timeout,
               "check_time_limit": check_time_limit, "memory_mb": memory_mb}

        def cached(path: Path) -> dict | None:
            report = reports_dir / f"{path.name}.json"
            if force or not report.is_file():
                return None
            try:
                data = json.loads(report.read_text())
            except json.JSONDecodeError:
                return None
            return data if data.get("key") == {**key, "submission": _sha256(path)} else None

        def run(path: Path) -> dict:
            digest = _sha256(path)
            try:
                report = grade(path, exercise_set=exercise_set, autograder=zip_copy, timeout=timeout,
                               cell_timeout=cell_timeout, check_time_limit=check_time_limit,
                               memory_mb=memory_mb, root=root)
            except Exception as e:  # noqa: BLE001 - one bad file never stops the batch
                why = str(e) if isinstance(e, GradingError) else f"grader error: {type(e).__name__}: {e}"
                report = Report(str(path), exercise_set,
                                [QuestionResult(n, 0.0, p, "not graded") for n, p in questions],
                                status="not graded", notes=[_one_line(why)])
            data = {**asdict(report), "total": report.total, "max": report.possible,
                    "key": {**key, "submission": digest}}
            data.pop("seconds")
            data["notebook"] = path.name
            _write_atomic(reports_dir / f"{path.name}.json", json.dumps(data, indent=1))
            report.notebook = path.name
            _write_atomic(reports_dir / f"{path.name}.txt", format_report(report, timing=False) + "\n")
            return data

        results: dict[str, dict] = {}
        todo = []
        for path in files:
            data = cached(path)
            if data is None:
                todo.append(path)
            else:
                results[path.name] = data
        workers = max(1, jobs or os.cpu_count() or 1)
        bar = tqdm(total=len(files), initial=len(files) - len(todo), unit="notebook",
                   desc=f"grading {exercise_set}", disable=(not progress) if progress is not None else None)
        with ThreadPoolExecutor(workers) as pool:
            futures = {pool.submit(run, path): path for path in todo}
            for future in as_completed(futures):
                results[futures[future].name] = future.result()
                bar.update(1)
        bar.close()

    names = [n for n, _ in questions]
    rows = []
    for path in files:
        data = results[path.name]
        scores = {q["name"]: q["score"] for q in data["questions"]}
        note = data["notes"][0] if data["notes"] and data["status"] != "graded" else ""
        rows.append({"submission": path.name, "status": data["status"],
                     **{n: f"{scores.get(n, 0.0):g}" for n in names},
                     "total": f"{data['total']:g}", "max": f"{data['max']:g}", "note": note})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["submission", "status", *names, "total", "max", "note"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _write_atomic(out_dir / "grades.csv", buffer.getvalue())
    return rows


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rnncourse.grading", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="otter assign every master; copy student notebooks to exercises/")
    b.add_argument("--set", dest="sets", action="append", help="only this set (repeatable)")
    sub.add_parser("check", help="exit 1 if a committed student notebook differs from its master's")

    def limits(p):
        p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds for a notebook")
        p.add_argument("--cell-timeout", type=float, default=DEFAULT_CELL_TIMEOUT, help="seconds per cell")
        p.add_argument("--memory-mb", type=float, default=DEFAULT_MEMORY_MB,
                       help="address-space limit of the notebook's process, MiB (0: none)")
        p.add_argument("--check-time-limit", type=float, default=None,
                       help=f"seconds per call of learner code by the tests (default {DEFAULT_CHECK_TIME_LIMIT:g})")

    g = sub.add_parser("grade", help="grade one notebook with the hidden tests")
    g.add_argument("notebook")
    g.add_argument("--set", dest="exercise_set", help="exercise set name (default: from the notebook)")
    g.add_argument("--json", help="also write the report as JSON to this file")
    limits(g)
    bt = sub.add_parser("batch", help="grade a folder of submissions: CSV and one report each")
    bt.add_argument("directory")
    bt.add_argument("--set", dest="exercise_set", required=True, help="exercise set name")
    bt.add_argument("--out", required=True, help="folder for grades.csv and reports/")
    bt.add_argument("--jobs", type=int, default=None, help="notebooks at once (default: the number of cores)")
    bt.add_argument("--force", action="store_true", help="regrade files that already have a report")
    limits(bt)
    w = sub.add_parser("_worker")  # internal: runs inside the separate grading process
    w.add_argument("zip")
    w.add_argument("submission")
    w.add_argument("out")
    w.add_argument("learner_dir")
    w.add_argument("--no-confine", action="store_true")
    limits(w)
    args = parser.parse_args(argv)

    if args.command == "_worker":
        return _worker(args.zip, args.submission, args.out, args.cell_timeout, args.timeout,
                       args.memory_mb, DEFAULT_CHECK_TIME_LIMIT if args.check_time_limit is None
                       else args.check_time_limit, args.learner_dir, confine=not args.no_confine)
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
        options = {"timeout": args.timeout, "cell_timeout": args.cell_timeout, "memory_mb": args.memory_mb,
                   "check_time_limit": args.check_time_limit}
        if args.command == "batch":
            start = time.perf_counter()
            rows = batch(args.directory, args.exercise_set, args.out, jobs=args.jobs, force=args.force,
                         **options)
            seconds = time.perf_counter() - start
            not_graded = sum(r["status"] == "not graded" for r in rows)
            print(f"{len(rows)} submissions ({not_graded} not graded: see the note column) in {seconds:.1f} s; "
                  f"wrote {Path(args.out) / 'grades.csv'} and {Path(args.out) / 'reports'}/")
            return 0
        report = grade(args.notebook, exercise_set=args.exercise_set, **options)
    except GradingError as e:
        what = "grading could not run" if args.command in ("grade", "batch") else f"{args.command} failed"
        print(f"{what}: {_one_line(str(e))}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(report.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
