"""Handouts: every notebook executed, then exported to one self-contained HTML file and a PDF.

What it does, per notebook (``make handouts`` runs it)::

    notebooks/NN_x.ipynb --execute--> build/NN_x.ipynb --export--> build/handouts/NN_x.html
                                                                  build/handouts/NN_x.pdf

* **Execute** with ``tools.notebook_runner.execute_notebook`` at default parameters, into the same
  ``build/NN_x.ipynb`` that ``make run`` writes. An executed copy is reused when it is newer than
  the notebook and than every file of ``distill_lib/`` and ``data/``, was run at default parameters
  and holds no error; otherwise (or with ``--rerun``) the notebook runs again.
* **HTML** with nbconvert's ``HTMLExporter`` (the JupyterLab look): one file that works offline.
  Every figure is a ``data:image/png`` URI in the file; a widget (``distill_lib.widgets.live_figure``)
  shows the PNG of its default view, because the saved widget state is dropped (a live widget needs a
  kernel); the maths is converted to MathML (``latex2mathml``), which browsers draw without MathJax;
  no script or style is fetched from the network.
* **PDF** by printing that HTML file in headless Chromium (Playwright; ``$CHROMIUM``, else
  ``/usr/bin/chromium``): no TeX.
  Without Chromium or Playwright the HTML is still written and the PDF step says why it was skipped.

Each handout's figures are counted against the executed notebook's image outputs (in the HTML: the
embedded images; in the PDF: its image objects, one per different picture); a missing figure, an
error output, or a notebook that fails to run makes the command exit non-zero.

Usage::

    python tools/handouts.py                     # every notebook in notebooks/
    python tools/handouts.py 02 04               # only notebooks whose file name starts so
    python tools/handouts.py --src release       # the student release (make student): build/handouts/release/
    python tools/handouts.py --rerun --no-pdf    # execute again; HTML only

The student release is executed with errors allowed: its check cells fail on the untouched
skeletons by design, and its handout shows each such failure as its one-line message.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python tools/handouts.py`: make `tools` importable
    sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from tools.notebook_runner import execute_notebook  # noqa: E402

BUILD = ROOT / "build"
CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"  # as for the browser tests
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# What an executed copy depends on besides its notebook: a newer file here means "run it again".
DEPENDENCIES = ("distill_lib", "data")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

__all__ = [
    "Handout", "chromium_problem", "count_figures", "export_html", "export_pdf", "make_handouts", "pdf_images",
    "pdf_pages",
]

# The JupyterLab template without anything fetched from the network (require.js, the widget
# manager, MathJax, mermaid), plus a few rules for print: no figure cut across two pages.
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">
  .jp-OutputArea-output img { max-width: 100%; height: auto; }
  math[display="block"] { margin: 0.6em 0; }
  @page { size: A4; margin: 14mm 12mm; }
  @media print {
    .jp-OutputArea-output img, math, h1, h2, h3 { break-inside: avoid; }
    h1, h2, h3 { break-after: avoid; }
    .jp-Notebook { padding: 0; }
    pre { white-space: pre-wrap; word-break: break-word; }
  }
</style>
{% endblock extra_css %}
"""


@dataclass
class Handout:
    """What was made for one notebook."""

    name: str
    html: Path | None = None
    pdf: Path | None = None
    figures: int = 0  # image outputs of the executed notebook (widget views included)
    widget_views: int = 0  # of which: static default views of live widgets
    embedded: int = 0  # data:image/png URIs found in the HTML
    distinct: int = 0  # of which different images (a PDF stores identical ones once)
    pages: int = 0
    pdf_images: int = 0  # image objects in the PDF
    executed: bool = False  # False: a fresh executed copy was reused
    problem: str = ""


# --- executing ---------------------------------------------------------------------------------


def _newest_dependency() -> float:
    newest = 0.0
    for folder in DEPENDENCIES:
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(".tmp"):
                newest = max(newest, path.stat().st_mtime)
    return newest


