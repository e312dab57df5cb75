"""Days in each state and the share reaching a protection plan or care, by cohort.

:func:`state_results` takes each child's journey from the index referral as
multi-state intervals (:func:`evaluation.journeys.state_intervals`: ``id``,
``cluster`` = family, ``group`` = cohort, ``tstart``, ``tstop``,
``from_state``, ``to_state``) and returns two tidy tables
(:mod:`evaluation.results`) from :mod:`evaluation.survival.multistate`:

* ``expected_days`` — Aalen–Johansen restricted mean days in each state
  (referral, CIN plan, CP plan, care, closed) within each τ, by cohort and
  post − pre (``outcome`` is ``days_in_<state>``);
* ``proportion_reaching`` — the first-passage probability of reaching a CP
  plan, care, and either, within each τ, by cohort and post − pre
  (``outcome`` is ``reached_cp_plan``, ``reached_care``,
  ``reached_cp_plan_or_care``).

Follow-up is stopped at the largest τ first (:func:`follow_up_to`), which
leaves every estimate unchanged and saves most of the work. Uncertainty
comes from a bootstrap of whole families (siblings move together), seeded so
that a rerun gives the same limits; ``n_boot`` resamples, 200 by default
(a modest number for routine runs: raise it for the final report, since
percentile limits need many resamples to settle). Each resample is the
families' draw counts used as frequency weights on the one table
(:func:`evaluation.survival.multistate.bootstrap_occupation`), so its cost
grows with the rows once plus the replicates times the days, not rows × replicates.

``weights`` names an optional per-row weight column of the intervals (e.g.
inverse-probability weights for weighted expected days): the estimates and
every bootstrap replicate are then weighted (the weights held fixed across
replicates); ``n`` and ``events`` stay counts of children.

Given the ``analysis`` dataset, ``expected_days`` also holds the days adjusted
for who was referred (:mod:`evaluation.survival.adjusted_states`), post vs pre:
``multistate_aalen_johansen_ipw`` (each entry's stabilised inverse-probability-
of-cohort weight on its intervals, by cohort and difference) and
``multistate_aalen_johansen_aipw`` (doubly robust difference), with the same
propensity covariates as the survival outcomes
(:func:`~evaluation.analysis.survival_outcomes.propensity_design`), one
propensity model over the entries (:func:`entry_covariates`, mapped onto the
intervals by :func:`on_intervals`); ``state_e_values`` the E-value of every
post − pre difference in days (plain, IPW, AIPW), standardised by the SD of the
days in the state; and ``state_balance`` (not tidy, the layout of the survival
outcomes' ``balance``, ``outcome`` "days_in_state") the entries' covariate
balance before and after those weights. In the primary design the pre-FSP journeys are censored
at go-live (the analysis dataset's ``go_live_day`` is finite for their rows): the IPW days then
also carry inverse-probability-of-censoring weights for it, as the survival outcomes' IPCW
(:data:`JOURNEY_GO_LIVE_DAY`, go-live in days from the entry's time zero, is the censoring day;
pieces of ``IPCW_GRID_DAYS``; refitted on each bootstrap resample). The doubly robust days are not
weighted for it: they assume that censoring independent of the journey within a cohort. The
sensitivity design (earlier cohorts followed to the extract) has no planned censoring.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

import numpy as np

from evaluation.analysis import tables
from evaluation.analysis.design import COHORT, REFERENCE
from evaluation.analysis.guard import attempt, concat, not_estimable, one_blas_thread, released_reason
from evaluation.analysis.survival_outcomes import GO_LIVE_DAY, IPCW_GRID_DAYS, evalue_rows, propensity_design
from evaluation.errors import NotEstimable
from evaluation.study import StudyConfig
from evaluation.survival.adjusted_states import AIPW_ANALYSIS, IPW_ANALYSIS, adjusted_expected_days
from evaluation.survival.multistate import (
    BootstrapDraws, _all_states, expected_days_table, proportion_reaching_table,
)
from evaluation.survival.weighting import balance_table

TABLES: tuple[str, ...] = tables.STATES   # listed there for the assets
#: ``outcome`` of the adjusted days' rows of the covariate balance, and that table's columns.
BALANCE_OUTCOME = "days_in_state"
BALANCE_COLUMNS: tuple[str, ...] = ("outcome", "variable", "mean_reference", "mean_comparison", "smd_before",
                                    "weighted_mean_reference", "weighted_mean_comparison", "smd_after",
                                    "imbalanced_before", "imbalanced_after")
#: An entry: the analysis dataset's key of one emulated trial.
ENTRY_KEYS: tuple[str, ...] = ("la_code", "child_id", "time_zero")
DEFAULT_TAUS: tuple[int, ...] = (365, 730)
DEFAULT_BOOTSTRAP = 200
DEFAULT_SEED = 20201101
#: Targets of the first-passage probabilities: each on its own and either.
REACHING: tuple[tuple[str, ...], ...] = (("cp_plan",), ("care",), ("cp_plan", "care"))
INTERVAL_COLUMNS: tuple[str, ...] = ("id", "cluster", "group", "tstart", "tstop", "from_state", "to_state")
#: Column of :func:`entry_covariates`' entries: the day from time zero on which go-live censors the
#: entry's journey (the planned censoring of the primary design), +inf when it does not.
JOURNEY_GO_LIVE_DAY = "journey_go_live_day"


def follow_up_to(intervals: pd.DataFrame, horizon: float) -> pd.DataFrame:
    """Stop follow-up at day ``horizon``: later stays dropped, a stay running past it censored there.

    Every estimate within the horizon is unchanged (risk sets and transitions
    up to that day are the same) and the estimators step through far fewer
    days.
    """
    kept = intervals[intervals["tstart"] < horizon].copy()
    beyond = (kept["tstop"] > horizon).to_numpy()
    kept.loc[beyond, "tstop"] = float(horizon)
    kept.loc[beyond, "to_state"] = "censored"
    return kept.reset_index(drop=True)


@one_blas_thread
def state_results(
    intervals: pd.DataFrame,
    config: StudyConfig,
    *,
    taus: Sequence[float] = DEFAULT_TAUS,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = DEFAULT_SEED,
    initial_state: str = "referral",
    weights: str | None = None,
    analysis: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Expected days in each state and proportions reaching CP plan / care, and with the ``analysis``
    dataset the adjusted days and the E-values (see the module docstring)."""
    missing = set(INTERVAL_COLUMNS) - set(intervals.columns)
    if missing:
        raise ValueError(f"intervals lack columns {sorted(missing)}")
    if weights is not None and weights not in intervals.columns:
        raise ValueError(f"intervals lack the weights column {weights!r}")
    entry_keys = [c for c in ("la_code", "child_id") if c in intervals.columns]   # to find each journey's entry
    data = intervals[list(INTERVAL_COLUMNS) + entry_keys + ([weights] if weights is not None else [])].copy()
    data = data[data["group"].notna()]
    for column in ("id", "cluster", "group", "from_state", "to_state"):
        data[column] = data[column].astype(object).where(data[column].notna(), None)
    data = follow_up_to(data, max(taus))
    if len(data) == 0:
        return {"expected_days": not_estimable("no journeys", analysis="multistate_aalen_johansen",
                                               outcome="days_in_state"),
                "proportion_reaching": not_estimable("no journeys", analysis="multistate_aalen_johansen",
                                                     outcome="reached_cp_plan_or_care"),
                "state_e_values": not_estimable("no journeys", analysis="e_value", outcome="days_in_state"),
                "state_balance": pd.DataFrame(columns=list(BALANCE_COLUMNS))}
    method = dict(analysis="multistate_aalen_johansen")
    draws = BootstrapDraws(seed)    # every table resamples the same families with the same seed: drawn once
    days = attempt(lambda: expected_days_table(data, taus=taus, initial_state=initial_state, n_boot=n_boot,
                                               seed=seed, weights=weights, draws=draws),
                   outcome="days_in_state", **method)
    reaching = []
    for targets in REACHING:
        outcome = "reached_" + "_or_".join(targets)
        reached = data["to_state"].isin(targets) | data["from_state"].isin(targets)
        if not reached.any():
            reaching.append(not_estimable(f"nobody reached {' or '.join(targets)}", outcome=outcome, **method))
            continue
        reaching.append(attempt(lambda targets=targets: proportion_reaching_table(
            data, taus=taus, states=targets, initial_state=initial_state, n_boot=n_boot, seed=seed,
            weights=weights, draws=draws),
            outcome=outcome, **method))
    adjusted, e_values, balance = _adjusted(data, analysis, config, taus, n_boot, seed, initial_state, days, draws)
    return {"expected_days": concat([days, adjusted]), "proportion_reaching": concat(reaching),
            "state_e_values": e_values, "state_balance": balance if balance is not None else pd.DataFrame(columns=list(BALANCE_COLUMNS))}


