r"""Weight sharing: linear codes and k-means codebooks, with a fine-tuned codebook (notebook 06).

Deep Compression (Han, Mao & Dally, ICLR 2016, section 3) stores each layer's kept weights
as ``bits``-bit **codes** into a small **codebook** of ``K <= 2**bits`` shared float32 values:
a weight is ``codebook[code]``. Pruned weights (exact zeros) are not clustered; a boolean
**mask** records which weights are kept. :class:`SharedWeights` holds one ``nn.Linear``
layer in that form.

Two ways to choose the codebook of a layer:

* :func:`linear_codebook`: the symmetric uniform grid of notebook 04
  (``scale = max|w| / quant_max``), seen as a codebook of ``2**bits - 1`` evenly spaced
  levels; ``codebook[codes]`` is bit for bit :func:`~distill_lib.quantization.fake_quantize`.
* :func:`kmeans_codebook`: 1-D k-means (Lloyd's algorithm) of the kept weights into
  ``2**bits`` centroids, which puts the levels where the weights are. The paper compares
  three initialisations (section 3.1, Figure 4): Forgy (``init="random"``, k weights drawn
  at random), density-based (``"density"``, evenly spaced in the weights' CDF) and linear
  (``"linear"``, evenly spaced between the smallest and the largest weight). Linear works
  best: it keeps centroids on the few large weights, which matter most but are too rare for
  the other two to reach.

Then the codebook is **fine-tuned** (section 3.2): the codes and the mask stay fixed, and the
gradient of centroid ``k`` is the sum of the gradients of the weights that share it (eq. 3):

.. math:: \frac{\partial \mathcal{L}}{\partial C_k}
          = \sum_{i,j} \frac{\partial \mathcal{L}}{\partial W_{ij}}\, \mathbb{1}(I_{ij} = k)

:func:`centroid_gradients` computes exactly that with ``scatter_add``;
:func:`finetune_codebook` gets it from autograd by writing the weight as
``where(mask, codebook[codes], 0)``, and trains the biases (kept in float32) with it.

The shown cores (notebook 06), in teaching order: :func:`_assign`, :func:`_lloyd`
(k-means), :func:`_linear_codes` (the uniform grid as a codebook), :func:`_centroid_gradients`
(eq. 3), :func:`_shared_forward` and :func:`_finetune_codebook` (fine-tuning). The public
functions validate their inputs first, then call them.

Reference: S. Han, H. Mao, W. J. Dally, *Deep Compression: Compressing Deep Neural Networks
with Pruning, Trained Quantization and Huffman Coding*, ICLR 2016.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_eval_set, check_finite_tensor, check_int, check_logits, check_module, check_real
from ..losses import make_loss
from ..pruning import copy_model, make_permanent
from ..pruning.masks import current_mask
from ..quantization import QParams, choose_qparams, quantize

__all__ = [
    "MAX_SHARED_BITS",
    "INITS",
    "METHODS",
    "SharedWeights",
    "kmeans_codebook",
    "linear_codebook",
    "share_weights",
    "apply_shared",
    "centroid_gradients",
    "finetune_codebook",
    "check_mlp",
    "check_training_set",
]

#: Widest code: 8 bits, 256 centroids (the paper uses 8 bits for conv and 5 for fc layers).
MAX_SHARED_BITS = 8
#: Initialisations of :func:`kmeans_codebook` (Han et al. 2016, section 3.1).
INITS = ("linear", "density", "random")
#: How :func:`share_weights` builds a codebook.
METHODS = ("kmeans", "linear")


# ----------------------------------------------------------------------------------- the data type


@dataclass(frozen=True)
class SharedWeights:
    """One Linear layer's weights as codes into a codebook (Han et al. 2016, section 3).

    Attributes:
        codebook: ``(K,)`` float32 centroids, finite, ``1 <= K <= 2**bits``.
        codes: ``(out, in)`` int64 in ``[0, K)``; meaningless where ``mask`` is False, and
            stored as 0 there.
        mask: ``(out, in)`` bool, True = weight kept (not pruned).
        bits: bits per code, 1..8.

    Raises:
        TypeError, ValueError: a field of the wrong type, dtype or shape, ``K > 2**bits``,
            a code outside ``[0, K)``, or a non-zero code where ``mask`` is False.

    Example::

        >>> s = SharedWeights(torch.tensor([-1.0, 2.0]), torch.tensor([[0, 1], [0, 0]]),
        ...                   torch.tensor([[True, True], [False, True]]), bits=1)
        >>> s.weight()
        tensor([[-1.,  2.],
                [ 0., -1.]])
    """

    codebook: Tensor  # (K,) float32, K <= 2**bits centroids
    codes: Tensor  # (out, in) int64 in [0, K); meaningless where mask is False (store 0 there)
    mask: Tensor  # (out, in) bool, True = weight kept (not pruned)
    bits: int  # bits per code, 1..8

    def __post_init__(self) -> None:
        bits = check_int("bits", self.bits, low=1, high=MAX_SHARED_BITS)
        check_finite_tensor("codebook", self.codebook, dtype=torch.float32, what="centroids")
        if self.codebook.ndim != 1:
            raise ValueError(f"codebook must be 1-d (K,), got shape {tuple(self.codebook.shape)}")
        if len(self.codebook) > 2**bits:
            raise ValueError(f"codebook has K={len(self.codebook)} centroids but bits={bits} codes allow at "
                             f"most 2**{bits} = {2**bits}")
        if not isinstance(self.mask, Tensor) or self.mask.dtype != torch.bool or self.mask.ndim != 2:
            raise TypeError(f"mask must be a 2-d bool tensor (out, in), got {_describe(self.mask)}")
        if not isinstance(self.codes, Tensor) or self.codes.dtype != torch.int64:
            raise TypeError(f"codes must be an int64 tensor, got {_describe(self.codes)}")
        if self.codes.shape != self.mask.shape:
            raise ValueError(f"codes has shape {tuple(self.codes.shape)} but mask has shape "
                             f"{tuple(self.mask.shape)}; they must match")
        if self.codes.numel():
            lo, hi = int(self.codes.min()), int(self.codes.max())
            if lo < 0 or hi >= len(self.codebook):
                raise ValueError(f"codes hold values in [{lo}, {hi}]; allowed: [0, {len(self.codebook) - 1}] "
                                 f"(K={len(self.codebook)} centroids)")
        if (self.codes[~self.mask] != 0).any():
            raise ValueError("codes must be 0 where mask is False (pruned weights have no code)")

    def weight(self) -> Tensor:
        """The ``(out, in)`` float32 weight: ``codebook[codes]`` where kept, 0 where pruned."""
        return torch.where(self.mask, self.codebook[self.codes], 0.0)


def _describe(x: object) -> str:
    if isinstance(x, Tensor):
        return f"a {x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__


# ------------------------------------------------------------------------------------------ k-means


def _assign(values: Tensor, codebook: Tensor) -> Tensor:
    """The code of each value: its nearest centroid (``codebook`` sorted ascending)."""
    midpoints = (codebook[1:] + codebook[:-1]) / 2  # (K-1,) the boundaries between neighbours
    return torch.bucketize(values, midpoints)  # (n,) in [0, K); a tie goes to the lower centroid


def _lloyd(values: Tensor, codebook: Tensor, iterations: int) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means in 1-D: assign each value to its nearest centroid, move each centroid to its cluster's mean."""
    codes = _assign(values, codebook)  # (n,)
    for _ in range(iterations):
        sums = torch.zeros_like(codebook).scatter_add_(0, codes, values)  # (K,) sum of each cluster
        counts = torch.bincount(codes, minlength=len(codebook))  # (K,) size of each cluster
        codebook = torch.where(counts > 0, sums / counts, codebook)  # an empty cluster stays where it is
        new_codes = _assign(values, codebook)  # (n,)
        if torch.equal(new_codes, codes):  # nothing moved: every centroid is its cluster's mean
            break
        codes = new_codes
    return codebook, codes


