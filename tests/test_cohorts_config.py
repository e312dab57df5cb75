"""StudyConfig: defaults, validation and cohort boundaries."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest

from evaluation.study import COHORTS, StudyConfig


def test_defaults_are_the_documented_ones():
    c = StudyConfig()
    assert (c.pre_fsp_start, c.transition_start, c.go_live) == (
        dt.date(2018, 4, 1), dt.date(2020, 3, 23), dt.date(2020, 11, 1))
    assert c.study_end is None and c.factor_grace_days == 45 and c.escalation_window_days == 7
    assert c.re_referral_days == 365 and c.domestic_abuse_definition == "3B" and c.censor_at_age == 18
    assert c.age_band_labels == ("0", "1-4", "5-9", "10-15", "16-17")
    assert len(c.lockdown_periods) == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.go_live = dt.date(2021, 1, 1)


def test_cohort_boundaries_are_first_days():
    c = StudyConfig()
    dates = pd.Series(pd.to_datetime(["2018-03-31", "2018-04-01", "2020-03-22", "2020-03-23",
                                      "2020-10-31", "2020-11-01"]))
    assert c.cohort_of(dates).fillna("none").tolist() == [
        "none", "pre_fsp", "pre_fsp", "transition", "transition", "post_fsp"]
    assert set(COHORTS) == {"pre_fsp", "transition", "post_fsp"}


@pytest.mark.parametrize("change", [
    {"go_live": dt.date(2020, 1, 1)},
    {"study_end": dt.date(2020, 6, 1)},
    {"domestic_abuse_definition": "3A"},
    {"risk_factor_unit": "household"},
    {"unauthorised_assessments": "guess"},
    {"factor_grace_days": -1},
    {"age_bands": ((0, 4), (6, 17))},
    {"age_bands": ((0, 4), (5, 15))},
    {"lockdown_periods": ((dt.date(2020, 6, 1), dt.date(2020, 5, 1)),)},
    {"same_day_days": 0.0},
])
def test_invalid_settings_are_refused(change):
    with pytest.raises(ValueError):
        StudyConfig(**change)
