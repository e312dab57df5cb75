"""CIN plan and CP plan spells: merging overlaps and classifying exits, on hand-built timelines."""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation.study import StudyConfig
from evaluation.spells import cin_plan_spells, protection_spells
from test_spells_builder import D, Timeline

CONFIG = StudyConfig()


def cp_exit(t: Timeline, config: StudyConfig = CONFIG) -> pd.Series:
    s = protection_spells(t.tables(), config)
    assert len(s) == 1
    return s.iloc[0]


def family_with_cp(end="2022-06-30", closure=None, reason=None):
    t = Timeline()
    t.child("amy")
    e = t.episode("amy", "2022-01-02", closure, reason=reason)
    t.cp_plan("amy", e, "2022-02-01", end)
    return t, e


def test_overlapping_cp_plans_are_one_spell():
    t = Timeline()
    t.child("amy")
    e1 = t.episode("amy", "2022-01-02", "2022-05-01")
    e2 = t.episode("amy", "2022-04-01", "2023-01-01")
    t.cp_plan("amy", e1, "2022-02-01", "2022-05-01")
    t.cp_plan("amy", e2, "2022-04-15", "2022-09-30")
    t.cp_plan("amy", e2, "2022-09-30", "2022-12-31")   # continues the same day
    t.cp_plan("amy", e2, "2023-06-01", "2023-07-01")   # separate (not in episode's window)
    s = protection_spells(t.tables(), CONFIG)
    assert s["start_date"].tolist() == [D("2022-02-01"), D("2023-06-01")]
    assert s["end_date"].iloc[0] == D("2022-12-31") and s["episode_id"].iloc[0] == e2
    assert s.attrs["merged_overlaps"] == 2


def test_overlap_with_an_open_plan_stays_open():
    t = Timeline(last_year=2024)
    t.child("amy", birth="2015-01-01")
    e = t.episode("amy", "2022-01-02")
    t.cin_plan("amy", e, "2022-02-01")
    t.cin_plan("amy", e, "2022-03-01", "2022-04-01")
    s = cin_plan_spells(t.tables(), CONFIG)
    assert len(s) == 1 and s.iloc[0]["censored"] and s.iloc[0]["censor_date"] == D("2024-03-31")


def test_cp_step_down_to_cin_plan_in_same_episode():
    t, e = family_with_cp()
    t.cin_plan("amy", e, "2022-07-07")
    assert cp_exit(t)["exit_type"] == "step_down"


def test_cp_step_down_to_cin_plan_running_across_the_end():
    t, e = family_with_cp()
    t.cin_plan("amy", e, "2022-06-01", "2022-09-01")
    assert cp_exit(t)["exit_type"] == "step_down"


def test_cin_plan_in_another_episode_is_not_a_step_down():
    t, e = family_with_cp()
    other = t.episode("amy", "2022-07-01")
    t.cin_plan("amy", other, "2022-07-02")
    assert cp_exit(t)["exit_type"] == "other"


def test_cp_step_down_window_boundary():
    t, e = family_with_cp()
    t.cin_plan("amy", e, "2022-07-08")   # 8 days after the end
    assert cp_exit(t)["exit_type"] == "other"
    assert cp_exit(t, StudyConfig(exit_window_days=8))["exit_type"] == "step_down"


@pytest.mark.parametrize("days, expected", [(0, "escalation_care"), (7, "escalation_care"), (8, "other")])
def test_escalation_window_boundary(days, expected):
    t, e = family_with_cp()
    start = (D("2022-06-30") + pd.Timedelta(days=days)).strftime("%Y-%m-%d")
    t.care("amy", start, "2022-12-01", "E4A")
    assert cp_exit(t)["exit_type"] == expected


def test_care_starting_during_the_plan_is_an_escalation_and_window_is_configurable():
    t, e = family_with_cp()
    t.care("amy", "2022-05-01", "2022-12-01", "E4A")
    assert cp_exit(t)["exit_type"] == "escalation_care"
    t2, _ = family_with_cp()
    t2.care("amy", "2022-07-10", "2022-12-01", "E4A")
    assert cp_exit(t2, StudyConfig(escalation_window_days=10))["exit_type"] == "escalation_care"


def test_escalation_beats_step_down_and_closure():
    t, e = family_with_cp(closure="2022-07-02")
    t.cin_plan("amy", e, "2022-07-01", "2022-07-02")
    t.care("amy", "2022-07-03", "2022-12-01", "E4A")
    assert cp_exit(t)["exit_type"] == "escalation_care"


