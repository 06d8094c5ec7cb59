"""Set-up on a learner's machine: the Makefile's choice and check of Python, and its clean-up.

Each test copies the Makefile, ``pyproject.toml`` and ``requirements.lock`` into a temporary
folder and runs ``make venv`` there with fake interpreters: shell scripts that answer
``--version`` like a real Python and, asked for ``-m venv DIR``, make a ``DIR/bin/python``
that logs its arguments and then succeeds or fails. PATH holds only the fakes and the few
tools the recipes call, so no real Python is found and the real ``.venv`` is never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")
TOOLS = ("rm", "mkdir", "chmod", "touch")  # what the recipes and the fakes run besides /bin/sh
CPU_INDEX = "https://download.pytorch.org/whl/cpu"

pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")

_FAKE_PYTHON = """#!/bin/sh
echo "$0 $*" >> "{log}"
case "$1" in --version) echo "Python {version}"; exit 0;; esac
if [ "$1" = -m ] && [ "$2" = venv ]; then
    mkdir -p "$3/bin"
    printf '#!/bin/sh\\necho "venv-python $*" >> "{log}"\\nexit {venv_status}\\n' > "$3/bin/python"
    chmod +x "$3/bin/python"
    exit 0
fi
exit 1
"""


class Checkout:
    """A temporary copy of the set-up files, with a PATH of fake interpreters."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fakes = root / "fake-bin"
        self.log = root / "calls.log"
        tools = root / "tool-bin"
        for folder in (self.fakes, tools):
            folder.mkdir()
        for tool in TOOLS:
            (tools / tool).symlink_to(shutil.which(tool))
        for name in ("Makefile", "pyproject.toml", "requirements.lock"):
            shutil.copy(ROOT / name, root / name)
        self.path = f"{self.fakes}:{tools}"

    def python(self, name: str, version: str, *, install_works: bool = True) -> Path:
        """Put a fake interpreter NAME reporting VERSION on PATH; return its path."""
        script = self.fakes / name
        script.write_text(_FAKE_PYTHON.format(log=self.log, version=version,
                                              venv_status=0 if install_works else 1))
        script.chmod(0o755)
        return script

    def make(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([MAKE, "--no-print-directory", "-C", str(self.root), *args],
                              env={"PATH": self.path}, capture_output=True, text=True,
                              timeout=60, check=False)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    @property
    def venv(self) -> Path:
        return self.root / ".venv"


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    return Checkout(tmp_path)


def _assert_one_line_refusal(run: subprocess.CompletedProcess[str], found: str) -> None:
    assert run.returncode != 0
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert "Set-up needs Python 3.11" in lines[0]
    assert found in lines[0]
    assert "make PYTHON=/path/to/python3.11 venv" in lines[0]


def test_python3_on_PATH_reporting_3_13_stops_before_any_venv(checkout):
    fake = checkout.python("python3", "3.13.1")
    run = checkout.make("venv")
    _assert_one_line_refusal(run, "python3 is Python 3.13.1")
    assert not checkout.venv.exists()
    assert checkout.calls() == [f"{fake} --version"]  # asked its version, never to make a venv


def test_PYTHON_reporting_3_13_stops_before_any_venv(checkout):
    fake = checkout.python("python3.13", "3.13.1")
    run = checkout.make("venv", f"PYTHON={fake}")
    _assert_one_line_refusal(run, f"{fake} is Python 3.13.1")
    assert not checkout.venv.exists()
    assert checkout.calls() == [f"{fake} --version"]


def test_no_python_that_runs_is_named_in_the_refusal(checkout):
    _assert_one_line_refusal(checkout.make("venv"), "neither python3.11 nor python3 runs")
    _assert_one_line_refusal(checkout.make("venv", "PYTHON=/no/such/python"),
                             "PYTHON=/no/such/python does not run")
    assert not checkout.venv.exists()


def test_python3_11_is_preferred_to_python3(checkout):
    checkout.python("python3", "3.13.1")
    fake = checkout.python("python3.11", "3.11.9")
    run = checkout.make("venv")
    assert run.returncode == 0, run.stderr
    assert f"{fake} -m venv .venv" in checkout.calls()
    assert (checkout.venv / ".installed").exists()


def test_a_python3_11_that_does_not_run_falls_back_to_python3(checkout):
    """A pyenv shim for a version not selected exists on PATH but exits with an error."""
    shim = checkout.fakes / "python3.11"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.11: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    checkout.python("python3", "3.13.1")
    _assert_one_line_refusal(checkout.make("venv"), "python3 is Python 3.13.1")


def test_a_failed_install_leaves_no_venv(checkout):
    checkout.python("python3.11", "3.11.9", install_works=False)
    run = checkout.make("venv")
    assert run.returncode != 0
    assert "Set-up failed, .venv removed: fix the error above and run make again" in run.stderr
    assert not checkout.venv.exists()
    assert any(call.startswith("venv-python -m pip install") for call in checkout.calls())


def test_a_half_made_venv_is_removed_and_made_again(checkout):
    fake = checkout.python("python3.11", "3.11.9")
    (checkout.venv / "bin").mkdir(parents=True)  # an interrupted set-up: no .venv/.installed
    (checkout.venv / "bin" / "python").write_text("#!/bin/sh\nexit 1\n")
    run = checkout.make("venv")
    assert run.returncode == 0, run.stderr
    assert "Removing .venv, left half-made by an earlier set-up" in run.stdout
    assert f"{fake} -m venv .venv" in checkout.calls()
    assert (checkout.venv / ".installed").exists()


def test_a_finished_venv_is_updated_in_place(checkout):
    checkout.python("python3.11", "3.11.9")
    assert checkout.make("venv").returncode == 0
    checkout.log.unlink()
    assert checkout.make("venv").returncode == 0
    assert checkout.calls() == []  # up to date: nothing runs
    stamp = checkout.venv / ".installed"
    os.utime(stamp, (stamp.stat().st_mtime - 60,) * 2)  # the lock file is now the newer
    run = checkout.make("venv")
    assert run.returncode == 0, run.stderr
    calls = checkout.calls()
    assert calls, "a lock file newer than .venv/.installed must re-run pip"
    assert all(call.startswith("venv-python") for call in calls)  # no new venv, no check


@pytest.mark.parametrize("index", ["", CPU_INDEX])
def test_TORCH_INDEX_URL_reaches_the_torch_install_only(checkout, index):
    checkout.python("python3.11", "3.11.9")
    run = checkout.make("venv", f"TORCH_INDEX_URL={index}")
    assert run.returncode == 0, run.stderr
    installs = [call for call in checkout.calls() if call.startswith("venv-python -m pip")]
    with_index = [call for call in installs if "--extra-index-url" in call]
    if index:
        torch_install = ("venv-python -m pip install --quiet --disable-pip-version-check "
                         f"-c requirements.lock --extra-index-url {CPU_INDEX} torch")
        assert with_index == [torch_install]
        assert installs.index(with_index[0]) == 0  # torch first, so the main install keeps it
    else:
        assert with_index == []
    assert installs[-1].endswith("-c requirements.lock -e .[dev]")


def _supported_python() -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    return re.search(r"^SUPPORTED_PYTHON := (.+)$", makefile, re.MULTILINE).group(1).split()


def test_supported_python_matches_requires_python():
    supported = _supported_python()
    pyproject = (ROOT / "pyproject.toml").read_text()
    spec = SpecifierSet(re.search(r'^requires-python = "(.+)"$', pyproject, re.MULTILINE).group(1))
    allowed = [f"3.{minor}" for minor in range(6, 20) if spec.contains(f"3.{minor}.0")]
    assert supported == allowed


def test_every_locked_package_installs_on_the_first_release_of_each_supported_python():
    """Debian 12's python3 is 3.11.2: a pin that needs 3.11.5 (soupsieve 3 and 4 do) breaks it.

    Reads Requires-Python from the installed copies of the locked packages (this environment
    is made from requirements.lock).
    """
    locked = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name, _, version = line.partition("==")
        locked[canonicalize_name(name)] = version
    checked, refused = 0, []
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if locked.get(name) != dist.version:
            continue
        checked += 1
        spec = SpecifierSet(dist.metadata.get("Requires-Python") or "")
        refused += [f"{name}=={dist.version} needs Python {spec}"
                    for minor in _supported_python() if not spec.contains(f"{minor}.0")]
    assert checked > len(locked) / 2, "this environment is not the one made from the lock"
    assert refused == []
