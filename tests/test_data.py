"""distill_lib.data: checksum, the deterministic stratified split and the transfer-set views."""

import hashlib

import numpy as np
import pytest
import torch

from distill_lib.data import (
    DIGITS_SHA256,
    augment,
    digits_checksum,
    limited_labels,
    load_digits,
    load_split,
    omit_class,
)


def test_digits_and_checksum():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == torch.float32
    assert y.shape == (1797,) and y.dtype == torch.int64
    assert X.min() == 0 and X.max() == 1
    assert torch.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    raw = (X * 16).round().to(torch.uint8).numpy()
    assert digits_checksum(raw, y.numpy()) == DIGITS_SHA256
    # the checksum is a plain SHA-256 of the bytes, documented in data/README.md
    h = hashlib.sha256(raw.tobytes() + y.numpy().astype(np.uint8).tobytes()).hexdigest()
    assert h == DIGITS_SHA256


def test_split_sizes_stratified_disjoint(split):
    assert split.sizes == {"train": 1079, "val": 359, "test": 359}
    rows = {name: {tuple(r) for r in getattr(split, f"X_{name}").mul(16).round().int().tolist()}
            for name in ("train", "val", "test")}
    total = sum(len(r) for r in rows.values())
    # the digits contain a few exact duplicate images, so compare by count, then check no index overlap below
    assert total <= 1797
    for name in ("train", "val", "test"):
        counts = torch.bincount(getattr(split, f"y_{name}"), minlength=10).float()
        share = counts / counts.sum()
        assert (share - 0.1).abs().max() < 0.01, f"{name} is not stratified: {counts.tolist()}"


def test_split_is_a_partition():
    X, y = load_digits()
    s = load_split()
    joined = torch.cat([s.X_train, s.X_val, s.X_test])
    # sort rows lexicographically to compare as multisets
    def canon(t):
        return sorted(map(tuple, t.mul(16).round().int().tolist()))
    assert canon(joined) == canon(X)


def test_split_is_deterministic_and_seeded(split):
    again = load_split()
    assert torch.equal(split.X_train, again.X_train) and torch.equal(split.y_test, again.y_test)
    other = load_split(seed=1)
    assert not torch.equal(split.y_train, other.y_train)
    # A fingerprint of the seed-0 split: changes to it must be deliberate.
    digest = hashlib.sha256(split.y_train.numpy().tobytes() + split.y_test.numpy().tobytes()).hexdigest()[:12]
    assert digest == SPLIT_FINGERPRINT, f"the seed-0 split changed (fingerprint {digest})"


SPLIT_FINGERPRINT = "f9a26827a1a0"


def test_limited_labels(split):
    view = limited_labels(split.X_train, split.y_train, per_class=10)
    assert view.X_labelled.shape == (100, 64)
    assert torch.bincount(view.y_labelled).tolist() == [10] * 10
    assert len(view.X_unlabelled) == 1079 - 100 == len(view.y_unlabelled)
    # "first k of each class", in training order
    first_zeros = split.X_train[split.y_train == 0][:10]
    assert torch.equal(view.X_labelled[view.y_labelled == 0], first_zeros)


def test_limited_labels_errors(split):
    with pytest.raises(ValueError, match=r"per_class=0 is out of range; allowed: \[1, inf\]"):
        limited_labels(split.X_train, split.y_train, 0)
    smallest = int(torch.bincount(split.y_train).min())
    rarest = int(torch.bincount(split.y_train).argmin())
    with pytest.raises(ValueError, match=rf"per_class={smallest + 1} is more than the {smallest} image\(s\) of digit "
                                         rf"{rarest} in y; allowed: \[1, {smallest}\]"):
        limited_labels(split.X_train, split.y_train, smallest + 1)
    with pytest.raises(TypeError, match="per_class must be an integer"):
        limited_labels(split.X_train, split.y_train, 2.5)
    without_3 = split.y_train != 3
    with pytest.raises(ValueError, match=r"per_class=1 is more than the 0 image\(s\) of digit 3"):
        limited_labels(split.X_train[without_3], split.y_train[without_3], 1)


