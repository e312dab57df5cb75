"""Journeys as multi-state intervals, on hand-built timelines, and into the Aalen–Johansen estimator.

Most timelines are children (each in their own family) of one shared
default-window timeline (data 2016-04-01 .. 2025-03-31), built by the
``@shared`` function just above the test that reads it, so that the spells
are built once for the module.
"""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.study import StudyConfig
from evaluation.journeys import JOURNEY_COLUMNS, state_intervals
from evaluation.survival import multistate as ms
from test_spells_builder import D, Timeline, combine, pid

#: The earlier entry rule (first referral, family cohort), whose journeys these tests pin down.
CONFIG = StudyConfig(entry_rule="first_referral", censor_earlier_cohorts_at_go_live=False)
SHARED = []


def shared(build):
    """Register ``build(timeline)`` to add its children to the shared timeline."""
    SHARED.append(build)
    return build


def days(date: str, zero: str = "2019-01-10") -> int:
    """Days from ``zero`` (the usual time zero of these timelines) to ``date``."""
    return (D(date) - D(zero)).days


def journey_of(intervals, name: str) -> list[tuple]:
    rows = intervals[intervals["child_id"] == pid(name)]
    return list(zip(rows["tstart"], rows["tstop"], rows["from_state"], rows["to_state"]))


def journey(tables, name: str, config: StudyConfig = CONFIG, **kwargs) -> list[tuple]:
    return journey_of(state_intervals(tables, config, **kwargs), name)


@pytest.fixture(scope="module")
def shared_tables():
    t = Timeline()
    for build in SHARED:
        build(t)
    return t.tables()


@pytest.fixture(scope="module")
def journeys(shared_tables):
    return state_intervals(shared_tables, CONFIG)


@shared
def escalating(t):
    t.child("esc", family="esc")
    e = t.episode("esc", "2019-01-10", "2019-08-01")
    t.cin_plan("esc", e, "2019-02-01", "2019-03-01")
    t.cp_plan("esc", e, "2019-03-01", "2019-05-01")
    t.care("esc", "2019-05-01", "2019-08-01", "E4A")


def test_escalation_to_care_then_closure(journeys):
    assert journey_of(journeys, "esc") == [
        (0, 22, "referral", "cin_plan"),
        (22, 50, "cin_plan", "cp_plan"),
        (50, 111, "cp_plan", "care"),
        (111, 203, "care", "closed"),
        (203, days("2025-03-31"), "closed", "censored"),
    ]


@shared
def siblings(t):
    t.child("amy", family="smith")
    t.child("ben", family="smith")
    t.child("cat", family="jones")
    t.episode("amy", "2019-01-10", "2019-02-01")
    t.episode("ben", "2021-01-10", "2021-02-01")  # sibling referred after go-live: family's cohort
    t.episode("cat", "2021-01-10", "2021-02-01")


def test_columns_ids_cluster_and_cohort(journeys):
    assert list(journeys.columns) == list(JOURNEY_COLUMNS)
    first = journeys.drop_duplicates("child_id").set_index("child_id")
    assert first.loc[pid("amy"), "id"] == f"931:{pid('amy')}:1"  # her first entry
    assert first.loc[pid("ben"), "cluster"] == first.loc[pid("amy"), "cluster"] == f"931:{pid('smith')}"
    assert first.loc[pid("ben"), "group"] == "pre_fsp"
    assert first.loc[pid("cat"), "group"] == "post_fsp"
    assert (first["tstart"] == 0).all()


@shared
def stepping_down(t):
    t.child("down", family="down")
    e = t.episode("down", "2019-01-10", "2019-07-01")
    t.cp_plan("down", e, "2019-02-01", "2019-04-01")
    t.cin_plan("down", e, "2019-04-01", "2019-06-01")


