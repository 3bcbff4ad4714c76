"""Notebook 10's data: Jane Austen's six novels as characters, split by chapters.

The novels (*Sense and Sensibility*, 1811; *Pride and Prejudice*, 1813; *Mansfield Park*, 1814;
*Emma*, 1815; *Northanger Abbey* and *Persuasion*, 1818; public domain) as Project Gutenberg's
texts, from the R package *janeaustenr* (J. Silge, MIT) as Debian ships it. ``data/austen.tsv.gz``
holds them one paragraph per row with its novel and chapter, exported once by
``python tools/export_austen.py``; see ``data/README.md`` for the data card. Nothing is
downloaded here.

- :func:`load_austen`: every chapter as a :class:`Chapter` ``(book, chapter, text)``, after
  checking the file's SHA-256 against :data:`AUSTEN_SHA256`; a chapter's text is its paragraphs
  joined by ``"\\n"``, its heading ("CHAPTER 1", "Chapter 1", ...) first.
- :func:`load_austen_split`: the train / validation / test text as three strings
  (:class:`AustenSplit`): whole chapters, so the validation and test text was never seen in
  training.
- :class:`Alphabet`: the character-level vocabulary (:data:`ALPHABET`, 79 characters: printable
  ASCII that occurs, and the newline), ``encode(text) -> ids`` and ``decode(ids) -> text``.

Like the other splits of the workbook (:func:`distill_lib.data.load_split`), the split uses no
random number generator: within each novel, the chapters are ordered by the SHA-256 of
``"{seed}:{book}:{chapter}"``; the first 10 % (rounded) go to test, the next 10 % to validation,
the rest to train. Each part keeps the chapters in reading order (the novels in order of
publication) and joins them with ``"\\n"``.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .._validation import check_int

__all__ = [
    "ALPHABET",
    "AUSTEN_SHA256",
    "BOOKS",
    "Alphabet",
    "AustenSplit",
    "Chapter",
    "load_austen",
    "load_austen_split",
]

#: SHA-256 of ``data/austen.tsv.gz`` as shipped (the bytes of the file).
AUSTEN_SHA256 = "6f1c030f0cddeb1e772e10dcffcd34e8aa68c3bf2669f44d945ab14697374cd6"

#: The six novels, in order of publication, titled as janeaustenr's ``austen_books()`` titles them.
BOOKS = (
    "Sense & Sensibility",
    "Pride & Prejudice",
    "Mansfield Park",
    "Emma",
    "Northanger Abbey",
    "Persuasion",
)

#: Every character of the corpus, sorted: the newline, then printable ASCII that occurs (79).
ALPHABET = "\n !\"&'()*,-.0123456789:;?ABCDEFGHIJKLMNOPQRSTUVWXYZ[]abcdefghijklmnopqrstuvwxyz"

_AUSTEN_FILE = Path(__file__).resolve().parents[2] / "data" / "austen.tsv.gz"
_HEADER = "book\tchapter\tparagraph"
_TEST_FRACTION = 0.1
_VAL_FRACTION = 0.1


class Chapter(NamedTuple):
    """One chapter: its novel (one of :data:`BOOKS`), its number (1, 2, ... in the novel), its text."""

    book: str
    chapter: int
    text: str


@dataclass(frozen=True)
class AustenSplit:
    """The train / validation / test text, whole chapters each, and which chapters each holds.

    ``train``, ``val`` and ``test`` are the chapters' texts joined by ``"\\n"`` in reading order;
    ``chapters_*`` name them as ``(book, chapter)`` pairs in the same order.
    """

    train: str
    val: str
    test: str
    chapters_train: tuple[tuple[str, int], ...]
    chapters_val: tuple[tuple[str, int], ...]
    chapters_test: tuple[tuple[str, int], ...]

    @property
    def sizes(self) -> dict[str, int]:
        """Characters per part; seed 0: ``{"train": 3208953, "val": 411281, "test": 382208}``."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


