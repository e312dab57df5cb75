"""Who enters the study, when, and in which cohort.

Rules, applied per local authority (LA) with the study window running from
``pre_fsp_start`` to the LA's extract reference date (or ``study_end``):

* Children are those with a CIN episode. A child is excluded, first reason
  wins, for: no family link (not in ``families``); a quarantined record
  (when ``exclude_quarantined``); no referral in the study window (split into
  ``referral_before_study_window`` and ``referral_after_study_end``); no
  birth month; unborn at the referral (birth month after it — a child born
  later in the month of referral counts as born); aged ``censor_at_age`` or
  over at the referral (age from the first of the birth month).
* A child's **time zero** is the child's first CIN referral in the study
  window (the first on or after the family's index date, since that date is
  the earliest of them). Its **index episode** is the CIN episode referred
  that day (the longest one if several: open, else latest closure).
* A family's **index date** is the earliest time zero of its included
  children, and its **cohort** follows that date: ``pre_fsp`` from
  ``pre_fsp_start``, ``transition`` from ``transition_start``, ``post_fsp``
  from ``go_live``. Every child of the family takes the family's cohort, even
  a sibling first referred after go-live (entry-defined cohorts, never by
  closure).
"""

from __future__ import annotations

import pandas as pd

from evaluation.spells.censoring import family_links, observation_windows
from evaluation.study import StudyConfig

KEYS = ["la_code", "child_id"]

#: Exclusion reasons in the order they are applied, with their descriptions.
EXCLUSIONS: tuple[tuple[str, str], ...] = (
    ("no_family_link", "no family link in the case-management extract"),
    ("quarantined_records", "a record of the child was quarantined at ingest"),
    ("referral_before_study_window", "all CIN referrals before the study window"),
    ("referral_after_study_end", "all CIN referrals after the study end"),
    ("birth_month_missing", "no birth month"),
    ("unborn_at_referral", "unborn at the first referral in the window"),
    ("aged_18_or_over_at_referral", "aged 18 or over at the first referral in the window"),
)


def age_in_years(birth_month: pd.Series, on: pd.Series) -> pd.Series:
    """Completed years from the first of the birth month to ``on``."""
    years = on.dt.year - birth_month.dt.year
    before_birthday = (on.dt.month < birth_month.dt.month) | (
        (on.dt.month == birth_month.dt.month) & (on.dt.day < birth_month.dt.day))
    return (years - before_birthday.astype("Int64")).astype("Int64")


def child_eligibility(tables: dict[str, pd.DataFrame], config: StudyConfig) -> pd.DataFrame:
    """One row per child with a CIN episode: ``family_id``, ``time_zero`` and ``excluded_reason``.

    ``excluded_reason`` is <NA> for an included child; ``time_zero`` is the
    first referral in the study window (NaT if none).
    """
    episodes = tables["cin_episodes"].dropna(subset=["referral_date"])
    # Entry is a CIN referral: the cohort window is the CIN census's, whatever the other returns.
    windows = observation_windows(tables, config)[["la_code", "cin_end"]].rename(
        columns={"cin_end": "admin_end"})
    referrals = episodes[KEYS + ["referral_date"]].merge(windows, on="la_code", how="left")
    start = pd.Timestamp(config.pre_fsp_start)
    referrals["before"] = referrals["referral_date"] < start
    referrals["after"] = referrals["referral_date"] > referrals["admin_end"]
    referrals["in_window_date"] = referrals["referral_date"].where(
        ~referrals["before"] & ~referrals["after"])
    per_child = referrals.groupby(KEYS, observed=True).agg(
        time_zero=("in_window_date", "min"), any_before=("before", "any")).reset_index()

    children = (tables["children"].drop_duplicates(KEYS)[KEYS + ["birth_month"]])
    out = (per_child.merge(family_links(tables), on=KEYS, how="left")
           .merge(children, on=KEYS, how="left"))
    quarantined = tables["quarantine"].dropna(subset=["child_id"])[KEYS].drop_duplicates()
    quarantined = out[KEYS].merge(quarantined.assign(_q=True), on=KEYS, how="left")["_q"]
    quarantined = quarantined.eq(True).to_numpy() & config.exclude_quarantined
    no_window = out["time_zero"].isna()
    age = age_in_years(out["birth_month"], out["time_zero"])
    conditions = {
        "no_family_link": out["family_id"].isna(),
        "quarantined_records": pd.Series(quarantined, index=out.index),
        "referral_before_study_window": no_window & out["any_before"],
        "referral_after_study_end": no_window,
        "birth_month_missing": out["birth_month"].isna(),
        "unborn_at_referral": out["birth_month"] > out["time_zero"],
        "aged_18_or_over_at_referral": (age >= config.censor_at_age).fillna(False).astype(bool),
    }
    reason = pd.Series(pd.NA, index=out.index, dtype="string")
    for name, _ in EXCLUSIONS:
        reason[reason.isna() & conditions[name].to_numpy()] = name
    out["excluded_reason"] = reason
    return out[KEYS + ["family_id", "birth_month", "time_zero", "excluded_reason"]]


