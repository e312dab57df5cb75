"""Read SSDA903 (children looked after) table files: CSV or XLSX, DfE column names.

Tables are recognised by their COLUMNS, not their file names: ``Header``
(``CHILD, SEX, DOB, ETHNIC``; ``UPN, MOTHER, MC_DOB`` optional) and
``Episodes`` (``CHILD, DECOM, RNE, LS, CIN, PLACE, PLACE_PROVIDER, DEC, REC,
REASON_PLACE_CHANGE``; ``HOME_POST, PL_POST, URN`` optional) are read; the
other DfE tables (:data:`evaluation.codes.ssda903.OTHER_TABLES`) are recognised
and ignored; anything else is an :class:`InputError`. Dates are ``dd/mm/YYYY``
(XLSX: the first sheet, header in row 1; date cells are accepted too). SEX is ``1``/``2`` up to 2023/24 and
``M``/``F``/``U`` from 2024/25; a code of the other era is an unknown code for
its year. ``UPN``, ``MOTHER``, ``MC_DOB``, ``HOME_POST``, ``PL_POST`` and ``URN``
are never kept: they are dropped the moment the file is read (the UPN after its
council-independent pseudonym is taken, kept only with the national link switched on).

``line`` is the physical line of the CSV a record starts on (the header is line 1; a quoted
field may span lines) or the row of the sheet.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.codes import ssda903_code_list
from evaluation.codes.ssda903 import EPISODE_COLUMNS, HEADER_COLUMNS, OTHER_TABLES
from evaluation.codes.groupings import reference_date_of
from evaluation.ingest import quarantine as q
from evaluation.ingest import values as v
from evaluation.ingest.csv_cells import check_column_names, read_csv_cells, short_rows
from evaluation.ingest.errors import InputError
from evaluation.ingest.extract import Extract
from evaluation.pseudonymise import CHILD, PseudonymisationKey, pseudonymise, upn_pseudonyms

DATASET = "ssda903"
HEADER_REQUIRED = ("CHILD", "SEX", "DOB", "ETHNIC")
EPISODES_REQUIRED = ("CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
                     "REASON_PLACE_CHANGE")
#: Identifying columns dropped on reading.
DROPPED = ("UPN", "MOTHER", "MC_DOB", "HOME_POST", "PL_POST", "URN")
_DFE_COLUMNS = frozenset(HEADER_COLUMNS) | frozenset(EPISODE_COLUMNS) | frozenset(
    c for columns in OTHER_TABLES.values() for c in columns)
_SEX = {"1": "M", "2": "F", "M": "M", "F": "F", "U": "U"}
#: Bounds on an XLSX workbook: an SSDA903 table of the largest council is a few MB, some
#: thousand rows and under 30 columns. A workbook beyond them (a zip bomb, a cell placed at
#: XFD1048576) is refused before it can exhaust memory.
XLSX_MAX_UNCOMPRESSED = 256 << 20
XLSX_MAX_ROWS = 500_000
XLSX_MAX_COLUMNS = 200
_EPISODE_COLUMNS = {
    "CHILD": "raw_child", "DECOM": "decom", "RNE": "rne", "LS": "ls", "CIN": "cin",
    "PLACE": "place", "PLACE_PROVIDER": "place_provider", "DEC": "dec", "REC": "rec",
    "REASON_PLACE_CHANGE": "reason_place_change",
}


def recognise(columns: list[str]) -> str | None:
    """``"header"``, ``"episodes"``, an :data:`OTHER_TABLES` name, or ``None``."""
    present = set(columns)
    if set(EPISODES_REQUIRED) <= present:
        return "episodes"
    if set(HEADER_REQUIRED) <= present:
        return "header"
    matches = [(len(cols), name) for name, cols in OTHER_TABLES.items() if set(cols) <= present]
    return max(matches)[1] if matches else None


def closest_table(columns: list[str]) -> tuple[str, list[str]] | None:
    """The read table (``Header`` or ``Episodes``) whose required columns are mostly present,
    with the missing ones; ``None`` when neither has more than half of them (``CHILD`` and
    ``DOB`` alone are in every SSDA903 table, so they do not make a file a broken Header)."""
    present = set(columns)
    scored = []
    for name, required in (("Episodes", EPISODES_REQUIRED), ("Header", HEADER_REQUIRED)):
        missing = [c for c in required if c not in present]
        share = 1 - len(missing) / len(required)
        if missing and share > 0.5:
            scored.append((share, name, missing))
    return (max(scored)[1], max(scored)[2]) if scored else None


def read_ssda903_file(path: Path, year: int, key: PseudonymisationKey, national_upn_link: bool = True) -> Extract:
    """Read, check and pseudonymise one SSDA903 table file of collection ``year``."""
    return check_ssda903([read_ssda903_cells(path, year, key, national_upn_link)], key)[0]


@dataclass
class Cells:
    """One SSDA903 file read and its table recognised, its records not yet checked."""

    extract: Extract
    table: str | None = None             # "header" or "episodes"; None: nothing to check
    frame: pd.DataFrame | None = None    # text cells plus line, element and short rows
    national: pd.Series | None = None    # council-independent UPN pseudonyms (or missing)


def read_ssda903_cells(path: Path, year: int, key: PseudonymisationKey,
                       national_upn_link: bool = True) -> Cells:
    """Read one SSDA903 table file of collection ``year`` and recognise its table.

    Raises :class:`InputError` for a file that cannot be read or is no known table.
    Identifying columns are dropped here (the UPN once its national pseudonym is taken).
    """
    path = Path(path)
    frame, lines, fields = _read_cells(path)
    table = recognise(list(frame.columns))
    extract = Extract(DATASET, path.name, year, reference_date_of(year))
    if table is None:
        # Only DfE column names are quoted: a headerless file would put data in the column names.
        known = sorted(set(frame.columns) & _DFE_COLUMNS)
        found = (f"DfE columns found: {', '.join(known) or 'none'}; "
                 f"{len(frame.columns) - len(known)} other column(s)")
        closest = closest_table(list(frame.columns))
        if closest is not None:
            name, missing = closest
            raise InputError(f"{path.name}: looks like the SSDA903 {name} table but lacks the required "
                             f"column(s) {', '.join(missing)} (renamed or missing?; {found})")
        hint = ("; the column names hold ';' — SSDA903 CSVs are separated by commas"
                if any(";" in str(c) for c in frame.columns) else "")
        raise InputError(
            f"{path.name}: not a known SSDA903 table ({found}); expected Header, Episodes or one of "
            + ", ".join(OTHER_TABLES) + hint)
    if table in OTHER_TABLES:
        extract.ignored_table = table
        return Cells(extract)
    short, short_field = short_rows(frame, fields)   # positions of the columns as read
    # without the national link the UPN is not even hashed (the door would drop its pseudonym)
    national = upn_pseudonyms(frame["UPN"], key) if national_upn_link and "UPN" in frame.columns else \
        pd.Series(pd.NA, index=frame.index, dtype="string")
    frame = frame.drop(columns=[c for c in DROPPED if c in frame.columns])
    frame["short"], frame["short_field"] = short, short_field
    frame["line"] = lines
    frame["element"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    columns = HEADER_REQUIRED if table == "header" else tuple(_EPISODE_COLUMNS)
    return Cells(extract, table, frame[[*columns, "short", "short_field", "line", "element"]],
                 national)


def check_ssda903(files: list[Cells], key: PseudonymisationKey) -> list[Extract]:
    """Check and pseudonymise the records of read files; each file's :class:`Extract`, in order.

    The Header files' records are checked together, and so are the Episodes files', each row
    against its own collection year's codes, then split back into their files (the same
    tables as checking each file on its own).
    """
    for table, name, build in (("header", "children", _header),
                               ("episodes", "care_episodes", _episodes)):
        mine = [f for f in files if f.table == table]
        if not mine:
            continue
        frame = pd.concat([f.frame for f in mine], ignore_index=True)
        file_of_row = np.repeat(np.arange(len(mine)), [len(f.frame) for f in mine])
        years = np.array([f.extract.collection_year for f in mine], dtype=np.int64)[file_of_row]
        result = build(frame, years, key)
        if table == "header":
            result["national_id"] = pd.concat([f.national for f in mine], ignore_index=True)
        q.split_by_file(result, name, file_of_row, [f.extract for f in mine])
    return [f.extract for f in files]


def _read_cells(path: Path) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """All cells as text, column names stripped and upper-cased; blank rows skipped.

    Also each row's line and its number of fields (fewer than the header: a row cut short).
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame, lines, fields = read_csv_cells(path)
    elif suffix == ".xlsx":
        frame, lines = _read_xlsx(path)
        fields = pd.Series(len(frame.columns), index=range(len(frame)), dtype="int64")
    else:
        raise InputError(f"{path.name}: not a CSV or XLSX file")
    check_column_names(list(frame.columns), path.name)
    frame.columns = [str(c).strip().upper() for c in frame.columns]
    blank = (frame.apply(lambda col: col.str.strip()) == "").all(axis=1) if len(frame.columns) else \
        pd.Series(True, index=frame.index)
    keep = ~blank.to_numpy()
    return (frame.loc[keep].reset_index(drop=True), lines.loc[keep].reset_index(drop=True),
            fields.loc[keep].reset_index(drop=True))


