"""The days-in-state step's cheaper paths (#20) against what they replaced, bit for bit: the shared
bootstrap draws, the table coded once in _estimates_and_replicates, and entry_covariates' entries
coded once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.analysis.states import _entry_covariates_by_keys, entry_covariates
from evaluation.study import StudyConfig
from evaluation.survival import multistate as ms
from test_analysis_states import entries_of, simulated_journeys


def _old_estimates_and_replicates(intervals, taus, states, initial_state, by, cluster, n_boot, seed, chunk,
                                  weights):
    """_estimates_and_replicates as it was: a _design per group's frame, resampling_units' Series
    reindexed, each chunk's draws made where used."""
    data = intervals.assign(id=intervals["id"].astype(str))
    states = tuple(states) if states is not None else ms._all_states(data, initial_state)
    unit_of_child, units = ms.resampling_units(data, cluster)
    designs = {}
    for group, part in ms._groups(data, by):
        design = ms._design(part, states, initial_state, weights)
        designs[group] = ms._Replicates(design, taus, unit_of_child.reindex(design.people).to_numpy()[design.person],
                                        len(units))
    chunk = max(1, min(chunk, ms.BOOTSTRAP_CELLS // max(len(units), 1)))
    rng = np.random.default_rng(seed)
    pieces = {group: [] for group in designs}
    for start in range(0, n_boot, chunk):
        draws = rng.multinomial(len(units), np.full(len(units), 1.0 / len(units)),
                                size=min(chunk, n_boot - start)).astype(float)
        for group, replicates in designs.items():
            pieces[group].append(replicates(draws))
    out = {}
    for group, replicates in designs.items():
        rmean, pstate = replicates(np.ones((1, len(units))))
        parts = pieces[group]
        out[group] = (rmean[0], pstate[0], np.concatenate([r for r, _ in parts]), np.concatenate([s for _, s in parts]))
    return out


def _awkward(journeys: pd.DataFrame, missing_group: bool = True) -> pd.DataFrame:
    """Ids and families whose text order is neither numeric nor first-seen, a family missing on some
    rows (the child's first non-missing one counts), a row without a cohort, weights, shuffled rows."""
    rng = np.random.default_rng(5)
    data = journeys.copy()
    data["id"] = data["id"].str.replace("931:f", "x", regex=False).str[::-1]
    data["cluster"] = data["cluster"].str[::-1].astype(object)
    first_rows = ~data.duplicated("id")
    data.loc[first_rows & (rng.random(len(data)) < 0.3), "cluster"] = None
    data["w"] = rng.uniform(0.5, 2.0, len(data))
    data = data.iloc[rng.permutation(len(data))].reset_index(drop=True)
    data["group"] = data["group"].astype(object)
    if missing_group:
        data.loc[3, "group"] = None
    return data


@pytest.mark.parametrize("cluster", ["cluster", None])
@pytest.mark.parametrize("weights", [None, "w"])
def test_estimates_and_replicates_equal_the_per_group_frames(cluster, weights, monkeypatch):
    data = _awkward(simulated_journeys(n_families=120, seed=11))
    monkeypatch.setattr(ms, "BOOTSTRAP_CELLS", 700)   # chunks of a few resamples: the stream across chunks
    args = (data, (365.0, 730.0), None, "referral", "group", cluster, 23, 99, 7, weights)
    old = _old_estimates_and_replicates(*args)
    draws = ms.BootstrapDraws(99)
    new = ms._estimates_and_replicates(*args, draws)
    again = ms._estimates_and_replicates(*args, draws)       # the held draws read again
    assert list(new) == list(old) == list(again)
    for group in old:
        for a, b, c in zip(old[group], new[group], again[group]):
            np.testing.assert_array_equal(a, b, strict=True)
            np.testing.assert_array_equal(a, c, strict=True)


def test_reaching_and_days_tables_with_shared_draws_equal_their_own():
    data = _awkward(simulated_journeys(n_families=100, seed=4), missing_group=False)   # as state_results passes them
    draws = ms.BootstrapDraws(7)
    for targets in (("cp_plan",), ("care",), ("cp_plan", "care")):
        own = ms.proportion_reaching_table(data, states=targets, n_boot=15, seed=7)
        shared = ms.proportion_reaching_table(data, states=targets, n_boot=15, seed=7, draws=draws)
        pd.testing.assert_frame_equal(own, shared, check_exact=True)
    own = ms.expected_days_table(data, n_boot=15, seed=7)
    pd.testing.assert_frame_equal(own, ms.expected_days_table(data, n_boot=15, seed=7, draws=draws), check_exact=True)
    with pytest.raises(ValueError, match="another seed"):
        ms.expected_days_table(data, n_boot=15, seed=8, draws=draws)


@pytest.mark.parametrize("n_units,n_boot", [(1, 3), (5, 40), (37, 200), (400, 9)])
def test_held_draws_are_bootstrap_draws_in_any_slices(n_units, n_boot, monkeypatch):
    monkeypatch.setattr(ms, "BOOTSTRAP_CELLS", 100)
    expected = ms.bootstrap_draws(n_units, n_boot, 3)
    draws = ms.BootstrapDraws(3)
    for lo, hi in [(0, n_boot), (1, 2), (0, 1), (n_boot // 2, n_boot), (n_boot - 1, n_boot)]:
        got = draws.rows(n_units, n_boot, lo, hi)
        assert np.array_equal(got, expected[lo:hi]) and got.shape == expected[lo:hi].shape


def test_entry_covariates_coded_once_equal_pandas_matching():
    journeys = simulated_journeys(n_families=150, seed=3)
    analysis = entries_of(journeys)
    # rows of one entry spread out, a finite go-live day on only some of an entry's rows
    analysis = analysis.iloc[np.random.default_rng(2).permutation(len(analysis))].reset_index(drop=True)
    go_live = np.where(analysis["outcome"] == "time_to_care", 400.0, np.inf)
    for frame in (analysis, analysis.assign(go_live_day=go_live), analysis.assign(go_live_day=np.inf)):
        new, new_covariates = entry_covariates(frame, StudyConfig())
        old, old_covariates = _entry_covariates_by_keys(frame, StudyConfig())
        assert new_covariates == old_covariates
        pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert np.isfinite(entry_covariates(analysis.assign(go_live_day=go_live), StudyConfig())[0]
                       ["journey_go_live_day"]).any()


def _old_call(replicates, weights):
    """_Replicates.__call__'s day loop as it was (the tau test and the errstate per day)."""
    r = replicates
    n_boot, n_states, n_times = weights.shape[0], r.n_states, r.n_times
    at_risk = np.cumsum((r.change.T @ weights.T).T.reshape(n_boot, n_times + 1, n_states), axis=1)[:, :n_times]
    events = (r.flows.T @ weights.T).T.reshape(n_boot, r.grid, n_states, n_states)
    any_event = events.sum(axis=(2, 3)) > 0
    t0 = np.where(any_event.any(axis=1), any_event.argmax(axis=1), max(n_times - 1, 0))
    start_mix = at_risk[np.arange(n_boot), t0]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = start_mix / start_mix.sum(axis=1, keepdims=True)
    rmean = r.widths[None, :, 0, None] * p[:, None, :]
    pstate = np.repeat(p[:, None, :], len(r.taus), axis=1)
    eye = np.eye(n_states)
    for t in range(n_times):
        if any_event[:, t].any():
            with np.errstate(divide="ignore", invalid="ignore"):
                hazard = np.where(at_risk[:, t, :, None] > 0, events[:, t] / at_risk[:, t, :, None], 0.0)
            step = eye + hazard - hazard.sum(axis=2)[:, :, None] * eye
            p = np.einsum("bj,bjk->bk", p, step)
        rmean += r.widths[None, :, t + 1, None] * p[:, None, :]
        reached = r.times[t] <= np.asarray(r.taus)
        pstate[:, reached] = p[:, None, :]
    return rmean, pstate


@pytest.mark.parametrize("taus", [(365.0, 730.0), (0.5, 40.0, 365.0), (730.0, 100.0, 100.0)])
def test_replicates_day_loop_equals_the_old_loop(taus):
    data = simulated_journeys(n_families=80, seed=9)
    design = ms._design(data[data["group"] == "pre_fsp"], None, "referral")
    replicates = ms._Replicates(design, taus, None, len(design.people))
    weights = np.random.default_rng(1).poisson(1.0, (6, len(design.people))).astype(float)
    weights[2] = 0.0                                         # a replicate that drew nobody: NaN throughout
    for w in (weights, weights[:1], np.ones((1, len(design.people)))):
        for a, b in zip(_old_call(replicates, w), replicates(w)):
            np.testing.assert_array_equal(a, b, strict=True)