def test_step_down_from_protection_to_cin_plan(journeys):
    assert journey_of(journeys, "down") == [
        (0, 22, "referral", "cp_plan"),
        (22, 81, "cp_plan", "cin_plan"),
        (81, 142, "cin_plan", "referral"),
        (142, 172, "referral", "closed"),
        (172, days("2025-03-31"), "closed", "censored"),
    ]


@shared
def re_referred(t):
    t.child("back", family="back")
    t.episode("back", "2019-01-10", "2019-03-01")
    t.episode("back", "2019-06-01", "2019-09-01")
    t.episode("back", "2019-09-01")  # re-referred the day it closed: no break


def test_re_referral_after_closure_reopens(journeys):
    assert journey_of(journeys, "back") == [
        (0, 50, "referral", "closed"),
        (50, 142, "closed", "referral"),
        (142, days("2025-03-31"), "referral", "censored"),
    ]


@shared
def overlapping(t):
    t.child("both", family="both")
    e = t.episode("both", "2019-01-10", "2019-07-01")
    t.cin_plan("both", e, "2019-01-20", "2019-07-01")   # hidden by the CP plan and care
    t.cp_plan("both", e, "2019-02-01", "2019-06-01")
    t.care("both", "2019-03-01", "2019-05-01", "E4A")


def test_care_takes_precedence_over_an_overlapping_protection_plan(journeys):
    assert journey_of(journeys, "both") == [
        (0, 10, "referral", "cin_plan"),
        (10, 22, "cin_plan", "cp_plan"),
        (22, 50, "cp_plan", "care"),
        (50, 111, "care", "cp_plan"),
        (111, 142, "cp_plan", "cin_plan"),
        (142, 172, "cin_plan", "closed"),
        (172, days("2025-03-31"), "closed", "censored"),
    ]


@shared
def already_in_care(t):
    t.child("lac", family="lac")
    t.care("lac", "2018-11-01", "2019-03-01", "E4A")
    t.episode("lac", "2019-01-10", "2019-05-01")


def test_care_running_at_referral_is_the_first_state(journeys):
    assert journey_of(journeys, "lac")[:2] == [(0, 50, "care", "referral"), (50, 111, "referral", "closed")]


@shared
def turning_18(t):
    t.child("adult", family="adult", birth="2001-06-01")
    e = t.episode("adult", "2019-01-10")
    t.cp_plan("adult", e, "2019-02-01", "2019-08-01")


def test_censored_mid_plan_at_the_18th_birthday(journeys):
    assert journey_of(journeys, "adult") == [(0, 22, "referral", "cp_plan"),
                                             (22, 142, "cp_plan", "censored")]


@shared
def died_or_moved(t):
    t.child("died", family="died", death="2019-04-01")
    t.child("moved", family="moved")
    ea = t.episode("died", "2019-01-10")
    eb = t.episode("moved", "2019-01-10", "2019-05-01", reason="RC5")
    t.cin_plan("died", ea, "2019-02-01")
    t.cin_plan("moved", eb, "2019-02-01", "2019-05-01")


def test_death_and_transfer_out_censor_mid_plan(journeys):
    assert journey_of(journeys, "died") == [(0, 22, "referral", "cin_plan"), (22, 81, "cin_plan", "censored")]
    assert journey_of(journeys, "moved") == [(0, 22, "referral", "cin_plan"),
                                             (22, 111, "cin_plan", "censored")]


@shared
def unknown_exit(t):
    t.child("lost", family="lost")
    t.episode("lost", "2019-01-10", "2019-12-01")
    t.care("lost", "2019-03-01", "2019-05-01", "X1")  # X1 with nothing after it


def test_care_with_an_unknown_exit_censors_the_journey_at_its_end(journeys):
    assert journey_of(journeys, "lost") == [(0, 50, "referral", "care"), (50, 111, "care", "censored")]


