"""CIN census returns as DfE defines them: each year's file holds, per episode, only the
sub-records open during that collection year. The door assembles them (the union over every
return) without losing a record, and reconciliation would catch it if it did."""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from evaluation.codes import cin_schema_path
from evaluation.ingest import ReconciliationError, check_reconciliation, ingest_local_authority
from evaluation.ingest import assemble as asm
from evaluation.pseudonymise import load_key
from evaluation.synthetic import generate_county
from evaluation.synthetic.dates import reference_day, year_start
from evaluation.synthetic.write_cin import CinWriter, schema_has_cin_plan_dates

COUNTY = {"seed": 5, "scale": 0.03, "local_authorities": 1, "progress": False}
KEY = load_key(secrets.token_hex(32))
SUB_RECORDS = {  # table -> the date that ends the record (what the DfE year rules look at)
    "assessments": "authorisation_date", "cin_plans": "end_date", "section47s": "icpc_date",
    "cp_plans": "end_date"}
HANDWRITTEN = Path(__file__).parent / "fixtures" / "handwritten" / "931"


@pytest.fixture(scope="module")
def counties(tmp_path_factory) -> dict[str, Path]:
    """The same county written as DfE-conformant returns and with every year repeating history."""
    root = tmp_path_factory.mktemp("dfe_returns")
    conformant = generate_county(root / "conformant", **COUNTY)
    CinWriter.repeat_history = True
    try:
        repeated = generate_county(root / "repeated", **COUNTY)
    finally:
        CinWriter.repeat_history = False
    return {"conformant": conformant / "931", "repeated": repeated / "931"}


@pytest.fixture(scope="module")
def ingested(counties) -> dict[str, dict[str, pd.DataFrame]]:
    return {way: ingest_local_authority(folder, KEY) for way, folder in counties.items()}


def _keys(frame: pd.DataFrame) -> set[tuple[str, pd.Timestamp]]:
    return set(zip(frame["episode_id"], frame["start_date"]))


def _day(text: str) -> int:
    return (dt.date.fromisoformat(text) - dt.date(1970, 1, 1)).days


def _years(folder: Path) -> list[int]:
    return sorted(int(p.stem.rsplit("_", 1)[1]) for p in (folder / "cin_census").glob("*.xml"))


# ------------------------------------------------------------------ the "done when"


def test_conformant_returns_lose_no_sub_record(counties, ingested):
    conformant, repeated = ingested["conformant"], ingested["repeated"]
    years = _years(counties["conformant"])
    first_start = pd.Timestamp(dt.date(years[0] - 1, 4, 1))
    plan_years = [y for y in years if schema_has_cin_plan_dates(y)]
    first_plan_start = pd.Timestamp(dt.date(plan_years[0] - 1, 4, 1))
    assert len(conformant["cin_episodes"]) == len(repeated["cin_episodes"])
    for name, end in SUB_RECORDS.items():
        dfe, history = conformant[name], repeated[name]
        assert not dfe.duplicated(["episode_id", "start_date"]).any(), name
        lost = _keys(history) - _keys(dfe)
        assert _keys(dfe) <= _keys(history), name
        # What the repeated history has beyond the conformant county is what no DfE return can
        # carry: records that ended before the first collection year (CIN plans: before the
        # first year whose schema has CINPlanDates). Everything else is kept: 0 lost.
        beyond = history.loc[[k in lost for k in zip(history["episode_id"], history["start_date"])]]
        limit = first_plan_start if name == "cin_plans" else first_start
        ended = beyond[end].fillna(beyond["start_date"])  # a section 47 without a conference
        assert (ended < limit).all(), (name, beyond.loc[ended >= limit].head())
        reportable = history.loc[history[end].fillna(history["start_date"]) >= limit]
        assert _keys(reportable) <= _keys(dfe), name
        assert len(dfe) >= len(reportable) > 0, name
    # the conformant county really is thinner per file: the test is not comparing twins
    read = {way: t["reconciliation"].groupby("dataset")["rows_read"].sum() for way, t in ingested.items()}
    for name in SUB_RECORDS:
        assert read["conformant"][name] < read["repeated"][name], name
    # factors follow their assessment: the same factors for every assessment kept in both
    both = set(conformant["assessments"]["assessment_id"]) & set(repeated["assessments"]["assessment_id"])
    pairs = [set(map(tuple, t["assessment_factors"].loc[t["assessment_factors"]["assessment_id"].isin(both),
                                                      ["assessment_id", "factor"]].to_numpy()))
             for t in (conformant, repeated)]
    assert pairs[0] == pairs[1] and pairs[0]


