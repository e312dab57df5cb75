"""Each malformed input as a small edit of a valid base folder, with what the ingest must do.

A case names the base files it starts from (:func:`make_base`), edits them
(its ``build`` function; the docstring says what is wrong) and states ONE
expected outcome:

* :class:`Rejected` — :func:`~evaluation.ingest.ingest_local_authority` raises
  :class:`~evaluation.ingest.errors.InputError` whose message names the file,
  the position (a regular expression: line, byte or element path; ``None`` when
  the problem is the whole file or folder) and the field where there is one;
* :class:`Quarantined` — the ingest succeeds and the quarantine holds at
  least the listed rows (dataset, file, line or element path, field, reason);
* :class:`Accepted` — the input is acceptable (a BOM, padded ids, extra
  columns): the ingest succeeds with an empty quarantine and ``check`` holds.

Edits go through :func:`replace`, which insists the text it edits is present,
so a change to the hand-written fixture breaks the builder loudly rather than
silently making a case valid.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evaluation.ingest import quarantine as q
from evaluation.pseudonymise import CHILD, PseudonymisationKey, pseudonymise

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "handwritten" / "931"

CIN_FILE = "cin_census/cin_2020.xml"
HEADER = "ssda903/2021/header.csv"
EPISODES = "ssda903/2021/episodes.csv"
FAMILIES = "families.csv"
BASE_FILES = {"cin": (CIN_FILE,), "ssda903": (HEADER, EPISODES)}

#: Every identifying value in the base files (ids, UPNs, postcodes, URNs, full dates of birth).
RAW_VALUES = (
    "0012345", "0012346", "0012A", "0012a", "0099001", "P0005", "FAM-77", "FAM-78", "FAM-79",
    "A123456789012", "B123456789013", "C123456789014", "OX4 1AA", "OX3 7QT", "OX14 5RB",
    "OX2 6HD", "RG9 1AB", "OX16 9AA", "OX5 1BB", "OX5 2CC", "SC123456", "SC654321", "SC777777",
    "SC111111", "SC222222", "2012-05-17", "17/05/2012", "2010-11-23", "23/11/2010", "2015-02-09",
    "09/02/2015",
)

# Positions in the base files.
CHILD_1 = "Message/Children/Child[1]"
CHILD_2 = "Message/Children/Child[2]"
EPISODE_1 = f"{CHILD_1}/CINdetails[1]"
CP_PLAN = f"{CHILD_2}/CINdetails[1]/ChildProtectionPlans[1]"
FACTORS = f"{EPISODE_1}/Assessments[1]/FactorsIdentifiedAtAssessment/AssessmentFactors"


@dataclass(frozen=True)
class Rejected:
    """An InputError naming ``file``, a ``position`` (regex) and a ``field``."""

    file: str
    position: str | None = None
    field: str | None = None
    also: tuple[str, ...] = ()  # further names the message must contain


@dataclass(frozen=True)
class Quarantined:
    """Rows the quarantine must hold: (dataset, source_file, line or element, field, reason)."""

    rows: tuple[tuple[str, str, int | str, str, str], ...]


@dataclass(frozen=True)
class Accepted:
    """A clean ingest (empty quarantine) for which ``check(tables, key)`` holds."""

    check: Callable[[dict[str, pd.DataFrame], PseudonymisationKey], None]


@dataclass(frozen=True)
class Case:
    name: str
    doc: str
    parts: tuple[str, ...]
    build: Callable[[Path], None]
    expect: Rejected | Quarantined | Accepted
    xfail: str | None = None
    folder_name: str = "931"
    planted: tuple[str, ...] = ()  # further secrets that must never reach a message or table


CASES: list[Case] = []


def case(expect, parts=("cin",), xfail=None, folder_name="931", planted=()):
    """Register the decorated builder as a case of the corpus."""
    def register(build: Callable[[Path], None]) -> Callable[[Path], None]:
        CASES.append(Case(build.__name__, " ".join((build.__doc__ or "").split()), tuple(parts),
                          build, expect, xfail, folder_name, tuple(planted)))
        return build
    return register


def make_base(folder: Path, parts: tuple[str, ...]) -> Path:
    """A valid LA folder: the base files of ``parts`` ("cin", "ssda903") and the family table."""
    folder.mkdir(parents=True)
    for rel in [f for part in parts for f in BASE_FILES[part]] + [FAMILIES]:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURE / rel, folder / rel)
    return folder


def build_case(c: Case, root: Path) -> Path:
    folder = make_base(root / c.folder_name, c.parts)
    c.build(folder)
    return folder


def replace(folder: Path, rel: str, old: str, new: str, count: int = 1) -> None:
    """Replace the first ``count`` occurrences of ``old`` (which must occur) in a text file."""
    path = folder / rel
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= count, f"builder: {old!r} not found {count} time(s) in {rel}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def append_line(folder: Path, rel: str, line: str) -> None:
    with (folder / rel).open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def pseudonym(raw: str, key: PseudonymisationKey, la_code: str = "931") -> str:
    """The door's pseudonym of a raw child id of council ``la_code``."""
    return pseudonymise(pd.Series([raw]), key.for_council(la_code), CHILD).iloc[0]


