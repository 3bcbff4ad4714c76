r"""Softmax with temperature (notebook 02): entropy, dark knowledge, the high-temperature limit.

Dividing the logits by a temperature ``T`` before the softmax,
``p^T = softmax(v / T)``, flattens the distribution as ``T`` grows (its
entropy rises from 0 towards ``log C``) and brings out the small probabilities
the teacher puts on wrong classes. The functions here are the numbers behind
notebook 02's plots and its widget; the softmax itself is
:func:`distill_lib.losses.softmax_with_temperature`.

Notebook 02 shows the code it teaches, naive first: :func:`naive_softmax` and
:func:`naive_entropy` as the formulas read (they return ``nan`` where a
probability overflows or underflows), then :func:`entropy_of_logits`, the
robust core of :func:`softmax_entropy`, computed from ``log_softmax``.

The high-temperature limit (Hinton, Vinyals & Dean 2015, section 2.1). With
``q = softmax(z / T)`` and ``p = softmax(v / T)`` the gradient of one example's
``T**2 * KL(p || q)`` with respect to the student's logits ``z`` is
``T * (q - p)``. As ``T`` grows, expanding the exponentials to first order,

.. math::

    T\,(q_c - p_c) \;\longrightarrow\; \frac{1}{C}\big((z_c - \bar z) - (v_c - \bar v)\big),

which for zero-meaned logits is Hinton et al.'s ``(z_c - v_c) / C``: the
gradient of logit matching. :func:`distill_lib.losses.kd_kl_loss` averages over
a batch of ``B`` examples (``batchmean``), so its gradient with respect to row
``n`` is this divided by ``B``; :func:`kd_gradient` multiplies it back by ``B``.
"""

from __future__ import annotations

import io
import math
from typing import NamedTuple

import torch
from torch import Tensor

from ._validation import check_int, check_logits, check_same_shape, check_targets, check_temperature
from .logit_matching import center_logits
from .losses import kd_kl_loss

__all__ = [
    "SLIDER_TEMPERATURES",
    "TemperatureView",
    "TemperatureFigure",
    "naive_softmax",
    "naive_entropy",
    "entropy_of_logits",
    "temperature_slider",
    "entropy",
    "softmax_entropy",
    "mean_soft_targets",
    "top_wrong_classes",
    "kd_gradient",
    "logit_matching_limit",
    "high_temperature_gap",
    "temperature_view",
    "check_parameters",
]

_UNITS = {"nats": 1.0, "bits": 1.0 / math.log(2.0)}

#: The temperature slider's stops: round numbers from 0.1 to 100 (so 4.0 is 4.0, not 3.98).
SLIDER_TEMPERATURES: tuple[float, ...] = (
    0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0, 70.0, 100.0,
)


def naive_softmax(logits, temperature):
    """softmax(logits / T) exactly as the formula reads. Overflows and underflows: do not use."""
    e = torch.exp(logits / temperature)  # (N, C): inf above 88.7, 0 below -103.9 (float32)
    return e / e.sum(dim=-1, keepdim=True)  # inf / inf = nan, 0 / 0 = nan


def naive_entropy(probabilities):
    """-sum_c p_c log p_c as the formula reads: a p_c that underflowed to 0 gives 0 * -inf = nan."""
    return -(probabilities * torch.log(probabilities)).sum(dim=-1)  # (N,) in nats


def entropy_of_logits(logits, temperature):
    """Entropy (nats) of softmax(logits / T) from log_softmax: finite where probabilities underflow."""
    log_p = torch.log_softmax(logits / temperature, dim=-1)  # (N, C), finite: log-sum-exp
    return -(log_p.exp() * log_p).sum(dim=-1)  # (N,); an underflowed p = 0 adds 0 * finite = 0


def _unit_factor(unit: object) -> float:
    if unit not in _UNITS:
        raise ValueError(f"unit={unit!r} must be 'nats' (natural log) or 'bits' (log base 2)")
    return _UNITS[unit]  # type: ignore[index]


