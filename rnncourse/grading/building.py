"""Build the exercise sets with otter-grader: ``make exercises`` and the staleness check.

Each set is an otter master notebook ``exercises/masters/<set>.ipynb`` (solutions, public and
hidden tests, points; see ``exercises/README.md``). :func:`build` runs ``otter assign`` on every
master into ``_build/exercises/<set>/`` (student notebook, autograder notebook, autograder zip)
and copies the student notebook, with deterministic cell ids, to ``exercises/<set>.ipynb``,
where learners open it and the book shows it. :func:`stale_students` says which committed
student notebooks differ from what their masters generate now.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rnncourse.grading.report import GradingError

__all__ = [
    "AssignOutput",
    "assign",
    "autograder_zip",
    "build",
    "build_dir",
    "find_masters",
    "normalise_student",
    "read_json",
    "repo_root",
    "set_lock",
    "stale_students",
]


def repo_root() -> Path:
    """The checkout this package lives in (it is installed editable), else the working directory."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "exercises").is_dir() else Path.cwd()


def find_masters(root: Path | None = None) -> list[Path]:
    """Every master notebook, ``exercises/masters/*.ipynb``, sorted."""
    root = repo_root() if root is None else Path(root)
    return sorted((root / "exercises" / "masters").glob("*.ipynb"))


def build_dir(root: Path, set_name: str) -> Path:
    """Where ``otter assign`` writes a set: ``_build/exercises/<set>/``."""
    return root / "_build" / "exercises" / set_name


# ----------------------------------------------------------------------------- building


@dataclass(frozen=True)
class AssignOutput:
    """The three files of one ``otter assign`` run."""

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
    name = read_json(student).get("metadata", {}).get("otter", {}).get("assignment_name")
    if name != master.stem:
        raise GradingError(
            f"{master.name}: the ASSIGNMENT CONFIG must say `name: {master.stem}` "
            f"(the file name), got {name!r}"
        )
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
    pins = [
        p.replace("otter-grader", "otter-grader[grading,plugins]", 1)
        if p.startswith("otter-grader")
        else p
        for p in pins
    ]
    environment = "\n".join(
        [
            "name: otter-env",
            "channels:",
            "  - conda-forge",
            "dependencies:",
            "  - python=3.11",
            "  - pip",
            "  - jupyter_server",
            "  - pip:",
            "      - --extra-index-url https://download.pytorch.org/whl/cpu",
            *[f"      - {p}" for p in pins],
            "      - /autograder/source/rnncourse_src",
            "",
        ]
    )
    package = root / "rnncourse"
    files = {"rnncourse_src/pyproject.toml": (root / "pyproject.toml").read_bytes()}
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".txt"):
            files[f"rnncourse_src/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    files["rnncourse_src/README.md"] = b"The course's helper package, for the grading container.\n"
    tmp = zip_path.with_name(zip_path.name + ".tmp")
    with zipfile.ZipFile(zip_path) as old, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            if item.filename != "environment.yml" and not item.filename.startswith(
                "rnncourse_src/"
            ):
                new.writestr(item, old.read(item.filename))
        new.writestr("environment.yml", environment)
        for name, data in files.items():
            new.writestr(name, data)
    tmp.replace(zip_path)


def normalise_student(nb: dict) -> dict:
    """A copy of a student notebook with otter's random cell ids replaced by content hashes.

    The ids are the only part of ``otter assign``'s student output that changes from run to run,
    so after this the committed notebook is a pure function of its master.
    """
    nb = copy.deepcopy(nb)
    seen: dict[str, int] = {}
    for cell in nb["cells"]:
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        text = f"{cell['cell_type']}\n{source}".encode()
        digest = hashlib.sha1(text, usedforsecurity=False).hexdigest()[:10]  # an id, not a secret
        seen[digest] = seen.get(digest, 0) + 1
        cell["id"] = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
    return nb


def _write_notebook(nb: dict, path: Path) -> None:
    import nbformat

    nbformat.write(nbformat.from_dict(nb), str(path))


def read_json(path: Path) -> dict:
    """The JSON document in ``path`` (a notebook)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def build(root: Path | None = None, masters: list[Path] | None = None) -> list[Path]:
    """``make exercises``: assign every master and copy its student notebook to ``exercises/``.

    Returns the student notebooks written.
    """
    root = repo_root() if root is None else Path(root)
    written = []
    for master in find_masters(root) if masters is None else masters:
        with set_lock(root, master.stem):
            out = assign(master, build_dir(root, master.stem))
        target = root / "exercises" / master.name
        _write_notebook(normalise_student(read_json(out.student)), target)
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
        out_root = (
            build_dir(root, master.stem) if build_root is None else Path(build_root) / master.stem
        )
        out = assign(master, out_root)
        committed = root / "exercises" / master.name
        fresh = normalise_student(read_json(out.student))
        if not committed.is_file() or normalise_student(read_json(committed)) != fresh:
            stale.append(master.name)
    return stale


@contextlib.contextmanager
def set_lock(root: Path, set_name: str) -> Iterator[None]:
    """Hold an exclusive lock on a set's build folder (two `make grade` runs may rebuild it)."""
    import fcntl

    if not re.fullmatch(r"[\w.-]+", set_name):
        raise GradingError(f"no exercise set named {set_name!r}")
    lock_path = root / "_build" / "exercises" / f".{set_name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as lock:
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
        with set_lock(root, set_name):
            return autograder_zip(set_name, root, locked=True)
    zips = sorted((build_dir(root, set_name) / "autograder").glob("*-autograder_*.zip"))
    if len(zips) == 1 and zips[0].stat().st_mtime >= master.stat().st_mtime:
        return zips[0]
    return assign(master, build_dir(root, set_name)).zip
