"""Sphinx extension for the course book: small fixes to what every page carries.

- Under each notebook page's title: how long the notebook takes to execute (measured by
  ``make refresh``, stored in the notebook's metadata as ``rnncourse.execution_seconds``)
  and a link to download the notebook itself.
- Widgets drawn from their saved state: the book reads offline, so it cannot load the
  ipywidgets JavaScript from a CDN. Each widget output is replaced by a static rendering of
  the state ``make refresh`` saved (HTML values, the figures an ``interact`` drew, a
  slider's value), under a note that the interactive version runs in Jupyter.
- Script tags de-duplicated: Jupyter Book 1 registers sphinx-thebe's inline configuration
  twice, which makes the browser report "Identifier 'THEBE_JS_URL' has already been declared".
"""

from __future__ import annotations

import html
import json
import posixpath
import re
from pathlib import Path
from typing import TYPE_CHECKING

from docutils import nodes

if TYPE_CHECKING:
    from sphinx.application import Sphinx


def _notebook_note(app: Sphinx, doctree: nodes.document) -> None:
    docname = app.env.docname
    source = Path(app.env.doc2path(docname))
    if source.suffix != ".ipynb":
        return
    meta = json.loads(source.read_text(encoding="utf-8")).get("metadata", {})
    seconds = meta.get("rnncourse", {}).get("execution_seconds")
    download = posixpath.relpath(f"_sources/{docname}.ipynb", posixpath.dirname(docname) or ".")
    para = nodes.paragraph(classes=["course-notebook-note"])
    para += nodes.emphasis(text="This page is a Jupyter notebook: ")
    para += nodes.reference("", f"download {source.name}", refuri=download, internal=False)
    if seconds is not None:
        para += nodes.emphasis(
            text=f". Executing all of it takes {seconds:.0f} s on a 2-core CPU "
            "(measured by make refresh)."
        )
    else:
        para += nodes.emphasis(text=".")
    sections = list(doctree.findall(nodes.section))
    if sections:
        title = sections[0].next_node(nodes.title)
        title.parent.insert(title.parent.index(title) + 1, para)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_VIEW_SCRIPT = re.compile(
    r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>', re.DOTALL
)


def _render_widget(model_id: str, state: dict, depth: int = 0) -> str:
    """Static HTML for one widget model of the saved state (children rendered recursively)."""
    model = state.get(model_id)
    if model is None or depth > 20:
        return ""
    name = model.get("model_name", "")
    fields = model.get("state", {})
    description = html.escape(str(fields.get("description", "")))
    if name in {"VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel"}:
        children = [c.removeprefix("IPY_MODEL_") for c in fields.get("children", [])]
        return "".join(_render_widget(c, state, depth + 1) for c in children)
    if name in {"HTMLModel", "HTMLMathModel"}:
        return f"<div>{fields.get('value', '')}</div>"
    if name in {"LabelModel", "TextModel", "TextareaModel"}:
        return f"<div>{description} {html.escape(str(fields.get('value', '')))}</div>"
    if name.endswith("SliderModel") or name in {"DropdownModel", "ToggleButtonsModel",
                                                  "CheckboxModel"}:
        value = fields.get("value", fields.get("index", ""))
        return (f'<div class="course-widget-control">{description or "value"} = '
                f"<strong>{html.escape(str(value))}</strong></div>")
    if name == "OutputModel":
        parts = []
        for out in fields.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                parts.append(f'<img alt="figure" src="data:image/png;base64,{data["image/png"]}"/>')
            elif "text/html" in data:
                parts.append(f"<div>{data['text/html']}</div>")
            elif out.get("output_type") == "stream":
                parts.append(f"<pre>{html.escape(out.get('text', ''))}</pre>")
            elif "text/plain" in data:
                parts.append(f"<pre>{html.escape(data['text/plain'])}</pre>")
        return "".join(parts)
    return ""


def _static_widgets(app: Sphinx, doctree: nodes.document) -> None:
    source = Path(app.env.doc2path(app.env.docname))
    if source.suffix != ".ipynb":
        return
    meta = json.loads(source.read_text(encoding="utf-8")).get("metadata", {})
    state = meta.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for raw in list(doctree.findall(nodes.raw)):
        match = _VIEW_SCRIPT.search(raw.astext())
        if not match:
            continue
        try:
            view = json.loads(html.unescape(match.group(1)))
            if isinstance(view, str):
                view = json.loads(view)
            body = _render_widget(view.get("model_id", ""), state)
        except (ValueError, AttributeError):
            body = ""
        note = ('<p class="course-widget-note"><em>An interactive widget: run this notebook in '
                "Jupyter (<code>make lab</code>) to use it. The book shows the state it was saved "
                "in.</em></p>")
        raw.replace_self(nodes.raw(text=f'<div class="course-widget">{note}{body}</div>',
                                   format="html"))


def _dedupe_scripts(
    app: Sphinx,
    pagename: str,
    templatename: str,
    context: dict[str, object],
    doctree: nodes.document | None,
) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for js in scripts:
        # None and "" both mean an inline script: compare them as equal
        attributes = repr(sorted(getattr(js, "attributes", {}).items()))
        key = (getattr(js, "filename", js) or "", attributes)
        if key in seen:
            continue
        seen.add(key)
        unique.append(js)
    scripts[:] = unique


def setup(app: Sphinx) -> dict[str, bool]:
    """Register the page fixes with Sphinx; they are safe for parallel builds."""
    app.connect("doctree-read", _notebook_note)
    app.connect("doctree-read", _static_widgets)
    # Early priority: emit_firstresult stops at the first handler that returns a template.
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
