"""Notebook 10's pictures and its widget: forward against reverse KL, bits per character, generated text.

- :func:`toy_divergences` and :func:`draw_mass_covering`: why the direction of the KL matters,
  on a toy target before any language model (Bishop 2006, *Pattern Recognition and Machine
  Learning*, section 10.1.2, figure 10.3; Minka 2005, "Divergence measures and message passing").
  The target ``p`` is a mixture of two Gaussians on a 1-D grid; one Gaussian ``q`` is fitted to it
  twice, by a grid search over its mean and standard deviation. Minimising the *forward*
  ``KL(p || q)`` (what word-level KD minimises) punishes ``q`` wherever ``p`` has mass that ``q``
  lacks, so ``q`` spreads over both modes (*mass-covering*; for a Gaussian ``q`` it matches ``p``'s
  mean and variance). Minimising the *reverse* ``KL(q || p)`` (MiniLLM, Gu et al. 2024; on-policy
  distillation, Agarwal et al. 2024) punishes ``q`` wherever it puts mass that ``p`` lacks, so ``q``
  settles on one mode (*mode-seeking*).
- :func:`draw_bits_per_char`: held-out bits per character of each arm (mean and 95 % interval
  over seeds, :mod:`distill_lib.stats`) against the teacher's.
- :func:`text_generator`, :func:`draw_generations` and :func:`generation_widget`: type a prompt,
  move the temperature, read the teacher's and each student's continuations side by side. The
  widget (:func:`distill_lib.widgets.live_figure` with an ``ipywidgets.Text`` and a
  ``FloatSlider``) calls :func:`draw_generations`, which the tests call directly.

Every figure is returned closed (``plt.close``), so a notebook shows it once, where it displays it.
"""

from __future__ import annotations

import math
import numbers
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.special import logsumexp
from torch import nn

from .._validation import check_int, check_real, check_temperature
from ..stats import Interval
from .data import Alphabet
from .model import CharTransformer
from .students import CharGRU, generate_fast

__all__ = [
    "DEFAULT_PROMPT",
    "GaussianFit",
    "ToyFits",
    "draw_bits_per_char",
    "draw_generations",
    "draw_mass_covering",
    "generation_widget",
    "text_generator",
    "toy_divergences",
]

#: The prompt the widget starts with (the first sentence of *Pride and Prejudice*).
DEFAULT_PROMPT = "It is a truth universally acknowledged"

#: The toy's grid: 321 points on [-8, 8] (spacing 0.05), wide enough that a Gaussian of standard
#: deviation 2.3 loses < 0.1 % of its mass at the ends.
_GRID = np.linspace(-8.0, 8.0, 321)
#: The candidate means (spacing 0.05) and standard deviations (spacing 0.02) of the fitted Gaussian.
_MUS = np.linspace(-5.0, 5.0, 201)
_SIGMAS = np.linspace(0.1, 5.0, 246)
#: The widget's temperature slider: from, to, step.
_TEMPERATURES = (0.1, 2.0, 0.1)
#: Characters per line of the widget's text panels.
_WRAP = 80


# ---------------------------------------------------------------------------------------------------
# Forward against reverse KL on a toy target (shown in notebook 10)
# ---------------------------------------------------------------------------------------------------

def _log_gaussian(x, mu, sigma):
    """log q on the grid x (X,) of a Gaussian per mean in mu (M,), discretised and normalised on x."""
    z = -0.5 * ((x - mu[:, None]) / sigma) ** 2  # (M, X); near 0 at the grid point nearest mu: no underflow
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))  # (M, X): each row's exp sums to 1


def _fit_gaussian(x, log_p, mus, sigmas, forward):
    """Grid search over mus (M,) x sigmas for the Gaussian q minimising KL(p || q) (forward) or KL(q || p)."""
    best = (math.inf, 0.0, 0.0)  # (KL, mu, sigma)
    for sigma in sigmas:
        log_q = _log_gaussian(x, mus, sigma)  # (M, X)
        if forward:  # large where p has mass that q lacks: q must cover p
            kl = (np.exp(log_p) * (log_p - log_q)).sum(axis=1)  # (M,)
        else:  # large where q puts mass that p lacks: q must stay inside p
            kl = (np.exp(log_q) * (log_q - log_p)).sum(axis=1)  # (M,)
        i = int(kl.argmin())
        best = min(best, (float(kl[i]), float(mus[i]), float(sigma)))
    return best