@shared
def same_day_plan(t):
    t.child("brief", family="brief")
    e = t.episode("brief", "2019-01-10", "2019-05-01")
    t.cin_plan("brief", e, "2019-02-01", "2019-02-01")
    t.cp_plan("brief", e, "2019-03-01", "2019-04-01")
    t.cin_plan("brief", e, "2019-03-10", "2019-03-10")   # inside the CP plan: hidden


def test_same_day_plan_is_a_half_day_stay(journeys):
    assert journey_of(journeys, "brief")[:5] == [
        (0, 22, "referral", "cin_plan"),
        (22, 22.5, "cin_plan", "referral"),
        (22.5, 50, "referral", "cp_plan"),
        (50, 81, "cp_plan", "referral"),
        (81, 111, "referral", "closed"),
    ]


@shared
def same_day_plan_as_care_ends(t):
    t.child("hidden", family="hidden")
    e = t.episode("hidden", "2019-01-10", "2019-05-01")
    t.care("hidden", "2019-02-01", "2019-03-01", "E4A")
    t.cp_plan("hidden", e, "2019-03-01", "2019-03-01")   # on care's last day: care outranks it


def test_same_day_plan_outranked_on_its_day_is_hidden(journeys):
    assert journey_of(journeys, "hidden")[:3] == [
        (0, 22, "referral", "care"),
        (22, 50, "care", "referral"),
        (50, 111, "referral", "closed"),
    ]


@shared
def no_further_action(t):
    t.child("nfa", family="nfa")
    t.episode("nfa", "2019-01-10", "2019-01-10", reason="RC8")


def test_referral_closed_the_same_day_and_the_configured_length(journeys, shared_tables):
    assert journey_of(journeys, "nfa") == [(0, 0.5, "referral", "closed"),
                                           (0.5, days("2025-03-31"), "closed", "censored")]
    config = StudyConfig(same_day_days=0.25)
    assert journey(shared_tables, "nfa", config)[0] == (0, 0.25, "referral", "closed")


@shared
def referred_on_the_reference_date(t):
    t.child("late", family="late")
    t.episode("late", "2025-03-31")


def test_child_referred_on_the_reference_date_has_no_follow_up(journeys):
    assert pid("late") not in set(journeys["child_id"])
    assert journeys.attrs["children_without_follow_up"] == 1


def test_shared_journeys_are_valid_estimator_input(journeys):
    ms.state_occupation(journeys, ms.DEFAULT_STATES)  # raises on gaps, overlaps, zero-length rows


def test_same_pseudonym_in_two_local_authorities_are_two_children():
    a, b = Timeline(la_code="931"), Timeline(la_code="919")
    for t in (a, b):
        t.child("amy", family="a")
        t.episode("amy", "2019-01-10", "2019-02-01")
    out = state_intervals(combine(a, b), CONFIG)
    assert out["id"].nunique() == 2 and out["cluster"].nunique() == 2
    ms.state_occupation(out)  # would raise on overlapping intervals of one id


def test_plan_ending_on_the_birthday_is_censored_but_on_the_reference_date_is_observed():
    t = Timeline(last_year=2020)
    t.child("amy", family="a", birth="2002-03-01")   # 18 on 2020-03-01
    t.child("ben", family="b")
    t.child("cat", family="c")
    ea = t.episode("amy", "2019-01-10", "2020-05-01")
    eb = t.episode("ben", "2019-01-10", "2020-05-01")
    ec = t.episode("cat", "2019-01-10")
    t.cp_plan("amy", ea, "2019-02-01", "2020-03-01")
    t.cp_plan("ben", eb, "2019-02-01", "2020-03-31")
    t.cp_plan("cat", ec, "2019-02-01")
    out = state_intervals(t.tables(), CONFIG)
    assert journey_of(out, "amy")[-1] == (22, days("2020-03-01"), "cp_plan", "censored")
    assert journey_of(out, "ben")[-1] == (22, days("2020-03-31"), "cp_plan", "referral")
    # open at the extract: censored there
    assert journey_of(out, "cat") == [(0, 22, "referral", "cp_plan"),
                                      (22, days("2020-03-31"), "cp_plan", "censored")]


