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