# ---------------------------------------------------------------------------------------------------
# Validating wrappers and pictures
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GaussianFit:
    """One fitted Gaussian ``q``: its mean, its standard deviation, and the KL it reached (nats)."""

    mu: float
    sigma: float
    kl: float


@dataclass(frozen=True, eq=False)
class ToyFits:
    """The toy target on its grid and the two fits: ``forward`` minimises KL(p || q), ``reverse`` KL(q || p)."""

    x: np.ndarray  # (X,) the grid
    p: np.ndarray  # (X,) the target's probabilities on the grid (summing to 1)
    forward: GaussianFit
    reverse: GaussianFit
    weights: tuple[float, ...]
    means: tuple[float, ...]
    sd: float

    @property
    def mixture_mean(self) -> float:
        """The mixture's mean, ``sum_k w_k m_k``."""
        return float(np.dot(self.weights, self.means))

    @property
    def mixture_sd(self) -> float:
        """The mixture's standard deviation, ``sqrt(sd^2 + sum_k w_k m_k^2 - mean^2)``."""
        return math.sqrt(self.sd**2 + float(np.dot(self.weights, np.square(self.means))) - self.mixture_mean**2)


def _check_mixture(weights: object, means: object, sd: object) -> tuple[tuple[float, ...], tuple[float, ...], float]:
    """Weights > 0 summing to 1, as many means in [-5, 5], and one sd in [0.2, 3]."""
    for name, values in (("weights", weights), ("means", means)):
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise TypeError(f"{name}[{i}]={v!r} is not a finite real number")
    weights, means = tuple(float(w) for w in weights), tuple(float(m) for m in means)
    if not weights or len(weights) != len(means):
        raise ValueError(f"weights has {len(weights)} entries and means {len(means)}; give one weight per "
                         "mean, at least one")
    if min(weights) <= 0:
        raise ValueError(f"weights={list(weights)} holds {min(weights)}; every weight must be > 0")
    if abs(sum(weights) - 1.0) > 1e-6:
        raise ValueError(f"weights={list(weights)} sum to {sum(weights):.6g}; they must sum to 1")
    if min(means) < _MUS[0] or max(means) > _MUS[-1]:
        bad = min(means) if min(means) < _MUS[0] else max(means)
        raise ValueError(f"means holds {bad}, out of range; allowed: [{_MUS[0]:g}, {_MUS[-1]:g}] "
                         "(the fitted Gaussian's means)")
    sd = check_real("sd", sd)
    if not 0.2 <= sd <= 3.0:
        raise ValueError(f"sd={sd!r} is out of range; allowed: [0.2, 3] (the grid resolves it and holds the mixture)")
    return weights, means, sd


