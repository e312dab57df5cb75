"""``report.pdf``: the HTML report printed by headless Chromium, with its print stylesheet.

The print stylesheet of ``templates/report.html.j2`` gives A4 pages, a page break before each
part, and a running header with the extract date and the key fingerprint (CSS page-margin
boxes, which Chromium's print engine renders). Name resolution is disabled while printing, so a
report that needed the network could not be printed complete.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

#: Flags of every headless Chromium run: no network, no profile left behind, no default header.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND")


class PdfUnavailable(RuntimeError):
    """No Chromium to print with, or it did not write a PDF."""


#: Executables tried in turn. Debian's ``chromium-headless-shell`` (the same Chromium's print engine
#: without the browser around it) prints the same pages and text; on the small test county's report
#: it took ~2.7 s of CPU and 0.6 s to start against ~4.1 s and ~2 s for ``chromium`` (whose
#: headless mode starts the whole browser: its profile, WebUI pages, extensions, update checks).
CHROMIUM_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """The Chromium executable (``FSP_CHROMIUM`` if set, else the first of :data:`CHROMIUM_NAMES`
    on the ``PATH``), or None."""
    named = os.environ.get("FSP_CHROMIUM")
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    return next((found for found in map(shutil.which, CHROMIUM_NAMES) if found), None)


def render_pdf(html_path: str | Path, pdf_path: str | Path, chromium: str | None = None,
               timeout: float = 180) -> Path:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium; raises :class:`PdfUnavailable`."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise PdfUnavailable("Chromium was not found (install Debian's chromium-headless-shell or chromium, "
                             "or set FSP_CHROMIUM)")
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path)
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    partial = pdf_path.with_suffix(".pdf.partial")
    with tempfile.TemporaryDirectory(prefix="fsp-chromium-") as profile:
        run = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--no-pdf-header-footer",
                              f"--print-to-pdf={partial}", html_path.as_uri()],
                             capture_output=True, text=True, timeout=timeout, check=False)
    if not partial.is_file() or not partial.read_bytes().startswith(b"%PDF"):
        partial.unlink(missing_ok=True)
        raise PdfUnavailable(f"Chromium wrote no PDF (exit {run.returncode}): {run.stderr[-1000:]}")
    os.replace(partial, pdf_path)
    return pdf_path