def _initial_centroids(values: Tensor, k: int, init: str, seed: int) -> Tensor:
    """``k`` sorted starting centroids (float64): linear, density-based (CDF) or Forgy (random weights)."""
    if init == "linear":  # evenly spaced between the smallest and the largest weight
        return torch.linspace(float(values.min()), float(values.max()), k, dtype=torch.float64)
    if init == "density":  # evenly spaced in the CDF: the quantiles at 0, 1/(k-1), ..., 1
        return torch.quantile(values, torch.linspace(0.0, 1.0, k, dtype=torch.float64))
    generator = torch.Generator().manual_seed(seed)  # Forgy: k distinct weights drawn at random
    return values[torch.randperm(len(values), generator=generator)[:k]].sort().values


def _drop_empty(codebook: Tensor, codes: Tensor) -> tuple[Tensor, Tensor]:
    """Remove the centroids no value uses, and renumber the codes (order kept)."""
    used = torch.bincount(codes, minlength=len(codebook)) > 0  # (K,)
    renumber = torch.cumsum(used, 0) - 1  # (K,) new index of each used centroid
    return codebook[used], renumber[codes]


def _check_values(values: object, name: str = "values") -> Tensor:
    check_finite_tensor(name, values, dtype=torch.float32, what="weights to share")
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-d (n,) (the kept weights of one layer), got shape {tuple(values.shape)}")
    return values


