"""Notebook 09's data: the WordNet glosses file, its checksum, the split and the transfer set."""

from __future__ import annotations

import collections
import gzip
import hashlib
import re

import pytest
import torch

from distill_lib.text import CATEGORIES, GLOSSES_SHA256, Gloss, TextSplit, data, load_glosses, load_text_split
from tools.export_wordnet import clean_gloss, export, parse_data_noun

#: Glosses per labelled category in the shipped file (printed by tools/export_wordnet.py).
COUNTS = {
    "noun.animal": 7272, "noun.plant": 7910, "noun.food": 2571, "noun.artifact": 11570,
    "noun.person": 11045, "noun.location": 3155, "noun.body": 2015, "noun.substance": 2956,
    "noun.act": 6641, "noun.communication": 5525,
}
TOTAL = 81481


@pytest.fixture(scope="module")
def glosses() -> list[Gloss]:
    return load_glosses()


@pytest.fixture(scope="module")
def split() -> TextSplit:
    return load_text_split(seed=0)


def test_file_matches_checksum():
    assert hashlib.sha256(data._GLOSSES_FILE.read_bytes()).hexdigest() == GLOSSES_SHA256


def test_corrupted_copy_refused(tmp_path, monkeypatch):
    raw = bytearray(data._GLOSSES_FILE.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    bad = tmp_path / "wordnet_glosses.tsv.gz"
    bad.write_bytes(bytes(raw))
    monkeypatch.setattr(data, "_GLOSSES_FILE", bad)
    with pytest.raises(RuntimeError, match="shipped data changed"):
        load_glosses()
    with pytest.raises(RuntimeError, match="shipped data changed"):
        load_text_split()


def test_missing_file_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_GLOSSES_FILE", tmp_path / "absent.tsv.gz")
    with pytest.raises(RuntimeError, match="missing"):
        load_glosses()


@pytest.mark.parametrize(
    "body, match",
    [
        (b"not gzip at all", "not gzip"),
        (gzip.compress(b"offset\tcat\tgloss\n", mtime=0), "header"),
        (gzip.compress(b"synset_offset\tcategory\tgloss\n00001740\tnoun.Tops\n", mtime=0), "line 2"),
        (gzip.compress(b"synset_offset\tcategory\tgloss\nx1740\tnoun.Tops\tan entity\n", mtime=0), "line 2"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,  # gzip bytes as ids would differ between xdist workers
)
def test_malformed_file_with_matching_checksum_named(tmp_path, monkeypatch, body, match):
    bad = tmp_path / "wordnet_glosses.tsv.gz"
    bad.write_bytes(body)
    monkeypatch.setattr(data, "_GLOSSES_FILE", bad)
    monkeypatch.setattr(data, "GLOSSES_SHA256", hashlib.sha256(body).hexdigest())
    with pytest.raises(ValueError, match=match) as info:
        load_glosses()
    assert str(bad) in str(info.value)


def test_glosses_counts_and_categories(glosses):
    assert len(glosses) == TOTAL
    counts = collections.Counter(g.category for g in glosses)
    assert {c: counts[c] for c in CATEGORIES} == COUNTS
    assert len(counts) == 26  # every noun lexicographer file, noun.Tops .. noun.time
    assert all(c.startswith("noun.") for c in counts)
    assert [g.offset for g in glosses] == sorted(g.offset for g in glosses)
    assert len({g.text for g in glosses}) == TOTAL  # duplicates dropped by the export


def test_no_domain_tag_or_example_left(glosses):
    tag = re.compile(r"^\s*\(")
    assert not [g.text for g in glosses if tag.match(g.text)]
    assert not [g.text for g in glosses if re.search(r'[;:]\s*"', g.text)]
    assert all(g.text == g.text.strip() and "\t" not in g.text for g in glosses)


def test_clean_gloss_by_hand():
    assert clean_gloss('(botany) (biology) a flowering plant; "the plant grew"') == "a flowering plant"
    assert clean_gloss('a dog: "the dog barked"') == "a dog"
    assert clean_gloss('promise of reward as in "carrot and stick"') == 'promise of reward as in "carrot and stick"'
    assert clean_gloss("a body part (of vertebrates)  ") == "a body part (of vertebrates)"


def test_export_deterministic_and_drops_duplicates():
    text = (
        "  1 This software and database is being provided to you\n"
        '00000010 05 n 01 dog 0 000 | (zoology) a canine; "the dog barked"  \n'
        "00000020 20 n 01 fern 0 000 | a plant without flowers  \n"
        "00000030 05 n 01 hound 0 000 | a canine  \n"
    )
    rows = parse_data_noun(text)
    first, counts, dropped = export(rows)
    assert first == export(rows)[0]
    assert first[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert gzip.decompress(first).decode() == (
        "synset_offset\tcategory\tgloss\n"
        "00000010\tnoun.animal\ta canine\n"
        "00000020\tnoun.plant\ta plant without flowers\n"
    )
    assert counts == {"noun.animal": 1, "noun.plant": 1} and dropped == {"empty": 0, "duplicate": 1}
    with pytest.raises(ValueError, match="line 1"):
        parse_data_noun("00000010 05 v 01 run 0 000 | move fast\n")


def test_split_stratified_sizes(split):
    for part, fraction in (("test", 0.2), ("val", 0.2)):
        counts = torch.bincount(getattr(split, f"y_{part}"), minlength=len(CATEGORIES)).tolist()
        assert counts == [round(COUNTS[c] * fraction) for c in CATEGORIES]
    train = torch.bincount(split.y_train, minlength=len(CATEGORIES)).tolist()
    assert train == [COUNTS[c] - 2 * round(COUNTS[c] * 0.2) for c in CATEGORIES]
    assert split.sizes == {"train": 36398, "val": 12131, "test": 12131, "transfer": TOTAL - sum(COUNTS.values())}
    for part in ("train", "val", "test"):
        y = getattr(split, f"y_{part}")
        assert y.dtype == torch.int64 and y.shape == (len(getattr(split, f"texts_{part}")),)


def test_split_labels_and_transfer_match_the_file(glosses, split):
    category_of = {g.text: g.category for g in glosses}
    for part in ("train", "val", "test"):
        texts, y = getattr(split, f"texts_{part}"), getattr(split, f"y_{part}")
        assert [category_of[t] for t in texts] == [CATEGORIES[i] for i in y.tolist()]
    assert {t for t in split.texts_transfer} == {g.text for g in glosses if g.category not in CATEGORIES}


def test_split_disjoint(split):
    parts = [set(split.texts_train), set(split.texts_val), set(split.texts_test), set(split.texts_transfer)]
    assert sum(map(len, parts)) == TOTAL == len(set().union(*parts))


def test_split_deterministic_and_seeded(split):
    again = load_text_split(0)
    assert again.texts_test == split.texts_test and again.texts_transfer == split.texts_transfer
    assert torch.equal(again.y_train, split.y_train)
    other = load_text_split(seed=1)
    assert set(other.texts_test) != set(split.texts_test)
    assert set(other.texts_transfer) == set(split.texts_transfer)
    # the parts mix the categories: the first 100 training glosses are not one category's
    assert len(set(split.y_train[:100].tolist())) == len(CATEGORIES)


def test_split_is_frozen(split):
    with pytest.raises(AttributeError):
        split.texts_train = ()


@pytest.mark.parametrize("seed, error, match", [
    (-1, ValueError, "seed=-1"), (1.5, TypeError, "1.5"), (True, TypeError, "True"), ("0", TypeError, "'0'"),
])
def test_bad_seed(seed, error, match):
    with pytest.raises(error, match=match):
        load_text_split(seed)