BAD_XY = [
    ("X a list", lambda X, y: ([[0.0] * 64], y), TypeError, "X must be a torch.Tensor of images as rows, got list"),
    ("y a list", lambda X, y: (X, y.tolist()), TypeError, "y must be a torch.Tensor of labels, got list"),
    ("X 3-d", lambda X, y: (X.reshape(-1, 8, 8), y), ValueError, r"X must have shape \(N, F\)"),
    ("X nan", lambda X, y: (X.clone().index_fill_(0, torch.tensor([2]), float("nan")), y), ValueError,
     r"X contains 64 NaN or infinite value\(s\); pixels must be finite"),
    ("y float", lambda X, y: (X, y.float()), TypeError, "y must hold int64 class indices, got dtype=torch.float32"),
    ("y short", lambda X, y: (X, y[:5]), ValueError, r"y must have shape \(1079,\), one label per row of X, got \(5,\)"),
    ("label 10", lambda X, y: (X, y.clone().index_fill_(0, torch.tensor([7]), 10)), ValueError,
     r"y contains the label 10; labels must be digits in \[0, 9\]"),
    ("label -1", lambda X, y: (X, y.clone().index_fill_(0, torch.tensor([7]), -1)), ValueError, "y contains the label -1"),
]


@pytest.mark.parametrize("name, make, error, match", BAD_XY, ids=[b[0] for b in BAD_XY])
def test_data_helpers_name_the_bad_argument(split, name, make, error, match):
    X, y = make(split.X_train, split.y_train)
    for call in (lambda: limited_labels(X, y, 1), lambda: omit_class(X, y, 3), lambda: augment(X, y, copies=1)):
        with pytest.raises(error, match=match):
            call()


def test_omit_class(split):
    X, y = omit_class(split.X_train, split.y_train, digit=3)
    assert (y != 3).all() and len(y) == 1079 - int((split.y_train == 3).sum())
    with pytest.raises(ValueError, match=r"digit=10 is out of range; allowed: \[0, 9\]"):
        omit_class(split.X_train, split.y_train, 10)


def test_augment(split):
    X, y = augment(split.X_train[:50], split.y_train[:50], copies=3, seed=0)
    assert X.shape == (200, 64) and torch.equal(y, split.y_train[:50].repeat(4))
    assert torch.equal(X[:50], split.X_train[:50])
    assert not torch.equal(X[50:100], split.X_train[:50])
    assert X.min() >= 0 and X.max() <= 1 + 1e-6
    X2, _ = augment(split.X_train[:50], split.y_train[:50], copies=3, seed=0)
    assert torch.equal(X, X2)
    with pytest.raises(ValueError, match="copies=-1"):
        augment(split.X_train, split.y_train, copies=-1)
    with pytest.raises(ValueError, match=r"X must hold 8x8 images as rows of 64, got shape \(1079, 32\)"):
        augment(split.X_train[:, :32], split.y_train, copies=1)
    with pytest.raises(ValueError, match=r"seed=-2 is out of range"):
        augment(split.X_train, split.y_train, copies=1, seed=-2)


def test_load_split_bad_seed():
    with pytest.raises(ValueError, match=r"seed=-1 is out of range; allowed: \[0, inf\]"):
        load_split(seed=-1)
    with pytest.raises(TypeError, match="seed must be an integer, got float"):
        load_split(seed=0.5)


def test_loads_without_importing_scikit_learn():
    import subprocess
    import sys

    code = "import sys; from distill_lib.data import load_digits; load_digits(); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_digits_match_scikit_learn():
    from sklearn.datasets import load_digits as sk_load_digits

    X, y = load_digits()
    bunch = sk_load_digits()
    assert np.array_equal((X * 16).round().numpy().astype(np.int64), bunch.data.astype(np.int64))
    assert np.array_equal(y.numpy(), bunch.target)


def test_digits_checksum_bad_shapes():
    with pytest.raises(ValueError, match=r"pixels must have shape \(N, 64\), got \(3, 8, 8\)"):
        digits_checksum(np.zeros((3, 8, 8)), np.zeros(3))
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\), one per image, got \(2,\)"):
        digits_checksum(np.zeros((3, 64)), np.zeros(2))
