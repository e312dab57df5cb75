"""The door end to end on hand-written real-layout files: assembly, linkage, quarantine,
reconciliation, the demo-key refusal and the leak test."""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import pandas as pd
import pytest

from evaluation import tables as contract
from evaluation.ingest.inventory import write_marker
from evaluation.ingest import (
    DemoKeyRefusedError, InputError, ReconciliationError, _empty_records, check_reconciliation,
    ingest_local_authority,
)
from evaluation.ingest import assemble as asm
from evaluation.ingest import quarantine as q
from evaluation.pseudonymise import (
    CHILD, DEMO_KEY, FAMILY, PseudonymLeakError, load_key, pseudonymise,
)

FIXTURE = Path(__file__).parent / "fixtures" / "handwritten" / "931"
KEY = load_key("9042d7df24e065ef0509e5b18b089acce24b733b8a0445f2037557a44b361a45")

#: Every identifying value written into the hand-written files.
RAW_VALUES = (
    "0012345", "0012346", "0012A", "0012a", "0099001", "P0005", "FAM-77", "FAM-78", "FAM-79",
    "A123456789012", "B123456789013", "C123456789014", "D123456789015", "A123456789099",
    "OX4 1AA", "OX3 7QT", "OX14 5RB", "OX2 6HD", "RG9 1AB", "OX16 9AA", "OX5 1BB", "OX5 2CC",
    "OX1 1AA", "MK9 3XS", "SC123456", "SC654321", "SC777777", "SC111111", "SC222222", "SC999999",
    "2012-05-17", "17/05/2012", "2010-11-23", "23/11/2010", "2015-02-09", "09/02/2015",
    "2019-08-14", "14/08/2019",
)


def child(raw: str) -> str:
    return pseudonymise(pd.Series([raw]), KEY.for_council("931"), CHILD).iloc[0]


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return ingest_local_authority(FIXTURE, KEY)


@pytest.fixture
def folder(tmp_path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "931"))


def test_every_table_follows_the_contract(tables):
    for name, spec in contract.TABLES.items():
        frame = tables[name]
        assert list(frame.columns) == list(spec), name
        assert {c: str(t) for c, t in frame.dtypes.items()} == \
            {c: str(pd.Series(dtype=d).dtype) for c, d in spec.items()}, name
        assert (frame["la_code"] == "931").all()
    assert tables["ignored_files"][["source_file", "table"]].values.tolist() == [
        ["ssda903/2020/reviews.csv", "reviews"]]


def test_sizes_of_the_assembled_tables(tables):
    sizes = {name: len(tables[name]) for name in contract.TABLES}
    assert sizes == {"children": 4, "cin_episodes": 5, "assessments": 3, "assessment_factors": 6,
                     "cin_plans": 2, "section47s": 1, "cp_plans": 2, "care_episodes": 7,
                     "families": 5, "extracts": 9, "quarantine": 0, "reconciliation": 29,
                     "repairs": 10, "duplicates": 19}


def test_later_cin_submission_replaces_the_earlier_one(tables):
    episodes = tables["cin_episodes"].set_index("referral_date")
    first = episodes.loc[pd.Timestamp("2018-06-04")]
    assert first["closure_date"] == pd.Timestamp("2019-09-30") and first["collection_year"] == 2020
    assert first["reason_for_closure"] == "RC7"
    factors = tables["assessment_factors"]
    assert sorted(factors.loc[factors["episode_id"] == first["episode_id"], "factor"]) == \
        ["1B", "3B", "4B"]
    plans = tables["cp_plans"].set_index("start_date").loc[pd.Timestamp("2019-02-10")]
    assert (plans["latest_category"], plans["review_count"]) == ("PHY", 2)
    cin_plans = tables["cin_plans"]
    assert cin_plans.loc[cin_plans["episode_id"] == first["episode_id"], "end_date"].tolist() == \
        [pd.Timestamp("2019-09-30")]


