r"""Every figure in a chapter's prose is printed by a checked code cell of the same notebook.

Issue #16. nbval compares a notebook's outputs with the stored ones; it never reads the
markdown. This test does: it reads every markdown cell of every chapter notebook
(``chapters/*.ipynb``, so a new chapter is picked up) and the landing page ``intro.md``,
finds the figures in them and fails, naming notebook, cell and figure, when one is not
backed by the code.

**A figure** is a number written in the prose that is one of: a number with a decimal point
(``0.504``, ``8.9e-16``), a percentage (``29%``), a ratio (``1.8×`` or ``1.8x``), or a count
of three or more digits (``999``, ``40,413``). One- and two-digit integers are not figures.

**Backed** means one of:

1. *Printed*: the same figure is printed by a code cell whose output nbval checks: stdout,
   an error's message, or a ``text/plain`` (bar matplotlib's ``<Figure size ...>``),
   ``text/markdown`` or ``text/html`` (tags stripped) result. The match is on the exact
   digits as written: ``0.50`` is printed only by an output that shows ``0.50``, never by
   ``0.504`` or ``0.5``. Thousands separators do not count (``40,413`` matches ``40413``);
   signs do not count (prose carries them in words: "falls by 0.3"). A percentage must be
   printed with its ``%``, a ratio with its ``×`` or ``x``. Outputs of cells tagged
   ``nbval-ignore-output`` or ``nbval-skip`` do not count: they honestly vary, so the prose
   states what their cell asserts (rule 2), never their stored digits.
2. *Asserted bound*: the figure follows a bound word ("above", "below", "at least",
   "at most", "under", "over", "more than", "less than", "within", ``<``, ``≥`` ...) and the
   same value is a numeric literal in an ``assert`` statement (or an ``assert_*`` call) of a
   code cell of the notebook that nbval runs. "above 0.9 on every seed" is backed by
   ``assert acc.min() > 0.9``. A percentage ``p%`` matches a literal ``p`` or ``p / 100``.

intro.md has no cells of its own: its figures must be backed by any chapter.

Derived figures (``2^bpc``, a ratio of two printed figures) are not exempt: the cell that
derives them prints them. The test checks that each figure is backed; it cannot check that
the sentence around it says what the output means. That stays the reviewer's job.

**Exempt**, each for the reason in ``EXEMPTIONS`` below (a small list on purpose): numbers in
a code span or fenced code block whose text occurs verbatim in the next code cell (it names
a setting that cell uses); equation constants inside ``$...$`` / ``$$...$$`` math, except a
number that ends the math after ``=`` or ``\approx``, which is a result and is checked;
years (a four-digit number 1900-2030 written without separator: write a count in that range
as ``2,000`` and it is checked); citation keys and identifiers (``{cite}`` roles, arXiv
numbers); section and chapter numbers; link targets and HTML tags; and the figures in
``ALLOWLIST``, each with its reason.

Run it:

    wtpy -m pytest tests/test_prose_figures.py -q                 # every chapter and intro.md
    wtpy -m pytest tests/test_prose_figures.py -q -k 05_teacher   # one notebook (id = file stem)
    wtpy tests/test_prose_figures.py [NOTEBOOK ...]               # per-notebook counts and misses

Copied elsewhere (``cp tests/test_prose_figures.py /tmp/``), it checks the repository in the
current directory; ``PROSE_FIGURES_ROOT`` names another one, and ``PROSE_FIGURES_NOTEBOOKS``
(paths separated by ``os.pathsep``) replaces the list of notebooks.
"""

from __future__ import annotations

import ast
import html
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

# Why each kind of number in the prose is not checked. Kept short on purpose: a new kind
# needs a reason a reviewer accepts, written here.
EXEMPTIONS = {
    "setting": "a code span or code block that the next code cell contains verbatim names a "
    "setting that cell uses; the reader sees it there",
    "math": "a constant of an equation ($...$) defines the model; it is not a measurement",
    "year": "a year (1900-2030, no thousands separator) dates a source, it is not a result",
    "citation": "citation keys and identifiers ({cite} roles, arXiv numbers) name sources",
    "section": "chapter, section and part numbers, and numbered headings, point into the book",
    "link": "link targets, HTML tags and comments are not prose",
    "allowlist": "listed in ALLOWLIST with its own reason",
}

