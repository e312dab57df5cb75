"""The cheaper paths of the survival step (issue #20) give what the paths they replaced gave, bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evaluation.analysis.survival_outcomes as survival_outcomes
import evaluation.survival.doubly_robust as doubly_robust
from evaluation.analysis.design import (
    EVENT, FLAGS, LA, Adjustment, local_authorities, plain_strings, study_adjustment, with_adjustment_terms,
)
from evaluation.analysis.survival_outcomes import PROPENSITY, survival_results
from evaluation.study import StudyConfig
from evaluation.survival._data import survival_data
from evaluation.survival.doubly_robust import Patterns, _Arms, family_draws, pattern_propensity

from test_analysis_survival import simulated_analysis

CONFIG = StudyConfig()


def _string_adjustment_terms(df, event=None, adjustment=Adjustment()):
    """with_adjustment_terms as it was: a deep copy, each level's indicator by string comparison."""
    out = df.copy()
    events = (out[EVENT] if event is None else pd.Series(np.asarray(event), index=out.index)).astype(bool)
    names = []
    if adjustment.flags:
        for flag in FLAGS:
            out[flag] = out[flag].astype(float)
            names.append(flag)
    categorical = list(adjustment.categorical)
    if adjustment.la_indicators and len(local_authorities(out)) > 1:
        categorical.append(LA)
    for column in categorical:
        values = out[column].astype(object).where(out[column].notna(), "missing").astype(str)
        counts = values.value_counts()
        event_counts = values[events.to_numpy()].value_counts()
        for level in sorted(counts.index[1:], key=str):
            if counts[level] < adjustment.min_rows or event_counts.get(level, 0) < adjustment.min_events:
                continue
            name = f"{column}[{level}]"
            out[name] = (values == level).to_numpy(dtype=float)
            names.append(name)
    for column in adjustment.numeric:
        out[column] = out[column].astype(float)
        names.append(column)
    names = [n for n in names if np.ptp(out[n].to_numpy(dtype=float)) > 0]
    return out, names


@pytest.mark.parametrize("adjustment", [Adjustment(), study_adjustment(CONFIG), study_adjustment(CONFIG, PROPENSITY),
                                        Adjustment(min_rows=1, min_events=0, la_indicators=True)])
def test_adjustment_terms_coded_once_and_not_copied(adjustment):
    df = plain_strings(simulated_analysis(n_families=300, seed=4, las=("931", "825", "850")))
    df.loc[df.index[::7], "ethnic_group"] = None        # missing: its own level
    before = df.copy()
    ours, names = with_adjustment_terms(df, adjustment=adjustment)
    theirs, expected = _string_adjustment_terms(df, adjustment=adjustment)
    assert names == expected
    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    pd.testing.assert_frame_equal(df, before, check_exact=True)   # the caller's frame is untouched


def test_patterns_as_numpy_unique_over_rows():
    rng = np.random.default_rng(11)
    designs = [np.ones((1, 1)), rng.integers(0, 2, (500, 3)).astype(float),
               np.column_stack([rng.integers(-3, 40, 800), np.round(rng.normal(size=800), 1),
                                rng.integers(0, 2, 800)]).astype(float),
               rng.integers(0, 3, (400, 70)).astype(float)]     # 3^70 levels: the key is re-ranked on the way
    designs.append(np.vstack([designs[2], designs[2][::3]]))    # repeated rows
    for design in designs:
        distinct, code = np.unique(design, axis=0, return_inverse=True)
        patterns = Patterns.of(design)
        assert np.array_equal(patterns.distinct, distinct)
        assert np.array_equal(patterns.code, code.ravel()) and patterns.code.dtype == code.dtype


def test_draws_by_chunk_are_the_same_stream(monkeypatch):
    for cells in (1, 50, 1 << 22):
        monkeypatch.setattr(doubly_robust, "DRAW_CELLS", cells)
        for n, b in ((1, 4), (9, 17), (300, 41)):
            drawn = np.array(list(doubly_robust._family_draws_by_chunk(n, b, 5)))
            assert np.array_equal(drawn, family_draws(n, b, 5))


def test_replicate_propensity_from_cohort_counts():
    rng = np.random.default_rng(2)
    n = 600
    x = np.column_stack([np.ones(n), rng.integers(0, 2, n), rng.integers(0, 5, n)]).astype(float)
    treated = rng.random(n) < 1 / (1 + np.exp(-(x[:, 1] - 0.3 * x[:, 2])))
    design = Patterns.of(x)
    start = doubly_robust.logistic_coefficients(design, treated.astype(float))
    for draw in family_draws(n, 5, seed=3):
        freq = draw.astype(float)
        counts = {arm: np.bincount(design.code[treated == arm], weights=freq[treated == arm],
                                   minlength=len(design.distinct)) for arm in (False, True)}
        ours = doubly_robust._propensity_on_counts(design, counts[False] + counts[True], counts[True], start)
        assert np.array_equal(ours, pattern_propensity(design, treated, freq, start))
    data = survival_data(pd.DataFrame({"d": rng.uniform(1, 100, n), "e": rng.random(n) < 0.6}), "d", "e")
    arms = _Arms(data, treated, design)
    assert all(np.array_equal(arms.code[arm], design.code[treated == arm]) for arm in (False, True))


def test_family_ids_coded_once_give_the_same_tables(monkeypatch):
    analysis = simulated_analysis(n_families=240, seed=6, las=("931", "825"))
    # ids whose text order is neither their numeric order nor their order of appearance
    number = analysis["family_id"].str[1:].astype(int)
    analysis["family_id"] = ("f" + ((number * 37) % 1009).astype(str)).astype("string")
    coded = survival_results(analysis, CONFIG, times=(91, 365), n_boot=20)
    monkeypatch.setattr(survival_outcomes, "_coded_families", lambda df: df)   # the text ids throughout
    text = survival_results(analysis, CONFIG, times=(91, 365), n_boot=20)
    for name in coded:
        pd.testing.assert_frame_equal(coded[name], text[name], check_exact=True)
