"""distill_lib.lm.report: forward vs reverse KL on a toy, bits per character, the generation widget."""

import math

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

from distill_lib.lm.data import Alphabet
from distill_lib.lm.model import CharTransformer
from distill_lib.lm.report import (
    _MUS,
    _SIGMAS,
    DEFAULT_PROMPT,
    _fit_gaussian,
    _log_gaussian,
    draw_bits_per_char,
    draw_generations,
    draw_mass_covering,
    generation_widget,
    text_generator,
    toy_divergences,
)
from distill_lib.lm.students import CharGRU, generate_fast
from distill_lib.stats import Interval


def texts_of(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def assert_nothing_clipped(fig):
    """Everything drawn lies inside the figure, so a saved PNG cuts nothing off."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    drawn = fig.get_tightbbox(canvas.get_renderer())  # inches
    width, height = fig.get_size_inches()
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01 and drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01, (
        f"something is drawn at {drawn} (inches), outside the figure ({width} x {height})")


@pytest.fixture(scope="module")
def default_fits():
    return toy_divergences()


# --- forward vs reverse KL on the toy -------------------------------------------------------------


def test_the_target_is_the_mixture_normalised_on_the_grid(default_fits):
    x, p = default_fits.x, default_fits.p
    density = 0.6 * np.exp(-0.5 * ((x + 2) / 0.7) ** 2) + 0.4 * np.exp(-0.5 * ((x - 2.5) / 0.7) ** 2)
    np.testing.assert_allclose(p, density / density.sum(), rtol=1e-10)
    assert default_fits.mixture_mean == pytest.approx(0.6 * -2 + 0.4 * 2.5)  # -0.2
    assert default_fits.mixture_sd ** 2 == pytest.approx(0.49 + 0.6 * 4 + 0.4 * 6.25 - 0.04)  # 5.35


def test_the_forward_kl_fit_matches_the_mixtures_moments(default_fits):
    fit = default_fits.forward
    # KL(p || q) over Gaussians q is minimised by matching p's mean and variance (Bishop 2006, 10.7);
    # within the grid search's resolution (0.05 in mu, 0.02 in sigma)
    assert fit.mu == pytest.approx(-0.2, abs=0.05)
    assert fit.sigma == pytest.approx(math.sqrt(5.35), abs=0.05)


def test_the_reverse_kl_fit_sits_on_one_mode_and_is_narrower(default_fits):
    fwd, rev = default_fits.forward, default_fits.reverse
    assert min(abs(rev.mu - m) for m in (-2.0, 2.5)) <= 0.3
    assert rev.mu == pytest.approx(-2.0, abs=0.3)  # the heavier mode (0.6)
    assert rev.sigma < fwd.sigma and rev.sigma == pytest.approx(0.7, abs=0.1)


def test_each_fit_is_the_grid_minimum_of_its_own_kl(default_fits):
    x, p = default_fits.x, default_fits.p
    log_p = np.log(p)

    def kl(mu, sigma, forward):
        q = np.exp(-0.5 * ((x - mu) / sigma) ** 2)
        q /= q.sum()
        return float(np.sum(p * np.log(p / q))) if forward else float(np.sum(q * np.log(q / p)))

    for fit, forward in ((default_fits.forward, True), (default_fits.reverse, False)):
        assert fit.kl == pytest.approx(kl(fit.mu, fit.sigma, forward), rel=1e-9)
        for d_mu, d_sigma in ((0.3, 0), (-0.3, 0), (0, 0.2), (0, -0.2)):  # a neighbour does worse
            assert kl(fit.mu + d_mu, fit.sigma + d_sigma, forward) > fit.kl
    # the two are different objectives: each fit loses on the other's
    assert kl(default_fits.reverse.mu, default_fits.reverse.sigma, True) > default_fits.forward.kl
    assert kl(default_fits.forward.mu, default_fits.forward.sigma, False) > default_fits.reverse.kl
    assert _fit_gaussian(x, log_p, _MUS, _SIGMAS, True) == (default_fits.forward.kl, default_fits.forward.mu, default_fits.forward.sigma)


def test_log_gaussian_rows_are_normalised_log_probabilities():
    x = np.linspace(-8, 8, 321)
    log_q = _log_gaussian(x, np.array([-5.0, 0.0, 5.0]), 0.1)
    np.testing.assert_allclose(np.exp(log_q).sum(axis=1), 1.0, rtol=1e-12)
    assert np.exp(log_q[1]).argmax() == 160  # x = 0


def test_reverse_kl_follows_the_heavier_mode_and_forward_kl_the_mean():
    fits = toy_divergences(weights=(0.3, 0.7), means=(-2.0, 2.5))
    assert fits.reverse.mu == pytest.approx(2.5, abs=0.3)
    assert fits.forward.mu == pytest.approx(0.3 * -2 + 0.7 * 2.5, abs=0.05)
    assert fits.forward.sigma == pytest.approx(fits.mixture_sd, abs=0.05)
    one = toy_divergences(weights=(1.0,), means=(1.0,), sd=1.0)  # q can be p: both KLs reach 0
    for fit in (one.forward, one.reverse):
        assert (fit.mu, fit.sigma) == pytest.approx((1.0, 1.0), abs=0.03) and fit.kl == pytest.approx(0.0, abs=1e-3)


def test_the_mass_covering_picture():
    fig = draw_mass_covering(weights=(0.5, 0.5), means=(-3.0, 3.0), sd=0.8)
    ax = fig.axes[0]
    target, forward, reverse = ax.get_lines()
    fits = toy_divergences((0.5, 0.5), (-3.0, 3.0), 0.8)
    dx = fits.x[1] - fits.x[0]
    np.testing.assert_allclose(target.get_ydata(), fits.p / dx)
    assert forward.get_xdata()[np.argmax(forward.get_ydata())] == pytest.approx(fits.forward.mu, abs=0.05)
    assert reverse.get_xdata()[np.argmax(reverse.get_ydata())] == pytest.approx(fits.reverse.mu, abs=0.05)
    for line in (target, forward, reverse):  # densities: each integrates to 1
        assert np.sum(line.get_ydata()) * dx == pytest.approx(1.0)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "mass-covering" in labels[1] and "mode-seeking" in labels[2]
    assert "forward KL" in ax.get_title() and "reverse KL" in ax.get_title()
    assert_nothing_clipped(fig)
    assert draw_mass_covering(title="mine").axes[0].get_title() == "mine"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"weights": (0.7, 0.4)}, ValueError, r"sum to 1\.1; they must sum to 1"),
        ({"weights": (1.2, -0.2)}, ValueError, r"holds -0\.2; every weight must be > 0"),
        ({"weights": (0.5, 0.3, 0.2)}, ValueError, "weights has 3 entries and means 2"),
        ({"weights": (), "means": ()}, ValueError, "weights has 0 entries"),
        ({"means": (-2.0, 6.0)}, ValueError, r"means holds 6\.0, out of range; allowed: \[-5, 5\]"),
        ({"means": (-2.0, float("nan"))}, TypeError, r"means\[1\]=nan is not a finite real number"),
        ({"means": "ab"}, TypeError, "means must be a sequence of numbers, got str"),
        ({"weights": (0.5, True)}, TypeError, r"weights\[1\]=True"),
        ({"sd": 0.1}, ValueError, r"sd=0\.1 is out of range; allowed: \[0\.2, 3\]"),
        ({"sd": "wide"}, TypeError, "sd must be a real number"),
    ],
    ids=["sum", "negative", "lengths", "empty", "mean-out", "mean-nan", "means-str", "weight-bool", "sd-small", "sd-str"],
)
def test_the_toy_rejects_bad_mixtures(kwargs, error, match):
    with pytest.raises(error, match=match):
        toy_divergences(**kwargs)
    with pytest.raises(error, match=match):
        draw_mass_covering(**kwargs)


# --- bits per character -----------------------------------------------------------------------------


def test_bits_per_char_draws_each_interval_in_order_and_the_teacher():
    results = {"gru text alone": Interval(2.10, 2.05, 2.16, 3), "gru word-level KD": Interval(1.95, 1.93, 1.99, 3),
               "transformer reverse KL": Interval(2.30, 2.20, 2.35, 3)}
    fig = draw_bits_per_char(results, teacher_bpc=1.62)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(results)
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # the first arm at the top
    for k, (container, iv) in enumerate(zip(ax.containers, results.values())):
        point, _, (bars,) = container
        assert (point.get_xdata()[0], point.get_ydata()[0]) == (pytest.approx(iv.mean), k)
        (segment,) = bars.get_segments()
        np.testing.assert_allclose(segment[:, 0], [iv.low, iv.high])
    teacher_line = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(teacher_line) == 1 and teacher_line[0].get_xdata()[0] == 1.62
    assert any("teacher: 1.620" in t for t in texts_of(fig))
    assert_nothing_clipped(fig)


@pytest.mark.parametrize(
    "results, teacher_bpc, error, match",
    [
        ({}, 1.6, ValueError, "results is empty"),
        ([("a", Interval(2, 1, 3, 3))], 1.6, TypeError, "results must be a mapping"),
        ({"a": 2.0}, 1.6, TypeError, r"results\['a'\] must be an Interval"),
        ({"a": Interval(2.0, 2.1, 2.3, 3)}, 1.6, ValueError, r"results\['a'\]: mean=2.0, low=2.1"),
        ({"a": Interval(2.0, float("nan"), 2.3, 3)}, 1.6, ValueError, "low=nan"),
        ({"a": Interval(0.0, 0.0, 0.1, 3)}, 1.6, ValueError, r"need finite 0 < low"),
        ({"": Interval(2.0, 1.9, 2.1, 3)}, 1.6, TypeError, "non-empty arm names"),
        ({"a": Interval(2.0, 1.9, 2.1, 3)}, 0.0, ValueError, r"teacher_bpc=0\.0 must be"),
        ({"a": Interval(2.0, 1.9, 2.1, 3)}, "1.6", TypeError, "teacher_bpc must be a real number"),
    ],
    ids=["empty", "list", "float", "unordered", "nan", "zero", "empty-name", "teacher-zero", "teacher-str"],
)
def test_bits_per_char_rejects_bad_input(results, teacher_bpc, error, match):
    with pytest.raises(error, match=match):
        draw_bits_per_char(results, teacher_bpc)


# --- text generators and the widget -----------------------------------------------------------------


def tiny_models():
    torch.manual_seed(0)
    teacher = CharTransformer(79, context=16, width=16, heads=2, layers=1)
    student = CharGRU(79, embed=8, width=16)
    return teacher, student


def test_text_generator_encodes_samples_with_its_seed_and_decodes():
    alphabet = Alphabet()
    teacher, student = tiny_models()
    for model in (teacher, student):
        write = text_generator(model, alphabet, seed=3)
        text = write("Emma was", 0.8, 30)
        ids = generate_fast(model, alphabet.encode("Emma was"), 30, 0.8, generator=torch.Generator().manual_seed(3))
        assert text == alphabet.decode(ids) and len(text) == 30
        assert write("Emma was", 0.8, 30) == text  # a fresh generator each call: the same text
    assert text_generator(student, alphabet, seed=4)("Emma was", 0.8, 30) != text


@pytest.mark.parametrize(
    "prompt, temperature, length, error, match",
    [
        ("", 0.8, 10, ValueError, "prompt='' is empty"),
        ("caf\u00e9", 0.8, 10, ValueError, r"text\[3\]='\u00e9' is not in the alphabet"),
        ("Emma", 0.0, 10, ValueError, r"temperature=0\.0 must be a finite number > 0"),
        ("Emma", 0.8, 0, ValueError, r"length=0 is out of range"),
        (None, 0.8, 10, TypeError, "prompt must be a str, got NoneType"),
    ],
    ids=["empty", "outside-alphabet", "temperature-zero", "length-zero", "none"],
)
def test_text_generator_rejects_bad_prompts(prompt, temperature, length, error, match):
    write = text_generator(tiny_models()[1], Alphabet())
    with pytest.raises(error, match=match):
        write(prompt, temperature, length)


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((torch.nn.Linear(2, 2), Alphabet()), TypeError, "model must be a CharGRU or a CharTransformer, got Linear"),
        (("gru", Alphabet()), TypeError, "got str"),
        ((CharGRU(79, 4, 4), "abc"), TypeError, "alphabet must be an Alphabet, got str"),
        ((CharGRU(10, 4, 4), Alphabet()), ValueError, "vocab_size=10 but the alphabet 79 characters"),
        ((CharGRU(79, 4, 4), Alphabet(), -1), ValueError, r"seed=-1 is out of range"),
    ],
    ids=["linear", "str", "alphabet-str", "vocab-mismatch", "seed-negative"],
)
def test_text_generator_rejects_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        text_generator(*args)


def fake(text, calls=None):
    def generate(prompt, temperature, length):
        if calls is not None:
            calls.append((prompt, temperature, length))
        return (text * length)[:length]

    return generate


def test_draw_generations_shows_each_models_text_in_order():
    calls = []
    fig = draw_generations({"teacher": fake("la ", calls), "gru distilled": fake("ab")}, "It is", 0.7, 200)
    assert calls == [("It is", 0.7, 200)]
    panels = fig.axes
    assert [ax.get_title(loc="left") for ax in panels] == ["teacher", "gru distilled"]
    (body,) = [t for t in panels[0].texts]
    lines = body.get_text().split("\n")
    assert all(len(line) <= 80 for line in lines) and len(lines) == 3  # 200 characters wrapped at 80
    assert body.get_text().replace("\n", " ").split() == ("la " * 200)[:200].split()
    assert body.get_fontfamily() == ["monospace"]
    assert "It is" in fig._suptitle.get_text() and "0.7" in fig._suptitle.get_text()
    assert_nothing_clipped(fig)


def test_draw_generations_keeps_line_breaks_and_draws_dollars_as_text():
    fig = draw_generations({"m": lambda p, t, n: "Price: $5 and $6\nEmma"}, "a $ b", 1.0, 10)
    assert fig.axes[0].texts[0].get_text() == "Price: $5 and $6\nEmma"
    assert_nothing_clipped(fig)  # drawing "$5 and $" as mathtext would fail here


def test_draw_generations_raises_or_draws_a_generators_value_error():
    def broken(prompt, temperature, length):
        raise ValueError(f"text[0]={prompt[0]!r} is not in the alphabet")

    generators = {"teacher": broken, "gru": fake("ab")}
    with pytest.raises(ValueError, match="is not in the alphabet"):
        draw_generations(generators, "\u00e9t\u00e9", 0.8, 20)
    fig = draw_generations(generators, "\u00e9t\u00e9", 0.8, 20, show_errors=True)
    assert "cannot generate: text[0]='\u00e9' is not in the alphabet" in fig.axes[0].texts[0].get_text()
    assert fig.axes[1].texts[0].get_text() == "ab" * 10


@pytest.mark.parametrize(
    "generators, temperature, length, error, match",
    [
        ({}, 0.8, 10, ValueError, "generators is empty"),
        ({"m": "text"}, 0.8, 10, TypeError, r"generators\['m'\] must be callable"),
        ({"m": lambda p, t, n: 3}, 0.8, 10, TypeError, r"generators\['m'\] returned int, not a str"),
        ({"m": fake("a")}, -1.0, 10, ValueError, r"temperature=-1\.0 must be"),
        ({"m": fake("a")}, 0.8, 0, ValueError, r"length=0 is out of range"),
    ],
    ids=["empty", "not-callable", "returns-int", "temperature-negative", "length-zero"],
)
def test_draw_generations_rejects_bad_input(generators, temperature, length, error, match):
    with pytest.raises(error, match=match):
        draw_generations(generators, "Emma", temperature, length, show_errors=True)


def test_the_widget_builds_headless_and_redraws_on_each_control():
    ipywidgets = pytest.importorskip("ipywidgets")
    calls = []
    box = generation_widget({"teacher": fake("la ", calls), "student": fake("ab")}, length=40)
    (row, picture) = box.children
    text, slider = row.children
    assert isinstance(text, ipywidgets.Text) and text.continuous_update is False and text.description == "prompt"
    assert isinstance(slider, ipywidgets.FloatSlider) and slider.continuous_update is False
    assert (slider.min, slider.max, slider.step, slider.value) == (0.1, 2.0, 0.1, 0.8)
    assert text.value == DEFAULT_PROMPT and calls == [(DEFAULT_PROMPT, 0.8, 40)]
    first = bytes(picture.value)
    assert first == box.static_png and first.startswith(b"\x89PNG")
    text.value = "Emma was"  # what Enter does in the browser
    assert calls[-1] == ("Emma was", 0.8, 40) and bytes(picture.value) != first
    slider.value = 1.5
    assert calls[-1] == ("Emma was", 1.5, 40)


def test_a_bad_prompt_in_the_widget_is_drawn_not_raised():
    pytest.importorskip("ipywidgets")
    alphabet = Alphabet()
    teacher, student = tiny_models()
    generators = {"teacher": text_generator(teacher, alphabet), "gru": text_generator(student, alphabet)}
    box = generation_widget(generators, prompt="Emma", temperature=1.0, length=20)
    (row, picture) = box.children
    text, _ = row.children
    good = bytes(picture.value)
    for bad in ("", "caf\u00e9"):  # no exception: a picture with the error message
        text.value = bad
        assert bytes(picture.value).startswith(b"\x89PNG") and bytes(picture.value) != good
    fig = draw_generations(generators, "caf\u00e9", 1.0, 20, show_errors=True)  # what the widget drew
    assert "is not in the alphabet" in fig.axes[0].texts[0].get_text()
    text.value = "Emma"
    assert bytes(picture.value) == good  # the same seed: the same picture again


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"prompt": ""}, ValueError, "prompt='' is empty"),
        ({"prompt": 3}, TypeError, "prompt must be a str, got int"),
        ({"prompt": "caf\u00e9"}, ValueError, r"text\[3\]='\u00e9' is not in the alphabet"),
        ({"temperature": 2.5}, ValueError, r"temperature=2\.5 is out of the slider's range; allowed: \[0\.1, 2\.0\]"),
        ({"temperature": 0.0}, ValueError, r"temperature=0\.0 must be a finite number > 0"),
        ({"length": 0}, ValueError, r"length=0 is out of range"),
        ({"generators": {}}, ValueError, "generators is empty"),
        ({"dpi": 0}, ValueError, r"dpi=0 is out of range"),
    ],
    ids=["empty-prompt", "int-prompt", "outside-alphabet", "temperature-high", "temperature-zero", "length-zero",
         "no-generators", "dpi-zero"],
)
def test_the_widget_checks_its_first_values_when_built(kwargs, error, match):
    pytest.importorskip("ipywidgets")
    args = {"generators": {"gru": text_generator(tiny_models()[1], Alphabet())}, "length": 5} | kwargs
    with pytest.raises(error, match=match):
        generation_widget(**args)
