"""Competing exits from a protection plan and from care, as result tables.

A child leaves a child protection plan by step-down to a CIN plan, closure,
escalation into care or another route; a period of care by return home,
permanence or another route. :func:`competing_results` runs the estimators of
:mod:`evaluation.survival.competing` and :mod:`evaluation.survival.finegray`
on those outcomes of the analysis dataset (``cause`` is the exit route,
"censored" while open), with the conventions of
:mod:`evaluation.analysis.design`, and returns:

=====================  =====================================================================
``cif``                Aalen–Johansen cumulative incidence of each exit at ``times``: overall,
                       by cohort, by combination, and by cohort × combination (family-clustered
                       IJ SE, log CIs; ``term`` is the exit route)
``cif_curves``         full Aalen–Johansen step tables by outcome × cohort, **internal**, in
                       the layout of ``cumulative_incidence(...).steps`` that the release
                       step's safe curves read: outcome, cohort, time, n_risk, n_censor, then
                       n_event_<route>, cif_<route>, se_<route>, lower_<route>,
                       upper_<route>; the routes of the other outcome are missing (select
                       one outcome and drop all-missing columns first)
``gray_test``          Gray's test of equal CIFs, pre vs post and across the three cohorts
                       (stratified by local authority when there is more than one)
``cause_specific_cox`` cause-specific Cox per route (other routes censored): unadjusted
                       (``cause_specific_cox_unadjusted``) and adjusted
                       (``cause_specific_cox_adjusted``: the study's adjustment set,
                       :func:`~evaluation.analysis.design.study_adjustment`, so the index
                       assessment's flags and primary need only with
                       ``adjust_for_index_assessment``); ``combination`` is "all", the route
                       is in ``method`` and in ``term`` rows as ``<route>: <term>``
``fine_gray``          Fine–Gray subdistribution HR per route (the finegray-weighted Cox model,
                       Breslow ties, fitted by a scan over sorted times without building the
                       expansion, so at any size; robust SE clustered by family), adjusted
                       (``fine_gray_adjusted``: the study's adjustment set with local authorities
                       as indicators, the fit has no strata), same layout
``competing_e_values``  E-value (VanderWeele & Ding 2017) of every cohort hazard ratio above
                       (cause-specific Cox, unadjusted and adjusted, and Fine–Gray), as the
                       survival outcomes' ``e_values``: terms ``"<route>: e_value"`` and
                       ``"<route>: e_value_ci"``, the other keys those of the estimate
=====================  =====================================================================

A CP plan's step-down, and so its "other" exit, can be told apart only once CIN plan
dates are collected (``route_entry`` of the analysis dataset, ``LATE_ROUTES``): the
cumulative incidence, Gray's tests and the models of those routes enter plans there
(delayed entry), so plans that ended before (route ``step_down_or_other``) drop out rather
than count as neither; closure and escalation into care use all follow-up.

All tables but ``cif_curves`` are tidy (:mod:`evaluation.results`); sparse
data give "not estimable" rows, never an exception.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from evaluation.analysis import tables
from evaluation.analysis.design import (
    CAUSE, COHORT, CONTRASTS, DURATION, ENTRY, EVENT, FAMILY, REFERENCE, TERM_CONTRASTS, Adjustment,
    cohort_term, contrast_label, entry_column, outcome_rows, present, strata_column, study_adjustment,
    with_adjustment_terms, with_cohort_terms,
)
from evaluation.analysis.guard import attempt, concat, not_estimable, one_blas_thread
from evaluation.analysis.survival_outcomes import evalue_rows
from evaluation.cohorts.analysis_dataset import LATE_ROUTES
from evaluation.errors import NotEstimable, estimable
from evaluation.study import COHORTS, StudyConfig
from evaluation.survival.competing import REPORT_DAYS, cause_labels, cif_table, cumulative_incidence, gray_test
from evaluation.survival.finegray import cause_specific_cox, fine_gray

#: Outcome -> its exit routes (domain.md §3), in report order.
COMPETING_OUTCOMES: dict[str, tuple[str, ...]] = {
    "time_in_protection": ("step_down", "closure", "escalation_care", "other"),
    "time_in_care": ("return_home", "permanence", "other"),
}
TABLES: tuple[str, ...] = tables.COMPETING_EXITS   # listed there for the assets
#: Leading columns of ``cif_curves``; then ``n_event_<route>, cif_<route>, se_<route>,
#: lower_<route>, upper_<route>`` for every route (missing for routes of the other outcome).
CURVE_COLUMNS: tuple[str, ...] = ("outcome", "cohort", "time", "n_risk", "n_censor")
#: A Fine–Gray log HR beyond this (HR above ~22000) is a diverging fit, not an estimate.
DIVERGED_LOG_HR = 10.0
# Fine–Gray is fitted by the scan of evaluation.survival.finegray_scan: O(n) memory, no
# finegray expansion (which grew as competing exits × event days and used to be capped at
# 1.5M rows here); benchmarks/finegray_scale.py fits 1M children in seconds.


@one_blas_thread
def competing_results(
    analysis: pd.DataFrame,
    config: StudyConfig,
    *,
    outcomes: Mapping[str, Sequence[str]] = COMPETING_OUTCOMES,
    times: Sequence[float] = REPORT_DAYS,
) -> dict[str, pd.DataFrame]:
    """Cumulative incidence, Gray's tests, cause-specific Cox and Fine–Gray per exit route."""
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    for outcome, causes in outcomes.items():
        df = outcome_rows(analysis, outcome)
        if len(df) == 0:
            for name, analysis_name in (("cif", "cumulative_incidence"), ("gray_test", "gray_test"),
                                        ("cause_specific_cox", "cause_specific_cox_adjusted"),
                                        ("fine_gray", "fine_gray_adjusted"), ("competing_e_values", "e_value")):
                parts[name].append(not_estimable("no rows for this outcome", outcome=outcome,
                                                 analysis=analysis_name))
            continue
        df[CAUSE] = df[CAUSE].where(df[EVENT] == 1, "censored")
        late = LATE_ROUTES.get(outcome, ())
        routed = from_route_entry(df, config.same_day_days) if late else df
        parts["cif"].append(_cif(routed, outcome, times))
        parts["cif_curves"].append(_curves(routed, outcome))
        parts["gray_test"].append(_gray(routed, outcome))
        for cause in causes:
            rows = routed if cause in late else df
            parts["cause_specific_cox"].append(_cause_specific(rows, outcome, cause, config))
            parts["fine_gray"].append(_fine_gray(rows, outcome, cause, config))
            models = concat([parts["cause_specific_cox"][-1], parts["fine_gray"][-1]])
            parts["competing_e_values"].append(evalue_rows(models, models.iloc[:0], None, ""))
    out = {name: concat(frames) for name, frames in parts.items() if name != "cif_curves"}
    curves = [c for c in parts["cif_curves"] if len(c)]
    out["cif_curves"] = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    return {name: out[name] for name in TABLES}


