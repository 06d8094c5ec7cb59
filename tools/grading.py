"""Command line of rnncourse/grading.py, loaded alone: `make exercises`, `make grade`, `make grade-batch`.

Usage: python tools/grading.py build | check | grade NB.ipynb [limits]
       python tools/grading.py batch DIR --set NAME --out OUT [--jobs N] [--force] [limits]
limits: [--timeout S] [--cell-timeout S] [--check-time-limit S] [--memory-mb MB]

Same as ``python -m rnncourse.grading ...``, without importing the rnncourse package (its
``__init__`` imports torch and matplotlib, 2-3 s that building and grading do not need).
"""

import importlib.util
import sys
from pathlib import Path

path = Path(__file__).resolve().parents[1] / "rnncourse" / "grading.py"
spec = importlib.util.spec_from_file_location("_rnncourse_grading_cli", path)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module  # dataclasses look their module up here
spec.loader.exec_module(module)
sys.exit(module.main(sys.argv[1:]))
