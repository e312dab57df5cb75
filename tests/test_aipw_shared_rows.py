"""The doubly robust RMST bootstrap's outcome-free part made once for outcomes on the same rows
(doubly_robust._SharedRows), and rmst_on_grid's per-grid pieces held: the same tables, bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evaluation.analysis.survival_outcomes as survival_outcomes
import evaluation.survival.doubly_robust as doubly_robust
from evaluation.study import StudyConfig
from evaluation.survival._data import survival_data
from evaluation.survival.doubly_robust import aipw_rmst_difference, family_draws
from evaluation.survival.kaplan_meier import CurveGrid
from evaluation.survival.rmst import fit_rmst, rmst_on_grid

from test_analysis_survival import simulated_analysis

ARGS = dict(duration="duration", event="event", group="cohort", covariates=["x1", "x2", "x3"], tau=[60, 200],
            reference="pre_fsp", comparison="post_fsp", cluster="family", seed=7, entry="entry")


def _rows(n: int, seed: int, event_rate: float = 0.6) -> pd.DataFrame:
    """Families of children in two cohorts with covariates, and two outcomes on the same children
    (columns duration/event and duration2/event2)."""
    rng = np.random.default_rng(seed)
    family = np.sort(rng.integers(0, n // 2, n))
    frame = pd.DataFrame({
        "family": family, "cohort": np.where(rng.random(n) < 0.5, "post_fsp", "pre_fsp"),
        "x1": rng.integers(0, 2, n).astype(float), "x2": rng.integers(0, 3, n).astype(float),
        "x3": rng.integers(0, 2, n).astype(float),
        "entry": np.where(rng.random(n) < 0.2, rng.uniform(0, 20, n).round(), 0.0)})
    for suffix in ("", "2"):
        frame["duration" + suffix] = frame["entry"] + rng.uniform(1, 300, n).round() + 1
        frame["event" + suffix] = (rng.random(n) < event_rate).astype(int)
    return frame


def _second(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(duration=frame["duration2"], event=frame["event2"])


def _table(frame, n_boot=40, **kwargs):
    return aipw_rmst_difference(frame, n_boot=n_boot, **{**ARGS, **kwargs})


def _counting_fits(monkeypatch) -> list:
    made = []
    original = doubly_robust._Arms.nuisance

    def nuisance(self, weights, start):
        made.append(1)
        return original(self, weights, start)

    monkeypatch.setattr(doubly_robust._Arms, "nuisance", nuisance)
    return made


@pytest.mark.parametrize("text_ids", [False, True])
def test_outcomes_on_the_same_rows_share_the_fits_and_give_the_same_tables(monkeypatch, text_ids):
    frame = _rows(300, seed=1)
    if text_ids:
        frame["family"] = "f" + frame["family"].astype(str)
    alone = [_table(frame), _table(_second(frame))]
    made = _counting_fits(monkeypatch)
    shared: dict = {}
    first = _table(frame, shared=shared)
    fits_first = len(made)
    second = _table(_second(frame), shared=shared)
    assert fits_first > 30 and len(made) - fits_first < fits_first   # the second outcome reused them
    for ours, theirs in zip((first, second), alone):
        pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    assert not first["estimate"].equals(second["estimate"])   # two outcomes, not the same one twice


def test_other_rows_are_not_given_the_kept_fits(monkeypatch):
    frame = _rows(300, seed=2)
    other = _second(frame)
    other.loc[5, "x2"] = other.loc[5, "x2"] + 1        # one covariate value differs
    moved = _second(frame).assign(family=frame["family"].to_numpy()[::-1].copy())   # other families
    swapped = _second(frame).assign(cohort=frame["cohort"].to_numpy()[::-1].copy())  # other cohorts
    for changed in (other, moved, swapped):
        shared: dict = {}
        _table(frame, shared=shared)
        made = _counting_fits(monkeypatch)
        ours = _table(changed, shared=shared)
        monkeypatch.undo()
        assert len(made) > 30   # refitted
        pd.testing.assert_frame_equal(ours, _table(changed), check_exact=True)


def test_failed_resamples_are_the_same_whichever_outcome_comes_first(monkeypatch):
    # few events: some resamples have no event in a cohort for one outcome and not for the other
    frame = _rows(60, seed=5, event_rate=0.12)
    seen = []
    original = doubly_robust.bootstrap_limits

    def limits(replicates, n_boot, conf_level):
        seen.append(replicates.copy())
        return original(np.nan_to_num(replicates, nan=0.0), n_boot, conf_level)

    monkeypatch.setattr(doubly_robust, "bootstrap_limits", limits)
    alone = [_table(part, n_boot=60) for part in (frame, _second(frame))]
    reps_alone = seen[:]
    failed = [np.isnan(r).any(axis=1) for r in reps_alone]
    assert all(f.any() for f in failed) and not np.array_equal(*failed)   # some fail, not the same ones
    for order in ((0, 1), (1, 0)):
        seen.clear()
        shared: dict = {}
        tables = [_table((frame, _second(frame))[k], n_boot=60, shared=shared) for k in order]
        for k, table, reps in zip(order, tables, seen):
            assert np.array_equal(reps.view(np.int64), reps_alone[k].view(np.int64))
            pd.testing.assert_frame_equal(table, alone[k], check_exact=True)
        # a failed fit is kept as its kind and message, not as an exception holding a call's frames
        kept = [fit for rows in shared["rows"] for fit in rows._fits.values()]
        assert not any(isinstance(fit, BaseException) for fit in kept)


def test_two_kept_rows_survive_another_outcome_between_them(monkeypatch):
    frame, small = _rows(300, seed=4), _rows(120, seed=5)
    shared: dict = {}
    _table(frame, shared=shared)
    _table(small, shared=shared)
    made = _counting_fits(monkeypatch)
    ours = _table(_second(frame), shared=shared)
    assert len(made) < 40
    monkeypatch.undo()
    pd.testing.assert_frame_equal(ours, _table(_second(frame)), check_exact=True)
    assert len(shared["rows"]) == doubly_robust.SHARED_ROWS_KEPT


def test_held_draws_are_the_stream(monkeypatch):
    rows = doubly_robust._SharedRows(doubly_robust.Patterns.of(np.ones((50, 1))), np.arange(50) % 2 == 0,
                                     np.arange(50) // 2)
    for cells in (1, 30, 1 << 22):
        monkeypatch.setattr(doubly_robust, "DRAW_CELLS", cells)
        rows._draws.clear()
        for hold in (True, False, True):
            drawn = np.array(list(rows.draws(17, 3, hold)))
            assert drawn.dtype == (np.uint8 if hold else np.int64) or not hold
            assert np.array_equal(drawn, family_draws(25, 17, 3))


def test_survival_results_the_same_with_the_fits_shared(monkeypatch):
    analysis = simulated_analysis(n_families=200, seed=9, las=("931", "825"))
    config = StudyConfig()
    ours = survival_results_tables = survival_outcomes.survival_results(analysis, config, times=(91, 365), n_boot=30)
    original = survival_outcomes.aipw_rmst_difference
    monkeypatch.setattr(survival_outcomes, "aipw_rmst_difference",
                        lambda *args, shared=None, **kwargs: original(*args, **kwargs))
    theirs = survival_outcomes.survival_results(analysis, config, times=(91, 365), n_boot=30)
    for name in ours:
        pd.testing.assert_frame_equal(survival_results_tables[name], theirs[name], check_exact=True)
    assert (ours["weighted"]["analysis"] == "rmst_aipw").sum() >= 6


@pytest.mark.parametrize("entry", [False, True])
def test_rmst_on_grid_is_fit_rmst_of_the_weighted_rows(entry):
    rng = np.random.default_rng(11)
    n = 400
    frame = pd.DataFrame({"duration": rng.integers(1, 120, n).astype(float), "event": rng.random(n) < 0.5})
    if entry:
        frame["entry"] = np.where(rng.random(n) < 0.3, np.floor(frame["duration"] * rng.random(n)), 0.0)
    data = survival_data(frame, "duration", "event", entry="entry" if entry else None)
    grid = CurveGrid(data)
    for draw in range(6):
        weights = rng.integers(0, 3, n).astype(float)
        taus = (30.0, 90.0, 500.0) if draw % 2 else (90.0,)
        for _ in range(2):    # the second time with the grid's held pieces
            got = rmst_on_grid(grid, weights, taus)
            drawn = weights > 0
            alone = survival_data(frame[drawn].assign(w=weights[drawn]), "duration", "event",
                                  entry="entry" if entry else None, weights="w")
            for tau, (estimate, influence) in zip(taus, got):
                fit = fit_rmst(alone, tau)
                assert estimate == fit.estimate
                assert np.array_equal(influence[drawn], fit.influence) and not influence[~drawn].any()


def test_aipw_estimate_with_the_columns_held_is_the_same():
    rng = np.random.default_rng(12)
    n = 700
    x = np.column_stack([np.ones(n), rng.integers(0, 2, n), rng.integers(0, 4, n)]).astype(float)
    design = doubly_robust.Patterns.of(x)
    treated = rng.random(n) < 0.45
    y = rng.normal(0, 50, (n, 6))
    y[::7, 2] = -0.0
    y[::5, 3] = 0.0
    y_by_column = np.ascontiguousarray(y.T)
    e = rng.uniform(0.2, 0.8, len(design.distinct))
    for freq in family_draws(n, 8, seed=4).astype(float):
        ours = doubly_robust.aipw_estimate(y, treated, design, e, freq, y_by_column)
        theirs = doubly_robust.aipw_estimate(y, treated, design, e, freq)
        assert np.array_equal(ours.view(np.int64), theirs.view(np.int64))


@pytest.mark.parametrize("weights", [None, "w"])
def test_rmst_difference_with_the_steps_made_once_per_cohort(weights):
    from evaluation.survival.rmst import rmst_difference
    frame = _rows(400, seed=13).assign(w=lambda d: np.random.default_rng(1).uniform(0.5, 2, len(d)))
    taus = [60.0, 200.0, 500.0]
    table = rmst_difference(frame, "duration", "event", "cohort", tau=taus, entry="entry", weights=weights,
                            cluster="family")
    data = survival_data(frame, "duration", "event", entry="entry", weights=weights, cluster="family")
    for tau in taus:
        for cohort in ("pre_fsp", "post_fsp"):
            fit = fit_rmst(data.subset((frame["cohort"] == cohort).to_numpy()), tau)   # its own steps
            row = table[(table["cohort"] == cohort) & (table["time"] == tau)]
            assert row["estimate"].item() == fit.estimate and row["se"].item() == fit.se_ij
