"""SSDA903 reader (CSV and XLSX, tables by columns, SEX eras, quarantine) and the repair rules."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from evaluation.ingest import assemble as asm
from evaluation.ingest import quarantine as q
from evaluation.ingest.errors import InputError
from evaluation.ingest.ssda903 import check_ssda903, read_ssda903_cells, read_ssda903_file
from evaluation.pseudonymise import CHILD, load_key, pseudonymise
from test_ingest_cin import assert_same_extract

FIXTURES = Path(__file__).parent / "fixtures" / "handwritten" / "931" / "ssda903"
KEY = load_key("4ec55b862feec2853159f0ebab91d355a1aa3cd9e5d8c887767b84ec66d62371")
EPISODE_HEADER = ("CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,"
                  "HOME_POST,PL_POST,URN")


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def episode(child="0001", decom="01/05/2020", dec="", rec="", rne="S", place="U1", ls="C2") -> str:
    return f"{child},{decom},{rne},{ls},N1,{place},PR1,{dec},{rec},,OX4 1AA,OX3 7QT,SC123456"


def quarantine_of(extract) -> pd.DataFrame:
    return pd.concat(extract.quarantine, ignore_index=True)


def test_tables_are_recognised_by_columns_not_names(tmp_path):
    path = write(tmp_path, "whatever.csv", [EPISODE_HEADER, episode()])
    extract = read_ssda903_file(path, 2021, KEY)
    assert list(extract.tables) == ["care_episodes"]
    assert extract.rows_read == {"care_episodes": 1}
    frame = extract.tables["care_episodes"]
    assert not {"HOME_POST", "PL_POST", "URN", "home_post"} & set(frame.columns)


def test_other_dfe_tables_are_recognised_and_ignored():
    extract = read_ssda903_file(FIXTURES / "2020" / "reviews.csv", 2020, KEY)
    assert extract.ignored_table == "reviews" and not extract.tables and not extract.rows_read


def test_unknown_csv_is_a_clear_error_without_values(tmp_path):
    path = write(tmp_path, "notes.csv", ["CHILD,COMMENT", "0012345,OX4 1AA"])
    with pytest.raises(InputError, match="notes.csv: not a known SSDA903 table") as err:
        read_ssda903_file(path, 2021, KEY)
    assert "0012345" not in str(err.value) and "OX4 1AA" not in str(err.value)
    ragged = write(tmp_path, "ragged.csv", [EPISODE_HEADER, episode(), episode() + ",0012345,OX4 1AA"])
    with pytest.raises(InputError, match="ragged.csv: not a readable CSV: line 3 has 15 fields") as err:
        read_ssda903_file(ragged, 2021, KEY)
    assert "0012345" not in str(err.value) and "OX4 1AA" not in str(err.value)
    fake = tmp_path / "episodes.xlsx"
    fake.write_text(EPISODE_HEADER)
    with pytest.raises(InputError, match="episodes.xlsx: not a readable XLSX workbook"):
        read_ssda903_file(fake, 2021, KEY)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81\x9f" * 40)
    with pytest.raises(InputError, match="binary.csv"):
        read_ssda903_file(binary, 2021, KEY)


def test_xlsx_header_with_excel_dates_and_2025_sex_codes():
    extract = read_ssda903_file(FIXTURES / "2025" / "Header.xlsx", 2025, KEY)
    children = extract.tables["children"]
    assert children["sex"].tolist() == ["M", "M"]
    assert children["birth_date"].tolist() == [pd.Timestamp("2019-08-14"), pd.Timestamp("2012-05-17")]
    expected = pseudonymise(pd.Series(["0099001", "0012345"]), KEY, CHILD)
    assert children["child_id"].tolist() == expected.tolist()
    assert quarantine_of(extract).empty


@pytest.mark.parametrize("year,codes,bad", [(2024, ["1", "2"], ["M"]), (2025, ["M", "F", "U"], ["1"])])
def test_sex_eras(tmp_path, year, codes, bad):
    rows = [f"{i:04d},{c},01/02/2015,WBRI,A123456789012,," for i, c in enumerate(codes + bad)]
    path = write(tmp_path, "h.csv", ["CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB", *rows])
    extract = read_ssda903_file(path, year, KEY)
    sexes = extract.tables["children"]["sex"].tolist()
    assert sexes == [{"1": "M", "2": "F"}.get(c, c) for c in codes]
    quarantined = quarantine_of(extract)
    assert quarantined[["field", "reason", "line"]].values.tolist() == [
        ["SEX", q.UNKNOWN_CODE, len(codes) + 2]]


def test_quarantine_reasons_and_csv_lines(tmp_path):
    lines = [EPISODE_HEADER,
             episode(),                                          # line 2: fine
             episode(decom="31/02/2020"),                        # 3: unparseable DECOM
             episode(dec="2020-06-01"),                          # 4: DEC not dd/mm/YYYY
             episode(decom="01/06/2020", dec="01/05/2020"),      # 5: end before start
             episode(place="K3"),                                # 6: K3 only from 2025
             episode(child=""),                                  # 7: no CHILD
             "",                                                 # 8: blank line, not a row
             episode(decom=""),                                  # 9: no DECOM
             episode(place="Z1", decom="01/09/2020")]            # 10: Z1 fine
    extract = read_ssda903_file(write(tmp_path, "e.csv", lines), 2021, KEY)
    got = quarantine_of(extract)[["line", "field", "reason"]].values.tolist()
    assert got == [[3, "DECOM", q.UNPARSEABLE_DATE], [4, "DEC", q.UNPARSEABLE_DATE],
                   [5, "DEC", q.END_BEFORE_START], [6, "PLACE", q.UNKNOWN_CODE],
                   [7, "CHILD", q.MISSING_KEY], [9, "DECOM", q.MISSING_KEY]]
    assert extract.rows_read == {"care_episodes": 8}
    assert extract.tables["care_episodes"]["line"].tolist() == [2, 10]
    # Z1 in 2024: liia's schema and d2i's rule 146 accept it (our DfE reading did not): accepted
    assert quarantine_of(read_ssda903_file(
        write(tmp_path, "z.csv", [EPISODE_HEADER, episode(place="Z1")]), 2024, KEY)).empty
    assert read_ssda903_file(write(tmp_path, "z11.csv", [EPISODE_HEADER, episode(place="Z11")]),
                             2023, KEY).quarantine[0]["reason"].tolist() == [q.UNKNOWN_CODE]


def test_files_checked_together_give_each_file_what_it_gives_alone(tmp_path):
    """check_ssda903 checks every Header file's rows at once (and every Episodes file's): each
    file's tables, quarantine, counts and quarantined dates of birth are exactly those of
    reading it alone (SEX and PLACE codes of its own year, a short row, an empty file)."""
    header = "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB"
    files = [
        (2024, write(tmp_path, "h24.csv", [header, "0001,1,01/02/2015,WBRI,A123456789012,,",
                                           "0002,M,01/02/2015,WBRI,,,", "0003,2,31/02/2015,WBRI,,,"])),
        (2021, write(tmp_path, "e21.csv", [EPISODE_HEADER, episode(), episode(place="K3"),
                                           episode(decom="01/06/2020", dec="01/05/2020"),
                                           "0009,01/05/2020,S"])),
        (2025, write(tmp_path, "h25.csv", [header, "0001,M,01/02/2015,WBRI,,,",
                                           "0004,1,01/02/2015,WBRI,,,", "0005,F,01/02/2015,XXXX,,,"])),
        (2023, write(tmp_path, "h23.csv", [header])),
        (2025, write(tmp_path, "e25.csv", [EPISODE_HEADER, episode(place="K3"), episode(child="")])),
        (2020, FIXTURES / "2020" / "reviews.csv"),
    ]
    together = check_ssda903([read_ssda903_cells(path, year, KEY) for year, path in files], KEY)
    assert sum(len(part) for e in together for part in e.quarantine) >= 7
    for (year, path), batched in zip(files, together):
        alone = read_ssda903_file(path, year, KEY)
        assert (batched.source_file, batched.collection_year, batched.rows_read,
                batched.ignored_table) == (alone.source_file, alone.collection_year,
                                           alone.rows_read, alone.ignored_table)
        assert_same_extract(batched, alone)


# --- the repair rules -------------------------------------------------------------------

def care(rows: list[tuple]) -> pd.DataFrame:
    """Episodes as the reader hands them over: (child, decom, dec, rne, rec, year, line)."""
    frame = pd.DataFrame(rows, columns=["child_id", "decom", "dec", "rne", "rec", "collection_year",
                                        "line"])
    frame["decom"] = pd.to_datetime(frame["decom"])
    frame["dec"] = pd.to_datetime(frame["dec"])
    for column, value in (("ls", "C2"), ("cin", "N1"), ("place", "U1"), ("place_provider", "PR1"),
                          ("reason_place_change", None)):
        frame[column] = pd.Series([value] * len(frame), dtype="string")
    frame["rne"] = frame["rne"].astype("string")
    frame["rec"] = frame["rec"].astype("string")
    frame["source_file"] = [f"ssda903/{y}/episodes.csv" for y in frame["collection_year"]]
    frame["element"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame


def repaired(rows):
    ledger = asm.Ledger()
    out = asm.assemble_care_episodes(care(rows), ledger).reset_index(drop=True)
    return out, ledger


def test_rule_1_exact_duplicates_within_a_return_dropped():
    out, ledger = repaired([("a", "2020-01-01", "2020-02-01", "S", "E4A", 2020, 2),
                            ("a", "2020-01-01", "2020-02-01", "S", "E4A", 2020, 3),
                            ("b", "2020-01-01", "2020-02-01", "S", "E4A", 2020, 4)])
    assert out["child_id"].tolist() == ["a", "b"] and out["line"].tolist() == [3, 4]
    assert out["repair"].fillna("").tolist() == [asm.EXACT_DUPLICATE, ""]
    assert ledger.repairs == Counter({("care_episodes", asm.EXACT_DUPLICATE): 1})
    assert sum(ledger.merged.values()) == 1


def test_rule_2_identical_repeat_in_a_later_return_is_the_same_episode():
    out, ledger = repaired([("a", "2020-01-01", "2020-02-01", "S", "E4A", 2020, 2),
                            ("a", "2020-01-01", "2020-02-01", "S", "E4A", 2021, 7)])
    assert out[["collection_year", "repair"]].values.tolist() == [[2021, asm.LATER_YEAR_WINS]]
    assert ledger.repairs == Counter({("care_episodes", asm.LATER_YEAR_WINS): 1})


def test_rule_2_same_episode_in_several_years_later_year_wins():
    out, ledger = repaired([("a", "2019-12-10", None, "L", None, 2020, 3),
                            ("a", "2019-12-10", "2021-02-05", "L", "E4A", 2021, 2)])
    assert out[["dec", "rec", "collection_year"]].values.tolist() == [
        [pd.Timestamp("2021-02-05"), "E4A", 2021]]
    assert out["repair"].tolist() == [asm.LATER_YEAR_WINS]
    assert ledger.merged == Counter({("care_episodes", "ssda903/2020/episodes.csv"): 1})


def test_rule_3_open_episode_closed_at_next_decom():
    out, ledger = repaired([("a", "2021-03-03", None, "S", None, 2021, 2),
                            ("a", "2021-03-20", None, "P", None, 2021, 3),
                            ("b", "2021-01-01", None, "S", None, 2021, 4),
                            ("b", "2021-02-01", "2021-03-01", "S", "E4A", 2021, 5)])
    assert out["dec"].tolist()[:2] == [pd.Timestamp("2021-03-20"), pd.NaT]
    assert out["rec"].tolist()[0] == "X1"               # continuity: the next is a placement change
    assert pd.isna(out["rec"].iloc[2])                  # next starts a new period: exit unknown
    assert out["dec"].iloc[2] == pd.Timestamp("2021-02-01")
    assert out["repair"].fillna("").tolist() == [asm.OPEN_EPISODE_CLOSED, "",
                                                 asm.OPEN_EPISODE_CLOSED, ""]
    assert ledger.repairs[("care_episodes", asm.OPEN_EPISODE_CLOSED)] == 2
    assert sum(ledger.merged.values()) == 0


def test_rule_4_overlap_truncated_to_next_decom():
    out, ledger = repaired([("a", "2020-05-05", "2020-06-30", "S", "E4A", 2021, 2),
                            ("a", "2020-06-01", "2021-03-31", "P", "E4B", 2021, 3)])
    assert out["dec"].tolist() == [pd.Timestamp("2020-06-01"), pd.Timestamp("2021-03-31")]
    assert out["rec"].tolist() == ["X1", "E4B"]
    assert out["repair"].fillna("").tolist() == [asm.OVERLAP_TRUNCATED, ""]
    assert ledger.repairs[("care_episodes", asm.OVERLAP_TRUNCATED)] == 1


def test_several_rules_on_one_row_are_all_recorded():
    out, _ = repaired([("a", "2020-01-01", None, "S", None, 2020, 2),
                       ("a", "2020-01-01", None, "S", None, 2021, 2),
                       ("a", "2020-01-01", None, "S", None, 2021, 3),
                       ("a", "2020-03-01", None, "P", None, 2021, 4)])
    assert out["repair"].tolist()[0] == \
        f"{asm.EXACT_DUPLICATE};{asm.LATER_YEAR_WINS};{asm.OPEN_EPISODE_CLOSED}"
