"""distill_lib.text.report: notebook 09's pictures (speed, confusion, disagreements) and its text-box widget."""

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from distill_lib.stats import Interval, Runs  # noqa: E402
from distill_lib.text.report import (  # noqa: E402
    EMPTY_MESSAGE,
    Disagreement,
    confusion_counts,
    disagreements,
    draw_probabilities,
    format_disagreements,
    plot_accuracy_vs_speed,
    plot_confusion,
    probability_widget,
)

CATS = ("noun.animal", "noun.plant", "noun.food")


def texts_of(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def assert_nothing_clipped(fig):
    """Everything drawn (labels, ticks, legend, titles) lies inside the figure, so a saved PNG cuts nothing off."""
    canvas = FigureCanvasAgg(fig)  # the figure comes back closed: draw it on a canvas of its own
    canvas.draw()
    drawn = fig.get_tightbbox(canvas.get_renderer())  # inches
    width, height = fig.get_size_inches()
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01 and drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01, (
        f"something is drawn at {drawn} (inches), outside the figure ({width} x {height})")


# --- accuracy against speed --------------------------------------------------------------------


def speed_points():
    runs = Runs(np.array([[1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]], bool), (0, 1, 2))
    return {
        "teacher fp32": (150.0, Interval(88.0, 87.0, 89.5, 1)),
        "teacher int8": (400.0, Interval(87.5, 86.0, 89.0, 1)),
        "bag scratch": (60_000.0, Interval(70.0, 68.0, 72.5, 5)),
        "bag distilled": (60_000.0, Interval(80.0, 79.0, 81.0, 5)),
        "gru distilled": (9_000.0, runs),
        "transformer distilled": (5_000.0, 86.0),
    }, runs


def test_speed_plot_draws_each_model_at_its_speed_and_interval():
    points, runs = speed_points()
    fig = plot_accuracy_vs_speed(points, teacher="teacher fp32")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert len(ax.containers) == len(points)  # one errorbar per model
    iv = runs.interval()
    for container, (name, (speed, acc)) in zip(ax.containers, points.items()):
        mean, low, high = (acc, acc, acc) if isinstance(acc, float) else \
            (iv.mean, iv.low, iv.high) if isinstance(acc, Runs) else (acc.mean, acc.low, acc.high)
        x, y = container.lines[0].get_data()
        assert (x[0], y[0]) == pytest.approx((speed, mean)), name
        if high > low:
            segment = container.lines[2][0].get_segments()[0]  # the vertical bar: (x, low) -> (x, high)
            assert sorted(segment[:, 1]) == pytest.approx([low, high]), name
    # the goals: 3 points below the teacher, 50x its speed
    assert ax.lines[-2].get_ydata()[0] == pytest.approx(85.0) and ax.lines[-1].get_xdata()[0] == pytest.approx(7500.0)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert all(any(label.startswith(name + ":") for label in labels) for name in points), labels
    lo, hi = ax.get_xlim()
    assert lo < 150 and hi > 60_000
    assert_nothing_clipped(fig)


def test_speed_plot_marks_scratch_hollow_and_shares_a_family_colour():
    points, _ = speed_points()
    ax = plot_accuracy_vs_speed(points).axes[0]
    assert len(ax.containers) == len(points)
    scratch, distilled = ax.containers[2].lines[0], ax.containers[3].lines[0]
    assert scratch.get_markerfacecolor() == "white" and distilled.get_markerfacecolor() != "white"
    assert scratch.get_color() == distilled.get_color() != ax.containers[0].lines[0].get_color()
    legend = [t.get_text() for t in plot_accuracy_vs_speed(points).legends[0].get_texts()]
    assert len(legend) == len(points)  # no goal lines without a teacher


@pytest.mark.parametrize(
    "points, kwargs, error, match",
    [
        ({}, {}, ValueError, "points is empty"),
        ([("a", (1.0, 90.0))], {}, TypeError, "points must be a mapping"),
        ({"a": (0.0, 90.0)}, {}, ValueError, r"sentences_per_s=0.0 must be finite and > 0"),
        ({"a": (float("inf"), 90.0)}, {}, ValueError, r"sentences_per_s=inf"),
        ({"a": ("fast", 90.0)}, {}, TypeError, "sentences_per_s must be a number, got str"),
        ({"a": (10.0,)}, {}, TypeError, r"points\['a'\] must be a pair"),
        ({"a": (10.0, Interval(90.0, 91.0, 95.0, 3))}, {}, ValueError, "mean=90.0, low=91.0"),
        ({"a": (10.0, 0.9e3)}, {}, ValueError, "mean=900.0"),
        ({"a": (10.0, "high")}, {}, TypeError, "got str"),
        ({"a": (10.0, 90.0)}, {"teacher": "b"}, ValueError, "teacher='b' is not a name"),
        ({"a": (10.0, 90.0)}, {"teacher": "a", "speedup": 1.0}, ValueError, "speedup=1.0"),
        ({"a": (10.0, 90.0)}, {"teacher": "a", "points_below": -1}, ValueError, "points_below=-1"),
    ],
)
def test_speed_plot_rejects_bad_input(points, kwargs, error, match):
    with pytest.raises(error, match=match):
        plot_accuracy_vs_speed(points, **kwargs)


# --- the confusion matrix ----------------------------------------------------------------------


def test_confusion_counts_by_hand():
    # true 0 -> 0, 0 -> 1, 1 -> 1, 2 -> 0, 2 -> 0
    counts = confusion_counts(torch.tensor([0, 0, 1, 2, 2]), [0, 1, 1, 0, 0], 3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [2, 0, 0]]


def test_confusion_counts_match_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    expected = metrics.confusion_matrix(y_true, y_pred, labels=range(10))
    np.testing.assert_array_equal(confusion_counts(y_true, y_pred, 10), expected)


def test_plot_confusion_is_row_normalised_and_named():
    y_true, y_pred = [0, 0, 0, 0, 1, 2, 2], [0, 0, 0, 1, 1, 2, 0]
    fig = plot_confusion(y_true, y_pred, CATS, title="teacher")
    ax = fig.axes[0]
    drawn = np.asarray(ax.images[0].get_array())
    expected = 100 * np.array([[3 / 4, 1 / 4, 0], [0, 1, 0], [1 / 2, 0, 1 / 2]])
    np.testing.assert_allclose(drawn, expected)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(CATS)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["noun.animal (4)", "noun.plant (1)", "noun.food (2)"]
    cells = sorted(t.get_text() for t in ax.texts)  # one annotation per non-empty cell, in %
    assert cells == sorted(["75", "25", "100", "50", "50"])
    assert ax.get_title() == f"teacher: {100 * 5 / 7:.1f} % correct, rows in %"
    assert_nothing_clipped(fig)


@pytest.mark.parametrize(
    "y_true, y_pred, categories, error, match",
    [
        ([0, 1], [0], CATS, ValueError, r"lengths differ: \{'y_true': 2, 'y_pred': 1\}"),
        ([0, 3], [0, 1], CATS, ValueError, r"y_true\[1\]=3 is out of range; allowed: \[0, 2\]"),
        ([0, 1], [-1, 1], CATS, ValueError, r"y_pred\[0\]=-1 is out of range"),
        ([0.0, 1.0], [0, 1], CATS, TypeError, "y_true must hold integer class indices, got dtype float64"),
        ([], [], CATS, ValueError, "y_true must be a non-empty 1-d"),
        ([0, 1], [0, 1], ("a",), ValueError, "categories has 1 name"),
        ([0, 1], [0, 1], ("a", "a"), ValueError, r"repeated: \['a'\]"),
        ([0, 1], [0, 1], "ab", TypeError, "categories must be a sequence of names, got str"),
    ],
)
def test_confusion_rejects_bad_input(y_true, y_pred, categories, error, match):
    with pytest.raises(error, match=match):
        plot_confusion(y_true, y_pred, categories)


# --- disagreements -----------------------------------------------------------------------------


def disagreement_data():
    rng = np.random.default_rng(1)
    n = 200
    y = rng.integers(0, 3, n)
    teacher = np.where(rng.random(n) < 0.8, y, rng.integers(0, 3, n))
    student = np.where(rng.random(n) < 0.7, y, rng.integers(0, 3, n))
    return [f"gloss {i}" for i in range(n)], y, teacher, student


def test_disagreements_are_real_deterministic_and_sorted():
    texts, y, teacher, student = disagreement_data()
    rows = disagreements(texts, y, teacher, student, CATS, k=5, seed=3)
    assert len(rows) == 5 and all(isinstance(r, Disagreement) for r in rows)
    assert [r.index for r in rows] == sorted(r.index for r in rows)
    for r in rows:
        assert r.text == texts[r.index] and r.truth == CATS[y[r.index]]
        assert (r.teacher, r.student) == (CATS[teacher[r.index]], CATS[student[r.index]]) and r.teacher != r.student
    assert rows == disagreements(texts, y, teacher, student, CATS, k=5, seed=3)
    # the choice is numpy's, from the disagreeing positions
    differ = np.flatnonzero(teacher != student)
    assert [r.index for r in rows] == sorted(np.random.default_rng(3).choice(differ, 5, replace=False).tolist())


def test_disagreements_fewer_than_k_and_none():
    texts, y = ["a", "b", "c"], [0, 1, 2]
    rows = disagreements(texts, y, [0, 1, 2], [0, 2, 2], CATS, k=5)
    assert rows == [Disagreement(1, "b", "noun.plant", "noun.plant", "noun.food")]
    assert disagreements(texts, y, y, y, CATS) == []
    assert format_disagreements([]) == "The teacher and the student agree on every gloss."


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(texts=["a", "b"]), ValueError, r"lengths differ: \{'texts': 2, 'y_true': 3"),
        (dict(texts=["a", 2, "c"]), TypeError, r"texts\[1\] must be a str, got int"),
        (dict(texts="abc"), TypeError, "texts must be a sequence of str"),
        (dict(teacher_pred=[0, 1, 7]), ValueError, r"teacher_pred\[2\]=7 is out of range"),
        (dict(student_pred=torch.tensor([0, -2, 1])), ValueError, r"student_pred\[1\]=-2"),
        (dict(k=0), ValueError, r"k=0 is out of range"),
        (dict(k=2.0), TypeError, "k must be an integer"),
        (dict(seed=-1), ValueError, r"seed=-1 is out of range"),
    ],
)
def test_disagreements_reject_bad_input(change, error, match):
    args = dict(texts=["a", "b", "c"], y_true=[0, 1, 2], teacher_pred=[0, 1, 2], student_pred=[0, 2, 2],
                categories=CATS) | change
    with pytest.raises(error, match=match):
        disagreements(**args)


