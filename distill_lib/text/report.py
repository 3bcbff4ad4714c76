r"""Notebook 09's pictures and its widget: what the teacher and the students get right, at what speed.

DistilBERT (Sanh et al., *DistilBERT, a distilled version of BERT: smaller, faster, cheaper and
lighter*, 2019) reports a student that keeps 97 % of its teacher's score at 60 % of its cost;
notebook 09 draws the same trade-off for all-MiniLM-L6-v2 and three tiny students. This module
holds the drawing and the bookkeeping, out of the reader's way; the notebook calls it.

- :func:`plot_accuracy_vs_speed`: test accuracy (mean and 95 % interval, :mod:`distill_lib.stats`)
  against sentences per second on a log axis, one marker per model (the teacher fp32 and int8,
  each student from scratch and distilled).
- :func:`confusion_counts` and :func:`plot_confusion`: the confusion matrix, counted and drawn
  row-normalised (each row: where the glosses of one true category went).
- :func:`disagreements` and :func:`format_disagreements`: a few glosses on which the teacher and a
  student disagree, chosen deterministically, as rows and as a plain-text or HTML table.
- :func:`draw_probabilities` and :func:`probability_widget`: type a definition, see the teacher's
  and each student's probabilities over the categories. The widget
  (:func:`distill_lib.widgets.live_figure` with one ``ipywidgets.Text`` box) calls
  :func:`draw_probabilities`, which the tests call directly.

Every figure is returned closed (``plt.close``), so a notebook shows it once, where it displays it.
"""

from __future__ import annotations

import html
import math
import numbers
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
from torch import Tensor

from .._validation import check_int
from ..stats import Runs

__all__ = [
    "plot_accuracy_vs_speed",
    "confusion_counts",
    "plot_confusion",
    "Disagreement",
    "disagreements",
    "format_disagreements",
    "draw_probabilities",
    "probability_widget",
    "DEFAULT_DEFINITION",
    "EMPTY_MESSAGE",
]

#: The definition the widget starts with.
DEFAULT_DEFINITION = "a large cat of the grasslands"
#: What the widget's picture says when the definition is empty or only whitespace.
EMPTY_MESSAGE = "Type a definition in the box above and press Enter"


# --- checks ------------------------------------------------------------------------------------


def _check_categories(categories: object) -> tuple[str, ...]:
    """At least two distinct, non-empty category names."""
    if isinstance(categories, str) or not isinstance(categories, Sequence):
        raise TypeError(f"categories must be a sequence of names, got {type(categories).__name__}")
    names = tuple(categories)
    if len(names) < 2:
        raise ValueError(f"categories has {len(names)} name(s); need at least 2")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            raise TypeError(f"categories[{i}] must be a non-empty str, got {name!r}")
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"categories must be distinct; repeated: {repeated}")
    return names


def _check_labels(name: str, labels: object, num_classes: int) -> np.ndarray:
    """Class indices as a 1-d int64 array, non-empty, each in ``[0, num_classes)``."""
    if isinstance(labels, Tensor):
        labels = labels.detach().cpu().numpy()
    if isinstance(labels, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of class indices, got {type(labels).__name__}")
    array = np.asarray(labels)
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(f"{name} must be a non-empty 1-d sequence of class indices, got shape {array.shape}")
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    bad = (array < 0) | (array >= num_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}]={int(array[i])} is out of range; allowed: [0, {num_classes - 1}]")
    return array.astype(np.int64)


def _check_same_length(**arrays: Sequence) -> int:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"lengths differ: {lengths}; give one entry per gloss in each")
    return next(iter(lengths.values()))


def _check_predictors(predictors: object) -> dict[str, Callable]:
    if not isinstance(predictors, Mapping):
        raise TypeError(f"predictors must be a mapping of model name -> callable, got {type(predictors).__name__}")
    if not predictors:
        raise ValueError("predictors is empty; give at least one model, e.g. {'teacher': teacher_probabilities}")
    for name, predict in predictors.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"predictors' keys must be non-empty model names (str), got {name!r}")
        if not callable(predict):
            raise TypeError(f"predictors[{name!r}] must be callable (list of texts -> (N, C) probabilities), "
                            f"got {type(predict).__name__}")
    return dict(predictors)


