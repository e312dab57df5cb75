"""Every single-event survival analysis of every outcome, as result tables.

:func:`survival_results` runs the estimators of :mod:`evaluation.survival` on
the analysis dataset (one row per child × outcome) with the conventions of
:mod:`evaluation.analysis.design` — family-clustered standard errors
throughout, delayed entry where any row enters late, strata by local
authority when there is more than one — and returns these tables:

=====================  =====================================================================
``km_estimates``       Kaplan–Meier survival at ``times`` and the median, by outcome × cohort
                       (IJ SE clustered by family, log-log CIs by default)
``km_curves``          full step tables by outcome × cohort, **internal** (exact event times
                       and small risk sets): outcome, cohort, time, n_risk, n_event, n_censor,
                       survival, std_err, lower, upper — for the release step's safe curves
``logrank``            log-rank tests pre vs post and across the three cohorts, unstratified
                       (``analysis="logrank"``) and stratified (``"logrank_by_la_code"``,
                       ``"logrank_by_age_band"``); family-clustered robust score test
``hazard_ratios``      Cox (Efron ties, family-clustered SE, LA strata): ``cox_unadjusted``
                       (cohort terms) and ``cox_adjusted`` (+ the baseline covariates; the
                       index-assessment flags and primary need only with
                       ``adjust_for_index_assessment``, see :func:`~evaluation.analysis.design.study_adjustment`);
                       ``contrast`` names the cohort terms, other terms have none
``ph_tests``           cox.zph per term and GLOBAL beside each model (``<model>_zph``)
``rmst``               RMST at each tau by cohort, post − pre and transition − pre,
                       family-clustered IJ SE
``differential_impact``  post vs pre HR within each of the eight combinations, heterogeneity
                       test, Holm p; sparse combinations "not estimable"
(placebo)              ``hazard_ratios`` also holds ``cox_placebo``: the adjusted Cox HR of
                       pre-FSP entries in the study's second year against its first, two
                       groups under the same practice (a non-null estimate flags confounding by
                       calendar time); ``rmst`` the same contrast as ``rmst_placebo``
``weighted``           IPW (propensity of post vs pre from the adjustment covariates less
                       ``lockdown_period``, LA indicators, fitted per outcome): weighted KM
                       (``kaplan_meier_ipw``), weighted Cox (``cox_ipw``, robust SE), RMST
                       per cohort and post − pre (``rmst_ipw``, family-clustered IJ SE), the
                       doubly robust (augmented IPW) RMST difference (``rmst_aipw``, pseudo-
                       observations; family-clustered influence-function SE, family-bootstrap
                       percentile CI from ``n_boot`` resamples, 200 by default), Kish
                       effective sample size per cohort. When the pre-FSP rows are censored at
                       go-live (the primary design) the weights are multiplied by inverse
                       probability of censoring weights for that planned censoring
                       (:mod:`evaluation.survival.censoring_weights`, a Cox model of the
                       go-live day on the same covariates, pieces of ``IPCW_GRID_DAYS``)
``e_values``           E-value (VanderWeele & Ding 2017) of every cohort hazard ratio (Cox
                       unadjusted / adjusted / IPW / placebo, differential impact) and RMST
                       difference (plain and IPW): ``term`` "e_value" (point estimate) and
                       "e_value_ci" (the confidence limit nearer the null); ``analysis``, ``contrast``,
                       ``combination``, ``time``, ``n``, ``events`` those of the estimate. An HR is
                       read as a risk ratio when under 15% of its rows had the event, else
                       converted as for a common outcome; an RMST difference through its
                       standardised difference (SD of the restricted time from the two cohorts'
                       Kaplan–Meier curves, pooled)
``factor_prevalence``  segmented Poisson regression of each parental factor's monthly recorded
                       prevalence among entries at go-live (level and slope change;
                       :mod:`evaluation.analysis.factor_prevalence`): the check that the
                       index assessment's flags, which split the differential impact, do not
                       step when the programme changed the assessment service
``balance``            covariate balance before/after weighting per outcome, **not tidy**:
                       outcome, variable, mean_reference, mean_comparison, smd_before,
                       weighted_mean_reference, weighted_mean_comparison, smd_after,
                       imbalanced_before, imbalanced_after
=====================  =====================================================================

All but ``km_curves`` and ``balance`` are tidy (:mod:`evaluation.results`).
Nothing is estimated here: every number is a direct call of an estimator.
Sparse data (a tiny county, an outcome with few events, an absent cohort)
give NaN rows whose ``method`` starts "not estimable:" and says why.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np
import pandas as pd

from evaluation.analysis import tables
from evaluation.analysis.design import (
    CONTRASTS, COHORT, COMBINATION_LABELS, DURATION, EVENT, FAMILY, NUMERIC, REFERENCE, TERM_CONTRASTS,
    Adjustment, contrast_label, entry_column, outcome_rows, present, strata_column, study_adjustment,
    with_adjustment_terms, with_cohort_terms,
)
from evaluation.analysis.factor_prevalence import factor_prevalence_steps
from evaluation.analysis.guard import attempt, concat, not_estimable, one_blas_thread, released_reason
from evaluation.cohorts.analysis_dataset import OUTCOMES
from evaluation.errors import NotEstimable
from evaluation.results import tidy
from evaluation.study import COHORTS, StudyConfig
from evaluation.survival.censoring_weights import START as IPCW_START
from evaluation.survival.censoring_weights import WEIGHT as IPCW
from evaluation.survival.censoring_weights import censoring_weights
from evaluation.survival.cox import cox_ph
from evaluation.survival.differential import differential_impact
from evaluation.survival.doubly_robust import aipw_rmst_difference
from evaluation.survival.evalue import (
    RARE_OUTCOME_SHARE, evalue_hazard_ratio, evalue_mean_difference, restricted_time_sd,
)
from evaluation.survival.kaplan_meier import REPORT_DAYS, kaplan_meier, kaplan_meier_by, kaplan_meier_fits_by
from evaluation.survival.logrank import logrank_test
from evaluation.survival.rmst import DEFAULT_TAUS, rmst_difference
from evaluation.tables import as_dates
from evaluation.survival.weighting import balance_table, cohort_weights
from evaluation.survival.zph import cox_zph

TABLES: tuple[str, ...] = tables.SURVIVAL   # listed there for the assets
#: Columns of the internal ``km_curves`` table.
CURVE_COLUMNS: tuple[str, ...] = ("outcome", "cohort", "time", "n_risk", "n_event", "n_censor", "survival",
                                  "std_err", "lower", "upper")
#: The two Cox models fitted per outcome.
MODELS: tuple[str, ...] = ("cox_unadjusted", "cox_adjusted")
#: Fewer events than this in a cohort of a combination: that combination's HR is not estimable.
MIN_EVENTS = 5
#: Weight column added for the IPW analyses.
IPW = "ipw"
#: Tidy table -> the ``analysis`` label of its "no rows for this outcome" row.
EMPTY_OUTCOME_ANALYSES: dict[str, str] = {
    "km_estimates": "kaplan_meier", "logrank": "logrank", "hazard_ratios": "cox_unadjusted",
    "ph_tests": "cox_unadjusted_zph", "rmst": "rmst", "differential_impact": "cox_differential",
    "weighted": "cox_ipw", "e_values": "e_value"}
#: Propensity covariates: the adjustment set with local authorities as indicators, less
#: ``lockdown_period``, which cannot occur before 2020 (no overlap with pre-FSP: positivity fails).
PROPENSITY = Adjustment(numeric=tuple(c for c in NUMERIC if c != "lockdown_period"), la_indicators=True)
#: Family-bootstrap resamples and seed of the doubly robust RMST difference's percentile CI (its
#: ``se`` stays the family-clustered influence-function SE; 0: normal limits from that SE). Each
#: resample is the families' draw counts as frequency weights on the one table, every model refitted
#: (benchmarks/aipw_bootstrap.py: seconds for every outcome of the default county).
AIPW_BOOTSTRAP = 200
AIPW_SEED = 20201101
#: Rows censored at go-live are split into pieces of this many days for the censoring weights.
IPCW_GRID_DAYS = 30
#: Planned censoring day of a row (+inf when none): the analysis dataset's go-live day.
GO_LIVE_DAY = "go_live_day"


@one_blas_thread
def survival_results(
    analysis: pd.DataFrame,
    config: StudyConfig,
    *,
    outcomes: Sequence[str] | None = None,
    times: Sequence[float] = REPORT_DAYS,
    taus: Sequence[float] = DEFAULT_TAUS,
    conf_type: str = "log-log",
    min_events: int = MIN_EVENTS,
    n_boot: int = AIPW_BOOTSTRAP,
) -> dict[str, pd.DataFrame]:
    """All single-event survival tables for every outcome (see the module docstring).

    ``config`` is the study configuration the dataset was built with (its
    cohort definitions are what ``cohort`` means); ``outcomes`` defaults to
    every outcome present, in :data:`~evaluation.cohorts.analysis_dataset.OUTCOMES` order.
    """
    if outcomes is None:
        outcomes = [o for o in OUTCOMES if o in set(analysis["outcome"].dropna())]
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    propensities: dict = {}   # outcomes on the same children share one propensity fit
    aipw_rows: dict = {}      # ... and the doubly robust bootstrap's draws and propensity refits
    for outcome in outcomes:
        df = _coded_families(outcome_rows(analysis, outcome))
        if len(df) == 0:
            for name, analysis_name in EMPTY_OUTCOME_ANALYSES.items():
                parts[name].append(not_estimable("no rows for this outcome", outcome=outcome,
                                                 analysis=analysis_name))
            continue
        km, curves = _kaplan_meier(df, outcome, times, conf_type)
        parts["km_estimates"].append(km)
        parts["km_curves"].append(curves)
        parts["logrank"].append(_logrank(df, outcome))
        models, tests = _cox_models(df, outcome, config)
        placebo_hr, placebo_rmst = _placebo(df, outcome, taus, config)
        parts["hazard_ratios"].append(concat([models, placebo_hr]))
        parts["ph_tests"].append(tests)
        parts["rmst"].append(concat([_rmst(df, outcome, taus), placebo_rmst]))
        parts["differential_impact"].append(_differential(df, outcome, min_events, config))
        weighted, balance = _weighted(df, outcome, times, conf_type, taus, config, n_boot, propensities,
                                       aipw_rows)
        parts["weighted"].append(weighted)
        parts["e_values"].append(_evalues(df, outcome, [parts["hazard_ratios"][-1], parts["rmst"][-1],
                                                        parts["differential_impact"][-1], weighted]))
        parts["balance"].append(balance)
    out = {name: concat(frames) for name, frames in parts.items() if name not in ("km_curves", "balance")}
    # the index assessment's flags split the differential impact: does their prevalence step at go-live?
    out["factor_prevalence"] = attempt(lambda: factor_prevalence_steps(analysis, config), outcome="all",
                                       analysis="factor_prevalence")
    out["km_curves"] = _stack(parts["km_curves"], CURVE_COLUMNS)
    out["balance"] = _stack(parts["balance"], ("outcome", "variable"))
    return {name: out[name] for name in TABLES}


def _coded_families(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (an outcome's own rows) with ``family_id`` replaced by int64 codes in the order of the
    ids as text: every estimator here reads families only by equality and that order (sorted or
    first-seen codes, :func:`~evaluation.survival.doubly_robust.aipw_rmst_difference` told so), so
    each model gets the same codes without hashing and sorting the text ids again. Ids that are not
    all text are left as they are."""
    if FAMILY in df.columns and len(df) and pd.api.types.infer_dtype(df[FAMILY], skipna=False) == "string":
        df[FAMILY] = pd.factorize(df[FAMILY].to_numpy(), sort=True)[0].astype(np.int64)
    return df


