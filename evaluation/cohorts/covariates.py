"""Covariates of each child at time zero, for adjustment and description.

* ``age_band``: completed years from the first of the birth month, banded by
  ``StudyConfig.age_bands`` ("0", "1-4", "5-9", "10-15", "16-17");
* ``sex`` (M/F/U; missing is "U"); ``ethnic_group``: major group of the
  ethnicity code (missing or unknown code is "Unknown");
* ``family_size``: children linked to the family in ``families``;
* ``prior_cin_episodes``: the child's CIN episodes referred in the fixed
  look-back window (``lookback_months``) before time zero -- the same length
  for every child and cohort, so history does not depend on how much data
  precedes the child (under the ``"new_referral"`` entry rule it is 0 by
  construction: recent history is removed by restriction, not adjustment);
* ``primary_need`` and ``referral_source_group`` of the index episode
  ("N0" / "Anonymous or unknown" when missing);
* ``lockdown_period``: time zero falls inside a Covid-19 lockdown
  (``StudyConfig.lockdown_periods``, dates inclusive).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.codes.groupings import ETHNIC_MAJOR_GROUPS, REFERRAL_SOURCE_GROUPS
from evaluation.cohorts.cohorts import age_in_years, family_sizes, look_back_start
from evaluation.study import StudyConfig

KEYS = ["la_code", "child_id"]
ENTRY = KEYS + ["time_zero"]
COVARIATES: tuple[str, ...] = ("age_band", "sex", "ethnic_group", "family_size", "prior_cin_episodes",
                               "primary_need", "referral_source_group", "lockdown_period")


def age_bands(ages: pd.Series, config: StudyConfig) -> pd.Series:
    """Band label of each age in years (<NA> outside the bands)."""
    out = pd.Series(pd.NA, index=ages.index, dtype="string")
    for (low, high), label in zip(config.age_bands, config.age_band_labels):
        out[((ages >= low) & (ages <= high)).fillna(False).astype(bool)] = label
    return out


def in_lockdown(dates: pd.Series, config: StudyConfig) -> pd.Series:
    """Whether each date falls inside a lockdown period (inclusive)."""
    inside = np.zeros(len(dates), dtype=bool)
    for start, end in config.lockdown_periods:
        inside |= ((dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))).to_numpy()
    return pd.Series(inside, index=dates.index)


def covariates(tables: dict[str, pd.DataFrame], index_episodes: pd.DataFrame,
               config: StudyConfig) -> pd.DataFrame:
    """One row per entry of ``index_episodes`` (``la_code, child_id, time_zero``) with
    :data:`COVARIATES`."""
    index = index_episodes[KEYS + ["family_id", "episode_id", "time_zero"]]
    children = tables["children"].drop_duplicates(KEYS)[KEYS + ["birth_month", "sex", "ethnicity"]]
    out = index.merge(children, on=KEYS, how="left")
    out["age_band"] = age_bands(age_in_years(out["birth_month"], out["time_zero"]), config)
    out["sex"] = out["sex"].fillna("U").astype("string")
    out["ethnic_group"] = out["ethnicity"].map(ETHNIC_MAJOR_GROUPS).fillna("Unknown").astype("string")
    out = out.merge(family_sizes(tables), on=["la_code", "family_id"], how="left")
    out["family_size"] = out["family_size"].fillna(1).astype("int64")

    episodes = tables["cin_episodes"]
    earlier = episodes[KEYS + ["referral_date"]].merge(index[ENTRY], on=KEYS)
    window = (earlier["referral_date"] < earlier["time_zero"]) & (
        earlier["referral_date"] >= look_back_start(earlier["time_zero"], config))
    prior = (earlier[window.to_numpy()].groupby(ENTRY, observed=True).size()
             .rename("prior_cin_episodes").reset_index())
    out = out.merge(prior, on=ENTRY, how="left")
    out["prior_cin_episodes"] = out["prior_cin_episodes"].fillna(0).astype("int64")

    details = episodes[KEYS + ["episode_id", "primary_need", "referral_source"]].drop_duplicates(
        KEYS + ["episode_id"])
    out = out.merge(details, on=KEYS + ["episode_id"], how="left")
    out["primary_need"] = out["primary_need"].fillna("N0").astype("string")
    out["referral_source_group"] = (out["referral_source"].map(REFERRAL_SOURCE_GROUPS)
                                    .fillna("Anonymous or unknown").astype("string"))
    out["lockdown_period"] = in_lockdown(out["time_zero"], config)
    return out[ENTRY + list(COVARIATES)]
