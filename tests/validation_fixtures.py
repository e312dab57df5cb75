"""Small, valid pseudonymised tables for validation tests, built to the table contract."""

from __future__ import annotations

import pandas as pd

from evaluation import tables as contract


def pid(n: int) -> str:
    """A pseudonym-shaped id (16 hex characters)."""
    return f"{n:016x}"


def valid_tables() -> dict[str, pd.DataFrame]:
    la = "931"
    d = pd.Timestamp
    children = pd.DataFrame({
        "la_code": [la, la], "child_id": [pid(1), pid(2)],
        "birth_month": [d("2012-05-01"), d("2015-01-01")], "sex": ["F", "M"],
        "ethnicity": ["WBRI", "AIND"], "death_date": [pd.NaT, pd.NaT], "disabled": [False, False],
        "in_cin_census": [True, True], "in_ssda903": [True, False], "national_id": [None, None],
    })
    episodes = pd.DataFrame({
        "la_code": [la, la], "child_id": [pid(1), pid(2)], "episode_id": [pid(11), pid(12)],
        "referral_date": [d("2019-06-03"), d("2021-02-10")], "referral_source": ["6", "2A"],
        "primary_need": ["N1", "N4"], "closure_date": [d("2020-06-30"), pd.NaT],
        "reason_for_closure": ["RC7", None], "referral_nfa": [False, False],
        "initial_cpc_date": [d("2019-07-20"), pd.NaT], "collection_year": [2021, 2022],
    })
    assessments = pd.DataFrame({
        "la_code": [la], "child_id": [pid(1)], "episode_id": [pid(11)], "assessment_id": [pid(21)],
        "start_date": [d("2019-06-04")], "authorisation_date": [d("2019-07-01")],
        "collection_year": [2020],
    })
    factors = pd.DataFrame({"la_code": [la, la], "child_id": [pid(1)] * 2, "episode_id": [pid(11)] * 2,
                            "assessment_id": [pid(21)] * 2, "factor": ["3B", "4B"]})
    cin_plans = pd.DataFrame({"la_code": [la], "child_id": [pid(1)], "episode_id": [pid(11)],
                              "start_date": [d("2019-07-01")], "end_date": [d("2019-07-19")],
                              "collection_year": [2020]})
    s47 = pd.DataFrame({"la_code": [la], "child_id": [pid(1)], "episode_id": [pid(11)],
                        "start_date": [d("2019-07-05")], "icpc_target_date": [d("2019-07-20")],
                        "icpc_date": [d("2019-07-20")], "icpc_not_required": [False],
                        "collection_year": [2020]})
    cp_plans = pd.DataFrame({"la_code": [la], "child_id": [pid(1)], "episode_id": [pid(11)],
                             "start_date": [d("2019-07-20")], "end_date": [d("2020-03-01")],
                             "initial_category": ["NEG"], "latest_category": ["EMO"],
                             "previous_cpp": [0], "review_count": [2], "collection_year": [2020]})
    care = pd.DataFrame({"la_code": [la, la], "child_id": [pid(1)] * 2,
                         "decom": [d("2020-03-02"), d("2020-05-01")],
                         "dec": [d("2020-05-01"), d("2020-06-29")], "rne": ["S", "P"],
                         "ls": ["C1", "C2"], "cin": ["N1", "N1"], "place": ["U1", "U4"],
                         "place_provider": ["PR1", "PR1"], "rec": ["X1", "E4A"],
                         "reason_place_change": [None, "CARPL"], "collection_year": [2021, 2021],
                         "repair": [None, None]})
    families = pd.DataFrame({"la_code": [la, la], "child_id": [pid(1), pid(2)],
                             "family_id": [pid(100), pid(101)]})
    extracts = pd.DataFrame({"la_code": [la, la], "dataset": ["cin_census", "ssda903"],
                             "collection_year": [2022, 2022],
                             "reference_date": [d("2022-03-31")] * 2,
                             "source_file": ["cin_2022.xml", "ssda903/2022/episodes.csv"]})
    quarantine = contract.empty("quarantine")
    recon = pd.DataFrame({"la_code": [la], "dataset": ["cin_census"], "source_file": ["cin_2022.xml"],
                          "rows_read": [10], "rows_kept": [8], "rows_quarantined": [1],
                          "rows_merged": [1], "status": ["read"], "note": [None]})
    repairs = pd.DataFrame({"la_code": [la], "dataset": ["ssda903"], "rule": ["exact_duplicate"],
                            "rows": [1]})
    raw = {"children": children, "cin_episodes": episodes, "assessments": assessments,
           "assessment_factors": factors, "cin_plans": cin_plans, "section47s": s47,
           "cp_plans": cp_plans, "care_episodes": care, "families": families, "extracts": extracts,
           "quarantine": quarantine, "reconciliation": recon, "repairs": repairs}
    return {name: contract.conform(frame, name) for name, frame in raw.items()}
