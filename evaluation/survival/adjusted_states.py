"""Expected days in each state adjusted for who was referred: IPW and doubly robust, post vs pre.

The cohorts differ in who was referred, so the Aalen–Johansen restricted mean days in each
state (:mod:`evaluation.survival.multistate`) are also estimated with each entry's baseline
covariates (one row per entry, ``id`` as in the intervals), in two ways:

* **IPW** (``multistate_aalen_johansen_ipw``): every interval of an entry carries the entry's
  stabilised inverse-probability-of-cohort weight (logistic propensity of the comparison
  cohort; ``share / e`` or ``(1 - share) / (1 - e)``); the weighted Aalen–Johansen occupation
  curves integrated to τ, per cohort and comparison − reference. R:
  ``survfit(Surv(tstart, tstop, state) ~ group, id = id, weights = w)``, ``pstate`` integrated
  to τ (tests/reference/adjusted_states/). With a planned censoring day per entry
  (``censor_time``: the earlier cohorts' go-live in the primary design) the weights also correct
  for that censoring, as the survival outcomes' IPCW does: each censored entry's follow-up (first
  to last day of its journey) goes through
  :func:`~evaluation.survival.censoring_weights.censoring_weights` (a Cox model of the censoring
  day on the same covariates over the entries with one, pieces of ``grid_days``), its intervals
  are split at the same grid days, and each piece carries cohort weight × the censoring weight of
  its grid cell: weights that vary within a child. R: a weighted Aalen–Johansen by hand from the
  split rows, equal to ``survfit`` with one id per weight piece (tests/reference/ipcw_states/;
  ``survfit(..., id = id)`` itself joins a child's split pieces and keeps the later weight).
* **Doubly robust** (``multistate_aalen_johansen_aipw``): each entry's pseudo-observation of its
  days in each state within τ — the cohort's restricted mean plus ``n`` times the entry's
  infinitesimal-jackknife influence, within its cohort (R ``pseudo(fit, times = tau, type =
  "sojourn")``) — in the augmented IPW estimator of :func:`evaluation.survival.doubly_robust.aipw_terms`
  (the same propensity, a linear outcome model per cohort): consistent if either model is right,
  under censoring independent of the covariates within a cohort (the pseudo-observations'
  condition; Andersen & Perme 2010). Not weighted for planned censoring: the pseudo-observations
  come from the unweighted Aalen–Johansen of each cohort (their infinitesimal-jackknife influence
  needs one weight per child), so the go-live censoring is assumed independent of the journey.

Confidence limits: percentiles of a family bootstrap, each resample the families' draw counts
used as frequency weights on the one table, the propensity model refitted on each (so the
weights' estimation is in the interval). IPW recomputes the weighted Aalen–Johansen on every
resample (one column of weights per entry, or per entry's piece under planned censoring, whose
censoring model is then refitted on each resample with the draw counts as frequency weights:
:class:`evaluation.survival.multistate._Replicates`);
the doubly robust estimator refits its propensity and outcome models on every resample but holds
each entry's pseudo-observations at their full-sample values (they are the estimator's
linearisation, so the variance is right to first order; recomputing them would be an
Aalen–Johansen influence pass per resample). Its ``se`` is the family-clustered
influence-function SE of the augmented terms, the bootstrap SD for IPW.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Sequence

import numpy as np
import pandas as pd

from evaluation.errors import NotEstimable
from evaluation.results import tidy
from evaluation.survival.doubly_robust import (
    Patterns, aipw_estimate, aipw_terms, bootstrap_limits, clustered_se,
    logistic_coefficients, pattern_propensity,
)
from evaluation.survival.censoring_weights import (
    censoring_baseline_hazard, censoring_model, censoring_weight_pieces, marginal_censoring_survival,
)
from evaluation.survival.multistate import (
    _all_states, _counts, _Design, _design, _Replicates, BootstrapDraws, state_occupation,
)

IPW_ANALYSIS = "multistate_aalen_johansen_ipw"
AIPW_ANALYSIS = "multistate_aalen_johansen_aipw"
#: Replicates computed at once by the IPW bootstrap (bounds the replicates × entries weights in memory).
CHUNK = 50
#: At most this many replicate × weight-unit cells at once (the units are the entries' pieces under IPCW).
CHUNK_CELLS = 2_000_000
#: Days of the pieces a journey with planned censoring is split into for its censoring weights
#: (as the survival outcomes' ``IPCW_GRID_DAYS``).
IPCW_GRID_DAYS = 30


@dataclass(frozen=True)
class AdjustedDays:
    """The tidy rows of both estimators and, per (tau, state), the pooled SD of the entries' restricted
    days in the state (from the pseudo-observations: at least the SD of the days themselves under
    censoring), which turns a difference into a standardised one (E-values)."""

    table: pd.DataFrame
    restricted_sd: dict
    #: each entry's stabilised inverse-probability-of-cohort weight (index: the entries' ids)
    weights: pd.Series


def state_pseudo_observations(intervals: pd.DataFrame, taus: Sequence[float], states: Sequence[str],
                              initial_state: str = "referral") -> tuple[np.ndarray, np.ndarray]:
    """Each entry's pseudo-observations of restricted days in each state (entries × taus × states),
    ``rmean + n * influence`` from one Aalen–Johansen fit of ``intervals``, and the entries' ids
    (sorted, as the fit codes them)."""
    fit = state_occupation(intervals, states, initial_state, taus=tuple(float(t) for t in taus), curve_se=False)
    out = np.stack([fit.rmean[float(t)] + fit.n * fit.rmean_influence[float(t)] for t in taus], axis=1)
    return fit.units, out


def stabilised_weights(e: np.ndarray, treated: np.ndarray, freq: np.ndarray | None = None) -> np.ndarray:
    """``share / e`` for the comparison cohort, ``(1 - share) / (1 - e)`` for the reference (``share``
    its (frequency-weighted) proportion), as :func:`evaluation.survival.weighting.cohort_weights`."""
    f = np.ones(len(e)) if freq is None else freq
    share = float(f @ treated) / float(f.sum())
    return np.where(treated, share / e, (1 - share) / (1 - e))


def adjusted_expected_days(
    intervals: pd.DataFrame,
    entries: pd.DataFrame,
    covariates: Sequence[str],
    *,
    taus: Sequence[float] = (365, 730),
    reference: str = "pre_fsp",
    comparison: str = "post_fsp",
    states: Sequence[str] | None = None,
    initial_state: str = "referral",
    n_boot: int = 200,
    seed: int = 20201101,
    level: float = 0.95,
    combination: str = "all",
    method_note: str = "",
    censor_time: str | None = None,
    grid_days: float = IPCW_GRID_DAYS,
    draws: BootstrapDraws | None = None,
) -> AdjustedDays:
    """IPW and doubly robust expected days in each state within each τ (see the module docstring).

    ``intervals``: the multi-state intervals (``id``, ``cluster`` = family, ``group`` = cohort, ...);
    ``entries``: one row per ``id`` of the two cohorts with the numeric ``covariates`` (every entry
    of the intervals in those cohorts must have one). ``method_note`` is appended to each row's method.
    ``censor_time``: a column of ``entries``, each entry's planned censoring day (go-live, from time
    zero; +inf when none): the IPW days are then also weighted by inverse probability of that
    censoring (see the module docstring), in pieces of ``grid_days``. ``draws``: a
    :class:`~evaluation.survival.multistate.BootstrapDraws` of ``seed`` shared with other tables.
    """
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1: the limits are bootstrap percentiles")
    taus = tuple(float(t) for t in taus)
    data = intervals[intervals["group"].isin([reference, comparison]).to_numpy()]
    data = data.assign(id=data["id"].astype(str)).reset_index(drop=True)
    if not {reference, comparison} <= set(data["group"]):
        raise NotEstimable(f"needs journeys in both {reference} and {comparison}")
    states = tuple(states) if states is not None else _all_states(intervals, initial_state)
    first = data.groupby("id", sort=True)[["cluster", "group"]].first()   # entries, sorted by id
    found = entries.assign(id=entries["id"].astype(str)).drop_duplicates("id").set_index("id")
    missing = first.index.difference(found.index)
    if len(missing):
        raise ValueError(f"{len(missing)} entries of the intervals have no covariates (first {missing[0]!r})")
    x = found.loc[first.index, list(covariates)].to_numpy(dtype=float)
    if np.isnan(x).any():
        raise ValueError("missing values in the covariates")
    treated = (first["group"] == comparison).to_numpy()
    patterns = Patterns.of(np.column_stack([np.ones(len(x)), x]))
    families, family = np.unique(first["cluster"].astype(str).to_numpy(), return_inverse=True)
    ones = np.ones(len(x))
    start = logistic_coefficients(patterns, treated.astype(float))
    e = pattern_propensity(patterns, treated, ones, start)[patterns.code]

    # IPW: the weighted Aalen–Johansen per cohort, on the full sample and each resample, every row of
    # an entry weighted by the entry's cohort weight times (under planned censoring) its piece's
    # censoring weight; a weight "unit" is an entry, or with IPCW an entry's piece
    position = pd.Series(np.arange(len(first)), index=first.index)
    if censor_time is not None and censor_time not in found.columns:
        raise ValueError(f"entries lack the planned censoring column {censor_time!r}")
    c = (found.loc[first.index, censor_time].to_numpy(dtype=float) if censor_time is not None
         else np.full(len(first), np.inf))
    if np.isnan(c).any():
        raise ValueError(f"{censor_time!r} has missing values (use +inf for no planned censoring)")
    pieces = _censoring_pieces(data, position, c, x, list(covariates), grid_days)
    entry_of_row = position.reindex(data["id"]).to_numpy()
    designs = {}
    for group in (reference, comparison):
        mask = (data["group"] == group).to_numpy()
        design = _design(data[mask], states, initial_state)
        if pieces is None:
            unit = entry_of_row[mask]
        else:   # the cohort's rows split into their pieces, coded from the rows' own coding
            local = np.cumsum(mask) - 1
            chosen = mask[pieces.row]
            design = _split_design(design, local[pieces.row[chosen]], pieces.tstart[chosen], pieces.tstop[chosen],
                                   pieces.last[chosen])
            unit = pieces.unit[chosen]
        columns, local_unit = np.unique(unit, return_inverse=True)
        designs[group] = (_Replicates(design, taus, local_unit, len(columns)), columns)
        del design, unit, local_unit
    if pieces is not None:   # the pieces are in the designs' matrices now: only the units' arrays are kept
        pieces = replace(pieces, row=pieces.row[:0], tstart=pieces.tstart[:0], tstop=pieces.tstop[:0],
                         last=pieces.last[:0], unit=pieces.unit[:0])
    unit_entry = pieces.unit_entry if pieces is not None else np.arange(len(first))
    point_ipcw = pieces.point if pieces is not None else 1.0
    point = _weighted_days(designs, (stabilised_weights(e, treated)[unit_entry] * point_ipcw)[None, :])

    # doubly robust: pseudo-observations within each cohort (computed here, before the resamples)
    y = np.empty((len(x), len(taus) * len(states)))
    for group in (reference, comparison):
        part = data[(data["group"] == group).to_numpy()]
        ids, pseudo = state_pseudo_observations(part, taus, states, initial_state)
        y[position.reindex(ids).to_numpy()] = pseudo.reshape(len(ids), -1)
    counts = _counts(data, states, taus)
    del data, entry_of_row    # not needed by the resamples
    y_by_column = np.ascontiguousarray(y.T)   # for aipw_estimate on every resample

    # the resamples in chunks (the families' draw counts from one generator: the same stream as
    # family_draws(len(families), n_boot, seed)), IPW and doubly robust on each; a chunk holds at most
    # CHUNK_CELLS resample × weight-unit weights
    replicates = {group: [] for group in designs}
    dr = np.full((n_boot, y.shape[1]), np.nan)
    chunk = max(1, min(CHUNK, CHUNK_CELLS // max(len(unit_entry), len(x))))
    draws = BootstrapDraws.of(seed, draws)
    for lo in range(0, n_boot, chunk):
        size = min(chunk, n_boot - lo)
        drawn = draws.rows(len(families), n_boot, lo, lo + size)
        block = np.empty((size, len(unit_entry)))
        for i, freq in enumerate(drawn[:, family].astype(float)):
            try:
                e_pattern = pattern_propensity(patterns, treated, freq, start)
                e_b = e_pattern[patterns.code]
            except (NotEstimable, np.linalg.LinAlgError):
                block[i] = np.nan      # counted as not fitted below
                continue
            try:
                w = (freq * stabilised_weights(e_b, treated, freq))[unit_entry]
                block[i] = w if pieces is None else w * pieces.refitted(freq)
            except (NotEstimable, np.linalg.LinAlgError):
                block[i] = np.nan
            try:
                dr[lo + i] = aipw_estimate(y, treated, patterns, e_pattern, freq, y_by_column)
            except (NotEstimable, np.linalg.LinAlgError):
                pass
        for group, days in _weighted_days(designs, block).items():
            replicates[group].append(days)
        del block
    del y_by_column
    boot = {group: np.concatenate(parts) for group, parts in replicates.items()}
    rows = []
    if pieces is None:
        ipw_method = ("Aalen–Johansen restricted mean days in state, weighted by inverse probability of cohort "
                      "(stabilised, logistic propensity); family bootstrap percentile CI ({used} resamples, "
                      "propensity refitted on each)" + method_note)
    else:
        ipw_method = ("Aalen–Johansen restricted mean days in state, weighted by inverse probability of cohort "
                      "(stabilised, logistic propensity) x inverse probability of censoring weights for the "
                      "censoring at go-live (Cox model of the go-live day on the same covariates, stabilised, "
                      f"{grid_days:g}-day pieces: time-varying weights); family bootstrap percentile CI ({{used}} "
                      "resamples, propensity and censoring models refitted on each)" + method_note)
    for group in (reference, comparison):
        reps = boot[group].reshape(n_boot, -1)
        lower, upper, used = bootstrap_limits(reps, n_boot, level)
        sd = _sd(reps)
        for j, (tau, state) in enumerate(_cells(taus, states)):
            rows.append(_row(IPW_ANALYSIS, state, group, None, combination, tau, point[group][0].ravel()[j],
                             lower[j], upper[j], sd[j], counts[tau].get((group, state), 0),
                             counts[tau][(group, None)], ipw_method.format(used=used)))
    diff = (boot[comparison] - boot[reference]).reshape(n_boot, -1)
    lower, upper, used = bootstrap_limits(diff, n_boot, level)
    sd = _sd(diff)
    estimate = (point[comparison][0] - point[reference][0]).ravel()
    contrast = f"{comparison} vs {reference}"
    for j, (tau, state) in enumerate(_cells(taus, states)):
        c = counts[tau]
        rows.append(_row(IPW_ANALYSIS, state, None, contrast, combination, tau, estimate[j], lower[j], upper[j],
                         sd[j], c.get((reference, state), 0) + c.get((comparison, state), 0),
                         c[(reference, None)] + c[(comparison, None)],
                         ipw_method.format(used=used) + "; difference " + contrast))

    estimate, terms = aipw_terms(y, treated, patterns, e)
    se = clustered_se(terms, estimate, family)
    del terms
    lower, upper, used = bootstrap_limits(dr, n_boot, level)
    aipw_method = ("doubly robust (augmented IPW) restricted mean days in state: pseudo-observations per cohort "
                   "(infinitesimal jackknife), logistic propensity, linear outcome model per cohort; "
                   f"family-clustered influence-function SE; family bootstrap percentile CI ({used} resamples, "
                   "propensity and outcome models refitted, pseudo-observations held); difference "
                   f"{contrast}"
                   + ("; censoring at go-live not weighted: assumed independent of the journey within a cohort"
                      if pieces is not None else "")
                   + method_note)
    for j, (tau, state) in enumerate(_cells(taus, states)):
        c = counts[tau]
        rows.append(_row(AIPW_ANALYSIS, state, None, contrast, combination, tau, estimate[j], lower[j], upper[j],
                         se[j], c.get((reference, state), 0) + c.get((comparison, state), 0),
                         c[(reference, None)] + c[(comparison, None)], aipw_method))
    spread = {}
    for j, (tau, state) in enumerate(_cells(taus, states)):
        variances = [np.var(y[treated == arm, j], ddof=1) for arm in (False, True)]
        spread[(tau, state)] = float(np.sqrt(np.mean(variances)))
    return AdjustedDays(tidy(rows), spread, pd.Series(stabilised_weights(e, treated), index=first.index, name="ipw"))


def _sd(replicates: np.ndarray) -> np.ndarray:
    """Bootstrap SD of each column over the fitted replicates (NaN with fewer than two)."""
    good = replicates[np.isfinite(replicates).all(axis=1)]
    return good.std(axis=0, ddof=1) if len(good) > 1 else np.full(replicates.shape[1], np.nan)


def _cells(taus, states):
    return [(tau, state) for tau in taus for state in states]


def _weighted_days(designs: dict, weights: np.ndarray) -> dict:
    """Restricted mean days (B × taus × states) of each cohort for each row of unit ``weights``
    (B × units): ``designs`` holds each cohort's :class:`~evaluation.survival.multistate._Replicates`
    (its rows coded by the cohort's own units) and those units' columns of ``weights``."""
    out = {}
    for group, (replicates, columns) in designs.items():
        w = weights[:, columns]
        bad = ~np.isfinite(w).all(axis=1)
        w[bad] = 0.0
        rmean, _ = replicates(w)
        rmean[bad] = np.nan
        out[group] = rmean
    return out


def _split_design(design: _Design, row: np.ndarray, tstart: np.ndarray, tstop: np.ndarray,
                  last: np.ndarray) -> _Design:
    """``design`` with its rows split into pieces: piece ``i`` of row ``row[i]`` on
    (``tstart[i]``, ``tstop[i]``], moving to the row's target state only when it is the row's ``last``
    piece (the others are censored): what :func:`_design` gives on the split rows, without them."""
    times = np.unique(tstop)
    return _Design(states=design.states, times=times, person=design.person[row], people=design.people,
                   first=np.searchsorted(times, tstart, side="right"),
                   last=np.searchsorted(times, tstop, side="left"), origin=design.origin[row],
                   target=np.where(last, design.target[row], -1), start=min(0.0, float(times[0])),
                   weight=design.weight[row])


@dataclass(frozen=True)
class _CensoringPieces:
    """The intervals with the journeys under planned censoring split at the grid, and their weights.

    ``data``: the pieces of the intervals (``row`` of the intervals, ``tstart``, ``tstop``, ``last``:
    the piece ending its row), each with its weight ``unit``: an entry without planned censoring,
    or one piece (grid cell) of an entry with it; the same columns as arrays (``row``, ...);
    ``unit_entry`` / ``unit_start`` the entry (position) and the first day of each unit; ``point``
    each unit's censoring weight, as :func:`~evaluation.survival.censoring_weights.censoring_weights`
    gives it (:func:`~evaluation.survival.censoring_weights.censoring_weight_pieces`; 1 without
    planned censoring).
    """

    row: np.ndarray
    tstart: np.ndarray
    tstop: np.ndarray
    last: np.ndarray
    unit: np.ndarray
    unit_entry: np.ndarray
    unit_start: np.ndarray
    point: np.ndarray
    planned: np.ndarray       # entries (positions) with planned censoring
    c: np.ndarray             # their censoring days
    x: np.ndarray             # their covariates
    planned_units: np.ndarray  # the units of entries with planned censoring
    planned_unit_entry: np.ndarray  # and their entry's position among those entries

    @property
    def data(self) -> pd.DataFrame:
        """The pieces as a frame (made when asked: the estimator reads the arrays)."""
        return pd.DataFrame({"row": self.row, "tstart": self.tstart, "tstop": self.tstop, "last": self.last,
                             "unit": self.unit}, copy=False)

    def refitted(self, freq: np.ndarray) -> np.ndarray:
        """Every unit's censoring weight with the censoring model refitted on a resample (``freq``:
        each entry's draw count, frequency weights, as :func:`censoring_model`)."""
        out = np.ones(len(self.unit_entry))
        f = freq[self.planned].astype(float)
        if f.sum() > 0:
            used, coef = censoring_model(self.c, self.x, f)
            # the model's linear predictor as a one-column design with coefficient 1: the same weights
            # without copying the covariates onto every unit
            lp = (self.x[:, used] @ coef)[:, None]
            # stabilised_censoring_weights' numbers with its marginal share and baseline hazard
            # computed at the units' few distinct start days and read off for each unit: the same
            # arithmetic per unit (exp(-H0(s) exp(lp)) and the share's ratio), not a search per unit
            days, day_of_unit = self.start_days
            marginal = marginal_censoring_survival(self.c, days, f)
            hazard = censoring_baseline_hazard(self.c, lp, np.ones(1), days, f)
            lp_at = lp[self.planned_unit_entry] @ np.ones(1)
            out[self.planned_units] = marginal[day_of_unit] / np.exp(-hazard[day_of_unit] * np.exp(lp_at))
        return out

    @cached_property
    def start_days(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct start days of the planned units and each planned unit's index among them."""
        return np.unique(self.unit_start[self.planned_units], return_inverse=True)


def _censoring_pieces(data: pd.DataFrame, position: pd.Series, c: np.ndarray, x: np.ndarray,
                      covariates: list[str], grid_days: float) -> _CensoringPieces | None:
    """Split the journeys of the entries with a finite planned censoring day ``c`` at multiples of
    ``grid_days`` and weight each piece by :func:`censoring_weights` of the entry's follow-up (one row
    per entry, from its first day to its last: a journey's weight steps at the grid days as a
    survival outcome's would). None when no entry has planned censoring."""
    planned = np.isfinite(c)
    if not planned.any():
        return None
    if grid_days <= 0:
        raise ValueError("grid_days must be positive")
    entry_of_row = position.reindex(data["id"]).to_numpy()
    tstart, tstop = data["tstart"].to_numpy(dtype=float), data["tstop"].to_numpy(dtype=float)
    first_day = np.full(len(c), np.inf)
    last_day = np.full(len(c), -np.inf)
    np.minimum.at(first_day, entry_of_row, tstart)
    np.maximum.at(last_day, entry_of_row, tstop)
    grid = np.arange(grid_days, float(tstop.max()) + grid_days, grid_days)
    # the entries' follow-up split and weighted as censoring_weights does (an entry without planned
    # censoring is one unit of weight 1), as arrays: no copy of the covariates per piece
    subject = np.flatnonzero(planned)
    rows, starts, weights = censoring_weight_pieces(c[subject], x[subject], first_day[subject],
                                                    last_day[subject], grid)
    unit_entry = np.concatenate([subject[rows], np.flatnonzero(~planned)])
    unit_start = np.concatenate([starts, first_day[~planned]])
    point = np.concatenate([weights, np.ones(int((~planned).sum()))])
    order = np.argsort(unit_entry, kind="stable")     # units in entry order (an entry's pieces in time)
    unit_entry, unit_start, point = unit_entry[order], unit_start[order], point[order]
    del rows, starts, weights, order
    first_unit = np.searchsorted(unit_entry, np.arange(len(c)))          # units come in entry order
    if np.any(np.diff(unit_entry) < 0):
        raise AssertionError("censoring_weights changed the order of the entries")

    # each interval of a planned entry split at the grid days strictly inside it (R's survSplit)
    inside = np.where(planned[entry_of_row], np.searchsorted(grid, tstop, side="left")
                      - np.searchsorted(grid, tstart, side="right"), 0)
    lo = np.searchsorted(grid, tstart, side="right")
    counts = inside + 1
    row = np.repeat(np.arange(len(data)), counts)
    j = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)     # piece number in its row
    last = j == inside[row]
    piece_start = np.where(j == 0, tstart[row], grid[np.minimum(lo[row] + j - 1, len(grid) - 1)])
    piece_stop = np.where(last, tstop[row], grid[np.minimum(lo[row] + j, len(grid) - 1)])
    entry = entry_of_row[row]
    offset = np.where(planned[entry], np.searchsorted(grid, piece_start, side="right")
                      - np.searchsorted(grid, first_day[entry], side="right"), 0)
    units = first_unit[entry] + offset
    del offset
    if np.any(unit_entry[units] != entry) or np.any(unit_start[units] > piece_start):
        raise AssertionError("a piece was matched to another entry's or a later piece's weight")
    planned_units = np.flatnonzero(planned[unit_entry])
    return _CensoringPieces(
        row=row, tstart=piece_start, tstop=piece_stop, last=last, unit=units, unit_entry=unit_entry,
        unit_start=unit_start,
        point=point, planned=np.flatnonzero(planned), c=c[planned],
        x=x[planned], planned_units=planned_units,
        planned_unit_entry=np.searchsorted(np.flatnonzero(planned), unit_entry[planned_units]))


def _row(analysis, state, cohort, contrast, combination, tau, estimate, lower, upper, se, events, n, method):
    return {"outcome": f"days_in_{state}", "analysis": analysis, "cohort": cohort, "contrast": contrast,
            "combination": combination, "term": None, "time": tau, "estimate": float(estimate),
            "ci_lower": float(lower), "ci_upper": float(upper), "se": float(se), "n": n, "events": events,
            "method": method}


__all__ = ["AIPW_ANALYSIS", "IPW_ANALYSIS", "AdjustedDays", "adjusted_expected_days", "stabilised_weights",
           "state_pseudo_observations"]