def _stack(frames: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True)


def _absent(df: pd.DataFrame, outcome: str, analysis: str, **keys) -> list[pd.DataFrame]:
    """A not-estimable row for each cohort with no rows in this outcome."""
    have = present(df[COHORT])
    return [not_estimable(f"no children in cohort {c} for this outcome", outcome=outcome, analysis=analysis,
                          cohort=c, **keys) for c in COHORTS if c not in have]


# -- Kaplan–Meier ------------------------------------------------------------------------


def _kaplan_meier(df, outcome, times, conf_type) -> tuple[pd.DataFrame, pd.DataFrame]:
    entry = entry_column(df)
    fits = {}

    def by_cohort():
        table, fitted = kaplan_meier_fits_by(df, DURATION, EVENT, COHORT, times=times, entry=entry,
                                             cluster=FAMILY, conf_type=conf_type, outcome=outcome)
        fits.update(fitted)
        return table

    table = attempt(by_cohort, outcome=outcome, analysis="kaplan_meier")
    curves = []
    for cohort, part in df.groupby(COHORT, sort=True, observed=True):
        if cohort in fits:   # the curve the table was read from
            fit = fits[cohort]
        else:                # the table failed on some cohort: this one's curve on its own
            try:
                fit = kaplan_meier(part, DURATION, EVENT, entry=entry, cluster=FAMILY, conf_type=conf_type)
            except NotEstimable:
                continue  # the same failure is already reported in km_estimates
        curves.append(fit.table.assign(outcome=outcome, cohort=cohort)[list(CURVE_COLUMNS)])
    return concat([table, *_absent(df, outcome, "kaplan_meier")]), _stack(curves, CURVE_COLUMNS)


