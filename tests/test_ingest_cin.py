"""CIN census XML reader: both sex eras, codes by year, quarantine reasons, safe parsing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evaluation.codes import cin_code_list
from evaluation.ingest import cin_census
from evaluation.ingest import quarantine as q
from evaluation.ingest.cin_census import read_cin_census, read_cin_censuses
from evaluation.ingest.errors import InputError
from evaluation.pseudonymise import CHILD, load_key, pseudonymise

FIXTURES = Path(__file__).parent / "fixtures" / "handwritten" / "931" / "cin_census"
KEY = load_key("7110b13ed048aa1136ef8947d74bdc7dc5f9be91436a130a33ce769808b6f600")


def child_xml(child_id="0001", sex="<GenderCurrent>1</GenderCurrent>", dob="2015-06-07",
              details=None, ethnicity="WBRI") -> str:
    ident = f"<LAchildID>{child_id}</LAchildID>" if child_id is not None else ""
    if details is None:
        details = [episode_xml()]
    return (f"<Child><ChildIdentifiers>{ident}<UPN>A123456789012</UPN>"
            f"<PersonBirthDate>{dob}</PersonBirthDate>{sex}</ChildIdentifiers>"
            f"<ChildCharacteristics><Ethnicity>{ethnicity}</Ethnicity></ChildCharacteristics>"
            + "".join(details) + "</Child>")


def episode_xml(referral="2020-05-01", closure=None, reason=None, inner="", source="1A") -> str:
    parts = [f"<CINreferralDate>{referral}</CINreferralDate>" if referral is not None else "",
             f"<ReferralSource>{source}</ReferralSource>", "<PrimaryNeedCode>N1</PrimaryNeedCode>"]
    if closure:
        parts.append(f"<CINclosureDate>{closure}</CINclosureDate>")
    if reason:
        parts.append(f"<ReasonForClosure>{reason}</ReasonForClosure>")
    return "<CINdetails>" + "".join(parts) + inner + "<ReferralNFA>0</ReferralNFA></CINdetails>"


def assessment_xml(start="2020-05-02", auth="2020-05-20", factors=("3B",)) -> str:
    f = "".join(f"<AssessmentFactors>{c}</AssessmentFactors>" for c in factors)
    return (f"<Assessments><AssessmentActualStartDate>{start}</AssessmentActualStartDate>"
            f"<AssessmentAuthorisationDate>{auth}</AssessmentAuthorisationDate>"
            f"<FactorsIdentifiedAtAssessment>{f}</FactorsIdentifiedAtAssessment></Assessments>")


def cpp_xml(start="2020-06-01", end=None, previous="0", category="NEG") -> str:
    e = f"<CPPendDate>{end}</CPPendDate>" if end else ""
    return (f"<ChildProtectionPlans><CPPstartDate>{start}</CPPstartDate>{e}"
            f"<InitialCategoryOfAbuse>{category}</InitialCategoryOfAbuse>"
            f"<LatestCategoryOfAbuse>{category}</LatestCategoryOfAbuse>"
            f"<NumberOfPreviousCPP>{previous}</NumberOfPreviousCPP></ChildProtectionPlans>")


def write_cin(tmp_path: Path, year: int, children: list[str], prolog: str = "", lea: str = "931",
              name: str = "cin.xml") -> Path:
    path = tmp_path / name
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}<Message><Header><CollectionDetails>'
        f"<Collection>CIN</Collection><Year>{year}</Year><ReferenceDate>{year}-03-31</ReferenceDate>"
        f"</CollectionDetails><Source><SourceLevel>L</SourceLevel><LEA>{lea}</LEA></Source></Header>"
        "<Children>\n" + "\n".join(children) + "\n</Children></Message>\n", encoding="utf-8")
    return path


def assert_same_extract(batched, alone) -> None:
    """A file's extract read together with other files is the file's extract read alone: its
    tables, its quarantine parts and its quarantined dates of birth, exactly."""
    assert batched.tables.keys() == alone.tables.keys()
    for name, frame in alone.tables.items():
        pd.testing.assert_frame_equal(batched.tables[name], frame, check_exact=True)
    assert len(batched.quarantine) == len(alone.quarantine)
    for got, want in zip(batched.quarantine, alone.quarantine):
        pd.testing.assert_frame_equal(got, want, check_exact=True)
    if alone.quarantined_births is None:
        assert batched.quarantined_births is None
    else:
        pd.testing.assert_frame_equal(batched.quarantined_births, alone.quarantined_births, check_exact=True)


def quarantine_of(extract) -> pd.DataFrame:
    return pd.concat(extract.quarantine, ignore_index=True)


def test_handwritten_2019_file_gendercurrent_era():
    extract = read_cin_census(FIXTURES / "cin_2019.xml", KEY, "931")
    assert (extract.collection_year, str(extract.reference_date)) == (2019, "2019-03-31")
    children = extract.tables["children"]
    assert children["sex"].tolist() == ["M", "F", "F"]
    assert extract.rows_read == {"children": 3, "cin_episodes": 3, "assessments": 2,
                                 "assessment_factors": 3, "cin_plans": 1, "section47s": 1,
                                 "cp_plans": 1}
    assert quarantine_of(extract).empty
    cpp = extract.tables["cp_plans"]
    assert cpp["review_count"].tolist() == [1] and cpp["previous_cpp"].tolist() == [0]
    episodes = extract.tables["cin_episodes"]
    assert episodes["closure_date"].notna().sum() == 1
    assert episodes["reason_for_closure"].dropna().tolist() == ["RC8"]


def test_handwritten_2025_file_sex_era():
    extract = read_cin_census(FIXTURES / "cin_2025.xml", KEY, "931")
    children = extract.tables["children"]
    assert extract.collection_year == 2025
    assert children["sex"].tolist() == ["M", "M"]
    assert children["disabled"].tolist()[1] is True
    assert sorted(extract.tables["assessment_factors"]["factor"]) == ["24A", "3B"]
    assert extract.tables["cp_plans"]["review_count"].tolist() == [3]
    assert quarantine_of(extract).empty


@pytest.mark.parametrize("code,sex", [("1", "M"), ("2", "F"), ("0", "U"), ("9", "U")])
def test_gendercurrent_codes_map_to_sex(tmp_path, code, sex):
    path = write_cin(tmp_path, 2017, [child_xml(sex=f"<GenderCurrent>{code}</GenderCurrent>")])
    assert read_cin_census(path, KEY).tables["children"]["sex"].tolist() == [sex]


@pytest.mark.parametrize("code", ["M", "F", "U"])
def test_sex_codes_from_2025(tmp_path, code):
    path = write_cin(tmp_path, 2026, [child_xml(sex=f"<Sex>{code}</Sex>")])
    assert read_cin_census(path, KEY).tables["children"]["sex"].tolist() == [code]


@pytest.mark.parametrize("year,sex,field", [(2021, "<Sex>M</Sex>", "Sex"),
                                            (2025, "<GenderCurrent>1</GenderCurrent>", "GenderCurrent"),
                                            (2022, "<GenderCurrent>3</GenderCurrent>", "GenderCurrent")])
def test_sex_of_the_wrong_era_is_quarantined(tmp_path, year, sex, field):
    extract = read_cin_census(write_cin(tmp_path, year, [child_xml(sex=sex)]), KEY)
    quarantined = quarantine_of(extract)
    assert quarantined[["dataset", "field", "reason"]].values.tolist() == [
        ["children", field, q.UNKNOWN_CODE]]
    # an attribute problem does not take the child's episodes with it
    assert len(extract.tables["cin_episodes"]) == 1


def test_codes_are_checked_against_their_own_year(tmp_path):
    assert "RC9" not in cin_code_list("ReasonForClosure", 2022)
    assert "RC9" in cin_code_list("ReasonForClosure", 2023)
    details = [episode_xml(closure="2020-07-01", reason="RC9")]
    old = read_cin_census(write_cin(tmp_path, 2022, [child_xml(details=details)], name="a.xml"), KEY)
    new = read_cin_census(write_cin(tmp_path, 2023, [child_xml(details=details)], name="b.xml"), KEY)
    assert quarantine_of(old)[["field", "reason"]].values.tolist() == [
        ["ReasonForClosure", q.UNKNOWN_CODE]]
    assert quarantine_of(new).empty and len(new.tables["cin_episodes"]) == 1


def test_unknown_factor_quarantines_only_that_factor(tmp_path):
    assert "24A" not in cin_code_list("AssessmentFactors", 2021)
    details = [episode_xml(inner=assessment_xml(factors=("3B", "24A")))]
    extract = read_cin_census(write_cin(tmp_path, 2021, [child_xml(details=details)]), KEY)
    quarantined = quarantine_of(extract)
    assert quarantined[["dataset", "field", "reason"]].values.tolist() == [
        ["assessment_factors", "AssessmentFactors", q.UNKNOWN_CODE]]
    assert quarantined["element"].iloc[0].endswith(
        "Assessments[1]/FactorsIdentifiedAtAssessment/AssessmentFactors[2]")
    assert extract.tables["assessment_factors"]["factor"].tolist() == ["3B"]
    assert len(extract.tables["assessments"]) == 1


def test_unparseable_referral_date_quarantines_the_episode_and_everything_under_it(tmp_path):
    details = [episode_xml(referral="2020-02-30", inner=assessment_xml() + cpp_xml()),
               episode_xml(referral="2020-09-01")]
    extract = read_cin_census(write_cin(tmp_path, 2021, [child_xml(details=details)]), KEY)
    quarantined = quarantine_of(extract).set_index("dataset")
    assert quarantined.loc["cin_episodes", "reason"] == q.UNPARSEABLE_DATE
    assert quarantined.loc["cin_episodes", "field"] == "CINreferralDate"
    assert quarantined.loc["cin_episodes", "element"] == "Message/Children/Child[1]/CINdetails[1]"
    for table in ("assessments", "assessment_factors", "cp_plans"):
        assert quarantined.loc[table, "reason"] == q.PARENT_QUARANTINED
        assert quarantined.loc[table, "field"] == "CINreferralDate"
    assert extract.tables["cin_episodes"]["referral_date"].tolist() == [pd.Timestamp("2020-09-01")]
    expected_child = pseudonymise(pd.Series(["0001"]), KEY, CHILD).iloc[0]
    assert (quarantined["child_id"] == expected_child).all()


def test_end_before_start_and_not_a_number(tmp_path):
    details = [episode_xml(referral="2020-05-01", closure="2020-04-01"),
               episode_xml(referral="2020-08-01",
                           inner=cpp_xml(start="2020-09-01", end="2020-08-15")
                           + cpp_xml(start="2020-10-01", previous="two"))]
    extract = read_cin_census(write_cin(tmp_path, 2021, [child_xml(details=details)]), KEY)
    got = quarantine_of(extract)[["dataset", "field", "reason"]].values.tolist()
    assert got == [["cin_episodes", "CINclosureDate", q.END_BEFORE_START],
                   ["cp_plans", "CPPendDate", q.END_BEFORE_START],
                   ["cp_plans", "NumberOfPreviousCPP", q.NOT_A_NUMBER]]
    assert len(extract.tables["cin_episodes"]) == 1 and extract.tables["cp_plans"].empty


def test_missing_child_id_quarantines_the_whole_child(tmp_path):
    details = [episode_xml(inner=assessment_xml())]
    path = write_cin(tmp_path, 2021, [child_xml(child_id=None, details=details),
                                      child_xml(child_id="  ", details=details), child_xml("0002")])
    extract = read_cin_census(path, KEY)
    quarantined = quarantine_of(extract)
    assert (quarantined.groupby("dataset").size().to_dict()
            == {"children": 2, "cin_episodes": 2, "assessments": 2, "assessment_factors": 2})
    assert quarantined["child_id"].isna().all()
    assert (quarantined.loc[quarantined["dataset"] == "children", "reason"] == q.MISSING_KEY).all()
    assert len(extract.tables["children"]) == 1 and len(extract.tables["cin_episodes"]) == 1


def test_missing_referral_date_is_a_missing_key(tmp_path):
    path = write_cin(tmp_path, 2021, [child_xml(details=[episode_xml(referral=None)])])
    got = quarantine_of(read_cin_census(path, KEY))
    assert got[["field", "reason"]].values.tolist() == [["CINreferralDate", q.MISSING_KEY]]
    assert got["line"].iloc[0] == 3  # the CINdetails element's source line


def test_doctype_with_entity_expansion_is_rejected(tmp_path):
    bomb = ('<!DOCTYPE Message [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>\n')
    path = write_cin(tmp_path, 2021, [child_xml(child_id="&c;")], prolog=bomb)
    with pytest.raises(InputError, match="DOCTYPE") as err:
        read_cin_census(path, KEY)
    assert "cin.xml" in str(err.value)


def test_external_entity_is_rejected(tmp_path):
    xxe = '<!DOCTYPE Message [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    path = write_cin(tmp_path, 2021, [child_xml(child_id="&x;")], prolog=xxe)
    with pytest.raises(InputError, match="DOCTYPE"):
        read_cin_census(path, KEY)


def test_undeclared_entity_is_not_well_formed(tmp_path):
    path = write_cin(tmp_path, 2021, [child_xml(child_id="&x;")])
    with pytest.raises(InputError, match="not well-formed"):
        read_cin_census(path, KEY)


def test_truncated_file_names_file_and_line_but_no_values(tmp_path):
    path = write_cin(tmp_path, 2021, [child_xml("0012345"), child_xml("0099887")])
    text = path.read_text()
    path.write_text(text[: text.index("0099887") + 9])
    with pytest.raises(InputError) as err:
        read_cin_census(path, KEY)
    message = str(err.value)
    assert "cin.xml" in message and "line" in message
    assert "0099887" not in message and "0012345" not in message and "A123456789012" not in message


def test_wrong_root_missing_year_and_other_la_are_errors(tmp_path):
    wrong = tmp_path / "wrong.xml"
    wrong.write_text("<Returns><Children/></Returns>")
    with pytest.raises(InputError, match="root element is not Message"):
        read_cin_census(wrong, KEY)
    no_year = tmp_path / "noyear.xml"
    no_year.write_text("<Message><Header><CollectionDetails/></Header><Children/></Message>")
    with pytest.raises(InputError, match="Year"):
        read_cin_census(no_year, KEY)
    with pytest.raises(InputError, match="LEA"):
        read_cin_census(write_cin(tmp_path, 2021, [child_xml()], lea="123"), KEY, "931")
    with pytest.raises(InputError, match="collection year"):
        read_cin_census(write_cin(tmp_path, 2031, [child_xml()], name="future.xml"), KEY)


def test_children_are_streamed_and_released(tmp_path, monkeypatch):
    import evaluation.ingest.cin_census as reader

    seen = []
    original = reader._flatten_child

    def spy(child, n, records):
        previous = child.getprevious()
        # at most the last Child remains before this one, already cleared
        released = previous is None or (len(previous) == 0 and previous.getprevious() is None)
        seen.append((released, len(child)))
        original(child, n, records)

    monkeypatch.setattr(reader, "_flatten_child", spy)
    path = write_cin(tmp_path, 2021, [child_xml(f"{i:05d}") for i in range(400)])
    extract = read_cin_census(path, KEY)
    assert len(seen) == 400 and len(extract.tables["children"]) == 400
    assert all(released for released, _ in seen)
    assert all(size == 3 for _, size in seen)  # the Child being read is still whole


@pytest.mark.parametrize("tuples_held", [0, 50_000])
def test_files_read_together_give_each_file_what_it_gives_alone(tmp_path, monkeypatch, tuples_held):
    """read_cin_censuses checks every file's records at once: each file's tables, quarantine,
    counts and quarantined dates of birth are exactly those of reading it on its own (codes of
    its own year, sex of its own era, a file without some records keeping their empty columns),
    whether each file's records are framed as soon as it is read or all at the end."""
    monkeypatch.setattr(cin_census, "_MAX_TUPLES_HELD", tuples_held)
    bad_child = child_xml(child_id="0003", sex="<GenderCurrent>3</GenderCurrent>",
                          details=[episode_xml(referral="2020-02-30", inner=assessment_xml())])
    files = [
        write_cin(tmp_path, 2022, [child_xml(details=[episode_xml(
            closure="2020-07-01", reason="RC9", inner=assessment_xml(factors=("3B", "24A"))
            + cpp_xml(start="2020-10-01", previous="two"))]), bad_child], name="a.xml"),
        write_cin(tmp_path, 2023, [child_xml(details=[episode_xml(closure="2020-07-01",
                                                                  reason="RC9")]),
                                   child_xml(child_id=None)], name="b.xml"),
        write_cin(tmp_path, 2025, [child_xml(sex="<Sex>F</Sex>"), bad_child,
                                   child_xml("0004", sex="<GenderCurrent>1</GenderCurrent>")],
                  name="c.xml"),
    ]
    together = read_cin_censuses(files, KEY)
    assert [e.source_file for e in together] == ["a.xml", "b.xml", "c.xml"]
    assert sum(len(part) for e in together for part in e.quarantine) >= 8
    for path, batched in zip(files, together):
        alone = read_cin_census(path, KEY)
        assert (batched.collection_year, batched.reference_date, batched.rows_read) == (
            alone.collection_year, alone.reference_date, alone.rows_read)
        assert_same_extract(batched, alone)


