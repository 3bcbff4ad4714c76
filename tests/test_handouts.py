"""tools/handouts.py: a tiny executed notebook exported to HTML (every figure inside) and printed to PDF."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tools import handouts
from tools.notebook_runner import execute_notebook

# One matplotlib figure, one live widget (its static view is the second figure), some maths.
TINY = [
    new_markdown_cell("# Tiny\n\nThe loss is $T^2 \\, \\mathrm{KL}(p \\Vert q)$, and\n\n$$\\frac{1}{n}\\sum_i x_i$$"),
    new_code_cell("import matplotlib.pyplot as plt\nimport ipywidgets as widgets\n"
                  "from distill_lib.widgets import live_figure"),
    new_code_cell("fig, ax = plt.subplots(figsize=(3, 2))\nax.plot([0, 1, 2], [2, 0, 1], color='C3')\nplt.show()"),
    new_code_cell("def draw(n):\n    fig, ax = plt.subplots(figsize=(3, 2))\n    ax.bar(range(n), range(n))\n    return fig\n"
                  "display(live_figure(draw, {'n': widgets.IntSlider(value=4, min=1, max=9)}))"),
    new_code_cell("print('done')"),
]
FIGURES = 2  # the plot, and the widget's default view


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The tiny notebook, executed by the workbook's runner (papermill)."""
    folder = tmp_path_factory.mktemp("handouts")
    source = folder / "99_tiny.ipynb"
    nb = new_notebook(cells=TINY)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, source)
    execute_notebook(source, folder / "executed" / source.name)
    return folder / "executed" / source.name


@pytest.fixture(scope="module")
def exported(executed, tmp_path_factory):
    html = tmp_path_factory.mktemp("out") / "99_tiny.html"
    return handouts.export_html(executed, html), html.read_text(encoding="utf-8")


@pytest.mark.notebook
def test_every_figure_is_embedded_widget_view_included(executed, exported):
    handout, html = exported
    nb = nbformat.read(executed, as_version=4)
    assert not any(o.output_type == "error" for c in nb.cells for o in c.get("outputs", []))
    assert (handout.figures, handout.widget_views) == (FIGURES, 1)
    images = re.findall(r'<img[^>]*src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == FIGURES == handout.embedded and handout.problem == ""
    view = next(o for c in nb.cells for o in c.get("outputs", []) if handouts.WIDGET_VIEW in o.get("data", {}))
    assert view.data["image/png"].replace("\n", "") in [i.replace("\n", "") for i in images]
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)


@pytest.mark.notebook
def test_the_html_works_offline(exported):
    _, html = exported
    assert not re.search(r'<(script|link)[^>]+(src|href)="https?:', html), "a script or style is fetched"
    assert "Traceback" not in html and "jupyter-widgets" not in html  # no widget manager, no error
    assert html.count("<math") == 2 and 'display="block"' in html
    assert "$T^2" not in html and "handoutmath" not in html


def test_maths_outside_code_only():
    store: list[str] = []
    text = "cost \\$5, `$x$` and\n```\n$y$\n```\nbut $z_1$ and $$a$$"
    out = handouts._math_to_placeholders(text, store)
    assert len(store) == 2 and 'display="block"' in store[1]
    assert "`$x$`" in out and "\n$y$\n" in out and "\\$5" in out


def test_student_release_errors_shown_as_one_line(tmp_path):
    nb = new_notebook(cells=[new_code_cell("assert False, 'write my_softmax first'", outputs=[new_output(
        "error", ename="AssertionError", evalue="write my_softmax first", traceback=["Traceback...", "\x1b[31mlong"])])])
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    student = handouts.export_html(path, tmp_path / "student.html", student=True)
    assert student.problem == ""
    assert "AssertionError: write my_softmax first" in student.html.read_text(encoding="utf-8")
    instructor = handouts.export_html(path, tmp_path / "instructor.html")
    assert "error output" in instructor.problem