def toy_divergences(
    weights: Sequence[float] = (0.6, 0.4),
    means: Sequence[float] = (-2.0, 2.5),
    sd: float = 0.7,
) -> ToyFits:
    """Fit one Gaussian to a mixture of Gaussians by forward and by reverse KL (grid search).

    The target ``p`` is ``sum_k w_k N(m_k, sd^2)`` on 321 points of ``[-8, 8]``, normalised to sum
    to 1; each candidate ``q = N(mu, sigma^2)`` is discretised and normalised on the same grid, for
    ``mu`` in ``[-5, 5]`` (step 0.05) and ``sigma`` in ``[0.1, 5]`` (step 0.02). The forward fit
    minimises ``KL(p || q) = sum_x p log(p / q)``, the reverse fit ``KL(q || p)``. Within the grid's
    resolution, the forward fit is the moment match: ``mu`` is the mixture's mean and ``sigma`` its
    standard deviation (:attr:`ToyFits.mixture_mean`, :attr:`ToyFits.mixture_sd`).

    Args:
        weights: the components' weights, each > 0, summing to 1 (within 1e-6).
        means: the components' means, one per weight, each in ``[-5, 5]``.
        sd: the components' common standard deviation, in ``[0.2, 3]``.

    Returns:
        :class:`ToyFits`: the grid ``x``, the target ``p``, the ``forward`` and ``reverse``
        :class:`GaussianFit` (``mu``, ``sigma``, ``kl`` in nats).

    Raises:
        TypeError: a sequence that is not one of finite numbers. ValueError: weights not positive
            or not summing to 1, lengths that differ, a mean or ``sd`` out of range.

    Example::

        >>> fits = toy_divergences()
        >>> fits.forward.mu, fits.forward.sigma  # about the mixture's -0.2 and 2.31: both modes covered
        >>> fits.reverse.mu, fits.reverse.sigma  # about -2 and 0.7: the heavier mode alone
    """
    weights, means, sd = _check_mixture(weights, means, sd)
    x = _GRID
    log_components = [math.log(w) - 0.5 * ((x - m) / sd) ** 2 for w, m in zip(weights, means)]  # each (X,)
    log_p = logsumexp(np.stack(log_components), axis=0)  # (X,)
    log_p = log_p - logsumexp(log_p)  # normalised on the grid
    forward, reverse = (GaussianFit(mu, sigma, kl) for kl, mu, sigma in
                        (_fit_gaussian(x, log_p, _MUS, _SIGMAS, forward=direction) for direction in (True, False)))
    return ToyFits(x, np.exp(log_p), forward, reverse, weights, means, sd)


def draw_mass_covering(
    weights: Sequence[float] = (0.6, 0.4),
    means: Sequence[float] = (-2.0, 2.5),
    sd: float = 0.7,
    *,
    title: str | None = None,
):
    """The target mixture, its forward-KL fit (covering both modes) and its reverse-KL fit (one mode).

    Densities (probability per unit of ``x``) of :func:`toy_divergences`' target and fits, on one
    axes, each fit's ``mu``, ``sigma`` and KL in the legend.

    Args:
        weights, means, sd: the target mixture, as :func:`toy_divergences` (vary them in an exercise).
        title: the axes' title; ``None``: one saying which fit is which.

    Returns:
        The matplotlib ``Figure`` (closed). Its axes' three lines are, in order, ``p``, the forward
        fit and the reverse fit.

    Raises:
        TypeError, ValueError: as :func:`toy_divergences`; ``title`` neither a str nor ``None``.

    Example::

        >>> draw_mass_covering()                                  # 0.6 / 0.4
        >>> draw_mass_covering(weights=(0.5, 0.5), means=(-3, 3))  # which mode does reverse KL pick?
    """
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__}")
    fits = toy_divergences(weights, means, sd)
    x, dx = fits.x, fits.x[1] - fits.x[0]
    fig, ax = plt.subplots(figsize=(8.0, 4.4), layout="constrained")
    ax.fill_between(x, fits.p / dx, color="0.85")
    ax.plot(x, fits.p / dx, color="black", lw=2, label="target p (mixture of Gaussians)")
    for fit, colour, style, name in ((fits.forward, "C0", "-", "forward KL(p || q): mass-covering"),
                                     (fits.reverse, "C3", "--", "reverse KL(q || p): mode-seeking")):
        q = np.exp(-0.5 * ((x - fit.mu) / fit.sigma) ** 2)
        ax.plot(x, q / q.sum() / dx, color=colour, ls=style, lw=2,
                label=f"{name}, mu={fit.mu:.2f}, sigma={fit.sigma:.2f} (KL {fit.kl:.3f} nats)")
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title(title if title is not None else
                 "one Gaussian q fitted to p: forward KL spreads over both modes, reverse KL sits on one",
                 fontsize=10)
    fig.legend(loc="outside lower center", fontsize=8, frameon=False)
    plt.close(fig)
    return fig


