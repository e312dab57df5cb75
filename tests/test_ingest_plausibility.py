"""Plausibility at the door: implausible rows are quarantined, judged within their own file."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd

from evaluation.ingest import check_reconciliation, ingest_local_authority
from evaluation.ingest import quarantine as q
from evaluation.ingest.extract import Extract
from evaluation.ingest.plausibility import quarantine_implausible
from evaluation.pseudonymise import load_key

FIXTURE = Path(__file__).parent / "fixtures" / "handwritten" / "931"
KEY = load_key("5b1f0c6e2a9d4e8f7c3b1a0d9e8f7c6b5a4d3c2b1a0f9e8d7c6b5a4d3c2b1a0f")
D = pd.Timestamp


def _care_extract(year: int, rows: list[tuple[str, str, str | None]]) -> Extract:
    frame = pd.DataFrame({
        "child_id": [r[0] for r in rows], "decom": [D(r[1]) for r in rows],
        "dec": [D(r[2]) if r[2] else pd.NaT for r in rows],
        "line": range(2, 2 + len(rows)), "element": pd.NA, "source_file": "episodes.csv",
        "collection_year": year})
    return Extract("ssda903", "episodes.csv", year, dt.date(year, 3, 31),
                   tables={"care_episodes": frame}, rows_read={"care_episodes": len(rows)})


def _header_extract(year: int, births: dict[str, str]) -> Extract:
    frame = pd.DataFrame({"child_id": list(births), "birth_date": [D(b) for b in births.values()],
                          "line": range(2, 2 + len(births)), "element": pd.NA,
                          "source_file": "header.csv", "collection_year": year})
    return Extract("ssda903", "header.csv", year, dt.date(year, 3, 31),
                   tables={"children": frame}, rows_read={"children": len(births)})


def test_each_row_is_judged_against_its_own_file_only():
    early = _care_extract(2021, [("a", "2020-05-01", "2021-04-02"), ("b", "2020-05-01", None)])
    late = _care_extract(2022, [("a", "2020-05-01", "2021-04-02")])
    moved = quarantine_implausible([early, late])
    # after 31 March 2021 in the 2021 return; the same date is fine in the 2022 return
    assert moved == {("care_episodes", q.DATE_AFTER_REFERENCE): 1}
    assert early.tables["care_episodes"]["child_id"].tolist() == ["b"]
    assert late.tables["care_episodes"]["child_id"].tolist() == ["a"]
    quarantined = pd.concat(early.quarantine)
    assert quarantined[["dataset", "field", "reason", "line"]].values.tolist() == [
        ["care_episodes", "DEC", q.DATE_AFTER_REFERENCE, 2]]


def test_impossible_ages_use_the_same_returns_dates_of_birth():
    header = _header_extract(2021, {"a": "2015-02-09", "b": "1990-01-01", "c": "2010-01-01"})
    episodes = _care_extract(2021, [("a", "2014-05-05", "2014-06-01"), ("b", "2020-05-01", None),
                                    ("c", "2020-05-01", None)])
    other_year = _header_extract(2020, {"c": "2021-01-01"})  # another return's date does not count
    moved = quarantine_implausible([header, episodes, other_year])
    assert moved == {("care_episodes", q.EVENT_BEFORE_BIRTH): 1,
                     ("care_episodes", q.AGE_OVER_LIMIT): 1,
                     ("children", q.DATE_AFTER_REFERENCE): 1}
    assert episodes.tables["care_episodes"]["child_id"].tolist() == ["c"]


def test_a_future_date_is_quarantined_and_the_folder_still_reconciles(tmp_path):
    folder = tmp_path / "931"
    shutil.copytree(FIXTURE, folder)
    path = folder / "ssda903" / "2021" / "episodes.csv"
    path.write_text(path.read_text().replace("31/03/2021,E4B", "01/04/2021,E4B"))
    tables = ingest_local_authority(folder, KEY)
    check_reconciliation(tables["reconciliation"])
    quarantine = tables["quarantine"]
    assert (quarantine["reason"] == q.DATE_AFTER_REFERENCE).sum() == 1
    row = tables["reconciliation"].set_index(["dataset", "source_file"]).loc[
        ("care_episodes", "ssda903/2021/episodes.csv")]
    assert row["rows_quarantined"] >= 1
    assert row["rows_read"] == row["rows_kept"] + row["rows_quarantined"] + row["rows_merged"]


def test_a_birth_date_after_the_reference_date_is_quarantined_and_not_used_for_ages():
    header = _header_extract(2021, {"a": "2021-06-01"})
    episodes = _care_extract(2021, [("a", "2020-05-01", None)])
    moved = quarantine_implausible([header, episodes])
    assert moved == {("children", q.DATE_AFTER_REFERENCE): 1}
    assert episodes.tables["care_episodes"]["child_id"].tolist() == ["a"]
    assert header.tables["children"].empty