def test_repairs_are_counted_and_recorded_on_rows(tables):
    repairs = tables["repairs"].set_index(["dataset", "rule"])["rows"].to_dict()
    assert repairs == {
        ("care_episodes", "exact_duplicate_dropped"): 1, ("care_episodes", "later_year_wins"): 1,
        ("care_episodes", "open_episode_closed"): 1, ("care_episodes", "overlap_truncated"): 1,
        ("cin_episodes", "later_submission_wins"): 2, ("assessments", "later_submission_wins"): 1,
        ("assessment_factors", "later_submission_wins"): 2,
        ("cin_plans", "later_submission_wins"): 1, ("section47s", "later_submission_wins"): 1,
        ("cp_plans", "later_submission_wins"): 1,
    }
    episodes = tables["care_episodes"]
    assert episodes["repair"].value_counts().to_dict() == {
        "open_episode_closed": 1, "exact_duplicate_dropped": 1, "later_year_wins": 1,
        "overlap_truncated": 1}


def test_datasets_link_by_pseudonym(tables):
    ids = {raw: child(raw) for raw in ("0012345", "0012346", "0012A", "0099001")}
    assert set(tables["children"]["child_id"]) == set(ids.values())
    assert child(" 0012a ") == ids["0012A"] == child("0012a")
    assert set(ids.values()) <= set(tables["families"]["child_id"])
    assert tables["children"][["in_cin_census", "in_ssda903"]].all().all()
    linked = tables["care_episodes"].merge(tables["cin_episodes"], on="child_id")
    assert set(linked["child_id"]) == set(ids.values())
    family = tables["families"].set_index("child_id")["family_id"]
    assert family[ids["0012345"]] == family[ids["0012346"]] == \
        pseudonymise(pd.Series(["FAM-77"]), KEY.for_council("931"), FAMILY).iloc[0]
    assert family[ids["0012A"]] != family[ids["0012345"]]
    births = tables["children"].set_index("child_id")["birth_month"]
    assert births[ids["0012345"]] == pd.Timestamp("2012-05-01")


def test_reconciliation_holds_and_matches_the_quarantine(tables):
    rec = tables["reconciliation"]
    assert (rec["rows_read"] == rec["rows_kept"] + rec["rows_quarantined"] + rec["rows_merged"]).all()
    for name in ("cin_episodes", "care_episodes", "children", "families"):
        assert rec.loc[rec["dataset"] == name, "rows_kept"].sum() == len(tables[name])
    check_reconciliation(rec)
    broken = rec.copy()
    broken.loc[0, "rows_kept"] += 1
    with pytest.raises(ReconciliationError, match=broken.loc[0, "source_file"]):
        check_reconciliation(broken)


def test_the_demo_key_is_refused_without_the_synthetic_marker(folder):
    demo = load_key(DEMO_KEY)
    with pytest.raises(DemoKeyRefusedError, match="SYNTHETIC_COUNTY.json") as err:
        ingest_local_authority(folder, demo)
    assert "secrets.token_hex(32)" in str(err.value)
    (folder / "SYNTHETIC_COUNTY.json").write_text(json.dumps({"synthetic": False}))
    with pytest.raises(DemoKeyRefusedError):
        ingest_local_authority(folder, demo)
    # A marker of the old form (or copied from the synthetic county) carries no inventory MAC.
    (folder / "SYNTHETIC_COUNTY.json").write_text(json.dumps(
        {"generator": "evaluation.synthetic", "version": 1, "seed": 0, "la_code": "931",
         "synthetic": True}))
    with pytest.raises(DemoKeyRefusedError, match="inventory does not match"):
        ingest_local_authority(folder, demo)
    # The generator's marker of exactly these files is accepted ...
    write_marker(folder, demo.secret, la_code="931")
    assert len(ingest_local_authority(folder, demo)["children"]) == 4
    # ... and refused once any file changes (a council's extract put beside it, a file edited).
    (folder / "families.csv").write_text((folder / "families.csv").read_text() + "\n")
    with pytest.raises(DemoKeyRefusedError, match="inventory does not match"):
        ingest_local_authority(folder, demo)
    # A marker made with another key does not verify under the demo key.
    write_marker(folder, load_key(secrets.token_hex(32)).secret, la_code="931")
    with pytest.raises(DemoKeyRefusedError):
        ingest_local_authority(folder, demo)


def test_child_not_in_any_family_is_quarantined_with_all_their_rows(folder):
    families = folder / "families.csv"
    families.write_text("".join(l for l in families.read_text().splitlines(True) if "0099001" not in l))
    out = ingest_local_authority(folder, KEY)
    quarantined = out["quarantine"]
    assert set(quarantined["reason"]) == {q.NOT_IN_FAMILY}
    assert set(quarantined["child_id"]) == {child("0099001")}
    assert quarantined.groupby("dataset").size().to_dict() == {
        "children": 2, "cin_episodes": 1, "care_episodes": 1}
    assert child("0099001") not in set(out["children"]["child_id"])
    check_reconciliation(out["reconciliation"])


