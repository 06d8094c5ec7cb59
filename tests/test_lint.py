"""House style is checked, not hoped for: ruff ALL passes, and every exception has a reason."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINTED = ["rnncourse", "tests", "tools", "_ext", "conftest.py"]


def test_ruff_passes():
    ruff = Path(sys.executable).parent / "ruff"
    run = subprocess.run([str(ruff), "check", *LINTED],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_ruff_selects_all_and_every_ignore_says_why():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    lint = tomllib.loads(text)["tool"]["ruff"]["lint"]
    assert lint["select"] == ["ALL"]
    assert "E501" not in lint["ignore"]  # the 100-column limit is enforced
    assert "RUF100" not in lint["ignore"]  # so is "no dead noqa"
    codes = set(lint["ignore"]) | {c for cs in lint["per-file-ignores"].values() for c in cs}
    for code in codes:
        lines = re.findall(rf'^\s*"{code}",\s*(.*)$', text, flags=re.MULTILINE)
        assert lines, f"{code} is ignored, but not on a line of its own"
        assert all(re.match(r"#\s*\S", rest) for rest in lines), f"{code}: ignored, no reason"


def test_every_noqa_in_the_linted_code_gives_a_reason():
    for path in sorted(p for name in LINTED for p in (ROOT / name).rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = re.search(r"#\s*noqa\b(.*)$", line)
            if match:
                assert re.match(r":\s*[A-Z]+\d+(,\s*[A-Z]+\d+)*\s*\S", match.group(1)), (
                    f"{path.relative_to(ROOT)}:{n}: a noqa names its rule and the reason beside it")