def entry_covariates(analysis: pd.DataFrame, config: StudyConfig) -> tuple[pd.DataFrame, list[str]]:
    """One row per entry of the pre- and post-FSP cohorts (la_code, child_id, cohort, time_zero) with
    the propensity covariates as numeric columns, and their names. Each entry also has
    :data:`JOURNEY_GO_LIVE_DAY`: go-live in days from its time zero when the analysis dataset's rows of
    the entry are censored at go-live (a finite ``go_live_day``: the earlier cohorts in the primary
    design), +inf otherwise (the post-FSP cohort; every entry of the sensitivity design)."""
    keys = list(ENTRY_KEYS)
    if analysis[keys].isna().any().any():     # a missing key: pandas' own matching, as before
        return _entry_covariates_by_keys(analysis, config)
    # each row's entry coded once (first-seen order): its first row is drop_duplicates' row, and whether
    # any of its rows has a finite go-live day is read off the same codes
    entry = analysis.groupby(keys, sort=False).ngroup().to_numpy()
    first = np.zeros(len(analysis), dtype=bool)
    first[np.unique(entry, return_index=True)[1]] = True
    chosen = np.flatnonzero(first & analysis[COHORT].isin([REFERENCE, "post_fsp"]).to_numpy())
    entries = analysis.take(chosen)    # one copy, numbered 0.. in place
    entries.index = pd.RangeIndex(len(entries))
    day = np.full(len(entries), np.inf)
    if GO_LIVE_DAY in analysis.columns:
        finite = np.isfinite(analysis[GO_LIVE_DAY].to_numpy(dtype=float))
        planned = np.zeros(int(entry.max()) + 1 if len(entry) else 0, dtype=bool)
        planned[entry[finite]] = True
        cut = planned[entry[chosen]]
        zero = pd.to_datetime(entries["time_zero"])
        day = np.where(cut, (pd.Timestamp(config.go_live) - zero).dt.days.to_numpy(dtype=float), np.inf)
    return propensity_design(entries.assign(**{JOURNEY_GO_LIVE_DAY: day}), config)


