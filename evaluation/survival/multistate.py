"""Days in each state: multi-state Aalen–Johansen state occupation.

From the index referral (day 0) a child moves between states such as
"referral", "cin_plan", "cp_plan", "care" and "closed", possibly back again
(a step-down from a protection plan to a CIN plan, a re-referral after
closure). The questions "how many days, on average, does a child spend on a
protection plan in the first year?" and "what share ever reach a protection
plan or care within a year?" are answered by the state occupation
probabilities P(in state s at day t), estimated by the Aalen–Johansen
product of transition matrices, and by their areas up to τ.

* :func:`state_occupation` — tie-exact, deterministic Aalen–Johansen for a
  general multi-state model (back-transitions allowed) with delayed entry,
  and the infinitesimal-jackknife (IJ) standard errors of R's
  ``survfit(Surv(tstart, tstop, to) ~ 1, id = id, istate = from)``.
* :func:`expected_days` — restricted mean time in each state within τ
  (R's ``rmean`` from ``summary(fit, rmean = tau)``) with its IJ SE.
* :func:`proportion_reaching` — the first-passage probability of reaching any
  of the target states within τ, made by turning the targets into one
  absorbing state (:func:`first_passage_intervals`).
* :func:`bootstrap_occupation` — the same estimates on bootstrap resamples of
  whole FAMILIES (siblings are not independent): each resample is a vector of
  family draw counts used as frequency weights on the one coded table (no
  rows copied), vectorised over replicates.
* :func:`expected_days_table` / :func:`proportion_reaching_table` — tidy
  result tables (:mod:`evaluation.results`) by cohort and post − pre, with
  family-bootstrap percentile CIs.

Input: one row per interval a child spends in a state, with columns ``id``,
``cluster`` (family), ``group`` (cohort), ``tstart``, ``tstop`` (days from
time zero; the child is in the state on (tstart, tstop]), ``from_state`` and
``to_state`` (the state entered at tstop, or "censored"/missing). A child's
intervals must be contiguous, as R's ``survcheck`` requires. Every estimator
also takes ``weights``: the name of an optional column of non-negative per-row
case weights (e.g. inverse-probability weights for weighted expected days),
checked against R's ``survfit(..., weights = w)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from evaluation.results import tidy
from evaluation.survival.doubly_robust import family_draw_chunks, family_draws

#: Columns of the interval table.
INTERVAL_COLUMNS: tuple[str, ...] = ("id", "cluster", "group", "tstart", "tstop", "from_state", "to_state")

#: ``to_state`` values meaning "still in from_state when last seen".
CENSORED_VALUES: tuple = ("censored", "", None)

#: The states of the default journey, least to most intensive, then closed.
DEFAULT_STATES: tuple[str, ...] = ("referral", "cin_plan", "cp_plan", "care", "closed")

#: Name of the absorbing state used by :func:`first_passage_intervals`.
REACHED = "reached"

#: At most this many resample × unit draw counts are held at once by the bootstrap (chunks of resamples).
BOOTSTRAP_CELLS = 4_000_000


@dataclass(frozen=True)
class _Design:
    """Intervals coded as integer arrays on the grid of distinct stop times."""

    states: tuple[str, ...]
    times: np.ndarray       # (T,) distinct tstop values, ascending
    person: np.ndarray      # (R,) row -> person index
    people: np.ndarray      # (P,) person ids
    first: np.ndarray       # (R,) first time index at which the row is at risk
    last: np.ndarray        # (R,) time index of the row's tstop
    origin: np.ndarray      # (R,) from-state index
    target: np.ndarray      # (R,) to-state index, -1 when censored
    start: float            # left end of the time axis: min(0, first time)
    weight: np.ndarray      # (R,) row weight (1.0 without a weights column)


def _is_censored(values: pd.Series) -> np.ndarray:
    return (values.isna() | values.isin([v for v in CENSORED_VALUES if v is not None])).to_numpy()


def _check_journeys(person: np.ndarray, tstart: np.ndarray, tstop: np.ndarray, origin: np.ndarray,
                    target: np.ndarray) -> None:
    """Raise unless each child's intervals are contiguous and state-consistent (R's survcheck).

    ``person`` codes the child, ``origin``/``target`` the states (target -1 when censored).
    """
    order = np.lexsort((tstart, person))
    same_child = person[order][1:] == person[order][:-1]
    stop = tstop[order][:-1]
    begin = tstart[order][1:]
    came_from = np.where(target[order] < 0, origin[order], target[order])[:-1]
    now_in = origin[order][1:]
    if np.any(same_child & (begin < stop)):
        raise ValueError("a child has overlapping intervals")
    if np.any(same_child & (begin > stop)):
        raise ValueError("a child has a gap between intervals; add the interval in between")
    if np.any(same_child & (came_from != now_in)):
        raise ValueError("a child's from_state does not match the state entered at the end of the previous interval")


def _row_weights(frame: pd.DataFrame, weights: str | None) -> np.ndarray:
    """The weights column as floats; fails on a missing, negative or non-finite weight."""
    if weights is None:
        return np.ones(len(frame))
    if weights not in frame.columns:
        raise ValueError(f"intervals lack the weights column {weights!r}")
    values = pd.to_numeric(frame[weights], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise ValueError(f"weights column {weights!r}: {int(bad.sum())} row(s) missing, negative or infinite "
                         f"(first at row {int(np.flatnonzero(bad)[0])})")
    return values


def _design(intervals: pd.DataFrame, states: Sequence[str] | None, initial_state: str,
            weights: str | None = None) -> _Design:
    missing = {"id", "tstart", "tstop", "from_state", "to_state"} - set(intervals.columns)
    if missing:
        raise ValueError(f"intervals lack columns {sorted(missing)}")
    row_weight = _row_weights(intervals, weights)
    # children coded once (hashing, then sorting only the distinct ids: people in sorted order)
    person, people = pd.factorize(intervals["id"].astype(str).to_numpy(), sort=True)
    return _coded_design(person, np.asarray(people, dtype=object), intervals["tstart"].to_numpy(dtype=float),
                         intervals["tstop"].to_numpy(dtype=float), intervals["from_state"].to_numpy(dtype=object),
                         intervals["to_state"].to_numpy(dtype=object), states, initial_state, row_weight)


def _coded_design(person: np.ndarray, people: np.ndarray, tstart: np.ndarray, tstop: np.ndarray,
                  from_state: np.ndarray, to_state: np.ndarray, states: Sequence[str] | None, initial_state: str,
                  row_weight: np.ndarray) -> _Design:
    """:func:`_design` from the columns as arrays, the children already coded (``person``: codes into
    the sorted ``people``), so that a caller coding a whole table once can pass each group's rows."""
    from_state = from_state.copy()
    missing_from = pd.isna(from_state)
    if missing_from.any():
        first_row = np.zeros(len(person), dtype=bool)
        order = np.lexsort((tstart, person))
        first_row[order[np.r_[True, person[order][1:] != person[order][:-1]]]] = True
        from_state[missing_from & first_row] = initial_state
    censored = _is_censored(pd.Series(to_state, dtype=object, copy=False))
    to_state = np.where(censored, None, to_state)
    if np.any(tstop <= tstart):
        raise ValueError("every interval needs tstop > tstart")
    seen = list(pd.unique(np.concatenate([from_state, to_state[~censored]])))
    if states is None:
        states = [initial_state] + sorted(s for s in seen if s != initial_state)
    states = tuple(states)
    unknown = set(seen) - set(states)
    if unknown:
        raise ValueError(f"states not listed: {sorted(map(str, unknown))}")
    code = {s: i for i, s in enumerate(states)}
    origin = pd.Series(from_state).map(code).to_numpy()
    target = np.full(len(person), -1)
    target[~censored] = pd.Series(to_state[~censored]).map(code).to_numpy()
    if np.any(origin == target):
        raise ValueError("an interval moves to the state it is already in; merge it with the next one")
    _check_journeys(person, tstart, tstop, origin, target)
    times = np.unique(tstop)
    return _Design(
        states=states,
        times=times,
        person=person,
        people=people,
        first=np.searchsorted(times, tstart, side="right"),
        last=np.searchsorted(times, tstop, side="left"),
        origin=origin,
        target=target,
        start=min(0.0, float(times[0])),
        weight=row_weight,
    )


