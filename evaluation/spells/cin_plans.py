"""CIN plan spells: a child's CIN plan from start to end.

Plans of one child that overlap or continue the same day (e.g. a plan
recorded in two episodes) are merged into one spell, which keeps the episode
of the part that ends last. Exit types (see
:mod:`evaluation.spells.plan_exits`): ``escalation_cp``, ``escalation_care``,
``closure``, ``other``, or ``censored``. CIN plans are observed only from
``cin_plan_observation_start`` (see :mod:`evaluation.spells.censoring`):
``entry_days`` counts from there.
"""

from __future__ import annotations

import pandas as pd

from evaluation.spells.censoring import FollowUp, finish_spells, merge_overlapping
from evaluation.spells.plan_exits import classify_plan_exits, plan_rows
from evaluation.study import StudyConfig


def cin_plan_spells(tables: dict[str, pd.DataFrame], config: StudyConfig,
                    follow: FollowUp | None = None,
                    care: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (merged) CIN plan with its exit type, censored.

    ``follow`` and ``care`` (raw periods of care) are optional precomputed inputs.
    """
    plans = merge_overlapping(plan_rows(tables["cin_plans"]))
    merged = plans.attrs.get("merged_overlaps", 0)
    spells = classify_plan_exits("cin_plan", plans, tables, config, care)
    out = finish_spells("cin_plan", spells, tables, config, follow=follow,
                        observation="cin_plan_observation_start")
    out.attrs["merged_overlaps"] = merged
    return out
