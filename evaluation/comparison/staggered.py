"""Staggered adoption: Callaway & Sant'Anna (2021) group-time effects across adopting councils.

Estimation is the ``differences`` package's :class:`differences.ATTgt` (checked in the tests
against R ``did``'s published ``mpdta`` example). Cohort = the DfE year (ending 31 March) that
contains go-live, so event time 0 is the transition year (Oxfordshire: 2021 = 2020/21). Only
adopters with a sourced go-live date are treated units; adopters without one are dropped (they
are neither treated nor clean controls). Boundary-changed and tiny councils are dropped.
Councils are kept only with a complete series of the outcome (a balanced panel).
"""
from __future__ import annotations

import warnings

import pandas as pd
from differences import ATTgt

from .adopters import adopters
from .panel import BOUNDARY_CHANGED, RATES, TOO_SMALL, read_panel, wide

CONTROL_GROUPS = ("never_treated", "not_yet_treated")


def did_frame(panel: pd.DataFrame, measure: str, years=None, adopters_table: pd.DataFrame | None = None
              ) -> pd.DataFrame:
    """Long frame ``la_code_old, year, y, cohort`` (cohort NaN = never treated), balanced."""
    table = wide(panel, measure)
    years = sorted(int(y) for y in table.columns) if years is None else list(years)
    table = table.reindex(columns=years)
    ad = adopters() if adopters_table is None else adopters_table
    dated = ad[ad["sourced"] & ad["first_year"].notna()]
    cohorts = dict(zip(dated["la_code_old"], dated["first_year"].astype(int)))
    drop = (set(ad["la_code_old"]) - set(cohorts)) | set(BOUNDARY_CHANGED) | set(TOO_SMALL)
    table = table[table.notna().all(axis=1) & ~table.index.isin(list(drop))]
    long = table.stack().rename("y").reset_index()
    long.columns = ["la_code_old", "year", "y"]
    long["year"] = long["year"].astype(int)
    long["cohort"] = long["la_code_old"].map(cohorts).astype(float)
    long["unit"] = pd.factorize(long["la_code_old"])[0]
    return long


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "att": frame.xs("ATT", axis=1, level=-1).iloc[:, 0],
        "se": frame.xs("std_error", axis=1, level=-1).iloc[:, 0],
        "ci_lower": frame.xs("lower", axis=1, level=-1).iloc[:, 0],
        "ci_upper": frame.xs("upper", axis=1, level=-1).iloc[:, 0],
    })
    return out.reset_index()


def fit_attgt(data: pd.DataFrame, outcome: str = "y", unit: str = "unit", time: str = "year",
              cohort: str = "cohort", control_group: str = "never_treated", est_method: str = "reg",
              formula: str | None = None):
    """Fit :class:`differences.ATTgt` on a long frame; returns the fitted ATTgt object."""
    d = data.set_index([unit, time])
    att = ATTgt(data=d, cohort_column=cohort)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        att.fit(formula=formula or outcome, est_method=est_method, control_group=control_group,
                progress_bar=False)
    return att


def summarise_attgt(att) -> dict[str, pd.DataFrame]:
    """Tidy tables from a fitted ATTgt: group-time, event study, and the overall effects
    (``simple``: cohort-size weighted mean of post ATT(g,t); ``group``: mean over cohorts of each
    cohort's mean effect, R did's default; ``dynamic``: mean over post event times)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gt = _tidy(att.results())
        event = _tidy(att.aggregate("event"))
        overall = pd.concat([
            _tidy(att.aggregate("simple")).assign(aggregation="simple"),
            _tidy(att.aggregate("cohort", overall=True)).assign(aggregation="group"),
            _tidy(att.aggregate("event", overall=True)).assign(aggregation="dynamic"),
        ], ignore_index=True).drop(columns="index")
    return {"group_time": gt, "event": event, "overall": overall[["aggregation", "att", "se", "ci_lower", "ci_upper"]]}


def run_staggered(panel: pd.DataFrame | None = None, measures=None, control_groups=CONTROL_GROUPS,
                  years=None, adopters_table: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Group-time ATTs, event study and overall effects for each rate and control group
    (``adopters_table`` default: :func:`~evaluation.comparison.adopters.adopters`).

    Returns tidy tables ``group_time`` (measure, control_group, cohort, base_period, year, att,
    se, ci), ``event`` (measure, control_group, relative_period, ...), ``overall`` (measure,
    control_group, aggregation, ...) and ``cohorts`` (the treated councils used).
    """
    panel = read_panel() if panel is None else panel
    measures = list(RATES) if measures is None else list(measures)
    out = {"group_time": [], "event": [], "overall": [], "cohorts": []}
    for m in measures:
        data = did_frame(panel, m, years, adopters_table)
        treated = data.dropna(subset=["cohort"]).drop_duplicates("la_code_old")
        out["cohorts"].append(treated[["la_code_old", "cohort"]].assign(measure=m, n_units=data["unit"].nunique()))
        for cg in control_groups:
            res = summarise_attgt(fit_attgt(data, control_group=cg))
            for k, v in res.items():
                out[k].append(v.assign(measure=m, control_group=cg))
    tables = {k: pd.concat(v, ignore_index=True) for k, v in out.items()}
    for k in ("group_time", "event", "overall"):
        cols = ["measure", "control_group"] + [c for c in tables[k].columns if c not in ("measure", "control_group")]
        tables[k] = tables[k][cols]
    tables["cohorts"]["cohort"] = tables["cohorts"]["cohort"].astype(int)
    return tables


__all__ = ["did_frame", "fit_attgt", "summarise_attgt", "run_staggered", "CONTROL_GROUPS"]
