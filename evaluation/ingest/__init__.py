"""The door: read one local authority's extracts and return pseudonymised tables only.

:func:`ingest_local_authority` reads the folder laid out as in the README
(``cin_census/*.xml``, ``ssda903/<YYYY>/*.csv|*.xlsx``, ``families.csv``),
pseudonymises every id as each dataset's files are read (the CIN census files
together, the SSDA903 files together: each check runs once over them),
assembles the collection years (:mod:`evaluation.ingest.assemble` documents
the de-duplication and repair rules), quarantines rows that cannot be used
(:mod:`evaluation.ingest.quarantine`) and reconciles every file. Raw ids, UPNs,
postcodes and full dates of birth exist only inside this call; what it returns
is checked by a leak guard first.

``source_file`` is the file's path relative to the local-authority folder
(e.g. ``ssda903/2021/header.csv``): never an absolute path.
"""

from __future__ import annotations

import re
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from evaluation import tables as contract
from evaluation.codes.ssda903 import SSDA903_YEARS
from evaluation.ingest import assemble as asm
from evaluation.ingest.cin_census import read_cin_censuses
from evaluation.ingest.errors import InputError, ReconciliationError
from evaluation.ingest.extract import Extract
from evaluation.ingest.families import read_families
from evaluation.ingest.inventory import (
    EMPTY, EMPTY_FOLDER, IGNORED, READ, SYNTHETIC_MARKER, Layout, marker_problem, survey,
)
from evaluation.ingest.plausibility import quarantine_implausible
from evaluation.ingest.quarantine import empty_quarantine
from evaluation.ingest.ssda903 import check_ssda903, read_ssda903_cells
from evaluation.pseudonymise import (
    MAKE_KEY_HINT, PseudonymisationKey, PseudonymisationKeyError, assert_no_leaks,
)

__all__ = [
    "DemoKeyRefusedError", "InputError", "ReconciliationError", "SYNTHETIC_MARKER",
    "TABLE_NAMES", "check_reconciliation", "ingest_local_authority", "refuse_demo_key",
]

TABLE_NAMES: tuple[str, ...] = (
    "children", "cin_episodes", "assessments", "assessment_factors", "cin_plans", "section47s",
    "cp_plans", "care_episodes", "families", "extracts", "quarantine", "reconciliation", "repairs",
    "duplicates",
)
#: Extra, non-identifying table: SSDA903 files recognised as other DfE tables and not used.
IGNORED_FILES = "ignored_files"
check_reconciliation = asm.check_reconciliation


class DemoKeyRefusedError(PseudonymisationKeyError):
    """The public demo key was offered for a folder that is not the synthetic county."""


def refuse_demo_key(folder: Path, key: PseudonymisationKey) -> None:
    """Raise :class:`DemoKeyRefusedError` if ``key`` is the demo key and ``folder`` is not a
    synthetic-county folder exactly as the generator wrote it (its marker's inventory MAC)."""
    if not key.is_demo:
        return
    problem = marker_problem(Path(folder), key.secret)
    if problem is not None:
        raise DemoKeyRefusedError(
            f"the public DEMO key is for the synthetic county only, and local-authority folder "
            f"{Path(folder).name} is not the synthetic county: {problem}. "
            f"Use your own secret key: {MAKE_KEY_HINT}")


#: LA folder names: exactly three ASCII digits (``\d`` would take other scripts' digits).
LA_CODE = re.compile(r"[0-9]{3}")