# -- log-rank ------------------------------------------------------------------------------


def _logrank(df, outcome) -> pd.DataFrame:
    entry = entry_column(df)
    comparisons = [[c for c in (REFERENCE, "post_fsp")], list(COHORTS)]
    stratifications = [None, strata_column(df), "age_band"]
    tables = []
    for groups in comparisons:
        label = contrast_label("post_fsp") if len(groups) == 2 else " vs ".join(groups)
        rows = df[df[COHORT].isin(groups)]
        have = present(rows[COHORT], groups)
        for strata in dict.fromkeys(stratifications):  # drops a repeated None
            analysis = "logrank" if strata is None else f"logrank_by_{strata}"
            keys = dict(outcome=outcome, analysis=analysis, contrast=label, term="chisq")
            if len(have) < len(groups):
                missing = ", ".join(g for g in groups if g not in have)
                tables.append(not_estimable(f"no children in cohort {missing}", **keys))
                continue
            if strata is not None and rows[strata].isna().any():
                tables.append(not_estimable(f"missing {strata}", **keys))
                continue

            def test(rows=rows, strata=strata, analysis=analysis, label=label):
                result = logrank_test(rows, DURATION, EVENT, COHORT, strata=strata, entry=entry, cluster=FAMILY)
                table = result.tidy(outcome=outcome)
                table["analysis"] = analysis
                table["contrast"] = label
                if strata is not None:
                    table["method"] = table["method"].str.replace(", stratified", f", stratified by {strata}",
                                                                  regex=False)
                return table

            tables.append(attempt(test, **keys))
    return concat(tables)