# (notebook stem, figure as written) -> reason. Every entry is a figure that cannot be printed.
ALLOWLIST: dict[tuple[str, str], str] = {}

IGNORED_OUTPUT_TAGS = {"nbval-ignore-output", "nbval-skip"}
NOT_RUN_TAGS = {"nbval-skip", "raises-exception"}  # cells whose asserts back nothing

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
# A number in prose: not part of a word, a dotted version or a larger number.
_PROSE_NUMBER = re.compile(
    rf"(?<![\w.])(?<!\d,)(?P<num>{_NUM})(?P<exp>[eE][-+]?\d+)?"
    r"(?P<suffix>\s?%|\s?\\%|\s?×(?!\s?\d)|\s?x(?![\w]))?(?![\w]|[.,]\d)"
)
# A number in an output: looser on the left and right (outputs glue numbers to units, "4.7s").
_OUTPUT_NUMBER = re.compile(
    rf"(?<![\d.])(?<!\d,)(?P<num>{_NUM})(?P<exp>[eE][-+]?\d+)?"
    r"(?P<suffix>\s?%|\s?×|\s?x(?![A-Za-z]))?(?!\d|\.\d)"
)
_BOUND_WORDS = re.compile(
    r"(?i)(?:above|below|at\s+least|at\s+most|under|over|more\s+than|less\s+than|fewer\s+than|"
    r"greater\s+than|smaller\s+than|larger\s+than|within|beyond|exceeds?|up\s+to|"
    r"[<>≤≥]=?|\\[lg]eq?)\s*\$?\s*$"
)
_SECTION_BEFORE = re.compile(r"(?i)(?:chapters?|sections?|parts?|appendix|§)\s*$")
_HEADING_NUMBER = re.compile(r"^#{1,6}\s*$")
_CITATION_BEFORE = re.compile(r"(?i)arxiv:\s*$")
_MATH_RESULT = re.compile(rf"(?:=|\\approx)\s*(?P<num>{_NUM})\s*[.,;:]?\s*$")


@dataclass(frozen=True)
class Figure:
    """One figure written in a markdown cell."""

    text: str  # as written, e.g. "0.50", "29%", "1.8×", "40,413"
    kind: str  # "decimal", "percent", "ratio" or "count"
    digits: str  # the number without thousands separators, exponent kept: "40413", "8.9e-16"
    cell: int  # index of the markdown cell in the notebook (intro.md: 0)
    context: str  # the line around it, for the failure message
    bound: bool  # preceded by a bound word ("above", "at least", "<" ...)

    @property
    def value(self) -> float:
        return float(self.digits)


@dataclass
class Report:
    """What the test found in one notebook."""

    name: str
    checked: list[Figure] = field(default_factory=list)
    exempt: dict[str, list[str]] = field(default_factory=dict)
    missing: list[Figure] = field(default_factory=list)


def _figure_kind(num: str, exp: str | None, suffix: str | None) -> str | None:
    suffix = (suffix or "").strip()
    if suffix in {"%", "\\%"}:
        return "percent"
    if suffix in {"×", "x"}:
        return "ratio"
    if "." in num:
        return "decimal"
    if exp is None and len(num.replace(",", "")) >= 3:
        return "count"
    return None


def _digits(num: str, exp: str | None) -> str:
    return num.replace(",", "") + (exp or "").lower()


def _mask(text: str, start: int, end: int) -> str:
    """Blank text[start:end] (newlines kept, so offsets and lines stay put)."""
    blank = "".join("\n" if c == "\n" else " " for c in text[start:end])
    return text[:start] + blank + text[end:]