def test_records_framed_by_arrow_as_by_pandas():
    """The struct-array conversion of record tuples gives the frame from_records + astype give,
    text missing or not, for every kind of record (and pandas' own path for no records)."""
    text = ["0001", None, "é ü\u00a0", "", "x" * 300]
    for name, columns in cin_census._COLUMNS.items():
        records = [tuple(i if c in cin_census._INTEGERS else text[(i + j) % len(text)]
                         for j, c in enumerate(columns)) for i in range(12)]
        for rows in (records, records[:1], []):
            pd.testing.assert_frame_equal(cin_census._text_frame(rows, name),
                                          cin_census._text_frame_by_pandas(rows, name),
                                          check_exact=True)


def test_no_records_frame_is_not_changed_by_what_a_caller_does_to_it():
    """A kind with no records is a copy of one frame made once per process: the reader writing
    into the frame it got (its quarantine marks, a column recast, a row) leaves the next one as
    it was."""
    fresh = cin_census._text_frame([], "section47s")
    columns, dtypes = list(fresh.columns), [str(d) for d in fresh.dtypes]
    q.start_marks(fresh)
    fresh["start_date"] = fresh["start_date"].astype("datetime64[ns]")
    fresh.loc[0] = None
    again = cin_census._text_frame([], "section47s")
    assert list(again.columns) == columns and [str(d) for d in again.dtypes] == dtypes
    assert len(again) == 0