def _index_episode(tables: dict[str, pd.DataFrame], children: pd.DataFrame) -> pd.DataFrame:
    episodes = tables["cin_episodes"][KEYS + ["episode_id", "referral_date", "closure_date"]]
    candidates = children[KEYS + ["time_zero"]].merge(
        episodes, left_on=KEYS + ["time_zero"], right_on=KEYS + ["referral_date"], how="inner")
    candidates["_open"] = candidates["closure_date"].isna()
    candidates = candidates.sort_values(KEYS + ["_open", "closure_date", "episode_id"],
                                        ascending=[True, True, False, False, True])
    return candidates.drop_duplicates(KEYS)[KEYS + ["episode_id"]]


def index_episodes(tables: dict[str, pd.DataFrame], config: StudyConfig) -> pd.DataFrame:
    """One row per included child: ``la_code, child_id, family_id, episode_id, time_zero,
    family_index_date, cohort``."""
    eligible = child_eligibility(tables, config)
    included = eligible[eligible["excluded_reason"].isna()].copy()
    included["family_index_date"] = included.groupby(
        ["la_code", "family_id"], observed=True)["time_zero"].transform("min")
    included["cohort"] = config.cohort_of(included["family_index_date"])
    out = included.merge(_index_episode(tables, included), on=KEYS, how="left")
    columns = KEYS + ["family_id", "episode_id", "time_zero", "family_index_date", "cohort"]
    return out[columns].sort_values(KEYS).reset_index(drop=True)


def family_cohorts(tables: dict[str, pd.DataFrame], config: StudyConfig) -> pd.DataFrame:
    """One row per included family: ``la_code, family_id, index_date, cohort, index_child_id,
    children`` (children included) and ``family_size`` (children linked to the family)."""
    index = index_episodes(tables, config)
    first = index.sort_values(["la_code", "family_id", "time_zero", "child_id"]).drop_duplicates(
        ["la_code", "family_id"])
    counts = index.groupby(["la_code", "family_id"], observed=True).size().rename("children")
    out = pd.DataFrame({
        "la_code": first["la_code"], "family_id": first["family_id"],
        "index_date": first["time_zero"], "cohort": first["cohort"],
        "index_child_id": first["child_id"],
    }).merge(counts.reset_index(), on=["la_code", "family_id"], how="left")
    out = out.merge(family_sizes(tables), on=["la_code", "family_id"], how="left")
    return out.sort_values(["la_code", "index_date", "family_id"]).reset_index(drop=True)


def family_sizes(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``la_code, family_id, family_size``: children linked to each family in ``families``."""
    links = family_links(tables)
    return (links.groupby(["la_code", "family_id"], observed=True).size()
            .rename("family_size").reset_index())