_FENCE = re.compile(
    r"^(?P<fence>```+|~~~+)(?P<info>[^\n]*)\n(?P<body>.*?)^(?P=fence)\s*$", re.MULTILINE | re.DOTALL
)
_CODE_SPAN = re.compile(r"(?P<role>\{[\w:-]+\})?(?P<ticks>`+)(?P<body>.+?)(?P=ticks)", re.DOTALL)
_DISPLAY_MATH = re.compile(r"\$\$(?P<body>.+?)\$\$", re.DOTALL)
_INLINE_MATH = re.compile(r"(?<![\\$])\$(?P<body>[^$\n]+?)(?<!\\)\$")
_LINKS = re.compile(r"\]\([^)]*\)|<!--.*?-->|<[^>\n]+>|https?://\S+", re.DOTALL)


def _numbers_in(body: str) -> list[str]:
    body = body.replace("{,}", ",")
    return [
        m.group(0)
        for m in _PROSE_NUMBER.finditer(body)
        if _figure_kind(m.group("num"), m.group("exp"), m.group("suffix"))
    ]


def extract_figures(markdown: str, cell: int, next_code: str, report: Report) -> list[Figure]:
    """Return the figures of one markdown cell that must be backed; record the exempt ones."""

    def exempt(rule: str, figures: list[str]) -> None:
        if figures:
            report.exempt.setdefault(rule, []).extend(f"cell {cell}: {f}" for f in figures)

    text = markdown
    # Fenced blocks: {math} is math, other MyST directives ({note}, {admonition}) hold prose.
    for m in list(_FENCE.finditer(text)):
        info = m.group("info").strip()
        if info.startswith("{") and not info.startswith(("{math}", "{code")):
            continue
        if info.startswith("{math}"):
            exempt("math", _numbers_in(m.group("body")))
        elif m.group("body").strip() and m.group("body").strip() in next_code:
            exempt("setting", _numbers_in(m.group("body")))
        else:
            continue  # code that is not the next cell's: its figures are checked as prose
        text = _mask(text, m.start(), m.end())
    for m in list(_CODE_SPAN.finditer(text)):
        body = m.group("body").strip()
        if m.group("role"):
            rule = "citation" if "cite" in m.group("role") else "section"
            exempt(rule, _numbers_in(body))
        elif body in next_code:
            exempt("setting", _numbers_in(body))
        else:
            continue  # a code span that is no setting of the next cell: checked as prose
        text = _mask(text, m.start(), m.end())
    for pattern in (_DISPLAY_MATH, _INLINE_MATH):
        for m in list(pattern.finditer(text)):
            body = m.group("body").replace("{,}", ",").replace("\\,", " ")
            result = _MATH_RESULT.search(body)
            numbers = _numbers_in(body)
            if result and _figure_kind(result.group("num"), None, None):
                numbers.remove(result.group("num"))
                # Keep the result in place (padded to the span), masking the rest.
                kept = " " * (m.end() - m.start() - len(result.group("num")) - 1)
                text = text[: m.start()] + kept + result.group("num") + " " + text[m.end() :]
            else:
                text = _mask(text, m.start(), m.end())
            exempt("math", numbers)
    for m in list(_LINKS.finditer(text)):
        exempt("link", _numbers_in(m.group(0)))
        text = _mask(text, m.start(), m.end())

    figures = []
    for m in _PROSE_NUMBER.finditer(text):
        kind = _figure_kind(m.group("num"), m.group("exp"), m.group("suffix"))
        if kind is None:
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        # The words before it, across a soft line break (a blank line ends a paragraph).
        before = text[max(0, m.start() - 60) : m.start()].rsplit("\n\n", 1)[-1]
        before = " ".join(before.split()) + (" " if before[-1:].isspace() else "")
        raw = m.group(0).strip()
        if kind == "count" and re.fullmatch(r"19\d\d|20[0-2]\d|2030", m.group(0)):
            exempt("year", [raw])
            continue
        if _SECTION_BEFORE.search(before) or _HEADING_NUMBER.match(text[line_start : m.start()]):
            exempt("section", [raw])
            continue
        if _CITATION_BEFORE.search(before):
            exempt("citation", [raw])
            continue
        line_end = text.find("\n", m.end())
        context = text[line_start : line_end if line_end >= 0 else len(text)]
        figures.append(
            Figure(
                text=raw.replace("\\%", "%").replace(" ", ""),
                kind=kind,
                digits=_digits(m.group("num"), m.group("exp")),
                cell=cell,
                context=" ".join(context.split()),
                bound=bool(_BOUND_WORDS.search(before)),
            )
        )
    return figures