def _probabilities(name: str, predict: Callable, text: str, num_classes: int) -> np.ndarray:
    """``predict([text])`` checked: one row of ``num_classes`` finite probabilities summing to 1."""
    out = predict([text])
    if isinstance(out, Tensor):
        out = out.detach().cpu().numpy()
    try:
        p = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"predictors[{name!r}] returned {type(out).__name__}, not an array of probabilities") from error
    if p.shape != (1, num_classes):
        raise ValueError(f"predictors[{name!r}] returned shape {p.shape} for one text; expected (1, {num_classes})")
    p = p[0]
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any() or abs(p.sum() - 1) > 1e-3:
        raise ValueError(f"predictors[{name!r}] returned {np.round(p, 4).tolist()} (sum {p.sum():.4f}); "
                         f"expected probabilities in [0, 1] that sum to 1 (apply softmax to logits)")
    return p


def _accuracy_interval(name: str, accuracy: object) -> tuple[float, float, float]:
    """``(mean, low, high)`` in % from a Runs, an Interval-like object (``.mean/.low/.high``) or a number."""
    if isinstance(accuracy, Runs):
        accuracy = accuracy.interval()
    if isinstance(accuracy, numbers.Real) and not isinstance(accuracy, bool):
        mean = low = high = float(accuracy)
    elif all(hasattr(accuracy, a) for a in ("mean", "low", "high")):
        mean, low, high = (float(getattr(accuracy, a)) for a in ("mean", "low", "high"))
    else:
        raise TypeError(f"points[{name!r}]: the accuracy must be a Runs, an Interval (.mean/.low/.high) "
                        f"or a number in %, got {type(accuracy).__name__}")
    if not all(math.isfinite(v) for v in (mean, low, high)) or not (0 <= low <= mean <= high <= 100):
        raise ValueError(f"points[{name!r}]: accuracy mean={mean}, low={low}, high={high}; "
                         f"need 0 <= low <= mean <= high <= 100 (percent)")
    return mean, low, high


# --- accuracy against speed --------------------------------------------------------------------


def plot_accuracy_vs_speed(
    points: Mapping[str, tuple[float, object]],
    *,
    teacher: str | None = None,
    points_below: float = 3.0,
    speedup: float = 50.0,
    title: str | None = "accuracy against speed (one CPU thread)",
):
    """Test accuracy against sentences per second (log axis), one marker per model.

    Each model is a marker at its mean accuracy with a bar for its 95 % interval. Models whose
    names share their first word share a colour ("bag scratch", "bag distilled"); a name containing
    "scratch" gets a hollow marker, any other a filled one, so a student's two arms, which run at
    the same speed, stay apart; a name containing "teacher" gets a square. The legend sits outside the axes, names in full, nothing clipped.

    Args:
        points: model name -> ``(sentences_per_s, accuracy)``: sentences per second (> 0) and the
            test accuracy in %, as a :class:`~distill_lib.stats.Runs`, an
            :class:`~distill_lib.stats.Interval` (anything with ``.mean``, ``.low``, ``.high``)
            or a plain number (no interval bar).
        teacher: the name in ``points`` the goals are drawn from: a line ``points_below`` points
            under its accuracy and one at ``speedup`` times its sentences per second; ``None``: no goals.
        points_below: accuracy margin of the goal, in points (>= 0).
        speedup: speed factor of the goal (> 1).
        title: the axes' title, or ``None``.

    Returns:
        The matplotlib ``Figure`` (closed: display it, or save it).

    Raises:
        TypeError, ValueError: empty ``points``, a non-positive or non-finite speed, an accuracy
            outside ``[0, 100]`` or with ``low > mean`` or ``mean > high``, an unknown ``teacher``.

    Example::

        >>> fig = plot_accuracy_vs_speed({"teacher fp32": (180.0, teacher_iv),
        ...                               "bag distilled": (40_000.0, bag_runs)}, teacher="teacher fp32")
    """
    if not isinstance(points, Mapping):
        raise TypeError(f"points must be a mapping of model name -> (sentences_per_s, accuracy), "
                        f"got {type(points).__name__}")
    if not points:
        raise ValueError("points is empty; give at least one model")
    rows = []
    for name, value in points.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"points' keys must be non-empty model names (str), got {name!r}")
        if not isinstance(value, tuple) or len(value) != 2:
            raise TypeError(f"points[{name!r}] must be a pair (sentences_per_s, accuracy), got {value!r:.80}")
        speed, accuracy = value
        if isinstance(speed, bool) or not isinstance(speed, numbers.Real):
            raise TypeError(f"points[{name!r}]: sentences_per_s must be a number, got {type(speed).__name__}")
        if not math.isfinite(speed) or speed <= 0:
            raise ValueError(f"points[{name!r}]: sentences_per_s={speed!r} must be finite and > 0 (log axis)")
        rows.append((name, float(speed), *_accuracy_interval(name, accuracy)))
    if teacher is not None and teacher not in points:
        raise ValueError(f"teacher={teacher!r} is not a name in points: {list(points)}")
    if isinstance(points_below, bool) or not isinstance(points_below, numbers.Real) or not 0 <= points_below <= 100:
        raise ValueError(f"points_below={points_below!r} must be a number of points in [0, 100]")
    if isinstance(speedup, bool) or not isinstance(speedup, numbers.Real) or not 1 < speedup < math.inf:
        raise ValueError(f"speedup={speedup!r} must be a finite number > 1")

    families = list(dict.fromkeys(name.split()[0] for name, *_ in rows))
    fig, ax = plt.subplots(figsize=(8.5, 4.2), layout="constrained")
    for name, speed, mean, low, high in rows:
        colour = f"C{families.index(name.split()[0]) % 10}"
        hollow = "scratch" in name.lower()
        ax.errorbar([speed], [mean], yerr=[[mean - low], [high - mean]], fmt="o" if "teacher" not in name else "s",
                    color=colour, mfc="white" if hollow else colour, mew=1.8, ms=8, capsize=4, lw=1.5,
                    label=f"{name}: {mean:.1f} %", zorder=3)
    if teacher is not None:
        _, t_speed, t_mean, _, _ = next(r for r in rows if r[0] == teacher)
        ax.axhline(t_mean - points_below, color="0.3", ls="--", lw=1,
                   label=f"{points_below:g} points below {teacher}")
        ax.axvline(t_speed * speedup, color="0.3", ls=":", lw=1, label=f"{speedup:g}x {teacher}'s speed")
    speeds = [r[1] for r in rows] + ([t_speed * speedup] if teacher is not None else [])
    ax.set_xscale("log")
    ax.set_xlim(min(speeds) / 2, max(speeds) * 2)
    ax.set_xlabel("sentences per second (log scale)")
    ax.set_ylabel("test accuracy (%), 95 % interval")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    fig.legend(loc="outside right center", fontsize=8, frameon=False)
    plt.close(fig)
    return fig