def from_route_entry(df: pd.DataFrame, same_day_days: float) -> pd.DataFrame:
    """The rows at risk once their exit routes can be told apart: ``entry`` moved to
    ``route_entry``, rows ended before then dropped, one ending that day given ``same_day_days``."""
    if "route_entry" not in df.columns or not (df["route_entry"] > df[ENTRY]).any():
        return df
    out = df[df[DURATION] >= df["route_entry"]].copy()
    out[ENTRY] = out["route_entry"]
    same_day = out[DURATION] == out[ENTRY]
    out.loc[same_day, DURATION] = out.loc[same_day, ENTRY] + same_day_days
    return out.reset_index(drop=True)


def _cif(df, outcome, times) -> pd.DataFrame:
    entry = entry_column(df)
    keys = dict(outcome=outcome, analysis="cumulative_incidence")
    if not cause_labels(df[CAUSE]):
        return not_estimable("no exits observed", **keys)
    by_cohort = attempt(lambda: cif_table(df, DURATION, CAUSE, entry=entry, cluster=FAMILY, cohort=COHORT,
                                          combination="combination", times=times, outcome=outcome), **keys)
    by_combination = attempt(lambda: cif_table(df, DURATION, CAUSE, entry=entry, cluster=FAMILY,
                                               combination="combination", times=times, outcome=outcome), **keys)
    if "combination" in by_combination:  # its overall rows repeat the first table's
        by_combination = by_combination[(by_combination["combination"] != "all").to_numpy()]
    absent = [not_estimable(f"no children in cohort {c} for this outcome", cohort=c, combination="all", **keys)
              for c in COHORTS if c not in present(df[COHORT])]
    return concat([by_cohort, by_combination, *absent])


def _curves(df, outcome) -> pd.DataFrame:
    """Aalen–Johansen step tables per cohort in the estimator's own (wide) layout."""
    labels = cause_labels(df[CAUSE])
    if not labels:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    entry = entry_column(df)
    frames = []
    for cohort, part in df.groupby(COHORT, sort=True):
        try:
            fit = cumulative_incidence(part, DURATION, CAUSE, entry=entry, cluster=FAMILY, causes=labels)
        except NotEstimable:
            continue  # reported in the cif table
        frames.append(fit.steps.assign(outcome=outcome, cohort=cohort))
    if not frames:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    steps = pd.concat(frames, ignore_index=True)
    return steps[list(CURVE_COLUMNS) + [c for c in steps.columns if c not in CURVE_COLUMNS]]