def test_every_merged_row_is_a_duplicate_of_a_kept_row(ingested):
    for tables in ingested.values():
        rec, dup = tables["reconciliation"], tables["duplicates"]
        check_reconciliation(rec, dup)
        per_file = dup.groupby(["dataset", "source_file"]).size()
        merged = rec.loc[rec["rows_merged"] > 0].set_index(["dataset", "source_file"])["rows_merged"]
        assert per_file.sort_index().to_dict() == merged.sort_index().to_dict()
        assert dup["kept_source_file"].notna().all() and dup["rule"].notna().all()
        # positions only: file-relative paths, lines, element paths
        assert not dup["source_file"].str.startswith("/").any()
        assert set(dup.columns) == {"la_code", "dataset", "source_file", "line", "element",
                                    "kept_dataset", "kept_source_file", "kept_line",
                                    "kept_element", "rule"}
        one_less = dup.iloc[1:]
        with pytest.raises(ReconciliationError, match="not all duplicates of kept rows"):
            check_reconciliation(rec, one_less)


# ------------------------------------------------------------------ reconciliation catches a loss


def _tamper(monkeypatch, how: str) -> None:
    """Make the CIN assembly lose one kept protection plan, as ``how`` says."""
    original = asm.assemble_cin

    def losing(tables, ledger):
        out = original(tables, ledger)
        plans = out["cp_plans"]
        pointed = set()
        for part in ledger.duplicates:
            part = part.loc[part["kept_dataset"] == "cp_plans"]
            pointed |= set(zip(part["kept_source_file"], part["kept_element"]))
        has_copies = [(f, e) in pointed for f, e in zip(plans["source_file"], plans["element"])]
        victim = plans.loc[has_copies].head(1) if how == "kept_row_with_copies" else plans.head(1)
        out["cp_plans"] = plans.drop(index=victim.index)
        if how == "counted_as_merged":  # the old bug: a dropped plan counted against its episode
            episode = out["cin_episodes"].set_index("episode_id").loc[victim["episode_id"]]
            ledger.point("cp_plans", victim, "cin_episodes", episode.reset_index(),
                         asm.LATER_SUBMISSION_WINS)
        elif how == "kept_row_with_copies":  # dropped as a "duplicate" of its own (dropped) copy
            copies = pd.concat(ledger.duplicates)
            copy = copies.loc[(copies["kept_dataset"] == "cp_plans")
                              & (copies["kept_source_file"] == victim["source_file"].iloc[0])
                              & (copies["kept_element"] == victim["element"].iloc[0])].head(1)
            ledger.point("cp_plans", victim, "cp_plans", copy[["source_file", "line", "element"]],
                         asm.LATER_SUBMISSION_WINS)
        return out

    monkeypatch.setattr(asm, "assemble_cin", losing)


@pytest.mark.parametrize("how,message", [
    ("silently", "rows do not reconcile"),
    ("counted_as_merged", "neither kept, quarantined nor duplicates of a kept row"),
    ("kept_row_with_copies", "neither kept, quarantined nor duplicates of a kept row"),
])
def test_reconciliation_catches_a_lost_kept_row(monkeypatch, how, message):
    # the hand-written returns: a protection plan in the 2019 and 2020 files, another in 2025
    _tamper(monkeypatch, how)
    with pytest.raises(ReconciliationError, match=message):
        ingest_local_authority(HANDWRITTEN, KEY)


# ------------------------------------------------------------------ the files, as a council submits


