"""distill_lib.widgets: a picture that redraws when a control moves, without an Output widget."""

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from distill_lib.widgets import figure_png, live_figure  # noqa: E402


def draw(height, width=1):
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.bar([0], [height], width=width)
    ax.set_title(f"height {height}")
    return fig


def test_figure_png_closes_the_figure():
    fig = draw(1)
    data = figure_png(fig)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)


def test_live_figure_draws_once_and_on_every_change():
    calls = []

    def spy(**values):
        calls.append(values)
        return draw(**values)

    height = widgets.IntSlider(value=2, min=0, max=5)
    width = widgets.FloatSlider(value=0.5, min=0.1, max=1)
    box = live_figure(spy, {"height": height, "width": width})
    picture = box.children[1]
    assert calls == [{"height": 2, "width": 0.5}]
    first = picture.value
    height.value = 4
    assert calls[-1] == {"height": 4, "width": 0.5} and picture.value != first
    assert not any(isinstance(w, widgets.Output) for w in box.children)


def test_live_figure_bad_input():
    with pytest.raises(TypeError, match="draw must be callable"):
        live_figure(None, {"h": widgets.IntSlider()})
    with pytest.raises(ValueError, match="controls is empty"):
        live_figure(draw, {})
    with pytest.raises(TypeError, match=r"controls\['height'\] is a int"):
        live_figure(draw, {"height": 3})


def test_live_figure_leaves_a_static_png_of_its_default_view():
    """Displayed, the box offers the widget and a PNG of its first view (what nbconvert exports)."""
    import base64

    height = widgets.IntSlider(value=2, min=0, max=5)
    box = live_figure(draw, {"height": height})
    first = box.children[1].value
    height.value = 5  # a later view does not replace the default one
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == first == box.static_png
    assert box.static_png != box.children[1].value


def test_nbconvert_exports_the_static_png_when_there_is_no_widget_state():
    import nbformat
    from nbconvert import HTMLExporter

    box = live_figure(draw, {"height": widgets.IntSlider(value=3)})
    bundle = box._repr_mimebundle_()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("display(box)")
    cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]
    nb.cells = [cell]
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert bundle["image/png"][:200] in html


def test_draw_may_return_png_bytes():
    png = figure_png(draw(1))
    calls = []

    def fast(height):
        calls.append(height)
        return png

    box = live_figure(fast, {"height": widgets.IntSlider(value=1)})
    assert box.static_png == png and calls == [1]
    with pytest.raises(ValueError, match="draw returned bytes that are not a PNG image"):
        live_figure(lambda height: b"GIF89a", {"height": widgets.IntSlider(value=1)})
    with pytest.raises(TypeError, match="draw must return a matplotlib Figure or PNG bytes, got str"):
        live_figure(lambda height: "picture", {"height": widgets.IntSlider(value=1)})
    with pytest.raises(ValueError, match=r"dpi=0 is out of range"):
        live_figure(draw, {"height": widgets.IntSlider(value=1)}, dpi=0)
    with pytest.raises(TypeError, match="figure must be a matplotlib Figure"):
        figure_png(png)
