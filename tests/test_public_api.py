"""The public API is explicit and importing the package changes no global state."""

import subprocess
import sys

import rnncourse


def test_all_names_exist():
    for name in rnncourse.__all__:
        assert hasattr(rnncourse, name), name


def test_import_leaves_matplotlib_rcparams_alone():
    """import rnncourse must not change rcParams (the style is applied only in a context)."""
    code = (
        "import matplotlib as mpl; before = dict(mpl.rcParams); import rnncourse;"
        "changed = [k for k, v in mpl.rcParams.items() if before.get(k) != v];"
        "print(changed)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_course_style_restores_rcparams():
    import matplotlib as mpl

    before = mpl.rcParams["axes.grid"]
    with rnncourse.course_style():
        assert mpl.rcParams["axes.grid"] is True
    assert mpl.rcParams["axes.grid"] == before
