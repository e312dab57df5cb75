"""The analysis dataset: one row per entry × outcome, ready for survival estimators.

An entry is a child's entry into the study (:mod:`evaluation.cohorts.cohorts`),
keyed by ``la_code, child_id, time_zero``: under the primary ``"new_referral"``
rule a child may enter once in each cohort period, each entry followed as its
own trial (siblings and repeat entries share the family cluster).

Outcomes (time in days, at risk on ``(entry, duration]``):

* ``time_in_need`` — index CIN episode, referral → closure;
* ``time_on_cin_plan`` / ``time_in_protection`` / ``time_in_care`` — the
  child's first CIN plan / CP plan / period of care starting on or after
  time zero, start → end, ``cause`` its exit type (rows only for children
  who had one). CIN plans are in the census only from 2021-22: for a child
  whose time zero is earlier, only a plan that started before then and was
  still open then counts (entered late); a plan that ended before is unseen
  (left truncation) and a later plan cannot be known to be the first;
* ``time_to_protection`` / ``time_to_care`` — time zero → start of the first
  CP plan / period of care (every child);
* ``re_referral`` — closure of the index episode → the child's next CIN
  referral after that day, followed for ``re_referral_days`` (rows only for
  index episodes observed to close);
* ``repeat_protection`` / ``care_re_entry`` — repeat involvement as DfE
  publishes it: the end of the entry's first CP plan / period of care (rows
  only for those observed to end) → the start of the child's next one,
  followed for two years / one year.

``route_entry`` is the days from the origin after which the row's exit route
can be told apart: a CP plan's step-down to a CIN plan, and so its "other"
exit, only once CIN plan dates are collected (``cin_plan_observation_start``;
earlier ends are ``step_down_or_other``). It equals ``entry`` for every other
outcome and for plans starting after that date; an analysis of those routes
enters plans there (delayed entry), so pre-FSP step-downs are not counted as
something else.

Censoring for every outcome: the data window end (extract reference date or
``study_end``), the 18th birthday, death and transfer out (first on or after
the outcome's origin), as in :mod:`evaluation.spells.censoring`; ``event`` is
0 and ``cause`` "censored" then. With ``censor_earlier_cohorts_at_go_live``
(the primary design; False is the sensitivity analysis that follows them to
the end of the data) the pre-FSP and transition cohorts are also censored
at go-live (an exit that day included), and their rows with no observed time
before it (a spell or re-referral window starting on or after go-live) are
dropped and counted. ``entry`` is the days from the origin to
the LA's ``observation_start`` when the origin is earlier (delayed entry),
else 0; rows whose spell ended before ``observation_start`` are dropped. A
row whose duration equals its entry (a same-day spell, or one ending the day
it came under observation) gets ``duration = entry + same_day_days``.
``go_live_day`` is the day (from the row's origin) on which go-live censors it:
known at baseline for the earlier cohorts when they are censored there, +inf
otherwise -- the censoring time whose dependence on covariates
:mod:`evaluation.survival.censoring_weights` corrects for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.cohorts.cohorts import index_episodes as build_index
from evaluation.cohorts.covariates import COVARIATES, covariates
from evaluation.cohorts.risk_factors import FLAGS, risk_factors
from evaluation.spells.care import care_periods, raw_care_periods
from evaluation.spells.censoring import censoring_limits, observation_windows, prepare_follow_up
from evaluation.spells.cin_plans import cin_plan_spells
from evaluation.spells.need import need_spells
from evaluation.spells.protection import protection_spells
from evaluation.study import StudyConfig
from evaluation.upstream import built

KEYS = ["la_code", "child_id"]
#: The key of an entry: a child may enter once in each cohort period (``entry_rule``).
ENTRY = KEYS + ["time_zero"]
#: Outcome -> the exit routes that can be told apart only from ``route_entry`` on.
LATE_ROUTES: dict[str, tuple[str, ...]] = {"time_in_protection": ("step_down", "other")}
OUTCOMES: tuple[str, ...] = ("time_in_need", "time_on_cin_plan", "time_in_protection", "time_in_care",
                             "time_to_protection", "time_to_care", "re_referral", "repeat_protection",
                             "care_re_entry")
#: Follow-up of the repeat-involvement outcomes (days after the first plan / period of care ends),
#: as DfE publishes them: a second CP plan within two years, re-entry to care within a year.
REPEAT_PROTECTION_DAYS, CARE_RE_ENTRY_DAYS = 730, 365
ANALYSIS_COLUMNS: tuple[str, ...] = (
    "la_code", "child_id", "family_id", "outcome", "cohort", "time_zero", "entry", "route_entry",
    "duration", "event", "cause", "go_live_day", "combination", *FLAGS, *COVARIATES,
)


def _spell_rows(outcome: str, spells: pd.DataFrame, index: pd.DataFrame, first_after: bool,
                route_observed_from: pd.Series | None = None) -> pd.DataFrame:
    """Rows from spells: the index episode's spell, or the first spell starting on/after time zero.

    ``route_observed_from`` (LA code -> date) is when the exit routes can be told apart; its
    days from the spell's start give ``route_entry`` (at least ``entry``).
    """
    if first_after:
        pairs = index[KEYS + ["time_zero"]].merge(spells, on=KEYS, how="inner")
        # from time zero; when time zero is before the spells are observed (CIN plans before
        # 2021-22), only spells started before observation began (open then, entered late):
        # a later one cannot be known to be the first
        observed_from_zero = pairs["time_zero"] >= pairs["observation_start"]
        pairs = pairs[(pairs["start_date"] >= pairs["time_zero"])
                      & (observed_from_zero | (pairs["start_date"] < pairs["observation_start"]))]
        chosen = pairs.sort_values(ENTRY + ["start_date"]).drop_duplicates(ENTRY)
    else:
        chosen = index[KEYS + ["episode_id", "time_zero"]].merge(
            spells.drop(columns="family_id"), on=KEYS + ["episode_id"], how="inner")
    route_entry = chosen["entry_days"]
    if route_observed_from is not None:
        observed = pd.to_datetime(chosen["la_code"].map(route_observed_from))
        route_entry = np.maximum(route_entry, (observed - chosen["start_date"]).dt.days.clip(lower=0))
    return pd.DataFrame({
        "la_code": chosen["la_code"], "child_id": chosen["child_id"],
        "time_zero": chosen["time_zero"], "outcome": outcome,
        "origin": chosen["start_date"], "entry": chosen["entry_days"],
        "route_entry": route_entry.astype("float64"),
        "duration": chosen["duration_days"],
        "event": (~chosen["censored"]).astype("int64"), "cause": chosen["exit_type"],
    })


def _time_to_rows(outcome: str, cause: str, origins: pd.DataFrame, targets: pd.Series,
                  tables, config, follow, horizon_days: int | None = None,
                  dataset: str | None = None) -> pd.DataFrame:
    """Rows from ``origins[origin]`` to the ``targets`` date (NaT if none), censored at the end
    of ``dataset``'s window (``None``: the joint window of an outcome that needs both)."""
    limits = censoring_limits(origins, "origin", tables, config, follow, dataset)
    admin_end = limits["admin_end"]
    if horizon_days is not None:
        admin_end = admin_end.clip(upper=origins["origin"] + pd.Timedelta(days=horizon_days))
    hard = limits["limit"]
    event = targets.notna() & (targets <= admin_end) & (hard.isna() | (targets < hard))
    stop = pd.concat([admin_end, hard], axis=1).min(axis=1)
    end = targets.where(event, stop)
    entry = (limits["observation_start"] - origins["origin"]).dt.days.clip(lower=0)
    return pd.DataFrame({
        "la_code": origins["la_code"], "child_id": origins["child_id"],
        "time_zero": origins["time_zero"], "outcome": outcome,
        "origin": origins["origin"], "entry": entry.astype("float64"),
        "route_entry": entry.astype("float64"),
        "duration": (end - origins["origin"]).dt.days.astype("float64"),
        "event": event.astype("int64"), "cause": np.where(event, cause, "censored"),
    })


