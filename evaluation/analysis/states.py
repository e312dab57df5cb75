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
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from evaluation.analysis.guard import attempt, concat, not_estimable
from evaluation.study import StudyConfig
from evaluation.survival.multistate import expected_days_table, proportion_reaching_table

TABLES: tuple[str, ...] = ("expected_days", "proportion_reaching")
DEFAULT_TAUS: tuple[int, ...] = (365, 730)
DEFAULT_BOOTSTRAP = 200
DEFAULT_SEED = 20201101
#: Targets of the first-passage probabilities: each on its own and either.
REACHING: tuple[tuple[str, ...], ...] = (("cp_plan",), ("care",), ("cp_plan", "care"))
INTERVAL_COLUMNS: tuple[str, ...] = ("id", "cluster", "group", "tstart", "tstop", "from_state", "to_state")


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


def state_results(
    intervals: pd.DataFrame,
    config: StudyConfig,
    *,
    taus: Sequence[float] = DEFAULT_TAUS,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = DEFAULT_SEED,
    initial_state: str = "referral",
    weights: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Expected days in each state and proportions reaching CP plan / care (see the module docstring)."""
    del config  # the intervals already follow the study's rules; kept for a uniform signature
    missing = set(INTERVAL_COLUMNS) - set(intervals.columns)
    if missing:
        raise ValueError(f"intervals lack columns {sorted(missing)}")
    if weights is not None and weights not in intervals.columns:
        raise ValueError(f"intervals lack the weights column {weights!r}")
    data = intervals[list(INTERVAL_COLUMNS) + ([weights] if weights is not None else [])].copy()
    data = data[data["group"].notna()]
    for column in ("id", "cluster", "group", "from_state", "to_state"):
        data[column] = data[column].astype(object).where(data[column].notna(), None)
    data = follow_up_to(data, max(taus))
    if len(data) == 0:
        return {"expected_days": not_estimable("no journeys", analysis="multistate_aalen_johansen",
                                               outcome="days_in_state"),
                "proportion_reaching": not_estimable("no journeys", analysis="multistate_aalen_johansen",
                                                     outcome="reached_cp_plan_or_care")}
    method = dict(analysis="multistate_aalen_johansen")
    days = attempt(lambda: expected_days_table(data, taus=taus, initial_state=initial_state, n_boot=n_boot,
                                               seed=seed, weights=weights), outcome="days_in_state", **method)
    reaching = []
    for targets in REACHING:
        outcome = "reached_" + "_or_".join(targets)
        reached = data["to_state"].isin(targets) | data["from_state"].isin(targets)
        if not reached.any():
            reaching.append(not_estimable(f"nobody reached {' or '.join(targets)}", outcome=outcome, **method))
            continue
        reaching.append(attempt(lambda targets=targets: proportion_reaching_table(
            data, taus=taus, states=targets, initial_state=initial_state, n_boot=n_boot, seed=seed,
            weights=weights),
            outcome=outcome, **method))
    return {"expected_days": concat([days]), "proportion_reaching": concat(reaching)}


__all__ = ["DEFAULT_BOOTSTRAP", "DEFAULT_TAUS", "REACHING", "TABLES", "follow_up_to", "state_results"]
