"""distill_lib.teacher: the cached checkpoint, safe loading, warnings and retraining."""

import pytest
import torch

import distill_lib.teacher as teacher_module
from distill_lib.models import count_parameters
from distill_lib.teacher import DEFAULT_TEACHER_PATH, TEACHER_RECIPE, load_teacher, save_teacher
from distill_lib.training import evaluate


def test_cached_teacher_is_good_and_described(split, recwarn):
    assert DEFAULT_TEACHER_PATH.exists(), "data/teacher_mlp.pt is missing: run `make teacher`"
    teacher, meta = load_teacher(split=split, save=False)
    assert not [w for w in recwarn if "teacher" in str(w.message)], "the committed checkpoint was not usable"
    assert evaluate(teacher, split.X_test, split.y_test) >= 0.975
    assert meta["test_accuracy"] >= 0.975
    assert meta["recipe"] == TEACHER_RECIPE
    assert meta["num_parameters"] == count_parameters(teacher) == 85_002
    for key in ("data_sha256", "library_version", "torch_version", "val_accuracy"):
        assert key in meta
    raw = torch.load(DEFAULT_TEACHER_PATH, weights_only=True)  # a plain dict: safe to load
    assert set(raw) == {"state_dict", "meta"}


@pytest.fixture
def tiny_recipe(monkeypatch):
    """Make retraining take a fraction of a second (the full recipe is checked by notebook 00's test)."""
    recipe = dict(TEACHER_RECIPE, sizes=[64, 16, 10], augment_copies=0, epochs=2)
    monkeypatch.setattr(teacher_module, "TEACHER_RECIPE", recipe)
    return recipe


def assert_retrains(path, split, pattern):
    with pytest.warns(UserWarning, match=pattern):
        teacher, meta = load_teacher(path, split=split)
    assert meta["recipe"] == teacher_module.TEACHER_RECIPE
    # the retrained teacher was written back, and now loads without a warning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again, _ = load_teacher(path, split=split)
    assert all(torch.equal(a, b) for a, b in zip(teacher.state_dict().values(), again.state_dict().values()))


def test_missing_file_retrains(tmp_path, split, tiny_recipe):
    assert_retrains(tmp_path / "t.pt", split, "there is no file there")


def test_corrupt_file_retrains(tmp_path, split, tiny_recipe):
    path = tmp_path / "t.pt"
    path.write_bytes(b"not a checkpoint at all")
    assert_retrains(path, split, "could not be read")


def test_truncated_file_retrains(tmp_path, split, tiny_recipe):
    path = tmp_path / "t.pt"
    path.write_bytes(DEFAULT_TEACHER_PATH.read_bytes()[:5000])
    assert_retrains(path, split, "could not be read")


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_arbitrary_pickles_are_refused(tmp_path, split, tiny_recipe, capsys):
    path = tmp_path / "t.pt"
    torch.save({"state_dict": Evil(), "meta": {}}, path)
    assert_retrains(path, split, "could not be read")
    assert "this must never run" not in capsys.readouterr().out


def test_other_recipe_retrains(tmp_path, split, tiny_recipe):
    path = tmp_path / "t.pt"
    path.write_bytes(DEFAULT_TEACHER_PATH.read_bytes())  # the real, full-recipe teacher
    assert_retrains(path, split, "another recipe")


def test_tampered_weights_retrain(tmp_path, split, tiny_recipe):
    path = tmp_path / "t.pt"
    teacher, meta = teacher_module.train_teacher(split, progress=False)
    with torch.no_grad():
        teacher[-1].weight.mul_(-1)  # silently wrong teacher
    save_teacher(teacher, meta, path)
    assert_retrains(path, split, "scores .* but recorded")


def test_wrong_data_checksum_retrains(tmp_path, split, tiny_recipe):
    path = tmp_path / "t.pt"
    teacher, meta = teacher_module.train_teacher(split, progress=False)
    save_teacher(teacher, dict(meta, data_sha256="0" * 64), path)
    assert_retrains(path, split, "other data")


def test_wrong_shapes_retrain(tmp_path, split, tiny_recipe):
    path = tmp_path / "t.pt"
    teacher, meta = teacher_module.train_teacher(split, progress=False)
    state = teacher.state_dict()
    state["0.weight"] = torch.zeros(3, 3)
    torch.save({"state_dict": state, "meta": meta}, path)
    assert_retrains(path, split, "do not fit the architecture")
