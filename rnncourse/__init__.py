"""rnncourse: the helper package of the executable course on recurrent neural networks.

Each module holds one idea and names the chapter that teaches it. The public names are
re-exported here, so notebooks write ``from rnncourse import ElmanRNN, seed_everything``.
They are imported on first use (PEP 562), so ``import rnncourse.grading`` (the grader, its own
subpackage) imports neither torch nor matplotlib.
"""

from __future__ import annotations

import importlib
import sys
import types

__all__ = [
    "STYLE",
    "CharRNN",
    "CharVocab",
    "ElmanRNN",
    "NGramModel",
    "TrainResult",
    "ar_process",
    "autocorrelation",
    "course_style",
    "elman_step",
    "load_corpus",
    "make_corpus",
    "noisy_sines",
    "progress_enabled",
    "seed_everything",
    "subplots",
    "train",
]
__version__ = "0.1.0"

_HOME = {  # public name -> the module that defines it
    "STYLE": "plotting",
    "CharRNN": "language_model",
    "CharVocab": "data",
    "ElmanRNN": "elman",
    "NGramModel": "ngram",
    "TrainResult": "train",
    "ar_process": "data",
    "autocorrelation": "autocorrelation",
    "course_style": "plotting",
    "elman_step": "elman",
    "load_corpus": "data",
    "make_corpus": "data",
    "noisy_sines": "data",
    "progress_enabled": "train",
    "seed_everything": "reproducibility",
    "subplots": "plotting",
    "train": "train",
}


def __getattr__(name: str) -> object:
    """Import a public name's module the first time the name is used."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'rnncourse' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rnncourse.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """Keeps ``rnncourse.train`` and ``rnncourse.autocorrelation`` the functions of those names.

    Importing a submodule sets it as an attribute of its package; where a submodule is named
    after the function it exports, the function wins, as it did when this file imported
    everything eagerly.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, types.ModuleType) and _HOME.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
