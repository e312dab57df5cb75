"""The launchpad's study settings are generated from StudyConfig: every field is settable."""

from __future__ import annotations

import dataclasses
import datetime as dt

import dagster as dg
import pytest

from assets.study import StudySettings
from evaluation.study import StudyConfig

#: A valid non-default value for every StudyConfig field (a new field fails the test until added).
NON_DEFAULT = {
    "entry_rule": "first_referral",
    "lookback_months": 24,
    "risk_factor_source": "earlier_assessments",
    "adjust_for_index_assessment": True,
    "pre_fsp_start": dt.date(2017, 4, 1),
    "transition_start": dt.date(2020, 4, 1),
    "go_live": dt.date(2021, 1, 1),
    "study_end": dt.date(2024, 3, 31),
    "factor_grace_days": 30,
    "escalation_window_days": 14,
    "exit_window_days": 10,
    "re_referral_days": 180,
    "domestic_abuse_definition": "broad",
    "risk_factor_unit": "family",
    "unauthorised_assessments": "exclude",
    "age_bands": ((0, 4), (5, 17)),
    "lockdown_periods": ((dt.date(2020, 3, 23), dt.date(2020, 7, 4)),),
    "censor_at_age": 17,
    "exclude_quarantined": False,
    "censor_earlier_cohorts_at_go_live": False,
    "same_day_days": 0.25,
    "council_go_lives": ("931:2020-11-01", "825:never"),
}

LAUNCHPAD = {  # the same values as typed in the launchpad (ISO dates, lists)
    "entry_rule": "first_referral", "lookback_months": 24,
    "risk_factor_source": "earlier_assessments", "adjust_for_index_assessment": True,
    "pre_fsp_start": "2017-04-01", "transition_start": "2020-04-01", "go_live": "2021-01-01",
    "study_end": "2024-03-31", "factor_grace_days": 30, "escalation_window_days": 14,
    "exit_window_days": 10, "re_referral_days": 180, "domestic_abuse_definition": "broad",
    "risk_factor_unit": "family", "unauthorised_assessments": "exclude",
    "age_bands": [[0, 4], [5, 17]], "lockdown_periods": [["2020-03-23", "2020-07-04"]],
    "censor_at_age": 17, "exclude_quarantined": False,
    "censor_earlier_cohorts_at_go_live": False, "same_day_days": 0.25,
    "council_go_lives": ["931:2020-11-01", "825:never"],
}


def test_every_field_is_a_setting_with_the_dataclass_default():
    names = [f.name for f in dataclasses.fields(StudyConfig)]
    assert list(StudySettings.model_fields) == names
    assert set(NON_DEFAULT) == set(LAUNCHPAD) == set(names)
    assert StudySettings().config() == StudyConfig()
    for name in names:
        assert StudySettings.model_fields[name].description, name


def test_every_field_round_trips_through_the_resource():
    default = StudyConfig()
    for name, value in NON_DEFAULT.items():
        assert getattr(default, name) != value, name
        config = StudySettings(**{name: LAUNCHPAD[name]}).config()
        assert getattr(config, name) == value, name
        assert all(getattr(config, other) == getattr(default, other) for other in NON_DEFAULT if other != name)
    everything = StudySettings(**LAUNCHPAD).config()
    assert everything == StudyConfig(**NON_DEFAULT)


def test_invalid_settings_fail_with_studyconfig_words():
    with pytest.raises(ValueError, match="age_bands"):
        StudySettings(age_bands=[[0, 4], [6, 17]]).config()
    with pytest.raises(ValueError, match="expected 2 values"):
        StudySettings(lockdown_periods=[["2020-03-23"]]).config()
    with pytest.raises(ValueError, match="council_go_lives"):
        StudySettings(council_go_lives=["931:1 Nov 2020"]).config()


def _probe(seen: dict):
    @dg.asset
    def study_probe(study: StudySettings) -> None:
        seen["config"] = study.config()
    return study_probe


def test_a_setting_reaches_an_asset():
    seen: dict = {}
    result = dg.materialize([_probe(seen)], resources={"study": StudySettings(re_referral_days=90)})
    assert result.success and seen["config"].re_referral_days == 90


def test_every_setting_reaches_an_asset_from_launch_config():
    """As in the launchpad: the resource is the default one, run config sets every field."""
    seen: dict = {}
    result = dg.materialize([_probe(seen)], resources={"study": StudySettings()},
                            run_config={"resources": {"study": {"config": LAUNCHPAD}}})
    assert result.success and seen["config"] == StudyConfig(**NON_DEFAULT)


def test_the_project_jobs_accept_every_setting():
    from assets.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()
    assert job.run_config_schema.config_type.fields["resources"].config_type.fields["study"]
    from dagster._config import validate_config

    checked = validate_config(job.run_config_schema.config_type,
                              {"resources": {"study": {"config": LAUNCHPAD}}})
    assert checked.success, checked.errors
