"""Notebook 09's sweep: the few-label targets, the jobs' rules, the cached file checked, and its choices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distill_lib.losses import UNLABELLED
from distill_lib.text import sweep as sw
from distill_lib.text.data import CATEGORIES, load_text_split
from distill_lib.text.students import STUDENTS, make_student
from distill_lib.text.teacher import EMBED_COMPONENTS


@pytest.fixture(scope="module")
def cached():
    return sw.load_text_sweep()


def test_few_labels_keeps_the_first_per_class_and_hides_the_rest():
    y = torch.tensor([0, 1, 0, 2, 0, 1, 2, 2])
    got = sw.few_labels(y, 2)
    H = UNLABELLED
    assert got.tolist() == [0, 1, 0, 2, H, 1, 2, H]
    assert got.dtype == y.dtype


def test_few_labels_on_the_split_gives_twenty_per_category():
    y = load_text_split().y_train
    kept = sw.few_labels(y, sw.SWEEP_RECIPE["labels_per_class"])
    labelled = kept[kept != UNLABELLED]
    assert np.bincount(labelled.numpy(), minlength=len(CATEGORIES)).tolist() == [20] * len(CATEGORIES)


@pytest.mark.parametrize("job", [dict(arm="scratch", lam=0.9, beta=0.0), dict(arm="scratch", lam=0.0, beta=1.0),
                                 dict(arm="kd", lam=0.9, beta=1.0)])
def test_a_job_that_breaks_its_arms_rule_is_refused(job):
    with pytest.raises(ValueError, match="'scratch' needs lam = beta = 0"):
        sw._run(dict(student="bag", setting="few", seed=0, temperature=4.0, **job))


def test_load_refuses_a_missing_or_foreign_file_naming_the_fix(tmp_path):
    with pytest.raises(ValueError, match="make text-sweep"):
        sw.load_text_sweep(tmp_path / "missing.pt")
    path = tmp_path / "foreign.pt"
    torch.save({"meta": {"format": 1, "recipe": {"steps": 1}}, "runs": [], "selection": [], "models": {}}, path)
    with pytest.raises(ValueError, match="another format or recipe"):
        sw.load_text_sweep(path)
    torch.save([1, 2, 3], path)
    with pytest.raises(ValueError, match="not a sweep dictionary"):
        sw.load_text_sweep(path)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="could not be read"):
        sw.load_text_sweep(path)
    with pytest.raises(TypeError, match="path must be"):
        sw.load_text_sweep(7)


def test_the_cached_sweep_is_complete(cached):
    r = sw.SWEEP_RECIPE
    assert len(cached.runs) == len(STUDENTS) * len(sw.SETTINGS) * len(sw.ARMS) * r["seeds"]
    for student in STUDENTS:
        for setting in sw.SETTINGS:
            for arm in sw.ARMS:
                runs = cached.find(student=student, setting=setting, arm=arm)
                assert [x["seed"] for x in runs] == list(range(r["seeds"]))
                for x in runs:
                    assert 1 <= x["best_step"] <= r["steps"] and x["test_pred"].dtype == torch.int8
                    assert x["val_accuracy"] == max(a for _, a in x["history"])
                    if arm == "scratch":
                        assert (x["lam"], x["beta"]) == (0.0, 0.0)
                    else:
                        chosen = cached.meta["chosen"][setting]
                        assert (x["temperature"], x["lam"]) == (chosen["temperature"], chosen["lam"])
                        assert x["beta"] == (chosen["beta"] if arm == "kd+cos" else 0.0)


def test_the_choices_are_the_best_on_validation(cached):
    r = sw.SWEEP_RECIPE
    for setting in sw.SETTINGS:
        def mean(**m):
            vals = [x["val_accuracy"] for x in cached.selection
                    if x["setting"] == setting and all(x[k] == v for k, v in m.items())]
            assert len(vals) == r["select_seeds"]
            return float(np.mean(vals))
        chosen = cached.meta["chosen"][setting]
        best = max(mean(temperature=t, lam=lam, beta=0.0) for t in r["temperatures"] for lam in r["lams"])
        assert mean(temperature=chosen["temperature"], lam=chosen["lam"], beta=0.0) == best
        best_beta = max(mean(temperature=chosen["temperature"], lam=chosen["lam"], beta=b) for b in r["betas"])
        assert mean(temperature=chosen["temperature"], lam=chosen["lam"], beta=chosen["beta"]) == best_beta
    assert all("test_pred" not in x for x in cached.selection)  # the choices never saw the test set


def test_the_saved_students_load_and_are_the_seed0_runs(cached):
    data_vocab = cached.meta["vocab_size"]
    split = load_text_split()
    from distill_lib.text.encoder import load_tokenizer
    from distill_lib.text.tokens import build_vocab, encode_texts

    tok = load_tokenizer()
    vocab = build_vocab(tok, list(split.texts_train) + list(split.texts_transfer))
    assert vocab.size == data_vocab
    tokens = encode_texts(tok, vocab, list(split.texts_test[:256]))
    for name, saved in cached.models.items():
        assert saved["arm"] in ("kd", "kd+cos")
        model = make_student(name, vocab.size, len(CATEGORIES), EMBED_COMPONENTS)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in saved["state"].items()})
        model.eval()
        with torch.no_grad():
            pred = model(*tokens)[0].argmax(1)
        (run,) = [x for x in cached.find(student=name, setting="all", arm=saved["arm"]) if x["seed"] == 0]
        agree = float((pred == run["test_pred"][:256].long()).float().mean())
        assert agree >= 0.98, (name, agree)  # float16 weights may flip a borderline gloss


def test_student_data_refuses_bad_arguments():
    with pytest.raises(TypeError, match="split must be a TextSplit"):
        sw.student_data(split="train")
    with pytest.raises(TypeError, match="teacher must be a TextTeacher"):
        sw.student_data(teacher={})
    with pytest.raises(ValueError, match="per_class"):
        sw.student_data(per_class=0)


def test_a_sweep_of_another_teacher_is_refused(tmp_path, cached):
    d = torch.load(sw.TEXT_SWEEP_PATH, weights_only=True)
    d["meta"]["teacher_sha256"] = "0" * 64
    path = tmp_path / "sweep.pt"
    torch.save(d, path)
    with pytest.raises(ValueError, match="another teacher's outputs"):
        sw.load_text_sweep(path)


@pytest.mark.parametrize("case", ["chosen", "test labels", "model arm", "model shape", "selection", "models type"])
def test_a_malformed_sweep_is_refused_naming_the_fix(tmp_path, case, cached):
    d = torch.load(sw.TEXT_SWEEP_PATH, weights_only=True)
    if case == "chosen":
        d["meta"]["chosen"] = {"few": {"temperature": 1.0}}
    elif case == "test labels":
        d["meta"]["test_sha256"] = "0" * 64
    elif case == "model arm":
        d["models"]["gru"]["arm"] = "scratch"
    elif case == "model shape":
        d["models"]["bag"]["state"]["classify.weight"] = torch.zeros(3, 3)
    elif case == "selection":
        d["selection"] = d["selection"][:-1]
    else:
        d["models"] = 5
    path = tmp_path / "sweep.pt"
    torch.save(d, path)
    with pytest.raises(ValueError, match="make text-sweep"):
        sw.load_text_sweep(path)


def test_run_text_sweep_checks_its_arguments_before_training(tmp_path):
    with pytest.raises(TypeError, match="path must be"):
        sw.run_text_sweep(3)
    with pytest.raises(ValueError, match="folder does not exist"):
        sw.run_text_sweep(tmp_path / "missing" / "sweep.pt")
    with pytest.raises(ValueError, match="processes"):
        sw.run_text_sweep(tmp_path / "sweep.pt", processes=0)
    with pytest.raises(TypeError, match="progress"):
        sw.run_text_sweep(tmp_path / "sweep.pt", progress="yes")