def test_cp_closure_within_window_and_its_reason():
    t, _ = family_with_cp(closure="2022-07-05", reason="RC7")
    row = cp_exit(t)
    assert row["exit_type"] == "closure" and row["end_reason"] == "RC7"
    t2, _ = family_with_cp(closure="2022-07-08", reason="RC7")
    assert cp_exit(t2)["exit_type"] == "other"


@pytest.mark.parametrize("reason", ["RC2", "RC5"])
def test_plan_ending_with_death_or_transfer_closure_is_censored(reason):
    t, _ = family_with_cp(closure="2022-07-03", reason=reason)
    row = cp_exit(t)
    assert row["censored"] and row["exit_type"] == "censored" and pd.isna(row["end_reason"])
    assert row["censor_reason"] == {"RC2": "death", "RC5": "transfer_out"}[reason]
    assert row["censor_date"] == D("2022-06-30")


def test_plan_cut_short_by_transfer_out_is_censored_at_the_transfer():
    t, _ = family_with_cp(end="2022-09-30", closure="2022-08-01", reason="RC5")
    row = cp_exit(t)
    assert row["censored"] and row["censor_date"] == D("2022-08-01")
    assert row["censor_reason"] == "transfer_out"


def test_open_cp_plan_is_censored_and_age_censors():
    t = Timeline()
    t.child("amy", birth="2005-03-01")
    e = t.episode("amy", "2022-01-02")
    t.cp_plan("amy", e, "2022-02-01")
    row = cp_exit(t)
    assert row["censor_date"] == D("2023-03-01") and row["censor_reason"] == "age"


def test_cin_plan_exits():
    t = Timeline()
    for name in ("amy", "bea", "cat", "dan", "eve"):
        t.child(name)
    e = t.episode("amy", "2022-01-02")
    t.cin_plan("amy", e, "2022-02-01", "2022-05-01")
    t.cp_plan("amy", e, "2022-05-01", "2022-09-01")          # CP plan starts: escalation
    e = t.episode("bea", "2022-01-02", "2022-05-03")
    t.cin_plan("bea", e, "2022-02-01", "2022-05-01")         # episode closes: closure
    e = t.episode("cat", "2022-01-02")
    t.cin_plan("cat", e, "2022-02-01", "2022-05-01")
    t.care("cat", "2022-05-04", "2022-08-01", "E4A")         # care starts: escalation into care
    t.cp_plan("cat", e, "2022-05-06", "2022-06-01")          # ... before a CP plan
    e = t.episode("dan", "2022-01-02")
    t.cin_plan("dan", e, "2022-02-01", "2022-05-01")         # nothing follows
    e = t.episode("eve", "2022-01-02")
    t.cin_plan("eve", e, "2022-02-01", "2022-05-01")
    t.cp_plan("eve", e, "2022-05-02", "2022-06-01")          # CP first, then care
    t.care("eve", "2022-05-06", "2022-08-01", "E4A")
    s = cin_plan_spells(t.tables(), CONFIG)
    got = dict(zip(s["child_id"], s["exit_type"]))
    from test_spells_builder import pid
    assert got == {pid("amy"): "escalation_cp", pid("bea"): "closure", pid("cat"): "escalation_care",
                   pid("dan"): "other", pid("eve"): "escalation_cp"}


def test_cp_plan_ending_before_cin_plan_dates_were_collected():
    # CIN plan dates are in the census from 2021-22: before then a step-down cannot be ruled out
    t = Timeline()
    t.child("amy")
    e = t.episode("amy", "2019-01-02")
    t.cp_plan("amy", e, "2019-02-01", "2021-03-31")
    assert cp_exit(t)["exit_type"] == "step_down_or_other"
    t2 = Timeline()
    t2.child("amy")
    e = t2.episode("amy", "2019-01-02")
    t2.cp_plan("amy", e, "2019-02-01", "2021-04-01")
    assert cp_exit(t2)["exit_type"] == "other"
    t3 = Timeline()
    t3.child("amy")
    e = t3.episode("amy", "2019-01-02")
    t3.cp_plan("amy", e, "2019-02-01", "2021-03-20")
    t3.cin_plan("amy", e, "2021-03-21", "2021-09-01")          # open into 2021-22: seen
    assert cp_exit(t3)["exit_type"] == "step_down"


def test_cin_plans_enter_when_their_dates_begin_to_be_collected():
    t = Timeline()
    t.child("amy")
    e = t.episode("amy", "2020-06-01")
    t.cin_plan("amy", e, "2020-07-01", "2021-06-01")
    row = cin_plan_spells(t.tables(), CONFIG).iloc[0]
    assert row["observation_start"] == D("2021-04-01")
    assert row["entry_days"] == (D("2021-04-01") - D("2020-07-01")).days
