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


# --- inverse probability of censoring weights for the planned censoring at go-live ---------------

IPCW_REFERENCE = HERE / "ipcw_states"


@pytest.fixture(scope="module")
def ipcw_ref() -> dict:
    return json.loads((IPCW_REFERENCE / "reference.json").read_text())


@pytest.fixture(scope="module")
def cut_intervals() -> pd.DataFrame:
    """The pre_fsp journeys cut at their planned censoring day C (tests/reference/ipcw_states/)."""
    return pd.read_csv(IPCW_REFERENCE / "intervals.csv", dtype={"id": str, "cluster": str})


@pytest.fixture(scope="module")
def cut_entries() -> pd.DataFrame:
    return pd.read_csv(IPCW_REFERENCE / "entries.csv", dtype={"id": str})


@pytest.fixture(scope="module")
def ipcw_result(cut_intervals, cut_entries):
    return adjusted_expected_days(cut_intervals, cut_entries, ["x1", "x2"], taus=(365, 730), states=STATES,
                                  n_boot=30, seed=5, censor_time="C")


def test_planned_censoring_is_in_the_fixture(cut_intervals, cut_entries):
    c = cut_entries.set_index("id")["C"]
    pre = (cut_entries["C"] < np.inf).to_numpy()
    assert pre.sum() > 100 and np.isinf(cut_entries.loc[~pre, "C"]).all()
    last = cut_intervals.groupby("id")["tstop"].max()
    assert (last <= c.reindex(last.index)).all()


def test_ipcw_days_match_the_weighted_aalen_johansen_in_r(ipcw_result, ipcw_ref):
    table = ipcw_result.table
    for tau in ("365", "730"):
        for group in ("pre_fsp", "post_fsp"):
            ours = rows(table, IPW_ANALYSIS, cohort=group, time=float(tau))
            assert list(ours["outcome"]) == [f"days_in_{s}" for s in STATES]
            np.testing.assert_allclose(ours["estimate"], ipcw_ref["ipcw"][group]["days"][tau], rtol=1e-9, atol=1e-8)
            # R's by-hand estimator equals survfit with one id per weight piece
            np.testing.assert_allclose(ipcw_ref["ipcw"][group]["survfit_days"][tau],
                                       ipcw_ref["ipcw"][group]["days"][tau], rtol=1e-10)
        diff = rows(table, IPW_ANALYSIS, cohort=None, time=float(tau))
        expected = np.subtract(ipcw_ref["ipcw"]["post_fsp"]["days"][tau], ipcw_ref["ipcw"]["pre_fsp"]["days"][tau])
        np.testing.assert_allclose(diff["estimate"], expected, rtol=1e-9, atol=1e-8)
    assert "inverse probability of censoring" in rows(table, IPW_ANALYSIS, cohort=None)["method"].iloc[0]
    assert "not weighted" in rows(table, AIPW_ANALYSIS)["method"].iloc[0]


def test_censoring_weights_matter_and_cohort_weights_alone_match_r(cut_intervals, cut_entries, ipcw_result,
                                                                    ipcw_ref):
    """Without ``censor_time`` the same data give R's days under the cohort weights alone, which differ
    from the IPCW days by more than a day in some state (so the comparison above can tell them apart);
    the post-FSP cohort, never censored at go-live, is the same under both."""
    plain = adjusted_expected_days(cut_intervals, cut_entries, ["x1", "x2"], taus=(365, 730), states=STATES,
                                   n_boot=2, seed=5).table
    gap = 0.0
    for tau in ("365", "730"):
        for group in ("pre_fsp", "post_fsp"):
            ours = rows(plain, IPW_ANALYSIS, cohort=group, time=float(tau))["estimate"].to_numpy()
            np.testing.assert_allclose(ours, ipcw_ref["cohort_weights_only"][group]["days"][tau], rtol=1e-9,
                                       atol=1e-8)
            weighted = rows(ipcw_result.table, IPW_ANALYSIS, cohort=group, time=float(tau))["estimate"].to_numpy()
            if group == "post_fsp":
                np.testing.assert_allclose(weighted, ours, rtol=1e-12)
            else:
                gap = max(gap, np.max(np.abs(weighted - ours)))
    assert gap > 1.0
    # survfit with id = id merges the split pieces and keeps the later weight: R's numbers differ there
    assert ipcw_ref["ipcw"]["pre_fsp"]["survfit_id_merged_max_pstate_difference"] > 1e-3