def _entry_covariates_by_keys(analysis: pd.DataFrame, config: StudyConfig) -> tuple[pd.DataFrame, list[str]]:
    """:func:`entry_covariates` matching the entries by their keys through pandas (any keys, missing ones too)."""
    entries = analysis.drop_duplicates(list(ENTRY_KEYS)).reset_index(drop=True)
    entries = entries[entries[COHORT].isin([REFERENCE, "post_fsp"]).to_numpy()].reset_index(drop=True)
    day = np.full(len(entries), np.inf)
    if GO_LIVE_DAY in analysis.columns:
        finite = np.isfinite(analysis[GO_LIVE_DAY].to_numpy(dtype=float))
        planned = (analysis[list(ENTRY_KEYS)].assign(_planned=finite).groupby(list(ENTRY_KEYS))["_planned"].any())
        cut = planned.reindex(pd.MultiIndex.from_frame(entries[list(ENTRY_KEYS)])).to_numpy(dtype=bool)
        zero = pd.to_datetime(entries["time_zero"])
        day = np.where(cut, (pd.Timestamp(config.go_live) - zero).dt.days.to_numpy(dtype=float), np.inf)
    return propensity_design(entries.assign(**{JOURNEY_GO_LIVE_DAY: day}), config)


def on_intervals(intervals: pd.DataFrame, entries: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``columns`` of each entry on every interval of its journey (missing for journeys without one).

    An entry is a child's referral in one cohort period, and a child enters at most once per period,
    so (la_code, child_id, cohort) finds it from the intervals (whose ``id`` numbers a child's entries
    but carries no date); a duplicate raises rather than giving a journey another entry's values.
    """
    keys = ["la_code", "child_id", COHORT]
    values = entries[keys + list(columns)].assign(**{k: entries[k].astype(str) for k in keys})
    if values.duplicated(keys).any():
        raise ValueError("two entries of one child in one cohort: (la_code, child_id, cohort) must be unique")
    left = intervals.assign(la_code=intervals["la_code"].astype(str), child_id=intervals["child_id"].astype(str),
                            **{COHORT: intervals["group"].astype(str)})
    out = left.merge(values, on=keys, how="left", validate="many_to_one")
    return out.drop(columns=[COHORT]).set_axis(intervals.index)


def _adjusted(data, analysis, config, taus, n_boot, seed, initial_state, days, draws=None):
    """The IPW / AIPW rows of ``expected_days``, the ``state_e_values`` table (of these and of the
    plain differences in ``days``) and the entries' covariate balance under the weights."""
    keys = dict(outcome="days_in_state", contrast="post_fsp vs pre_fsp")
    if analysis is None:   # unadjusted days only; their E-values need the entries' pseudo-observations
        return None, not_estimable("no analysis dataset: E-values come with the adjusted days", analysis="e_value",
                                   **keys), None
    try:
        if not {"la_code", "child_id"} <= set(data.columns):
            raise ValueError("intervals lack la_code and child_id: their entries cannot be found")
        entries, covariates = entry_covariates(analysis, config)
        cohorts = data[data["group"].isin([REFERENCE, "post_fsp"]).to_numpy()]
        # the entry of each journey (its first interval: a journey is one child's in one cohort), not a
        # copy of the covariates on every interval
        journeys = cohorts.drop_duplicates("id")
        identity = ["la_code", "child_id", "group"]
        first = journeys.set_index("id")[identity].reindex(cohorts["id"])
        if any((~first[k].reset_index(drop=True).eq(cohorts[k].reset_index(drop=True))
                & first[k].notna().to_numpy()).any() for k in identity):
            raise ValueError("a journey (id) changes la_code, child_id or cohort between its intervals")
        del first
        mapped = on_intervals(journeys, entries, covariates + [JOURNEY_GO_LIVE_DAY])
        unmatched = mapped[covariates].isna().any(axis=1).to_numpy()
        if unmatched.any():
            raise ValueError(f"{mapped.loc[unmatched, 'id'].nunique()} journeys have no entry in the analysis dataset")
        result = adjusted_expected_days(cohorts, mapped[["id", JOURNEY_GO_LIVE_DAY] + covariates], covariates,
                                        taus=taus, n_boot=n_boot, seed=seed, initial_state=initial_state,
                                        states=_all_states(data, initial_state), censor_time=JOURNEY_GO_LIVE_DAY,
                                        grid_days=IPCW_GRID_DAYS, draws=draws)
    except NotEstimable as error:
        reason = released_reason(error)
        rows = [not_estimable(reason, analysis=name, **keys) for name in (IPW_ANALYSIS, AIPW_ANALYSIS)]
        return concat(rows), not_estimable(reason, analysis="e_value", **keys), None
    spread = result.restricted_sd
    per_entry = mapped.set_index("id")    # one row per journey, in the order of their first intervals
    balance = balance_table(per_entry, "group", covariates, weights=result.weights.reindex(per_entry.index),
                            reference=REFERENCE, comparison="post_fsp")
    balance.insert(0, "outcome", BALANCE_OUTCOME)

    def sd(row):
        return spread.get((float(row.time), str(row.outcome).removeprefix("days_in_")), np.nan)

    differences = concat([days, result.table])
    differences = differences[differences["contrast"].notna().to_numpy() & differences["estimate"].notna().to_numpy()]
    return result.table, evalue_rows(differences.iloc[:0], differences, sd, "days in the state"), balance


__all__ = ["DEFAULT_BOOTSTRAP", "DEFAULT_TAUS", "ENTRY_KEYS", "JOURNEY_GO_LIVE_DAY", "REACHING", "TABLES",
           "entry_covariates", "follow_up_to", "on_intervals", "state_results"]