def _has_errors(nb) -> bool:
    return any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))


def stale_reason(source: Path, executed: Path, *, allow_errors: bool = False) -> str:
    """Why ``executed`` cannot stand for a default run of ``source`` ('' when it can)."""
    if not executed.is_file():
        return "no executed copy"
    mtime = executed.stat().st_mtime
    if mtime < source.stat().st_mtime:
        return "the notebook is newer"
    if mtime < _newest_dependency():
        return "distill_lib/ or data/ is newer"
    nb = nbformat.read(executed, as_version=4)
    if nb.metadata.get("papermill", {}).get("parameters"):
        return "it was run with non-default parameters"
    if not allow_errors and _has_errors(nb):
        return "it holds an error output"
    if len(nb.cells) < len(nbformat.read(source, as_version=4).cells):
        return "it is incomplete"
    return ""


def _execute_allowing_errors(source: Path, executed: Path, timeout: int = 300) -> None:
    """Run every cell even when some fail (the student release's check cells do, by design).

    ``execute_notebook`` stops at the first error; papermill itself, given nbclient's
    ``allow_errors``, runs every cell, writes the copy, then raises for the first error output.
    """
    import papermill

    os.environ.setdefault("DISTILL_LIB_QUIET", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    executed.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(source), str(executed), parameters={}, kernel_name="python3", cwd=str(source.parent),
            progress_bar=False, execution_timeout=timeout, allow_errors=True,
        )
    except papermill.PapermillExecutionError:
        pass  # expected: the copy holds every cell's output, the failing checks' messages included


# --- HTML ----------------------------------------------------------------------------------------