def test_the_pieces_and_their_weights_are_those_of_r(cut_intervals, cut_entries, ipcw_ref):
    from evaluation.survival.adjusted_states import _censoring_pieces

    first = cut_intervals.groupby("id", sort=True)[["group"]].first()
    position = pd.Series(np.arange(len(first)), index=first.index)
    entries = cut_entries.set_index("id").loc[first.index]
    pieces = _censoring_pieces(cut_intervals.reset_index(drop=True), position, entries["C"].to_numpy(),
                               entries[["x1", "x2"]].to_numpy(dtype=float), ["x1", "x2"], 30.0)
    assert len(pieces.data) == ipcw_ref["split_rows"]
    planned = np.isfinite(entries["C"].to_numpy())[pieces.unit_entry]
    ids = first.index.to_numpy()[pieces.unit_entry[planned]]
    assert list(ids) == ipcw_ref["pieces"]["id"]
    np.testing.assert_array_equal(pieces.unit_start[planned], ipcw_ref["pieces"]["start"])
    np.testing.assert_allclose(pieces.point[planned], ipcw_ref["pieces"]["weight"], rtol=1e-9)
    assert (pieces.point[~planned] == 1).all()
    # every piece of every interval lies in its weight unit's grid cell
    data = pieces.data
    unit = data["unit"].to_numpy()
    assert (pieces.unit_start[unit] <= data["tstart"].to_numpy()).all()
    cut = np.isfinite(entries["C"].to_numpy())[pieces.unit_entry[unit]]
    cell = np.floor(data["tstart"].to_numpy()[cut] / 30)
    np.testing.assert_array_equal(np.floor(pieces.unit_start[unit][cut] / 30), cell)
    np.testing.assert_array_equal(np.ceil(data["tstop"].to_numpy()[cut] / 30) - 1, cell)   # no grid day inside
    # the full-sample refit (frequency weights all 1) gives the same weights
    np.testing.assert_allclose(pieces.refitted(np.ones(len(first))), pieces.point, rtol=1e-10)


def test_an_ipcw_bootstrap_replicate_refits_both_models_on_the_resampled_families(cut_intervals, cut_entries):
    """With one resample the limits are that resample's estimate: the IPCW days computed on the
    families' copied rows (each copy a new entry), the propensity and censoring models fitted there."""
    one = adjusted_expected_days(cut_intervals, cut_entries, ["x1", "x2"], taus=(365,), states=STATES, n_boot=1,
                                 seed=11, censor_time="C").table
    copied, per_entry = _copied(cut_intervals, cut_entries, seed=11)
    refit = adjusted_expected_days(copied, per_entry, ["x1", "x2"], taus=(365,), states=STATES, n_boot=1,
                                   seed=1, censor_time="C").table
    for group in ("pre_fsp", "post_fsp"):
        ours = rows(one, IPW_ANALYSIS, cohort=group)
        # equal to the Newton-Raphson convergence of the two fits (frequency weights vs copied rows)
        np.testing.assert_allclose(ours["ci_lower"], rows(refit, IPW_ANALYSIS, cohort=group)["estimate"], rtol=1e-6)
        assert not np.allclose(ours["ci_lower"], ours["estimate"])


def test_without_planned_censoring_the_days_are_unchanged(intervals, entries, result):
    """The sensitivity design (every C infinite) splits nothing and weights nothing."""
    none = adjusted_expected_days(intervals, entries.assign(C=np.inf), ["x1", "x2"], taus=(365, 730),
                                  states=STATES, n_boot=60, seed=3, censor_time="C")
    pd.testing.assert_frame_equal(none.table, result.table)
    with pytest.raises(ValueError, match="lack the planned censoring column 'C'"):
        adjusted_expected_days(intervals, entries, ["x1"], taus=(365,), states=STATES, n_boot=2, censor_time="C")
    with pytest.raises(ValueError, match="missing values"):
        adjusted_expected_days(intervals, entries.assign(C=np.nan), ["x1"], taus=(365,), states=STATES,
                               n_boot=2, censor_time="C")