def test_stale_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(handouts, "_newest_dependency", lambda: 0.0)
    source, executed = tmp_path / "00_a.ipynb", tmp_path / "build" / "00_a.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1")]), source)
    assert handouts.stale_reason(source, executed) == "no executed copy"
    executed.parent.mkdir()
    nb = new_notebook(cells=[new_code_cell("1")])
    nbformat.write(nb, executed)
    assert handouts.stale_reason(source, executed) == ""
    nb.metadata["papermill"] = {"parameters": {"seed": 1}}
    nbformat.write(nb, executed)
    assert "non-default parameters" in handouts.stale_reason(source, executed)
    monkeypatch.setattr(handouts, "_newest_dependency", lambda: executed.stat().st_mtime + 10)
    assert "distill_lib" in handouts.stale_reason(source, executed)


def test_command_line_errors(capsys):
    assert handouts.main(["--src", "no_such_folder", "--no-pdf"]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert handouts.main(["zz", "--no-pdf"]) == 2


def test_pdf_pages_counts_chromium_page_objects():
    assert handouts.pdf_pages(b"not a pdf") == 0
    assert handouts.pdf_pages(b"%PDF-1.4 /Type /Pages /Type /Page x /Type/Page\n") == 2


@pytest.mark.notebook
def test_pdf_is_a_printed_page_with_the_figures(exported, tmp_path):
    problem = handouts.chromium_problem()
    if problem and os.environ.get("DISTILL_REQUIRE_BROWSER") == "1":  # CI: a missing browser is a failure
        pytest.fail(f"DISTILL_REQUIRE_BROWSER=1 but {problem}")
    if problem:
        pytest.skip(f"no PDF here: {problem}")
    html = tmp_path / "99_tiny.html"
    shutil.copy(exported[0].html, html)
    [(pdf, pages, images)] = handouts.export_pdf([html])
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and pages >= 1
    assert images == FIGURES, f"{images} images in the PDF, {FIGURES} figures in the notebook"
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) == pages
    if not shutil.which("pdftoppm"):
        pytest.skip("PDF made, but its page is not rendered: no pdftoppm (apt-get install -y poppler-utils)")
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    import matplotlib.image

    [png] = tmp_path.glob("page*.png")
    pixels = matplotlib.image.imread(png)[..., :3]  # (H, W, 3) in [0, 1]
    ink = (pixels < 0.9).any(axis=-1).mean()
    red = ((pixels[..., 0] > 0.6) & (pixels[..., 1] < 0.4) & (pixels[..., 2] < 0.4)).mean()  # the C3 line / bars
    assert ink > 0.01, f"page 1 is almost blank ({ink:.1%} of pixels inked)"
    assert red > 0, "page 1 shows no red pixel: the figure is missing"


def _widget_notebook():
    """A saved live widget: its view, its static PNG, and the widget state a kernel run stores."""
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
    view = {"model_id": "abc123", "version_major": 2, "version_minor": 0}
    nb = new_notebook(cells=[new_code_cell("display(box)", outputs=[new_output(
        "display_data", data={handouts.WIDGET_VIEW: view, "image/png": png, "text/plain": "live figure"})])])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {"abc123": {"model_name": "VBoxModel", "model_module": "@jupyter-widgets/controls",
                             "model_module_version": "2.0.0", "state": {}}},
        "version_major": 2, "version_minor": 0}}
    return nb, png


def test_saved_widget_state_does_not_hide_the_static_view(tmp_path):
    nb, png = _widget_notebook()
    path = tmp_path / "02_w.ipynb"
    nbformat.write(nb, path)
    handout = handouts.export_html(path, tmp_path / "w.html")
    html = handout.html.read_text(encoding="utf-8")
    assert (handout.figures, handout.widget_views, handout.embedded) == (1, 1, 1) and handout.problem == ""
    assert f"data:image/png;base64,{png}" in html and "widget-view+json" not in html


def test_make_handouts_passes_nb_and_src():
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    root = handouts.ROOT
    out = subprocess.run(["make", "-n", "-C", str(root), "handouts", "NB=02 04", "SRC=release"],
                         capture_output=True, text=True, check=True).stdout
    assert "tools/handouts.py 02 04 --src release" in out
