"""IPCW for the planned censoring at go-live, with IPW, against R (tests/reference/target_trial/).

The reference splits each row with a planned censoring day at a 30-day grid (``survSplit``),
weights each piece by P(C > s) / P(C > s | x) from a Breslow Cox model of C, multiplies by the
stabilised cohort weights, and fits the weighted Kaplan-Meier (RMST by hand as the area under it)
and the weighted Cox model with family-clustered SE.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.survival.censoring_weights import START, WEIGHT, censoring_weights
from evaluation.survival.cox import cox_ph
from evaluation.survival.rmst import rmst_difference
from evaluation.survival.weighting import cohort_weights

REFERENCE = Path(__file__).parent / "reference" / "target_trial"
GRID = np.arange(30, 1501, 30)


@pytest.fixture(scope="module")
def weighted():
    data = pd.read_csv(REFERENCE / "data.csv")
    data["cohort"] = np.where(data["post"] == 1, "post_fsp", "pre_fsp")
    data["ipw"] = cohort_weights(data, "cohort", ["x1", "x2"]).weights
    split = censoring_weights(data, "duration", "event", "C", ["x1", "x2"], GRID, entry="entry")
    split["w"] = split["ipw"] * split[WEIGHT]
    return data, split


def test_pieces_and_weights_match_survsplit_and_the_censoring_model(weighted):
    data, split = weighted
    r = pd.read_csv(REFERENCE / "pieces.csv")
    assert len(split) == len(r)
    # pieces come in the input's row order, each row's from its entry on: number them as R does
    ours = split.assign(row=np.repeat(np.arange(len(data)), split.groupby(
        (split[START] == split["entry"]).cumsum()).size().to_numpy()))
    ours = ours.sort_values(["row", START]).reset_index(drop=True)
    np.testing.assert_array_equal(ours[START], r["tstart"])
    np.testing.assert_array_equal(ours["duration"], r["tstop"])
    np.testing.assert_array_equal(ours["event"], r["event"])
    np.testing.assert_allclose(ours["ipw"], r["ipw"], rtol=1e-9)
    np.testing.assert_allclose(ours[WEIGHT], r["ipcw"], rtol=1e-9)
    assert (split.loc[~np.isfinite(split["C"]), WEIGHT] == 1).all()


def test_weighted_rmst_and_cox_match_r(weighted):
    _, split = weighted
    results = pd.read_csv(REFERENCE / "results.csv")
    table = rmst_difference(split, "duration", "event", "cohort", tau=[365, 730], entry=START,
                            weights="w", cluster="family")
    for _, ref in results[results["quantity"] == "rmst"].iterrows():
        cohort = "post_fsp" if ref["post"] == 1 else "pre_fsp"
        row = table[(table["term"] == "rmst") & (table["cohort"] == cohort) & (table["time"] == ref["tau"])]
        assert row["estimate"].item() == pytest.approx(ref["value"], rel=1e-9)
        assert ref["rmean"] == pytest.approx(ref["value"], rel=1e-12)   # by hand = survfit's rmean
    split["post"] = split["post"].astype(float)
    fit = cox_ph(split, "duration", "event", ["post"], entry=START, weights="w", cluster="family")
    coef = results.loc[results["quantity"] == "cox_coef", "value"].item()
    se = results.loc[results["quantity"] == "cox_robust_se", "value"].item()
    assert fit.coef[0] == pytest.approx(coef, rel=1e-7)
    assert fit.se[0] == pytest.approx(se, rel=1e-6)


def test_rows_without_planned_censoring_are_left_whole_and_bad_input_is_refused():
    frame = pd.DataFrame({"d": [10.0, 50.0, 70.0], "e": [1, 0, 1], "C": [np.inf, 50.0, 80.0],
                          "x": [0.0, 1.0, 0.0]})
    out = censoring_weights(frame, "d", "e", "C", ["x"], [30, 60])
    assert out[START].tolist() == [0, 0, 30, 0, 30, 60]
    assert out["e"].tolist() == [1, 0, 0, 0, 0, 1]
    with pytest.raises(ValueError, match="followed past"):
        censoring_weights(frame.assign(d=[10.0, 60.0, 70.0]), "d", "e", "C", ["x"], [30])
    with pytest.raises(ValueError, match="missing"):
        censoring_weights(frame.assign(C=[np.nan, 50.0, 80.0]), "d", "e", "C", ["x"], [30])
