"""Planted programme effects come back through the whole chain: files in the DfE formats → the
door → spells and the analysis dataset → the analysis layer's cause-specific Cox models.

The county is generated with strong programme effects on a few exit routes, the same in every
risk-factor combination (so the pooled post-vs-pre HR of the layer has one true value), and the
adjusted, family-clustered 95% CI must cover it and exclude 1. ``benchmarks/planted_effects.py``
measures coverage and bias over 20 seeds at the default effects; this test catches a systematic
error (the CP step-down HR, before step-downs were modelled from ``route_entry``, came out 1.6
times too large).

The estimators are checked under the design that follows every cohort to the extract (the
sensitivity analysis ``censor_earlier_cohorts_at_go_live=False`` with the first-referral entry):
under the primary design the pre-FSP cohort is censored at go-live, before CIN plans are observed
(April 2021), so a step-down from a CP plan cannot be told apart for it, and the table must say
so rather than estimate it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from evaluation.analysis.competing_exits import competing_results
from evaluation.cohorts.analysis_dataset import analysis_dataset
from evaluation.ingest import ingest_local_authority
from evaluation.pseudonymise import DEMO_KEY, load_key
from evaluation.study import StudyConfig
from evaluation.synthetic import generate_county
from evaluation.synthetic.parameters import SyntheticParameters

#: (state, cause) -> planted post-vs-pre HR; outcome and route as the analysis names them.
PLANTED = {("cp_plan", "step_down"): 2.0, ("cp_plan", "escalation_care"): 0.5,
           ("care", "return_home"): 2.0}
OUTCOME = {"cp_plan": "time_in_protection", "care": "time_in_care"}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    params = SyntheticParameters()
    transitions = {state: dict(causes) for state, causes in params.transitions.items()}
    for (state, cause), hr in PLANTED.items():
        transitions[state][cause] = replace(transitions[state][cause], programme_hr_none=hr,
                                            programme_hr_flag_multiplier=(1.0, 1.0, 1.0))
    folder = generate_county(tmp_path_factory.mktemp("strong_effects"), seed=7, scale=1.0,
                             params=replace(params, transitions=transitions))
    tables = ingest_local_authority(folder / "931", load_key(DEMO_KEY))
    followed = StudyConfig(entry_rule="first_referral", censor_earlier_cohorts_at_go_live=False)
    primary = StudyConfig()
    # The primary design is asked only what its test reads (each exit route's models are fitted on
    # their own: the step-down rows are those of the whole table, bit for bit).
    return {name: competing_results(analysis_dataset(tables, config), config, times=(365,), **only)
            for name, config, only in (
                ("followed", followed, {}),
                ("primary", primary, {"outcomes": {"time_in_protection": ("step_down",)}}))}


@pytest.mark.parametrize("state,cause", list(PLANTED))
def test_adjusted_cause_specific_hr_covers_the_planted_value(results, state, cause):
    table = results["followed"]["cause_specific_cox"]
    row = table[(table["outcome"] == OUTCOME[state]) & (table["analysis"] == "cause_specific_cox_adjusted")
                & (table["term"] == f"{cause}: cohort[post_fsp]")].iloc[0]
    planted = PLANTED[(state, cause)]
    assert row["events"] > 150
    assert row["ci_lower"] <= planted <= row["ci_upper"], (row["estimate"], row["ci_lower"], row["ci_upper"])
    assert not row["ci_lower"] <= 1.0 <= row["ci_upper"]


def test_the_primary_design_does_not_estimate_what_it_cannot_see(results):
    """Pre-FSP entries are censored at go-live, before CIN plans (and so step-downs) are
    observed: no step-down hazard ratio is estimated under the primary design."""
    table = results["primary"]["cause_specific_cox"]
    rows = table[(table["outcome"] == "time_in_protection")
                 & (table["analysis"] == "cause_specific_cox_adjusted")
                 & (table["term"] == "step_down: cohort[post_fsp]")]
    assert rows.empty or rows["estimate"].isna().all(), rows[["estimate", "events"]]
