"""Kaplan–Meier curves, quantiles and per-cohort tables against R survival 3.5.

Reference numbers: tests/reference/km/make_reference.R (data from make_inputs.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.results import RESULT_COLUMNS
from evaluation.survival.kaplan_meier import kaplan_meier, kaplan_meier_by

REFERENCE = Path(__file__).parent / "reference" / "km"
COHORTS = ["pre_fsp", "transition", "post_fsp"]
COUNTS = ["time", "n_risk", "n_event", "n_censor"]

# R fit name -> keyword arguments of kaplan_meier
FITS = {
    "plain_log": {},
    "plain_loglog": {"conf_type": "log-log"},
    "plain_plain": {"conf_type": "plain"},
    "entry_log": {"entry": "entry"},
    "entry_loglog": {"entry": "entry", "conf_type": "log-log"},
    "case_weights": {"weights": "case_weight"},
    "entry_case_weights": {"entry": "entry", "weights": "case_weight"},
    "ipw": {"weights": "ipw"},
    "entry_ipw": {"entry": "entry", "weights": "ipw"},
    "cluster": {"cluster": "family_id"},
    "entry_cluster": {"entry": "entry", "cluster": "family_id"},
    "entry_ipw_cluster": {"entry": "entry", "weights": "ipw", "cluster": "family_id"},
    "entry_cluster_90": {"entry": "entry", "cluster": "family_id", "conf_level": 0.90},
}


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((REFERENCE / "reference.json").read_text())


@pytest.fixture(scope="module")
def children() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "children.csv")


def as_float(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in np.atleast_1d(values)], dtype=float)


def assert_close(actual, expected, rtol, atol=0.0) -> None:
    np.testing.assert_allclose(np.asarray(actual, float), as_float(expected), rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("name", list(FITS))
def test_curve_matches_survfit(name, children, reference):
    fit = kaplan_meier(children, "duration", "event", **FITS[name])
    expected = reference["curves"][name]
    assert len(fit.table) == len(expected["time"])
    for column in COUNTS:
        assert_close(fit.table[column], expected[column], rtol=1e-10)
    assert_close(fit.table["survival"], expected["survival"], rtol=1e-6)
    for column in ("std_err", "lower", "upper"):
        assert_close(fit.table[column], expected[column], rtol=1e-4, atol=1e-12)


def test_weighted_curve_uses_weighted_counts_and_greenwood(children, reference):
    # whole-number case weights: weighted risk sets and Greenwood SE, as survfit(weights=)
    fit = kaplan_meier(children, "duration", "event", weights="case_weight")
    expected = reference["curves"]["case_weights"]
    assert not fit.robust
    assert fit.table["n_risk"].iloc[0] == children["case_weight"].sum()
    assert_close(fit.table["survival"], expected["survival"], rtol=1e-6)
    assert_close(fit.table["std_err"], expected["std_err"], rtol=1e-4)
    unweighted = kaplan_meier(children, "duration", "event")
    assert not np.allclose(fit.table["survival"], unweighted.table["survival"])


def test_robust_default_follows_r(children):
    assert kaplan_meier(children, "duration", "event", weights="ipw").robust
    assert kaplan_meier(children, "duration", "event", cluster="family_id").robust
    assert not kaplan_meier(children, "duration", "event", weights="case_weight").robust
    greenwood = kaplan_meier(children, "duration", "event", cluster="family_id", robust=False)
    assert not greenwood.robust
    plain = kaplan_meier(children, "duration", "event")
    np.testing.assert_allclose(greenwood.table["std_err"], plain.table["std_err"])


@pytest.mark.parametrize("name", list(FITS))
def test_median_matches_quantile_survfit(name, children, reference):
    median = kaplan_meier(children, "duration", "event", **FITS[name]).median()
    expected = reference["medians"][name]
    assert_close([median.estimate, median.lower, median.upper],
                 [expected["estimate"], expected["lower"], expected["upper"]], rtol=1e-12)


def test_median_on_a_flat_stretch_is_its_midpoint(reference):
    flat = pd.read_csv(REFERENCE / "flat.csv")
    fit = kaplan_meier(flat, "duration", "event")
    assert_close(fit.table["survival"], reference["flat"]["curve"]["survival"], rtol=1e-12)
    median = fit.median()
    assert median.estimate == 7.0  # S = 0.5 exactly from day 5 to day 9
    assert_close([median.estimate, median.lower, median.upper],
                 [reference["flat"]["median"][k] for k in ("estimate", "lower", "upper")], rtol=1e-12)
    quantiles = [fit.quantile(p).estimate for p in (0.25, 0.5, 0.6)]
    assert_close(quantiles, reference["flat"]["quantiles"], rtol=1e-12)
    with pytest.raises(ValueError):
        fit.quantile(1.5)


def test_median_not_reached_is_missing():
    df = pd.DataFrame({"duration": [2.0, 4, 6, 10, 12, 14], "event": [1, 0, 0, 1, 0, 0]})
    fit = kaplan_meier(df, "duration", "event")
    assert fit.table["survival"].min() > 0.5
    median = fit.median()
    assert np.isnan(median.estimate) and np.isnan(median.upper)
    assert median.lower == 10.0  # the lower limit does fall below 0.5 at day 10 (as R)


@pytest.mark.parametrize("name", ["plain_log", "entry_cluster", "ipw"])
def test_survival_at_report_days(name, children, reference):
    fit = kaplan_meier(children, "duration", "event", **FITS[name])
    expected = reference["at_report_days"][name]
    at = fit.survival_at(expected["time"])
    for column in ("survival", "std_err", "lower", "upper"):
        assert_close(at[column], expected[column], rtol=1e-6)
    if "entry" not in FITS[name]:
        # with delayed entry R reports the risk set at the next exit time instead
        assert_close(at["n_risk"], expected["n_risk"], rtol=1e-10)


def test_survival_at_is_a_step_function_and_unknown_after_follow_up(children):
    fit = kaplan_meier(children, "duration", "event")
    first, last = fit.table["time"].iloc[0], fit.table["time"].iloc[-1]
    at = fit.survival_at([0, first - 0.5, first, first + 0.5, last, last + 1])
    assert list(at["survival"][:2]) == [1.0, 1.0]
    assert at["survival"][2] == at["survival"][3] == fit.table["survival"].iloc[0]
    assert at["survival"][4] == fit.table["survival"].iloc[-1]
    assert np.isnan(at["survival"][5]) and np.isnan(at["lower"][5])


def test_number_at_risk_honours_delayed_entry():
    df = pd.DataFrame({"entry": [0, 5, 10, 0], "duration": [10, 20, 15, 3], "event": [1, 0, 1, 1]})
    fit = kaplan_meier(df, "duration", "event", entry="entry")
    # at risk on (entry, duration]
    assert list(fit.number_at_risk([1, 3, 4, 5, 6, 10, 11, 15, 16, 20, 21])["n_risk"]) == \
        [2, 2, 1, 1, 2, 2, 2, 2, 1, 1, 0]
    assert list(fit.table["n_risk"]) == [2, 2, 2, 1]


def test_day_zero_exits_are_at_risk_without_entry():
    df = pd.DataFrame({"duration": [0, 0, 4, 8], "event": [1, 0, 1, 0]})
    table = kaplan_meier(df, "duration", "event").table
    assert list(table["n_risk"]) == [4, 2, 1]
    assert table["survival"].iloc[0] == pytest.approx(0.75)


def test_by_cohort_table(children, reference):
    table = kaplan_meier_by(children, "duration", "event", "cohort", outcome="time_in_protection")
    assert list(table.columns) == list(RESULT_COLUMNS)
    for cohort in COHORTS:
        expected = reference["by_cohort"][cohort]
        rows = table[table["cohort"] == cohort]
        survival = rows[rows["term"] == "survival"]
        assert_close(survival["time"], expected["at"]["time"], rtol=0)
        assert_close(survival["estimate"], expected["at"]["survival"], rtol=1e-6)
        assert_close(survival["se"], expected["at"]["std_err"], rtol=1e-4)
        assert_close(survival["ci_lower"], expected["at"]["lower"], rtol=1e-4)
        median = rows[rows["term"] == "median"].iloc[0]
        assert_close([median["estimate"], median["ci_lower"], median["ci_upper"]],
                     list(expected["median"].values()), rtol=1e-12)
        assert median["n"] == expected["n"] and median["events"] == expected["events"]
    assert set(table["method"]) == {"Kaplan-Meier, Greenwood SE, log CI"}


def test_by_cohort_with_entry_and_families(children, reference):
    table = kaplan_meier_by(children, "duration", "event", "cohort", entry="entry", cluster="family_id")
    for cohort in COHORTS:
        expected = reference["by_cohort"][cohort]
        rows = table[table["cohort"] == cohort]
        survival = rows[rows["term"] == "survival"]
        assert_close(survival["estimate"], expected["entry_cluster_at"]["survival"], rtol=1e-6)
        assert_close(survival["se"], expected["entry_cluster_at"]["std_err"], rtol=1e-4)
        median = rows[rows["term"] == "median"].iloc[0]
        assert_close([median["estimate"], median["ci_lower"], median["ci_upper"]],
                     list(expected["entry_cluster_median"].values()), rtol=1e-12)
    assert "clustered by family" in table["method"].iloc[0]


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (pd.DataFrame({"duration": [1.0, -2.0], "event": [1, 0]}), {}, "negative"),
        (pd.DataFrame({"duration": [1.0, np.nan], "event": [1, 0]}), {}, "missing"),
        (pd.DataFrame({"duration": [1.0, 2.0], "event": [1, 2]}), {}, "0 \\(censored\\) or 1"),
        (pd.DataFrame({"duration": [1.0, 2.0], "event": [1, 0], "entry": [1.0, 0.0]}), {"entry": "entry"},
         "entry"),
        (pd.DataFrame({"duration": [1.0, 2.0], "event": [1, 0], "w": [1.0, 0.0]}), {"weights": "w"}, "positive"),
        (pd.DataFrame({"duration": [1.0], "event": [1]}), {"conf_type": "logit"}, "conf_type"),
        (pd.DataFrame({"duration": [], "event": []}), {}, "no rows"),
        (pd.DataFrame({"duration": [1.0], "event": [1]}), {"entry": "start"}, "not found"),
    ],
)
def test_invalid_input_is_rejected(frame, kwargs, message):
    with pytest.raises(ValueError, match=message):
        kaplan_meier(frame, "duration", "event", **kwargs)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=40))
def test_without_censoring_survival_is_the_empirical_proportion(days):
    df = pd.DataFrame({"duration": np.array(days, float), "event": 1})
    fit = kaplan_meier(df, "duration", "event")
    times = np.array(sorted(set(days)), float)
    empirical = [(np.array(days) > t).mean() for t in times]
    np.testing.assert_allclose(fit.table["survival"], empirical, atol=1e-12)
    # without censoring the per-child IJ SE is the binomial SE sqrt(S (1 - S) / n)
    robust = kaplan_meier(df, "duration", "event", robust=True).table["std_err"].to_numpy()
    s = np.asarray(empirical)
    np.testing.assert_allclose(robust, np.sqrt(s * (1 - s) / len(days)), atol=1e-10)


# -- the IJ variance in one pass (issue #20) ---------------------------------------------------


def _random_survival(seed: int, n: int, *, degenerate: bool = False):
    rng = np.random.default_rng(seed)
    duration = rng.integers(1, 60, n).astype(float) + (rng.random(n) if seed % 2 else 0.0)
    entry = np.where(rng.random(n) < 0.4, np.floor(duration * rng.random(n)), 0.0)
    entry = np.maximum(np.minimum(entry, duration - 0.5), 0.0)
    event = (rng.random(n) < (1.0 if degenerate else rng.uniform(0.2, 0.9))).astype(int)
    weight = np.where(rng.random(n) < 0.5, rng.random(n) * 3 + 0.1, 1.0)
    family = rng.integers(0, max(1, n // int(rng.integers(1, 5))), n).astype(str)
    return pd.DataFrame({"duration": duration, "event": event, "entry": entry, "w": weight, "family": family})


@pytest.mark.parametrize("seed", range(40))
def test_one_pass_ij_variance_equals_the_rows_by_times_sum(seed, monkeypatch):
    """ij_variance (a pass over entries and exits) equals the dense rows x times sum to 1e-12
    relative (the order of the sums), zeros exactly where the dense sum is 0, at step times and
    between them, with ties, delayed entry, weights and clusters; also a last step where n - d is
    a rounding residue (every row an event, non-integer weights: S falls to ~1e-17, not 0)."""
    from evaluation.survival._data import survival_data
    from evaluation.survival.kaplan_meier import _ij_variance_dense, curve_steps, ij_variance

    from evaluation.survival import kaplan_meier as module

    if seed % 2:   # whole clusters a few rows at a time
        monkeypatch.setattr(module, "_IJ_BLOCK_ROWS", 7)
    frame = _random_survival(seed, int(np.random.default_rng(seed).integers(1, 400)), degenerate=seed % 5 == 0)
    for options in ({}, {"entry": "entry"}, {"cluster": "family"}, {"weights": "w", "cluster": "family"},
                    {"entry": "entry", "weights": "w", "cluster": "family"}):
        data = survival_data(frame, "duration", "event", **options)
        steps = curve_steps(data)
        times = np.r_[steps["time"], 0.0, 0.5, 30.25, 1e3]
        fast, dense = ij_variance(data, steps, times), _ij_variance_dense(data, steps, times)
        np.testing.assert_array_equal(fast == 0, dense == 0)
        np.testing.assert_allclose(fast, dense, rtol=1e-12, atol=0)


def test_one_pass_ij_variance_gives_the_r_fits_standard_errors(children):
    """The IJ standard errors checked against R above come from the one-pass variance; on the R
    fixture's data they equal the dense rows x times sum to 1e-12 relative."""
    from evaluation.survival import kaplan_meier as module

    for options in ({"cluster": "family_id"}, {"entry": "entry", "weights": "ipw", "cluster": "family_id"}):
        fit = module.kaplan_meier(children, "duration", "event", **options)
        steps = module.curve_steps(fit.data)
        dense = np.sqrt(module._ij_variance_dense(fit.data, steps, fit.table["time"].to_numpy()))
        np.testing.assert_allclose(fit.table["std_err"].to_numpy(), dense, rtol=1e-12, atol=0)
