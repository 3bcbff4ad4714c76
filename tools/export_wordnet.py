"""Export WordNet 3.0's noun glosses once into ``data/wordnet_glosses.tsv.gz`` (notebook 09's data).

Run by a maintainer, never at notebook or test time::

    python tools/export_wordnet.py              # apt-get download wordnet-base into a temporary folder
    python tools/export_wordnet.py --deb FILE   # or use a .deb already downloaded

Steps: ``apt-get download wordnet-base`` (Debian's package of Princeton's WordNet 3.0), unpack it
with ``dpkg-deb -x``, read ``usr/share/wordnet/data.noun`` (format: wndb(5WN)), and for every noun
synset keep its offset, its lexicographer file's name (lexnames(5WN), e.g. ``noun.animal``) and a
cleaned gloss:

1. only the **definition**: the gloss is cut at its first ``; "`` or ``: "`` (any spacing), where
   WordNet's usage examples begin; examples often contain the word being defined, and are not
   definitions (a quote inside the definition, e.g. ``as in "carrot and stick"``, stays);
2. leading **domain tags**: any parenthesised text at the start, e.g. ``(botany)``,
   ``(Greek mythology)``, ``(usually plural)``, ``(of animals)``, is removed, repeatedly
   (``(biology) (genetics) ...``), because many give the category away;
3. whitespace is collapsed; tabs and newlines cannot survive (TSV);
4. a synset whose cleaned gloss is empty, or exactly equal to the cleaned gloss of a synset with a
   smaller offset, is dropped (counted and printed), so that one text cannot sit on both sides of
   a split or in both the transfer set and the test set.

All noun categories are written (the ten labelled ones and the others, whose glosses become the
unlabelled transfer set in :func:`distill_lib.text.load_text_split`). The file is a gzip'd UTF-8
TSV with a header ``synset_offset  category  gloss``, sorted by synset offset, compressed with
mtime 0, so the same package gives the same bytes. The tool prints the .deb's version and
SHA-256, the counts per category and the file's SHA-256 (copy it to
``distill_lib/text/data.py::GLOSSES_SHA256`` and to ``data/README.md``).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python tools/<this>.py`: make `tools` importable
    sys.path.insert(0, str(ROOT))
from tools.debian_package import unpacked

OUT = ROOT / "data" / "wordnet_glosses.tsv.gz"

#: lexnames(5WN): lexicographer file number -> name, for the noun files (03..28).
NOUN_LEXNAMES = {
    3: "noun.Tops", 4: "noun.act", 5: "noun.animal", 6: "noun.artifact", 7: "noun.attribute",
    8: "noun.body", 9: "noun.cognition", 10: "noun.communication", 11: "noun.event",
    12: "noun.feeling", 13: "noun.food", 14: "noun.group", 15: "noun.location", 16: "noun.motive",
    17: "noun.object", 18: "noun.person", 19: "noun.phenomenon", 20: "noun.plant",
    21: "noun.possession", 22: "noun.process", 23: "noun.quantity", 24: "noun.relation",
    25: "noun.shape", 26: "noun.state", 27: "noun.substance", 28: "noun.time",
}

_EXAMPLE = re.compile(r'[;:]\s*"')
_LEADING_TAG = re.compile(r"^\s*\([^()]*\)\s*")
_SPACE = re.compile(r"\s+")


def clean_gloss(gloss: str) -> str:
    """The definition part of a WordNet gloss, without leading ``(domain)`` tags."""
    text = _EXAMPLE.split(gloss, maxsplit=1)[0]
    while _LEADING_TAG.match(text):
        text = _LEADING_TAG.sub("", text, count=1)
    text = _SPACE.sub(" ", text).strip()
    return text.rstrip(";").strip()


def parse_data_noun(text: str) -> list[tuple[str, str, str]]:
    """``(offset, lexname, raw gloss)`` for every synset line of ``data.noun`` (licence lines skipped)."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line or line.startswith("  "):  # the licence header: lines start with two spaces
            continue
        head, sep, gloss = line.partition(" | ")
        fields = head.split()
        if not sep or len(fields) < 4 or fields[2] != "n":
            raise ValueError(f"data.noun line {number} is not a noun synset: {line[:80]!r}")
        lex = int(fields[1])
        if lex not in NOUN_LEXNAMES:
            raise ValueError(f"data.noun line {number}: lex_filenum {lex} is not a noun file")
        rows.append((fields[0], NOUN_LEXNAMES[lex], gloss))
    return rows


def export(rows: list[tuple[str, str, str]]) -> tuple[bytes, collections.Counter, dict[str, int]]:
    """The gzip'd TSV's bytes, the counts per category, and how many synsets were dropped and why."""
    seen: set[str] = set()
    kept, dropped = [], {"empty": 0, "duplicate": 0}
    for offset, category, gloss in sorted(rows):
        text = clean_gloss(gloss)
        if not text:
            dropped["empty"] += 1
        elif text in seen:
            dropped["duplicate"] += 1
        else:
            seen.add(text)
            kept.append((offset, category, text))
    body = "synset_offset\tcategory\tgloss\n" + "".join(f"{o}\t{c}\t{t}\n" for o, c, t in kept)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as f:
        f.write(body.encode("utf-8"))
    return buffer.getvalue(), collections.Counter(c for _, c, _ in kept), dropped


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deb", type=Path, help="a wordnet-base .deb already downloaded")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with unpacked("wordnet-base", args.deb) as package:
        text = (package.root / "usr" / "share" / "wordnet" / "data.noun").read_text(encoding="utf-8")
    version, deb_sha = package.version, package.deb_sha256
    rows = parse_data_noun(text)
    data, counts, dropped = export(rows)
    args.out.write_bytes(data)
    print(f"wordnet-base {version}, .deb SHA-256 {deb_sha}")
    print(f"{len(rows)} noun synsets read; dropped: {dropped['empty']} empty, {dropped['duplicate']} duplicate glosses")
    for category, n in sorted(counts.items()):
        print(f"  {category:20s} {n:6d}")
    print(f"{sum(counts.values())} glosses written to {args.out} ({len(data):,} bytes)")
    print(f"SHA-256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
