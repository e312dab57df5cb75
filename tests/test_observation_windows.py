"""Per-dataset observation windows: each outcome is followed only while its data is observed.

Done-when test of issue #14: removing the last SSDA903 year from a county changes no care
estimate except by censoring at the new end, and the monthly care counts stop there.
"""

from __future__ import annotations

import secrets
import shutil

import pandas as pd
import pytest

from evaluation.study import StudyConfig
from evaluation.ingest import ingest_local_authority
from evaluation.monthly import monthly_counts
from evaluation.pseudonymise import load_key
from evaluation.spells import care_periods, need_spells, observation_windows, protection_spells
from evaluation.spells.censoring import window_gaps
from test_spells_builder import D, Timeline

synthetic = pytest.importorskip("evaluation.synthetic")
NEW_END = D("2024-03-31")


@pytest.fixture(scope="module")
def with_and_without_last_903_year(tmp_path_factory):
    root = synthetic.generate_county(tmp_path_factory.mktemp("windows"), seed=5, scale=0.05,
                                     imperfection_rate=0.0, progress=False)
    cut = tmp_path_factory.mktemp("cut") / "931"
    shutil.copytree(root / "931", cut)
    shutil.rmtree(cut / "ssda903" / "2025")
    key = load_key(secrets.token_hex(32))
    return ingest_local_authority(root / "931", key), ingest_local_authority(cut, key)


def test_windows_are_per_dataset(with_and_without_last_903_year):
    full, cut = with_and_without_last_903_year
    config = StudyConfig()
    w_full = observation_windows(full, config).iloc[0]
    w_cut = observation_windows(cut, config).iloc[0]
    assert w_full["care_end"] == w_full["cin_end"] == D("2025-03-31")
    assert w_cut["care_end"] == NEW_END and w_cut["cin_end"] == D("2025-03-31")
    assert w_cut["admin_end"] == NEW_END  # the joint window ends with the earlier dataset
    gaps = window_gaps(cut["extracts"]).set_index("dataset")
    assert gaps.loc["ssda903", "months_short_of_latest_end"] == 12
    assert gaps.loc["cin_census", "months_short_of_latest_end"] == 0


def _same_up_to(a: pd.DataFrame, b: pd.DataFrame, end: pd.Timestamp) -> int:
    """Spells of ``b`` (data ending at ``end``) are those of ``a`` cut at ``end``: the same up to
    it, censored there by the end of the data. Returns how many were cut."""
    keys = ["child_id", "start_date"]
    a, b = a.set_index(keys), b.set_index(keys)
    # spells starting after the new end are not in the shortened data; every other one is
    assert set(b.index) == set(a.index[a.index.get_level_values("start_date") <= end])
    a = a.loc[b.index]
    stop_a = a["end_date"].fillna(a["censor_date"])
    inside = stop_a <= end  # ended (or censored) by the new end: nothing changes
    compared = ["end_date", "end_reason", "exit_type", "censored", "censor_date", "censor_reason",
                "duration_days", "entry_days"]
    pd.testing.assert_frame_equal(a.loc[inside, compared], b.loc[inside, compared])
    later = b.loc[~inside]
    assert later["censored"].all()
    assert (later["censor_date"] == end).all()
    assert (later["censor_reason"] == "extract_end").all()
    assert (later["duration_days"]
            == (end - later.index.get_level_values("start_date")).days).all()
    return int((~inside).sum())


def test_removing_the_last_903_year_only_censors_care_at_the_new_end(with_and_without_last_903_year):
    full, cut = with_and_without_last_903_year
    config = StudyConfig()
    a, b = care_periods(full, config), care_periods(cut, config)
    assert len(a) > len(b) > 50
    assert _same_up_to(a, b, NEW_END) > 10
    # CP plans need the care data (escalation into care): followed in the joint window
    assert _same_up_to(protection_spells(full, config), protection_spells(cut, config),
                       NEW_END) > 0
    # need spells (CIN episodes) need only the CIN census: they do not move at all
    pd.testing.assert_frame_equal(need_spells(full, config), need_spells(cut, config))


def test_monthly_care_counts_stop_at_the_new_end(with_and_without_last_903_year):
    full, cut = with_and_without_last_903_year
    config = StudyConfig()
    a, b = monthly_counts(full, config), monthly_counts(cut, config)
    last = b.groupby("series")["month"].max()
    assert last["in_care_month_end"] == last["care_entries"] == D("2024-03-01")
    assert last["on_cp_plan_month_end"] == last["cp_plan_starts"] == D("2024-03-01")
    assert last["referrals"] == D("2025-03-01")
    keys = ["la_code", "series", "month"]
    merged = b.merge(a, on=keys, suffixes=("_cut", "_full"), how="left")
    assert len(merged) == len(b)
    pd.testing.assert_series_equal(merged["count_cut"], merged["count_full"], check_names=False)


