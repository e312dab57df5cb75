"""Eligibility, time zero, index episodes and family cohorts, on hand-built timelines."""

from __future__ import annotations

from functools import partial

import datetime as dt

import pandas as pd

from evaluation.cohorts.cohorts import child_eligibility, family_cohorts, index_episodes
from evaluation.study import StudyConfig
from test_spells_builder import D, Timeline, combine, pid

#: The earlier design (first referral from the study start, family cohort, followed to the end of
#: the data), now a sensitivity analysis: the rules these tests pin down. The primary design's
#: entry rule is tested in tests/test_target_trial_entry.py.
Legacy = partial(StudyConfig, entry_rule="first_referral", censor_earlier_cohorts_at_go_live=False)

CONFIG = Legacy()


def reasons(t: Timeline, config: StudyConfig = CONFIG) -> dict[str, str]:
    e = child_eligibility(t.tables(), config)
    return {cid: (r if isinstance(r, str) else "included")
            for cid, r in zip(e["child_id"], e["excluded_reason"])}


def test_family_spanning_cohorts_takes_the_earliest_child():
    t = Timeline()
    t.child("amy", family="smith")
    t.child("ben", family="smith", birth="2016-02-01")
    t.episode("amy", "2020-02-10", "2020-06-01")       # pre-FSP
    t.episode("ben", "2021-01-15")                     # post go-live
    f = family_cohorts(t.tables(), CONFIG)
    assert len(f) == 1
    row = f.iloc[0]
    assert (row["cohort"], row["index_date"], row["index_child_id"]) == ("pre_fsp", D("2020-02-10"), pid("amy"))
    assert (row["children"], row["family_size"]) == (2, 2)
    idx = index_episodes(t.tables(), CONFIG).set_index("child_id")
    assert idx.loc[pid("ben"), "time_zero"] == D("2021-01-15")
    assert (idx["cohort"] == "pre_fsp").all()
    assert (idx["family_index_date"] == D("2020-02-10")).all()


def test_time_zero_is_first_referral_in_window_and_earlier_ones_are_history():
    t = Timeline()
    t.child("amy")
    t.episode("amy", "2017-05-01", "2017-09-01")
    first = t.episode("amy", "2018-06-01", "2018-09-01")
    t.episode("amy", "2019-06-01")
    idx = index_episodes(t.tables(), CONFIG)
    assert idx["time_zero"].tolist() == [D("2018-06-01")] and idx["episode_id"].tolist() == [first]


def test_episode_open_across_the_window_start_does_not_make_an_index():
    t = Timeline()
    t.child("amy")
    t.episode("amy", "2018-01-01")          # referred before the window, still open
    assert reasons(t) == {pid("amy"): "referral_before_study_window"}


def test_index_episode_prefers_the_longest_on_a_tie():
    t = Timeline()
    t.child("amy")
    t.episode("amy", "2019-01-02", "2019-01-02")
    longest = t.episode("amy", "2019-01-02", "2019-06-01")
    t.rows["cin_episodes"][-1]["episode_id"] = longest  # same referral date, distinct ids
    t.rows["cin_episodes"][0]["episode_id"] = pid("short")
    assert index_episodes(t.tables(), CONFIG)["episode_id"].tolist() == [longest]


def test_every_exclusion_reason():
    t = Timeline(last_year=2024)
    t.child("linked")
    t.child("nolink", family=None)
    t.child("quarantined")
    t.child("early")
    t.child("late")
    t.child("nobirth", birth="2010-01-01")
    t.child("unborn", birth="2019-07-01")
    t.child("adult", birth="2001-05-01")
    t.child("seventeen", birth="2001-06-01")
    for name in ("linked", "nolink", "quarantined", "nobirth", "unborn"):
        t.episode(name, "2019-06-15")
    t.episode("adult", "2019-05-20")
    t.episode("seventeen", "2019-05-31")
    t.episode("early", "2018-03-31", "2018-05-01")
    t.episode("late", "2024-04-01")
    t.quarantine("quarantined")
    tables = t.tables()
    tables["children"].loc[tables["children"]["child_id"] == pid("nobirth"), "birth_month"] = pd.NaT
    e = child_eligibility(tables, CONFIG)
    got = dict(zip(e["child_id"], e["excluded_reason"].fillna("included")))
    assert got == {
        pid("linked"): "included", pid("nolink"): "no_family_link",
        pid("quarantined"): "quarantined_records", pid("early"): "referral_before_study_window",
        pid("late"): "referral_after_study_end", pid("nobirth"): "birth_month_missing",
        pid("unborn"): "unborn_at_referral", pid("adult"): "aged_18_or_over_at_referral",
        pid("seventeen"): "included"}
    kept = child_eligibility(tables, Legacy(exclude_quarantined=False))
    assert kept.set_index("child_id").loc[pid("quarantined"), "excluded_reason"] is pd.NA


def test_child_born_in_month_of_referral_counts_as_born():
    t = Timeline()
    t.child("amy", birth="2019-06-01")
    t.episode("amy", "2019-06-15")
    assert reasons(t) == {pid("amy"): "included"}


def test_excluded_earliest_child_does_not_set_the_family_cohort():
    t = Timeline()
    t.child("unborn", birth="2020-12-01", family="smith")
    t.child("ben", birth="2015-01-01", family="smith")
    t.episode("unborn", "2020-09-01")
    t.episode("ben", "2020-11-20")
    f = family_cohorts(t.tables(), CONFIG)
    assert f["cohort"].tolist() == ["post_fsp"] and f["children"].tolist() == [1]


def test_study_end_limits_entry_and_cohorts_follow_config_dates():
    t = Timeline()
    t.child("amy", family="a")
    t.child("bea", family="b")
    t.episode("amy", "2020-12-01")
    t.episode("bea", "2022-05-01")
    config = Legacy(go_live=dt.date(2021, 1, 1), study_end=dt.date(2021, 12, 31))
    f = family_cohorts(t.tables(), config)
    assert f["cohort"].tolist() == ["transition"]
    assert reasons(t, config)[pid("bea")] == "referral_after_study_end"


def test_families_are_kept_apart_by_local_authority():
    a, b = Timeline(la_code="931"), Timeline(la_code="919")
    a.child("amy", family="smith")
    b.child("amy", family="smith")
    a.episode("amy", "2019-01-01")
    b.episode("amy", "2021-01-01")
    f = family_cohorts(combine(a, b), CONFIG).set_index("la_code")
    assert f.loc["931", "cohort"] == "pre_fsp" and f.loc["919", "cohort"] == "post_fsp"
