"""Who enters the study, when, and in which cohort.

Rules, applied per local authority (LA) with the study window running from
``pre_fsp_start`` to the LA's extract reference date (or ``study_end``). The
entry rule is ``StudyConfig.entry_rule``:

* ``"new_referral"`` (primary design, a target trial emulated once in each
  cohort period): a child enters at a CIN referral in the study window with
  no CIN episode open at any time in the ``lookback_months`` before it (an
  episode referred earlier and closed on or after the window's start, or
  still open, blocks entry) -- the same rule before and after go-live. The
  look-back must lie inside the CIN data (from ``cin_observation_start``):
  otherwise the referral cannot be shown to be new and is not an entry. A
  child enters at most once in each cohort period, at the period's first new
  referral, and its **cohort** is that of the referral's own date; a child
  may so enter in two or three periods (as separate trials; siblings and
  repeat entries share the family cluster). ``child_eligibility`` then has
  one row per child and period with a referral in the window (one row with
  no cohort for a child excluded before that).
* ``"first_referral"`` (sensitivity: the earlier definition): a child's
  **time zero** is its first CIN referral in the study window; a family's
  **index date** is the earliest time zero of its included children, and its
  **cohort** follows that date. Every child of the family takes the family's
  cohort, even a sibling first referred after go-live. The post-FSP cohort is
  then, by construction, families with no referral in the years before
  go-live: the asymmetry the primary design removes.

A child (or, under ``"new_referral"``, an entry) is excluded, first reason
wins, for: no family link (not in ``families``); a quarantined record (when
``exclude_quarantined``); no referral in the study window (split into
``referral_before_study_window`` and ``referral_after_study_end``); under
``"new_referral"``, no new referral in the period (``no_new_referral``) or
none whose look-back is observed (``look_back_not_observed``); no birth
month; unborn at the referral (birth month after it -- a child born later in
the month of referral counts as born); aged ``censor_at_age`` or over at the
referral (age from the first of the birth month). The **index episode** is
the CIN episode referred on time zero (the longest one if several: open,
else latest closure); cohorts are always defined by entry, never by closure.
"""

from __future__ import annotations

import pandas as pd

from evaluation.spells.censoring import family_links, observation_windows
from evaluation.study import StudyConfig
from evaluation.upstream import built

KEYS = ["la_code", "child_id"]