def test_conflicting_dates_of_birth_across_sources(folder):
    header = folder / "ssda903" / "2021" / "header.csv"
    header.write_text(header.read_text().replace("23/11/2010", "24/11/2010"))
    out = ingest_local_authority(folder, KEY)
    quarantined = out["quarantine"]
    assert set(quarantined["child_id"]) == {child("0012346")}
    assert set(quarantined["reason"]) == {q.CONFLICTING_BIRTH_DATES}
    # care_episodes 3: the child's 2020 copy of an episode (a duplicate of the 2021 row) goes
    # to the quarantine with the row it duplicates, rather than being counted as merged
    assert quarantined.groupby("dataset").size().to_dict() == {
        "children": 2, "cin_episodes": 1, "assessments": 1, "assessment_factors": 1,
        "care_episodes": 3}
    check_reconciliation(out["reconciliation"], out["duplicates"])
    assert "24/11/2010" not in _all_text(out)


def test_person_in_two_families_and_ssd_column_names(folder):
    families = folder / "families.csv"
    text = families.read_text().replace("person_id,family_id", "fami_person_id,fami_family_id")
    families.write_text(text + "0012346,FAM-78\n0012346,FAM-77\n")
    out = ingest_local_authority(folder, KEY)
    quarantined = out["quarantine"]
    by_reason = quarantined.groupby(["dataset", "reason"]).size().to_dict()
    # the person's two families, and the exact copy of one of those rows: a duplicate of a
    # quarantined row is quarantined with it (it is not a duplicate of a KEPT row)
    assert by_reason[("families", q.MULTIPLE_FAMILIES)] == 3
    assert by_reason[("children", q.NOT_IN_FAMILY)] == 2
    assert ("families", "exact_duplicate_dropped") not in set(
        out["repairs"].set_index(["dataset", "rule"]).index)
    assert "families" not in set(out["duplicates"]["dataset"])
    check_reconciliation(out["reconciliation"], out["duplicates"])


def test_quarantine_rows_name_file_line_and_pseudonym(folder):
    episodes = folder / "ssda903" / "2021" / "episodes.csv"
    lines = episodes.read_text().splitlines(True)
    lines[2] = lines[2].replace("03/03/2021", "33/03/2021")
    episodes.write_text("".join(lines))
    out = ingest_local_authority(folder, KEY)
    row = out["quarantine"].iloc[0]
    assert (row["dataset"], row["source_file"], row["line"], row["field"], row["reason"]) == (
        "care_episodes", "ssda903/2021/episodes.csv", 3, "DECOM", q.UNPARSEABLE_DATE)
    assert row["child_id"] == child("0012346")
    check_reconciliation(out["reconciliation"])


def test_folder_errors(folder):
    shutil.copy(folder / "cin_census" / "cin_2020.xml", folder / "cin_census" / "copy.xml")
    with pytest.raises(InputError, match="more than one file for a collection year .*cin_2020.xml and cin_census/copy.xml"):
        ingest_local_authority(folder, KEY)
    (folder / "cin_census" / "copy.xml").unlink()
    (folder / "ssda903" / "2021" / "notes.txt").write_text("0012345 moved to OX4 1AA")
    with pytest.raises(InputError, match="notes.txt: not a CSV or XLSX") as err:
        ingest_local_authority(folder, KEY)
    assert "0012345" not in str(err.value)
    (folder / "ssda903" / "2021" / "notes.txt").unlink()
    (folder / "families.csv").unlink()
    with pytest.raises(InputError, match="families.csv"):
        ingest_local_authority(folder, KEY)


def test_leak_guard_stops_raw_ids(folder, monkeypatch):
    import evaluation.ingest.ssda903 as reader

    monkeypatch.setattr(reader, "pseudonymise", lambda values, key, ns: values.astype("string"))
    with pytest.raises(PseudonymLeakError) as err:
        ingest_local_authority(folder, KEY)
    assert not any(raw in str(err.value) for raw in RAW_VALUES)


def _all_text(tables: dict[str, pd.DataFrame]) -> str:
    return "\n".join(tables[name].astype(str).to_csv(index=False) for name in tables)


def test_no_raw_value_appears_in_any_returned_cell(tables):
    text = _all_text(tables)
    leaked = [raw for raw in RAW_VALUES if raw in text or raw.lower() in text]
    assert leaked == []


