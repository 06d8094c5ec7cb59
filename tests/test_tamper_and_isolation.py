"""Grading resists tampering, survives what would stop it, and grades a folder in one command.

Submissions that hang, hog memory or kill their process are graded as far as they got (issue 9;
threat model in exercises/GRADING.md).

Only the chapter-1 set is used: the defences live in the grader, not in a set's tests. Every
tampering submission pairs a wrong answer with an attack that would make an in-notebook check
pass it; the question must score 0. The attacks are applied to the *reference* notebook, so the
questions they do not target show that the rest of the notebook is still graded.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import psutil
import pytest
import torch
from answer_files import parse_answers, replace_answers

from rnncourse.grading import batch, format_report, grade

SET = "01_sequences_are_not_iid"
SUBMISSIONS = Path(__file__).resolve().parent / "submissions" / SET
# tamper_fake_tensors q5 tries to create it
PAYLOAD_MARKER = Path("/", "tmp", "rnncourse_tamper_payload_ran")
CHECK_TIME_LIMIT = 5.0
PARALLEL = 3

# Attacks outside the answer cells: a first cell (before otter's init cell) and a last cell that
# replace the checks module, builtins and the grader for the whole notebook, on the stub answers.
NOTEBOOK_FIRST_CELL = """\
import builtins, sys, types
fake = types.ModuleType("rnncourse.grading.checks")
class CheckFailure(AssertionError):
    pass
fake.CheckFailure = CheckFailure
fake.call = lambda name, fn, *args, where="", **kwargs: None
fake.expect_close = fake.expect_scalar = fake.expect_tensor = lambda *args, **kwargs: None
fake.rel_error = lambda a, b: 0
sys.modules["rnncourse.grading.checks"] = fake
builtins.all = lambda *args: True
"""
NOTEBOOK_LAST_CELL = """\
import json, os
class _Pass:
    passed_all = True
grader = type("G", (), {"check": lambda self, q: _Pass(), "check_all": lambda self: _Pass()})()
for name in ("results.json", "results.pkl", "../results.json", "../out.json"):
    try:
        with open(name, "w") as f:
            json.dump({"questions": [{"name": q, "score": 2.0, "possible": 2.0, "reason": ""}
                                     for q in ("q1", "q2", "q3", "q4", "q5")], "finished": True}, f)
    except OSError:
        pass