def _read_xlsx(path: Path) -> tuple[pd.DataFrame, pd.Series]:
    """The first sheet as text cells, within :data:`XLSX_MAX_UNCOMPRESSED`, rows and columns."""
    import zipfile

    import openpyxl

    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise InputError(f"{path.name}: not a readable XLSX workbook") from None
    if unpacked > XLSX_MAX_UNCOMPRESSED:
        raise InputError(f"{path.name}: the workbook unpacks to {unpacked / 2**20:,.0f} MiB, over the "
                         f"{XLSX_MAX_UNCOMPRESSED >> 20} MiB an SSDA903 table can need; save the table "
                         "as CSV UTF-8")
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception:  # openpyxl raises many types for a non-workbook
        raise InputError(f"{path.name}: not a readable XLSX workbook") from None
    header, body, lines = None, [], []
    try:
        sheet = book.worksheets[0]
        declared_rows, declared_columns = sheet.max_row or 0, sheet.max_column or 0
        if declared_rows > XLSX_MAX_ROWS + 1 or declared_columns > XLSX_MAX_COLUMNS:
            raise InputError(
                f"{path.name}: the first sheet spans {declared_rows:,} rows and {declared_columns:,} "
                f"columns, over the {XLSX_MAX_ROWS:,} rows and {XLSX_MAX_COLUMNS} columns an SSDA903 "
                "table can need (a stray cell far from the table?); delete it or save as CSV UTF-8")
        for number, row in enumerate(sheet.iter_rows(values_only=True, max_col=XLSX_MAX_COLUMNS + 1),
                                     start=1):
            if number > XLSX_MAX_ROWS + 1:
                raise InputError(f"{path.name}: the first sheet has over {XLSX_MAX_ROWS:,} rows")
            if len(row) > XLSX_MAX_COLUMNS and row[XLSX_MAX_COLUMNS] is not None:
                raise InputError(f"{path.name}: row {number} has a cell beyond column "
                                 f"{XLSX_MAX_COLUMNS}")
            if header is None:
                header = [str(c) if c is not None else "" for c in row]
                while header and header[-1] == "":
                    header.pop()
                continue
            if all(c is None for c in row):
                continue
            body.append([_cell_text(c) for c in row[:len(header)]] + [""] * (len(header) - len(row)))
            lines.append(number)
    except InputError:
        raise
    except Exception:  # a corrupt sheet inside a valid archive: lxml/openpyxl errors of many types
        raise InputError(f"{path.name}: the first sheet cannot be read (its XML inside the workbook "
                         "is damaged); open and re-save it, or save it as CSV UTF-8") from None
    finally:
        book.close()
    if not header:
        raise InputError(f"{path.name}: the first sheet is empty")
    frame = pd.DataFrame(body, columns=header, dtype=object).astype(str) if body else \
        pd.DataFrame({name: pd.Series(dtype=object) for name in header})
    return frame, pd.Series(lines, dtype="int64")


