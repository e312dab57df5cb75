"""What happens when a CIN or CP plan ends: the shared exit rules.

With ``W = exit_window_days`` and ``E = escalation_window_days`` and a plan
from ``start`` to ``end`` (checked in this order, first match wins):

1. ``censored`` — its CIN episode closes for death or transfer out (RC2/RC5)
   on a day in ``[end, end + W]``;
2. escalation — a period of care starts in ``[start, end + E]``
   (``escalation_care``); for a CIN plan also a CP plan starting in
   ``[start, end + W]`` (``escalation_cp``; whichever starts first, care on a tie);
3. for a CP plan, ``step_down`` — a CIN plan in the same CIN episode starts in
   ``[end, end + W]`` or is running across ``end``;
4. ``closure`` — its CIN episode closes in ``[end, end + W]``
   (``end_reason`` = the closure reason);
5. ``other`` — or, for a CP plan ending before CIN plan dates were collected
   (``cin_plan_observation_start``), ``step_down_or_other``: a step-down to a
   CIN plan that ended before then cannot be seen, so "other" would wrongly
   count step-downs of the early cohorts as other exits.

Exits are classified on the data as extracted: a plan ending within ``W``
days of the extract may not yet show its step-down or closure.
"""

from __future__ import annotations

import pandas as pd

from evaluation.codes.groupings import CIN_CENSORING_CLOSURES
from evaluation.spells.care import raw_care_periods
from evaluation.spells.censoring import any_within, observation_windows
from evaluation.study import StudyConfig

KEYS = ["la_code", "child_id"]


def plan_rows(plans: pd.DataFrame) -> pd.DataFrame:
    """Plans as ``la_code, child_id, episode_id, start_date, end_date`` with valid starts."""
    return (plans[KEYS + ["episode_id", "start_date", "end_date"]]
            .dropna(subset=["start_date"]).reset_index(drop=True))


def _closures(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    episodes = tables["cin_episodes"]
    return episodes[KEYS + ["episode_id", "closure_date", "reason_for_closure"]].dropna(
        subset=["closure_date"]).drop_duplicates(KEYS + ["episode_id"])


def classify_plan_exits(kind: str, plans: pd.DataFrame, tables: dict[str, pd.DataFrame],
                        config: StudyConfig, care: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add ``end_reason`` and ``exit_type`` to merged plans of ``kind`` ("cin_plan" or "cp_plan")."""
    plans = plans.copy()
    ended = plans["end_date"].notna()
    start, end = plans["start_date"], plans["end_date"]
    exit_window = end + pd.Timedelta(days=config.exit_window_days)
    escalation_window = end + pd.Timedelta(days=config.escalation_window_days)

    closures = _closures(tables)
    own = plans[KEYS + ["episode_id"]].reset_index().merge(
        closures, on=KEYS + ["episode_id"], how="left").set_index("index").reindex(plans.index)
    closes_in_window = (own["closure_date"] >= end) & (own["closure_date"] <= exit_window)
    closes_in_window = closes_in_window.fillna(False).astype(bool)
    censoring_close = closes_in_window & own["reason_for_closure"].isin(
        list(CIN_CENSORING_CLOSURES)).fillna(False).astype(bool)

    care = raw_care_periods(tables["care_episodes"]) if care is None else care
    care_start = any_within(plans, care, KEYS, start, escalation_window, "start_date")
    escalates_care = care_start.notna()
    escalates_cp = pd.Series(False, index=plans.index)
    if kind == "cin_plan":
        cp = plan_rows(tables["cp_plans"])
        cp_start = any_within(plans, cp, KEYS, start, exit_window, "start_date")
        escalates_cp = cp_start.notna() & (care_start.isna() | (cp_start < care_start))
        escalates_care = escalates_care & ~escalates_cp
    steps_down = pd.Series(False, index=plans.index)
    if kind == "cp_plan":
        cin = plan_rows(tables["cin_plans"])
        starts_after = any_within(plans, cin, KEYS + ["episode_id"], end, exit_window, "start_date")
        pairs = plans[KEYS + ["episode_id", "end_date"]].reset_index().merge(
            cin.rename(columns={"start_date": "cin_start", "end_date": "cin_end"}),
            on=KEYS + ["episode_id"], how="inner")
        running = pairs[(pairs["cin_start"] < pairs["end_date"])
                        & (pairs["cin_end"].isna() | (pairs["cin_end"] > pairs["end_date"]))]
        steps_down = starts_after.notna() | plans.index.isin(running["index"])

    exit_type = pd.Series("other", index=plans.index, dtype="string")
    end_reason = pd.Series(pd.NA, index=plans.index, dtype="string")
    closure = closes_in_window & ~censoring_close
    exit_type[closure] = "closure"
    end_reason[closure] = own.loc[closure, "reason_for_closure"]
    exit_type[steps_down] = "step_down"
    end_reason[steps_down] = pd.NA
    exit_type[escalates_cp] = "escalation_cp"
    exit_type[escalates_care] = "escalation_care"
    end_reason[escalates_cp | escalates_care] = pd.NA
    if kind == "cp_plan":
        windows = observation_windows(tables, config).set_index("la_code")
        unseen = end < plans["la_code"].map(windows["cin_plan_observation_start"])
        exit_type[(exit_type == "other") & unseen.fillna(False).astype(bool)] = "step_down_or_other"
    exit_type[censoring_close] = "censored"
    end_reason[censoring_close] = own.loc[censoring_close, "reason_for_closure"]
    exit_type[~ended] = "censored"
    end_reason[~ended] = pd.NA
    plans["exit_type"], plans["end_reason"] = exit_type, end_reason
    return plans