def test_format_disagreements_text_and_html():
    rows = [Disagreement(4, "a <small> rodent " + "with a long tail " * 6, "noun.animal", "noun.animal", "noun.food")]
    text = format_disagreements(rows, width=30)
    lines = text.splitlines()
    assert lines[0].split() == ["gloss", "truth", "teacher", "student"]
    assert lines[2].split()[-3:] == ["noun.animal", "noun.animal", "noun.food"]
    assert all(len(line) <= 30 for line in lines[3:])  # the gloss, wrapped
    assert " ".join(" ".join(lines[2].split()[:-3] + lines[3:]).split()) == " ".join(rows[0].text.split())
    page = format_disagreements(rows, html_table=True)
    assert page.startswith("<table>") and "a &lt;small&gt; rodent" in page and page.count("<tr>") == 2
    with pytest.raises(TypeError, match=r"rows\[0\] must be a Disagreement"):
        format_disagreements([("a", "b", "c", "d")])
    with pytest.raises(ValueError, match="width=5 is out of range"):
        format_disagreements(rows, width=5)


# --- the widget --------------------------------------------------------------------------------


def dummy_predictor(probabilities, calls=None):
    """A predictor that returns the same row for every text (and records what it was given)."""
    row = torch.tensor(probabilities, dtype=torch.float32)

    def predict(texts):
        if calls is not None:
            calls.append(list(texts))
        return row.expand(len(texts), -1).clone()

    return predict