def _output_texts(cell: nbformat.NotebookNode) -> list[str]:
    texts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream" and out.get("name") == "stdout":
            texts.append(out.text)
        elif out.output_type == "error":
            texts.append(out.get("evalue", ""))
        elif out.output_type in {"execute_result", "display_data"}:
            data = out.get("data", {})
            plain = data.get("text/plain", "")
            if plain and not re.fullmatch(r"<Figure size [^>]*>", plain.strip()):
                texts.append(plain)
            texts.append(data.get("text/markdown", ""))
            texts.append(html.unescape(re.sub(r"<[^>]+>", " ", data.get("text/html", ""))))
    return texts


def printed_keys(cells: list[nbformat.NotebookNode]) -> set[tuple[str, str]]:
    """("", digits) for every number in the checked outputs; ("%", d) and ("×", d) with units."""
    keys: set[tuple[str, str]] = set()
    for cell in cells:
        if cell.cell_type != "code" or IGNORED_OUTPUT_TAGS & set(cell.metadata.get("tags", [])):
            continue
        for text in _output_texts(cell):
            for m in _OUTPUT_NUMBER.finditer(text):
                digits = _digits(m.group("num"), m.group("exp"))
                keys.add(("", digits))
                suffix = (m.group("suffix") or "").strip()
                if suffix:
                    keys.add(("%" if suffix == "%" else "×", digits))
    return keys


def _code_tree(source: str) -> ast.AST | None:
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def asserted_values(cells: list[nbformat.NotebookNode]) -> set[float]:
    """Numeric literals in the asserts (``assert`` and ``assert_*(...)`` calls) nbval runs."""
    values: set[float] = set()
    for cell in cells:
        if cell.cell_type != "code" or NOT_RUN_TAGS & set(cell.metadata.get("tags", [])):
            continue
        tree = _code_tree(cell.source)
        if tree is None:
            continue
        checks: list[ast.AST] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Assert):
                checks.append(node.test)
            elif isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name.startswith("assert"):
                    checks.extend([*node.args, *(k.value for k in node.keywords)])
        for check in checks:
            for node in ast.walk(check):
                if isinstance(node, ast.Constant) and type(node.value) in {int, float}:
                    values.add(float(node.value))
    return values


def _is_backed(figure: Figure, printed: set[tuple[str, str]], asserted: set[float]) -> bool:
    unit = {"percent": "%", "ratio": "×"}.get(figure.kind, "")
    if (unit, figure.digits) in printed:
        return True
    if not figure.bound:
        return False
    targets = [figure.value, figure.value / 100] if figure.kind == "percent" else [figure.value]
    return any(math.isclose(a, t, rel_tol=1e-9) for a in asserted for t in targets)


def check_cells(
    name: str,
    markdown_cells: list[tuple[int, str, str]],
    code_cells: list[nbformat.NotebookNode],
    stem: str,
) -> Report:
    """Check markdown cells (index, text, next code cell's source) against code cells."""
    report = Report(name)
    printed, asserted = printed_keys(code_cells), asserted_values(code_cells)
    for index, text, next_code in markdown_cells:
        for figure in extract_figures(text, index, next_code, report):
            if (stem, figure.text) in ALLOWLIST:
                report.exempt.setdefault("allowlist", []).append(f"cell {index}: {figure.text}")
                continue
            report.checked.append(figure)
            if not _is_backed(figure, printed, asserted):
                report.missing.append(figure)
    return report


