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