def _check_init(init: object) -> str:
    if init not in INITS:
        raise ValueError(f"init={init!r} is not allowed; choose one of {INITS}")
    return init  # type: ignore[return-value]


def kmeans_codebook(
    values: Tensor, bits: int, *, init: str = "linear", iterations: int = 100, seed: int = 0
) -> tuple[Tensor, Tensor]:
    r"""A codebook of at most ``2**bits`` centroids for ``values`` by 1-D k-means (Lloyd's algorithm).

    Starts from ``K = 2**bits`` centroids chosen by ``init`` (Han et al. 2016, section 3.1):

    * ``"linear"``: evenly spaced in ``[min, max]`` (the paper's choice, and its best);
    * ``"density"``: the quantiles of ``values`` at ``0, 1/(K-1), ..., 1``, i.e. evenly spaced
      in the CDF (``torch.quantile``, linear interpolation);
    * ``"random"``: Forgy, ``K`` of the values drawn at random (``seed``); fewer if there are fewer.

    Then repeats, at most ``iterations`` times: assign each value to its nearest centroid
    (``torch.bucketize`` on the midpoints of the sorted centroids), and move each centroid to
    the mean of its cluster (``scatter_add`` / ``bincount``). It stops as soon as no
    assignment changes (converged: each centroid is the mean of its cluster, and each value
    has its nearest centroid). In 1-D the centroids stay sorted.

    **Empty clusters**: a centroid that no value is nearest to stays where it is (scikit-learn
    instead moves it onto a far point), and is removed from the result, so ``K`` may be less
    than ``2**bits`` (e.g. a layer with fewer kept weights than ``2**bits``, or many equal
    weights). The codes are renumbered to match. On a pruned layer this is common: the kept
    weights leave a gap around 0 (the small ones were pruned), and the linear initialisation puts
    some centroids in it (the 90 %-pruned 64-128-10 student keeps 16 and 14 of 16 centroids at
    4 bits, 173 and 90 of 256 at 8 bits).

    Deterministic: the same inputs give the same codebook (computed in float64, returned in float32).

    Args:
        values: the kept (non-pruned) weights of one layer, 1-d, float32, finite, non-empty.
        bits: bits per code, in ``[1, 8]``.
        init: ``"linear"``, ``"density"`` or ``"random"``.
        iterations: the most Lloyd steps, >= 0 (0 returns the initial centroids and their codes).
        seed: for ``init="random"`` only, >= 0.

    Shape:
        ``values`` ``(n,)`` -> codebook ``(K,)`` float32 (ascending, ``K <= min(2**bits, n)``),
        codes ``(n,)`` int64 in ``[0, K)``.

    Returns:
        ``(codebook, codes)`` with ``codebook[codes]`` the shared value of each weight.

    Raises:
        TypeError, ValueError: ``values`` not a 1-d, finite, non-empty float32 tensor; ``bits``,
            ``iterations`` or ``seed`` not an integer in range; an unknown ``init``.

    Example::

        >>> kmeans_codebook(torch.tensor([0.0, 1.0, 2.0, 3.0, 9.0]), bits=1)
        (tensor([1.5000, 9.0000]), tensor([0, 0, 0, 0, 1]))
    """
    values = _check_values(values)
    bits = check_int("bits", bits, low=1, high=MAX_SHARED_BITS)
    init = _check_init(init)
    iterations = check_int("iterations", iterations, low=0)
    seed = check_int("seed", seed, low=0, high=2**63 - 1)
    v = values.detach().to(torch.float64)  # (n,)
    codebook, codes = _lloyd(v, _initial_centroids(v, 2**bits, init, seed), iterations)
    codebook, codes = _drop_empty(codebook, codes)
    return codebook.to(torch.float32), codes


