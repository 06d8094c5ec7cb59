"""Sphinx extension for the course book: small fixes to what every page carries.

- Under each notebook page's title: how long the notebook takes to execute (measured by
  ``make refresh``, stored in the notebook's metadata as ``rnncourse.execution_seconds``)
  and a link to download the notebook itself.
- Script tags de-duplicated: Jupyter Book 1 registers sphinx-thebe's inline configuration
  twice, which makes the browser report "Identifier 'THEBE_JS_URL' has already been declared".
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path

from docutils import nodes


def _notebook_note(app, doctree: nodes.document) -> None:
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


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for js in scripts:
        # None and "" both mean an inline script: compare them as equal
        key = (getattr(js, "filename", js) or "", repr(sorted(getattr(js, "attributes", {}).items())))
        if key in seen:
            continue
        seen.add(key)
        unique.append(js)
    scripts[:] = unique


def setup(app):
    app.connect("doctree-read", _notebook_note)
    # Early priority: emit_firstresult stops at the first handler that returns a template.
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