def _cell_text(cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, (dt.datetime, dt.date)):
        return cell.strftime("%d/%m/%Y")
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def _header(frame: pd.DataFrame, years: np.ndarray, key: PseudonymisationKey) -> pd.DataFrame:
    out = pd.DataFrame({"child_id": pseudonymise(frame["CHILD"], key, CHILD),
                        "sex": frame["SEX"], "birth_date": frame["DOB"],
                        "ethnicity": frame["ETHNIC"], "line": frame["line"],
                        "element": frame["element"]})
    q.start_marks(out)
    q.mark(out, frame["short"], frame["short_field"], q.SHORT_ROW)
    q.mark(out, out["child_id"].isna(), "CHILD", q.MISSING_KEY)
    v.check_dates(out, {"birth_date": "DOB"}, parser=v.uk_dates)
    v.check_codes_by_year(out, years, {"sex": "SEX", "ethnicity": "ETHNIC"}, ssda903_code_list)
    out["sex"] = out["sex"].map(_SEX).fillna("U").astype("string")
    out["death_date"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
    out["disabled"] = pd.Series(pd.NA, index=out.index, dtype="boolean")
    return out


def _episodes(frame: pd.DataFrame, years: np.ndarray, key: PseudonymisationKey) -> pd.DataFrame:
    out = frame[list(_EPISODE_COLUMNS) + ["line", "element"]].rename(columns=_EPISODE_COLUMNS)
    out.insert(0, "child_id", pseudonymise(out.pop("raw_child"), key, CHILD))
    q.start_marks(out)
    q.mark(out, frame["short"], frame["short_field"], q.SHORT_ROW)
    q.mark(out, out["child_id"].isna(), "CHILD", q.MISSING_KEY)
    q.mark(out, v.text(out["decom"]).isna(), "DECOM", q.MISSING_KEY)
    v.check_dates(out, {"decom": "DECOM", "dec": "DEC"}, parser=v.uk_dates)
    v.check_order(out, "decom", "dec", "DEC")
    # An episode with no DEC is open: a REC on it (X1, an exit) contradicts that.
    q.mark(out, out["dec"].isna() & v.text(out["rec"]).notna(), "REC", q.REASON_WITHOUT_END)
    v.check_codes_by_year(out, years, {column: field for field, column in _EPISODE_COLUMNS.items()
                                       if field not in ("CHILD", "DECOM", "DEC")},
                          ssda903_code_list)
    return out