def draw_bits_per_char(
    results: Mapping[str, Interval],
    teacher_bpc: float,
    title: str | None = "held-out bits per character (95 % interval over seeds)",
):
    """Each arm's held-out bits per character, a point and its 95 % interval, and the teacher's line.

    The arms are drawn top to bottom in the order of ``results``; lower is better.

    Args:
        results: arm name -> :class:`~distill_lib.stats.Interval` of its bits per character
            (``over_seeds``; anything with ``.mean``, ``.low``, ``.high``), ``0 < low <= mean <= high``.
        teacher_bpc: the teacher's bits per character on the same text (> 0), a dashed vertical line.
        title: the axes' title, or ``None``.

    Returns:
        The matplotlib ``Figure`` (closed); ``fig.axes[0]`` holds one error bar per arm.

    Raises:
        TypeError, ValueError: ``results`` not a non-empty mapping of names to intervals, an interval
            that is not finite or not ordered, ``teacher_bpc`` not a finite number > 0.

    Example::

        >>> fig = draw_bits_per_char({"gru text alone": over_seeds(a), "gru word-level KD": over_seeds(b)},
        ...                          teacher_bpc=meta["test_bits_per_char"])
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"results must be a mapping of arm name -> Interval, got {type(results).__name__}")
    if not results:
        raise ValueError("results is empty; give at least one arm")
    rows = []
    for name, iv in results.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"results' keys must be non-empty arm names (str), got {name!r}")
        if not all(hasattr(iv, a) for a in ("mean", "low", "high")):
            raise TypeError(f"results[{name!r}] must be an Interval (.mean, .low, .high), got {type(iv).__name__}")
        mean, low, high = (float(getattr(iv, a)) for a in ("mean", "low", "high"))
        if not all(map(math.isfinite, (mean, low, high))) or not 0 < low <= mean <= high:
            raise ValueError(f"results[{name!r}]: mean={mean}, low={low}, high={high}; "
                             "need finite 0 < low <= mean <= high (bits per character)")
        rows.append((name, mean, low, high))
    teacher_bpc = check_real("teacher_bpc", teacher_bpc)
    if not 0 < teacher_bpc < math.inf:
        raise ValueError(f"teacher_bpc={teacher_bpc!r} must be a finite number of bits per character > 0")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__}")
    fig, ax = plt.subplots(figsize=(7.5, 1.5 + 0.45 * len(rows)), layout="constrained")
    for k, (name, mean, low, high) in enumerate(rows):
        ax.errorbar([mean], [k], xerr=[[mean - low], [high - mean]], fmt="o", color=f"C{k % 10}", capsize=4, ms=7)
        ax.annotate(f"{mean:.3f}", (high, k), xytext=(6, 0), textcoords="offset points", va="center", fontsize=8)
    ax.axvline(teacher_bpc, color="0.3", ls="--", lw=1, label=f"teacher: {teacher_bpc:.3f}")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)  # the first arm at the top
    ax.set_xlabel("bits per character (lower is better)")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside lower center", fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    plt.close(fig)
    return fig


# ---------------------------------------------------------------------------------------------------
# The widget: continuations side by side
# ---------------------------------------------------------------------------------------------------

def text_generator(model: nn.Module, alphabet: Alphabet, seed: int = 0) -> Callable[[str, float, int], str]:
    """A function ``(prompt, temperature, length) -> continuation`` for :func:`generation_widget`.

    Each call encodes the prompt with ``alphabet.encode``, samples ``length`` characters with
    :func:`~distill_lib.lm.students.generate_fast` and a fresh ``torch.Generator().manual_seed(seed)``
    (so the same prompt and temperature always give the same text), and decodes them.

    Args:
        model: a :class:`~distill_lib.lm.students.CharGRU` or
            :class:`~distill_lib.lm.model.CharTransformer` with ``len(alphabet)`` characters.
        alphabet: the :class:`~distill_lib.lm.data.Alphabet` the model was trained on.
        seed: the sampling seed, >= 0.

    Returns:
        The function. It raises ``TypeError`` for a prompt that is not a str and ``ValueError`` for
        an empty prompt, a character outside the alphabet (named), ``temperature <= 0`` or
        ``length < 1``.

    Raises:
        TypeError: ``model`` not a ``CharGRU``/``CharTransformer``, ``alphabet`` not an ``Alphabet``,
            ``seed`` not an integer. ValueError: ``seed < 0``, or the model's ``vocab_size`` is not
            ``len(alphabet)``.

    Example::

        >>> write = text_generator(teacher, Alphabet())
        >>> write("It is a truth", 0.8, 60)  # 60 characters
    """
    if not isinstance(model, (CharGRU, CharTransformer)):
        raise TypeError(f"model must be a CharGRU or a CharTransformer, got {type(model).__name__}")
    if not isinstance(alphabet, Alphabet):
        raise TypeError(f"alphabet must be an Alphabet, got {type(alphabet).__name__}")
    if model.vocab_size != len(alphabet):
        raise ValueError(f"the model has vocab_size={model.vocab_size} but the alphabet {len(alphabet)} characters")
    seed = check_int("seed", seed, low=0)

    def generate_text(prompt: str, temperature: float, length: int) -> str:
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
        if not prompt:
            raise ValueError("prompt='' is empty; type at least one character to continue")
        ids = alphabet.encode(prompt)  # (T,); ValueError naming a character outside the alphabet
        out = generate_fast(model, ids, length, temperature, generator=torch.Generator().manual_seed(seed))
        return alphabet.decode(out)  # (length,) ids -> str

    return generate_text


def _check_generators(generators: object) -> dict[str, Callable]:
    if not isinstance(generators, Mapping):
        raise TypeError(f"generators must be a mapping of model name -> callable, got {type(generators).__name__}")
    if not generators:
        raise ValueError("generators is empty; give at least one model, e.g. {'teacher': text_generator(teacher, ...)}")
    for name, generate in generators.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"generators' keys must be non-empty model names (str), got {name!r}")
        if not callable(generate):
            raise TypeError(f"generators[{name!r}] must be callable (prompt, temperature, length) -> str, "
                            f"got {type(generate).__name__}")
    return dict(generators)


def _wrap(text: str) -> str:
    """``text`` wrapped at :data:`_WRAP` characters, its own line breaks kept."""
    return "\n".join(textwrap.fill(line, _WRAP) or " " for line in text.split("\n"))


def draw_generations(
    generators: Mapping[str, Callable[[str, float, int], str]],
    prompt: str,
    temperature: float,
    length: int,
    *,
    show_errors: bool = False,
):
    """Each model's continuation of one prompt, one monospaced text panel per model.

    Args:
        generators: model name -> ``f(prompt, temperature, length) -> str`` (:func:`text_generator`).
        prompt: the text to continue.
        temperature: the sampling temperature (> 0).
        length: characters to generate per model (>= 1).
        show_errors: ``False``: a generator's ``ValueError`` (an empty prompt, a character outside
            the alphabet) propagates; ``True``: its message is drawn in that model's panel instead
            (what the live widget does, so a bad prompt never breaks it).

    Returns:
        The matplotlib ``Figure`` (closed): the prompt and temperature as the title, then each
        model's name and text (wrapped at 80 characters) in the order of ``generators``.

    Raises:
        TypeError, ValueError: bad ``generators``, ``temperature`` or ``length``; a generator that
            returns anything but a str; a generator's ``ValueError`` unless ``show_errors``.

    Example::

        >>> fig = draw_generations({"teacher": text_generator(teacher, Alphabet())}, "Emma was", 0.8, 200)
    """
    generators = _check_generators(generators)
    temperature = check_temperature(temperature)
    length = check_int("length", length, low=1)
    panels = []
    for name, generate in generators.items():
        try:
            text = generate(prompt, temperature, length)
        except ValueError as error:
            if not show_errors:
                raise
            panels.append((name, _wrap(f"cannot generate: {error}"), "C3"))
            continue
        if not isinstance(text, str):
            raise TypeError(f"generators[{name!r}] returned {type(text).__name__}, not a str")
        panels.append((name, _wrap(text), "black"))
    heights = [0.17 * (text.count("\n") + 1) + 0.3 for _, text, _ in panels]  # inches: the lines and a heading
    fig, axes = plt.subplots(len(panels), 1, figsize=(9.0, 0.5 + sum(heights)), height_ratios=heights,
                             squeeze=False, layout="constrained")
    shown = textwrap.shorten(prompt, 70, placeholder=" ...") if isinstance(prompt, str) else repr(prompt)
    fig.suptitle(f"\u201c{shown}\u201d \u2026 at temperature {temperature:g}, {length} characters", fontsize=10,
                 parse_math=False)
    for ax, (name, text, colour) in zip(axes[:, 0], panels):
        ax.set_axis_off()
        ax.set_title(name, loc="left", fontsize=10, fontweight="bold", parse_math=False)
        ax.text(0.0, 1.0, text, va="top", ha="left", family="monospace", fontsize=10, color=colour,
                transform=ax.transAxes, parse_math=False)
    plt.close(fig)
    return fig


def generation_widget(
    generators: Mapping[str, Callable[[str, float, int], str]],
    prompt: str = DEFAULT_PROMPT,
    temperature: float = 0.8,
    length: int = 200,
    *,
    dpi: int = 72,
):
    """A prompt box and a temperature slider above each model's continuation, redrawn on a change.

    The box (``ipywidgets.Text``, "prompt") and the slider (``FloatSlider``, "temperature", 0.1 to
    2.0 by 0.1) both have ``continuous_update=False``: the models run when Enter is pressed or the
    slider is let go. Built with :func:`distill_lib.widgets.live_figure`, so it draws
    :func:`draw_generations` once when built (headless runs render it) and exports as a static PNG
    of that view. The first ``prompt`` and ``temperature`` are checked when it is built (a bad one
    raises); later, a prompt the models cannot read (empty, a character outside the alphabet) is
    shown as its error message in the picture, and the widget keeps working.

    Args:
        generators: model name -> ``f(prompt, temperature, length) -> str`` (:func:`text_generator`).
        prompt: the prompt shown first, non-empty.
        temperature: the first temperature, in ``[0.1, 2.0]`` (the slider's range).
        length: characters each model generates, >= 1.
        dpi: the picture's resolution (>= 1).

    Returns:
        The widget (an ``ipywidgets.VBox``) to ``display``.

    Raises:
        TypeError, ValueError: bad ``generators``, ``length`` or ``dpi``; an empty ``prompt`` or one
            that is not a str; ``temperature`` outside ``[0.1, 2.0]``; or what a generator raises
            for the first prompt (nothing is built then).

    Example::

        >>> alphabet = Alphabet()
        >>> display(generation_widget({"teacher": text_generator(teacher, alphabet),
        ...                            "gru reverse KL": text_generator(gru, alphabet)}))
    """
    import ipywidgets as widgets

    from ..widgets import live_figure

    generators = _check_generators(generators)
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
    if not prompt:
        raise ValueError("prompt='' is empty; give at least one character to continue")
    temperature = check_temperature(temperature)
    low, high, step = _TEMPERATURES
    if not low <= temperature <= high:
        raise ValueError(f"temperature={temperature!r} is out of the slider's range; allowed: [{low}, {high}]")
    length = check_int("length", length, low=1)
    box = widgets.Text(value=prompt, description="prompt", placeholder="type a prompt, then Enter",
                       continuous_update=False, layout=widgets.Layout(width="560px"))
    slider = widgets.FloatSlider(value=temperature, min=low, max=high, step=step, description="temperature",
                                 continuous_update=False, readout_format=".1f")
    drawn = []  # the first drawing (at build) raises; later ones draw a bad prompt's error

    def draw(prompt: str, temperature: float):
        fig = draw_generations(generators, prompt, temperature, length, show_errors=bool(drawn))
        drawn.append(True)
        return fig

    return live_figure(draw, {"prompt": box, "temperature": slider}, dpi=dpi)
