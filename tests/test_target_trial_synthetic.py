"""History-dependent hazards in the synthetic county (issue #16): off by default, and when on, a
re-referred family's journey escalates more and is re-referred more often."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.synthetic.journeys import new_family_referrals, simulate_journeys
from evaluation.synthetic.parameters import (
    HISTORY_DEPENDENT, HISTORY_RE_REFERRAL_MULTIPLIER, SyntheticParameters,
)
from evaluation.synthetic.population import make_population


def journeys(params: SyntheticParameters, seed: int = 3, scale: float = 0.3):
    rng = np.random.default_rng(seed)
    first = new_family_referrals(rng, params, scale)
    pop = make_population(rng, first, params, "931", ("OX1", "OX2"))
    return simulate_journeys(rng, params, pop.children, pop.families)


def escalation_share(result) -> pd.Series:
    """Share of journeys with a CIN plan that escalate to a CP plan, by first vs later generation."""
    intervals = result.intervals.merge(result.journeys[["journey", "generation"]], on="journey")
    plans = intervals[intervals["state"] == "cin_plan"].drop_duplicates("journey")
    return (plans["cause"] == "escalation_cp").groupby(plans["generation"] > 0).mean()


def test_history_is_off_by_default_and_validated():
    default = SyntheticParameters()
    assert default.history_hazard_multipliers == {} and default.history_re_referral_multiplier == 1.0
    empty = journeys(SyntheticParameters(history_hazard_multipliers={}), seed=5, scale=0.05)
    again = journeys(default, seed=5, scale=0.05)
    pd.testing.assert_frame_equal(empty.intervals, again.intervals)
    with pytest.raises(ValueError):
        SyntheticParameters(history_hazard_multipliers={"cp_plan": {"escalation_cp": 2.0}})
    with pytest.raises(ValueError):
        SyntheticParameters(history_re_referral_multiplier=0)


def test_re_referred_families_escalate_more_and_return_more():
    plain = journeys(SyntheticParameters())
    history = journeys(SyntheticParameters(history_hazard_multipliers=HISTORY_DEPENDENT,
                                           history_re_referral_multiplier=HISTORY_RE_REFERRAL_MULTIPLIER))
    flat, steep = escalation_share(plain), escalation_share(history)
    # first journeys are drawn alike; re-referrals escalate clearly more with history
    assert steep[True] > flat[True] * 1.3 and steep[True] > steep[False] * 1.3
    later = lambda r: (r.journeys["generation"] >= 2).sum() / max((r.journeys["generation"] >= 1).sum(), 1)
    assert later(history) > later(plain) * 1.2
