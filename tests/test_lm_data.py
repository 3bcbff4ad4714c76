"""Notebook 10's data: the Austen file, its checksum, the split by chapters and the alphabet."""

from __future__ import annotations

import collections
import gzip
import hashlib

import pytest
import torch

from distill_lib.lm import (
    ALPHABET,
    AUSTEN_SHA256,
    BOOKS,
    Alphabet,
    AustenSplit,
    Chapter,
    data,
    load_austen,
    load_austen_split,
)
from tools.export_austen import clean_text, split_book

#: Chapters per novel, as published (S&S 50, P&P 61, MP 48, Emma 3 volumes of 18 + 18 + 19, NA 31, P 24).
CHAPTERS = {
    "Sense & Sensibility": 50, "Pride & Prejudice": 61, "Mansfield Park": 48,
    "Emma": 55, "Northanger Abbey": 31, "Persuasion": 24,
}
#: Characters per part for seed 0 (the data card in data/README.md quotes them).
SIZES = {"train": 3208953, "val": 411281, "test": 382208}


@pytest.fixture(scope="module")
def chapters() -> list[Chapter]:
    return load_austen()


@pytest.fixture(scope="module")
def split() -> AustenSplit:
    return load_austen_split(seed=0)


def test_package_exports_the_data_module():
    from distill_lib import lm

    assert set(data.__all__) <= set(lm.__all__) and all(getattr(lm, name) is getattr(data, name) for name in data.__all__)
    assert len(lm.__all__) == len(set(lm.__all__))  # no name exported by two modules


def test_file_matches_checksum():
    assert hashlib.sha256(data._AUSTEN_FILE.read_bytes()).hexdigest() == AUSTEN_SHA256