# --------------------------------------------------------------------------- CIN census XML

@case(Rejected("cin_2020.xml", r"line \d+"))
def xml_truncated(folder: Path) -> None:
    """The CIN file is cut off half way (an interrupted copy)."""
    path = folder / CIN_FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@case(Rejected("cin_2020.xml", r"line 2\b", "Message"))
def xml_wrong_root(folder: Path) -> None:
    """The root element is not Message."""
    replace(folder, CIN_FILE, "<Message>", "<CINCensus>")
    replace(folder, CIN_FILE, "</Message>", "</CINCensus>")


_LAUGHS = "".join(f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10))


@case(Rejected("cin_2020.xml", "DOCTYPE"))
def xml_billion_laughs(folder: Path) -> None:
    """Internal entity expansion ("billion laughs"): nine nested entities in a DOCTYPE."""
    doctype = f'<!DOCTYPE Message [<!ENTITY lol0 "lol">{_LAUGHS}]>\n'
    replace(folder, CIN_FILE, "<Message>", doctype + "<Message>")
    replace(folder, CIN_FILE, "<SoftwareCode>Local Authority", "<SoftwareCode>&lol9;")


@case(Rejected("cin_2020.xml", "DOCTYPE"), planted=("root:x:0:0", "/bin/bash"))
def xml_external_entity(folder: Path) -> None:
    """An external entity pointing at file:///etc/passwd, used as the child id."""
    doctype = '<!DOCTYPE Message [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    replace(folder, CIN_FILE, "<Message>", doctype + "<Message>")
    replace(folder, CIN_FILE, "<LAchildID>0012345<", "<LAchildID>&xxe;<")


CANARY = "CANARY-SECRET-7d1f"


@case(Rejected("cin_2020.xml", "DOCTYPE"), planted=(CANARY,))
def xml_external_entity_after_long_prolog(folder: Path) -> None:
    """A DOCTYPE with an external entity hidden behind 70 kB of comment (past the prolog sniff)."""
    canary = folder.parent / "canary.txt"
    canary.write_text(CANARY, encoding="utf-8")
    doctype = (f"<!--{'x' * 70_000}-->\n"
               f'<!DOCTYPE Message [<!ENTITY xxe SYSTEM "{canary.as_uri()}">]>\n')
    replace(folder, CIN_FILE, "<Message>", doctype + "<Message>")
    replace(folder, CIN_FILE, "<LAchildID>0012345<", "<LAchildID>&xxe;<")


@case(Rejected("cin_2020.xml", r"line 12\b"))
def xml_latin1_declared_utf8(folder: Path) -> None:
    """Latin-1 bytes (an accented SoftwareCode on line 12) in a file declared UTF-8."""
    path = folder / CIN_FILE
    text = path.read_text(encoding="utf-8").replace("Local Authority", "Comté Authority")
    path.write_bytes(text.encode("latin-1"))


def _two_cin_children(tables, key) -> None:
    want = {pseudonym("0012345", key), pseudonym("0012A", key)}
    assert set(tables["children"]["child_id"]) == want
    assert len(tables["cin_episodes"]) == 2


@case(Accepted(_two_cin_children))
def xml_utf8_bom(folder: Path) -> None:
    """A UTF-8 byte-order mark before the XML declaration (Windows editors write one)."""
    path = folder / CIN_FILE
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


@case(Quarantined((
    ("children", CIN_FILE, CHILD_1, "LAchildID", q.MISSING_KEY),
    ("cin_episodes", CIN_FILE, EPISODE_1, "LAchildID", q.PARENT_QUARANTINED),
    ("assessment_factors", CIN_FILE, f"{FACTORS}[1]", "LAchildID", q.PARENT_QUARANTINED),
)))
def xml_missing_lachildid(folder: Path) -> None:
    """The first Child has no LAchildID element (mandatory in every schema)."""
    replace(folder, CIN_FILE, "<LAchildID>0012345</LAchildID>", "")


