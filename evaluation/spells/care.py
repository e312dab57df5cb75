"""Periods of care from SSDA903 episodes.

Rules:

* Episodes of a child are chained in DECOM order. An episode continues the
  previous one when the previous ended the same day this one starts (or is
  open: the assembly ends an open episode at the next DECOM) with REC ``X1``
  (not an exit) or no REC. An X1 followed by a gap is a broken chain.
* Short breaks (legal status V3/V4) are not care. A chain made only of short
  breaks is dropped (counted in ``.attrs["short_break_only_periods"]``). A
  short break inside a chain ends the period before it — exit type
  ``"other"``, end reason the short-break status (``"V3"``/``"V4"``) — and the
  next episode that is not a short break starts a new period (the child came
  into care from short breaks).
* A period ends at its last episode's DEC with that episode's REC; exit type
  from :data:`~evaluation.codes.groupings.CARE_EXIT_GROUPS` (``return_home``
  E4A/E4B; ``permanence`` E11/E12, E41, E43–E48; others ``"other"``). E2
  (died) and E3 (taken over by another LA) censor. A last episode with REC
  X1 but nothing after it (a broken chain) censors at its DEC
  (``censor_reason`` ``"unknown_exit"``). An open last episode is censored at
  the end of follow-up.
* ``start_observed`` is true when the period starts with RNE ``S`` or comes
  straight after a short break; false when the first episode seen is a
  continuation (the period started before the data: its start is the first
  DECOM seen, so its length is a lower bound).
"""

from __future__ import annotations

import pandas as pd

from evaluation.codes.groupings import CARE_EXIT_GROUPS, NOT_CARE_LEGAL_STATUSES
from evaluation.spells.censoring import FollowUp, finish_spells
from evaluation.study import StudyConfig


def raw_care_periods(care_episodes: pd.DataFrame) -> pd.DataFrame:
    """Periods of care before censoring: ``la_code, child_id, start_date, end_date, end_reason,
    exit_type, start_observed`` (``.attrs`` counts dropped short-break-only chains)."""
    keys = ["la_code", "child_id"]
    eps = (care_episodes.dropna(subset=["decom"])
           .sort_values(keys + ["decom", "dec"]).reset_index(drop=True))
    by_child = [eps[k] for k in keys]
    short = eps["ls"].isin(list(NOT_CARE_LEGAL_STATUSES)).fillna(False).astype(bool)
    first = ~eps.duplicated(keys)
    prev_rec = eps["rec"].groupby(by_child, sort=False).shift()
    prev_dec = eps["dec"].groupby(by_child, sort=False).shift()
    joined = (prev_rec == "X1").fillna(False) | prev_rec.isna()
    same_day = (prev_dec == eps["decom"]).fillna(False) | prev_dec.isna()
    continues = ~first & joined & same_day
    chain = (~continues).cumsum()
    prev_short = short.groupby(by_child, sort=False).shift(fill_value=False).astype(bool)
    segment = (~continues | (short != prev_short)).cumsum()

    chain_all_short = short.groupby(chain).transform("all")
    care = eps[~short].copy()
    seg = segment[~short]
    first_rows = care.index.to_series().groupby(seg, sort=False).first().to_numpy()
    last_rows = care.index.to_series().groupby(seg, sort=False).last().to_numpy()
    periods = pd.DataFrame({
        "la_code": eps.loc[first_rows, "la_code"].to_numpy(),
        "child_id": eps.loc[first_rows, "child_id"].to_numpy(),
        "start_date": eps.loc[first_rows, "decom"].to_numpy(),
        "first_rne": eps.loc[first_rows, "rne"].to_numpy(),
        "end_date": eps.loc[last_rows, "dec"].to_numpy(),
        "end_reason": eps.loc[last_rows, "rec"].astype("string").to_numpy(),
    })
    # what follows each segment within its chain: a short break, or nothing
    next_short = short.groupby(by_child, sort=False).shift(-1, fill_value=False).astype(bool)
    next_ls = eps["ls"].groupby(by_child, sort=False).shift(-1)
    next_in_chain = (chain.groupby(by_child, sort=False).shift(-1) == chain).fillna(False)
    ends_in_break = (next_short & next_in_chain).loc[last_rows].to_numpy()
    break_status = next_ls.loc[last_rows].to_numpy()
    after_break = (prev_short & continues).loc[first_rows].to_numpy()

    periods = periods.astype({"la_code": "string", "child_id": "string"})
    periods["start_observed"] = (periods["first_rne"] == "S").fillna(False).to_numpy() | after_break
    periods.loc[ends_in_break, "end_reason"] = break_status[ends_in_break]
    exit_type = periods["end_reason"].map(CARE_EXIT_GROUPS).fillna("other")
    exit_type[ends_in_break] = "other"
    dangling = (periods["end_reason"] == "X1").fillna(False) & ~ends_in_break
    exit_type[dangling] = "censored"
    periods["exit_type"] = exit_type
    periods["episode_id"] = pd.Series(pd.NA, index=periods.index, dtype="string")
    periods = periods.drop(columns="first_rne")
    periods.attrs = {
        "short_break_only_periods": int(chain[chain_all_short].nunique()),
        "periods_ended_by_short_break": int(ends_in_break.sum()),
    }
    return periods


def care_periods(tables: dict[str, pd.DataFrame], config: StudyConfig,
                 follow: FollowUp | None = None) -> pd.DataFrame:
    """One row per period of care, censored; extra column ``start_observed``."""
    periods = raw_care_periods(tables["care_episodes"])
    return finish_spells("care", periods, tables, config, extra=("start_observed",), follow=follow)