def _counts_on_grid(design: _Design, n_times: int, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted number at risk in each state (T × S) and transitions (T × S × S) on the first ``n_times`` times.

    One pass over the rows: a row adds its weight to its state from its first time
    at risk and removes it after its stop time (a difference array summed over time).
    """
    n_states = len(design.states)
    cells = (n_times + 1) * n_states
    enter = design.first < n_times
    leave = design.last + 1 < n_times
    change = (np.bincount(design.first[enter] * n_states + design.origin[enter], weight[enter], cells)
              - np.bincount((design.last[leave] + 1) * n_states + design.origin[leave], weight[leave], cells))
    at_risk = np.cumsum(change.reshape(n_times + 1, n_states), axis=0)[:n_times]
    moves = (design.target >= 0) & (design.last < n_times)
    cell = (design.last[moves] * n_states + design.origin[moves]) * n_states + design.target[moves]
    events = np.bincount(cell, weight[moves], n_times * n_states * n_states).reshape(n_times, n_states, n_states)
    return at_risk, events


def _grid_widths(design: _Design, tau: float) -> np.ndarray:
    """Width of each step of the occupation curve inside [start, tau].

    Step 0 is the start of the axis (state distribution p0), step i ≥ 1 the
    i-th stop time, as in R's ``survfit0`` + ``survmean2``.
    """
    grid = np.concatenate([[design.start], design.times])
    right = np.minimum(np.append(grid[1:], np.inf), tau)
    return np.clip(right - grid, 0.0, None)


@dataclass(frozen=True)
class StateOccupation:
    """Aalen–Johansen fit of one multi-state curve.

    ``pstate[i, s]`` is P(in state s at ``time[i]``); ``std_err`` its IJ
    standard error (by child, or by ``cluster`` when the fit was clustered);
    ``p0`` the state distribution just before the first transition and
    ``sp0`` its IJ standard error;
    ``n_risk[i, s]`` the number in state s at risk at ``time[i]``;
    ``rmean_influence[tau]`` each unit's (child's, or cluster's) IJ influence on the
    restricted mean days (units × states, rows in the order of ``units``), R's
    ``resid(fit, times = tau, type = "sojourn")`` collapsed by id: ``rmean + n * influence``
    is the pseudo-observation of :func:`evaluation.survival.adjusted_states.state_pseudo_observations`.
    """

    states: tuple[str, ...]
    time: np.ndarray
    pstate: np.ndarray
    std_err: np.ndarray
    p0: np.ndarray
    sp0: np.ndarray
    n_risk: np.ndarray
    n: int
    start: float
    rmean: dict
    rmean_se: dict
    units: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    rmean_influence: dict = field(default_factory=dict)

    def at(self, times: Sequence[float]) -> pd.DataFrame:
        """Occupation probabilities and SEs at the given days (step function, right-continuous)."""
        times = np.asarray(times, dtype=float)
        index = np.searchsorted(self.time, times, side="right") - 1
        p = np.where(index[:, None] >= 0, self.pstate[np.maximum(index, 0)], self.p0)
        se = np.where(index[:, None] >= 0, self.std_err[np.maximum(index, 0)], self.sp0)
        rows = [
            {"time": t, "state": s, "pstate": p[i, j], "std_err": se[i, j]}
            for i, t in enumerate(times) for j, s in enumerate(self.states)
        ]
        return pd.DataFrame(rows)

    def expected_days(self, tau: float) -> pd.DataFrame:
        """Restricted mean days in each state within ``tau`` with IJ SE (needs ``tau`` at fit time)."""
        if tau not in self.rmean:
            raise KeyError(f"tau={tau} was not requested when fitting; pass taus=({tau},)")
        return pd.DataFrame({"state": self.states, "tau": tau, "days": self.rmean[tau], "se": self.rmean_se[tau]})


def state_occupation(
    intervals: pd.DataFrame,
    states: Sequence[str] | None = None,
    initial_state: str = "referral",
    taus: Sequence[float] = (),
    cluster: str | None = None,
    variance: bool = True,
    weights: str | None = None,
    curve_se: bool = True,
) -> StateOccupation:
    """Aalen–Johansen state occupation P(state s at t) with infinitesimal-jackknife SEs.

    Tie-exact: all transitions at the same day enter one transition matrix.
    Delayed entry: a row is at risk on (tstart, tstop]. The starting
    distribution p0 is that of the rows at risk at the first transition time,
    and its own influence is included, exactly as in R's ``survfit``
    (``survival`` 3.5) with ``id = id, istate = from_state``. ``initial_state``
    fills a missing ``from_state`` on a child's first interval and leads the
    state order. ``taus`` are the horizons at which restricted mean days are
    also computed. ``cluster`` (a column, e.g. "cluster" for families) sums the
    influence within clusters; the default sums within child, as R does.
    (survival 3.5 ignores ``cluster =`` for multi-state curves; the family
    version is checked against R's ``influence = TRUE`` output summed by family.)
    ``weights`` names a column of non-negative per-row case weights (e.g.
    inverse-probability weights, constant within child or not): the numbers at
    risk and moving are weighted sums, as R's ``survfit(..., weights = w)``;
    ``n_risk`` stays a count of rows. The IJ SEs treat the weights as fixed
    (R's robust SE), not as estimated, and need one weight per child (weights
    that change within a child are refused with ``variance=True``).
    ``variance=False`` skips the influence (SEs are NaN): the estimates alone, in one
    pass over the rows rather than one per day, for callers whose limits come from a bootstrap.
    ``curve_se=False`` (with ``variance``) leaves ``std_err`` NaN but keeps the influence on the
    restricted means (``rmean_se``, ``rmean_influence``): for callers that need only those.
    """
    design = _design(intervals, states, initial_state, weights)
    if variance and weights is not None:
        per_child = pd.Series(design.weight).groupby(design.person)
        if (per_child.max() != per_child.min()).any():
            raise ValueError(f"weights column {weights!r} changes within a child: infinitesimal-jackknife SEs "
                             "need one weight per child (R's differ otherwise); pass variance=False and take "
                             "the limits from the bootstrap")
    if cluster is None:
        unit_of_person = np.arange(len(design.people))
        units = design.people
    else:
        by_person = intervals.assign(id=intervals["id"].astype(str)).groupby("id")[cluster].first()
        units, unit_of_person = np.unique(by_person.reindex(design.people).astype(str).to_numpy(),
                                          return_inverse=True)
    unit = unit_of_person[design.person]
    n_units = unit.max() + 1
    n_states, n_times = len(design.states), len(design.times)
    eye = np.eye(n_states)
    moves = design.target >= 0
    weight = design.weight
    risk, events = _counts_on_grid(design, n_times, weight)
    n_risk, _ = _counts_on_grid(design, n_times, np.ones(len(weight)))
    n_risk = np.rint(n_risk).astype(int)

    # starting distribution: rows at risk at the first transition time (R's t0); a row of weight 0
    # counts as absent, as in a bootstrap replicate that did not draw its family
    weighted_moves = moves & (weight > 0)
    t0 = design.last[weighted_moves].min() if weighted_moves.any() else n_times - 1
    p = risk[t0] / risk[t0].sum()
    p0 = p.copy()
    influence = np.zeros((n_units, n_states))
    if variance and np.all(p0 < 1):
        at_zero = (design.first <= t0) & (design.last >= t0)
        np.add.at(influence, unit[at_zero],
                  weight[at_zero, None] * (eye[design.origin[at_zero]] - p0) / risk[t0].sum())

    sp0 = np.sqrt((influence**2).sum(axis=0)) if variance else np.full(n_states, np.nan)
    widths = {float(tau): _grid_widths(design, float(tau)) for tau in taus}
    rmean = {tau: w[0] * p0 for tau, w in widths.items()}
    # the influence on each tau's restricted mean; taus whose widths have been equal so far share one array
    # (the same products and sums as one array per tau; copied where their widths part)
    sums = _SharedSums(widths, influence)

    pstate = np.empty((n_times, n_states))
    std_err = np.empty((n_times, n_states))
    any_move = np.zeros(n_times, dtype=bool)
    any_move[design.last[moves]] = True
    # a child's intervals do not overlap, so with the child as unit no unit is at risk twice at one time:
    # its row at risk is then followed per unit (_AtRisk) and the update is over all units at once
    dense = variance and cluster is None and _IJ_PASS == "dense"
    if dense:
        tracker = _AtRisk(design, unit, n_units)
    elif variance:
        one_row_per_unit = cluster is None
        order_first = np.argsort(design.first, kind="stable")
        first_sorted = design.first[order_first]
    for t in range(n_times):
        if any_move[t]:
            in_state = risk[t]
            occupied = n_risk[t] > 0
            hazard = np.zeros((n_states, n_states))
            hazard[occupied] = events[t][occupied] / in_state[occupied, None]
            step = eye + hazard - np.diag(hazard.sum(axis=1))
            if dense:
                influence = influence @ step
                tracker.update(influence, t, step, p, in_state, eye)
            elif variance:
                # IJ update (R survfitci.c): U <- U H + w_i p_o / n_o * (e_dest - H[o, ])
                entered = order_first[: np.searchsorted(first_sorted, t, side="right")]
                at_risk = entered[design.last[entered] >= t]
                influence = influence @ step
                o = design.origin[at_risk]
                with np.errstate(divide="ignore", invalid="ignore"):
                    scale = np.where(in_state[o] > 0, weight[at_risk] * p[o] / in_state[o], 0.0)
                now = np.where((design.last[at_risk] == t) & moves[at_risk], design.target[at_risk], o)
                # eye[now] - step[o] read from the table of every (now, o) pair: the same differences
                change = scale[:, None] * (eye[:, None, :] - step[None, :, :])[now, o]
                if one_row_per_unit:   # a unit at risk once at t: a plain indexed add, the same sums
                    influence[unit[at_risk]] += change
                else:
                    np.add.at(influence, unit[at_risk], change)
            p = p @ step
        pstate[t] = p
        std_err[t] = np.sqrt((influence**2).sum(axis=0)) if variance and curve_se else np.nan
        for tau, w in widths.items():
            if w[t + 1] > 0:
                rmean[tau] = rmean[tau] + w[t + 1] * p
        if variance:
            sums.add(t + 1, influence)
    rmean_influence = sums.result()
    return StateOccupation(
        states=design.states,
        time=design.times,
        pstate=pstate,
        std_err=std_err,
        p0=p0,
        sp0=sp0,
        n_risk=n_risk,
        n=len(design.people),
        start=design.start,
        rmean=rmean,
        rmean_se={tau: (np.sqrt((u**2).sum(axis=0)) if variance else np.full(n_states, np.nan))
                  for tau, u in rmean_influence.items()},
        units=np.asarray(units, dtype=object),
        rmean_influence=rmean_influence if variance else {},
    )


#: The influence pass of :func:`state_occupation` with the child as unit: "dense" (each unit's row at
#: risk followed per unit, the update over all units at once) or "indexed" (the rows at risk found and
#: added by index each day, as before; kept as the oracle of the tests: the same sums, bitwise).
_IJ_PASS = "dense"


class _SharedSums:
    """``sum_t widths[tau][t] * influence_t`` for every tau, as ``u += w * influence`` in place per tau,
    with the taus whose widths were equal at every step so far sharing one array (the same arithmetic;
    the array is copied when their widths part)."""

    def __init__(self, widths: dict, influence: np.ndarray):
        self.widths = widths
        self.groups: list[tuple[np.ndarray, list]] = []
        by_width: dict = {}
        for tau, w in widths.items():
            by_width.setdefault(w[0], []).append(tau)
        for w0, members in by_width.items():
            self.groups.append((w0 * influence, members))

    def add(self, step: int, influence: np.ndarray) -> None:
        groups = []
        for array, members in self.groups:
            by_width: dict = {}
            for tau in members:
                by_width.setdefault(self.widths[tau][step], []).append(tau)
            parts = list(by_width.items())
            for k, (w, taus) in enumerate(parts):
                own = array if k == len(parts) - 1 else array.copy()   # copies taken before the array changes
                if w > 0:
                    own += w * influence
                groups.append((own, taus))
        self.groups = groups

    def result(self) -> dict:
        out = {}
        for array, members in self.groups:
            for k, tau in enumerate(members):
                out[tau] = array if k == 0 else array.copy()
        return {tau: out[tau] for tau in self.widths}


class _AtRisk:
    """Each unit's row at risk (at most one: a child's intervals do not overlap) as the days go by, for
    the influence update of :func:`state_occupation`: ``U[u] += w p_o / n_o (e_now - H[o, ])`` for the
    units at risk, computed for every unit at once (a unit not at risk adds zero)."""

    def __init__(self, design: _Design, unit: np.ndarray, n_units: int):
        self.design, self.unit = design, unit
        self.by_first = np.argsort(design.first, kind="stable")
        self.first_sorted = design.first[self.by_first]
        self.by_last = np.argsort(design.last, kind="stable")
        self.last_sorted = design.last[self.by_last]
        self.row = np.full(n_units, -1)
        self.origin = np.zeros(n_units, dtype=design.origin.dtype)
        self.weight = np.zeros(n_units)
        self.last = np.full(n_units, -1, dtype=design.last.dtype)
        self.target = np.full(n_units, -1, dtype=design.target.dtype)
        self.entered = self.left = 0     # rows taken from by_first / by_last so far
        # every weight 1 (the unweighted fit): a row's term is (p_o / n_o) (e_now - H[o, ]), one of
        # S x S vectors of the day, read by each unit's code now * S + o (S * S: not at risk, zeros)
        self.unit_weights = bool(np.all(design.weight == 1.0))
        n_states = len(design.states)
        self.code = np.full(n_units, n_states * n_states, dtype=np.intp)

    def _advance(self, t: int) -> None:
        design, unit = self.design, self.unit
        leave = self.by_last[self.left: np.searchsorted(self.last_sorted, t, side="left")]     # last < t
        self.left += len(leave)
        leave = leave[self.row[unit[leave]] == leave]
        gone = unit[leave]
        self.row[gone] = -1
        self.weight[gone] = 0.0
        self.origin[gone] = 0
        self.last[gone] = -1
        self.target[gone] = -1
        n_states = len(design.states)
        self.code[gone] = n_states * n_states
        enter = self.by_first[self.entered: np.searchsorted(self.first_sorted, t, side="right")]   # first <= t
        self.entered += len(enter)
        enter = enter[design.last[enter] >= t]
        come = unit[enter]
        self.row[come] = enter
        self.weight[come] = design.weight[enter]
        self.origin[come] = design.origin[enter]
        self.last[come] = design.last[enter]
        self.target[come] = design.target[enter]
        self.code[come] = design.origin[enter] * (n_states + 1)

    def update(self, influence: np.ndarray, t: int, step: np.ndarray, p: np.ndarray, in_state: np.ndarray,
               eye: np.ndarray) -> None:
        """Add day ``t``'s terms to ``influence`` (units × states, in place)."""
        self._advance(t)
        n_states = len(p)
        table = (eye[:, None, :] - step[None, :, :]).reshape(n_states * n_states, n_states)
        if self.unit_weights:
            # the rows of weight 1: scale (1 x p_o) / n_o is p_o / n_o, so each (now, o) term is one
            # product of the day, the same as the row's own; the units moving at t read their move's
            lo, hi = np.searchsorted(self.last_sorted, [t, t + 1], side="left")
            ending = self.by_last[lo:hi]
            ending = ending[self.design.target[ending] >= 0]
            code = self.code.copy()
            code[self.unit[ending]] = self.design.target[ending] * n_states + self.design.origin[ending]
            origin = np.arange(n_states * n_states) % n_states
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(in_state[origin] > 0, 1.0 * p[origin] / in_state[origin], 0.0)
            terms = np.vstack([scale[:, None] * table, np.zeros((1, n_states))])
            influence += np.take(terms, code, axis=0)
            return
        active = self.row >= 0
        o = self.origin
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(active & (in_state[o] > 0), self.weight * p[o] / in_state[o], 0.0)
        now = np.where((self.last == t) & (self.target >= 0), self.target, o)
        if np.isfinite(table).all():
            # a unit not at risk adds 0 x (a finite difference): its influence stays as it is
            influence += scale[:, None] * np.take(table, now * n_states + o, axis=0)
        else:   # a non-finite difference: only the units at risk, as the indexed pass
            at = np.flatnonzero(active)
            influence[at] += scale[at, None] * np.take(table, now[at] * n_states + o[at], axis=0)


def _groups(intervals: pd.DataFrame, by: str | None) -> list[tuple[object, pd.DataFrame]]:
    if by is None:
        return [("all", intervals)]
    return [(g, part) for g, part in intervals.groupby(by, sort=True)]


def expected_days(
    intervals: pd.DataFrame,
    tau: float | Sequence[float],
    states: Sequence[str] | None = None,
    initial_state: str = "referral",
    by: str | None = "group",
    cluster: str | None = None,
    variance: bool = True,
    weights: str | None = None,
) -> pd.DataFrame:
    """Restricted mean days in each state within τ, per ``by`` group, with IJ SEs.

    Equals R's ``summary(survfit(...), rmean = tau)$table[, c("rmean", "se(rmean)")]``:
    the area under each occupation curve from day 0 to τ. Columns: group,
    state, tau, days, se, n. ``weights``: a per-row case-weight column (e.g.
    inverse-probability weights), as in :func:`state_occupation`.
    """
    taus = tuple(np.atleast_1d(np.asarray(tau, dtype=float)))
    states = tuple(states) if states is not None else _all_states(intervals, initial_state)
    frames = []
    for group, part in _groups(intervals, by):
        fit = state_occupation(part, states, initial_state, taus=taus, cluster=cluster, variance=variance,
                               weights=weights)
        for t in taus:
            frames.append(fit.expected_days(t).assign(group=group, n=fit.n))
    return pd.concat(frames, ignore_index=True)[["group", "state", "tau", "days", "se", "n"]]


def _all_states(intervals: pd.DataFrame, initial_state: str) -> tuple[str, ...]:
    """States of the whole table, so that every group's fit has the same columns."""
    to = intervals["to_state"][~_is_censored(intervals["to_state"])]
    seen = set(intervals["from_state"].dropna()) | set(to) | {initial_state}
    ordered = [s for s in DEFAULT_STATES if s in seen]
    return tuple([initial_state] + [s for s in ordered if s != initial_state]
                 + sorted(s for s in seen if s not in DEFAULT_STATES and s != initial_state))


def first_passage_intervals(
    intervals: pd.DataFrame, targets: Sequence[str] = ("cp_plan", "care"), absorbing: str = REACHED
) -> pd.DataFrame:
    """Cut each journey at its first entry into any target state, which becomes ``absorbing``.

    A child whose first interval is already in a target state is in the
    absorbing state from entry to the end of follow-up. The occupation
    probability of ``absorbing`` is then the first-passage (cumulative
    incidence) probability of reaching any target.
    """
    data = intervals.assign(id=intervals["id"].astype(str))
    person = pd.factorize(data["id"].to_numpy(), sort=True)[0]  # codes in the order of the ids
    order = np.lexsort((data["tstart"].to_numpy(dtype=float), person))  # by child, then time (stable)
    ordered = data.iloc[order]     # a copy already: numbered 0.. in place, not copied again
    ordered.index = pd.RangeIndex(len(ordered))
    child = person[order]
    first = np.r_[True, child[1:] != child[:-1]]  # each child's first interval
    starts = np.flatnonzero(first)
    hit = ordered["to_state"].isin(targets).to_numpy()
    starts_in = ordered["from_state"].isin(targets).to_numpy()
    # rows after the first hit within each child are dropped
    hits = np.cumsum(hit)
    hits_before = hits - hit - np.repeat(np.r_[0, hits[starts[1:] - 1]], np.diff(np.r_[starts, len(child)]))
    keep = hits_before == 0
    entered_in_target = np.repeat(starts_in[starts], np.diff(np.r_[starts, len(child)]))
    out = ordered[keep & ~entered_in_target].copy()
    out.loc[out["to_state"].isin(targets), "to_state"] = absorbing
    absorbed = ordered[entered_in_target & first].copy()
    if len(absorbed):
        last_stop = np.maximum.reduceat(ordered["tstop"].to_numpy(dtype=float), starts)
        absorbed["tstop"] = last_stop[np.searchsorted(starts, np.flatnonzero(entered_in_target & first))]
        absorbed["from_state"] = absorbing
        absorbed["to_state"] = "censored"
    return pd.concat([out, absorbed], ignore_index=True)


def proportion_reaching(
    intervals: pd.DataFrame,
    tau: float | Sequence[float],
    states: Sequence[str] = ("cp_plan", "care"),
    initial_state: str = "referral",
    by: str | None = "group",
    variance: bool = True,
    weights: str | None = None,
) -> pd.DataFrame:
    """Probability of ever reaching any of ``states`` within τ, per ``by`` group, with IJ SE.

    Columns: group, tau, estimate, se, n. ``weights``: a per-row case-weight
    column, as in :func:`state_occupation`.
    """
    taus = np.atleast_1d(np.asarray(tau, dtype=float))
    reach = first_passage_intervals(intervals, states)
    all_states = _all_states(reach, initial_state)
    rows = []
    for group, part in _groups(reach, by):
        fit = state_occupation(part, all_states, initial_state, variance=variance, weights=weights)
        at = fit.at(taus)
        at = at[at["state"] == REACHED]
        for t, p, se in zip(at["time"], at["pstate"], at["std_err"]):
            rows.append({"group": group, "tau": t, "estimate": p, "se": se, "n": fit.n})
    return pd.DataFrame(rows)


def _bootstrap_one(
    design: _Design, weights: np.ndarray, taus: Sequence[float], unit: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Aalen–Johansen on each row of ``weights`` (B × units) at once: frequency weights, no resampled data.

    ``unit`` maps each interval to its column of ``weights`` (default: its child),
    e.g. to its family, whose bootstrap draw count is then the weight of every
    interval of every child in it, multiplied by the row's own weight
    (``design.weight``). The rows are summed once into per-unit changes of the
    number at risk and per-unit transitions on the time grid (sparse); each
    replicate's risk sets are then one product with its weights. Returns
    (rmean, pstate), each B × len(taus) × states; the same estimator as
    :func:`state_occupation` on the data the weights stand for, without the SEs.
    """
    return _Replicates(design, taus, unit, weights.shape[1])(weights)


class _Replicates:
    """:func:`_bootstrap_one` split in two: the rows summed once into per-unit sparse changes of the
    number at risk and per-unit transitions (built here), then any number of blocks of weights
    (``__call__``, B × units each), so that a bootstrap in blocks codes the rows only once."""

    def __init__(self, design: _Design, taus: Sequence[float], unit: np.ndarray | None, n_units: int):
        unit = design.person if unit is None else unit
        # the grid times only: the rows' arrays are summed into the matrices below, not held
        self.times, self.taus, self.n_units = design.times, tuple(taus), n_units
        n_states = self.n_states = len(design.states)
        n_times = self.n_times = int(np.searchsorted(design.times, max(taus), side="right"))
        grid = self.grid = max(n_times, 1)
        row_weight = design.weight
        enter = design.first < n_times
        leave = design.last + 1 < n_times
        self.change = sparse.csr_matrix(
            (np.concatenate([row_weight[enter], -row_weight[leave]]),
             (np.concatenate([unit[enter], unit[leave]]),
              np.concatenate([design.first[enter] * n_states + design.origin[enter],
                              (design.last[leave] + 1) * n_states + design.origin[leave]]))),
            shape=(n_units, (n_times + 1) * n_states))
        moves = (design.target >= 0) & (design.last < n_times)
        cell = (design.last[moves] * n_states + design.origin[moves]) * n_states + design.target[moves]
        self.flows = sparse.csr_matrix((row_weight[moves], (unit[moves], cell)),
                                       shape=(n_units, grid * n_states * n_states))
        self.widths = np.stack([_grid_widths(design, float(t))[: n_times + 1] for t in taus])  # K × (n_times+1)

    def __call__(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        times, taus, n_states, n_times, grid = self.times, self.taus, self.n_states, self.n_times, self.grid
        n_boot = weights.shape[0]
        change, flows, widths = self.change, self.flows, self.widths
        # (units × cells)ᵀ @ (units × B): sparse times dense, never a B × rows matrix
        at_risk = np.cumsum((change.T @ weights.T).T.reshape(n_boot, n_times + 1, n_states), axis=1)[:, :n_times]
        events = (flows.T @ weights.T).T.reshape(n_boot, grid, n_states, n_states)
        any_event = events.sum(axis=(2, 3)) > 0
        # p0: distribution at risk at each replicate's first transition time
        t0 = np.where(any_event.any(axis=1), any_event.argmax(axis=1), max(n_times - 1, 0))
        start_mix = at_risk[np.arange(n_boot), t0] if n_times else np.zeros((n_boot, n_states))
        # A replicate that drew nobody at risk has no starting distribution: NaN, as its estimates.
        with np.errstate(divide="ignore", invalid="ignore"):
            p = start_mix / start_mix.sum(axis=1, keepdims=True)
        rmean = widths[None, :, 0, None] * p[:, None, :]
        pstate = np.repeat(p[:, None, :], len(taus), axis=1)
        eye = np.eye(n_states)
        # per day the same operations as before; what does not change with the day is found once: the
        # days with an event in some replicate, each day's widths, and for each tau the last day within
        # it (pstate is p on that day: the value the day-by-day assignment left)
        moving = any_event.any(axis=0)
        width = np.ascontiguousarray(widths.T)[:, None, :, None]     # (n_times+1) × 1 × K × 1
        last_day = {k: int(np.searchsorted(times[:n_times], tau, side="right")) - 1 for k, tau in enumerate(taus)}
        with np.errstate(divide="ignore", invalid="ignore"):
            for t in range(n_times):
                if moving[t]:
                    hazard = np.where(at_risk[:, t, :, None] > 0, events[:, t] / at_risk[:, t, :, None], 0.0)
                    step = eye + hazard - hazard.sum(axis=2)[:, :, None] * eye
                    p = np.einsum("bj,bjk->bk", p, step)
                rmean += width[t + 1] * p[:, None, :]
                for k, day in last_day.items():
                    if day == t:
                        pstate[:, k] = p
        return rmean, pstate


def resampling_units(intervals: pd.DataFrame, cluster: str | None = "cluster") -> tuple[pd.Series, np.ndarray]:
    """Each child's resampling unit (its family, or itself with ``cluster=None``) and the distinct units."""
    data = intervals.assign(id=intervals["id"].astype(str))
    children = data.groupby("id", sort=False)["id" if cluster is None else cluster].first().astype(str)
    unit_of_child, units = pd.factorize(children.to_numpy(), sort=True)  # units sorted, as np.unique
    return pd.Series(unit_of_child, index=children.index), np.asarray(units, dtype=object)


def bootstrap_draws(n_units: int, n_boot: int, seed: int) -> np.ndarray:
    """Multinomial draw counts of ``n_units`` units on ``n_boot`` resamples (n_boot × n_units), seeded:
    the doubly robust estimators' :func:`~evaluation.survival.doubly_robust.family_draws`."""
    return family_draws(n_units, n_boot, seed)


class BootstrapDraws:
    """:func:`bootstrap_draws` of one seed made once and held for every table that asks for them: the
    tables of one call of :func:`evaluation.analysis.states.state_results` resample the same families
    with the same seed, and the multinomial draws cost more than the replicates they weight. Held in
    chunks of at most :data:`BOOTSTRAP_CELLS` counts, as small integers when they fit (the same values)."""

    def __init__(self, seed: int):
        self.seed = seed
        self._held: dict[tuple[int, int], list[np.ndarray]] = {}

    @classmethod
    def of(cls, seed: int, draws: BootstrapDraws | None) -> BootstrapDraws:
        """``draws`` (made with ``seed``), or new draws of ``seed``."""
        if draws is None:
            return cls(seed)
        if draws.seed != seed:
            raise ValueError("draws were made with another seed")
        return draws

    def rows(self, n_units: int, n_boot: int, lo: int, hi: int) -> np.ndarray:
        """Rows ``lo:hi`` of ``bootstrap_draws(n_units, n_boot, seed)``."""
        chunks = self._held.get((n_units, n_boot))
        if chunks is None:
            chunks = self._held[(n_units, n_boot)] = [
                drawn.astype(np.uint8) if drawn.size and drawn.max() <= 255 else drawn
                for drawn in family_draw_chunks(n_units, n_boot, self.seed, BOOTSTRAP_CELLS)]
        size = max(1, BOOTSTRAP_CELLS // max(n_units, 1))   # family_draw_chunks' chunk
        parts = [chunk[max(lo - k * size, 0): max(hi - k * size, 0)] for k, chunk in enumerate(chunks)]
        return np.concatenate([part for part in parts if len(part)] or [np.empty((0, n_units), dtype=np.int64)])


def bootstrap_occupation(
    intervals: pd.DataFrame,
    taus: Sequence[float],
    states: Sequence[str] | None = None,
    initial_state: str = "referral",
    by: str | None = "group",
    cluster: str | None = "cluster",
    n_boot: int = 500,
    seed: int = 20201101,
    chunk: int = 100,
    weights: str | None = None,
) -> dict[object, tuple[np.ndarray, np.ndarray]]:
    """Expected days and occupation at each τ on ``n_boot`` resamples of whole clusters.

    Clusters (families) are drawn with replacement from the whole table, so a
    family appears with the same multiplicity in every cohort it has children
    in; a child's weight is its family's draw count (times the row's
    ``weights`` column, if given). Each replicate is computed from these
    frequency weights (:func:`_bootstrap_one`), never by copying rows: the same
    estimates as refitting on the resampled families. ``cluster=None``
    resamples children. Returns {group: (rmean, pstate)}, each
    n_boot × len(taus) × states. Seeded: the same call gives the same draws
    (:func:`bootstrap_draws` on the units of :func:`resampling_units`).
    """
    fits = _estimates_and_replicates(intervals, taus, states, initial_state, by, cluster, n_boot, seed, chunk,
                                     weights)
    return {group: (rmean, pstate) for group, (_, _, rmean, pstate) in fits.items()}


def _estimates_and_replicates(intervals, taus, states, initial_state, by, cluster, n_boot, seed, chunk, weights,
                              draws=None):
    """{group: (rmean, pstate, replicate rmean, replicate pstate)}: the estimates (K × S, every unit's
    weight 1) and the bootstrap replicates (B × K × S) from one coded table per group. The children
    and their units are coded once for the whole table (each group's codes read off them: the same
    codes as :func:`_design` and :func:`resampling_units` give); ``draws``: a :class:`BootstrapDraws`
    of ``seed`` shared with other tables (default: made here)."""
    states = tuple(states) if states is not None else _all_states(intervals, initial_state)
    person, people = pd.factorize(intervals["id"].astype(str).to_numpy(), sort=True)
    people = np.asarray(people, dtype=object)
    if cluster is None:
        unit_of_person, n_units = np.arange(len(people)), len(people)
    else:   # each child's first cluster (as resampling_units: GroupBy.first), its text ranked
        by_person = intervals[cluster].groupby(person, sort=True).first()
        unit_of_person, units = pd.factorize(by_person.astype(str).to_numpy(), sort=True)
        n_units = len(units)
    tstart, tstop = intervals["tstart"].to_numpy(dtype=float), intervals["tstop"].to_numpy(dtype=float)
    from_state = intervals["from_state"].to_numpy(dtype=object)
    to_state = intervals["to_state"].to_numpy(dtype=object)
    if by is None:
        parts = [("all", np.arange(len(intervals)))]
    else:   # groupby(by, sort=True)'s groups and rows, by position
        code, keys = pd.factorize(intervals[by], sort=True)
        order = np.argsort(code, kind="stable")
        bounds = np.searchsorted(code[order], np.arange(len(keys) + 1))
        parts = [(key, order[bounds[g]: bounds[g + 1]]) for g, key in enumerate(keys)]
    designs = {}
    for group, rows in parts:
        present = np.zeros(len(people), dtype=bool)
        present[person[rows]] = True
        local = (np.cumsum(present) - 1)[person[rows]]
        row_weight = _row_weights(intervals.iloc[rows], weights) if weights is not None else np.ones(len(rows))
        design = _coded_design(local, people[present], tstart[rows], tstop[rows], from_state[rows], to_state[rows],
                               states, initial_state, row_weight)
        designs[group] = _Replicates(design, taus, unit_of_person[person[rows]], n_units)
    # draws made chunk by chunk from one generator: the same stream as bootstrap_draws(…, n_boot, seed),
    # without holding n_boot × units counts at once (at most BOOTSTRAP_CELLS counts per chunk)
    draws = BootstrapDraws.of(seed, draws)
    chunk = max(1, min(chunk, BOOTSTRAP_CELLS // max(n_units, 1)))
    pieces: dict[object, list] = {group: [] for group in designs}
    for start in range(0, n_boot, chunk):
        drawn = draws.rows(n_units, n_boot, start, min(start + chunk, n_boot)).astype(float)
        for group, replicates in designs.items():
            pieces[group].append(replicates(drawn))
        del drawn
    out = {}
    for group, replicates in designs.items():
        rmean, pstate = replicates(np.ones((1, n_units)))
        parts = pieces[group]
        out[group] = (rmean[0], pstate[0], np.concatenate([r for r, _ in parts]) if parts else rmean[:0],
                      np.concatenate([s for _, s in parts]) if parts else pstate[:0])
    return out


def _percentile_ci(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1 - level) / 2
    return np.nanquantile(samples, alpha, axis=0), np.nanquantile(samples, 1 - alpha, axis=0)


def expected_days_table(
    intervals: pd.DataFrame,
    taus: Sequence[float] = (365, 730),
    pre: str = "pre_fsp",
    post: str = "post_fsp",
    states: Sequence[str] | None = None,
    initial_state: str = "referral",
    n_boot: int = 500,
    seed: int = 20201101,
    level: float = 0.95,
    combination: str = "all",
    weights: str | None = None,
    draws: BootstrapDraws | None = None,
) -> pd.DataFrame:
    """Expected days in each state within each τ by cohort, and post − pre, as a tidy table.

    Estimates are Aalen–Johansen restricted means; ``se``, ``ci_lower`` and
    ``ci_upper`` come from the family bootstrap (SD and percentile interval),
    so siblings are not counted as independent. ``weights`` names an optional
    per-row weight column (e.g. inverse-probability weights for weighted
    expected days): estimates and every bootstrap replicate use it, the
    weights being held fixed across replicates; ``n`` and ``events`` stay counts. ``draws``: a
    :class:`BootstrapDraws` of ``seed`` shared with other tables.
    """
    taus = tuple(float(t) for t in taus)
    states = tuple(states) if states is not None else _all_states(intervals, initial_state)
    fits = _estimates_and_replicates(intervals, taus, states, initial_state, "group", "cluster", n_boot, seed,
                                     100, weights, draws)
    boot = {group: (rmean, pstate) for group, (_, _, rmean, pstate) in fits.items()}
    point = {group: fit[0] for group, fit in fits.items()}  # K × S restricted means, every family once
    method = f"Aalen–Johansen restricted mean days in state; family bootstrap ({n_boot} resamples, percentile CI)"
    counts = _counts(intervals, states, taus)
    rows = []
    for group, (rmean, _) in boot.items():
        lower, upper = _percentile_ci(rmean, level)
        sd = rmean.std(axis=0, ddof=1)
        for k, tau in enumerate(taus):
            for s, state in enumerate(states):
                est = point[group][k, s]
                rows.append(_row(f"days_in_{state}", group, None, combination, tau, est, lower[k, s], upper[k, s],
                                 sd[k, s], counts[tau].get((group, state), 0), method, counts[tau][(group, None)]))
    if pre in boot and post in boot:
        diff = boot[post][0] - boot[pre][0]
        lower, upper = _percentile_ci(diff, level)
        sd = diff.std(axis=0, ddof=1)
        for k, tau in enumerate(taus):
            for s, state in enumerate(states):
                est = point[post][k, s] - point[pre][k, s]
                c = counts[tau]
                rows.append(_row(f"days_in_{state}", None, f"{post} vs {pre}", combination, tau, est,
                                 lower[k, s], upper[k, s], sd[k, s], c.get((pre, state), 0) + c.get((post, state), 0),
                                 method + "; difference post − pre", c[(pre, None)] + c[(post, None)]))
    return tidy(rows)


def proportion_reaching_table(
    intervals: pd.DataFrame,
    taus: Sequence[float] = (365, 730),
    states: Sequence[str] = ("cp_plan", "care"),
    pre: str = "pre_fsp",
    post: str = "post_fsp",
    initial_state: str = "referral",
    n_boot: int = 500,
    seed: int = 20201101,
    level: float = 0.95,
    combination: str = "all",
    weights: str | None = None,
    draws: BootstrapDraws | None = None,
) -> pd.DataFrame:
    """Probability of reaching any of ``states`` within each τ by cohort, and post − pre, tidy.

    The first-passage probability per cohort, and the risk difference
    post − pre, with family-bootstrap SD and percentile CIs. ``weights``: an
    optional per-row weight column, and ``draws``, as in :func:`expected_days_table`.
    """
    taus = tuple(float(t) for t in taus)
    reach = first_passage_intervals(intervals, states)
    all_states = _all_states(reach, initial_state)
    col = all_states.index(REACHED)
    fits = _estimates_and_replicates(reach, taus, all_states, initial_state, "group", "cluster", n_boot, seed, 100,
                                     weights, draws)
    boot = {group: (rmean, pstate) for group, (_, _, rmean, pstate) in fits.items()}
    point = {group: fit[1][:, col] for group, fit in fits.items()}  # P(reached by each τ), every family once
    outcome = "reached_" + "_or_".join(states)
    method = f"Aalen–Johansen first-passage probability; family bootstrap ({n_boot} resamples, percentile CI)"
    counts = _counts(reach, all_states, taus)
    rows = []
    for group, (_, pstate) in boot.items():
        lower, upper = _percentile_ci(pstate[:, :, col], level)
        sd = pstate[:, :, col].std(axis=0, ddof=1)
        for k, tau in enumerate(taus):
            est = point[group][k]
            rows.append(_row(outcome, group, None, combination, tau, est, lower[k], upper[k], sd[k],
                             counts[tau].get((group, REACHED), 0), method, counts[tau][(group, None)]))
    if pre in boot and post in boot:
        diff = boot[post][1][:, :, col] - boot[pre][1][:, :, col]
        lower, upper = _percentile_ci(diff, level)
        sd = diff.std(axis=0, ddof=1)
        for k, tau in enumerate(taus):
            est = point[post][k] - point[pre][k]
            c = counts[tau]
            rows.append(_row(outcome, None, f"{post} vs {pre}", combination, tau, est, lower[k], upper[k], sd[k],
                             c.get((pre, REACHED), 0) + c.get((post, REACHED), 0),
                             method + "; risk difference post − pre", c[(pre, None)] + c[(post, None)]))
    return tidy(rows)


def _counts(intervals: pd.DataFrame, states: Sequence[str], taus: Sequence[float]) -> dict:
    """Per τ: children per (cohort, state) entering the state by day τ, and children per cohort under
    (cohort, None). Children are coded once; a child enters a state by τ when its first entry is by τ."""
    frame = pd.DataFrame({"group": intervals["group"].to_numpy(), "to_state": intervals["to_state"].to_numpy(),
                          "child": pd.factorize(intervals["id"].astype(str).to_numpy())[0],
                          "tstop": intervals["tstop"].to_numpy(dtype=float)})
    cohort = {(g, None): int(v) for g, v in frame.groupby("group")["child"].nunique().items()}
    moved = frame[frame["to_state"].isin(states)]
    entry = moved.groupby(["group", "to_state", "child"], sort=False)["tstop"].min().reset_index()
    out = {}
    for tau in taus:
        by_tau = entry[entry["tstop"] <= tau].groupby(["group", "to_state"]).size()
        out[tau] = {**{key: int(v) for key, v in by_tau.items()}, **cohort}
    return out


def _row(outcome, cohort, contrast, combination, tau, estimate, lower, upper, se, events, method, n=None):
    return {
        "outcome": outcome, "analysis": "multistate_aalen_johansen", "cohort": cohort, "contrast": contrast,
        "combination": combination, "term": None, "time": tau, "estimate": estimate, "ci_lower": lower,
        "ci_upper": upper, "se": se, "n": n, "events": events, "method": method,
    }
