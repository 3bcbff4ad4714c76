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


def test_empty_file_retrains(tmp_path, split, tiny_recipe):
    path = tmp_path / "t.pt"
    path.write_bytes(b"")
    assert_retrains(path, split, "the file is empty")


def test_a_directory_retrains(tmp_path, split, tiny_recipe):
    path = tmp_path / "t.pt"
    path.mkdir()
    with pytest.warns(UserWarning, match="there is no file there"):
        load_teacher(path, split=split, save=False)


def _good(split):
    teacher, meta = teacher_module.train_teacher(split, progress=False)
    return teacher.state_dict(), meta


def _without(d, key):
    return {k: v for k, v in d.items() if k != key}


# Each case turns a good checkpoint into an unusable one: (name, make(state, meta) -> checkpoint, message).
BROKEN = [
    ("a list", lambda st, m: [st, m], "not a teacher checkpoint"),
    ("a tensor", lambda st, m: torch.zeros(3), "not a teacher checkpoint"),
    ("no meta", lambda st, m: {"state_dict": st}, "not a teacher checkpoint"),
    ("meta a list", lambda st, m: {"state_dict": st, "meta": [1, 2]}, "metadata is a list"),
    ("meta without format", lambda st, m: {"state_dict": st, "meta": _without(m, "format")}, "metadata has no 'format'"),
    ("meta without recipe", lambda st, m: {"state_dict": st, "meta": _without(m, "recipe")}, "no 'recipe'"),
    ("test_accuracy missing", lambda st, m: {"state_dict": st, "meta": _without(m, "test_accuracy")},
     "no 'test_accuracy'"),
    ("format a string", lambda st, m: {"state_dict": st, "meta": dict(m, format="1")}, "'format' is a str"),
    ("format a bool", lambda st, m: {"state_dict": st, "meta": dict(m, format=True)}, "'format' is a bool"),
    ("format 2", lambda st, m: {"state_dict": st, "meta": dict(m, format=2)}, "format is 2"),
    ("recipe a tensor", lambda st, m: {"state_dict": st, "meta": dict(m, recipe=torch.zeros(2))}, "'recipe' is a Tensor"),
    ("recipe a string", lambda st, m: {"state_dict": st, "meta": dict(m, recipe="default")}, "'recipe' is a str"),
    ("recipe key missing", lambda st, m: {"state_dict": st, "meta": dict(m, recipe=_without(m["recipe"], "lr"))},
     "recipe has the keys"),
    ("recipe value a string", lambda st, m: {"state_dict": st, "meta": dict(m, recipe=dict(m["recipe"], epochs="2"))},
     "another recipe"),
    ("recipe value a bool", lambda st, m: {"state_dict": st, "meta": dict(m, recipe=dict(m["recipe"], seed=False))},
     "another recipe"),
    ("recipe sizes a tensor",
     lambda st, m: {"state_dict": st, "meta": dict(m, recipe=dict(m["recipe"], sizes=torch.tensor([64, 16, 10])))},
     "another recipe"),
    ("checksum a tensor", lambda st, m: {"state_dict": st, "meta": dict(m, data_sha256=torch.zeros(1))},
     "'data_sha256' is a Tensor"),
    ("test_accuracy a string", lambda st, m: {"state_dict": st, "meta": dict(m, test_accuracy="0.99")},
     "'test_accuracy' is a str"),
    ("test_accuracy a tensor", lambda st, m: {"state_dict": st, "meta": dict(m, test_accuracy=torch.tensor(0.9))},
     "'test_accuracy' is a Tensor"),
    ("test_accuracy nan", lambda st, m: {"state_dict": st, "meta": dict(m, test_accuracy=float("nan"))},
     "is not in \\[0, 1\\]"),
    ("num_parameters a float", lambda st, m: {"state_dict": st, "meta": dict(m, num_parameters=1.0)},
     "'num_parameters' is a float"),
    ("state_dict a list", lambda st, m: {"state_dict": list(st.values()), "meta": m}, "state_dict is a list"),
    ("weight missing", lambda st, m: {"state_dict": _without(st, "0.bias"), "meta": m}, "missing \\['0.bias'\\]"),
    ("extra weight", lambda st, m: {"state_dict": dict(st, extra=torch.zeros(1)), "meta": m}, "unexpected \\['extra'\\]"),
    ("weight a list", lambda st, m: {"state_dict": dict(st, **{"0.bias": [0.0] * 16}), "meta": m},
     "'0.bias' is a list"),
    ("weight float64", lambda st, m: {"state_dict": dict(st, **{"0.bias": st["0.bias"].double()}), "meta": m},
     "torch.float64"),
    ("weight nan", lambda st, m: {"state_dict": dict(st, **{"0.weight": torch.full_like(st["0.weight"], float("nan"))}),
                                  "meta": m}, "NaN or infinite"),
    ("weight inf", lambda st, m: {"state_dict": dict(st, **{"3.bias": torch.full_like(st["3.bias"], float("inf"))}),
                                  "meta": m}, "NaN or infinite"),
]


@pytest.mark.parametrize("name, make, message", BROKEN, ids=[b[0] for b in BROKEN])
def test_every_unusable_checkpoint_warns_and_retrains(tmp_path, split, tiny_recipe, name, make, message):
    state, meta = _good(split)
    path = tmp_path / "t.pt"
    torch.save(make(state, meta), path)
    assert_retrains(path, split, message)


def test_train_teacher_without_augmentation(split, tiny_recipe):
    plain, meta = teacher_module.train_teacher(split, augment_copies=0, epochs=3, progress=False)
    assert meta["recipe"]["augment_copies"] == 0 and meta["recipe"]["epochs"] == 3
    assert teacher_module.TEACHER_RECIPE["epochs"] == 2  # the recipe itself is untouched
    expected = teacher_module.teacher_from_recipe(split, meta["recipe"], progress=False)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), expected.state_dict().values()))
    assert not plain.training


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(augment_copies=-1), ValueError, r"augment_copies=-1 is out of range; allowed: \[0, inf\]"),
    (dict(augment_copies=1.5), TypeError, "augment_copies must be an integer"),
    (dict(epochs=0), ValueError, r"epochs=0 is out of range"),
    (dict(progress="no"), TypeError, "progress must be True, False or None"),
])
def test_train_teacher_bad_input(split, kwargs, error, match):
    with pytest.raises(error, match=match):
        teacher_module.train_teacher(split, **kwargs)
    with pytest.raises(TypeError, match="split must be a DigitsSplit"):
        teacher_module.train_teacher((split.X_train, split.y_train))


def test_load_teacher_bad_arguments(split):
    with pytest.raises(TypeError, match="path must be a str or a path, got int"):
        load_teacher(3, split=split)
    with pytest.raises(TypeError, match="save must be True or False"):
        load_teacher(split=split, save="yes")
    with pytest.raises(TypeError, match="split must be a DigitsSplit"):
        load_teacher(split={"X": 1})