def _stop_at_go_live(rows: pd.DataFrame, index: pd.DataFrame, config: StudyConfig) -> tuple[pd.DataFrame, int]:
    """Censor at go-live the rows of entries in the pre-FSP and transition cohorts.

    Returns the rows and how many were dropped for having no observed time before
    go-live (their origin on or after it, or their entry not before it).
    """
    cohort = rows.set_index(ENTRY).index.map(index.set_index(ENTRY)["cohort"])
    earlier = pd.Series(cohort != "post_fsp", index=rows.index)
    cutoff = (pd.Timestamp(config.go_live) - rows["origin"]).dt.days.astype("float64")
    drop = earlier & (cutoff <= rows["entry"])
    stop = earlier & (rows["duration"] >= cutoff)
    censored = rows.assign(duration=rows["duration"].mask(stop, cutoff), event=rows["event"].mask(stop, 0),
                           cause=rows["cause"].mask(stop, "censored"),
                           go_live_day=cutoff.where(earlier, np.inf))
    return censored[~drop], int(drop.sum())


def _repeat_rows(outcome: str, cause: str, index: pd.DataFrame, spells: pd.DataFrame, tables, config,
                 follow, horizon_days: int, dataset: str) -> pd.DataFrame:
    """From the end of each entry's first spell starting on/after time zero (if observed to end)
    to the start of the child's next spell, followed for ``horizon_days``."""
    pairs = index[ENTRY].merge(spells[KEYS + ["start_date", "end_date", "censored"]], on=KEYS)
    pairs = pairs[pairs["start_date"] >= pairs["time_zero"]]
    first = pairs.sort_values(ENTRY + ["start_date"]).drop_duplicates(ENTRY)
    ended = first[~first["censored"].astype(bool) & first["end_date"].notna()]
    origins = ended[ENTRY].assign(origin=ended["end_date"]).reset_index(drop=True)
    later = origins[KEYS + ["origin"]].reset_index().merge(spells[KEYS + ["start_date"]], on=KEYS)
    later = later[later["start_date"] > later["origin"]]
    following = (later.groupby("index")["start_date"].min().reindex(origins.index)
                 .astype("datetime64[ns]"))
    return _time_to_rows(outcome, cause, origins, following, tables, config, follow,
                         horizon_days=horizon_days, dataset=dataset)