def ingest_local_authority(folder: Path, key: PseudonymisationKey, la_code: str | None = None,
                           input_root: Path | None = None,
                           national_upn_link: bool = False) -> dict[str, pd.DataFrame]:
    """Read, pseudonymise, assemble and reconcile one local authority's folder.

    Returns the pseudonymised tables of :mod:`evaluation.tables` (``children``,
    ``cin_episodes``, ..., ``quarantine``, ``reconciliation``, ``repairs``) plus
    ``ignored_files`` (SSDA903 tables recognised and not used). Child and family
    ids are hashed in the council's scope (:meth:`PseudonymisationKey.for_council`).
    With ``national_upn_link`` the children table also carries ``national_id``, a
    council-independent pseudonym of the UPN, for a study that must follow a child
    across councils; otherwise that column is always missing.
    Every entry of the folder is accounted for in ``reconciliation`` (``status``:
    read, empty, ignored, empty folder; ``note`` says why). Raises
    :class:`InputError` for a file that cannot be read at all or a structural problem
    in the folder (:func:`evaluation.ingest.inventory.survey`),
    :class:`DemoKeyRefusedError` for the demo key on real data,
    :class:`ReconciliationError` if rows do not add up, and
    :class:`~evaluation.pseudonymise.PseudonymLeakError` if an id column of the
    result is not pseudonymous.
    """
    folder = Path(folder)
    la_code = la_code or folder.name
    if not LA_CODE.fullmatch(la_code):
        raise InputError(f"local-authority folder {la_code!r}: the name must be a DfE three-digit "
                         "LA code (three ASCII digits)")
    refuse_demo_key(folder, key)
    key = key.for_council(la_code).remembering()   # an id met again in another file: hashed once
    layout = survey(folder, input_root, SSDA903_YEARS)
    extracts = _read_folder(folder, layout, key, la_code, national_upn_link)
    quarantine_implausible(extracts)  # rows impossible within their own file

    ledger = asm.Ledger()
    for extract in extracts:
        ledger.quarantine.extend(extract.quarantine)
    cin = asm.assemble_cin(_gather(extracts, "cin_census", asm.CIN_SUB_TABLES + (
        "cin_episodes", "assessment_factors")), ledger)
    ssda903 = _gather(extracts, "ssda903", ("care_episodes", "children"))
    care = asm.assemble_care_episodes(ssda903["care_episodes"], ledger)
    families = asm.assemble_families(_gather(extracts, "families", ("families",))["families"], ledger)
    children, reasons = asm.assemble_children(
        _gather(extracts, "cin_census", ("children",))["children"], ssda903["children"], families,
        ledger, quarantined_births=_quarantined_births(extracts))
    kept = asm.follow_children({**cin, "care_episodes": care}, children, reasons, ledger)
    if not national_upn_link:
        children["national_id"] = pd.Series(pd.NA, index=children.index, dtype="string")
    kept["children"] = children
    kept["families"] = families

    parts = [part for part in ledger.quarantine if len(part)]
    quarantine = _file_field_names(pd.concat(parts, ignore_index=True) if parts
                                   else empty_quarantine())
    rows_read: Counter = Counter()
    for extract in extracts:
        for table, n in extract.rows_read.items():
            rows_read[(table, extract.source_file)] += n
    reconciliation = _with_inventory(asm.reconcile(rows_read, kept, quarantine, ledger.merged),
                                     layout, extracts)
    duplicates = ledger.duplicates_table()
    asm.check_reconciliation(reconciliation, duplicates, kept)

    door_tables = {"quarantine": quarantine, "reconciliation": reconciliation,
                   "repairs": asm.repairs_table(ledger.repairs),
                   "duplicates": duplicates, "extracts": _extracts_table(extracts)}
    out: dict[str, pd.DataFrame] = {}
    for name in TABLE_NAMES:
        frame = door_tables.get(name)
        if frame is None:
            frame = kept[name]
        frame = frame.assign(la_code=la_code)
        out[name] = contract.conform(frame[list(contract.TABLES[name])], name)
    out[IGNORED_FILES] = pd.DataFrame({
        "la_code": pd.Series([la_code] * sum(e.ignored_table is not None for e in extracts),
                             dtype="string"),
        "collection_year": pd.Series([e.collection_year for e in extracts if e.ignored_table],
                                     dtype="Int64"),
        "source_file": pd.Series([e.source_file for e in extracts if e.ignored_table], dtype="string"),
        "table": pd.Series([e.ignored_table for e in extracts if e.ignored_table], dtype="string"),
    })
    assert_no_leaks(out)
    return out


def _read_folder(folder: Path, layout: Layout, key: PseudonymisationKey,
                 la_code: str, national_upn_link: bool = False) -> list[Extract]:
    """Every input file of the folder, read and pseudonymised."""
    with _located("cin_census/"):
        extracts: list[Extract] = read_cin_censuses(layout.cin_files, key, la_code,
                                                    national_upn_link)
    for extract, path in zip(extracts, layout.cin_files):
        extract.source_file = f"cin_census/{path.name}"
    years = Counter(e.collection_year for e in extracts)
    repeated = sorted(y for y, n in years.items() if n > 1)
    if repeated:
        clashes = "; ".join(
            f"Header/CollectionDetails/Year {year} in "
            + " and ".join(e.source_file for e in extracts if e.collection_year == year)
            for year in repeated)
        raise InputError(f"cin_census: more than one file for a collection year ({clashes}); "
                         "keep one file per year")
    cells = []
    for year, path in layout.ssda903_files:
        with _located(f"ssda903/{year}/"):
            cells.append(read_ssda903_cells(path, year, key, national_upn_link))
    for extract, (year, path) in zip(check_ssda903(cells, key), layout.ssda903_files):
        extract.source_file = f"ssda903/{year}/{path.name}"
        extracts.append(extract)
    if layout.families is None:
        raise InputError(f"local-authority folder {folder.name} has no families.csv "
                         "(person_id,family_id from the case-management system)")
    extracts.append(read_families(layout.families, key))
    for extract in extracts:  # every record names the relative file it came from
        for frame in extract.tables.values():
            frame["source_file"] = extract.source_file
        for frame in extract.quarantine:
            frame["source_file"] = extract.source_file
    return extracts