def _gray(df, outcome) -> pd.DataFrame:
    tables = []
    strata = strata_column(df)
    for groups in ([REFERENCE, "post_fsp"], list(COHORTS)):
        label = contrast_label("post_fsp") if len(groups) == 2 else " vs ".join(groups)
        keys = dict(outcome=outcome, analysis="gray_test", contrast=label)
        rows = df[df[COHORT].isin(groups)]
        missing = [g for g in groups if g not in present(rows[COHORT], groups)]
        if missing:
            tables.append(not_estimable(f"no children in cohort {', '.join(missing)}", **keys))
            continue

        def test(rows=rows, label=label):
            table = gray_test(rows, DURATION, CAUSE, COHORT, strata=strata, outcome=outcome)
            table["contrast"] = label
            table["method"] = table["method"] + (", delayed entry ignored" if entry_column(rows) else "")
            return table

        tables.append(attempt(test, **keys))
    return concat(tables)


def _cohort_terms(df):
    """Cohort terms of the cohorts present (reference required), plus rows for the absent ones."""
    frame, names = with_cohort_terms(df)
    have = present(df[COHORT])
    if REFERENCE not in have:
        return frame, [], [f"no children in the reference cohort {REFERENCE}"]
    kept = [name for (comparison, _), name in zip(CONTRASTS, names) if comparison in have]
    missing = [f"no children in cohort {comparison}" for comparison, _ in CONTRASTS if comparison not in have]
    return frame, kept, missing


def _label(table: pd.DataFrame, cause: str) -> pd.DataFrame:
    table["contrast"] = table["term"].map(TERM_CONTRASTS)
    table["term"] = cause + ": " + table["term"].astype(str)
    return table


def _cause_specific(df, outcome, cause, config) -> pd.DataFrame:
    frame, cohort_terms, missing = _cohort_terms(df)
    event = ((df[CAUSE] == cause) & (df[EVENT] == 1)).to_numpy(dtype=int)
    tables = []
    for model in ("unadjusted", "adjusted"):
        analysis = f"cause_specific_cox_{model}"
        keys = dict(outcome=outcome, analysis=analysis, term=f"{cause}: {cohort_term(CONTRASTS[0][0])}")
        tables += [not_estimable(reason, **keys) for reason in missing]
        if not cohort_terms:
            continue
        if not event.any():
            tables.append(not_estimable(f"no exits by {cause}", **keys))
            continue
        design, terms = frame, list(cohort_terms)
        if model == "adjusted":
            # baseline means before time zero: the index assessment's flags only if the design says so
            design, adjustment = with_adjustment_terms(frame, event=event, adjustment=study_adjustment(config))
            terms += adjustment

        def fit(design=design, terms=terms, analysis=analysis):
            result = cause_specific_cox(design, DURATION, CAUSE, cause, terms, entry=entry_column(df),
                                        strata=strata_column(df), cluster=FAMILY, ties="efron")
            table = result.tidy(outcome, analysis=analysis)
            table["method"] = table["method"].str.replace(
                "Cox,", f"cause-specific Cox for exit by {cause} (other exits censored),", n=1, regex=False)
            return _label(table, cause)

        tables.append(attempt(fit, **keys))
    return concat(tables)


def _fine_gray(df, outcome, cause, config) -> pd.DataFrame:
    frame, cohort_terms, missing = _cohort_terms(df)
    event = ((df[CAUSE] == cause) & (df[EVENT] == 1)).to_numpy(dtype=int)
    analysis = "fine_gray_adjusted"
    keys = dict(outcome=outcome, analysis=analysis, term=f"{cause}: {cohort_term(CONTRASTS[0][0])}")
    tables = [not_estimable(reason, **keys) for reason in missing]
    if not cohort_terms:
        return concat(tables)
    if not event.any():
        return concat([*tables, not_estimable(f"no exits by {cause}", **keys)])
    # no strata in the Fine-Gray fit: local authorities enter as indicators
    design, extra = with_adjustment_terms(frame, event=event,
                                          adjustment=study_adjustment(config, Adjustment(la_indicators=True)))

    def fit():
        # a non-finite information matrix (pinv's "SVD did not converge") is not estimable; until
        # fine_gray wraps its own linear algebra, only LinAlgError is translated here
        with estimable():
            result = fine_gray(design, DURATION, CAUSE, cause, list(cohort_terms) + extra,
                               entry=entry_column(df), cluster=FAMILY, algorithm="scan")
        table = result.tidy(outcome)
        table["analysis"] = analysis
        log_hr = np.log(table["estimate"])
        diverged = ~np.isfinite(table["se"]) | ~np.isfinite(log_hr) | (log_hr.abs() > DIVERGED_LOG_HR)
        for column in ("estimate", "ci_lower", "ci_upper", "se", "statistic", "p_value"):
            table.loc[diverged, column] = np.nan
        table.loc[diverged, "method"] = ("not estimable: coefficient diverges or was dropped "
                                         "(too few exits in a group, or no variation)")
        return _label(table, cause)

    return concat([*tables, attempt(fit, **keys)])


__all__ = ["COMPETING_OUTCOMES", "CURVE_COLUMNS", "TABLES", "competing_results", "from_route_entry"]