def entropy(probabilities: Tensor, *, unit: str = "nats") -> Tensor:
    r"""Shannon entropy :math:`H(p) = -\sum_c p_c \log p_c` of each distribution along the last dim.

    Terms with :math:`p_c = 0` count as 0 (``torch.special.xlogy``), the
    limit of :math:`p \log p`.

    Args:
        probabilities: probabilities (not logits): non-negative, each row
            summing to 1 (within 1e-4 in float32 or lower precision, 1e-9 in float64).
        unit: ``"nats"`` (natural log) or ``"bits"`` (log base 2).

    Shape:
        ``(*, C)`` in, ``(*)`` out.

    Returns:
        Entropies in ``[0, log C]``, in the dtype of ``probabilities``.

    Raises:
        TypeError: not a floating-point tensor.
        ValueError: empty, NaN or infinite, a negative entry, a row not summing
            to 1, or an unknown ``unit``.

    Example::

        >>> entropy(torch.tensor([0.5, 0.5]), unit="bits")
        tensor(1.)
    """
    factor = _unit_factor(unit)
    check_logits("probabilities", probabilities, ndim=None)
    if probabilities.ndim == 0:
        raise ValueError("probabilities must have at least one dimension (the classes), got a 0-d tensor")
    low = probabilities.min().item()
    if low < 0:
        raise ValueError(f"probabilities contain {low:.6g} < 0; probabilities must be in [0, 1]")
    tolerance = 1e-9 if probabilities.dtype == torch.float64 else 1e-4
    worst = (probabilities.sum(dim=-1) - 1).abs().max().item()
    if worst > tolerance:
        raise ValueError(
            f"probabilities must sum to 1 along the last dim; a row is off by {worst:.3g} "
            f"(allowed: {tolerance:g}). Did you pass logits? Use softmax_entropy for those."
        )
    return -torch.special.xlogy(probabilities, probabilities).sum(dim=-1) * factor  # (*)


def softmax_entropy(logits: Tensor, temperature: float, *, unit: str = "nats") -> Tensor:
    r"""Entropy of ``softmax(logits / temperature)``, computed stably from ``log_softmax``.

    :math:`H = -\sum_c p_c \log p_c` with :math:`\log p = \mathrm{log\_softmax}(\text{logits}/T)`,
    which stays finite for tiny temperatures and huge logits (an underflowed
    :math:`p_c = 0` contributes :math:`0 \cdot \text{finite} = 0`). It never decreases as ``T`` grows,
    from 0 (``T -> 0``, a unique largest logit) to ``log C`` (``T -> inf``).

    Args:
        logits: unnormalised scores (not probabilities), floating point.
        temperature: a finite number > 0.
        unit: ``"nats"`` or ``"bits"``.

    Shape:
        ``(*, C)`` in, ``(*)`` out.

    Raises:
        TypeError, ValueError: bad logits or temperature, an unknown ``unit``.

    Example::

        >>> softmax_entropy(torch.tensor([[0.0, 0.0, 0.0, 0.0]]), temperature=1.0, unit="bits")
        tensor([2.])
    """
    factor = _unit_factor(unit)
    t = check_temperature(temperature)
    check_logits("logits", logits, ndim=None)
    if logits.ndim == 0:
        raise ValueError("logits must have at least one dimension (the classes), got a 0-d tensor")
    return entropy_of_logits(logits, t) * factor  # (*)


def mean_soft_targets(teacher_logits: Tensor, targets: Tensor, temperature: float) -> Tensor:
    r"""The teacher's mean soft targets per true class: a ``(C, C)`` matrix.

    Row ``i`` is the average of ``softmax(teacher_logits[n] / T)`` over the
    examples ``n`` whose label is ``i``:
    :math:`M_{ic} = \frac{1}{|\{n : y_n = i\}|}\sum_{n: y_n = i} p^T_{nc}`.
    Its off-diagonal entries show where the teacher puts its wrong-class mass.

    Args:
        teacher_logits: the teacher's logits (not probabilities).
        targets: the true class indices.
        temperature: a finite number > 0.

    Shape:
        teacher_logits ``(N, C)``, targets ``(N,)``; output ``(C, C)``, rows sum to 1.

    Raises:
        TypeError, ValueError: bad logits, targets or temperature; a class with no example.

    Example::

        >>> mean_soft_targets(torch.tensor([[0.0, 0.0], [0.0, 0.0]]), torch.tensor([0, 1]), 1.0)
        tensor([[0.5000, 0.5000],
                [0.5000, 0.5000]])
    """
    t = check_temperature(temperature)
    check_logits("teacher_logits", teacher_logits)
    n, c = teacher_logits.shape
    check_targets(targets, n, c)
    counts = torch.bincount(targets.long(), minlength=c)  # (C,)
    missing = torch.nonzero(counts == 0).flatten().tolist()
    if missing:
        raise ValueError(f"targets hold no example of class(es) {missing}; every class in [0, {c - 1}] needs one")
    probs = torch.softmax(teacher_logits / t, dim=1)  # (N, C)
    sums = torch.zeros(c, c, dtype=probs.dtype).index_add_(0, targets.long(), probs)  # (C, C)
    return sums / counts.unsqueeze(1).to(probs.dtype)


