"""Need spells (CIN episodes) and the censoring rules, on hand-built timelines."""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation.study import StudyConfig
from evaluation.spells import SPELL_COLUMNS, need_spells, observation_windows
from test_spells_builder import D, Timeline, combine, pid

CONFIG = StudyConfig()


def spells_of(t: Timeline, config: StudyConfig = CONFIG) -> pd.DataFrame:
    return need_spells(t.tables(), config)


def test_columns_ids_and_family():
    t = Timeline()
    t.child("amy", family="smith")
    t.episode("amy", "2019-01-02", "2019-03-04")
    s = spells_of(t)
    assert list(s.columns) == list(SPELL_COLUMNS)
    assert s.loc[0, "family_id"] == pid("smith")
    assert s.loc[0, "spell_id"] == need_spells(t.tables(), CONFIG).loc[0, "spell_id"]
    assert len(s.loc[0, "spell_id"]) == 16
    assert (s.loc[0, "exit_type"], s.loc[0, "end_reason"], s.loc[0, "duration_days"]) == ("closure", "RC7", 61)


def test_same_day_referral_and_closure_is_a_zero_day_exit():
    t = Timeline()
    t.child("amy")
    t.episode("amy", "2019-01-02", "2019-01-02", reason="RC8")
    row = spells_of(t).iloc[0]
    assert row["duration_days"] == 0 and not row["censored"] and row["exit_type"] == "closure"


def test_reopened_case_is_a_new_spell_and_ids_differ():
    t = Timeline()
    t.child("amy")
    t.episode("amy", "2019-01-02", "2019-03-04")
    t.episode("amy", "2019-03-05", "2019-06-01")
    s = spells_of(t)
    assert s["start_date"].tolist() == [D("2019-01-02"), D("2019-03-05")]
    assert s["spell_id"].nunique() == 2
    t.episode("amy", "2019-03-05", "2019-03-05")   # a second episode referred the same day
    t.rows["cin_episodes"][-1]["episode_id"] = pid("another")
    assert need_spells(t.tables(), CONFIG)["spell_id"].nunique() == 3
    assert s["duration_days"].tolist() == [61, 88]


@pytest.mark.parametrize("reason, why", [("RC2", "death"), ("RC5", "transfer_out")])
def test_death_and_transfer_closures_censor(reason, why):
    t = Timeline()
    t.child("amy")
    t.episode("amy", "2019-01-02", "2019-02-01", reason=reason)
    row = spells_of(t).iloc[0]
    assert row["censored"] and pd.isna(row["end_date"])
    assert row["censor_date"] == D("2019-02-01") and row["censor_reason"] == why
    assert row["exit_type"] == "censored" and pd.isna(row["end_reason"])
    assert row["duration_days"] == 30


def test_spell_open_at_extract_is_censored_at_latest_reference_date():
    t = Timeline(last_year=2024)
    t.child("amy", birth="2015-01-01")
    t.episode("amy", "2023-05-01")
    row = spells_of(t).iloc[0]
    assert row["censored"] and row["censor_date"] == D("2024-03-31")
    assert row["censor_reason"] == "extract_end"
    assert row["duration_days"] == (D("2024-03-31") - D("2023-05-01")).days


def test_closure_on_reference_date_is_observed_but_after_it_is_censored():
    t = Timeline(last_year=2024)
    t.child("amy", birth="2015-01-01")
    t.child("bea", birth="2015-01-01")
    t.episode("amy", "2023-05-01", "2024-03-31")
    t.episode("bea", "2023-05-01", "2024-04-02")
    s = spells_of(t).set_index("child_id")
    assert not s.loc[pid("amy"), "censored"]
    assert s.loc[pid("bea"), "censored"] and s.loc[pid("bea"), "censor_date"] == D("2024-03-31")


def test_study_end_censors_before_the_extract():
    t = Timeline()
    t.child("amy", birth="2015-01-01")
    t.episode("amy", "2021-05-01", "2022-01-01")
    row = spells_of(t, StudyConfig(study_end=pd.Timestamp("2021-10-31").date())).iloc[0]
    assert row["censored"] and row["censor_date"] == D("2021-10-31")


def test_child_turning_18_mid_spell_is_censored_at_first_of_birth_month():
    t = Timeline()
    t.child("amy", birth="2002-09-01")
    t.episode("amy", "2020-01-10", "2020-12-01")
    row = spells_of(t).iloc[0]
    assert row["censored"] and row["censor_reason"] == "age"
    assert row["censor_date"] == D("2020-09-01")
    assert row["duration_days"] == (D("2020-09-01") - D("2020-01-10")).days


def test_closing_on_the_18th_birthday_is_censored():
    t = Timeline()
    t.child("amy", birth="2002-09-01")
    t.episode("amy", "2020-01-10", "2020-09-01")
    assert spells_of(t).iloc[0]["censored"]


def test_death_recorded_on_the_child_censors_every_spell_after_it():
    t = Timeline()
    t.child("amy", birth="2012-01-01", death="2020-02-01")
    t.episode("amy", "2020-01-10")
    t.episode("amy", "2020-03-01")  # recorded after death: cannot be followed
    s = spells_of(t)
    assert len(s) == 1 and s.attrs["dropped_after_follow_up"] == 1
    assert s.iloc[0]["censor_date"] == D("2020-02-01") and s.iloc[0]["censor_reason"] == "death"


def test_transfer_out_censors_a_spell_still_open_elsewhere():
    t = Timeline()
    t.child("amy")
    t.episode("amy", "2019-01-01")                       # left open in error
    t.episode("amy", "2019-02-01", "2019-03-01", reason="RC5")
    t.episode("amy", "2019-06-01", "2019-08-01")         # came back: followed again
    s = spells_of(t)
    assert s["censor_date"].tolist()[:2] == [D("2019-03-01"), D("2019-03-01")]
    assert not s.iloc[2]["censored"]


def test_spell_open_before_the_window_has_delayed_entry():
    t = Timeline(first_year=2017)
    t.child("amy")
    t.episode("amy", "2015-10-01", "2017-01-01")
    t.episode("amy", "2016-04-01", "2016-05-01")
    s = spells_of(t)
    assert (s["observation_start"] == D("2016-04-01")).all()
    assert s["entry_days"].tolist() == [(D("2016-04-01") - D("2015-10-01")).days, 0]
    assert s.iloc[0]["duration_days"] == (D("2017-01-01") - D("2015-10-01")).days


def test_closure_before_referral_is_dropped_and_counted():
    t = Timeline()
    t.child("amy")
    t.episode("amy", "2019-05-01", "2019-04-01")
    s = spells_of(t)
    assert s.empty and s.attrs["dropped_invalid_dates"] == 1


def test_windows_are_per_local_authority():
    a, b = Timeline(la_code="931", first_year=2017, last_year=2025), Timeline(
        la_code="919", first_year=2019, last_year=2023)
    w = observation_windows(combine(a, b), CONFIG).set_index("la_code")
    assert w.loc["931", "observation_start"] == D("2016-04-01")
    assert w.loc["919", "observation_start"] == D("2018-04-01")
    assert w.loc["919", "reference_date"] == D("2023-03-31")


def test_local_authority_without_extracts_is_an_error():
    t = Timeline()
    t.child("amy")
    t.episode("amy", "2019-01-02")
    tables = t.tables()
    tables["extracts"] = tables["extracts"].assign(la_code="919")
    with pytest.raises(ValueError, match="no extracts"):
        need_spells(tables, CONFIG)
