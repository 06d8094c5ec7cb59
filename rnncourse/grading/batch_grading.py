"""Grade a folder of submissions in parallel, into a CSV and a report each: ``make grade-batch``."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from rnncourse.grading.building import autograder_zip, repo_root, set_lock
from rnncourse.grading.grade_notebook import (
    DEFAULT_CELL_TIMEOUT,
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    grade,
)
from rnncourse.grading.hidden_tests import questions_in_zip
from rnncourse.grading.report import (
    GradingError,
    QuestionResult,
    Report,
    format_report,
    one_line,
    write_atomic,
)

__all__ = ["batch"]


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
    """Grade every file in ``directory`` for ``exercise_set``, ``jobs`` at a time; write results.

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
    files = sorted(
        (p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    reports_dir = out_dir / "reports"
    reports_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rnncourse-batch-") as tmp:
        zip_copy = Path(tmp) / "autograder.zip"
        if autograder is not None:
            shutil.copyfile(autograder, zip_copy)
        else:
            with set_lock(root, exercise_set):
                shutil.copyfile(autograder_zip(exercise_set, root, locked=True), zip_copy)
        questions = questions_in_zip(zip_copy)
        key = {
            "autograder": _sha256(zip_copy),
            "timeout": timeout,
            "cell_timeout": cell_timeout,
            "check_time_limit": check_time_limit,
            "memory_mb": memory_mb,
        }

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
                report = grade(
                    path,
                    exercise_set=exercise_set,
                    autograder=zip_copy,
                    timeout=timeout,
                    cell_timeout=cell_timeout,
                    check_time_limit=check_time_limit,
                    memory_mb=memory_mb,
                    root=root,
                )
            except Exception as e:  # noqa: BLE001 - one bad file never stops the batch
                why = (
                    str(e)
                    if isinstance(e, GradingError)
                    else f"grader error: {type(e).__name__}: {e}"
                )
                report = Report(
                    str(path),
                    exercise_set,
                    [QuestionResult(n, 0.0, p, "not graded") for n, p in questions],
                    status="not graded",
                    notes=[one_line(why)],
                )
            data = {
                **asdict(report),
                "total": report.total,
                "max": report.possible,
                "key": {**key, "submission": digest},
            }
            data.pop("seconds")
            data["notebook"] = path.name
            write_atomic(reports_dir / f"{path.name}.json", json.dumps(data, indent=1))
            report.notebook = path.name
            write_atomic(
                reports_dir / f"{path.name}.txt", format_report(report, timing=False) + "\n"
            )
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
        bar = tqdm(
            total=len(files),
            initial=len(files) - len(todo),
            unit="notebook",
            desc=f"grading {exercise_set}",
            disable=(not progress) if progress is not None else None,
        )
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
        rows.append(
            {
                "submission": path.name,
                "status": data["status"],
                **{n: f"{scores.get(n, 0.0):g}" for n in names},
                "total": f"{data['total']:g}",
                "max": f"{data['max']:g}",
                "note": note,
            }
        )
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer,
        fieldnames=["submission", "status", *names, "total", "max", "note"],
        lineterminator="\n",
    )
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(out_dir / "grades.csv", buffer.getvalue())
    return rows