def test_no_raw_value_appears_in_error_messages(folder):
    messages = []
    xml = folder / "cin_census" / "cin_2019.xml"
    original = xml.read_text()
    cases = [
        original[: original.index("0012346") + 4],                           # truncated
        original.replace("<Message>", "<!DOCTYPE Message>\n<Message>"),      # DOCTYPE
        original.replace("<LEA>931</LEA>", "<LEA>123</LEA>"),                # other LA
        original.replace("<LAchildID>0012345</LAchildID>", "<LAchildID>0012345</LAchild>"),
    ]
    for text in cases:
        xml.write_text(text)
        with pytest.raises(InputError) as err:
            ingest_local_authority(folder, KEY)
        messages.append(str(err.value))
    xml.write_text(original)
    header = folder / "ssda903" / "2021" / "header.csv"
    header.write_text("0012345,A123456789012,OX4 1AA\n" + header.read_text())
    with pytest.raises(InputError) as err:
        ingest_local_authority(folder, KEY)
    messages.append(str(err.value))
    joined = "\n".join(messages)
    assert all(name in joined for name in ("cin_census/cin_2019.xml", "ssda903/2021/header.csv"))
    assert [raw for raw in RAW_VALUES if raw in joined] == []


def test_rows_of_a_child_without_a_usable_child_record_follow_it(folder):
    xml = folder / "cin_census" / "cin_2019.xml"
    text = xml.read_text()
    block = text.index("<LAchildID>0012346</LAchildID>")
    end = text.index("</ChildCharacteristics>", block)
    xml.write_text(text[:block] + text[block:end].replace("WBRI", "ZZZZ") + text[end:])
    header = folder / "ssda903" / "2021" / "header.csv"
    header.write_text(header.read_text().replace("0012346,2,23/11/2010,WBRI", "0012346,2,23/11/2010,ZZZZ"))
    out = ingest_local_authority(folder, KEY)
    quarantined = out["quarantine"]
    assert set(quarantined["child_id"]) == {child("0012346")}
    by = quarantined.groupby(["dataset", "reason"]).size().to_dict()
    assert by == {("children", q.UNKNOWN_CODE): 2, ("cin_episodes", q.NO_CHILD_RECORD): 1,
                  ("assessments", q.NO_CHILD_RECORD): 1,
                  ("assessment_factors", q.NO_CHILD_RECORD): 1,
                  ("care_episodes", q.NO_CHILD_RECORD): 3}  # with the 2020 copy of a 2021 row
    assert set(quarantined.loc[quarantined["dataset"] == "children", "field"]) == {"Ethnicity", "ETHNIC"}
    check_reconciliation(out["reconciliation"])


@pytest.mark.parametrize("missing,kept", [("cin_census", "care_episodes"), ("ssda903", "cin_episodes")])
def test_a_local_authority_with_one_dataset_only(folder, missing, kept):
    shutil.rmtree(folder / missing)
    out = ingest_local_authority(folder, KEY)
    assert len(out["children"]) == 4 and len(out[kept]) > 0
    flag = "in_cin_census" if missing == "cin_census" else "in_ssda903"
    assert not out["children"][flag].any()
    check_reconciliation(out["reconciliation"])


@pytest.mark.parametrize("make", [
    lambda: contract.empty("care_episodes"),
    lambda: _empty_records("children"),
    lambda: asm._empty_duplicates(),
    lambda: q.empty_quarantine(),
], ids=["tables.empty", "ingest._empty_records", "assemble._empty_duplicates",
        "quarantine.empty_quarantine"])
def test_an_empty_frame_made_once_is_not_changed_by_what_a_caller_does_to_it(make):
    """The empty typed frames are copies of one made once per process: a caller writing into
    the frame it got (a column added, a dtype changed, a row added, attrs) leaves the next
    call's frame as it was."""
    fresh = make()
    columns, dtypes = list(fresh.columns), [str(d) for d in fresh.dtypes]
    first = fresh.columns[0]
    fresh["added"] = pd.Series(dtype="string")
    fresh[first] = fresh[first].astype(object)
    fresh.loc[0] = "x"
    fresh.attrs["note"] = "changed"
    again = make()
    assert list(again.columns) == columns
    assert [str(d) for d in again.dtypes] == dtypes
    assert len(again) == 0 and again.attrs == {}