@case(Quarantined((("cp_plans", CIN_FILE, CP_PLAN, "NumberOfPreviousCPP", q.NOT_A_NUMBER),)))
def xml_previous_cpp_negative(folder: Path) -> None:
    """NumberOfPreviousCPP is -1."""
    replace(folder, CIN_FILE, "<NumberOfPreviousCPP>0<", "<NumberOfPreviousCPP>-1<")


@case(Quarantined((("cp_plans", CIN_FILE, CP_PLAN, "NumberOfPreviousCPP", q.NOT_A_NUMBER),)))
def xml_previous_cpp_not_a_number(folder: Path) -> None:
    """NumberOfPreviousCPP is the word "two"."""
    replace(folder, CIN_FILE, "<NumberOfPreviousCPP>0<", "<NumberOfPreviousCPP>two<")


@case(Quarantined((
    ("cin_episodes", CIN_FILE, EPISODE_1, "CINclosureDate", q.END_BEFORE_START),
    ("assessments", CIN_FILE, f"{EPISODE_1}/Assessments[1]", "CINclosureDate",
     q.PARENT_QUARANTINED),
    ("cin_plans", CIN_FILE, f"{EPISODE_1}/CINPlanDates[1]", "CINclosureDate", q.PARENT_QUARANTINED),
)))
def xml_closure_before_referral(folder: Path) -> None:
    """CINclosureDate (2018-01-01) before CINreferralDate (2018-06-04)."""
    replace(folder, CIN_FILE, "<CINclosureDate>2019-09-30<", "<CINclosureDate>2018-01-01<")


@case(Quarantined((("cp_plans", CIN_FILE, CP_PLAN, "CPPendDate", q.END_BEFORE_START),)))
def xml_cpp_end_before_start(folder: Path) -> None:
    """CPPendDate (2019-01-01) before CPPstartDate (2019-02-10)."""
    replace(folder, CIN_FILE, "<CPPendDate>2020-01-20<", "<CPPendDate>2019-01-01<")


@case(Quarantined((("children", CIN_FILE, CHILD_1, "PersonBirthDate", q.UNPARSEABLE_DATE),)))
def xml_impossible_date(folder: Path) -> None:
    """PersonBirthDate 2012-02-31 does not exist."""
    replace(folder, CIN_FILE, "<PersonBirthDate>2012-05-17<", "<PersonBirthDate>2012-02-31<")


@case(Quarantined((("cin_episodes", CIN_FILE, EPISODE_1, "PrimaryNeedCode", q.UNKNOWN_CODE),)))
def xml_unknown_code(folder: Path) -> None:
    """PrimaryNeedCode N99 is no code at all."""
    replace(folder, CIN_FILE, "<PrimaryNeedCode>N1<", "<PrimaryNeedCode>N99<")


@case(Quarantined((("cin_episodes", CIN_FILE, EPISODE_1, "ReasonForClosure", q.UNKNOWN_CODE),)))
def xml_closure_reason_from_later_year(folder: Path) -> None:
    """ReasonForClosure RC9 (referred to early help) exists only from 2023, in a 2020 file."""
    replace(folder, CIN_FILE, "<ReasonForClosure>RC7<", "<ReasonForClosure>RC9<")


@case(Quarantined((("assessment_factors", CIN_FILE, f"{FACTORS}[3]", "AssessmentFactors",
                    q.UNKNOWN_CODE),)))
def xml_factor_from_later_year(folder: Path) -> None:
    """Assessment factor 24A (child criminal exploitation, from 2022) in a 2020 file."""
    replace(folder, CIN_FILE, "<AssessmentFactors>1B<", "<AssessmentFactors>24A<")


@case(Quarantined((
    ("children", CIN_FILE, CHILD_1, "Sex", q.UNKNOWN_CODE),
    ("cin_episodes", CIN_FILE, EPISODE_1, "LAchildID", q.NO_CHILD_RECORD),
)))
def xml_sex_element_from_later_schema(folder: Path) -> None:
    """<Sex>M</Sex> (2025 schema) instead of GenderCurrent in a 2020 file."""
    replace(folder, CIN_FILE, "<GenderCurrent>1</GenderCurrent>", "<Sex>M</Sex>")


@case(Quarantined((
    ("children", CIN_FILE, CHILD_1, "GenderCurrent", q.UNKNOWN_CODE),
    ("children", CIN_FILE, CHILD_2, "GenderCurrent", q.UNKNOWN_CODE),
)))
def xml_header_year_disagrees_with_schema(folder: Path) -> None:
    """Header says 2025 (Sex M/F/U) but the children carry GenderCurrent (schemas up to 2024)."""
    replace(folder, CIN_FILE, "<Year>2020<", "<Year>2025<")
    replace(folder, CIN_FILE, "<ReferenceDate>2020-03-31<", "<ReferenceDate>2025-03-31<")


