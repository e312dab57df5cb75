"""A builder of hand-made timelines as contract tables, shared by the spell and cohort tests.

Other test modules import :class:`Timeline` from here; the tests below check
that what it builds passes the table contract.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pandas as pd

from evaluation import tables as contract

D = pd.Timestamp


def pid(name: str) -> str:
    """A pseudonym-shaped id (16 hex characters) for a readable name."""
    return hashlib.sha256(name.encode()).hexdigest()[:16]


@dataclass
class Timeline:
    """Children, families and records of one local authority, written in calendar dates."""

    la_code: str = "931"
    first_year: int = 2017
    last_year: int = 2025
    rows: dict[str, list[dict]] = field(default_factory=lambda: {t: [] for t in contract.TABLES})

    def child(self, name: str, birth: str = "2012-05-01", family: str | None = "fam",
              sex: str = "F", ethnicity: str = "WBRI", death: str | None = None) -> str:
        self.rows["children"].append({
            "la_code": self.la_code, "child_id": pid(name), "birth_month": D(birth),
            "sex": sex, "ethnicity": ethnicity, "death_date": D(death) if death else pd.NaT,
            "disabled": False, "in_cin_census": True, "in_ssda903": False, "national_id": pd.NA})
        if family is not None:
            self.rows["families"].append(
                {"la_code": self.la_code, "child_id": pid(name), "family_id": pid(family)})
        return pid(name)

    def episode(self, child: str, referral: str, closure: str | None = None,
                reason: str | None = None, source: str = "6", need: str = "N1") -> str:
        episode_id = pid(f"{child}/{referral}")
        if closure is not None and reason is None:
            reason = "RC7"
        self.rows["cin_episodes"].append({
            "la_code": self.la_code, "child_id": pid(child), "episode_id": episode_id,
            "referral_date": D(referral), "referral_source": source, "primary_need": need,
            "closure_date": D(closure) if closure else pd.NaT, "reason_for_closure": reason,
            "referral_nfa": False, "initial_cpc_date": pd.NaT, "collection_year": 2021})
        return episode_id

    def assessment(self, child: str, episode_id: str, start: str, authorised: str | None,
                   factors: list[str]) -> None:
        assessment_id = pid(f"{episode_id}/{start}")
        self.rows["assessments"].append({
            "la_code": self.la_code, "child_id": pid(child), "episode_id": episode_id,
            "assessment_id": assessment_id, "start_date": D(start),
            "authorisation_date": D(authorised) if authorised else pd.NaT, "collection_year": 2021})
        for factor in factors:
            self.rows["assessment_factors"].append({
                "la_code": self.la_code, "child_id": pid(child), "episode_id": episode_id,
                "assessment_id": assessment_id, "factor": factor})

    def cin_plan(self, child: str, episode_id: str, start: str, end: str | None = None) -> None:
        self.rows["cin_plans"].append({
            "la_code": self.la_code, "child_id": pid(child), "episode_id": episode_id,
            "start_date": D(start), "end_date": D(end) if end else pd.NaT, "collection_year": 2021})

    def cp_plan(self, child: str, episode_id: str, start: str, end: str | None = None) -> None:
        self.rows["cp_plans"].append({
            "la_code": self.la_code, "child_id": pid(child), "episode_id": episode_id,
            "start_date": D(start), "end_date": D(end) if end else pd.NaT,
            "initial_category": "NEG", "latest_category": "NEG", "previous_cpp": 0,
            "review_count": 1, "collection_year": 2021})

    def care(self, child: str, decom: str, dec: str | None = None, rec: str | None = None,
             rne: str = "S", ls: str = "C2") -> None:
        self.rows["care_episodes"].append({
            "la_code": self.la_code, "child_id": pid(child), "decom": D(decom),
            "dec": D(dec) if dec else pd.NaT, "rne": rne, "ls": ls, "cin": "N1", "place": "U1",
            "place_provider": "PR1", "rec": rec, "reason_place_change": None,
            "collection_year": 2021, "repair": None})

    def quarantine(self, child: str) -> None:
        self.rows["quarantine"].append({
            "la_code": self.la_code, "dataset": "cin", "source_file": "cin_census_2021.xml",
            "line": 10, "element": "CINdetails", "field": "CINreferralDate",
            "reason": "unparseable date", "child_id": pid(child)})

    def tables(self) -> dict[str, pd.DataFrame]:
        rows = {name: list(values) for name, values in self.rows.items()}
        for dataset in ("cin_census", "ssda903"):
            for year in range(self.first_year, self.last_year + 1):
                rows["extracts"].append({
                    "la_code": self.la_code, "dataset": dataset, "collection_year": year,
                    "reference_date": D(f"{year}-03-31"), "source_file": f"{dataset}_{year}"})
        return {name: contract.conform(pd.DataFrame(values), name) if values else contract.empty(name)
                for name, values in rows.items()}


def combine(*timelines: Timeline) -> dict[str, pd.DataFrame]:
    """Tables of several local authorities stacked together."""
    parts = [t.tables() for t in timelines]
    return {name: pd.concat([p[name] for p in parts], ignore_index=True) for name in parts[0]}


def test_timeline_tables_follow_the_contract():
    t = Timeline()
    t.child("amy")
    e = t.episode("amy", "2019-01-02", "2019-03-04")
    t.assessment("amy", e, "2019-01-03", "2019-01-20", ["3B"])
    t.cp_plan("amy", e, "2019-01-10", "2019-02-10")
    t.care("amy", "2019-02-10", "2019-03-01", "E4A")
    tables = t.tables()
    for name, frame in tables.items():
        assert list(frame.columns) == list(contract.TABLES[name])
        pd.testing.assert_frame_equal(frame, contract.conform(frame, name))
    assert tables["children"]["child_id"].str.fullmatch(contract.PSEUDONYM_PATTERN).all()
    assert tables["extracts"]["reference_date"].max() == D("2025-03-31")
    assert tables["assessment_factors"]["factor"].tolist() == ["3B"]


def test_combine_keeps_local_authorities_apart():
    a, b = Timeline(la_code="931"), Timeline(la_code="919")
    a.child("amy")
    b.child("amy")
    tables = combine(a, b)
    assert tables["children"]["la_code"].tolist() == ["931", "919"]
    assert tables["children"]["child_id"].nunique() == 1
