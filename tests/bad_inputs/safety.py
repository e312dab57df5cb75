"""Cases of issue #13 (safe with real data): files and years that used to vanish without a
count, rows cut short, and inputs built to exhaust memory or crash the readers without naming
the file. Registered in the same corpus as :mod:`bad_inputs.cases` (importing this module adds
them to ``CASES``)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from bad_inputs.cases import (
    CIN_FILE, EPISODES, HEADER, Accepted, Quarantined, Rejected, _sheet_workbook, case, replace,
)
from evaluation.ingest import quarantine as q

SSDA = ("ssda903",)


# --- whole files and years that vanished -------------------------------------------------------

@case(Rejected("cin_2020.xml", r"line \d+", "Child", also=("Wrapper",)))
def xml_children_wrapped_in_another_element(folder: Path) -> None:
    """Every <Child> wrapped in a <Wrapper> inside <Children>: read as 0 children before."""
    replace(folder, CIN_FILE, "<Children>", "<Children><Wrapper>")
    replace(folder, CIN_FILE, "</Children>", "</Wrapper></Children>")


@case(Rejected("cin_2020.xml", None, "Child"))
def xml_with_no_child(folder: Path) -> None:
    """A CIN census file whose Children element is empty (an export that wrote the header only)."""
    path = folder / CIN_FILE
    text = path.read_text(encoding="utf-8")
    start, end = text.index("<Children>"), text.index("</Children>")
    path.write_text(text[:start] + "<Children>" + text[end:], encoding="utf-8")


@case(Rejected("cin_census/2020/", None, "cin_census"))
def cin_file_one_folder_deeper(folder: Path) -> None:
    """The CIN census file saved in cin_census/2020/ instead of cin_census/."""
    (folder / "cin_census" / "2020").mkdir()
    (folder / CIN_FILE).rename(folder / "cin_census" / "2020" / "cin_2020.xml")


@case(Rejected("ssda903/2021/export/", None, "ssda903"), parts=SSDA)
def ssda903_files_in_a_subfolder(folder: Path) -> None:
    """The 2021 SSDA903 CSVs saved in ssda903/2021/export/ instead of ssda903/2021/."""
    (folder / "ssda903" / "2021" / "export").mkdir()
    for rel in (HEADER, EPISODES):
        (folder / rel).rename(folder / "ssda903" / "2021" / "export" / Path(rel).name)


@case(Rejected("ssda903/2021/episodes.csv", None, None, also=("broken link",)), parts=SSDA)
def dangling_symlink(folder: Path) -> None:
    """episodes.csv is a link to a file that no longer exists (a moved share)."""
    (folder / EPISODES).unlink()
    os.symlink(folder.parent / "gone" / "episodes.csv", folder / EPISODES)


@case(Rejected("ssda903/2021/header.csv", None, None, also=("outside the input folder",)),
      parts=SSDA)
def symlink_leaving_the_input_root(folder: Path) -> None:
    """header.csv is a link to a file outside the input root (e.g. another council's share)."""
    outside = folder.parent.parent / "elsewhere"
    outside.mkdir()
    (folder / HEADER).rename(outside / "header.csv")
    os.symlink(outside / "header.csv", folder / HEADER)


def _listed(status: str, path: str):
    def check(tables, key) -> None:
        rec = tables["reconciliation"]
        row = rec.loc[rec["source_file"] == path]
        assert len(row) == 1 and row["status"].iloc[0] == status, rec[["source_file", "status"]]
        assert row["note"].notna().all()
    return check


@case(Accepted(_listed("ignored", "notes.txt")), parts=SSDA)
def unknown_file_beside_the_inputs(folder: Path) -> None:
    """A notes.txt at the top of the local-authority folder: listed as ignored, with why."""
    (folder / "notes.txt").write_text("sent by the data team\n", encoding="utf-8")


@case(Accepted(_listed("empty folder", "ssda903/2022/")), parts=SSDA)
def empty_collection_year_folder(folder: Path) -> None:
    """An ssda903/2022/ folder with nothing in it: listed, not silently a year of zero."""
    (folder / "ssda903" / "2022").mkdir()


@case(Accepted(_listed("empty", "ssda903/2021/episodes.csv")), parts=SSDA)
def csv_with_no_data_rows(folder: Path) -> None:
    """episodes.csv holds only its line of column names: read, and listed as empty."""
    path = folder / EPISODES
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")


# --- rows cut short ------------------------------------------------------------------------------

@case(Quarantined((("care_episodes", EPISODES, 7, "REC", q.SHORT_ROW),)), parts=SSDA)
def csv_last_line_truncated(folder: Path) -> None:
    """episodes.csv cut after DEC on its last line, with no final newline: the row lost its exit
    reason and must not replace the complete record of another year."""
    path = folder / EPISODES
    text = path.read_text(encoding="utf-8").rstrip("\n")
    cut = text.rindex("31/03/2021") + len("31/03/2021")
    path.write_text(text[:cut], encoding="utf-8")


@case(Quarantined((("children", HEADER, 3, "DOB", q.SHORT_ROW),)), parts=SSDA)
def csv_ragged_row_in_the_middle(folder: Path) -> None:
    """header.csv line 3 holds two fields: the child and sex, nothing else."""
    replace(folder, HEADER, "0012346,2,23/11/2010,WBRI,B123456789013,,", "0012346,2")


@case(Quarantined((("families", "families.csv", 2, "family_id", q.SHORT_ROW),)), parts=SSDA)
def families_row_without_family(folder: Path) -> None:
    """families.csv line 2 lists a person with no family column at all."""
    path = folder / "families.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].split(",")[0]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# --- crashes that named no file ----------------------------------------------------------------

@case(Rejected("header.csv", "line 1", None, also=("same name",)), parts=SSDA)
def csv_columns_differing_by_case(folder: Path) -> None:
    """header.csv has both CHILD and child columns."""
    path = folder / HEADER
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",child"] + [line + ",0099999" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _xlsx(path: Path) -> None:
    (path.parent / "header.csv").unlink()
    _sheet_workbook(path, [("Header", [["CHILD", "SEX", "DOB", "ETHNIC"],
                                       ["0012345", "1", "17/05/2012", "WBRI"]])])


@case(Rejected("Header.xlsx", None, None, also=("damaged",)), parts=SSDA)
def xlsx_corrupt_sheet_inside_a_valid_workbook(folder: Path) -> None:
    """A valid XLSX archive whose sheet XML is cut in the middle."""
    path = folder / "ssda903" / "2021" / "Header.xlsx"
    _xlsx(path)
    damaged = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                data = data[: len(data) // 2]
            target.writestr(item, data)
    damaged.replace(path)


@case(Rejected("Header.xlsx", None, None, also=("columns",)), parts=SSDA)
def xlsx_stray_cell_at_the_last_column(folder: Path) -> None:
    """A 14 KB workbook with one stray cell at XFD1048576 (took 8.7 GB, then MemoryError)."""
    import openpyxl

    path = folder / "ssda903" / "2021" / "Header.xlsx"
    (folder / HEADER).unlink()
    book = openpyxl.Workbook()
    sheet = book.active
    for row in (["CHILD", "SEX", "DOB", "ETHNIC"], ["0012345", "1", "17/05/2012", "WBRI"]):
        sheet.append(row)
    sheet["XFD1048576"] = "x"
    book.save(path)


@case(Rejected("Header.xlsx", None, None, also=("MiB",)), parts=SSDA)
def xlsx_zip_bomb(folder: Path) -> None:
    """A workbook of under 1 MB that unpacks to 300 MiB (a sheet of blanks)."""
    path = folder / "ssda903" / "2021" / "Header.xlsx"
    _xlsx(path)
    bomb = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED,
                                                          compresslevel=9) as target:
        for item in source.infolist():
            target.writestr(item.filename, source.read(item.filename))
        with target.open("xl/media/padding.bin", "w") as member:
            block = b" " * (1 << 20)
            for _ in range(300):
                member.write(block)
    bomb.replace(path)


@case(Rejected("'９３１'", None, None, also=("three ASCII digits",)), folder_name="９３１")
def la_folder_with_unicode_digits(folder: Path) -> None:
    """The LA folder is named with full-width digits (９３１), which \\d would take for 931."""


# --- every SSDA903 table recognised by its DfE columns (issue #14) -----------------------------

@case(Accepted(_listed("ignored", "ssda903/2021/dolo.csv")), parts=SSDA)
def ssda903_deprivation_of_liberty_table(folder: Path) -> None:
    """A DoLo table (deprivation of liberty orders, from 2023/24): recognised and ignored with a
    note, not taken for a Header table missing SEX and ETHNIC."""
    (folder / "ssda903" / "2021" / "dolo.csv").write_text(
        "CHILD,DOB,DOLO_START,DOLO_END\n0012345,17/05/2012,01/02/2021,\n", encoding="utf-8")


@case(Rejected("extra.csv", None, None, also=("not a known SSDA903 table",)), parts=SSDA)
def ssda903_unknown_table_with_child_and_dob(folder: Path) -> None:
    """A table with CHILD and DOB but no other DfE column: unknown, not 'a broken Header'."""
    (folder / "ssda903" / "2021" / "extra.csv").write_text(
        "CHILD,DOB,SCHOOL\n0012345,17/05/2012,x\n", encoding="utf-8")


@case(Quarantined((("children", CIN_FILE, "Message/Children/Child[2]", "PersonBirthDate",
                    q.CONFLICTING_BIRTH_DATES),
                   ("children", HEADER, 4, "ETHNIC", q.UNKNOWN_CODE))),
      parts=("cin", "ssda903"), planted=("10/02/2015", "2015-02-10"))
def conflicting_birth_date_on_a_record_quarantined_for_its_code(folder: Path) -> None:
    """header.csv gives child 0012A born 10/02/2015 (the CIN census: 2015-02-09) on a row
    quarantined for its ETHNIC code: the conflict is still seen (issue #14)."""
    replace(folder, HEADER, "0012A,2,09/02/2015,MWBC", "0012A,2,10/02/2015,ZZZZ")


@case(Quarantined((("care_episodes", EPISODES, 3, "REC", q.REASON_WITHOUT_END),)), parts=SSDA)
def csv_open_episode_with_a_reason_for_ending(folder: Path) -> None:
    """An episode with no DEC (open) whose REC says X1: the two fields contradict each other
    (d2i's public fake return holds 87 such rows)."""
    replace(folder, EPISODES, "0012346,03/03/2021,S,V2,N4,U3,PR1,,,", "0012346,03/03/2021,S,V2,N4,U3,PR1,,X1,")


@case(Quarantined((("cin_episodes", CIN_FILE, "Message/Children/Child[1]/CINdetails[1]",
                    "CINclosureDate", q.CLOSED_BEFORE_YEAR),)))
def xml_episode_closed_before_its_collection_year(folder: Path) -> None:
    """An episode closed on 2019-03-01 in the 2019/20 return (year from 1 April 2019): a return
    lists the episodes open during its year (the public fakes carry one closed in 1971)."""
    replace(folder, CIN_FILE, "<CINclosureDate>2019-09-30<", "<CINclosureDate>2019-03-01<")