# -- Cox -------------------------------------------------------------------------------------


def _cohort_design(df) -> tuple[pd.DataFrame, list[str], list[tuple[str | None, str]]]:
    """Cohort terms of the cohorts present, and (term, reason) for those that cannot be estimated."""
    frame, names = with_cohort_terms(df)
    have = present(df[COHORT])
    if REFERENCE not in have:
        return frame, [], [(None, f"no children in the reference cohort {REFERENCE}")]
    kept = [name for (comparison, _), name in zip(CONTRASTS, names) if comparison in have]
    missing = [(name, f"no children in cohort {comparison}")
               for (comparison, _), name in zip(CONTRASTS, names) if comparison not in have]
    return frame, kept, missing


def _model_rows(fit, outcome, analysis) -> pd.DataFrame:
    table = fit.tidy(outcome, analysis=analysis)
    table["contrast"] = table["term"].map(TERM_CONTRASTS)
    return table


def _cox_models(df, outcome, config) -> tuple[pd.DataFrame, pd.DataFrame]:
    entry, strata = entry_column(df), strata_column(df)
    frame, cohort_names, missing = _cohort_design(df)
    models, tests = [], []
    for model in MODELS:
        keys = dict(outcome=outcome, analysis=model)
        for name, reason in missing:
            models.append(not_estimable(reason, term=name, contrast=TERM_CONTRASTS.get(name), **keys))
        if not cohort_names:
            continue
        terms = list(cohort_names)
        design = frame
        if model == "cox_adjusted":
            design, adjustment = with_adjustment_terms(frame, adjustment=study_adjustment(config))
            terms += adjustment
        try:
            fit = cox_ph(design, DURATION, EVENT, terms, entry=entry, strata=strata, cluster=FAMILY,
                         ties="efron")
        except NotEstimable as error:
            models.append(not_estimable(released_reason(error), term=cohort_names[0],
                                        contrast=TERM_CONTRASTS[cohort_names[0]], **keys))
            continue
        models.append(_model_rows(fit, outcome, model))
        tests.append(attempt(lambda: cox_zph(fit).tidy(outcome, analysis=f"{model}_zph"),
                             outcome=outcome, analysis=f"{model}_zph", term="GLOBAL"))
    return concat(models), concat(tests)