@case(Rejected("cin_2020.xml", "Header/CollectionDetails", "ReferenceDate"))
def xml_header_year_disagrees_with_reference_date(folder: Path) -> None:
    """Header Year 2021 with ReferenceDate 2020-03-31 (the 2020 collection's date)."""
    replace(folder, CIN_FILE, "<Year>2020<", "<Year>2021<")


@case(Rejected("cin_2020.xml", "Header/Source/LEA", "LEA"))
def xml_other_local_authority(folder: Path) -> None:
    """Header/Source/LEA 123 in folder 931 (a file filed under the wrong council)."""
    replace(folder, CIN_FILE, "<LEA>931<", "<LEA>123<")


@case(Rejected("cin_2020.xml", "Header/CollectionDetails/Year", "Year"))
def xml_no_collection_year(folder: Path) -> None:
    """No Header/CollectionDetails/Year element."""
    replace(folder, CIN_FILE, "<Year>2020</Year>", "")


@case(Rejected("cin_2020_resubmitted.xml", None, "Year", also=("cin_2020.xml",)))
def xml_two_files_for_one_year(folder: Path) -> None:
    """A resubmission saved beside the original: two files with Header Year 2020."""
    shutil.copyfile(folder / CIN_FILE, folder / "cin_census" / "cin_2020_resubmitted.xml")


@case(Rejected("readme.txt"))
def cin_folder_with_a_text_file(folder: Path) -> None:
    """A readme.txt dropped in cin_census/."""
    (folder / "cin_census" / "readme.txt").write_text("CIN census 2020 as sent\n", encoding="utf-8")


# --------------------------------------------------------------------------- SSDA903 CSV / XLSX

SSDA = ("ssda903",)


@case(Rejected("episodes.csv", None, "LS"), parts=SSDA)
def csv_missing_required_column(folder: Path) -> None:
    """episodes.csv without the LS (legal status) column."""
    path = folder / EPISODES
    rows = [line.split(",") for line in path.read_text(encoding="utf-8").splitlines()]
    col = rows[0].index("LS")
    kept = [",".join(r[:col] + r[col + 1:]) for r in rows]
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")


@case(Rejected("header.csv", None, r"CHILD"), parts=SSDA)
def csv_renamed_column(folder: Path) -> None:
    """header.csv with CHILD renamed CHILD_ID (a local export's own name)."""
    replace(folder, HEADER, "CHILD,SEX", "CHILD_ID,SEX")


NOTE = "Seen by Zoe Example at 12 Acacia Road"


def _no_notes(tables, key) -> None:
    assert len(tables["children"]) == 3 and len(tables["care_episodes"]) == 5
    for name, frame in tables.items():
        assert "NOTES" not in frame.columns and "notes" not in frame.columns, name
        assert not frame.astype(str).apply(lambda c: c.str.contains("Acacia")).any().any(), name


@case(Accepted(_no_notes), parts=SSDA, planted=(NOTE,))
def csv_extra_columns(folder: Path) -> None:
    """A free-text NOTES column added to header.csv and episodes.csv."""
    for rel in (HEADER, EPISODES):
        path = folder / rel
        lines = path.read_text(encoding="utf-8").splitlines()
        lines = [lines[0] + ",NOTES"] + [line + f',"{NOTE}"' for line in lines[1:]]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _no_care_episodes(tables, key) -> None:
    assert len(tables["care_episodes"]) == 0 and len(tables["children"]) == 3
    rec = tables["reconciliation"].set_index("source_file")
    assert EPISODES not in rec.index or int(rec.loc[[EPISODES], "rows_read"].sum()) == 0


@case(Accepted(_no_care_episodes), parts=SSDA)
def csv_header_only_episodes(folder: Path) -> None:
    """episodes.csv has its column names and no rows (no child looked after that year)."""
    path = folder / EPISODES
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")


@case(Quarantined((
    ("care_episodes", EPISODES, 2, "CHILD", q.NO_CHILD_RECORD),
    ("care_episodes", EPISODES, 7, "CHILD", q.NO_CHILD_RECORD),
)), parts=SSDA)
def csv_header_only_header(folder: Path) -> None:
    """header.csv has its column names and no rows: the episodes have no child record."""
    path = folder / HEADER
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")


@case(Rejected("header.csv"), parts=SSDA)
def csv_empty_file(folder: Path) -> None:
    """header.csv is zero bytes."""
    (folder / HEADER).write_bytes(b"")


