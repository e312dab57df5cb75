"""Inverse probability of cohort weighting (IPW) and covariate balance.

Pre- and post-FSP cohorts differ in who was referred (e.g. the mix of parental
risk factors changed). :func:`cohort_weights` models the probability of being
in the comparison cohort given baseline covariates (logistic regression,
statsmodels GLM) and returns average-treatment-effect weights: 1/p for the
comparison cohort and 1/(1-p) for the reference cohort, optionally stabilised
by the marginal cohort shares so that they average about 1 in each cohort.

Use the weights in :func:`evaluation.survival.cox.cox_ph` with the family as
cluster: the robust sandwich variance is then what R reports for
``coxph(..., weights = w, cluster = family)`` (it ignores the estimation of the
propensity model, which is conservative for the ATE).

:func:`balance_table` reports standardised mean differences before and after
weighting; |SMD| > 0.1 is the usual flag for imbalance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning

from evaluation.errors import NotEstimable, estimable

#: |standardised mean difference| above which a covariate counts as imbalanced.
SMD_THRESHOLD = 0.1
#: A propensity this close to 0 or 1 means the covariates separate the cohorts (no overlap).
SEPARATION_LIMIT = 1e-8


@dataclass(frozen=True)
class CohortWeights:
    """Weights and propensities for the rows of the two cohorts (index as the input frame)."""

    weights: pd.Series
    propensity: pd.Series
    in_comparison: pd.Series
    model: object  # statsmodels GLMResults of the propensity model
    stabilised: bool

    def effective_sample_size(self) -> pd.Series:
        """Kish effective sample size per cohort, (sum w)^2 / sum w^2."""
        w = self.weights
        groups = self.in_comparison.map({True: "comparison", False: "reference"})
        return w.groupby(groups).apply(lambda v: v.sum() ** 2 / (v**2).sum())


def _two_cohorts(df: pd.DataFrame, cohort_col: str, reference: str, comparison: str) -> pd.DataFrame:
    """The rows of the two cohorts: ``df`` itself (read, never written) when it holds no others, so
    that a design of many columns is not copied."""
    keep = df[cohort_col].isin([reference, comparison]).to_numpy()
    data = df if keep.all() else df[keep]
    for level in (reference, comparison):
        if not (data[cohort_col] == level).any():
            raise NotEstimable(f"no rows with {cohort_col} == {level!r}")
    return data


def cohort_weights(
    df: pd.DataFrame,
    cohort_col: str,
    covariates: Sequence[str],
    reference: str = "pre_fsp",
    comparison: str = "post_fsp",
    stabilised: bool = True,
) -> CohortWeights:
    """Propensity of the comparison cohort (logit on ``covariates``) and ATE weights.

    Rows in other cohorts are not used. Covariates must be numeric (see
    :func:`evaluation.survival.cox.dummy_columns` for categorical ones).
    """
    data = _two_cohorts(df, cohort_col, reference, comparison)
    covariates = list(covariates)
    if data[covariates].isna().any().any():
        raise ValueError("missing values in propensity covariates: impute or drop them first")
    treated = (data[cohort_col] == comparison).to_numpy()
    design = sm.add_constant(data[covariates].to_numpy(dtype=float), has_constant="add")
    with warnings.catch_warnings(), estimable(PerfectSeparationError):
        warnings.simplefilter("ignore", PerfectSeparationWarning)  # checked below, with a clearer message
        model = sm.GLM(treated.astype(float), design, family=sm.families.Binomial()).fit()
    p = np.asarray(model.fittedvalues, dtype=float)
    if np.any((p < SEPARATION_LIMIT) | (p > 1 - SEPARATION_LIMIT)):
        raise NotEstimable("propensity of 0 or 1: the cohorts are separated by the covariates (no overlap)")
    if stabilised:
        share = treated.mean()
        w = np.where(treated, share / p, (1 - share) / (1 - p))
    else:
        w = np.where(treated, 1 / p, 1 / (1 - p))
    index = data.index
    return CohortWeights(
        weights=pd.Series(w, index=index, name="ipw"),
        propensity=pd.Series(p, index=index, name="propensity"),
        in_comparison=pd.Series(treated, index=index, name="in_comparison"),
        model=model,
        stabilised=stabilised,
    )


def _weighted_mean(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * x) / np.sum(w))


def balance_table(
    df: pd.DataFrame,
    cohort_col: str,
    covariates: Sequence[str],
    weights: pd.Series | np.ndarray | str | None = None,
    reference: str = "pre_fsp",
    comparison: str = "post_fsp",
    threshold: float = SMD_THRESHOLD,
) -> pd.DataFrame:
    """Means and standardised mean differences (comparison − reference) before and after weighting.

    The SMD denominator is the unweighted pooled SD, sqrt((s²_comparison + s²_reference)/2),
    the same before and after, so the change reflects the means only.
    """
    data = _two_cohorts(df, cohort_col, reference, comparison)
    treated = (data[cohort_col] == comparison).to_numpy()
    if weights is None:
        w = None
    elif isinstance(weights, str):
        w = data[weights].to_numpy(dtype=float)
    elif isinstance(weights, pd.Series):
        w = weights.reindex(data.index).to_numpy(dtype=float)
    else:
        w = np.asarray(weights, dtype=float)
    if w is not None and (w.size != len(data) or np.isnan(w).any()):
        raise ValueError("weights must cover every row of the two cohorts")
    rows = []
    for name in covariates:
        x = data[name].to_numpy(dtype=float)
        x1, x0 = x[treated], x[~treated]
        sd = np.sqrt((x1.var(ddof=1) + x0.var(ddof=1)) / 2)
        row = {
            "variable": name,
            "mean_reference": x0.mean(),
            "mean_comparison": x1.mean(),
            "smd_before": (x1.mean() - x0.mean()) / sd if sd > 0 else np.nan,
        }
        if w is not None:
            m1, m0 = _weighted_mean(x1, w[treated]), _weighted_mean(x0, w[~treated])
            row.update(
                {
                    "weighted_mean_reference": m0,
                    "weighted_mean_comparison": m1,
                    "smd_after": (m1 - m0) / sd if sd > 0 else np.nan,
                }
            )
        rows.append(row)
    columns = ["variable", "mean_reference", "mean_comparison", "smd_before"]
    if w is not None:
        columns += ["weighted_mean_reference", "weighted_mean_comparison", "smd_after"]
    table = pd.DataFrame(rows, columns=columns)  # no covariates: an empty table, same columns
    table["imbalanced_before"] = table["smd_before"].abs() > threshold
    if w is not None:
        table["imbalanced_after"] = table["smd_after"].abs() > threshold
    return table