# ------------------------------------------------------------------------------------ linear codes


def _linear_codes(values: Tensor, qparams: QParams) -> tuple[Tensor, Tensor]:
    """The symmetric uniform grid as a codebook: levels ``q * scale`` for every code ``q``, codes from 0."""
    levels = torch.arange(qparams.quant_min, qparams.quant_max + 1)  # (2**bits - 1,) the signed codes
    codebook = levels.to(torch.float32) * qparams.scale  # (K,) what dequantize gives each code (z = 0)
    codes = quantize(values, qparams).to(torch.int64) - qparams.quant_min  # (n,) shifted to [0, K)
    return codebook, codes


def linear_codebook(values: Tensor, bits: int) -> tuple[Tensor, Tensor]:
    r"""The symmetric uniform grid of notebook 04 as a codebook of ``2**bits - 1`` levels.

    With ``(quant_min, quant_max) = quant_range(bits, symmetric=True)`` (e.g. ``[-7, 7]`` for 4
    bits) and ``scale = max|values| / quant_max`` (:func:`~distill_lib.quantization.choose_qparams`,
    min/max, symmetric, per tensor), level ``j`` is ``(quant_min + j) * scale`` and the code of
    ``w`` is ``round(w / scale) - quant_min``, so ``codebook[codes]`` is bit for bit
    ``fake_quantize(values, qparams)`` and ``torch.fake_quantize_per_tensor_affine``. Zero is
    always a level (code ``-quant_min``); the largest weight in magnitude is a level too.
    Because the grid is spread evenly up to the largest weight, few bits waste most levels: at
    2 bits the levels are ``-s, 0, s`` with ``s = max|w|``, and every kept weight smaller than
    ``s / 2`` becomes 0 (pruned after all), where k-means would put its centroids among them.

    Args:
        values: the kept weights of one layer, 1-d, float32, finite, non-empty.
        bits: bits per code, in ``[2, 8]`` (a symmetric grid needs 2).

    Shape:
        ``values`` ``(n,)`` -> codebook ``(2**bits - 1,)`` float32 ascending, codes ``(n,)`` int64.

    Returns:
        ``(codebook, codes)``.

    Raises:
        TypeError, ValueError: ``values`` not a 1-d, finite, non-empty float32 tensor; ``bits``
            not an integer in ``[2, 8]``.

    Example::

        >>> codebook, codes = linear_codebook(torch.tensor([-0.9, 0.2, 1.4]), bits=2)
        >>> codebook, codes
        (tensor([-1.4000,  0.0000,  1.4000]), tensor([0, 1, 2]))
    """
    values = _check_values(values)
    bits = check_int("bits", bits, low=2, high=MAX_SHARED_BITS)
    qparams = choose_qparams(values.detach(), bits, symmetric=True)
    return _linear_codes(values.detach(), qparams)


# ------------------------------------------------------------------------------------ on a model


