"""Protection spells: a child's child protection (CP) plan from start to end.

Plans of one child that overlap or continue the same day are merged into one
spell, which keeps the episode of the part that ends last. Exit types (see
:mod:`evaluation.spells.plan_exits`): ``step_down`` (to a CIN plan in the
same episode), ``closure``, ``escalation_care``, ``other``,
``step_down_or_other`` (ended before CIN plan dates were collected, so a
step-down cannot be ruled out), or ``censored``.
"""

from __future__ import annotations

import pandas as pd

from evaluation.spells.censoring import FollowUp, finish_spells, merge_overlapping
from evaluation.spells.plan_exits import classify_plan_exits, plan_rows
from evaluation.study import StudyConfig


def protection_spells(tables: dict[str, pd.DataFrame], config: StudyConfig,
                      follow: FollowUp | None = None,
                      care: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (merged) CP plan with its exit type, censored.

    ``follow`` and ``care`` (raw periods of care) are optional precomputed inputs.
    """
    plans = merge_overlapping(plan_rows(tables["cp_plans"]))
    merged = plans.attrs.get("merged_overlaps", 0)
    spells = classify_plan_exits("cp_plan", plans, tables, config, care)
    out = finish_spells("protection", spells, tables, config, follow=follow)
    out.attrs["merged_overlaps"] = merged
    return out
