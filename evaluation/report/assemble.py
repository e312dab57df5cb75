"""Turn the pipeline's internal result tables into the released, disclosure-controlled tables.

:func:`release_tables` is the one place where the analysis layer's tables
(:mod:`evaluation.analysis`: exact step tables, raw counts, model rows) meet
disclosure control (:mod:`evaluation.disclosure`). Every table it returns is
safe to leave the secure environment:

* count tables (cohort flow, cohort characteristics, monthly counts) are
  suppressed below the threshold, secondary-suppressed where a hidden cell
  could be worked out from totals, and rounded; percentages are computed from
  the rounded counts and shown only where the count itself is shown;
* curves (Kaplan–Meier, cumulative incidence) are rebuilt on a coarse grid
  from rounded counts (:func:`~evaluation.disclosure.safe_curve`): no exact
  event time survives, and curves stop before small risk sets;
* model and summary rows (:func:`~evaluation.disclosure.safe_model_results`)
  are blanked as "not estimable (small numbers)" when they rest on few people
  or events, and their ``n`` / ``events`` rounded; medians (which are event
  times) are rounded to whole weeks and log-rank observed counts to the base.

:data:`TABLE_SCHEMAS` documents every released table and column; it is
written beside the tables as ``schema.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from evaluation.disclosure import (
    DEFAULT, DisclosureConfig, release_flow, round_to_base, safe_curve, safe_model_results, suppress_counts,
)
from evaluation.cohorts.protocol import protocol_table
from evaluation.disclosure.models import NOTE_COLUMN
from evaluation.errors import NotEstimable
from evaluation.report.comparison_section import COMPARISON_SCHEMAS, comparison_tables
from evaluation.report.history import estimates_by_extract, headline_estimates
from evaluation.results import RESULT_COLUMNS
from evaluation.study import StudyConfig

COHORT_ORDER: tuple[str, ...] = ("pre_fsp", "transition", "post_fsp")
#: Released curves: one grid time every quarter (91 days).
CURVE_GRID_DAYS = 91
#: The state every journey starts in (``state_results``' ``initial_state``).
INITIAL_STATE = "referral"
#: Medians are event times: released rounded to this many days.
MEDIAN_ROUNDING_DAYS = 7
#: Outcomes whose exits compete, and the released table of their cumulative-incidence curves.
CIF_TABLES: dict[str, str] = {"time_in_protection": "cif_exit_from_protection",
                              "time_in_care": "cif_exit_from_care"}
#: Covariates described in the cohort characteristics, with how numeric ones are banded.
CHARACTERISTICS: tuple[str, ...] = ("combination", "domestic_abuse", "mental_health", "substance_misuse",
                                    "age_band", "sex", "ethnic_group", "primary_need", "referral_source_group",
                                    "family_size", "prior_cin_episodes", "lockdown_period")
BANDS: dict[str, tuple[tuple[float, float, str], ...]] = {
    "family_size": ((0, 1, "1"), (2, 2, "2"), (3, 3, "3"), (4, np.inf, "4 or more")),
    "prior_cin_episodes": ((0, 0, "0"), (1, 1, "1"), (2, np.inf, "2 or more")),
}
VALIDATION_COLUMNS: tuple[str, ...] = ("asset", "check", "local_authority", "passed", "severity", "blocking",
                                       "expectations", "expectations_failed")
BALANCE_COLUMNS: tuple[str, ...] = ("outcome", "variable", "smd_before", "smd_after", "imbalanced_before",
                                    "imbalanced_after", NOTE_COLUMN)


# -------------------------------------------------------------------------- schema

@dataclass(frozen=True)
class TableSchema:
    """What a released table holds: a sentence, and the meaning of each column."""

    description: str
    columns: dict[str, str]


_TIDY = {
    "outcome": "outcome or series the estimate is about (e.g. time_in_protection)",
    "analysis": "estimator (kaplan_meier, cox_adjusted, rmst, logrank, ...)",
    "cohort": "cohort the estimate is about (pre_fsp, transition, post_fsp), local authority for time "
              "series, empty for a contrast",
    "contrast": "comparison, e.g. 'post_fsp vs pre_fsp'; empty when not a comparison",
    "combination": "combination of parental risk factors, or 'all'",
    "term": "model term, statistic or exit route",
    "time": "days (fixed report time or restricted-mean horizon tau); never an event time",
    "estimate": "the estimate (survival, hazard ratio, days, rate ratio...); blank when not estimable",
    "ci_lower": "lower 95% confidence limit",
    "ci_upper": "upper 95% confidence limit",
    "se": "standard error (of the log hazard ratio for Cox models)",
    "statistic": "test statistic (z or chi-square)",
    "p_value": "two-sided p-value",
    "n": "people contributing, rounded to the rounding base; blank when not estimable",
    "events": "events contributing, rounded to the rounding base; blank when not estimable",
    "method": "how the estimate was made, or 'not estimable: <reason>'",
    NOTE_COLUMN: "'not estimable (small numbers)' when blanked by disclosure control; else empty",
    "design": "design the estimate comes from: 'primary' (the protocol table) or 'sensitivity: "
              "<setting>=<value>; ...'",
}
_CURVE = {
    "outcome": "outcome the curve is about",
    "cohort": "cohort",
    "time": "grid time in days (a multiple of the grid step; not an event time)",
    "n_risk": "children at risk at this time, recomputed from rounded counts",
    "n_event": "exits in the interval ending at this time (difference of rounded cumulative counts)",
    "n_censor": "censorings in the interval ending at this time (difference of rounded cumulative counts)",
}


def _tidy(description: str) -> TableSchema:
    return TableSchema(description, dict(_TIDY))


TABLE_SCHEMAS: dict[str, TableSchema] = {
    "protocol": TableSchema(
        "The target-trial protocol the estimates emulate (Hernán & Robins 2016), written from the study "
        "settings that ran.",
        {"element": "protocol element (design, eligibility, time zero, treatment strategies, assignment, "
                    "follow-up, outcomes, causal contrast, analysis)",
         "specification": "what the element is in this analysis"}),
    "cohort_flow": TableSchema(
        "How the extract narrows to the families and children analysed, step by step and by cohort.",
        {"step": "step number", "stage": "start / excluded / remaining / analysed",
         "reason": "exclusion rule of the step", "description": "the step in words",
         "cohort": "cohort, or 'all' before the split into cohorts",
         "families": "families (text: a multiple of the rounding base, or 'c' = suppressed)",
         "children": "children (text: a multiple of the rounding base, or 'c' = suppressed)"}),
    "cohort_characteristics": TableSchema(
        "Children analysed by cohort and level of each covariate and risk-factor combination, with totals.",
        {"covariate": "the characteristic (combination, age_band, sex, ...)",
         "level": "its level, or 'Total'", "cohort": "cohort, or 'Total'",
         "children": "children (text: a multiple of the rounding base, or 'c' = suppressed)",
         "percent": "percent of the cohort's children, from the rounded counts ('c' when suppressed)"}),
    "cohort_counts": TableSchema(
        "Children analysed by cohort and combination of parental risk factors (the combination rows "
        "of cohort_characteristics).",
        {"combination": "combination of domestic abuse, mental health and substance misuse, or 'Total'",
         "cohort": "cohort, or 'Total'",
         "children": "children (text: a multiple of the rounding base, or 'c' = suppressed)",
         "percent": "percent of the cohort's children, from the rounded counts ('c' when suppressed)"}),
    "km_estimates": _tidy("Kaplan–Meier survival at fixed days and median time (rounded to whole weeks) "
                          "by outcome and cohort."),
    "logrank": _tidy("Log-rank tests between cohorts, unstratified and stratified; observed exits rounded."),
    "hazard_ratios": _tidy("Cox hazard ratios, cohorts against pre-FSP, unadjusted and adjusted."),
    "ph_tests": _tidy("Proportional-hazards tests (cox.zph) of the Cox models."),
    "rmst_differences": _tidy("Restricted mean days in the state by cohort and the differences against "
                              "pre-FSP, at each horizon tau."),
    "differential_impact": _tidy("Post-FSP vs pre-FSP hazard ratio within each combination of parental "
                                 "risk factors, heterogeneity test and Holm-adjusted p-values."),
    "weighted_estimates": _tidy("Inverse-probability-weighted Kaplan–Meier and Cox estimates and the "
                                "effective sample sizes."),
    "e_values": _tidy("E-values (VanderWeele & Ding 2017) of every cohort hazard ratio (Cox, placebo, by "
                      "combination, cause-specific Cox and Fine–Gray per exit route, across councils) and "
                      "every difference in mean days (RMST, and days in each state: plain, IPW, doubly "
                      "robust): how strongly an unmeasured confounder would have to be associated with both "
                      "cohort and outcome (risk-ratio scale) to explain the estimate (term e_value, "
                      "'<route>: e_value' for an exit route) or its confidence limit (term e_value_ci) away."),
    "factor_prevalence": _tidy("Does the recorded prevalence of each parental risk factor (and of any of "
                               "the three) among entries step at go-live? Segmented Poisson regression of "
                               "monthly flagged entries with entries as exposure: level_change is the "
                               "prevalence ratio at go-live; n entries, events flagged entries."),
    "cumulative_incidence": _tidy("Aalen–Johansen cumulative incidence of each exit route at fixed days, "
                                  "overall, by cohort and by combination."),
    "gray_test": _tidy("Gray's tests of equal cumulative incidence between cohorts, per exit route."),
    "cause_specific_cox": _tidy("Cause-specific Cox hazard ratios per exit route."),
    "fine_gray": _tidy("Fine–Gray subdistribution hazard ratios per exit route."),
    "days_in_state": _tidy("Restricted mean days in each state (referral, CIN plan, CP plan, care, closed) "
                           "within each horizon, by cohort and post − pre."),
    "proportion_reaching": _tidy("Proportion reaching a protection plan, care, or either within each horizon."),
    "time_series_effects": _tidy("Segmented regression of monthly series at go-live and at a placebo "
                                 "go-live; n is months; cohort holds the local authority."),
    "across_councils": _tidy("The programme against councils that had not adopted it: Cox stratified by "
                             "council (programme hazard ratio as a difference in differences), RMST "
                             "difference in differences, and each adopting council's own before/after "
                             "estimate; n and events of a difference in differences are its thinnest "
                             "adoption x period cell's; 'not estimable: one council' with one council."),
    "monthly_series": TableSchema(
        "Monthly counts per local authority and series with the segmented-regression fit, for the figure.",
        {"month": "first day of the month", "la_code": "local authority code",
         "series": "referrals, cin_plan_starts, cp_plan_starts, care_entries, on_cp_plan_month_end, "
                   "in_care_month_end",
         "count": "count in the month (text: a multiple of the rounding base, or 'c' = suppressed)",
         "fitted": "fitted count from the segmented regression (1 decimal); empty when not fitted",
         "segment": "'before' or 'after' go-live"}),
    "covariate_balance": TableSchema(
        "Standardised mean differences between post-FSP and pre-FSP before and after weighting.",
        {"outcome": "outcome whose rows were weighted", "variable": "covariate (indicator) name",
         "smd_before": "standardised mean difference, unweighted (3 decimals)",
         "smd_after": "standardised mean difference, weighted (3 decimals)",
         "imbalanced_before": "|SMD| > 0.1 before weighting", "imbalanced_after": "|SMD| > 0.1 after",
         NOTE_COLUMN: "'not estimable (small numbers)' when a cohort has too few children",
         "design": _TIDY["design"]}),
    "disclosure_log": TableSchema(
        "What disclosure control did to each released table (its settings, cells suppressed, public "
        "source), as written on the table: the record that travels with the files.",
        {"table": "released table", "item": "setting or count (nested names joined with dots); 'none' "
         "when the table carries no record", "value": "its value, as text"}),
    "estimates_by_extract": TableSchema(
        "The adjusted post-FSP vs pre-FSP hazard ratio of each outcome at every extract analysed so far, "
        "as each release showed it (the rows of hazard_ratios for cohort[post_fsp]); re-running an "
        "extract replaces its rows.",
        {"extract_date": "the extract's latest reference date (ISO date)", "outcome": "outcome",
         "analysis": "cox_adjusted", "contrast": "post_fsp vs pre_fsp",
         "estimate": "hazard ratio; blank when not estimable", "ci_lower": "lower 95% confidence limit",
         "ci_upper": "upper 95% confidence limit", "p_value": "two-sided p-value",
         "n": "children contributing, rounded to the rounding base",
         "events": "events contributing, rounded to the rounding base",
         "release_note": "'not estimable (small numbers)' when blanked by disclosure control; else empty"}),
    "validation_summary": TableSchema(
        "Latest outcome of every data-validation check: counts of expectations only, no records.",
        {"asset": "table checked", "check": "check name", "local_authority": "local authority (partition)",
         "passed": "whether the check passed", "severity": "ERROR or WARN", "blocking": "blocks downstream",
         "expectations": "expectations evaluated", "expectations_failed": "expectations failed"}),
}


TABLE_SCHEMAS.update({name: TableSchema(*spec) for name, spec in COMPARISON_SCHEMAS.items()})


def km_schema(outcome: str) -> TableSchema:
    return TableSchema(
        f"Safe Kaplan–Meier curve of {outcome} by cohort on a {CURVE_GRID_DAYS}-day grid.",
        {**_CURVE, "survival": "proportion still in the state (from rounded counts)",
         "lower": "lower 95% limit (log scale, Greenwood, from rounded counts)", "upper": "upper 95% limit"})


def cif_schema(outcome: str) -> TableSchema:
    return TableSchema(
        f"Safe Aalen–Johansen cumulative incidence of each exit from {outcome} by cohort on a "
        f"{CURVE_GRID_DAYS}-day grid.",
        {**_CURVE, "cause": "exit route", "cif": "cumulative incidence of the exit route (from rounded counts)",
         "lower": "lower 95% limit (log scale, Gray's variance as cmprsk::cuminc, from rounded counts)",
         "upper": "upper 95% limit"})


def schema_for(name: str) -> TableSchema:
    """The schema of a released table (KM and CIF curve tables are named by outcome)."""
    if name in TABLE_SCHEMAS:
        return TABLE_SCHEMAS[name]
    if name.startswith("km_"):
        return km_schema(name[3:])
    for outcome, table in CIF_TABLES.items():
        if name == table:
            return cif_schema(outcome)
    raise KeyError(f"no schema for released table {name!r}")


# -------------------------------------------------------------------------- model tables

def _safe(table: pd.DataFrame | None, config: DisclosureConfig) -> pd.DataFrame | None:
    if table is None:
        return None
    out = safe_model_results(table[list(RESULT_COLUMNS)], config=config)
    for column in ("cohort", "contrast", "combination", "term"):
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


def _round_medians(table: pd.DataFrame) -> pd.DataFrame:
    """Medians are exit times: round estimate and limits to whole weeks."""
    out = table.copy()
    median = (out["term"] == "median").to_numpy(dtype=bool)
    for column in ("estimate", "ci_lower", "ci_upper"):
        out.loc[median, column] = round_to_base(out.loc[median, column].to_numpy(), MEDIAN_ROUNDING_DAYS)
    out.loc[median, "se"] = np.nan
    out.attrs = table.attrs
    out.attrs["disclosure"] = {**out.attrs.get("disclosure", {}), "medians_rounded_to_days": MEDIAN_ROUNDING_DAYS}
    return out


def _round_observed(table: pd.DataFrame, config: DisclosureConfig) -> pd.DataFrame:
    """Log-rank observed exits are counts: below the threshold blanked, otherwise rounded."""
    out = table.copy()
    observed = (out["term"] == "observed").to_numpy(dtype=bool)
    values = out.loc[observed, "estimate"].to_numpy(dtype=float)
    small = values < config.threshold
    if not config.suppress_zeros:
        small &= values > 0
    rounded = np.where(small, np.nan, round_to_base(values, config.rounding_base))
    out.loc[observed, "estimate"] = rounded
    notes = out.loc[observed, NOTE_COLUMN].to_numpy(dtype=object)
    out.loc[observed, NOTE_COLUMN] = np.where(small, config.not_estimable, notes)
    out.attrs = table.attrs
    return out


def _initial_state_counts(table: pd.DataFrame, initial_state: str = INITIAL_STATE) -> pd.DataFrame:
    """Days in the initial state rest on every child (all start there), not on those entering it later.

    The multi-state table's ``events`` counts children *entering* a state, which is
    about zero for the state every journey starts in; left so, the small-numbers
    rule would blank a mean that every child contributes to.
    """
    out = table.copy()
    initial = (out["outcome"] == f"days_in_{initial_state}").fillna(False).to_numpy(dtype=bool)
    out.loc[initial, "events"] = out.loc[initial, "n"]
    return out


def _with_model_counts(tests: pd.DataFrame, models: pd.DataFrame | None) -> pd.DataFrame:
    """PH tests given the n and events of the Cox model they test (so small models blank their tests)."""
    if models is None or models.empty:
        return tests
    counts = (models.dropna(subset=["n"]).drop_duplicates(["outcome", "analysis"])
              .set_index(["outcome", "analysis"])[["n", "events"]])
    out = tests.copy()
    keys = list(zip(out["outcome"], out["analysis"].astype(str).str.removesuffix("_zph")))
    for column in ("n", "events"):
        out[column] = pd.array([counts[column].get(k, pd.NA) if k in counts.index else pd.NA for k in keys],
                               dtype="Int64")
    return out


# -------------------------------------------------------------------------- curves

def _km_curves(curves: pd.DataFrame, config: DisclosureConfig, grid) -> dict[str, pd.DataFrame]:
    out = {}
    if curves is None or curves.empty:
        return out
    for outcome, part in curves.groupby("outcome", sort=False):
        steps = part[["cohort", "time", "n_risk", "n_event", "n_censor"]].astype(
            {"cohort": object, "time": float, "n_risk": float, "n_event": float, "n_censor": float})
        curve = safe_curve(steps, grid=grid, by="cohort", config=config)
        if curve.empty:
            curve = pd.DataFrame(columns=["cohort", "time", "n_risk", "n_event", "n_censor", "survival",
                                          "lower", "upper"])
            curve.attrs["disclosure"] = {"grid_step": grid, "min_at_risk": config.min_at_risk}
        attrs = curve.attrs
        curve = curve.assign(outcome=str(outcome))[["outcome", *[c for c in curve.columns if c != "outcome"]]]
        curve.attrs = attrs
        out[f"km_{outcome}"] = curve
    return out


def _cif_curves(curves: pd.DataFrame, config: DisclosureConfig, grid) -> dict[str, pd.DataFrame]:
    out = {}
    if curves is None or curves.empty:
        return out
    for outcome, part in curves.groupby("outcome", sort=False):
        name = CIF_TABLES.get(str(outcome), f"cif_{outcome}")
        part = part.dropna(axis=1, how="all")
        events = [c for c in part.columns if c.startswith("n_event_")]
        steps = part[["cohort", "time", "n_risk", "n_censor", *events]].astype(
            {"cohort": object, **{c: float for c in ("time", "n_risk", "n_censor", *events)}})
        curve = safe_curve(steps, grid=grid, by="cohort", config=config)
        attrs = curve.attrs
        if curve.empty:
            curve = pd.DataFrame(columns=["cohort", "cause", "time", "n_risk", "n_event", "n_censor", "cif",
                                          "lower", "upper"])
            attrs = {"grid_step": grid, "min_at_risk": config.min_at_risk}
        curve = curve.assign(outcome=str(outcome))[["outcome", *[c for c in curve.columns if c != "outcome"]]]
        curve.attrs["disclosure"] = attrs.get("disclosure", attrs)
        out[name] = curve
    return out


# -------------------------------------------------------------------------- count tables

def _levels(children: pd.DataFrame, covariate: str) -> pd.Series:
    values = children[covariate]
    if covariate in BANDS:
        numbers = pd.to_numeric(values, errors="coerce")
        out = pd.Series("missing", index=values.index, dtype=object)
        for low, high, label in BANDS[covariate]:
            out[(numbers >= low) & (numbers <= high)] = label
        return out
    if values.dtype == bool or covariate in ("domestic_abuse", "mental_health", "substance_misuse",
                                             "lockdown_period"):
        flag = values.astype("boolean")
        return flag.map({True: "yes", False: "no"}).astype(object).where(flag.notna(), "missing")
    return values.astype(object).where(values.notna(), "missing").astype(str)


def cohort_characteristics(
    analysis: pd.DataFrame, config: DisclosureConfig = DEFAULT, hidden_cohorts: Sequence[str] = (),
) -> pd.DataFrame:
    """Children by cohort × level of each covariate, with cohort, level and grand totals.

    Each covariate is one two-way table, released with
    :func:`~evaluation.disclosure.suppress_counts`; the cohort totals are shared
    by every covariate's table (and the flow), so they are treated as released
    elsewhere and protected against. Cohorts in ``hidden_cohorts`` (their size
    is suppressed in the flow) are suppressed throughout, with every total
    that would give them away.
    """
    keys = [c for c in ("la_code", "child_id") if c in analysis.columns]
    children = analysis.drop_duplicates(keys) if keys else analysis
    children = children[children["cohort"].notna()].reset_index(drop=True)
    children["cohort"] = children["cohort"].astype(str)
    cohorts = [c for c in COHORT_ORDER if c in set(children["cohort"])] + sorted(
        set(children["cohort"]) - set(COHORT_ORDER))
    parts, info = [], {"threshold": config.threshold, "rounding_base": config.rounding_base,
                       "primary": {}, "secondary": {}, "hidden_cohorts": list(hidden_cohorts)}
    for covariate in CHARACTERISTICS:
        if covariate not in children.columns:
            continue
        level = _levels(children, covariate)
        counts = pd.crosstab(children["cohort"], level).reindex(index=cohorts, fill_value=0)
        long = counts.stack().rename("children").reset_index()
        long.columns = ["cohort", "level", "children"]
        released = suppress_counts(long, ["children"], ["cohort", "level"],
                                   margins=[("cohort",), ("level",), ()],
                                   released_elsewhere=[("cohort",), ()], config=config)
        info["primary"][covariate] = released.attrs["disclosure"]["primary"]["children"]
        info["secondary"][covariate] = released.attrs["disclosure"]["secondary"]["children"]
        released.insert(0, "covariate", covariate)
        parts.append(released)
    if not parts:
        table = pd.DataFrame(columns=["covariate", "cohort", "level", "children", "percent"])
        table.attrs["disclosure"] = info
        return table
    table = pd.concat(parts, ignore_index=True)
    if hidden_cohorts:
        hide = table["cohort"].isin(list(hidden_cohorts)) | (table["cohort"] == config.total_label)
        table.loc[hide, "children"] = config.suppressed
    # percentages from the released (rounded) numbers only, and only where the count is shown
    number = pd.to_numeric(table["children"], errors="coerce")
    total = table.assign(number=number)[table["level"] == config.total_label].set_index(
        ["covariate", "cohort"])["number"]
    denominator = pd.Series([total.get((c, k), np.nan) for c, k in zip(table["covariate"], table["cohort"])],
                            index=table.index)
    shown = number.notna() & (denominator >= config.min_denominator) & (denominator > 0)
    percent = (100 * number / denominator).round(config.rate_decimals)
    table["percent"] = np.where(shown, percent.map(lambda v: f"{v:.{config.rate_decimals}f}"),
                                config.suppressed)
    table = table[["covariate", "level", "cohort", "children", "percent"]]
    table.attrs["disclosure"] = info
    return table


def _hidden_cohorts(flow: pd.DataFrame, config: DisclosureConfig) -> list[str]:
    """Cohorts whose analysed children the released flow suppresses (every cohort if 'all' is)."""
    analysed = flow[flow["stage"] == "analysed"]
    hidden = analysed.loc[analysed["children"] == config.suppressed, "cohort"].astype(str).tolist()
    return list(COHORT_ORDER) if "all" in hidden else hidden


def _monthly_series(monthly: pd.DataFrame, study,
                    config: DisclosureConfig) -> pd.DataFrame:
    from evaluation.analysis.time_series import family_of, lockdowns_for
    from evaluation.timeseries import fit_segmented, its_design

    go_live = pd.Timestamp(study.go_live)
    data = monthly.copy()
    data["month"] = pd.to_datetime(data["month"]).dt.to_period("M").dt.to_timestamp()
    parts = []
    primary = secondary = 0
    for (la, series), part in data.groupby(["la_code", "series"], sort=True):
        part = part.sort_values("month").reset_index(drop=True)
        counts = part.assign(count=part["count"].round().astype(int))
        released = suppress_counts(counts, ["count"], ["month"], margins=[], config=config)
        primary += released.attrs["disclosure"]["primary"]["count"]
        secondary += released.attrs["disclosure"]["secondary"]["count"]
        fitted = np.full(len(part), np.nan)
        try:
            fit = fit_segmented(part, go_live.date().isoformat(), lockdowns_for(study), family_of(series))
            design = its_design(part["month"], go_live.date().isoformat(), lockdowns_for(study))
            linear = design[list(fit.terms)].to_numpy() @ fit.params
            exposure = part["exposure"].to_numpy(dtype=float) if "exposure" in part else np.ones(len(part))
            fitted = (linear * exposure) if fit.family == "gaussian" else np.exp(linear) * exposure
        except NotEstimable:
            pass  # the effects table says why the series is not estimable; any other error raises
        parts.append(pd.DataFrame({
            "month": part["month"], "la_code": str(la), "series": str(series),
            "count": released["count"].to_numpy()[: len(part)], "fitted": np.round(fitted, 1),
            "segment": np.where(part["month"] >= go_live.to_period("M").to_timestamp(), "after", "before"),
        }))
    table = (pd.concat(parts, ignore_index=True) if parts
             else pd.DataFrame(columns=["month", "la_code", "series", "count", "fitted", "segment"]))
    table.attrs["disclosure"] = {"threshold": config.threshold, "rounding_base": config.rounding_base,
                                 "primary": {"count": primary}, "secondary": {"count": secondary}}
    return table


def _balance(balance: pd.DataFrame | None, analysis: pd.DataFrame, config: DisclosureConfig) -> pd.DataFrame:
    if balance is None or balance.empty:
        out = pd.DataFrame(columns=list(BALANCE_COLUMNS))
        out.attrs["disclosure"] = {"min_denominator": config.min_denominator}
        return out
    out = balance.copy()
    for column in BALANCE_COLUMNS:
        if column not in out:
            out[column] = None
    out = out[list(BALANCE_COLUMNS)].copy()
    rows = analysis[analysis["cohort"].isin(["pre_fsp", "post_fsp"]).fillna(False).to_numpy(dtype=bool)]
    # the days in each state are weighted per entry (one row per entry, whatever its outcomes)
    entries = rows.drop_duplicates(["la_code", "child_id", "time_zero"]) if "time_zero" in rows else rows.iloc[:0]
    rows = pd.concat([rows[["outcome", "cohort"]].astype(object),
                      entries[["cohort"]].astype(object).assign(outcome="days_in_state")], ignore_index=True)
    sizes = rows.groupby(["outcome", "cohort"], observed=True).size().unstack(fill_value=0)
    smallest = sizes.min(axis=1) if len(sizes.columns) == 2 else pd.Series(0, index=sizes.index)
    small = ~(out["outcome"].map(smallest).astype(float) >= config.min_denominator).to_numpy()
    for column in ("smd_before", "smd_after"):
        out[column] = pd.to_numeric(out[column], errors="coerce").round(3).mask(small)
    for column in ("imbalanced_before", "imbalanced_after"):
        out[column] = out[column].astype("boolean").mask(small)
    out[NOTE_COLUMN] = np.where(small, config.not_estimable, "")
    out.attrs["disclosure"] = {"min_denominator": config.min_denominator, "not_estimable_rows": int(small.sum())}
    return out


def _across_council_evalues(table: pd.DataFrame) -> pd.DataFrame:
    """E-values of the comparison across councils' hazard ratios (its RMST difference in differences
    has no single outcome SD to standardise by, so none). Made here, on the internal rows before
    disclosure control, because that analysis releases its table as it is."""
    from evaluation.analysis.survival_outcomes import evalue_rows

    hr = table[table["analysis"].astype(str).str.startswith("cox_").to_numpy()]
    return evalue_rows(hr, hr.iloc[:0], None, "")


def _validation(validation: pd.DataFrame | None) -> pd.DataFrame | None:
    if validation is None:
        return None
    out = validation.copy()
    for column in VALIDATION_COLUMNS:
        if column not in out:
            out[column] = None
    out = out[list(VALIDATION_COLUMNS)].copy()
    for column in ("asset", "check", "local_authority", "severity"):
        out[column] = out[column].astype(object).where(out[column].notna(), None).map(
            lambda v: None if v is None else str(v))
    for column in ("passed", "blocking"):
        out[column] = out[column].astype("boolean")
    for column in ("expectations", "expectations_failed"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("Int64")
    out.attrs["disclosure"] = {"content": "check outcomes and counts of expectations; no records or values"}
    return out


# -------------------------------------------------------------------------- the release

#: Released name -> the internal tidy table(s) it comes from.
MODEL_TABLES: dict[str, tuple[str, ...]] = {
    "km_estimates": ("km_estimates",),
    "logrank": ("logrank",),
    "hazard_ratios": ("hazard_ratios",),
    "ph_tests": ("ph_tests",),
    "rmst_differences": ("rmst",),
    "differential_impact": ("differential_impact",),
    "weighted_estimates": ("weighted",),
    "e_values": ("e_values", "competing_e_values", "state_e_values", "across_councils_e_values"),
    "factor_prevalence": ("factor_prevalence",),
    "cumulative_incidence": ("cif",),
    "gray_test": ("gray_test",),
    "cause_specific_cox": ("cause_specific_cox",),
    "fine_gray": ("fine_gray",),
    "days_in_state": ("expected_days",),
    "proportion_reaching": ("proportion_reaching",),
    "time_series_effects": ("segmented", "placebo"),
    "across_councils": ("across_councils",),
}


def release_tables(
    results: Mapping[str, pd.DataFrame],
    cohort_flow: pd.DataFrame,
    analysis: pd.DataFrame,
    monthly: pd.DataFrame | None,
    config: DisclosureConfig = DEFAULT,
    *,
    validation: pd.DataFrame | None = None,
    study=None,
    grid: int | float | Sequence[float] = CURVE_GRID_DAYS,
    extract_date=None,
    earlier_headlines: Sequence[pd.DataFrame] = (),
    comparison: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, pd.DataFrame]:
    """Every released table, each through disclosure control (see the module docstring).

    ``results`` is the union of the dicts returned by ``survival_results``,
    ``competing_results``, ``state_results`` and ``time_series_results``
    (missing ones are skipped); ``cohort_flow`` the raw flow table; ``analysis``
    the analysis dataset (for the cohort characteristics and the balance
    denominators); ``monthly`` the monthly counts (for the figure's series) or
    None; ``validation`` the validation summary (counts only); ``study`` the
    :class:`~evaluation.study.StudyConfig` (go-live and lockdowns of
    the fitted segments; default the study's defaults). With ``extract_date``
    (the data's latest reference date) the released headline hazard ratios are
    dated and put with ``earlier_headlines`` (those of earlier releases, oldest
    first) into ``estimates_by_extract`` (:mod:`evaluation.report.history`). ``comparison``: the
    comparison group's tables (public DfE aggregates, no suppression needed), released by
    :func:`~evaluation.report.comparison_section.comparison_tables`.
    """
    if study is None:
        study = StudyConfig()
    out: dict[str, pd.DataFrame] = {"protocol": protocol_table(study)}
    flow = release_flow(cohort_flow, config=config)
    out["cohort_flow"] = flow
    characteristics = cohort_characteristics(analysis, config, _hidden_cohorts(flow, config))
    out["cohort_characteristics"] = characteristics
    counts = characteristics[characteristics["covariate"] == "combination"].drop(columns="covariate")
    counts = counts.rename(columns={"level": "combination"}).reset_index(drop=True)
    counts.attrs = characteristics.attrs
    out["cohort_counts"] = counts
    if results.get("across_councils") is not None and "across_councils_e_values" not in results:
        results = {**results, "across_councils_e_values": _across_council_evalues(results["across_councils"])}
    for name, sources in MODEL_TABLES.items():
        frames = [results[s] for s in sources if s in results and results[s] is not None]
        if not frames:
            continue
        table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        if name == "ph_tests":
            table = _with_model_counts(table, results.get("hazard_ratios"))
        if name in ("days_in_state", "e_values"):   # an E-value of days in the initial state rests on all
            table = _initial_state_counts(table)
        if name == "time_series_effects":
            table = table.assign(events=pd.NA)   # the total count over months is not needed and not released
        released = _safe(table, config)
        if name == "time_series_effects":     # n is months, not people: shown as counted
            n = pd.to_numeric(table["n"], errors="coerce").reset_index(drop=True)
            released["n"] = n.where(released["n"].notna()).astype("Int64")
        if name in ("km_estimates", "weighted_estimates"):
            released = _round_medians(released)
        if name == "logrank":
            released = _round_observed(released, config)
        released["design"] = study.design
        out[name] = released
    out.update(_km_curves(results.get("km_curves"), config, grid))
    out.update(_cif_curves(results.get("cif_curves"), config, grid))
    if "balance" in results or "state_balance" in results:
        balance = [results[k] for k in ("balance", "state_balance") if results.get(k) is not None and len(results[k])]
        out["covariate_balance"] = _balance(pd.concat(balance, ignore_index=True) if balance else None, analysis,
                                            config)
        out["covariate_balance"]["design"] = study.design
    if monthly is not None:
        out["monthly_series"] = _monthly_series(monthly, study, config)
    if extract_date is not None:
        out["estimates_by_extract"] = estimates_by_extract(
            headline_estimates(out.get("hazard_ratios"), extract_date), earlier_headlines)
    summary = _validation(validation if validation is not None else results.get("validation_summary"))
    if summary is not None:
        out["validation_summary"] = summary
    if comparison:
        out.update(comparison_tables(comparison))
    return out


__all__ = ["CIF_TABLES", "CURVE_GRID_DAYS", "MEDIAN_ROUNDING_DAYS", "MODEL_TABLES", "TABLE_SCHEMAS", "TableSchema",
           "cohort_characteristics", "release_tables", "schema_for"]