def check_mlp(model: object, name: str = "model") -> list[nn.Linear]:
    """An ``nn.Sequential`` whose layers with parameters are all ``nn.Linear``; returns them in order."""
    check_module(name, model)
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"{name} must be an nn.Sequential MLP (e.g. distill_lib.models.mlp), "
                        f"got {type(model).__name__}")
    linears = []
    for i, layer in enumerate(model):
        if isinstance(layer, nn.Linear):
            linears.append(layer)
        elif any(True for _ in layer.parameters()):
            raise TypeError(f"{name}[{i}] is a {type(layer).__name__} with parameters; weight sharing handles "
                            "nn.Sequential MLPs whose only layers with parameters are nn.Linear")
    if not linears:
        raise ValueError(f"{name} has no nn.Linear layer to share")
    for i, layer in zip(_linear_indices(model), linears):
        check_finite_tensor(f"{name}[{i}].weight", layer.weight, dtype=torch.float32, what="weights to share")
        if layer.bias is not None:
            check_finite_tensor(f"{name}[{i}].bias", layer.bias, what="biases")
    return linears


def _linear_indices(model: nn.Sequential) -> list[int]:
    return [i for i, layer in enumerate(model) if isinstance(layer, nn.Linear)]


def _dense_copy(model: nn.Sequential) -> nn.Sequential:
    """A deep copy with any pruning masks folded in (the original keeps its masks)."""
    twin = copy_model(model)
    return make_permanent(twin) if any(current_mask(m) is not None for m in model.modules()) else twin


def _check_bits_list(bits: object, n_layers: int, low: int) -> list[int]:
    if isinstance(bits, numbers.Integral) and not isinstance(bits, bool):
        return [check_int("bits", bits, low=low, high=MAX_SHARED_BITS)] * n_layers
    if isinstance(bits, (str, bytes)) or not isinstance(bits, Sequence):
        raise TypeError(f"bits must be an integer or a list of integers (one per nn.Linear), got {type(bits).__name__}")
    if len(bits) != n_layers:
        raise ValueError(f"bits={list(bits)} has {len(bits)} entries but the model has {n_layers} nn.Linear layers")
    return [check_int(f"bits[{i}]", b, low=low, high=MAX_SHARED_BITS) for i, b in enumerate(bits)]


def share_weights(
    model: nn.Module, bits: int | Sequence[int], *, method: str = "kmeans", init: str = "linear"
) -> list[SharedWeights]:
    """Share the weights of every ``nn.Linear`` of an MLP: one :class:`SharedWeights` per layer.

    The kept weights are the non-zero ones (``mask = weight != 0``), after pruning is made
    permanent: a model that still carries PyTorch pruning masks is read through its effective
    weights (``make_permanent(copy_model(model))``). Each layer's kept weights get their own
    codebook, by :func:`kmeans_codebook` (``method="kmeans"``, ``2**bits`` centroids at most)
    or :func:`linear_codebook` (``"linear"``, ``2**bits - 1`` levels). Biases are not shared
    (they stay float32 in the model). The model is not modified.

    Args:
        model: an ``nn.Sequential`` MLP (``Linear``/``ReLU``/``Dropout``), pruned or not.
        bits: bits per code, one integer for every layer or a list with one per ``nn.Linear``
            (the paper uses 8 for conv and 5 for fc layers): in ``[1, 8]`` for k-means,
            ``[2, 8]`` for linear.
        method: ``"kmeans"`` or ``"linear"``.
        init: the k-means initialisation, ``"linear"``, ``"density"`` or ``"random"`` (seed 0);
            ignored by ``method="linear"``.

    Returns:
        A list of :class:`SharedWeights`, one per ``nn.Linear``, in model order.

    Raises:
        TypeError, ValueError: not an ``nn.Sequential`` MLP, a NaN or infinite weight, a layer
            with no kept (non-zero) weight, ``bits`` out of range or of the wrong length, an
            unknown ``method`` or ``init``.

    Example::

        >>> shared = share_weights(pruned_student, bits=4)          # k-means, linear init
        >>> [len(s.codebook) for s in shared]
        [16, 16]
        >>> quantized = apply_shared(pruned_student, shared)
    """
    linears = check_mlp(model)
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not allowed; choose one of {METHODS}")
    init = _check_init(init)
    bits_list = _check_bits_list(bits, len(linears), low=1 if method == "kmeans" else 2)
    weights = [layer.weight.detach() for layer in _dense_copy(model) if isinstance(layer, nn.Linear)]
    for i, w in zip(_linear_indices(model), weights):
        if not (w != 0).any():
            raise ValueError(f"model[{i}] has no kept weight (all {w.numel()} are zero): nothing to share")
    shared = []
    for w, b in zip(weights, bits_list):
        mask = w != 0  # (out, in) the kept weights
        if method == "kmeans":
            codebook, kept_codes = kmeans_codebook(w[mask], b, init=init)
        else:
            codebook, kept_codes = linear_codebook(w[mask], b)
        codes = torch.zeros(w.shape, dtype=torch.int64)  # (out, in), 0 where pruned
        codes[mask] = kept_codes
        shared.append(SharedWeights(codebook, codes, mask, b))
    return shared