class Alphabet:
    """A character-level vocabulary: character ``chars[i]`` has id ``i``.

    Args:
        chars: the characters, each once (default :data:`ALPHABET`, the corpus's 79).

    Raises:
        TypeError: ``chars`` is not a string.
        ValueError: ``chars`` is empty or holds a character twice (named).

    Example::

        >>> alphabet = Alphabet()
        >>> ids = alphabet.encode("Emma")
        >>> ids.tolist(), alphabet.decode(ids)
        ([29, 65, 65, 53], 'Emma')
    """

    def __init__(self, chars: str = ALPHABET) -> None:
        if not isinstance(chars, str):
            raise TypeError(f"chars must be a string, got {type(chars).__name__}")
        if not chars:
            raise ValueError("chars='' is empty; an alphabet needs at least one character")
        seen: set[str] = set()
        for position, char in enumerate(chars):
            if char in seen:
                raise ValueError(f"chars[{position}]={char!r} appears twice; each character must appear once")
            seen.add(char)
        self.chars = chars
        codes = np.array([ord(c) for c in chars], dtype=np.int64)  # (V,)
        # ids_of[code] is the id of the character with that code point, -1 for others; the last
        # entry stands for every code point above the largest one.
        self._ids_of = np.full(int(codes.max()) + 2, -1, dtype=np.int64)
        self._ids_of[codes] = np.arange(len(chars))
        self._codes = codes.astype(np.uint32)

    def __len__(self) -> int:
        return len(self.chars)

    def __repr__(self) -> str:
        return f"Alphabet({self.chars!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Alphabet) and other.chars == self.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def encode(self, text: str) -> Tensor:
        """The ids of ``text``'s characters.

        Args:
            text: any string of the alphabet's characters (the empty string gives no ids).

        Shape:
            Returns ``(len(text),)``.

        Returns:
            An int64 tensor of ids in ``[0, len(self) - 1]``.

        Raises:
            TypeError: ``text`` is not a string.
            ValueError: a character is not in the alphabet (names the first such one and its position).

        Example::

            >>> Alphabet().encode("Hi!")
            tensor([32, 61,  2])
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        codes = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype="<u4")  # (N,)
        limit = len(self._ids_of) - 1
        ids = self._ids_of[np.minimum(codes, limit).astype(np.int64)]  # (N,)
        unknown = np.flatnonzero(ids < 0)
        if unknown.size:
            position = int(unknown[0])
            raise ValueError(
                f"text[{position}]={text[position]!r} is not in the alphabet of {len(self)} characters "
                f"({unknown.size} such characters in the text); allowed: {self.chars!r}"
            )
        return torch.from_numpy(ids)

    def decode(self, ids: Tensor | Sequence[int]) -> str:
        """The text of a sequence of ids (the inverse of :meth:`encode`).

        Args:
            ids: a 1-D integer tensor, or a sequence of ints, each in ``[0, len(self) - 1]``.

        Shape:
            ``ids``: ``(N,)``; returns a string of ``N`` characters.

        Returns:
            The characters ``self.chars[i]`` for each id, as one string.

        Raises:
            TypeError: ``ids`` is not an integer tensor or a sequence of ints (booleans refused).
            ValueError: ``ids`` is not 1-D, or an id is out of range (names the first one and its position).

        Example::

            >>> Alphabet().decode(torch.tensor([32, 61, 2]))
            'Hi!'
        """
        if isinstance(ids, Tensor):
            if ids.dtype == torch.bool or ids.dtype.is_floating_point or ids.dtype.is_complex:
                raise TypeError(f"ids must be an integer tensor, got dtype {ids.dtype}")
            if ids.dim() != 1:
                raise ValueError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
            array = ids.detach().cpu().numpy().astype(np.int64)
        elif isinstance(ids, Sequence) and not isinstance(ids, (str, bytes)):
            for position, i in enumerate(ids):
                if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
                    raise TypeError(f"ids[{position}]={i!r} is not an integer")
            array = np.array(ids, dtype=np.int64).reshape(-1)
        else:
            raise TypeError(f"ids must be a 1-D integer tensor or a sequence of ints, got {type(ids).__name__}")
        bad = np.flatnonzero((array < 0) | (array >= len(self)))
        if bad.size:
            position = int(bad[0])
            raise ValueError(
                f"ids[{position}]={int(array[position])} is out of range; allowed: [0, {len(self) - 1}]"
            )
        return self._codes[array].tobytes().decode("utf-32-le")


def load_austen() -> list[Chapter]:
    """Load every chapter of the six novels, after checking the file against :data:`AUSTEN_SHA256`.

    Returns:
        A list of 269 :class:`Chapter`, the novels in the order of :data:`BOOKS` and each in
        reading order; a chapter's text is its paragraphs joined by ``"\\n"``, the heading first.

    Raises:
        RuntimeError: ``data/austen.tsv.gz`` is missing, or its SHA-256 is not
            :data:`AUSTEN_SHA256` (the shipped data changed, so results would not be comparable).
        ValueError: the file has the right checksum but is not the expected TSV (names the line).

    Example::

        >>> chapters = load_austen()
        >>> chapters[0].book, chapters[0].chapter, chapters[0].text[:41]
        ('Sense & Sensibility', 1, 'CHAPTER 1\\nThe family of Dashwood had long')
    """
    path = _AUSTEN_FILE
    if not path.is_file():
        raise RuntimeError(f"the Austen novels are missing at {path}; "
                           "they ship with the workbook (python tools/export_austen.py rebuilds them)")
    raw = path.read_bytes()
    checksum = hashlib.sha256(raw).hexdigest()
    if checksum != AUSTEN_SHA256:
        raise RuntimeError(
            f"{path} has SHA-256 {checksum}, expected {AUSTEN_SHA256}: "
            "the shipped data changed, so results would not be comparable"
        )
    try:
        lines = gzip.decompress(raw).decode("utf-8").split("\n")
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not gzip'd UTF-8 text: {error}") from None
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != _HEADER:
        raise ValueError(f"{path}: the first line must be the header {_HEADER!r}")
    allowed = set(ALPHABET) - {"\n"}
    paragraphs: dict[tuple[str, int], list[str]] = {}
    last = (-1, 0)  # (book index, chapter) of the previous row
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 3 or fields[0] not in BOOKS or not fields[1].isdigit() or not fields[2]:
            raise ValueError(f"{path} line {number} is not 'book<TAB>chapter<TAB>paragraph' "
                             f"with a book of BOOKS: {line[:80]!r}")
        book, chapter, text = fields[0], int(fields[1]), fields[2]
        here = (BOOKS.index(book), chapter)
        expected = (last, (last[0], last[1] + 1), (last[0] + 1, 1))  # same chapter, next one, next book
        if here not in expected:
            raise ValueError(f"{path} line {number}: {book!r} chapter {chapter} is out of order "
                             f"(after book {BOOKS[last[0]] if last[0] >= 0 else None!r} chapter {last[1]})")
        unknown = set(text) - allowed
        if unknown:
            char = min(unknown, key=text.index)
            raise ValueError(f"{path} line {number}: {char!r} at column {text.index(char) + 1} "
                             "is not in ALPHABET")
        paragraphs.setdefault((book, chapter), []).append(text)
        last = here
    if last[0] != len(BOOKS) - 1:
        raise ValueError(f"{path} ends before the last book, {BOOKS[-1]!r}")
    return [Chapter(book, chapter, "\n".join(texts)) for (book, chapter), texts in paragraphs.items()]


def load_austen_split(seed: int = 0) -> AustenSplit:
    """Deterministic split of each novel's chapters (80 / 10 / 10), as three strings.

    Within each novel of :data:`BOOKS`, chapters are ordered by
    ``sha256(f"{seed}:{book}:{chapter}")``; the first 10 % (rounded) go to test, the next 10 %
    to validation, the rest to train. Each part keeps its chapters in reading order and joins
    their texts by ``"\\n"``; no chapter is in two parts, so the validation and test text was
    never seen in training.

    Args:
        seed: selects a different (but equally deterministic) split, an integer >= 0;
            the workbook always uses ``seed=0``.

    Returns:
        An :class:`AustenSplit`; with ``seed=0``, 215 / 27 / 27 chapters.

    Raises:
        TypeError: ``seed`` is not an integer (booleans refused).
        ValueError: ``seed`` < 0.
        RuntimeError: the data file is missing or changed (see :func:`load_austen`).

    Example::

        >>> split = load_austen_split()
        >>> split.sizes
        {'train': 3208953, 'val': 411281, 'test': 382208}
        >>> Alphabet().encode(split.val).shape
        torch.Size([411281])
    """
    seed = check_int("seed", seed, low=0)
    chapters = load_austen()
    part_of: dict[tuple[str, int], str] = {}
    for book in BOOKS:
        numbers = [c.chapter for c in chapters if c.book == book]
        order = sorted(numbers, key=lambda n: hashlib.sha256(f"{seed}:{book}:{n}".encode()).hexdigest())
        n_test = round(len(order) * _TEST_FRACTION)
        n_val = round(len(order) * _VAL_FRACTION)
        for rank, number in enumerate(order):
            part_of[(book, number)] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    out: dict[str, object] = {}
    for part in ("train", "val", "test"):
        chosen = [c for c in chapters if part_of[(c.book, c.chapter)] == part]
        out[part] = "\n".join(c.text for c in chosen)
        out[f"chapters_{part}"] = tuple((c.book, c.chapter) for c in chosen)
    return AustenSplit(**out)
