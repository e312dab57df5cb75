"""What is expected of the DfE LA panel and the adopters table, as Great Expectations suites.

Each ``*_suite`` returns ``(frame_to_validate, expectations)`` as the suites of
:mod:`evaluation.validation.suites` do; ``checks/comparison.py`` runs them as Dagster asset
checks. The frames carry counts and codes of councils (public aggregates), never a child.
"""
from __future__ import annotations

from evaluation.validation.lazy_gx import E  # great_expectations.expectations, imported on first use
import pandas as pd

from .panel import BOUNDARY_CHANGED, RATES, SUPPRESSION_MARKS, TOO_SMALL, wide

#: Smallest share of the councils present in a year that must have a value of each compared rate.
MIN_COVERAGE = 0.9


def _all_true(column: str):
    return E.ExpectColumnValuesToBeInSet(column=column, value_set=[True])


def suppression_suite(panel: pd.DataFrame):
    """Every missing value carries a known DfE mark, and only missing values carry one."""
    flag = panel["flag"].astype("string")
    missing = panel["value"].isna()
    derived = pd.DataFrame({
        "missing_has_known_mark": (~missing | flag.str.lower().isin(sorted(SUPPRESSION_MARKS))).fillna(False)
        .to_numpy(dtype=bool),
        "value_has_no_mark": (missing | flag.isna()).to_numpy(dtype=bool),
        "suppressed_matches_value": (panel["suppressed"].astype(bool) == missing).to_numpy(dtype=bool),
    })
    return derived, [_all_true(c) for c in derived.columns]


def coverage(panel: pd.DataFrame) -> pd.DataFrame:
    """One row per council: first and last year it appears, and whether any year between is absent."""
    years = panel.groupby("la_code_old", observed=True)["year"].agg(["min", "max", "nunique"])
    span = sorted(int(y) for y in panel["year"].dropna().unique())
    out = years.reset_index().rename(columns={"min": "first_year", "max": "last_year", "nunique": "years"})
    out["whole_span"] = (out["first_year"] == span[0]) & (out["last_year"] == span[-1]) & \
        (out["years"] == len(span))
    return out


def boundary_suite(panel: pd.DataFrame):
    """A council present for only part of the panel's span is a listed boundary change (merged or
    split, left out of every comparison) or a listed tiny council: an unlisted one would be an
    undocumented boundary change entering the donor pool."""
    cov = coverage(panel)
    listed = set(BOUNDARY_CHANGED) | set(TOO_SMALL)
    derived = pd.DataFrame({"la_code_old": cov["la_code_old"].astype(str),
                            "whole_span_or_listed": (cov["whole_span"] | cov["la_code_old"].isin(listed))
                            .to_numpy(dtype=bool)})
    return derived, [E.ExpectColumnValuesToBeUnique(column="la_code_old"), _all_true("whole_span_or_listed")]


def gaps(panel: pd.DataFrame) -> pd.DataFrame:
    """Per compared rate and year: councils present, councils with a value, and the share."""
    rows = []
    present = panel.groupby("year", observed=True)["la_code_old"].nunique()
    for measure in RATES:
        table = wide(panel, measure)
        for year in table.columns:
            rows.append({"measure": measure, "year": int(year), "councils": int(present.get(year, 0)),
                         "with_value": int(table[year].notna().sum())})
    out = pd.DataFrame(rows, columns=["measure", "year", "councils", "with_value"])
    out["share"] = out["with_value"] / out["councils"].where(out["councils"] > 0)
    return out


def gaps_suite(panel: pd.DataFrame, min_share: float = MIN_COVERAGE):
    """Every compared rate exists for every year, with a value for at least ``min_share`` of the
    councils present that year."""
    table = gaps(panel)
    expected = pd.DataFrame([(m, y) for m in RATES for y in sorted(int(v) for v in panel["year"].dropna().unique())],
                            columns=["measure", "year"])
    table = expected.merge(table, how="left", on=["measure", "year"]).fillna({"share": 0.0})
    return table[["measure", "year", "share"]], [
        E.ExpectColumnValuesToBeBetween(column="share", min_value=min_share, max_value=1.0)]


def adopters_suite(adopters: pd.DataFrame):
    """Every adopter names its public source; a row used as dated (``sourced``) has a go-live date,
    a precision of day or month, and a first (transition) year; codes are unique."""
    source = adopters["source"].astype("string").str.strip()
    sourced = adopters["sourced"].astype(bool)
    derived = pd.DataFrame({
        "la_code_old": adopters["la_code_old"].astype(str),
        "names_a_source": (source.notna() & (source.str.len() > 20)).fillna(False).to_numpy(dtype=bool),
        "dated_if_sourced": (~sourced | (adopters["go_live"].notna() & adopters["first_year"].notna()
                                         & adopters["date_precision"].isin(["day", "month"])))
        .to_numpy(dtype=bool),
    })
    return derived, [E.ExpectColumnValuesToBeUnique(column="la_code_old"), _all_true("names_a_source"),
                     _all_true("dated_if_sourced")]


def adopters_in_panel_suite(adopters: pd.DataFrame, la_panel: pd.DataFrame):
    """Every adopter's code is a council of the panel (a mistyped code would leave an adopter in the
    donor pool)."""
    codes = set(la_panel["la_code_old"].astype(str))
    derived = pd.DataFrame({"in_panel": adopters["la_code_old"].astype(str).isin(codes).to_numpy(dtype=bool)})
    return derived, [_all_true("in_panel")]


__all__ = ["suppression_suite", "boundary_suite", "gaps_suite", "gaps", "coverage", "adopters_suite",
           "adopters_in_panel_suite", "MIN_COVERAGE"]