def _check_shared(shared: object, linears: list[nn.Linear], indices: list[int]) -> list[SharedWeights]:
    if isinstance(shared, (str, bytes)) or not isinstance(shared, Sequence):
        raise TypeError(f"shared must be a list of SharedWeights (see share_weights), got {type(shared).__name__}")
    if len(shared) != len(linears):
        raise ValueError(f"shared has {len(shared)} entries but the model has {len(linears)} nn.Linear layers")
    for j, (s, layer, i) in enumerate(zip(shared, linears, indices)):
        if not isinstance(s, SharedWeights):
            raise TypeError(f"shared[{j}] must be a SharedWeights, got {type(s).__name__}")
        if s.mask.shape != layer.weight.shape:
            raise ValueError(f"shared[{j}] has shape {tuple(s.mask.shape)} but model[{i}].weight has shape "
                             f"{tuple(layer.weight.shape)}; they must match")
    return list(shared)


def _set_weights(model: nn.Sequential, weights: Sequence[Tensor]) -> nn.Sequential:
    linears = [layer for layer in model if isinstance(layer, nn.Linear)]
    with torch.no_grad():
        for layer, w in zip(linears, weights):
            layer.weight.copy_(w)
    return model


def apply_shared(model: nn.Module, shared: Sequence[SharedWeights]) -> nn.Sequential:
    """A new model whose ``nn.Linear`` weights are ``shared[i].weight()``; ``model`` is untouched.

    The copy is a deep copy (pruning masks folded in), in eval mode; its biases are the
    model's, in float32.

    Args:
        model: the ``nn.Sequential`` MLP the codes were made from.
        shared: one :class:`SharedWeights` per ``nn.Linear``, with the layer's weight shape.

    Returns:
        The new ``nn.Sequential``.

    Raises:
        TypeError, ValueError: not an MLP, non-finite weights or biases, ``shared`` of the
            wrong length, type or shapes.

    Example::

        >>> quantized = apply_shared(student, share_weights(student, bits=5))
        >>> evaluate(quantized, split.X_val, split.y_val)
    """
    linears = check_mlp(model)
    shared = _check_shared(shared, linears, _linear_indices(model))
    return _set_weights(_dense_copy(model), [s.weight() for s in shared]).eval()


# -------------------------------------------------------------------------- codebook fine-tuning


def _centroid_gradients(weight_grad: Tensor, codes: Tensor, mask: Tensor, k: int) -> Tensor:
    """Eq. 3: the gradient of centroid k is the sum of the gradients of the kept weights coded k."""
    return torch.zeros(k, dtype=weight_grad.dtype).scatter_add_(0, codes[mask], weight_grad[mask])  # (K,)


def centroid_gradients(weight_grad: Tensor, shared: SharedWeights) -> Tensor:
    r"""The gradient of each centroid from the gradient of the weights (Han et al. 2016, eq. 3).

    .. math:: \frac{\partial \mathcal{L}}{\partial C_k}
              = \sum_{i,j} \frac{\partial \mathcal{L}}{\partial W_{ij}}\, \mathbb{1}(I_{ij} = k)

    over the kept weights only (a pruned weight has no centroid). The paper's Figure 3 is
    this, "group by" the code then "reduce" by summing.

    Args:
        weight_grad: ``dL/dW`` of the layer, ``(out, in)``, float32, finite.
        shared: the layer's :class:`SharedWeights`.

    Shape:
        ``weight_grad`` ``(out, in)`` -> ``(K,)``.

    Raises:
        TypeError, ValueError: ``weight_grad`` not a finite float32 tensor of the layer's shape;
            ``shared`` not a :class:`SharedWeights`.

    Example::

        >>> grad = torch.autograd.grad(loss, layer.weight)[0]
        >>> centroid_gradients(grad, shared[0])      # (K,)
    """
    if not isinstance(shared, SharedWeights):
        raise TypeError(f"shared must be a SharedWeights, got {type(shared).__name__}")
    check_finite_tensor("weight_grad", weight_grad, dtype=torch.float32, what="gradients")
    if weight_grad.shape != shared.mask.shape:
        raise ValueError(f"weight_grad has shape {tuple(weight_grad.shape)} but the layer's weight has shape "
                         f"{tuple(shared.mask.shape)}; they must match")
    return _centroid_gradients(weight_grad, shared.codes, shared.mask, len(shared.codebook))


