"""The synthetic county learns Covid (a common shock to transition hazards) and several councils
with staggered or no adoption."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from scipy import integrate

from evaluation.synthetic import SyntheticParameters, generate_county
from evaluation.synthetic.county import council_parameters
from evaluation.synthetic.covid import COVID_HAZARD_SHOCK, COVID_HAZARD_WINDOW, latent_exit_days
from evaluation.synthetic.dates import day_number
from evaluation.synthetic.journeys import new_family_referrals, simulate_journeys
from evaluation.synthetic.population import make_population

WINDOW = (dt.date(2020, 3, 23), dt.date(2021, 6, 30))
A, B = day_number(WINDOW[0]), day_number(WINDOW[1]) + 1


def _cumulative_hazard(s, t0, scale, shape, m):
    """H(s) by numerical integration of the hazard, multiplied by m on the window's days."""
    hazard = lambda u: (shape / scale) * (u / scale) ** (shape - 1) * (m if A <= t0 + u < B else 1.0)  # noqa: E731
    cuts = sorted({0.0, s, *[c for c in (A - t0, B - t0) if 0 < c < s]})
    return sum(integrate.quad(hazard, lo, hi, limit=200)[0] for lo, hi in zip(cuts[:-1], cuts[1:]))


@pytest.mark.parametrize("shape", [0.8, 1.0, 1.6])
@pytest.mark.parametrize("m", [0.6, 1.7])
def test_latent_exit_time_reaches_the_target_cumulative_hazard(shape, m):
    rng = np.random.default_rng(1)
    scale = 400.0
    t0 = rng.integers(A - 900, B + 100, size=40)          # entered before, inside and after the window
    target = rng.exponential(size=40) * np.exp(rng.normal(0, 0.5, size=40))
    days = latent_exit_days(scale, shape, target, t0, WINDOW, m)
    for s, t, h in zip(days, t0, target):
        assert _cumulative_hazard(s, t, scale, shape, m) == pytest.approx(h, rel=1e-6)


def test_no_shock_is_the_plain_weibull_inversion_bit_for_bit():
    rng = np.random.default_rng(2)
    target = rng.exponential(size=1000)
    t0 = rng.integers(A - 500, B, size=1000)
    plain = 300.0 * target ** (1.0 / 1.2)
    np.testing.assert_array_equal(latent_exit_days(300.0, 1.2, target, t0, WINDOW, 1.0), plain)
    # a window that every interval starts after changes nothing either
    np.testing.assert_allclose(latent_exit_days(300.0, 1.2, target, t0 + 10_000, WINDOW, 0.5), plain, rtol=1e-12)
    with pytest.raises(ValueError, match="positive"):
        latent_exit_days(300.0, 1.2, target, t0, WINDOW, 0.0)


def test_parameters_refuse_an_unknown_state_or_cause():
    with pytest.raises(ValueError, match="unknown state or cause"):
        SyntheticParameters(covid_hazard_multipliers={"care": {"adoption": 0.5}})
    with pytest.raises(ValueError, match="positive"):
        SyntheticParameters(covid_hazard_multipliers={"care": {"permanence": -1.0}})
    assert SyntheticParameters().covid_hazard_multipliers == {}           # the default county: no shock
    assert SyntheticParameters().covid_hazard_window == COVID_HAZARD_WINDOW


def _journeys(params, seed=5):
    rng = np.random.default_rng(seed)
    referrals = new_family_referrals(rng, params, 1.0)
    pop = make_population(rng, referrals, params, "931", ("OX1",))
    return simulate_journeys(rng, params, pop.children, pop.families)


def _first_intervals(params):
    """Each first-generation journey's first interval (the same random draws in every run)."""
    journeys = _journeys(params)
    first = journeys.journeys.loc[journeys.journeys["generation"] == 0, "journey"]
    intervals = journeys.intervals
    return intervals[(intervals["seq"] == 0) & intervals["journey"].isin(first)].set_index("journey")


def test_the_shock_slows_exits_in_the_window_and_leaves_earlier_ones_alone():
    plain = SyntheticParameters()
    shocked = SyntheticParameters(covid_hazard_multipliers={"cin_plan": {"closure": 0.5, "escalation_cp": 0.5,
                                                                         "escalation_care": 0.5}})
    a, b = _first_intervals(plain), _first_intervals(shocked)
    assert a.index.equals(b.index) and (a["start"] == b["start"]).all()
    ended_before = a.index[(a["end"] < A).to_numpy()]
    assert len(ended_before) > 1000
    assert (a.loc[ended_before, "end"] == b.loc[ended_before, "end"]).all()
    assert (a.loc[ended_before, "cause"] == b.loc[ended_before, "cause"]).all()
    # CIN plans starting inside the window last longer with all exits halved there
    inside = a.index[((a["start"] >= A) & (a["start"] < B - 200)).to_numpy()]
    assert len(inside) > 300
    assert ((b.loc[inside, "end"] >= a.loc[inside, "end"]) | (b.loc[inside, "cause"] != a.loc[inside, "cause"])).all()
    length = lambda df: (np.minimum(df["end"], B + 2000) - df["start"]).median()   # noqa: E731
    assert length(b.loc[inside]) > 1.3 * length(a.loc[inside])


def test_councils_with_staggered_or_no_adoption_and_the_shock_in_the_ground_truth(tmp_path):
    councils = {"931": dt.date(2020, 11, 1), "825": None, "919": dt.date(2019, 4, 1)}
    params = SyntheticParameters(covid_hazard_multipliers=COVID_HAZARD_SHOCK)
    out = generate_county(tmp_path / "county", seed=3, scale=0.03, councils=councils, params=params,
                          imperfection_rate=0.0)
    truth = json.loads((out / "ground_truth.json").read_text())
    assert truth["local_authorities"] == ["931", "825", "919"]
    assert truth["adoption"] == {"931": "2020-11-01", "825": None, "919": "2019-04-01"}
    assert truth["covid_hazards"]["multipliers"]["care"]["permanence"] == 0.6
    assert truth["covid_hazards"]["window"] == ["2020-03-23", "2021-06-30"]
    for code in councils:
        assert (out / code / "cin_census" / "cin_census_2025.xml").is_file()
        assert f"<LEA>{code}</LEA>" in (out / code / "cin_census" / "cin_census_2025.xml").read_text()
    assert "post_fsp" not in truth["by_la"]["825"]["cohorts"]        # never adopts
    assert "post_fsp" in truth["by_la"]["919"]["cohorts"]
    with pytest.raises(ValueError, match="unknown LA code"):
        generate_county(tmp_path / "other", councils={"999": None}, scale=0.03)


def test_a_council_that_never_adopts_has_no_programme_hazards():
    never = council_parameters(SyntheticParameters(), None)
    assert never.go_live > dt.date(2100, 1, 1)
    journeys = _journeys(never, seed=6).journeys
    assert len(journeys) > 1000 and not journeys["post"].any()
    early = council_parameters(SyntheticParameters(), dt.date(2019, 4, 1))
    assert early.go_live == dt.date(2019, 4, 1) and early.transition_start <= early.go_live