"""

# Isolation: an answer that allocates 100 GB, one that kills its process when the tests call it
# (os._exit), a cell that segfaults, a cell that ignores the cell timeout's interrupt.
RESOURCES = {
    "q2": (
        "import torch\n\ndef bits_per_char(P, ids):\n"
        "    hog = torch.ones(100 * 2**30 // 8, dtype=torch.float64)  # 100 GB\n"
        "    return float(hog.sum())\n\n"
        "also = torch.empty(100 * 2**30 // 4)  # 100 GB in the cell itself\n"
    ),
    "q3": "import os\n\ndef autocorrelation(x, max_lag):\n    os._exit(7)\n",
}
SEGFAULT = {
    "q4": (
        "import ctypes\n\ndef sequence_log_prob(ids, next_probs):\n    return 0.0\n\n"
        "ctypes.string_at(0)\n"
    )
}
HANG = {
    "q3": (
        "import signal, time\n\ndef autocorrelation(x, max_lag):\n    return x\n\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.05)\n"
    )
}
HANG_CELL_TIMEOUT = 3.0


def _write(nb: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))
    return path


def _code_cell(source: str) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": f"x{abs(hash(source)) % 10**8}",
        "metadata": {},
        "outputs": [],
        "source": source,
    }


def _tamper_files() -> dict[str, dict[str, str]]:
    return {
        f.stem: parse_answers(f.read_text()) for f in sorted(SUBMISSIONS.glob("tamper_*.answers"))
    }


def _folder_state(folder: Path) -> dict:
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
    }


@cache
def _graded(work: Path, out) -> dict:
    student = json.loads(out.student.read_text())
    reference = json.loads(out.autograder.read_text())
    subs: dict[str, tuple[Path, dict]] = {}
    for name, answers in _tamper_files().items():
        subs[name] = (
            _write(replace_answers(reference, answers), work / name / "submission.ipynb"),
            {},
        )
    outside = json.loads(json.dumps(student))
    outside["cells"].insert(0, _code_cell(NOTEBOOK_FIRST_CELL))
    outside["cells"].append(_code_cell(NOTEBOOK_LAST_CELL))
    subs["tamper_outside_answers"] = (_write(outside, work / "outside" / "submission.ipynb"), {})
    subs["resources"] = (
        _write(replace_answers(reference, RESOURCES), work / "resources" / "submission.ipynb"),
        {"memory_mb": 3072},
    )
    subs["segfault"] = (
        _write(replace_answers(reference, SEGFAULT), work / "segfault" / "submission.ipynb"),
        {},
    )
    subs["hang"] = (
        _write(replace_answers(reference, HANG), work / "hang" / "submission.ipynb"),
        {"cell_timeout": HANG_CELL_TIMEOUT},
    )

    PAYLOAD_MARKER.unlink(missing_ok=True)
    before = {name: _folder_state(path.parent) for name, (path, _) in subs.items()}
    processes_before = {p.pid for p in psutil.Process().children(recursive=True)}

    def run(name):
        path, options = subs[name]
        return name, grade(path, autograder=out.zip, check_time_limit=CHECK_TIME_LIMIT, **options)

    start = time.perf_counter()
    with ThreadPoolExecutor(PARALLEL) as pool:
        order = ["hang", "resources", "segfault"] + [
            n for n in subs if n not in ("hang", "resources", "segfault")
        ]
        reports = dict(pool.map(run, order))
    seconds = time.perf_counter() - start
    for name, report in reports.items():
        sys.stdout.write(f"\n[{name}]\n{format_report(report)}\n")  # shown with -s
    sys.stdout.write(f"\n{len(subs)} gradings in {seconds:.1f} s\n")
    left_behind = [
        p.pid for p in psutil.Process().children(recursive=True) if p.pid not in processes_before
    ]
    after = {name: _folder_state(path.parent) for name, (path, _) in subs.items()}
    return {"reports": reports, "before": before, "after": after, "left_behind": left_behind}


@pytest.fixture(scope="module")
def graded(assigned, tmp_path_factory):
    return _graded(tmp_path_factory.mktemp("tamper"), assigned(SET))


def _rows(report):
    return {q.name: q for q in report.questions}


# ----------------------------------------------------------------------------- tampering


def test_there_is_a_tampering_submission_for_each_attack():
    files = _tamper_files()
    assert set(files) == {
        "tamper_comparisons",
        "tamper_grader",
        "tamper_fake_tensors",
        "tamper_read_tests",
    }
    assert all(files.values())


@pytest.mark.parametrize(
    "variant", ["tamper_comparisons", "tamper_grader", "tamper_fake_tensors", "tamper_read_tests"]
)
def test_tampering_earns_zero_on_the_questions_it_targets(variant, graded):
    from rnncourse.grading.confinement import confinement_available

    if variant == "tamper_read_tests" and not confinement_available():
        pytest.xfail(
            "no Landlock on this kernel: the learner process can read the hidden tests "
            "from the course repository (exercises/GRADING.md, 'Not defended')"
        )
    report = graded["reports"][variant]
    text = format_report(report)
    assert report.status == "graded", text
    targeted = _tamper_files()[variant]
    for q in report.questions:
        if q.name in targeted:
            assert q.score == 0, f"{variant} {q.name} earned points:\n{text}"
            assert q.reason, f"{variant} {q.name} earned points:\n{text}"
            assert "not graded" not in q.reason, text
        else:  # the attack does not stop the rest of the notebook from being graded
            assert q.score == q.possible, f"{variant}: untargeted {q.name} lost points:\n{text}"
    assert "Traceback" not in text


def test_fake_tensors_fail_on_their_type(graded):
    rows = _rows(graded["reports"]["tamper_fake_tensors"])
    assert "must be a torch.Tensor, got _AlwaysEqual" in rows["q1"].reason
    assert "must be a torch.Tensor, got _Duck" in rows["q3"].reason
    assert "could not be read as plain data" in rows["q5"].reason
    assert not PAYLOAD_MARKER.exists(), "the grader unpickled code from the learner's process"


def test_rigged_references_in_the_notebook_do_not_reach_the_tests(graded):
    rows = _rows(graded["reports"]["tamper_grader"])
    assert "disagrees at" in rows["q1"].reason  # the real expect_close ran on the zeros
    assert (
        "is wrong: got 7, expected 1.02356" in rows["q2"].reason
    )  # compared with the real NGramModel
    assert "disagrees at" in rows["q3"].reason


def test_tampering_outside_the_answer_cells_earns_nothing(graded):
    report = graded["reports"]["tamper_outside_answers"]
    assert report.total == 0, format_report(report)
    assert all("got None" in q.reason for q in report.questions), format_report(report)


# ----------------------------------------------------------------------------- isolation


def test_memory_hog_and_self_killing_answer_are_graded_as_far_as_they_got(graded):
    report = graded["reports"]["resources"]
    text = format_report(report)
    rows = _rows(report)
    assert report.status == "partly graded", text
    assert rows["q1"].score == rows["q1"].possible, text
    assert rows["q2"].score == 0, text
    assert "raised RuntimeError" in rows["q2"].reason, text
    assert rows["q3"].score == 0, text
    assert "died" in rows["q3"].reason, text
    assert "status 7" in rows["q3"].reason, text
    for q in ("q4", "q5"):  # never counted as passed after the process died
        assert rows[q].score == 0, text
        assert rows[q].reason.startswith("not graded"), text
    assert any("RuntimeError" in note and "allocate" in note for note in report.notes), report.notes


def test_segfault_in_a_cell_keeps_the_questions_before_it(graded):
    report = graded["reports"]["segfault"]
    text = format_report(report)
    rows = _rows(report)
    assert report.status == "partly graded", text
    assert all(rows[q].score == rows[q].possible for q in ("q1", "q2", "q3")), text
    for q in ("q4", "q5"):
        assert rows[q].score == 0, text
        assert "SIGSEGV" in rows[q].reason, text


def test_cell_that_ignores_the_interrupt_is_killed_and_the_rest_graded(graded):
    report = graded["reports"]["hang"]
    text = format_report(report)
    rows = _rows(report)
    assert report.status == "partly graded", text
    assert all(rows[q].score == rows[q].possible for q in ("q1", "q2")), text
    for q in ("q3", "q4", "q5"):
        assert rows[q].score == 0, text
        assert "ignored the interrupt" in rows[q].reason, text
    assert report.seconds < 60, text


def test_grading_writes_nothing_and_leaves_no_process_behind(graded):
    assert graded["before"] == graded["after"]  # same files, bytes and modification times
    assert not graded["left_behind"]


# ----------------------------------------------------------------------------- batch


def test_batch_grades_a_folder_into_a_csv_and_reports_idempotently(assigned, tmp_path):
    out = assigned(SET)
    folder = tmp_path / "class"
    folder.mkdir()
    student = json.loads(out.student.read_text())
    _write(json.loads(out.autograder.read_text()), folder / "ada.ipynb")
    _write(student, folder / "bob.ipynb")
    (folder / "empty.ipynb").write_text("")
    (folder / "notes.txt").write_text("not a notebook")
    (folder / "list.ipynb").write_text("[1, 2]")
    other = json.loads(json.dumps(student))
    other["metadata"]["otter"]["assignment_name"] = "02_weight_sharing"
    _write(other, folder / "other_set.ipynb")
    before = _folder_state(folder)

    results = tmp_path / "results"
    rows = batch(
        folder,
        SET,
        results,
        jobs=2,
        autograder=out.zip,
        check_time_limit=CHECK_TIME_LIMIT,
        progress=False,
    )
    csv_text = (results / "grades.csv").read_text()
    table = list(csv.DictReader(csv_text.splitlines()))
    assert table == [{k: str(v) for k, v in row.items()} for row in rows]
    assert list(table[0]) == [
        "submission",
        "status",
        "q1",
        "q2",
        "q3",
        "q4",
        "q5",
        "total",
        "max",
        "note",
    ]
    by_name = {r["submission"]: r for r in table}
    assert sorted(by_name) == [
        "ada.ipynb",
        "bob.ipynb",
        "empty.ipynb",
        "list.ipynb",
        "notes.txt",
        "other_set.ipynb",
    ]
    assert by_name["ada.ipynb"]["total"] == "10"
    assert by_name["ada.ipynb"]["status"] == "graded"
    assert by_name["bob.ipynb"]["total"] == "0"
    assert by_name["bob.ipynb"]["status"] == "graded"
    reasons = {
        "empty.ipynb": "the file is empty",
        "notes.txt": "not valid JSON",
        "list.ipynb": "no list of cells",
        "other_set.ipynb": "a notebook for exercise set '02_weight_sharing'",
    }
    for name, phrase in reasons.items():
        row = by_name[name]
        assert row["status"] == "not graded", row
        assert row["total"] == "0", row
        assert phrase in row["note"], row
        assert "\n" not in row["note"], row
        assert "Traceback" not in row["note"], row
    for name in by_name:
        assert (results / "reports" / f"{name}.txt").is_file()
        assert (results / "reports" / f"{name}.json").is_file()
    assert "q1             2      2" in (results / "reports" / "ada.ipynb.txt").read_text()

    files = {p: p.read_bytes() for p in sorted(results.rglob("*")) if p.is_file()}
    start = time.perf_counter()
    again = batch(
        folder,
        SET,
        results,
        jobs=2,
        autograder=out.zip,
        check_time_limit=CHECK_TIME_LIMIT,
        progress=False,
    )
    assert time.perf_counter() - start < 5  # nothing regraded: the reports match the files
    assert again == rows
    assert {p: p.read_bytes() for p in sorted(results.rglob("*")) if p.is_file()} == files
    assert _folder_state(folder) == before  # the submissions' folder is untouched


def test_batch_command_line_exit_status(tmp_path, capsys):
    from rnncourse.grading import main

    assert (
        main(["batch", str(tmp_path / "missing"), "--set", SET, "--out", str(tmp_path / "r")]) == 2
    )
    assert "grading could not run: " in capsys.readouterr().err
    folder = tmp_path / "class"
    folder.mkdir()
    assert main(["batch", str(folder), "--set", SET, "--out", str(folder / "r")]) == 2
    assert "outside the folder of submissions" in capsys.readouterr().err
    assert list(folder.iterdir()) == []


def test_the_read_tests_attacks_work_where_learner_code_shares_the_graders_process():
    """Not a straw man: the read-the-tests attacks work where learner code shares the process.

    Run in this process (as otter's in-kernel tests would be), both attacks
    find the expected value, from the master notebook on disk and from the test's frame.
    """
    import torch

    from rnncourse.ngram import NGramModel

    answers = parse_answers((SUBMISSIONS / "tamper_read_tests.answers").read_text())
    namespace: dict = {}
    exec(answers["q1"], namespace)  # noqa: S102 - the course's own test submission
    ids = torch.randint(
        0, 7, (300,), generator=torch.Generator().manual_seed(101)
    )  # the hidden case
    expected = NGramModel(2, 7, alpha=0.5).fit(ids).conditional()
    assert torch.equal(namespace["bigram_table"](ids, 7, 0.5), expected)
    exec(answers["q5"], namespace)  # noqa: S102

    def a_test():
        expected = torch.randn(3, 2, 4)
        return (
            namespace["rnn_forward"](torch.zeros(3, 2, 5), None, None, torch.zeros(4, 4), None)
            is expected
        )

    assert a_test()


def test_autograder_zip_has_what_a_grading_container_needs(assigned):
    """`otter grade` (Docker) and Gradescope build their image from the zip alone."""
    import zipfile

    with zipfile.ZipFile(assigned(SET).zip) as z:
        names = set(z.namelist())
        environment = z.read("environment.yml").decode()
        pyproject = z.read("rnncourse_src/pyproject.toml").decode()
    assert {"run_autograder", "setup.sh", "run_otter.py", "otter_config.json"} <= names
    assert {f"tests/q{i}.py" for i in range(1, 6)} <= names
    for module in (
        "__init__",
        "grading/__init__",
        "grading/checks",
        "ngram",
        "autocorrelation",
        "language_model",
        "elman",
        "data",
    ):
        assert f"rnncourse_src/rnncourse/{module}.py" in names
    assert "rnncourse_src/rnncourse/data/corpus.txt" in names
    assert "python=3.11" in environment
    assert "- /autograder/source/rnncourse_src" in environment
    assert "torch==" in environment
    assert "otter-grader[grading,plugins]==" in environment
    assert 'name = "rnncourse"' in pyproject


class _SubTensor(torch.Tensor):
    """A tensor subclass (could rig its comparisons); pickles by reference to this module."""


class _Payload:
    def __reduce__(self):
        return (os.system, ("true",))


def test_only_plain_data_crosses_from_the_learner_process():
    """The grading side's reader: real tensors and plain containers pass; nothing else does."""
    import pickle

    from rnncourse.grading.wire import UnreadableError, decode, dump, encode, load_plain

    kept = []
    value = {
        "h": torch.ones(2, 3),
        "n": [1, 2.5, None, "s", True],
        "t": (torch.Size([2]), torch.float32),
    }
    message = load_plain(dump({"op": "result", "value": encode(value, kept.append)}))
    back = decode(message["value"], lambda i, t: ("remote", t))
    assert torch.equal(back["h"], value["h"])
    assert back["n"] == value["n"]
    assert back["t"] == value["t"]
    assert not kept
    sub = torch.ones(2).as_subclass(_SubTensor)
    assert encode(sub, lambda v: 7) == ("r", 7, "_SubTensor")  # stays in the learner process
    for forged in (
        dump({"op": "result", "value": ("t", sub)}),
        pickle.dumps({"op": "result", "value": _Payload()}, protocol=2),
        b"not a pickle",
        dump(["op", "result"]),
    ):
        with pytest.raises(UnreadableError):
            load_plain(forged)
    for malformed in [
        ("t", [1, 2]),
        ("x", 1),
        ("l", (1,)),
        ("n", [1]),
        ("d", [("k",)]),
        ("y", "os.system"),
        (),
    ]:
        with pytest.raises(UnreadableError):
            decode(malformed, lambda i, t: None)


def test_concurrent_gradings_build_the_autograder_zip_once(tmp_path, monkeypatch):
    """Two `make grade` runs that find the zip stale do not rebuild it on top of each other."""
    import threading

    from rnncourse.grading import building

    (tmp_path / "exercises" / "masters").mkdir(parents=True)
    (tmp_path / "exercises" / "masters" / "01_x.ipynb").write_text("{}")
    inside, overlaps, builds = [], [], []

    def slow_assign(master, out_dir):
        if inside:
            overlaps.append(1)
        inside.append(1)
        time.sleep(0.3)
        zip_path = Path(out_dir) / "autograder" / "01_x-autograder_1.zip"
        zip_path.parent.mkdir(parents=True, exist_ok=True)
        zip_path.write_bytes(b"zip")
        builds.append(zip_path)
        inside.pop()
        return building.AssignOutput(zip_path, zip_path, zip_path)

    monkeypatch.setattr(building, "assign", slow_assign)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(building.autograder_zip("01_x", tmp_path)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not overlaps
    assert len(builds) == 1
    assert results[0] == results[1] == builds[0]