def test_horizon_cuts_follow_up_and_a_change_on_that_day_is_observed():
    t = Timeline()
    t.child("amy", family="a")
    e = t.episode("amy", "2019-01-10", "2019-06-01")
    t.cin_plan("amy", e, "2019-01-20", "2019-01-30")
    assert journey(t.tables(), "amy", horizon_days=20) == [(0, 10, "referral", "cin_plan"),
                                                           (10, 20, "cin_plan", "referral")]
    assert journey(t.tables(), "amy", horizon_days=15) == [(0, 10, "referral", "cin_plan"),
                                                           (10, 15, "cin_plan", "censored")]


def test_time_zero_before_the_data_window_enters_late():
    t = Timeline(first_year=2020)     # data from 2019-04-01
    t.child("amy", family="a")
    e = t.episode("amy", "2018-06-01", "2019-09-01")
    t.cp_plan("amy", e, "2018-07-01", "2019-05-01")
    assert journey(t.tables(), "amy", horizon_days=500) == [
        (days("2019-04-01", "2018-06-01"), days("2019-05-01", "2018-06-01"), "cp_plan", "referral"),
        (days("2019-05-01", "2018-06-01"), days("2019-09-01", "2018-06-01"), "referral", "closed"),
        (days("2019-09-01", "2018-06-01"), 500, "closed", "censored"),
    ]


def test_no_included_children_gives_an_empty_table():
    t = Timeline()
    t.child("amy", family="a")
    t.episode("amy", "2017-01-10", "2017-02-01")   # before the study window
    out = state_intervals(t.tables(), CONFIG)
    assert out.empty and list(out.columns) == list(JOURNEY_COLUMNS)


def test_intervals_feed_the_aalen_johansen_estimator():
    t = Timeline()
    t.child("amy", family="a")
    t.child("ben", family="a")
    t.child("cat", family="c")
    t.child("dan", family="d")
    e = t.episode("amy", "2019-01-10", "2019-08-01")
    t.cin_plan("amy", e, "2019-02-01", "2019-03-01")
    t.cp_plan("amy", e, "2019-03-01", "2019-05-01")
    t.care("amy", "2019-05-01", "2019-08-01", "E4A")
    e = t.episode("ben", "2019-01-10", "2019-07-01")
    t.cp_plan("ben", e, "2019-02-01", "2019-04-01")
    t.cin_plan("ben", e, "2019-04-01", "2019-06-01")
    t.episode("cat", "2019-01-10", "2019-01-10", reason="RC8")
    t.episode("cat", "2019-06-01", "2019-09-01")
    e = t.episode("dan", "2019-01-10")
    t.cin_plan("dan", e, "2019-03-01")
    intervals = state_intervals(t.tables(), CONFIG)
    fit = ms.state_occupation(intervals, ms.DEFAULT_STATES, cluster="cluster")
    np.testing.assert_allclose(fit.pstate.sum(axis=1), 1.0, atol=1e-12)
    # everyone followed past τ and no censoring before it: AJ = the average of the four journeys
    tau = 365
    ours = ms.expected_days(intervals, tau, ms.DEFAULT_STATES, by=None).set_index("state")["days"]
    by_hand = {"referral": (22 + 0) + (22 + 30) + (0.5 + 92) + 50,
               "cin_plan": 28 + 61 + 0 + (tau - 50),
               "cp_plan": 61 + 59 + 0 + 0,
               "care": 92 + 0 + 0 + 0}
    by_hand["closed"] = 4 * tau - sum(by_hand.values())
    for state, total in by_hand.items():
        assert ours[state] == pytest.approx(total / 4, abs=1e-9)
    reach = ms.proportion_reaching(intervals, tau, by=None)
    assert reach["estimate"].iloc[0] == pytest.approx(0.5)
