"""``python -m rnncourse.grading ...``: the grading command line (:mod:`rnncourse.grading.cli`)."""

import sys

from rnncourse.grading.cli import main

sys.exit(main())
