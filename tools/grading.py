"""Command line of the grader: `make exercises`, `make grade`, `make grade-batch`.

Usage: python tools/grading.py build | check | grade NB.ipynb [limits]
       python tools/grading.py batch DIR --set NAME --out OUT [--jobs N] [--force] [limits]
limits: [--timeout S] [--cell-timeout S] [--check-time-limit S] [--memory-mb MB]

The same as ``python -m rnncourse.grading ...`` (:mod:`rnncourse.grading.cli`), kept for the
Makefile; neither imports torch or matplotlib until grading needs them.
"""

import sys

from rnncourse.grading.cli import main

sys.exit(main(sys.argv[1:]))