def test_censoring_model_frequency_weights_equal_copied_rows(cut_entries):
    from evaluation.survival.censoring_weights import censoring_model, stabilised_censoring_weights

    planned = cut_entries[np.isfinite(cut_entries["C"])]
    c, x = planned["C"].to_numpy(), planned[["x1", "x2"]].to_numpy(dtype=float)
    freq = np.random.default_rng(4).integers(0, 3, len(c)).astype(float)
    copies = np.repeat(np.arange(len(c)), freq.astype(int))
    used, coef = censoring_model(c, x, freq)
    used_copied, coef_copied = censoring_model(c[copies], x[copies])
    np.testing.assert_array_equal(used, used_copied)
    # two Newton paths, each stopped by cox_ph's convergence rule (R's: log partial likelihood within
    # 1e-9 relative), summing in different orders: their coefficients agree to ~1e-9 relative, not
    # to the last bits (1.2e-9 seen on an AMD EPYC machine)
    np.testing.assert_allclose(coef, coef_copied, rtol=1e-8)
    at = np.array([0.0, 30.0, 150.0, 300.0, 450.0])
    np.testing.assert_allclose(stabilised_censoring_weights(c, x, coef, x[:5], at, freq),
                               stabilised_censoring_weights(c[copies], x[copies], coef_copied, x[:5], at),
                               rtol=1e-7)   # the coefficients' gap, carried through exp(x @ coef)
    # a covariate constant among the rows drawn leaves the model
    only = freq * (x[:, 0] == 1)
    used, coef = censoring_model(c, x, only)
    assert list(used) == [False, True] and len(coef) == 1


@pytest.mark.parametrize("grid_days", [30.0, 7.0])
def test_refitted_censoring_weights_by_start_day_equal_the_per_unit_computation(cut_intervals, cut_entries,
                                                                                 grid_days):
    """A resample's censoring weights computed at the units' distinct start days and read off per unit
    are stabilised_censoring_weights' on every unit (the oracle), bit for bit, on resamples that leave
    entries out, draw some several times, and on the full sample."""
    from evaluation.survival.adjusted_states import _censoring_pieces
    from evaluation.survival.censoring_weights import censoring_model, stabilised_censoring_weights

    def per_unit(pieces, freq):   # what refitted computed before: a search per unit
        out = np.ones(len(pieces.unit_entry))
        f = freq[pieces.planned].astype(float)
        used, coef = censoring_model(pieces.c, pieces.x, f)
        lp = (pieces.x[:, used] @ coef)[:, None]
        out[pieces.planned_units] = stabilised_censoring_weights(
            pieces.c, lp, np.ones(1), lp[pieces.planned_unit_entry], pieces.unit_start[pieces.planned_units], f)
        return out

    first = cut_intervals.groupby("id", sort=True)[["cluster", "group"]].first()
    position = pd.Series(np.arange(len(first)), index=first.index)
    entries = cut_entries.set_index("id").loc[first.index]
    pieces = _censoring_pieces(cut_intervals.reset_index(drop=True), position, entries["C"].to_numpy(),
                               entries[["x1", "x2"]].to_numpy(dtype=float), ["x1", "x2"], grid_days)
    assert len(pieces.start_days[0]) < len(pieces.planned_units)
    families, family = np.unique(first["cluster"].astype(str).to_numpy(), return_inverse=True)
    draws = np.random.default_rng(8).multinomial(len(families), np.full(len(families), 1 / len(families)), size=5)
    for freq in [np.ones(len(first)), *draws[:, family].astype(float)]:
        old = per_unit(pieces, freq)
        new = pieces.refitted(freq)
        np.testing.assert_array_equal(new, old)
        assert np.ptp(new) > 0