def check_notebook(nb: nbformat.NotebookNode, name: str, stem: str) -> Report:
    """Check one notebook's markdown cells against its own code cells."""
    markdown = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            next_code = next((c.source for c in nb.cells[i + 1 :] if c.cell_type == "code"), "")
            markdown.append((i, cell.source, next_code))
    return check_cells(name, markdown, [c for c in nb.cells if c.cell_type == "code"], stem)


def _root() -> Path:
    if "PROSE_FIGURES_ROOT" in os.environ:
        return Path(os.environ["PROSE_FIGURES_ROOT"])
    here = Path(__file__).resolve().parents[1]
    return here if (here / "chapters").is_dir() else Path.cwd()


def _pages() -> list[Path]:
    if os.environ.get("PROSE_FIGURES_NOTEBOOKS"):
        return [Path(p) for p in os.environ["PROSE_FIGURES_NOTEBOOKS"].split(os.pathsep) if p]
    root = _root()
    return [*sorted((root / "chapters").glob("*.ipynb")), root / "intro.md"]


def check_page(path: Path) -> Report:
    """Check a chapter notebook, or a markdown page (intro.md) against every chapter."""
    if path.suffix == ".ipynb":
        return check_notebook(nbformat.read(path, as_version=4), str(path), path.stem)
    chapters = sorted(path.parent.joinpath("chapters").glob("*.ipynb"))
    code = [
        c for nb in chapters for c in nbformat.read(nb, as_version=4).cells if c.cell_type == "code"
    ]
    return check_cells(str(path), [(0, path.read_text(encoding="utf-8"), "")], code, path.stem)


def failure_message(report: Report) -> str:
    header = (
        f"{report.name}: {len(report.missing)} of {len(report.checked)} figures in the prose are "
        "neither printed by a code cell whose output nbval checks nor an asserted bound after "
        "a bound word (see tests/test_prose_figures.py):"
    )
    lines = [header]
    lines += [f"  cell {f.cell}: {f.text!r} in: {f.context[:150]}" for f in report.missing]
    return "\n".join(lines)


@pytest.mark.parametrize("path", _pages(), ids=lambda p: p.stem)
def test_every_figure_in_the_prose_is_printed(path):
    if not path.exists():
        pytest.skip(f"{path} does not exist")
    report = check_page(path)
    if report.missing:
        pytest.fail(failure_message(report), pytrace=False)


# ---- tests of the test: a synthetic notebook with stale, printed and exempt figures ----


def _notebook(*cells: tuple[str, str] | tuple[str, str, str | list[str]]):
    """Cells as ("md", text) or ("code", printed stdout[, tags or source])."""
    nb = nbformat.v4.new_notebook()
    for kind, text, *extra in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(text))
            continue
        tags = extra[0] if extra and isinstance(extra[0], list) else []
        source = extra[0] if extra and isinstance(extra[0], str) else f"print({text!r})"
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": tags})
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        nb.cells.append(cell)
    return nb


def _missing(nb) -> list[str]:
    return [f.text for f in check_notebook(nb, "synthetic.ipynb", "synthetic").missing]


def test_a_stale_figure_fails_and_names_its_cell():
    nb = _notebook(("code", "accuracy 0.701\n"), ("md", "The accuracy is 0.70 here."))
    report = check_notebook(nb, "synthetic.ipynb", "synthetic")
    assert [f.text for f in report.missing] == ["0.70"]
    message = failure_message(report)
    assert "synthetic.ipynb" in message
    assert "cell 1: '0.70'" in message


def test_a_printed_figure_passes():
    nb = _notebook(("code", "accuracy 0.701\n"), ("md", "The accuracy is 0.701 here."))
    assert _missing(nb) == []
    assert len(check_notebook(nb, "s", "s").checked) == 1


def test_each_kind_of_figure_is_found_and_matched_with_its_unit():
    printed = "a 29% drop, 1.8x faster, 40413 characters, 8.9e-16, 4.6\n"
    prose = "29%, 1.8×, 40,413, 8.9e-16, 4.6× and 30%, 2.5x, 1,234, 0.25, 12 and 7"
    nb = _notebook(("code", printed), ("md", prose))
    assert _missing(nb) == ["4.6×", "30%", "2.5x", "1,234", "0.25"]  # 12 and 7 are no figures