# --- the confusion matrix ----------------------------------------------------------------------


def confusion_counts(y_true: Sequence[int] | Tensor, y_pred: Sequence[int] | Tensor, num_classes: int) -> np.ndarray:
    """Count each (true class, predicted class) pair: ``counts[i, j]`` glosses of class ``i`` predicted ``j``.

    Args:
        y_true: the true class of each gloss.
        y_pred: the predicted class of each gloss.
        num_classes: the number of classes (>= 2).

    Shape:
        y_true, y_pred: ``(N,)`` integers in ``[0, num_classes)``. Returns ``(num_classes, num_classes)``.

    Returns:
        An int64 array; rows are true classes, columns predictions (as ``sklearn.metrics.confusion_matrix``).

    Raises:
        TypeError, ValueError: not integers, different lengths, empty, an index out of range.

    Example::

        >>> confusion_counts([0, 1, 1], [0, 1, 0], 2)
        array([[1, 0],
               [1, 1]])
    """
    num_classes = check_int("num_classes", num_classes, low=2)
    true = _check_labels("y_true", y_true, num_classes)
    pred = _check_labels("y_pred", y_pred, num_classes)
    _check_same_length(y_true=true, y_pred=pred)
    return np.bincount(true * num_classes + pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def plot_confusion(
    y_true: Sequence[int] | Tensor,
    y_pred: Sequence[int] | Tensor,
    categories: Sequence[str],
    *,
    title: str | None = None,
):
    """The row-normalised confusion matrix, with each cell's percentage written in it.

    Row ``i`` says where the glosses of true category ``i`` went, in % of that row (so a row sums to
    100 whatever the category's size); its count is in the row's label. Empty cells stay blank.

    Args:
        y_true: the true category index of each gloss.
        y_pred: the predicted category index of each gloss.
        categories: the category names, index ``i`` is ``categories[i]``.
        title: the axes' title (e.g. the model's name), or ``None``.

    Shape:
        y_true, y_pred: ``(N,)`` integers in ``[0, len(categories))``.

    Returns:
        The matplotlib ``Figure`` (closed). The matrix drawn (rows in %) is ``fig.axes[0].images[0].get_array()``.

    Raises:
        TypeError, ValueError: as :func:`confusion_counts`; ``categories`` not distinct names.

    Example::

        >>> fig = plot_confusion(y_test, teacher_pred, CATEGORIES, title="teacher")
    """
    names = _check_categories(categories)
    counts = confusion_counts(y_true, y_pred, len(names))
    totals = counts.sum(axis=1, keepdims=True)
    percent = 100.0 * counts / np.maximum(totals, 1)  # (C, C); a class with no gloss: a row of 0
    c = len(names)
    size = max(4.5, 0.55 * c + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.0, size), layout="constrained")
    image = ax.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    for i in range(c):
        for j in range(c):
            if counts[i, j]:
                ax.text(j, i, f"{percent[i, j]:.0f}", ha="center", va="center", fontsize=8,
                        color="white" if percent[i, j] > 50 else "black")
    ax.set_xticks(range(c), names, rotation=45, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(c), [f"{n} ({int(t)})" for n, t in zip(names, totals[:, 0])], fontsize=8)
    ax.set_xlabel("predicted category")
    ax.set_ylabel("true category (number of glosses)")
    accuracy = 100.0 * np.trace(counts) / counts.sum()
    ax.set_title(f"{title + ': ' if title else ''}{accuracy:.1f} % correct, rows in %", fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8, label="% of the true category")
    plt.close(fig)
    return fig