def _shared_forward(model: nn.Sequential, codebooks: list[Tensor], shared: list[SharedWeights], x: Tensor) -> Tensor:
    """The MLP with each Linear weight written as ``where(mask, codebook[codes], 0)``."""
    layers = iter(zip(codebooks, shared))
    for layer in model:
        if isinstance(layer, nn.Linear):
            codebook, s = next(layers)
            weight = torch.where(s.mask, codebook[s.codes], 0.0)  # (out, in); autograd sums per centroid (eq. 3)
            x = F.linear(x, weight, layer.bias)  # (N, out)
        else:
            x = layer(x)  # ReLU, Dropout
    return x


def _finetune_codebook(model, shared, X, loss_fn, loss_inputs, epochs, lr):
    """Train the codebooks and the biases, full-batch Adam; the codes and the masks stay fixed."""
    codebooks = [s.codebook.clone().requires_grad_() for s in shared]  # (K,) each
    biases = [layer.bias for layer in model if isinstance(layer, nn.Linear) and layer.bias is not None]
    optimizer = torch.optim.Adam(codebooks + biases, lr=lr)
    model.train()  # dropout on, as in fit
    for _ in range(epochs):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(_shared_forward(model, codebooks, shared, X), **loss_inputs)  # (N, C) -> scalar
        loss.backward()  # each codebook's .grad is eq. 3
        optimizer.step()
    model.eval()
    return [SharedWeights(c.detach(), s.codes, s.mask, s.bits) for c, s in zip(codebooks, shared)]