def _with_inventory(reconciliation: pd.DataFrame, layout: Layout,
                    extracts: list[Extract]) -> pd.DataFrame:
    """Reconciliation plus a ``status`` and ``note`` for every entry of the folder.

    A file read with no data rows is ``empty``; an SSDA903 table recognised and not
    used, or anything outside the input layout, is ``ignored``; a collection-year
    folder with no file is an ``empty folder``. Only ``read`` rows carry counts.
    """
    rec = reconciliation.copy()
    per_file = rec.groupby("source_file")["rows_read"].transform("sum")
    rec["status"] = pd.Series(READ, index=rec.index, dtype="string").where(per_file > 0, EMPTY)
    rec["note"] = pd.Series(pd.NA, index=rec.index, dtype="string").where(
        per_file > 0, "no data rows")
    extra = [(e.dataset, e.source_file, IGNORED, f"SSDA903 {e.ignored_table} table: not used by "
              "the analysis") for e in extracts if e.ignored_table is not None]
    extra += [(path.split("/")[0] if path.startswith(("cin_census/", "ssda903/")) else "other",
               path, status, note) for path, status, note in layout.others]
    used_years = {e.collection_year for e in extracts
                  if e.dataset == "ssda903" and e.ignored_table is None}
    with_files = {year for year, _ in layout.ssda903_files}
    extra += [("ssda903", f"ssda903/{year}/", EMPTY_FOLDER,
               "collection-year folder with " + ("no Header or Episodes table" if year in with_files
                                                  else "no file"))
              for year in layout.ssda903_years if year not in used_years]
    if extra:
        rows = pd.DataFrame(extra, columns=["dataset", "source_file", "status", "note"])
        for column in ("rows_read", "rows_kept", "rows_quarantined", "rows_merged"):
            rows[column] = 0
        rec = pd.concat([rec, rows[rec.columns]], ignore_index=True)
    return rec


@contextmanager
def _located(prefix: str):
    """Prefix an :class:`InputError` with the file's folder (``header.csv`` is in every year)."""
    try:
        yield
    except InputError as err:
        raise InputError(f"{prefix}{err}") from None


#: The assembly's rules name the door's columns; the quarantine names the field as the file does.
_FILE_FIELDS = {
    "cin_census": {"birth_date": "PersonBirthDate", "child_id": "LAchildID"},
    "ssda903": {"birth_date": "DOB", "child_id": "CHILD"},
    "families.csv": {"child_id": "person_id"},
}


def _file_field_names(quarantine: pd.DataFrame) -> pd.DataFrame:
    """``field`` as named in the row's own file (``DOB``, ``LAchildID``), never a door column."""
    if not len(quarantine):
        return quarantine
    source = quarantine["source_file"].astype("string").str.split("/").str[0]
    field = quarantine["field"].astype("string")
    for prefix, names in _FILE_FIELDS.items():
        rows = source == prefix
        field = field.mask(rows, field.replace(names))
    return quarantine.assign(field=field)


def _quarantined_births(extracts: list[Extract]) -> pd.DataFrame:
    """Dates of birth stated by quarantined child records, with dataset, file and year."""
    parts = [e.quarantined_births.assign(dataset=e.dataset, source_file=e.source_file,
                                          collection_year=e.collection_year)
             for e in extracts if e.quarantined_births is not None and len(e.quarantined_births)]
    if not parts:
        return pd.DataFrame({"child_id": pd.Series(dtype="string"),
                             "birth_date": pd.Series(dtype="datetime64[ns]"),
                             "line": pd.Series(dtype="Int64"), "dataset": pd.Series(dtype="string"),
                             "source_file": pd.Series(dtype="string"),
                             "collection_year": pd.Series(dtype="Int64")})
    return pd.concat(parts, ignore_index=True)


def _gather(extracts: list[Extract], dataset: str, names: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """Concatenate the usable records of ``names`` over the extracts of ``dataset``."""
    out = {}
    for name in names:
        parts = [e.tables[name] for e in extracts if e.dataset == dataset and name in e.tables]
        out[name] = pd.concat(parts, ignore_index=True) if parts else _empty_records(name)
    return out


@contract.copies_of_one
def _empty_records(name: str) -> pd.DataFrame:
    """No records of ``name``, typed as the readers type them (one made per process, copies handed out)."""
    extra = {"children": ["birth_date"], "assessments": ["episode_element"],
             "assessment_factors": ["episode_element"], "cin_plans": ["episode_element"],
             "section47s": ["episode_element"], "cp_plans": ["episode_element"]}.get(name, [])
    frame = contract.empty(name).drop(columns=["la_code"])
    if name == "children":
        frame = frame.drop(columns=["birth_month", "in_cin_census", "in_ssda903"])
    if name == "care_episodes":
        frame = frame.drop(columns=["repair"])
    for column in ["collection_year", "source_file", "line", "element", *extra]:
        if column not in frame:
            frame[column] = pd.Series(dtype="Int64" if column in ("collection_year", "line")
                                      else "string")
    if "birth_date" in extra:
        frame["birth_date"] = pd.Series(dtype="datetime64[ns]")
    return frame


def _extracts_table(extracts: list[Extract]) -> pd.DataFrame:
    used = [e for e in extracts if e.dataset != "families" and e.ignored_table is None]
    return pd.DataFrame({
        "dataset": [e.dataset for e in used],
        "collection_year": [e.collection_year for e in used],
        "reference_date": pd.to_datetime([e.reference_date for e in used]),
        "source_file": [e.source_file for e in used],
    })