# --- where the teacher and a student disagree --------------------------------------------------


class Disagreement(NamedTuple):
    """One gloss on which the teacher and the student disagree, with category names."""

    index: int  # position in ``texts``
    text: str
    truth: str
    teacher: str
    student: str


def disagreements(
    texts: Sequence[str],
    y_true: Sequence[int] | Tensor,
    teacher_pred: Sequence[int] | Tensor,
    student_pred: Sequence[int] | Tensor,
    categories: Sequence[str],
    *,
    k: int = 5,
    seed: int = 0,
) -> list[Disagreement]:
    """``k`` glosses on which the teacher and the student predict different categories.

    The choice is deterministic: ``k`` of the disagreeing positions drawn without replacement by
    ``numpy.random.default_rng(seed)``, then sorted by position. Fewer disagreements than ``k``:
    all of them (possibly none).

    Args:
        texts: the glosses.
        y_true: the true category index of each gloss.
        teacher_pred: the teacher's predicted category index of each gloss.
        student_pred: the student's predicted category index of each gloss.
        categories: the category names.
        k: how many to return (>= 1).
        seed: the choice's seed (>= 0).

    Shape:
        texts, y_true, teacher_pred, student_pred: ``(N,)``.

    Returns:
        A list of :class:`Disagreement` ``(index, text, truth, teacher, student)``; see
        :func:`format_disagreements` to print it.

    Raises:
        TypeError, ValueError: different lengths, a text that is not a str, an index out of range, a bad ``k`` or ``seed``.

    Example::

        >>> rows = disagreements(split.texts_test, split.y_test, teacher_pred, student_pred, CATEGORIES, k=5)
        >>> print(format_disagreements(rows))
    """
    names = _check_categories(categories)
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"texts must be a sequence of str, got {type(texts).__name__}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}")
    true = _check_labels("y_true", y_true, len(names))
    teacher = _check_labels("teacher_pred", teacher_pred, len(names))
    student = _check_labels("student_pred", student_pred, len(names))
    _check_same_length(texts=texts, y_true=true, teacher_pred=teacher, student_pred=student)
    k = check_int("k", k, low=1)
    seed = check_int("seed", seed, low=0)
    differ = np.flatnonzero(teacher != student)
    chosen = np.sort(np.random.default_rng(seed).choice(differ, size=min(k, len(differ)), replace=False))
    return [Disagreement(int(i), texts[i], names[true[i]], names[teacher[i]], names[student[i]]) for i in chosen]


def format_disagreements(rows: Sequence[Disagreement], *, html_table: bool = False, width: int = 60) -> str:
    """A table of :func:`disagreements`' rows: plain text (``print`` it) or HTML (``display(HTML(...))``).

    Args:
        rows: from :func:`disagreements`.
        html_table: ``True`` for an HTML ``<table>`` (texts escaped, in full), ``False`` for plain
            text, each gloss wrapped at ``width`` characters.
        width: the plain-text gloss column's width (>= 20).

    Returns:
        The table as a str; with no rows, a sentence saying so.

    Raises:
        TypeError: a row that is not a :class:`Disagreement`. ValueError: ``width < 20``.
    """
    width = check_int("width", width, low=20)
    for i, row in enumerate(rows):
        if not isinstance(row, Disagreement):
            raise TypeError(f"rows[{i}] must be a Disagreement (from disagreements), got {type(row).__name__}")
    if not rows:
        return "The teacher and the student agree on every gloss."
    header = ("gloss", "truth", "teacher", "student")
    if html_table:
        head = "".join(f"<th style='text-align:left'>{h}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(v)}</td>"
                             for v in (r.text, r.truth, r.teacher, r.student)) + "</tr>"
            for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    widths = [width] + [max(len(h), *(len(getattr(r, h)) for r in rows)) for h in header[1:]]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    for r in rows:
        wrapped = textwrap.wrap(r.text, width) or [""]
        lines.append("  ".join(v.ljust(w) for v, w in zip((wrapped[0], r.truth, r.teacher, r.student), widths)).rstrip())
        lines += wrapped[1:]
    return "\n".join(lines)