def _first_start_on_or_after(index: pd.DataFrame, spells: pd.DataFrame) -> pd.Series:
    pairs = index[KEYS + ["time_zero"]].reset_index().merge(spells[KEYS + ["start_date"]], on=KEYS)
    pairs = pairs[pairs["start_date"] >= pairs["time_zero"]]
    return pairs.groupby("index")["start_date"].min().reindex(index.index).astype("datetime64[ns]")


def analysis_dataset(tables: dict[str, pd.DataFrame], config: StudyConfig) -> pd.DataFrame:
    """One row per included child × outcome with cohort, risk factors and covariates.

    ``.attrs["dropped_before_observation"]`` counts rows dropped because their
    spell ended before the data window; ``.attrs["dropped_after_go_live"]`` those
    dropped by ``censor_earlier_cohorts_at_go_live`` (0 without it).
    """
    index = built(tables, "index_episodes", lambda: build_index(tables, config))
    follow = prepare_follow_up(tables, config)
    raw_care = raw_care_periods(tables["care_episodes"])
    need = built(tables, "need_spells", lambda: need_spells(tables, config, follow))
    protection = built(tables, "protection_spells",
                       lambda: protection_spells(tables, config, follow, raw_care))
    care = built(tables, "care_periods", lambda: care_periods(tables, config, follow))
    parts = [
        _spell_rows("time_in_need", need, index, first_after=False),
        _spell_rows("time_on_cin_plan", built(tables, "cin_plan_spells",
                                               lambda: cin_plan_spells(tables, config, follow, raw_care)),
                    index,
                    first_after=True),
        _spell_rows("time_in_protection", protection, index, first_after=True,
                    route_observed_from=observation_windows(tables, config).set_index("la_code")[
                        "cin_plan_observation_start"]),
        _spell_rows("time_in_care", care, index, first_after=True),
    ]
    origins = index[ENTRY].assign(origin=index["time_zero"])
    # The protection spells it reads are followed in the joint window (a plan's exit into care
    # needs the care data), so time to protection is too.
    parts.append(_time_to_rows("time_to_protection", "protection", origins,
                               _first_start_on_or_after(index, protection), tables, config, follow))
    parts.append(_time_to_rows("time_to_care", "care", origins,
                               _first_start_on_or_after(index, care), tables, config, follow))

    closed = index[ENTRY + ["episode_id"]].merge(
        need.loc[~need["censored"], KEYS + ["episode_id", "end_date"]], on=KEYS + ["episode_id"])
    closed = closed.rename(columns={"end_date": "origin"}).reset_index(drop=True)
    referrals = tables["cin_episodes"][KEYS + ["referral_date"]].dropna()
    pairs = closed[KEYS + ["origin"]].reset_index().merge(referrals, on=KEYS)
    pairs = pairs[pairs["referral_date"] > pairs["origin"]]
    next_referral = (pairs.groupby("index")["referral_date"].min().reindex(closed.index)
                     .astype("datetime64[ns]"))
    # A re-referral needs the CIN census only: followed while it is observed.
    parts.append(_time_to_rows("re_referral", "re_referral", closed, next_referral, tables, config,
                               follow, horizon_days=config.re_referral_days, dataset="cin_census"))
    # Repeat involvement: from the end of the entry's first CP plan / period of care.
    parts.append(_repeat_rows("repeat_protection", "protection", index, protection, tables, config, follow,
                              REPEAT_PROTECTION_DAYS, dataset="cin_census"))
    parts.append(_repeat_rows("care_re_entry", "care", index, care, tables, config, follow,
                              CARE_RE_ENTRY_DAYS, dataset="ssda903"))

    rows = pd.concat(parts, ignore_index=True)
    before = rows["duration"] < rows["entry"]
    dropped_before = int(before.sum())
    rows = rows[~before].copy()
    after_go_live = 0
    rows["go_live_day"] = np.inf
    if config.censor_earlier_cohorts_at_go_live:
        rows, after_go_live = _stop_at_go_live(rows, index, config)
    same_day = rows["duration"] == rows["entry"]
    rows.loc[same_day, "duration"] = rows.loc[same_day, "entry"] + config.same_day_days
    rows["route_entry"] = rows[["route_entry", "entry"]].max(axis=1)

    out = (rows.merge(index[ENTRY + ["family_id", "cohort"]], on=ENTRY, how="left")
           .merge(risk_factors(tables, index, config).drop(columns="assessments_used"), on=ENTRY,
                  how="left")
           .merge(covariates(tables, index, config), on=ENTRY, how="left"))
    out["outcome"] = pd.Categorical(out["outcome"], categories=list(OUTCOMES))
    out = out.sort_values(["la_code", "family_id", "child_id", "time_zero", "outcome"]).reset_index(drop=True)
    out["outcome"] = out["outcome"].astype("string")
    for column in ("la_code", "child_id", "family_id", "cohort", "cause"):
        out[column] = out[column].astype("string")
    out = out[list(ANALYSIS_COLUMNS)]
    out.attrs = {"dropped_before_observation": dropped_before, "dropped_after_go_live": after_go_live}
    return out
