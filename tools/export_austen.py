"""Export Jane Austen's six novels once into ``data/austen.tsv.gz`` (notebook 10's data).

Run by a maintainer, never at notebook or test time::

    pip install rdata==1.1.0                   # only this tool needs it (pure Python)
    python tools/export_austen.py              # apt-get download r-cran-janeaustenr into a temporary folder
    python tools/export_austen.py --deb FILE   # or use a .deb already downloaded

Source: Debian's package ``r-cran-janeaustenr`` (the CRAN package *janeaustenr* by Julia Silge,
MIT; the novels are Project Gutenberg's public-domain texts, one character vector of text lines
per novel). It is unpacked with ``dpkg-deb -x``; the six vectors are in R's *lazy-load database*
``usr/lib/R/site-library/janeaustenr/data/Rdata.rdb`` / ``Rdata.rdx``, which ``rdata`` cannot
open as such (it reads ``.rds``/``.rda`` files), so it is read in two steps here:

- ``Rdata.rdx`` is a gzip'd ``.rds``: a list whose ``variables`` element maps each object's name
  to ``(offset, length)`` in the ``.rdb``, and whose ``compressed`` element says how the records
  are compressed (``TRUE``: zlib);
- each record of ``Rdata.rdb`` at ``[offset, offset + length)`` is a 4-byte big-endian length of
  the uncompressed object, then a zlib stream holding one serialised R object (``X\\n`` format),
  which ``rdata.parser.parse_data`` reads.

Each novel is then cleaned and cut into chapters:

1. **chapters**: a line that is exactly ``CHAPTER <n>`` or ``Chapter <n>`` (``n`` in Roman or
   Arabic numerals, the rule of tidytext's examples) starts a chapter; chapters are numbered
   1, 2, ... in each novel (Emma restarts its Roman numerals in each volume: 55 chapters). The
   heading is kept as the chapter's first paragraph;
2. **dropped**: everything before the first chapter (title, author, year; Northanger Abbey's
   "Advertisement by the authoress"), the volume lines (``VOLUME II``), the end marks
   (``THE END``, ``FINIS``, ``Finis``), the editors' bracketed notes (``[At this point in the
   first and second editions, ...]``, ``[End volume one of this edition. ...]``) and the
   "A NOTE ON THE TEXT" that follows Northanger Abbey (a modern editor's, not Austen's);
3. **paragraphs**: the source wraps lines at about 70 characters; consecutive non-blank lines are
   joined into one paragraph, runs of spaces collapsed to one (so verse and letters indented in
   the source are joined too);
4. **alphabet**: Project Gutenberg's italics marks (``_them_``; in three of the six novels only)
   are removed, and the one ``£`` becomes ``L`` (the novels' own way to write pounds, as in
   "7000L"); everything left is printable ASCII.

The file is a gzip'd UTF-8 TSV with a header ``book  chapter  paragraph``, one paragraph per
row, the novels in order of publication and each in reading order, gzip level 9 with mtime 0,
so the same package gives the same bytes. The tool prints the .deb's version and SHA-256, what
was dropped and changed, the counts per novel, the alphabet and the file's SHA-256 (copy it to
``distill_lib/lm/data.py::AUSTEN_SHA256`` and to ``data/README.md``).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import io
import re
import struct
import sys
import warnings
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python tools/<this>.py`: make `tools` importable
    sys.path.insert(0, str(ROOT))
from tools.debian_package import unpacked

OUT = ROOT / "data" / "austen.tsv.gz"
DATA_DIR = Path("usr/lib/R/site-library/janeaustenr/data")

#: janeaustenr's object names -> the titles ``austen_books()`` gives them, in order of publication.
BOOKS = {
    "sensesensibility": "Sense & Sensibility",
    "prideprejudice": "Pride & Prejudice",
    "mansfieldpark": "Mansfield Park",
    "emma": "Emma",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
}

_HEADING = re.compile(r"^(CHAPTER|Chapter) ([IVXLC]+|[0-9]+)$")
_VOLUME = re.compile(r"^VOLUME [IVX]+$")
_END_MARK = re.compile(r"^(THE END|FINIS|Finis)$")
_EDITOR_NOTE = re.compile(r"^\[(At this point|End volume)")
_LAST_SECTION = "A NOTE ON THE TEXT"
_SPACE = re.compile(r"\s+")
#: characters replaced (one for one) so that the alphabet is printable ASCII; ``_`` is removed.
_REPLACE = {"£": "L"}


def read_lazyload(data_dir: Path) -> dict[str, list[str]]:
    """Every character vector of R's lazy-load database ``Rdata.rdb``/``.rdx`` in ``data_dir``."""
    import rdata  # only this tool needs it: pip install rdata==1.1.0

    def parse(raw: bytes) -> object:
        with warnings.catch_warnings():  # rdata warns that an .rds stream has no file extension
            warnings.filterwarnings("ignore", message="Unknown file type")
            return rdata.conversion.convert(rdata.parser.parse_data(raw))

    index = parse(gzip.decompress((data_dir / "Rdata.rdx").read_bytes()))
    if list(index["compressed"]) != [True]:
        raise ValueError(f"Rdata.rdx: compressed={index['compressed']!r}, only zlib (TRUE) is read here")
    rdb = (data_dir / "Rdata.rdb").read_bytes()
    objects = {}
    for name, (offset, length) in index["variables"].items():
        record = rdb[int(offset) : int(offset) + int(length)]
        (size,) = struct.unpack(">I", record[:4])
        raw = zlib.decompress(record[4:])
        if len(raw) != size:
            raise ValueError(f"Rdata.rdb: {name} is {len(raw)} bytes uncompressed, the record says {size}")
        objects[str(name)] = [str(line) for line in parse(raw)]
    return objects