# --- the widget --------------------------------------------------------------------------------


def draw_probabilities(predictors: Mapping[str, Callable], categories: Sequence[str], text: str):
    """Grouped horizontal bars: each model's probabilities over the categories for one definition.

    Args:
        predictors: model name -> a callable ``f(list_of_texts)`` returning ``(N, C)`` probabilities
            (a tensor or an array, rows summing to 1), e.g. the teacher and each student.
        categories: the ``C`` category names, in the predictors' column order.
        text: the definition; empty or only whitespace draws :data:`EMPTY_MESSAGE` instead of bars
            (no predictor is called).

    Returns:
        The matplotlib ``Figure`` (closed). Its axes' bar containers, one per model in the order of
        ``predictors``, hold the probabilities as bar widths.

    Raises:
        TypeError, ValueError: ``text`` not a str, bad ``predictors`` or ``categories``, or a predictor
            that returns anything but one row of ``C`` probabilities (the model named).

    Example::

        >>> fig = draw_probabilities({"teacher": teacher_probs, "bag distilled": bag_probs}, CATEGORIES,
        ...                          "a large cat of the grasslands")
    """
    predictors = _check_predictors(predictors)
    names = _check_categories(categories)
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    m, c = len(predictors), len(names)
    fig, ax = plt.subplots(figsize=(8.5, min(8.0, max(3.5, 0.1 * m * c + 2.0))), layout="constrained")
    if not text.strip():
        ax.text(0.5, 0.5, EMPTY_MESSAGE, ha="center", va="center", fontsize=12, transform=ax.transAxes)
        ax.set_axis_off()
        plt.close(fig)
        return fig
    probs = {name: _probabilities(name, predict, text, c) for name, predict in predictors.items()}  # each (C,)
    height = 0.8 / m
    rows = np.arange(c)
    for k, (name, p) in enumerate(probs.items()):
        top = int(p.argmax())
        ax.barh(rows - 0.4 + (k + 0.5) * height, p, height=height, color=f"C{k % 10}",
                label=f"{name}: {names[top]} ({100 * p[top]:.0f} %)")
    ax.set_yticks(rows, names, fontsize=8)
    ax.invert_yaxis()  # the first category at the top
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"\u201c{textwrap.shorten(text.strip(), 90, placeholder=' ...')}\u201d", fontsize=10)
    fig.legend(loc="outside lower center", ncols=min(m, 2), fontsize=8, frameon=False,
               title="model: its most likely category", title_fontsize=8)
    plt.close(fig)
    return fig


def probability_widget(
    predictors: Mapping[str, Callable],
    categories: Sequence[str],
    text: str = DEFAULT_DEFINITION,
    *,
    dpi: int = 72,
):
    """A text box for a definition above :func:`draw_probabilities`' picture, redrawn on Enter.

    The box is an ``ipywidgets.Text`` with ``continuous_update=False``: the models run when Enter
    is pressed (or the box loses focus), not at every key. Built with
    :func:`distill_lib.widgets.live_figure`, so it is drawn once with ``text`` when built (headless
    runs render it and raise nothing) and exports as a static PNG of that first view.

    Args:
        predictors: model name -> ``f(list_of_texts) -> (N, C)`` probabilities (see :func:`draw_probabilities`).
        categories: the ``C`` category names.
        text: the definition shown first.
        dpi: the picture's resolution (>= 1).

    Returns:
        The widget (an ``ipywidgets.VBox``) to ``display``.

    Raises:
        TypeError, ValueError: as :func:`draw_probabilities` for the first ``text`` (nothing is built then).

    Example::

        >>> display(probability_widget({"teacher": teacher_probs, "gru distilled": gru_probs}, CATEGORIES))
    """
    import ipywidgets as widgets

    from ..widgets import live_figure

    predictors = _check_predictors(predictors)
    names = _check_categories(categories)
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    box = widgets.Text(value=text, description="definition", placeholder="type a definition, then Enter",
                       continuous_update=False, layout=widgets.Layout(width="640px"))

    def draw(definition: str):
        return draw_probabilities(predictors, names, definition)

    return live_figure(draw, {"definition": box}, dpi=dpi)