@case(Quarantined((("children", HEADER, 3, "DOB", q.UNPARSEABLE_DATE),)), parts=SSDA)
def csv_excel_serial_date(folder: Path) -> None:
    """DOB 40505 (Excel's serial number for 23/11/2010 after a bad CSV export)."""
    replace(folder, HEADER, "23/11/2010", "40505")


@case(Quarantined((("care_episodes", EPISODES, 3, "DECOM", q.UNPARSEABLE_DATE),)), parts=SSDA)
def csv_us_date_invalid_as_uk(folder: Path) -> None:
    """DECOM 12/25/2020 (US month/day): no month 25, so it cannot be read as dd/mm."""
    replace(folder, EPISODES, "0012346,03/03/2021", "0012346,12/25/2020")


def _read_as_day_month(tables, key) -> None:
    # Documented limitation: an ambiguous US date is read as dd/mm/YYYY; nothing can tell.
    starts = tables["care_episodes"].loc[
        tables["care_episodes"]["child_id"] == pseudonym("0012A", key), "decom"]
    assert pd.Timestamp("2020-01-06") in set(starts)
    assert pd.Timestamp("2020-06-01") not in set(starts)


@case(Accepted(_read_as_day_month), parts=SSDA)
def csv_us_date_ambiguous(folder: Path) -> None:
    """DECOM 06/01/2020 meant as US 1 June 2020: valid as dd/mm too, so it is read as 6 January."""
    replace(folder, EPISODES, "0012A,01/06/2020", "0012A,06/01/2020")


@case(Quarantined((("care_episodes", EPISODES, 6, "DECOM", q.UNPARSEABLE_DATE),)), parts=SSDA)
def csv_impossible_date(folder: Path) -> None:
    """DECOM 31/02/2020 does not exist."""
    replace(folder, EPISODES, "0012A,05/05/2020", "0012A,31/02/2020")


@case(Quarantined((("care_episodes", EPISODES, 2, "DEC", q.END_BEFORE_START),)), parts=SSDA)
def csv_dec_before_decom(folder: Path) -> None:
    """DEC 05/02/2019 before DECOM 10/12/2019."""
    replace(folder, EPISODES, "05/02/2021", "05/02/2019")


@case(Quarantined((("care_episodes", EPISODES, 3, "DECOM", q.MISSING_KEY),)), parts=SSDA)
def csv_missing_decom(folder: Path) -> None:
    """An episode without DECOM (its start date and half of its key)."""
    replace(folder, EPISODES, "0012346,03/03/2021", "0012346,")


@case(Quarantined((("care_episodes", EPISODES, 6, "LS", q.UNKNOWN_CODE),)), parts=SSDA)
def csv_unknown_code(folder: Path) -> None:
    """Legal status Z9 is no code at all."""
    replace(folder, EPISODES, "0012A,05/05/2020,S,C2", "0012A,05/05/2020,S,Z9")


@case(Quarantined((
    ("children", HEADER, 2, "SEX", q.UNKNOWN_CODE),
    ("care_episodes", EPISODES, 2, "CHILD", q.NO_CHILD_RECORD),
)), parts=SSDA)
def csv_sex_code_from_later_year(folder: Path) -> None:
    """SEX M (the 2024/25 coding) in the 2020/21 return, where SEX is 1/2."""
    replace(folder, HEADER, "0012345,1,", "0012345,M,")


@case(Quarantined((("care_episodes", EPISODES, 3, "PLACE", q.UNKNOWN_CODE),)), parts=SSDA)
def csv_placement_code_from_later_year(folder: Path) -> None:
    """PLACE K3 (from 2024/25) in the 2020/21 return."""
    replace(folder, EPISODES, "N4,U3,PR1", "N4,K3,PR1")


@case(Quarantined((
    ("children", HEADER, 3, "DOB", q.CONFLICTING_BIRTH_DATES),
    ("children", HEADER, 5, "DOB", q.CONFLICTING_BIRTH_DATES),
)), parts=SSDA)
def csv_duplicate_id_conflicting_dob(folder: Path) -> None:
    """header.csv lists child 0012346 twice, born 23/11/2010 and 24/11/2010."""
    append_line(folder, HEADER, "0012346,2,24/11/2010,WBRI,,,")


