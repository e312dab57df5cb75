"""Differential impact: does the programme's effect differ by risk-factor combination?

One Cox model with a cohort × combination interaction (family-clustered robust
variance) gives the comparison-vs-reference hazard ratio *within* each
combination of parental risk factors (domestic abuse, mental health, substance
misuse: eight combinations) as a linear contrast of coefficients, a Wald test
that the effect is the same in all combinations, and Holm-adjusted p-values
across the combinations. As R:

    fit <- coxph(Surv(entry, duration, event) ~ post * comb + age, cluster = family)
    L %*% coef(fit);  L %*% vcov(fit) %*% t(L)

A combination with fewer than ``min_events`` events in either cohort cannot
carry its own effect: it is reported as not estimable and left out of the
model (its children would otherwise make the likelihood monotone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.errors import estimable
from evaluation.results import tidy
from evaluation.survival.cox import CoxResult, cox_ph


@dataclass(frozen=True)
class DifferentialImpact:
    """Per-combination contrasts (``table``), the heterogeneity test and the underlying fit.

    ``table`` columns: combination, log_hr, se, hr, ci_lower, ci_upper, z, p, p_holm,
    events_reference, events_comparison, n, estimable, reason.
    """

    table: pd.DataFrame
    heterogeneity_chisq: float
    heterogeneity_df: int
    heterogeneity_p: float
    fit: CoxResult | None
    reference: str
    comparison: str

    @property
    def contrast(self) -> str:
        return f"{self.comparison} vs {self.reference}"

    def tidy(self, outcome: str, analysis: str = "cox_differential") -> pd.DataFrame:
        """Hazard ratio per combination (p_value Holm-adjusted) plus a heterogeneity row."""
        method = "Cox cohort x combination interaction"
        if self.fit is not None:
            method = f"{self.fit.method()}, cohort x combination interaction"
        n_tests = int(self.table.estimable.sum())
        rows = []
        for row in self.table.itertuples():
            rows.append(
                {
                    "outcome": outcome,
                    "analysis": analysis,
                    "contrast": self.contrast,
                    "combination": row.combination,
                    "term": "hazard ratio",
                    "estimate": row.hr,
                    "ci_lower": row.ci_lower,
                    "ci_upper": row.ci_upper,
                    "se": row.se,
                    "statistic": row.z,
                    "p_value": row.p_holm,
                    "n": row.n,
                    "events": row.events_reference + row.events_comparison,
                    "method": f"{method}; Holm-adjusted over {n_tests} combinations"
                    if row.estimable
                    else f"not estimable: {row.reason}",
                }
            )
        rows.append(
            {
                "outcome": outcome,
                "analysis": analysis,
                "contrast": self.contrast,
                "combination": "all",
                "term": "heterogeneity across combinations",
                "statistic": self.heterogeneity_chisq,
                "p_value": self.heterogeneity_p,
                "n": int(self.table.n.sum()),
                "events": int((self.table.events_reference + self.table.events_comparison).sum()),
                "method": f"Wald chi-square, {self.heterogeneity_df} df, {method}",
            }
        )
        return tidy(rows)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (as R ``p.adjust(p, "holm")``)."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    # statsmodels' multipletests(p, method="holm")[1], step for step (it also runs gc.collect(),
    # a quarter of a second on a loaded interpreter, for nothing)
    order = np.argsort(p)
    adjusted = np.maximum.accumulate(p[order] * np.arange(p.size, 0, -1))
    adjusted[adjusted > 1] = 1
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out


@estimable()  # a singular matrix on these data: NotEstimable, in our words
def differential_impact(
    df: pd.DataFrame,
    duration: str,
    event: str,
    cohort_col: str,
    combination_col: str,
    reference: str = "pre_fsp",
    comparison: str = "post_fsp",
    covariates: Sequence[str] = (),
    entry: str | None = None,
    strata: str | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    ties: str = "efron",
    min_events: int = 5,
    combinations: Sequence[str] | None = None,
    level: float = 0.95,
) -> DifferentialImpact:
    """Comparison-vs-reference hazard ratio within each combination, from one interaction model.

    ``combinations`` fixes the order of the combinations (the first estimable one is
    the baseline of the combination main effects; contrasts do not depend on it).
    Rows in other cohorts (e.g. "transition") are not used.
    """
    data = df[df[cohort_col].isin([reference, comparison])]
    if combinations is None:
        combinations = sorted(data[combination_col].dropna().unique(), key=str)
    combinations = list(combinations)
    is_comparison = (data[cohort_col] == comparison).to_numpy()
    events = data[event].to_numpy() == 1
    combo = data[combination_col].to_numpy()

    rows = []
    for c in combinations:
        in_c = combo == c
        ev_ref = int(np.sum(events & in_c & ~is_comparison))
        ev_cmp = int(np.sum(events & in_c & is_comparison))
        reason = None
        if min(ev_ref, ev_cmp) < min_events:
            reason = f"fewer than {min_events} events in a cohort ({reference}: {ev_ref}, {comparison}: {ev_cmp})"
        rows.append(
            {"combination": c, "events_reference": ev_ref, "events_comparison": ev_cmp,
             "n": int(in_c.sum()), "reason": reason}
        )
    table = pd.DataFrame(rows)
    usable = [r["combination"] for r in rows if r["reason"] is None]
    for col in ("log_hr", "se", "hr", "ci_lower", "ci_upper", "z", "p", "p_holm"):
        table[col] = np.nan
    if not usable:
        table["estimable"] = False
        return DifferentialImpact(table, np.nan, 0, np.nan, None, reference, comparison)

    model = data[data[combination_col].isin(usable)].copy()
    post_name = f"{cohort_col}[{comparison}]"
    model[post_name] = (model[cohort_col] == comparison).astype(float)
    base = usable[0]
    main_names, inter_names = [], []
    for c in usable[1:]:
        name = f"{combination_col}[{c}]"
        model[name] = (model[combination_col] == c).astype(float)
        model[f"{post_name}:{name}"] = model[post_name] * model[name]
        main_names.append(name)
        inter_names.append(f"{post_name}:{name}")
    terms = [post_name, *main_names, *inter_names, *covariates]
    fit = cox_ph(model, duration, event, terms, entry=entry, strata=strata, cluster=cluster,
                 weights=weights, ties=ties)

    coef = fit.coef
    var = fit.var
    index = {name: k for k, name in enumerate(terms)}
    contrast = np.zeros((len(usable), len(terms)))
    contrast[:, index[post_name]] = 1.0
    for i, c in enumerate(usable[1:], start=1):
        contrast[i, index[f"{post_name}:{combination_col}[{c}]"]] = 1.0
    # a contrast involving a not-estimable coefficient is itself not estimable
    bad_term = {name for name in fit.not_estimable}
    ok = np.array([not any(terms[k] in bad_term for k in np.flatnonzero(row)) for row in contrast])
    c_coef = np.where(np.isnan(coef), 0.0, coef)
    c_var = np.where(np.isnan(var), 0.0, var)
    est = contrast @ c_coef
    se = np.sqrt(np.einsum("ij,jk,ik->i", contrast, c_var, contrast))
    z_crit = stats.norm.ppf(0.5 + level / 2)
    z = est / se
    p = 2 * stats.norm.sf(np.abs(z))
    est[~ok] = se[~ok] = z[~ok] = p[~ok] = np.nan
    p_holm = np.full(len(usable), np.nan)
    p_holm[ok] = holm(p[ok])

    pos = {c: i for i, c in enumerate(table.combination)}
    for i, c in enumerate(usable):
        j = pos[c]
        if not ok[i]:
            table.loc[j, "reason"] = "interaction coefficient not estimable (monotone likelihood)"
            continue
        table.loc[j, ["log_hr", "se", "z", "p", "p_holm"]] = [est[i], se[i], z[i], p[i], p_holm[i]]
        table.loc[j, ["hr", "ci_lower", "ci_upper"]] = np.exp([est[i], est[i] - z_crit * se[i], est[i] + z_crit * se[i]])
    table["estimable"] = table["reason"].isna()

    inter_idx = [index[name] for name in inter_names if name not in bad_term]
    if inter_idx:
        b = coef[inter_idx]
        v = var[np.ix_(inter_idx, inter_idx)]
        het = float(b @ np.linalg.solve(v, b))
        het_df = len(inter_idx)
        het_p = float(stats.chi2.sf(het, het_df))
    else:
        het, het_df, het_p = np.nan, 0, np.nan
    columns = ["combination", "log_hr", "se", "hr", "ci_lower", "ci_upper", "z", "p", "p_holm",
               "events_reference", "events_comparison", "n", "estimable", "reason"]
    return DifferentialImpact(table[columns], het, het_df, het_p, fit, reference, comparison)