#: Exclusion reasons in the order they are applied, with their descriptions.
EXCLUSIONS: tuple[tuple[str, str], ...] = (
    ("no_family_link", "no family link in the case-management extract"),
    ("quarantined_records", "a record of the child was quarantined at ingest"),
    ("referral_before_study_window", "all CIN referrals before the study window"),
    ("referral_after_study_end", "all CIN referrals after the study end"),
    ("no_new_referral", "every referral in the period had a CIN episode in the look-back before it"),
    ("look_back_not_observed", "the look-back before each new referral starts before the CIN data"),
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


def look_back_start(dates: pd.Series, config: StudyConfig) -> pd.Series:
    """First day of the look-back window before each date: ``lookback_months`` earlier."""
    return pd.to_datetime(dates) - pd.DateOffset(months=config.lookback_months)


def new_referrals(tables: dict[str, pd.DataFrame], config: StudyConfig) -> pd.DataFrame:
    """Every referral with whether it is new: ``la_code, child_id, referral_date, blocked``
    (a CIN episode open in the look-back before it) and ``look_back_observed``."""
    episodes = tables["cin_episodes"].dropna(subset=["referral_date"])
    referrals = episodes[KEYS + ["referral_date"]].drop_duplicates().reset_index(drop=True)
    referrals["look_back_start"] = look_back_start(referrals["referral_date"], config)
    pairs = referrals.reset_index().merge(
        episodes[KEYS + ["referral_date", "closure_date"]].rename(
            columns={"referral_date": "earlier_referral"}), on=KEYS)
    open_in_window = (pairs["earlier_referral"] < pairs["referral_date"]) & (
        pairs["closure_date"].isna() | (pairs["closure_date"] >= pairs["look_back_start"]))
    blocked = pairs.loc[open_in_window.to_numpy(), "index"].unique()
    referrals["blocked"] = referrals.index.isin(blocked)
    windows = observation_windows(tables, config)[["la_code", "cin_observation_start"]]
    referrals = referrals.merge(windows, on="la_code", how="left")
    referrals["look_back_observed"] = (referrals["look_back_start"]
                                       >= referrals["cin_observation_start"]).to_numpy(dtype=bool)
    return referrals[KEYS + ["referral_date", "blocked", "look_back_observed"]]


def child_eligibility(tables: dict[str, pd.DataFrame], config: StudyConfig) -> pd.DataFrame:
    """Candidate entries: ``family_id``, ``birth_month``, ``time_zero``, ``cohort`` and
    ``excluded_reason`` (<NA> for an included entry); see the module docstring.

    ``"first_referral"``: one row per child with a CIN episode, ``time_zero`` its
    first referral in the study window (NaT if none) and ``cohort`` <NA> (the
    family's cohort is decided by :func:`index_episodes`). ``"new_referral"``:
    one row per child and cohort period with a referral in the window,
    ``time_zero`` the period's first new referral (NaT if none) and ``cohort``
    the period; a child with no referral in the window has one row, cohort <NA>.
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
    per_child["cohort"] = pd.Series(pd.NA, index=per_child.index, dtype="string")
    per_child["look_back_issue"] = pd.Series(pd.NA, index=per_child.index, dtype="string")
    if config.entry_rule == "new_referral":
        per_child = _new_referral_rows(tables, config, referrals, per_child)

    children = (tables["children"].drop_duplicates(KEYS)[KEYS + ["birth_month"]])
    out = (per_child.merge(family_links(tables), on=KEYS, how="left")
           .merge(children, on=KEYS, how="left"))
    quarantined = tables["quarantine"].dropna(subset=["child_id"])[KEYS].drop_duplicates()
    quarantined = out[KEYS].merge(quarantined.assign(_q=True), on=KEYS, how="left")["_q"]
    quarantined = quarantined.eq(True).to_numpy() & config.exclude_quarantined
    no_window = out["time_zero"].isna() & out["cohort"].isna()
    age = age_in_years(out["birth_month"], out["time_zero"])
    conditions = {
        "no_family_link": out["family_id"].isna(),
        "quarantined_records": pd.Series(quarantined, index=out.index),
        "referral_before_study_window": no_window & out["any_before"],
        "referral_after_study_end": no_window,
        "no_new_referral": out["look_back_issue"].eq("no_new_referral").fillna(False),
        "look_back_not_observed": out["look_back_issue"].eq("look_back_not_observed").fillna(False),
        "birth_month_missing": out["birth_month"].isna(),
        "unborn_at_referral": out["birth_month"] > out["time_zero"],
        "aged_18_or_over_at_referral": (age >= config.censor_at_age).fillna(False).astype(bool),
    }
    reason = pd.Series(pd.NA, index=out.index, dtype="string")
    for name, _ in EXCLUSIONS:
        reason[reason.isna() & conditions[name].to_numpy(dtype=bool)] = name
    out["excluded_reason"] = reason
    out = out.sort_values(KEYS + ["time_zero"], na_position="last").reset_index(drop=True)
    return out[KEYS + ["family_id", "birth_month", "time_zero", "cohort", "excluded_reason"]]


def _new_referral_rows(tables, config, referrals, per_child) -> pd.DataFrame:
    """Per child and period with a referral in the window: the first new referral (see module doc)."""
    in_window = referrals.dropna(subset=["in_window_date"])[KEYS + ["referral_date"]].drop_duplicates()
    flagged = in_window.merge(new_referrals(tables, config), on=KEYS + ["referral_date"], how="left")
    flagged["cohort"] = config.cohort_of(flagged["referral_date"])
    flagged["eligible"] = ~flagged["blocked"] & flagged["look_back_observed"]
    flagged["unobserved"] = ~flagged["blocked"] & ~flagged["look_back_observed"]
    flagged["entry_date"] = flagged["referral_date"].where(flagged["eligible"])
    periods = flagged.groupby(KEYS + ["cohort"], observed=True).agg(
        time_zero=("entry_date", "min"), unobserved=("unobserved", "any")).reset_index()
    issue = pd.Series(pd.NA, index=periods.index, dtype="string")
    none = periods["time_zero"].isna()
    issue[none & periods["unobserved"]] = "look_back_not_observed"
    issue[none & ~periods["unobserved"]] = "no_new_referral"
    periods["look_back_issue"] = issue
    periods["cohort"] = periods["cohort"].astype("string")
    periods = periods.merge(per_child[KEYS + ["any_before"]], on=KEYS, how="left")
    outside = per_child[per_child["time_zero"].isna()]   # no referral in the window: one row
    return pd.concat([periods.drop(columns="unobserved"), outside], ignore_index=True)


def _index_episode(tables: dict[str, pd.DataFrame], children: pd.DataFrame) -> pd.DataFrame:
    episodes = tables["cin_episodes"][KEYS + ["episode_id", "referral_date", "closure_date"]]
    candidates = children[KEYS + ["time_zero"]].merge(
        episodes, left_on=KEYS + ["time_zero"], right_on=KEYS + ["referral_date"], how="inner")
    candidates["_open"] = candidates["closure_date"].isna()
    candidates = candidates.sort_values(KEYS + ["time_zero", "_open", "closure_date", "episode_id"],
                                        ascending=[True, True, True, False, False, True])
    return candidates.drop_duplicates(KEYS + ["time_zero"])[KEYS + ["time_zero", "episode_id"]]


def index_episodes(tables: dict[str, pd.DataFrame], config: StudyConfig) -> pd.DataFrame:
    """One row per included entry: ``la_code, child_id, family_id, episode_id, time_zero,
    family_index_date, cohort`` (a child once, or under ``"new_referral"`` once per cohort
    it entered; ``la_code, child_id, time_zero`` is the key of an entry)."""
    eligible = child_eligibility(tables, config)
    included = eligible[eligible["excluded_reason"].isna()].copy()
    if config.entry_rule == "new_referral":
        # the family's index date within the same cohort period: when its first child entered
        included["family_index_date"] = included.groupby(
            ["la_code", "family_id", "cohort"], observed=True)["time_zero"].transform("min")
    else:
        included["family_index_date"] = included.groupby(
            ["la_code", "family_id"], observed=True)["time_zero"].transform("min")
        included["cohort"] = config.cohort_of(included["family_index_date"])
    out = included.merge(_index_episode(tables, included), on=KEYS + ["time_zero"], how="left")
    columns = KEYS + ["family_id", "episode_id", "time_zero", "family_index_date", "cohort"]
    return out[columns].sort_values(KEYS + ["time_zero"]).reset_index(drop=True)


def family_cohorts(tables: dict[str, pd.DataFrame], config: StudyConfig) -> pd.DataFrame:
    """One row per included family (and cohort, under ``"new_referral"``, where a family may
    enter in more than one period): ``la_code, family_id, index_date, cohort, index_child_id,
    children`` (children included) and ``family_size`` (children linked to the family)."""
    index = built(tables, "index_episodes", lambda: index_episodes(tables, config))
    unit = ["la_code", "family_id"] + (["cohort"] if config.entry_rule == "new_referral" else [])
    first = index.sort_values(["la_code", "family_id", "time_zero", "child_id"]).drop_duplicates(unit)
    counts = index.groupby(unit, observed=True).size().rename("children")
    out = pd.DataFrame({
        "la_code": first["la_code"], "family_id": first["family_id"],
        "index_date": first["time_zero"], "cohort": first["cohort"],
        "index_child_id": first["child_id"],
    }).merge(counts.reset_index(), on=unit, how="left")
    out = out.merge(family_sizes(tables), on=["la_code", "family_id"], how="left")
    return out.sort_values(["la_code", "index_date", "family_id"]).reset_index(drop=True)


def family_sizes(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``la_code, family_id, family_size``: children linked to each family in ``families``."""
    links = family_links(tables)
    return (links.groupby(["la_code", "family_id"], observed=True).size()
            .rename("family_size").reset_index())