def top_wrong_classes(mean_targets: Tensor, k: int = 5) -> list[tuple[int, int, float]]:
    """The ``k`` largest off-diagonal entries of a ``(C, C)`` matrix such as :func:`mean_soft_targets`.

    Args:
        mean_targets: row ``i`` a distribution over classes for true class ``i``.
        k: how many pairs, ``1 <= k <= C * (C - 1)``.

    Returns:
        ``[(true_class, wrong_class, mass), ...]``, largest mass first (ties:
        the lower flat index first).

    Raises:
        TypeError, ValueError: not a square floating-point matrix, NaN, ``k`` out of range.

    Example::

        >>> top_wrong_classes(torch.tensor([[0.9, 0.1], [0.3, 0.7]]), k=1)
        [(1, 0, 0.3...)]
    """
    check_logits("mean_targets", mean_targets)
    c = mean_targets.shape[0]
    if mean_targets.shape != (c, c) or c < 2:
        raise ValueError(f"mean_targets must be a square (C, C) matrix with C >= 2, got {tuple(mean_targets.shape)}")
    k = check_int("k", k, low=1, high=c * (c - 1))
    off = mean_targets.detach().to(torch.float64).clone()
    off.fill_diagonal_(-math.inf)
    # A stable sort keeps ties in flat-index order, so the result does not depend on the platform.
    values, flat = torch.sort(off.flatten(), descending=True, stable=True)
    return [(int(i) // c, int(i) % c, float(m)) for m, i in zip(values[:k], flat[:k])]


def kd_gradient(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    r"""Per-example gradient of the distillation loss, :math:`\partial\,T^2\mathrm{KL}(p^T_n\|q^T_n) / \partial z_n`.

    Computed by autograd through :func:`distill_lib.losses.kd_kl_loss` (in
    float64) and multiplied by the batch size ``B``, because ``kd_kl_loss``
    averages over the batch (``batchmean``): its gradient with respect to row
    ``n`` is ``T * (q_n - p_n) / B``. The result is ``T * (q - p)``.

    Args:
        student_logits: the student's logits ``z`` (not probabilities).
        teacher_logits: the teacher's logits ``v``.
        temperature: a finite number > 0.

    Shape:
        both ``(B, C)``, exactly equal; output ``(B, C)`` float64, each row sums to 0.

    Raises:
        TypeError, ValueError: see :func:`distill_lib.losses.kd_kl_loss`.

    Example::

        >>> kd_gradient(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]]), temperature=1.0)
        tensor([[ 0.2311, -0.2311]], dtype=torch.float64)
    """
    t = check_temperature(temperature)
    check_logits("student_logits", student_logits)
    check_logits("teacher_logits", teacher_logits)
    check_same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)
    z = student_logits.detach().to(torch.float64).requires_grad_(True)  # (B, C)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(kd_kl_loss(z, teacher_logits.detach().to(torch.float64), t), z)
    return grad * len(z)  # undo batchmean: (B, C)


def logit_matching_limit(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    r"""The high-temperature limit of :func:`kd_gradient`: :math:`((z - \bar z) - (v - \bar v)) / C`.

    For zero-meaned logits this is :math:`(z - v) / C`, the gradient of
    :math:`\frac{1}{2C}\sum_c (z_c - v_c)^2` (Hinton et al. 2015, eq. 4), i.e. of logit
    matching.

    Args:
        student_logits: the student's logits ``z``.
        teacher_logits: the teacher's logits ``v``.

    Shape:
        both ``(B, C)``, exactly equal; output ``(B, C)`` float64.

    Example::

        >>> logit_matching_limit(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]]))
        tensor([[ 0.2500, -0.2500]], dtype=torch.float64)
    """
    check_logits("student_logits", student_logits)
    check_logits("teacher_logits", teacher_logits)
    check_same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)
    z = center_logits(student_logits.detach().to(torch.float64))  # (B, C)
    v = center_logits(teacher_logits.detach().to(torch.float64))  # (B, C)
    return (z - v) / z.shape[1]


def high_temperature_gap(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> float:
    r"""Relative distance between the distillation gradient and its logit-matching limit.

    .. math::

        \frac{\|\,T(q - p) - ((z-\bar z) - (v - \bar v))/C\,\|_F}{\|\,((z-\bar z) - (v - \bar v))/C\,\|_F}

    over the whole batch (:func:`kd_gradient` against :func:`logit_matching_limit`).
    It falls like ``1/T`` once ``T`` is large compared with the logits' spread.

    Args:
        student_logits: the student's logits ``z``.
        teacher_logits: the teacher's logits ``v``.
        temperature: a finite number > 0.

    Shape:
        both ``(B, C)``, exactly equal.

    Returns:
        A float >= 0.

    Raises:
        TypeError, ValueError: bad input as in :func:`kd_gradient`; or the two
            sets of logits equal up to a per-row shift, where the limit is 0
            and the relative gap undefined.

    Example::

        >>> z, v = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]])
        >>> high_temperature_gap(z, v, temperature=100.0)
        8.33...e-06
    """
    exact = kd_gradient(student_logits, teacher_logits, temperature)  # (B, C)
    limit = logit_matching_limit(student_logits, teacher_logits)  # (B, C)
    norm = limit.norm().item()
    # Relative to the logits' own size: z and v + a shift differ by rounding error only.
    z = center_logits(student_logits.detach().to(torch.float64))  # (B, C)
    v = center_logits(teacher_logits.detach().to(torch.float64))  # (B, C)
    size = (z.norm() + v.norm()).item()
    # Rounding in the caller's dtype (float32 logits carry ~1e-7 relative error) sets the floor.
    eps = torch.finfo(student_logits.dtype).eps
    if norm <= 64 * eps * size / limit.shape[1]:
        raise ValueError(
            "student_logits equal teacher_logits up to a per-row shift: the limit gradient is 0 "
            "and the relative gap is undefined"
        )
    return (exact - limit).norm().item() / norm


class TemperatureView(NamedTuple):
    """What notebook 02's widget draws for one example at one temperature."""

    probabilities: list[float]  #: ``softmax(v / T)``, one per class
    entropy_bits: float  #: its entropy in bits
    max_entropy_bits: float  #: ``log2 C``, the entropy of the uniform distribution
    predicted: int  #: the most probable class (the same at every T)


def temperature_view(teacher_logits: Tensor, index: int, temperature: float) -> TemperatureView:
    """The teacher's distribution for example ``index`` at ``temperature``, for a plot or widget.

    Args:
        teacher_logits: the teacher's logits (not probabilities) for a set of examples.
        index: which example, ``0 <= index < N``.
        temperature: a finite number > 0.

    Shape:
        teacher_logits ``(N, C)``.

    Returns:
        A :class:`TemperatureView` of plain Python numbers.

    Raises:
        TypeError, ValueError: bad logits or temperature, ``index`` out of range.

    Example::

        >>> view = temperature_view(torch.tensor([[2.0, 0.0]]), 0, temperature=1.0)
        >>> view.probabilities, view.predicted
        ([0.8807..., 0.1192...], 0)
    """
    t = check_temperature(temperature)
    check_logits("teacher_logits", teacher_logits)
    n, c = teacher_logits.shape
    index = check_int("index", index, low=0, high=n - 1)
    row = teacher_logits[index].detach().to(torch.float64)  # (C,)
    log_p = torch.log_softmax(row / t, dim=0)  # (C,)
    p = log_p.exp()
    h_bits = float(-(p * log_p).sum()) / math.log(2.0)
    return TemperatureView(p.tolist(), h_bits, math.log2(c), int(row.argmax()))


def check_parameters(
    *, seed: int, sample_index: int, temperature: float, n_temperatures: int, student_epochs: int, num_images: int
) -> None:
    """Check notebook 02's parameters at the top, so a bad value fails here and not at the widget at the end.

    Args:
        seed: the student's seed, in ``[0, 2**32 - 1]``.
        sample_index: a validation image, in ``[0, num_images - 1]``.
        temperature: the heat map's and the widget's first temperature: one of :data:`SLIDER_TEMPERATURES`.
        n_temperatures: points on the curves, at least 2.
        student_epochs: at least 1.
        num_images: the number of validation images.

    Raises:
        TypeError, ValueError: a parameter of the wrong type or out of range; the message names it.

    Example::

        >>> check_parameters(seed=0, sample_index=0, temperature=4.0, n_temperatures=41,
        ...                  student_epochs=300, num_images=359)
    """
    check_int("seed", seed, low=0, high=2**32 - 1)
    check_int("sample_index", sample_index, low=0, high=check_int("num_images", num_images, low=1) - 1)
    t = check_temperature(temperature)
    if t not in SLIDER_TEMPERATURES:
        raise ValueError(f"temperature={t:g} is not one of the slider's stops {SLIDER_TEMPERATURES}: "
                         "the widget at the end starts from it")
    check_int("n_temperatures", n_temperatures, low=2)
    check_int("student_epochs", student_epochs, low=1)


def temperature_slider(value: float = 4.0):
    """The temperature control of notebook 02: a slider over :data:`SLIDER_TEMPERATURES`.

    A ``SelectionSlider`` over round numbers, so that the value you choose is
    exactly the value used (a log slider with step 0.01 turns 4.0 into 3.98).

    Args:
        value: the starting temperature; one of :data:`SLIDER_TEMPERATURES`.

    Returns:
        An ``ipywidgets.SelectionSlider`` whose ``.value`` is a float.

    Raises:
        TypeError, ValueError: ``value`` not a number, or not one of the stops.

    Example::

        >>> temperature_slider(4.0).value
        4.0
    """
    import ipywidgets as widgets

    t = check_temperature(value)
    if t not in SLIDER_TEMPERATURES:
        raise ValueError(f"temperature={t:g} is not one of the slider's stops {SLIDER_TEMPERATURES}")
    return widgets.SelectionSlider(
        options=[(f"{x:g}", x) for x in SLIDER_TEMPERATURES], value=t, description="temperature",
        continuous_update=True, style={"description_width": "initial"},
    )


class TemperatureFigure:
    """Notebook 02's slider picture: one test image and the teacher's ``softmax(v / T)`` as bars.

    ``draw(index, temperature)`` returns the picture as PNG bytes (what
    :func:`~distill_lib.widgets.live_figure` shows). The axes, ticks and labels
    are drawn once; each call redraws only the image, the bars and the title
    over a saved copy of the rest ("blitting"), several times faster than a
    full redraw. ``tools/bench_nb02.py`` times this very method.

    Args:
        images: the images as rows, ``(N, 64)`` in ``[0, 1]``.
        targets: their labels, ``(N,)``.
        teacher_logits: the teacher's logits on them, ``(N, C)``.
        dpi: resolution of the picture.

    Example::

        >>> picture = TemperatureFigure(split.X_test, split.y_test, test_teacher_logits)
        >>> png = picture.draw(index=0, temperature=4.0)
    """

    def __init__(self, images: Tensor, targets: Tensor, teacher_logits: Tensor, *, dpi: int = 72) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        check_logits("teacher_logits", teacher_logits)
        n, c = teacher_logits.shape
        check_targets(targets, n, c)
        if not isinstance(images, Tensor) or images.shape != (n, 64):
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(f"images must be ({n}, 64), one 8x8 image per row of teacher_logits, got {shape}")
        dpi = check_int("dpi", dpi, low=1)
        self.images, self.targets, self.teacher_logits = images, targets, teacher_logits
        self.last_view: TemperatureView | None = None
        self.figure = Figure(figsize=(7.5, 2.8), dpi=dpi)  # not pyplot: never shown twice
        self.canvas = FigureCanvasAgg(self.figure)
        ax_image, self.ax_bars = self.figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 4]})
        self.figure.subplots_adjust(left=0.02, right=0.97, bottom=0.2, top=0.88, wspace=0.3)
        ax_image.axis("off")
        self.ax_bars.set_ylim(0, 1)
        self.ax_bars.set_xticks(range(c))
        self.ax_bars.set_xlabel("class")
        self.ax_bars.set_ylabel("probability")
        # What changes is "animated": left out of the full draw and redrawn alone on each call.
        self.digit = ax_image.imshow(images[0].reshape(8, 8).numpy(), cmap="gray_r", vmin=0, vmax=1, animated=True)
        self.bars = self.ax_bars.bar(range(c), [0.0] * c, animated=True)
        self.title = self.ax_bars.set_title("", animated=True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)  # axes, ticks, labels: drawn once

    def draw(self, index: int, temperature: float) -> bytes:
        """The picture for test image ``index`` at ``temperature``, as PNG bytes (see :func:`temperature_view`)."""
        import PIL.Image

        view = temperature_view(self.teacher_logits, index, temperature)  # checks index and temperature
        label = int(self.targets[index])
        self.digit.set_data(self.images[index].reshape(8, 8).numpy())
        for k, (bar, p) in enumerate(zip(self.bars, view.probabilities)):
            bar.set_height(p)
            bar.set_color("C3" if k == label else "C0")
        self.title.set_text(f"a {label} (red), T = {temperature:g}: "
                            f"entropy {view.entropy_bits:.2f} of {view.max_entropy_bits:.2f} bits")
        self.canvas.restore_region(self.background)
        for artist in (self.digit, *self.bars, self.title):
            artist.axes.draw_artist(artist)
        width, height = self.canvas.get_width_height()
        image = PIL.Image.frombuffer("RGBA", (width, height), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        buffer = io.BytesIO()
        image.save(buffer, format="png", compress_level=1)
        self.last_view = view
        return buffer.getvalue()