def _check_lr(lr: object) -> float:
    lr = check_real("lr", lr)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr={lr!r} is out of range; allowed: a finite number > 0 (Adam's learning rate)")
    return lr


def check_training_set(X: object, targets: object, teacher_logits: object, lam: float, linears: list[nn.Linear]):
    """``(X, targets, teacher_logits)`` checked for the MLP whose Linear layers are ``linears``; the logits only when ``lam > 0``."""
    num_classes = linears[-1].out_features
    X, targets = check_eval_set((X, targets), name="(X, targets)", num_classes=num_classes)
    if X.shape[1] != linears[0].in_features:
        raise ValueError(f"X has shape {tuple(X.shape)} but the model's first layer takes "
                         f"{linears[0].in_features} features: need shape (N, {linears[0].in_features})")
    if lam == 0:
        return X, targets, None  # cross-entropy does not use them
    if teacher_logits is None:
        raise ValueError(f"lam={lam} distils from a teacher: give teacher_logits (N, C), or lam=0 for cross-entropy")
    check_logits("teacher_logits", teacher_logits)
    if teacher_logits.shape != (len(X), num_classes):
        raise ValueError(f"teacher_logits has shape {tuple(teacher_logits.shape)}; it must be ({len(X)}, "
                         f"{num_classes}): one row per row of X, one column per output of the model")
    return X, targets, teacher_logits.detach()


def finetune_codebook(
    model: nn.Module,
    shared: Sequence[SharedWeights],
    X: Tensor,
    targets: Tensor,
    *,
    teacher_logits: Tensor | None = None,
    temperature: float = 4.0,
    lam: float = 0.0,
    epochs: int,
    lr: float,
    seed: int = 0,
) -> tuple[nn.Sequential, list[SharedWeights]]:
    r"""Fine-tune the shared centroids and the biases (Han et al. 2016, section 3.2, eq. 3, Figure 3).

    Each layer's weight is written as ``where(mask, codebook[codes], 0)``, so autograd gives
    every centroid the sum of the gradients of the kept weights that share it, exactly
    :func:`centroid_gradients` (eq. 3). The codes and the masks stay fixed: a weight keeps its
    centroid, a pruned weight stays 0. The biases train too and stay float32 (they are few: 138
    numbers for the 64-128-10 student).

    The optimiser is full-batch Adam, as everywhere in the workbook (:func:`distill_lib.training.fit`),
    rather than the paper's SGD: a centroid's gradient is a *sum* over its cluster, so it grows
    with the cluster's size (from one weight to thousands); Adam's per-parameter step size
    makes the learning rate mean the same for every centroid.

    The loss is :func:`distill_lib.losses.make_loss` ``(temperature, lam)``: cross-entropy on
    ``targets`` when ``lam = 0``, else the distillation loss with ``teacher_logits``.

    Args:
        model: the ``nn.Sequential`` MLP the codes were made from (not modified); its biases
            are the starting point.
        shared: one :class:`SharedWeights` per ``nn.Linear`` (from :func:`share_weights`).
        X: training inputs ``(N, F)``, finite.
        targets: class indices ``(N,)``.
        teacher_logits: the teacher's logits on ``X``, ``(N, C)``; required when ``lam > 0``.
        temperature, lam: the loss's ``T`` (> 0) and ``λ`` (in ``[0, 1]``).
        epochs: full-batch Adam steps, >= 0 (0 returns the shared model as it is).
        lr: Adam's learning rate, finite and > 0 (a centroid moves at most about ``lr`` per step).
            On the 90 %-pruned 64-128-10 student, ``epochs=50, lr=1e-2`` (about 0.1 s on one
            thread) brings 3- and 4-bit k-means codebooks back to the pruned float model's
            validation accuracy.
        seed: seeds dropout, if the model has any (>= 0); the caller's random state is untouched.

    Shape:
        X ``(N, F)``, targets ``(N,)``, teacher_logits ``(N, C)``.

    Returns:
        ``(new_model, new_shared)``: a new model whose weights are ``new_shared[i].weight()``
        and whose biases are the fine-tuned ones, in eval mode; ``new_shared`` has the new
        codebooks and the same codes, masks and bits.

    Raises:
        TypeError, ValueError: a bad model or ``shared`` (see :func:`apply_shared`), bad data
            shapes, ``lam > 0`` without ``teacher_logits``, ``epochs``, ``lr``, ``temperature``,
            ``lam`` or ``seed`` out of range; all checked before anything is trained.

    Example::

        >>> shared = share_weights(pruned, bits=4)
        >>> tuned, shared = finetune_codebook(pruned, shared, split.X_train, split.y_train,
        ...     teacher_logits=teacher_logits, lam=0.9, epochs=50, lr=1e-2)
    """
    linears = check_mlp(model)
    shared = _check_shared(shared, linears, _linear_indices(model))
    loss_fn = make_loss(temperature=temperature, lam=lam, checked=False)  # checks temperature and lam; data below
    lam = float(lam)
    epochs = check_int("epochs", epochs, low=0)
    lr = _check_lr(lr)
    seed = check_int("seed", seed, low=0, high=2**63 - 1)
    X, targets, teacher_logits = check_training_set(X, targets, teacher_logits, lam, linears)
    loss_inputs = {"targets": targets} if teacher_logits is None else {"targets": targets,
                                                                        "teacher_logits": teacher_logits}
    twin = _dense_copy(model)
    for p in twin.parameters():
        p.requires_grad_(False)  # only the codebooks and the biases train
    for layer in twin:
        if isinstance(layer, nn.Linear) and layer.bias is not None:
            layer.bias.requires_grad_(True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tuned = _finetune_codebook(twin, shared, X, loss_fn, loss_inputs, epochs, lr)
    for p in twin.parameters():
        p.requires_grad_(True)
    return _set_weights(twin, [s.weight() for s in tuned]).eval(), tuned
