"""distill_lib.quantization.widget: the numbers the bits slider shows, and its plot, called directly."""

import pytest
import torch

from distill_lib.quantization import plot_weight_quantization, weight_quantization_view


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_widget_view_and_plot(bits):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = torch.randn(32, 16, generator=torch.Generator().manual_seed(bits))
    view = weight_quantization_view(w, bits)
    assert len(view["grid"]) == view["levels"] == 2 ** bits - 1
    steps = view["grid"].diff()
    torch.testing.assert_close(steps, torch.full_like(steps, view["scale"]), rtol=1e-5, atol=0)
    assert view["clipped"] == 0.0 and view["max_abs"] <= view["bound"] * (1 + 1e-5)
    fig, ax = plt.subplots()
    assert plot_weight_quantization(w, bits, ax=ax)["mse"] == view["mse"]
    plt.close(fig)
    per_channel = weight_quantization_view(w, bits, per_channel=True)
    assert per_channel["mse"] <= view["mse"]  # one grid per row fits at least as well


def test_widget_refuses_bad_input_with_its_own_arguments():
    w = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"bits=1 is out of range; allowed: \[2, 16\] \(the widget shows a symmetric"):
        weight_quantization_view(w, 1)
    with pytest.raises(ValueError, match=r"bits=17 is out of range"):
        weight_quantization_view(w, 17)
    with pytest.raises(TypeError, match=r"bits must be an integer, got float"):
        weight_quantization_view(w, 4.0)
    with pytest.raises(TypeError, match=r"per_channel must be True or False, got 1"):
        weight_quantization_view(w, 4, per_channel=1)
    with pytest.raises(ValueError, match=r"weight must be a layer's weight of shape \(out, in\), got shape \(12,\)"):
        weight_quantization_view(w.flatten(), 4)
    for bad in (lambda: weight_quantization_view(w, 1), lambda: plot_weight_quantization(w, 1)):
        with pytest.raises(ValueError) as info:
            bad()
        assert "symmetric=False" not in str(info.value)  # an argument these functions do not take