_CODE = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]*`)", re.S)
_MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$\w])\$(?=\S)([^$\n]+?)(?<=\S)\$(?![\w$])", re.S)


def _math_to_placeholders(markdown: str, store: list[str]) -> str:
    """Replace each ``$...$`` / ``$$...$$`` outside code by a placeholder; the MathML goes to ``store``.

    Placeholders are plain words, so the Markdown renderer leaves them alone; they are swapped for
    the MathML in the finished HTML. A formula latex2mathml cannot read stays as its TeX source.
    """
    from latex2mathml.converter import convert

    def one(match: re.Match) -> str:
        display = match.group(1) is not None
        tex = match.group(1) if display else match.group(2)
        try:
            mathml = convert(tex.strip(), display="block" if display else "inline")
        except Exception:  # noqa: BLE001 - keep the source, readable as it is
            return match.group(0)
        store.append(mathml)
        return f"handoutmath{len(store) - 1}x"

    parts = _CODE.split(markdown)  # odd indices: code, left as it is
    return "".join(part if i % 2 else _MATH.sub(one, part) for i, part in enumerate(parts))


def count_figures(nb) -> tuple[int, int]:
    """``(image outputs, of which widget static views)`` of an executed notebook."""
    figures = views = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data or "image/jpeg" in data or "image/svg+xml" in data:
                figures += 1
                views += WIDGET_VIEW in data
    return figures, views


def _prepare(nb, *, student: bool):
    """The copy that is exported: no widget state, maths as placeholders, errors as one line."""
    nb = nbformat.from_dict(nb)  # a deep copy
    nb.metadata.pop("widgets", None)  # no state: nbconvert falls back to each widget's static PNG
    store: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _math_to_placeholders(cell.source, store)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and student:
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
    return nb, store


def export_html(executed: str | os.PathLike, html: str | os.PathLike, *, student: bool = False) -> Handout:
    """Export an executed notebook to one self-contained HTML file.

    Args:
        executed: the executed notebook (``.ipynb``).
        html: the file to write (its folder is created).
        student: the notebook is a student release: error outputs (its failing check cells)
            are allowed and shown as one line each; otherwise an error output is a problem.

    Returns:
        A :class:`Handout` with the figures counted in the notebook and found in the HTML;
        ``problem`` is non-empty when they differ or the notebook holds an error.
    """
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    executed, html = Path(executed), Path(html)
    if not executed.is_file():
        raise FileNotFoundError(f"export_html: executed={str(executed)!r} is not a notebook file")
    nb = nbformat.read(executed, as_version=4)
    handout = Handout(executed.stem)
    handout.figures, handout.widget_views = count_figures(nb)
    prepared, mathml = _prepare(nb, student=student)
    exporter = HTMLExporter(
        extra_loaders=[DictLoader({"handout.html.j2": _TEMPLATE})], template_file="handout.html.j2",
        embed_images=True,
    )
    body, _ = exporter.from_notebook_node(prepared, resources={"metadata": {"name": executed.stem}})
    body = re.sub(r"handoutmath(\d+)x", lambda m: mathml[int(m.group(1))], body)
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(body, encoding="utf-8")
    handout.html = html
    images = re.findall(r"<img[^>]*\ssrc=\"(data:image/(?:png|jpeg|svg\+xml)[^\"]*)\"", body)
    handout.embedded, handout.distinct = len(images), len(set(images))
    problems = []
    if handout.embedded != handout.figures:
        problems.append(f"{handout.figures} figures in the notebook but {handout.embedded} images in the HTML")
    if not student and _has_errors(nb):
        problems.append("the executed notebook holds an error output")
    handout.problem = "; ".join(problems)
    return handout


# --- PDF -----------------------------------------------------------------------------------------


def chromium_problem(executable: str = CHROMIUM) -> str:
    """Why no PDF can be printed here ('' when Chromium and Playwright are both available)."""
    if not Path(executable).is_file():
        return f"no Chromium at {executable} (apt-get install -y chromium, or set CHROMIUM=/path/to/chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -r requirements.txt; never `playwright install`)"
    return ""


def pdf_pages(pdf: bytes) -> int:
    """Pages of a PDF that Chromium wrote (its page objects are not compressed), 0 if it is not a PDF."""
    if not pdf.startswith(b"%PDF-"):
        return 0
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def pdf_images(pdf: bytes) -> int:
    """Image objects in a PDF that Chromium wrote: one per distinct picture printed."""
    return len(re.findall(rb"/Subtype\s*/Image(?![a-zA-Z])", pdf))


def export_pdf(htmls: list[Path], *, executable: str = CHROMIUM) -> list[tuple[Path, int, int]]:
    """Print each HTML file to a PDF next to it with headless Chromium; ``(pdf, pages, images)`` per file."""
    from playwright.sync_api import sync_playwright

    made = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            for html in htmls:
                page.goto(html.resolve().as_uri(), wait_until="load")
                pdf = html.with_suffix(".pdf")
                data = page.pdf(
                    path=str(pdf), format="A4", print_background=True, prefer_css_page_size=True,
                    display_header_footer=True, header_template="<span></span>",
                    footer_template=(
                        '<div style="font-size:8px;width:100%;text-align:center;color:#666">'
                        f"{html.stem} &middot; <span class=pageNumber></span> / <span class=totalPages></span></div>"
                    ),
                )
                made.append((pdf, pdf_pages(data), pdf_images(data)))
        finally:
            browser.close()
    return made


# --- the command ---------------------------------------------------------------------------------


def notebooks(source: Path, prefixes: list[str]) -> list[Path]:
    """The ``NN_topic.ipynb`` files in ``source`` (or in ``source/notebooks/``), filtered by prefix."""
    paths = sorted(source.glob("[0-9][0-9]_*.ipynb")) or sorted(source.glob("notebooks/[0-9][0-9]_*.ipynb"))
    return [p for p in paths if not prefixes or any(p.name.startswith(x) for x in prefixes)]


def make_handouts(
    sources: list[Path], executed_dir: Path, out: Path, *, student: bool = False, rerun: bool = False,
    pdf: bool = True, executable: str = CHROMIUM, log=print,
) -> list[Handout]:
    """Execute (when needed) and export each notebook; returns one :class:`Handout` per notebook."""
    handouts = []
    for source in sources:
        executed = executed_dir / source.name
        reason = "--rerun" if rerun else stale_reason(source, executed, allow_errors=student)
        handout = Handout(source.stem)
        try:
            if reason:
                log(f"{source.name}: executing ({reason})")
                start = time.perf_counter()
                if student:
                    _execute_allowing_errors(source, executed)
                else:
                    execute_notebook(source, executed)
                log(f"{source.name}: executed in {time.perf_counter() - start:.1f} s")
            handout = export_html(executed, out / f"{source.stem}.html", student=student)
            handout.executed = bool(reason)
        except Exception as err:  # report and go on with the others
            handout.problem = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
        handouts.append(handout)
    ready = [h for h in handouts if h.html is not None]
    if pdf and ready:
        problem = chromium_problem(executable)
        if problem:
            log(f"PDF skipped: {problem}. The HTML handouts are made.")
        else:
            for (path, pages, images), handout in zip(export_pdf([h.html for h in ready], executable=executable), ready):
                handout.pdf, handout.pages, handout.pdf_images = path, pages, images
                problems = [handout.problem] if handout.problem else []
                if pages < 1:
                    problems.append("the PDF has no page")
                if images < handout.distinct:
                    problems.append(f"{handout.distinct} different images in the HTML but {images} in the PDF")
                handout.problem = "; ".join(problems)
    return handouts


def print_table(handouts: list[Handout], root: Path = ROOT) -> None:
    width = max([len("notebook")] + [len(h.name) for h in handouts])
    print(f"{'notebook':<{width}}  {'figures':>7}  {'widgets':>7}  {'in HTML':>7}  {'in PDF':>6}  {'PDF pages':>9}  problem")
    for h in handouts:
        pages, images = (str(h.pages), str(h.pdf_images)) if h.pdf else ("-", "-")
        print(f"{h.name:<{width}}  {h.figures:>7}  {h.widget_views:>7}  {h.embedded:>7}  {images:>6}  {pages:>9}  "
              f"{h.problem or 'none'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="export only notebooks whose file name starts with one of these")
    parser.add_argument("--src", default="notebooks", help="folder of notebooks: notebooks (default) or a student release")
    parser.add_argument("--out", default=None, help="output folder (default build/handouts/, build/handouts/<src>/ for a release)")
    parser.add_argument("--rerun", action="store_true", help="execute every notebook again, even if its executed copy is fresh")
    parser.add_argument("--no-pdf", action="store_true", help="HTML only")
    parser.add_argument("--chromium", default=CHROMIUM, help=f"the Chromium executable (default {CHROMIUM})")
    args = parser.parse_args(argv)

    source = Path(args.src) if Path(args.src).is_absolute() else ROOT / args.src
    if not source.is_dir():
        hint = " (make it first: make student)" if args.src != "notebooks" else ""
        print(f"--src {args.src}: no such folder{hint}", file=sys.stderr)
        return 2
    student = source.resolve() != (ROOT / "notebooks").resolve()
    label = source.name
    executed_dir = BUILD / label if student else BUILD
    out = Path(args.out) if args.out else BUILD / "handouts" / (label if student else "")
    paths = notebooks(source, args.prefixes)
    if not paths:
        print(f"no notebook in {args.src}/ matches {args.prefixes}", file=sys.stderr)
        return 2
    handouts = make_handouts(
        paths, executed_dir, out, student=student, rerun=args.rerun, pdf=not args.no_pdf, executable=args.chromium,
    )
    print_table(handouts)
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"handouts are in {shown}/ (one .html file each, images and maths inside; .pdf where Chromium is installed)")
    return 0 if all(not h.problem for h in handouts) else 1


if __name__ == "__main__":
    sys.exit(main())