@case(Quarantined((
    ("children", CIN_FILE, CHILD_1, "PersonBirthDate", q.CONFLICTING_BIRTH_DATES),
    ("children", HEADER, 2, "DOB", q.CONFLICTING_BIRTH_DATES),
    ("cin_episodes", CIN_FILE, EPISODE_1, "LAchildID", q.CONFLICTING_BIRTH_DATES),
    ("care_episodes", EPISODES, 2, "CHILD", q.CONFLICTING_BIRTH_DATES),
)), parts=("cin", "ssda903"))
def duplicate_id_conflicting_dob_across_sources(folder: Path) -> None:
    """Child 0012345 born 2012-05-17 in the CIN census and 18/05/2012 in SSDA903."""
    replace(folder, HEADER, "17/05/2012", "18/05/2012")


@case(Rejected("header.csv"), parts=SSDA)
def csv_semicolon_delimiter(folder: Path) -> None:
    """header.csv saved with ';' as the delimiter (a continental Excel setting)."""
    path = folder / HEADER
    path.write_text(path.read_text(encoding="utf-8").replace(",", ";"), encoding="utf-8")


@case(Rejected("header.csv", r"line 3\b"), parts=SSDA)
def csv_ragged_row(folder: Path) -> None:
    """Line 3 of header.csv has two more fields than the header (an unquoted comma)."""
    replace(folder, HEADER, "0012346,2,23/11/2010,WBRI", "0012346,2,23/11/2010,WBRI,x,y")


@case(Rejected("header.csv", r"line \d+|byte \d+"), parts=SSDA)
def csv_not_utf8(folder: Path) -> None:
    """header.csv saved as Windows-1252 with an accented name in an extra column."""
    path = folder / HEADER
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",CARER"] + [line + ",Zoë" for line in lines[1:]]
    path.write_bytes(("\n".join(lines) + "\n").encode("cp1252"))


@case(Rejected("families.csv", r"line \d+|byte \d+"), parts=SSDA)
def families_not_utf8(folder: Path) -> None:
    """families.csv saved as Windows-1252 with an accented family name."""
    path = folder / FAMILIES
    path.write_bytes((path.read_text(encoding="utf-8") + "0012346,FAM-Zoë\n").encode("cp1252"))


def _sheet_workbook(path: Path, sheets: list[tuple[str, list[list]]]) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)


@case(Rejected("Header.xlsx"), parts=SSDA)
def xlsx_first_sheet_not_a_table(folder: Path) -> None:
    """Header.xlsx whose first sheet is the analyst's notes (the Header table is on sheet 2)."""
    (folder / HEADER).unlink()
    _sheet_workbook(folder / "ssda903" / "2021" / "Header.xlsx", [
        ("Notes", [["Child 0012345 moved in March"], ["checked by data team"]]),
        ("Header", [["CHILD", "SEX", "DOB", "ETHNIC"], ["0012345", "1", "17/05/2012", "WBRI"]]),
    ])


@case(Rejected("header.xlsx"), parts=SSDA)
def xlsx_not_a_workbook(folder: Path) -> None:
    """A CSV renamed to header.xlsx."""
    (folder / HEADER).rename(folder / "ssda903" / "2021" / "header.xlsx")


@case(Rejected("2020-21", None, "ssda903"), parts=SSDA)
def ssda903_year_folder_not_a_year(folder: Path) -> None:
    """The year folder is named 2020-21 instead of 2021."""
    (folder / "ssda903" / "2021").rename(folder / "ssda903" / "2020-21")


def _linked_as_base(tables, key) -> None:
    want = {pseudonym(i, key) for i in ("0012345", "0012346", "0012A")}
    assert set(tables["children"]["child_id"]) == want
    assert set(tables["care_episodes"]["child_id"]) == want
    assert len(tables["care_episodes"]) == 5
    assert want <= set(tables["families"]["child_id"])


@case(Accepted(_linked_as_base), parts=("cin", "ssda903"))
def blank_lines_and_padded_ids(folder: Path) -> None:
    """Blank, space-only and comma-only lines between rows; ids padded and lower-cased."""
    for rel in (HEADER, EPISODES, FAMILIES):
        path = folder / rel
        lines = path.read_text(encoding="utf-8").splitlines()
        padded = [lines[0], ""]
        for line in lines[1:]:
            raw, rest = line.split(",", 1)
            padded += [f" {raw.lower()}  ,{rest}", "   ", " ," * lines[0].count(",")]
        path.write_text("\n".join(padded) + "\n\n", encoding="utf-8")


@case(Quarantined((("care_episodes", EPISODES, 9, "LS", q.UNKNOWN_CODE),)), parts=SSDA)
def blank_lines_keep_line_numbers(folder: Path) -> None:
    """Three blank lines after the header: a bad code on physical line 9 is reported as line 9."""
    replace(folder, EPISODES, "URN\n", "URN\n\n\n\n")
    replace(folder, EPISODES, "0012A,05/05/2020,S,C2", "0012A,05/05/2020,S,Z9")


