"""Notebook 01 under papermill with small parameters (2 seeds, 150 steps), asserting on what it recorded.

The default run (5 seeds, 300 steps) measures, on the test set: labels 95.7 ± 0.4 %, hard labels the
same, raw logits 96.2 ± 0.7 % (not a reliable win), centred logits 97.5 ± 0.3 %. With 150 steps the
logit-matching students are undertrained, so only what holds at both budgets is asserted here.
"""

import pytest


@pytest.mark.notebook
def test_logit_matching_notebook(run_notebook):
    r = run_notebook("01_mse_logit_matching", n_seeds=2, epochs=150, n_profiles=2)
    assert r["seeds"] == [0, 1] and r["epochs"] == 150
    acc = r["accuracy"]
    assert set(acc) == {"labels", "hard_labels", "logits", "centered_logits"}
    assert all(len(a) == 2 and all(0.85 < x <= 1.0 for x in a) for a in acc.values()), acc

    # The teacher is right on every training image, so its hard labels are the labels:
    # the training runs are identical and so are the accuracies, seed by seed.
    assert r["hard_labels_agree"] == r["num_train"] == 1079
    assert acc["hard_labels"] == acc["labels"]

    # With these small parameters centring helps on both seeds by more than one test image (0.28 points);
    # at the default budget one seed of five is a tie (the notebook prints the verdict, it does not claim "every seed").
    assert all(d > 0.005 for d in r["centered_minus_raw"]), r["centered_minus_raw"]
    assert r["centered_minus_raw"] == pytest.approx([c - w for c, w in zip(acc["centered_logits"], acc["logits"])])

    # mean ± std are what the accuracies say
    for method, values in acc.items():
        mean = 100 * sum(values) / len(values)
        assert r["accuracy_mean"][method] == pytest.approx(mean)
        assert r["accuracy_std"][method] >= 0

    # The logit-matching student reproduces the teacher's logits far better than the label student,
    # and centring removes the offset from its error.
    assert r["logit_correlation"]["logits"] > 0.95 > r["logit_correlation"]["labels"]
    assert r["mse_shape"]["logits"] < r["mse_shape"]["labels"] / 3
    assert r["mse_shape"]["centered_logits"] < r["mse_shape"]["logits"]
    assert r["mse_offset"]["logits"] < r["mse_offset"]["labels"]
    assert r["offset_std"] > 0.3  # the teacher's mean logit does vary from image to image
    assert 0.3 < r["tiny_probability_fraction"] < 1.0
    assert r["seconds"] < 60 * 3  # a runaway guard, not a speed target