def test_corrupted_copy_refused(tmp_path, monkeypatch):
    raw = bytearray(data._AUSTEN_FILE.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    bad = tmp_path / "austen.tsv.gz"
    bad.write_bytes(bytes(raw))
    monkeypatch.setattr(data, "_AUSTEN_FILE", bad)
    with pytest.raises(RuntimeError, match="shipped data changed"):
        load_austen()
    with pytest.raises(RuntimeError, match="shipped data changed"):
        load_austen_split()


def test_missing_file_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_AUSTEN_FILE", tmp_path / "absent.tsv.gz")
    with pytest.raises(RuntimeError, match="missing"):
        load_austen()


_HEAD = b"book\tchapter\tparagraph\n"


@pytest.mark.parametrize(
    "body, match",
    [
        (b"not gzip at all", "not gzip"),
        (gzip.compress(b"book\tchapter\ttext\n", mtime=0), "header"),
        (gzip.compress(_HEAD + b"Emma\t1\n", mtime=0), "line 2 is not"),
        (gzip.compress(_HEAD + b"Sanditon\t1\tUnfinished.\n", mtime=0), "line 2 is not"),
        (gzip.compress(_HEAD + b"Sense & Sensibility\tone\tCHAPTER 1\n", mtime=0), "line 2 is not"),
        (gzip.compress(_HEAD + b"Sense & Sensibility\t2\tCHAPTER 2\n", mtime=0), "line 2: 'Sense & Sensibility' chapter 2 is out of order"),
        (gzip.compress(_HEAD + b"Sense & Sensibility\t1\tCHAPTER 1\nEmma\t1\tCHAPTER I\n", mtime=0), "line 3: 'Emma'"),
        (gzip.compress(_HEAD + "Sense & Sensibility\t1\tHer £20,000.\n".encode(), mtime=0), "line 2: '£' at column 5"),
        (gzip.compress(_HEAD + b"Sense & Sensibility\t1\tCHAPTER 1\n", mtime=0), "ends before the last book"),
    ],
    ids=["not-gzip", "header", "missing-field", "unknown-book", "chapter-not-a-number", "chapter-order", "book-order",
         "character-outside-alphabet", "ends-early"],  # (gzip bytes as ids would differ between pytest-xdist workers)
)
def test_malformed_file_with_matching_checksum_named(tmp_path, monkeypatch, body, match):
    bad = tmp_path / "austen.tsv.gz"
    bad.write_bytes(body)
    monkeypatch.setattr(data, "_AUSTEN_FILE", bad)
    monkeypatch.setattr(data, "AUSTEN_SHA256", hashlib.sha256(body).hexdigest())
    with pytest.raises(ValueError, match=match) as info:
        load_austen()
    assert str(bad) in str(info.value)


def test_chapters_per_novel_as_published(chapters):
    counts = collections.Counter(c.book for c in chapters)
    assert dict(counts) == CHAPTERS
    assert [c.book for c in chapters] == [b for b in BOOKS for _ in range(CHAPTERS[b])]  # reading order
    for c in chapters:
        heading = c.text.split("\n", 1)[0]
        assert heading.lower().startswith("chapter "), (c.book, c.chapter, heading)
    # Emma's Roman numerals restart in each volume: its 19th chapter is volume II's CHAPTER I.
    emma = [c for c in chapters if c.book == "Emma"]
    assert emma[18].text.startswith("CHAPTER I\n") and emma[36].text.startswith("CHAPTER I\n")


def test_famous_first_and_last_lines(chapters):
    pride = [c for c in chapters if c.book == "Pride & Prejudice"]
    assert pride[0].text.startswith("Chapter 1\nIt is a truth universally acknowledged, that a single man "
                                    "in possession of a good fortune, must be in want of a wife.\n")
    assert chapters[-1].text.endswith("more distinguished in its domestic virtues than in its national importance.")


def test_alphabet_is_every_character_of_the_corpus(chapters):
    used = set("\n".join(c.text for c in chapters))
    assert ALPHABET == "".join(sorted(used)) and len(ALPHABET) == 79
    assert all(c == "\n" or (c.isascii() and c.isprintable()) for c in ALPHABET)
    assert "_" not in used and "\t" not in used  # italics marks removed; tabs cannot survive the TSV


def test_split_sizes_and_chapters_per_part(split):
    assert split.sizes == SIZES
    for book, n in CHAPTERS.items():
        per_part = [sum(b == book for b, _ in getattr(split, f"chapters_{p}")) for p in ("train", "val", "test")]
        assert per_part == [n - 2 * round(n / 10), round(n / 10), round(n / 10)], book
    assert (len(split.chapters_train), len(split.chapters_val), len(split.chapters_test)) == (215, 27, 27)


def test_split_parts_are_disjoint_whole_chapters_in_reading_order(split, chapters):
    train, val, test = (set(getattr(split, f"chapters_{p}")) for p in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert train | val | test == {(c.book, c.chapter) for c in chapters}
    text_of = {(c.book, c.chapter): c.text for c in chapters}
    for part in ("train", "val", "test"):
        names = getattr(split, f"chapters_{part}")
        assert list(names) == sorted(names, key=lambda n: (BOOKS.index(n[0]), n[1])), part
        assert getattr(split, part) == "\n".join(text_of[n] for n in names), part
    # Held-out text was never seen: no validation or test chapter occurs in the training text.
    for name in split.chapters_val + split.chapters_test:
        assert text_of[name] not in split.train, name


def test_split_follows_the_hash_rule():
    # Persuasion (24 chapters): the two chapters with the smallest sha256("0:Persuasion:n") are test.
    keys = sorted(range(1, 25), key=lambda n: hashlib.sha256(f"0:Persuasion:{n}".encode()).hexdigest())
    split = load_austen_split(seed=0)
    assert [n for b, n in split.chapters_test if b == "Persuasion"] == sorted(keys[:2])
    assert [n for b, n in split.chapters_val if b == "Persuasion"] == sorted(keys[2:4])


def test_split_is_deterministic_and_seed_selects_another(split):
    again = load_austen_split(seed=0)
    assert again == split
    other = load_austen_split(seed=1)
    assert other.chapters_test != split.chapters_test
    assert sum(other.sizes.values()) == sum(split.sizes.values())  # the same text, cut elsewhere


@pytest.mark.parametrize("seed, error, match", [(-1, ValueError, "seed=-1"), (True, TypeError, "seed"),
                                                 (0.0, TypeError, "seed")])
def test_split_bad_seed(seed, error, match):
    with pytest.raises(error, match=match):
        load_austen_split(seed=seed)


def test_encode_hand_values_and_round_trip(split):
    alphabet = Alphabet()
    assert len(alphabet) == 79
    ids = alphabet.encode("Emma!\n")
    assert ids.dtype == torch.int64 and ids.tolist() == [ALPHABET.index(c) for c in "Emma!\n"]
    assert ids.tolist() == [29, 65, 65, 53, 2, 0]
    assert alphabet.decode(ids) == "Emma!\n" and alphabet.decode([29, 65, 65, 53]) == "Emma"
    assert alphabet.encode("").shape == (0,) and alphabet.decode(torch.zeros(0, dtype=torch.long)) == ""
    for part in ("val", "test"):
        text = getattr(split, part)
        assert alphabet.decode(alphabet.encode(text)) == text


def test_a_small_alphabet_matches_a_dictionary():
    alphabet = Alphabet("ba\u00e9")  # any characters, in the given order
    assert alphabet.encode("abé").tolist() == [1, 0, 2]
    assert alphabet.decode(torch.tensor([2, 1, 0], dtype=torch.int32)) == "éab"


@pytest.mark.parametrize(
    "text, match",
    [("Emma£", r"text\[4\]='£' is not in the alphabet of 79 characters \(1 such"),
     ("\tTab", r"text\[0\]='\\t'"),
     ("naïve ☃", r"text\[2\]='ï' .*\(2 such")],
)
def test_encode_unknown_character_named(text, match):
    with pytest.raises(ValueError, match=match):
        Alphabet().encode(text)


def test_encode_bad_type():
    with pytest.raises(TypeError, match="text must be a string, got bytes"):
        Alphabet().encode(b"Emma")


@pytest.mark.parametrize(
    "ids, error, match",
    [([29, 79], ValueError, r"ids\[1\]=79 is out of range; allowed: \[0, 78\]"),
     (torch.tensor([3, -1]), ValueError, r"ids\[1\]=-1 is out of range"),
     (torch.zeros(2, 3, dtype=torch.long), ValueError, r"1-D, got shape \(2, 3\)"),
     (torch.tensor([1.0, 2.0]), TypeError, "integer tensor, got dtype torch.float32"),
     (torch.tensor([True]), TypeError, "dtype torch.bool"),
     ([1, True], TypeError, r"ids\[1\]=True is not an integer"),
     ([1, 2.0], TypeError, r"ids\[1\]=2.0"),
     ("abc", TypeError, "got str"),
     (7, TypeError, "got int")],
)
def test_decode_bad_ids_named(ids, error, match):
    with pytest.raises(error, match=match):
        Alphabet().decode(ids)


@pytest.mark.parametrize("chars, error, match", [("", ValueError, "empty"), ("abca", ValueError, r"chars\[3\]='a' appears twice"),
                                                 (["a", "b"], TypeError, "got list")])
def test_alphabet_bad_chars(chars, error, match):
    with pytest.raises(error, match=match):
        Alphabet(chars)


def test_export_rules_on_a_small_novel():
    lines = ["TITLE", "", "By Jane Austen", "", "VOLUME I", "", "CHAPTER I", "", "",
             "It was _very_ odd, and cost", "her  \u00a320,000.", "", "    A letter,", "    indented.",
             "", "VOLUME II", "", "CHAPTER I", "", "[At this point in the first edition, Volume 1 ends.]",
             "", "Last words.", "", "FINIS"]
    changed: collections.Counter = collections.Counter()
    rows = split_book(lines, changed)
    assert rows == [(1, "CHAPTER I"), (1, "It was very odd, and cost her L20,000."),
                    (1, "A letter, indented."), (2, "CHAPTER I"), (2, "Last words.")]
    assert changed["_ removed"] == 2 and changed["\u00a3 -> L"] == 1
    assert changed["characters dropped"] == len("TITLE" "By Jane Austen" "VOLUME I" "VOLUME II" "FINIS") + len(
        "[At this point in the first edition, Volume 1 ends.]")
    assert clean_text("_I_ gave", collections.Counter()) == "I gave"
    with pytest.raises(ValueError, match="no chapter heading"):
        split_book(["no chapters here"], collections.Counter())