def test_an_la_whose_903_ends_early_has_care_censored_there():
    t = Timeline(last_year=2025)
    t.child("amy", birth="2010-01-01")
    t.episode("amy", "2022-05-01")
    t.care("amy", "2023-01-10")
    tables = t.tables()
    extracts = tables["extracts"]
    tables["extracts"] = extracts[~((extracts["dataset"] == "ssda903")
                                    & (extracts["collection_year"] == 2025))].reset_index(drop=True)
    care = care_periods(tables, StudyConfig())
    assert care["censor_date"].tolist() == [NEW_END]
    need = need_spells(tables, StudyConfig())
    assert need["censor_date"].tolist() == [D("2025-03-31")]


def test_window_gaps_count_missing_years():
    t = Timeline(first_year=2017, last_year=2021)
    tables = t.tables()
    extracts = tables["extracts"]
    tables["extracts"] = extracts[~((extracts["dataset"] == "ssda903")
                                    & extracts["collection_year"].isin([2018, 2019]))]
    gaps = window_gaps(tables["extracts"]).set_index("dataset")
    assert gaps.loc["ssda903", "missing_years"] == 2
    assert gaps.loc["ssda903", "missing_list"] == "2018, 2019"
    assert gaps.loc["cin_census", "missing_years"] == 0


def test_the_report_states_uneven_and_interrupted_returns():
    from evaluation.report.sections import DEFAULT_LIMITATIONS, limitations_for

    t = Timeline(first_year=2017, last_year=2025)
    extracts = t.tables()["extracts"]
    extracts = extracts[~((extracts["dataset"] == "ssda903")
                          & extracts["collection_year"].isin([2019, 2025]))]
    text = " ".join(limitations_for(extracts))
    assert "lacks collection year(s) 2019 inside its run 2017–2024" in text
    assert "ends 2024-03-31, 12 months before the council's other return" in text
    assert limitations_for(t.tables()["extracts"]) == DEFAULT_LIMITATIONS
    assert any("followed only while the data it needs" in p for p in DEFAULT_LIMITATIONS)


@pytest.fixture(scope="module")
def analysis_datasets(with_and_without_last_903_year):
    """The analysis dataset of the county with and without its last SSDA903 year (built once for
    the tests that read it; they do not change it)."""
    from evaluation.cohorts.analysis_dataset import analysis_dataset

    return tuple(analysis_dataset(tables, StudyConfig()) for tables in with_and_without_last_903_year)


def test_care_outcomes_of_the_analysis_dataset_only_change_by_censoring(analysis_datasets):
    keys = ["child_id", "time_zero", "outcome"]   # an entry: a child may enter once per period
    columns = keys + ["cohort", "entry", "duration", "event", "cause"]
    a, b = analysis_datasets
    for outcome in ("time_in_care", "time_to_care"):
        x = a.loc[a["outcome"] == outcome, columns].set_index(keys)
        y = b.loc[b["outcome"] == outcome, columns].set_index(keys)
        assert len(y) > 0
        x = x.loc[x.index.intersection(y.index)]
        y = y.loc[x.index]
        assert (x["cohort"] == y["cohort"]).all()
        # follow-up that stopped by the new end is unchanged; longer follow-up is cut, censored
        same = x["duration"] == y["duration"]
        changed = y[~same]
        assert len(changed) > 0, outcome
        assert (changed["event"] == 0).all() and (changed["cause"] == "censored").all()
        assert (x.loc[~same, "duration"] > changed["duration"]).all()
        assert (x.loc[same, "event"] == y.loc[same, "event"]).all()
        assert (x.loc[same, "cause"] == y.loc[same, "cause"]).all()


def test_outcomes_of_the_cin_census_alone_do_not_depend_on_the_903_years(analysis_datasets):
    """Cohorts (entry by CIN referral), time in need and re-referral need the CIN census only: an
    SSDA903 return ending a year early does not cut their follow-up (time to protection reads the
    protection spells, followed in the joint window, so it is cut like them). The only
    rows that change are those the removed year itself stopped (a death or transfer out recorded
    as a care exit in 2024/25, which also ends a child's follow-up): censored there in the full
    data, followed further without it."""
    keys = ["child_id", "outcome"]
    columns = keys + ["cohort", "time_zero", "entry", "duration", "event", "cause"]
    a, b = analysis_datasets
    for outcome in ("time_in_need", "re_referral"):
        x = a.loc[a["outcome"] == outcome, columns].set_index(keys).sort_index()
        y = b.loc[b["outcome"] == outcome, columns].set_index(keys).sort_index()
        assert len(x) > 0, outcome
        assert x.index.equals(y.index), outcome   # the same children enter the same cohorts
        assert (x[["cohort", "time_zero", "entry"]] == y[["cohort", "time_zero", "entry"]]).all().all()
        same = (x["duration"] == y["duration"]) & (x["event"] == y["event"])
        assert same.mean() > 0.97, outcome
        stopped = x.loc[~same]
        stop = stopped["time_zero"] + pd.to_timedelta(stopped["duration"], unit="D")
        assert (stopped["event"] == 0).all(), outcome
        assert stop.between(D("2024-04-01"), NEW_END + pd.Timedelta(days=366)).all(), outcome
        assert (y.loc[~same, "duration"] >= stopped["duration"]).all(), outcome
