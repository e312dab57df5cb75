"""Expected days in each state adjusted for who was referred: IPW and doubly robust, post vs pre.

The cohorts differ in who was referred, so the Aalen–Johansen restricted mean days in each
state (:mod:`evaluation.survival.multistate`) are also estimated with each entry's baseline
covariates (one row per entry, ``id`` as in the intervals), in two ways:

* **IPW** (``multistate_aalen_johansen_ipw``): every interval of an entry carries the entry's
  stabilised inverse-probability-of-cohort weight (logistic propensity of the comparison
  cohort; ``share / e`` or ``(1 - share) / (1 - e)``); the weighted Aalen–Johansen occupation
  curves integrated to τ, per cohort and comparison − reference. R:
  ``survfit(Surv(tstart, tstop, state) ~ group, id = id, weights = w)``, ``pstate`` integrated
  to τ (tests/reference/adjusted_states/).
* **Doubly robust** (``multistate_aalen_johansen_aipw``): each entry's pseudo-observation of its
  days in each state within τ — the cohort's restricted mean plus ``n`` times the entry's
  infinitesimal-jackknife influence, within its cohort (R ``pseudo(fit, times = tau, type =
  "sojourn")``) — in the augmented IPW estimator of :func:`evaluation.survival.doubly_robust.aipw_terms`
  (the same propensity, a linear outcome model per cohort): consistent if either model is right,
  under censoring independent of the covariates within a cohort (the pseudo-observations'
  condition; Andersen & Perme 2010).

Confidence limits: percentiles of a family bootstrap, each resample the families' draw counts
used as frequency weights on the one table, the propensity model refitted on each (so the
weights' estimation is in the interval). IPW recomputes the weighted Aalen–Johansen on every
resample (one column of weights per entry: :func:`evaluation.survival.multistate._bootstrap_one`);
the doubly robust estimator refits its propensity and outcome models on every resample but holds
each entry's pseudo-observations at their full-sample values (they are the estimator's
linearisation, so the variance is right to first order; recomputing them would be an
Aalen–Johansen influence pass per resample). Its ``se`` is the family-clustered
influence-function SE of the augmented terms, the bootstrap SD for IPW.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from evaluation.errors import NotEstimable
from evaluation.results import tidy
from evaluation.survival.doubly_robust import (
    SEPARATION_LIMIT, Patterns, aipw_terms, bootstrap_limits, clustered_se, family_draws,
    logistic_coefficients,
)
from evaluation.survival.multistate import _all_states, _bootstrap_one, _counts, _design, state_occupation

IPW_ANALYSIS = "multistate_aalen_johansen_ipw"
AIPW_ANALYSIS = "multistate_aalen_johansen_aipw"
#: Replicates computed at once by the IPW bootstrap (bounds the replicates × entries weights in memory).
CHUNK = 50


@dataclass(frozen=True)
class AdjustedDays:
    """The tidy rows of both estimators and, per (tau, state), the pooled SD of the entries' restricted
    days in the state (from the pseudo-observations: at least the SD of the days themselves under
    censoring), which turns a difference into a standardised one (E-values)."""

    table: pd.DataFrame
    restricted_sd: dict
    #: each entry's stabilised inverse-probability-of-cohort weight (index: the entries' ids)
    weights: pd.Series


def state_pseudo_observations(intervals: pd.DataFrame, taus: Sequence[float], states: Sequence[str],
                              initial_state: str = "referral") -> tuple[np.ndarray, np.ndarray]:
    """Each entry's pseudo-observations of restricted days in each state (entries × taus × states),
    ``rmean + n * influence`` from one Aalen–Johansen fit of ``intervals``, and the entries' ids
    (sorted, as the fit codes them)."""
    fit = state_occupation(intervals, states, initial_state, taus=tuple(float(t) for t in taus))
    out = np.stack([fit.rmean[float(t)] + fit.n * fit.rmean_influence[float(t)] for t in taus], axis=1)
    return fit.units, out


def _propensity(patterns: Patterns, treated: np.ndarray, freq: np.ndarray, start: np.ndarray | None) -> np.ndarray:
    beta = logistic_coefficients(patterns, treated.astype(float), freq, start)
    e = (1 / (1 + np.exp(-(patterns.distinct @ beta))))[patterns.code]
    used = freq > 0
    if np.any((e[used] < SEPARATION_LIMIT) | (e[used] > 1 - SEPARATION_LIMIT)):
        raise NotEstimable("propensity of 0 or 1: the cohorts are separated by the covariates")
    return e


def stabilised_weights(e: np.ndarray, treated: np.ndarray, freq: np.ndarray | None = None) -> np.ndarray:
    """``share / e`` for the comparison cohort, ``(1 - share) / (1 - e)`` for the reference (``share``
    its (frequency-weighted) proportion), as :func:`evaluation.survival.weighting.cohort_weights`."""
    f = np.ones(len(e)) if freq is None else freq
    share = float(f @ treated) / float(f.sum())
    return np.where(treated, share / e, (1 - share) / (1 - e))


def adjusted_expected_days(
    intervals: pd.DataFrame,
    entries: pd.DataFrame,
    covariates: Sequence[str],
    *,
    taus: Sequence[float] = (365, 730),
    reference: str = "pre_fsp",
    comparison: str = "post_fsp",
    states: Sequence[str] | None = None,
    initial_state: str = "referral",
    n_boot: int = 200,
    seed: int = 20201101,
    level: float = 0.95,
    combination: str = "all",
    method_note: str = "",
) -> AdjustedDays:
    """IPW and doubly robust expected days in each state within each τ (see the module docstring).

    ``intervals``: the multi-state intervals (``id``, ``cluster`` = family, ``group`` = cohort, ...);
    ``entries``: one row per ``id`` of the two cohorts with the numeric ``covariates`` (every entry
    of the intervals in those cohorts must have one). ``method_note`` is appended to each row's method.
    """
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1: the limits are bootstrap percentiles")
    taus = tuple(float(t) for t in taus)
    data = intervals[intervals["group"].isin([reference, comparison]).to_numpy()]
    data = data.assign(id=data["id"].astype(str)).reset_index(drop=True)
    if not {reference, comparison} <= set(data["group"]):
        raise NotEstimable(f"needs journeys in both {reference} and {comparison}")
    states = tuple(states) if states is not None else _all_states(intervals, initial_state)
    first = data.groupby("id", sort=True)[["cluster", "group"]].first()   # entries, sorted by id
    found = entries.assign(id=entries["id"].astype(str)).drop_duplicates("id").set_index("id")
    missing = first.index.difference(found.index)
    if len(missing):
        raise ValueError(f"{len(missing)} entries of the intervals have no covariates (first {missing[0]!r})")
    x = found.loc[first.index, list(covariates)].to_numpy(dtype=float)
    if np.isnan(x).any():
        raise ValueError("missing values in the covariates")
    treated = (first["group"] == comparison).to_numpy()
    patterns = Patterns.of(np.column_stack([np.ones(len(x)), x]))
    families, family = np.unique(first["cluster"].astype(str).to_numpy(), return_inverse=True)
    ones = np.ones(len(x))
    start = logistic_coefficients(patterns, treated.astype(float))
    e = _propensity(patterns, treated, ones, start)
    draws = family_draws(len(families), n_boot, seed)[:, family].astype(float)   # B × entries

    # IPW: the weighted Aalen–Johansen per cohort, on the full sample and each resample
    position = pd.Series(np.arange(len(first)), index=first.index)
    designs = {}
    for group in (reference, comparison):
        part = data[(data["group"] == group).to_numpy()]
        design = _design(part, states, initial_state)
        designs[group] = (design, position.reindex(design.people).to_numpy())
    point = _weighted_days(designs, stabilised_weights(e, treated)[None, :], taus)
    replicates = {group: [] for group in designs}
    for lo in range(0, n_boot, CHUNK):
        block = []
        for freq in draws[lo:lo + CHUNK]:
            try:
                block.append(freq * stabilised_weights(_propensity(patterns, treated, freq, start), treated, freq))
            except (NotEstimable, np.linalg.LinAlgError):
                block.append(np.full(len(x), np.nan))      # counted as not fitted below
        for group, days in _weighted_days(designs, np.array(block), taus).items():
            replicates[group].append(days)
    boot = {group: np.concatenate(parts) for group, parts in replicates.items()}
    counts = _counts(data, states, taus)
    rows = []
    ipw_method = ("Aalen–Johansen restricted mean days in state, weighted by inverse probability of cohort "
                  "(stabilised, logistic propensity); family bootstrap percentile CI ({used} resamples, "
                  "propensity refitted on each)" + method_note)
    for group in (reference, comparison):
        reps = boot[group].reshape(n_boot, -1)
        lower, upper, used = bootstrap_limits(reps, n_boot, level)
        sd = _sd(reps)
        for j, (tau, state) in enumerate(_cells(taus, states)):
            rows.append(_row(IPW_ANALYSIS, state, group, None, combination, tau, point[group][0].ravel()[j],
                             lower[j], upper[j], sd[j], counts[tau].get((group, state), 0),
                             counts[tau][(group, None)], ipw_method.format(used=used)))
    diff = (boot[comparison] - boot[reference]).reshape(n_boot, -1)
    lower, upper, used = bootstrap_limits(diff, n_boot, level)
    sd = _sd(diff)
    estimate = (point[comparison][0] - point[reference][0]).ravel()
    contrast = f"{comparison} vs {reference}"
    for j, (tau, state) in enumerate(_cells(taus, states)):
        c = counts[tau]
        rows.append(_row(IPW_ANALYSIS, state, None, contrast, combination, tau, estimate[j], lower[j], upper[j],
                         sd[j], c.get((reference, state), 0) + c.get((comparison, state), 0),
                         c[(reference, None)] + c[(comparison, None)],
                         ipw_method.format(used=used) + "; difference " + contrast))

    # doubly robust: pseudo-observations within each cohort, augmented IPW, models refitted per resample
    y = np.empty((len(x), len(taus) * len(states)))
    for group in (reference, comparison):
        part = data[(data["group"] == group).to_numpy()]
        ids, pseudo = state_pseudo_observations(part, taus, states, initial_state)
        y[position.reindex(ids).to_numpy()] = pseudo.reshape(len(ids), -1)
    estimate, terms = aipw_terms(y, treated, patterns, e)
    se = clustered_se(terms, estimate, family)
    dr = np.full((n_boot, y.shape[1]), np.nan)
    for b, freq in enumerate(draws):
        try:
            dr[b] = aipw_terms(y, treated, patterns, _propensity(patterns, treated, freq, start), freq)[0]
        except (NotEstimable, np.linalg.LinAlgError):
            continue
    lower, upper, used = bootstrap_limits(dr, n_boot, level)
    aipw_method = ("doubly robust (augmented IPW) restricted mean days in state: pseudo-observations per cohort "
                   "(infinitesimal jackknife), logistic propensity, linear outcome model per cohort; "
                   f"family-clustered influence-function SE; family bootstrap percentile CI ({used} resamples, "
                   "propensity and outcome models refitted, pseudo-observations held); difference "
                   f"{contrast}" + method_note)
    for j, (tau, state) in enumerate(_cells(taus, states)):
        c = counts[tau]
        rows.append(_row(AIPW_ANALYSIS, state, None, contrast, combination, tau, estimate[j], lower[j], upper[j],
                         se[j], c.get((reference, state), 0) + c.get((comparison, state), 0),
                         c[(reference, None)] + c[(comparison, None)], aipw_method))
    spread = {}
    for j, (tau, state) in enumerate(_cells(taus, states)):
        variances = [np.var(y[treated == arm, j], ddof=1) for arm in (False, True)]
        spread[(tau, state)] = float(np.sqrt(np.mean(variances)))
    return AdjustedDays(tidy(rows), spread, pd.Series(stabilised_weights(e, treated), index=first.index, name="ipw"))


def _sd(replicates: np.ndarray) -> np.ndarray:
    """Bootstrap SD of each column over the fitted replicates (NaN with fewer than two)."""
    good = replicates[np.isfinite(replicates).all(axis=1)]
    return good.std(axis=0, ddof=1) if len(good) > 1 else np.full(replicates.shape[1], np.nan)


def _cells(taus, states):
    return [(tau, state) for tau in taus for state in states]


def _weighted_days(designs: dict, weights: np.ndarray, taus) -> dict:
    """Restricted mean days (B × taus × states) of each cohort for each row of entry ``weights``."""
    out = {}
    for group, (design, columns) in designs.items():
        w = weights[:, columns]
        bad = ~np.isfinite(w).all(axis=1)
        rmean, _ = _bootstrap_one(design, np.where(bad[:, None], 0.0, w), taus)
        rmean[bad] = np.nan
        out[group] = rmean
    return out


def _row(analysis, state, cohort, contrast, combination, tau, estimate, lower, upper, se, events, n, method):
    return {"outcome": f"days_in_{state}", "analysis": analysis, "cohort": cohort, "contrast": contrast,
            "combination": combination, "term": None, "time": tau, "estimate": float(estimate),
            "ci_lower": float(lower), "ci_upper": float(upper), "se": float(se), "n": n, "events": events,
            "method": method}


__all__ = ["AIPW_ANALYSIS", "IPW_ANALYSIS", "AdjustedDays", "adjusted_expected_days", "stabilised_weights",
           "state_pseudo_observations"]