def test_draw_probabilities_bars_are_each_models_probabilities():
    calls = []
    predictors = {"teacher": dummy_predictor([0.7, 0.2, 0.1], calls), "bag distilled": dummy_predictor([0.1, 0.1, 0.8])}
    fig = draw_probabilities(predictors, CATS, "a large cat of the grasslands")
    ax = fig.axes[0]
    assert calls == [["a large cat of the grasslands"]]
    widths = [[bar.get_width() for bar in container] for container in ax.containers]
    np.testing.assert_allclose(widths, [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], rtol=1e-6)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(CATS)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["teacher: noun.animal (70 %)", "bag distilled: noun.food (80 %)"]
    assert "a large cat of the grasslands" in ax.get_title()
    assert_nothing_clipped(fig)


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_an_empty_definition_shows_a_message(text):
    calls = []
    fig = draw_probabilities({"teacher": dummy_predictor([0.5, 0.25, 0.25], calls)}, CATS, text)
    assert calls == [] and EMPTY_MESSAGE in texts_of(fig)
    assert not fig.axes[0].containers


@pytest.mark.parametrize(
    "predictors, text, error, match",
    [
        ({"t": dummy_predictor([0.5, 0.5])}, "x", ValueError, r"predictors\['t'\] returned shape \(1, 2\).*\(1, 3\)"),
        ({"t": dummy_predictor([0.5, 0.6, 0.1])}, "x", ValueError, r"predictors\['t'\] returned .*sum 1.2000"),
        ({"t": dummy_predictor([2.0, -1.0, 0.0])}, "x", ValueError, "apply softmax to logits"),
        ({"t": dummy_predictor([float("nan"), 0.5, 0.5])}, "x", ValueError, r"predictors\['t'\] returned"),
        ({"t": lambda texts: "animal"}, "x", TypeError, r"predictors\['t'\] returned str"),
        ({"t": 3}, "x", TypeError, r"predictors\['t'\] must be callable"),
        ({}, "x", ValueError, "predictors is empty"),
        ([dummy_predictor([1.0, 0, 0])], "x", TypeError, "predictors must be a mapping"),
        ({"t": dummy_predictor([1.0, 0, 0])}, None, TypeError, "text must be a str, got NoneType"),
    ],
)
def test_draw_probabilities_rejects_bad_input(predictors, text, error, match):
    with pytest.raises(error, match=match):
        draw_probabilities(predictors, CATS, text)


def test_the_widget_is_a_text_box_redrawn_on_its_value():
    ipywidgets = pytest.importorskip("ipywidgets")
    calls = []
    predictors = {"teacher": dummy_predictor([0.7, 0.2, 0.1], calls)}
    box = probability_widget(predictors, CATS, text="a sweet yellow fruit")
    (row, picture) = box.children
    (text,) = row.children
    assert isinstance(text, ipywidgets.Text) and text.continuous_update is False
    assert text.value == "a sweet yellow fruit" and calls == [["a sweet yellow fruit"]]
    first = bytes(picture.value)
    assert first == box.static_png and first.startswith(b"\x89PNG")
    text.value = "a tool for cutting wood"  # what Enter does in the browser
    assert calls[-1] == ["a tool for cutting wood"] and bytes(picture.value) != first
    text.value = "  "  # no error: a picture with the message
    assert len(calls) == 2 and bytes(picture.value).startswith(b"\x89PNG")
    with pytest.raises(TypeError, match=r"predictors\['teacher'\] must be callable"):
        probability_widget({"teacher": None}, CATS)