def test_conformant_files_validate_and_hold_only_what_was_open_that_year(counties):
    checked = 0
    for year in _years(counties["conformant"]):
        doc = etree.parse(str(counties["conformant"] / "cin_census" / f"cin_census_{year}.xml"))
        schema = etree.XMLSchema(etree.parse(str(cin_schema_path(year))))
        assert schema.validate(doc), (year, schema.error_log.last_error)
        start, ref = year_start(year), reference_day(year)
        for detail in doc.iterfind("Children/Child/CINdetails"):
            for path, begin, end in (
                    ("Assessments", "AssessmentActualStartDate", "AssessmentAuthorisationDate"),
                    ("CINPlanDates", "CINPlanStartDate", "CINPlanEndDate"),
                    ("ChildProtectionPlans", "CPPstartDate", "CPPendDate"),
                    ("Section47", "S47ActualStartDate", "DateOfInitialCPC")):
                for record in detail.iterfind(path):
                    assert _day(record.findtext(begin)) <= ref
                    ended = record.findtext(end)
                    if path == "Section47" and ended is None and record.findtext("ICPCnotRequired") == "1":
                        ended = record.findtext(begin)  # no conference needed: ends as it starts
                    if ended is not None:
                        assert start <= _day(ended) <= ref, (year, path, end)
                    checked += 1
    assert checked > 1000


def test_no_child_protection_conference_on_a_weekend(counties):
    seen = 0
    for year in _years(counties["conformant"]):
        text = (counties["conformant"] / "cin_census" / f"cin_census_{year}.xml").read_text()
        doc = etree.fromstring(text.encode())
        for tag in ("DateOfInitialCPC", "CPPstartDate", "CPPreviewDate"):
            for element in doc.iter(tag):
                assert dt.date.fromisoformat(element.text).weekday() < 5, (year, tag, element.text)
                seen += 1
    assert seen > 100


# ------------------------------------------------------------------ the rules on hand-written files


@pytest.fixture
def folder(tmp_path) -> Path:
    return Path(shutil.copytree(HANDWRITTEN, tmp_path / "931"))


def test_a_plan_only_in_an_earlier_return_is_kept(folder):
    xml = folder / "cin_census" / "cin_2020.xml"
    text = xml.read_text()
    start = text.index("<ChildProtectionPlans>")
    end = text.index("</ChildProtectionPlans>") + len("</ChildProtectionPlans>")
    xml.write_text(text[:start] + text[end:])  # 2020 no longer lists the plan (it ended in 2019)
    out = ingest_local_authority(folder, KEY)
    plan = out["cp_plans"].set_index("start_date").loc[pd.Timestamp("2019-02-10")]
    assert (plan["collection_year"], plan["latest_category"]) == (2019, "NEG")
    assert "cp_plans" not in set(out["duplicates"]["dataset"].loc[
        out["duplicates"]["source_file"] == "cin_census/cin_2019.xml"])
    check_reconciliation(out["reconciliation"], out["duplicates"])


def test_a_factor_corrected_away_points_at_the_kept_assessment(folder):
    xml = folder / "cin_census" / "cin_2020.xml"
    xml.write_text(xml.read_text().replace(
        "            <AssessmentFactors>4B</AssessmentFactors>\n", "", 1))
    out = ingest_local_authority(folder, KEY)
    dup = out["duplicates"]
    superseded = dup.loc[dup["rule"] == asm.FACTOR_SUPERSEDED]
    assert len(superseded) == 1
    row = superseded.iloc[0]
    assert (row["dataset"], row["source_file"], row["kept_dataset"], row["kept_source_file"]) == (
        "assessment_factors", "cin_census/cin_2019.xml", "assessments", "cin_census/cin_2020.xml")
    assert row["kept_element"] == "Message/Children/Child[1]/CINdetails[1]/Assessments[1]"
    first = out["cin_episodes"].set_index("referral_date").loc[pd.Timestamp("2018-06-04"), "episode_id"]
    factors = out["assessment_factors"]
    assert sorted(factors.loc[factors["episode_id"] == first, "factor"]) == ["1B", "3B"]
    check_reconciliation(out["reconciliation"], out["duplicates"])