def clean_text(text: str, changed: collections.Counter) -> str:
    """``text`` without italics marks and with :data:`_REPLACE` applied; counts what changed."""
    changed["_ removed"] += text.count("_")
    text = text.replace("_", "")
    for old, new in _REPLACE.items():
        changed[f"{old} -> {new}"] += text.count(old)
        text = text.replace(old, new)
    return text


def split_book(lines: list[str], changed: collections.Counter) -> list[tuple[int, str]]:
    """``(chapter, paragraph)`` for one novel's text lines; dropped characters counted in ``changed``."""
    rows: list[tuple[int, str]] = []
    chapter, paragraph = 0, []

    def flush() -> None:
        text = _SPACE.sub(" ", " ".join(paragraph)).strip()
        paragraph.clear()
        if not text:
            return
        if chapter == 0 or _VOLUME.match(text) or _END_MARK.match(text) or _EDITOR_NOTE.match(text):
            changed["characters dropped"] += len(text)
            return
        rows.append((chapter, clean_text(text, changed)))

    for number, line in enumerate(lines):
        if line.strip() == _LAST_SECTION:
            changed["characters dropped"] += sum(len(_SPACE.sub(" ", x).strip()) for x in lines[number:])
            break
        if _HEADING.match(line.strip()):
            flush()
            chapter += 1
            paragraph.append(line)
            flush()
        elif line.strip():
            paragraph.append(line)
        else:
            flush()
    flush()
    if chapter == 0:
        raise ValueError("no chapter heading found")
    return rows


def export(books: dict[str, list[str]]) -> tuple[bytes, dict[str, tuple[int, int, int]], collections.Counter, str]:
    """The gzip'd TSV's bytes; per title (chapters, paragraphs, characters); what changed; the alphabet."""
    changed: collections.Counter = collections.Counter()
    body = ["book\tchapter\tparagraph\n"]
    counts, chars = {}, set()
    for name, title in BOOKS.items():
        rows = split_book(books[name], changed)
        for chapter, text in rows:
            body.append(f"{title}\t{chapter}\t{text}\n")
            chars.update(text)
        counts[title] = (rows[-1][0], len(rows), sum(len(t) for _, t in rows))
    alphabet = "".join(sorted(chars | {"\n"}))
    if not all(c == "\n" or (c.isascii() and c.isprintable()) for c in alphabet):
        raise ValueError(f"characters outside printable ASCII are left: {alphabet!r}")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as f:
        f.write("".join(body).encode("utf-8"))
    return buffer.getvalue(), counts, changed, alphabet


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deb", type=Path, help="an r-cran-janeaustenr .deb already downloaded")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with unpacked("r-cran-janeaustenr", args.deb) as package:
        books = read_lazyload(package.root / DATA_DIR)
    version, deb_sha = package.version, package.deb_sha256
    missing = sorted(set(BOOKS) - set(books))
    if missing:
        sys.exit(f"Rdata.rdb lacks {missing}; it holds {sorted(books)}")
    data, counts, changed, alphabet = export(books)
    args.out.write_bytes(data)
    print(f"r-cran-janeaustenr {version}, .deb SHA-256 {deb_sha}")
    print(f"source: {sum(len(v) for v in books.values()):,} lines, "
          f"{sum(len(x) for v in books.values() for x in v):,} characters")
    for what, n in sorted(changed.items()):
        print(f"  {what}: {n:,}")
    for title, (chapters, paragraphs, characters) in counts.items():
        print(f"  {title:20s} {chapters:3d} chapters {paragraphs:6,d} paragraphs {characters:9,d} characters")
    total = sum(c for _, _, c in counts.values())
    print(f"{sum(p for _, p, _ in counts.values()):,} paragraphs, {total:,} characters written to {args.out} "
          f"({len(data):,} bytes)")
    print(f"alphabet ({len(alphabet)} characters, with the newline): {alphabet!r}")
    print(f"SHA-256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
