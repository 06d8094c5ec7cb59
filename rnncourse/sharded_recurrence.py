"""The compiled, batch-sharded recurrence loops used by :func:`rnncourse.fast_elman.fast_elman`.

The C++ source is ``rnncourse/csrc/sharded_recurrence.cpp``; chapter 3 explains the idea.
The recurrence is serial in time but independent across the sequences of a batch, so
instead of letting every step's small (N, H) x (H, H) product be split over the cores
(which then wait for each other 2(L-1) times per forward+backward), each core takes a
block of rows and carries it through all L steps alone: one parallel region per loop.

The source is compiled on first use with PyTorch's own extension builder
(``torch.utils.cpp_extension.load``: a C++ compiler with OpenMP and ``ninja``), about a
minute, and cached next to the virtual environment; ``make venv`` does it once up front.
``python -m rnncourse.sharded_recurrence`` builds it and says whether it loaded. Where it
cannot be built (no compiler), :func:`load` warns once and returns ``None``, and
``fast_elman`` runs its Python loops instead: the same numbers, more slowly (in float32
the compiled forward loop's tanh is SLEEF's, which differs from ``torch.tanh`` in the last
bit of about 1% of values; see the C++ source).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import sysconfig
import warnings
from pathlib import Path
from types import ModuleType

import torch

__all__ = ["SOURCE", "available", "build_directory", "load", "unavailable_reason"]

SOURCE = Path(__file__).with_name("csrc") / "sharded_recurrence.cpp"
_NAME = "rnncourse_sharded_recurrence"
_FLAGS = ["-O3", "-fopenmp"]  # ATen's parallel_for is OpenMP in PyTorch's CPU builds

_module: ModuleType | None = None
_error: str | None = None


def build_directory() -> Path:
    """Where the compiled module is cached: ``$RNNCOURSE_BUILD_DIR``, else inside the venv.

    One directory per PyTorch version, since the module is compiled against its headers.
    """
    root = os.environ.get("RNNCOURSE_BUILD_DIR") or Path(sys.prefix) / "share" / "rnncourse"
    return Path(root) / f"torch-{torch.__version__}-py{sysconfig.get_python_version()}"


@contextlib.contextmanager
def _ninja_on_path():
    """Put the ``ninja`` of the pip package on PATH while building, if none is there."""
    saved = os.environ.get("PATH", "")
    if shutil.which("ninja") is None:
        with contextlib.suppress(ImportError):
            import ninja

            os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + saved
    try:
        yield
    finally:
        os.environ["PATH"] = saved


def load(verbose: bool = False) -> ModuleType | None:
    """The compiled module (built on first use), or ``None`` if it cannot be built here.

    Tried once per process; after a failure :func:`unavailable_reason` says why.
    """
    global _module, _error
    if _module is not None or _error is not None:
        return _module
    try:
        from torch.utils.cpp_extension import load as load_extension

        directory = build_directory()
        directory.mkdir(parents=True, exist_ok=True)
        built = directory / f"{_NAME}.so"
        if not built.exists() or built.stat().st_mtime < SOURCE.stat().st_mtime:
            print(f"rnncourse: compiling {SOURCE.name} once (about a minute) into {directory}",
                  file=sys.stderr, flush=True)
        with _ninja_on_path():
            _module = load_extension(_NAME, [str(SOURCE)], extra_cflags=_FLAGS,
                                     extra_ldflags=["-fopenmp"], build_directory=str(directory),
                                     verbose=verbose)
    except Exception as exc:  # noqa: BLE001 (no compiler, no ninja, no OpenMP, read-only disk...)
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [""]
        telling = [line for line in lines
                   if any(word in line.lower() for word in ("error", "not found", "no such"))]
        _error = f"{type(exc).__name__}: {(telling or lines)[-1][:200]}"
        warnings.warn(f"rnncourse: the compiled recurrence loops could not be built ({_error}); "
                      f"fast_elman runs its Python loops, same numbers, slower", stacklevel=2)
    return _module


def available() -> bool:
    """Whether the compiled loops can be used (builds them on the first call)."""
    return load() is not None


def unavailable_reason() -> str | None:
    """Why the compiled loops could not be built, or ``None`` if they were (or not tried)."""
    return _error


def main() -> int:
    """Build the module now (``make venv`` runs this) and report; exit status 0 either way."""
    module = load(verbose="--verbose" in sys.argv)
    if module is None:
        print(f"compiled recurrence loops: not available ({_error}); "
              f"fast_elman will use its Python loops")
    else:
        print(f"compiled recurrence loops: ready ({build_directory()}), "
              f"{module.shards_for(1 << 30)} shard(s) with {torch.get_num_threads()} thread(s), "
              f"float32 tanh: {module.float_tanh()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
