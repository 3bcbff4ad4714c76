"""Fetch and unpack one Debian package, for the tools that export the workbook's data once.

``export_wordnet.py`` (``wordnet-base``) and ``export_austen.py`` (``r-cran-janeaustenr``) read their
source files from a Debian package: ``apt-get download`` (or a .deb already downloaded), then
``dpkg-deb -x`` into a temporary folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple


class Unpacked(NamedTuple):
    """An unpacked package: its file tree, its version and the SHA-256 of its .deb."""

    root: Path
    version: str
    deb_sha256: str


@contextlib.contextmanager
def unpacked(package: str, deb: Path | None = None) -> Iterator[Unpacked]:
    """``apt-get download package`` (unless ``deb`` is given), ``dpkg-deb -x`` it; removed on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        if deb is None:
            subprocess.run(["apt-get", "download", package], cwd=tmp_path, check=True)
            debs = sorted(tmp_path.glob(f"{package}_*.deb"))
            if len(debs) != 1:
                sys.exit(f"expected one {package} .deb in {tmp_path}, found {debs}")
            deb = debs[0]
        version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True,
                                 capture_output=True, text=True).stdout.strip()
        deb_sha = hashlib.sha256(Path(deb).read_bytes()).hexdigest()
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path / "x")], check=True)
        yield Unpacked(tmp_path / "x", version, deb_sha)
