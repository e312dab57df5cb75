"""IPW and doubly robust expected days in each state against R (tests/reference/adjusted_states/)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.survival.adjusted_states import (
    AIPW_ANALYSIS, IPW_ANALYSIS, adjusted_expected_days, stabilised_weights, state_pseudo_observations,
)
from evaluation.survival.doubly_robust import aipw_terms, family_draws, logistic_probabilities
from evaluation.survival.multistate import expected_days

HERE = Path(__file__).resolve().parent / "reference"
REFERENCE = HERE / "adjusted_states"
STATES = ("referral", "cin_plan", "cp_plan", "care", "closed")


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REFERENCE / "reference.json").read_text())


@pytest.fixture(scope="module")
def intervals() -> pd.DataFrame:
    return pd.read_csv(HERE / "multistate" / "intervals.csv", dtype={"id": str, "cluster": str})


@pytest.fixture(scope="module")
def entries() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "entries.csv", dtype={"id": str})


@pytest.fixture(scope="module")
def result(intervals, entries):
    return adjusted_expected_days(intervals, entries, ["x1", "x2"], taus=(365, 730), states=STATES, n_boot=60,
                                  seed=3)


def rows(table, analysis, **keys):
    out = table[table["analysis"] == analysis]
    for key, value in keys.items():
        out = out[out[key].isna()] if value is None else out[out[key] == value]
    return out


def test_ipw_days_match_weighted_survfit(result, ref):
    table = result.table
    for group in ("pre_fsp", "post_fsp"):
        for tau in ("365", "730"):
            ours = rows(table, IPW_ANALYSIS, cohort=group, time=float(tau))
            assert list(ours["outcome"]) == [f"days_in_{s}" for s in STATES]
            np.testing.assert_allclose(ours["estimate"], ref["ipw"][group][tau], rtol=1e-9, atol=1e-8)
    for tau in ("365", "730"):
        diff = rows(table, IPW_ANALYSIS, cohort=None, time=float(tau))
        expected = np.subtract(ref["ipw"]["post_fsp"][tau], ref["ipw"]["pre_fsp"][tau])
        np.testing.assert_allclose(diff["estimate"], expected, rtol=1e-9, atol=1e-8)
        assert (diff["contrast"] == "post_fsp vs pre_fsp").all()


def test_ipw_differs_from_the_unweighted_estimate(result, intervals):
    """The weights matter on these data (so the R comparison above can tell them apart)."""
    plain = expected_days(intervals, 365, STATES, variance=False)
    ours = rows(result.table, IPW_ANALYSIS, cohort="post_fsp", time=365.0)
    assert np.max(np.abs(ours["estimate"].to_numpy()
                         - plain[plain["group"] == "post_fsp"]["days"].to_numpy())) > 1.0


def test_aipw_days_match_r(result, ref):
    for tau in ("365", "730"):
        ours = rows(result.table, AIPW_ANALYSIS, time=float(tau))
        assert list(ours["outcome"]) == [f"days_in_{s}" for s in STATES]
        np.testing.assert_allclose(ours["estimate"], ref["aipw"][tau], rtol=1e-9, atol=1e-8)
        assert (ours["se"] > 0).all() and (ours["ci_lower"] < ours["estimate"]).all()
        assert (ours["estimate"] < ours["ci_upper"]).all()


def test_pseudo_observations_match_r(intervals, ref):
    first = ref["first_pseudo"]["365"]
    group = intervals.loc[intervals["id"] == first["id"], "group"].iloc[0]
    ids, pseudo = state_pseudo_observations(intervals[intervals["group"] == group], [365.0], STATES)
    assert ids[0] == first["id"]
    np.testing.assert_allclose(pseudo[0, 0], first["pseudo"], rtol=1e-9, atol=1e-8)
    # pseudo-observations average to the estimate (the influences sum to zero)
    plain = expected_days(intervals[intervals["group"] == group], 365, STATES, by=None, variance=False)
    np.testing.assert_allclose(pseudo[:, 0].mean(axis=0), plain["days"], rtol=1e-10)


def _copied(intervals, entries, seed):
    """The first resample of ``family_draws(…, seed)`` as copied rows (each copy a new entry)."""
    families = np.unique(intervals["cluster"].astype(str))
    draw = family_draws(len(families), 1, seed)[0]
    data = intervals.merge(entries, on="id")
    copies = []
    for k, family in enumerate(families):
        part = data[data["cluster"] == family]
        copies += [part.assign(id=part["id"] + f"#{copy}") for copy in range(draw[k])]
    copied = pd.concat(copies, ignore_index=True)
    per_entry = copied.drop_duplicates("id").sort_values("id").reset_index(drop=True)
    return copied, per_entry


def test_a_bootstrap_replicate_is_the_refit_on_the_resampled_families(intervals, entries):
    """With one resample the percentile limits are that resample's estimate: IPW equals the weighted
    Aalen-Johansen on the families' copied rows with the propensity refitted on them, AIPW the
    augmented estimator refitted on the copied entries (pseudo-observations held, as documented)."""
    one = adjusted_expected_days(intervals, entries, ["x1", "x2"], taus=(365,), states=STATES, n_boot=1,
                                 seed=9).table
    copied, per_entry = _copied(intervals, entries, seed=9)
    treated = (per_entry["group"] == "post_fsp").to_numpy()
    design = np.column_stack([np.ones(len(per_entry)), per_entry[["x1", "x2"]]])
    e = logistic_probabilities(design, treated)
    copied = copied.merge(per_entry[["id"]].assign(w=stabilised_weights(e, treated)), on="id")
    refit = expected_days(copied, 365, STATES, weights="w", variance=False)
    for group in ("pre_fsp", "post_fsp"):
        ours = rows(one, IPW_ANALYSIS, cohort=group)
        np.testing.assert_allclose(ours["ci_lower"], refit[refit["group"] == group]["days"], rtol=1e-9)
        np.testing.assert_allclose(ours["ci_upper"], ours["ci_lower"])
        assert not np.allclose(ours["ci_lower"], ours["estimate"])
    # AIPW: the full sample's pseudo-observations, copied with their entries
    y = np.empty((len(entries), len(STATES)))
    for group in ("pre_fsp", "post_fsp"):
        ids, pseudo = state_pseudo_observations(intervals[intervals["group"] == group], [365.0], STATES)
        y[entries.set_index("id").index.get_indexer(ids)] = pseudo[:, 0]
    source = entries.set_index("id").index.get_indexer(per_entry["id"].str.split("#").str[0])
    expected, _ = aipw_terms(y[source], treated, design, e)
    np.testing.assert_allclose(rows(one, AIPW_ANALYSIS)["ci_lower"], expected, rtol=1e-9)


def test_bootstrap_is_seeded_and_entries_must_be_complete(intervals, entries):
    one = adjusted_expected_days(intervals, entries, ["x1"], taus=(365,), states=STATES, n_boot=20, seed=4)
    two = adjusted_expected_days(intervals, entries, ["x1"], taus=(365,), states=STATES, n_boot=20, seed=4)
    pd.testing.assert_frame_equal(one.table, two.table)
    with pytest.raises(ValueError, match="no covariates"):
        adjusted_expected_days(intervals, entries.iloc[1:], ["x1"], taus=(365,), states=STATES, n_boot=5)