# -- RMST ------------------------------------------------------------------------------------


def _rmst(df, outcome, taus) -> pd.DataFrame:
    entry = entry_column(df)
    have = present(df[COHORT])
    tables = []
    for comparison, reference in CONTRASTS:
        keys = dict(outcome=outcome, analysis="rmst", contrast=contrast_label(comparison, reference),
                    term="rmst_difference")
        if reference not in have or comparison not in have:
            missing = ", ".join(c for c in (reference, comparison) if c not in have)
            tables.append(not_estimable(f"no children in cohort {missing}", **keys))
            continue
        table = attempt(lambda: rmst_difference(df, DURATION, EVENT, COHORT, tau=taus, reference=reference,
                                                comparison=comparison, entry=entry, cluster=FAMILY,
                                                outcome=outcome), **keys)
        if comparison != "post_fsp" and "cohort" in table:
            table = table[(table["cohort"] != reference).to_numpy()]  # the reference rows come once
        tables.append(table)
    return concat(tables)


# -- differential impact ---------------------------------------------------------------------


def _differential(df, outcome, min_events, config) -> pd.DataFrame:
    keys = dict(outcome=outcome, analysis="cox_differential", contrast=contrast_label("post_fsp"))
    rows = df[df[COHORT].isin([REFERENCE, "post_fsp"])]
    if len(present(rows[COHORT])) < 2:
        return not_estimable("needs children in both pre_fsp and post_fsp", **keys)
    # the combination main effects replace the three flags
    design, adjustment = with_adjustment_terms(
        rows, adjustment=study_adjustment(config, Adjustment(flags=False)))

    def run():
        result = differential_impact(
            design, DURATION, EVENT, COHORT, "combination", reference=REFERENCE, comparison="post_fsp",
            covariates=adjustment, entry=entry_column(rows), strata=strata_column(rows), cluster=FAMILY,
            min_events=min_events, combinations=COMBINATION_LABELS)
        return result.tidy(outcome, analysis="cox_differential")

    return attempt(run, **keys)


# -- inverse probability weighting -----------------------------------------------------------


def _propensity_weights(design: pd.DataFrame, covariates: list[str], fitted: dict):
    """:func:`cohort_weights` of the two cohorts' rows of ``design``, fitted once per distinct input:
    several outcomes (time in need, time to a plan, time to care) have the same children, so the same
    covariates, cohorts and row labels, and the same fit (``fitted`` keeps the last one by its input:
    the covariates' values bit for bit, the cohorts as codes and labels, the row labels)."""
    columns = [design[c].to_numpy(dtype=float) for c in covariates]
    values = (np.column_stack(columns) if columns else np.empty((len(design), 0))).view(np.int64)
    cohorts, labels = pd.factorize(design[COHORT])
    key = (tuple(covariates), tuple(labels))
    arrays = (values, cohorts, design.index.to_numpy())
    same = fitted.get("key") == key and all(
        a.shape == b.shape and np.array_equal(a, b) for a, b in zip(fitted["arrays"], arrays))
    if not same:
        fitted.clear()
        try:
            # the statsmodels model (its design matrix and IRLS results) is not read here: not kept
            fitted["weights"] = replace(cohort_weights(design, COHORT, covariates, reference=REFERENCE,
                                                       comparison="post_fsp"), model=None)
        except NotEstimable as error:
            fitted["error"] = error
        fitted["key"], fitted["arrays"] = key, arrays
    if "error" in fitted:
        raise fitted["error"]
    return fitted["weights"]