# --------------------------------------------------------------------------- families and folders

@case(Quarantined((
    ("children", HEADER, 3, "family_id", q.NOT_IN_FAMILY),
    ("care_episodes", EPISODES, 3, "CHILD", q.NOT_IN_FAMILY),
)), parts=SSDA)
def child_in_no_family(folder: Path) -> None:
    """Child 0012346 has episodes but no row in families.csv."""
    replace(folder, FAMILIES, "0012346,FAM-77\n", "")


def _unknown_person_kept(tables, key) -> None:
    # Documented rule: the family table keeps every person it lists (parents, siblings too).
    assert pseudonym("0077777", key) in set(tables["families"]["child_id"])
    assert pseudonym("0077777", key) not in set(tables["children"]["child_id"])


@case(Accepted(_unknown_person_kept), parts=SSDA, planted=("0077777", "FAM-99"))
def family_row_for_unknown_person(folder: Path) -> None:
    """families.csv lists 0077777, who is in no return (a parent or a sibling without services)."""
    append_line(folder, FAMILIES, "0077777,FAM-99")


@case(Quarantined((
    ("families", FAMILIES, 3, "family_id", q.MULTIPLE_FAMILIES),
    ("families", FAMILIES, 7, "family_id", q.MULTIPLE_FAMILIES),
    ("children", HEADER, 3, "family_id", q.NOT_IN_FAMILY),
)), parts=SSDA)
def person_in_two_families(folder: Path) -> None:
    """Child 0012346 is in FAM-77 and FAM-78."""
    append_line(folder, FAMILIES, "0012346,FAM-78")


@case(Quarantined((("children", HEADER, 2, "family_id", q.NOT_IN_FAMILY),)), parts=SSDA)
def families_header_only(folder: Path) -> None:
    """families.csv has its column names and no rows: every child is in no family."""
    (folder / FAMILIES).write_text("person_id,family_id\n", encoding="utf-8")


@case(Rejected("families.csv", None, "person_id"), parts=SSDA)
def families_renamed_columns(folder: Path) -> None:
    """families.csv with columns child,family."""
    replace(folder, FAMILIES, "person_id,family_id", "child,family")


@case(Rejected("931", None, "families.csv"), parts=())
def empty_la_folder(folder: Path) -> None:
    """The local-authority folder is empty."""
    (folder / FAMILIES).unlink()


@case(Rejected("oxfordshire"), folder_name="oxfordshire")
def la_folder_not_a_code(folder: Path) -> None:
    """The local-authority folder is named oxfordshire, not a DfE three-digit code."""


def _three_children(tables, key) -> None:
    assert len(tables["children"]) == 3


@case(Accepted(_three_children), parts=SSDA)
def csv_short_empty_lines(folder: Path) -> None:
    """Short lines of empty fields (',,' and ' , ') in header.csv, as spreadsheets leave them."""
    replace(folder, HEADER, "MC_DOB\n", "MC_DOB\n,,\n , \n")
    append_line(folder, HEADER, ",")


# --------------------------------------------------------------------------- encodings and layouts

@case(Accepted(_linked_as_base), parts=("cin", "ssda903"))
def csv_utf8_bom_and_crlf(folder: Path) -> None:
    """Every CSV saved by Excel as 'CSV UTF-8': a byte-order mark and CRLF line ends."""
    for rel in (HEADER, EPISODES, FAMILIES):
        path = folder / rel
        text = path.read_text(encoding="utf-8").replace("\n", "\r\n")
        path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))


@case(Accepted(_two_cin_children))
def xml_utf16(folder: Path) -> None:
    """The CIN file saved as UTF-16 (with BOM and a matching declaration)."""
    path = folder / CIN_FILE
    text = path.read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    path.write_bytes(text.encode("utf-16"))


@case(Accepted(_two_cin_children))
def xml_whitespace_in_ids(folder: Path) -> None:
    """LAchildID wrapped over lines with tabs, and in lower case in another child."""
    replace(folder, CIN_FILE, "<LAchildID>0012345<", "<LAchildID>\n\t  0012345\t\n<")
    replace(folder, CIN_FILE, "<LAchildID> 0012a <", "<LAchildID>\t0012a\r\n<")


@case(Rejected("cin_2020.xml", "DOCTYPE"))
def xml_external_dtd(folder: Path) -> None:
    """A DOCTYPE naming an external DTD over the network (must not be fetched)."""
    doctype = '<!DOCTYPE Message SYSTEM "http://127.0.0.1:9/cin.dtd">\n'
    replace(folder, CIN_FILE, "<Message>", doctype + "<Message>")