def test_outputs_that_nbval_ignores_do_not_count():
    nb = _notebook(("code", "rmse 0.504\n", ["nbval-ignore-output"]), ("md", "RMSE of 0.504."))
    assert _missing(nb) == ["0.504"]


def test_an_asserted_bound_needs_a_bound_word_and_the_literal():
    source = "assert rmse < 0.6 and acc > 0.9\nassert drop >= 0.25"
    nb = _notebook(
        ("code", "", source),
        ("md", "RMSE below 0.6, accuracy above 0.9, a drop of at least\n25%; accuracy 0.9"),
    )
    assert _missing(nb) == ["0.9"]  # the last one has no bound word: it claims the value


def test_exempt_numbers():
    nb = _notebook(
        (
            "md",
            (
                "Math $x_t = 1.6\\,x_{t-1}$, `lr=0.003`, {cite}`smith2015`, 2015, "
                "arXiv:1511.05101, section 3.2, [link](a/1.5.html), torch 2.13.0.\n\n## 4.1 Heading"
            ),
        ),
        ("code", "", "train(lr=0.003)"),
    )
    report = check_notebook(nb, "s", "s")
    assert report.missing == []
    assert report.checked == []
    assert set(report.exempt) == {"math", "setting", "year", "citation", "section", "link"}


def test_a_code_span_the_next_cell_does_not_use_is_checked():
    nb = _notebook(("md", "Use `lr=0.003`."), ("code", "", "train(lr=0.01)"))
    assert _missing(nb) == ["0.003"]


def test_a_result_at_the_end_of_the_math_is_checked():
    nb = _notebook(
        ("code", "parameters 4,416\n"),
        ("md", "$H(H + 5) = 64 \\cdot 69 = 4{,}416$ and $n = 2 \\cdot 0.75 = 1.5$."),
    )
    assert _missing(nb) == ["1.5"]


def test_intro_figures_are_backed_by_any_chapter(tmp_path):
    (tmp_path / "chapters").mkdir()
    nbformat.write(_notebook(("code", "0.834 bits\n")), tmp_path / "chapters" / "01_a.ipynb")
    (tmp_path / "intro.md").write_text("0.834 bits per character, 0.9 bits", encoding="utf-8")
    assert [f.text for f in check_page(tmp_path / "intro.md").missing] == ["0.9"]


def main(argv: list[str]) -> int:
    """Print, per page, how many figures are checked and exempt, and the unbacked ones."""
    failed = 0
    for path in [Path(a) for a in argv] or _pages():
        if not path.exists():
            continue
        report = check_page(path)
        exempt = ", ".join(f"{k} {len(v)}" for k, v in sorted(report.exempt.items()))
        summary = (
            f"{path.name}: {len(report.checked)} figures checked, "
            f"{len(report.missing)} unbacked; exempt: {exempt or 'none'}"
        )
        sys.stdout.write(summary + "\n")
        if report.missing:
            failed += 1
            sys.stdout.write(failure_message(report) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def test_html_and_markdown_results_count_but_a_figure_repr_does_not():
    nb = _notebook(("md", "Accuracy 0.925, rows 512 and a figure 800 wide."))
    cell = nbformat.v4.new_code_cell("show()")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": "<td width='800'>0.925</td>"}),
        nbformat.v4.new_output("display_data", data={"text/markdown": "| 512 |"}),
        nbformat.v4.new_output("display_data", data={"text/plain": "<Figure size 800x272>"}),
    ]
    nb.cells.append(cell)
    assert _missing(nb) == ["800"]


def test_a_fenced_block_that_the_next_cell_runs_is_a_setting():
    nb = _notebook(
        ("md", "Run\n\n```python\ntrain(steps=250)\n```\n\nthen 250 more."),
        ("code", "", "train(steps=250)"),
    )
    report = check_notebook(nb, "s", "s")
    assert report.exempt["setting"] == ["cell 0: 250"]
    assert [f.text for f in report.missing] == ["250"]
