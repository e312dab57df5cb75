"""What is in a local-authority folder: every entry found, read or ignored with a reason.

The door reads only the layout of the README (``cin_census/*.xml``,
``ssda903/<YYYY>/*.csv|*.xlsx``, ``families.csv``). Anything else is either a
structural problem that stops the council with the path named (a folder where
files belong, a broken link, a link leading out of the input root) or an
entry that is listed as ignored with its reason, so nothing in the folder is
passed over without a word. The entries become rows of the ``reconciliation``
table (``status``, ``note``), which a WARN check reads.

The synthetic county's marker lives here too: the public demo key is accepted
only on a folder whose ``SYNTHETIC_COUNTY.json`` carries a MAC of the folder's
exact file inventory (every path, size and SHA-256), written by the generator.
A marker copied into a council's folder does not match its files.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from evaluation.ingest.errors import InputError

SYNTHETIC_MARKER = "SYNTHETIC_COUNTY.json"
MARKER_GENERATOR = "evaluation.synthetic"

#: ``status`` of an inventory entry (a row of ``reconciliation``).
READ = "read"
EMPTY = "empty"                  # a file read with no data rows
IGNORED = "ignored"              # not an input of the pipeline (reason in ``note``)
EMPTY_FOLDER = "empty folder"    # a collection-year folder with no Header or Episodes table
STATUSES = (READ, EMPTY, IGNORED, EMPTY_FOLDER)


@dataclass
class Layout:
    """The input files of one local-authority folder, and everything else found in it."""

    cin_files: list[Path] = field(default_factory=list)
    ssda903_files: list[tuple[int, Path]] = field(default_factory=list)
    ssda903_years: list[int] = field(default_factory=list)   # every collection-year folder
    families: Path | None = None
    #: (relative path, status, note) of entries that are not read.
    others: list[tuple[str, str, str]] = field(default_factory=list)


def survey(folder: Path, input_root: Path | None = None, ssda903_years=()) -> Layout:
    """List the inputs of ``folder`` and account for every other entry.

    Raises :class:`InputError` naming the path for a structural problem: a folder
    inside ``cin_census/`` or inside a collection-year folder (files one level too
    deep would otherwise never be read), a file directly in ``ssda903/``, a
    year folder that is not a collection year, a broken link, or a link that
    leads outside ``input_root`` (default: the folder's parent).
    """
    folder = Path(folder)
    root = Path(input_root) if input_root is not None else folder.parent
    if not folder.is_dir():
        raise InputError(f"local-authority folder {folder.name} does not exist")
    _inside(folder, root, folder.name)
    layout = Layout()
    for entry in _entries(folder, root, "", layout):
        name = entry.name
        if name == "cin_census" and entry.is_dir():
            for path in _entries(entry, root, "cin_census/", layout):
                if path.is_dir():
                    raise InputError(f"cin_census/{path.name}/: a folder inside cin_census; put each "
                                     "year's CIN census XML directly in cin_census/ (the year is read "
                                     "from the file's header)")
                if path.suffix.lower() != ".xml":
                    raise InputError(f"cin_census/{path.name}: not an XML file")
                layout.cin_files.append(path)
        elif name == "ssda903" and entry.is_dir():
            for year_dir in _entries(entry, root, "ssda903/", layout):
                if not year_dir.is_dir():
                    raise InputError(f"ssda903/{year_dir.name}: expected one folder per collection "
                                     "year (ssda903/<YYYY>/), found a file")
                if not re.fullmatch(r"[0-9]{4}", year_dir.name) or (
                        ssda903_years and int(year_dir.name) not in ssda903_years):
                    span = f" {ssda903_years[0]}–{ssda903_years[-1]}" if ssda903_years else ""
                    raise InputError(f"ssda903/{year_dir.name}: not a collection year{span}")
                files = _entries(year_dir, root, f"ssda903/{year_dir.name}/", layout)
                for path in files:
                    if path.is_dir():
                        raise InputError(f"ssda903/{year_dir.name}/{path.name}/: a folder inside a "
                                         "collection-year folder; put the year's SSDA903 files "
                                         f"directly in ssda903/{year_dir.name}/")
                    layout.ssda903_files.append((int(year_dir.name), path))
                layout.ssda903_years.append(int(year_dir.name))
        elif name == "families.csv" and entry.is_file():
            layout.families = entry
        elif name == SYNTHETIC_MARKER and entry.is_file():
            layout.others.append((name, IGNORED, "synthetic-county marker"))
        else:
            kind = "folder" if entry.is_dir() else "file"
            layout.others.append((name + ("/" if entry.is_dir() else ""), IGNORED,
                                  f"{kind} not in the input layout (cin_census/, ssda903/<YYYY>/, "
                                  "families.csv)"))
    layout.cin_files.sort()
    layout.ssda903_files.sort()
    layout.ssda903_years.sort()
    return layout


def _entries(directory: Path, root: Path, prefix: str, layout: Layout) -> list[Path]:
    """Entries of ``directory``; hidden files and Office lock files listed as ignored."""
    out = []
    for path in sorted(directory.iterdir()):
        relative = prefix + path.name
        if path.name.startswith((".", "~$")):
            layout.others.append((relative, IGNORED, "hidden or Office lock file"))
            continue
        if path.is_symlink():
            if not path.exists():
                raise InputError(f"{relative}: a broken link (its target does not exist)")
            _inside(path, root, relative)
        out.append(path)
    return out


def _inside(path: Path, root: Path, relative: str) -> None:
    """Refuse a path whose real location is outside the input root."""
    real, real_root = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    if real != real_root and real_root not in real.parents:
        raise InputError(f"{relative}: a link leading outside the input folder; copy the file "
                         "into the input folder instead")


# --- the synthetic county's marker ------------------------------------------------------------

def _file_inventory(folder: Path) -> list[tuple[str, int, str]]:
    """(relative path, size, SHA-256) of every file below ``folder`` but the marker, sorted."""
    out = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and path.name != SYNTHETIC_MARKER:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            out.append((path.relative_to(folder).as_posix(), path.stat().st_size,
                        digest.hexdigest()))
    return out


def inventory_mac(folder: Path, secret: bytes) -> str:
    """HMAC-SHA256 under ``secret`` of the folder's file inventory."""
    text = json.dumps(_file_inventory(folder), separators=(",", ":"))
    return hmac.new(secret, b"fsp-synthetic-inventory\x00" + text.encode(), hashlib.sha256).hexdigest()


def write_marker(folder: Path, secret: bytes, **details) -> Path:
    """Write the marker of a folder the generator has just written (call it last)."""
    marker = Path(folder) / SYNTHETIC_MARKER
    marker.write_text(json.dumps(
        {"generator": MARKER_GENERATOR, "synthetic": True, **details,
         "inventory_mac": inventory_mac(folder, secret)}, indent=1, sort_keys=True) + "\n")
    return marker


def marker_problem(folder: Path, secret: bytes) -> str | None:
    """Why ``folder`` is not an unchanged generator-made folder, or ``None`` if it is."""
    try:
        marker = json.loads((Path(folder) / SYNTHETIC_MARKER).read_text(encoding="utf-8"))
    except OSError:
        return f"it has no {SYNTHETIC_MARKER} marker from {MARKER_GENERATOR}"
    except ValueError:
        return f"its {SYNTHETIC_MARKER} is not a marker from {MARKER_GENERATOR}"
    if not (isinstance(marker, dict) and marker.get("synthetic") is True
            and marker.get("generator") == MARKER_GENERATOR):
        return f"its {SYNTHETIC_MARKER} is not a marker from {MARKER_GENERATOR}"
    expected = marker.get("inventory_mac")
    if not isinstance(expected, str) or not hmac.compare_digest(
            expected, inventory_mac(folder, secret)):
        return (f"its files are not the ones the generator wrote (the {SYNTHETIC_MARKER} inventory "
                "does not match: a file was added, removed or changed, or the marker was copied)")
    return None