def _weighted(df, outcome, times, conf_type, taus, config, n_boot, propensities=None,
              aipw_rows=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    keys = dict(outcome=outcome, analysis="cox_ipw", contrast=contrast_label("post_fsp"),
                term="cohort[post_fsp]")
    rows = df[df[COHORT].isin([REFERENCE, "post_fsp"])].reset_index(drop=True)
    if len(present(rows[COHORT])) < 2:
        return not_estimable("needs children in both pre_fsp and post_fsp", **keys), None
    entry, strata = entry_column(rows), strata_column(rows)
    design, covariates = propensity_design(rows, config)
    try:
        weights = _propensity_weights(design, covariates, {} if propensities is None else propensities)
    except NotEstimable as error:
        reason = released_reason(error)
        full = reason.startswith(("not fitted:", "not estimable:"))
        return not_estimable(reason if full else f"propensity model: {reason}", **keys), None
    design[IPW] = weights.weights
    unsplit = design   # the doubly robust analysis's rows (below, design becomes the pieces or gains a column)
    balance = balance_table(design, COHORT, covariates, weights=weights.weights, reference=REFERENCE,
                            comparison="post_fsp")
    balance.insert(0, "outcome", outcome)

    method = "inverse probability of cohort weights (stabilised, ATE; logistic propensity)"
    planned = GO_LIVE_DAY in design and bool(np.isfinite(design[GO_LIVE_DAY].to_numpy(dtype=float)).any())
    if planned:
        # the pre-FSP rows stop at go-live: pieces weighted also for that planned censoring
        grid = np.arange(IPCW_GRID_DAYS, float(design[DURATION].max()) + IPCW_GRID_DAYS, IPCW_GRID_DAYS)
        # the pieces carry only the columns the weighted estimators below read
        design = censoring_weights(design, DURATION, EVENT, GO_LIVE_DAY, covariates, grid, entry=entry,
                                   keep=[COHORT, FAMILY, IPW, *([strata] if strata else [])])
        design[IPW] = design[IPW] * design[IPCW]
        entry = IPCW_START
        method += (f"; x inverse probability of censoring weights for the censoring at go-live (Cox model "
                   f"of the go-live day, stabilised, {IPCW_GRID_DAYS}-day pieces)")
    tables = []
    ess = weights.effective_sample_size()
    for group, cohort in (("reference", REFERENCE), ("comparison", "post_fsp")):
        tables.append(tidy([{"outcome": outcome, "analysis": "ipw", "cohort": cohort, "combination": "all",
                             "term": "effective_sample_size", "estimate": float(ess.get(group, np.nan)),
                             "n": int((rows[COHORT] == cohort).sum()), "method": f"Kish ESS, {method}"}]))
    km = attempt(lambda: kaplan_meier_by(design, DURATION, EVENT, COHORT, times=times, entry=entry,
                                         weights=IPW, cluster=FAMILY, conf_type=conf_type, outcome=outcome),
                 outcome=outcome, analysis="kaplan_meier_ipw")
    if "analysis" in km:
        km["analysis"] = "kaplan_meier_ipw"
        km["method"] = km["method"].where(km["method"].str.startswith(("not estimable", "not fitted")),
                                          km["method"] + f", weighted by {method}")
    tables.append(km)
    design["cohort[post_fsp]"] = (design[COHORT] == "post_fsp").to_numpy(dtype=float)

    def cox():
        fit = cox_ph(design, DURATION, EVENT, ["cohort[post_fsp]"], entry=entry, strata=strata, cluster=FAMILY,
                     weights=IPW, ties="efron")
        table = _model_rows(fit, outcome, "cox_ipw")
        table["method"] = table["method"] + f"; {method}"
        return table

    tables.append(attempt(cox, **keys))

    def restricted_mean():
        table = rmst_difference(design, DURATION, EVENT, COHORT, tau=taus, reference=REFERENCE,
                                comparison="post_fsp", entry=entry, weights=IPW, cluster=FAMILY,
                                outcome=outcome)
        table["analysis"] = "rmst_ipw"
        table["method"] = table["method"] + f", weighted by {method}"
        return table

    tables.append(attempt(restricted_mean, outcome=outcome, analysis="rmst_ipw",
                          contrast=contrast_label("post_fsp"), term="rmst_difference"))
    # doubly robust: pseudo-observations per cohort (censoring may differ by cohort), same covariates
    tables.append(attempt(lambda: aipw_rmst_difference(
        unsplit, DURATION, EVENT, COHORT, covariates, tau=taus, reference=REFERENCE, comparison="post_fsp",
        cluster=FAMILY, n_boot=n_boot, seed=AIPW_SEED, entry=entry_column(rows), outcome=outcome,
        cluster_text_ranks=True, shared=aipw_rows),
        outcome=outcome, analysis="rmst_aipw", contrast=contrast_label("post_fsp"), term="rmst_difference"))
    out = concat(tables)
    if planned:
        out = _people_not_pieces(out, rows)
    return out, balance


def propensity_design(rows: pd.DataFrame, config: StudyConfig) -> tuple[pd.DataFrame, list[str]]:
    """``rows`` with the propensity covariates (:data:`PROPENSITY` as the study's design allows) as
    numeric columns, and their names: the one definition of what the cohort weights balance, for
    the survival outcomes and for days in each state."""
    return with_adjustment_terms(rows, event=np.ones(len(rows)), adjustment=study_adjustment(config, PROPENSITY))


def _people_not_pieces(table: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """``n`` as entries, not the pieces the censoring weights split them into (disclosure
    control reads ``n`` as people): a cohort's rows for a cohort estimate, both cohorts' else."""
    counts = rows[COHORT].value_counts()
    n = table["cohort"].map(counts).fillna(len(rows))
    table = table.copy()
    table["n"] = n.where(table["n"].notna()).astype("Int64")
    return table


# -- placebo: two pre-FSP entry years -------------------------------------------------------------

PLACEBO_TERM = "placebo[second_year]"


def _placebo(df, outcome, taus, config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Adjusted Cox HR and RMST difference of pre-FSP entries in the study's second year vs its first."""
    first = pd.Timestamp(config.pre_fsp_start)
    second = first + pd.DateOffset(years=1)
    label = f"pre_fsp from {second.date()} vs pre_fsp before"
    keys = dict(outcome=outcome, contrast=label)
    rows = df[(df[COHORT] == REFERENCE).to_numpy()].reset_index(drop=True)
    rows = rows[(as_dates(rows["time_zero"]) < second + pd.DateOffset(years=1)).to_numpy()]
    year = np.where(as_dates(rows["time_zero"]) >= second, "second_year", "first_year")
    rows = rows.assign(**{"placebo_year": year, PLACEBO_TERM: (year == "second_year").astype(float)})
    if len(set(year)) < 2:
        reason = "needs pre-FSP entries in two study years"
        return (not_estimable(reason, analysis="cox_placebo", term=PLACEBO_TERM, **keys),
                not_estimable(reason, analysis="rmst_placebo", term="rmst_difference", **keys))
    entry, strata = entry_column(rows), strata_column(rows)

    def cox():
        design, adjustment = with_adjustment_terms(rows, adjustment=study_adjustment(config))
        fit = cox_ph(design, DURATION, EVENT, [PLACEBO_TERM] + adjustment, entry=entry, strata=strata,
                     cluster=FAMILY, ties="efron")
        table = fit.tidy(outcome, analysis="cox_placebo")
        table = table[(table["term"] == PLACEBO_TERM).to_numpy()].copy()
        table["contrast"] = label
        table["method"] = table["method"] + "; placebo contrast between two pre-FSP entry years"
        return table

    def restricted_mean():
        table = rmst_difference(rows, DURATION, EVENT, "placebo_year", tau=taus, reference="first_year",
                                comparison="second_year", entry=entry, cluster=FAMILY, outcome=outcome)
        table = table[(table["term"] == "rmst_difference").to_numpy()].copy()
        table["analysis"] = "rmst_placebo"
        table["contrast"] = label
        return table

    return (attempt(cox, analysis="cox_placebo", term=PLACEBO_TERM, **keys),
            attempt(restricted_mean, analysis="rmst_placebo", term="rmst_difference", **keys))


# -- E-values ---------------------------------------------------------------------------------------

#: Analyses whose cohort-contrast rows are hazard ratios.
HR_ANALYSES = ("cox_unadjusted", "cox_adjusted", "cox_ipw", "cox_placebo", "cox_differential")


def _evalues(df, outcome, tables: list[pd.DataFrame]) -> pd.DataFrame:
    """E-values of the HR and RMST-difference rows of this outcome's tables (see module doc)."""
    rows = concat([t for t in tables if t is not None and len(t)])
    if not len(rows):
        return not_estimable("no estimates", outcome=outcome, analysis="e_value")
    hr = rows["analysis"].isin(HR_ANALYSES).to_numpy() & (
        rows["term"].astype(str).str.startswith(("cohort[", "placebo[")) | (rows["term"] == "hazard ratio")).to_numpy()
    rmst = (rows["term"] == "rmst_difference").to_numpy()
    sd = _restricted_sds(df, rows.loc[rmst & rows["contrast"].notna().to_numpy(), "time"].dropna().unique())
    table = evalue_rows(rows[hr], rows[rmst], lambda row: sd.get(row.time, np.nan), "restricted days")
    return table if len(table) else not_estimable("no hazard ratio or RMST difference", outcome=outcome,
                                                  analysis="e_value")


def evalue_rows(hazard_ratios: pd.DataFrame, differences: pd.DataFrame, spread, quantity: str) -> pd.DataFrame:
    """Tidy ``e_values`` rows ("e_value", "e_value_ci") of the cohort-contrast rows (``contrast`` set) of
    ``hazard_ratios`` (read as risk ratios when under 15% of ``n`` had the event, else converted
    for a common outcome) and of ``differences`` in mean days (standardised by ``spread(row)``, the
    SD of the ``quantity``: ``RR = exp(0.91 d)``); the keys are those of each estimate, and an exit
    route's estimate (term ``"<route>: ..."``) gives terms ``"<route>: e_value"``, ``"<route>: e_value_ci"``."""
    out = []
    both = [(r, True) for r in hazard_ratios[hazard_ratios["contrast"].notna().to_numpy()].itertuples()]
    both += [(r, False) for r in differences[differences["contrast"].notna().to_numpy()].itertuples()]
    for row, is_hr in both:
        common = {"outcome": row.outcome, "analysis": row.analysis, "contrast": row.contrast,
                  "combination": row.combination, "time": row.time, "n": row.n, "events": row.events}
        # an exit route's estimate ("<route>: cohort[...]") keeps its route: "<route>: e_value"
        route = str(row.term).split(": ")[0] + ": " if ": " in str(row.term) else ""
        if not np.isfinite(row.estimate):
            out.append({**common, "term": route + "e_value", "method": row.method if str(row.method).startswith(
                ("not estimable", "not fitted")) else "not estimable: no estimate"})
            continue
        if is_hr:
            share = (row.events / row.n) if row.n else np.nan
            rare = bool(share < RARE_OUTCOME_SHARE)
            value = evalue_hazard_ratio(row.estimate, row.ci_lower, row.ci_upper, rare)
            how = (f"hazard ratio read as a risk ratio (rare outcome: {share:.0%} had the event)" if rare
                   else f"hazard ratio converted for a common outcome ({share:.0%} had the event)")
        else:
            sd = spread(row)
            value = evalue_mean_difference(row.estimate, row.se, sd)
            difference = "RMST difference" if row.term == "rmst_difference" else "difference in mean days"
            how = f"{difference} as a standardised difference (SD of {quantity} {sd:.1f}), RR = exp(0.91 d)"
        term = "" if row.term is None or (isinstance(row.term, float) and np.isnan(row.term)) else f" {row.term}"
        method = f"E-value (VanderWeele & Ding 2017) of {row.analysis}{term}; {how}"
        out.append({**common, "term": route + "e_value", "estimate": value.estimate, "method": method})
        out.append({**common, "term": route + "e_value_ci", "estimate": value.ci,
                    "method": method + "; confidence limit nearer the null (1 when the interval holds 1)"})
    return tidy(out) if out else tidy([])


def _restricted_sds(df, taus) -> dict[float, float]:
    """Pooled SD of restricted days (pre-FSP and post-FSP Kaplan–Meier curves) at each tau."""
    entry = entry_column(df)
    out = {}
    for tau in taus:
        variances = []
        for cohort in (REFERENCE, "post_fsp"):
            part = df[(df[COHORT] == cohort).to_numpy()]
            if len(part) and part[EVENT].sum() > 0:
                variances.append(restricted_time_sd(part, DURATION, EVENT, float(tau), entry=entry) ** 2)
        out[tau] = float(np.sqrt(np.mean(variances))) if variances else float("nan")
    return out


__all__ = ["CURVE_COLUMNS", "MODELS", "PROPENSITY", "TABLES", "evalue_rows", "propensity_design", "survival_results"]
