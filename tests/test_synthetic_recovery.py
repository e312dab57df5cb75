"""The planted programme hazard ratios are what a correctly specified Cox model recovers.

Fitted on the simulated family journeys (one row per family and state
interval, before any child-level projection or file writing), with the
covariates the generator uses: strata by risk-factor combination, age band
of the youngest child, and one programme term per combination.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from evaluation.codes.groupings import COMBINATIONS
from evaluation.synthetic.dates import OPEN, day_number
from evaluation.synthetic.journeys import new_family_referrals, simulate_journeys
from evaluation.synthetic.parameters import SyntheticParameters
from evaluation.synthetic.population import make_population


@pytest.fixture(scope="module")
def intervals() -> tuple[pd.DataFrame, SyntheticParameters]:
    params = SyntheticParameters()
    rng = np.random.default_rng(2)
    referrals = new_family_referrals(rng, params, 2.0)
    pop = make_population(rng, referrals, params, "931", ("OX1",))
    j = simulate_journeys(rng, params, pop.children, pop.families)
    iv = j.intervals.merge(j.journeys[["journey", "combination", "age_band", "post"]], on="journey")
    end = day_number(params.simulation_end)
    iv["duration"] = np.where(iv["end"] == OPEN, end, iv["end"]) - iv["start"]
    return iv, params


@pytest.mark.parametrize("state,cause", [("cp_plan", "step_down"), ("cp_plan", "escalation_care")])
def test_cox_model_recovers_planted_programme_hazard_ratios(intervals, state, cause):
    iv, params = intervals
    d = iv[iv["state"] == state]
    X = pd.DataFrame({"duration": d["duration"].to_numpy(), "event": (d["cause"] == cause).to_numpy().astype(int),
                      "combination": d["combination"].to_numpy()})
    for band in (0, 2, 3):
        X[f"age_band_{band}"] = (d["age_band"].to_numpy() == band).astype(float)
    for c in range(len(COMBINATIONS)):
        X[f"post_{c}"] = ((d["combination"].to_numpy() == c) & d["post"].to_numpy()).astype(float)
    fit = CoxPHFitter().fit(X, "duration", "event", strata=["combination"])
    terms = [f"post_{c}" for c in range(len(COMBINATIONS))]
    transition = params.transitions[state][cause]
    planted = np.log([transition.programme_hr(flags) for flags, _ in COMBINATIONS])
    z = (fit.params_[terms].to_numpy() - planted) / fit.standard_errors_[terms].to_numpy()
    assert np.all(np.abs(z) < 3.5), z
    # the planted effects are not all null, so this test could fail on a wrong generator
    assert np.abs(planted).max() > 0.2
    age = fit.params_[["age_band_0", "age_band_2", "age_band_3"]].to_numpy()
    age_se = fit.standard_errors_[["age_band_0", "age_band_2", "age_band_3"]].to_numpy()
    assert np.all(np.abs(age - np.array(transition.age_band_log_hr)[[0, 2, 3]]) < 3.5 * age_se)