@case(Rejected("cin_2020.xml", None, "Message"))
def xml_namespaced_root(folder: Path) -> None:
    """The root carries a default namespace (the DfE files have none), so no element matches."""
    replace(folder, CIN_FILE, "<Message>", '<Message xmlns="urn:example:cin">')


@case(Rejected("cin_2020.xml"))
def xml_empty_file(folder: Path) -> None:
    """cin_2020.xml is zero bytes."""
    (folder / CIN_FILE).write_bytes(b"")


@case(Quarantined((("care_episodes", EPISODES, 7, "LS", q.UNKNOWN_CODE),)), parts=SSDA,
    planted=(NOTE,))
def csv_multiline_quoted_field(folder: Path) -> None:
    """A NOTES value on the first row spans two lines; a bad code sits on physical line 7."""
    path = folder / EPISODES
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",NOTES", lines[1] + f',"{NOTE}\ncontinued"'] + [x + "," for x in lines[2:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    replace(folder, EPISODES, "0012A,05/05/2020,S,C2", "0012A,05/05/2020,S,Z9")


@case(Quarantined((("children", HEADER, 3, "ETHNIC", q.UNKNOWN_CODE),)), parts=SSDA)
def csv_nul_byte(folder: Path) -> None:
    """A NUL byte inside the ETHNIC code on line 3 (a corrupted export)."""
    replace(folder, HEADER, "0012346,2,23/11/2010,WBRI", "0012346,2,23/11/2010,WB\x00RI")


@case(Rejected("header.csv", None, "ssda903"), parts=SSDA)
def ssda903_file_outside_year_folder(folder: Path) -> None:
    """header.csv saved directly in ssda903/ instead of ssda903/2021/."""
    (folder / HEADER).rename(folder / "ssda903" / "header.csv")


@case(Quarantined((("children", "ssda903/2021/Header.xlsx", 3, "DOB", q.UNPARSEABLE_DATE),)),
      parts=SSDA)
def xlsx_serial_number_date(folder: Path) -> None:
    """Header.xlsx whose DOB on row 3 is the number 40505 in a General-format cell, not a date."""
    import datetime as dt

    (folder / HEADER).unlink()
    _sheet_workbook(folder / "ssda903" / "2021" / "Header.xlsx", [("Header", [
        ["CHILD", "SEX", "DOB", "ETHNIC"],
        ["0012345", 1, dt.datetime(2012, 5, 17), "WBRI"],
        ["0012346", 2, 40505, "WBRI"],
        ["0012A", 2, dt.datetime(2015, 2, 9), "MWBC"],
    ])])


# --- plausibility at the door (evaluation/ingest/plausibility.py): judged within the row's own file

@case(Quarantined((("cp_plans", CIN_FILE, CP_PLAN, "CPPendDate", q.DATE_AFTER_REFERENCE),)))
def xml_date_after_its_file_reference_date(folder: Path) -> None:
    """CPPendDate 2020-04-20 in the 2020 census, whose reference date is 2020-03-31."""
    replace(folder, CIN_FILE, "<CPPendDate>2020-01-20<", "<CPPendDate>2020-04-20<")


@case(Quarantined((
    ("cin_episodes", CIN_FILE, EPISODE_1, "CINclosureDate", q.DATE_AFTER_REFERENCE),
    ("assessments", CIN_FILE, f"{EPISODE_1}/Assessments[1]", "CINclosureDate",
     q.PARENT_QUARANTINED),
)))
def xml_closure_after_its_file_reference_date(folder: Path) -> None:
    """A CIN episode closed on 2020-05-01 in the census of 31 March 2020: its records follow it."""
    replace(folder, CIN_FILE, "<CINclosureDate>2019-09-30<", "<CINclosureDate>2020-05-01<")


@case(Quarantined((("care_episodes", EPISODES, 7, "DEC", q.DATE_AFTER_REFERENCE),)), parts=SSDA)
def csv_dec_after_its_file_reference_date(folder: Path) -> None:
    """DEC 01/04/2021 in the 2021 return, whose reference date is 31/03/2021."""
    replace(folder, EPISODES, "31/03/2021,E4B", "01/04/2021,E4B")


@case(Quarantined((("care_episodes", EPISODES, 6, "DECOM", q.EVENT_BEFORE_BIRTH),)), parts=SSDA)
def csv_care_before_birth(folder: Path) -> None:
    """A period of care starting in 2014 for a child born (same return's header) in February 2015."""
    replace(folder, EPISODES, "0012A,05/05/2020,S,C2", "0012A,05/05/2014,S,C2")
