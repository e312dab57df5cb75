"""Limitations written from the release itself: the checks that failed, the estimates that could
not be shown, the design, and the data's partial coverage — before the fixed caveats."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from evaluation.figures.style import readable
from evaluation.report.summary import format_quote, non_proportional

#: Released tables whose rows carry estimates (a blanked row there is a suppressed estimate).
ESTIMATE_TABLES = ("hazard_ratios", "rmst_differences", "differential_impact", "days_in_state",
                   "proportion_reaching", "km_estimates", "weighted_estimates", "cause_specific_cox", "fine_gray")


def _failed_checks(validation: Sequence[Mapping[str, str]]) -> list[str]:
    out = []
    for row in validation:
        if row.get("status") in ("fail", "warning"):
            detail = f" ({row['detail']})" if row.get("detail") else ""
            kind = "a warning" if row["status"] == "warning" else "a failure"
            out.append(f"Data check {row['check']} did not pass{detail}; it is {kind}, and the estimates "
                       "that rest on that table should be read with it in mind.")
    return out


def _proportional_hazards(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    return [f"{readable(outcome)}: the post-FSP hazard ratio is not constant over follow-up "
            f"(cox.zph p {format_quote(p, 'p')}); it is an average over time, and the differences in "
            "mean days are the better summary." for outcome, _, p in non_proportional(tables)]


def _balance(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    balance = tables.get("covariate_balance")
    if balance is None or balance.empty or not {"imbalanced_after", "outcome", "variable"} <= set(balance.columns):
        return []
    out = []
    for outcome, rows in balance.groupby(balance["outcome"].astype(str), sort=False):
        left = rows[rows["imbalanced_after"].fillna(False).astype(bool)]
        if len(left):
            names = ", ".join(readable(v) for v in left["variable"].astype(str))
            out.append(f"{readable(outcome)}: after weighting the cohorts still differ in {names}; the "
                       "adjusted estimates control for these only as far as the model does.")
    return out


def _suppressed(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    blanked = {}
    for name in ESTIMATE_TABLES:
        table = tables.get(name)
        if table is None or "estimate" not in table or "release_note" not in table:
            continue
        notes = table["release_note"].astype(str)
        count = int((table["estimate"].isna() & notes.str.startswith("not estimable")).sum())
        if count:
            blanked[name] = count
    if not blanked:
        return []
    listed = ", ".join(f"{count} in {name.replace('_', ' ')}" for name, count in blanked.items())
    return [f"Estimates resting on too few children or events are not shown (disclosure control): {listed}. "
            "Small groups, above all the rarer combinations of parental risk factors, cannot be read."]


def _design(tables: Mapping[str, pd.DataFrame], comparison: bool) -> list[str]:
    if comparison:
        return ["The comparison-areas results rest on councils' published yearly figures, not on children's "
                "records: they show the council against similar councils, not the journeys of its children."]
    return ["There are no comparison areas in this release: the before/after comparison in one council "
            "cannot separate FSP from Covid, court backlogs or national trends."]


def _cin_plans(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    outcomes = {str(o) for name in ("hazard_ratios", "rmst_differences", "days_in_state")
                if tables.get(name) is not None and "outcome" in tables[name] for o in tables[name]["outcome"].dropna()}
    if {"time_on_cin_plan", "days_in_cin_plan"} & outcomes:
        from evaluation.report.drawing import cin_plan_caveat

        return [cin_plan_caveat()[0]]
    return []


def limitations_from(tables: Mapping[str, pd.DataFrame], validation: Sequence[Mapping[str, Any]],
                     fixed: Sequence[str]) -> list[str]:
    """Limitations of this release (from its checks and design) followed by the fixed ones, without repeats."""
    from evaluation.report.build import comparison_tables

    generated = (_design(tables, bool(comparison_tables(tables))) + _cin_plans(tables) + _failed_checks(validation)
                 + _proportional_hazards(tables) + _balance(tables) + _suppressed(tables))
    return list(dict.fromkeys([*generated, *fixed]))
