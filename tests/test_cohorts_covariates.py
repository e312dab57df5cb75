"""Covariates at time zero."""

from __future__ import annotations

from functools import partial

import pandas as pd
import pytest

from evaluation.cohorts.cohorts import index_episodes
from evaluation.cohorts.covariates import COVARIATES, age_bands, covariates, in_lockdown
from evaluation.study import StudyConfig
from test_spells_builder import Timeline, pid

#: The earlier design (first referral from the study start, family cohort, followed to the end of
#: the data), now a sensitivity analysis: the rules these tests pin down. The primary design's
#: entry rule is tested in tests/test_target_trial_entry.py.
Legacy = partial(StudyConfig, entry_rule="first_referral", censor_earlier_cohorts_at_go_live=False)

CONFIG = Legacy()


@pytest.mark.parametrize("birth, referral, band", [
    ("2019-06-01", "2019-06-20", "0"), ("2018-07-01", "2019-06-30", "0"),
    ("2018-06-01", "2019-06-01", "1-4"), ("2014-07-01", "2019-06-30", "1-4"),
    ("2014-06-01", "2019-06-01", "5-9"), ("2009-06-01", "2019-06-01", "10-15"),
    ("2003-07-01", "2019-06-30", "10-15"), ("2002-07-01", "2019-06-30", "16-17"),
])
def test_age_band_at_time_zero(birth, referral, band):
    t = Timeline()
    t.child("amy", birth=birth)
    t.episode("amy", referral)
    tables = t.tables()
    c = covariates(tables, index_episodes(tables, CONFIG), CONFIG)
    assert c["age_band"].tolist() == [band]


def test_covariates_of_a_child():
    t = Timeline()
    t.child("amy", family="smith", sex="M", ethnicity="BAFR")
    t.child("ben", family="smith", ethnicity=None)
    t.child("cal", family="smith")                    # linked, never referred
    t.episode("amy", "2016-05-01", "2016-08-01")
    t.episode("amy", "2017-05-01", "2017-08-01")
    t.episode("amy", "2020-11-20", source="3A", need="N4")
    t.episode("ben", "2020-11-20", source=None, need=None)
    tables = t.tables()
    c = covariates(tables, index_episodes(tables, CONFIG), CONFIG).set_index("child_id")
    assert list(c.columns) == ["la_code", "time_zero", *COVARIATES]
    amy, ben = c.loc[pid("amy")], c.loc[pid("ben")]
    assert (amy["sex"], amy["ethnic_group"], ben["ethnic_group"]) == ("M", "Black", "Unknown")
    # history is counted over the fixed look-back window only (12 months: neither earlier episode)
    assert (amy["family_size"], amy["prior_cin_episodes"], ben["prior_cin_episodes"]) == (3, 0, 0)
    wide = Legacy(lookback_months=48)   # from 2016-11-20: the 2017 episode, not the 2016 one
    assert covariates(tables, index_episodes(tables, wide), wide).set_index("child_id").loc[
        pid("amy"), "prior_cin_episodes"] == 1
    assert (amy["primary_need"], amy["referral_source_group"]) == ("N4", "Health")
    assert (ben["primary_need"], ben["referral_source_group"]) == ("N0", "Anonymous or unknown")
    assert bool(amy["lockdown_period"]) is True


def test_lockdown_periods_are_inclusive():
    dates = pd.Series(pd.to_datetime(["2020-03-22", "2020-03-23", "2020-06-30", "2020-07-01",
                                      "2020-12-01", "2021-03-08", "2021-03-09"]))
    assert in_lockdown(dates, CONFIG).tolist() == [False, True, True, False, True, True, False]


def test_age_band_outside_bands_is_missing():
    assert age_bands(pd.Series([0, 17, 18], dtype="Int64"), CONFIG).isna().tolist() == [False, False, True]
